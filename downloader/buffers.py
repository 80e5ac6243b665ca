"""How much of the batch's bodies adl holds in memory at once: one budget for every transfer.

A transfer holds what it has read from its connection and not yet written: the block it is
gathering and the block being written. Left alone that is up to two blocks per transfer, and
at `-j 64` over big files it was 127-250 MB. The budget caps the sum instead:

- blocks shrink as more transfers stream (`block_size`): a few transfers get big writes (fewer
  thread hops, the fastest on big files), many get a fair share of the same total;
- past the budget a transfer writes what it holds and waits (`room`) before it reads on. A
  waiting transfer holds nothing of the budget, so the holders are writing, or gathering a
  block that is at most half the budget in all: room always comes back.

What aiohttp buffers per connection (read_bufsize, paused at twice that, plus one socket read
of up to 256 KB) is outside the budget; READ_BUFSIZE keeps it near one socket read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

KiB = 1024
MiB = 1024 * KiB

BUDGET_BYTES = 8 * MiB
SMALLEST_BLOCK = 64 * KiB
# aiohttp's own default. Larger (the 1 MiB this used to be) lets each connection buffer
# megabytes the budget cannot see, and reads no faster: socket reads come in pieces of at
# most 256 KB (uvloop's and asyncio's read size) whatever this is.
READ_BUFSIZE = 64 * KiB


def block_size(budget: int, streaming: int, largest: int) -> int:
    """Bytes per write for each of `streaming` transfers: two blocks each (one gathering, one
    being written) fit the budget, within [SMALLEST_BLOCK, largest]."""
    share = budget // (2 * max(streaming, 1))
    return max(min(share, largest), min(SMALLEST_BLOCK, largest))


class BufferBudget:
    """Bytes read and not yet written, summed over a batch's transfers; see the module doc."""

    def __init__(self, largest_block: int, total: int = BUDGET_BYTES) -> None:
        self.total, self.largest_block = total, largest_block
        self.held = 0
        self.streaming = 0
        self._room = asyncio.Event()
        self._room.set()

    def block_size(self) -> int:
        return block_size(self.total, self.streaming, self.largest_block)

    @contextmanager
    def stream(self) -> Iterator[None]:
        """One transfer streaming a body for the length of the block."""
        self.streaming += 1
        try:
            yield
        finally:
            self.streaming -= 1

    def take(self, size: int) -> None:
        self.held += size
        if self.held >= self.total:
            self._room.clear()

    def give(self, size: int) -> None:
        self.held -= size
        if self.held < self.total:
            self._room.set()  # every waiter goes: one that reads no more must not hold up others

    def full(self) -> bool:
        return self.held >= self.total

    async def room(self) -> None:
        """Return once the batch holds less than the budget."""
        await self._room.wait()
