"""Plain-text output: per-file lines for pipes and CI, the tally, and the final summary.

No tqdm here; `progress` draws bars on a terminal, this module writes lines anywhere.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TextIO

from .events import Event, FileFinished, FileProgress, FileRetrying, Notice
from .results import Result, State


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def failure_line(result: Result) -> str:
    where = f" (line {result.line_no})" if result.line_no else ""
    return f"FAILED {result.url}{where}: {result.error}"


def finished_line(result: Result) -> str:
    if result.state is State.FAILED:
        return failure_line(result)
    if result.state is State.SKIPPED:
        return f"skipped {result.url} -> {result.path} (already there)"
    return f"done {result.url} -> {result.path} ({human_bytes(result.bytes)})"


class LineRenderer:
    """One line per finished, skipped or failed file; with `quiet`, failures only."""

    def __init__(self, stream: TextIO, *, quiet: bool = False, debug: bool = False) -> None:
        self._stream, self._quiet, self._debug = stream, quiet, debug

    def __call__(self, event: Event) -> None:
        match event:
            case FileFinished(result=result) if not (self._quiet and result.ok):
                self._write(finished_line(result))
            case FileRetrying() if self._debug:
                self._write(
                    f"retry {event.url} in {event.delay:.1f} s "
                    f"(attempt {event.attempt} failed: {event.reason})"
                )
            case Notice(message=message):
                self._write(message)

    def close(self) -> None:
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
    """Counts for the summary. Keeps only failures, not one record per URL."""

    done: int = 0
    skipped: int = 0
    failed: list[Result] = field(default_factory=list)
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    def __call__(self, event: Event) -> None:
        match event:
            case FileProgress(nbytes=nbytes):
                self.bytes += nbytes
            case FileFinished(result=result):
                self._count(result)

    def _count(self, result: Result) -> None:
        if result.state is State.DONE:
            self.done += 1
        elif result.state is State.SKIPPED:
            self.skipped += 1
        else:
            self.failed.append(result)

    def summary(self, *, interrupted: bool = False) -> str:
        seconds = max(time.monotonic() - self.started, 1e-6)
        rate = human_bytes(self.bytes / seconds)
        head = (
            f"{self.done} done, {self.skipped} skipped, {len(self.failed)} failed; "
            f"{human_bytes(self.bytes)} in {seconds:.1f} s ({rate}/s)"
        )
        lines = [head]
        if self.failed:
            lines.append("failed:")
            lines.extend(f"  {r.url}: {r.error}" for r in self.failed)
        if interrupted:
            lines.append("interrupted: partial files are kept; run the same command to resume")
        return "\n".join(lines)
