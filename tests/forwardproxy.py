"""A forward HTTP proxy on 127.0.0.1 for tests, in pure asyncio.

It does what curl's and browsers' proxies do, and no more: a request with an absolute URI
(`GET http://host:port/path HTTP/1.1`) is sent on to its origin without the proxy's own
headers (Proxy-Authorization, Proxy-Connection), and `CONNECT host:port` opens a tunnel
that carries the TLS bytes both ways. It records every request line and the
Proxy-Authorization it came with (`seen`), can require credentials (`auth`, else 407), and
listens over TLS when given an SSL context (an https:// proxy). It connects to loopback
origins only: tests stay offline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_DROPPED = frozenset({"proxy-authorization", "proxy-connection", "connection", "keep-alive"})


@dataclass(frozen=True)
class Seen:
    request_line: str
    proxy_authorization: str | None


class ForwardProxy:
    def __init__(
        self, *, auth: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.seen: list[Seen] = []
        self.auth = auth
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()  # both sides of every connection

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Connections still open end as if the network dropped them (no cancelled tasks:
        # asyncio would log each as an error).
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, userinfo: str = "") -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    @property
    def request_lines(self) -> list[str]:
        return [seen.request_line for seen in self.seen]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One request per connection: the answer ends with the connection (Connection: close).
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")[:-2]
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
        found = [value for name, value in headers if name.lower() == "proxy-authorization"]
        self.seen.append(Seen(request_line, found[0] if found else None))
        if not self._authorized(found[0] if found else None):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            return
        method, target, _version = request_line.split(" ")
        if method == "CONNECT":
            await self._tunnel(target, reader, writer)
        else:
            await self._forward(method, target, headers, writer)

    def _authorized(self, header: str | None) -> bool:
        if self.auth is None:
            return True
        expected = base64.b64encode(":".join(self.auth).encode()).decode()
        return header == f"Basic {expected}"

    async def _tunnel(self, target: str, reader, writer) -> None:
        host, _, port = target.rpartition(":")
        upstream_reader, upstream_writer = await self._open(host.strip("[]"), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    async def _forward(self, method: str, target: str, headers, writer) -> None:
        url = urlsplit(target)
        assert url.scheme == "http" and url.hostname, f"not an absolute http URI: {target}"
        upstream_reader, upstream_writer = await self._open(url.hostname, url.port or 80)
        path = url.path + (f"?{url.query}" if url.query else "") or "/"
        kept = "".join(f"{n}: {v}\r\n" for n, v in headers if n.lower() not in _DROPPED)
        request = f"{method} {path} HTTP/1.1\r\n{kept}Connection: close\r\n\r\n"
        upstream_writer.write(request.encode("latin-1"))
        await _pipe(upstream_reader, writer)
        upstream_writer.close()

    async def _open(self, host: str, port: int):
        assert host in _LOOPBACK, f"the test proxy only reaches loopback, not {host}"
        reader, writer = await asyncio.open_connection(host, port)
        self._writers.add(writer)
        return reader, writer


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
