"""`adl get --json`: one JSON object per finished item on stdout (JSON Lines), for scripts.

The keys are a documented, stable interface (README, "Output for scripts"); `FIELD_KEYS`
says which key carries each `Result` field, and a test fails when a field is added to
`Result` without deciding its key here. Values are the Result's, with passwords in URLs
masked. Nothing else is escaped by hand: `json.dumps` escapes control characters, and with
its default `ensure_ascii` every line is plain ASCII, so no terminal or locale can garble
it; a path that is not valid UTF-8 (a surrogate-escaped byte) comes out as `\\udcff`, which
Python's `json.loads` turns back into the exact path and jq shows as U+FFFD.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from .events import Event, FileFinished
from .redact import mask_text, mask_url
from .report import print_line
from .results import Result

# Result field -> JSON key, in the order the keys are written.
FIELD_KEYS: dict[str, str] = {
    "url": "url",
    "source": "source",
    "path": "path",
    "state": "state",
    "status": "status",
    "bytes": "bytes",
    "received": "received",
    "attempts": "attempts",
    "error": "error",
    "line_no": "line",
    "checksum": "checksum",
}

LineInList = Callable[[int], int | None]


def line_number(line_no: int) -> int | None:
    """The line as a single list numbers it; 0 (no line) is null."""
    return line_no or None


def item_object(result: Result, line_in_list: LineInList = line_number) -> dict[str, Any]:
    """The JSON object of one item: the Result's fields under their keys, URLs masked."""
    return {
        "url": mask_url(result.url),
        "source": None if result.source is None else mask_url(result.source),
        "path": None if result.path is None else str(result.path),
        "state": result.state.value,
        "status": result.status,
        "bytes": result.bytes,
        "received": result.received,
        "attempts": result.attempts,
        "error": None if result.error is None else mask_text(result.error),
        "line": line_in_list(result.line_no) if result.line_no else None,
        "checksum": result.checksum,
    }


def item_line(result: Result, line_in_list: LineInList = line_number) -> str:
    """One JSON Lines record: compact, one line, ASCII only."""
    return json.dumps(item_object(result, line_in_list), separators=(",", ":"))


class JsonLinesWriter:
    """Event handler writing a record per finished item (done, skipped or failed, bad list
    lines included), flushed at once so a reader sees each file as it ends. Once the reader
    has gone (`| head -1`) the records go to os.devnull and the batch goes on, as the
    human lines do; `stream` is then that devnull, for the CLI to put in place of stdout."""

    def __init__(self, stream: TextIO, line_in_list: LineInList = line_number) -> None:
        self.stream = stream
        self._line_in_list = line_in_list

    def __call__(self, event: Event, /) -> None:
        if isinstance(event, FileFinished):
            self.stream = print_line(item_line(event.result, self._line_in_list), self.stream)
