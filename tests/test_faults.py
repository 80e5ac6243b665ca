"""Failure handling against a real server: statuses, Retry-After, cut/reset/stalled
connections, trickles, host back-off, per-host caps, redirects, full and read-only disks.

Backoff waits go through a recording fake sleep (the `sleep` seam of `run_batch`), so no test
waits for a retry; the few real waits are sub-second read timeouts and stall windows.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from downloader.api import run_batch
from downloader.events import Event, FileRetrying, Notice
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep, mount_tmpfs, random_bytes
from .fileserver import Fault

KiB = 1024
MiB = 1024 * KiB


async def fetch(
    urls: list[str],
    dest: Path,
    *,
    sleep: FakeSleep | None = None,
    events: list[Event] | None = None,
    **options,
) -> list[Result]:
    """One batch with `Options(**options)` and a fake sleep; results in input order."""
    handler = events.append if events is not None else None
    batch = run_batch(
        entries_from_urls(urls), dest, Options(**options), handler, sleep=sleep or FakeSleep()
    )
    results = [r async for r in batch]
    return sorted(results, key=lambda r: r.line_no)


# -- HTTP statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_retryable_status_once_then_success(server, tmp_path, status):
    body = random_bytes(100_000, seed=status)
    server.add("f.bin", body)
    server.fail_next("f.bin", Fault("status", status=status))
    sleep = FakeSleep()

    [result] = await fetch([server.url("f.bin")], tmp_path, sleep=sleep)

    assert result.state is State.DONE, result.error
    assert result.attempts == 2
    assert server.requests["f.bin"] == 2
    assert sleep.delays, "a backoff wait before the retry"
    assert (tmp_path / "f.bin").read_bytes() == body


@pytest.mark.parametrize(
    ("status", "reason"), [(404, "Not Found"), (403, "Forbidden"), (410, "Gone")]
)
async def test_client_error_fails_at_once(server, tmp_path, status, reason):
    server.add("f.bin", b"never sent")
    server.fail_next("f.bin", *[Fault("status", status=status)] * 3)
    sleep = FakeSleep()

    [result] = await fetch([server.url("f.bin")], tmp_path, sleep=sleep)

    assert result.state is State.FAILED
    assert result.status == status
    assert result.error == f"HTTP {status} {reason}"
    assert result.attempts == 1
    assert server.requests["f.bin"] == 1
    assert sleep.delays == []
    assert not (tmp_path / "f.bin").exists()


async def test_missing_file_is_a_404_failure_and_the_others_still_download(server, tmp_path):
    server.add("good.bin", b"good")
    urls = [server.url("missing.bin"), server.url("good.bin")]

    missing, good = await fetch(urls, tmp_path)

    assert missing.state is State.FAILED and missing.error == "HTTP 404 Not Found"
    assert good.state is State.DONE
    assert (tmp_path / "good.bin").read_bytes() == b"good"


async def test_retries_exhausted_names_the_status_and_the_attempts(server, tmp_path):
    server.add("f.bin", b"never sent")
    server.fail_next("f.bin", *[Fault("status", status=503)] * 10)

    [result] = await fetch([server.url("f.bin")], tmp_path, retries=2)

    assert result.state is State.FAILED
    assert result.error == "HTTP 503 Service Unavailable after 3 attempts"
    assert result.attempts == 3
    assert server.requests["f.bin"] == 3
    assert not (tmp_path / "f.bin").exists()


async def test_retries_zero_means_one_attempt(server, tmp_path):
    server.add("f.bin", b"never sent")
    server.fail_next("f.bin", Fault("status", status=500))

    [result] = await fetch([server.url("f.bin")], tmp_path, retries=0)

    assert result.state is State.FAILED
    assert result.error.startswith("HTTP 500")
    assert server.requests["f.bin"] == 1


async def test_retry_after_seconds_is_the_delay(server, tmp_path):
    server.add("f.bin", b"data")
    server.fail_next("f.bin", Fault("status", status=503, retry_after="7"))
    sleep, events = FakeSleep(), []

    [result] = await fetch([server.url("f.bin")], tmp_path, sleep=sleep, events=events)

    assert result.state is State.DONE
    assert sleep.delays[0] == 7.0
    [retrying] = [e for e in events if isinstance(e, FileRetrying)]
    assert retrying.delay == 7.0 and "503" in retrying.reason


async def test_retry_after_http_date_is_the_delay(server, tmp_path):
    server.add("f.bin", b"data")
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.fail_next("f.bin", Fault("status", status=429, retry_after=when))
    sleep = FakeSleep()

    [result] = await fetch([server.url("f.bin")], tmp_path, sleep=sleep)

    assert result.state is State.DONE
    assert 27 <= sleep.delays[0] <= 31  # a date has whole seconds; the test takes some time


async def test_huge_retry_after_is_capped(server, tmp_path):
    server.add("f.bin", b"data")
    server.fail_next("f.bin", Fault("status", status=503, retry_after="86400"))
    sleep = FakeSleep()

    [result] = await fetch([server.url("f.bin")], tmp_path, sleep=sleep)

    assert result.state is State.DONE
    assert 0 < sleep.delays[0] <= 300


async def test_backoff_without_retry_after_grows_and_is_bounded(server, tmp_path):
    server.add("f.bin", b"data")
    server.fail_next("f.bin", *[Fault("status", status=500)] * 5)
    sleep = FakeSleep()

    [result] = await fetch([server.url("f.bin")], tmp_path, sleep=sleep)

    assert result.state is State.DONE and result.attempts == 6
    assert len(sleep.delays) == 5
    assert all(0 <= d <= 30 for d in sleep.delays)


# -- broken connections ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        # aiohttp itself resends an idempotent request once when the server drops the
        # connection before answering; four resets get past that into adl's retries.
        [Fault("reset")] * 4,
        [Fault("cut", after=10_000)],
        [Fault("cut", after=0)],
    ],
    ids=["reset", "cut-mid-body", "cut-before-body"],
)
@pytest.mark.parametrize("size", [200_000, 2 * MiB], ids=["small", "large"])
async def test_broken_connection_is_retried(server, tmp_path, faults, size):
    body = random_bytes(size, seed=size)
    server.add("f.bin", body)
    server.fail_next("f.bin", *faults)
    events: list[Event] = []

    [result] = await fetch([server.url("f.bin")], tmp_path, events=events)

    assert result.state is State.DONE, result.error
    assert result.attempts >= 2
    assert server.requests["f.bin"] == len(faults) + 1
    assert any(isinstance(e, FileRetrying) for e in events)
    assert (tmp_path / "f.bin").read_bytes() == body


async def test_body_cut_on_every_attempt_fails_and_keeps_no_final_file(server, tmp_path):
    body = random_bytes(2 * MiB, seed=3)
    server.add("f.bin", body)
    server.fail_next("f.bin", *[Fault("cut", after=100_000)] * 3)

    [result] = await fetch([server.url("f.bin")], tmp_path, retries=2)

    assert result.state is State.FAILED
    assert "after 3 attempts" in result.error
    assert not (tmp_path / "f.bin").exists()  # a short body is never a finished file


@pytest.mark.parametrize("size", [200_000, 2 * MiB], ids=["small", "large"])
async def test_stalled_server_times_out_and_is_retried(server, tmp_path, size):
    body = random_bytes(size, seed=4)
    server.add("f.bin", body)
    server.fail_next("f.bin", Fault("stall", after=50_000, seconds=1.5))

    [result] = await fetch([server.url("f.bin")], tmp_path, timeout=0.3)

    assert result.state is State.DONE, result.error
    assert result.attempts == 2
    assert (tmp_path / "f.bin").read_bytes() == body


async def test_trickle_below_the_floor_counts_as_stalled_streamed_file(server, tmp_path):
    body = random_bytes(2 * MiB, seed=5)
    server.add("f.bin", body)
    server.fail_next("f.bin", Fault("trickle", rate=20_000))
    events: list[Event] = []

    [result] = await asyncio.wait_for(
        fetch(
            [server.url("f.bin")],
            tmp_path,
            events=events,
            stall_speed=200_000,
            stall_time=0.3,
            chunk_size=64 * KiB,
        ),
        timeout=10,
    )

    assert result.state is State.DONE, result.error
    assert result.attempts == 2
    [retrying] = [e for e in events if isinstance(e, FileRetrying)]
    assert "stalled" in retrying.reason
    assert (tmp_path / "f.bin").read_bytes() == body


async def test_trickle_below_the_floor_counts_as_stalled_small_file(server, tmp_path):
    body = random_bytes(100_000, seed=6)  # below the default 1 MiB chunk: read in one piece
    server.add("f.bin", body)
    server.fail_next("f.bin", Fault("trickle", rate=20_000))  # 5 s for the whole body

    [result] = await asyncio.wait_for(
        fetch([server.url("f.bin")], tmp_path, stall_speed=200_000, stall_time=0.3),
        timeout=1.0,
    )

    assert result.state is State.DONE, result.error
    assert result.attempts == 2


# -- per-host back-off and caps ----------------------------------------------------------------


PAUSE = 0.5  # Retry-After in seconds; fractions are accepted, and this keeps the test short


async def _batch_with_a_429_first(server, tmp_path, names: list[str]) -> dict[str, list[float]]:
    """jobs=1 batch whose first file gets a 429 with Retry-After; when each request reached
    the server. Real sleeps here: the point is when requests arrive, not what was asked."""
    arrivals: dict[str, list[float]] = {name: [] for name in names}
    server.hooks.append(lambda name, request: arrivals[name].append(time.monotonic()))
    for name in names:
        server.add(name, name.encode() * 1000)
    server.fail_next(names[0], Fault("status", status=429, retry_after=str(PAUSE)))
    urls = [server.url(name) for name in names]

    results = [r async for r in run_batch(entries_from_urls(urls), tmp_path, Options(jobs=1))]

    assert all(r.state is State.DONE for r in results), [r.error for r in results]
    return arrivals


async def test_downloads_taken_from_the_list_after_a_429_wait_for_the_host(server, tmp_path):
    arrivals = await _batch_with_a_429_first(server, tmp_path, ["a", "b", "c", "d"])

    pause_end = arrivals["a"][0] + PAUSE - 0.01  # the 429 left the server after this
    assert arrivals["a"][1] >= pause_end
    # jobs=1 keeps two files in flight: "c" and "d" come from the list after the 429
    assert arrivals["c"][0] >= pause_end
    assert arrivals["d"][0] >= pause_end


async def test_download_queued_for_a_slot_during_a_429_waits_for_the_host(server, tmp_path):
    arrivals = await _batch_with_a_429_first(server, tmp_path, ["a", "b"])

    # jobs=1: "b" waits for "a"'s job slot and gets it right after the 429
    assert arrivals["b"][0] >= arrivals["a"][0] + PAUSE - 0.01


async def test_per_host_cap_is_respected(server, tmp_path):
    names = [f"f{i}.bin" for i in range(6)]
    for name in names:
        server.add(name, random_bytes(32 * KiB, seed=len(name)))
    server.rate = 320 * KiB  # 0.1 s per file: transfers overlap
    port = server.url("/").split(":")[2].split("/")[0]
    urls = [server.url(n) for n in names]
    urls += [f"http://localhost:{port}/{n}" for n in names]  # the same server, another host

    results = await fetch(urls, tmp_path, jobs=6, per_host=2)

    assert all(r.state is State.DONE for r in results), [r.error for r in results]
    assert server.max_active[f"127.0.0.1:{port}"] == 2
    assert server.max_active[f"localhost:{port}"] == 2
    assert server.max_active_total > 2  # the cap is per host, not a lower -j


async def test_without_per_host_cap_jobs_is_the_limit(server, tmp_path):
    names = [f"f{i}.bin" for i in range(6)]
    for name in names:
        server.add(name, random_bytes(32 * KiB, seed=len(name)))
    server.rate = 320 * KiB

    results = await fetch([server.url(n) for n in names], tmp_path, jobs=4)

    assert all(r.state is State.DONE for r in results)
    assert server.max_active_total == 4


# -- redirects ---------------------------------------------------------------------------------


async def test_redirects_are_followed_within_the_bound(server, tmp_path):
    server.add("target.bin", b"the target")

    [result] = await fetch([server.url("/redirect/3/target.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "target.bin").read_bytes() == b"the target"
    assert server.requests["target.bin"] == 1


async def test_too_many_redirects_fail_with_a_clear_message(server, tmp_path):
    server.add("target.bin", b"the target")

    [result] = await fetch([server.url("/redirect/4/target.bin")], tmp_path, max_redirects=3)

    assert result.state is State.FAILED
    assert result.error == "more than 3 redirects"
    assert result.attempts == 1
    assert server.requests["target.bin"] == 0
    assert os.listdir(tmp_path) == [".adl"]


async def test_redirect_loop_fails(server, tmp_path):
    server.redirect("loop", "/loop")

    [result] = await fetch([server.url("loop")], tmp_path)

    assert result.state is State.FAILED
    assert "redirects" in result.error
    assert server.requests["loop"] == 11  # the first request and 10 redirects, once


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/secret.txt", "file:///etc/passwd", "gopher://x/1"]
)
async def test_redirect_to_another_scheme_is_refused(server, tmp_path, location):
    server.redirect("bounce", location)

    [result] = await fetch([server.url("bounce")], tmp_path)

    assert result.state is State.FAILED
    assert "redirect to unsupported URL" in result.error
    assert location in result.error
    assert server.requests["bounce"] == 1
    assert os.listdir(tmp_path) == [".adl"]


async def test_credentials_are_not_sent_to_another_host_after_a_redirect(server, tmp_path):
    server.add("secret.bin", b"payload")
    url = server.url("/away/secret.bin").replace("http://", "http://user:pw@")

    [result] = await fetch([url], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "secret.bin").read_bytes() == b"payload"
    sent = dict(server.request_headers)
    assert sent["/away/secret.bin"]["Authorization"].startswith("Basic ")
    assert sent["/secret.bin"]["Host"].startswith("localhost:")
    assert "Authorization" not in sent["/secret.bin"]


async def test_relative_redirect_on_the_same_host_keeps_working_with_credentials(server, tmp_path):
    server.add("secret.bin", b"payload")
    url = server.url("/redirect/2/secret.bin").replace("http://", "http://user:pw@")

    [result] = await fetch([url], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "secret.bin").read_bytes() == b"payload"


# -- local disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB file system at tmp_path/disk."""
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "size=2m")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


DISK_FULL_FILES = {"a.bin": 300 * KiB, "b.bin": 300 * KiB, "c.bin": 800 * KiB, "d.bin": 10 * KiB}
DISK_FULL_FILES |= {f"e{i}.bin": 10 * KiB for i in range(3)}


def _disk_full_batch(server, disk: Path) -> tuple[dict[str, bytes], list[str]]:
    bodies = {name: random_bytes(size, seed=size + i) for i, (name, size) in
              enumerate(DISK_FULL_FILES.items())}  # fmt: skip
    for name, body in bodies.items():
        server.add(name, body)
    (disk / "filler").write_bytes(b"\0" * (1200 * KiB))  # leaves ~800 KiB: c.bin won't fit
    return bodies, [server.url(name) for name in bodies]


async def test_disk_full_fails_the_file_stops_new_ones_and_rerun_completes(server, small_disk):
    bodies, urls = _disk_full_batch(server, small_disk)
    events: list[Event] = []

    results = await fetch(urls, small_disk, events=events, jobs=1)

    by_name = {Path(r.url).name: r for r in results}
    assert by_name["a.bin"].state is State.DONE and by_name["b.bin"].state is State.DONE
    for name in ("a.bin", "b.bin"):
        assert (small_disk / name).read_bytes() == bodies[name]
    assert by_name["c.bin"].state is State.FAILED
    assert by_name["c.bin"].error == "No space left on device"
    assert not (small_disk / "c.bin").exists()
    for i in range(3):  # taken from the list after the disk filled up: never requested
        e = by_name[f"e{i}.bin"]
        assert e.state is State.FAILED
        assert e.error == "not started: No space left on device"
        assert server.requests[f"e{i}.bin"] == 0
    assert any(isinstance(e, Notice) and "No space left" in e.message for e in events)

    (small_disk / "filler").unlink()
    results = await fetch(urls, small_disk, jobs=1)

    assert all(r.ok for r in results), [(r.url, r.error) for r in results]
    for name, body in bodies.items():
        assert (small_disk / name).read_bytes() == body
    assert server.requests["a.bin"] == 1 and server.requests["b.bin"] == 1


async def test_disk_full_starts_no_file_queued_behind_the_failed_one(server, small_disk):
    _bodies, urls = _disk_full_batch(server, small_disk)

    results = await fetch(urls, small_disk, jobs=1)

    by_name = {Path(r.url).name: r for r in results}
    assert by_name["c.bin"].error == "No space left on device"
    assert by_name["d.bin"].error == "not started: No space left on device"
    assert server.requests["d.bin"] == 0


async def test_streamed_file_hits_a_full_disk_and_keeps_its_part(server, small_disk):
    body = random_bytes(3 * MiB, seed=7)  # bigger than the whole disk, streamed in pieces
    server.add("big.bin", body)

    [result] = await fetch([server.url("big.bin")], small_disk, chunk_size=64 * KiB)

    assert result.state is State.FAILED
    assert result.error == "No space left on device"
    assert result.attempts == 1  # not retried: the disk will not empty itself
    assert not (small_disk / "big.bin").exists()
    assert (small_disk / "big.bin.part").stat().st_size > 0  # kept for the rerun


async def test_read_only_folder_fails_each_file_with_the_reason(server, read_only_dir):
    server.add("a.bin", b"a" * 1000)
    server.add("b.bin", random_bytes(2 * MiB, seed=8))
    events: list[Event] = []

    results = await fetch([server.url("a.bin"), server.url("b.bin")], read_only_dir, events=events)

    reason = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    assert [r.state for r in results] == [State.FAILED, State.FAILED]
    assert all(r.error == reason for r in results), [r.error for r in results]
    assert any(isinstance(e, Notice) and "cannot keep a journal" in e.message for e in events)
    assert os.listdir(read_only_dir) == []


async def test_read_only_folder_from_the_cli_exits_1_without_traceback(server, read_only_dir):
    server.add("a.bin", b"a" * 1000)
    listing = read_only_dir.parent / "list.txt"
    listing.write_text(server.url("a.bin") + "\n")

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "downloader", "get", str(listing), "-o", str(read_only_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    output = stdout.decode() + stderr.decode()

    assert process.returncode == 1, output
    assert "Traceback" not in output
    assert "Read-only file system" in output or "Permission denied" in output
