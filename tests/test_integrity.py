"""Checksum specs and checksums files (integrity.py): pure tables, plus the file loader."""

from __future__ import annotations

import hashlib

import pytest

from downloader.errors import OptionsError
from downloader.inputs import checksum_problem
from downloader.integrity import (
    Digest,
    load_checksums,
    parse_checksum,
    parse_checksum_line,
    parse_checksums,
)

BODY = b"test"
HEX = {algo: hashlib.new(algo, BODY).hexdigest() for algo in ("md5", "sha1", "sha224", "sha256")}
HEX |= {algo: hashlib.new(algo, BODY).hexdigest() for algo in ("sha384", "sha512")}
SHA256 = HEX["sha256"]


@pytest.mark.parametrize(
    ("spec", "algo"),
    [
        (f"sha-256={SHA256}", "sha256"),
        (f"SHA-256={SHA256.upper()}", "sha256"),
        (f"sha256={SHA256}", "sha256"),
        (f"sha256:{SHA256}", "sha256"),
        (f" sha-256 = {SHA256} ", "sha256"),
        (f"md5={HEX['md5']}", "md5"),
        (f"sha-1={HEX['sha1']}", "sha1"),
        (f"sha1={HEX['sha1']}", "sha1"),
        (f"sha-224={HEX['sha224']}", "sha224"),
        (f"sha-384={HEX['sha384']}", "sha384"),
        (f"sha-512={HEX['sha512']}", "sha512"),
    ],
)
def test_checksum_specs_as_aria2c_writes_them_and_close_spellings(spec, algo):
    digest = parse_checksum(spec)
    assert digest == Digest(algo, bytes.fromhex(HEX[algo]))
    assert str(digest) == f"{algo}:{HEX[algo]}"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "is not ALGORITHM=HEX"),
        (SHA256, "is not ALGORITHM=HEX"),
        (f"sha-256 {SHA256}", "is not ALGORITHM=HEX"),
        (f"adler32={SHA256[:8]}", "unsupported algorithm 'adler32'"),
        (f"blake2b={HEX['sha512']}", "unsupported algorithm 'blake2b'"),
        ("sha-256=", "is not a hex digest"),
        (f"sha-256={SHA256[:-1]}g", "is not a hex digest"),
        (f"sha-256={SHA256[:-1]}", "sha256 has 64 hex digits, not 63"),
        (f"sha-256={HEX['sha1']}", "sha256 has 64 hex digits, not 40"),
        (f"md5={SHA256}", "md5 has 32 hex digits, not 64"),
    ],
)
def test_bad_checksum_specs_say_why(spec, says):
    with pytest.raises(ValueError, match=says):
        parse_checksum(spec)
    assert says in (checksum_problem(spec) or "")


def test_checksum_problem_is_none_for_a_good_spec():
    """What a list's `checksum=` and an Item's checksum are checked with (inputs.py)."""
    assert checksum_problem(f"sha-256={SHA256}") is None
    assert checksum_problem("sha-256=zz") == "'zz' is not a hex digest"


# -- checksums files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "algo"),
    [
        # GNU coreutils: text and binary mode, md5 -r's single space, CRLF, leading blanks
        (f"{SHA256}  file.bin\n", "file.bin", "sha256"),
        (f"{SHA256} *file.bin\n", "file.bin", "sha256"),
        (f"{SHA256} file.bin", "file.bin", "sha256"),
        (f"{SHA256}  file.bin\r\n", "file.bin", "sha256"),
        (f"  {SHA256}  file.bin", "file.bin", "sha256"),
        (f"{SHA256.upper()}  file.bin", "file.bin", "sha256"),
        (f"{SHA256}  name with  spaces ", "name with  spaces ", "sha256"),
        (f"{SHA256}   lead", " lead", "sha256"),
        (f"{SHA256}  sub/dir/file.bin", "sub/dir/file.bin", "sha256"),
        (f"{SHA256}  ./sub/file.bin", "sub/file.bin", "sha256"),
        (f"{SHA256}  a\\b", "a\\b", "sha256"),  # no leading backslash: taken as is
        # the algorithm of an untagged line is told by its length
        (f"{HEX['md5']}  f", "f", "md5"),
        (f"{HEX['sha1']}  f", "f", "sha1"),
        (f"{HEX['sha224']}  f", "f", "sha224"),
        (f"{HEX['sha384']}  f", "f", "sha384"),
        (f"{HEX['sha512']}  f", "f", "sha512"),
        # escaped names: the line starts with a backslash
        (f"\\{SHA256}  a\\\\b", "a\\b", "sha256"),
        (f"\\{SHA256}  line\\nbreak", "line\nbreak", "sha256"),
        (f"\\{SHA256}  cr\\rhere", "cr\rhere", "sha256"),
        # BSD tagged lines, by tag
        (f"SHA256 (file.bin) = {SHA256}", "file.bin", "sha256"),
        (f"SHA256 (file.bin)= {SHA256}", "file.bin", "sha256"),  # BSD shasum -a 256 --tag
        (f"MD5 (file.bin) = {HEX['md5']}", "file.bin", "md5"),
        (f"SHA1 (f) = {HEX['sha1']}", "f", "sha1"),
        (f"SHA224 (f) = {HEX['sha224']}", "f", "sha224"),
        (f"SHA384 (f) = {HEX['sha384']}", "f", "sha384"),
        (f"SHA512 (f) = {HEX['sha512']}", "f", "sha512"),
        (f"SHA2-256 (f) = {SHA256}", "f", "sha256"),  # cksum -a sha2 -l 256
        (f"SHA256 (a (1).bin) = {SHA256}", "a (1).bin", "sha256"),
        (f"SHA256 (odd) = x) = {SHA256}", "odd) = x", "sha256"),
        (f"\\SHA256 (new\\nline) = {SHA256}", "new\nline", "sha256"),
    ],
)
def test_checksums_file_lines(line, name, algo):
    parsed = parse_checksum_line(line)
    assert parsed == (name, Digest(algo, bytes.fromhex(HEX[algo])))


@pytest.mark.parametrize("line", ["", "\n", "   \n", "\r\n", "# SHA256 sums\n", "  # indented"])
def test_blank_lines_and_comments_are_skipped(line):
    assert parse_checksum_line(line) is None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("garbage", "neither"),
        (SHA256, "neither"),  # no name
        (f"{SHA256[:40]}0  f", "41 hex digits"),
        (f"{SHA256[:20]}  f", "20 hex digits is no md5"),
        (f"SHA256 (f) = {HEX['md5']}", "sha256 has 64 hex digits, not 32"),
        (f"BLAKE2b (f) = {HEX['sha512']}", "unsupported checksum algorithm 'BLAKE2b'"),
        ("SHA256 (f) = n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=", "not a hex digest"),
        (f"\\{SHA256}  bad\\escape", r"unknown escape '\\e'"),
        (f"\\{SHA256}  trailing\\", r"unknown escape '\\'"),
        (f"{SHA256}  ./", "no file name"),
    ],
)
def test_malformed_lines_say_why(line, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        parse_checksum_line(line)


def test_a_malformed_line_is_an_options_error_naming_the_file_and_line():
    lines = ["# sums\n", f"{SHA256}  good.bin\n", "not a checksum line\n"]
    with pytest.raises(OptionsError, match=r"checksums file 'SUMS' line 3: neither"):
        parse_checksums(lines, source="SUMS")


def test_a_file_keeps_the_strongest_digest_of_a_name_and_rejects_contradictions():
    md5, sha512 = HEX["md5"], HEX["sha512"]
    table = parse_checksums([f"{md5}  a\n", f"{sha512}  a\n", f"{SHA256}  a\n", f"{md5}  a\n"])
    assert table.get("a") == Digest("sha512", bytes.fromhex(sha512))
    other = hashlib.md5(b"other").hexdigest()
    with pytest.raises(OptionsError, match=r"line 2: a second, different md5 for 'a'"):
        parse_checksums([f"{md5}  a\n", f"{other}  a\n"])


def test_a_table_answers_by_name_relative_to_the_output_folder():
    table = parse_checksums(
        [f"\ufeff{SHA256}  ./x.bin\n", f"MD5 (sub/y.bin) = {HEX['md5']}\n"], source="s"
    )
    assert len(table) == 2
    assert table.get("x.bin") == Digest("sha256", bytes.fromhex(SHA256))
    assert table.get("sub/y.bin") == Digest("md5", bytes.fromhex(HEX["md5"]))
    assert table.get("y.bin") is None
    assert table.get("missing") is None


def test_load_checksums_reads_a_file_with_any_bytes_in_names(tmp_path):
    path = tmp_path / "SHA256SUMS"
    path.write_bytes(f"{SHA256}  caf\xe9.bin\n{SHA256} *ok.bin\r\n".encode("latin-1"))
    table = load_checksums(str(path))
    assert table.get("ok.bin") is not None
    assert len(table) == 2  # a name that is not UTF-8 is kept, it just matches nothing


def test_load_checksums_without_a_file_is_an_empty_table():
    assert len(load_checksums(None)) == 0


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_an_unreadable_checksums_file_is_an_options_error(tmp_path, make):
    path = tmp_path / "sums"
    if make == "folder":
        path.mkdir()
    with pytest.raises(OptionsError, match=r"cannot read checksums file .*sums"):
        load_checksums(str(path))
