"""--procs: worker processes on this machine, each with its own event loop and session.

With --procs P, P processes download: the coordinator itself, as with one process, and
P - 1 workers, each a fresh interpreter talking to it over a socket pair (spawn.py). Each
takes a share of -j as its cap on transfers at once (the shares add up to -j; the
coordinator's is the smallest, it also runs the engine and the journal). The coordinator
runs an attempt itself while its share has room; the others go to the worker with the
fewest orders per share. The engine keeps up to twice -j out, so the next file waits in
its worker rather than a round trip away (coordinator.engine_options).

A worker that ends (crash, OOM killer, kill) is noticed at the end of its socket: its
orders fail with WorkerLost and the coordinator orders them again from the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .cookies import FileCookie
from .coordinator import WorkerLost
from .events import Event, Notice
from .messages import (
    Cancel,
    Close,
    Cookies,
    Finished,
    Message,
    Order,
    Outbox,
    Setup,
    read_frame,
)
from .spawn import discard_unused, take

CLOSE_SECONDS = 10.0  # a worker asked to leave has this long before it is killed


@dataclass(eq=False)
class _Worker:
    number: int
    jobs: int  # its share of -j
    process: subprocess.Popen
    outbox: Outbox
    pending: dict[int, asyncio.Future[Finished]] = field(default_factory=dict)
    reading: asyncio.Task[None] | None = None
    alive: bool = True


class ProcessPool:
    runs_twice = False  # an order runs again only when the coordinator orders it again

    def __init__(
        self,
        apply: Callable[[Message], None],
        emit: Callable[[Event], None],
        *,
        own: int,
        jobs: int,
    ) -> None:
        self._apply, self._emit = apply, emit
        self._loop = asyncio.get_running_loop()  # (each call of it is a getpid() in 3.11)
        self._own = asyncio.Semaphore(own)  # this process's share of -j
        self._own_share, self._jobs = own, jobs
        self._workers: list[_Worker] = []
        self._cookies: list[FileCookie] = []
        self._closing = False
        self._failure: BaseException | None = None  # raised by `apply` (the caller's handler)

    @classmethod
    async def start(
        cls, count: int, setup: Setup, apply: Callable[[Message], None], emit
    ) -> ProcessPool:
        """`count` processes download: this one and count - 1 workers, each with a share
        of -j (this one the smallest: it also runs the engine and the journal)."""
        jobs = setup.options.jobs
        own, shares = split_jobs(jobs, count)
        pool = cls(apply, emit, own=own, jobs=jobs)
        for number, share in enumerate(shares, 1):
            options = replace(setup.options, jobs=share)
            await pool._spawn(number, setup._replace(options=options))
        return pool

    async def _spawn(self, number: int, setup: Setup) -> None:
        process, sock = take()
        reader, writer = await asyncio.open_connection(sock=sock)
        worker = _Worker(number, setup.options.jobs, process, Outbox(writer))
        worker.outbox.put(setup)
        worker.reading = asyncio.create_task(self._read(worker, reader))
        self._workers.append(worker)

    def local(self) -> asyncio.Semaphore | None:
        """This process's own share of -j, when it has room (its transfers never wait in a
        queue: those wait in the workers); always once no worker is left."""
        if not self._own.locked() or not any(w.alive for w in self._workers):
            return self._own
        return None

    async def fetch(self, order: Order) -> Finished:
        if self._failure is not None:
            raise self._failure
        live = [w for w in self._workers if w.alive]
        if not live:
            raise WorkerLost("no worker process is left")  # this process takes it (`local`)
        worker = min(live, key=lambda w: len(w.pending) / w.jobs)
        answer = worker.pending[order.id] = self._loop.create_future()
        worker.outbox.put(order)
        try:
            return await answer
        except asyncio.CancelledError:
            if worker.pending.pop(order.id, None) is not None and worker.alive:
                worker.outbox.put(Cancel(order.id))
            elif answer.done() and not answer.cancelled() and answer.exception() is None:
                # It ended as the batch stopped: the journal hears, after the engine has
                # noted the file as interrupted (the same step as this cancel).
                asyncio.get_running_loop().call_soon(self._apply, answer.result())
            raise

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for message in await read_frame(reader):
                    self._take(worker, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            worker.alive = False
            await self._lost(worker)

    def _take(self, worker: _Worker, message: Message) -> None:
        if isinstance(message, Finished):
            answer = worker.pending.pop(message.id, None)
            if answer is not None and not answer.done():
                answer.set_result(message)
            else:  # its attempt was cancelled (Ctrl-C) as it ended: the journal still hears
                self._apply(message)
        elif isinstance(message, Cookies):
            self._cookies.extend(message.cookies)
        else:
            try:
                self._apply(message)
            except BaseException as exc:  # the caller's event handler: it ends the batch
                self._failure = exc
                for answer in worker.pending.values():
                    if not answer.done():
                        answer.set_exception(exc)

    async def _lost(self, worker: _Worker) -> None:
        """The worker's socket ended: its orders go to the others (at once), and the user
        hears how it ended (once the process is reaped)."""
        pending, worker.pending = worker.pending, {}
        if self._closing:
            return
        for answer in pending.values():
            if not answer.done():
                answer.set_exception(WorkerLost(f"worker process {worker.number} ended"))
        if not any(w.alive for w in self._workers):  # this process takes all of -j
            for _ in range(self._jobs - self._own_share):
                self._own.release()
            self._own_share = self._jobs
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(worker.process.wait, 1.0)
        who = f"worker process {worker.number} (pid {worker.process.pid})"
        if any(w.alive for w in self._workers):
            then = f"its {len(pending)} files in flight go to the others"
        else:
            then = "this process downloads the rest"
        self._emit(Notice(f"{who} ended{_ended(worker.process)}: {then}"))

    async def close(self) -> list[FileCookie]:
        """Ask every worker to leave, wait for them (kill a stuck one), reap them."""
        self._closing = True
        unused = discard_unused()
        for worker in self._workers:
            if worker.alive:
                worker.outbox.put(Close())
                worker.outbox.flush()
        readers = [w.reading for w in self._workers if w.reading is not None]
        if readers:
            await asyncio.wait(readers, timeout=CLOSE_SECONDS)
        for worker in self._workers:
            if worker.reading is not None:
                worker.reading.cancel()
            if worker.process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(worker.process.wait, 1.0)
            if worker.process.poll() is None:
                worker.process.kill()
            await asyncio.to_thread(worker.process.wait)
        for process in unused:
            await asyncio.to_thread(process.wait)
        return self._cookies


def split_jobs(jobs: int, procs: int) -> tuple[int, list[int]]:
    """-j over the processes that download: this one's share and each worker's. This one
    also runs the engine and the journal (~half the work of a file it downloads itself), so
    it counts as half a process: with -j 10, 2 processes: 3 and 7."""
    lanes = min(procs, jobs)  # a process with no share of -j would have nothing to do
    if lanes == 1:
        return jobs, []
    own = max(1, round(jobs * 0.5 / (lanes - 0.5)))
    rest, workers = jobs - own, lanes - 1
    return own, [rest // workers + (n < rest % workers) for n in range(workers)]


def _ended(process: subprocess.Popen) -> str:
    """How a worker ended, if it has yet: ' (killed by SIGKILL)', ' (exit status 1)'."""
    code = process.poll()
    if code is None:
        return ""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f" (killed by {signal.Signals(-code).name})"
    return f" (exit status {code})"
