"""The coordinator of --procs and --cluster: one engine, attempts run by workers.

The seam is `Transfer.fetch`, one attempt at one file. Everything around it stays in this
process, as with one process: the list read lazily, naming and the journal (the one
writer), retries and their backoff, mirrors, per-host caps, host health, events and
Results. Only the attempt itself — the request, the body streamed to `.part`, the check
and the rename — runs in a worker (workers.py), which sends back the journal changes and
the events it makes on the way (messages.py). So the files and names are those a single
process makes, a rerun resumes whatever the number of workers, and `-j`, `--per-host` and
a host's backoff hold across all workers: they are the engine's, and the engine is here.

Workers are processes on this machine (procpool.py) or a Dask cluster (cluster.py); an
attempt whose worker is lost is ordered again from another, resuming from its `.part`
with the validators the lost worker had sent. With --procs this process downloads too
(its share of -j), and so does a split download (segmented.py: its connections share
one .part and its segment rows). --limit-rate keeps one process: one byte budget cannot
be shared between processes exactly (a file's own max-download-limit= goes with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol, cast

from aiohttp.abc import AbstractCookieJar

from .cookies import FileCookie, load_into
from .errors import DownloadError, OptionsError
from .events import Event, FileStarted, Notice
from .integrity import Checksums
from .journal import Entry, Journal, Status
from .messages import (
    Finished,
    Message,
    Order,
    Progressed,
    Relayed,
    Setup,
    Started,
    Update,
    error_from_wire,
    event_from_wire,
    identity,
    policy_to_wire,
)
from .mirrors import Source
from .options import OnExists, Options
from .ratelimit import Limits
from .request import Requester, RequestPolicy
from .transfer import Outcome, Received, Transfer
from .writes import unlink

LOST_AT_MOST = 3  # an attempt whose worker is lost this often fails (no endless loop)


class WorkerLost(Exception):
    """The worker running an order ended (or its Dask task failed) before answering."""


class Pool(Protocol):
    runs_twice: bool  # an order may run again without the coordinator knowing (Dask)

    async def fetch(self, order: Order) -> Finished:
        """Run `order` on a worker; WorkerLost when that worker is lost first."""
        ...

    async def close(self) -> list[FileCookie]:
        """Stop the workers; the cookies they had (for --save-cookies)."""
        ...

    def local(self) -> asyncio.Semaphore | None:
        """This process's own share of -j, when it has room for one more attempt."""
        ...


@contextlib.asynccontextmanager
async def transfer_for(
    requester: Requester,
    dest: Path,
    options: Options,
    journal: Journal,
    emit: Callable[[Event], None],
    checksums: Checksums,
    *,
    policy: RequestPolicy,
    jar: AbstractCookieJar,
    limits: Limits,
) -> AsyncIterator[Transfer]:
    """The batch's Transfer: this process's own, or one whose attempts run in workers
    (started here, stopped when the batch ends; their cookies join `jar`)."""
    if not pooled(options):
        if options.procs > 1:
            emit(Notice("--limit-rate: one process downloads (one byte budget is exact)"))
        yield Transfer(requester, dest, options, journal, emit, checksums)
        return
    transfer = DispatchedTransfer(requester, dest, options, journal, emit, checksums)
    transfer.policy = policy
    setup = Setup(dataclasses.replace(options, procs=1, cluster=None), str(dest))
    transfer.pool = await _start_pool(options, setup, transfer.apply, emit)
    transfer.limits = limits
    try:
        yield transfer
    finally:
        load_into(jar, await transfer.pool.close(), time.time())


async def _start_pool(
    options: Options, setup: Setup, apply: Callable[[Message], None], emit
) -> Pool:
    if options.cluster is not None:
        from .cluster import DaskPool

        return await DaskPool.start(options.cluster, setup, apply, emit)
    from .procpool import ProcessPool

    return await ProcessPool.start(options.procs, setup, apply, emit)


class DispatchedTransfer(Transfer):
    """A Transfer whose attempts (`fetch`) run in workers; the rest (paths, names, what a
    `.part` keeps) is answered here, in the shared output folder."""

    pool: Pool
    policy: RequestPolicy  # the batch's: an item's own is sent, the batch's is there
    limits: Limits  # the batch's: a file's own budgets (max-download-limit=) are sent

    _ids = itertools.count()
    _paths: dict[str, Path]  # url -> path, from the FileStarted of an order in flight

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._paths = {}

    async def fetch(self, entry: Entry, received: Received, source: Source) -> Outcome:
        if (own := self.pool.local()) is not None:  # this process downloads too (--procs)
            async with own:
                return await super().fetch(entry, received, source)
        named, lost = source.named, 0
        while True:
            order = self._order(entry, received, source, named, rerun=lost > 0)
            try:
                done = await self.pool.fetch(order)
            except WorkerLost as why:
                lost += 1
                # What the lost worker left: its validators reached the journal before its
                # first byte reached the .part; it may even have finished the file.
                entry = self._journal.get(entry.url) or entry
                if (kept := self._finished_meanwhile(order, entry, received)) is not None:
                    return kept
                if (own := self.pool.local()) is not None:
                    async with own:
                        return await super().fetch(entry, received, source)
                if lost >= LOST_AT_MOST:
                    raise DownloadError(f"{lost} workers lost while fetching it ({why})") from None
                continue
            finally:
                started = self._paths.pop(entry.url, None)
            received.bytes += done.received
            received.check.mismatches = done.mismatches
            received.check.verified = done.verified
            if done.rename is not None:
                entry, named = self._take_name(entry, done.rename), True
                continue
            if done.error is not None:
                raise error_from_wire(done.error)
            assert done.outcome is not None
            final, status, size = done.outcome
            return Outcome(final, started or self.dest / final.name, status, size)

    def _order(self, entry: Entry, received: Received, source: Source, named, *, rerun) -> Order:
        return Order(
            next(self._ids),
            entry,
            source.url,
            policy_to_wire(source.policy, self.policy),
            named,
            received.check.expected(entry.name),
            received.check.mismatches,
            tuple(limit.rate for limit in received.limits if limit is not self.limits.shared),
            identity(self.final_path(entry)),
            rerun or self.pool.runs_twice,
        )

    def _finished_meanwhile(self, order: Order, entry: Entry, received: Received):
        """The outcome of a file a lost worker had finished: another file holds its name
        than when it was ordered (workers.py looks the same way)."""
        now = identity(self.final_path(entry))
        if now is None or now == order.final_was:
            return None
        received.check.verified = str(order.expected) if order.expected else None
        return Outcome(entry, self.dest / entry.name, 200, now[2])

    def apply(self, message: Message) -> None:
        """A worker's journal change or event, as this process's transfer would make it."""
        if type(message) is tuple:  # the events of every file (messages.py)
            event = event_from_wire(cast("Started | Progressed", message))
            if type(event) is FileStarted:  # its path is the outcome's: made once per file
                self._paths[event.url] = event.path
            self._emit(event)
        elif isinstance(message, Update):
            e = message.entry  # each field named: a MemoryJournal keeps only those
            self._journal.update(
                e,
                state=e.state,
                size=e.size,
                total=e.total,
                etag=e.etag,
                last_modified=e.last_modified,
            )
            if e.state is Status.ACTIVE:
                self._journal.flush()  # validators durable: a .part is about to get bytes
        elif isinstance(message, Relayed):
            self._emit(message.event)
        elif isinstance(message, Finished) and message.outcome is not None:
            # Done, though nobody waits for it any more (the batch was stopped as it ended):
            # the file is whole under its name, and the journal says so.
            entry, _, size = message.outcome
            self._journal.update(entry, state=Status.DONE, size=size, total=size, error=None)

    def _take_name(self, entry: Entry, suggested: str) -> Entry:
        """--content-disposition: the server's name, made free here (names are ours)."""
        overwrite = self._options.on_exists is OnExists.OVERWRITE
        renamed = self._journal.rename(
            entry, suggested, taken=lambda n: not overwrite and self.name_taken(n)
        )
        unlink(self.part_path(entry))
        return renamed


def engine_options(options: Options) -> Options:
    """The options the coordinator's engine runs with. With worker processes, each caps its
    transfers at its share of -j (procpool.py), and the engine may have twice -j orders out:
    the next file waits in its worker, not a round trip away. Per-host caps still count
    every order, running or queued, so they hold. (A Dask task runs all its orders at once:
    there the engine keeps -j.)"""
    if pooled(options) and options.cluster is None:
        return dataclasses.replace(options, jobs=2 * options.jobs)
    return options


def pooled(options: Options) -> bool:
    """Whether attempts go to workers. Not with --limit-rate on one machine: one budget
    cannot be shared by processes, and a rate-limited batch waits on the network anyway
    (a file's own max-download-limit= goes with its order)."""
    if options.cluster is not None:
        return True
    return options.procs > 1 and options.limit_rate is None


def check_pool_options(options: Options, session: object | None) -> None:
    """Misuse of workers: a session of the caller's cannot be shared with processes, and
    one byte budget cannot be shared over a cluster's machines."""
    if session is not None and (options.procs > 1 or options.cluster is not None):
        raise OptionsError(
            "session cannot be used with procs > 1 or cluster: workers open their own"
        )
    if options.cluster is not None and options.limit_rate is not None:
        raise OptionsError("limit_rate cannot be used with cluster (one budget over many machines)")
