"""How bodies reach the disk: write blocks of exact sizes, no byte lost or reordered, and
small files written in the loop while the disk keeps up."""

import asyncio
import os
import threading

import pytest

from downloader.buffers import BufferBudget
from downloader.writes import Block as _Block
from downloader.writes import InlineWhileFast as _InlineWhileFast
from downloader.writes import write as _write


@pytest.mark.parametrize(
    ("limit", "pieces", "blocks"),
    [
        (4, [b"ab", b"cd"], [b"abcd"]),
        (4, [b"abcdef"], [b"abcd", b"ef"]),
        (4, [b"a", b"bcdefghij"], [b"abcd", b"efgh", b"ij"]),
        (4, [b"abc"], [b"abc"]),
        (3, [b"abcdefghi"], [b"abc", b"def", b"ghi"]),
        (4, [], []),
    ],
)
def test_blocks_have_the_limit_size_until_the_last(limit, pieces, blocks):
    block = _Block(BufferBudget(limit))
    written = []
    for piece in pieces:
        if block.add(piece):
            while block.size >= block.limit:
                parts, size = block.take()
                written.append((b"".join(parts), size))
    while block.size:
        parts, size = block.take()
        written.append((b"".join(parts), size))
    assert [data for data, _ in written] == blocks
    assert all(size == len(data) for data, size in written)


@pytest.mark.parametrize(
    ("write_ms", "inline_after_each"),
    [
        ([1, 1, 1], [True, True, True]),
        ([9], [True]),  # one slow write: a descheduled thread, not a slow disk
        ([9, 9, 1, 9, 9, 1], [True] * 6),  # never three in a row
        ([9, 9, 9], [True, True, False]),
        ([9, 9, 9, 1], [True, True, False, False]),  # off for good
        ([4, 4, 4], [True, True, True]),  # under the limit: fast
    ],
)
def test_small_writes_leave_the_loop_after_three_slow_ones_in_a_row(write_ms, inline_after_each):
    now = [0.0]
    writer = _InlineWhileFast(clock=lambda: now[0])

    def write(ms):
        now[0] += ms / 1000

    seen = []
    for ms in write_ms:
        writer.run(write, ms)
        seen.append(writer.inline)
    assert seen == inline_after_each


async def test_a_cancelled_write_lands_before_the_cancel_goes_on():
    """Ctrl-C during a write: the write finishes first, so the next one (the rest of the
    body, written on the way out) cannot overtake it and land out of order."""
    events = []

    class SlowFile:
        async def writelines(self, pieces):
            events.append(("start", pieces[0]))
            await asyncio.sleep(0.05)
            events.append(("end", pieces[0]))

    task = asyncio.ensure_future(_write(SlowFile(), [b"first"]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    events.append(("cancelled", None))
    assert events == [("start", b"first"), ("end", b"first"), ("cancelled", None)]


@pytest.mark.parametrize("fails", [False, True])
async def test_a_write_at_an_offset_cancelled_meanwhile_still_counts_once_on_disk(
    tmp_path, monkeypatch, fails
):
    """A split file's segment counts its bytes when they are on disk: a write that finished
    while a cancel waited counts too (its next bytes would otherwise land over it), and one
    that failed does not."""
    from downloader import writes

    entered, release = threading.Event(), threading.Event()
    pwrite_all = writes.pwrite_all

    def slow(fd, pieces, offset):
        entered.set()
        release.wait(5)
        if fails:
            raise OSError(28, "No space left on device")
        pwrite_all(fd, pieces, offset)

    monkeypatch.setattr(writes, "pwrite_all", slow)
    counted = []
    fd = os.open(tmp_path / "f.part", os.O_WRONLY | os.O_CREAT)
    try:
        task = asyncio.ensure_future(writes.write_at(fd, [b"abc"], 2, lambda: counted.append(3)))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 5)
        task.cancel()
        await asyncio.sleep(0.01)
        assert counted == [] and not task.done()  # the cancel waits for the write
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        os.close(fd)
    assert counted == ([] if fails else [3])
    assert (tmp_path / "f.part").read_bytes() == (b"" if fails else b"\0\0abc")
