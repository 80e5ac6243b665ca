"""--procs: worker processes on this machine, each with its own event loop, session and engine.

With --procs P, P processes download: the coordinator's own lane and P - 1 worker
processes, each holding a lane's share of -j and --per-host (lanes.py) and talking to the
coordinator over a socket pair (spawn.py: forked by the command line, new interpreters for
a library caller). Each worker keeps its share running and more queued (`window`), so the
next file is there when one ends.

A worker that ends (crash, OOM killer, kill) is noticed at the end of its socket: its files
go to the others (`Coordinator.lost`), or to the coordinator alone once none is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from .cookies import FileCookie
from .coordinator import Coordinator
from .events import Event, Notice
from .messages import Close, Cookies, Message, Outbox, Setup, Work, read_frame
from .options import Options
from .spawn import Forked, discard_unused, take

CLOSE_SECONDS = 10.0  # a worker asked to leave has this long before it is killed


@dataclass(eq=False)
class _Worker:
    number: int
    process: subprocess.Popen | Forked
    outbox: Outbox
    reading: asyncio.Task[None] | None = None
    alive: bool = True


class ProcessPool:
    runs_twice = False  # a file runs again only when the coordinator hands it out again

    def __init__(self, coordinator: Coordinator, emit: Callable[[Event], None]) -> None:
        self._coordinator, self._emit = coordinator, emit
        self._workers: dict[int, _Worker] = {}  # by lane
        self._cookies: list[FileCookie] = []
        self._closing = False

    async def start(self, setup: Setup, lanes: dict[int, Options]) -> None:
        """One worker process per lane, each told its lane's options."""
        for lane, options in lanes.items():
            process, sock = take()
            reader, writer = await asyncio.open_connection(sock=sock)
            worker = _Worker(lane, process, Outbox(writer))
            worker.outbox.put(setup._replace(options=options))
            worker.reading = asyncio.create_task(self._read(lane, worker, reader))
            self._workers[lane] = worker

    def send(self, lane: int, message: Message) -> None:
        outbox = self._workers[lane].outbox
        outbox.put(message)
        if type(message) is not Work:  # news of a pause, a full disk: at once
            outbox.flush()

    def alive(self, lane: int) -> bool:
        worker = self._workers.get(lane)
        return worker is not None and worker.alive

    def window(self, jobs: int) -> int:
        # Each lane's engine has twice its share of -j running or queued, and more wait in
        # its inbox: the next files are there when some end, not a round trip and a frame's
        # wait (FRAME_SECONDS) away. (Measured: 6x -j with 2 ms frames was slower.)
        return 12 * jobs

    async def _read(self, lane: int, worker: _Worker, reader: asyncio.StreamReader) -> None:
        take = self._coordinator.take
        try:
            while True:
                for message in await read_frame(reader):
                    if type(message) is Cookies:
                        self._cookies.extend(message.cookies)
                    else:
                        take(lane, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            worker.alive = False
            if not self._closing:
                await self._lost(lane, worker)

    async def _lost(self, lane: int, worker: _Worker) -> None:
        """The worker's socket ended: its files go to the others (at once), and the user
        hears how it ended (once the process is reaped)."""
        count = self._coordinator.lost(lane)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(worker.process.wait, 1.0)
        who = f"worker process {worker.number} (pid {worker.process.pid})"
        if any(w.alive for w in self._workers.values()):
            then = f"its {count} files in flight go to the others"
        else:
            then = "this process downloads the rest"
        self._emit(Notice(f"{who} ended{_ended(worker.process)}: {then}"))

    async def close(self) -> list[FileCookie]:
        """Ask every worker to leave, wait for them (kill a stuck one), reap them. What
        they report on the way (a stopped file's `.part` kept) still reaches the journal."""
        self._closing = True
        unused = discard_unused()
        for worker in self._workers.values():
            if worker.alive:
                worker.outbox.put(Close())
                worker.outbox.flush()
        readers = [w.reading for w in self._workers.values() if w.reading is not None]
        if readers:
            await asyncio.wait(readers, timeout=CLOSE_SECONDS)
        for worker in self._workers.values():
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


def _ended(process: subprocess.Popen | Forked) -> str:
    """How a worker ended, if it has yet: ' (killed by SIGKILL)', ' (exit status 1)'."""
    code = process.poll()
    if code is None:
        return ""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f" (killed by {signal.Signals(-code).name})"
    return f" (exit status {code})"
