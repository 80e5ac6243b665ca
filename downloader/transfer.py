"""One file over HTTP: request (resuming when a `.part` exists), stream to `.part`, check, rename.

The decisions (which headers, what a 200/206/416 means, when to retry) are pure functions in
`resume` and `retry`; this module applies them with aiohttp, `writes` and `hashing`. Every
failure leaves as a `DownloadError` (see `errors.from_exception`); the engine decides retries.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import aiohttp

from . import resume, writes
from .buffers import BufferBudget
from .errors import (
    ChecksumError,
    DownloadError,
    HTTPStatusError,
    RedirectError,
    from_exception,
    from_os_error,
)
from .events import Event, FileProgress, FileRetrying, FileStarted
from .folders import checked_path
from .hashing import FileCheck
from .integrity import NO_CHECKSUMS, Checksums
from .itempath import in_folder_of
from .journal import Entry, Journal, Status
from .mirrors import Source
from .naming import PART_SUFFIX, name_from_content_disposition
from .options import OnExists, Options
from .ratelimit import RateLimit, throttled
from .request import REDIRECT_STATUSES, Requester
from .retry import parse_retry_after
from .segments import bytes_kept
from .stall import StallWatch
from .writes import (
    Block,
    InlineWhileFast,
    Observe,
    check_length,
    existing_size,
    part_size,
    unlink,
    write_whole,
)

FLUSH_SECONDS = 1.0  # longest a received byte waits in memory before it goes to the .part
INLINE_HASH_BYTES = 64 * 1024  # a small body hashed in the loop's thread: ~40 µs at most


class Outcome(NamedTuple):
    """A finished attempt (a NamedTuple: one is made per file, and they are cheap)."""

    entry: Entry  # as the response described it; `size` is not yet the final size
    path: Path
    status: int
    size: int  # bytes in the finished file


class Received:
    """One file's run, the same for each attempt (a failed one's bytes count too): the bytes
    that came over the network, their `check` (hashes), the `limits` they are charged to."""

    __slots__ = ("bytes", "check", "limits")

    def __init__(self, check: FileCheck | None = None, limits: tuple[RateLimit, ...] = ()) -> None:
        self.bytes = 0
        self.check = check or FileCheck()
        self.limits = limits


class Transfer:
    """Fetches single files into one output folder; shared by all of a batch's coroutines."""

    def __init__(
        self,
        requests: Requester,
        dest: Path,
        options: Options,
        journal: Journal,
        emit: Callable[[Event], None],
        checksums: Checksums = NO_CHECKSUMS,
    ) -> None:
        self.requests, self.dest, self._options = requests, dest, options
        self._journal, self._emit = journal, emit
        self._folder = str(dest)  # paths are joined as strings: pathlib costs per file add up
        self._small_writes = InlineWhileFast()
        self.budget = BufferBudget(options.chunk_size)  # every body's, split ones' too
        self.checksums = checksums  # --checksums: NAME -> digest, for each file's FileCheck

    def final_path(self, entry: Entry, *, create: bool = False) -> str:
        """DIR/name, its folders (dir=) checked for links, made with `create`: folders.py"""
        return checked_path(self._folder, entry.name, create=create)

    def part_path(self, entry: Entry) -> str:
        return self.final_path(entry) + PART_SUFFIX

    def name_taken(self, name: str) -> bool:
        """Something (a file, a link, a folder) already holds DIR/name."""
        return os.path.lexists(f"{self._folder}/{name}")

    def kept_bytes(self, entry: Entry) -> int:
        """Bytes the entry's `.part` file keeps (a split one: what its segments say, it is
        sparse), for the journal; 0 when it cannot be read."""
        try:
            size = part_size(self.part_path(entry))
        except OSError:
            return 0
        return bytes_kept(self._journal.segments.done(entry.url), size)

    async def fetch(self, entry: Entry, received: Received, source: Source) -> Outcome:
        """One attempt at `source` (the entry's URL or a mirror, with the item's request
        options), counting the bytes it receives into `received` (raise or not). A resume
        the server cannot honour is retried from zero at once, and so is (once in a run) a
        file whose bytes do not hash to what they must."""
        allow_resume = True
        while True:
            try:
                return await self._fetch(entry, received, source, allow_resume=allow_resume)
            except RestartFromZero:
                pass  # never when allow_resume is False: no Range was sent (resume.decide)
            except ChecksumError as error:
                unlink(self.part_path(entry))  # bad bytes are not kept, not even to resume
                if not received.check.may_refetch():
                    raise
                self._emit(FileRetrying(entry.url, 1, 0.0, f"{error}; fetching it from zero"))
            unlink(self.part_path(entry))
            entry = self._journal.update(entry, etag=None, last_modified=None, total=None)
            allow_resume = False

    async def _fetch(self, entry: Entry, received, source, *, allow_resume: bool) -> Outcome:
        known = resume.Validators(entry.etag, entry.last_modified)
        offset, headers = 0, self.requests.identity
        # Without a validator there is nothing to resume safely: skip looking at the disk.
        if allow_resume and (entry.etag or entry.last_modified):
            offset = existing_size(self.part_path(entry))
            ranged = resume.request_headers(offset, known)
            if ranged:
                headers = {**headers, **ranged}
            else:
                offset = 0  # nothing to resume from, or no validator to resume safely with
        try:
            async with await self.requests.get(source.url, headers, source.policy) as response:
                return await self.receive(entry, response, offset, known, received, source)
        except (DownloadError, RestartFromZero, asyncio.CancelledError):
            raise
        except Exception as exc:  # the one place library errors are mapped
            raise from_exception(exc) from exc

    async def receive(
        self, entry: Entry, response: aiohttp.ClientResponse, offset: int, known, received, source
    ) -> Outcome:
        """The answer to an attempt's request, as resume.decide says (segmented.py's too)."""
        if response.status >= 400 and not (response.status == 416 and offset > 0):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=time.time())
            raise HTTPStatusError(response.status, response.reason, retry_after=retry_after)
        if response.status in REDIRECT_STATUSES:
            raise RedirectError(f"HTTP {response.status} redirect without a Location")
        status = 200 if response.status != 206 and response.status < 300 else response.status
        decision = resume.decide(
            status, response.headers, offset=offset, known=known, known_total=entry.total
        )
        action = decision.action
        if action is resume.Action.RESTART:
            raise RestartFromZero(decision.reason)
        if action is resume.Action.FAIL:
            raise DownloadError(decision.reason)
        if action is resume.Action.ALREADY_COMPLETE:
            entry, started = self.start(entry, response, offset, decision.total)
            await received.check.begin(entry.name, self.part_path(entry), offset, {})
            await self.finish(entry, self.part_path(entry), received.check)
            return Outcome(entry, started.path, response.status, offset)
        if action is resume.Action.WRITE_FROM_ZERO:
            offset = 0
            entry = self.maybe_rename(entry, response, source.named)
        entry, started = self.start(entry, response, offset, decision.total)
        size = await self._stream(entry, response, offset, decision.total, received)
        # The engine records the finished entry in one journal write.
        return Outcome(entry, started.path, response.status, size)

    def maybe_rename(self, entry: Entry, response, named: bool) -> Entry:
        """--content-disposition: take the server's name for a file started from zero,
        in the folder the list gave it (dir=); a name the list gave (out=) stays."""
        if not self._options.content_disposition or named:
            return entry
        header = response.headers.get("Content-Disposition")
        suggested = in_folder_of(entry.name, name_from_content_disposition(header))
        if suggested is None or suggested == entry.name:
            return entry
        overwrite = self._options.on_exists is OnExists.OVERWRITE
        renamed = self._journal.rename(
            entry,
            suggested,
            taken=lambda n: not overwrite and self.name_taken(n),
        )
        unlink(self.part_path(entry))
        return renamed

    def start(self, entry: Entry, response, offset: int, total) -> tuple[Entry, FileStarted]:
        """The entry as this response describes it; written to the journal only once bytes
        go to a .part file (a small file is written whole, and recorded when done)."""
        fresh = resume.validators_from_headers(response.headers)
        if offset and not (fresh.etag or fresh.last_modified):
            fresh = resume.Validators(entry.etag, entry.last_modified)  # resumed: kept as is
        entry = entry._replace(  # a new file, or one the server describes afresh: as it does
            state=Status.ACTIVE, total=total, etag=fresh.etag, last_modified=fresh.last_modified
        )
        # dest / name: cheaper than parsing the whole path again, once per file.
        started = FileStarted(entry.url, self.dest / entry.name, offset, total)
        self._emit(started)
        return entry, started

    async def _stream(
        self, entry: Entry, response, offset: int, total: int | None, received: Received
    ) -> int:
        """The body into the final file; returns the file's size."""
        part = self.final_path(entry, create=True) + PART_SUFFIX
        await received.check.begin(entry.name, part, offset, response.headers)
        with self.budget.stream():
            block = Block(self.budget)
            try:
                return await self._body(entry, part, response, block, offset, total, received)
            finally:
                block.drop()

    async def _body(
        self,
        entry: Entry,
        part: str,
        response: aiohttp.ClientResponse,
        block: Block,
        offset: int,
        total: int | None,
        received: Received,
    ) -> int:
        """The body read into `block` (a small one, whole) or streamed to the .part file."""
        watch = StallWatch(self._options.stall_speed, self._options.stall_time)
        chunks = throttled(response.content.iter_chunks(), received.limits, watch)
        if offset == 0 and total is not None and total <= block.limit:
            # A small body that comes within FLUSH_SECONDS is written whole: one thread hop
            # or none, where a .part costs a journal commit and three. One still arriving
            # then goes to its .part like any other, so what came is kept for a resume.
            try:
                whole = await _gather(chunks, block, watch, received)
            except BaseException:  # a cut, a timeout, Ctrl-C: keep what came
                await self._keep(entry, part, block, total, received.check.observe)
                raise
            if whole and block.size == total:
                return await self._write_small(entry, part, block, received.check)
        return await self._to_part(entry, part, chunks, block, offset, total, watch, received)

    async def _to_part(
        self,
        entry: Entry,
        part: str,
        chunks,
        block: Block,
        offset: int,
        total: int | None,
        watch: StallWatch,
        received: Received,
    ) -> int:
        """Stream to the .part file, starting with what `block` gathered; check, rename."""
        file = await self._open_part(entry, part, offset, received.check.observe)
        got, last_write = block.size, time.monotonic()
        try:
            if block.size:  # a small body that was slow to come: what came so far first
                await self._write_blocks(file, block, entry.url, offset + got, total, final=True)
            # Pieces come as the socket gave them (64-256 KiB): iter_chunks hands each over
            # as is, where iter_any and iter_chunked join what is buffered into a copy (a
            # second pass over every byte). One thread hop writes a whole block of them.
            async for piece, _ in chunks:
                received.bytes += len(piece)
                got += len(piece)
                now = time.monotonic()
                watch.check(got, now)
                full = block.add(piece)
                # A slow transfer still reaches the disk every FLUSH_SECONDS: what is on
                # disk is what a rerun after kill -9 does not fetch again.
                overdue = now - last_write >= FLUSH_SECONDS
                # Past the batch's buffer budget, what this one holds goes first (buffers.py).
                over = self.budget.full()
                if full or overdue or over:
                    await self._write_blocks(
                        file, block, entry.url, offset + got, total, final=overdue or over
                    )
                    last_write = now
                    await self.budget.room()
        finally:
            # Whatever arrived before a cut connection or a Ctrl-C still goes to disk: the
            # next attempt resumes from the size of the .part file.
            try:
                await self._write_blocks(file, block, entry.url, offset + got, total, final=True)
            finally:
                await file.close()
        check_length(offset + got, total)
        await self.finish(entry, part, received.check)
        return offset + got

    async def _open_part(self, entry: Entry, part: str, offset: int, observe: Observe | None):
        # Make the validators durable before bytes land in the .part file: after a kill -9
        # they are what lets the rerun resume instead of starting over.
        self._journal.update(entry, state=Status.ACTIVE)
        self._journal.flush()
        try:
            return await writes.open_part(part, append=offset > 0, observe=observe)
        except OSError as exc:
            raise from_os_error(exc) from exc

    async def _keep(self, entry: Entry, part: str, block: Block, total: int, observe) -> None:
        """What came of a small body before it failed goes to its .part, to resume from."""
        if block.size:
            file = await self._open_part(entry, part, 0, observe)
            try:
                await self._write_blocks(file, block, entry.url, block.size, total, final=True)
            finally:
                await file.close()

    async def _write_blocks(
        self, file, block: Block, url: str, done: int, total, *, final: bool = False
    ) -> None:
        """Write every whole block gathered so far; with `final`, the rest too."""
        while block.size >= block.limit or (final and block.size):
            pieces, size = block.take()
            try:
                await writes.write(file, pieces)
            finally:
                block.written(size)
            self._emit(FileProgress(url, size, done - block.size, total))

    async def _write_small(self, entry: Entry, part: str, block: Block, check: FileCheck) -> int:
        """A small body that came whole: check, write, close and rename it in one go (per small
        file, a thread hop costs most), in the loop's thread unless there is much to hash."""
        pieces, size = block.take()
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        final = self.final_path(entry)
        verify = check.verify_body if check.observe else None
        try:
            if self._small_writes.inline and (not verify or size <= INLINE_HASH_BYTES):
                self._small_writes.run(write_whole, part, final, body, verify)
            else:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, write_whole, part, final, body, verify)
        except OSError as exc:
            raise from_os_error(exc) from exc
        finally:
            block.written(size)
        self._emit(FileProgress(entry.url, size, size, size))
        return size

    async def finish(self, entry: Entry, part: str, check: FileCheck) -> None:
        check.verify()  # before the rename: a final name never holds bad bytes
        try:
            os.replace(part, self.final_path(entry))
        except OSError as exc:
            raise from_os_error(exc) from exc


class RestartFromZero(Exception):
    """The server's answer to our Range request cannot be appended to the `.part` file."""


async def _gather(chunks, block: Block, watch: StallWatch, received: Received) -> bool:
    """Read a small body into `block`: True once it has all come, False when it is still
    arriving after FLUSH_SECONDS (checked as pieces arrive, as in `_to_part`)."""
    since = time.monotonic()
    async for piece, _ in chunks:
        received.bytes += len(piece)
        block.add(piece)
        now = time.monotonic()
        watch.check(block.size, now)
        if now - since >= FLUSH_SECONDS:
            return False
    return True
