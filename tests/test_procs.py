"""--procs: files run in worker processes' engines, one coordinator keeps the names and journal.

Real worker processes, on loopback: the same names and bytes as one process (collisions and
Content-Disposition included), one journal that `adl status` reads as it is, per-host caps
and pauses that hold across workers, a worker killed mid-batch whose files the others
finish, and a coordinator killed with kill -9 that leaves no worker behind.
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

from downloader import (
    FileFinished,
    FileProgress,
    FileStarted,
    Item,
    Notice,
    coordinator,
    download_all,
)
from downloader.cli import app
from downloader.engine import Engine
from downloader.errors import OptionsError
from downloader.journal import JOURNAL_DIR
from downloader.lanes import lane_options, lanes_for_host, shares
from downloader.options import Options
from downloader.procpool import ProcessPool
from downloader.transfer import Transfer

from .conftest import random_bytes
from .fileserver import Fault

# Three URLs whose names collide (x.bin, x.1.bin, x.2.bin), and some plain ones.
PATHS = ["a/x.bin", "b/x.bin", "c/x.bin", "one.bin", "two.bin", "three.bin", "four.bin"]


def worker_pids(parent: int) -> set[int]:
    """The adl worker processes whose parent is `parent` (from /proc: no psutil): named
    `adl-worker`, spawned (`python -m downloader.workers`) or forked (by the CLI)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and comm == "adl-worker":
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


def only_workers(monkeypatch) -> None:
    """From now on every file goes to a worker process: the coordinator's own lane (0)
    counts as gone, and a file run in the coordinator fails the test (its Transfer.fetch
    and Engine._download; workers are other processes, the patches do not reach them)."""

    async def local(*args, **kwargs):
        raise AssertionError("a file ran in the coordinator")

    def only_a_workers_lane(self, lane):
        return lane != self._own and self.pool.alive(lane)

    monkeypatch.setattr(coordinator.Coordinator, "_alive", only_a_workers_lane)
    monkeypatch.setattr(Transfer, "fetch", local)
    monkeypatch.setattr(Engine, "_download", local)


def count_local_files(monkeypatch) -> list[str]:
    """The URLs of the files the coordinator runs itself (its own lane), as they start."""
    here: list[str] = []
    download = Engine._download

    async def spy(self, item, entry):
        here.append(item.url)
        return await download(self, item, entry)

    monkeypatch.setattr(Engine, "_download", spy)
    return here


async def test_two_processes_make_the_files_and_names_of_one(server, tmp_path, monkeypatch):
    urls = serve_paths(server)
    one, two = tmp_path / "one", tmp_path / "two"
    alone: list = []
    single = await download_all(urls, one, jobs=4, on_event=alone.append)

    only_workers(monkeypatch)
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
    """--procs 2: two processes download, this one (its own lane) and one worker."""
    bodies = {f"f{i}.bin": random_bytes(10_000, seed=i) for i in range(24)}
    for name, body in bodies.items():
        server.add(name, body)
    here = count_local_files(monkeypatch)
    results = await download_all([server.url(n) for n in bodies], tmp_path, jobs=4, procs=2)

    assert results.ok
    assert files_in(tmp_path) == bodies
    assert 0 < len(here) < len(bodies)  # some here, the others in the worker


async def test_the_servers_names_are_taken_by_the_coordinator(server, tmp_path, monkeypatch):
    """--content-disposition: a worker never names a file; the coordinator renames (the
    colliding second one too) and hands the file out again. One at a time (-j 1): which of
    two files met at once gets the plain name is a race, with one process too."""
    for n in (1, 2):
        server.add(f"get?id={n}", random_bytes(5_000, seed=n))
        server.files[f"get?id={n}"].headers["Content-Disposition"] = 'attachment; filename="r.csv"'
    server.add("plain.bin", b"plain")
    urls = [server.url("get%3Fid=1"), server.url("get%3Fid=2"), server.url("plain.bin")]
    one, two = tmp_path / "one", tmp_path / "two"
    single = await download_all(urls, one, 1, content_disposition=True)
    only_workers(monkeypatch)
    # --per-host 1: one worker takes the host's files, one at a time, as -j 1 above.
    spread = await download_all(urls, two, 2, per_host=1, content_disposition=True, procs=2)

    assert [r.path.name for r in spread] == [r.path.name for r in single]
    assert sorted(files_in(two)) == ["plain.bin", "r.1.csv", "r.csv"]
    assert files_in(two) == files_in(one)


async def test_a_name_the_coordinator_gave_is_kept_by_its_own_lane(server, tmp_path, monkeypatch):
    """A worker's file that the server names is renamed by the coordinator and handed out
    again; run then by the coordinator's own lane, it keeps that name (the server's name is
    not taken a second time)."""
    server.add("get?id=1", random_bytes(5_000, seed=1))
    server.files["get?id=1"].headers["Content-Disposition"] = 'attachment; filename="r.csv"'
    server.add("taken.bin", b"x")
    (tmp_path / "r.csv").write_bytes(b"someone else's")  # so the coordinator gives r.1.csv
    renamed: list[str] = []
    rename = coordinator.Coordinator._rename

    def only_a_worker_until_renamed(self, lane):
        return (lane != self._own or bool(renamed)) and self._alive_before(lane)

    def rename_then_run_here(self, message):
        renamed.append(message.suggested)
        self._live = [self._own]  # the file goes to this process's own lane now
        return rename(self, message)

    monkeypatch.setattr(
        coordinator.Coordinator, "_alive_before", coordinator.Coordinator._alive, raising=False
    )
    monkeypatch.setattr(coordinator.Coordinator, "_alive", only_a_worker_until_renamed)
    monkeypatch.setattr(coordinator.Coordinator, "_rename", rename_then_run_here)
    urls = [server.url("get%3Fid=1")]
    results = await download_all(
        urls, tmp_path, 2, content_disposition=True, on_exists="rename", procs=2
    )

    assert renamed == ["r.csv"]
    assert results.ok, [r.error for r in results.failed]
    assert [r.path.name for r in results] == ["r.1.csv"]
    assert (tmp_path / "r.1.csv").read_bytes() == random_bytes(5_000, seed=1)
    assert (tmp_path / "r.csv").read_bytes() == b"someone else's"


@pytest.mark.parametrize(("per_host", "procs"), [(1, 2), (2, 3), (3, 2)])
async def test_per_host_caps_hold_across_processes(server, tmp_path, per_host, procs):
    """--per-host N over several processes: never more than N connections to the host at
    once, and N are used (each lane holds its share; fewer lanes than processes take the
    host when N is lower)."""
    bodies = {f"f{i}.bin": random_bytes(40_000, seed=i) for i in range(16)}
    for name, body in bodies.items():
        server.add(name, body)
    server.rate = 160_000  # a quarter of a second per file: they overlap
    urls = [server.url(name) for name in bodies]
    results = await download_all(urls, tmp_path, jobs=8, per_host=per_host, procs=procs)

    assert results.ok
    assert files_in(tmp_path) == bodies
    assert max(server.max_active.values()) == per_host


@pytest.mark.parametrize("paused_by", ["coordinator", "worker"])
async def test_a_host_paused_in_one_process_is_paused_in_all(server, tmp_path, paused_by):
    """A 503 with Retry-After in one lane pauses the host in the others too: after it, no
    new request reaches the host until the pause is over. (-j 2 over two processes: the
    first file goes to the coordinator's own lane, the second to the worker.)"""
    for name in ["a.bin", *(f"b{i}.bin" for i in range(6))]:
        server.add(name, name.encode() * 100)
    server.fail_next("a.bin", Fault("status", status=503, retry_after="2"))
    server.fail_next("b0.bin", Fault("delay", seconds=0.5))  # ends after the pause began
    started: list[tuple[float, str]] = []
    server.hooks.append(lambda name, request: started.append((time.monotonic(), name)))
    first, second = ("a.bin", "b0.bin") if paused_by == "coordinator" else ("b0.bin", "a.bin")
    urls = [server.url(first), server.url(second), *(server.url(f"b{i}.bin") for i in range(1, 6))]
    results = await download_all(urls, tmp_path, jobs=2, procs=2)

    assert results.ok
    paused_at = next(at for at, name in started if name == "a.bin")
    later = [(at - paused_at, name) for at, name in started if at > paused_at]
    assert [name for _, name in later if name != "b0.bin"], "nothing came after the pause"
    assert all(after >= 1.9 for after, name in later if name != "b0.bin"), later


async def test_a_split_file_runs_in_a_worker(server, tmp_path, monkeypatch):
    """--split in a worker process: its connections and segment rows are the worker's,
    the rows reach the coordinator's journal, and the file is whole."""
    body = random_bytes(4 * 1024 * 1024, seed=7)
    server.add("big.bin", body)
    server.rate = 8 * 1024 * 1024
    only_workers(monkeypatch)
    results = await download_all(
        [server.url("big.bin")], tmp_path, jobs=2, procs=2, split=4, min_split_size="1M"
    )

    assert results.ok, [r.error for r in results.failed]
    assert (tmp_path / "big.bin").read_bytes() == body
    assert len([r for r in server.range_requests if r[0] == "big.bin"]) == 4
    status = CliRunner().invoke(app, ["status", "-o", str(tmp_path)])
    assert "1 done, 0 skipped, 0 failed" in status.stdout


@pytest.mark.parametrize(
    ("total", "lanes", "first", "expected"),
    [
        (10, 2, 1.0, [5, 5]),
        (10, 3, 1.0, [4, 3, 3]),
        (10, 4, 1.0, [3, 3, 2, 2]),
        (10, 2, 0.6, [4, 6]),  # --procs 2: the coordinator's own lane weighs less
        (10, 3, 0.6, [2, 4, 4]),
        (64, 8, 0.6, [5, 9, 9, 9, 8, 8, 8, 8]),
        (3, 3, 0.6, [1, 1, 1]),  # every lane gets one when there are enough
        (2, 2, 0.1, [1, 1]),
        (1, 1, 0.6, [1]),
    ],
)
def test_shares_add_up(total, lanes, first, expected):
    assert shares(total, lanes, first) == expected
    assert sum(expected) == total


@pytest.mark.parametrize(
    ("jobs", "per_host", "lanes", "jobs_each", "caps_each"),
    [
        (10, 0, 2, [5, 5], [0, 0]),  # no cap per host: none in any lane
        (10, 4, 2, [5, 5], [2, 2]),  # each lane holds its share of a host's connections
        (10, 5, 2, [5, 5], [3, 2]),
        (10, 1, 2, [5, 5], [1, 1]),  # fewer than the lanes: one lane per host (below)
        (3, 2, 3, [1, 1, 1], [1, 1, 1]),
    ],
)
def test_lane_options_share_jobs_and_per_host(jobs, per_host, lanes, jobs_each, caps_each):
    each = lane_options(Options(jobs=jobs, per_host=per_host, procs=lanes), lanes)
    assert [o.jobs for o in each] == jobs_each
    assert [o.per_host for o in each] == caps_each
    assert {(o.procs, o.cluster) for o in each} == {(1, None)}


@pytest.mark.parametrize(
    ("per_host", "lanes", "count"), [(0, 3, 3), (3, 3, 3), (1, 3, 1), (2, 4, 2)]
)
def test_a_hosts_files_go_to_per_host_lanes_when_fewer(per_host, lanes, count):
    """With --per-host lower than the lanes, each host's files go to that many lanes (each
    holding one connection to it): the same ones every time, told by the host's name."""
    hosts = [f"h{n}.example:80" for n in range(50)]
    chosen = {host: list(lanes_for_host(host, per_host, lanes)) for host in hosts}
    assert all(len(set(c)) == count and set(c) <= set(range(lanes)) for c in chosen.values())
    assert chosen == {host: list(lanes_for_host(host, per_host, lanes)) for host in hosts}
    if count < lanes:  # the hosts spread over the lanes, not all on the first
        assert len({c[0] for c in chosen.values()}) == lanes


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
    """With --procs 3 the other worker and the coordinator take its files; with --procs 2
    (one worker) the coordinator downloads the rest itself, with all of -j."""
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
            server.max_active.clear()  # from here on

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
    if procs == 2:  # alone, this process took all of -j 6, not its share (2)
        assert max(server.max_active.values()) > 2


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
    assert len(workers) == 2  # and the coordinator: three processes download

    adl.kill()
    await adl.wait()
    while any(running(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers outlived their coordinator"
        await asyncio.sleep(0.05)

    server.rate = 0
    again = await _quiet_adl("get", str(listing), "-o", str(out), "-q")
    assert await asyncio.wait_for(again.wait(), 30) == 0
    assert files_in(out) == bodies


async def test_workers_forked_for_a_batch_that_cannot_start_do_not_hold_the_exit(tmp_path):
    """The command line forks its workers before the batch opens its folder: when another
    adl holds that folder, adl exits 2 at once, its unused workers ended with it."""
    from downloader.folderlock import lock_folder
    from downloader.journal import JOURNAL_DIR as folder

    (tmp_path / folder).mkdir()
    held = lock_folder(tmp_path / folder)
    try:
        adl = await _quiet_adl("get", "http://127.0.0.1:9/x", "-o", str(tmp_path), "--procs", "3")
        assert await asyncio.wait_for(adl.wait(), 30) == 2
    finally:
        os.close(held)
    assert not worker_pids(adl.pid)


async def test_a_files_own_rate_limit_goes_with_it(server, tmp_path, monkeypatch):
    """max-download-limit= (Item.limit_rate) caps its file in the worker too: a file of
    200 kB at 100 kB/s takes most of two seconds (its first 100 kB may come at once)."""
    server.add("a.bin", b"a" * 200_000)
    only_workers(monkeypatch)
    item = Item(url=server.url("a.bin"), limit_rate=100_000)
    began = time.monotonic()
    results = await download_all([item], tmp_path, 4, procs=2)

    assert results.ok
    assert time.monotonic() - began >= 0.9


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
