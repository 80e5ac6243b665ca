"""Terminal progress with tqdm: the only module that imports tqdm.

One overall bar (files done/total, bytes, rate, ETA) and a bar per active download. A file
gets its own bar only once it has run for a moment, so thousands of small files a second do
not each pay for creating and tearing down a bar. Bars refresh at most about 5 times a second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from .events import Event, FileFinished, FileProgress, FileRetrying, FileStarted, Notice
from .report import failure_line, human_bytes

REFRESH_SECONDS = 0.2
BAR_AFTER_SECONDS = 0.3


class TqdmRenderer:
    def __init__(self, total_files: int | None, *, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._overall = tqdm(
            total=total_files, unit="file", desc="total", position=0, file=stream,
            mininterval=REFRESH_SECONDS, dynamic_ncols=True, leave=True,
        )  # fmt: skip
        self._started: dict[str, tuple[float, FileStarted]] = {}
        self._bars: dict[str, tqdm] = {}
        self._bytes = 0
        self._since = time.monotonic()
        self._last_postfix = 0.0

    def __call__(self, event: Event) -> None:
        match event:
            case FileStarted(url=url):
                self._started[url] = (time.monotonic(), event)
            case FileProgress():
                self._progress(event)
            case FileRetrying(url=url):
                self._close_bar(url)
            case FileFinished(result=result):
                self._close_bar(result.url)
                self._started.pop(result.url, None)
                if not result.ok:
                    tqdm.write(failure_line(result), file=self._stream)
                self._overall.update(1)
            case Notice(message=message):
                tqdm.write(message, file=self._stream)

    def close(self) -> None:
        for url in list(self._bars):
            self._close_bar(url)
        self._postfix(force=True)
        self._overall.close()

    def _progress(self, event: FileProgress) -> None:
        self._bytes += event.nbytes
        bar = self._bars.get(event.url) or self._maybe_open_bar(event)
        if bar is not None:
            bar.update(event.nbytes)
        self._postfix()

    def _maybe_open_bar(self, event: FileProgress) -> tqdm | None:
        started_at, started = self._started.get(event.url, (None, None))
        if started is None or time.monotonic() - started_at < BAR_AFTER_SECONDS:
            return None
        name = started.path.name
        bar = tqdm(
            total=event.total, initial=event.done, unit="B", unit_scale=True,
            unit_divisor=1024, desc=name[:30], file=self._stream, leave=False,
            mininterval=REFRESH_SECONDS, dynamic_ncols=True,
        )  # fmt: skip
        bar.update(0)
        self._bars[event.url] = bar
        return None  # this event's bytes are already counted in `initial`

    def _close_bar(self, url: str) -> None:
        bar = self._bars.pop(url, None)
        if bar is not None:
            bar.close()

    def _postfix(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_postfix < REFRESH_SECONDS:
            return
        self._last_postfix = now
        rate = self._bytes / max(now - self._since, 1e-9)
        # The overall bar's count moves only when a file ends; refresh it here so its
        # bytes, rate and elapsed time stay live during long downloads.
        self._overall.set_postfix_str(f"{human_bytes(self._bytes)} at {human_bytes(rate)}/s")
