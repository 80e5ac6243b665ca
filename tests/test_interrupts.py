"""Interrupted runs of the real `adl get` command: kill -9, Ctrl-C (SIGINT) and SIGTERM.

The command runs as a subprocess (asyncio.create_subprocess_exec, so the in-process file server
keeps serving while we wait) in a new session, so SIGINT is at its default as in a terminal
(DESIGN §3b). Bodies are served slowly so the kill lands mid-transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downloader.cli import app

from .conftest import poll_while_running, random_bytes

SIZE = 3 * 1024 * 1024
NAMES = ("one.bin", "two.bin", "three.bin")


@pytest.fixture
def batch(server, tmp_path):
    """Three 3 MiB files served at 3 MiB/s each, a list file, and an output folder."""
    bodies = {name: random_bytes(SIZE, seed=i) for i, name in enumerate(NAMES)}
    for name, body in bodies.items():
        server.add(name, body)
    server.rate = SIZE
    listing = tmp_path / "list.txt"
    listing.write_text("".join(server.url(name) + "\n" for name in NAMES))
    return bodies, listing, tmp_path / "out"


async def start_adl(listing: Path, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "downloader",
        "get",
        str(listing),
        "-o",
        str(out),
        "-j",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # signals reach adl only, not the test runner
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    # A background shell starts us with SIGINT ignored, and children inherit that (DESIGN
    # §3b); a terminal user's adl has it at its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def run_adl(listing: Path, out: Path) -> tuple[int, str]:
    process = await start_adl(listing, out)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode, stdout.decode() + stderr.decode()


def part_sizes(out: Path) -> dict[str, int]:
    sizes = {}
    for name in NAMES:
        with contextlib.suppress(FileNotFoundError):
            sizes[name] = (out / (name + ".part")).stat().st_size
    return sizes


async def wait_for_partial(process, out: Path, at_least: int = 256 * 1024) -> None:
    """Until some `.part` holds `at_least` bytes (the transfer is well under way)."""

    def partial() -> bool | None:
        return any(size >= at_least for size in part_sizes(out).values()) or None

    await poll_while_running(process, partial, "no partial file appeared; output")


async def rerun_completes(server, listing: Path, out: Path, bodies: dict[str, bytes]) -> None:
    """The same command again, the server at full speed: exit 0 and every file byte-exact."""
    server.rate = 0
    code, output = await run_adl(listing, out)
    assert code == 0, output
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body


def assert_no_partial_final_files(out: Path, bodies: dict[str, bytes]) -> None:
    for name, body in bodies.items():
        final = out / name
        if final.exists():
            assert final.read_bytes() == body, f"{name} holds partial or wrong data"


async def test_kill_9_leaves_no_partial_file_under_a_final_name(server, batch):
    bodies, listing, out = batch
    process = await start_adl(listing, out)
    await wait_for_partial(process, out)
    process.kill()
    await process.communicate()
    assert process.returncode == -signal.SIGKILL

    assert part_sizes(out), "the data in flight is kept in .part files"
    assert_no_partial_final_files(out, bodies)

    await rerun_completes(server, listing, out, bodies)
    assert not part_sizes(out)


async def test_kill_9_then_rerun_resumes_from_the_part_file(server, batch):
    bodies, listing, out = batch
    process = await start_adl(listing, out)
    await wait_for_partial(process, out)
    process.kill()
    await process.communicate()

    kept = part_sizes(out)
    await rerun_completes(server, listing, out, bodies)
    resumed = [name for name, size in kept.items() if size > 0]
    assert resumed
    for name in resumed:
        assert server.bytes_sent[name] < 1.5 * SIZE, f"{name} was downloaded from zero again"
        etag = server.files[name].etag
        assert (name, f"bytes={kept[name]}-", etag) in server.range_requests


def adl_status(out: Path, *options: str) -> str:
    result = CliRunner().invoke(app, ["status", "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_status_after_kill_9_shows_interrupted_files_and_their_part_bytes(server, batch):
    _, listing, out = batch
    process = await start_adl(listing, out)
    await wait_for_partial(process, out)
    while_running = json.loads(adl_status(out, "--json"))
    process.kill()
    await process.communicate()

    after = json.loads(adl_status(out, "--json"))
    text = adl_status(out)

    assert while_running["running"] is True
    assert while_running["counts"].get("active", 0) >= 1
    assert after["running"] is False
    assert "active" not in after["counts"]
    assert after["counts"]["interrupted"] >= 1
    assert sum(after["counts"].values()) == len(NAMES)
    kept = sum(part_sizes(out).values())
    assert kept > 0 and after["bytes_partial"] == kept
    assert after["bytes_done"] >= kept
    assert f"{after['counts']['interrupted']} interrupted" in text.splitlines()[0]
    assert "rerun the same `adl get`" in text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_interrupt_exits_130_keeps_part_and_rerun_resumes(server, batch, sig):
    """Ctrl-C / SIGTERM: exit 130 at once, no traceback, .part files and the journal kept,
    and the rerun continues each .part with Range + If-Range instead of starting over."""
    bodies, listing, out = batch
    process = await start_adl(listing, out)
    await wait_for_partial(process, out)
    process.send_signal(sig)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=5)
    output = stdout.decode() + stderr.decode()

    assert process.returncode == 130, output
    assert "Traceback" not in output
    assert "run the same command to resume" in output
    # Three files listed, none finished (each takes a second at the throttled rate).
    assert "0 done, 0 skipped, 0 failed, 3 unfinished" in output
    kept = {name: size for name, size in part_sizes(out).items() if size > 0}
    assert kept, "partial work is kept"
    assert_no_partial_final_files(out, bodies)

    await rerun_completes(server, listing, out, bodies)
    assert not part_sizes(out)
    for name, size in kept.items():
        assert (name, f"bytes={size}-", server.files[name].etag) in server.range_requests
        assert server.bytes_sent[name] < 1.5 * SIZE, f"{name} was downloaded from zero again"


async def test_kill_9_during_a_slow_small_file_keeps_its_part_and_rerun_resumes(server, tmp_path):
    """A file under one chunk is held in memory only while it comes fast: one still arriving
    after the flush interval (1 s) is on disk when kill -9 lands, and the rerun resumes."""
    body = random_bytes(500_000, seed=9)
    server.add("small.bin", body)
    server.rate = 200_000  # 2.5 s for the whole body
    listing = tmp_path / "list.txt"
    listing.write_text(server.url("small.bin") + "\n")
    out, part = tmp_path / "out", tmp_path / "out" / "small.bin.part"
    process = await start_adl(listing, out)
    for _ in range(1000):
        if (part.exists() and part.stat().st_size) or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):  # finished already: no .part was kept
        process.kill()
    await process.communicate()

    kept = part.read_bytes()  # no .part at all when small bodies are held until complete
    assert 0 < len(kept) < len(body) and kept == body[: len(kept)]
    server.rate = 0
    code, output = await run_adl(listing, out)
    assert code == 0, output
    assert (out / "small.bin").read_bytes() == body
    assert ("small.bin", f"bytes={len(kept)}-", server.files["small.bin"].etag) in (
        server.range_requests
    )
