"""Resume rules: which headers to send for a partial file, and what to do with the answer.

Pure functions; the transfer layer applies the decision to the ``.part`` file. The one rule
behind all of them: never splice bytes of two versions of a file. Resuming needs a validator
(``If-Range``) so that a changed file comes back whole as a 200 instead of as a 206 tail of
the new version, and every 206 is checked (start offset, total size, ETag) before appending.
Without a validator we do not resume at all and download from zero (see ``request_headers``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "Action",
    "ResumeDecision",
    "Validators",
    "decide",
    "expected_body_length",
    "if_range_value",
    "parse_content_range",
    "request_headers",
    "validators_from_headers",
    "version_mismatch",
]

# "bytes 100-199/1000", "bytes 100-199/*" or "bytes */1000"; unit case-insensitive, spaces
# tolerated. re.ASCII: int() would accept non-ASCII digits, a server must not send them.
_CONTENT_RANGE = re.compile(
    r"\s*bytes\s+(?:(?P<start>\d+)\s*-\s*(?P<end>\d+)|\*)\s*/\s*(?P<total>\d+|\*)\s*",
    re.ASCII | re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+", re.ASCII)


class Validators(NamedTuple):
    """What identifies one version of a remote file (stored in the journal with the .part).
    NamedTuples here and for ResumeDecision: a few are made per file, and they are cheap."""

    etag: str | None = None
    last_modified: str | None = None


class Action(enum.Enum):
    """What the transfer layer must do with a response to a (possibly ranged) GET."""

    WRITE_FROM_ZERO = "write_from_zero"  # full body: truncate the .part and write from byte 0
    APPEND = "append"  # the body continues the .part exactly where it ends
    ALREADY_COMPLETE = "already_complete"  # the .part already holds the whole file
    RESTART = "restart"  # drop the .part and ask again without Range
    FAIL = "fail"  # not a resume answer at all


class ResumeDecision(NamedTuple):
    action: Action
    total: int | None  # full size of the remote file, when the response says
    reason: str  # short human text for logs and failure reports


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works on a CIMultiDict and on a plain dict alike."""
    value = headers.get(name)
    # A plain dict may spell a name in any case; aiohttp's headers (a CIMultiDictProxy, not
    # a dict) already ignore case, and scanning them for every absent header costs.
    if value is None and isinstance(headers, dict):
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None:
        return None
    return value.strip() or None  # an empty header is as good as none


def validators_from_headers(headers: Mapping[str, str]) -> Validators:
    """The ETag and Last-Modified of a response, to remember alongside the .part file."""
    return Validators(
        etag=_header(headers, "ETag"), last_modified=_header(headers, "Last-Modified")
    )


def if_range_value(v: Validators) -> str | None:
    """The validator to put in ``If-Range``, or ``None`` when there is none usable.

    RFC 9110 §13.1.5 forbids a weak ETag (``W/"..."``) in If-Range: the server would answer
    200 every time. Last-Modified is then the fallback. (Strictly, the RFC also wants the date
    to be a strong validator; the ETag comparison in ``decide`` is our extra guard.)
    """
    if v.etag and not v.etag.startswith("W/"):
        return v.etag
    return v.last_modified or None


def request_headers(offset: int, v: Validators) -> dict[str, str]:
    """Extra request headers to resume from byte ``offset`` of the remote file.

    Empty when ``offset`` is 0, and also when no validator is usable: a plain ``Range``
    without ``If-Range`` would get a 206 tail even if the file changed since the .part was
    written, and we would splice two versions. Downloading from zero is the price of safety;
    the caller sees ``{}``, gets a 200 and ``decide`` says ``WRITE_FROM_ZERO``.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    validator = if_range_value(v)
    if offset == 0 or validator is None:
        return {}
    return {"Range": f"bytes={offset}-", "If-Range": validator}


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None] | None:
    """Parse a byte ``Content-Range`` into ``(start, end, total)``; ``None`` if invalid.

    ``start``/``end`` are ``None`` for the unsatisfied form ``bytes */N``; ``total`` is
    ``None`` for an unknown length ``bytes a-b/*``. ``bytes */*`` and inconsistent ranges
    (end before start, end beyond the total) are invalid.
    """
    if value is None:
        return None
    m = _CONTENT_RANGE.fullmatch(value)
    if m is None:
        return None
    total = None if m["total"] == "*" else int(m["total"])
    if m["start"] is None:
        return None if total is None else (None, None, total)
    start, end = int(m["start"]), int(m["end"])
    if end < start or (total is not None and total <= end):
        return None
    return start, end, total


def expected_body_length(status: int, headers: Mapping[str, str]) -> int | None:
    """How many body bytes this response carries, when the headers say; else ``None``.

    204 and 304 never have a body (a 304's Content-Length describes the stored file).
    """
    if status in (204, 304) or 100 <= status < 200:
        return 0
    value = _header(headers, "Content-Length")
    if value is None or not _DIGITS.fullmatch(value):  # rejects "-1", "1e3", "10, 10"
        return None
    return int(value)


def decide(
    status: int,
    headers: Mapping[str, str],
    *,
    offset: int,
    known: Validators,
    known_total: int | None,
) -> ResumeDecision:
    """Decide what to do with a response, given ``offset`` bytes already in the .part file.

    ``known`` and ``known_total`` describe the version the .part came from. When
    ``offset`` is 0 a RESTART is turned into FAIL: no Range was sent, so restarting would
    repeat the very same request and get the same broken answer.
    """
    if status == 200:
        # Either a fresh request, or the server ignored Range, or If-Range did not match
        # (the file changed): in every case the body is the whole current file.
        reason = "full response" if offset == 0 else "server sent the whole file (Range ignored)"
        return ResumeDecision(Action.WRITE_FROM_ZERO, expected_body_length(200, headers), reason)
    if status == 206:
        decision = _decide_partial(headers, offset, known, known_total)
    elif status == 416:
        decision = _decide_unsatisfiable(headers, offset, known, known_total)
    else:
        return ResumeDecision(Action.FAIL, None, f"unexpected HTTP status {status} for a download")
    if offset == 0 and decision.action is Action.RESTART:
        reason = f"HTTP {status} to a request without Range: {decision.reason}"
        return ResumeDecision(Action.FAIL, decision.total, reason)
    return decision


def _decide_partial(
    headers: Mapping[str, str], offset: int, known: Validators, known_total: int | None
) -> ResumeDecision:
    parsed = parse_content_range(_header(headers, "Content-Range"))
    if parsed is None or parsed[0] is None:
        return ResumeDecision(Action.RESTART, None, "206 without a valid Content-Range")
    start, _end, total = parsed
    if offset == 0 and start == 0:
        # Some servers answer 206 to a plain GET. Nothing is on disk yet, so there is
        # nothing to splice: whatever we knew about an older version does not matter.
        return ResumeDecision(Action.APPEND, total, "partial response from byte 0")
    if start != offset:
        return ResumeDecision(
            Action.RESTART, total, f"Content-Range starts at {start}, expected {offset}"
        )
    mismatch = version_mismatch(headers, known, known_total, total)
    if mismatch is not None:
        return ResumeDecision(Action.RESTART, total, mismatch)
    return ResumeDecision(Action.APPEND, total, f"resuming at byte {offset}")


def _decide_unsatisfiable(
    headers: Mapping[str, str], offset: int, known: Validators, known_total: int | None
) -> ResumeDecision:
    parsed = parse_content_range(_header(headers, "Content-Range"))
    if parsed is None or parsed[0] is not None:
        return ResumeDecision(Action.RESTART, None, "416 without a valid Content-Range")
    total = parsed[2]
    if total != offset:
        return ResumeDecision(
            Action.RESTART, total, f"remote size is {total}, the partial file has {offset}"
        )
    mismatch = version_mismatch(headers, known, known_total, total)
    if mismatch is not None:
        return ResumeDecision(Action.RESTART, total, mismatch)
    return ResumeDecision(Action.ALREADY_COMPLETE, total, "partial file is already complete")


def version_mismatch(
    headers: Mapping[str, str], known: Validators, known_total: int | None, total: int | None
) -> str | None:
    """Why the response is about another version than our .part, or ``None`` if it is not.

    A server honouring If-Range would have sent a 200 instead; these checks catch servers
    (and caches) that do not, so we restart rather than splice.
    """
    if total is not None and known_total is not None and total != known_total:
        return f"size changed: {total}, expected {known_total}"
    etag = _header(headers, "ETag")
    if etag is not None and known.etag is not None and etag != known.etag:
        return "validator changed"
    # Only compared when no ETag is known: then Last-Modified was our If-Range validator.
    modified = _header(headers, "Last-Modified")
    if known.etag is None and modified and known.last_modified and modified != known.last_modified:
        return "validator changed"
    return None
