"""Split downloads against a real server: ranges and If-Range on the wire, servers that do not
serve ranges, answers that cannot be spliced (a 200, another range, another version), work
stealing, per-host caps, durable segments and resuming them, checksums of split files.

The server caps each connection (`rate`, bytes/s per answer), as CDNs and nginx's
`limit_rate` do, so that connections overlap. Backoff waits go through a fake sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from downloader import FileProgress, FileRetrying, Item
from downloader.api import run_batch
from downloader.inputs import entries_from_urls
from downloader.journal import read_journal
from downloader.options import Options
from downloader.results import Result, State
from downloader.status import read_status

from .conftest import FakeSleep, poll_while_running, random_bytes
from .fileserver import Fault

KiB, MiB = 1024, 1024 * 1024
SIZE = 8 * MiB
SPLIT = {"split": 4, "min_split_size": "1M"}
FALLBACK_RATE = 32 * MiB  # where a test ends on one connection: a quarter of a second
QUARTERS = [f"bytes={q * SIZE // 4}-{(q + 1) * SIZE // 4 - 1}" for q in range(4)]


async def fetch(items: list, dest: Path, events: list | None = None, **options) -> list[Result]:
    on_event = events.append if events is not None else None
    batch = run_batch(
        entries_from_urls(items), dest, Options(**options), on_event, sleep=FakeSleep()
    )
    return sorted([r async for r in batch], key=lambda r: r.line_no)


@pytest.fixture
def big(server) -> bytes:
    """An 8 MiB file served at 8 MiB/s per connection."""
    body = random_bytes(SIZE, seed=14)
    server.add("big.bin", body)
    server.rate = 8 * MiB
    return body


def ranges_asked(server, name: str = "big.bin") -> list[str]:
    return [header for path, header, _ in server.range_requests if path == name]


def plain_requests(server, path: str = "/big.bin") -> int:
    """Requests for `path` without a Range header."""
    return sum(1 for p, headers in server.request_headers if p == path and "Range" not in headers)


def on_request(server, number: int, action) -> None:
    """Run `action()` as the server receives its `number`th request (1 = the first)."""
    seen = []

    def hook(name, request):
        seen.append(name)
        if len(seen) == number:
            action()

    server.hooks.append(hook)


def segment_rows(out: Path) -> list[tuple[int, int, int]]:
    db = sqlite3.connect(out / ".adl" / "journal.sqlite")
    try:
        return db.execute("SELECT start, end, done FROM segments ORDER BY start").fetchall()
    finally:
        db.close()


# -- splitting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resume", [True, False])  # False: --no-journal, segments in memory
async def test_a_big_file_comes_over_n_connections_each_writing_its_range(
    server, big, tmp_path, resume
):
    [result] = await fetch([server.url("big.bin")], tmp_path, jobs=1, resume=resume, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == big
    assert not (tmp_path / "big.bin.part").exists()
    # The first answer says ranges are served and how big the file is; then the other three
    # quarters are asked for, each with If-Range: the ETag the first answer gave.
    assert ranges_asked(server) == ["bytes=0-", *QUARTERS[1:]]
    etag = server.files["big.bin"].etag
    assert [if_range for *_, if_range in server.range_requests[1:]] == [etag] * 3
    assert server.max_active_total == 4  # -j 1 counts files, not connections
    assert server.bytes_sent["big.bin"] < SIZE + 4 * MiB  # the first answer is cut at 2 MiB
    assert result.received >= SIZE and result.status == 206
    if resume:
        assert segment_rows(tmp_path) == []  # a finished file keeps no segments


async def test_if_range_carries_last_modified_when_there_is_no_etag(server, big, tmp_path):
    server.files["big.bin"].etag = None

    await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert (tmp_path / "big.bin").read_bytes() == big
    date = server.files["big.bin"].last_modified
    assert [if_range for *_, if_range in server.range_requests[1:]] == [date] * 3


def redirects_followed(server, listed: str = "/redirect/1/big.bin") -> int:
    return sum(1 for path, _ in server.request_headers if path == listed)


async def test_ranges_are_asked_where_the_first_requests_redirects_led(server, big, tmp_path):
    """As aria2c: one server serves every range (mirrors behind one URL may differ), and
    no range pays for the redirects again."""
    listed = server.url("redirect/1/big.bin")
    item = Item(url=listed, referer="*")  # aria2c's referer=*: the listed URL, every hop

    [result] = await fetch([item], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == big
    assert redirects_followed(server) == 1
    assert ranges_asked(server) == ["bytes=0-", *QUARTERS[1:]]
    assert {headers["Referer"] for _, headers in server.request_headers} == {listed}


async def test_ranges_asked_at_another_host_carry_no_credentials(server, big, tmp_path):
    """The first request's redirect to another host dropped the Authorization header (as
    curl): the ranges asked there directly do not bring it back."""
    [result] = await fetch([server.url("away/big.bin")], tmp_path, user="me:secret", **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == big
    sent = [(path, "Authorization" in headers) for path, headers in server.request_headers]
    assert sent[0] == ("/away/big.bin", True)
    assert sorted(sent[1:]) == [("/big.bin", False)] * 4


async def test_an_error_where_the_redirects_led_follows_them_again(server, big, tmp_path):
    """A signed URL that expired, say: the range is asked from the listed URL again."""
    expired = Fault("status", status=403)
    on_request(server, 2, lambda: server.fail_next("big.bin", expired))  # the first range

    [result] = await fetch([server.url("redirect/1/big.bin")], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert result.attempts == 1
    assert (tmp_path / "big.bin").read_bytes() == big
    assert redirects_followed(server) >= 2


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"split": 4, "min_split_size": "5M"}, "smaller than twice --min-split-size"),
        ({"min_split_size": "1M"}, "--split 1, the default"),
        ({"split": 4, "min_split_size": "1M", "per_host": 1}, "one connection to the host"),
    ],
)
async def test_not_split(server, big, tmp_path, options, why):
    server.rate = 0  # one connection: no need to wait
    [result] = await fetch([server.url("big.bin")], tmp_path, **options)

    assert result.state is State.DONE
    assert (tmp_path / "big.bin").read_bytes() == big
    assert server.requests["big.bin"] == 1, why


async def test_a_server_that_does_not_serve_ranges_gets_one_connection(server, big, tmp_path):
    server.ignore_range = True  # answers 200 to `Range: bytes=0-`
    server.rate = 0

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert (tmp_path / "big.bin").read_bytes() == big
    assert server.requests["big.bin"] == 1 and result.status == 200


async def test_a_file_without_validators_gets_one_connection(server, tmp_path):
    body = random_bytes(SIZE, seed=3)
    server.add("big.bin", body, validators=False)  # no If-Range to ask other ranges with

    await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert (tmp_path / "big.bin").read_bytes() == body
    assert server.requests["big.bin"] == 1


async def test_an_empty_file(server, tmp_path):
    server.add("empty.bin", b"")  # `bytes=0-` of nothing is a 416: asked again plainly

    [result] = await fetch([server.url("empty.bin")], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "empty.bin").read_bytes() == b""


async def test_an_items_split_wins_over_the_batchs(server, big, tmp_path):
    url = server.url("big.bin")
    [result] = await fetch([Item(url=url, split=4)], tmp_path, min_split_size="1M")

    assert (tmp_path / "big.bin").read_bytes() == big
    assert ranges_asked(server) == ["bytes=0-", *QUARTERS[1:]]

    server.rate = 0
    [result] = await fetch([Item(url=url, split=1)], tmp_path / "again", **SPLIT)
    assert result.state is State.DONE and plain_requests(server) == 1


# -- answers that cannot be spliced: from zero, over one connection ----------------------------


async def test_a_200_to_a_range_starts_the_file_again_from_zero(server, big, tmp_path):
    on_request(server, 2, lambda: setattr(server, "ignore_range", True))
    server.rate = FALLBACK_RATE
    events: list = []

    [result] = await fetch([server.url("big.bin")], tmp_path, events, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == big
    assert ranges_asked(server)[0] == "bytes=0-"
    assert plain_requests(server) == 1  # the file again, from zero, one connection
    [retry] = [e for e in events if isinstance(e, FileRetrying)]
    assert "the server sent the whole file to a range request" in retry.reason


@pytest.mark.parametrize("if_range_ignored", [False, True])
async def test_a_file_that_changes_mid_way_is_fetched_again_whole(
    server, big, tmp_path, if_range_ignored
):
    """A new version of the same size: If-Range brings a 200 of it; a server (or cache)
    that ignores If-Range sends a 206 of the new version, caught by its ETag. Either way
    the file is the new version, whole, never two spliced."""
    new = random_bytes(SIZE, seed=99)
    server.ignore_if_range = if_range_ignored
    server.rate = FALLBACK_RATE
    on_request(server, 2, lambda: server.add("big.bin", new))

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == new
    assert plain_requests(server) == 1


async def test_a_wrong_content_range_starts_the_file_again_from_zero(server, big, tmp_path):
    on_request(server, 3, lambda: server.fail_next("big.bin", Fault("wrong_range", after=1)))
    server.rate = FALLBACK_RATE

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == big
    assert len(ranges_asked(server)) >= 3
    assert plain_requests(server) == 1


async def test_a_first_answer_from_the_wrong_byte_starts_again_without_range(server, big, tmp_path):
    server.fail_next("big.bin", Fault("wrong_range", after=10))
    server.rate = FALLBACK_RATE

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == big
    assert ranges_asked(server) == ["bytes=0-"]
    assert plain_requests(server) == 1


# -- connections: stealing, failures, caps -----------------------------------------------------


async def test_a_free_connection_takes_the_back_half_of_a_slow_range(
    server, big, tmp_path, monkeypatch
):
    from downloader import segments

    monkeypatch.setattr(segments, "STEAL_FLOOR", 64 * KiB)
    server.range_rates[QUARTERS[1]] = 512 * KiB  # one slow connection: 4 s for its quarter

    await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert (tmp_path / "big.bin").read_bytes() == big
    start, end = SIZE // 4, SIZE // 2
    stolen = [r for r in ranges_asked(server) if start < int(r[6:].split("-")[0]) < end]
    assert stolen, ranges_asked(server)
    # The stolen ranges end where the slow one's did, or where a later steal cut them.
    assert any(r.endswith(f"-{end - 1}") for r in stolen)


async def test_a_range_stolen_from_while_its_answer_is_on_the_way_is_still_used(server, tmp_path):
    """The answer to the range asked is used up to where the segment ends now: it is
    judged against what was asked, not against the segment's end since then."""
    body = random_bytes(4 * MiB, seed=5)
    server.add("big.bin", body)
    on_request(server, 2, lambda: server.fail_next("big.bin", Fault("delay", seconds=0.3)))

    [result] = await fetch([server.url("big.bin")], tmp_path, split=2, min_split_size="1M")

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    # The first connection was done long before the second's answer came: it took the
    # back half of the second range meanwhile. Nothing started again from zero.
    halves = [f"bytes={2 * MiB}-{4 * MiB - 1}", f"bytes={3 * MiB}-{4 * MiB - 1}"]
    assert sorted(ranges_asked(server)) == ["bytes=0-", *halves]
    assert plain_requests(server) == 0


async def test_a_connection_that_fails_drops_out_and_another_takes_its_range(server, big, tmp_path):
    on_request(server, 2, lambda: server.fail_next("big.bin", Fault("cut", after=256 * KiB)))

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert result.attempts == 1  # the attempt went on over the other connections
    assert (tmp_path / "big.bin").read_bytes() == big
    asked = ranges_asked(server)
    assert len(asked) == 5 and asked[4].endswith(f"-{SIZE // 2 - 1}")  # the rest of it


@pytest.mark.parametrize("resume", [True, False])  # False: --no-journal, segments in memory
async def test_an_attempt_that_loses_every_connection_resumes_every_segment(
    server, big, tmp_path, resume
):
    for number in (1, 2, 3, 4):
        cut = Fault("cut", after=MiB)
        on_request(server, number, lambda cut=cut: server.fail_next("big.bin", cut))

    [result] = await fetch([server.url("big.bin")], tmp_path, resume=resume, **SPLIT)

    assert result.state is State.DONE, result.error
    assert result.attempts == 2
    assert (tmp_path / "big.bin").read_bytes() == big
    again = ranges_asked(server)[4:]
    assert len(again) == 4
    for quarter, asked in zip(QUARTERS, again, strict=True):
        start = int(quarter[6:].split("-")[0])
        resumed_at = int(asked[6:].split("-")[0])
        assert start < resumed_at <= start + MiB, (quarter, asked)
    assert server.bytes_sent["big.bin"] < SIZE + 4 * MiB


@pytest.mark.parametrize("own_session", [False, True])
async def test_per_host_caps_the_connections_of_split_files_too(server, tmp_path, own_session):
    """With a caller's session, whose pool knows no per-host cap, adl's own cap holds."""
    for name in ("a.bin", "b.bin"):
        server.add(name, random_bytes(SIZE // 2, seed=len(name)))
    server.rate = 8 * MiB
    port = server.url("/").split(":")[2].split("/")[0]
    urls = [server.url("a.bin"), server.url("b.bin")]

    async with aiohttp.ClientSession() as session:
        options = Options(jobs=2, per_host=3, **SPLIT)
        batch = run_batch(
            entries_from_urls(urls), tmp_path, options, session=session if own_session else None
        )
        results = [r async for r in batch]

    assert all(r.state is State.DONE for r in results), [r.error for r in results]
    for name in ("a.bin", "b.bin"):
        assert (tmp_path / name).read_bytes() == server.files[name].body
    assert server.max_active[f"127.0.0.1:{port}"] == 3


# -- durable segments, checksums ---------------------------------------------------------------


async def test_segments_in_the_journal_say_no_more_than_the_part_file_holds(server, big, tmp_path):
    for number in (1, 2, 3, 4):
        cut = Fault("cut", after=MiB + 100 * KiB)
        on_request(server, number, lambda cut=cut: server.fail_next("big.bin", cut))

    [result] = await fetch([server.url("big.bin")], tmp_path, retries=0, **SPLIT)

    assert result.state is State.FAILED
    rows = segment_rows(tmp_path)
    assert [(start, end) for start, end, _ in rows] == [
        (q * SIZE // 4, (q + 1) * SIZE // 4) for q in range(4)
    ]
    part = (tmp_path / "big.bin.part").read_bytes()
    for start, _, done in rows:
        assert 0 < done <= MiB + 100 * KiB
        assert part[start : start + done] == big[start : start + done]
    # The .part is sparse, as long as the file: what it keeps is what its segments say.
    kept = sum(done for *_, done in rows)
    assert len(part) > kept == result.bytes
    journal = read_journal(tmp_path)
    assert journal is not None
    try:
        assert read_status(journal, tmp_path).bytes_partial == kept  # adl status
    finally:
        journal.close()

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)
    assert (tmp_path / "big.bin").read_bytes() == big
    assert segment_rows(tmp_path) == []


async def test_a_cancelled_split_download_commits_its_segments_and_resumes(server, big, tmp_path):
    """Ctrl-C (a cancel): what each connection received is written, its segment rows are
    committed, and a rerun goes on from them."""
    progress = asyncio.Event()
    written = [0]

    def on_event(event):
        if isinstance(event, FileProgress):
            written[0] += event.nbytes
            if written[0] >= 3 * MiB:
                progress.set()

    batch = run_batch(
        entries_from_urls([server.url("big.bin")]), tmp_path, Options(**SPLIT), on_event
    )
    task = asyncio.create_task(anext(batch))
    await asyncio.wait_for(progress.wait(), timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await batch.aclose()

    rows = segment_rows(tmp_path)
    part = (tmp_path / "big.bin.part").read_bytes()
    assert sum(done for *_, done in rows) >= 3 * MiB
    for start, _, done in rows:
        assert part[start : start + done] == big[start : start + done]
    server.range_requests.clear()
    server.rate = 0

    await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert (tmp_path / "big.bin").read_bytes() == big
    assert sorted(header for _, header, _ in server.range_requests) == sorted(
        f"bytes={start + done}-{end - 1}" for start, end, done in rows if done < end - start
    )


async def test_a_single_streams_part_is_kept_and_the_rest_split(server, big, tmp_path):
    server.fail_next("big.bin", Fault("cut", after=3 * MiB))
    [result] = await fetch([server.url("big.bin")], tmp_path, retries=0)
    kept = (tmp_path / "big.bin.part").stat().st_size
    assert result.state is State.FAILED and kept > 0

    [result] = await fetch([server.url("big.bin")], tmp_path, **SPLIT)

    assert (tmp_path / "big.bin").read_bytes() == big
    first, *others = ranges_asked(server)
    assert first == f"bytes={kept}-" and len(others) == 3
    assert all(int(r[6:].split("-")[0]) > kept for r in others)


async def test_a_split_file_is_hashed_in_one_read_once_complete(server, big, tmp_path, reads_back):
    checksum = f"sha-256={hashlib.sha256(big).hexdigest()}"
    [result] = await fetch([Item(url=server.url("big.bin"), checksum=checksum)], tmp_path, **SPLIT)

    assert result.state is State.DONE, result.error
    assert result.checksum == f"sha256:{hashlib.sha256(big).hexdigest()}"
    assert reads_back == [SIZE]
    assert len(ranges_asked(server)) == 4


async def test_a_split_file_that_does_not_check_out_is_fetched_once_more_then_fails(
    server, big, tmp_path
):
    wrong = "sha-256=" + "0" * 64
    server.rate = FALLBACK_RATE
    [result] = await fetch([Item(url=server.url("big.bin"), checksum=wrong)], tmp_path, **SPLIT)

    assert result.state is State.FAILED
    assert result.error and result.error.startswith("checksum mismatch")
    assert len(ranges_asked(server)) == 4
    assert plain_requests(server) == 1  # the second time from zero, over one connection
    assert not (tmp_path / "big.bin").exists()
    assert not (tmp_path / "big.bin.part").exists()


# -- kill -9 -----------------------------------------------------------------------------------


async def start_adl(url: str, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "downloader", "get", url, "-o", str(out), "--split", "4"),
        *("--min-split-size", "1M"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def wait_for_segments(process, out: Path, at_least: int) -> list[tuple[int, int, int]]:
    """Until the journal says every segment has bytes on disk, `at_least` in all."""

    def progressed() -> list[tuple[int, int, int]] | None:
        with contextlib.suppress(sqlite3.Error):
            rows = segment_rows(out)
            done = [done for *_, done in rows]
            if len(rows) == 4 and all(done) and sum(done) >= at_least:
                return rows
        return None

    return await poll_while_running(process, progressed, "no segment progress in the journal")


async def test_kill_9_then_rerun_continues_every_segment_from_its_bytes_on_disk(server, tmp_path):
    body = random_bytes(SIZE, seed=9)
    server.add("big.bin", body)
    server.rate = MiB  # 2 s over four connections: the kill lands mid-way
    out = tmp_path / "out"
    process = await start_adl(server.url("big.bin"), out)
    await wait_for_segments(process, out, at_least=2 * MiB)
    process.kill()
    await process.communicate()

    rows = segment_rows(out)
    part = (out / "big.bin.part").read_bytes()
    for start, end, done in rows:  # a segment's bytes-done never runs ahead of the disk
        assert 0 < done < end - start
        assert part[start : start + done] == body[start : start + done]
    before = server.bytes_sent["big.bin"]
    server.range_requests.clear()
    server.rate = 0

    rerun = await start_adl(server.url("big.bin"), out)
    stdout, stderr = await asyncio.wait_for(rerun.communicate(), timeout=30)

    assert rerun.returncode == 0, (stdout + stderr).decode()
    assert (out / "big.bin").read_bytes() == body
    # Every segment goes on from the bytes the journal says are on disk, and only those.
    assert sorted(header for _, header, _ in server.range_requests) == sorted(
        f"bytes={start + done}-{end - 1}" for start, end, done in rows
    )
    missing = sum(end - start - done for start, end, done in rows)
    assert server.bytes_sent["big.bin"] - before == missing  # and nothing twice
