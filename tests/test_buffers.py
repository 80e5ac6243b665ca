"""Memory at high concurrency: one buffer budget for the batch, blocks that shrink as more
transfers stream, and per-batch tables that do not grow with what the batch has seen."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from downloader import download_all, transfer
from downloader.buffers import SMALLEST_BLOCK, BufferBudget, block_size

from .conftest import random_bytes
from .fileserver import Fault

KiB, MiB = 1024, 1024 * 1024


@pytest.mark.parametrize(
    ("budget", "streaming", "largest", "size"),
    [
        (8 * MiB, 1, 1 * MiB, 1 * MiB),  # few transfers: the largest block
        (8 * MiB, 4, 1 * MiB, 1 * MiB),
        (8 * MiB, 8, 1 * MiB, 512 * KiB),  # two blocks each fit the budget
        (8 * MiB, 64, 1 * MiB, SMALLEST_BLOCK),
        (8 * MiB, 1000, 1 * MiB, SMALLEST_BLOCK),  # never below: writes would cost too much
        (8 * MiB, 0, 1 * MiB, 1 * MiB),  # asked before any transfer streams
        (8 * MiB, 1000, 4 * KiB, 4 * KiB),  # a chunk_size below the floor is kept
    ],
)
def test_block_size_shares_the_budget(budget, streaming, largest, size):
    assert block_size(budget, streaming, largest) == size


async def test_past_the_budget_readers_wait_until_writes_give_room():
    budget = BufferBudget(largest_block=1 * MiB, total=100)
    budget.take(60)
    await asyncio.wait_for(budget.room(), 1)  # under the budget: no wait
    budget.take(60)
    waiters = [asyncio.ensure_future(budget.room()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and budget.full()
    budget.give(10)  # 110: still full
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    budget.give(20)  # 90: every waiter goes (one that reads no more must not hold the rest)
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert budget.held == 90


class _Recording(BufferBudget):
    """The batch's budget, with the most it ever held."""

    made: ClassVar[list[_Recording]] = []

    def __init__(self, largest_block: int) -> None:
        super().__init__(largest_block, total=256 * KiB)
        self.most = 0
        _Recording.made.append(self)

    def take(self, size: int) -> None:
        super().take(size)
        self.most = max(self.most, self.held)


@pytest.fixture
def recording(monkeypatch) -> list[_Recording]:
    _Recording.made = []
    monkeypatch.setattr(transfer, "BufferBudget", _Recording)
    return _Recording.made


async def test_many_big_transfers_hold_the_budget_not_blocks_each(server, tmp_path, recording):
    bodies = {f"f{n}.bin": random_bytes(600 * KiB, seed=n) for n in range(16)}
    urls = [server.url(server.add(name, body)) for name, body in bodies.items()]
    results = await download_all(urls, tmp_path, jobs=16, chunk_size=1 * MiB)
    assert [r.error for r in results if not r.ok] == []
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body
    [budget] = recording
    # Without the budget each of 16 transfers gathers a 1 MiB block: all 9.6 MB at once.
    # With it: the budget, plus what transfers read in the instant before they saw it full
    # (one socket read each, at most 256 KB).
    assert budget.most <= budget.total + 16 * 256 * KiB
    assert budget.most < 16 * 600 * KiB
    assert budget.held == 0 and budget.streaming == 0


async def test_a_failed_transfer_gives_its_bytes_back(server, tmp_path, recording):
    body = random_bytes(700 * KiB)
    url = server.url(server.add("cut.bin", body))
    server.fail_next("cut.bin", Fault("cut", after=300 * KiB))
    [result] = await download_all([url], tmp_path, retries=0, chunk_size=1 * MiB)
    assert not result.ok
    [budget] = recording
    assert budget.held == 0 and budget.streaming == 0
