"""Plain-text output: per-file lines for pipes and CI, the tally, and the final summary.

No tqdm here; `progress` draws bars on a terminal, this module writes lines anywhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from .events import Event, FileFinished, FileProgress, FileRetrying, Notice
from .redact import for_display
from .results import Result, State


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


Locate = Callable[[int], str]
SUMMARY_FAILURES = 20  # failures the summary names; `adl status` lists them all


def line_of(line_no: int) -> str:
    """Where a list line is, for one list: 'line 7'."""
    return f"line {line_no}"


def failure_line(result: Result, where: Locate = line_of) -> str:
    place = where(result.line_no) if result.line_no else ""
    at = f" ({place})" if place else ""
    return for_display(f"FAILED {result.url}{at}: {result.error}")


def finished_line(result: Result, where: Locate = line_of) -> str:
    if result.state is State.FAILED:
        return failure_line(result, where)
    if result.state is State.SKIPPED:
        return for_display(f"skipped {result.url} -> {result.path} (already there)")
    return for_display(f"done {result.url} -> {result.path} ({human_bytes(result.bytes)})")


def retry_line(event: FileRetrying) -> str:
    wait = f" in {event.delay:.1f} s" if event.delay >= 0.05 else ""  # a mirror: at once
    return for_display(f"retry {event.url}{wait} after attempt {event.attempt}: {event.reason}")


class Renderer(Protocol):
    """What the CLI drives: events as they come, a tick on a timer, and the end (`close`,
    or `abort` when a second Ctrl-C ends the process at once). `shows_progress`: it draws
    each file's FileStarted and FileProgress (a bar does; lines do not)."""

    shows_progress: bool

    def __call__(self, event: Event, /) -> None: ...
    def tick(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class LineRenderer:
    """One line per finished, skipped or failed file and per retry; with `quiet`, failures
    only. Nothing is kept per file: a million failures cost lines, not memory."""

    shows_progress = False

    def __init__(
        self,
        stream: TextIO,
        *,
        quiet: bool = False,
        debug: bool = False,
        where: Locate = line_of,
        notices_to: TextIO | None = None,
    ) -> None:
        self._stream, self._quiet, self._debug, self._where = stream, quiet, debug, where
        # Warnings about the batch (a damaged journal, a full disk) go to `notices_to`
        # (stderr for the CLI, as curl and wget do), lines about files to `stream`.
        self._notices = notices_to or stream

    def __call__(self, event: Event) -> None:
        match event:
            case FileFinished(result=result) if not (self._quiet and result.ok):
                self._write(finished_line(result, self._where))
            case FileRetrying() if not self._quiet or self._debug:
                self._write(retry_line(event))
            case Notice(message=message):
                self._notices = print_line(for_display(message), self._notices)

    def tick(self) -> None:
        pass  # lines are written as files end; nothing moves in between

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def _write(self, line: str) -> None:
        self._stream = print_line(line, self._stream)


def print_line(line: str, stream: TextIO) -> TextIO:
    """Print LINE and flush; the stream to write to from now on. `adl get list | head`: once
    the reader has left, that is os.devnull, so downloads go on and output goes nowhere."""
    try:
        print(line, file=stream, flush=True)
    except BrokenPipeError:
        return open(os.devnull, "w")  # kept open: it replaces the stream for good
    return stream


@dataclass
class Tally:
    """Counts for the summary. Memory stays flat however many files fail: it keeps the
    first SUMMARY_FAILURES failures and counts the rest (the journal holds them all)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    first_failures: list[Result] = field(default_factory=list)
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    def __call__(self, event: Event) -> None:
        match event:
            case FileProgress(nbytes=nbytes):
                self.bytes += nbytes
            case FileFinished(result=result):
                self._count(result)

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    def _count(self, result: Result) -> None:
        if result.state is State.DONE:
            self.done += 1
        elif result.state is State.SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
            if len(self.first_failures) < SUMMARY_FAILURES:
                self.first_failures.append(result)

    def summary(
        self, *, interrupted: bool = False, unfinished: int = 0, listed_by: str = ""
    ) -> str:
        """The closing lines: counts, bytes, time and rate, then the first failures.
        `listed_by` is the command that lists every failure (`adl status -o DIR`)."""
        seconds = max(time.monotonic() - self.started, 1e-6)
        rate = human_bytes(self.bytes / seconds)
        counts = f"{self.done} done, {self.skipped} skipped, {self.failed} failed"
        if unfinished or interrupted:
            counts += f", {unfinished} unfinished"
        lines = [f"{counts}; {human_bytes(self.bytes)} in {seconds:.1f} s ({rate}/s)"]
        if self.failed:
            lines.append("failed:")
            lines.extend(f"  {r.url}: {r.error}" for r in self.first_failures)
            more = self.failed - len(self.first_failures)
            if more:
                how = f": {listed_by} lists them all" if listed_by else ""
                lines.append(f"  ... and {more} more{how}")
        if interrupted:
            lines.append("interrupted: partial files are kept; run the same command to resume")
        return for_display("\n".join(lines))
