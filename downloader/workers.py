"""The worker side of --procs and --cluster: attempts at files, run as the coordinator orders.

A worker has an event loop, an aiohttp session and a `Transfer` of its own, built from the
batch's Options like the coordinator's. It never writes the journal and never picks a
name: the transfer's journal here is a `RelayJournal`, which sends each change to the
coordinator (messages.py), and its events go there too. What it runs is one `Order`, one
attempt: the coordinator's engine keeps retries, host caps and backoff, mirrors and the
journal, exactly as with one process.

A worker process (`python -m downloader.workers FD PARENT`) talks over a socket to its
coordinator and leaves when that goes away: end of file on the socket, or SIGTERM from the
kernel when its parent dies (PR_SET_PDEATHSIG) — so a coordinator killed with kill -9
leaves no worker behind. The transfers it had in flight keep what came in their `.part`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from .cookies import jar_cookies, load_into
from .errors import DownloadError
from .hashing import FileCheck
from .journal import Entry, MemoryJournal, NameTaken
from .messages import (
    Cancel,
    Close,
    Cookies,
    Finished,
    Message,
    Order,
    Outbox,
    Setup,
    Update,
    error_to_wire,
    event_to_wire,
    identity,
    policy_from_wire,
    read_frame,
)
from .mirrors import Source
from .options import Options
from .ratelimit import RateLimit
from .request import Requester, RequestPolicy
from .session import loop_factory, open_session
from .transfer import Received, Transfer

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class NameSuggested(DownloadError):
    """--content-disposition: the server names the file. Naming is the coordinator's: the
    attempt stops here, and the coordinator renames and orders it again."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the server names the file {name!r}")
        self.name = name


class RelayJournal(MemoryJournal):
    """What the transfer records, sent to the coordinator instead of written."""

    def __init__(self, send: Callable[[Message], None], flush: Callable[[], None]) -> None:
        super().__init__()
        self._send, self._flush = send, flush

    def update(self, entry: Entry, **changes) -> Entry:
        new = entry._replace(**changes)
        self._send(Update(new))
        return new

    def flush(self) -> None:
        self._flush()  # validators before the first byte of a .part: at once

    def rename(self, entry: Entry, name: str, taken: NameTaken = lambda _: False) -> Entry:
        raise NameSuggested(name)


class Runner:
    """Runs orders with one Transfer; what they do goes to `send`."""

    def __init__(
        self, transfer: Transfer, policy: RequestPolicy, jar, options: Options, send
    ) -> None:
        self._transfer, self._policy, self._jar = transfer, policy, jar
        self._send = send
        self.jobs = options.jobs  # this process's part of -j: transfers at once

    async def run(self, order: Order) -> Finished:
        check = FileCheck(order.expected)
        check.mismatches = order.mismatches
        received = Received(check, tuple(RateLimit(rate) for rate in order.rates))
        if order.rerun and (before := self._done_before(order, received)) is not None:
            return before
        source = Source(order.url, policy_from_wire(order.policy, self._policy), order.named)
        try:
            outcome = await self._transfer.fetch(order.entry, received, source)
        except asyncio.CancelledError:
            # Cancelled as it ended (the rename done in a thread, say): say so all the same,
            # or a rerun would take the file for one adl did not write.
            if (done := self._done_before(order, received)) is not None:
                self._send(done)
            raise
        except NameSuggested as suggested:
            return Finished(order.id, received.bytes, check.mismatches, None, rename=suggested.name)
        except DownloadError as error:
            return Finished(
                order.id, received.bytes, check.mismatches, None, error=error_to_wire(error)
            )
        ended = (outcome.entry, outcome.status, outcome.size)
        return Finished(order.id, received.bytes, check.mismatches, check.verified, ended)

    def _done_before(self, order: Order, received: Received) -> Finished | None:
        """The order as done when another file holds the final name than when it was made:
        an earlier run of it (on a worker lost since, a Dask task run again) finished it."""
        now = identity(self._transfer.final_path(order.entry))
        if now is None or now == order.final_was:
            return None
        verified = str(order.expected) if order.expected else None  # checked before renamed
        done = (order.entry, 200, now[2])
        return Finished(order.id, received.bytes, order.mismatches, verified, done)

    def cookies(self) -> tuple:
        return tuple(jar_cookies(self._jar, time.time()))


@contextlib.asynccontextmanager
async def open_runner(
    options: Options, dest: Path, send: Callable[[Message], None], flush: Callable[[], None]
) -> AsyncIterator[Runner]:
    """A Runner with its own session, built from the batch's options (files named by them,
    netrc, cookies, certificates, must be at the same paths where the worker runs)."""
    policy = RequestPolicy.from_options(options)
    async with open_session(options, None) as http:
        load_into(http.cookie_jar, policy.cookies.loaded, time.time())
        requester = Requester(http, policy, max_redirects=options.max_redirects)
        journal = RelayJournal(send, flush)
        emit = lambda event: send(event_to_wire(event))  # noqa: E731
        transfer = Transfer(requester, dest, options, journal, emit)
        yield Runner(transfer, policy, http.cookie_jar, options, send)


# -- the worker process ----------------------------------------------------------------------


async def serve(sock: socket.socket) -> None:
    """Take orders from the coordinator until it closes or goes away."""
    sock.setblocking(False)  # (uvloop takes a socket as it is: a blocking one blocks the loop)
    reader, writer = await asyncio.open_connection(sock=sock)
    outbox = Outbox(writer)
    setup, *first = await read_frame(reader)  # orders may come in the same frame
    assert isinstance(setup, Setup)
    async with open_runner(setup.options, Path(setup.dest), outbox.put, outbox.flush) as runner:
        closed = await _take_orders(reader, runner, outbox, first)
        if closed and setup.options.save_cookies is not None:
            outbox.put(Cookies(runner.cookies()))
    outbox.flush()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _take_orders(
    reader: asyncio.StreamReader, runner: Runner, outbox: Outbox, first: list[Message]
) -> bool:
    """Run orders as they come (`first`, then what the reader brings); True at Close,
    False when the coordinator is gone."""
    tasks: dict[int, asyncio.Task[None]] = {}
    # This worker's share of -j: the coordinator keeps a few more orders queued here than
    # run, so that a file finishing is followed at once by the next, not after a round trip.
    slots = asyncio.Semaphore(runner.jobs)
    loop = asyncio.get_running_loop()  # once: each call is a getpid() system call (3.11)

    async def answer(order: Order) -> None:
        async with slots:
            outbox.put(await runner.run(order))

    try:
        messages = first
        while True:
            for message in messages:
                if isinstance(message, Order):
                    tasks[message.id] = task = loop.create_task(answer(message))
                    task.add_done_callback(functools.partial(_forget, tasks, message.id))
                elif isinstance(message, Cancel) and message.id in tasks:
                    tasks[message.id].cancel()
                elif isinstance(message, Close):
                    return True
            messages = await read_frame(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    finally:
        for task in tasks.values():
            task.cancel()  # a transfer cancelled writes what came to its .part first
        await asyncio.gather(*tasks.values(), return_exceptions=True)


def _forget(tasks: dict[int, asyncio.Task[None]], key: int, _: object) -> None:
    tasks.pop(key, None)


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the coordinator dies, however it dies (Linux); and if it is already
    gone, leave now (the kernel only signals a death that happens after the call)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(0)


def main(argv: list[str]) -> None:
    fd, parent = int(argv[1]), int(argv[2])
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    gc.freeze()
    with (
        asyncio.Runner(loop_factory=loop_factory()) as runner,
        contextlib.suppress(asyncio.CancelledError),
    ):
        runner.run(_until_terminated(socket.socket(fileno=fd)))


async def _until_terminated(sock: socket.socket) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await serve(sock)


if __name__ == "__main__":
    main(sys.argv)
