"""What the coordinator and its workers tell each other (--procs, --cluster).

The coordinator owns the list, the names and the journal; a worker only transfers. So the
coordinator sends `Order`s — one attempt at one file: its journal entry (name, size,
validators: the resume state), the URL to fetch (the item's or a mirror) and the item's
request policy — and a worker answers with what the attempt did, in order: `Update`s (the
journal changes the transfer makes: validators before the first byte reaches a `.part`,
a restart from zero), the progress events (`event_to_wire`), and one `Finished` per
order. `Cancel` stops an order; `Cookies` carries a worker's jar back for --save-cookies.

Everything here is picklable and cheap to pickle (NamedTuples): over a socket the messages
of one loop turn travel in one length-prefixed frame (`frame`, `read_frame`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import stat
import struct
from pathlib import Path
from typing import Any, Literal, NamedTuple

from . import errors
from .cookies import CookieFiles, FileCookie
from .errors import DownloadError
from .events import Event, FileProgress, FileStarted
from .integrity import Digest
from .journal import Entry
from .options import Options
from .request import RequestPolicy

_LENGTH = struct.Struct("!I")
_NO_COOKIES = CookieFiles()

# The identity of a file on disk: (inode, mtime in ns, size); None when there is none.
Identity = tuple[int, int, int] | None


class Order(NamedTuple):
    """One attempt at one file, as a worker runs it."""

    id: int
    entry: Entry  # the resume state: name, size, validators
    url: str  # what to fetch: the item's URL or a mirror
    policy: RequestPolicy | None  # the item's own (no TLS context: see `policy_to_wire`)
    named: bool  # the list named the file (out=): the server's name does not apply
    expected: Digest | None  # what the bytes must hash to
    mismatches: int  # checksum mismatches so far in this run (one more fetch after the first)
    rates: tuple[int, ...]  # the file's own byte budgets (max-download-limit=), bytes/s
    final_was: Identity  # what held the final name when the order was made
    rerun: bool  # it may have run before (a lost worker's order, a Dask task): look first


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


class Finished(NamedTuple):
    """How an order ended: an outcome, an error, or the server's name to take first."""

    id: int
    received: int  # bytes that came over the network, failed attempts' too
    mismatches: int
    verified: str | None  # `algo:hex` once the bytes checked out
    outcome: tuple[Entry, int, int] | None = None  # entry, HTTP status, size on disk
    error: tuple[str, str, dict[str, Any]] | None = None  # `error_to_wire`
    rename: str | None = None  # --content-disposition: the name the server suggested


class Cancel(NamedTuple):
    id: int


class Cookies(NamedTuple):
    """A worker's cookies at its end (--save-cookies saves them all)."""

    cookies: tuple[FileCookie, ...]


class Close(NamedTuple):
    """No more orders: finish and leave."""


class Setup(NamedTuple):
    """A worker process's first message: the batch's options and output folder."""

    options: Options
    dest: str


Message = (
    Order | Update | Started | Progressed | Relayed | Finished | Cancel | Cookies | Close | Setup
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
    """Messages for one socket, sent together once per loop turn: one frame (one pickle,
    one write) for all the small files a turn finished, not one per message."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        # Kept: asyncio.get_running_loop() costs a getpid() system call each time (3.11).
        self._loop = asyncio.get_running_loop()
        self._pending: list[Message] = []

    def put(self, message: Message) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(message)

    def flush(self) -> None:
        """Send what is pending now (a journal update that must not wait: transfer.py
        flushes the validators before a .part gets its first byte)."""
        if self._pending and not self._writer.is_closing():
            self._writer.write(frame(self._pending))
        self._pending = []


def error_to_wire(error: DownloadError) -> tuple[str, str, dict[str, Any]]:
    """A DownloadError as plain data: its class name, message and attributes (the classes'
    own constructors take other arguments than their message, so pickle cannot)."""
    return type(error).__name__, str(error), dict(vars(error))


def error_from_wire(wire: tuple[str, str, dict[str, Any]]) -> DownloadError:
    name, message, attributes = wire
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, DownloadError)):
        cls = DownloadError
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    vars(error).update(attributes)
    return error


def policy_to_wire(policy: RequestPolicy | None, batch: RequestPolicy) -> RequestPolicy | None:
    """An item's own policy without what a worker has already (and an SSLContext cannot be
    pickled): the worker's batch policy puts its TLS context and cookie files back. None
    for the batch's own policy, the common case."""
    if policy is None or policy is batch:
        return None
    return dataclasses.replace(policy, tls=None, cookies=_NO_COOKIES)


def policy_from_wire(wire: RequestPolicy | None, batch: RequestPolicy) -> RequestPolicy:
    if wire is None:
        return batch
    return dataclasses.replace(wire, tls=batch.tls, cookies=batch.cookies)


def identity(path: str) -> Identity:
    """What is at `path` now, to tell later whether another file took its place."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size
