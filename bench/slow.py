"""The slow route: every response held ~50 ms before its first byte, as a far server's are.

Stock nginx cannot wait before answering (echo_sleep is a third-party module; limit_rate
and limit_req shape bandwidth and request rates, not a per-response delay). So nginx's
`/slow/` location proxies the request to this tiny stdlib server, which sleeps DELAY_S and
answers with an empty body and `X-Accel-Redirect: /_files/<path>`: nginx then serves the file
itself, from disk, with sendfile, exactly as on the plain route. Python handles only the
headers of a few dozen requests per run; it is never the bottleneck for the bytes, and the
delay is a sleep, not a rate, so it is the same for every response.

The server runs in a thread of the harness, which sits idle in wait4 while a tool runs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY_S = 0.05
PREFIX = "/slow"  # what nginx proxies here (server.py)
FILES = "/_files"  # nginx's internal location over the corpora (server.py)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(DELAY_S)
        path = self.path.removeprefix(PREFIX)
        self.send_response(200)
        self.send_header("X-Accel-Redirect", FILES + path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request on stderr would bury the harness's own


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # 64 transfers start at once: with the default backlog of 5, connections beyond it wait
    # for a SYN retransmit (1 s), which would be measured as the tools' time.
    request_queue_size = 1024


@contextlib.contextmanager
def delaying_server(host: str) -> Iterator[int]:
    """Serve on HOST for the length of the block; yields the port."""
    server = _Server((host, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="slow-upstream", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
