"""When a transfer counts as stalled: bytes still come, but too slowly for too long."""

from __future__ import annotations

import time

from .errors import StalledError


class StallWatch:
    """Fails a transfer whose average speed over `window` seconds is below `floor` bytes/s.
    The idle-read timeout catches a server that stops; this catches one that trickles."""

    def __init__(self, floor: int, window: float) -> None:
        self._floor, self._window = floor, window
        self._since = time.monotonic()
        self._mark = 0

    def check(self, received: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._since < self._window:
            return
        speed = (received - self._mark) / (now - self._since)
        if speed < self._floor:
            raise StalledError(f"stalled: {speed:.0f} B/s for {now - self._since:.0f} s")
        self._since, self._mark = now, received

    def excuse(self, seconds: float) -> None:
        """Leave out `seconds` the transfer spent waiting on our own rate limit."""
        self._since += seconds
