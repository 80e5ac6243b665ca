"""Shared fixtures: a real file server on 127.0.0.1, and no proxies for loopback traffic."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from downloader.journal import MemoryJournal, SqliteJournal

from .fileserver import FileServer

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # adl honours *_proxy like curl; tests talk to 127.0.0.1 only, never through a proxy.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@contextlib.asynccontextmanager
async def serving():
    files = await FileServer().start()
    try:
        yield files
    finally:
        await files.close()


@pytest.fixture(params=["sqlite", "memory"])
def journal(request, tmp_path) -> Iterator[SqliteJournal | MemoryJournal]:
    """The journal on disk and in memory (--no-journal): they share one surface."""
    j = SqliteJournal(tmp_path) if request.param == "sqlite" else MemoryJournal()
    try:
        yield j
    finally:
        j.close()


@pytest.fixture
async def server():
    async with serving() as files:
        yield files


@pytest.fixture
async def elsewhere():
    """A second origin (another port): a mirror, or where a redirect leads."""
    async with serving() as files:
        yield files


@pytest.fixture
def reads_back(monkeypatch) -> list[int]:
    """The sizes of the `.part` prefixes read back from disk to be hashed."""
    from downloader import hashing

    sizes: list[int] = []
    hash_file = hashing.hash_file

    def spy(hashes, path, size=None):
        sizes.append(size)
        return hash_file(hashes, path, size)

    monkeypatch.setattr(hashing, "hash_file", spy)
    return sizes


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Incompressible, reproducible test data."""
    return random.Random(seed).randbytes(size)


class FakeSleep:
    """The backoff seam for tests: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def mount_tmpfs(path: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody (not even root) can write into."""
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mount_tmpfs(folder, "ro,size=1m")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


async def poll_while_running(
    process: asyncio.subprocess.Process, probe: Callable[[], T | None], what: str
) -> T:
    """`probe`'s first answer that is not None, asked every 10 ms (up to 10 s) while
    `process` runs; else kill it and fail the test with `what` and its output."""
    for _ in range(1000):
        found = probe()
        if found is not None:
            return found
        if process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    process.kill()
    stdout, stderr = await process.communicate()
    pytest.fail(f"{what}: {stdout.decode()}{stderr.decode()}")
