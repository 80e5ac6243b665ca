"""What a file's bytes must hash to: checksum specs and checksums files, parsed (pure).

Two places say it, and a file's own wins over the batch's:
- an item's `checksum`, as aria2c writes it: `sha-256=HEX` (`sha256=HEX`, `sha256:HEX` and
  any case are taken too); md5, sha-1, sha-224, sha-256, sha-384, sha-512;
- `--checksums FILE`, the output of sha256sum and friends: GNU lines `HEX  NAME` / `HEX *NAME`
  (a line starting with `\\` has `\\\\`, `\\n` and `\\r` escapes in NAME), BSD tagged lines
  `SHA256 (NAME) = HEX` (by tag) and `md5 -r`'s `HEX NAME`; the algorithm of an untagged line
  is told by its length; `#` comments and blank lines are skipped. NAME is a path relative to
  the output folder (`./` in front is ignored). Any other line is an error naming the line,
  before a byte is downloaded: a checksum silently not checked is worse than none.

(The HTTP digest fields a server sends are parsed in `digest_fields`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import OptionsError

# hashlib names and digest sizes in bytes: every size is different, so the size of a
# digest says its algorithm (which is how sha256sum-style lines are read, and stored).
DIGEST_SIZES = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
_BY_SIZE = {size: algo for algo, size in DIGEST_SIZES.items()}
# Spellings of the algorithms in aria2c's `checksum=` and in BSD tags (lowercased).
_NAMES = {
    **{algo: algo for algo in DIGEST_SIZES},
    **{f"sha-{algo[3:]}": algo for algo in DIGEST_SIZES if algo.startswith("sha")},
    **{f"sha2-{bits}": f"sha{bits}" for bits in ("224", "256", "384", "512")},  # cksum -a sha2
}
_HEX = re.compile(r"[0-9a-fA-F]+", re.ASCII)
_SPEC = re.compile(r"\s*([A-Za-z0-9-]+)\s*[=:]\s*(\S*)\s*")
# `TAG (NAME) = HEX`: the name is everything between the first " (" and the last ") = ".
_TAGGED = re.compile(r"([A-Za-z0-9-]+) ?\((.*)\) ?= ?([^ ]*)", re.DOTALL)
_GNU = re.compile(r"([0-9a-fA-F]+) ([ *]?)(.+)", re.DOTALL)
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest in one of DIGEST_SIZES' algorithms. `str()` is `algo:hex` (Result.checksum)."""

    algo: str
    value: bytes

    @property
    def hex(self) -> str:
        return self.value.hex()

    def __str__(self) -> str:
        return f"{self.algo}:{self.value.hex()}"


def algorithm(name: str) -> str | None:
    """hashlib's name of an algorithm as aria2c or a BSD tag spells it; None if unknown."""
    return _NAMES.get(name.lower())


def from_hex(algo: str | None, text: str) -> Digest:
    """The digest `text` (hex) of `algo`, or of the algorithm its length says when None."""
    if not _HEX.fullmatch(text):
        raise ValueError(f"{text[:20]!r} is not a hex digest")
    found = algo or _BY_SIZE.get(len(text) // 2)
    if found is None or (algo is None and len(text) % 2):
        raise ValueError(f"{len(text)} hex digits is no md5, sha1, sha224, sha256, sha384, sha512")
    if 2 * DIGEST_SIZES[found] != len(text):
        raise ValueError(f"{found} has {2 * DIGEST_SIZES[found]} hex digits, not {len(text)}")
    return Digest(found, bytes.fromhex(text))


def parse_checksum(spec: str) -> Digest:
    """An item's checksum, `sha-256=HEX` as in aria2c; a ValueError says what is wrong."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise ValueError(f"{spec[:40]!r} is not ALGORITHM=HEX (e.g. sha-256=9f86d0...)")
    algo = algorithm(match[1])
    if algo is None:
        names = "md5, sha-1, sha-224, sha-256, sha-384, sha-512"
        raise ValueError(f"unsupported algorithm {match[1]!r} (known: {names})")
    return from_hex(algo, match[2])


class Checksums:
    """NAME -> digest, from a checksums file. Values are kept as bare digest bytes (their
    size says the algorithm): a manifest of a million files stays a modest dict."""

    __slots__ = ("_table",)

    def __init__(self, table: dict[str, bytes] | None = None) -> None:
        self._table = table or {}

    def __len__(self) -> int:
        return len(self._table)

    def get(self, name: str) -> Digest | None:
        """The digest listed for `name` (a path relative to the output folder)."""
        value = self._table.get(name) if self._table else None
        return None if value is None else Digest(_BY_SIZE[len(value)], value)


NO_CHECKSUMS = Checksums()


def load_checksums(path: str | None) -> Checksums:
    """The checksums file given with --checksums (none: an empty table). An unreadable file
    or a malformed line is an OptionsError: checked once, before any download."""
    if path is None:
        return NO_CHECKSUMS
    try:
        # newline="\n": a name may hold a CR (escaped or not); CRLF endings are cut below.
        with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as file:
            return parse_checksums(file, source=path)
    except OSError as exc:
        raise OptionsError(f"cannot read checksums file {path!r}: {exc.strerror}") from exc


def parse_checksums(lines: Iterable[str], *, source: str = "checksums") -> Checksums:
    """A checksums file's lines as a table. A name listed twice keeps its strongest digest
    (SHA256SUMS and SHA512SUMS may be given as one file); two different digests of one
    algorithm for one name are an error."""
    table: dict[str, bytes] = {}
    for line_no, line in enumerate(lines, 1):
        try:
            parsed = parse_checksum_line(line.removeprefix("\ufeff") if line_no == 1 else line)
        except ValueError as exc:
            raise OptionsError(f"checksums file {source!r} line {line_no}: {exc}") from None
        if parsed is None:
            continue
        name, digest = parsed
        known = table.get(name)
        if known is not None and len(known) == len(digest.value) and known != digest.value:
            message = f"line {line_no}: a second, different {digest.algo} for {name!r}"
            raise OptionsError(f"checksums file {source!r} {message}")
        if known is None or len(digest.value) > len(known):
            table[name] = digest.value
    return Checksums(table)


def parse_checksum_line(line: str) -> tuple[str, Digest] | None:
    """(NAME, digest) of one checksums-file line; None for a blank line or a comment."""
    text = line.removesuffix("\n").removesuffix("\r").lstrip(" \t")
    if not text or text.startswith("#"):
        return None
    escaped = text.startswith("\\")
    if escaped:
        text = text[1:]
    tagged = _TAGGED.fullmatch(text)
    if tagged is not None and not _HEX.fullmatch(tagged[1]):
        algo = algorithm(tagged[1])
        if algo is None:
            raise ValueError(f"unsupported checksum algorithm {tagged[1]!r}")
        name, digest = tagged[2], from_hex(algo, tagged[3])
    else:
        plain = _GNU.fullmatch(text)
        if plain is None:
            raise ValueError("neither 'HEX  NAME' nor 'ALGO (NAME) = HEX'")
        name, digest = plain[3], from_hex(None, plain[1])
    return _relative(_unescape(name) if escaped else name), digest


def _unescape(name: str) -> str:
    """NAME of a line that starts with a backslash: `\\\\`, `\\n` and `\\r` are escapes."""
    parts = re.split(r"(\\.?)", name, flags=re.DOTALL)
    for index in range(1, len(parts), 2):
        if parts[index] not in _UNESCAPE:
            raise ValueError(f"unknown escape '{parts[index]}' in the file name")
        parts[index] = _UNESCAPE[parts[index]]
    return "".join(parts)


def _relative(name: str) -> str:
    """NAME as the batch names files: `./a/b` and `a/b` are the same file."""
    while name.startswith("./"):
        name = name[2:]
    if not name:
        raise ValueError("no file name")
    return name
