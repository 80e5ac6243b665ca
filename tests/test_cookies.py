"""Cookies live for one run, as with curl and wget: a URL that sets one (a login, say) makes
the later URLs of the same host carry it. Hosts given as IP addresses behave like names,
and values go back as the server set them. Nothing is kept between runs (issue 11 adds
loading and saving)."""

from __future__ import annotations

import aiohttp
import pytest

from downloader import download_all

from .fileserver import Fault


def require_cookie(server, name: str, cookie: str) -> list[str | None]:
    """/name answers 403 unless the request carries exactly `cookie`; returns what came."""
    seen: list[str | None] = []

    def check(path: str, request) -> None:
        if path == name:
            seen.append(request.headers.get("Cookie"))
            if seen[-1] != cookie:
                server.fail_next(name, Fault("status", status=403))

    server.hooks.append(check)
    return seen


@pytest.mark.parametrize(
    "value",
    ["s3cr3t", "ab/c+d=="],  # base64 padding and slashes: sent as set, not "quoted"
    ids=["plain", "base64"],
)
async def test_a_cookie_set_by_an_ip_host_is_sent_to_its_later_urls(server, tmp_path, value):
    login = server.add("login", b"welcome", **{"Set-Cookie": f"session={value}; Path=/"})
    data = server.add("data.bin", b"members only")
    seen = require_cookie(server, "data.bin", f"session={value}")
    urls = [server.url(login), server.url(data)]
    assert urls[0].startswith("http://127.0.0.1:")

    results = await download_all(urls, tmp_path, jobs=1, retries=0)

    assert results.ok, results.failed
    assert seen == [f"session={value}"]
    assert (tmp_path / "data.bin").read_bytes() == b"members only"


async def test_cookies_are_not_kept_between_runs(server, tmp_path):
    login = server.add("login", b"welcome", **{"Set-Cookie": "session=s3cr3t; Path=/"})
    data = server.add("data.bin", b"members only")
    seen = require_cookie(server, "data.bin", "session=s3cr3t")
    await download_all([server.url(login)], tmp_path, retries=0)

    results = await download_all([server.url(data)], tmp_path, retries=0)

    assert not results.ok
    assert seen == [None]


async def test_a_caller_session_keeps_its_own_cookie_jar(server, tmp_path):
    login = server.add("login", b"welcome", **{"Set-Cookie": "session=s3cr3t; Path=/"})
    jar = aiohttp.CookieJar()  # aiohttp's default: drops cookies of IP hosts
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        results = await download_all([server.url(login)], tmp_path, session=session)

    assert results.ok
    assert len(jar) == 0  # the caller's jar was used, with the caller's rules
