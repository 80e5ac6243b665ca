"""The aiohttp session of a batch: connection pool, timeouts, default headers, cookie jar.

A session the caller brings is used as it is. Cookie files are loaded into and saved from
the session's jar by cookies.py (around the batch, in api.py); TLS settings and proxies are
given to each request by the Requester (request.py, tls.py, proxy.py), so they hold for a
caller's session too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from . import castore
from .options import Options
from .request import USER_AGENT
from .segments import MAX_SPLIT

DNS_TTL_SECONDS = 300  # aiohttp keeps at most 1,000 answers, least recently used first out


@asynccontextmanager
async def open_session(
    options: Options, given: aiohttp.ClientSession | None
) -> AsyncIterator[aiohttp.ClientSession]:
    castore.ready()  # the CA store `adl get` reads beside its start-up (castore.py)
    if given is not None:
        yield given
        return
    # -j counts files, and a split file has up to MAX_SPLIT connections (an item's split=
    # may exceed --split); the engine's slots and hosts.py hold the real caps.
    connector = IdleCappedConnector(
        idle_cap=idle_cap(options.jobs),
        limit=options.jobs * MAX_SPLIT,
        limit_per_host=options.per_host,
        ttl_dns_cache=DNS_TTL_SECONDS,
    )
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=options.connect_timeout, sock_read=options.timeout
    )
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=_cookie_jar(),
        auto_decompress=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        # Never: it would read ~/.netrc and add credentials behind request.py's back (and
        # cost two thread hops per request). proxy.py reads the *_proxy variables instead.
        trust_env=False,
    ) as session:
        yield session


def idle_cap(jobs: int) -> int:
    """Idle connections kept over all hosts (curl keeps 5 x --parallel-max)."""
    return max(2 * jobs, 8)


class IdleCappedConnector(aiohttp.TCPConnector):
    """aiohttp keeps every idle keep-alive connection for `keepalive_timeout` (15 s), however
    many hosts they go to: a list over many hosts piles up thousands of idle sockets (10,000
    open files and 175 MB over 10,000 host names here), past a 1024 open-file limit. This
    keeps at most `idle_cap` idle connections: past it, the hosts that went idle first lose
    theirs, down to half the cap (so the pool is counted once per cap/2 releases, not per
    release). A batch over one host keeps up to `idle_cap`, more than `-j` ever uses.

    It relies on aiohttp's pool being `_conns` (key -> idle connections, a key dropped when
    its last one is taken, so keys are in the order their hosts went idle); should that
    change, `_release` is left as aiohttp has it (nothing is capped, nothing breaks)."""

    def __init__(self, *, idle_cap: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self._idle_cap = idle_cap
        self._at_most_idle = 0  # an upper bound: aiohttp takes from the pool unseen

    def _release(self, key, protocol, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        self._at_most_idle += 1
        pool = getattr(self, "_conns", None)
        if self._at_most_idle <= self._idle_cap or not isinstance(pool, dict):
            return
        idle = sum(len(connections) for connections in pool.values())
        while idle > self._idle_cap // 2 and len(pool) > 1:
            for connection, _ in pool.pop(next(iter(pool))):
                connection.close()
                idle -= 1
        self._at_most_idle = idle


def loop_factory():
    """uvloop when installed (a default dependency where it installs): it makes small files
    noticeably cheaper. The CLI's loop, and each worker's (--procs, --cluster)."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]  # the optional extra
    except ImportError:
        return None
    return uvloop.new_event_loop


def _cookie_jar() -> aiohttp.CookieJar:
    """Cookies live for one run, as with curl and wget (a login URL, then the files).
    unsafe: aiohttp drops cookies set by IP-address hosts, which curl and wget keep.
    quote_cookie off: values go back as the server set them (`tok=ab/c==`), where aiohttp
    would send `tok="ab/c=="` (surrounding double quotes of a value are dropped either way)."""
    return aiohttp.CookieJar(unsafe=True, quote_cookie=False)
