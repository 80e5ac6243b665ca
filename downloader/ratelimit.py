"""--limit-rate: one byte budget shared by every transfer of a batch, and an item's own
(`max-download-limit=` in a list) on top of it.

A token bucket that fills at `rate` bytes per second and holds BURST_SECONDS of it: small,
so the flow is smooth rather than bursts. It may go into debt: an ask is granted as soon as
the bucket is not in debt, whatever its size (aiolimiter refuses an ask larger than its
bucket), and the asks after it wait until the debt is paid. Waiters are served in the order
they came: a large ask is never overtaken by small ones, which a bucket that grants
"whoever fits now" lets happen for ever.

A read cannot know its size before it is made, so `throttled` charges each piece as it
comes and hands it over once paid for; the next read waits until then. The socket is read
no faster than the rate, and aiohttp pauses it when its buffer fills, which slows TCP.

Over any window of W seconds a busy limiter grants `rate × W` bytes, give or take the bucket
(0.1 s of rate) and one ask; `throttled` asks for slices of at most the bucket (MIN_SLICE at
least), so what is handed over is within ±2 % of the rate over 10 s from 40 KB/s up, and
within ±10 % down to 5 KB/s. (What the kernel and aiohttp buffer ahead is on top: a few MiB
at the start of a connection, then no more, since they are read only as fast as paid.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from .items import Item
from .stall import StallWatch

BURST_SECONDS = 0.1  # what an idle bucket saves up: small, so the flow is smooth
MIN_WAIT = 0.001  # a shorter sleep would wake before the clock moved: a spin
MIN_SLICE = 4096  # bytes handed over at once at least (below, slices cost more than they smooth)
CRUMB = 1.0  # less than a byte owed is nothing owed: float clocks leave such crumbs

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimit:
    """A byte budget of `rate` bytes per second; `take` charges bytes to it, in turn.

    `clock` and `sleep` are seams for tests (a fake clock, or a loop with virtual time)."""

    def __init__(
        self, rate: int, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if rate <= 0:
            raise ValueError(f"a rate limit must be > 0 bytes per second, not {rate}")
        self.rate = rate
        self.capacity = rate * BURST_SECONDS
        self.slice = max(int(self.capacity), MIN_SLICE)  # see `throttled`
        self.granted = 0  # bytes charged so far
        self._tokens = self.capacity  # negative: in debt
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._queue: deque[asyncio.Future[None]] = deque()  # the waiters, in turn

    async def take(self, amount: int) -> float:
        """Charge `amount` bytes once the budget is not in debt and the waiters before this
        one are served; returns the seconds it waited. A waiter cancelled before its turn
        came is charged nothing and holds nobody up."""
        if not self._queue and self._refill() > -CRUMB:
            self._charge(amount)  # the common case when under the rate: no waiting at all
            return 0.0
        started = self._clock()
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            if self._queue[0] is not turn:
                await turn  # set when the waiter before this one leaves
            # Only the first in line sleeps: it alone knows when the debt is paid.
            while (tokens := self._refill()) <= -CRUMB:
                await self._sleep(max(-tokens / self.rate, MIN_WAIT))
            self._charge(amount)
        finally:
            self._leave(turn)
        return self._clock() - started

    def refund(self, amount: int) -> None:
        """Give back bytes charged and not used (paid ahead for a transfer that ended)."""
        self._tokens = min(self.capacity, self._tokens + amount)
        self.granted -= amount

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._tokens

    def _charge(self, amount: int) -> None:
        self._tokens -= amount
        self.granted += amount

    def _leave(self, turn: asyncio.Future[None]) -> None:
        """`turn` leaves the line, served or cancelled; the next one is first in line now."""
        first = self._queue[0] is turn
        self._queue.remove(turn)  # the line is at most a batch's transfers long
        if first and self._queue and not self._queue[0].done():
            # A done one was cancelled while it waited: it wakes the next as it leaves.
            self._queue[0].set_result(None)


class Limits:
    """The byte budgets of one batch: the shared one (`--limit-rate`, `limit_rate=`), and
    each item's own (`max-download-limit=`, `Item.limit_rate`), made as its file starts."""

    def __init__(
        self, rate: int | None, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self.shared = None if rate is None else RateLimit(rate, clock=clock, sleep=sleep)
        self._shared = () if self.shared is None else (self.shared,)

    def of(self, item: Item | None) -> tuple[RateLimit, ...]:
        """The budgets a file's bytes are charged to, every attempt and mirror alike: its
        own first (waiting on it holds no place in the shared line), then the batch's."""
        rate = None if item is None else item.limit_rate
        if rate is None:
            return self._shared
        return (RateLimit(rate, clock=self._clock, sleep=self._sleep), *self._shared)


def throttled(
    chunks: AsyncIterator[tuple[bytes, bool]],
    limits: tuple[RateLimit, ...],
    watch: StallWatch | None = None,
) -> AsyncIterator[tuple[bytes, bool]]:
    """`chunks` (aiohttp's `iter_chunks()`) read no faster than `limits` allow. Without a
    limit, `chunks` itself: an unlimited transfer pays nothing per piece. The time spent
    waiting on the budgets is excused to `watch`: our own limit is not a stalled server."""
    if not limits:
        return chunks
    return _Throttled(chunks, limits, watch)


class _Throttled:
    """Each piece is handed over once the budgets have paid for it, in slices of at most the
    smallest bucket: what is handed over follows the rate within a slice, however many
    transfers share it. While a piece waits, the socket is not read.

    With several budgets (an item's own and the batch's), each is paid a whole slice of its
    own at a time, and the rest kept as credit: a transfer that asks the shared budget in
    small slices would get a small share of it, as waiters are served in turn. What is left
    of the credit when the body ends is given back."""

    __slots__ = ("_at", "_chunks", "_credit", "_end", "_limits", "_piece", "_slice", "_watch")

    def __init__(self, chunks, limits: tuple[RateLimit, ...], watch: StallWatch | None) -> None:
        self._chunks: AsyncIterator[tuple[bytes, bool]] = chunks
        self._limits, self._watch = limits, watch
        self._slice = min(limit.slice for limit in limits)
        self._credit = [0] * len(limits)  # bytes paid for, per budget, not yet handed over
        self._piece, self._end, self._at = b"", False, 0  # the piece being handed over

    def __aiter__(self) -> _Throttled:
        return self

    async def __anext__(self) -> tuple[bytes, bool]:
        if self._at >= len(self._piece):
            try:
                self._piece, self._end = await self._chunks.__anext__()
            except BaseException:  # the end of the body, or of the transfer
                self._refund()
                raise
            self._at = 0
        piece, at = self._piece, self._at
        size = min(len(piece) - at, self._slice)
        await self._pay(size)  # cancelled: the slice stays here, and what was paid as credit
        self._at = at + size
        if size != len(piece):  # copied, not a memoryview: slices exist only at low rates
            piece = piece[at : self._at]
        return piece, self._end and self._at == len(self._piece)

    async def _pay(self, amount: int) -> None:
        ahead = len(self._limits) > 1
        for index, limit in enumerate(self._limits):
            owed = amount - self._credit[index]
            if owed > 0:
                ask = max(owed, limit.slice) if ahead else owed
                waited = await limit.take(ask)
                self._credit[index] += ask
                if waited and self._watch is not None:
                    self._watch.excuse(waited)
        for index in range(len(self._limits)):
            self._credit[index] -= amount

    def _refund(self) -> None:
        for index, limit in enumerate(self._limits):
            if self._credit[index]:
                limit.refund(self._credit[index])
                self._credit[index] = 0
