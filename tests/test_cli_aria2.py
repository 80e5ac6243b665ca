"""`adl get LIST` with aria2c input files: mirrors, out= and dir=, per-item headers and
credentials, warnings and errors with their line numbers, collisions, and names that try
to leave the output folder. The library's `Item` does the same."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from downloader import Item, download_all
from downloader.cli import app

from .fileserver import FileServer
from .test_cli import ThreadedServer, live, runner, summary_counts, write_list  # noqa: F401


@pytest.fixture
def other() -> Iterator[FileServer]:
    with ThreadedServer() as files:
        yield files


def seen(files: FileServer, path: str) -> dict[str, str]:
    [headers] = [h for p, h in files.request_headers if p == path]
    return headers


def test_an_aria2c_list_with_mirrors_names_folders_headers_and_credentials(
    live,  # noqa: F811
    other,
    runner,  # noqa: F811
    tmp_path,
):
    other.add("f.bin", b"from the mirror")
    live.add("doc.pdf", b"%PDF")
    live.add("secret.txt", b"for alice")
    live.add("plain.txt", b"plain")
    listing = write_list(
        tmp_path / "list.txt",
        "# made for aria2c",
        f"{live.url('f.bin')}\t{other.url('f.bin')}",
        "  out=renamed.bin",
        "  dir=sub/dir",
        "",
        f"{live.url('doc.pdf')}",
        "\tdir=docs",
        "\theader=X-Token: abc",
        "\tsplit=4",
        f"{live.url('secret.txt')}",
        "  http-user=alice",
        "  http-passwd=pa55w0rd",
        "  colour=blue",
        live.url("plain.txt"),
    )
    out = tmp_path / "out"

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "-j", "1"])

    assert result.exit_code == 0, result.output
    assert summary_counts(result.output) == (4, 0, 0)
    assert (out / "sub" / "dir" / "renamed.bin").read_bytes() == b"from the mirror"
    assert (out / "docs" / "doc.pdf").read_bytes() == b"%PDF"
    assert (out / "secret.txt").read_bytes() == b"for alice"
    assert (out / "plain.txt").read_bytes() == b"plain"
    assert "split" not in result.output  # applied (a file this small is not split)
    assert "line 13: unknown option 'colour' ignored" in result.output
    assert seen(live, "/doc.pdf")["X-Token"] == "abc"
    assert "Authorization" in seen(live, "/secret.txt")
    for path in ("/secret.txt", "/plain.txt"):
        assert "X-Token" not in seen(live, path)
    for path in ("/doc.pdf", "/plain.txt"):
        assert "Authorization" not in seen(live, path)
    assert "pa55w0rd" not in result.output


def test_an_option_line_before_any_item_and_malformed_ones_fail_with_their_line(
    live,  # noqa: F811
    runner,  # noqa: F811
    tmp_path,
):
    live.add("ok.txt", b"ok")
    listing = write_list(
        tmp_path / "list.txt",
        "  out=orphan.txt",
        live.url("a.txt"),
        "  out",
        live.url("ok.txt"),
    )
    result = runner.invoke(app, ["get", str(listing), "-o", str(tmp_path / "out")])

    assert result.exit_code == 1, result.output
    assert summary_counts(result.output) == (1, 0, 2)
    assert "FAILED out=orphan.txt (line 1): an option line with no item above it" in result.output
    assert (
        f"FAILED {live.url('a.txt')} (line 3): bad option line 'out': expected key=value"
        in result.output
    )
    assert live.requests["a.txt"] == 0


def test_names_that_would_leave_the_output_folder_fail_and_nothing_lands_outside(
    live,  # noqa: F811
    runner,  # noqa: F811
    tmp_path,
):
    live.fallback = b"payload"
    listing = write_list(
        tmp_path / "list.txt",
        live.url("a.txt"),
        "  out=../escaped.txt",
        live.url("b.txt"),
        "  dir=/tmp",
        live.url("c.txt"),
        "  dir=x/../../..",
        live.url("d.txt"),
        "  out=.hidden/../../e.txt",
        live.url("ok.txt"),
        "  dir=.adl",  # sanitized like any name: no leading dot, so not our journal folder
    )
    out = tmp_path / "box" / "out"

    result = runner.invoke(app, ["get", str(listing), "-o", str(out)])

    assert result.exit_code == 1, result.output
    assert summary_counts(result.output) == (1, 0, 4)
    for url, line in (("a.txt", 2), ("c.txt", 6), ("d.txt", 8)):
        assert f"FAILED {live.url(url)} (line {line}): " in result.output
        assert "contains '..': the file must stay inside the output folder" in result.output
    assert f"FAILED {live.url('b.txt')} (line 4): dir=/tmp: is an absolute path" in result.output
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]
    assert (out / "adl" / "ok.txt").read_bytes() == b"payload"
    assert sorted(live.requests) == ["ok.txt"]


def test_colliding_names_are_numbered_and_stay_the_same_on_a_rerun(
    live,  # noqa: F811
    runner,  # noqa: F811
    tmp_path,
):
    for name in ("x.bin", "y.bin", "z.bin", "w.bin", "same.bin"):
        live.add(name, name.encode())
    listing = write_list(
        tmp_path / "list.txt",
        live.url("x.bin"),
        "  out=same.bin",
        live.url("y.bin"),
        "  out=same.bin",
        live.url("same.bin"),
        live.url("z.bin"),
        "  dir=d.v1",
        "  out=n",
        live.url("w.bin"),
        "  out=d.v1/n",  # the same path, said another way
    )
    out = tmp_path / "out"
    expected = {
        "same.bin": b"x.bin",
        "same.1.bin": b"y.bin",
        "same.2.bin": b"same.bin",
        "d.v1/n": b"z.bin",
        "d.v1/n.1": b"w.bin",
    }

    first = runner.invoke(app, ["get", str(listing), "-o", str(out), "-j", "1"])
    again = runner.invoke(app, ["get", str(listing), "-o", str(out), "-j", "1"])

    assert first.exit_code == 0, first.output
    assert {name: (out / name).read_bytes() for name in expected} == expected
    assert again.exit_code == 0, again.output
    assert summary_counts(again.output) == (0, 5, 0)
    for name in expected:
        assert f"-> {out / name} (already there)" in again.output


async def test_library_items_with_names_folders_and_mirrors(tmp_path):
    async with FileServerPair() as (one, two):
        two.add("f.bin", b"mirror")
        one.add("g.bin", b"plain")
        items = [
            Item(url=one.url("f.bin"), mirrors=(two.url("f.bin"),), name="a.bin", subdir="x/y"),
            one.url("g.bin"),
            Item(url=one.url("g.bin") + "?again", subdir="z"),
        ]
        batch = await download_all(items, tmp_path, jobs=1)
        sources = [two.url("f.bin"), one.url("g.bin"), one.url("g.bin") + "?again"]

    assert batch.ok, batch.failed
    assert [r.path for r in batch] == [
        tmp_path / "x" / "y" / "a.bin",
        tmp_path / "g.bin",
        tmp_path / "z" / "g.bin",
    ]
    assert [r.source for r in batch] == sources


class FileServerPair:
    async def __aenter__(self) -> tuple[FileServer, FileServer]:
        self.files = (await FileServer().start(), await FileServer().start())
        return self.files

    async def __aexit__(self, *exc: object) -> None:
        for files in self.files:
            await files.close()


async def test_a_link_planted_as_a_subfolder_or_a_file_is_never_followed(server, tmp_path):
    server.add("f.bin", b"downloaded")
    server.add("g.bin", b"downloaded too")
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    (elsewhere / "victim").write_bytes(b"untouched")
    (out / "real").mkdir(parents=True)
    (out / "linked").symlink_to(elsewhere, target_is_directory=True)
    (out / "real" / "g.bin").symlink_to(elsewhere / "victim")
    items = [
        Item(url=server.url("f.bin"), subdir="linked"),
        Item(url=server.url("g.bin"), subdir="real"),
    ]

    batch = await download_all(items, out, on_exists="overwrite")

    assert [r.ok for r in batch] == [False, True]
    assert batch[0].error == "cannot write into 'linked': it is a link or not a folder"
    assert sorted(os.listdir(elsewhere)) == ["victim"]
    assert (elsewhere / "victim").read_bytes() == b"untouched"
    assert not (out / "real" / "g.bin").is_symlink()  # the link itself was replaced
    assert (out / "real" / "g.bin").read_bytes() == b"downloaded too"


async def test_content_disposition_keeps_the_items_folder_and_never_beats_out(server, tmp_path):
    disposition = {"Content-Disposition": 'attachment; filename="server.bin"'}
    server.add("a", b"a", **disposition)
    server.add("b", b"b", **disposition)
    items = [Item(url=server.url("a"), subdir="d"), Item(url=server.url("b"), name="mine.bin")]

    batch = await download_all(items, tmp_path, content_disposition=True)

    assert batch.ok, batch.failed
    assert [r.path for r in batch] == [tmp_path / "d" / "server.bin", tmp_path / "mine.bin"]
