"""FileCheck's decisions: what each attempt hashes, and when a `.part` is read back."""

from __future__ import annotations

import base64
import hashlib

import pytest

from downloader import hashing
from downloader.errors import ChecksumError
from downloader.hashing import FileCheck, Hashes
from downloader.integrity import Digest

PART = b"the first bytes of the file, kept in its .part"
WHOLE = PART + b" and the rest of it"


def repr_digest(algo: str, body: bytes = WHOLE) -> dict[str, str]:
    name = {"sha256": "sha-256", "sha512": "sha-512"}[algo]
    return {
        "Repr-Digest": f"{name}=:{base64.b64encode(hashlib.new(algo, body).digest()).decode()}:"
    }


def own(algo: str, body: bytes = WHOLE) -> Digest:
    return Digest(algo, hashlib.new(algo, body).digest())


@pytest.mark.parametrize(
    ("expected", "carried", "offset", "headers", "hashed", "read_back"),
    [
        # nothing to check: no hashing at all (the common case costs nothing)
        (None, None, 0, {}, None, []),
        # a full answer's digest is checked: the whole body is hashed as it comes
        (None, None, 0, repr_digest("sha256"), {"sha256"}, []),
        (None, None, 0, {"Content-Digest": repr_digest("sha512")["Repr-Digest"]}, {"sha512"}, []),
        # a 206's digest is of the whole file: never worth reading the .part back for it alone
        (None, None, len(PART), repr_digest("sha256"), None, []),
        # ... but checked when the hash of the .part is carried from an earlier attempt
        (None, "sha256", len(PART), repr_digest("sha256"), {"sha256"}, []),
        (None, "sha256", len(PART), repr_digest("sha512"), None, []),
        # an expected checksum: the .part is read back once, and serves the server's too
        ("sha256", None, len(PART), {}, {"sha256"}, [len(PART)]),
        ("sha256", None, len(PART), repr_digest("sha512"), {"sha256", "sha512"}, [len(PART)]),
        ("sha256", "sha256", len(PART), {}, {"sha256"}, []),
        # a carried hash of other bytes than the .part's (a write that failed half-way)
        ("sha256", "sha256", len(PART) - 1, {}, {"sha256"}, [len(PART) - 1]),
        (None, "sha256", len(PART) - 1, repr_digest("sha256"), None, []),
    ],
)
async def test_what_an_attempt_hashes(
    tmp_path, reads_back, expected, carried, offset, headers, hashed, read_back
):
    part = tmp_path / "f.part"
    part.write_bytes(PART[:offset])
    check = FileCheck(own(expected) if expected else None)
    if carried:  # an earlier attempt in this run hashed PART as it wrote it
        await check.begin("f", str(part), 0, repr_digest(carried, PART))
        check.observe([PART])
        reads_back.clear()

    observe = await check.begin("f", str(part), offset, headers)

    assert reads_back == read_back
    if hashed is None:
        assert observe is None
    else:
        assert observe is not None
        assert check._hashes is not None and check._hashes.algos() == hashed
        observe([WHOLE[offset:]])
        check.verify()  # the prefix (read back or carried) and the rest make the whole file
        assert check.verified is not None


async def test_a_mismatch_names_the_algorithm_both_digests_and_the_field(tmp_path):
    check = FileCheck(own("sha256"))
    observe = await check.begin("f", str(tmp_path / "f.part"), 0, repr_digest("sha512", b"x"))
    assert observe is not None
    observe([WHOLE])
    with pytest.raises(ChecksumError) as caught:
        check.verify()
    expected = hashlib.sha512(b"x").hexdigest()
    got = hashlib.sha512(WHOLE).hexdigest()
    assert (
        str(caught.value)
        == f"checksum mismatch (Repr-Digest): sha512 expected {expected}, got {got}"
    )
    assert check.may_refetch() and not check.may_refetch()  # once


def test_hash_file_reads_the_first_bytes_or_all(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(WHOLE * 50_000)  # a few MiB: several reads
    hashes = hashing.hash_file(Hashes({"md5", "sha256"}), str(path), len(PART))
    assert hashes.digest("sha256") == hashlib.sha256(PART).digest()
    whole = hashing.hash_file(Hashes({"sha1"}), str(path))
    assert whole.digest("sha1") == hashlib.sha1(WHOLE * 50_000).digest()
    assert whole.covered == len(WHOLE) * 50_000
