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

from .options import Options
from .request import USER_AGENT
from .segments import MAX_SPLIT


@asynccontextmanager
async def open_session(
    options: Options, given: aiohttp.ClientSession | None
) -> AsyncIterator[aiohttp.ClientSession]:
    if given is not None:
        yield given
        return
    # -j counts files, and a split file has up to MAX_SPLIT connections (an item's split=
    # may exceed --split); the engine's slots and hosts.py hold the real caps.
    connector = aiohttp.TCPConnector(
        limit=options.jobs * MAX_SPLIT, limit_per_host=options.per_host, ttl_dns_cache=300
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


def _cookie_jar() -> aiohttp.CookieJar:
    """Cookies live for one run, as with curl and wget (a login URL, then the files).
    unsafe: aiohttp drops cookies set by IP-address hosts, which curl and wget keep.
    quote_cookie off: values go back as the server set them (`tok=ab/c==`), where aiohttp
    would send `tok="ab/c=="` (surrounding double quotes of a value are dropped either way)."""
    return aiohttp.CookieJar(unsafe=True, quote_cookie=False)
