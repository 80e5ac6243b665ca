"""No secret at rest in DIR/.adl: URLs with `user:password@` are stored masked (they are
the journal's key), as are error texts, while the entries the journal hands back carry the
real URL, the one that gets requested (aiohttp sends its userinfo as Basic auth).

The batches run against a real server that requires Basic auth: a file that arrives proves
the real URL was used, and the raw bytes of every file in DIR/.adl prove none was stored.
"""

from __future__ import annotations

import base64
import sqlite3
from contextlib import aclosing
from pathlib import Path

import pytest
from yarl import URL

from downloader import State, download_all, iter_downloads
from downloader.journal import JOURNAL_DIR, SqliteJournal, Status

from .conftest import random_bytes
from .fileserver import Fault

PASSWORD = "Sup3r-s3cret"
USER = "alice"
MiB = 1024 * 1024
BIG = 3 * MiB  # streamed to a .part (bigger than a chunk)
RATE = 16 * MiB  # pauses between pieces let the client drain them before a cut


def with_password(url: str, password: str = PASSWORD) -> str:
    return str(URL(url).with_user(USER).with_password(password))


def secrets_in(folder: Path) -> list[str]:
    """Files in folder/.adl whose raw bytes hold the password (clear, or as Basic auth)."""
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    found = []
    for path in (folder / JOURNAL_DIR).iterdir():
        data = path.read_bytes()
        if PASSWORD.encode() in data or basic in data:
            found.append(path.name)
    return found


def journal_files(folder: Path) -> set[str]:
    return {p.name for p in (folder / JOURNAL_DIR).iterdir()}


async def test_a_batch_with_a_password_keeps_none_in_the_journal(server, tmp_path):
    server.auth = (USER, PASSWORD)
    server.add("big.bin", random_bytes(BIG))
    server.add("small.txt", b"small")
    server.add("cut.bin", random_bytes(BIG, seed=2))
    server.fail_next("cut.bin", Fault("cut", after=MiB))
    server.rate = RATE
    ftp = with_password("ftp://127.0.0.1/elsewhere")
    server.redirect("away", ftp)
    names = ["big.bin", "small.txt", "missing.txt", "away", "cut.bin"]
    urls = [with_password(server.url(n)) for n in names]

    results, seen_wal = [], False
    async with aclosing(iter_downloads(urls, tmp_path, retries=0)) as batch:
        async for result in batch:
            results.append(result)
            # Mid-batch, the WAL holds the latest pages: it must be clean too.
            seen_wal |= "journal.sqlite-wal" in journal_files(tmp_path)
            assert secrets_in(tmp_path) == []
    assert secrets_in(tmp_path) == []
    assert seen_wal

    by_name = {URL(r.url).name: r for r in results}
    assert by_name["big.bin"].state is State.DONE  # the real URL was requested
    assert by_name["small.txt"].state is State.DONE
    assert by_name["missing.txt"].status == 404
    assert by_name["cut.bin"].state is State.FAILED
    assert (tmp_path / "cut.bin.part").stat().st_size > 0
    assert "redirect" in (by_name["away"].error or "")
    # What was stored is the masked form, errors included.
    db = sqlite3.connect(tmp_path / JOURNAL_DIR / "journal.sqlite")
    stored = dict(db.execute("SELECT url, error FROM files"))
    db.close()
    assert set(stored) == {with_password(server.url(n), "***") for n in names}
    assert stored[with_password(server.url("away"), "***")] == (
        f"redirect to unsupported URL '{with_password('ftp://127.0.0.1/elsewhere', '***')}'"
    )


async def test_a_rerun_with_a_password_finds_its_entry_and_resumes(server, tmp_path):
    server.auth = (USER, PASSWORD)
    body = random_bytes(BIG)
    server.add("f.bin", body)
    server.fail_next("f.bin", Fault("cut", after=MiB))
    server.rate = RATE
    url = with_password(server.url("f.bin"))

    first = await download_all([url], tmp_path, retries=0)
    assert first.failed and (tmp_path / "f.bin.part").exists()
    second = await download_all([url], tmp_path, retries=0)

    [result] = second
    assert result.state is State.DONE, result.error
    assert result.path == tmp_path / "f.bin"  # the same name: no "f.1.bin"
    assert result.path.read_bytes() == body
    assert [r[0] for r in server.range_requests] == ["f.bin"]  # resumed, not restarted
    assert secrets_in(tmp_path) == []


def test_entries_carry_the_real_url_and_rows_the_masked_one(tmp_path):
    url = with_password("http://127.0.0.1:9/x.bin")
    journal = SqliteJournal(tmp_path)
    entry = journal.claim(url, "x.bin")
    assert entry.url == url
    entry = journal.update(entry, state=Status.FAILED, error=f"cannot fetch {url}")
    journal.flush()
    masked = with_password("http://127.0.0.1:9/x.bin", "***")
    # Read back from its row: the real URL, and the error as stored (masked).
    assert journal.get(url) == entry._replace(error=f"cannot fetch {masked}")
    journal.close()

    again = SqliteJournal(tmp_path)
    try:
        got = again.get(url)
        assert got is not None and got.url == url and got.name == "x.bin"
        assert again.claim(url, "x.bin").name == "x.bin"
        assert [(e.url, e.error) for e in again.failed()] == [(masked, f"cannot fetch {masked}")]
        renamed = again.rename(got, "y.bin")
        assert renamed.url == url and again.get(url) == renamed
    finally:
        again.close()
    assert secrets_in(tmp_path) == []


def test_a_journal_written_before_masking_is_cleaned_when_opened(tmp_path):
    url = with_password("http://127.0.0.1:9/old.bin")
    SqliteJournal(tmp_path).close()
    path = tmp_path / JOURNAL_DIR / "journal.sqlite"
    db = sqlite3.connect(path)  # what an older adl left: clear URLs, user_version 0
    db.execute(
        "INSERT INTO files (url, name, state, error, created, updated)"
        " VALUES (?, 'old.bin', 'failed', ?, 0, 0)",
        (url, f"HTTP 503 from {url}"),
    )
    active = with_password("http://127.0.0.1:9/active.bin")
    db.execute(  # most rows have no error at all
        "INSERT INTO files (url, name, state, created, updated)"
        " VALUES (?, 'a.bin', 'active', 0, 0)",
        (active,),
    )
    db.execute("DROP TABLE segments")  # layout 0 had files and name_counters only
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    assert secrets_in(tmp_path) == ["journal.sqlite"]

    journal = SqliteJournal(tmp_path)
    try:
        assert secrets_in(tmp_path) == []
        got = journal.get(url)
        assert got is not None and got.name == "old.bin" and got.url == url
        assert journal.claim(url, "old.bin").name == "old.bin"  # no "old.1.bin"
        got = journal.get(active)
        assert got is not None and got.name == "a.bin" and got.error is None
    finally:
        journal.close()
    assert secrets_in(tmp_path) == []


def test_a_journal_that_cannot_be_opened_does_not_keep_the_folder(tmp_path):
    (tmp_path / JOURNAL_DIR).mkdir()
    (tmp_path / JOURNAL_DIR / "journal.sqlite").mkdir()  # not damage: nothing is moved aside
    for _ in range(2):  # the second time too: the first left no lock behind
        with pytest.raises(sqlite3.OperationalError):
            SqliteJournal(tmp_path)
