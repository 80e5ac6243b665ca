"""Plain-text output: human sizes, per-file lines, the tally and the final summary."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from downloader import FileFinished, FileProgress, FileRetrying, FileStarted, Notice, Result, State
from downloader.report import LineRenderer, Tally, failure_line, finished_line, human_bytes

URL = "http://127.0.0.1/"
KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 * KiB, "10.0 KiB"),
        (MiB - 1, "1024.0 KiB"),
        (MiB, "1.0 MiB"),
        (int(2.5 * MiB), "2.5 MiB"),
        (GiB, "1.0 GiB"),
        (TiB, "1.0 TiB"),
        (2048 * TiB, "2048.0 TiB"),  # no unit past TiB
        (123.4, "123 B"),  # rates are floats
    ],
)
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def done(name: str, size: int, line_no: int = 1) -> Result:
    return Result(
        URL + name, State.DONE, path=Path("/out") / name, status=200, bytes=size, line_no=line_no
    )


def skipped(name: str, size: int = 3) -> Result:
    return Result(URL + name, State.SKIPPED, path=Path("/out") / name, bytes=size)


def failed(name: str, error: str, line_no: int = 0) -> Result:
    return Result(URL + name, State.FAILED, error=error, line_no=line_no)


def test_lines_for_each_state():
    assert finished_line(done("a.bin", 2048)) == f"done {URL}a.bin -> /out/a.bin (2.0 KiB)"
    assert finished_line(skipped("b.bin")).startswith(f"skipped {URL}b.bin -> /out/b.bin")
    assert finished_line(failed("c.bin", "HTTP 404 Not Found")) == (
        f"FAILED {URL}c.bin: HTTP 404 Not Found"
    )


def test_a_failure_line_names_the_list_line_when_known():
    line = failure_line(failed("bad", "not an http or https URL", line_no=7))
    assert line == f"FAILED {URL}bad (line 7): not an http or https URL"


def feed(handler, events) -> None:
    for event in events:
        handler(event)


def a_batch() -> list:
    return [
        FileStarted(URL + "a.bin", Path("/out/a.bin"), 0, 3000),
        FileProgress(URL + "a.bin", 1000, 1000, 3000),
        FileProgress(URL + "a.bin", 2000, 3000, 3000),
        FileFinished(done("a.bin", 3000)),
        FileFinished(skipped("b.bin")),
        FileRetrying(URL + "c.bin", 1, 0.5, "HTTP 503 Service Unavailable"),
        FileFinished(failed("c.bin", "HTTP 503 Service Unavailable after 6 attempts")),
        FileFinished(failed("d.bin", "HTTP 404 Not Found")),
        Notice("No space left on device: no new files will be started"),
    ]


def render(**flags) -> list[str]:
    stream = io.StringIO()
    renderer = LineRenderer(stream, **flags)
    feed(renderer, a_batch())
    renderer.close()
    return stream.getvalue().splitlines()


def test_line_renderer_writes_one_line_per_finished_file():
    lines = render()
    assert lines == [
        f"done {URL}a.bin -> /out/a.bin (2.9 KiB)",
        f"skipped {URL}b.bin -> /out/b.bin (already there)",
        f"retry {URL}c.bin in 0.5 s after attempt 1: HTTP 503 Service Unavailable",
        f"FAILED {URL}c.bin: HTTP 503 Service Unavailable after 6 attempts",
        f"FAILED {URL}d.bin: HTTP 404 Not Found",
        "No space left on device: no new files will be started",
    ]


def test_line_renderer_quiet_prints_only_failures_and_notices():
    lines = render(quiet=True)
    assert lines == [
        f"FAILED {URL}c.bin: HTTP 503 Service Unavailable after 6 attempts",
        f"FAILED {URL}d.bin: HTTP 404 Not Found",
        "No space left on device: no new files will be started",
    ]


def test_retries_are_shown_without_debug_and_hidden_by_quiet():
    retry = f"retry {URL}c.bin in 0.5 s after attempt 1: HTTP 503 Service Unavailable"
    assert retry in render()
    assert retry in render(debug=True)
    assert retry not in render(quiet=True)


def test_tally_counts_and_bytes():
    tally = Tally()
    feed(tally, a_batch())
    assert (tally.done, tally.skipped, tally.failed) == (1, 1, 2)
    assert tally.bytes == 3000  # from progress events: bytes that came over the network
    assert [r.url for r in tally.first_failures] == [URL + "c.bin", URL + "d.bin"]


def test_summary_has_counts_bytes_and_each_failure_with_its_reason():
    tally = Tally()
    feed(tally, a_batch())

    text = tally.summary()

    head, *rest = text.splitlines()
    assert re.fullmatch(
        r"1 done, 1 skipped, 2 failed; 2\.9 KiB in \d+\.\d s \([\d.]+ \w+/s\)", head
    ), head
    assert rest == [
        "failed:",
        f"  {URL}c.bin: HTTP 503 Service Unavailable after 6 attempts",
        f"  {URL}d.bin: HTTP 404 Not Found",
    ]
    assert "interrupted" not in text


def test_summary_without_failures_has_no_failure_list():
    tally = Tally()
    feed(tally, [FileFinished(done("a.bin", 10)), FileFinished(skipped("b.bin"))])
    text = tally.summary()
    assert text.startswith("1 done, 1 skipped, 0 failed; ")
    assert "failed:" not in text
    assert len(text.splitlines()) == 1


def test_summary_when_interrupted_says_how_to_resume():
    tally = Tally()
    feed(tally, [FileFinished(done("a.bin", 10))])
    last = tally.summary(interrupted=True).splitlines()[-1]
    assert "interrupted" in last
    assert "resume" in last
