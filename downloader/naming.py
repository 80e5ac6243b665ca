"""Pure naming rules: URL or Content-Disposition → one safe file name, plus collision names.

Every name that reaches the disk passes through `sanitize_name`, because all of its sources are
controlled by someone else: the URL list, the server's path, the server's headers. The rules:

- a name is one path component: `/` and `\\` become `_`, so nothing can climb out of the output dir;
- control characters (C0, DEL, C1), Unicode line separators and bidi controls are dropped;
- surrounding whitespace and all leading dots are stripped, so `.`, `..`, hidden files and our own
  journal directory `.adl` can never be produced; an empty result becomes the fallback;
- at most `MAX_NAME_BYTES` (250) bytes of UTF-8, so that `NAME.part` still fits the common 255-byte
  limit; truncation keeps the extension and never splits a multi-byte character;
- a name never ends in `.part` (any case), the suffix reserved for data in flight:
  `x.part` → `x.part_`.

Collisions get `NAME.N.EXT` names (`report.pdf` → `report.1.pdf`, `a.tar.gz` → `a.1.tar.gz`),
produced by `candidate_names` in a fixed order so that a rerun picks the same names.

Nothing here touches the filesystem; `is_inside` is a lexical check for the caller's final guard.
"""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote, unquote_to_bytes, urlsplit

__all__ = [
    "MAX_NAME_BYTES",
    "PART_SUFFIX",
    "candidate_names",
    "is_inside",
    "name_from_content_disposition",
    "name_from_url",
    "numbered_name",
    "sanitize_name",
]

# Suffix of the file that holds data in flight (DIR/NAME.part).
PART_SUFFIX = ".part"

# 255 bytes is the name limit of ext4, btrfs, xfs and APFS (NTFS counts 255 UTF-16 units, looser);
# keeping 5 bytes free means NAME.part is always a legal name too.
MAX_NAME_BYTES = 255 - len(PART_SUFFIX)

# A suffix longer than this is more likely part of the name than a file type: truncation may cut it.
_MAX_EXTENSION_BYTES = 16

# Two-part suffixes that must stay together: `a.tar.gz` numbered as `a.1.tar.gz`, not `a.tar.1.gz`.
_COMPOUND_EXTENSIONS = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz", ".tar.z")

# Bidi controls let a name display as something else ("evil\u202egpj.exe" shows as "evilexe.jpg"),
# and line/paragraph separators break one-line-per-file logs. Zero-width joiners stay: emoji and
# several scripts need them.
_INVISIBLE_FORMAT_CHARACTERS = frozenset(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_LEADING_DOTS_AND_SPACE = re.compile(r"^[\s.]+")

_DEFAULT_NAME = "index.html"

# Names every rule below leaves unchanged: short, ASCII, no leading dot, nothing to drop.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}")


# --- sanitizing -----------------------------------------------------------------------------------


def sanitize_name(name: str, fallback: str = _DEFAULT_NAME) -> str:
    """Turn untrusted text into one safe file name component, or `fallback` if nothing is left."""
    if _PLAIN_NAME.fullmatch(name) and not name.lower().endswith(PART_SUFFIX):
        return name  # the usual case, already safe: skip the per-character walk
    name = name.replace("/", "_").replace("\\", "_")
    name = _drop_unsafe_characters(name)
    # Leading dots go entirely: it is the simplest rule that rules out ".", "..", "..foo" tricks,
    # hidden files and ".adl". Whitespace between dots (". ./x") must not let one survive.
    name = _LEADING_DOTS_AND_SPACE.sub("", name).rstrip()
    if not name:
        return fallback
    # A cut through the middle can leave trailing blanks; they only make the name hard to type.
    name = _fit_length(name, MAX_NAME_BYTES).rstrip()
    return _avoid_part_suffix(name, MAX_NAME_BYTES)


def _drop_unsafe_characters(name: str) -> str:
    kept = []
    for char in name:
        if _is_surrogate(char):
            # Lone surrogates (from surrogateescape-decoded headers) cannot be encoded to UTF-8.
            kept.append("\ufffd")
        elif unicodedata.category(char) != "Cc" and char not in _INVISIBLE_FORMAT_CHARACTERS:
            kept.append(char)
    return "".join(kept)


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut_utf8(text: str, max_bytes: int) -> str:
    """Longest prefix of `text` within `max_bytes` of UTF-8; a character cut in half is dropped."""
    return text.encode("utf-8")[: max(max_bytes, 0)].decode("utf-8", errors="ignore")


def _split_extension(name: str) -> tuple[str, str]:
    """Split `name` into (stem, extension); the extension keeps its dot and may be compound.

    A leading dot is not an extension (`.bashrc` has none), and neither is a suffix too long to
    be a file type, so that truncation and numbering never treat half the name as "the type".
    """
    lowered = name.lower()
    for compound in _COMPOUND_EXTENSIONS:
        if lowered.endswith(compound) and len(name) > len(compound):
            return name[: -len(compound)], name[-len(compound) :]
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return name, ""
    extension = name[dot:]
    if _utf8_length(extension) > _MAX_EXTENSION_BYTES:
        return name, ""
    return name[:dot], extension


def _fit_length(name: str, max_bytes: int) -> str:
    """Shorten `name` to `max_bytes` of UTF-8 by cutting the stem, so the file type survives."""
    if _utf8_length(name) <= max_bytes:
        return name
    stem, extension = _split_extension(name)
    return _cut_utf8(stem, max_bytes - _utf8_length(extension)) + extension


def _avoid_part_suffix(name: str, max_bytes: int) -> str:
    # Case-insensitive because on macOS/Windows "X.PART" and "x.part" are the same file.
    if not name.lower().endswith(PART_SUFFIX):
        return name
    return _fit_length(name, max_bytes - 1) + "_"


# --- sources of names -----------------------------------------------------------------------------


def name_from_url(url: str) -> str:
    """The file name a URL implies: its last path segment, decoded and sanitized.

    The split happens on the raw path, before percent-decoding, so `%2F` inside a segment is a
    character of the name (made harmless by `sanitize_name`), never a directory boundary.
    Raises ValueError for what `urllib.parse.urlsplit` cannot parse.
    """
    raw_path = urlsplit(url).path  # query and fragment are not part of the path
    last_segment = raw_path.rpartition("/")[2]
    decoded = unquote(last_segment, encoding="utf-8", errors="replace")
    return sanitize_name(decoded)


def name_from_content_disposition(value: str | None) -> str | None:
    """The file name a Content-Disposition header suggests (RFC 6266), or None if it gives none.

    `filename*` (RFC 8187) wins over `filename`; if the preferred one yields nothing usable the
    other is tried. Only the part after the last `/` or `\\` is kept, then sanitized.
    """
    if not value:
        return None
    parameters = _parse_parameters(value)
    if parameters is None:
        return None
    candidates = []
    if "filename*" in parameters:
        candidates.append(_decode_extended_value(parameters["filename*"]))
    if "filename" in parameters:
        candidates.append(parameters["filename"])
    for candidate in candidates:
        if candidate is None:
            continue
        basename = re.split(r"[/\\]", candidate)[-1]
        name = sanitize_name(basename, fallback="")
        if name:
            return name
    return None


# --- Content-Disposition parsing ------------------------------------------------------------------


def _parse_parameters(header: str) -> dict[str, str] | None:
    """Parameters of a header value as {lowercased name: value}; None if the syntax is broken.

    The disposition type and other segments without `=` are skipped: the type does not change
    what a downloader saves. The first occurrence of a parameter wins, as in browsers.
    """
    parameters: dict[str, str] = {}
    position, end = 0, len(header)
    while position < end:
        name_end = _find_any(header, "=;", position)
        name = header[position:name_end].strip().lower()
        position = name_end
        if position < end and header[position] == "=":
            parsed = _read_parameter_value(header, position + 1)
            if parsed is None:
                return None
            value, position = parsed
            parameters.setdefault(name, value)
        position += 1  # past the ";" (or past the end)
    return parameters


def _read_parameter_value(header: str, position: int) -> tuple[str, int] | None:
    """Read a token or quoted-string starting at `position`; return it and the index of the `;`."""
    position = _skip_whitespace(header, position)
    if position < len(header) and header[position] == '"':
        parsed = _read_quoted_string(header, position)
        if parsed is None:
            return None
        value, position = parsed
        position = _skip_whitespace(header, position)
        if position < len(header) and header[position] != ";":
            return None  # text glued after the closing quote: ambiguous, so refuse
        return value, position
    # Unquoted values are read up to the next ";" rather than as strict tokens: servers commonly
    # send `filename=my file.txt`, and the meaning is unambiguous.
    value_end = _find_any(header, ";", position)
    return header[position:value_end].strip(), value_end


def _read_quoted_string(header: str, position: int) -> tuple[str, int] | None:
    """Read the quoted-string opening at `position`; return its content and the index after it."""
    chars: list[str] = []
    position += 1  # past the opening quote
    while position < len(header):
        char = header[position]
        if char == '"':
            return "".join(chars), position + 1
        # Only \" and \\ are unescaped. Servers put raw Windows paths in quotes
        # ("C:\dir\f.txt"); keeping those backslashes lets the basename rule find "f.txt".
        if char == "\\" and header[position + 1 : position + 2] in ('"', "\\"):
            position += 1
            char = header[position]
        chars.append(char)
        position += 1
    return None  # no closing quote


def _decode_extended_value(value: str) -> str | None:
    """Decode an RFC 8187 ext-value `charset'language'percent-encoded`; None if unusable."""
    charset, quote1, rest = value.partition("'")
    _language, quote2, encoded = rest.partition("'")
    if not (quote1 and quote2):
        return None
    codec = _EXTENDED_VALUE_CHARSETS.get(charset.strip().lower())
    if codec is None:
        return None
    try:
        # Strict decoding: a garbled filename* should lose to a plain filename, not win as "�".
        return unquote_to_bytes(encoded).decode(codec)
    except UnicodeDecodeError:
        return None


# RFC 8187 requires UTF-8 and ISO-8859-1; ASCII is a subset both of them, seen in the wild.
_EXTENDED_VALUE_CHARSETS = {
    "utf-8": "utf-8",
    "iso-8859-1": "iso-8859-1",
    "us-ascii": "ascii",
}


def _find_any(text: str, chars: str, start: int) -> int:
    """Index of the first of `chars` in `text` at or after `start`, or len(text)."""
    for index in range(start, len(text)):
        if text[index] in chars:
            return index
    return len(text)


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    return position


# --- collisions -----------------------------------------------------------------------------------


def numbered_name(name: str, n: int) -> str:
    """The n-th alternative to `name` (n >= 1): the counter goes before the extension.

    `report.pdf` → `report.1.pdf`, `a.tar.gz` → `a.1.tar.gz`, `README` → `README.1`, and
    `docs/a.txt` → `docs/a.1.txt`. The stem is shortened if needed so the result fits
    `MAX_NAME_BYTES`; the counter is never cut, so different `n` always give different names.
    """
    if n < 1:
        raise ValueError(f"collision number must be >= 1, got {n}")
    # A name below a subfolder (`dir=`, see itempath.py) is numbered in its last component
    # only: a dot in a folder name is not an extension (`v1.2/README` -> `v1.2/README.1`).
    folder, slash, name = name.rpartition("/")
    stem, extension = _split_extension(name)
    if extension.lower() == PART_SUFFIX:
        extension += "_"  # keep the result clear of the in-flight suffix
    counter = f".{n}"
    room_for_stem = MAX_NAME_BYTES - _utf8_length(counter) - _utf8_length(extension)
    return folder + slash + _cut_utf8(stem, room_for_stem) + counter + extension


def candidate_names(name: str) -> Iterator[str]:
    """`name`, then its numbered alternatives 1, 2, 3, ... forever, always in this order."""
    yield name
    for n in itertools.count(1):
        yield numbered_name(name, n)


# --- containment ----------------------------------------------------------------------------------


def is_inside(base: os.PathLike[str] | str, candidate: os.PathLike[str] | str) -> bool:
    """True when `candidate` is strictly below `base`, judged on the path text alone.

    No filesystem access: symlinks are the caller's business (open with O_NOFOLLOW or check after
    resolving). Compared component by component, so `/out2` is not inside `/out`.
    """
    base_path = os.path.normcase(os.path.abspath(os.fsdecode(base)))
    candidate_path = os.path.normcase(os.path.abspath(os.fsdecode(candidate)))
    if base_path == candidate_path:
        return False
    try:
        common = os.path.commonpath([base_path, candidate_path])
    except ValueError:  # e.g. different drives on Windows
        return False
    return common == base_path
