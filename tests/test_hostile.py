"""Hostile input: URL paths and server headers that try to escape the output folder, planted
symlinks, garbage list lines and bad command-line values.

Whatever the source of a name, the file lands inside DEST with a sanitized name, nothing
outside DEST is created or changed, and no traceback reaches the user.
"""

from __future__ import annotations

import asyncio
import os
import sys
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downloader.api import run_batch
from downloader.cli import app
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import random_bytes

KiB = 1024
MiB = 1024 * KiB
BODY = b"served for any path\n"


async def fetch(urls: list[str], dest: Path, **options) -> list[Result]:
    async def no_wait(delay: float) -> None:
        await asyncio.sleep(0)

    batch = run_batch(entries_from_urls(urls), dest, Options(**options), sleep=no_wait)
    results = [r async for r in batch]
    return sorted(results, key=lambda r: r.line_no)


def tree(root: Path) -> set[str]:
    """Every path under `root` (relative), the journal folder left out."""
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if ".adl" not in p.relative_to(root).parts
    }


def assert_safe_name(name: str) -> None:
    assert name and name not in (".", "..") and not name.startswith(".")
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(c) == "Cc" for c in name), repr(name)
    assert len(name.encode()) <= 255 - len(".part")


# -- names from the URL ------------------------------------------------------------------------

HOSTILE_PATHS = {
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd": "_.._etc_passwd",
    "..%2F..%2Fboom.txt": "_.._boom.txt",
    "a/b/%2e%2e": "index.html",
    "%2Fetc%2Fpasswd": "_etc_passwd",
    "C:%5CWindows%5Cwin.ini": "C:_Windows_win.ini",
    "evil%00.txt": "evil.txt",
    "bell%07%0a%0d%1bctl.txt": "bellctl.txt",
    "%2e%2e": "index.html",
    "%2eadl": "adl",
    "x.part": "x.part_",
    "report.pdf?x=../../etc/passwd#frag": "report.pdf",
}


@pytest.mark.parametrize(("path", "expected"), list(HOSTILE_PATHS.items()))
async def test_hostile_url_path_is_saved_inside_dest_with_a_safe_name(
    server, tmp_path, path, expected
):
    server.fallback = BODY
    dest = tmp_path / "out" / "dest"

    [result] = await fetch([server.url("/") + path], dest)

    assert result.state is State.DONE, result.error
    assert result.path == dest / expected
    assert_safe_name(result.path.name)
    assert result.path.read_bytes() == BODY
    assert tree(tmp_path) == {"out", "out/dest", f"out/dest/{expected}"}


async def test_300_byte_name_is_shortened_and_keeps_its_extension(server, tmp_path):
    server.fallback = BODY
    long_name = "é" * 150 + ".tar.gz"  # 300 bytes of UTF-8 before the extension

    [result] = await fetch([server.url("/") + long_name], tmp_path)

    assert result.state is State.DONE, result.error
    name = result.path.name
    assert_safe_name(name)
    assert name.endswith(".tar.gz") and name.startswith("ééé")
    assert result.path.parent == tmp_path
    assert result.path.read_bytes() == BODY


async def test_name_comes_from_the_listed_url_not_the_redirect_target(server, tmp_path):
    server.add("payload", BODY)
    server.redirect("innocent.txt", "/redirect/1/payload?name=../../etc/passwd")

    [result] = await fetch([server.url("innocent.txt")], tmp_path)

    assert result.state is State.DONE, result.error
    assert result.path == tmp_path / "innocent.txt"
    assert tree(tmp_path) == {"innocent.txt"}


# -- names from Content-Disposition ------------------------------------------------------------

DISPOSITIONS = {
    'attachment; filename="../../etc/passwd"': "passwd",
    "attachment; filename*=UTF-8''%e2%82%ac.txt": "€.txt",
    "attachment; filename*=UTF-8''..%2F..%2Fevil.sh": "evil.sh",
    'attachment; filename="C:\\\\Windows\\\\win.ini"': "win.ini",
    'attachment; filename="/etc/shadow"': "shadow",
    'attachment; filename=".adl"': "adl",
    'attachment; filename="data.part"': "data.part_",
    'attachment; filename="tab\there.txt"': "tabhere.txt",
}


@pytest.mark.parametrize("size", [1000, 2 * MiB], ids=["small", "streamed"])
@pytest.mark.parametrize(("header", "expected"), list(DISPOSITIONS.items()))
async def test_content_disposition_name_is_sanitized_and_stays_inside(
    server, tmp_path, header, expected, size
):
    body = random_bytes(size, seed=1)
    server.add("download", body, **{"Content-Disposition": header})
    dest = tmp_path / "dest"

    [result] = await fetch([server.url("download")], dest, content_disposition=True)

    assert result.state is State.DONE, result.error
    assert result.path == dest / expected
    assert (dest / expected).read_bytes() == body
    assert tree(tmp_path) == {"dest", f"dest/{expected}"}


async def test_content_disposition_is_ignored_without_the_option(server, tmp_path):
    server.add("download.bin", BODY, **{"Content-Disposition": 'attachment; filename="x.sh"'})

    [result] = await fetch([server.url("download.bin")], tmp_path)

    assert result.state is State.DONE
    assert result.path == tmp_path / "download.bin"
    assert tree(tmp_path) == {"download.bin"}


# -- planted symlinks --------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path):
    """A file outside DEST that a planted link points at; must stay unchanged."""
    target = tmp_path / "outside.txt"
    target.write_bytes(b"precious")
    return target


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(1000),
        2 * MiB,
    ],
    ids=["small", "streamed"],
)
async def test_symlink_planted_at_part_is_not_followed(server, tmp_path, outside, size):
    body = random_bytes(size, seed=2)
    server.add("f.bin", body)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f.bin.part").symlink_to(outside)

    [result] = await fetch([server.url("f.bin")], dest)

    assert outside.read_bytes() == b"precious"
    assert result.state is State.DONE, result.error
    assert (dest / "f.bin").read_bytes() == body
    assert not (dest / "f.bin").is_symlink()


@pytest.mark.parametrize("size", [1000, 2 * MiB], ids=["small", "streamed"])
async def test_symlink_at_part_never_written_through_even_when_failing(
    server, tmp_path, outside, size
):
    """Whatever happens to the download, the link's target is not touched."""
    server.add("f.bin", random_bytes(size, seed=3))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f.bin.part").symlink_to(outside)

    await fetch([server.url("f.bin")], dest)

    assert outside.read_bytes() == b"precious"


@pytest.mark.parametrize("size", [1000, 2 * MiB], ids=["small", "streamed"])
async def test_symlink_at_final_name_is_replaced_on_overwrite(server, tmp_path, outside, size):
    body = random_bytes(size, seed=4)
    server.add("f.bin", body)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f.bin").symlink_to(outside)

    [result] = await fetch([server.url("f.bin")], dest, on_exists="overwrite")

    assert result.state is State.DONE, result.error
    assert outside.read_bytes() == b"precious"
    assert not (dest / "f.bin").is_symlink()
    assert (dest / "f.bin").read_bytes() == body


async def test_symlink_at_final_name_is_skipped_by_default(server, tmp_path, outside):
    server.add("f.bin", BODY)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f.bin").symlink_to(outside)

    [result] = await fetch([server.url("f.bin")], dest)

    assert result.state is State.SKIPPED
    assert server.requests["f.bin"] == 0
    assert (dest / "f.bin").is_symlink() and outside.read_bytes() == b"precious"


async def test_symlink_at_final_name_with_rename_picks_another_name(server, tmp_path, outside):
    server.add("f.bin", BODY)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f.bin").symlink_to(outside)

    [result] = await fetch([server.url("f.bin")], dest, on_exists="rename")

    assert result.state is State.DONE, result.error
    assert result.path.parent == dest and result.path.name != "f.bin"
    assert result.path.read_bytes() == BODY
    assert (dest / "f.bin").is_symlink() and outside.read_bytes() == b"precious"


# -- the command line --------------------------------------------------------------------------


async def test_garbage_list_lines_fail_with_line_numbers_and_good_urls_download(server, tmp_path):
    server.add("good1.txt", b"one")
    server.add("good2.txt", b"two")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "\n".join(
            [
                "# a comment",
                server.url("good1.txt"),
                "ftp://example.com/file.txt",  # line 3
                "http://",  # line 4: no host
                "not a url",  # line 5
                "",
                "file:///etc/passwd",  # line 7
                "http://exa mple.com/x",  # line 8
                server.url("good2.txt"),
                "https://example.com:99999/x",  # line 10
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "downloader", "get", str(listing), "-o", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    output = stdout.decode() + stderr.decode()

    assert process.returncode == 1, output
    assert "Traceback" not in output
    for line_no in (3, 4, 5, 7, 8, 10):
        assert f"(line {line_no})" in output, output
    assert "(line 2)" not in output and "(line 9)" not in output
    assert (out / "good1.txt").read_bytes() == b"one"
    assert (out / "good2.txt").read_bytes() == b"two"
    assert tree(out) == {"good1.txt", "good2.txt"}


def _invoke(args: list[str]):
    result = CliRunner().invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result.exit_code, output, result.exception


@pytest.fixture
def listing(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("http://127.0.0.1:9/never-fetched.txt\n")
    return path


@pytest.mark.parametrize(
    "extra",
    [
        ["-j", "0"],
        ["-j", "-3"],
        ["--retries", "-1"],
        ["--timeout", "0"],
        ["--connect-timeout", "-5"],
        ["--per-host", "-1"],
        ["--on-exists", "explode"],
        ["-j", "many"],
    ],
    ids=lambda extra: " ".join(extra),
)
def test_bad_option_value_exits_2_without_traceback(listing, tmp_path, extra):
    code, output, exception = _invoke(["get", str(listing), "-o", str(tmp_path / "o"), *extra])

    assert code == 2, output
    assert "Traceback" not in output
    assert exception is None or isinstance(exception, SystemExit)
    assert not (tmp_path / "o" / "never-fetched.txt").exists()


def test_output_path_that_is_a_file_exits_2(listing, tmp_path):
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("I am a file")

    code, output, _exception = _invoke(["get", str(listing), "-o", str(not_a_dir)])

    assert code == 2, output
    assert "not a directory" in output
    assert "Traceback" not in output
    assert not_a_dir.read_text() == "I am a file"


def test_output_path_below_a_file_exits_2(listing, tmp_path):
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("I am a file")

    code, output, _ = _invoke(["get", str(listing), "-o", str(not_a_dir / "sub")])

    assert code == 2, output
    assert "Traceback" not in output


def test_unreadable_list_exits_2(tmp_path):
    code, output, _ = _invoke(["get", str(tmp_path / "missing.txt"), "-o", str(tmp_path)])

    assert code == 2, output
    assert "missing.txt" in output
    assert "Traceback" not in output


def test_list_that_is_a_directory_exits_2(tmp_path):
    code, output, _ = _invoke(["get", str(tmp_path), "-o", str(tmp_path / "o")])

    assert code == 2, output
    assert "Traceback" not in output


def test_binary_garbage_list_is_reported_not_crashed(tmp_path):
    garbage = tmp_path / "garbage.bin"
    # Starts with a letter: random bytes starting with "#" would make line 1 a comment.
    noise = os.urandom(2000).replace(b"\n", b"")
    garbage.write_bytes(b"x" + noise + b"\n\xff\xfe\x00bad\n")

    code, output, exception = _invoke(["get", str(garbage), "-o", str(tmp_path / "o")])

    assert code == 1, output
    assert "Traceback" not in output
    assert exception is None or isinstance(exception, SystemExit)
    assert "(line 1)" in output and "(line 2)" in output
