"""Split downloads, the I/O: up to N connections for one file, each writing its byte range at
its offset in the one `.part` file (os.pwritev in a worker thread; no joining pass at the
end), with each segment's progress in the journal.

What to split, into which ranges, and what an answer means are decided in `segments`. Here:

- A file is fetched by `Transfer` as always when it is not split (`split` 1, and no
  segments in the journal) and when the first answer does not allow splitting (a 200, a small
  file, no validator): that answer is handed to `Transfer.receive`, streamed and hashed.
- Otherwise the first answer feeds the first range, and the other connections ask for theirs
  with If-Range. The first connection holds the engine's job and host slots; the others
  hold a host slot each (`Visit.another_connection`): `-j` counts files, `--per-host`
  connections.
- A connection that fails in a way worth retrying drops out, and the others take its range
  when theirs are done; the attempt fails (and the engine retries, resuming every segment)
  when none is left. An answer that cannot be spliced (a 200, another range, another
  version) restarts the file from zero over one connection, through `Transfer.fetch`.
- Durable progress: a segment's bytes-done is counted after its bytes are written, saved to
  the journal with the file's other segments, and committed at least every
  SEGMENT_COMMIT_SECONDS; the rows are in the journal before the first byte is written, so
  a rerun after kill -9 never takes a `.part` with holes for a contiguous one.
- The file is hashed (when a checksum is expected) in one read once it is complete.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import aiohttp

from . import resume
from .errors import (
    ChecksumError,
    DownloadError,
    HTTPStatusError,
    IncompleteBodyError,
    from_exception,
)
from .events import Event, FileProgress, FileRetrying
from .hosts import Visit
from .journal import Entry, Journal, Status
from .mirrors import Source
from .naming import PART_SUFFIX
from .options import Options
from .resume import Validators
from .retry import parse_retry_after
from .segments import (
    Plan,
    Row,
    Segment,
    answer_problem,
    connections_for,
    opening_problem,
    range_header,
    rows_fit,
    split_total,
)
from .stall import StallWatch
from .transfer import (
    FLUSH_SECONDS,
    Outcome,
    Received,
    RestartFromZero,
    Transfer,
    existing_size,
    part_size,
    unlink,
)
from .writes import Block, open_no_follow, write_at

SEGMENT_COMMIT_SECONDS = 0.2  # at 8 x 40 MB/s, a kill -9 costs ~64 MB fetched again


class SplitFetch:
    """Fetches files over several connections when allowed; one per batch, beside Transfer."""

    def __init__(
        self, transfer: Transfer, journal: Journal, options: Options, emit: Callable[[Event], None]
    ) -> None:
        self._transfer, self._journal = transfer, journal
        self._options, self._emit = options, emit

    async def fetch(
        self, entry: Entry, received: Received, source: Source, visit: Visit
    ) -> Outcome:
        """One attempt at the file, split when it may be: as `Transfer.fetch`, an Outcome
        or a DownloadError for the engine to retry."""
        split = source.split or self._options.split
        if self._options.per_host:  # more connections than the host may have: no use
            split = min(split, self._options.per_host)
        # Segments are saved only with validators: a file without any has none to load.
        rows = self._journal.segments.load(entry.url) if entry.etag or entry.last_modified else []
        if split <= 1 and not rows:
            return await self._transfer.fetch(entry, received, source)
        try:
            return await self._split(entry, received, source, visit, split, rows)
        except RestartFromZero as why:
            reason = f"{why}; fetching it again from zero"
        except ChecksumError as error:
            if not received.check.may_refetch():
                self._forget(self._journal.get(entry.url) or entry)
                raise
            reason = f"{error}; fetching it from zero"
        # The entry as the journal has it now: the server's name may have replaced ours.
        entry = self._forget(self._journal.get(entry.url) or entry)
        self._emit(FileRetrying(entry.url, 1, 0.0, reason))
        return await self._transfer.fetch(entry, received, source)

    def _forget(self, entry: Entry) -> Entry:
        """Drop the file's partial data: its `.part`, its segments and its validators."""
        unlink(self._transfer.part_path(entry))
        self._journal.segments.drop(entry.url)
        return self._journal.update(entry, etag=None, last_modified=None, total=None)

    async def _split(
        self, entry: Entry, received, source: Source, visit: Visit, split: int, rows: list[Row]
    ) -> Outcome:
        known = Validators(entry.etag, entry.last_modified)
        if rows and not rows_fit(rows, entry.total, part_size(self._transfer.part_path(entry))):
            entry, rows, known = self._forget(entry), [], Validators()
        try:
            if rows:  # a rerun: every segment goes on from its bytes on disk
                plan = Plan.resumed(rows)
                first = plan.take()
                assert first is not None and entry.total is not None
                connections = _Connections(self, entry, plan, received, source, visit)
                async with await connections.ranged_get(first) as response:
                    return await connections.run(first, response, min(split, plan.unfinished()))
            offset, headers = self._opening(entry, known)
            async with await self._transfer.requests.get(
                source.url, headers, source.policy
            ) as response:
                status, answer = response.status, response.headers
                if status == 416 and offset == 0:  # `bytes=0-` of an empty file: ask plainly
                    response.release()
                    return await self._transfer.fetch(entry, received, source)
                problem = opening_problem(status, answer, offset)
                if problem is not None:
                    raise RestartFromZero(problem)
                total = split_total(status, answer, offset, known, entry.total)
                parts = connections_for(total, offset, split, self._options.min_split_size)
                if offset == 0 and status < 300:
                    entry = self._transfer.maybe_rename(entry, response, source.named)
                if total is None or parts <= 1:
                    return await self._transfer.receive(
                        entry, response, offset, known, received, source
                    )
                plan = Plan.fresh(total, offset, parts)
                first = plan.take()
                assert first is not None
                connections = _Connections(self, entry, plan, received, source, visit)
                return await connections.run(first, response, parts)
        except (DownloadError, RestartFromZero, asyncio.CancelledError):
            raise
        except Exception as exc:  # the one place library errors are mapped, as in Transfer
            raise from_exception(exc) from exc

    def _opening(self, entry: Entry, known: Validators) -> tuple[int, dict[str, str]]:
        """The first request: the rest of a `.part` a single stream left (If-Range), else
        the whole file as a range, so that the answer says whether ranges are served."""
        identity = self._transfer.requests.identity
        if entry.etag or entry.last_modified:
            offset = existing_size(self._transfer.part_path(entry))
            ranged = resume.request_headers(offset, known)
            if ranged:
                return offset, {**identity, **ranged}
        return 0, {**identity, "Range": "bytes=0-"}


class _Connections:
    """One attempt at a split file: its plan, its `.part` file, its connections."""

    def __init__(self, owner: SplitFetch, entry: Entry, plan: Plan, received, source, visit):
        self._owner, self._entry, self._plan = owner, entry, plan
        self._received, self._source, self._visit = received, source, visit
        self._transfer, self._journal = owner._transfer, owner._journal
        self._options, self._emit = owner._options, owner._emit
        self._total = plan.segments[-1].end
        self._known = Validators(entry.etag, entry.last_modified)
        self._fd = -1
        self._committed = time.monotonic()

    async def run(self, first: Segment, response: aiohttp.ClientResponse, count: int) -> Outcome:
        """Fetch every segment, the first one from `response`; check, rename."""
        entry, started = self._transfer.start(
            self._entry, response, self._plan.written, self._total
        )
        self._entry = entry = self._journal.update(entry, state=Status.ACTIVE)
        self._known = Validators(entry.etag, entry.last_modified)
        # The segments are in the journal before a byte lands at an offset: else a rerun
        # after kill -9 could resume a .part with holes as if it were contiguous.
        self._journal.segments.save(entry.url, self._plan.rows())
        self._journal.flush()
        part = self._transfer.final_path(entry, create=True) + PART_SUFFIX
        loop = asyncio.get_running_loop()
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if not self._plan.written else 0)
        self._fd = await loop.run_in_executor(None, open_no_follow, part, flags)
        try:
            await self._all(first, response, count)
        finally:
            await loop.run_in_executor(None, _close, self._fd, self._total)
        await self._received.check.begin(entry.name, part, self._total, response.headers)
        await self._transfer.finish(entry, part, self._received.check)
        self._journal.segments.drop(entry.url)
        return Outcome(entry, started.path, 206, self._total)

    async def _all(self, first: Segment, response, count: int) -> None:
        tasks = {asyncio.create_task(self._ranges(first, response))}
        tasks |= {asyncio.create_task(self._another()) for _ in range(count - 1)}
        try:
            await self._until_done(tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._save(commit=True)

    async def _until_done(self, pending: set[asyncio.Task[None]]) -> None:
        """Wait for the connections; one that fails in a way worth retrying drops out while
        others go on (they take its range); any other failure ends the attempt."""
        last: DownloadError | None = None
        while pending and not self._plan.finished:  # (those still waiting for a host slot
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:  # are not needed any more once it is)
                error = task.exception()
                if error is None:
                    continue
                if isinstance(error, DownloadError) and error.retryable and pending:
                    last = error
                    continue
                raise error
        if not self._plan.finished:
            raise last or IncompleteBodyError("a segment was left unfinished")

    async def _another(self) -> None:
        async with self._visit.another_connection():
            await self._ranges(None, None)

    async def _ranges(self, segment: Segment | None, response) -> None:
        """One connection: its first segment (from `response`), then whatever `take` gives."""
        if segment is not None:
            await self._fetch(segment, response)
        while (segment := self._plan.take()) is not None:
            await self._fetch(segment, None)

    async def _fetch(self, segment: Segment, response) -> None:
        """One segment, from `response` or from a ranged request of its own. Failing, it
        gives the segment back (after what came of it was written) for another to take."""
        try:
            if response is not None:
                await self._segment(segment, response)
                return
            async with await self.ranged_get(segment) as answer:
                await self._segment(segment, answer)
        except BaseException as exc:
            self._plan.release(segment)
            if isinstance(exc, DownloadError | RestartFromZero) or not isinstance(exc, Exception):
                raise
            raise from_exception(exc) from exc

    async def ranged_get(self, segment: Segment) -> aiohttp.ClientResponse:
        """The rest of `segment`, asked with If-Range; an answer that is not exactly that
        range of this version raises RestartFromZero."""
        if_range = resume.if_range_value(self._known)
        assert if_range is not None  # segments are only made with a validator
        headers = {**self._transfer.requests.identity, "Range": range_header(segment)}
        headers["If-Range"] = if_range
        response = await self._transfer.requests.get(self._source.url, headers, self._source.policy)
        try:
            _raise_for_status(response)
            problem = answer_problem(
                response.status, response.headers, segment, self._known, self._total
            )
            if problem is not None:
                raise RestartFromZero(problem)
        except BaseException:
            response.close()
            raise
        return response

    async def _segment(self, segment: Segment, response: aiohttp.ClientResponse) -> None:
        """Receive `segment` from `response` into the `.part` file, up to its end (which
        moves down when another connection takes the back half)."""
        block = Block(self._options.chunk_size)
        watch = StallWatch(self._options.stall_speed, self._options.stall_time)
        got, last_write = 0, time.monotonic()
        try:
            async for piece, _ in response.content.iter_chunks():
                self._received.bytes += len(piece)
                got += len(piece)
                room = segment.to_receive
                if len(piece) >= room:
                    block.add(piece if len(piece) == room else memoryview(piece)[:room])
                    segment.received += room
                    break
                segment.received += len(piece)
                now = time.monotonic()
                watch.check(got, now)
                overdue = now - last_write >= FLUSH_SECONDS
                if block.add(piece) or overdue:
                    await self._write(segment, block, final=overdue)
                    last_write = now
        finally:
            # What came before a cut or a cancel still goes to disk, and counts.
            await self._write(segment, block, final=True)
        if segment.to_receive:
            raise IncompleteBodyError(f"range cut short: {segment.received} of {segment.length}")
        if not response.content.at_eof():
            response.close()  # the rest of its body belongs to another segment

    async def _write(self, segment: Segment, block: Block, *, final: bool) -> None:
        while block.size >= block.limit or (final and block.size):
            pieces, size = block.take()
            await write_at(self._fd, pieces, segment.start + segment.written)
            segment.written += size  # only now: bytes-done never runs ahead of the disk
            self._emit(FileProgress(self._entry.url, size, self._plan.written, self._total))
            self._save()

    def _save(self, *, commit: bool = False) -> None:
        self._journal.segments.save(self._entry.url, self._plan.rows())
        now = time.monotonic()
        if commit or now - self._committed >= SEGMENT_COMMIT_SECONDS:
            self._journal.flush()
            self._committed = now


def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status >= 400:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=time.time())
        raise HTTPStatusError(response.status, response.reason, retry_after=retry_after)


def _close(fd: int, total: int) -> None:
    """Close the `.part` file; a longer one (left by an earlier version) is cut to size."""
    try:
        if os.fstat(fd).st_size > total:
            os.ftruncate(fd, total)
    finally:
        os.close(fd)
