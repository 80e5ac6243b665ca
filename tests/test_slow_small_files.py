"""Small files (at most one chunk) that come slowly keep what came, like big ones.

A small body is held in memory and written whole only while it comes within FLUSH_SECONDS
(the fast path of the small-files benchmark); one still arriving then goes to its `.part`,
so a cut, a Ctrl-C or a kill -9 keeps what came and the next try resumes with Range.
FLUSH_SECONDS is shortened here so the bodies need only be a little slow.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from downloader.results import State

from .conftest import random_bytes
from .fileserver import Fault
from .test_resume_server import fetch, ranged

SIZE = 500_000  # under the 1 MiB chunk: the small-body path


@pytest.fixture(autouse=True)
def _short_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("downloader.transfer.FLUSH_SECONDS", 0.05)


def range_offsets(server, name: str) -> list[int]:
    return [int(h.removeprefix("bytes=").removesuffix("-")) for h in ranged(server, name)]


async def test_slow_small_file_cut_mid_body_resumes_from_the_bytes_on_disk(server, tmp_path):
    body = random_bytes(SIZE, seed=1)
    server.add("small.bin", body)
    server.fail_next("small.bin", Fault("cut", after=300_000))
    server.rate = 1_000_000  # 50 kB every 0.05 s: the cut comes 0.3 s in, past the flush

    [result] = await fetch([server.url("small.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "small.bin").read_bytes() == body
    [offset] = range_offsets(server, "small.bin")
    assert 0 < offset <= 300_000
    assert ("small.bin", f"bytes={offset}-", server.files["small.bin"].etag) in (
        server.range_requests
    )
    assert server.bytes_sent["small.bin"] == 300_000 + (SIZE - offset) < 2 * SIZE
    assert result.received == SIZE
    assert not (tmp_path / "small.bin.part").exists()


async def test_fast_small_file_cut_mid_body_also_keeps_what_came(server, tmp_path):
    """Held in memory (within the flush interval), but a cut still writes what came."""
    body = random_bytes(SIZE, seed=2)
    server.add("small.bin", body)
    server.fail_next("small.bin", Fault("cut", after=300_000))
    server.rate = 4_000_000  # pieces of 200 kB: the client drains them before the cut

    [result] = await fetch([server.url("small.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "small.bin").read_bytes() == body
    [offset] = range_offsets(server, "small.bin")
    assert 0 < offset <= 300_000
    assert server.bytes_sent["small.bin"] == 300_000 + (SIZE - offset)


async def test_small_file_that_stalls_until_the_timeout_keeps_what_came(server, tmp_path):
    """300 kB at once, then silence: the read timeout fails the attempt, and the bytes held
    in memory go to the .part before the retry, which asks for the rest only."""
    body = random_bytes(SIZE, seed=5)
    server.add("small.bin", body)
    server.fail_next("small.bin", Fault("stall", after=300_000, seconds=0.5))

    [result] = await fetch([server.url("small.bin")], tmp_path, timeout=0.2)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "small.bin").read_bytes() == body
    assert range_offsets(server, "small.bin") == [300_000]
    assert result.received == SIZE


async def test_slow_small_file_cancelled_mid_body_keeps_its_part_and_resumes(server, tmp_path):
    """Cancelling the batch (what Ctrl-C does) leaves the bytes that came in the .part;
    the next run asks for the rest only."""
    body = random_bytes(SIZE, seed=3)
    server.add("small.bin", body)
    server.rate = 500_000  # 1 s for the whole body
    url = server.url("small.bin")
    batch = asyncio.create_task(fetch([url], tmp_path))
    for _ in range(500):
        if server.bytes_sent["small.bin"] >= 200_000:
            break
        await asyncio.sleep(0.01)
    batch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await batch

    kept = (tmp_path / "small.bin.part").read_bytes()
    assert 100_000 <= len(kept) < SIZE
    assert kept == body[: len(kept)]
    assert not (tmp_path / "small.bin").exists()

    server.rate = 0
    sent_before = server.bytes_sent["small.bin"]
    [result] = await fetch([url], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "small.bin").read_bytes() == body
    assert range_offsets(server, "small.bin") == [len(kept)]
    assert server.bytes_sent["small.bin"] - sent_before == SIZE - len(kept)
    assert result.received == SIZE - len(kept)


async def test_small_files_that_come_at_once_are_written_whole(server, tmp_path, monkeypatch):
    """The fast path stays: no .part opened (three thread hops) and no journal commit
    before the file is done."""
    bodies = {f"s{i}.bin": random_bytes(16_384, seed=i) for i in range(5)}
    urls = [server.url(server.add(name, body)) for name, body in bodies.items()]
    monkeypatch.setattr("downloader.transfer.FLUSH_SECONDS", 60.0)  # a busy machine's pauses
    opened = []
    monkeypatch.setattr("downloader.writes.open_part", lambda *a, **k: opened.append(a))

    results = await fetch(urls, tmp_path)

    assert [r.state for r in results] == [State.DONE] * 5
    assert opened == []
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body
