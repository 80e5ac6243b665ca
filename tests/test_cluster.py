"""--cluster: files as Dask tasks on a LocalCluster (in this process: quick), one journal,
the same files as one process; an output folder the workers do not share stops the batch
before any download (exit 2); a task run again does not fetch its finished files again."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downloader import download_all
from downloader.cli import app
from downloader.cluster import run_work, write_probe
from downloader.errors import OptionsError
from downloader.inputs import ListEntry
from downloader.integrity import NO_CHECKSUMS
from downloader.journal import JOURNAL_DIR, Entry
from downloader.messages import Done, Setup, Update, Work
from downloader.options import Options
from downloader.transfer import Transfer
from downloader.writes import identity

from .conftest import random_bytes
from .test_procs import PATHS, files_in, serve_paths

distributed = pytest.importorskip("distributed")


def fetched_in_tasks(monkeypatch) -> None:
    """Files must run in Dask tasks: the workers of this in-process cluster run them in
    threads of their own, never in the coordinator's (this test's) thread."""
    fetch = Transfer.fetch
    coordinator = threading.current_thread()

    async def in_a_task(*args, **kwargs):
        assert threading.current_thread() is not coordinator, "an attempt ran in the coordinator"
        return await fetch(*args, **kwargs)

    monkeypatch.setattr(Transfer, "fetch", in_a_task)


@pytest.fixture
async def cluster():
    async with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=False,
        asynchronous=True,
        dashboard_address=":0",
    ) as local:
        yield local


async def test_a_dask_cluster_makes_the_files_and_names_of_one_process(
    server, tmp_path, cluster, monkeypatch
):
    urls = serve_paths(server)
    one, two = tmp_path / "one", tmp_path / "two"
    single = await download_all(urls, one, jobs=4)

    fetched_in_tasks(monkeypatch)
    spread = await download_all(urls, two, jobs=4, cluster=cluster.scheduler_address)

    assert spread.ok, [r.error for r in spread.failed]
    assert [r.path.relative_to(two) for r in spread] == [r.path.relative_to(one) for r in single]
    assert files_in(two) == files_in(one)
    assert not list((two / JOURNAL_DIR).glob("probe-*"))
    status = CliRunner().invoke(app, ["status", "-o", str(two)])
    assert f"{len(PATHS)} done, 0 skipped, 0 failed" in status.stdout


def probe_elsewhere(dest: str, token: str) -> str:
    """A worker whose folder of that name is not the coordinator's."""
    other = Path(dest).parent / "elsewhere"
    (other / JOURNAL_DIR).mkdir(parents=True, exist_ok=True)
    return write_probe(str(other), token)


async def test_a_folder_the_workers_do_not_share_stops_the_batch(tmp_path, cluster, monkeypatch):
    from downloader import cluster as module

    monkeypatch.setattr(module, "write_probe", probe_elsewhere)
    with pytest.raises(OptionsError, match="must be one folder shared by every Dask worker"):
        await download_all(
            ["http://127.0.0.1:9/x"], tmp_path / "out", cluster=cluster.scheduler_address
        )
    assert not (tmp_path / "out" / "x").exists()


def test_the_cli_exits_2_when_the_folder_is_not_shared(tmp_path, monkeypatch):
    from downloader import cluster as module

    monkeypatch.setattr(module, "write_probe", probe_elsewhere)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as local:
        result = CliRunner().invoke(
            app,
            [
                "get",
                "http://127.0.0.1:9/x",
                "-o",
                str(tmp_path / "out"),
                "--cluster",
                local.scheduler_address,
            ],
        )
    assert result.exit_code == 2, result.output
    assert "shared by every Dask worker" in result.output


def test_an_unreachable_scheduler_exits_2(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "get",
            "http://127.0.0.1:9/x",
            "-o",
            str(tmp_path),
            "--cluster",
            "tcp://127.0.0.1:9",
            "--connect-timeout",
            "1",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output


async def test_a_task_run_again_does_not_fetch_what_it_finished(server, tmp_path):
    """Dask runs a lost worker's task again: a file that task had finished (another file
    holds the final name than when it was ordered) is answered from disk."""
    server.add("done.bin", b"fetched by the first run")
    server.add("todo.bin", b"fetched now")
    out = tmp_path / "out"
    out.mkdir()
    before = identity(str(out / "done.bin"))
    (out / "done.bin").write_bytes(b"fetched by the first run")

    def work(number: int, name: str, final_was) -> Work:
        url = server.url(name)
        return Work(number, ListEntry(number, url, None), Entry(url, name), [], final_was, True)

    batch = [work(1, "done.bin", before), work(2, "todo.bin", None)]
    setup = Setup(Options(), str(out), NO_CHECKSUMS, False, True)
    said = await asyncio.to_thread(run_work, setup, batch)

    done = {m.id: m.result for m in said if isinstance(m, Done)}
    assert done[1][1] == "done" and done[1][5] == len(b"fetched by the first run")
    assert done[2][1] == "done" and done[2][6] == len(b"fetched now")  # bytes received
    ended = [m.entry for m in said if isinstance(m, Update | Done) and m.entry is not None]
    recorded = {entry.name: entry.state for entry in ended}
    assert recorded == {"done.bin": "done", "todo.bin": "done"}
    assert server.requests["done.bin"] == 0 and server.requests["todo.bin"] == 1
    assert os.path.exists(out / "todo.bin")


LOST_ONCE: list[int] = []


def finish_then_lose_the_worker(setup, batch):
    """A task whose worker is lost after it finished its files (the first time only)."""
    said = run_work(setup, batch)
    if not LOST_ONCE:
        LOST_ONCE.append(len(batch))
        raise RuntimeError("worker lost")
    return said


async def test_a_lost_task_is_run_again_without_fetching_its_files_again(
    server, tmp_path, cluster, monkeypatch
):
    from downloader import cluster as module

    bodies = {f"f{i}.bin": random_bytes(5_000, seed=i) for i in range(4)}
    for name, body in bodies.items():
        server.add(name, body)
    LOST_ONCE.clear()
    monkeypatch.setattr(module, "run_work", finish_then_lose_the_worker)

    results = await download_all(
        [server.url(n) for n in bodies], tmp_path, jobs=4, cluster=cluster.scheduler_address
    )

    assert LOST_ONCE, "no task was lost"
    assert results.ok, [r.error for r in results.failed]
    assert files_in(tmp_path) == bodies
    assert all(server.requests[name] == 1 for name in bodies), server.requests
