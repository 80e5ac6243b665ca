"""HTTP outcomes with aioresponses: statuses, raised client errors, request headers.

aioresponses hands a body over in one piece, so streaming, Range and cut connections are
tested against the real server elsewhere; here we check how each answer is classified.
No socket is opened: every URL is mocked (and points at 127.0.0.1 anyway).
"""

from __future__ import annotations

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from downloader import FileRetrying, State, download_all
from downloader.api import run_batch
from downloader.inputs import entries_from_urls
from downloader.options import Options

BASE = "http://127.0.0.1:8999"


@pytest.fixture
def mocked():
    with aioresponses() as m:
        yield m


def calls(m: aioresponses, url: str) -> list:
    return m.requests.get(("GET", URL(url)), [])


@pytest.mark.parametrize(
    ("status", "phrase"),
    [(403, "Forbidden"), (404, "Not Found"), (410, "Gone"), (500, "Internal Server Error")],
)
async def test_error_statuses_fail_the_file(mocked, tmp_path, status, phrase):
    url = f"{BASE}/file.bin"
    mocked.get(url, status=status, body=b"error page")

    results = await download_all([url], tmp_path, retries=0)

    (r,) = results
    assert not results.ok
    assert r.state is State.FAILED
    assert r.status == status
    assert r.error == f"HTTP {status} {phrase}"
    assert r.path is None
    assert not (tmp_path / "file.bin").exists()
    assert not (tmp_path / "file.bin.part").exists()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
async def test_client_errors_are_not_retried(mocked, tmp_path, status):
    url = f"{BASE}/file.bin"
    mocked.get(url, status=status, repeat=True)
    waits: list[float] = []

    results = [
        r
        async for r in run_batch(
            entries_from_urls([url]), tmp_path, Options(retries=3), sleep=_recorder(waits)
        )
    ]

    assert results[0].state is State.FAILED
    assert results[0].attempts == 1
    assert len(calls(mocked, url)) == 1
    assert waits == []


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried_through_the_sleep_seam(mocked, tmp_path, status):
    url = f"{BASE}/file.bin"
    mocked.get(url, status=status)
    mocked.get(url, status=200, body=b"finally")
    waits: list[float] = []
    events: list = []

    results = [
        r
        async for r in run_batch(
            entries_from_urls([url]),
            tmp_path,
            Options(retries=2),
            events.append,
            sleep=_recorder(waits),
        )
    ]

    (r,) = results
    assert r.state is State.DONE, r.error
    assert r.attempts == 2
    assert (tmp_path / "file.bin").read_bytes() == b"finally"
    assert len(calls(mocked, url)) == 2
    (retrying,) = [e for e in events if isinstance(e, FileRetrying)]
    assert retrying.attempt == 1
    assert retrying.reason.startswith(f"HTTP {status}")
    # The backoff went through the seam (429/503 also pause the host, through it too).
    assert retrying.delay in waits


async def test_retries_exhausted_report_the_attempts(mocked, tmp_path):
    url = f"{BASE}/file.bin"
    mocked.get(url, status=500, repeat=True)
    waits: list[float] = []

    results = [
        r
        async for r in run_batch(
            entries_from_urls([url]), tmp_path, Options(retries=2), sleep=_recorder(waits)
        )
    ]

    (r,) = results
    assert r.state is State.FAILED
    assert r.status == 500
    assert r.error == "HTTP 500 Internal Server Error after 3 attempts"
    assert r.attempts == 3
    assert len(calls(mocked, url)) == 3
    assert len(waits) == 2


@pytest.mark.parametrize(
    ("exception", "reason"),
    [
        (aiohttp.ClientConnectionError("connection went away"), "connection went away"),
        (aiohttp.ServerDisconnectedError(), "server closed the connection"),
        (TimeoutError(), "read timed out"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection reset"),
    ],
    ids=["ClientConnectionError", "ServerDisconnected", "timeout", "reset"],
)
async def test_raised_client_errors_fail_the_file_without_a_traceback(
    mocked, tmp_path, exception, reason
):
    bad, good = f"{BASE}/bad.bin", f"{BASE}/good.bin"
    mocked.get(bad, exception=exception)
    mocked.get(good, body=b"good")

    results = await download_all([bad, good], tmp_path, retries=0)

    assert [r.ok for r in results] == [False, True]
    assert results[0].state is State.FAILED
    assert results[0].status is None
    assert results[0].error == reason
    assert (tmp_path / "good.bin").read_bytes() == b"good"
    assert not (tmp_path / "bad.bin").exists()


async def test_a_200_body_is_saved(mocked, tmp_path):
    url = f"{BASE}/data.json"
    mocked.get(url, status=200, body=b'{"a": 1}', headers={"Content-Length": "8"})

    results = await download_all([url], tmp_path)

    (r,) = results
    assert r.state is State.DONE
    assert r.status == 200
    assert r.bytes == 8
    assert (tmp_path / "data.json").read_bytes() == b'{"a": 1}'


async def test_request_headers_and_flags(mocked, tmp_path):
    url = f"{BASE}/data.bin"
    mocked.get(url, body=b"x")

    await download_all([url], tmp_path)

    (call,) = calls(mocked, url)
    headers = call.kwargs["headers"]
    assert headers["User-Agent"].startswith("adl/")
    assert headers["Accept-Encoding"] == "identity"
    assert "Range" not in headers  # nothing on disk yet: a plain GET
    assert call.kwargs["auto_decompress"] is False
    assert call.kwargs["allow_redirects"] is False  # adl follows redirects itself


async def test_a_redirect_saves_under_the_listed_name(mocked, tmp_path):
    listed, target = f"{BASE}/download?id=7", f"{BASE}/storage/blob-123.dat"
    mocked.get(listed, status=302, headers={"Location": "/storage/blob-123.dat"})
    mocked.get(target, body=b"payload")

    results = await download_all([listed], tmp_path)

    (r,) = results
    assert r.state is State.DONE, r.error
    assert r.path == tmp_path / "download"
    assert (tmp_path / "download").read_bytes() == b"payload"
    assert not (tmp_path / "blob-123.dat").exists()


async def test_a_redirect_to_another_scheme_fails(mocked, tmp_path):
    url = f"{BASE}/file.bin"
    mocked.get(url, status=301, headers={"Location": "ftp://127.0.0.1/file.bin"})

    results = await download_all([url], tmp_path, retries=0)

    assert results[0].state is State.FAILED
    assert "redirect" in results[0].error
    assert not (tmp_path / "file.bin").exists()


async def test_too_many_redirects_fail(mocked, tmp_path):
    url = f"{BASE}/loop"
    mocked.get(url, status=302, headers={"Location": "/loop"}, repeat=True)

    results = await download_all([url], tmp_path, retries=0, max_redirects=3)

    assert results[0].state is State.FAILED
    assert results[0].error == "more than 3 redirects"
    assert len(calls(mocked, url)) == 4


def _recorder(waits: list[float]):
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return sleep
