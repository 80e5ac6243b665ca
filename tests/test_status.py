"""`adl status` tells the truth while a run works and after one died: finished files show
as done within a commit interval, rows a killed run left `active` show as interrupted, and
bytes already in `.part` files count as done.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from contextlib import aclosing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downloader import api, iter_downloads
from downloader.cli import app
from downloader.journal import JOURNAL_DIR, SqliteJournal, Status, read_journal
from downloader.segments import Row
from downloader.status import label_counts, part_bytes

from .conftest import random_bytes
from .fileserver import Fault

U = "http://127.0.0.1/"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def status_json(runner: CliRunner, out: Path) -> dict:
    result = runner.invoke(app, ["status", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def status_text(runner: CliRunner, out: Path) -> str:
    result = runner.invoke(app, ["status", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result.stdout


def leave_rows(out: Path, rows: list[tuple[str, Status, int, int | None]]) -> None:
    """A journal as a run leaves it, then its lock released (as by kill -9)."""
    journal = SqliteJournal(out)
    for name, state, size, total in rows:
        entry = journal.claim(U + name, name)
        journal.update(entry, state=state, size=size, total=total)
    journal.close()


# --- pure decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "running", "shown"),
    [
        ({"done": 2, "active": 3}, True, {"done": 2, "active": 3}),
        ({"done": 2, "active": 3}, False, {"done": 2, "interrupted": 3}),
        ({"done": 2, "pending": 1}, False, {"done": 2, "pending": 1}),
        ({}, False, {}),
        ({"done": 2, "active": 3}, None, {"done": 2, "active": 3}),  # cannot tell: as recorded
    ],
    ids=["running", "killed", "nothing-active", "empty", "unknown"],
)
def test_label_counts(counts, running, shown):
    assert label_counts(counts, running=running) == shown


def test_part_bytes_counts_regular_part_files_inside_the_folder(tmp_path):
    (tmp_path / "a.part").write_bytes(b"x" * 100)
    (tmp_path / "b.part").write_bytes(b"y" * 20)
    (tmp_path / "elsewhere.part").write_bytes(b"z" * 1000)
    (tmp_path / "link.part").symlink_to(tmp_path / "elsewhere.part")
    names = [("a", None), ("b", None), ("gone", None), ("link", None), ("../x", None), ("..", 0)]
    assert part_bytes(tmp_path, names) == 120


@pytest.mark.parametrize(
    ("segments_done", "counted"),
    [(None, 100), (30, 30), (0, 0), (500, 100)],  # more than the file holds: the file's size
    ids=["not-split", "split", "split-nothing-yet", "rows-ahead-of-the-file"],
)
def test_a_split_part_file_counts_what_its_segments_hold(tmp_path, segments_done, counted):
    (tmp_path / "a.part").write_bytes(b"x" * 100)  # sparse when split: its size says nothing
    assert part_bytes(tmp_path, [("a", segments_done)]) == counted


def test_only_rows_that_can_have_a_part_file_are_looked_at(tmp_path):
    journal = SqliteJournal(tmp_path)
    try:
        rows = {
            "active": (Status.ACTIVE, 0),
            "pending-kept": (Status.PENDING, 5),
            "pending-new": (Status.PENDING, 0),
            "failed-kept": (Status.FAILED, 5),
            "failed-404": (Status.FAILED, 0),
            "done": (Status.DONE, 5),
            "skipped": (Status.SKIPPED, 5),
        }
        for name, (state, size) in rows.items():
            journal.update(journal.claim(U + name, name), state=state, size=size)
        journal.segments.save(U + "active", [Row(0, 10, 4), Row(10, 20, 3)])
        names = dict(journal.names_with_partial_data())
    finally:
        journal.close()
    assert names == {"active": 7, "pending-kept": None, "failed-kept": None}


def test_a_journal_older_than_segments_is_read_as_it_is(tmp_path):
    journal = SqliteJournal(tmp_path)
    journal.update(journal.claim(U + "a", "a"), state=Status.ACTIVE)
    journal._db.execute("DROP TABLE segments")
    journal._db.execute("PRAGMA user_version = 1")
    journal.close()
    old = read_journal(tmp_path)
    assert old is not None
    try:
        assert list(old.names_with_partial_data()) == [("a", None)]
    finally:
        old.close()


# --- after a run: interrupted or active, .part bytes ------------------------------------------


def test_rows_left_active_without_a_run_show_as_interrupted(runner, tmp_path):
    leave_rows(
        tmp_path,
        [("a", Status.DONE, 10, 10), ("b", Status.ACTIVE, 0, 30), ("c", Status.ACTIVE, 0, 40)],
    )

    data = status_json(runner, tmp_path)
    text = status_text(runner, tmp_path)

    assert data["running"] is False
    assert data["counts"] == {"done": 1, "interrupted": 2}
    lines = text.splitlines()
    assert lines[0] == "1 done, 0 skipped, 0 failed, 0 pending, 2 interrupted"
    assert lines[2] == (
        f"2 unfinished: no adl is running in {tmp_path}; rerun the same `adl get` to finish them"
    )


def test_rows_active_while_a_run_holds_the_folder_show_as_active(runner, tmp_path):
    leave_rows(tmp_path, [("a", Status.DONE, 10, 10), ("b", Status.ACTIVE, 0, 30)])
    holder = SqliteJournal(tmp_path)  # a run that is alive: it holds the folder's lock
    try:
        data = status_json(runner, tmp_path)
        text = status_text(runner, tmp_path)
    finally:
        holder.close()

    assert data["running"] is True
    assert data["counts"] == {"done": 1, "active": 1}
    lines = text.splitlines()
    assert lines[0] == "1 done, 0 skipped, 0 failed, 0 pending, 1 active (a run is in progress)"
    assert "unfinished" not in text


def test_an_unreadable_lock_shows_rows_as_recorded(runner, tmp_path, monkeypatch):
    leave_rows(tmp_path, [("a", Status.ACTIVE, 0, 30)])
    real_open = os.open

    def refuse_the_lock(path, flags, *args):
        if Path(path).name == "lock":
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse_the_lock)
    data = status_json(runner, tmp_path)
    text = status_text(runner, tmp_path)

    assert data["running"] is None
    assert data["counts"] == {"active": 1}
    assert text.splitlines()[0] == "0 done, 0 skipped, 0 failed, 0 pending, 1 active"


def test_status_leaves_the_folder_free_for_the_next_run(runner, tmp_path):
    leave_rows(tmp_path, [("a", Status.ACTIVE, 0, 30)])
    status_json(runner, tmp_path)
    SqliteJournal(tmp_path).close()  # the lock status looked at was given back


def test_bytes_in_part_files_count_as_done(runner, tmp_path):
    leave_rows(
        tmp_path,
        [
            ("a", Status.DONE, 1000, 1000),
            ("b", Status.ACTIVE, 0, 4000),  # the journal knows nothing of its bytes yet
            ("c", Status.FAILED, 300, 5000),
        ],
    )
    (tmp_path / "b.part").write_bytes(b"x" * 1500)
    (tmp_path / "c.part").write_bytes(b"y" * 300)

    data = status_json(runner, tmp_path)
    text = status_text(runner, tmp_path)

    assert data["bytes_done"] == 1000 + 1500 + 300
    assert data["bytes_partial"] == 1800
    assert data["bytes_total"] == 10000
    assert "bytes: 2.7 KiB done of 9.8 KiB (1.8 KiB of it in .part files)" in text


def test_status_masks_passwords_even_from_an_older_journal(runner, tmp_path):
    url = "http://alice:Sup3r-s3cret@127.0.0.1:9/x.bin"
    SqliteJournal(tmp_path).close()
    db = sqlite3.connect(tmp_path / JOURNAL_DIR / "journal.sqlite")  # as an older adl wrote it
    db.execute(
        "INSERT INTO files (url, name, state, error, created, updated)"
        " VALUES (?, 'x.bin', 'failed', ?, 0, 0)",
        (url, f"HTTP 503 from {url}"),
    )
    db.commit()
    db.close()

    text = status_text(runner, tmp_path)
    data = status_json(runner, tmp_path)

    masked = "http://alice:***@127.0.0.1:9/x.bin"
    assert f"FAILED {masked}: HTTP 503 from {masked}" in text
    assert data["failed"] == [{"url": masked, "name": "x.bin", "error": f"HTTP 503 from {masked}"}]
    assert "Sup3r" not in text + json.dumps(data)


# --- during a run ---------------------------------------------------------------------------


async def test_a_finished_file_shows_as_done_while_others_are_mid_body(
    server, tmp_path, runner, monkeypatch
):
    """The journal commits on a timer too: a file that finished is done in `adl status`
    within the interval, though nothing else changes in the journal meanwhile."""
    interval = 0.05
    monkeypatch.setattr(api, "COMMIT_EVERY_SECONDS", interval)
    server.add("slow.bin", random_bytes(4 * 1024 * 1024))
    server.fail_next("slow.bin", Fault("trickle", rate=1024 * 1024))  # 4 s: outlasts the test
    server.add("quick.txt", b"q" * 1000)
    # Slow to start too, so the slow file's commit (when it goes active) comes first.
    server.fail_next("quick.txt", Fault("trickle", rate=10_000))
    urls = [server.url("slow.bin"), server.url("quick.txt")]

    async with aclosing(iter_downloads(urls, tmp_path, retries=0)) as batch:
        first = await anext(batch)
        assert first.url.endswith("quick.txt") and first.ok
        finished_at = time.monotonic()
        done = await wait_for_done(tmp_path, deadline=finished_at + 1.0)
        seen_after = time.monotonic() - finished_at
        data = status_json(runner, tmp_path)

    assert done, "the finished file never reached the database while the batch ran"
    assert seen_after < 10 * interval
    assert data["running"] is True
    assert data["counts"] == {"done": 1, "active": 1}


async def wait_for_done(out: Path, deadline: float) -> bool:
    while time.monotonic() < deadline:
        journal = read_journal(out)
        assert journal is not None
        try:
            if journal.summary().counts.get("done") == 1:
                return True
        finally:
            journal.close()
        await asyncio.sleep(0.01)
    return False
