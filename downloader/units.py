"""Sizes and rates as people write them on a command line or in a list: `500K`, `30M`, `1.5G`.

Pure. The suffixes are powers of 1024, as curl, wget and aria2c read them (`1K` is 1024
bytes, not 1000); the letter's case does not matter. A decimal number is accepted, as wget
and curl take `2.5M`; the result is a whole number of bytes, rounded down. Nothing else is:
no `KB`, `KiB` or `1e6`, no spaces inside, no sign.
"""

from __future__ import annotations

import re
from decimal import Decimal

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMG]?)", re.IGNORECASE)
_POWERS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_SUFFIXES = "with an optional K, M or G suffix (powers of 1024)"


def parse_size(text: str) -> int:
    """Bytes in `text`: `500K` -> 512000. Raises ValueError saying what is wrong."""
    return _bytes(text, f"a size: a number of bytes {_SUFFIXES}, e.g. 20M")


def parse_rate(text: str) -> int | None:
    """A download rate limit in bytes per second, as `--limit-rate` and a list's
    `max-download-limit=` take it; None for 0, which means no limit (as in curl, wget
    and aria2c). Raises ValueError saying what is wrong."""
    return _bytes(text, f"a rate: bytes per second {_SUFFIXES}, e.g. 500K") or None


def rate_problem(text: str) -> str | None:
    """Why `text` is not a rate limit, or None (for a list's option lines, where an empty
    value is no value)."""
    if not text:
        return None
    try:
        parse_rate(text)
    except ValueError as exc:
        return str(exc)
    return None


def _bytes(text: str, expected: str) -> int:
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not {expected}")
    number, suffix = match.groups()
    exact = Decimal(number) * _POWERS[suffix.upper()]
    size = int(exact)  # rounded down: a fraction of a byte is nothing to count
    if size == 0 and exact != 0:
        raise ValueError(f"{text!r} is less than one byte")
    return size
