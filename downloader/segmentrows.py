"""The journal's record of split downloads: per file, each segment's range and the bytes of
it that reached the `.part` file, so a rerun after kill -9 continues every segment.

Rows are kept in a table of their own, `segments` (journal layout 2, see journalschema.py),
next to the journal's `files` and keyed like it by the masked URL (redact.py): a file that is
not split has none. Changes wait in
memory and are written by the journal's `flush`, in the same transaction as the file's own
row; the runner (segmented.py) flushes often enough that a rerun loses at most a fraction of
a second of each connection's bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .redact import mask_url
from .segments import Row


class SqliteSegments:
    """Segment rows in the journal's database (same connection, same transactions)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        on_error: Callable[[sqlite3.Error], None],
        on_change: Callable[[], None],
    ) -> None:
        self._db = db
        self._on_error = on_error
        self._on_change = on_change  # the journal counts it: its timer commits it
        self._dirty: dict[str, list[Row]] = {}  # URL -> its rows, as of the last `save`

    def load(self, url: str) -> list[Row]:
        """The file's rows, ordered by start; [] when it is not split (or nothing is kept)."""
        if url in self._dirty:
            return list(self._dirty[url])
        try:
            found = self._db.execute(
                "SELECT start, end, done FROM segments WHERE url = ? ORDER BY start",
                (mask_url(url),),
            ).fetchall()
        except sqlite3.Error as exc:
            self._on_error(exc)
            return []
        return [Row(*row) for row in found]

    def done(self, url: str) -> int | None:
        """The bytes the file's segments have on disk; None when it is not split."""
        return _done(self.load(url))

    def save(self, url: str, rows: list[Row]) -> None:
        """The file's rows as they are now; written with the journal's next flush."""
        self._dirty[url] = rows
        self._on_change()

    def drop(self, url: str) -> None:
        """The file is done, or starts over: it has no segments any more."""
        self.save(url, [])

    def write_dirty(self) -> None:
        """Called by the journal's flush, inside its transaction."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        for url, rows in dirty.items():
            key = mask_url(url)
            self._db.execute("DELETE FROM segments WHERE url = ?", (key,))
            self._db.executemany(
                "INSERT INTO segments (url, start, end, done) VALUES (?, ?, ?, ?)",
                [(key, *row) for row in rows],
            )


class MemorySegments:
    """The same surface without a disk (--no-journal): rows live for the run."""

    def __init__(self) -> None:
        self._rows: dict[str, list[Row]] = {}

    def load(self, url: str) -> list[Row]:
        return list(self._rows.get(url, ()))

    def done(self, url: str) -> int | None:
        return _done(self.load(url))

    def save(self, url: str, rows: list[Row]) -> None:
        self._rows[url] = rows

    def drop(self, url: str) -> None:
        self._rows.pop(url, None)

    def write_dirty(self) -> None:
        pass


def _done(rows: list[Row]) -> int | None:
    return sum(row.done for row in rows) if rows else None
