"""The aiohttp session of a batch: connection pool, timeouts, default headers, cookie jar.

A session the caller brings is used as it is. Cookie files are loaded into and saved from
the session's jar by cookies.py (around the batch, in api.py); TLS settings and proxies are
given to each request by the Requester (request.py, tls.py, proxy.py), so they hold for a
caller's session too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp

from .options import Options
from .request import USER_AGENT

# aiohttp drops a cached DNS answer only when its host is looked up again after the TTL: over
# a million hosts the cache would keep a million answers. Emptying it every TTL keeps only
# the hosts of the last few minutes (a host still in use is looked up again, once).
DNS_TTL_SECONDS = 300


@asynccontextmanager
async def open_session(
    options: Options, given: aiohttp.ClientSession | None
) -> AsyncIterator[aiohttp.ClientSession]:
    if given is not None:
        yield given
        return
    connector = aiohttp.TCPConnector(
        limit=options.jobs, limit_per_host=options.per_host, ttl_dns_cache=DNS_TTL_SECONDS
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
        forgetting = asyncio.create_task(forget_dns_answers(connector, asyncio.sleep))
        try:
            yield session
        finally:
            forgetting.cancel()


async def forget_dns_answers(
    connector: aiohttp.TCPConnector, sleep: Callable[[float], Awaitable[None]]
) -> None:
    while True:
        await sleep(DNS_TTL_SECONDS)
        connector.clear_dns_cache()


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
