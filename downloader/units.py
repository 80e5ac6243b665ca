"""Sizes as people type them on a command line: `20M`, `512K`, `1.5G`, `1048576`.

Pure. Suffixes are powers of 1024, as curl (`--limit-rate 1M`) and aria2c (`-k 20M`) read
them, in either case; a plain number is bytes. A trailing `B` or `iB` is taken too
(`20MiB`, `20MB`: both 20 x 1024 x 1024), since that is what people paste from a listing.
"""

from __future__ import annotations

import re

__all__ = ["parse_size"]

_MULTIPLIERS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# re.ASCII: int() and float() would take Arabic-Indic or full-width digits; a flag must not.
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)(?:i?b)?\s*", re.ASCII | re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in `text` (`20M` -> 20971520), rounded down to a whole byte. A ValueError says
    what is wrong with anything else (negative, empty, an unknown suffix)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: a number with K, M or G (e.g. 20M)")
    number, unit = match.groups()
    multiplier = _MULTIPLIERS[unit.lower()]
    if "." not in number:
        return int(number) * multiplier  # exact, however large
    whole, _, fraction = number.partition(".")
    # In integers: 0.1G is 107374182 bytes, not 107374182.40000001 rounded by a float.
    scale = 10 ** len(fraction)
    return (int(whole or "0") * scale + int(fraction or "0")) * multiplier // scale
