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

from .errors import OptionsError
from .integrity import parse_checksum
from .itempath import path_problem
from .items import Item
from .request import parse_header
from .segments import MAX_SPLIT

__all__ = [
    "MAX_URL_LENGTH",
    "ListEntry",
    "check_url",
    "checksum_problem",
    "entries_from_urls",
    "item_problem",
    "split_problem",
]

# Common server/proxy limit for a request line; a longer "URL" is almost surely a pasted blob.
MAX_URL_LENGTH = 8192

_SCHEMES = frozenset({"http", "https"})
# Unicode whitespace plus C0/DEL/C1 controls. Checked on the raw string because urlsplit
# silently deletes tabs and newlines (WHATWG behaviour), which would hide a broken line.
_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_BREAKS = re.compile(r"[\r\n\0]")
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


def entries_from_urls(urls: Iterable[object]) -> Iterator[ListEntry]:
    """Yield an entry per item of a library caller's iterable of URLs.

    Every item is an ``Item`` or a URL (``str``, ``yarl.URL`` or anything whose ``str()`` is
    one): unlike a list file, nothing is skipped, so result *n* always belongs to input item
    *n*. An ``Item`` with a bad value fails like a bad URL, with the reason.
    """
    for position, item in enumerate(urls, 1):
        if isinstance(item, Item):
            yield ListEntry(position, str(item.url), item_problem(item), item)
            continue
        text = str(item).strip()
        yield ListEntry(position, text, check_url(text))


def item_problem(item: Item) -> str | None:
    """Why an ``Item`` cannot be downloaded as asked, or ``None`` (the checks a list's
    option lines get, see listformat.py)."""
    for key in ("mirrors", "headers"):
        if isinstance(getattr(item, key), str):  # one string would be read letter by letter
            return f"{key} must be a tuple of strings, not a str"
    for index, url in enumerate(item.urls):
        reason = check_url(url) if isinstance(url, str) else "not a str"
        if reason is not None:
            return reason if index == 0 else f"mirror {url!r}: {reason}"
    fields = [("out", item.name, path_problem), ("dir", item.subdir, path_problem)]
    fields += [("checksum", item.checksum, checksum_problem)]
    fields += [("header", header, header_problem) for header in item.headers]
    fields += [("referer", item.referer, text_problem)]
    fields += [("user-agent", item.user_agent, text_problem), ("user", item.user, user_problem)]
    for key, value, problem_of in fields:
        if value is None:
            continue
        reason = problem_of(value) if isinstance(value, str) else "not a str"
        if reason is not None:
            return f"{key}: {reason}"
    if item.split is not None and not _split_ok(item.split):
        return f"split: {SPLIT_EXPECTED}, not {item.split!r}"
    return _limit_problem(item.limit_rate)


def _limit_problem(rate: object) -> str | None:
    if rate is None or (isinstance(rate, int) and not isinstance(rate, bool) and rate > 0):
        return None
    return f"limit_rate must be a whole number of bytes per second > 0, not {rate!r}"


SPLIT_EXPECTED = f"expected a whole number from 1 to {MAX_SPLIT}"


def split_problem(text: str) -> str | None:
    """An aria2c list's `split=N`: connections for the item."""
    ok = text.isascii() and text.isdigit() and _split_ok(int(text))
    return None if ok else SPLIT_EXPECTED


def _split_ok(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SPLIT


# aria2c's checksum types (MessageDigest.cc), with the length of their hex digests;
# aria2c's adler32 is not among them.
def checksum_problem(text: str) -> str | None:
    """Why `text` is not a checksum as aria2c writes it, `TYPE=HEX` (`sha-256=9f86...`), or
    None. integrity.py is the one authority on algorithms and digest lengths."""
    try:
        parse_checksum(text)
    except ValueError as exc:
        return str(exc)
    return None


def normal_checksum(text: str) -> str:
    """A valid checksum as `type=hex`, lower case, without spaces."""
    kind, _, digest = text.partition("=")
    return f"{kind.strip().lower()}={digest.strip().lower()}"


def header_problem(text: str) -> str | None:
    try:
        parse_header(text)
    except OptionsError as exc:
        return str(exc)
    return None


def text_problem(text: str) -> str | None:
    """A header value of its own (Referer, User-Agent): one line."""
    return "contains a line break or NUL" if _BREAKS.search(text) else None


def user_problem(text: str) -> str | None:
    if ":" not in text:
        return "expected USER:PASSWORD"
    return text_problem(text)
