"""The library entry points, `download_all` and `iter_downloads`, against a real local server.

Everything runs on 127.0.0.1. Failures use `retries=0`, so nothing here waits for a backoff.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
from contextlib import aclosing
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from downloader import (
    BatchResult,
    FileFinished,
    FileProgress,
    FileStarted,
    JournalBusyError,
    OptionsError,
    State,
    download_all,
    iter_downloads,
)
from downloader.journal import SqliteJournal

from .conftest import random_bytes
from .fileserver import Fault

KiB = 1024
CHUNK = 64 * KiB


def closed_port() -> int:
    """A loopback port nobody listens on: bound, read, closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    """Files in flight that should never survive a finished batch."""
    return sorted(p.name for p in folder.rglob("*.part"))


class SlowServer:
    """A tiny server of its own (not FileServer) that counts requests in flight at once.

    Every GET /NAME answers `size` bytes, sent in 20 pieces over about `seconds`."""

    def __init__(self, size: int = 40_000, seconds: float = 0.1) -> None:
        self.size, self.seconds = size, seconds
        self.active = self.peak = self.total = 0
        self._server: TestServer | None = None

    async def start(self) -> SlowServer:
        app = web.Application()
        app.router.add_get("/chunked/{name}", self._chunked)
        app.router.add_get("/{name}", self._slow)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        assert self._server is not None
        await self._server.close()

    def url(self, name: str) -> str:
        assert self._server is not None
        return str(self._server.make_url("/" + name))

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        self.total += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            response = web.StreamResponse(headers={"Content-Length": str(self.size)})
            await response.prepare(request)
            piece = b"s" * (self.size // 20)
            for _ in range(20):
                await response.write(piece)
                await asyncio.sleep(self.seconds / 20)
            await response.write_eof()
            return response
        finally:
            self.active -= 1

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        """The body without a Content-Length: its size is known only at the end."""
        self.total += 1
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(10):
            await response.write(bytes([65 + i]) * 10_000)
        await response.write_eof()
        return response


@pytest.fixture
async def slow_server():
    files = await SlowServer().start()
    try:
        yield files
    finally:
        await files.close()


# --- many files, byte-exact, input order ------------------------------------------------------


async def test_many_files_arrive_byte_exact_and_results_keep_input_order(server, tmp_path):
    bodies = {f"f{i:02}.bin": random_bytes(100 + 997 * i, seed=i) for i in range(30)}
    for name, body in bodies.items():
        server.add(name, body)
    urls = [server.url(name) for name in bodies]

    results = await download_all(urls, tmp_path, jobs=3)

    assert isinstance(results, BatchResult)
    assert results.ok, results.failed
    assert results.failed == []
    assert [r.url for r in results] == urls
    for r, (name, body) in zip(results, bodies.items(), strict=True):
        assert r.ok
        assert r.state is State.DONE
        assert r.path == tmp_path / name
        assert r.status == 200
        assert r.error is None
        assert r.bytes == len(body)
        assert r.received == len(body)
        assert r.attempts == 1
        assert (tmp_path / name).read_bytes() == body
    assert leftovers(tmp_path) == []
    assert all(server.requests[name] == 1 for name in bodies)


async def test_a_404_fails_only_its_file(server, tmp_path):
    server.add("a.txt", b"alpha")
    server.add("c.txt", b"gamma")
    urls = [server.url("a.txt"), server.url("missing.txt"), server.url("c.txt")]

    results = await download_all(urls, tmp_path, retries=0)

    assert not results.ok
    assert [r.url for r in results] == urls
    assert [r.ok for r in results] == [True, False, True]
    (failed,) = results.failed
    assert failed is results[1]
    assert failed.state is State.FAILED
    assert failed.status == 404
    assert failed.error is not None and failed.error.startswith("HTTP 404")
    assert failed.path is None
    assert not (tmp_path / "missing.txt").exists()
    assert len(results.done) == 2
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "c.txt").read_bytes() == b"gamma"


async def test_a_404_is_not_retried_even_with_retries_left(server, tmp_path):
    results = await download_all([server.url("missing.txt")], tmp_path, retries=3)
    assert results[0].error.startswith("HTTP 404")
    assert results[0].attempts == 1
    assert server.requests["missing.txt"] == 1


async def test_an_invalid_url_fails_only_its_item(server, tmp_path):
    server.add("a.txt", b"alpha")
    urls = ["ftp://127.0.0.1/x", server.url("a.txt"), "not a url"]

    results = await download_all(urls, tmp_path)

    assert [r.ok for r in results] == [False, True, False]
    assert results[0].error == "not an http or https URL"
    assert results[2].error is not None
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"


async def test_a_generator_of_urls_is_accepted(server, tmp_path):
    for i in range(5):
        server.add(f"g{i}.txt", f"body {i}".encode())

    results = await download_all((server.url(f"g{i}.txt") for i in range(5)), tmp_path, jobs=2)

    assert results.ok
    assert len(results) == 5
    for i in range(5):
        assert (tmp_path / f"g{i}.txt").read_text() == f"body {i}"


async def test_an_empty_list_is_an_empty_ok_batch(server, tmp_path):
    results = await download_all([], tmp_path / "out")
    assert results.ok
    assert len(results) == 0
    assert list(results) == []
    assert sum(server.requests.values()) == 0


async def test_url_objects_are_accepted(server, tmp_path):
    server.add("a.txt", b"alpha")
    results = await download_all([URL(server.url("a.txt"))], tmp_path)
    assert results.ok
    assert results[0].url == server.url("a.txt")
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"


async def test_the_same_url_twice_in_one_batch_is_not_a_failure(server, tmp_path):
    body = random_bytes(1_000_000, seed=5)
    server.add("dup.bin", body)
    server.rate = 10_000_000  # ~0.1 s per body: the two would overlap
    url = server.url("dup.bin")

    results = await download_all([url, url], tmp_path, jobs=2, chunk_size=CHUNK)

    assert [r.url for r in results] == [url, url]
    assert results.ok, results.failed
    assert (tmp_path / "dup.bin").read_bytes() == body
    assert leftovers(tmp_path) == []


async def test_iter_downloads_yields_one_result_per_url(server, tmp_path):
    urls = []
    for i in range(12):
        server.add(f"i{i}.bin", random_bytes(5_000 + 3_000 * (i % 4), seed=i))
        urls.append(server.url(f"i{i}.bin"))

    seen = [r async for r in iter_downloads(urls, tmp_path, jobs=4)]

    assert len(seen) == len(urls)
    assert {r.url for r in seen} == set(urls)
    assert all(r.state is State.DONE for r in seen)


async def test_iter_downloads_pulls_urls_lazily_from_an_endless_generator(server, tmp_path):
    server.add("same.txt", b"x")
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield server.url(f"same.txt?n={i}")

    got = []
    async with aclosing(iter_downloads(endless(), tmp_path, jobs=2)) as results:
        async for r in results:
            got.append(r)
            if len(got) == 5:
                break

    assert len(got) == 5
    assert all(r.ok for r in got)
    # Fed as slots free up: a bounded window (2 × jobs) ahead of the results, not the list.
    assert pulled <= 5 + 2 * 2 + 1


async def test_closing_iter_downloads_early_cancels_work_and_releases_the_folder(server, tmp_path):
    server.rate = 200_000  # slow bodies, so transfers are still running at the break
    urls = []
    for i in range(6):
        server.add(f"s{i}.bin", random_bytes(60_000, seed=i))
        urls.append(server.url(f"s{i}.bin"))

    async with aclosing(iter_downloads(urls, tmp_path, jobs=2)) as results:
        first = await anext(results)

    assert first.url in urls
    running = [
        t
        for t in asyncio.all_tasks()
        if not t.done() and "Engine._download" in t.get_coro().__qualname__
    ]
    assert running == []
    SqliteJournal(tmp_path).close()  # the lock is free again: no JournalBusyError


# --- bodies: big, boundaries, empty ---------------------------------------------------------------


async def test_a_big_body_is_streamed_in_chunks_byte_exact(server, tmp_path):
    big = random_bytes(5 * 1024 * KiB + 123, seed=7)
    server.add("big.bin", big)
    events = []

    results = await download_all(
        [server.url("big.bin")], tmp_path, chunk_size=CHUNK, on_event=events.append
    )

    assert results.ok, results.failed
    assert (tmp_path / "big.bin").read_bytes() == big
    assert results[0].bytes == len(big)
    assert leftovers(tmp_path) == []
    progress = [e for e in events if isinstance(e, FileProgress)]
    assert len(progress) >= len(big) // CHUNK  # many pieces, not one read of the body
    assert all(e.nbytes <= CHUNK for e in progress)
    assert sum(e.nbytes for e in progress) == len(big)
    assert progress[-1].done == len(big)
    assert progress[-1].total == len(big)


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK],
    ids=["empty", "one", "chunk-1", "chunk", "chunk+1", "3chunks"],
)
async def test_body_sizes_around_the_chunk_size(server, tmp_path, size):
    body = random_bytes(size, seed=size)
    server.add("edge.bin", body)
    events = []

    results = await download_all(
        [server.url("edge.bin")], tmp_path, chunk_size=CHUNK, on_event=events.append
    )

    assert results.ok, results.failed
    assert (tmp_path / "edge.bin").is_file()
    assert (tmp_path / "edge.bin").read_bytes() == body
    assert results[0].bytes == size
    assert leftovers(tmp_path) == []
    assert sum(e.nbytes for e in events if isinstance(e, FileProgress)) == size


async def test_a_body_without_content_length_is_saved_whole(slow_server, tmp_path):
    events = []
    url = slow_server.url("chunked/stream.bin")

    results = await download_all([url], tmp_path, chunk_size=CHUNK, on_event=events.append)

    assert results.ok, results.failed
    expected = b"".join(bytes([65 + i]) * 10_000 for i in range(10))
    assert (tmp_path / "stream.bin").read_bytes() == expected
    assert results[0].bytes == len(expected)
    (started,) = [e for e in events if isinstance(e, FileStarted)]
    assert started.total is None
    assert leftovers(tmp_path) == []


# --- concurrency ------------------------------------------------------------------------------


async def test_jobs_bounds_concurrent_requests(slow_server, tmp_path):
    urls = [slow_server.url(f"c{i}.bin") for i in range(8)]

    results = await download_all(urls, tmp_path, jobs=2)

    assert results.ok, results.failed
    assert slow_server.total == 8
    assert slow_server.peak == 2  # never more than -j, and -j really used
    assert all((tmp_path / f"c{i}.bin").stat().st_size == slow_server.size for i in range(8))


async def test_per_host_bounds_concurrent_requests_to_one_host(slow_server, tmp_path):
    urls = [slow_server.url(f"h{i}.bin") for i in range(4)]

    results = await download_all(urls, tmp_path, jobs=4, per_host=1)

    assert results.ok, results.failed
    assert slow_server.total == 4
    assert slow_server.peak == 1


# --- destination folder and option misuse -------------------------------------------------------


async def test_a_missing_destination_folder_is_created(server, tmp_path):
    server.add("a.txt", b"alpha")
    dest = tmp_path / "new" / "deeper"

    results = await download_all([server.url("a.txt")], dest)

    assert results.ok
    assert (dest / "a.txt").read_bytes() == b"alpha"


async def test_a_destination_that_is_a_file_raises_options_error(server, tmp_path):
    server.add("a.txt", b"alpha")
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")

    with pytest.raises(OptionsError, match="not a directory"):
        await download_all([server.url("a.txt")], blocker)
    with pytest.raises(OptionsError, match="not a directory"):
        async for _ in iter_downloads([server.url("a.txt")], blocker):
            pass
    assert server.requests["a.txt"] == 0
    assert blocker.read_text() == "I am a file"


@pytest.mark.parametrize(
    "bad",
    [
        {"jobs": 0},
        {"jobs": -3},
        {"retries": -1},
        {"on_exists": "bogus"},
        {"timeout": 0},
        {"timeout": -1.0},
        {"connect_timeout": 0},
        {"per_host": -1},
        {"chunk_size": 10},
        {"jobs": 2.5},
    ],
    ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()),
)
async def test_bad_option_values_raise_options_error_before_anything(server, tmp_path, bad):
    server.add("a.txt", b"alpha")
    dest = tmp_path / "out"
    name = next(iter(bad))

    with pytest.raises(OptionsError, match=name) as caught:
        await download_all([server.url("a.txt")], dest, **bad)

    assert isinstance(caught.value, ValueError)  # OptionsError is a ValueError too
    with pytest.raises(OptionsError, match=name):
        async for _ in iter_downloads([server.url("a.txt")], dest, **bad):
            pass
    assert not dest.exists()
    assert server.requests["a.txt"] == 0


async def test_a_folder_held_by_another_batch_raises_journal_busy(server, tmp_path):
    server.add("a.txt", b"alpha")
    held = SqliteJournal(tmp_path)
    try:
        with pytest.raises(JournalBusyError):
            await download_all([server.url("a.txt")], tmp_path)
    finally:
        held.close()
    assert server.requests["a.txt"] == 0


# --- HTTP details -------------------------------------------------------------------------------


async def test_identity_encoding_is_requested_and_gzip_bodies_stay_compressed(server, tmp_path):
    raw = b"line of text\n" * 2000
    packed = gzip.compress(raw)
    server.add("data.tar.gz", packed, **{"Content-Encoding": "gzip"})
    server.add("plain.txt", b"plain")

    results = await download_all([server.url("data.tar.gz"), server.url("plain.txt")], tmp_path)

    assert results.ok, results.failed
    assert (tmp_path / "data.tar.gz").read_bytes() == packed
    assert results[0].bytes == len(packed)
    assert gzip.decompress((tmp_path / "data.tar.gz").read_bytes()) == raw
    sent = dict(server.request_headers)
    for path in ("/data.tar.gz", "/plain.txt"):
        assert sent[path]["Accept-Encoding"] == "identity"
        assert sent[path]["User-Agent"].startswith("adl/")


async def test_a_caller_session_is_used_and_left_open(server, tmp_path):
    server.add("a.txt", b"alpha")
    async with aiohttp.ClientSession(headers={"X-Caller": "yes"}) as session:
        results = await download_all([server.url("a.txt")], tmp_path, session=session)
        assert not session.closed
    assert results.ok
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    (_, headers), *_ = server.request_headers
    assert headers["X-Caller"] == "yes"
    assert headers["Accept-Encoding"] == "identity"


async def test_connection_refused_fails_only_that_file(server, tmp_path):
    server.add("a.txt", b"alpha")
    dead = f"http://127.0.0.1:{closed_port()}/gone.bin"

    results = await download_all([dead, server.url("a.txt")], tmp_path, retries=0)

    assert [r.ok for r in results] == [False, True]
    failed = results[0]
    assert failed.status is None
    assert failed.attempts == 1
    assert "cannot connect" in failed.error
    assert not (tmp_path / "gone.bin").exists()
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"


# --- events ------------------------------------------------------------------------------------


async def test_events_tell_the_story_of_each_file(server, tmp_path):
    small, big = b"tiny", random_bytes(300 * KiB, seed=3)
    server.add("small.txt", small)
    server.add("big.bin", big)
    events = []
    urls = [server.url("small.txt"), server.url("big.bin")]

    results = await download_all(urls, tmp_path, chunk_size=CHUNK, on_event=events.append)

    assert results.ok
    for url, body in zip(urls, (small, big), strict=True):
        mine = [e for e in events if getattr(e, "url", None) == url or _finished_url(e) == url]
        kinds = [type(e) for e in mine]
        assert kinds[0] is FileStarted
        assert kinds[-1] is FileFinished
        assert set(kinds[1:-1]) == {FileProgress}
        started = mine[0]
        assert started.offset == 0
        assert started.total == len(body)
        assert started.path == tmp_path / Path(url).name
        assert sum(e.nbytes for e in mine if isinstance(e, FileProgress)) == len(body)
        assert mine[-1].result.state is State.DONE
    finished = [e.result for e in events if isinstance(e, FileFinished)]
    assert sorted(r.url for r in finished) == sorted(urls)


async def test_a_failed_file_is_reported_as_a_finished_event(server, tmp_path):
    events = []
    await download_all([server.url("nope")], tmp_path, retries=0, on_event=events.append)
    (finished,) = [e for e in events if isinstance(e, FileFinished)]
    assert finished.result.state is State.FAILED
    assert not any(isinstance(e, FileProgress) for e in events)


def _finished_url(event) -> str | None:
    return event.result.url if isinstance(event, FileFinished) else None


# --- names ------------------------------------------------------------------------------------


async def test_same_basename_from_two_urls_keeps_both(server, tmp_path):
    server.add("a/x.txt", b"from a")
    server.add("b/x.txt", b"from b")
    urls = [server.url("a/x.txt"), server.url("b/x.txt")]

    results = await download_all(urls, tmp_path, jobs=2)

    assert results.ok
    assert [r.path for r in results] == [tmp_path / "x.txt", tmp_path / "x.1.txt"]
    assert (tmp_path / "x.txt").read_bytes() == b"from a"
    assert (tmp_path / "x.1.txt").read_bytes() == b"from b"

    again = await download_all(urls, tmp_path, jobs=2)  # names are stable across reruns
    assert [r.path for r in again] == [tmp_path / "x.txt", tmp_path / "x.1.txt"]
    assert [r.state for r in again] == [State.SKIPPED, State.SKIPPED]
    assert server.requests["a/x.txt"] == server.requests["b/x.txt"] == 1


async def test_query_string_and_fragment_are_dropped_from_the_name(server, tmp_path):
    server.add("report.pdf", b"%PDF")

    results = await download_all([server.url("report.pdf?token=abc&x=1#page=2")], tmp_path)

    assert results.ok
    assert results[0].path == tmp_path / "report.pdf"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["report.pdf"]


async def test_percent_encoded_names_are_decoded(server, tmp_path):
    server.add("my file.txt", b"spaces")
    results = await download_all([server.url("my%20file.txt")], tmp_path)
    assert results.ok, results.failed
    assert (tmp_path / "my file.txt").read_bytes() == b"spaces"


# --- on_exists against a file adl did not write -----------------------------------------------


@pytest.mark.parametrize("resume", [True, False], ids=["journal", "no-journal"])
async def test_on_exists_skip_leaves_a_foreign_file_alone(server, tmp_path, resume):
    server.add("x.txt", b"server copy")
    (tmp_path / "x.txt").write_bytes(b"mine")

    results = await download_all([server.url("x.txt")], tmp_path, on_exists="skip", resume=resume)

    assert results.ok
    assert results[0].state is State.SKIPPED
    assert results[0].path == tmp_path / "x.txt"
    assert results[0].bytes == len(b"mine")
    assert (tmp_path / "x.txt").read_bytes() == b"mine"
    assert server.requests["x.txt"] == 0


@pytest.mark.parametrize("resume", [True, False], ids=["journal", "no-journal"])
async def test_on_exists_overwrite_replaces_a_foreign_file(server, tmp_path, resume):
    server.add("x.txt", b"server copy")
    (tmp_path / "x.txt").write_bytes(b"mine, and longer than the server's copy")

    results = await download_all(
        [server.url("x.txt")], tmp_path, on_exists="overwrite", resume=resume
    )

    assert results.ok
    assert results[0].state is State.DONE
    assert results[0].path == tmp_path / "x.txt"
    assert (tmp_path / "x.txt").read_bytes() == b"server copy"


@pytest.mark.parametrize("resume", [True, False], ids=["journal", "no-journal"])
async def test_on_exists_rename_keeps_both(server, tmp_path, resume):
    server.add("x.txt", b"server copy")
    (tmp_path / "x.txt").write_bytes(b"mine")

    results = await download_all([server.url("x.txt")], tmp_path, on_exists="rename", resume=resume)

    assert results.ok
    assert results[0].state is State.DONE
    assert results[0].path == tmp_path / "x.1.txt"
    assert (tmp_path / "x.txt").read_bytes() == b"mine"
    assert (tmp_path / "x.1.txt").read_bytes() == b"server copy"


async def test_on_exists_rename_is_stable_across_reruns_with_a_journal(server, tmp_path):
    server.add("x.txt", b"server copy")
    (tmp_path / "x.txt").write_bytes(b"mine")
    url = server.url("x.txt")

    await download_all([url], tmp_path, on_exists="rename")
    again = await download_all([url], tmp_path, on_exists="rename")

    assert again[0].state is State.SKIPPED
    assert again[0].path == tmp_path / "x.1.txt"
    assert server.requests["x.txt"] == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["x.1.txt", "x.txt"]


# --- reruns and the journal ---------------------------------------------------------------------


async def test_a_second_run_makes_no_requests_and_reports_skipped(server, tmp_path):
    bodies = {f"r{i}.bin": random_bytes(2_000 * (i + 1), seed=i) for i in range(6)}
    for name, body in bodies.items():
        server.add(name, body)
    urls = [server.url(name) for name in bodies]
    first = await download_all(urls, tmp_path, jobs=3)
    assert first.ok
    before = sum(server.requests.values())

    second = await download_all(urls, tmp_path, jobs=3)

    assert sum(server.requests.values()) == before
    assert second.ok
    assert [r.state for r in second] == [State.SKIPPED] * len(urls)
    assert second.done == []
    assert len(second.skipped) == len(urls)
    for r, (name, body) in zip(second, bodies.items(), strict=True):
        assert r.path == tmp_path / name
        assert r.bytes == len(body)
        assert r.received == 0


async def test_a_rerun_fetches_a_file_of_ours_that_was_deleted(server, tmp_path):
    server.add("a.txt", b"alpha")
    url = server.url("a.txt")
    await download_all([url], tmp_path)
    (tmp_path / "a.txt").unlink()

    again = await download_all([url], tmp_path)

    assert again[0].state is State.DONE
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    assert server.requests["a.txt"] == 2


async def test_a_rerun_retries_the_files_that_failed(server, tmp_path):
    server.add("a.txt", b"alpha")
    server.fail_next("a.txt", Fault("status", status=500))
    url = server.url("a.txt")

    first = await download_all([url], tmp_path, retries=0)
    second = await download_all([url], tmp_path, retries=0)

    assert first[0].error == "HTTP 500 Internal Server Error"
    assert second[0].state is State.DONE
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"


async def test_with_a_journal_state_is_kept_in_dot_adl(server, tmp_path):
    server.add("a.txt", b"alpha")
    await download_all([server.url("a.txt")], tmp_path)
    assert (tmp_path / ".adl" / "journal.sqlite").is_file()


async def test_resume_false_leaves_no_journal_folder(server, tmp_path):
    server.add("a.txt", b"alpha")
    server.add("b.txt", b"beta")

    results = await download_all(
        [server.url("a.txt"), server.url("b.txt"), server.url("nope")],
        tmp_path,
        resume=False,
        retries=0,
    )

    assert [r.ok for r in results] == [True, True, False]
    assert not (tmp_path / ".adl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
