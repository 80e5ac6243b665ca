"""The journal's SQLite file: its schema, opening it for writing, and the one-time masking
of a journal that an older adl wrote with passwords in clear (see journal.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .redact import mask_text, mask_url
from .segmentrows import create_segments_table

_SCHEMA = """
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
# PRAGMA user_version: 1 = URLs and errors are stored masked. A journal written before
# (version 0) may hold passwords; it is rewritten once when a run opens it.
_MASKED_VERSION = 1


def open_for_writing(path: Path) -> sqlite3.Connection:
    """The journal's database, created if missing, WAL mode, cleaned of secrets."""
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        create_segments_table(db)
        _forget_secrets(db)
    except BaseException:
        db.close()
        raise
    return db


def _forget_secrets(db: sqlite3.Connection) -> None:
    """Mask the URLs and errors of a journal written before they were stored masked, once,
    with the old text overwritten on disk (secure_delete, then a checkpoint that folds the
    WAL into the database and empties it)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= _MASKED_VERSION:
        return
    db.create_function("mask_url", 1, mask_url, deterministic=True)
    db.create_function("mask_text", 1, mask_text, deterministic=True)
    db.execute("PRAGMA secure_delete = ON")
    with db:
        # OR REPLACE: two URLs that differ only in their password become one row.
        db.execute(
            "UPDATE OR REPLACE files SET url = mask_url(url),"
            " error = CASE WHEN error IS NULL THEN NULL ELSE mask_text(error) END"
            " WHERE url LIKE '%@%' OR error LIKE '%@%'"
        )
        db.execute(f"PRAGMA user_version = {_MASKED_VERSION}")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA secure_delete = OFF")
