"""The coordinator of --procs and --cluster: one list, one journal, engines in lanes.

The coordinator reads the list lazily, names and claims each file in the journal (the one
writer), and hands it — its list line and journal entry, the resume state — to a lane
(`Work`, messages.py). Each lane runs an engine of its own: attempts, retries and backoff,
mirrors, its share of -j and --per-host (lanes.py). A worker's engine (workers.py) sends
back the journal changes its transfers make, the events, and each file's Result, which
the coordinator records, emits and yields. So the files and names are those a single
process makes, a rerun resumes whatever the number of processes, and `adl status` reads
one journal. A host paused by a 429 and a full disk are passed on to every lane.

With --procs the coordinator is a lane too (lane 0, a smaller share: lanes.OWN_WEIGHT),
running its files with this engine's own code, beside P - 1 worker processes
(procpool.py). With --cluster every lane is a Dask worker thread (cluster.py). The files
of a lane that is lost go to the others (`lost`), resuming from their `.part` with the
validators the lost worker had sent; a file it had finished is not fetched again
(`workers.finished_before`). With no worker left, this process runs the rest itself.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, cast

from .cookies import FileCookie
from .engine import Engine
from .errors import DownloadError
from .events import FileFinished, FileProgress, FileStarted
from .hosts import Visit, host_of
from .inputs import ListEntry
from .items import Item
from .journal import Entry, Status
from .lanes import OWN_WEIGHT, lane_count, lane_options, lanes_for_host
from .messages import (
    DiskFull,
    Done,
    Flush,
    HostPaused,
    Message,
    Progressed,
    Relayed,
    Renamed,
    SegmentRows,
    Setup,
    Started,
    Update,
    Work,
    event_from_wire,
    result_from_wire,
)
from .options import OnExists, Options
from .relay import RelayedHosts
from .results import Result, State
from .segments import Row
from .workers import finished_before
from .writes import identity, unlink

LOST_AT_MOST = 3  # a file whose worker is lost this often fails (no endless loop)


class Pool(Protocol):
    """Lanes that run Work: worker processes, or Dask tasks one at a time per lane."""

    runs_twice: bool  # Work may run again without the coordinator knowing (Dask)

    async def start(self, setup: Setup, lanes: dict[int, Options]) -> None:
        """Start a worker for each of `lanes` (by lane number), told its options."""
        ...

    def send(self, lane: int, message: Message) -> None:
        """Give the lane `message` (Work, or news from another lane)."""
        ...

    def alive(self, lane: int) -> bool: ...

    def window(self, jobs: int) -> int:
        """How many files may be handed out and not yet answered, over all lanes."""
        ...

    async def close(self) -> list[FileCookie]:
        """Stop the workers; the cookies they had (for --save-cookies)."""
        ...


@dataclass(eq=False, slots=True)
class _Out:
    """A file handed to a lane, not yet answered."""

    work: Work
    lane: int
    result: asyncio.Future[Result]
    lost: int = 0  # lanes lost while it ran


class Coordinator(Engine):
    """The engine of --procs and --cluster (see the module's doc): `_start` hands a file
    to a lane, and what lanes report comes to `take` and `lost`."""

    pool: Pool
    _hosts: RelayedHosts
    progress = True  # workers send each file's FileStarted and FileProgress events
    _lanes: list[Options]  # each lane's options: its shares (lanes.py)
    _load: list[int]  # files handed to each lane and not answered
    _out: dict[int, _Out]  # by Work id

    async def start(self, setup: Setup) -> None:
        """Start the lanes: with --procs this process's own (lane 0) and worker processes,
        with --cluster a lane per Dask worker."""
        self._ids = itertools.count()
        self._out = {}
        self._paths: dict[str, tuple[str, Path]] = {}  # url -> its FileStarted's path
        self._loop = asyncio.get_running_loop()  # (each call of it is a getpid() in 3.11)
        options = self._options
        if options.cluster is not None:
            from .cluster import DaskPool

            cluster = await DaskPool.connect(setup, self)
            pool: Pool = cluster
            self._own: int | None = None  # the coordinator of a cluster only coordinates
            self._lanes = lane_options(options, lane_count(options, cluster.workers))
        else:
            from .procpool import ProcessPool

            pool = ProcessPool(self, self._emit)
            self._own = 0
            self._lanes = lane_options(options, lane_count(options, options.procs), OWN_WEIGHT)
        own = self._lanes[0]  # (with a cluster, the lane of files run here when none is left)
        slots = asyncio.Semaphore(own.jobs)
        tell = lambda news: self._tell_others(self._own, news)  # noqa: E731
        self._hosts = RelayedHosts(own.per_host, slots, self._sleep, send=tell)
        self._load = [0] * len(self._lanes)
        self._jobs = [lane.jobs for lane in self._lanes]
        self.pool = pool
        remote = {n: lane for n, lane in enumerate(self._lanes) if n != self._own}
        await pool.start(setup, remote)
        self._live = [n for n in range(len(self._lanes)) if self._alive(n)]

    def _window(self) -> int:
        return self.pool.window(self._options.jobs)

    def _start(self, item: ListEntry, entry: Entry) -> asyncio.Future[Result]:
        future: asyncio.Future[Result] = self._loop.create_future()
        self._in_flight[item.url] = future
        future.add_done_callback(lambda _: self._in_flight.pop(item.url, None))
        rows = self._segment_rows(entry)
        final_was = self._existing.at_final_name  # what `answer` found there just now
        work = Work(next(self._ids), item, entry, rows, final_was, self.pool.runs_twice)
        self._hand(work, future)
        return future

    def _segment_rows(self, entry: Entry) -> list[Row]:
        """A split file's rows, to go with its Work (saved only with validators)."""
        if entry.etag or entry.last_modified:
            return self._journal.segments.load(entry.url)
        return []

    def _alive(self, lane: int) -> bool:
        return lane == self._own or self.pool.alive(lane)

    def _hand(self, work: Work, future: asyncio.Future[Result], lost: int = 0) -> None:
        """To the least loaded lane that may take the file's host (any, when those are
        lost); here when no lane is left."""
        live = self._live
        if self._options.per_host and self._options.per_host < len(self._lanes):
            lanes = lanes_for_host(host_of(work.item.url), self._options.per_host, len(self._lanes))
            live = [n for n in lanes if n in self._live] or self._live
        if not live:
            self._run_here(work, future)
            return
        load, jobs = self._load, self._jobs
        lane = min(live, key=lambda n: load[n] / jobs[n])
        self._load[lane] += 1
        if lane == self._own:
            self._run_here(work, future, lane)
            return
        self._out[work.id] = _Out(work, lane, future, lost)
        self.pool.send(lane, work)

    def _run_here(self, work: Work, future: asyncio.Future[Result], lane: int = -1) -> None:
        """This process runs the file, as with one process: in its own lane, or when no
        lane is left."""

        async def run() -> Result:
            if work.rerun and (done := finished_before(self._transfer, self._journal, work)):
                return self._report(done)
            return await self._download(work.item, work.entry)

        def ended(task: asyncio.Task[Result]) -> None:
            if lane >= 0:
                self._load[lane] -= 1
            _settle(future, task)

        task = asyncio.create_task(run())
        task.add_done_callback(ended)
        future.add_done_callback(lambda _: task.cancel())

    def _should_retry(self, error: DownloadError, visit: Visit) -> bool:
        full = self._disk_full
        retry = super()._should_retry(error, visit)
        if full is None and self._disk_full is not None:  # found here: the workers hear
            self._tell_others(self._own, DiskFull(self._disk_full))
        return retry

    def take(self, lane: int, message: Message) -> None:
        """What a lane reports, in order; the caller's event handler failing ends the batch."""
        try:
            self._take(lane, message)
        except BaseException as exc:
            self._fail_all(exc)

    def _take(self, lane: int, message: Message) -> None:
        if type(message) is tuple:  # the events of every file (messages.py)
            wire = cast("Started | Progressed", message)
            event = event_from_wire(wire)
            if type(event) is FileStarted:  # its path is its Result's, made once per file
                self._paths[event.url] = cast(str, wire[2]), event.path
            self._emit(event)
        elif type(message) is Update:
            self._journal.record(message.entry)
        elif type(message) is Done:
            self._answered(message)
        elif isinstance(message, Flush):
            self._journal.flush()
        elif isinstance(message, SegmentRows):
            self._journal.segments.save(message.url, message.rows)
        elif isinstance(message, Relayed):
            self._emit(message.event)
        elif isinstance(message, Renamed):
            self._rename(message)
        elif isinstance(message, HostPaused | DiskFull):
            self._tell_others(lane, message)

    def _answered(self, done: Done) -> None:
        if done.entry is not None:
            self._journal.record(done.entry)  # (a Dask task run twice: the same, twice)
        out = self._out.pop(done.id, None)
        if out is None:
            return  # a second answer (a Dask task run twice)
        self._load[out.lane] -= 1
        started = self._paths.pop(out.work.item.url, None)
        if not out.result.done():  # (cancelled: the batch is stopping; the journal heard)
            result = result_from_wire(done.result, started)
            if not self.progress and result.received:  # one, for a summary of the bytes
                self._emit(FileProgress(result.url, result.received, result.bytes, result.bytes))
            self._emit(FileFinished(result))
            out.result.set_result(result)

    def _rename(self, renamed: Renamed) -> None:
        """--content-disposition: the server's name, made free here (names are ours); the
        file is handed out again under it."""
        out = self._out.pop(renamed.id, None)
        if out is None:
            return  # a second answer (a Dask task run twice)
        self._load[out.lane] -= 1
        work = out.work
        entry = self._journal.get(work.item.url) or work.entry
        overwrite = self._options.on_exists is OnExists.OVERWRITE
        taken = self._transfer.name_taken
        entry = self._journal.rename(
            entry, renamed.suggested, taken=lambda n: not overwrite and taken(n)
        )
        unlink(self._transfer.part_path(work.entry))
        # Its name is settled now, as if the list had given it (out=): not the server's again.
        own = work.item.item or Item(url=work.item.url)
        item = replace(work.item, item=replace(own, name=entry.name))
        final_was = identity(self._transfer.final_path(entry))
        again = work._replace(id=next(self._ids), item=item, entry=entry, rows=[])
        self._hand(again._replace(final_was=final_was), out.result, out.lost)

    def _tell_others(self, lane: int | None, news: HostPaused | DiskFull) -> None:
        """What `lane` learnt, for every other lane (this process's own included)."""
        if lane != self._own:
            if isinstance(news, HostPaused):
                self._hosts.heard(news)
            elif self._disk_full is None:
                self._disk_full = news.why  # no file is handed out or started here
        for other in range(len(self._lanes)):
            if other not in (lane, self._own) and self.pool.alive(other):
                self.pool.send(other, news)

    def lost(self, lane: int, ids: set[int] | None = None) -> int:
        """The lane's worker is gone (or, with `ids`, the task that ran those files): its
        files go to the others; how many."""
        mine = (o for o in self._out.values() if o.lane == lane)
        gone = [o for o in mine if ids is None or o.work.id in ids]
        self._live = [n for n in range(len(self._lanes)) if self._alive(n)]
        if self._own is not None and self._live == [self._own]:
            self._alone()
        for out in gone:
            del self._out[out.work.id]
            self._load[lane] -= 1
            if out.result.done():
                continue
            if out.lost + 1 >= LOST_AT_MOST:
                why = f"{out.lost + 1} workers lost while fetching it"
                out.result.set_result(self._lost_too_often(out.work, why))
                continue
            entry = self._journal.get(out.work.item.url) or out.work.entry  # as the lost left it
            rows = self._segment_rows(entry)
            work = out.work._replace(id=next(self._ids), entry=entry, rows=rows, rerun=True)
            self._hand(work, out.result, out.lost + 1)
        return len(gone)

    def _alone(self) -> None:
        """No worker is left: this process's own lane takes all of -j and --per-host."""
        assert self._own is not None
        own, options = self._lanes[self._own], self._options
        for _ in range(options.jobs - own.jobs):
            self._hosts.slots.release()
        self._hosts.widen(options.per_host)
        self._lanes[self._own] = replace(own, jobs=options.jobs, per_host=options.per_host)
        self._jobs[self._own] = options.jobs

    def _lost_too_often(self, work: Work, why: str) -> Result:
        entry = self._journal.get(work.item.url) or work.entry
        size = self._transfer.kept_bytes(entry)
        self._journal.update(entry, state=Status.FAILED, error=why, size=size)
        item = work.item
        return self._report(
            Result(item.url, State.FAILED, error=why, bytes=size, line_no=item.line_no)
        )

    def _fail_all(self, exc: BaseException) -> None:
        for out in self._out.values():
            if not out.result.done():
                out.result.set_exception(exc)


def _settle(future: asyncio.Future[Result], task: asyncio.Task[Result]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())
