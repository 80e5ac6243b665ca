"""`--json` records: the pinned key set and types, Result fields <-> keys, masking, escaping,
flushing and a reader that leaves. The CLI and a real pipe are in test_cli_json.py."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from downloader import FileFinished, FileProgress, FileRetrying, FileStarted, Notice, Result, State
from downloader.jsonlines import FIELD_KEYS, JsonLinesWriter, item_line, item_object
from downloader.sources import ListSources

# The documented keys, in the order they are written. Changing this list is changing an
# interface scripts rely on: the README's table says the same.
KEYS = [
    "url",
    "source",
    "path",
    "state",
    "status",
    "bytes",
    "received",
    "attempts",
    "error",
    "line",
    "checksum",
]

URL = "http://127.0.0.1:8080/data/f.bin"
DONE = Result(
    URL,
    State.DONE,
    path=Path("/out/f.bin"),
    status=200,
    bytes=10,
    received=4,
    attempts=2,
    line_no=3,
    source="http://mirror/f.bin",
    checksum="sha256:" + "ab" * 32,
)


def test_the_keys_are_exactly_the_documented_ones_in_order():
    assert list(item_object(DONE)) == KEYS
    assert list(FIELD_KEYS.values()) == KEYS


def test_every_result_field_has_a_json_key():
    # Adding a field to Result fails here until FIELD_KEYS (and the README) say its key.
    assert sorted(f.name for f in dataclasses.fields(Result)) == sorted(FIELD_KEYS)


# A value differing from DONE's for each Result field.
CHANGED = {
    "url": "http://other/g.bin",
    "state": State.FAILED,
    "path": Path("/elsewhere/g.bin"),
    "status": 206,
    "error": "boom",
    "bytes": 11,
    "received": 5,
    "attempts": 3,
    "line_no": 8,
    "source": "http://other-mirror/f.bin",
    "checksum": "md5:" + "cd" * 16,
}


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Result)])
def test_each_key_carries_its_field_and_no_other(field):
    assert field in CHANGED, f"say how Result.{field} shows in --json"
    before = item_object(DONE)
    after = item_object(dataclasses.replace(DONE, **{field: CHANGED[field]}))
    changed = {key for key in KEYS if before[key] != after[key]}
    assert changed == {FIELD_KEYS[field]}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            DONE,
            {
                "url": URL,
                "source": "http://mirror/f.bin",
                "path": "/out/f.bin",
                "state": "done",
                "status": 200,
                "bytes": 10,
                "received": 4,
                "attempts": 2,
                "error": None,
                "line": 3,
                "checksum": "sha256:" + "ab" * 32,
            },
        ),
        (
            Result(URL, State.SKIPPED, path=Path("/out/f.bin"), bytes=10, line_no=1),
            {
                "url": URL,
                "source": None,
                "path": "/out/f.bin",
                "state": "skipped",
                "status": None,
                "bytes": 10,
                "received": 0,
                "attempts": 0,
                "error": None,
                "line": 1,
                "checksum": None,
            },
        ),
        (
            Result(URL, State.FAILED, status=404, error="HTTP 404 Not Found", attempts=1),
            {
                "url": URL,
                "source": None,
                "path": None,
                "state": "failed",
                "status": 404,
                "bytes": 0,
                "received": 0,
                "attempts": 1,
                "error": "HTTP 404 Not Found",
                "line": None,  # line_no 0: not from a list
                "checksum": None,
            },
        ),
        (
            Result("ftp://h/x", State.FAILED, error="not an http or https URL", line_no=5),
            {
                "url": "ftp://h/x",
                "source": None,
                "path": None,
                "state": "failed",
                "status": None,
                "bytes": 0,
                "received": 0,
                "attempts": 0,
                "error": "not an http or https URL",
                "line": 5,
                "checksum": None,
            },
        ),
    ],
    ids=["done", "skipped", "failed-404", "bad-line"],
)
def test_records_by_state_values_and_types(result, expected):
    line = item_line(result)
    assert "\n" not in line
    assert json.loads(line) == expected
    # Exact types too (True == 1 in Python: a bool would pass the comparison above).
    for key, value in json.loads(line).items():
        assert type(value) is type(expected[key]), key


def test_passwords_are_masked_in_url_source_and_error():
    result = Result(
        "http://user:s3cret@h/f",
        State.FAILED,
        error="redirected to https://bob:hunter2@mirror/f: refused",
        source="https://bob:hunter2@mirror/f",
    )
    line = item_line(result)
    assert "s3cret" not in line
    assert "hunter2" not in line
    record = json.loads(line)
    assert record["url"] == "http://user:***@h/f"
    assert record["source"] == "https://bob:***@mirror/f"
    assert record["error"] == "redirected to https://bob:***@mirror/f: refused"


def test_control_characters_and_undecodable_bytes_cannot_break_a_record():
    # A server's reason phrase or a list line may carry ESC, newlines, NUL, C1 controls,
    # U+2028; a folder named with a byte that is not UTF-8 arrives as a lone surrogate.
    folder = os.fsdecode(b"/out/\xff")
    hostile = "x\x1b[2J\n\r\x00\x85\u2028\u2029y\u00e9"
    result = Result(
        f"http://h/{hostile}",
        State.FAILED,
        path=Path(folder, "f.bin"),
        error=hostile,
        line_no=2,
    )

    line = item_line(result)

    assert line.isascii()  # no terminal encoding or locale can garble it
    assert line.isprintable()  # one line: no raw control character at all
    record = json.loads(line)
    assert record["error"] == hostile  # escaped, not altered
    assert record["url"] == f"http://h/{hostile}"
    assert os.fsencode(record["path"]) == b"/out/\xff/f.bin"  # the exact path comes back
    io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict").write(line)


def test_line_numbers_come_from_the_list_the_item_is_in():
    def in_list(line_no: int) -> int | None:
        return {7: 2}.get(line_no)

    assert json.loads(item_line(dataclasses.replace(DONE, line_no=7), in_list))["line"] == 2
    assert json.loads(item_line(dataclasses.replace(DONE, line_no=4), in_list))["line"] is None


async def test_list_sources_number_lines_within_each_list(tmp_path):
    (tmp_path / "a.txt").write_text("http://h/1\n# note\nhttp://h/2\n")
    (tmp_path / "b.txt").write_text("\nnot-a-url\n")
    args = [str(tmp_path / "a.txt"), "http://h/3", str(tmp_path / "b.txt")]
    sources = ListSources(args, io.BytesIO())
    numbers = [e.line_no async for e in sources.entries()]
    assert numbers == [1, 3, 4, 6]  # one sequence across sources
    assert [sources.line_in_list(n) for n in numbers] == [1, 3, None, 2]


class Recording(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_the_writer_writes_one_flushed_line_per_finished_item_and_nothing_else():
    stream = Recording()
    writer = JsonLinesWriter(stream)
    failed = Result("http://h/g", State.FAILED, error="HTTP 500", line_no=4)
    events = [
        FileStarted(URL, Path("/out/f.bin"), 0, 10),
        FileProgress(URL, 10, 10, 10),
        FileRetrying("http://h/g", 1, 0.5, "HTTP 503"),
        Notice("the disk is full"),
        FileFinished(DONE),
        FileFinished(failed),
    ]
    for event in events:
        writer(event)

    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [item_object(DONE), item_object(failed)]
    # Flushed as each was written: a reader sees a file as it ends, not at exit.
    assert stream.flushed[0] == lines[0] + "\n"
    assert stream.flushed[-1] == stream.getvalue()


class Gone(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_left_silences_the_records_and_the_batch_goes_on():
    writer = JsonLinesWriter(Gone())
    writer(FileFinished(DONE))  # no exception: `adl get --json list | head -1`
    writer(FileFinished(DONE))
    assert writer.stream.name == os.devnull  # what the CLI puts in place of stdout
