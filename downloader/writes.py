"""How received bytes reach the disk: in blocks of exact sizes, never out of order, and
small files in one write in the loop's own thread while the disk keeps up.

When they are written (a full block, FLUSH_SECONDS, a small body that came at once) is
decided in `transfer`; these are the means.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from collections.abc import Callable
from typing import BinaryIO

from .buffers import BufferBudget
from .errors import DownloadError, IncompleteBodyError, from_os_error

# The identity of a file on disk: (inode, mtime in ns, size); None when there is none (or
# not a regular file). Another identity later means another file took its place.
Identity = tuple[int, int, int] | None


def identity(path: str) -> Identity:
    """What is at `path` now, to tell later whether another file took its place."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


Observe = Callable[[list[bytes | memoryview]], None]


class InlineWhileFast:
    """Writes small files in the event loop's thread for as long as the disk is fast.

    A thread hop costs ~100-300 µs, more than writing 16 KiB into the page cache, and it
    halves the small-files rate. But a slow disk (network mounts) must never stall every
    transfer: after SLOW_IN_A_ROW writes slower than SLOW_SECONDS, inline writing is off for
    good. In a row: on a busy machine one write can be slow only because the thread was
    descheduled, and that alone must not halve the rest of a million-file batch.
    """

    SLOW_SECONDS = 0.005
    SLOW_IN_A_ROW = 3

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inline = True
        self._slow_in_a_row = 0
        self._clock = clock

    def run(self, write, *args) -> None:
        started = self._clock()
        try:
            write(*args)
        finally:
            if self._clock() - started <= self.SLOW_SECONDS:
                self._slow_in_a_row = 0
            else:
                self._slow_in_a_row += 1
                if self._slow_in_a_row >= self.SLOW_IN_A_ROW:
                    self.inline = False


class Block:
    """Pieces of a body gathered into writes of exactly `limit` bytes (the last one may be
    shorter). Pieces are split with memoryviews, so no byte is copied on the way. What it
    holds counts against the batch's `budget` from `add` until `written` (or `drop`)."""

    def __init__(self, budget: BufferBudget) -> None:
        self.limit = budget.block_size()
        self._budget = budget
        self._pieces: list[bytes | memoryview] = []
        self.size = 0
        self._taken = 0  # given to the writer, not yet written

    def add(self, piece: bytes | memoryview) -> bool:
        """Keep `piece`; True when a whole block is ready to `take`."""
        self._pieces.append(piece)
        self.size += len(piece)
        self._budget.take(len(piece))
        return self.size >= self.limit

    def take(self) -> tuple[list[bytes | memoryview], int]:
        """The next block: `limit` bytes, or all that is left when less."""
        pieces, size = self._split()
        self._taken += size
        return pieces, size

    def written(self, size: int) -> None:
        """`size` bytes of what was taken left memory (written, or failed to be): blocks
        follow the budget's share from now on."""
        self._taken -= size
        self._budget.give(size)
        self.limit = self._budget.block_size()

    def drop(self) -> None:
        """The transfer is over: nothing it still holds counts any more."""
        self._budget.give(self.size + self._taken)
        self._pieces, self.size, self._taken = [], 0, 0

    def _split(self) -> tuple[list[bytes | memoryview], int]:
        if self.size <= self.limit:
            pieces, size = self._pieces, self.size
            self._pieces, self.size = [], 0
            return pieces, size
        pieces, size = [], 0
        while size < self.limit:
            piece = self._pieces.pop(0)
            room = self.limit - size
            if len(piece) > room:
                view = memoryview(piece)
                self._pieces.insert(0, view[room:])
                piece = view[:room]
            pieces.append(piece)
            size += len(piece)
        self.size -= size
        return pieces, size


async def write(file, pieces: list[bytes | memoryview]) -> None:
    """Append pieces to the .part file in a worker thread.

    A cancel (Ctrl-C) must not leave this write running in its thread while the next one
    starts in another: the two could land out of order and corrupt the file. So the write
    is shielded and, on cancel, allowed to finish before the cancel goes on."""
    try:
        await _finished_even_if_cancelled(asyncio.ensure_future(file.writelines(pieces)))
    except OSError as exc:
        raise from_os_error(exc) from exc


async def write_at(
    fd: int, pieces: list[bytes | memoryview], offset: int, then: Callable[[], None]
) -> None:
    """Write pieces at `offset` of an open file, in a worker thread (the segments of a split
    file: several in flight at once, at different offsets), then call `then` in the loop.

    Shielded as `write` is, and `then` is called for a write that finished while a cancel
    waited too: the segment counting it would otherwise place its next bytes over these."""
    future = asyncio.get_running_loop().run_in_executor(None, pwrite_all, fd, pieces, offset)
    try:
        await _finished_even_if_cancelled(future)
    except asyncio.CancelledError:
        if not future.cancelled() and future.exception() is None:
            then()
        raise
    except OSError as exc:
        raise from_os_error(exc) from exc
    then()


def pwrite_all(fd: int, pieces: list[bytes | memoryview], offset: int) -> None:
    """All of `pieces` at `offset` (pwritev may write less than asked: the rest goes again)."""
    views = [memoryview(piece) for piece in pieces]
    while views:
        written = os.pwritev(fd, views[:512], offset)  # IOV_MAX is 1024 on Linux
        if written == 0:
            raise OSError(errno.EIO, "nothing written")
        offset += written
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


async def _finished_even_if_cancelled(task: asyncio.Future[None]) -> None:
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the cancel is what the caller hears about
        raise


class PartFile:
    """A `.part` file written in the loop's default executor, one thread hop per block.
    `observe` (a running hash) sees each block in that same hop, after it is written: the
    event loop's thread never pays for it, and a block that failed to write is not seen."""

    def __init__(self, file: BinaryIO, observe: Observe | None) -> None:
        self._file, self._observe = file, observe

    async def writelines(self, pieces: list[bytes | memoryview]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._write, pieces)

    def _write(self, pieces: list[bytes | memoryview]) -> None:
        self._file.writelines(pieces)
        if self._observe is not None:
            self._observe(pieces)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._file.close)


async def open_part(part: str, *, append: bool, observe: Observe | None = None) -> PartFile:
    """Open a `.part` file to write from its start, or to append to it (never through a link)."""
    file = await asyncio.get_running_loop().run_in_executor(None, _open, part, append)
    return PartFile(file, observe)


def _open(part: str, append: bool) -> BinaryIO:
    if append:
        return open(part, "ab", opener=open_no_follow)
    return open(part, "wb", opener=open_no_follow)


def write_whole(part: str, final: str, body: bytes | memoryview, verify=None) -> None:
    """A whole small body: check it (`verify` raises on a mismatch: nothing is written),
    write its `.part` and rename it, in one go."""
    if verify is not None:
        verify(body)
    fd = open_no_follow(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(part, final)


def open_no_follow(path, flags: int) -> int:
    """Open without following a link; a link planted at our `.part` path is removed and
    replaced by a regular file (checked by the open itself, not by a racy look first)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    os.unlink(path)
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CREAT | os.O_EXCL, 0o644)


# -- the .part file's size and end ----------------------------------------------------------


def check_length(size: int, total: int | None) -> None:
    if total is None or size == total:
        return
    if size < total:
        raise IncompleteBodyError(f"body cut short: {size} of {total} bytes")
    raise DownloadError(f"body longer than announced: {size} > {total} bytes")


def existing_size(part: str) -> int:
    """Bytes in a `.part` file to resume from."""
    try:
        return part_size(part)
    except OSError as exc:
        raise from_os_error(exc) from exc


def part_size(part: str) -> int:
    """Size of a `.part` file; a link or anything else planted there counts as nothing (it
    is replaced, never followed). Other errors than a missing file are raised."""
    try:
        info = os.lstat(part)
    except FileNotFoundError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise from_os_error(exc) from exc
