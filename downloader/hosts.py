"""Per-host policy for one batch: connection caps, pauses, and whether a host answers at all.

- Caps: with `per_host`, at most that many connections per host at a time: a file's
  attempts, and the extra connections of split files (`Visit.another_connection`).
- Pauses: a 429 or 503 pauses its host; its queued files wait the pause out too.
- Health: a host that refuses connections (or never completes one) would otherwise cost
  each of its files the whole retry schedule: 100 URLs to a dead port, 100 schedules. So
  after a connect failure the host is *down*: one file, the probe, goes on with its retry
  schedule while the host's other files wait, holding no job slot. Any answer from the host
  (any HTTP response, an error status too) brings it back up, and the files that waited go
  on having lost no attempt. When a file has used its whole schedule without the host
  answering once, the host is *dead* for the rest of the batch: its other files fail at
  once, with no request, naming that reason.

Each file gets one `Visit` (see `Hosts.visit`); each of its attempts is `async with visit:`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from .errors import HostDownError

Sleep = Callable[[float], Awaitable[None]]
PRUNE_PAUSES_AT = 1024


def host_of(url: str) -> str:
    """The host[:port] a URL names (lists were checked: scheme://authority/...), cheaper
    than urlsplit per file; credentials are not part of it."""
    return url.split("/", 3)[2].rpartition("@")[2].lower()


class Health:
    """What the batch knows about one host that failed to connect at least once (hosts
    that never did have no record, so a batch over a million healthy hosts keeps none)."""

    __slots__ = ("answers", "changed", "dead", "probe")

    def __init__(self) -> None:
        self.answers = 0  # answers since the record was made; a file compares before/after
        self.probe: object | None = None  # the one file still trying while the host is down
        self.dead: str | None = None  # why the host was given up on, for this batch
        self.changed = asyncio.Event()  # set when the host comes back up, dies, or frees the probe

    def may_try(self, who: object) -> bool:
        return self.dead is None and (self.probe is None or self.probe is who)

    def answered(self) -> None:
        self.answers += 1
        if self.probe is not None:
            self.probe = None
            self._wake()

    def failed_to_connect(
        self, who: object, *, since: int, answered: bool, final: bool, reason: str
    ) -> bool:
        """`who` could not connect; True when that made the host dead. `since`: `answers`
        at `who`'s first connect failure; `answered`: the host answered `who` itself earlier
        in its schedule; `final`: that was its last attempt, and `reason` says why."""
        if self.dead is not None:
            return False
        if self.probe is None:
            self.probe = who
        if not final:
            return False
        if not answered and self.answers == since:
            self.dead = reason
            self._wake()
            return True
        self.leave(who)
        return False

    def leave(self, who: object) -> None:
        """`who` is done with the host (or gave up on it): another file may probe."""
        if self.probe is who:
            self.probe = None
            self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def down_message(host: str, reason: str, *, tried: bool) -> str:
    """Why a file of a dead host failed without (more) tries of its own."""
    message = f"{host} did not answer ({reason})"
    return message if tried else f"not tried: {message}"


class Hosts:
    """Per-host caps, pauses and health for one batch.

    A batch over a billion URLs may meet a million hosts: only hosts with a file in flight,
    a pause still running or a dead verdict are remembered (`_forget`), so these tables stay
    the size of what is in flight, not of what the batch has seen."""

    def __init__(self, per_host: int, slots: asyncio.Semaphore, sleep: Sleep) -> None:
        self._per_host = per_host
        self.slots = slots
        self.sleep = sleep
        self._visitors: dict[str, int] = {}  # files in flight per host
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._paused_until: dict[str, float] = {}
        self._pauses_after_pruning = PRUNE_PAUSES_AT
        self._health: dict[str, Health] = {}

    def visit(self, host: str) -> Visit:
        self._visitors[host] = self._visitors.get(host, 0) + 1
        return Visit(self, host)

    def left(self, host: str) -> None:
        """A file's visit to `host` is over (paired with `visit`)."""
        visitors = self._visitors.pop(host) - 1
        if visitors:
            self._visitors[host] = visitors
        else:
            self._forget(host)

    def _forget(self, host: str) -> None:
        """No file of `host` is in flight: its cap has no holder or waiter, and a host that
        is not dead needs no health record (a new one starts at its next connect failure)."""
        self._limits.pop(host, None)
        health = self._health.get(host)
        if health is not None and health.dead is None:
            del self._health[host]
        if self._paused_until.get(host, 0.0) <= time.monotonic():
            self._paused_until.pop(host, None)

    def limit(self, host: str) -> asyncio.Semaphore | None:
        """The host's connection cap; None when hosts are not capped."""
        if not self._per_host:
            return None
        limit = self._limits.get(host)
        if limit is None:
            limit = self._limits[host] = asyncio.Semaphore(self._per_host)
        return limit

    def widen(self, per_host: int) -> None:
        """Cap each host at `per_host` from now on (hosts already in flight keep theirs
        until they have no file in flight)."""
        self._per_host = per_host

    def back_off(self, host: str, delay: float) -> None:
        now = time.monotonic()
        self._paused_until[host] = max(now + delay, self._paused_until.get(host, 0.0))
        if len(self._paused_until) >= self._pauses_after_pruning:
            # Pauses of hosts no file visits any more: dropped once they have run out, in
            # one sweep each time the table doubles (amortized: no timer, no per-file cost).
            ended = [h for h, until in self._paused_until.items() if until <= now]
            for ended_host in ended:
                del self._paused_until[ended_host]
            self._pauses_after_pruning = max(PRUNE_PAUSES_AT, 2 * len(self._paused_until))

    def paused_until(self, host: str) -> float:
        return self._paused_until.get(host, 0.0)

    def health(self, host: str, *, make: bool = False) -> Health | None:
        health = self._health.get(host)
        if health is None and make:
            health = self._health[host] = Health()
        return health


class Visit:
    """One file's turns at its host. Each attempt is `async with visit:`, which waits until
    the host is neither paused nor down (unless this file is its probe), then holds a
    per-host slot and a job slot; it raises HostDownError once the host is dead. The
    engine reports how each attempt went (`answered`, `failed_to_connect`), and `leave`s.

    A pause or a down host is waited out without holding a slot. Each pause is waited out
    once, which also keeps tests with an instant fake sleep from spinning. (A class rather
    than an asynccontextmanager: it is entered once per attempt.)"""

    __slots__ = ("_answered", "_hosts", "_limit", "_since", "host", "tried")

    def __init__(self, hosts: Hosts, host: str) -> None:
        self._hosts, self.host = hosts, host
        self._limit: asyncio.Semaphore | None = None
        self._since: int | None = None  # the host's answer count at our first connect failure
        self._answered = False
        self.tried = 0  # attempts made (entered and not refused for a dead host)

    async def __aenter__(self) -> None:
        waited_for = 0.0
        while True:
            health = self._hosts.health(self.host)
            if health is not None and not health.may_try(self):
                await self._wait_for(health)
                continue
            if self._paused(waited_for):
                until = self._hosts.paused_until(self.host)
                await self._hosts.sleep(until - time.monotonic())
                waited_for = until
                continue
            await self._take_slots()
            health = self._hosts.health(self.host)  # the host may have failed while we queued
            if not self._paused(waited_for) and (health is None or health.may_try(self)):
                self.tried += 1
                return
            self._give_back()  # paused or down while we queued: wait again

    async def __aexit__(self, *exc: object) -> None:
        self._give_back()

    def answered(self) -> None:
        self._answered = True
        health = self._hosts.health(self.host)
        if health is not None:
            health.answered()

    def failed_to_connect(self, reason: str, *, final: bool) -> bool:
        """Our attempt could not connect; True when that made the host dead."""
        health = self._hosts.health(self.host, make=True)
        assert health is not None
        if self._since is None:
            self._since = health.answers
        return health.failed_to_connect(
            self, since=self._since, answered=self._answered, final=final, reason=reason
        )

    @contextlib.asynccontextmanager
    async def another_connection(self) -> AsyncIterator[None]:
        """One more connection of this file's to its host, beside the attempt's own (a
        segment of a split file): it counts against --per-host like any other connection,
        but takes no job slot (-j counts files)."""
        limit = self._hosts.limit(self.host)
        if limit is None:
            yield
            return
        async with limit:
            yield

    def leave(self) -> None:
        health = self._hosts.health(self.host)
        if health is not None:
            health.leave(self)
        self._hosts.left(self.host)

    async def _wait_for(self, health: Health) -> None:
        if health.dead is not None:
            raise HostDownError(down_message(self.host, health.dead, tried=self.tried > 0))
        await health.changed.wait()

    async def _take_slots(self) -> None:
        self._limit = self._hosts.limit(self.host)
        if self._limit is not None:
            await self._limit.acquire()
        try:
            await self._hosts.slots.acquire()
        except BaseException:
            if self._limit is not None:
                self._limit.release()
            raise

    def _give_back(self) -> None:
        self._hosts.slots.release()
        if self._limit is not None:
            self._limit.release()

    def _paused(self, waited_for: float) -> bool:
        until = self._hosts.paused_until(self.host)
        return until > waited_for and until > time.monotonic()
