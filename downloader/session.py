"""The aiohttp session of a batch: connection pool, timeouts, default headers, cookie jar.

A session the caller brings is used as it is. TLS settings, proxies and cookie files are
applied here too (request.py decides what each request carries).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from .options import Options
from .request import USER_AGENT


@asynccontextmanager
async def open_session(
    options: Options, given: aiohttp.ClientSession | None
) -> AsyncIterator[aiohttp.ClientSession]:
    if given is not None:
        yield given
        return
    connector = aiohttp.TCPConnector(
        limit=options.jobs, limit_per_host=options.per_host, ttl_dns_cache=300
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
        trust_env=_proxy_configured(),
    ) as session:
        yield session


def _cookie_jar() -> aiohttp.CookieJar:
    """Cookies live for one run, as with curl and wget (a login URL, then the files).
    unsafe: aiohttp drops cookies set by IP-address hosts, which curl and wget keep.
    quote_cookie off: values go back as the server set them (`tok=ab/c==`), where aiohttp
    would send `tok="ab/c=="` (surrounding double quotes of a value are dropped either way)."""
    return aiohttp.CookieJar(unsafe=True, quote_cookie=False)


def _proxy_configured() -> bool:
    """Honour http_proxy / https_proxy / all_proxy like curl and wget, but only pay for it
    when one is set: aiohttp's trust_env costs two thread hops per request."""
    names = ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy")
    return any(os.environ.get(n) or os.environ.get(n.upper()) for n in names)
