"""The worker side of --procs and --cluster: an engine of its own, running what it is handed.

A worker has an event loop, an aiohttp session and an `Engine` of its own — attempts and
their backoff, mirrors, host health, its lane's share of -j and --per-host (lanes.py) —
built from the batch's Options like the coordinator's. It never picks a name and never
writes the journal: each file comes named and claimed (`Work`), its journal is a
`RelayJournal` that sends each change to the coordinator, and its events and Results go
there too (messages.py). What one worker learns that all must heed (a host paused by a
429, a full disk) goes to the coordinator, which tells the others.

A worker process (forked by the command line, or `python -m downloader.workers FD PARENT`:
spawn.py) talks over a socket to its coordinator and leaves when that goes away: end of
file on the socket, or SIGTERM from the kernel when its parent dies (PR_SET_PDEATHSIG) —
so a coordinator killed with kill -9 leaves no worker behind. The transfers it had in
flight keep what came in their `.part`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from .cookies import jar_cookies, load_into
from .engine import Engine
from .errors import DownloadError
from .events import Event, FileFinished, FileProgress, FileStarted
from .hashing import FileCheck
from .hosts import Visit
from .inputs import ListEntry
from .journal import Entry, Status
from .messages import (
    Close,
    Cookies,
    DiskFull,
    Done,
    HostPaused,
    Message,
    Outbox,
    Renamed,
    Setup,
    Work,
    event_to_wire,
    read_frame,
    result_to_wire,
)
from .ratelimit import Limits
from .relay import NameSuggested, RelayedHosts, RelayJournal, Send
from .request import Requester, RequestPolicy
from .results import Result, State
from .session import loop_factory, open_session
from .transfer import Transfer
from .writes import identity

PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15  # linux/prctl.h


class WorkerEngine(Engine):
    """An engine over files the coordinator named and claimed (`take`); their Results, the
    journal changes and the events go to `send` (messages.py)."""

    _journal: RelayJournal
    _hosts: RelayedHosts

    def __init__(
        self,
        transfer: Transfer,
        journal: RelayJournal,
        options,
        *,
        send: Send,
        progress: bool,
        **kw,
    ):
        self._send = send
        self._progress = progress  # FileStarted and FileProgress are sent (someone wants them)
        self._work: dict[str, Work] = {}  # by URL: the coordinator sends no URL twice at once
        super().__init__(transfer, journal, options, self.relay, **kw)
        self._hosts = RelayedHosts(
            options.per_host, self._hosts.slots, self._sleep, send=self._urgent
        )
        self.cookies: Callable[[], tuple] = tuple  # the jar's, at the end (--save-cookies)

    def _urgent(self, message: Message) -> None:
        """News the other lanes must have now (a pause, a full disk): sent at once."""
        self._send(message)
        self._journal.flush_outbox()

    def take(self, work: Work) -> ListEntry:
        self._work[work.item.url] = work
        self._journal.expect(work)
        return work.item

    def relay(self, event: Event) -> None:
        """The engine's and transfers' events: a file's end as its Result (`Done`)."""
        if isinstance(event, FileFinished):
            url = event.result.url
            work = self._work.pop(url, None)
            if work is not None:
                result = result_to_wire(event.result)
                self._send(Done(work.id, result, self._journal.ended(url)))
        elif self._progress or not isinstance(event, FileStarted | FileProgress):
            self._send(event_to_wire(event))

    def heard(self, message: HostPaused | DiskFull) -> None:
        """What another worker learnt: a host's pause, a full disk."""
        if isinstance(message, HostPaused):
            self._hosts.heard(message)
        elif self._disk_full is None:
            self._disk_full = message.why

    def _answer_at_once(self, item: ListEntry) -> Result | Entry:
        work = self._work[item.url]
        if work.rerun and (done := finished_before(self._transfer, self._journal, work)):
            return done
        return work.entry

    async def _download(self, item: ListEntry, entry: Entry) -> Result:
        try:
            return await super()._download(item, entry)
        except NameSuggested as suggested:
            work = self._work.pop(item.url)
            self._journal.forget(item.url)
            self._send(Renamed(work.id, suggested.name))
            return Result(item.url, State.FAILED, error="renamed", line_no=item.line_no)

    def _should_retry(self, error: DownloadError, visit: Visit) -> bool:
        full = self._disk_full
        retry = super()._should_retry(error, visit)
        if full is None and self._disk_full is not None:
            self._urgent(DiskFull(self._disk_full))
        return retry


def finished_before(transfer: Transfer, journal, work: Work) -> Result | None:
    """The file as done when another file holds its final name than when it was named: an
    earlier run of it (on a worker lost since, a Dask task run again) finished it."""
    now = identity(transfer.final_path(work.entry))
    if now is None or now == work.final_was:
        return None
    size, item = now[2], work.item
    entry = journal.update(work.entry, state=Status.DONE, size=size, total=size, error=None)
    expected = FileCheck.of(item, transfer.checksums).expected(entry.name)  # checked, renamed
    return Result(
        item.url,
        State.DONE,
        path=transfer.dest / entry.name,
        status=200,
        bytes=size,
        line_no=item.line_no,
        checksum=None if expected is None else str(expected),
    )


@contextlib.asynccontextmanager
async def open_lane(
    setup: Setup, send: Send, flush: Callable[[], None]
) -> AsyncIterator[WorkerEngine]:
    """A worker's engine with its own session, built from its lane's options (files named
    by them, netrc, cookies, certificates, must be at the same paths where it runs)."""
    options = setup.options
    policy = RequestPolicy.from_options(options)
    async with open_session(options, None) as http:
        load_into(http.cookie_jar, policy.cookies.loaded, time.time())
        requester = Requester(http, policy, max_redirects=options.max_redirects)
        journal = RelayJournal(send, flush, rebuilding=setup.rebuilding)
        engine: WorkerEngine
        relay = lambda event: engine.relay(event)  # noqa: E731 (the engine needs the transfer)
        transfer = Transfer(requester, Path(setup.dest), options, journal, relay, setup.checksums)
        engine = WorkerEngine(
            transfer,
            journal,
            options,
            send=send,
            progress=setup.progress,
            policy=policy,
            limits=Limits(None),
        )
        engine.cookies = lambda: tuple(jar_cookies(http.cookie_jar, time.time()))
        yield engine


async def run_lane(engine: WorkerEngine, inbox: asyncio.Queue[ListEntry | None]) -> None:
    """Run the engine over what comes into `inbox` until None comes."""

    async def handed() -> AsyncIterator[ListEntry]:
        while (item := await inbox.get()) is not None:
            yield item

    async for _ in engine.run(handed()):
        pass  # each Result went to the coordinator as its file ended (`relay`)


# -- the worker process ----------------------------------------------------------------------


async def serve(sock: socket.socket) -> None:
    """Run what the coordinator hands this worker until it closes or goes away."""
    sock.setblocking(False)  # (uvloop takes a socket as it is: a blocking one blocks the loop)
    reader, writer = await asyncio.open_connection(sock=sock)
    outbox = Outbox(writer)
    setup, *first = await read_frame(reader)  # work may come in the same frame
    assert isinstance(setup, Setup)
    async with open_lane(setup, outbox.put, outbox.flush) as engine:
        closed = await _take_work(reader, engine, first)
        if closed and setup.options.save_cookies is not None:
            outbox.put(Cookies(engine.cookies()))
    outbox.flush()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _take_work(
    reader: asyncio.StreamReader, engine: WorkerEngine, first: list[Message]
) -> bool:
    """Hand the engine what comes (`first`, then what the reader brings); True at Close,
    False when the coordinator is gone. Either way the files still running stop there
    (a transfer cancelled writes what came to its .part first)."""
    inbox: asyncio.Queue[ListEntry | None] = asyncio.Queue()
    running = asyncio.create_task(run_lane(engine, inbox))
    try:
        messages = first
        while True:
            for message in messages:
                if type(message) is Work:
                    inbox.put_nowait(engine.take(message))
                elif isinstance(message, HostPaused | DiskFull):
                    engine.heard(message)
                elif isinstance(message, Close):
                    return True
            reading = asyncio.ensure_future(read_frame(reader))
            await asyncio.wait((reading, running), return_when=asyncio.FIRST_COMPLETED)
            if running.done():  # only a bug of ours ends it early: the coordinator hears
                reading.cancel()
                running.result()
            messages = reading.result()
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the coordinator dies, however it dies (Linux); and if it is already
    gone, leave now (the kernel only signals a death that happens after the call). Named
    `adl-worker` for ps and top (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            libc.prctl(PR_SET_NAME, b"adl-worker")
    if os.getppid() != parent:
        sys.exit(0)


def main(argv: list[str]) -> None:
    run_worker(socket.socket(fileno=int(argv[1])), int(argv[2]))


def run_worker(sock: socket.socket, parent: int) -> None:
    """A worker process's life: serve the coordinator at the other end of `sock`."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    gc.freeze()
    with (
        asyncio.Runner(loop_factory=loop_factory()) as runner,
        contextlib.suppress(asyncio.CancelledError),
    ):
        runner.run(_until_terminated(sock))


async def _until_terminated(sock: socket.socket) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await serve(sock)


if __name__ == "__main__":
    main(sys.argv)
