"""--cluster: files run as Dask tasks, on the workers of a `dask scheduler`.

The coordinator (coordinator.py) is the same as with --procs; only the way its files
travel differs. Each thread of the Dask workers is a lane (lanes.py: its shares of -j and
--per-host) that runs one task at a time: the files handed to a lane while its task runs
go together as its next task, one plain function call (`run_work`). That call runs a
worker's engine (workers.py) in an event loop and session kept by its thread from task to
task, and returns, in order, the journal changes, the events and the Result of each file.
So progress arrives a task at a time, and what one lane learns (a host paused, a full
disk) goes with the next task of each other lane.

- The output folder must be one folder shared by every worker (NFS, a cluster file
  system), at the same path: at the start each worker writes a probe file into it, which
  the coordinator must then see (`probe`); otherwise the batch does not start (exit 2).
- A task whose worker is lost is run again, by Dask itself or, once Dask gives up on it, by
  the coordinator. Either way a file an earlier run of the task finished is not fetched
  again: another file holds its final name than when it was named (workers.py).

`distributed` is imported only here, and only for --cluster (the `adl[dask]` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

from .cookies import FileCookie
from .coordinator import Coordinator
from .errors import OptionsError
from .journal import JOURNAL_DIR
from .messages import Cookies, DiskFull, HostPaused, Message, Setup, Work
from .options import Options
from .session import loop_factory
from .workers import WorkerEngine, open_lane, run_lane

BATCH_SECONDS = 0.05  # a lane's first files wait this long for others to go with them
# Files handed out per lane at most (its task's and the next's): a task costs the scheduler
# tens of milliseconds, so each should carry hundreds of small files, not a few.
PER_LANE = 1000


class _Lane:
    """One lane's files waiting for its next task, and the task running."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.waiting: list[Message] = []
        self.task: asyncio.Task[None] | None = None


class DaskPool:
    runs_twice = True  # Dask runs a lost worker's task again by itself

    def __init__(self, client: Any, workers: int, coordinator: Coordinator) -> None:
        self._client, self.workers = client, workers
        self._coordinator = coordinator
        self._lanes: dict[int, _Lane] = {}
        self._cookies: list[FileCookie] = []

    @classmethod
    async def connect(cls, setup: Setup, coordinator: Coordinator) -> DaskPool:
        options = setup.options
        assert options.cluster is not None
        client = await connect(options.cluster, options.connect_timeout)
        try:
            workers = await probe(client, Path(setup.dest), options.connect_timeout)
            threads = sum((await client.nthreads()).values())  # each runs one task at a time
        except BaseException:
            await client.close()
            raise
        return cls(client, max(workers, threads), coordinator)

    async def start(self, setup: Setup, lanes: dict[int, Options]) -> None:
        self._lanes = {n: _Lane(setup._replace(options=options)) for n, options in lanes.items()}

    def alive(self, lane: int) -> bool:
        return True  # a lane is not a machine: Dask runs its tasks wherever it can

    def window(self, jobs: int) -> int:
        return max(6 * jobs, PER_LANE * len(self._lanes))

    def send(self, lane: int, message: Message) -> None:
        ahead = self._lanes[lane]
        ahead.waiting.append(message)
        if ahead.task is None and type(message) is Work:  # news waits for the next files
            ahead.task = asyncio.create_task(self._run(lane, ahead))

    async def _run(self, lane: int, ahead: _Lane) -> None:
        """The lane's tasks, one at a time, while files wait for it."""
        try:
            await asyncio.sleep(BATCH_SECONDS)
            while ahead.waiting:
                batch, ahead.waiting = ahead.waiting, []
                await self._submit(lane, ahead.setup, batch)
        finally:
            ahead.task = None

    async def _submit(self, lane: int, setup: Setup, batch: list[Message]) -> None:
        ids = {message.id for message in batch if type(message) is Work}
        try:
            said = await self._client.submit(run_work, setup, batch, pure=False)
        except Exception:  # lost too often (KilledWorker), or the link: hand them out again
            self._coordinator.lost(lane, ids)
            return
        for message in said:
            if type(message) is Cookies:
                self._cookies.extend(message.cookies)
            else:
                self._coordinator.take(lane, message)

    async def close(self) -> list[FileCookie]:
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # best effort: workers may be gone
            dest = next(iter(self._lanes.values())).setup.dest
            await self._client.run(close_lanes, dest, on_error="ignore")
        await self._client.close()
        return self._cookies


async def connect(cluster: object, timeout: float) -> Any:
    """A client of the cluster on this event loop: to its address, or to the scheduler of
    the caller's Client (which may run on a loop of its own)."""
    try:
        import distributed
    except ImportError:
        raise OptionsError("--cluster needs Dask's distributed: pip install 'adl[dask]'") from None
    address = cluster if isinstance(cluster, str) else cluster.scheduler.address  # type: ignore[attr-defined]
    try:
        return await distributed.Client(
            address, asynchronous=True, timeout=timeout, set_as_default=False
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise OptionsError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


async def probe(client: Any, dest: Path, timeout: float) -> int:
    """Check that every worker writes into this very folder; the number of workers. An
    OptionsError names the workers that do not."""
    try:
        await client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise OptionsError(f"no Dask worker joined the scheduler within {timeout:g} s") from None
    token = secrets.token_hex(8)
    written = await client.run(write_probe, str(dest), token, on_error="return")
    problems = []
    for worker, name in written.items():
        if isinstance(name, BaseException):
            problems.append(f"worker {worker} cannot write there ({name})")
            continue
        seen = dest / JOURNAL_DIR / name
        try:
            ours = seen.read_text() == token
            seen.unlink()
        except OSError:
            ours = False
        if not ours:
            problems.append(f"worker {worker} wrote {name} into a folder of its own")
    if problems:
        raise OptionsError(
            f"the output folder {dest} must be one folder shared by every Dask worker, at the "
            f"same path (NFS, a cluster file system): " + "; ".join(problems)
        )
    return len(written)


def write_probe(dest: str, token: str) -> str:
    """On a worker: write the probe file into DEST/.adl; its name."""
    name = f"probe-{token}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    with open(os.path.join(dest, JOURNAL_DIR, name), "x") as file:
        file.write(token)
    return name


def run_work(setup: Setup, batch: list[Message]) -> list[Message]:
    """On a worker, as a Dask task: run the batch's files; what they did, in order."""
    key = (threading.get_ident(), setup.options, setup.dest)
    lane = _engines.get(key)
    if lane is None:
        lane = _engines[key] = _LaneEngine(setup)
    return lane.run(batch)


def close_lanes(dest: str) -> None:
    """On a worker, at the end of a batch: close its engines (their sessions, connections),
    in a thread of their own (Dask runs this in its own event loop's thread)."""
    for key, lane in list(_engines.items()):
        if key[2] == dest:
            closing = threading.Thread(target=lane.close)
            closing.start()
            closing.join()
            _engines.pop(key, None)


# By worker thread and lane: a thread runs one task at a time.
_engines: dict[tuple[int, Options, str], _LaneEngine] = {}


class _LaneEngine:
    """A worker thread's event loop, session and engine for one lane's tasks, kept from
    task to task: made afresh for each task of a few files, they would cost more than
    the files."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._lock = threading.Lock()  # a task, or `close` from another thread
        self._said: list[Message] = []
        self._loop = asyncio.Runner(loop_factory=loop_factory())
        self._opened = open_lane(setup, self._said_append, _nothing)
        self._engine: WorkerEngine = self._loop.run(self._opened.__aenter__())

    def _said_append(self, message: Message) -> None:
        self._said.append(message)

    def run(self, batch: list[Message]) -> list[Message]:
        with self._lock:
            self._said = []
            self._loop.run(self._run(batch))
            return self._said

    async def _run(self, batch: list[Message]) -> None:
        inbox: asyncio.Queue = asyncio.Queue()
        for message in batch:
            if type(message) is Work:
                inbox.put_nowait(self._engine.take(message))
            elif isinstance(message, HostPaused | DiskFull):
                self._engine.heard(message)
        inbox.put_nowait(None)
        await run_lane(self._engine, inbox)
        if self.setup.options.save_cookies is not None:
            self._said.append(Cookies(self._engine.cookies()))

    def close(self) -> None:
        with self._lock:
            self._loop.run(self._opened.__aexit__(None, None, None))
            self._loop.close()


def _nothing() -> None:
    pass  # a task's messages all go back with its result
