"""Where list lines come from: the `LIST|URL...` arguments, read without blocking the loop.

A regular file is read directly: its reads never wait on anyone. A pipe, a FIFO or a
terminal can wait forever for the next line, and a read in the event loop's thread would
hold every transfer and Ctrl-C hostage (`(echo URL; sleep 8) | adl get -` used to start the
URL only after 8 s). Those are read by a daemon thread that hands batches of lines to the
loop as they arrive; a bounded queue keeps it from reading far ahead of the engine, and a
daemon thread blocked in read() never keeps the process from exiting.

Lines of all sources are numbered in one sequence (what `Result.line_no` orders by);
`ListSources.where` turns such a number back into "line 7" or "b.txt, line 7" for messages.

Lists are in aria2c's format (listformat.py): an item is complete only when the next item
line comes, since option lines may follow it. On a stream the next item may come much later,
so an item is also complete once the stream pauses: no more lines within SETTLE_SECONDS.
`producer | adl get -` starts each URL that soon after it arrives; its option lines must
come with it (a program writing them right after it is fine; typing them by hand is not).
"""

from __future__ import annotations

import asyncio
import bisect
import codecs
import os
import queue
import stat
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import BinaryIO

from .errors import OptionsError
from .inputs import ListEntry, check_url
from .listformat import ListParser, counts_as_item

READ_SIZE = 64 * 1024
QUEUED_BATCHES = 16  # batches of lines read ahead of the engine, at most
SETTLE_SECONDS = 0.1  # a stream quiet this long after a line has sent its item whole


def is_url_argument(arg: str) -> bool:
    """An argument naming a URL rather than a list file (`adl get https://host/f`)."""
    return arg[:8].lower().startswith(("http://", "https://"))


class ListSources:
    """The lists and URLs given to `adl get`, opened at once (an unreadable list is a usage
    error before any download starts) and read lazily, in order."""

    def __init__(self, args: Sequence[str], stdin: BinaryIO) -> None:
        if not args:
            raise OptionsError("give a LIST file, - for standard input, or URLs")
        self._args = list(args)
        self._files: dict[int, BinaryIO] = {}
        try:
            for index, arg in enumerate(self._args):
                if not is_url_argument(arg):
                    self._files[index] = stdin if arg == "-" else _open_list(arg)
        except OptionsError:
            self.close()
            raise
        self._starts: list[int] = []  # first line number of each source read so far
        self._labels: list[str] = []
        self.read = 0  # URLs handed out so far

    def reads_a_terminal(self) -> bool:
        """A list typed at the terminal (`adl get -`): bars drawn there would overwrite it."""
        stdin = next((f for i, f in self._files.items() if self._args[i] == "-"), None)
        return stdin is not None and stdin.isatty()

    def close(self) -> None:
        for index, file in self._files.items():
            if self._args[index] != "-":
                file.close()

    def count_urls(self) -> int | None:
        """URLs in all sources, for the overall bar; None when a source is a stream."""
        count = 0
        for index, arg in enumerate(self._args):
            file = self._files.get(index)
            if file is None:
                count += 1
            elif not _is_regular(file) or arg == "-":
                return None
            else:
                count += _count_url_lines(arg)
        return count

    def where(self, line_no: int) -> str:
        """Where a numbered line came from, for messages: 'line 7', or 'b.txt, line 7' when
        several sources were given; '' for a URL given as an argument."""
        at = bisect.bisect_right(self._starts, line_no) - 1
        if at < 0:
            return ""
        label, local = self._labels[at], line_no - self._starts[at] + 1
        if label == "":
            return ""
        return f"line {local}" if len(self._args) == 1 else f"{label}, line {local}"

    def line_in_list(self, line_no: int) -> int | None:
        """A numbered line's number within its own list (`--json`'s `line`); None for a URL
        given as an argument."""
        at = bisect.bisect_right(self._starts, line_no) - 1
        if at < 0 or self._labels[at] == "":
            return None
        return line_no - self._starts[at] + 1

    async def entries(self, warn: Callable[[str], None] | None = None) -> AsyncIterator[ListEntry]:
        """Every entry of every source, numbered in one sequence. `warn` hears of lines
        used otherwise than written (an unknown option: 'b.txt, line 7: unknown ...')."""

        def located(line_no: int, message: str) -> None:
            if warn is not None:
                warn(f"{self.where(line_no)}: {message}")

        offset = 0
        for index, arg in enumerate(self._args):
            self._starts.append(offset + 1)
            file = self._files.get(index)
            if file is None:
                self._labels.append("")
                offset += 1
                self.read += 1
                yield ListEntry(offset, arg, check_url(arg))
                continue
            self._labels.append("standard input" if arg == "-" else arg)
            parser, local = ListParser(located), 0
            async for batch in read_batches(file):
                for line in batch:
                    local += 1
                    entry = parser.feed(offset + local, line, first=local == 1)
                    if entry is not None:
                        self.read += 1
                        yield entry
                # An empty batch: the stream paused. What it sent so far is complete.
                entry = parser.flush(pause=True) if not batch else None
                if entry is not None:
                    self.read += 1
                    yield entry
            if (entry := parser.flush()) is not None:
                self.read += 1
                yield entry
            offset += local


async def read_batches(file: BinaryIO) -> AsyncIterator[list[str]]:
    """The lines of `file` as text, in batches; a stream's as soon as each arrives, and an
    empty batch when the stream pauses (nothing more within SETTLE_SECONDS)."""
    if not _may_block(file):
        splitter = LineSplitter()
        for chunk in iter(lambda: file.read(READ_SIZE), b""):
            if lines := splitter.feed(chunk):
                yield lines
        if last := splitter.end():
            yield last
        return
    async for batch in _threaded_batches(file.fileno()):
        yield batch


class LineSplitter:
    """Lines of UTF-8 text from byte chunks split anywhere (bad bytes become U+FFFD)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> list[str]:
        """The lines this chunk completes."""
        *lines, self._pending = (self._pending + self._decoder.decode(chunk)).split("\n")
        return lines

    def end(self) -> list[str]:
        """The last line, when the input did not end with a newline."""
        last = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [last] if last else []


async def _threaded_batches(fd: int) -> AsyncIterator[list[str]]:
    """The lines of a stream, batch by batch, read by a daemon thread: each read returns
    what has arrived so far, so a line typed or piped in reaches the engine at once."""
    loop = asyncio.get_running_loop()
    batches: queue.Queue[list[str] | OSError | None] = queue.Queue(QUEUED_BATCHES)
    ready = asyncio.Event()

    def hand_over(item: list[str] | OSError | None) -> None:
        batches.put(item)  # blocks while the engine is QUEUED_BATCHES behind
        loop.call_soon_threadsafe(ready.set)

    def reader() -> None:
        splitter = LineSplitter()
        try:
            while chunk := os.read(fd, READ_SIZE):
                if lines := splitter.feed(chunk):
                    hand_over(lines)
        except OSError as exc:  # handed to the loop's side: a thread cannot raise there
            hand_over(exc)
            return
        if last := splitter.end():
            hand_over(last)
        hand_over(None)

    threading.Thread(target=reader, name="adl-list-reader", daemon=True).start()
    settling = False  # lines came, and the stream may pause after them
    while True:
        ready.clear()
        try:
            item = batches.get_nowait()
        except queue.Empty:
            if settling:  # wait a little for more; when none comes, that is a pause
                settling = False
                if not await _more_within(ready, batches, SETTLE_SECONDS):
                    yield []
                continue
            await ready.wait()
            continue
        if item is None:
            return
        if isinstance(item, OSError):
            raise OptionsError(f"cannot read list: {item.strerror or item}") from item
        yield item
        settling = True


async def _more_within(ready: asyncio.Event, batches: queue.Queue, seconds: float) -> bool:
    """Whether something reaches `batches` within `seconds`. `ready` may have been set by a
    batch taken already (the reader puts, then asks the loop to set it): a wake-up proves
    nothing, the queue is looked at again each time."""
    expired = asyncio.Event()

    def expire() -> None:
        expired.set()
        ready.set()

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        while batches.empty() and not expired.is_set():
            ready.clear()
            if batches.empty():
                await ready.wait()
    finally:
        timer.cancel()
    return not batches.empty()


def _is_regular(file: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode)
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return False


def _may_block(file: BinaryIO) -> bool:
    """A pipe, FIFO, socket or terminal; not a regular file, nor an in-memory buffer."""
    try:
        mode = os.fstat(file.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode)


def _open_list(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise OptionsError(f"cannot read list {path!r}: {exc.strerror}") from exc


def _count_url_lines(path: str) -> int:
    """Item lines (not blank, comments or option lines): a quick pass that does not check
    URLs (a million-line list counts in a fraction of a second)."""
    try:
        with open(path, "rb") as file:
            return sum(1 for line in file if counts_as_item(line))
    except OSError:
        return 0
