"""nginx on 127.0.0.1, with its own minimal config in a temp dir, for the length of a `with` block.

nginx rather than a Python server: the server must never be the bottleneck, and nginx with
sendfile serves loopback faster than any of the clients can take it. Nothing in this config
listens on anything but 127.0.0.1.

Optional parts, switched on only when a corpus needs them:
- TLS on a second port of 127.0.0.1 (the https corpus): same server block, same files, a
  certificate made by certs.py; TLS 1.2 and 1.3, nginx's default ssl_buffer_size (16k).
  sendfile does not apply to TLS (nginx encrypts in user space). No http2: every tool speaks
  HTTP/1.1 on both routes (curl and wget2 would otherwise negotiate h2 through ALPN).
- the slow route (conc64slow): `/slow/...` goes through slow.py, which holds each response
  ~50 ms and hands the file back to nginx (X-Accel-Redirect to the internal `/_files/`).

Always on: the capped route (issue 14's split and splitkill corpora), `/capped/...`, the same
files sent at 40 MiB/s per response (`limit_rate 40m`, as servers and CDNs cap each
connection), and the only location with an access log: one line per response with the bytes
nginx sent (`$bytes_sent`, headers included), so the harness can count what a tool cost the
server (split_kill.py). Every other location keeps `access_log off`.

The server is nginx's default for both ports and answers any Host (the hosts corpus names
10,000 host names, all of them this server).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import slow
from certs import Certificates
from corpus import MEMORY_PREFIX, Route
from system import ensure_binary

HOST = "127.0.0.1"
CAPPED_PREFIX = "/capped"
CAP_MIB_PER_S = 40  # per response: nginx's limit_rate 40m (m: 1024 * 1024 bytes)
CAPPED_LOG = "capped-access.log"  # in the run's temp dir

CONFIG = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;

events {{
    # The hosts corpus leaves keep-alive connections to thousands of host names open.
    worker_connections 16384;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    # Every tool keeps its connections alive; never make one reconnect mid-benchmark.
    keepalive_requests 100000;
    keepalive_timeout 120s;
    # No mime.types and no gzip: the bytes served are the bytes on disk, for every tool.
    default_type application/octet-stream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # The capped route's access log (first field: bytes sent, headers included).
    log_format sent '$bytes_sent $body_bytes_sent $status "$request_uri" "$http_range"';

    server {{
        listen {host}:{port} default_server;
        server_name _;
        root {www};
        # The memory and hosts corpora: any name under /{memory}/ is a 1-byte file, so a
        # 500,000-URL list needs no 500,000 files on disk.
        location /{memory}/ {{
            return 200 "x";
        }}
        # The slow route's files, reachable only through slow.py's X-Accel-Redirect.
        location {files}/ {{
            internal;
            alias {www}/;
        }}
        # Issue 14: a server that caps each response's rate; what it sent is logged.
        location {capped}/ {{
            alias {www}/;
            limit_rate {cap}m;
            access_log {tmp}/{capped_log} sent;
        }}
{optional}    }}
}}
"""

TLS = """        listen {host}:{port} ssl default_server;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
"""

SLOW = """        location {prefix}/ {{
            proxy_pass http://{host}:{port};
        }}
"""


@dataclass(frozen=True)
class Endpoints:
    """Where the server answers, per route (corpus.Route)."""

    http: str  # http://127.0.0.1:PORT
    https: str | None = None  # https://127.0.0.1:PORT2, when TLS was asked for
    ca: Path | None = None  # the CA a tool must trust for https
    slow: bool = False  # whether the slow route was set up
    capped_log: Path | None = None  # the capped route's access log (one line per response)

    def base(self, route: Route) -> str:
        """The base URL of ROUTE; the routes a run did not ask for are a bug in the caller."""
        if route is Route.HTTPS:
            assert self.https is not None, "nginx was started without TLS"
            return self.https
        if route is Route.SLOW:
            assert self.slow, "nginx was started without the slow route"
            return self.http + slow.PREFIX
        if route is Route.CAPPED:
            return self.http + CAPPED_PREFIX
        return self.http


def ensure_nginx(log) -> str:
    found = ensure_binary("nginx", "nginx", log)
    if not found:
        raise SystemExit("nginx is not installed: run `bash bench/setup.sh` (as root)")
    return found


def free_ports(count: int) -> list[int]:
    # Ask the kernel for free ports, all held at once so that they differ; nginx binds them
    # right after (a race only another process grabbing one in that instant could lose).
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]


@contextlib.contextmanager
def nginx(
    www: Path, tmp: Path, log, *, tls: Certificates | None = None, slow_route: bool = False
) -> Iterator[Endpoints]:
    """Serve WWW on 127.0.0.1 (and over TLS with TLS's certificate, and the slow route, when
    asked); nginx, and slow.py's server, are stopped on exit, whatever the exit."""
    binary = ensure_nginx(log)
    port, second = free_ports(2)
    tls_port = second if tls else None
    with contextlib.ExitStack() as stack:
        slow_port = stack.enter_context(slow.delaying_server(HOST)) if slow_route else None
        conf = tmp / "nginx.conf"
        conf.write_text(_config(tmp, www, port, tls, tls_port, slow_port))
        # -e: the error log from the very start, before the config is read (else /var/log/nginx).
        argv = [binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            endpoints = Endpoints(
                http=f"http://{HOST}:{port}",
                https=f"https://{HOST}:{tls_port}" if tls else None,
                ca=tls.ca if tls else None,
                slow=slow_route,
                capped_log=tmp / CAPPED_LOG,
            )
            _wait_ready(proc, port, tmp)
            routes = ", ".join(filter(None, [endpoints.http, endpoints.https]))
            log(f"nginx pid {proc.pid} serving {www} at {routes}")
            yield endpoints
        finally:
            _stop(proc)
            log(f"nginx pid {proc.pid} stopped")


def _config(
    tmp: Path,
    www: Path,
    port: int,
    tls: Certificates | None,
    tls_port: int | None,
    slow_port: int | None,
) -> str:
    optional = ""
    if tls:
        optional += TLS.format(host=HOST, port=tls_port, cert=tls.cert, key=tls.key)
    if slow_port:
        optional += SLOW.format(prefix=slow.PREFIX, host=HOST, port=slow_port)
    return CONFIG.format(
        tmp=tmp,
        host=HOST,
        port=port,
        www=www,
        memory=MEMORY_PREFIX,
        files=slow.FILES,
        capped=CAPPED_PREFIX,
        cap=CAP_MIB_PER_S,
        capped_log=CAPPED_LOG,
        optional=optional,
    )


def _wait_ready(proc: subprocess.Popen, port: int, tmp: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}: {_error_log(tmp)}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection(HOST, port, timeout=1)
            conn.request("GET", f"/{MEMORY_PREFIX}/ready")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not answer on port {port}: {_error_log(tmp)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown; the master stops its workers
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # start_new_session made nginx a group leader: this kills its workers too.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _error_log(tmp: Path) -> str:
    try:
        return (tmp / "error.log").read_text()[-2000:].strip() or "(empty error log)"
    except OSError:
        return "(no error log)"
