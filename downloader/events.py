"""What the engine tells the outside world, as frozen event objects.

The engine emits; renderers (tqdm bars, plain log lines, the CLI summary) subscribe by
passing a handler. Nothing the engine touches knows how progress is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .results import Result


@dataclass(frozen=True, slots=True)
class FileStarted:
    """A transfer began (or resumed: `offset` bytes were already on disk)."""

    url: str
    path: Path
    offset: int
    total: int | None


@dataclass(frozen=True, slots=True)
class FileProgress:
    """`nbytes` more bytes reached the `.part` file; `done` of `total` are on disk."""

    url: str
    nbytes: int
    done: int
    total: int | None


@dataclass(frozen=True, slots=True)
class FileRetrying:
    """An attempt failed with a retryable error; the next one starts after `delay` seconds."""

    url: str
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class FileFinished:
    """A file ended: done, skipped or failed (see `result.state`)."""

    result: Result


@dataclass(frozen=True, slots=True)
class Notice:
    """A batch-level message for the user, e.g. the disk is full and no new files start."""

    message: str


Event = FileStarted | FileProgress | FileRetrying | FileFinished | Notice


class EventHandler(Protocol):
    """Anything callable with one event. It runs in the event loop: keep it quick."""

    def __call__(self, event: Event, /) -> None: ...
