"""Soak: a few hundred files from a server that fails 30 % of all requests at random.

Every kind of transient failure adl retries (503 with Retry-After, 429, 500, a body cut short,
a connection reset) is mixed in. No file gets more random faults than the default retry budget
can absorb, so anything short of "every file done and byte-exact" is a bug, not bad luck.
Default options except the fake backoff sleep and jobs=8.
"""

from __future__ import annotations

import random

import pytest

from downloader.api import run_batch
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import State

from .conftest import FakeSleep, random_bytes
from .fileserver import Fault

KiB = 1024
FILES = 200
FAULTS = [
    Fault("status", status=503, retry_after="0"),
    Fault("status", status=429),
    Fault("status", status=500),
    Fault("cut", after=512),
    Fault("cut", after=64 * KiB),
    Fault("reset"),
]


@pytest.mark.parametrize(
    "chunk_size",
    [None, 16 * KiB],
    ids=["default-options", "streamed-resumes"],  # 16 KiB: most files go through .part + Range
)
async def test_every_file_arrives_byte_exact_through_random_faults(server, tmp_path, chunk_size):
    sizes = random.Random(42)
    bodies = {
        f"file{i:03}.bin": random_bytes(sizes.randint(1 * KiB, 512 * KiB), seed=i)
        for i in range(FILES)
    }
    for name, body in bodies.items():
        server.add(name, body)
    # The default retries=5 gives 6 attempts; aiohttp may also absorb a reset on its own.
    server.fail_randomly(0.3, FAULTS, seed=7, max_per_path=5)
    options = Options(jobs=8) if chunk_size is None else Options(jobs=8, chunk_size=chunk_size)
    sleep = FakeSleep()

    urls = [server.url(name) for name in bodies]
    results = [r async for r in run_batch(entries_from_urls(urls), tmp_path, options, sleep=sleep)]

    failed = [(r.url, r.error) for r in results if r.state is not State.DONE]
    assert failed == []
    assert len(results) == FILES
    assert sum(server.random_fault_counts.values()) > FILES * 0.2  # the faults did happen
    assert sleep.delays  # and were retried after a (fake) backoff
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body, name
    assert not list(tmp_path.glob("*.part"))
