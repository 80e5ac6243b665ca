"""The batch journal: one row per URL in DIR/.adl/journal.sqlite, so a rerun resumes.

It remembers each URL's file name (names stay stable across reruns), its state, the size
and validators seen, attempts and the last error. Commits are batched; after a crash the
journal may lag the disk, which is why the resume offset is always the size of the `.part`
file, never a byte count from here.

No secret is kept at rest: a row's key is its URL with the password masked
(`user:***@host`, see redact.py) and stored error texts are masked too. Callers keep
passing and getting back the real URL (it is what gets requested): the key is made at
this class's boundary. Two runs of the same list mask alike, so a rerun finds its rows.

`MemoryJournal` has the same surface for one-shot library use (`resume=False`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, TypedDict, Unpack

from .folderlock import lock_folder
from .journalfile import JOURNAL_FILE, open_for_reading, open_for_writing
from .journalschema import SEGMENTS_LAYOUT, layout_of
from .naming import numbered_name
from .redact import mask_text, mask_url
from .segmentrows import MemorySegments, SqliteSegments

JOURNAL_DIR = ".adl"
COMMIT_EVERY_SECONDS = 0.5
COMMIT_EVERY_CHANGES = 500


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Entry(NamedTuple):
    """One URL's row. A NamedTuple: `_replace` is several times cheaper than
    `dataclasses.replace`, and entries change a few times per file."""

    url: str
    name: str
    state: Status = Status.PENDING
    size: int = 0
    total: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    attempts: int = 0
    error: str | None = None


class Changes(TypedDict, total=False):
    """What `update` may change in an Entry (keyword arguments, type-checked)."""

    state: Status
    size: int
    total: int | None
    etag: str | None
    last_modified: str | None
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    counts: dict[str, int]
    bytes_done: int
    bytes_total: int | None  # None when some sizes are still unknown


NameTaken = Callable[[str], bool]
_COLUMNS = ("url", "name", "state", "size", "total", "etag", "last_modified", "attempts", "error")


class SqliteJournal:
    """The on-disk journal. Not thread-safe: used only from the event loop's thread."""

    def __init__(self, dest: Path, *, read_only: bool = False) -> None:
        folder = dest / JOURNAL_DIR
        self.recovered: str | None = None  # the warning when a damaged journal was replaced
        self.rebuilding = False  # files on disk are matched to a lost journal's URLs
        if read_only:
            # `adl status` may look while a batch runs: no lock, no writes.
            self._lock = None
            self._db = open_for_reading(folder / JOURNAL_FILE)
        else:
            folder.mkdir(exist_ok=True)
            self._lock = lock_folder(folder)
            try:
                self._db, self.recovered, self.rebuilding = open_for_writing(folder)
            except BaseException:
                os.close(self._lock)  # a journal that cannot be opened holds no folder
                raise
        self._changes = 0
        self._last_commit = time.monotonic()
        # Entries of files in flight, so lookups during a transfer need no query and still
        # answer when a write failed; dropped once a file reaches a final state.
        self._live: dict[str, Entry] = {}
        # Updates waiting for the next commit, one row per URL however often it changed:
        # a small file changes state four or five times in a few milliseconds.
        self._dirty: dict[str, Entry] = {}
        self.write_error: str | None = None
        self.segments = SqliteSegments(self._db, self._note_error, self._changed)  # split files

    def get(self, url: str) -> Entry | None:
        known = self._live.get(url) or self._dirty.get(url)
        if known is not None:
            return known
        key = mask_url(url)
        cols = ", ".join(_COLUMNS)
        row = self._db.execute(f"SELECT {cols} FROM files WHERE url = ?", (key,)).fetchone()
        if row is None:
            return None
        entry = _entry(row)
        return entry if key == url else entry._replace(url=url)

    def claim(self, url: str, name: str, taken: NameTaken = lambda _: False) -> Entry:
        """This URL's entry; a new one gets `name` or its first numbered form that is free."""
        known = self._live.get(url) or self._dirty.get(url)
        if known is not None:
            return known
        # The common case, a new URL with a free name, costs one statement: try the insert
        # and let the UNIQUE constraints say whether the URL or the name is already there.
        if not taken(name):
            try:
                return self._insert(url, name)
            except sqlite3.IntegrityError:
                pass
        entry = self.get(url)
        if entry is not None:
            return entry
        return self._insert(url, self._free_name(name, taken))

    def _insert(self, url: str, name: str) -> Entry:
        """Raises IntegrityError when the URL or the name is taken; other database errors
        (a full disk) leave the entry unrecorded rather than stop the batch."""
        now = time.time()
        try:
            self._db.execute(
                "INSERT INTO files (url, name, state, created, updated) VALUES (?, ?, ?, ?, ?)",
                (mask_url(url), name, Status.PENDING.value, now, now),
            )
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            self._note_error(exc)
        else:
            self._changed()
        return Entry(url=url, name=name)

    def rename(self, entry: Entry, name: str, taken: NameTaken = lambda _: False) -> Entry:
        """Give the URL a different name (server-suggested, or --on-exists rename)."""
        key = mask_url(entry.url)
        free = self._free_name(name, taken, own=key)
        self._write("UPDATE files SET name = ? WHERE url = ?", (free, key))
        return self._remember(entry._replace(name=free))

    def update(self, entry: Entry, **changes: Unpack[Changes]) -> Entry:
        """Record changes; they reach the database with the next batched commit."""
        new = entry._replace(**changes)
        self._dirty[new.url] = new
        self._changed()
        return self._remember(new)

    def record(self, entry: Entry) -> Entry:
        """Record `entry` as it is (a worker's change: messages.py)."""
        self._dirty[entry.url] = entry
        self._changed()
        return self._remember(entry)

    def summary(self) -> Summary:
        self.flush()
        counts = dict(self._db.execute("SELECT state, COUNT(*) FROM files GROUP BY state"))
        done, total, unknown = self._db.execute(
            "SELECT COALESCE(SUM(CASE WHEN state IN ('done', 'skipped') THEN size END), 0),"
            " COALESCE(SUM(CASE WHEN state = 'skipped' THEN size ELSE total END), 0),"
            " SUM(total IS NULL AND state != 'skipped') FROM files"
        ).fetchone()
        return Summary(counts, done, None if unknown else total)

    def names_with_partial_data(self) -> Iterator[tuple[str, int | None]]:
        """Names of the files that may have a `.part` on disk: active ones, and pending or
        failed ones that kept bytes (a `.part` appears only once its row went `active`).
        Few, even in a journal of millions of finished files: a 404 keeps no bytes. With
        each, for a split one, the bytes its segments have on disk (else None)."""
        self.flush()
        split = "SELECT SUM(done) FROM segments WHERE segments.url = files.url"
        done = f"({split})" if layout_of(self._db) >= SEGMENTS_LAYOUT else "NULL"
        query = (
            f"SELECT name, {done} FROM files WHERE state = 'active'"
            " OR (state IN ('pending', 'failed') AND size > 0)"
        )
        yield from self._db.execute(query)

    def failed(self) -> Iterator[Entry]:
        """The failed rows, oldest first, as stored: their URLs are masked."""
        self.flush()
        cols = ", ".join(_COLUMNS)
        query = f"SELECT {cols} FROM files WHERE state = 'failed' ORDER BY created"
        for row in self._db.execute(query):
            yield _entry(row)

    def flush(self) -> None:
        try:
            self._write_dirty()
            self.segments.write_dirty()
            self._db.commit()
        except sqlite3.Error as exc:
            self._note_error(exc)
        self._changes = 0
        self._last_commit = time.monotonic()

    def flush_pending(self) -> None:
        """Commit changes waiting for a commit, if any: called on a timer while a batch runs,
        so `adl status` sees a finished file even when no further update comes to trigger
        the batched commit. Costs one attribute test when there is nothing to write."""
        if self._changes:
            self.flush()

    def close(self) -> None:
        if self._lock is not None:
            self.flush()
            os.close(self._lock)
        self._db.close()

    def _write_dirty(self) -> None:
        if not self._dirty:
            return
        now = time.time()
        rows = [
            (*e[2:8], e.error and mask_text(e.error), now, mask_url(e.url))
            for e in self._dirty.values()
        ]
        self._dirty.clear()
        sets = ", ".join(f"{column} = ?" for column in _COLUMNS[2:])
        self._db.executemany(f"UPDATE files SET {sets}, updated = ? WHERE url = ?", rows)

    def _remember(self, entry: Entry) -> Entry:
        if entry.state in (Status.DONE, Status.FAILED, Status.SKIPPED):
            self._live.pop(entry.url, None)
        else:
            self._live[entry.url] = entry
        return entry

    def _write(self, sql: str, params: tuple) -> None:
        """A write that must not stop the batch: a full disk can make SQLite fail too, and
        the files matter more than their bookkeeping (a rerun re-checks them anyway)."""
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            self._note_error(exc)
            return
        self._changed()

    def _note_error(self, exc: sqlite3.Error) -> None:
        if self.write_error is None:
            self.write_error = f"the journal could not be written ({exc})"

    def _changed(self) -> None:
        self._changes += 1
        overdue = time.monotonic() - self._last_commit >= COMMIT_EVERY_SECONDS
        if overdue or self._changes >= COMMIT_EVERY_CHANGES:
            self.flush()

    def _free_name(self, name: str, taken: NameTaken, own: str | None = None) -> str:
        def free(candidate: str) -> bool:
            row = self._db.execute("SELECT url FROM files WHERE name = ?", (candidate,)).fetchone()
            return (row is None or row[0] == own) and not taken(candidate)

        if free(name):
            return name
        row = self._db.execute("SELECT next FROM name_counters WHERE base = ?", (name,)).fetchone()
        n = row[0] if row else 1
        while not free(numbered_name(name, n)):
            n += 1
        self._write(
            "INSERT OR REPLACE INTO name_counters (base, next) VALUES (?, ?)", (name, n + 1)
        )
        return numbered_name(name, n)


class MemoryJournal:
    """The journal's surface without a disk: for one-shot runs that keep no state."""

    recovered: str | None = None
    rebuilding = False

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._names: set[str] = set()
        self._next: dict[str, int] = {}
        self.write_error: str | None = None
        self.segments = MemorySegments()

    def get(self, url: str) -> Entry | None:
        return self._entries.get(url)

    def claim(self, url: str, name: str, taken: NameTaken = lambda _: False) -> Entry:
        if url not in self._entries:
            self._store(Entry(url=url, name=self._free_name(name, taken)))
        return self._entries[url]

    def rename(self, entry: Entry, name: str, taken: NameTaken = lambda _: False) -> Entry:
        self._names.discard(entry.name)
        return self._store(self._entries[entry.url]._replace(name=self._free_name(name, taken)))

    def update(self, entry: Entry, **changes: Unpack[Changes]) -> Entry:
        return self._store(self._entries[entry.url]._replace(**changes))

    def record(self, entry: Entry) -> Entry:
        return self._store(entry)

    def summary(self) -> Summary:
        counts: dict[str, int] = {}
        for entry in self._entries.values():
            counts[entry.state] = counts.get(entry.state, 0) + 1
        done = sum(e.size for e in self._entries.values() if e.state in ("done", "skipped"))
        totals = [e.size if e.state == "skipped" else e.total for e in self._entries.values()]
        return Summary(counts, done, None if None in totals else sum(totals))  # type: ignore[arg-type]

    def failed(self) -> Iterator[Entry]:
        return (e for e in self._entries.values() if e.state == Status.FAILED)

    def flush(self) -> None:
        pass  # nothing to write, and nothing to close

    flush_pending = close = flush

    def _store(self, entry: Entry) -> Entry:
        self._entries[entry.url] = entry
        self._names.add(entry.name)
        return entry

    def _free_name(self, name: str, taken: NameTaken) -> str:
        if name not in self._names and not taken(name):
            return name
        n = self._next.get(name, 1)
        while numbered_name(name, n) in self._names or taken(numbered_name(name, n)):
            n += 1
        self._next[name] = n + 1
        return numbered_name(name, n)


Journal = SqliteJournal | MemoryJournal


def open_journal(dest: Path, *, persistent: bool) -> Journal:
    return SqliteJournal(dest) if persistent else MemoryJournal()


def read_journal(dest: Path) -> SqliteJournal | None:
    """The journal of an earlier batch in `dest`, for `adl status`; None if there is none."""
    if not (dest / JOURNAL_DIR / JOURNAL_FILE).is_file():
        return None
    return SqliteJournal(dest, read_only=True)


def _entry(row: tuple) -> Entry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["state"] = Status(values["state"])
    return Entry(**values)
