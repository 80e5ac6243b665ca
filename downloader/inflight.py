"""The engine's files in flight, and those that ended, in the order they ended.

`asyncio.wait(FIRST_COMPLETED)` would do, but it adds and then removes a callback on every
pending future at each call: with a window of a few dozen files in flight and thousands
of small files a second, that is the engine's busiest loop (--procs: the coordinator's).
Here each future gets one callback, once, which queues it when it ends.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .results import Result


class InFlight:
    def __init__(self) -> None:
        self._running: set[asyncio.Future[Result]] = set()
        self._ended: deque[asyncio.Future[Result]] = deque()
        self._woken = asyncio.Event()

    def __len__(self) -> int:
        """Those running, and those ended that `ended` has not given yet."""
        return len(self._running) + len(self._ended)

    def add(self, future: asyncio.Future[Result]) -> None:
        self._running.add(future)
        future.add_done_callback(self._end)

    async def ended(self) -> list[asyncio.Future[Result]]:
        """The futures that ended since the last call, in the order they ended (waits
        for one when none has)."""
        while not self._ended:
            self._woken.clear()
            await self._woken.wait()
        ended = list(self._ended)
        self._ended.clear()
        return ended

    async def cancel(self) -> None:
        """Cancel those still running, and wait for them to end."""
        running = [f for f in self._running if not f.done()]
        for future in running:
            future.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def _end(self, future: asyncio.Future[Result]) -> None:
        self._running.discard(future)
        self._ended.append(future)
        self._woken.set()
