"""Turn a URL list (CLI file/stdin, or a library iterable) into checked entries.

Pure and lazy: nothing here does I/O, and both entry points are generators, so a list of
millions of lines is consumed one line at a time as the engine asks for more work. A bad
line is not an exception: it becomes a ``ListEntry`` with ``error`` set, so the caller can
report it with its line number, count it as failed, and carry on with the rest (DESIGN §1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from .integrity import checksum_error
from .items import Item

__all__ = [
    "MAX_URL_LENGTH",
    "ListEntry",
    "check_url",
    "entries_from_urls",
    "parse_line",
    "parse_lines",
]

# Common server/proxy limit for a request line; a longer "URL" is almost surely a pasted blob.
MAX_URL_LENGTH = 8192

_SCHEMES = frozenset({"http", "https"})
# Unicode whitespace plus C0/DEL/C1 controls. Checked on the raw string because urlsplit
# silently deletes tabs and newlines (WHATWG behaviour), which would hide a broken line.
_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_BOM = "\ufeff"
# Fast path for the common shape: urlsplit plus its hostname and port properties cost ~10 µs
# a line, which adds up over a list of millions. A URL matching this (checked after the
# whitespace test) gets the same verdict from _check_parsed, only sooner; anything unusual
# (userinfo, IPv6, backslashes, an empty host) takes the general path.
_SIMPLE_URL = re.compile(
    r"(?i:https?)://[A-Za-z0-9][A-Za-z0-9.-]*(?::(?P<port>[0-9]{1,5}))?(?:[/?#].*)?",
    re.DOTALL,
)
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One URL from the input, with the reason it is unusable (``None`` when usable), and
    the item's own options when it has any (mirrors, name, checksum, headers...)."""

    line_no: int
    url: str
    error: str | None
    item: Item | None = None


def check_url(url: str) -> str | None:
    """Return a short reason why ``url`` cannot be downloaded, or ``None`` if it can."""
    if not url:
        return "empty URL"
    # Length first: it is the cheapest test and keeps the others from scanning huge blobs.
    if len(url) > MAX_URL_LENGTH:
        return "URL too long"
    bad = _BAD_CHAR.search(url)
    if bad is not None:
        return (
            "URL contains whitespace"
            if bad.group().isspace()
            else "URL contains control characters"
        )
    simple = _SIMPLE_URL.fullmatch(url)
    if simple is not None:
        port = simple["port"]
        return None if port is None or int(port) <= _MAX_PORT else "invalid port"
    return _check_parsed(url)


def _check_parsed(url: str) -> str | None:
    """The general case, judged on what urlsplit (and so the HTTP client) will see."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in an IPv6 host
        return "malformed URL"
    # urlsplit lowercases the scheme, so "HTTPS://" is accepted; "example.com/x" has none.
    if parts.scheme not in _SCHEMES:
        return "not an http or https URL"
    if not parts.hostname:
        return "no host in URL"
    try:
        parts.port  # noqa: B018 - the property raises on a non-numeric or out-of-range port
    except ValueError:
        return "invalid port"
    return None


def parse_lines(lines: Iterable[str]) -> Iterator[ListEntry]:
    """Yield an entry per URL line; blank lines and ``#`` comments are skipped.

    ``line_no`` counts every physical line (skipped ones too), so it matches what an
    editor shows. Works on an open text file without reading it whole.
    """
    for line_no, line in enumerate(lines, 1):
        entry = parse_line(line_no, line, first=line_no == 1)
        if entry is not None:
            yield entry


def parse_line(line_no: int, line: str, *, first: bool = False) -> ListEntry | None:
    """The entry of one list line, or ``None`` for a blank line or a ``#`` comment."""
    # A BOM is not whitespace for str.strip(); editors on Windows add one to line 1 (and
    # only there: a BOM inside a list is garbage in that line).
    text = (line.removeprefix(_BOM) if first else line).strip()
    if not text or text.startswith("#"):
        return None
    return ListEntry(line_no, text, check_url(text))


def entries_from_urls(urls: Iterable[object]) -> Iterator[ListEntry]:
    """Yield an entry per item of a library caller's iterable of URLs.

    Every item is a URL (``str``, ``yarl.URL`` or anything whose ``str()`` is one) or an
    ``Item``: unlike a list file, nothing is skipped, so result *n* always belongs to input
    item *n*.
    """
    for position, item in enumerate(urls, 1):
        if isinstance(item, Item):
            url = item.url.strip()
            yield ListEntry(position, url, check_url(url) or checksum_error(item.checksum), item)
            continue
        text = str(item).strip()
        yield ListEntry(position, text, check_url(text))
