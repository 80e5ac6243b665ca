"""Journal layouts across adl versions: a journal an older adl left is upgraded in one
transaction and resumed as if nothing happened; `adl status` reads it without changing it;
a journal of a newer layout is refused (exit 2), never misread.

The first released layout is written here with its own SQL, as adl 0.1.0 created it, not
with journalschema's copy: the test is a witness independent of the code it checks.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from downloader import NewerJournalError, State, download_all
from downloader import journalschema as schema
from downloader.cli import app
from downloader.journal import JOURNAL_DIR, SqliteJournal, Status

from .conftest import random_bytes
from .test_cli import live, runner, write_list  # noqa: F401 - fixtures

# adl 0.1.0 (the first release with a journal), verbatim.
FIRST_RELEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    url TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    etag TEXT,
    last_modified TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
-- For each base name, the next number to try on a collision: keeps a batch where
-- thousands of URLs end in the same name linear instead of quadratic.
CREATE TABLE IF NOT EXISTS name_counters (base TEXT PRIMARY KEY, next INTEGER NOT NULL);
"""
# What it did when it opened a journal; the rows are written, then the process dies as
# with kill -9 (os._exit: no close, no checkpoint), so they are in the WAL it leaves.
_WRITER = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level="DEFERRED")
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.executescript(sys.argv[2])
db.executemany(
    "INSERT INTO files (url, name, state, size, total, etag, last_modified, attempts, error,"
    " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1.0, 1.0)",
    [tuple(row) for row in __import__("json").loads(sys.argv[3])],
)
db.commit()
os._exit(9)
"""
PASSWORD = "s3cret-pw"
SIZE = 3 * 1024 * 1024
KEPT = 1024 * 1024  # what the killed run had in big.bin.part


def first_release_journal(out: Path, rows: list[tuple]) -> Path:
    """OUT/.adl as adl 0.1.0 left it when killed: its journal (rows still in the WAL)."""
    folder = out / JOURNAL_DIR
    folder.mkdir(parents=True)
    (folder / "lock").touch()
    path = folder / "journal.sqlite"
    args = [sys.executable, "-c", _WRITER, str(path), FIRST_RELEASE_SCHEMA, json.dumps(rows)]
    assert subprocess.run(args).returncode == 9
    assert (folder / "journal.sqlite-wal").stat().st_size > 0
    return path


def row(url, name, state, size=0, total=None, etag=None, modified=None, attempts=0, error=None):
    return (url, name, state, size, total, etag, modified, attempts, error)


def with_password(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@")


def layout_of(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


# --- upgrades ---------------------------------------------------------------------------------


async def test_a_batch_killed_under_the_first_release_is_finished_without_refetching(
    server, tmp_path
):
    done_body, big_body = b"d" * 5000, random_bytes(SIZE)
    server.add("done.txt", done_body)
    server.add("big.bin", big_body)
    server.add("new.txt", b"new")
    served = server.files["big.bin"]
    out = tmp_path / "out"
    url = {name: server.url(name) for name in ("done.txt", "big.bin", "new.txt")}
    failed_url = with_password(server.url("gone.txt"))
    path = first_release_journal(
        out,
        [
            row(url["done.txt"], "done.txt", "done", 5000, 5000),
            row(url["big.bin"], "big.bin", "active", 0, SIZE, served.etag, served.last_modified, 1),
            row(failed_url, "gone.txt", "failed", error=f"HTTP 404 Not Found: {failed_url}"),
        ],
    )
    (out / "done.txt").write_bytes(done_body)
    (out / "big.bin.part").write_bytes(big_body[:KEPT])

    results = await download_all(list(url.values()), out, retries=0)

    by_name = {Path(r.url).name: r for r in results}
    assert by_name["done.txt"].state is State.SKIPPED
    assert by_name["big.bin"].state is State.DONE, by_name["big.bin"].error
    assert (out / "big.bin").read_bytes() == big_body
    assert by_name["big.bin"].received == SIZE - KEPT
    assert server.requests["done.txt"] == 0
    assert server.range_requests == [("big.bin", f"bytes={KEPT}-", served.etag)]
    assert server.bytes_sent["big.bin"] == SIZE - KEPT  # resumed: nothing fetched twice
    assert by_name["new.txt"].state is State.DONE
    assert not list((out / JOURNAL_DIR).glob("*.damaged-*"))
    assert layout_of(path) == schema.LAYOUT
    assert PASSWORD.encode() not in path.read_bytes()  # the upgrade masked the old row


def test_an_upgrade_keeps_every_row_and_masks_passwords(tmp_path):
    secret = with_password("http://127.0.0.1:9/x.bin")
    path = first_release_journal(
        tmp_path,
        [
            row(secret, "x.bin", "failed", error=f"refused: {secret}"),
            row("http://127.0.0.1:9/y.bin", "y.bin", "done", 10, 10, '"e"', None, 2),
        ],
    )
    journal = SqliteJournal(tmp_path)
    try:
        failed = journal.get(secret)
        done = journal.get("http://127.0.0.1:9/y.bin")
    finally:
        journal.close()
    assert failed is not None and failed.state is Status.FAILED
    assert failed.error == "refused: http://alice:***@127.0.0.1:9/x.bin"
    assert done is not None and (done.state, done.size, done.etag, done.attempts) == (
        Status.DONE,
        10,
        '"e"',
        2,
    )
    assert layout_of(path) == schema.LAYOUT


def test_a_failed_step_leaves_the_journal_as_it_was(tmp_path, monkeypatch):
    secret = with_password("http://127.0.0.1:9/x.bin")
    path = first_release_journal(tmp_path, [row(secret, "x.bin", "failed")])

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema, "STEPS", (*schema.STEPS, broken))
    monkeypatch.setattr(schema, "LAYOUT", len(schema.STEPS))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        SqliteJournal(tmp_path)

    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT url FROM files").fetchall() == [(secret,)]  # not masked
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in tables
    finally:
        db.close()
    assert not list((tmp_path / JOURNAL_DIR).glob("*.damaged-*"))  # an error is not damage


def test_one_more_step_upgrades_journals_of_the_current_layout(tmp_path, monkeypatch):
    """How a later issue adds a layout: one entry in STEPS."""
    journal = SqliteJournal(tmp_path)
    journal.claim("http://127.0.0.1:9/a", "a")
    journal.close()
    monkeypatch.setattr(schema, "STEPS", (*schema.STEPS, schema.sql("CREATE TABLE extra (x)")))
    monkeypatch.setattr(schema, "LAYOUT", len(schema.STEPS))

    journal = SqliteJournal(tmp_path)
    try:
        assert journal.get("http://127.0.0.1:9/a") is not None
    finally:
        journal.close()
    path = tmp_path / JOURNAL_DIR / "journal.sqlite"
    assert layout_of(path) == schema.LAYOUT
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT COUNT(*) FROM extra").fetchone() == (0,)
    finally:
        db.close()


def test_a_new_journal_is_the_first_layout_with_every_step(tmp_path):
    SqliteJournal(tmp_path).close()
    path = tmp_path / JOURNAL_DIR / "journal.sqlite"
    assert layout_of(path) == schema.LAYOUT
    db = sqlite3.connect(path)
    try:
        assert schema.missing_tables(db, schema.LAYOUT) == []
    finally:
        db.close()
    assert not (tmp_path / JOURNAL_DIR / "journal.sqlite.new").exists()


# --- adl status reads older layouts as they are -------------------------------------------


def test_status_reads_a_first_release_journal_without_changing_it(runner, tmp_path):  # noqa: F811
    secret = with_password("http://127.0.0.1:9/x.bin")
    path = first_release_journal(
        tmp_path,
        [
            row(secret, "x.bin", "failed", error="HTTP 503 Service Unavailable"),
            row("http://127.0.0.1:9/y.bin", "y.bin", "done", 10, 10),
            row("http://127.0.0.1:9/z.bin", "z.bin", "active", 0, 100),
        ],
    )
    before = {p.name: p.read_bytes() for p in path.parent.glob("journal.sqlite*")}

    text = runner.invoke(app, ["status", "-o", str(tmp_path)])
    data = runner.invoke(app, ["status", "-o", str(tmp_path), "--json"])

    assert text.exit_code == 0 and data.exit_code == 0, text.output + data.output
    assert "1 done, 0 skipped, 1 failed, 0 pending, 1 interrupted" in text.stdout
    assert "FAILED http://alice:***@127.0.0.1:9/x.bin: HTTP 503" in text.stdout
    assert json.loads(data.stdout)["counts"] == {"done": 1, "failed": 1, "interrupted": 1}
    assert path.read_bytes() == before["journal.sqlite"]
    assert (path.parent / "journal.sqlite-wal").read_bytes() == before["journal.sqlite-wal"]
    assert layout_of(path) == 0


# --- a newer layout ---------------------------------------------------------------------------


def newer_journal(out: Path) -> Path:
    SqliteJournal(out).close()
    path = out / JOURNAL_DIR / "journal.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {schema.LAYOUT + 1}")
    db.commit()
    db.close()
    return path


def test_a_newer_layout_is_refused_and_left_as_it_is(tmp_path):
    path = newer_journal(tmp_path)
    before = path.read_bytes()
    for _ in range(2):  # the first refusal released the folder
        with pytest.raises(NewerJournalError, match=f"newer adl \\(layout {schema.LAYOUT + 1}\\)"):
            SqliteJournal(tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if "damaged" in p.name) == []


@pytest.mark.parametrize("command", ["get", "status"])
def test_get_and_status_exit_2_on_a_newer_layout(live, runner, tmp_path, command):  # noqa: F811
    live.add("a.txt", b"alpha")
    newer_journal(tmp_path)
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))
    args = ["get", str(listing)] if command == "get" else ["status"]

    result = runner.invoke(app, [*args, "-o", str(tmp_path)])

    assert result.exit_code == 2, result.output
    expected = (
        f"adl: this folder was written by a newer adl (layout {schema.LAYOUT + 1}); upgrade adl"
    )
    assert result.stderr.strip() == expected
    assert live.requests["a.txt"] == 0
    assert "Traceback" not in result.output
