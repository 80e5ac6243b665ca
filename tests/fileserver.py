"""A real in-process HTTP server for tests, with faults on demand.

aioresponses hands over a body in one piece; streaming, Range, cut connections and slow
servers need real sockets. `FileServer` serves byte strings on 127.0.0.1 with ETag,
Last-Modified and Range/If-Range like a static file server, and lets a test script what
goes wrong: per-path queues of faults for the next requests, a random fault rate for soak
tests, a server that ignores Range or sends no validators, throttled bodies, redirects and
Content-Disposition. It counts requests and body bytes sent, so a test can prove a resume
did not start over, and the requests in flight per Host (`max_active`) for concurrency caps.
A HEAD gets a GET's headers without the body (counted in `heads` too).
Ranges are `bytes=N-` and `bytes=N-M`; `range_rates` slows the answer to one Range value.
`redirect(name, location)` answers with any Location (ftp://, file://, ...), `fallback`
serves a body for any unknown path, `ignore_if_range` plays a cache that honours Range but
not If-Range, `hooks` see every request as it arrives, and `auth = (user, password)` makes
every file require HTTP Basic authentication (401 without it).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import random
import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Served:
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or while) answering one request.

    kind: "status" (answer `status`, with Retry-After `retry_after` if given), "cut" (send
    `after` body bytes, then drop the connection), "stall" (send `after` bytes, then sleep
    `seconds`), "trickle" (send the body at `rate` bytes/s), "reset" (drop at once),
    "wrong_range" (answer a range request with the range `after` bytes further on, saying so),
    "delay" (answer after `seconds`).
    """

    kind: str
    status: int = 503
    retry_after: str | None = None
    after: int = 0
    seconds: float = 30.0
    rate: int = 0


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.requests: Counter[str] = Counter()
        self.heads: Counter[str] = Counter()  # the HEAD requests among them
        self.bytes_sent: Counter[str] = Counter()
        self.range_requests: list[tuple[str, str, str | None]] = []
        self.request_headers: list[tuple[str, dict[str, str]]] = []
        self.ignore_range = False
        self.ignore_if_range = False  # honour Range but not If-Range (a broken cache, say)
        self.rate = 0  # bytes per second for every body; 0 = as fast as possible
        # Range header value -> bytes per second for the request asking it (one slow connection)
        self.range_rates: dict[str, int] = {}
        self.random_faults: tuple[random.Random, float, list[Fault]] | None = None
        self.random_fault_cap: int | None = None  # at most this many random faults per path
        self.random_fault_counts: Counter[str] = Counter()
        # Served for any unknown name when set (hostile-path tests): the body, with validators.
        self.fallback: bytes | None = None
        # name -> (status, Location): answer with a redirect to an arbitrary URL.
        self.redirects: dict[str, tuple[int, str]] = {}
        # Requests being answered right now, and the most at once, per Host header.
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.max_active_total = 0
        # Called with (name, request) at the start of every request to a file.
        self.hooks: list[Callable[[str, web.Request], None]] = []
        # (user, password) every file request must authenticate with (HTTP Basic).
        self.auth: tuple[str, str] | None = None
        self._server: TestServer | None = None

    # -- setup -------------------------------------------------------------------------
    def add(self, name: str, body: bytes, *, validators: bool = True, **headers: str) -> str:
        """Serve `body` at /name; returns the path. `headers` are extra response headers."""
        etag = last_modified = None
        if validators:
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            last_modified = email.utils.formatdate(1_700_000_000, usegmt=True)
        self.files[name] = Served(body, etag, last_modified, dict(headers))
        return "/" + name

    def fail_next(self, name: str, *faults: Fault) -> None:
        self.faults[name].extend(faults)

    def fail_randomly(
        self, rate: float, faults: list[Fault], *, seed: int = 1, max_per_path: int | None = None
    ) -> None:
        """Fail a `rate` share of requests with one of `faults`; with `max_per_path`, no path
        gets more than that many random faults (so a retry budget is sure to suffice)."""
        self.random_faults = (random.Random(seed), rate, faults)
        self.random_fault_cap = max_per_path

    def redirect(self, name: str, location: str, status: int = 302) -> str:
        """Answer /name with `status` and `Location: location` (any URL, any scheme)."""
        self.redirects[name] = (status, location)
        return "/" + name

    def url(self, path: str) -> str:
        assert self._server is not None
        return str(self._server.make_url(path if path.startswith("/") else "/" + path))

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> FileServer:
        app = web.Application()
        app.router.add_get("/redirect/{hops:\\d+}/{name:.*}", self._redirect)
        app.router.add_get("/away/{name:.*}", self._absolute_redirect)
        # [\s\S]: names may hold any character, newlines too (hostile-name tests)
        app.router.add_get("/{name:[\\s\\S]*}", self._serve)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    # -- handlers ----------------------------------------------------------------------
    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        hops = int(request.match_info["hops"])
        name = request.match_info["name"]
        self.request_headers.append((request.path, dict(request.headers)))
        target = f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/{name}"
        raise web.HTTPFound(target)

    async def _absolute_redirect(self, request: web.Request) -> web.StreamResponse:
        # The same server under another host name (localhost vs 127.0.0.1): "another host".
        self.request_headers.append((request.path, dict(request.headers)))
        port = request.url.port
        raise web.HTTPFound(f"http://localhost:{port}/{request.match_info['name']}")

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        self.active[host] += 1
        self.max_active[host] = max(self.max_active[host], self.active[host])
        self.max_active_total = max(self.max_active_total, sum(self.active.values()))
        try:
            return await self._answer(request)
        finally:
            self.active[host] -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests[name] += 1
        self.request_headers.append((request.path, dict(request.headers)))
        for hook in self.hooks:
            hook(name, request)
        if self.auth is not None and not self._authorized(request):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="adl"'})
        if name in self.redirects:
            status, location = self.redirects[name]
            return web.Response(status=status, headers={"Location": location})
        served = self.files.get(name)
        if served is None and self.fallback is not None:
            self.add(name, self.fallback)
            served = self.files[name]
        if served is None:
            raise web.HTTPNotFound()
        fault = self._next_fault(name)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.Response(status=fault.status, headers=headers, text="fault")
        if fault is not None and fault.kind == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        start, end = self._range(request, served, name)
        if fault is not None and fault.kind == "wrong_range" and (start or end is not None):
            start += fault.after
        return await self._send(request, name, served, start, end, fault)

    def _authorized(self, request: web.Request) -> bool:
        assert self.auth is not None
        expected = base64.b64encode(":".join(self.auth).encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _next_fault(self, name: str) -> Fault | None:
        if self.faults[name]:
            return self.faults[name].popleft()
        if self.random_faults is not None:
            rng, rate, choices = self.random_faults
            cap = self.random_fault_cap
            if rng.random() < rate and (cap is None or self.random_fault_counts[name] < cap):
                self.random_fault_counts[name] += 1
                return rng.choice(choices)
        return None

    def _range(self, request: web.Request, served: Served, name: str) -> tuple[int, int | None]:
        """The first byte asked for, and the last (None: to the end; (0, None): all of it
        as a 200, as when there is no Range). `bytes=0-` gets a 206, as nginx answers it."""
        header = request.headers.get("Range")
        if header is None or self.ignore_range:
            return 0, None
        if_range = request.headers.get("If-Range")
        self.range_requests.append((name, header, if_range))
        changed = if_range is not None and if_range not in (served.etag, served.last_modified)
        if changed and not self.ignore_if_range:
            return 0, None  # the file changed since: send all of it (RFC 9110 If-Range)
        match = _RANGE.match(header)
        if match is None:
            return 0, None
        start, last = int(match.group(1)), match.group(2)
        end = min(int(last), len(served.body) - 1) if last else len(served.body) - 1
        return start, end

    async def _send(
        self, request, name, served: Served, start: int, end: int | None, fault
    ) -> web.StreamResponse:
        body, size = served.body, len(served.body)
        headers = dict(served.headers)
        if served.etag:
            headers["ETag"] = served.etag
        if served.last_modified:
            headers["Last-Modified"] = served.last_modified
        if start >= size and (start > 0 or end is not None):
            headers["Content-Range"] = f"bytes */{size}"
            return web.Response(status=416, headers=headers)
        last = size - 1 if end is None else end
        status = 200 if start == 0 and end is None else 206
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{last}/{size}"
        headers["Content-Length"] = str(last + 1 - start)
        if request.method == "HEAD":  # the headers a GET would have, no body
            self.heads[name] += 1
            return web.Response(status=status, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        rate = self.range_rates.get(request.headers.get("Range", ""), self.rate)
        await self._write_body(request, response, name, body[start : last + 1], fault, rate)
        return response

    async def _write_body(
        self, request, response, name: str, data: bytes, fault, rate: int
    ) -> None:
        rate = fault.rate if fault is not None and fault.kind == "trickle" else rate
        limit = fault.after if fault is not None and fault.kind in ("cut", "stall") else None
        step = max(1, rate // 20) if rate else 64 * 1024
        sent = 0
        while sent < len(data):
            if limit is not None and sent >= limit:
                break
            if request.transport is None or request.transport.is_closing():
                return  # the client hung up: what would be written now is never sent
            piece = data[sent : sent + step if limit is None else min(sent + step, limit)]
            await response.write(piece)
            sent += len(piece)
            self.bytes_sent[name] += len(piece)
            if rate:
                await asyncio.sleep(len(piece) / rate)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
        if limit is not None and sent < len(data):
            assert request.transport is not None
            request.transport.close()  # a connection cut mid-body
            return
        await response.write_eof()
