"""The digests a server sends (digest_fields.py): Repr-Digest, Content-Digest, Digest."""

from __future__ import annotations

import base64
import hashlib

import pytest
from multidict import CIMultiDict

from downloader.digest_fields import (
    ServerDigest,
    parse_instance_digest,
    parse_repr_digest,
    server_digest,
)
from downloader.integrity import Digest

BODY = b"hello world"
RAW = {algo: hashlib.new(algo, BODY).digest() for algo in ("md5", "sha1", "sha256", "sha512")}
B64 = {algo: base64.b64encode(value).decode() for algo, value in RAW.items()}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"sha-256=:{B64['sha256']}:", {"sha256": RAW["sha256"]}),
        (
            f"sha-256=:{B64['sha256']}:, sha-512=:{B64['sha512']}:",
            {"sha256": RAW["sha256"], "sha512": RAW["sha512"]},
        ),
        (f"  sha-512=:{B64['sha512']}:  ", {"sha512": RAW["sha512"]}),
        (
            f"sha-256=:{B64['sha256']}:,sha-512=:{B64['sha512']}:",
            {"sha256": RAW["sha256"], "sha512": RAW["sha512"]},
        ),
        # deprecated but known algorithms are still checked
        (f"md5=:{B64['md5']}:, sha=:{B64['sha1']}:", {"md5": RAW["md5"], "sha1": RAW["sha1"]}),
        # unknown algorithms, other item types and parameters are skipped, not fatal
        (f"unixsum=:AAAA:, sha-256=:{B64['sha256']}:", {"sha256": RAW["sha256"]}),
        (f"crc32c=12345, sha-256=:{B64['sha256']}:;x=1", {"sha256": RAW["sha256"]}),
        (f'foo="a, b", sha-256=:{B64["sha256"]}:', {"sha256": RAW["sha256"]}),
        (f"flag, sha-256=:{B64['sha256']}:", {"sha256": RAW["sha256"]}),
        (f"list=(1 2 tok), sha-256=:{B64['sha256']}:", {"sha256": RAW["sha256"]}),
        # a known algorithm whose value is not a byte sequence, or of the wrong size: skipped
        (f"sha-256={B64['sha256']}", {}),  # a token, not :BASE64: (parfive's misreading)
        (f'sha-256="{B64["sha256"]}"', {}),
        (f"sha-256=:{B64['md5']}:", {}),
        (f"sha-256=:{hashlib.sha256(BODY).hexdigest()}:", {}),  # hex is not base64 here
        # malformed fields are ignored whole (RFC 8941)
        (f"SHA-256=:{B64['sha256']}:", {}),  # keys are lowercase
        (f"sha-256=:{B64['sha256']}:,", {}),
        (f"sha-256=:{B64['sha256']}: junk", {}),
        (f"sha-256=:{B64['sha256']}", {}),
        ("", {}),
    ],
)
def test_repr_digest_is_a_structured_field_dictionary(value, expected):
    assert parse_repr_digest(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"SHA-256={B64['sha256']}", {"sha256": RAW["sha256"]}),
        (f"sha-256={B64['sha256']}", {"sha256": RAW["sha256"]}),
        (f"MD5={B64['md5']}", {"md5": RAW["md5"]}),
        (f"SHA={B64['sha1']}", {"sha1": RAW["sha1"]}),
        (
            f"MD5={B64['md5']}, SHA-512={B64['sha512']}",
            {"md5": RAW["md5"], "sha512": RAW["sha512"]},
        ),
        (f"UNIXsum=30637, SHA-256={B64['sha256']}", {"sha256": RAW["sha256"]}),
        (f"id-sha-256={B64['sha256']}", {}),  # the digest of the decoded body: not ours
        (f"SHA-256={hashlib.sha256(BODY).hexdigest()}", {}),
        (f"SHA-256=:{B64['sha256']}:", {}),
        ("garbage", {}),
    ],
)
def test_rfc3230_digest(value, expected):
    assert parse_instance_digest(value) == expected


def sha(algo: str) -> Digest:
    return Digest(algo, RAW[algo])


@pytest.mark.parametrize(
    ("headers", "whole", "prefer", "expected"),
    [
        ({}, True, None, None),
        ({"Repr-Digest": f"sha-256=:{B64['sha256']}:"}, True, None, ("Repr-Digest", "sha256")),
        ({"Repr-Digest": f"sha-256=:{B64['sha256']}:"}, False, None, ("Repr-Digest", "sha256")),
        ({"Digest": f"MD5={B64['md5']}"}, False, None, ("Digest", "md5")),
        # the strongest, unless the one expected anyway is offered (one hash, two checks)
        (
            {"Repr-Digest": f"sha-256=:{B64['sha256']}:, sha-512=:{B64['sha512']}:"},
            True,
            None,
            ("Repr-Digest", "sha512"),
        ),
        (
            {"Repr-Digest": f"sha-256=:{B64['sha256']}:, sha-512=:{B64['sha512']}:"},
            True,
            "sha256",
            ("Repr-Digest", "sha256"),
        ),
        # Repr-Digest before Digest before Content-Digest
        (
            {"Digest": f"MD5={B64['md5']}", "Repr-Digest": f"sha-256=:{B64['sha256']}:"},
            True,
            None,
            ("Repr-Digest", "sha256"),
        ),
        # Content-Digest describes this message's content: the file only in a full answer
        (
            {"Content-Digest": f"sha-256=:{B64['sha256']}:"},
            True,
            None,
            ("Content-Digest", "sha256"),
        ),
        ({"Content-Digest": f"sha-256=:{B64['sha256']}:"}, False, None, None),
        # a malformed Repr-Digest: the next field is used
        (
            {"Repr-Digest": "sha-256=oops", "Digest": f"SHA-256={B64['sha256']}"},
            True,
            None,
            ("Digest", "sha256"),
        ),
    ],
)
def test_the_one_server_digest_to_check(headers, whole, prefer, expected):
    found = server_digest(headers, whole_body=whole, prefer=prefer)
    if expected is None:
        assert found is None
    else:
        assert found == ServerDigest(expected[0], sha(expected[1]))


def test_field_lines_sent_twice_are_joined_as_http_combines_them():
    headers = CIMultiDict(
        [("repr-digest", "unixsum=:AAAA:"), ("Repr-Digest", f"sha-256=:{B64['sha256']}:")]
    )
    found = server_digest(headers, whole_body=True)
    assert found == ServerDigest("Repr-Digest", sha("sha256"))
