"""Terminal progress with tqdm: the only module that imports tqdm.

One overall line and a bar per active download. The overall line counts bytes: fetched so
far out of fetched + still to come, with the ETA by bytes, once every file of the batch has
started with a known size (before that the total is unknown and it shows bytes and rate
only); the file count stands beside it. Its rate is the current one (the last few seconds),
and `tick` redraws it on a timer, so the clock moves and the rate falls while nothing arrives.

A file gets its own bar only once it has run for a moment, so thousands of small files a
second do not each pay for creating and tearing down a bar. Bars refresh about 5 times a
second at most.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from .events import Event, FileFinished, FileProgress, FileRetrying, FileStarted, Notice
from .redact import for_display
from .report import Locate, failure_line, human_bytes, line_of, retry_line

REFRESH_SECONDS = 0.2
BAR_AFTER_SECONDS = 0.3
RATE_WINDOW_SECONDS = 3.0
CLEAR_TO_END = "\r\x1b[J"  # back to the line start, erase it and everything below


class TqdmRenderer:
    shows_progress = True

    def __init__(
        self,
        total_files: int | None,
        *,
        stream: TextIO = sys.stderr,
        where: Locate = line_of,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._where, self._clock = stream, where, clock
        self._overall = tqdm(
            total=None, desc="total", position=0, file=stream, leave=True,
            bar_format="total: starting", dynamic_ncols=True, mininterval=REFRESH_SECONDS,
        )  # fmt: skip
        self._total_files = total_files
        self._finished = 0
        self._active: dict[str, _Active] = {}
        self._fetched = 0  # bytes received in this run
        self._to_come = 0  # bytes still to come for active files of known size
        self._unsized = 0  # active files whose size the server did not say
        self._rate = _RecentRate(clock)

    def __call__(self, event: Event) -> None:
        match event:
            case FileStarted():
                self._started(event)
            case FileProgress():
                self._progress(event)
            case FileRetrying():
                self._close_bar(event.url)
                self._write(retry_line(event))
            case FileFinished(result=result):
                self._forget(result.url)
                self._finished += 1
                if not result.ok:
                    self._write(failure_line(result, self._where))
            case Notice(message=message):
                self._write(for_display(message))

    def tick(self) -> None:
        """Redraw the overall line (called on a timer by the CLI)."""
        self._rate.sample(self._fetched)
        bar = self._overall
        total = self._known_total()
        if total is None:
            bar.bar_format = f"total: {self._overall_text(None)} [{{elapsed}}]"
            bar.total, bar.n = None, self._fetched
        else:
            bar.bar_format = (
                f"total {{percentage:3.0f}}%|{{bar}}| {self._overall_text(total)} [{{elapsed}}]"
            )
            # Nothing to fetch (all skipped, or empty files) is all done, not 0 %.
            bar.total, bar.n = (total, self._fetched) if total else (1, 1)
        bar.refresh()

    def close(self) -> None:
        for url in list(self._active):
            self._close_bar(url)
        self.tick()
        self._overall.close()

    def abort(self) -> None:
        """A second Ctrl-C: the process ends now. Wipe the bars so the shell prompt starts
        on a clean line."""
        self._stream.write(CLEAR_TO_END)
        self._stream.flush()

    def _started(self, event: FileStarted) -> None:
        self._forget(event.url)  # a retry starts the file afresh
        active = _Active(self._clock(), event.path, event.total, event.offset)
        self._active[event.url] = active
        if event.total is None:
            self._unsized += 1
        else:
            self._to_come += max(event.total - event.offset, 0)

    def _progress(self, event: FileProgress) -> None:
        self._fetched += event.nbytes
        active = self._active.get(event.url)
        if active is None:
            return
        if active.total is not None:
            self._to_come -= min(event.nbytes, max(active.total - active.done, 0))
        active.done = event.done
        if active.bar is not None:
            active.bar.update(event.nbytes)
        elif self._clock() - active.since >= BAR_AFTER_SECONDS:
            active.bar = self._open_bar(active)

    def _forget(self, url: str) -> None:
        self._close_bar(url)
        active = self._active.pop(url, None)
        if active is None:
            return
        if active.total is None:
            self._unsized -= 1
        else:
            self._to_come -= max(active.total - active.done, 0)

    def _open_bar(self, active: _Active) -> tqdm:
        bar = _FileBar(
            total=active.total, initial=active.done, desc=active.path.name[:30],
            bar_format=_SIZED_FILE if active.total else _UNSIZED_FILE, file=self._stream,
            leave=False, mininterval=REFRESH_SECONDS, dynamic_ncols=True,
        )  # fmt: skip
        bar.refresh()
        return bar

    def _close_bar(self, url: str) -> None:
        active = self._active.get(url)
        if active is not None and active.bar is not None:
            active.bar.close()
            active.bar = None
            self._close_gaps()

    def _close_gaps(self) -> None:
        """Move the bars below a closed one up a line each. tqdm leaves the closed bar's
        line empty until a new bar happens to take it: a blank line in the display."""
        bars = sorted((a.bar for a in self._active.values() if a.bar is not None), key=_pos)
        for line, bar in enumerate(bars, 1):
            if bar.pos != line:
                bar.clear()  # its old line
                bar.pos = line
                bar.refresh()

    def _known_total(self) -> int | None:
        """Bytes of this run's whole transfer, once every file has started with a size."""
        if self._unsized or self._total_files is None:
            return None
        if self._finished + len(self._active) < self._total_files:
            return None  # files not started yet: their sizes are unknown
        return self._fetched + self._to_come

    def _overall_text(self, total: int | None) -> str:
        rate = self._rate.per_second()
        files = f"{self._finished}/{self._total_files if self._total_files is not None else '?'}"
        if total is None:
            return f"{human_bytes(self._fetched)}, {human_bytes(rate)}/s, {files} files"
        eta = _clock_text(self._to_come / rate) if rate > 0 else "--:--"
        done = f"{human_bytes(self._fetched)}/{human_bytes(total)}"
        return f"{done}, {human_bytes(rate)}/s, ETA {eta}, {files} files"

    def _write(self, line: str) -> None:
        tqdm.write(line, file=self._stream)


_SIZED_FILE = "{desc} {percentage:3.0f}%|{bar}| {done}/{size}, {speed}/s [{remaining}]"
_UNSIZED_FILE = "{desc}: {done}, {speed}/s [{elapsed}]"


class _FileBar(tqdm):
    """A file's bar in the units of the overall line and the summary (KiB, MiB)."""

    @property
    def format_dict(self) -> MutableMapping[str, Any]:
        values = super().format_dict
        rate = values["rate"] or 0.0
        values["done"] = human_bytes(values["n"])
        values["size"] = human_bytes(values["total"] or 0)
        values["speed"] = human_bytes(rate)
        return values


class _Active:
    """A file in flight: when it started, its size and bytes on disk, its bar if shown."""

    __slots__ = ("bar", "done", "path", "since", "total")

    def __init__(self, since: float, path: Path, total: int | None, done: int) -> None:
        self.since, self.path, self.total, self.done = since, path, total, done
        self.bar: tqdm | None = None


class _RecentRate:
    """Bytes per second over the last RATE_WINDOW_SECONDS: the current rate, which falls to
    zero when transfers stall (an average since the start hides a stall for minutes)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque([(clock(), 0)])

    def sample(self, fetched: int) -> None:
        now = self._clock()
        self._samples.append((now, fetched))
        # Keep one sample older than the window, so the window is always fully spanned.
        while len(self._samples) > 2 and self._samples[1][0] <= now - RATE_WINDOW_SECONDS:
            self._samples.popleft()

    def per_second(self) -> float:
        (first_t, first_n), (last_t, last_n) = self._samples[0], self._samples[-1]
        return (last_n - first_n) / (last_t - first_t) if last_t > first_t else 0.0


def _pos(bar: tqdm) -> int:
    return abs(getattr(bar, "pos", 0))


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
