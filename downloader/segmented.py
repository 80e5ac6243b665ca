"""Split downloads: whether an attempt at a file goes over several connections, and what
happens when it cannot. (What to split into which ranges, and what an answer means, is
decided in `segments`; the connections of a split attempt are in `connections`.)

- A file is fetched by `Transfer` as always when it is not to be split (`split` 1 and no
  segments in the journal: the common case costs one test).
- Otherwise the first request asks for a range (`bytes=0-`, or the rest of a `.part` a
  single stream left, with If-Range): when the answer does not allow splitting (a 200 from a
  server without ranges, a small file, no validator) it is handed to `Transfer.receive`,
  streamed and hashed as always; else it feeds the first segment while more connections
  fetch the others. A rerun with segments in the journal goes on with each of them.
- An answer that cannot be spliced (a 200 to a range, another range, another version), and
  a split file whose checksum is wrong, start the file again from zero over one connection
  (`Transfer.fetch`): two versions are never spliced.
- A split file is hashed, when a checksum is expected, in one read once it is complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from . import resume
from .connections import Connections
from .errors import ChecksumError, DownloadError, from_exception
from .events import Event, FileRetrying
from .hosts import Visit
from .journal import Entry, Journal
from .mirrors import Source
from .options import Options
from .resume import Validators
from .segments import Plan, Row, connections_for, opening_problem, rows_fit, split_total
from .transfer import Outcome, Received, RestartFromZero, Transfer
from .writes import existing_size, part_size, unlink


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
            if rows:
                return await self._resume(entry, received, source, visit, split, rows)
            return await self._open(entry, received, source, visit, split, known)
        except (DownloadError, RestartFromZero, asyncio.CancelledError):
            raise
        except Exception as exc:  # the one place library errors are mapped, as in Transfer
            raise from_exception(exc) from exc

    async def _resume(self, entry, received, source, visit, split, rows: list[Row]) -> Outcome:
        """A rerun (or a retry): every segment goes on from its bytes on disk."""
        plan = Plan.resumed(rows)
        first = plan.take()
        assert first is not None
        connections = self._connections(entry, plan, received, source, visit)
        async with await connections.ranged_get(first) as response:
            return await connections.run(first, response, min(split, plan.unfinished()))

    async def _open(self, entry, received, source, visit, split, known: Validators) -> Outcome:
        """The first request, and from its answer: split, or a single stream as always."""
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
            connections = self._connections(entry, plan, received, source, visit)
            return await connections.run(first, response, parts)

    def _connections(self, entry, plan: Plan, received, source, visit) -> Connections:
        return Connections(
            self._transfer,
            self._journal,
            self._options,
            self._emit,
            entry=entry,
            plan=plan,
            received=received,
            source=source,
            visit=visit,
        )

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
