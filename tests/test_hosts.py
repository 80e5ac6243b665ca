"""Per-host health: a host that never answers costs one file's retry schedule, not every
file's; a host that comes back within the schedule loses nothing.

The policy (`hosts.Health`) is table-tested on its own; the batch tests count requests
through a caller's session with a trace hook, and backoff goes through a fake sleep.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from downloader.api import run_batch
from downloader.errors import ConnectError, from_exception
from downloader.events import Event, Notice
from downloader.hosts import Health, Hosts, down_message
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep

RETRIES, JOBS = 5, 5
REFUSED = "cannot connect to {host}: Connection refused"

# -- the policy, step by step ------------------------------------------------------------------
# Steps: (file, what happened) with "fail" a connect failure, "last" a connect failure on
# the file's last attempt, "answer" any answer from the host, "leave" the file gave up.

A, B, C = "A", "B", "C"


def play(steps: list[tuple[str, str]]) -> Health:
    health = Health()
    since: dict[str, int] = {}
    answered: set[str] = set()
    for who, what in steps:
        if what == "answer":
            answered.add(who)
            health.answered()
        elif what == "leave":
            health.leave(who)
        else:
            mark = since.setdefault(who, health.answers)
            final = what == "last"
            health.failed_to_connect(
                who, since=mark, answered=who in answered, final=final, reason=f"{who} gave up"
            )
    return health


@pytest.mark.parametrize(
    ("steps", "dead", "may_try"),
    [
        # The first file to fail probes; the others wait.
        ([(A, "fail")], None, {A}),
        ([(A, "fail"), (B, "fail")], None, {A}),
        # The probe used its schedule and the host never answered: dead for everyone.
        ([(A, "fail"), (A, "fail"), (A, "last")], "A gave up", set()),
        # A file failing concurrently on its last attempt decides as well.
        ([(A, "fail"), (B, "last")], "B gave up", set()),
        # Any answer brings the host back: everyone may try again.
        ([(A, "fail"), (B, "answer")], None, {A, B, C}),
        # The host answered during A's schedule: A fails alone, and another file may probe.
        ([(A, "fail"), (B, "answer"), (A, "fail"), (A, "last")], None, {A, B, C}),
        ([(A, "answer"), (A, "fail"), (A, "last")], None, {A, B, C}),
        # A probe that stops (cancelled, disk full) hands over without a verdict.
        ([(A, "fail"), (A, "leave")], None, {A, B, C}),
        ([(A, "fail"), (B, "leave")], None, {A}),
        # Dead stays dead for the batch, even if a late answer arrives.
        ([(A, "last"), (B, "answer")], "A gave up", set()),
    ],
)
def test_host_health_policy(steps, dead, may_try):
    health = play(steps)

    assert health.dead == dead
    assert {who for who in (A, B, C) if health.may_try(who)} == may_try


def test_waiting_files_are_woken_when_the_host_answers_or_dies():
    health = Health()
    health.failed_to_connect(A, since=0, answered=False, final=False, reason="A gave up")
    waiting = health.changed
    health.answered()
    assert waiting.is_set()

    health.failed_to_connect(A, since=1, answered=False, final=False, reason="A gave up")
    waiting = health.changed
    health.failed_to_connect(A, since=1, answered=False, final=True, reason="A gave up")
    assert waiting.is_set() and health.dead == "A gave up"


@pytest.mark.parametrize(
    ("tried", "message"),
    [
        (False, "not tried: h:1 did not answer (cannot connect after 6 attempts)"),
        (True, "h:1 did not answer (cannot connect after 6 attempts)"),
    ],
)
def test_down_message(tried, message):
    assert down_message("h:1", "cannot connect after 6 attempts", tried=tried) == message


def test_a_connect_timeout_is_a_connect_failure():
    error = from_exception(aiohttp.ConnectionTimeoutError())
    assert isinstance(error, ConnectError) and error.retryable


# -- batches ----------------------------------------------------------------------------------


def reserved_port() -> socket.socket:
    """A bound loopback socket that does not listen yet: connections to it are refused
    until a server is started on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def counting_session() -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    """A caller's session that records the URL of every request it starts."""
    started: list[str] = []

    async def on_start(session, context, params) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session, started


async def fetch(
    urls, dest: Path, session, sleep: FakeSleep, events=None, **options
) -> list[Result]:
    options = {"retries": RETRIES, "jobs": JOBS, **options}
    handler = events.append if events is not None else None
    batch = run_batch(
        entries_from_urls(urls), dest, Options(**options), handler, session, sleep=sleep
    )
    return sorted([r async for r in batch], key=lambda r: r.line_no)


async def test_a_refusing_host_costs_one_schedule_not_one_per_file(tmp_path, counting_session):
    session, started = counting_session
    events: list[Event] = []
    with reserved_port() as sock:
        host = f"127.0.0.1:{sock.getsockname()[1]}"
        urls = [f"http://{host}/f{i}" for i in range(100)]

        results = await fetch(urls, tmp_path, session, FakeSleep(), events=events)

    assert all(r.state is State.FAILED for r in results)
    refused = REFUSED.format(host=host) + f" after {RETRIES + 1} attempts"
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert notices == [f"giving up on {host}, it did not answer: {refused}"]
    # One file used the whole schedule; the files that were trying at the same moment
    # stopped there; the rest were never tried.
    deciders = [r for r in results if r.error == refused]
    assert len(deciders) == 1 and deciders[0].attempts == RETRIES + 1
    not_tried = [r for r in results if r.error == f"not tried: {host} did not answer ({refused})"]
    assert len(not_tried) >= len(urls) - JOBS
    assert all(r.attempts == 0 for r in not_tried)
    assert len(started) <= RETRIES + 1 + JOBS - 1, len(started)
    assert sum(r.attempts for r in results) == len(started)


async def _back(request: web.Request) -> web.Response:
    return web.Response(body=b"back")


class ReviveAfter(FakeSleep):
    """A fake sleep that starts a file server on the reserved socket after `n` waits."""

    def __init__(self, n: int, sock: socket.socket) -> None:
        super().__init__()
        self.n, self.sock = n, sock
        self.runner: web.AppRunner | None = None

    async def __call__(self, delay: float) -> None:
        await super().__call__(delay)
        if len(self.delays) >= self.n and self.runner is None:
            app = web.Application()
            app.router.add_get("/{name}", _back)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.SockSite(self.runner, self.sock).start()


async def test_a_host_that_comes_back_within_the_schedule_loses_nothing(tmp_path, counting_session):
    session, started = counting_session
    with reserved_port() as sock:
        host = f"127.0.0.1:{sock.getsockname()[1]}"
        urls = [f"http://{host}/f{i}" for i in range(30)]
        # The files trying at first each wait once; then only the probe: its 2nd wait.
        sleep = ReviveAfter(JOBS + 1, sock)
        try:
            results = await fetch(urls, tmp_path, session, sleep)
        finally:
            if sleep.runner is not None:
                await sleep.runner.cleanup()

    assert [r.state for r in results] == [State.DONE] * len(urls), results
    assert all((tmp_path / f"f{i}").read_bytes() == b"back" for i in range(len(urls)))
    # Only the files trying at the moment the host went away spent an attempt on it.
    failed_attempts = len(started) - len(urls)
    assert failed_attempts <= JOBS + 2, failed_attempts


async def test_files_of_other_hosts_go_on_while_a_dead_host_is_probed(
    server, tmp_path, counting_session
):
    session, _ = counting_session
    with reserved_port() as sock:
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
        urls = [f"http://{dead}/f{i}" for i in range(20)]
        urls += [server.url(server.add(f"ok{i}", b"fine")) for i in range(20)]

        results = await fetch(urls, tmp_path, session, FakeSleep(), jobs=2)

    assert [r.state for r in results[20:]] == [State.DONE] * 20
    assert all(r.state is State.FAILED and dead in r.error for r in results[:20])


# -- memory over many hosts --------------------------------------------------------------------


async def test_host_tables_hold_only_what_is_in_flight_paused_or_dead():
    """A billion URLs over a million hosts must not leave a record per host: caps, health
    and ended pauses go when a host's last file leaves; a dead verdict and a running pause
    stay (they decide later files)."""
    hosts = Hosts(per_host=2, slots=asyncio.Semaphore(10), sleep=FakeSleep())
    for n in range(3000):
        visit = hosts.visit(f"h{n}.example")
        async with visit:
            if n % 3 == 0:  # failed once, then answered: up again
                visit.failed_to_connect("refused", final=False)
                visit.answered()
            if n % 5 == 0:
                hosts.back_off(visit.host, 0.0)  # a pause that has run out
        visit.leave()
    dead = hosts.visit("dead.example")
    async with dead:
        dead.failed_to_connect("refused", final=True)
    dead.leave()
    paused = hosts.visit("paused.example")
    hosts.back_off(paused.host, 3600)
    paused.leave()

    assert set(hosts._health) == {"dead.example"}
    assert set(hosts._paused_until) <= {"paused.example"} | {f"h{n}.example" for n in range(3000)}
    assert len(hosts._paused_until) < 1100  # pruned as the table doubled
    assert "paused.example" in hosts._paused_until
    assert hosts._limits == {} and hosts._visitors == {}


async def test_a_hosts_cap_outlives_a_visit_while_others_wait_on_it():
    hosts = Hosts(per_host=1, slots=asyncio.Semaphore(10), sleep=FakeSleep())
    first, second = hosts.visit("h"), hosts.visit("h")
    await first.__aenter__()
    waiting = asyncio.ensure_future(second.__aenter__())
    await asyncio.sleep(0)
    assert not waiting.done()  # the cap holds
    await first.__aexit__(None, None, None)
    first.leave()
    await waiting  # the same semaphore was released to it, not a new one made
    assert hosts._visitors == {"h": 1}
    await second.__aexit__(None, None, None)
    second.leave()
    assert hosts._limits == {} and hosts._visitors == {}
