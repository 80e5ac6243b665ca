"""nginx on 127.0.0.1, with its own minimal config in a temp dir, for the length of a `with` block.

nginx rather than a Python server: the server must never be the bottleneck, and nginx with
sendfile serves loopback faster than any of the clients can take it. Nothing in this config
listens on anything but 127.0.0.1.
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
from pathlib import Path

from corpus import MEMORY_PREFIX
from system import ensure_binary

HOST = "127.0.0.1"

CONFIG = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;

events {{
    worker_connections 1024;
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

    server {{
        listen {host}:{port};
        root {www};
        # The memory corpus: any name under /{memory}/ is a 1-byte file, so a 500,000-URL list
        # needs no 500,000 files on disk.
        location /{memory}/ {{
            return 200 "x";
        }}
    }}
}}
"""


def ensure_nginx(log) -> str:
    found = ensure_binary("nginx", "nginx", log)
    if not found:
        raise SystemExit("nginx is not installed: run `bash bench/setup.sh` (as root)")
    return found


def free_port() -> int:
    # Ask the kernel for a free port; nginx binds it right after (a race only another
    # process grabbing the same port in that instant could lose).
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def nginx(www: Path, tmp: Path, log) -> Iterator[str]:
    """Serve WWW at the yielded base URL; nginx is stopped on exit, whatever the exit."""
    binary = ensure_nginx(log)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(CONFIG.format(tmp=tmp, host=HOST, port=port, www=www, memory=MEMORY_PREFIX))
    # -e: the error log from the very start, before the config is read (else /var/log/nginx).
    argv = [binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        base_url = f"http://{HOST}:{port}"
        _wait_ready(proc, port, tmp)
        log(f"nginx pid {proc.pid} serving {www} at {base_url}")
        yield base_url
    finally:
        _stop(proc)
        log(f"nginx pid {proc.pid} stopped")


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
