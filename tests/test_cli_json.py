"""`adl get --json`: stdout carries one JSON record per item and nothing else; the human
output (lines, bars, summary) goes to stderr. In process (CliRunner keeps stdout and stderr
apart: `result.stdout`, `result.stderr`) and as a real process writing into a pipe."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from downloader.cli import app

from .fileserver import FileServer
from .test_cli import _child_env, lines_starting, live, runner, summary_counts, write_list
from .test_jsonlines import KEYS

__all__ = ["live", "runner"]  # fixtures, imported for pytest

SUMMARY = "1 done, 0 skipped, 2 failed"


def records(stdout: str) -> list[dict]:
    """Every stdout line parsed on its own; any line that is not a JSON object fails."""
    parsed = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(r, dict) and list(r) == KEYS for r in parsed), stdout
    return parsed


def by_url(parsed: list[dict]) -> dict[str, dict]:
    found = {r["url"]: r for r in parsed}
    assert len(found) == len(parsed), "one record per item"
    return found


def mixed_list(live: FileServer, tmp_path: Path) -> tuple[Path, str, str]:
    """A list with a file, a missing file and a bad line (lines 2, 4 and 5)."""
    live.add("ok.bin", b"x" * 5000)
    good, missing = live.url("ok.bin"), live.url("missing.txt")
    listing = write_list(tmp_path / "list.txt", "# files", good, "", missing, "ftp://h/x")
    return listing, good, missing


def check_first_run(parsed: list[dict], good: str, missing: str, out: Path) -> None:
    found = by_url(parsed)
    assert set(found) == {good, missing, "ftp://h/x"}
    assert found[good] | {"source": None} == {
        **dict.fromkeys(KEYS),
        "url": good,
        "path": str(out / "ok.bin"),
        "state": "done",
        "status": 200,
        "bytes": 5000,
        "received": 5000,
        "attempts": 1,
        "line": 2,
    }
    assert found[missing]["state"] == "failed"
    assert found[missing]["status"] == 404
    assert found[missing]["error"] == "HTTP 404 Not Found"
    assert found[missing]["line"] == 4
    assert found["ftp://h/x"]["error"] == "not an http or https URL"
    assert found["ftp://h/x"]["line"] == 5


def test_json_records_on_stdout_human_lines_on_stderr(live, runner, tmp_path):
    listing, good, missing = mixed_list(live, tmp_path)
    out = tmp_path / "out"
    args = ["get", str(listing), "-o", str(out), "--retries", "0", "--json"]

    first = runner.invoke(app, args)

    assert first.exit_code == 1, first.output
    check_first_run(records(first.stdout), good, missing, out)
    assert summary_counts(first.stderr) == (1, 0, 2)
    assert len(lines_starting(first.stderr, "FAILED ")) == 2
    assert len(lines_starting(first.stderr, "done ")) == 1

    again = runner.invoke(app, args)

    found = by_url(records(again.stdout))
    assert found[good]["state"] == "skipped"
    assert found[good]["bytes"] == 5000
    assert found[good]["received"] == 0
    assert found[good]["path"] == str(out / "ok.bin")
    assert found[missing]["state"] == "failed"
    assert len(found) == 3
    assert summary_counts(again.stderr) == (0, 1, 2)


def test_json_with_quiet_keeps_every_record_and_only_failures_on_stderr(live, runner, tmp_path):
    listing, good, missing = mixed_list(live, tmp_path)

    result = runner.invoke(
        app, ["get", str(listing), "-o", str(tmp_path / "o"), "--retries", "0", "--json", "-q"]
    )

    found = by_url(records(result.stdout))
    assert [found[u]["state"] for u in (good, missing, "ftp://h/x")] == ["done", "failed", "failed"]
    failed = lines_starting(result.stderr, "FAILED ")
    assert len(failed) == 2
    assert missing in failed[0] + failed[1]
    assert lines_starting(result.stderr, "done ") == []
    assert SUMMARY in result.stderr


def test_json_with_urls_as_arguments_has_no_line(live, runner, tmp_path):
    live.add("a.txt", b"a")
    result = runner.invoke(app, ["get", live.url("a.txt"), "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    [record] = records(result.stdout)
    assert record["line"] is None
    assert record["state"] == "done"


def test_json_masks_passwords(live, runner, tmp_path):
    live.add("a.txt", b"a")
    secret = live.url("a.txt").replace("http://", "http://user:s3cret@")
    result = runner.invoke(app, ["get", secret, "-o", str(tmp_path), "--json"])
    [record] = records(result.stdout)
    assert record["url"] == secret.replace("s3cret", "***")
    assert "s3cret" not in result.output


# --- a real process, a real pipe -----------------------------------------------------------


def adl(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downloader", "get", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_child_env(),
        check=False,
        **kwargs,
    )


def test_a_pipe_reads_one_record_per_item_and_the_summary_is_on_stderr(live, tmp_path):
    listing, good, missing = mixed_list(live, tmp_path)
    out = tmp_path / "out"
    args = (str(listing), "-o", str(out), "--retries", "0", "--json")

    first = adl(*args)

    assert first.returncode == 1, first.stderr
    check_first_run(records(first.stdout), good, missing, out)
    assert SUMMARY in first.stderr
    assert "Traceback" not in first.stderr

    again = adl(*args)

    found = by_url(records(again.stdout))
    assert [found[u]["state"] for u in (good, missing, "ftp://h/x")] == [
        "skipped",
        "failed",
        "failed",
    ]
    assert "0 done, 1 skipped, 2 failed" in again.stderr


def test_bars_go_to_a_terminal_on_stderr_never_to_stdout(live, tmp_path):
    live.add("a.bin", b"a" * 100_000)
    live.rate = 150_000  # bytes/s: long enough for the bars to be drawn (0.2 s ticks)
    listing = write_list(tmp_path / "list.txt", live.url("a.bin"))
    controller, terminal = pty.openpty()
    # A terminal of 24 x 100: a new pty is 0 columns wide, and tqdm draws nothing in that.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "downloader",
                "get",
                str(listing),
                "--json",
                "-o",
                str(tmp_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=_child_env(),
        )
        os.close(terminal)
        shown = read_terminal(controller)
        stdout = child.stdout.read().decode() if child.stdout else ""
        assert child.wait(timeout=60) == 0, shown
    finally:
        os.close(controller)

    assert "total: " in shown  # tqdm's overall line was drawn on the terminal
    assert "a.bin" in shown  # and the file's bar
    assert "1 done, 0 skipped, 0 failed" in shown
    assert "\r" not in stdout and "\x1b" not in stdout
    [record] = records(stdout)
    assert record["state"] == "done"


def read_terminal(fd: int) -> str:
    """All a child wrote to its terminal, until it closed it (EIO on Linux, or EOF)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_a_reader_that_leaves_ends_the_records_quietly(live, tmp_path):
    """`adl get --json - | head -1`: the list comes from stdin, so the second item is
    listed only after the reader has gone, and its record must meet a closed pipe."""
    live.add("a.txt", b"a")
    child = subprocess.Popen(
        [sys.executable, "-m", "downloader", "get", "-", "-o", str(tmp_path), "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
    )
    assert child.stdin and child.stdout and child.stderr
    child.stdin.write(b"ftp://h/bad\n")
    child.stdin.flush()
    first = json.loads(child.stdout.readline())
    child.stdout.close()  # the reader leaves, as head -1 does
    child.stdin.write(f"{live.url('a.txt')}\n".encode())
    child.stdin.close()

    code = child.wait(timeout=60)
    stderr = child.stderr.read().decode()
    child.stderr.close()

    assert first["url"] == "ftp://h/bad"
    assert code == 1  # the bad line failed; the rest of the batch still ran
    assert (tmp_path / "a.txt").read_bytes() == b"a"
    assert "1 done, 0 skipped, 1 failed" in stderr
    assert "BrokenPipe" not in stderr
    assert "Exception ignored" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_nothing_but_records_on_stdout_even_for_an_empty_list(tmp_path, quiet):
    listing = write_list(tmp_path / "list.txt", "# nothing here")
    done = adl(str(listing), "-o", str(tmp_path), "--json", *quiet)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "nothing to do" in done.stderr
