"""Where an item's file goes (itempath.py, pure) and how its folders are made (folders.py):
out= and dir= stay inside the output folder, and no planted link is followed."""

from __future__ import annotations

import os

import pytest

from downloader.errors import DownloadError
from downloader.folders import checked_path
from downloader.itempath import in_folder_of, is_clean_relative, item_path, path_problem
from downloader.naming import numbered_name

URL = "http://h/dl/file.bin?x=1"


@pytest.mark.parametrize(
    ("name", "subdir", "expected"),
    [
        (None, None, "file.bin"),
        ("a.bin", None, "a.bin"),
        (None, "d", "d/file.bin"),
        ("a.bin", "d/e", "d/e/a.bin"),
        ("docs/a.bin", "d", "d/docs/a.bin"),  # out= may hold folders too
        ("docs/", None, "docs/file.bin"),  # only folders: the URL's name
        ("", "", "file.bin"),
        (None, "a//b/./c/", "a/b/c/file.bin"),  # empty and . components dropped
        (" ", "d", "d/file.bin"),
        # Every component is sanitized like any name (naming.sanitize_name).
        (".hidden", ".adl", "adl/hidden"),
        ("x.part", "...", "_/x.part_"),
        ("a\x07b", "c\u202ed", "cd/ab"),  # control and bidi characters go
        ("C:\\win\\x.txt", None, "C:_win_x.txt"),
        ("a" * 300 + ".txt", None, "a" * 246 + ".txt"),
    ],
)
def test_item_path(name, subdir, expected):
    assert item_path(URL, name, subdir) == expected
    assert is_clean_relative(expected)


@pytest.mark.parametrize(
    ("name", "subdir", "error"),
    [
        ("../x", None, "out=../x: contains '..': the file must stay inside the output folder"),
        ("a/../../x", None, "out=a/../../x: contains '..'"),
        (None, "..", "dir=..: contains '..'"),
        ("/etc/passwd", None, "out=/etc/passwd: is an absolute path"),
        (None, "/tmp", "dir=/tmp: is an absolute path"),
        ("a\0b", None, "out=a\0b: contains a NUL character"),
    ],
)
def test_item_path_refuses_what_would_leave_the_folder(name, subdir, error):
    with pytest.raises(ValueError, match="^" + error.replace(".", r"\.")):
        item_path(URL, name, subdir)
    assert path_problem(name or subdir) is not None


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("a", True),
        ("a/b/c.txt", True),
        ("", False),
        (".", False),
        ("..", False),
        ("/a", False),
        ("a//b", False),
        ("a/./b", False),
        ("a/../b", False),
        ("a/", False),
        ("a\0", False),
    ],
)
def test_is_clean_relative(path, clean):
    assert is_clean_relative(path) is clean


@pytest.mark.parametrize(
    ("name", "n", "expected"),
    [
        ("docs/a.txt", 1, "docs/a.1.txt"),
        ("v1.2/README", 1, "v1.2/README.1"),  # a dot in a folder is not an extension
        ("a.b/c.tar.gz", 2, "a.b/c.2.tar.gz"),
        ("d/e/" + "x" * 250, 1, "d/e/" + "x" * 248 + ".1"),  # the limit is per component
    ],
)
def test_numbered_name_numbers_the_last_component(name, n, expected):
    assert numbered_name(name, n) == expected


def test_in_folder_of():
    assert in_folder_of("d/e/a.bin", "b.bin") == "d/e/b.bin"
    assert in_folder_of("a.bin", "b.bin") == "b.bin"
    assert in_folder_of("d/a.bin", None) is None


# --- folders.py: on a real disk ------------------------------------------------------------


def test_folders_are_made_only_when_asked(tmp_path):
    root = str(tmp_path)
    assert checked_path(root, "d/e/f.bin") == f"{root}/d/e/f.bin"
    assert not (tmp_path / "d").exists()
    assert checked_path(root, "d/e/f.bin", create=True) == f"{root}/d/e/f.bin"
    assert (tmp_path / "d" / "e").is_dir()
    assert checked_path(root, "d/e/f.bin", create=True) == f"{root}/d/e/f.bin"  # again: fine


@pytest.mark.parametrize("planted_at", ["d", "d/e"])
def test_a_link_planted_as_a_folder_is_never_followed(tmp_path, planted_at):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    if planted_at == "d":
        (out / "d").rmdir()
    (out / planted_at).symlink_to(elsewhere, target_is_directory=True)

    for create in (False, True):
        with pytest.raises(DownloadError, match=f"cannot write into '{planted_at}': it is a link"):
            checked_path(str(out), "d/e/f.bin", create=create)
    assert os.listdir(elsewhere) == []


def test_a_file_where_a_folder_should_be_is_refused(tmp_path):
    (tmp_path / "d").write_text("a file")
    with pytest.raises(DownloadError, match="cannot write into 'd': it is a link or not a folder"):
        checked_path(str(tmp_path), "d/f.bin", create=True)


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/../b", "/abs", "a//b", "a\0b"])
def test_unsafe_names_never_reach_the_disk(tmp_path, name):
    with pytest.raises(DownloadError, match="unsafe file name"):
        checked_path(str(tmp_path), name, create=True)
