"""The journal's layouts: the first released one, and one step from each layout to the next.

`PRAGMA user_version` holds a journal's layout. A run that writes brings an older journal up
to `LAYOUT` in one transaction as it opens it (`upgrade`); `adl status` reads every layout up
to `LAYOUT` as it is; a newer one is refused (`NewerJournalError`), never misread. A new
journal is the first layout with every step applied, so there is no second description of
the current layout to keep in step with the migrations.

Layouts:
  0  the first release (adl 0.1.0): tables `files` and `name_counters`, URLs kept as listed.
  1  URLs and error texts stored with passwords masked: no secret at rest.
  2  table `segments`: the byte ranges of a split download and how much of each is on disk.
A new layout is one more entry in `STEPS` (and a line above).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from functools import cache

from .errors import NewerJournalError
from .redact import mask_text, mask_url

# Layout 0, as the first release created it.
FIRST_LAYOUT = (
    """CREATE TABLE files (
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
    )""",
    # For each base name, the next number to try on a collision: keeps a batch where
    # thousands of URLs end in the same name linear instead of quadratic.
    "CREATE TABLE name_counters (base TEXT PRIMARY KEY, next INTEGER NOT NULL)",
)

Step = Callable[[sqlite3.Connection], None]


def sql(*statements: str) -> Step:
    """A step made of SQL statements (run one by one: `executescript` would commit)."""

    def run(db: sqlite3.Connection) -> None:
        for statement in statements:
            db.execute(statement)

    return run


def _mask_secrets(db: sqlite3.Connection) -> None:
    """Layout 1: URLs (the rows' keys) and error texts with passwords masked. The old text
    is overwritten on disk: `upgrade` runs with secure_delete and checkpoints after."""
    db.create_function("mask_url", 1, mask_url, deterministic=True)
    db.create_function("mask_text", 1, mask_text, deterministic=True)
    # OR REPLACE: two URLs that differ only in their password become one row.
    db.execute(
        "UPDATE OR REPLACE files SET url = mask_url(url),"
        " error = CASE WHEN error IS NULL THEN NULL ELSE mask_text(error) END"
        " WHERE url LIKE '%@%' OR error LIKE '%@%'"
    )


# Layout 2: a split download's ranges (segmentrows.py). `url` is the files row's key (the
# URL, password masked); `done` counts the bytes from `start` on that are in the .part file.
SEGMENTS_TABLE = """CREATE TABLE segments (
    url TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    done INTEGER NOT NULL,
    PRIMARY KEY (url, start)
) WITHOUT ROWID"""

# STEPS[n] takes a journal from layout n to layout n + 1.
STEPS: tuple[Step, ...] = (
    _mask_secrets,  # 1
    sql(SEGMENTS_TABLE),  # 2
)
LAYOUT = len(STEPS)  # the layout this adl writes
SEGMENTS_LAYOUT = 2  # the first with the segments table


def layout_of(db: sqlite3.Connection) -> int:
    """The journal's layout; NewerJournalError when this adl does not know it."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > LAYOUT:
        raise NewerJournalError(
            f"this folder was written by a newer adl (layout {found}); upgrade adl"
        )
    return found


def create(db: sqlite3.Connection) -> None:
    """Make an empty database a journal of the current layout, in one transaction."""
    _in_one_transaction(db, [sql(*FIRST_LAYOUT), *STEPS])


def upgrade(db: sqlite3.Connection, found: int) -> None:
    """Bring a journal of layout `found` to LAYOUT in one transaction: all steps or none."""
    if found == LAYOUT:
        return
    db.execute("PRAGMA secure_delete = ON")  # a step's old rows leave no text behind
    _in_one_transaction(db, STEPS[found:])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # and the WAL keeps no copy of them
    db.execute("PRAGMA secure_delete = OFF")


def missing_tables(db: sqlite3.Connection, layout: int) -> list[str]:
    """What the journal lacks of the tables and columns `layout` has: "files",
    "files.etag" (a journal may have more: a table of its own is not damage)."""
    missing = []
    for table, columns in _tables_made_by(STEPS[:layout]).items():
        found = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if not found:
            missing.append(table)
        missing += [f"{table}.{column}" for column in columns if found and column not in found]
    return missing


@cache
def _tables_made_by(steps: tuple[Step, ...]) -> dict[str, tuple[str, ...]]:
    """The tables and columns of the first layout after `steps`, read from one built in
    memory: the layouts are described once, by the steps that make them."""
    db = sqlite3.connect(":memory:")
    try:
        _in_one_transaction(db, [sql(*FIRST_LAYOUT), *steps], layout=len(steps))
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: tuple(row[1] for row in db.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        db.close()


def _in_one_transaction(
    db: sqlite3.Connection, steps: Iterable[Step], *, layout: int | None = None
) -> None:
    """Run `steps` and set the layout (LAYOUT unless told) in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for step in steps:
            step(db)
        db.execute(f"PRAGMA user_version = {LAYOUT if layout is None else layout}")
    except BaseException:
        db.rollback()
        raise
    db.commit()
