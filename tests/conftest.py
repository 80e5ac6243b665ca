"""Shared fixtures: a real file server on 127.0.0.1, and no proxies for loopback traffic."""

from __future__ import annotations

import asyncio
import random

import pytest

from .fileserver import FileServer


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # adl honours *_proxy like curl; tests talk to 127.0.0.1 only, never through a proxy.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
async def server():
    files = await FileServer().start()
    try:
        yield files
    finally:
        await files.close()


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
