"""A damaged journal: `adl get` moves it aside (with its WAL), warns once, starts a fresh one
and rebuilds what it can from the folder: a finished file whose size the server confirms
(HEAD) counts as done without a download; anything else under a listed name is a foreign
file (--on-exists); a `.part` is kept but, without validators, restarts from zero.
`adl status` on a damaged journal: a clear message, exit 2, nothing moved.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

import pytest

from downloader import Item, State, download_all, iter_downloads
from downloader import journalschema as schema
from downloader.cli import app
from downloader.existing import size_confirmed
from downloader.journal import JOURNAL_DIR, SqliteJournal, Status
from downloader.journalfile import REBUILD_MARK

from .conftest import random_bytes
from .fileserver import Fault
from .test_cli import live, runner, summary_counts, write_list  # noqa: F401 - fixtures

SIZE = 2 * 1024 * 1024


def a_journal(out: Path, rows: int = 300) -> Path:
    """A healthy journal with some rows (several pages), closed."""
    out.mkdir(exist_ok=True)
    journal = SqliteJournal(out)
    for i in range(rows):
        entry = journal.claim(f"http://127.0.0.1:9/{i}", f"{i}.bin")
        journal.update(entry, state=Status.DONE, size=i, total=i, error="x" * 100)
    journal.close()
    return out / JOURNAL_DIR / "journal.sqlite"


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def emptied(path: Path) -> None:
    os.truncate(path, 0)


def scribbled_header(path: Path) -> None:
    with path.open("r+b") as file:
        file.write(b"\0" * 100)


def scribbled_pages(path: Path) -> None:
    """Bytes overwritten mid-file: the header is fine, the integrity check is not."""
    with path.open("r+b") as file:
        file.seek(path.stat().st_size // 2)
        file.write(random_bytes(8192, seed=3))


def another_programs(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.commit()
    db.close()


def without_a_column(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE files DROP COLUMN etag")
    db.commit()
    db.close()


def without_a_table(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("DROP TABLE name_counters")
    db.commit()
    db.close()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (garbage, "file is not a database"),
    "truncated": (truncated, "malformed"),
    "emptied": (emptied, "the file is empty"),
    "scribbled header": (scribbled_header, "file is not a database"),
    "scribbled pages": (scribbled_pages, "failed integrity check"),
    "another program's database": (another_programs, "missing tables or columns: files"),
    "a column missing": (without_a_column, "missing tables or columns: files.etag"),
    "a table missing": (without_a_table, "missing tables or columns: name_counters"),
}


@pytest.fixture(params=list(DAMAGE), ids=list(DAMAGE))
def damaged(request, tmp_path) -> tuple[Path, bytes, str]:
    """A folder whose journal is damaged one way: (its journal, the damaged bytes, why)."""
    damage, why = DAMAGE[request.param]
    path = a_journal(tmp_path)
    damage(path)
    return path, path.read_bytes(), why


def test_a_damaged_journal_is_moved_aside_and_a_fresh_one_starts(damaged):
    path, damaged_bytes, why = damaged
    folder = path.parent

    journal = SqliteJournal(folder.parent)
    try:
        assert journal.recovered is not None and why in journal.recovered
        assert journal.rebuilding
        assert journal.summary().counts == {}
        journal.claim("http://127.0.0.1:9/new", "new.bin")  # a working journal
    finally:
        journal.close()

    [aside] = folder.glob("journal.sqlite.damaged-*[0-9]")
    assert aside.read_bytes() == damaged_bytes  # kept as it was, for a look
    assert aside.name in journal.recovered
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.LAYOUT
    finally:
        db.close()
    again = SqliteJournal(folder.parent)  # healthy now: no second warning
    try:
        assert again.recovered is None
        assert again.get("http://127.0.0.1:9/new") is not None
    finally:
        again.close()


def test_the_wal_goes_aside_with_its_database(tmp_path):
    path = a_journal(tmp_path)
    garbage(path)
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    wal.write_bytes(b"w" * 5000)
    shm.write_bytes(b"s" * 5000)

    SqliteJournal(tmp_path).close()

    [aside] = tmp_path.joinpath(JOURNAL_DIR).glob("journal.sqlite.damaged-*[0-9]")
    assert Path(f"{aside}-wal").read_bytes() == b"w" * 5000
    assert Path(f"{aside}-shm").exists()  # (an index of the WAL: SQLite may rewrite it)
    assert not wal.exists() or wal.read_bytes() != b"w" * 5000


def test_two_damaged_journals_in_one_second_keep_both(tmp_path):
    for _ in range(2):
        garbage(a_journal(tmp_path))
        SqliteJournal(tmp_path).close()
    assert len(list(tmp_path.joinpath(JOURNAL_DIR).glob("journal.sqlite.damaged-*[0-9]"))) == 2


def test_a_wal_without_its_database_is_damage_too(tmp_path):
    path = a_journal(tmp_path)
    journal = SqliteJournal(tmp_path)  # an open writer keeps its WAL
    journal.claim("http://127.0.0.1:9/x", "x")
    journal.flush()
    wal = Path(f"{path}-wal").read_bytes()
    shutil.copy(f"{path}-wal", tmp_path / "wal")
    journal.close()
    path.unlink()
    shutil.copy(tmp_path / "wal", f"{path}-wal")

    reopened = SqliteJournal(tmp_path)
    reopened.close()

    assert reopened.recovered is not None and "write-ahead log" in reopened.recovered
    [aside] = tmp_path.joinpath(JOURNAL_DIR).glob("journal.sqlite.damaged-*-wal")
    assert aside.read_bytes() == wal


# --- adl get: one warning, and the folder rebuilt -----------------------------------------


async def test_a_rebuild_counts_confirmed_files_as_done_without_fetching_them(server, tmp_path):
    bodies = {n: random_bytes(SIZE, seed=i) for i, n in enumerate(["a.bin", "b.bin", "c.bin"])}
    bodies["d.bin"] = b"not yet fetched"
    for name, body in bodies.items():
        server.add(name, body)
    out = tmp_path / "out"
    garbage(a_journal(out))
    (out / "a.bin").write_bytes(bodies["a.bin"])  # finished by the lost journal's run
    (out / "b.bin").write_bytes(b"a file of another size")  # not ours, or changed since
    (out / "c.bin.part").write_bytes(bodies["c.bin"][: SIZE // 2])  # no validators left
    urls = [server.url(n) for n in bodies]
    events: list = []

    results = await download_all(urls, out, retries=0, on_event=events.append)

    by_name = {Path(r.url).name: r for r in results}
    assert by_name["a.bin"].state is State.SKIPPED
    assert (server.heads["a.bin"], server.requests["a.bin"], server.bytes_sent["a.bin"]) == (
        1,
        1,
        0,
    )
    assert by_name["b.bin"].state is State.SKIPPED  # --on-exists skip: a foreign file
    assert (out / "b.bin").read_bytes() == b"a file of another size"
    assert server.bytes_sent["b.bin"] == 0
    assert by_name["c.bin"].state is State.DONE  # from zero: never resumed blind
    assert server.range_requests == []
    assert server.bytes_sent["c.bin"] == SIZE
    assert (out / "c.bin").read_bytes() == bodies["c.bin"]
    assert by_name["d.bin"].state is State.DONE
    assert server.heads["d.bin"] == 0  # nothing on disk to ask about
    warnings = [e.message for e in events if "damaged" in getattr(e, "message", "")]
    assert len(warnings) == 1
    assert not (out / JOURNAL_DIR / REBUILD_MARK).exists()  # the whole list went through

    journal = SqliteJournal(out)
    try:
        a = journal.get(server.url("a.bin"))
        assert a is not None and (a.state, a.size, a.etag) == (
            Status.DONE,
            SIZE,
            server.files["a.bin"].etag,
        )
    finally:
        journal.close()
    requests = sum(server.requests.values())
    again = await download_all(urls, out, retries=0)
    assert [r.state for r in again] == [State.SKIPPED] * 4
    assert sum(server.requests.values()) == requests  # an ordinary rerun: no requests


async def test_an_unconfirmed_file_is_foreign_under_on_exists(server, tmp_path):
    server.add("a.bin", b"the server's a.bin")
    server.add("b.bin", b"the server's b.bin")
    server.fail_next("b.bin", Fault("status", status=405))  # HEAD not allowed
    out = tmp_path / "out"
    garbage(a_journal(out))
    (out / "a.bin").write_bytes(b"other size")
    (out / "b.bin").write_bytes(b"the server's b.bin")  # same size, but nobody says so

    results = await download_all(
        [server.url("a.bin"), server.url("b.bin")], out, retries=0, on_exists="rename"
    )

    assert [r.state for r in results] == [State.DONE, State.DONE]
    assert [r.path.name for r in results if r.path] == ["a.1.bin", "b.1.bin"]
    assert (out / "a.bin").read_bytes() == b"other size"  # never overwritten


async def test_with_check_integrity_a_confirmed_file_is_hashed_too(server, tmp_path):
    body = b"the real bytes"
    server.add("a.bin", body)
    out = tmp_path / "out"
    garbage(a_journal(out))
    (out / "a.bin").write_bytes(b"the fake bytes")  # the size the server says, not the bytes
    item = Item(url=server.url("a.bin"), checksum=f"sha-256={hashlib.sha256(body).hexdigest()}")

    [result] = await download_all([item], out, check_integrity=True)

    assert result.state is State.DONE
    assert (out / "a.bin").read_bytes() == body
    assert server.heads["a.bin"] == 1


async def test_an_interrupted_rebuild_goes_on_in_the_next_run(server, tmp_path):
    for name in ("a.txt", "b.txt"):
        server.add(name, name.encode() * 10)
    out = tmp_path / "out"
    garbage(a_journal(out))
    for name in ("a.txt", "b.txt"):
        (out / name).write_bytes(name.encode() * 10)
    urls = [server.url("a.txt"), server.url("b.txt")]

    async with aclosing(iter_downloads(urls, out, jobs=1)) as batch:
        first = await anext(batch)  # and the caller stops there
    assert first.state is State.SKIPPED
    assert (out / JOURNAL_DIR / REBUILD_MARK).exists()

    results = await download_all(urls, out)
    assert [r.state for r in results] == [State.SKIPPED, State.SKIPPED]
    assert sum(server.bytes_sent.values()) == 0
    assert server.heads["b.txt"] >= 1  # (the first run may have asked already)
    assert not (out / JOURNAL_DIR / REBUILD_MARK).exists()


def test_get_warns_once_on_stderr_and_rebuilds(live, runner, tmp_path):  # noqa: F811
    live.add("a.txt", b"alpha" * 100)
    out = tmp_path / "out"
    garbage(a_journal(out))
    (out / "a.txt").write_bytes(b"alpha" * 100)
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))

    result = runner.invoke(app, ["get", str(listing), "-o", str(out)])

    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.stderr.splitlines() if "damaged" in line]
    assert (
        "file is not a database" in warning and "moved aside to journal.sqlite.damaged-" in warning
    )
    assert "damaged" not in result.stdout
    assert summary_counts(result.stdout) == (0, 1, 0)
    assert live.bytes_sent["a.txt"] == 0
    again = runner.invoke(app, ["get", str(listing), "-o", str(out)])
    assert again.exit_code == 0 and "damaged" not in again.output


# --- adl status: a message, exit 2 ---------------------------------------------------------


def test_status_on_a_damaged_journal_exits_2_and_moves_nothing(damaged, runner):  # noqa: F811
    path, damaged_bytes, why = damaged
    result = runner.invoke(app, ["status", "-o", str(path.parent.parent)])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"adl: the journal in {path.parent.parent}/.adl is damaged")
    assert why in result.stderr
    assert "moves it aside" in result.stderr
    assert "Traceback" not in result.output
    assert path.read_bytes() == damaged_bytes
    assert not list(path.parent.glob("*.damaged-*"))


# --- the decision --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "size", "confirmed"),
    [
        (200, {"Content-Length": "100"}, 100, True),
        (200, {"Content-Length": "0"}, 0, True),
        (200, {"Content-Length": "101"}, 100, False),
        (200, {}, 100, False),  # no length given: nothing confirmed
        (200, {"Content-Length": "1e2"}, 100, False),
        (206, {"Content-Length": "100"}, 100, False),
        (404, {"Content-Length": "100"}, 100, False),
        (302, {"Content-Length": "100"}, 100, False),
    ],
)
def test_size_confirmed(status, headers, size, confirmed):
    assert size_confirmed(status, headers, size) is confirmed
