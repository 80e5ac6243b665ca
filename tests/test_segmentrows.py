"""The journal's segment rows: kept across a reopen, committed with the journal's flushes,
dropped when a file is done, keyed by the masked URL; in memory for --no-journal."""

from __future__ import annotations

import sqlite3

from downloader.journal import JOURNAL_DIR, SqliteJournal
from downloader.segments import Row

U = "http://127.0.0.1/big.iso"
ROWS = [Row(0, 100, 40), Row(100, 200, 0)]


def test_rows_saved_are_loaded_until_dropped(journal):
    assert journal.segments.load(U) == []
    journal.segments.save(U, ROWS)
    assert journal.segments.load(U) == ROWS
    journal.flush()
    assert journal.segments.load(U) == ROWS
    journal.segments.drop(U)
    assert journal.segments.load(U) == []
    journal.flush()
    assert journal.segments.load(U) == []


def stored(tmp_path) -> list[tuple]:
    db = sqlite3.connect(tmp_path / JOURNAL_DIR / "journal.sqlite")
    try:
        return db.execute("SELECT url, start, end, done FROM segments ORDER BY start").fetchall()
    finally:
        db.close()


def test_rows_survive_a_reopen_and_a_newer_save_replaces_them(tmp_path):
    journal = SqliteJournal(tmp_path)
    journal.segments.save(U, ROWS)
    journal.segments.save(U, [Row(0, 50, 50), Row(50, 100, 10), Row(100, 200, 5)])
    journal.close()

    again = SqliteJournal(tmp_path)
    try:
        assert again.segments.load(U) == [Row(0, 50, 50), Row(50, 100, 10), Row(100, 200, 5)]
    finally:
        again.close()


def test_saves_are_committed_by_the_journals_timer(tmp_path):
    """What a kill -9 leaves: rows reach the disk without anyone calling flush()."""
    journal = SqliteJournal(tmp_path)
    try:
        journal.segments.save(U, ROWS)
        assert stored(tmp_path) == []
        journal.flush_pending()  # what api.py's timer calls every COMMIT_EVERY_SECONDS
        assert stored(tmp_path) == [(U, *row) for row in ROWS]
    finally:
        journal.close()


def test_no_password_is_stored_with_the_rows(tmp_path):
    secret = "http://alice:hunter2@127.0.0.1/big.iso"
    journal = SqliteJournal(tmp_path)
    journal.segments.save(secret, ROWS)
    journal.close()

    assert {url for url, *_ in stored(tmp_path)} == {"http://alice:***@127.0.0.1/big.iso"}
    again = SqliteJournal(tmp_path)
    try:
        assert again.segments.load(secret) == ROWS  # found by the same masked key
    finally:
        again.close()
