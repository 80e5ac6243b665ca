"""HTTPS servers on 127.0.0.1 for the TLS option tests, with certificates from `trustme`.

`HttpsOrigin` is a real aiohttp server that records the headers of every request and may
require a client certificate. `BlockingTlsServer` is a plain-socket server in a thread:
asyncio's TLS never sends the alert when a handshake fails on its side (the connection just
closes), while OpenSSL servers such as nginx's, Apache's or this one do — and that alert is
how a client learns that a certificate was required, or not trusted.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

import trustme
from aiohttp import web

BODY = b"served over TLS\n"


def server_context(ca: trustme.CA, *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 from `ca`; with `client_ca`, one
    that requires a client certificate issued by it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    return context


class HttpsOrigin:
    """Serves BODY at any path over TLS; `headers` holds each request's headers."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.headers: list[dict[str, str]] = []
        self._context = context

    async def __aenter__(self) -> HttpsOrigin:
        app = web.Application()
        app.router.add_get("/{name:.*}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    def url(self, name: str = "file.txt") -> str:
        return f"https://127.0.0.1:{self.port}/{name}"

    async def _serve(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.Response(body=BODY)


class BlockingTlsServer:
    """Serves BODY to one request per connection, from a thread; `handshakes` lists what
    each TLS handshake ended with ("ok" or OpenSSL's reason)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.handshakes: list[str] = []
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> BlockingTlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() up (close does not)
        self._thread.join(timeout=10)
        self._listener.close()

    def url(self, name: str = "file.txt") -> str:
        return f"https://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            with raw:
                raw.settimeout(10)
                self._answer(raw)

    def _answer(self, raw: socket.socket) -> None:
        tls = self._context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except ssl.SSLError as exc:
            self.handshakes.append(exc.reason or str(exc))
            _linger(tls)
            return
        except OSError:
            self.handshakes.append("closed")
            return
        self.handshakes.append("ok")
        tls.recv(65536)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\nConnection: close\r\n"
        tls.sendall(head.encode() + b"\r\n" + BODY)
        tls.close()


def _linger(tls: ssl.SSLSocket) -> None:
    """Read what the client still sends (its request, sent before our alert reached it)
    until it closes: closing with unread bytes would send a TCP reset, which can overtake
    the alert, as nginx's lingering close knows."""
    with contextlib.suppress(OSError):
        while socket.socket.recv(tls, 65536):  # the raw bytes: the TLS session is dead
            pass


def write_pem(path: Path, *blobs: trustme.Blob) -> str:
    path.write_bytes(b"".join(blob.bytes() for blob in blobs))
    return str(path)
