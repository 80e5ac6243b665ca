"""What the coordinator and its workers tell each other (--procs, --cluster).

The coordinator owns the list, the names and the journal; a worker's engine runs files.
So the coordinator sends `Work` — one file, named and claimed: its list line and journal
entry (name, size, validators: the resume state) — and a worker answers with what the
file's run did, in order: `Update`s and `SegmentRows` (the journal changes its transfers
make), `Flush` (commit now: validators before the first byte of a `.part`), the progress
events (`event_to_wire`), and one `Done` (its Result) or `Renamed` per Work. Both ways go
`HostPaused` and `DiskFull`, what one worker learns that every worker must act on.
`Cookies` carries a worker's jar back for --save-cookies; `Close` ends a worker.

Everything here is picklable and cheap to pickle (NamedTuples, tuples): over a socket the
messages of one loop turn travel in one length-prefixed frame (`frame`, `read_frame`).
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from pathlib import Path
from typing import Literal, NamedTuple

from .cookies import FileCookie
from .events import Event, FileProgress, FileStarted
from .inputs import ListEntry
from .integrity import Checksums
from .journal import Entry
from .options import Options
from .results import Result, State
from .segments import Row
from .writes import Identity

_LENGTH = struct.Struct("!I")
# Messages wait this long for others to go in the same frame: each frame is a write and a
# wake-up of the other side, and the processes share cores that the batch needs.
FRAME_SECONDS = 0.005


class Work(NamedTuple):
    """One file for a worker's engine, named and claimed by the coordinator."""

    id: int
    item: ListEntry  # the list's line: URL, line number, the item's own options
    entry: Entry  # the resume state: name, size, validators, attempts
    rows: list[Row]  # its segments in the journal (a split file resumed), else []
    final_was: Identity  # what held the final name when the coordinator named it
    rerun: bool  # it may have run before (a lost worker's, a Dask task's): look first


class Update(NamedTuple):
    """The transfer changed the file's journal entry (the coordinator records it)."""

    entry: Entry


class Relayed(NamedTuple):
    """A rarer event of a transfer (a retry after a checksum mismatch), as it is."""

    event: Event


# The events every file makes travel as plain tuples: pickling a dataclass (and a Path)
# costs several times more, twice per event, in the processes that are the bottleneck.
Started = tuple[Literal["S"], str, str, int, int | None]  # url, path, offset, total
Progressed = tuple[Literal["P"], str, int, int, int | None]  # url, nbytes, done, total


def event_to_wire(event: Event) -> Started | Progressed | Relayed:
    if type(event) is FileProgress:
        return ("P", event.url, event.nbytes, event.done, event.total)
    if type(event) is FileStarted:
        return ("S", event.url, str(event.path), event.offset, event.total)
    return Relayed(event)


def event_from_wire(wire: Started | Progressed) -> FileStarted | FileProgress:
    if wire[0] == "P":
        return FileProgress(*wire[1:])
    url, path, offset, total = wire[1:]
    return FileStarted(url, Path(path), offset, total)


class Done(NamedTuple):
    """A file's Result (`result_to_wire`): the end of its Work, with the journal entry its
    end made (done, failed, skipped: recorded before the Result is reported)."""

    id: int
    result: tuple
    entry: Entry | None


class Renamed(NamedTuple):
    """--content-disposition: the server names the file. Names are the coordinator's: the
    worker drops the file, and the coordinator renames it and hands it out again."""

    id: int
    suggested: str


class Flush(NamedTuple):
    """Commit the journal now: validators before the first byte of a `.part`, segments."""


class SegmentRows(NamedTuple):
    """A split file's segment rows changed (segmentrows.py)."""

    url: str
    rows: list[Row]


class HostPaused(NamedTuple):
    """A 429 or 503 paused a host: every worker waits it out (both ways)."""

    host: str
    seconds: float


class DiskFull(NamedTuple):
    """The disk filled up: no worker starts another file (both ways)."""

    why: str


class Cookies(NamedTuple):
    """A worker's cookies at its end (--save-cookies saves them all)."""

    cookies: tuple[FileCookie, ...]


class Close(NamedTuple):
    """Leave: the files still running stop (keeping their `.part`), then the cookies."""


class Setup(NamedTuple):
    """A worker's first message: its lane's options (its shares of -j and --per-host), the
    output folder, the --checksums table, whether a lost journal is being rebuilt, and
    whether anyone wants each file's progress events (a progress bar does)."""

    options: Options
    dest: str
    checksums: Checksums
    rebuilding: bool
    progress: bool


Message = (
    Work
    | Update
    | Flush
    | SegmentRows
    | Started
    | Progressed
    | Relayed
    | Done
    | Renamed
    | HostPaused
    | DiskFull
    | Cookies
    | Close
    | Setup
)


def frame(messages: list[Message]) -> bytes:
    data = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> list[Message]:
    """The next frame's messages; IncompleteReadError once the other side is gone."""
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    messages: list[Message] = pickle.loads(await reader.readexactly(size))
    return messages


class Outbox:
    """Messages for one socket, sent together FRAME_SECONDS after the first: one frame (one
    pickle, one write) for all the small files finished meanwhile, not one per message."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        # Kept: asyncio.get_running_loop() costs a getpid() system call each time (3.11).
        self._loop = asyncio.get_running_loop()
        self._pending: list[Message] = []

    def put(self, message: Message) -> None:
        if not self._pending:
            self._loop.call_later(FRAME_SECONDS, self.flush)
        self._pending.append(message)

    def flush(self) -> None:
        """Send what is pending now (a journal update that must not wait: transfer.py
        flushes the validators before a .part gets its first byte)."""
        if self._pending and not self._writer.is_closing():
            self._writer.write(frame(self._pending))
        self._pending = []


def result_to_wire(result: Result) -> tuple:
    """A Result as a plain tuple (several times cheaper to pickle than the dataclass)."""
    r = result
    path = None if r.path is None else str(r.path)
    return (r.url, r.state.value, path, r.status, r.error, r.bytes, r.received, r.attempts,
            r.line_no, r.source, r.checksum)  # fmt: skip


def result_from_wire(wire: tuple, started: tuple[str, Path] | None = None) -> Result:
    """The Result; `started`: its file's FileStarted path, as sent and as made (a Path is
    made once per file, not twice)."""
    url, state, path, *rest = wire
    if path is not None:
        path = started[1] if started is not None and started[0] == path else Path(path)
    return Result(url, State(state), path, *rest)
