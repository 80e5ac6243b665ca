"""Where list lines come from: several lists and URL arguments, and streams that must never
block the event loop (a pipe, a terminal)."""

from __future__ import annotations

import asyncio
import io
import os

import pytest

from downloader.errors import OptionsError
from downloader.inputs import ListEntry
from downloader.sources import SETTLE_SECONDS, LineSplitter, ListSources, is_url_argument


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([], []),
        ([b"a\nb\n"], ["a", "b"]),
        ([b"a\nb"], ["a", "b"]),  # no newline at the end
        ([b"htt", b"p://x/\n", b"\n"], ["http://x/", ""]),  # a line split across reads
        ([b"\xc3", b"\xa9\n"], ["é"]),  # a UTF-8 character split across reads
        ([b"\xff\n"], ["\ufffd"]),  # bad bytes become U+FFFD, not an error
        ([b"a\r\n"], ["a\r"]),  # CR stays for strip() to remove, as with any whitespace
    ],
)
def test_line_splitter(chunks, lines):
    splitter = LineSplitter()
    got = [line for chunk in chunks for line in splitter.feed(chunk)]
    assert got + splitter.end() == lines


@pytest.mark.parametrize(
    ("arg", "is_url"),
    [
        ("http://h/x", True),
        ("HTTPS://h/x", True),
        ("urls.txt", False),
        ("-", False),
        ("ftp://h/x", False),  # not ours: taken as a list path, which then cannot be read
        ("http", False),
    ],
)
def test_url_arguments(arg, is_url):
    assert is_url_argument(arg) is is_url


async def collect(sources: ListSources) -> list[ListEntry]:
    return [entry async for entry in sources.entries()]


async def test_lists_and_urls_are_read_in_order_and_numbered_in_one_sequence(tmp_path):
    (tmp_path / "a.txt").write_text("http://h/1\n# note\nhttp://h/2\n")
    (tmp_path / "b.txt").write_text("\nnot-a-url\n")
    args = [str(tmp_path / "a.txt"), "http://h/3", str(tmp_path / "b.txt")]
    sources = ListSources(args, io.BytesIO())

    entries = await collect(sources)

    assert [(e.line_no, e.url, e.error) for e in entries] == [
        (1, "http://h/1", None),
        (3, "http://h/2", None),
        (4, "http://h/3", None),
        (6, "not-a-url", "not an http or https URL"),
    ]
    assert sources.where(3) == f"{tmp_path / 'a.txt'}, line 3"
    assert sources.where(4) == ""  # a URL argument has no line to point at
    assert sources.where(6) == f"{tmp_path / 'b.txt'}, line 2"
    assert sources.count_urls() == 4
    assert sources.read == 4


async def test_one_list_keeps_plain_line_numbers(tmp_path):
    (tmp_path / "a.txt").write_text("\n\nbad\n")
    sources = ListSources([str(tmp_path / "a.txt")], io.BytesIO())
    [entry] = await collect(sources)
    assert sources.where(entry.line_no) == "line 3"


async def test_a_bom_is_dropped_from_the_first_line_of_each_list(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfhttp://h/1\n")
    (tmp_path / "b.txt").write_bytes(b"\xef\xbb\xbfhttp://h/2\n")
    sources = ListSources([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], io.BytesIO())
    entries = await collect(sources)
    assert [(e.url, e.error) for e in entries] == [("http://h/1", None), ("http://h/2", None)]


def test_an_unreadable_list_among_several_is_a_usage_error_before_anything_is_read(tmp_path):
    (tmp_path / "a.txt").write_text("http://h/1\n")
    with pytest.raises(OptionsError, match=r"cannot read list .*missing\.txt"):
        ListSources([str(tmp_path / "a.txt"), str(tmp_path / "missing.txt")], io.BytesIO())


def test_no_arguments_is_a_usage_error():
    with pytest.raises(OptionsError):
        ListSources([], io.BytesIO())


def test_a_stream_cannot_be_counted_ahead(tmp_path):
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream:
        assert ListSources(["-"], stream).count_urls() is None
    os.close(write_end)


async def test_a_pipe_hands_over_each_line_as_it_arrives_while_the_writer_stays(tmp_path):
    """The writer sends one line and keeps the pipe open: the entry must arrive anyway, and
    the loop must stay free meanwhile (a blocking read would hold both)."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream:
        entries = ListSources(["-"], stream).entries()
        os.write(write_end, b"http://h/first\nhttp://h/sec")
        first = await asyncio.wait_for(anext(entries), timeout=5)
        assert first.url == "http://h/first"

        # The rest of line 2 has not arrived: the loop is free (this sleep returns) and
        # the entry waits for its newline.
        pending = asyncio.ensure_future(anext(entries))
        await asyncio.sleep(0.2)
        assert not pending.done()

        os.write(write_end, b"ond\n")
        os.close(write_end)
        second = await asyncio.wait_for(pending, timeout=5)
        assert second.url == "http://h/second"
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(entries), timeout=5)


async def test_a_file_is_reported_as_it_ends_while_the_list_waits_for_its_next_line(
    server, tmp_path
):
    """A list on a slow pipe: the first file's FileFinished must not wait for line 2."""
    from downloader.api import run_batch
    from downloader.events import FileFinished
    from downloader.options import Options

    server.add("first.txt", b"first")
    finished: list[str] = []
    more = asyncio.Event()

    async def slow_list():
        yield ListEntry(1, server.url("first.txt"), None)
        await more.wait()  # the producer is quiet

    def on_event(event):
        if isinstance(event, FileFinished):
            finished.append(event.result.url)

    batch = run_batch(slow_list(), tmp_path, Options(), on_event)
    drained = asyncio.ensure_future(_drain(batch))
    for _ in range(500):
        if finished:
            break
        await asyncio.sleep(0.01)
    assert finished == [server.url("first.txt")]
    more.set()
    await asyncio.wait_for(drained, timeout=10)


async def _drain(batch) -> None:
    async for _ in batch:
        pass


def test_a_list_typed_at_a_terminal_is_known_as_such():
    """The CLI draws no bars over a list being typed (`adl get -` at a prompt)."""
    main, secondary = os.openpty()
    read_end, write_end = os.pipe()
    with os.fdopen(secondary, "rb") as tty, os.fdopen(read_end, "rb") as pipe:
        assert ListSources(["-"], tty).reads_a_terminal()
        assert not ListSources(["-"], pipe).reads_a_terminal()
        assert not ListSources(["http://h/x"], tty).reads_a_terminal()
    os.close(main)
    os.close(write_end)


# --- aria2c lists: option lines ---------------------------------------------------------------


async def test_option_lines_are_not_counted_and_warnings_name_their_list(tmp_path):
    (tmp_path / "a.txt").write_text("http://h/1\n  out=x\n\thttp://h/2\n")
    (tmp_path / "b.txt").write_text("# c\nhttp://h/3\thttp://m/3\n  colour=blue\n")
    sources = ListSources([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], io.BytesIO())
    warnings: list[str] = []

    entries = [entry async for entry in sources.entries(warn=warnings.append)]

    assert [(e.line_no, e.url) for e in entries] == [
        (1, "http://h/1"),
        (3, "http://h/2"),
        (5, "http://h/3"),
    ]
    assert entries[0].item is not None and entries[0].item.name == "x"
    assert entries[2].item is not None and entries[2].item.mirrors == ("http://m/3",)
    assert warnings == [f"{tmp_path / 'b.txt'}, line 3: unknown option 'colour' ignored"]
    assert sources.count_urls() == 3
    assert sources.read == 3


async def test_on_a_pipe_an_item_starts_when_the_stream_pauses_with_its_options(tmp_path):
    """`producer | adl get -`: an item and its option lines written one after the other
    (separate writes, as `echo; echo` does) arrive together; the item is handed over once
    the stream pauses, long before the next item or the end."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream:
        entries = ListSources(["-"], stream).entries()
        first = asyncio.ensure_future(anext(entries))
        os.write(write_end, b"http://h/1\n")
        await asyncio.sleep(SETTLE_SECONDS / 10)
        os.write(write_end, b"  out=one.bin\n")
        os.write(write_end, b"  dir=d\n")

        entry = await asyncio.wait_for(first, timeout=5)  # the pipe is still open

        assert entry.item is not None
        assert (entry.url, entry.item.name, entry.item.subdir) == ("http://h/1", "one.bin", "d")
        await asyncio.sleep(SETTLE_SECONDS * 2)
        os.write(write_end, b"  out=late.bin\nhttp://h/2\n")
        os.close(write_end)
        late = await asyncio.wait_for(anext(entries), timeout=5)
        assert (late.line_no, late.error) == (
            4,
            "an option line with no item above it "
            "(on a pipe, an item's option lines must come with it)",
        )
        assert (await asyncio.wait_for(anext(entries), timeout=5)).url == "http://h/2"
