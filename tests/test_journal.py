"""The batch journal: stable names, collisions, updates, summaries and the folder lock.

`SqliteJournal` and `MemoryJournal` share one surface; the table tests run on both.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from downloader import JournalBusyError
from downloader.journal import (
    JOURNAL_DIR,
    Entry,
    MemoryJournal,
    SqliteJournal,
    Status,
    open_journal,
    read_journal,
)

U = "http://127.0.0.1/"


def claim_all(journal, pairs: list[tuple[str, str]], taken: Callable[[str], bool] | None = None):
    extra = {"taken": taken} if taken is not None else {}
    return [journal.claim(url, name, **extra).name for url, name in pairs]


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "names"),
    [
        ([("a/x.txt", "x.txt")], ["x.txt"]),
        (
            [("a/x.txt", "x.txt"), ("b/x.txt", "x.txt"), ("c/x.txt", "x.txt")],
            ["x.txt", "x.1.txt", "x.2.txt"],
        ),
        (
            [("a/r.tar.gz", "r.tar.gz"), ("b/r.tar.gz", "r.tar.gz")],
            ["r.tar.gz", "r.1.tar.gz"],
        ),
        ([("a/README", "README"), ("b/README", "README")], ["README", "README.1"]),
        # A URL that names itself like another's numbered form is not disturbed by it.
        (
            [("a/x.txt", "x.txt"), ("b/x.1.txt", "x.1.txt"), ("c/x.txt", "x.txt")],
            ["x.txt", "x.1.txt", "x.2.txt"],
        ),
        # The same URL twice is one entry with one name.
        ([("a/x.txt", "x.txt"), ("a/x.txt", "x.txt")], ["x.txt", "x.txt"]),
    ],
    ids=["single", "three-collide", "compound-ext", "no-ext", "numbered-taken", "same-url"],
)
def test_claim_gives_each_url_a_distinct_name(journal, claims, names):
    assert claim_all(journal, [(U + path, name) for path, name in claims]) == names


def test_claim_skips_names_taken_on_disk(journal):
    on_disk = {"x.txt", "x.1.txt"}
    assert journal.claim(U + "x.txt", "x.txt", taken=on_disk.__contains__).name == "x.2.txt"
    assert journal.claim(U + "y.txt", "y.txt", taken=on_disk.__contains__).name == "y.txt"


def test_many_collisions_stay_distinct(journal):
    names = claim_all(journal, [(f"{U}{i}/same.bin", "same.bin") for i in range(200)])
    assert len(set(names)) == 200
    assert names[:3] == ["same.bin", "same.1.bin", "same.2.bin"]
    assert names[-1] == "same.199.bin"


def test_a_new_claim_is_pending_with_nothing_known(journal):
    entry = journal.claim(U + "x.txt", "x.txt")
    assert entry == Entry(url=U + "x.txt", name="x.txt")
    assert entry.state is Status.PENDING
    assert journal.get(U + "x.txt") == entry
    assert journal.get(U + "unknown") is None


def test_names_are_stable_across_reopen_in_any_order(tmp_path):
    urls = [f"{U}{d}/x.txt" for d in "abcd"]
    first = SqliteJournal(tmp_path)
    names = claim_all(first, [(u, "x.txt") for u in urls])
    first.close()

    again = SqliteJournal(tmp_path)
    try:
        reversed_names = claim_all(again, [(u, "x.txt") for u in reversed(urls)])
        later = again.claim(U + "e/x.txt", "x.txt").name
    finally:
        again.close()

    assert names == ["x.txt", "x.1.txt", "x.2.txt", "x.3.txt"]
    assert reversed_names == list(reversed(names))
    assert later == "x.4.txt"  # the counter survives too


# --- rename and update ----------------------------------------------------------------------


def test_rename_to_a_free_name(journal):
    entry = journal.claim(U + "x.txt", "x.txt")
    renamed = journal.rename(entry, "report.pdf")
    assert renamed.name == "report.pdf"
    assert journal.get(U + "x.txt").name == "report.pdf"
    # The old name is free again for someone else.
    assert journal.claim(U + "other/x.txt", "x.txt").name == "x.txt"


def test_rename_to_a_name_held_by_another_url_is_numbered(journal):
    journal.claim(U + "a/x.txt", "x.txt")
    b = journal.claim(U + "b/y.txt", "y.txt")
    assert journal.rename(b, "x.txt").name == "x.1.txt"


def test_rename_away_from_a_foreign_file_on_disk(journal):
    """--on-exists rename: same wished name, but the disk has it."""
    entry = journal.claim(U + "x.txt", "x.txt")
    renamed = journal.rename(entry, entry.name, taken={"x.txt"}.__contains__)
    assert renamed.name == "x.1.txt"
    assert journal.get(U + "x.txt").name == "x.1.txt"


def test_update_changes_only_the_given_fields(journal):
    entry = journal.claim(U + "x.txt", "x.txt")
    updated = journal.update(
        entry, state=Status.DONE, size=10, total=10, etag='"e1"', attempts=2, error=None
    )
    assert updated == Entry(
        url=U + "x.txt",
        name="x.txt",
        state=Status.DONE,
        size=10,
        total=10,
        etag='"e1"',
        attempts=2,
    )
    assert journal.get(U + "x.txt") == updated


def test_updates_persist_across_reopen(tmp_path):
    first = SqliteJournal(tmp_path)
    entry = first.claim(U + "x.txt", "x.txt")
    first.update(
        entry,
        state=Status.FAILED,
        size=5,
        total=9,
        etag='"v1"',
        last_modified="Tue, 14 Nov 2023 22:13:20 GMT",
        attempts=3,
        error="HTTP 503 Service Unavailable after 3 attempts",
    )
    first.close()

    again = SqliteJournal(tmp_path)
    try:
        got = again.get(U + "x.txt")
    finally:
        again.close()

    assert got == Entry(
        url=U + "x.txt",
        name="x.txt",
        state=Status.FAILED,
        size=5,
        total=9,
        etag='"v1"',
        last_modified="Tue, 14 Nov 2023 22:13:20 GMT",
        attempts=3,
        error="HTTP 503 Service Unavailable after 3 attempts",
    )
    assert isinstance(got.state, Status)


# --- summary and failed ---------------------------------------------------------------------


def _fill(journal) -> None:
    rows = [
        ("a", Status.DONE, 10, 10),
        ("b", Status.DONE, 20, 20),
        ("c", Status.FAILED, 3, 30),
        ("d", Status.PENDING, 0, 40),
        ("e", Status.ACTIVE, 5, 50),
    ]
    for name, state, size, total in rows:
        entry = journal.claim(U + name, name)
        journal.update(entry, state=state, size=size, total=total, error=f"err {name}")


def test_summary_counts_states_and_bytes(journal):
    _fill(journal)
    summary = journal.summary()
    assert summary.counts == {"done": 2, "failed": 1, "pending": 1, "active": 1}
    assert summary.bytes_done == 30  # done files only: partial bytes are not "done"
    assert summary.bytes_total == 150


def test_summary_total_is_unknown_while_a_size_is_unknown(journal):
    _fill(journal)
    journal.claim(U + "f", "f")  # pending, size unknown
    assert journal.summary().bytes_total is None


def test_summary_of_an_empty_journal(journal):
    summary = journal.summary()
    assert summary.counts == {}
    assert summary.bytes_done == 0
    assert summary.bytes_total == 0


def test_summary_done_never_exceeds_total_with_skipped_files(journal):
    a = journal.claim(U + "a", "a")
    journal.update(a, state=Status.DONE, size=50, total=50)
    b = journal.claim(U + "b", "b")
    journal.update(b, state=Status.SKIPPED, size=7, error="file exists")  # as Engine does
    summary = journal.summary()
    assert summary.bytes_total is None or summary.bytes_done <= summary.bytes_total


def test_failed_lists_failed_entries_with_their_errors(journal):
    _fill(journal)
    failed = list(journal.failed())
    assert [(e.url, e.error) for e in failed] == [(U + "c", "err c")]


# --- opening, locking, reading --------------------------------------------------------------


def test_open_journal_persistent_or_not(tmp_path):
    memory = open_journal(tmp_path, persistent=False)
    assert isinstance(memory, MemoryJournal)
    assert not (tmp_path / JOURNAL_DIR).exists()
    disk = open_journal(tmp_path, persistent=True)
    try:
        assert isinstance(disk, SqliteJournal)
        assert (tmp_path / JOURNAL_DIR / "journal.sqlite").is_file()
    finally:
        disk.close()


def test_a_second_journal_in_the_same_process_is_refused(tmp_path):
    first = SqliteJournal(tmp_path)
    try:
        with pytest.raises(JournalBusyError, match="another adl"):
            SqliteJournal(tmp_path)
    finally:
        first.close()
    SqliteJournal(tmp_path).close()  # free again once the first is closed


def test_another_process_holding_the_folder_is_refused(tmp_path):
    holder = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from downloader.journal import SqliteJournal
        j = SqliteJournal(Path({str(tmp_path)!r}))
        print("locked", flush=True)
        sys.stdin.readline()
        j.close()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(JournalBusyError):
            SqliteJournal(tmp_path)
        # `adl status` reads without the lock while a batch runs.
        reader = read_journal(tmp_path)
        assert reader is not None
        reader.close()
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    SqliteJournal(tmp_path).close()  # the lock went with the process


def test_a_killed_holder_releases_the_lock(tmp_path):
    holder = (
        "import time; from pathlib import Path; from downloader.journal import SqliteJournal;"
        f"j = SqliteJournal(Path({str(tmp_path)!r})); print('locked', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(JournalBusyError):
            SqliteJournal(tmp_path)
    finally:
        child.kill()
        child.wait()
    SqliteJournal(tmp_path).close()


def test_read_journal_without_a_batch_is_none(tmp_path):
    assert read_journal(tmp_path) is None
    assert not (tmp_path / JOURNAL_DIR).exists()  # looking creates nothing


def test_read_journal_sees_committed_state(tmp_path):
    writer = SqliteJournal(tmp_path)
    _fill(writer)
    writer.close()

    reader = read_journal(tmp_path)
    assert reader is not None
    try:
        assert reader.summary().counts["done"] == 2
        assert [e.url for e in reader.failed()] == [U + "c"]
    finally:
        reader.close()


def test_the_journal_and_its_lock_live_in_dest_dot_adl(tmp_path: Path):
    SqliteJournal(tmp_path).close()
    names = {p.name for p in (tmp_path / JOURNAL_DIR).iterdir()}
    assert {"journal.sqlite", "lock"} <= names
    assert [p.name for p in tmp_path.iterdir()] == [JOURNAL_DIR]
