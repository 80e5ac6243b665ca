"""The terminal display (tqdm), driven with events and a fake clock: what a person sees."""

from __future__ import annotations

import io
from pathlib import Path

from downloader import FileFinished, FileProgress, FileRetrying, FileStarted, Result, State
from downloader.progress import BAR_AFTER_SECONDS, CLEAR_TO_END, TqdmRenderer

URL = "http://127.0.0.1:9/"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def renderer(total_files: int | None = None) -> tuple[TqdmRenderer, io.StringIO, Clock]:
    stream, clock = io.StringIO(), Clock()
    return TqdmRenderer(total_files, stream=stream, clock=clock), stream, clock


def started(name: str, total: int | None, offset: int = 0) -> FileStarted:
    return FileStarted(URL + name, Path("/out") / name, offset, total)


def done(name: str, size: int) -> FileFinished:
    return FileFinished(Result(URL + name, State.DONE, path=Path("/out") / name, bytes=size))


def last_overall(stream: io.StringIO) -> str:
    """The overall line as last drawn (tqdm redraws in place with carriage returns)."""
    draws = [d for d in stream.getvalue().replace("\n", "\r").split("\r") if "total" in d]
    return draws[-1]


def test_a_body_of_unknown_size_gets_a_bar_with_bytes_and_rate():
    show, stream, clock = renderer(1)
    show(started("chunked", None))
    clock.now += BAR_AFTER_SECONDS + 0.1
    show(FileProgress(URL + "chunked", 300_000, 300_000, None))
    show(FileProgress(URL + "chunked", 300_000, 600_000, None))
    show.tick()

    assert "chunked" in stream.getvalue()
    assert "chunked: 293.0 KiB" in stream.getvalue()  # the file's bar: bytes, no total
    assert "%" not in last_overall(stream)  # no total to take a percentage of
    show(done("chunked", 600_000))
    show.close()


def test_the_overall_line_counts_bytes_once_every_file_has_started():
    show, stream, clock = renderer(3)
    show(started("small", 1_000))
    show(started("big", 9_000))
    show.tick()
    assert "%" not in last_overall(stream)  # a third file has not started: total unknown
    assert "0/3 files" in last_overall(stream)

    show(FileProgress(URL + "small", 1_000, 1_000, 1_000))
    show(done("small", 1_000))
    show(started("third", 0))
    clock.now += 1
    show.tick()
    overall = last_overall(stream)
    assert " 10%|" in overall  # 1,000 of 10,000 bytes, though 1 of 3 files is 33 %
    assert "1000 B/9.8 KiB" in overall and "1/3 files" in overall

    show(FileProgress(URL + "big", 9_000, 9_000, 9_000))
    show(done("big", 9_000))
    show(done("third", 0))
    show.close()
    assert "100%|" in last_overall(stream) and "3/3 files" in last_overall(stream)


def test_a_resumed_file_counts_only_the_bytes_still_to_fetch():
    show, stream, _ = renderer(1)
    show(started("resumed", 10_000, offset=7_500))
    show(FileProgress(URL + "resumed", 500, 8_000, 10_000))
    show.tick()
    assert " 20%|" in last_overall(stream)  # 500 of the 2,500 bytes this run fetches
    show.close()


def test_the_rate_is_the_current_one_and_falls_to_zero_in_a_stall():
    show, stream, clock = renderer(1)
    show(started("f", 100 * 2**20))
    for _ in range(5):
        clock.now += 1
        show(FileProgress(URL + "f", 2**20, 0, 100 * 2**20))
        show.tick()
    assert "1.0 MiB/s" in last_overall(stream)

    for _ in range(5):  # nothing arrives: the clock moves, the rate falls
        clock.now += 1
        show.tick()
    assert "0 B/s" in last_overall(stream)
    assert "ETA --:--" in last_overall(stream)
    show.close()


def test_tick_redraws_while_no_event_arrives():
    show, stream, _ = renderer(1)
    show(started("f", 1000))
    show.tick()
    before = len(stream.getvalue())
    show.tick()
    assert len(stream.getvalue()) > before
    show.close()


def test_a_closed_bar_leaves_no_gap_between_the_others():
    show, _, clock = renderer(3)
    for name in ("a", "b", "c"):
        show(started(name, 10_000))
    clock.now += BAR_AFTER_SECONDS + 0.1
    for name in ("a", "b", "c"):
        show(FileProgress(URL + name, 100, 100, 10_000))
    bars = {name: show._active[URL + name].bar for name in ("b", "c")}

    show(done("a", 10_000))

    assert sorted(bar.pos for bar in bars.values()) == [1, 2]  # moved up: no blank line
    show.close()


def test_retries_and_failures_are_written_above_the_bars_with_secrets_masked():
    show, stream, _ = renderer(1)
    secret = "http://user:hunter2@127.0.0.1:9/f"
    show(FileRetrying(secret, 1, 0.5, "HTTP 503 Service Unavailable"))
    show(FileFinished(Result(secret, State.FAILED, error="HTTP 404 Not Found", line_no=3)))
    show.close()
    text = stream.getvalue()
    assert "retry http://user:***@127.0.0.1:9/f in 0.5 s after attempt 1: HTTP 503" in text
    assert "FAILED http://user:***@127.0.0.1:9/f (line 3): HTTP 404 Not Found" in text
    assert "hunter2" not in text


def test_abort_wipes_the_bars_for_the_shell_prompt():
    show, stream, _ = renderer(1)
    show.abort()
    assert stream.getvalue().endswith(CLEAR_TO_END)
