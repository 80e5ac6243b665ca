"""--cluster: attempts run as Dask tasks, on the workers of a `dask scheduler`.

The coordinator (coordinator.py) is the same as with --procs; only the way its orders
travel differs. Orders made within BATCH_SECONDS of each other go together, as one plain
function call (`run_orders`) submitted to the cluster; it runs its own event loop and
session on whichever worker Dask picks and returns, in order, the journal changes, the
events and the outcome of each order. So progress arrives a batch at a time.

- The output folder must be one folder shared by every worker (NFS, a cluster file
  system), at the same path: at the start each worker writes a probe file into it, which
  the coordinator must then see (`probe`); otherwise the batch does not start (exit 2).
- A task whose worker is lost is run again, by Dask itself or, once Dask gives up on it, by
  the coordinator. Either way a file an earlier run of the task finished is not fetched
  again: another file holds its final name than when it was ordered (workers.py).

`distributed` is imported only here, and only for --cluster (the `adl[dask]` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cookies import FileCookie
from .coordinator import WorkerLost
from .errors import OptionsError
from .journal import JOURNAL_DIR
from .messages import Cookies, Finished, Message, Order, Setup
from .session import loop_factory
from .workers import open_runner

BATCH_SECONDS = 0.05  # orders made within this long of each other go as one task


class DaskPool:
    runs_twice = True  # Dask runs a lost worker's task again by itself

    def __init__(self, client: Any, setup: Setup, apply: Callable[[Message], None], size: int):
        self._client, self._setup, self._apply = client, setup, apply
        self._batch_size = size
        self._waiting: list[tuple[Order, asyncio.Future[Finished]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._cookies: list[FileCookie] = []

    @classmethod
    async def start(
        cls, cluster: object, setup: Setup, apply: Callable[[Message], None], emit
    ) -> DaskPool:
        client = await connect(cluster, setup.options.connect_timeout)
        try:
            workers = await probe(client, Path(setup.dest), setup.options.connect_timeout)
        except BaseException:
            await client.close()
            raise
        return cls(client, setup, apply, max(1, setup.options.jobs // workers))

    def local(self) -> None:
        return None  # the coordinator of a cluster only coordinates

    async def fetch(self, order: Order) -> Finished:
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append((order, answer))
        if len(self._waiting) >= self._batch_size:
            self._submit()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_SECONDS, self._submit)
        return await answer  # (a task on the cluster cannot be stopped half-way)

    def _submit(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        task = asyncio.create_task(self._run(batch))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run(self, batch: list[tuple[Order, asyncio.Future[Finished]]]) -> None:
        answers = {order.id: answer for order, answer in batch if not answer.done()}
        if not answers:
            return
        orders = [order for order, _ in batch if order.id in answers]
        try:
            messages = await self._client.submit(run_orders, self._setup, orders, pure=False)
        except Exception as exc:  # the worker was lost too often (KilledWorker), or the link
            for answer in answers.values():
                if not answer.done():
                    answer.set_exception(WorkerLost(f"Dask task failed: {exc}"))
            return
        for message in messages:
            if isinstance(message, Finished):
                answer = answers.pop(message.id)
                if not answer.done():
                    answer.set_result(message)
            elif isinstance(message, Cookies):
                self._cookies.extend(message.cookies)
            else:
                self._apply(message)

    async def close(self) -> list[FileCookie]:
        for task in list(self._batches):
            task.cancel()
        await asyncio.gather(*self._batches, return_exceptions=True)
        with contextlib.suppress(Exception):  # best effort: workers may be gone
            await self._client.run(close_lanes, self._setup.dest, on_error="ignore")
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


def run_orders(setup: Setup, orders: list[Order]) -> list[Message]:
    """On a worker, as a Dask task: run the orders; what they did, in order."""
    thread = threading.get_ident()
    lane = _lanes.get(thread)
    if lane is None or lane.setup != setup:
        if lane is not None:
            lane.close()
        lane = _lanes[thread] = _Lane(setup)
    return lane.run(orders)


def close_lanes(dest: str) -> None:
    """On a worker, at the end of a batch: close its lanes (their sessions, connections),
    in a thread of their own (Dask runs this in its own event loop's thread)."""
    for thread, lane in list(_lanes.items()):
        if lane.setup.dest == dest:
            closing = threading.Thread(target=lane.close)
            closing.start()
            closing.join()
            _lanes.pop(thread, None)


_lanes: dict[int, _Lane] = {}  # by worker thread: a thread runs one task at a time


class _Lane:
    """A worker thread's event loop and session for one batch's tasks, kept from task to
    task: a loop, a session and connections made afresh for each task of a few files
    cost more than the files (a thread of a Dask worker runs one task at a time)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._lock = threading.Lock()  # a task, or `close` from another thread
        self._said: list[Message] = []
        self._loop = asyncio.Runner(loop_factory=loop_factory())
        opened = open_runner(setup.options, Path(setup.dest), self._say, _nothing)
        self._opened = opened
        self._runner = self._loop.run(opened.__aenter__())

    def _say(self, message: Message) -> None:
        self._said.append(message)

    def run(self, orders: list[Order]) -> list[Message]:
        with self._lock:
            self._said = []
            self._loop.run(self._run(orders))
            return self._said

    async def _run(self, orders: list[Order]) -> None:
        async def one(order: Order) -> None:
            self._say(await self._runner.run(order))

        await asyncio.gather(*(one(order) for order in orders))
        if self.setup.options.save_cookies is not None:
            self._say(Cookies(self._runner.cookies()))

    def close(self) -> None:
        with self._lock:
            self._loop.run(self._opened.__aexit__(None, None, None))
            self._loop.close()


def _nothing() -> None:
    pass  # a task's messages all go back with its result
