"""The connections of one split file's attempt: each fetches segments (segments.py) and
writes them at their offsets in the one `.part` file, in a worker thread (os.pwritev; there
is no joining pass at the end); their progress goes to the journal as it reaches the disk.

- The first connection goes on with the answer that allowed splitting, and holds the
  engine's job and host slots; the others ask for their ranges with If-Range and hold a host
  slot each (`Visit.another_connection`): `-j` counts files, `--per-host` connections.
- Ranges are asked where the first request's redirects ended (`_get`), as aria2c does.
- A connection whose range is done takes another (`Plan.take`: a free one, else the back
  half of the largest still to come); one that fails in a way worth retrying drops out, and
  the others take its range; the attempt fails (the engine retries, resuming every segment)
  when none is left. An answer that cannot be spliced raises RestartFromZero.
- Durable progress: a segment's bytes-done grows after its bytes are written, is saved with
  the file's other segments, and committed at least every SEGMENT_COMMIT_SECONDS (and by
  the journal's own timer); the rows are committed before the first byte is written, so a
  rerun after kill -9 never takes a `.part` with holes for a contiguous one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from functools import partial

import aiohttp
from yarl import URL

from . import resume
from .errors import DownloadError, HTTPStatusError, IncompleteBodyError, from_exception
from .events import Event, FileProgress
from .hosts import Visit
from .journal import Entry, Journal, Status
from .mirrors import Source
from .naming import PART_SUFFIX
from .options import Options
from .ratelimit import throttled
from .resume import Validators
from .retry import parse_retry_after
from .segments import Plan, Segment, answer_problem, range_asked, range_header
from .stall import StallWatch
from .transfer import FLUSH_SECONDS, Outcome, Received, RestartFromZero, Transfer
from .writes import Block, open_no_follow, write_at

SEGMENT_COMMIT_SECONDS = 0.1  # between commits: at 8 x 40 MB/s, 34 MB to fetch again


class Connections:
    """One attempt at a split file: its plan, its `.part` file, its connections."""

    def __init__(
        self,
        transfer: Transfer,
        journal: Journal,
        options: Options,
        emit: Callable[[Event], None],
        *,
        entry: Entry,
        plan: Plan,
        received: Received,
        source: Source,
        visit: Visit,
    ) -> None:
        self._transfer, self._journal = transfer, journal
        self._options, self._emit = options, emit
        self._entry, self._plan, self._received = entry, plan, received
        self._source, self._visit = source, visit
        self._total = plan.segments[-1].end
        self._known = Validators(entry.etag, entry.last_modified)
        self._fd = -1
        self._committed = time.monotonic()
        self._ended_at: URL | None = None  # where the first request's redirects led

    async def run(self, first: Segment, response: aiohttp.ClientResponse, count: int) -> Outcome:
        """Fetch every segment, the first one from `response`; check, rename."""
        entry, started = self._transfer.start(
            self._entry, response, self._plan.written, self._total
        )
        self._ended_at = response.url
        self._entry = entry
        self._known = Validators(entry.etag, entry.last_modified)
        self._journal.update(  # all spelled out: a MemoryJournal keeps only what changes
            entry, state=Status.ACTIVE, etag=entry.etag, last_modified=entry.last_modified,
            total=entry.total,
        )  # fmt: skip
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
        """The first connection (on `response`) and `count` - 1 more, until all is done."""
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
        # Once the plan is finished, connections still waiting for a host slot are not
        # needed: `_all` cancels them.
        while pending and not self._plan.finished:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
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
        asked = range_asked(segment)
        headers = {**self._transfer.requests.identity, "Range": range_header(asked)}
        headers["If-Range"] = if_range
        response = await self._get(headers)
        try:
            _raise_for_status(response)
            problem = answer_problem(
                response.status, response.headers, asked, self._known, self._total
            )
            if problem is not None:
                raise RestartFromZero(problem)
        except BaseException:
            response.close()
            raise
        return response

    async def _get(self, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """Ask where the first request's redirects ended (as aria2c does): no redirects again
        per range, and every range from the one server they chose (mirrors behind one URL
        may serve other versions). An error there (a signed URL that expired, say): follow
        from the listed URL again."""
        requests, url, policy = self._transfer.requests, self._source.url, self._source.policy
        if self._ended_at is not None:
            response = await requests.get(url, headers, policy, redirected_to=self._ended_at)
            if response.status < 400:
                return response
            response.release()
            self._ended_at = None
        return await requests.get(url, headers, policy)

    async def _segment(self, segment: Segment, response: aiohttp.ClientResponse) -> None:
        """Receive `segment` from `response` into the `.part` file, up to its end (which
        moves down when another connection takes the back half)."""
        budget = self._transfer.budget
        with budget.stream():
            block = Block(budget)
            try:
                await self._receive(segment, response, block)
            finally:
                block.drop()
        if segment.to_receive:
            raise IncompleteBodyError(f"range cut short: {segment.received} of {segment.length}")
        if not response.content.at_eof():
            response.close()  # the rest of its body belongs to another segment

    async def _receive(
        self, segment: Segment, response: aiohttp.ClientResponse, block: Block
    ) -> None:
        watch = StallWatch(self._options.stall_speed, self._options.stall_time)
        chunks = throttled(response.content.iter_chunks(), self._received.limits, watch)
        got, last_write = 0, time.monotonic()
        try:
            async for piece, _ in chunks:
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
                full = block.add(piece)
                overdue = now - last_write >= FLUSH_SECONDS
                over = self._transfer.budget.full()  # the batch's buffers (buffers.py)
                if full or overdue or over:
                    await self._write(segment, block, final=overdue or over)
                    last_write = now
                    await self._transfer.budget.room()
        finally:
            # What came before a cut or a cancel still goes to disk, and counts.
            await self._write(segment, block, final=True)

    async def _write(self, segment: Segment, block: Block, *, final: bool) -> None:
        while block.size >= block.limit or (final and block.size):
            pieces, size = block.take()
            offset = segment.start + segment.written
            try:
                await write_at(self._fd, pieces, offset, partial(self._wrote, segment, size))
            finally:
                block.written(size)

    def _wrote(self, segment: Segment, size: int) -> None:
        """`size` more bytes of `segment` are on disk: only now do they count as done."""
        segment.written += size
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
