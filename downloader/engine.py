"""Scheduling: a bounded pool of coroutines, fed lazily from the input, one per URL.

At most `2 × jobs` coroutines exist at a time (a semaphore lets `jobs` of them transfer);
completions are collected with `asyncio.wait(FIRST_COMPLETED)` and new URLs are pulled from
the input only as slots free up, so memory does not grow with the length of the list.
Files the journal says are done are answered without a coroutine or a request.

The engine emits events and yields Results; it never prints and knows no renderer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace

from .errors import ConnectError, DiskError, DownloadError, HostDownError, with_attempts
from .events import Event, FileFinished, FileRetrying, Notice
from .existing import Existing
from .hashing import FileCheck
from .hosts import Hosts, Sleep, Visit, host_of
from .inflight import InFlight
from .inputs import ListEntry
from .itempath import item_name
from .journal import Entry, Journal, Status
from .mirrors import Source, Tried
from .options import Options
from .ratelimit import Limits
from .request import RequestPolicy
from .results import Result, State
from .retry import retry_delay
from .segmented import SplitFetch
from .transfer import Received, Transfer

HOST_BACKOFF_STATUSES = frozenset({429, 503})


class Engine:
    def __init__(
        self,
        transfer: Transfer,
        journal: Journal,
        options: Options,
        emit: Callable[[Event], None],
        *,
        policy: RequestPolicy,
        limits: Limits,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._transfer = transfer
        self._policy = policy  # the batch's; an item's own options derive theirs from it
        self._journal = journal
        self._options = options
        self._emit = emit
        self._sleep, self._rand = sleep, rand  # the seams of backoff: its waits and jitter
        self._hosts = Hosts(options.per_host, asyncio.Semaphore(options.jobs), sleep)
        self._existing = Existing(transfer, journal, options, policy)
        self._limits = limits  # --limit-rate, and each item's max-download-limit=
        self._split = SplitFetch(transfer, journal, options, emit)  # Transfer's, or split
        self._disk_full: str | None = None
        self._in_flight: dict[str, asyncio.Future[Result]] = {}

    async def run(self, entries: AsyncIterator[ListEntry]) -> AsyncGenerator[Result, None]:
        running = InFlight()
        window, count = self._window(), 0
        try:
            async for item in entries:
                count += 1
                if item.url in self._in_flight:
                    running.add(asyncio.create_task(self._same_as(item)))
                    continue
                result = self._answer_at_once(item)
                if isinstance(result, Entry):
                    running.add(self._start(item, result))
                else:
                    yield self._report(result)
                    if count % 256 == 0:
                        # A long run of files answered at once (a rerun skipping thousands)
                        # must still let transfers, timers and Ctrl-C have the loop.
                        await asyncio.sleep(0)
                while len(running) >= window:
                    for ended in await running.ended():
                        yield ended.result()
            while len(running):
                for ended in await running.ended():
                    yield ended.result()
        finally:
            await running.cancel()
            self._journal.flush()
            if self._journal.write_error:
                self._emit(Notice(f"{self._journal.write_error}: a rerun re-checks every file"))

    def _window(self) -> int:
        """Files running or waiting for a slot at once: the next one is ready when one ends."""
        return 2 * self._options.jobs

    def _start(self, item: ListEntry, entry: Entry) -> asyncio.Future[Result]:
        task = asyncio.create_task(self._download(item, entry))
        self._in_flight[item.url] = task
        task.add_done_callback(lambda _: self._in_flight.pop(item.url, None))
        return task

    async def _same_as(self, item: ListEntry) -> Result:
        """A URL listed again while its first copy downloads: one transfer, two Results
        (two transfers would write the same `.part` file)."""
        first = await asyncio.shield(self._in_flight[item.url])
        return self._report(replace(first, line_no=item.line_no))

    def _report(self, result: Result) -> Result:
        self._emit(FileFinished(result))
        return result

    def _answer_at_once(self, item: ListEntry) -> Result | Entry:
        """Results that need no request (bad lines, files already there, a full disk), or
        the journal entry of a file to download."""
        if item.error is not None:
            return Result(item.url, State.FAILED, error=item.error, line_no=item.line_no)
        if self._disk_full is not None:
            return self._not_started(item)
        try:
            entry = self._journal.claim(item.url, item_name(item.url, item.item))
            return self._existing.answer(item, entry)
        except (OSError, ValueError, DownloadError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            return Result(item.url, State.FAILED, error=why, line_no=item.line_no)

    async def _download(self, item: ListEntry, entry: Entry) -> Result:
        """The file from its URL, then from each mirror while the failure is one another URL
        may not meet (mirrors.py); reported as it ends (not when `run` collects it: that may
        wait for the next line of a list arriving on a slow pipe)."""
        answer = await self._existing.confirm(item, entry, self._hosts)  # a lost journal's?
        if isinstance(answer, Result):
            return self._report(answer)
        own, entry = item.item, answer
        received = Received(FileCheck.of(item, self._transfer.checksums), self._limits.of(own))
        rehash = entry.state is Status.DONE and self._options.check_integrity  # on a rerun
        if rehash and await received.check.recheck(
            self._transfer.final_path(entry), entry, self._emit
        ):
            verified = received.check.verified
            return self._report(self._existing.skipped(item, entry, "", entry.size, verified))
        tried = Tried((item.url,) if own is None else own.urls)
        policy, named = self._policy.for_item(own), own is not None and bool(own.name)
        for url in tried.urls:
            visit = self._hosts.visit(host_of(url))
            try:
                source = Source(url, policy, named, own.split if own is not None else None)
                outcome = await self._attempts(item, entry, visit, source, received)
            finally:
                visit.leave()
            if isinstance(outcome, Result):
                return self._report(tried.counted_in(outcome))
            error, entry = outcome
            if not tried.failed(url, error, visit.tried):
                return self._report(self._failed(item, entry, error, tried, received.bytes))
            self._emit(FileRetrying(item.url, tried.attempts, 0.0, tried.why_next()))
        raise AssertionError("unreachable: the last URL's failure returns")

    async def _attempts(
        self, item: ListEntry, entry: Entry, visit: Visit, source: Source, received: Received
    ) -> Result | tuple[DownloadError, Entry]:
        """The attempts at one URL: its Result, or the error that ended them."""
        attempts = entry.attempts  # of every run, for the journal
        for attempt in range(1, self._options.retries + 2):
            try:
                async with visit:
                    if self._disk_full is not None:  # queued before the disk filled up
                        return self._not_started(item)
                    attempts += 1
                    outcome = await self._split.fetch(entry, received, source, visit)
            except DownloadError as error:
                entry = (self._journal.get(item.url) or entry)._replace(attempts=attempts)
                if not self._should_retry(error, visit):
                    return error, entry
                delay = retry_delay(attempt, error.retry_after, rand=self._rand)
                if error.status in HOST_BACKOFF_STATUSES:
                    self._hosts.back_off(visit.host, delay)
                self._emit(FileRetrying(item.url, attempt, delay, str(error)))
                await self._sleep(delay)
                continue
            except BaseException:  # cancelled, or the caller's event handler raised
                self._keep_partial(item, entry, attempts)
                raise
            visit.answered()
            self._journal.update(
                outcome.entry,
                state=Status.DONE,
                size=outcome.size,
                total=outcome.size,
                error=None,
                attempts=attempts,
            )
            return Result(
                item.url,
                State.DONE,
                path=outcome.path,
                status=outcome.status,
                bytes=outcome.size,
                received=received.bytes,
                attempts=attempt,
                line_no=item.line_no,
                source=source.url,
                checksum=received.check.verified,
            )
        raise AssertionError("unreachable: the last attempt returns")

    def _not_started(self, item: ListEntry) -> Result:
        why = f"not started: {self._disk_full}"
        return Result(item.url, State.FAILED, error=why, line_no=item.line_no)

    def _should_retry(self, error: DownloadError, visit: Visit) -> bool:
        if isinstance(error, DiskError) and error.disk_full and self._disk_full is None:
            self._disk_full = str(error)
            self._emit(Notice(f"{error}: no new files will be started"))
        retry = error.retryable and visit.tried <= self._options.retries
        if isinstance(error, ConnectError):
            reason = with_attempts(error, visit.tried)
            if visit.failed_to_connect(reason, final=not retry):
                self._emit(Notice(f"giving up on {visit.host}, it did not answer: {reason}"))
        elif not isinstance(error, HostDownError):
            visit.answered()  # connected: whatever went wrong, the host is there
        return retry

    def _failed(self, item, entry: Entry, error: DownloadError, tried: Tried, received: int):
        reason = tried.message()
        size = self._transfer.kept_bytes(entry)
        self._journal.update(entry, state=Status.FAILED, error=reason, size=size)
        return Result(
            item.url,
            State.FAILED,
            status=error.status,  # an HTTP status, or None
            error=reason,
            bytes=size,
            received=received,
            attempts=tried.attempts,
            line_no=item.line_no,
        )

    def _keep_partial(self, item: ListEntry, entry: Entry, attempts: int) -> None:
        entry = (self._journal.get(item.url) or entry)._replace(attempts=attempts)
        self._journal.update(entry, state=Status.PENDING, size=self._transfer.kept_bytes(entry))
