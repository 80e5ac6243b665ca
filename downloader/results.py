"""The outcome of a batch: one Result per input URL. A failed file is data, not an exception."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import overload


class State(StrEnum):
    DONE = "done"  # downloaded in this run
    SKIPPED = "skipped"  # already there: done in an earlier run, or --on-exists skip
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one URL.

    `bytes` is the size of the file on disk (for a failure: what was kept in `.part`);
    `received` is how many of those bytes came over the network in this run. `source` is the
    URL (the item's or one of its mirrors) that served the file; `checksum` is `algo:hex`
    when one was known or computed.
    """

    url: str
    state: State
    path: Path | None = None
    status: int | None = None
    error: str | None = None
    bytes: int = 0
    received: int = 0
    attempts: int = 0
    line_no: int = 0
    source: str | None = None
    checksum: str | None = None

    @property
    def ok(self) -> bool:
        return self.state is not State.FAILED


@dataclass(frozen=True)
class BatchResult(Sequence[Result]):
    """All Results of a batch, in input order."""

    results: tuple[Result, ...] = field(default=())

    @overload
    def __getitem__(self, index: int) -> Result: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Result]: ...
    def __getitem__(self, index):
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results)

    @property
    def ok(self) -> bool:
        """True when every file is done or skipped."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.state is State.FAILED]

    @property
    def done(self) -> list[Result]:
        return [r for r in self.results if r.state is State.DONE]

    @property
    def skipped(self) -> list[Result]:
        return [r for r in self.results if r.state is State.SKIPPED]
