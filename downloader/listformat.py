"""aria2c's input-file format, read one line at a time. Pure: no I/O, nothing kept but the
item being read, so a list of millions of items costs the memory of one.

A plain list (one URL a line) is such a file. The rules, as aria2c 1.37 reads them
(src/UriListParser.cc `parseNext`, src/OptionParser.cc `parse(Option&, std::istream&)`,
`util::split` and `util::divide` in src/util.h), and where adl differs:

- An item line does not start with a space or a TAB. TAB separates URIs of one file (its
  mirrors, tried in order); each is stripped and empty fields are dropped, so
  `a<TAB><TAB>b` is two URIs. Spaces do not separate: `a b` is one (bad) URL.
- The lines after it that start with a space or a TAB are its options, `key=value`, split at
  the first `=`; key and value are stripped of surrounding whitespace and otherwise literal
  (no quoting: `out="a b"` keeps its quotes). Keys are case-sensitive (`OUT=` is unknown).
- Blank lines and comments between an item and its options do not end them: only the next
  item line (or the end of the list) does.
- A repeated key: the last one wins; `header` adds one header per line.
- An unknown key: a warning with its line number, and the item downloads (aria2c logs
  "Unknown option").
- `checksum=TYPE=HEX`: type and digest case-insensitive, the digest's length checked, as
  aria2c's ChecksumOptionHandler does.
- Where adl differs: a comment is any line whose first non-blank character is `#` (aria2c:
  only in column 1); an indented line that starts with http:// or https:// is an item, as in
  a plain list where surrounding whitespace never mattered (aria2c: an unknown option, the URL
  lost); an option line with no item above it is an error (aria2c reads it as a URI line);
  an option line without `=` or with an empty key is an error (aria2c: unknown or ignored);
  a bad value (`out=../x`, a malformed checksum or header) fails its item with the option's
  line number (aria2c stops reading the list).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from .inputs import (
    ListEntry,
    check_url,
    checksum_problem,
    header_problem,
    normal_checksum,
    split_problem,
    text_problem,
)
from .itempath import path_problem
from .items import Item
from .units import parse_rate, rate_problem

Warn = Callable[[int, str], None]  # (line number, message)

MAX_OPTION_LINES = 1000  # per item: a runaway list must not grow one item without bound
LATER: frozenset[str] = frozenset()  # keys accepted, applied by a later version
_BOM = "\ufeff"
_INDENTS = (" ", "\t")
_URL_START = re.compile(r"https?://", re.IGNORECASE)
_FIELDS = {"out": "name", "dir": "subdir", "referer": "referer", "user-agent": "user_agent"}
_FIELDS |= {"http-user": "http_user", "http-passwd": "http_passwd", "checksum": "checksum"}
_FIELDS |= {"max-download-limit": "limit_rate"}
_FIELDS |= {"split": "split"}
_CHECKS = {
    "out": path_problem,
    "dir": path_problem,
    "checksum": checksum_problem,
    "referer": text_problem,
    "user-agent": text_problem,
    "http-user": text_problem,
    "http-passwd": text_problem,
    "max-download-limit": rate_problem,
    "split": split_problem,
}
_SECRET = "http-passwd"  # its value is never quoted in a message


class _Pending:
    """The item being read: its line, its URIs, and its options so far."""

    __slots__ = ("error", "headers", "line_no", "options", "text", "urls", "values")

    def __init__(self, line_no: int, text: str, urls: list[str], error: str | None) -> None:
        self.line_no, self.text, self.urls = line_no, text, urls
        self.error: tuple[int, str] | None = None if error is None else (line_no, error)
        self.values: dict[str, str] = {}
        self.headers: list[str] = []
        self.options = 0


def _no_warnings(line_no: int, message: str) -> None:
    pass


def parse_lines(lines: Iterable[str], warn: Warn = _no_warnings) -> Iterator[ListEntry]:
    """The entries of a whole list; blank lines and ``#`` comments are skipped.

    ``line_no`` counts every physical line (skipped ones too), so it matches what an
    editor shows. Works on an open text file without reading it whole.
    """
    parser = ListParser(warn)
    for line_no, line in enumerate(lines, 1):
        entry = parser.feed(line_no, line, first=line_no == 1)
        if entry is not None:
            yield entry
    last = parser.flush()
    if last is not None:
        yield last


class ListParser:
    """Feed it lines; it hands back each item once the item is complete: when the next item
    line arrives, or on `flush` (the end of the list, or a pause in a stream)."""

    def __init__(self, warn: Warn = _no_warnings) -> None:
        self._warn = warn
        self._pending: _Pending | None = None
        self._paused = False  # the last item was handed over at a pause of the stream

    def feed(self, line_no: int, line: str, *, first: bool = False) -> ListEntry | None:
        """The entry this line completes (the item before it, or an error), if any."""
        if first:
            line = line.removeprefix(_BOM)  # editors on Windows put one at the start
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        if line.startswith(_INDENTS) and not _URL_START.match(text):
            return self._option(line_no, text)
        done = self.flush()
        self._paused = False
        self._pending = _item_line(line_no, text)
        return done

    def flush(self, *, pause: bool = False) -> ListEntry | None:
        """The item being read, complete now. `pause`: the stream paused after it; option
        lines that come later have no item above them."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        self._paused = pause
        return _entry(pending)

    def _option(self, line_no: int, text: str) -> ListEntry | None:
        pending = self._pending
        if pending is None:
            why = "an option line with no item above it"
            if self._paused:
                why += " (on a pipe, an item's option lines must come with it)"
            return ListEntry(line_no, text, why)
        if pending.error is not None:
            return None  # the item failed already: the rest of its options do not matter
        pending.options += 1
        if pending.options > MAX_OPTION_LINES:
            pending.error = (line_no, f"more than {MAX_OPTION_LINES} option lines")
            return None
        key, equals, value = (part.strip() for part in text.partition("="))
        if not equals or not key:
            shown = _SECRET if text.startswith(_SECRET) else repr(text)
            pending.error = (line_no, f"bad option line {shown}: expected key=value")
            return None
        problem = self._apply(pending, line_no, key, value)
        if problem is not None:
            shown = "***" if key == _SECRET else value
            pending.error = (line_no, f"{key}={shown}: {problem}")
        return None

    def _apply(self, pending: _Pending, line_no: int, key: str, value: str) -> str | None:
        """Record one option; the reason when its value is bad."""
        if key == "header":
            if value:
                pending.headers.append(value)
            return header_problem(value) if value else None
        if key in _FIELDS:
            pending.values[key] = value
            return _CHECKS[key](value)
        if key in LATER:
            self._warn(line_no, f"option {key!r} is not applied yet (a later adl will)")
        else:
            self._warn(line_no, f"unknown option {key!r} ignored")
        return None


_URL_START_BYTES = re.compile(rb"https?://", re.IGNORECASE)


def counts_as_item(line: bytes) -> bool:
    """Whether a raw line is an item line (for counting a list's items ahead, quickly:
    the URLs are not checked)."""
    text = line.strip()
    if not text or text.startswith(b"#"):
        return False
    return line[:1] not in (b" ", b"\t") or _URL_START_BYTES.match(text) is not None


def _item_line(line_no: int, text: str) -> _Pending:
    if "\t" not in text:  # the common case, one URL: no splitting
        return _Pending(line_no, text, [text], check_url(text))
    urls = [url for url in (part.strip() for part in text.split("\t")) if url]
    for index, url in enumerate(urls):
        reason = check_url(url)
        if reason is not None:
            why = reason if len(urls) == 1 else f"mirror {index + 1} {url!r}: {reason}"
            return _Pending(line_no, urls[0], urls, why)
    return _Pending(line_no, urls[0], urls, None)


def _entry(pending: _Pending) -> ListEntry:
    if pending.error is not None:
        line_no, error = pending.error
        return ListEntry(line_no, pending.text, error)
    if not pending.options and len(pending.urls) == 1:
        return ListEntry(pending.line_no, pending.text, None)  # the common case, quickly
    # An empty value is no value: the URL's own name, the batch's referer, and so on.
    values = {_FIELDS[key]: value for key, value in pending.values.items() if value}
    if not values and not pending.headers and len(pending.urls) == 1:
        return ListEntry(pending.line_no, pending.text, None)  # a plain URL: no Item needed
    user, password = values.pop("http_user", None), values.pop("http_passwd", None)
    if password is not None and user is None:
        return ListEntry(pending.line_no, pending.text, "http-passwd without http-user")
    checksum, limit = values.pop("checksum", None), values.pop("limit_rate", None)
    split = values.pop("split", None)
    item = Item(
        url=pending.urls[0],
        mirrors=tuple(pending.urls[1:]),
        checksum=None if checksum is None else normal_checksum(checksum),
        headers=tuple(pending.headers),
        user=None if user is None else f"{user}:{password or ''}",
        limit_rate=None if limit is None else parse_rate(limit),  # 0: none, as in aria2c
        split=None if split is None else int(split),
        **values,
    )
    return ListEntry(pending.line_no, pending.text, None, item)
