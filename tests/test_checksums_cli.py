"""`adl get --checksums FILE`: a bad file is a usage error (exit 2) before any download; a
mismatch is a failed file (exit 1) with its reason."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from downloader.cli import app

from .fileserver import FileServer
from .test_cli import ThreadedServer, write_list


@pytest.fixture
def live() -> Iterator[FileServer]:
    with ThreadedServer() as files:
        yield files


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        ("# sums\nnot a checksum line\n", "line 2: neither 'HEX  NAME' nor 'ALGO (NAME) = HEX'"),
        (f"CRC32 (a.txt) = {'0' * 8}\n", "line 1: unsupported checksum algorithm 'CRC32'"),
        (f"{'0' * 63}  a.txt\n", "line 1: 63 hex digits"),
        (None, "cannot read checksums file"),
    ],
)
def test_a_bad_checksums_file_exits_2_before_any_download(live, tmp_path, content, mentions):
    live.add("a.txt", b"alpha")
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))
    sums = tmp_path / "SUMS"
    if content is not None:
        sums.write_text(content)
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app, ["get", str(listing), "-o", str(out), "--checksums", str(sums)]
    )

    assert result.exit_code == 2, result.output
    assert mentions in result.stderr
    assert str(sums) in result.stderr
    assert "Traceback" not in result.output
    assert live.requests["a.txt"] == 0
    assert not out.exists()


def test_a_checksum_mismatch_fails_the_file_and_exits_1(live, tmp_path):
    live.add("good.txt", b"good")
    live.add("bad.txt", b"bad")
    listing = write_list(tmp_path / "list.txt", live.url("good.txt"), live.url("bad.txt"))
    sums = tmp_path / "SHA256SUMS"
    good, other = hashlib.sha256(b"good").hexdigest(), hashlib.sha256(b"other").hexdigest()
    sums.write_text(f"{good}  good.txt\nSHA256 (bad.txt) = {other}\n")
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app, ["get", str(listing), "-o", str(out), "--checksums", str(sums)]
    )

    assert result.exit_code == 1, result.output
    bad = hashlib.sha256(b"bad").hexdigest()
    assert f"checksum mismatch: sha256 expected {other}, got {bad}" in result.stdout
    assert (out / "good.txt").read_bytes() == b"good"
    assert not (out / "bad.txt").exists()
    assert live.requests["bad.txt"] == 2
