"""The journal's SQLite file: opening it for a run (created, checked, upgraded, or moved
aside when damaged) and for `adl status` (read as it is). Layouts: journalschema.py.

A damaged journal (not a database, a failed integrity check, tables missing) would otherwise
stop every later run in its folder from keeping one, and adl would take its own files for
foreign ones. A run moves it aside, with its WAL, as `journal.sqlite.damaged-<time>` (kept
for a look, never read again), starts a fresh one and leaves the mark `rebuild`: until a run
goes through its whole list, a file already under a listed name counts as done when the
server confirms its size (existing.py). A journal is created under another name and renamed
into place, so one that exists was whole once: an empty one is damage, not a crash.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import NamedTuple, NoReturn

from .errors import DamagedJournalError
from .journalschema import create, layout_of, missing_tables, upgrade

JOURNAL_FILE = "journal.sqlite"
REBUILD_MARK = "rebuild"
# SQLite's files beside a WAL-mode database: they travel with it when it is moved aside.
_COMPANIONS = ("-wal", "-shm")
_REBUILD_NOTE = (
    "The journal of this folder was damaged and moved aside. Until a run of adl goes through\n"
    "its whole list, a file already under a listed name counts as done when the server\n"
    "confirms its size. Delete this file to have such files taken for foreign ones instead.\n"
)
_DAMAGE = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})  # not: locked, full, read-only
_EMPTY = "the file is empty"


class Opened(NamedTuple):
    db: sqlite3.Connection
    recovered: str | None  # the warning, once, when a damaged journal was moved aside
    rebuilding: bool  # the folder's journal was lost: see existing.py


class _SetAside(DamagedJournalError):
    """A damaged journal was moved aside (`moved`) and the rebuild mark left."""

    def __init__(self, why: str, moved: Path) -> None:
        super().__init__(why)
        self.moved = moved


def open_for_writing(folder: Path) -> Opened:
    """The folder's journal at the current layout; a damaged one is replaced by a fresh one.
    Raises NewerJournalError for a layout this adl does not know (it is left as it is)."""
    path, mark = folder / JOURNAL_FILE, folder / REBUILD_MARK
    try:
        return Opened(_open_checked(path, mark), None, mark.exists())
    except _SetAside as damage:
        recovered = (
            f"the journal in {folder} was damaged ({damage}): moved aside to"
            f" {damage.moved.name}; a fresh one starts, and files already in {folder.parent}"
            " count as done when the server confirms their size"
        )
        return Opened(_open_checked(path, mark), recovered, True)


def end_rebuild(folder: Path) -> None:
    """A run went through its whole list: every listed URL has a row again."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / REBUILD_MARK)


def open_for_reading(path: Path) -> sqlite3.Connection:
    """The journal as it is, read-only (a run may be writing it), whatever its layout up
    to the current one; DamagedJournalError or NewerJournalError when it cannot be read."""
    if path.stat().st_size == 0:  # (opened, SQLite would delete a WAL beside it)
        raise DamagedJournalError(_EMPTY)
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        why = _damage(db)
    except BaseException:
        db.close()
        raise
    if why is not None:
        db.close()
        raise DamagedJournalError(why)
    return db


def unreadable_journal(folder: Path, exc: Exception) -> str:
    """Why `adl status` cannot read the batch in `folder`, in words for the user."""
    if isinstance(exc, DamagedJournalError) or (isinstance(exc, sqlite3.Error) and damage_in(exc)):
        return (
            f"the journal in {folder}/.adl is damaged ({exc}); the next `adl get` in that folder"
            " moves it aside and rebuilds what it can from the files there"
        )
    if isinstance(exc, sqlite3.Error):
        return f"cannot read the journal in {folder}/.adl: {exc}"
    return str(exc)


def move_aside(path: Path) -> Path:
    """Rename the database and its companions to `<name>.damaged-<time>[-n]`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = path.with_name(f"{path.name}.damaged-{stamp}"), 0
    while any(os.path.lexists(f"{target}{suffix}") for suffix in ("", *_COMPANIONS)):
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("", *_COMPANIONS):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    return target


def damage_in(exc: sqlite3.Error) -> bool:
    """Whether an error says the file is damaged (rather than locked, full, read-only)."""
    return getattr(exc, "sqlite_errorname", None) in _DAMAGE


def _open_checked(path: Path, mark: Path) -> sqlite3.Connection:
    """The journal at `path`, checked and upgraded; raises _SetAside when it was damaged."""
    if not path.exists():
        _create(path, mark)
    elif path.stat().st_size == 0:  # (opened, SQLite would delete its WAL at once)
        _set_aside(path, mark, _EMPTY)
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    try:
        # Checked before anything is written. (A WAL that a kill -9 left is read already:
        # the file's header says it is in WAL mode.)
        why = _damage(db)
        if why is not None:
            # Moved while still open: closing may clean up (delete a WAL, checkpoint into
            # the file) by name or through the open file, never in the fresh journal.
            _set_aside(path, mark, why)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        upgrade(db, layout_of(db))
    except BaseException:
        db.close()
        raise
    return db


def _damage(db: sqlite3.Connection) -> str | None:
    """Why the journal is damaged (not a database, a failed integrity check, tables or
    columns of its layout missing); None when it is not. NewerJournalError for a layout
    this adl does not know: that is no damage, and must not be moved aside."""
    try:
        found = layout_of(db)
        problems = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problems != "ok":
            return f"failed integrity check: {problems.splitlines()[-1]}"
        missing = missing_tables(db, found)
    except sqlite3.DatabaseError as exc:
        if damage_in(exc):
            return str(exc)
        raise
    return f"missing tables or columns: {', '.join(missing)}" if missing else None


def _set_aside(path: Path, mark: Path, why: str) -> NoReturn:
    # The mark first: a run killed right after the move still rebuilds the next time.
    mark.write_text(_REBUILD_NOTE)
    raise _SetAside(why, move_aside(path))


def _create(path: Path, mark: Path) -> None:
    """A new journal, built aside and renamed into place whole."""
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size:
        _set_aside(path, mark, "the database is missing, its write-ahead log is there")
    fresh = path.with_name(f"{path.name}.new")
    # Leftovers of a run killed here, and a stale WAL that must not be replayed into it.
    for stale in (fresh, Path(f"{fresh}-journal"), *(Path(f"{path}{s}") for s in _COMPANIONS)):
        stale.unlink(missing_ok=True)
    db = sqlite3.connect(fresh, isolation_level="DEFERRED")
    try:
        create(db)
    finally:
        db.close()
    os.replace(fresh, path)
