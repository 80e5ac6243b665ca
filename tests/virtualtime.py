"""An event loop with virtual time: whenever no task can run, its clock jumps to the next
timer, so `asyncio.sleep(30)` returns at once and `loop.time()` says 30 s went by.

For code that only waits on timers and on other tasks (the rate limiter and simulated
transfers): a simulation of minutes runs in milliseconds, and exactly the same every time.
Real sockets do not belong on it (a timeout would fire while a packet is on its way).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None):
        ready = super().select(0)  # the loop's own wake-up pipe, nothing else
        if not ready:
            if timeout is None:
                raise RuntimeError("every task waits on another, and no timer is set: deadlock")
            self._loop.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on a fresh loop with virtual time, starting at 0."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)
