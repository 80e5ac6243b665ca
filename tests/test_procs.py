"""--procs: attempts run in worker processes, one coordinator keeps the names and the journal.

Real worker processes, on loopback: the same names and bytes as one process (collisions and
Content-Disposition included), one journal that `adl status` reads as it is, a worker
killed mid-batch whose files the others finish, and a coordinator killed with kill -9
that leaves no worker behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downloader import FileFinished, FileProgress, FileStarted, Item, Notice, download_all
from downloader.cli import app
from downloader.errors import OptionsError
from downloader.journal import JOURNAL_DIR
from downloader.options import Options
from downloader.procpool import ProcessPool, split_jobs
from downloader.transfer import Transfer

from .conftest import random_bytes

# Three URLs whose names collide (x.bin, x.1.bin, x.2.bin), and some plain ones.
PATHS = ["a/x.bin", "b/x.bin", "c/x.bin", "one.bin", "two.bin", "three.bin", "four.bin"]


def worker_pids(parent: int) -> set[int]:
    """The adl worker processes whose parent is `parent` (from /proc: no psutil)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and b"downloader.workers" in cmdline:
            found.add(int(proc.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


def size_of(path: Path) -> int:
    """A file's size; 0 once it is gone (a .part renamed since it was listed)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def serve_paths(server) -> list[str]:
    """PATHS served with distinct bodies (names collide in the folder: x.bin three times);
    their URLs in list order."""
    for i, path in enumerate(PATHS):
        server.add(path, random_bytes(20_000 + 3_000 * i, seed=i))
    return [server.url(path) for path in PATHS]


def files_in(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and JOURNAL_DIR not in p.parts
    }


def events_by_url(events: list, out: Path) -> dict[str, list[tuple]]:
    """Each file's events in order, with what they say (paths relative to `out`)."""
    seen: dict[str, list[tuple]] = {}
    for event in events:
        if isinstance(event, FileStarted):
            said: tuple = ("started", event.path.relative_to(out), event.offset, event.total)
        elif isinstance(event, FileProgress):
            said = ("progress", event.nbytes, event.done, event.total)
        elif isinstance(event, FileFinished):
            said = ("finished", event.result.state, event.result.bytes)
        else:
            continue
        url = event.result.url if isinstance(event, FileFinished) else event.url
        seen.setdefault(url, []).append(said)
    return seen


def forbid_local_fetch(monkeypatch) -> None:
    """From now on every attempt goes to a worker: the coordinator downloads nothing itself
    (its own Transfer.fetch fails the test; workers are other processes, the patch does not
    reach them)."""

    async def local_fetch(*args, **kwargs):
        raise AssertionError("an attempt ran in the coordinator")

    monkeypatch.setattr(Transfer, "fetch", local_fetch)
    monkeypatch.setattr(ProcessPool, "local", lambda self: None)


async def test_two_processes_make_the_files_and_names_of_one(server, tmp_path, monkeypatch):
    urls = serve_paths(server)
    one, two = tmp_path / "one", tmp_path / "two"
    alone: list = []
    single = await download_all(urls, one, jobs=4, on_event=alone.append)

    forbid_local_fetch(monkeypatch)
    events: list = []
    spread = await download_all(urls, two, jobs=4, procs=2, on_event=events.append)

    assert spread.ok and single.ok
    assert [r.path.relative_to(two) for r in spread] == [r.path.relative_to(one) for r in single]
    assert files_in(two) == files_in(one)
    assert sorted(files_in(two)) == sorted(["x.bin", "x.1.bin", "x.2.bin", *PATHS[3:]])
    assert sorted(p.name for p in (two / JOURNAL_DIR).iterdir()) == sorted(
        p.name for p in (one / JOURNAL_DIR).iterdir()
    )
    status = CliRunner().invoke(app, ["status", "-o", str(two)])
    assert status.exit_code == 0, status.output
    assert f"{len(PATHS)} done, 0 skipped, 0 failed" in status.stdout
    assert not [e for e in events if isinstance(e, Notice)]
    # Each file's events as one process makes them, relayed from the worker that made them.
    assert events_by_url(events, two) == events_by_url(alone, one)
    assert {type(e).__name__ for e in events} >= {"FileStarted", "FileProgress", "FileFinished"}


async def test_the_coordinator_downloads_its_share_and_the_worker_the_rest(
    server, tmp_path, monkeypatch
):
    """--procs 2: two processes download, this one and one worker."""
    bodies = {f"f{i}.bin": random_bytes(10_000, seed=i) for i in range(12)}
    for name, body in bodies.items():
        server.add(name, body)
    here: list[str] = []
    fetch = Transfer.fetch

    async def spy(self, entry, received, source):
        here.append(entry.url)
        return await fetch(self, entry, received, source)

    monkeypatch.setattr(Transfer, "fetch", spy)
    results = await download_all([server.url(n) for n in bodies], tmp_path, jobs=4, procs=2)

    assert results.ok
    assert files_in(tmp_path) == bodies
    assert 0 < len(here) < len(bodies)  # some here, the others in the worker


async def test_the_servers_names_are_taken_by_the_coordinator(server, tmp_path, monkeypatch):
    """--content-disposition: a worker never names a file; the coordinator renames (the
    colliding second one too) and orders the file again. One at a time (-j 1): which of two
    files met at once gets the plain name is a race, with one process too."""
    for n in (1, 2):
        server.add(f"get?id={n}", random_bytes(5_000, seed=n))
        server.files[f"get?id={n}"].headers["Content-Disposition"] = 'attachment; filename="r.csv"'
    server.add("plain.bin", b"plain")
    urls = [server.url("get%3Fid=1"), server.url("get%3Fid=2"), server.url("plain.bin")]
    one, two = tmp_path / "one", tmp_path / "two"
    single = await download_all(urls, one, 1, content_disposition=True)
    forbid_local_fetch(monkeypatch)
    # -j 2 over two processes: the worker's share is one file at a time, as -j 1 above.
    spread = await download_all(urls, two, 2, content_disposition=True, procs=2)

    assert [r.path.name for r in spread] == [r.path.name for r in single]
    assert sorted(files_in(two)) == ["plain.bin", "r.1.csv", "r.csv"]
    assert files_in(two) == files_in(one)


@pytest.mark.parametrize(
    ("jobs", "procs", "own", "workers"),
    [
        (10, 2, 3, [7]),  # this process counts as half: it runs the engine and journal too
        (10, 3, 2, [4, 4]),
        (10, 4, 1, [3, 3, 3]),
        (5, 2, 2, [3]),
        (2, 2, 1, [1]),
        (1, 2, 1, []),  # nothing for a worker to do
        (3, 8, 1, [1, 1]),  # no more processes than files at once
        (64, 8, 4, [9, 9, 9, 9, 8, 8, 8]),
    ],
)
def test_jobs_are_split_over_the_processes(jobs, procs, own, workers):
    assert split_jobs(jobs, procs) == (own, workers)
    assert own + sum(workers) == jobs


@pytest.mark.parametrize(("procs", "expected"), [(1, 1), (3, 3), ("auto", os.cpu_count() or 1)])
def test_procs_values(procs, expected):
    assert Options(procs=procs).procs == expected


@pytest.mark.parametrize("procs", [0, -1, "two", 1.5, True, None])
def test_bad_procs_values_are_misuse(procs):
    with pytest.raises(OptionsError, match="procs"):
        Options(procs=procs)


@pytest.mark.parametrize("cluster", ["", 8786, ["tcp://127.0.0.1:8786"]])
def test_bad_cluster_values_are_misuse(cluster):
    with pytest.raises(OptionsError, match="cluster"):
        Options(cluster=cluster)


async def test_a_session_of_ones_own_cannot_go_to_workers(tmp_path):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        with pytest.raises(OptionsError, match="session"):
            await download_all(["http://127.0.0.1:9/x"], tmp_path, procs=2, session=session)


@pytest.mark.parametrize(("value", "code"), [("auto", 0), ("0", 2), ("many", 2)])
def test_cli_procs_flag(value, code, tmp_path):
    result = CliRunner().invoke(
        app,
        ["get", "http://127.0.0.1:9/x", "-o", str(tmp_path), "--procs", value, "--retries", "0"],
    )
    assert result.exit_code in ((0, 1) if code == 0 else (2,)), result.output
    if code == 2:
        assert "procs" in result.output


@pytest.mark.parametrize(("procs", "takes_over"), [(3, "go to the others"), (2, "the rest")])
async def test_a_worker_killed_mid_batch_leaves_its_files_to_the_others(
    server, tmp_path, procs, takes_over
):
    """With --procs 3 the other worker and the coordinator take them; with --procs 2 (one
    worker) the coordinator downloads the rest itself."""
    size = 1024 * 1024
    bodies = {f"f{i}.bin": random_bytes(size, seed=i) for i in range(6)}  # -j 6: all at once
    for name, body in bodies.items():
        server.add(name, body)
    # Each file takes two seconds: a body still coming after one goes to its .part.
    server.rate = size // 2
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_one_worker(event) -> None:
        # Once every file has bytes in its .part (and so its validators in the journal).
        parts = [p for p in out.glob("*.part") if size_of(p) >= 256 * 1024]
        if not killed and len(parts) == len(bodies):
            pid = min(worker_pids(os.getpid()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    events: list = []

    def on_event(event) -> None:
        events.append(event)
        kill_one_worker(event)

    results = await download_all(
        [server.url(name) for name in bodies], out, jobs=6, procs=procs, on_event=on_event
    )

    assert killed, "no worker was killed"
    assert results.ok, [r.error for r in results.failed]
    assert files_in(out) == bodies
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert any(f"pid {killed[0]}" in m and "SIGKILL" in m and takes_over in m for m in notices)
    # Its files resumed from their .part files (their validators had reached the journal).
    assert len(server.range_requests) >= 2, "its files did not resume"
    assert not worker_pids(os.getpid())


async def test_a_coordinator_killed_with_kill_9_leaves_no_worker(server, tmp_path):
    size = 2 * 1024 * 1024
    bodies = {f"f{i}.bin": random_bytes(size, seed=i) for i in range(4)}
    for name, body in bodies.items():
        server.add(name, body)
    server.rate = size // 2
    listing = tmp_path / "list.txt"
    listing.write_text("".join(server.url(name) + "\n" for name in bodies))
    out = tmp_path / "out"
    adl = await _quiet_adl("get", str(listing), "-o", str(out), "-j", "4", "--procs", "3", "-q")
    deadline = time.monotonic() + 20
    while not [p for p in out.glob("*.part") if size_of(p) > 0]:
        assert time.monotonic() < deadline, "no transfer started"
        await asyncio.sleep(0.05)
    workers = worker_pids(adl.pid)
    assert len(workers) == 2

    adl.kill()
    await adl.wait()
    while any(running(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers outlived their coordinator"
        await asyncio.sleep(0.05)

    server.rate = 0
    again = await _quiet_adl("get", str(listing), "-o", str(out), "-q")
    assert await asyncio.wait_for(again.wait(), 30) == 0
    assert files_in(out) == bodies


async def test_a_files_own_rate_limit_goes_with_its_order(server, tmp_path, monkeypatch):
    """max-download-limit= (Item.limit_rate) caps its file in the worker too."""
    server.add("a.bin", b"a" * 1000)
    orders = []
    fetch = ProcessPool.fetch

    async def seen_fetch(self, order):
        orders.append(order)
        return await fetch(self, order)

    monkeypatch.setattr(ProcessPool, "fetch", seen_fetch)
    monkeypatch.setattr(ProcessPool, "local", lambda self: None)
    item = Item(url=server.url("a.bin"), limit_rate=50_000_000)
    results = await download_all([item], tmp_path, 4, procs=2)

    assert results.ok
    assert [o.rates for o in orders] == [(50_000_000,)]


async def test_a_batch_rate_limit_keeps_one_process(server, tmp_path, monkeypatch):
    """--limit-rate with --procs: one process downloads, the one budget stays exact."""
    server.add("a.bin", b"a" * 1000)
    spawned = []
    monkeypatch.setattr(ProcessPool, "start", lambda *args: spawned.append(args))
    events: list = []
    results = await download_all(
        [server.url("a.bin")], tmp_path, 4, procs=2, limit_rate=10**9, on_event=events.append
    )

    assert results.ok and not spawned
    assert any("--limit-rate: one process" in e.message for e in events if isinstance(e, Notice))


async def _quiet_adl(*args: str) -> asyncio.subprocess.Process:
    """`python -m downloader ARGS` with its output discarded, in a session of its own (so a
    kill reaches it alone, as kill -9 of one process would)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "downloader",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
