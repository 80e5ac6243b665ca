"""The digests a server sends with a body, parsed (pure).

- `Repr-Digest` (RFC 9530): a Structured Field dictionary, `sha-256=:BASE64:, sha-512=:...:`.
  It describes the whole representation, also on a 206 (the selected representation, not
  the range).
- `Digest` (RFC 3230, obsoleted by 9530 but still sent): `SHA-256=BASE64, MD5=BASE64`,
  algorithm names in any case; also the whole representation ("instance").
- `Content-Digest` (RFC 9530): the digest of this message's content, so of the whole file
  only on a full 200 answer.

adl saves the bytes as served (no decoding), which is what these digests are computed over.
A field that does not parse is ignored, as RFC 8941 says of Structured Fields; so is a
member whose algorithm we do not know (unixsum, crc32c, `id-sha-256`) or whose value has
the wrong size for its algorithm. What parses and is known is checked: a server's digest
is never just trusted to be right.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import NamedTuple

from .integrity import DIGEST_SIZES, Digest

REPR_DIGEST, DIGEST, CONTENT_DIGEST = "Repr-Digest", "Digest", "Content-Digest"
# RFC 9530's registry names (and RFC 3230's, lowercased) -> hashlib names.
_ALGORITHMS = {"sha-512": "sha512", "sha-256": "sha256", "md5": "md5", "sha": "sha1"}
_STRONGEST_FIRST = ("sha512", "sha384", "sha256", "sha224", "sha1", "md5")

# RFC 8941 grammar, enough to walk a dictionary and skip what is not a byte sequence.
_KEY = r"[a-z*][a-z0-9_.*-]*"
_BARE = (
    r'(?::[A-Za-z0-9+/=]*:|-?[0-9]+(?:\.[0-9]+)?|"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*"'
    r"|[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*|\?[01])"
)
_PARAMS = rf"(?:;[ ]*{_KEY}(?:={_BARE})?)*"
_INNER = rf"\((?:[ ]*{_BARE}{_PARAMS})*[ ]*\)"
_MEMBER = re.compile(rf"({_KEY})(?:=({_BARE}|{_INNER}))?{_PARAMS}", re.ASCII)
_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")
_RFC3230 = re.compile(r"\s*([A-Za-z0-9-]+)\s*=\s*([A-Za-z0-9+/]+={0,2})\s*", re.ASCII)


class ServerDigest(NamedTuple):
    """The digest a response carries, and the field that said it (for messages)."""

    field: str
    digest: Digest


def parse_repr_digest(value: str) -> dict[str, bytes]:
    """hashlib name -> digest of a Repr-Digest / Content-Digest value; {} when malformed."""
    found: dict[str, bytes] = {}
    position, end = _skip(value, 0), len(value.rstrip(" \t"))
    while position < end:
        member = _MEMBER.match(value, position)
        if member is None:
            return {}
        algo, item = _ALGORITHMS.get(member[1]), member[2]
        if algo is not None and item is not None and item.startswith(":"):
            digest = _decoded(algo, item[1:-1])
            if digest is not None:
                found[algo] = digest
        position = member.end()
        if position >= end:
            break
        separator = _SEPARATOR.match(value, position)
        if separator is None or separator.end() >= end:
            return {}  # garbage after a member, or a trailing comma
        position = separator.end()
    return found


def parse_instance_digest(value: str) -> dict[str, bytes]:
    """hashlib name -> digest of an RFC 3230 Digest value; malformed members are skipped
    (the grammar is loose, and one bad member says nothing about the others)."""
    found: dict[str, bytes] = {}
    for part in value.split(","):
        member = _RFC3230.fullmatch(part)
        algo = _ALGORITHMS.get(member[1].lower()) if member else None
        if member is not None and algo is not None:
            digest = _decoded(algo, member[2])
            if digest is not None:
                found[algo] = digest
    return found


def server_digest(
    headers: Mapping[str, str], *, whole_body: bool, prefer: str | None = None
) -> ServerDigest | None:
    """The one digest of a response worth checking: Repr-Digest, else Digest, else (when
    the body is the whole file) Content-Digest; of the algorithm `prefer` when offered
    (one hash then serves two checks), else the strongest."""
    fields = (REPR_DIGEST, DIGEST, CONTENT_DIGEST) if whole_body else (REPR_DIGEST, DIGEST)
    for field in fields:
        value = _field(headers, field)
        if value is None:
            continue
        digests = parse_instance_digest(value) if field == DIGEST else parse_repr_digest(value)
        for algo in (prefer, *_STRONGEST_FIRST):
            if algo in digests:
                return ServerDigest(field, Digest(algo, digests[algo]))
    return None


def _field(headers: Mapping[str, str], name: str) -> str | None:
    """A field's value, its lines joined as HTTP combines them (aiohttp keeps them apart)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        values = getall(name, [])
        return ", ".join(values) if values else None
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _decoded(algo: str, text: str) -> bytes | None:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return value if len(value) == DIGEST_SIZES[algo] else None


def _skip(value: str, position: int) -> int:
    while position < len(value) and value[position] in " \t":
        position += 1
    return position
