"""The `adl` command: exit codes, output lines, `status`, help, and real subprocesses.

CliRunner runs the app in this process, and the app runs its own event loop; so the file
server for these tests runs in a background thread with a loop of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from downloader import __version__
from downloader.cli import app
from downloader.journal import SqliteJournal

from .conftest import random_bytes
from .fileserver import FileServer

LIST_OPTIONS = [
    ("-j", "--jobs"),
    ("-o", "--output"),
    ("-q", "--quiet"),
    ("--retries",),
    ("--timeout",),
    ("--connect-timeout",),
    ("--on-exists",),
    ("--per-host",),
    ("--debug",),
]


class ThreadedServer:
    """A FileServer on its own event loop in a daemon thread, usable from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.files = FileServer()

    def __enter__(self) -> FileServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.files.start(), self.loop).result(timeout=10)
        return self.files

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.files.close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def live() -> Iterator[FileServer]:
    with ThreadedServer() as files:
        yield files


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_list(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def lines_starting(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def summary_counts(output: str) -> tuple[int, int, int]:
    match = re.search(r"(\d+) done, (\d+) skipped, (\d+) failed", output)
    assert match, output
    done, skipped, failed = (int(g) for g in match.groups())
    return done, skipped, failed


def three_files(live: FileServer) -> dict[str, bytes]:
    bodies = {f"f{i}.bin": random_bytes(3_000 + 1_000 * i, seed=i) for i in range(3)}
    for name, body in bodies.items():
        live.add(name, body)
    return bodies


# --- success, failure, rerun ------------------------------------------------------------------


def test_all_done_exits_0_with_one_done_line_per_file(live, runner, tmp_path):
    bodies = three_files(live)
    listing = write_list(tmp_path / "list.txt", *(live.url(n) for n in bodies))
    out = tmp_path / "out"

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "-j", "2"])

    assert result.exit_code == 0, result.output
    done = lines_starting(result.stdout, "done ")
    assert len(done) == len(bodies)
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body
        assert sum(live.url(name) in line for line in done) == 1
    assert summary_counts(result.stdout) == (3, 0, 0)
    assert "FAILED" not in result.output
    assert "Traceback" not in result.output


def test_a_404_exits_1_and_is_named_in_lines_and_summary(live, runner, tmp_path):
    live.add("ok.txt", b"fine")
    missing = live.url("missing.txt")
    listing = write_list(tmp_path / "list.txt", live.url("ok.txt"), missing)

    result = runner.invoke(app, ["get", str(listing), "-o", str(tmp_path), "--retries", "0"])

    assert result.exit_code == 1, result.output
    (failed_line,) = lines_starting(result.stdout, "FAILED ")
    assert missing in failed_line
    assert "HTTP 404" in failed_line
    assert summary_counts(result.stdout) == (1, 0, 1)
    summary = result.stdout[result.stdout.index("failed:") :]
    assert f"{missing}: HTTP 404 Not Found" in summary
    assert (tmp_path / "ok.txt").read_bytes() == b"fine"
    assert "Traceback" not in result.output


def test_a_rerun_skips_everything_and_makes_no_requests(live, runner, tmp_path):
    bodies = three_files(live)
    listing = write_list(tmp_path / "list.txt", *(live.url(n) for n in bodies))
    args = ["get", str(listing), "-o", str(tmp_path / "out")]
    assert runner.invoke(app, args).exit_code == 0
    before = sum(live.requests.values())

    again = runner.invoke(app, args)

    assert again.exit_code == 0, again.output
    assert sum(live.requests.values()) == before
    assert len(lines_starting(again.stdout, "skipped ")) == len(bodies)
    assert lines_starting(again.stdout, "done ") == []
    assert summary_counts(again.stdout) == (0, 3, 0)


def test_no_journal_leaves_no_state_folder(live, runner, tmp_path):
    live.add("a.txt", b"alpha")
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))
    out = tmp_path / "out"

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "--no-journal"])

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]


@pytest.mark.parametrize(
    ("policy", "expected_files", "content"),
    [
        ("skip", ["x.txt"], b"mine"),
        ("overwrite", ["x.txt"], b"theirs"),
        ("rename", ["x.1.txt", "x.txt"], b"mine"),
    ],
)
def test_on_exists_choices(live, runner, tmp_path, policy, expected_files, content):
    live.add("x.txt", b"theirs")
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.txt").write_bytes(b"mine")
    listing = write_list(tmp_path / "list.txt", live.url("x.txt"))

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "--on-exists", policy])

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == expected_files
    assert (out / "x.txt").read_bytes() == content
    if policy == "rename":
        assert (out / "x.1.txt").read_bytes() == b"theirs"


# --- usage errors: exit 2 before any download ------------------------------------------------


def test_a_missing_list_file_exits_2_naming_the_path(runner, tmp_path):
    missing = tmp_path / "no-such-list.txt"

    result = runner.invoke(app, ["get", str(missing), "-o", str(tmp_path)])

    assert result.exit_code == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.output


def test_a_usage_error_leaves_no_output_folder_behind(runner, tmp_path):
    out = tmp_path / "new-out"
    result = runner.invoke(app, ["get", str(tmp_path / "missing.txt"), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["-j", "0"], "jobs"),
        (["--jobs", "-2"], "jobs"),
        (["--retries", "-1"], "retries"),
        (["--timeout", "0"], "timeout"),
        (["--connect-timeout", "-5"], "connect_timeout"),
        (["--per-host", "-1"], "per_host"),
        (["--on-exists", "bogus"], "on-exists"),
        (["-j", "many"], "jobs"),
        (["--split", "0"], "split"),
        (["--split", "17"], "split must be a whole number from 1 to 16"),
        (["--min-split-size", "512K"], "min_split_size must be at least 1M"),
        (["--min-split-size", "20X"], "'20X' is not a size"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_bad_option_values_exit_2(live, runner, tmp_path, args, mentions):
    live.add("a.txt", b"alpha")
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))
    out = tmp_path / "out"

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), *args])

    assert result.exit_code == 2, result.output
    assert mentions in result.stderr
    assert "Traceback" not in result.output
    assert live.requests["a.txt"] == 0
    assert not (out / "a.txt").exists()


def test_an_output_path_that_is_a_file_exits_2(live, runner, tmp_path):
    live.add("a.txt", b"alpha")
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")

    result = runner.invoke(app, ["get", str(listing), "-o", str(blocker)])

    assert result.exit_code == 2
    assert "not a directory" in result.stderr
    assert live.requests["a.txt"] == 0
    assert blocker.read_text() == "a file"


def test_a_folder_busy_with_another_adl_exits_2(live, runner, tmp_path):
    live.add("a.txt", b"alpha")
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"))
    held = SqliteJournal(tmp_path)
    try:
        result = runner.invoke(app, ["get", str(listing), "-o", str(tmp_path)])
    finally:
        held.close()

    assert result.exit_code == 2
    assert "another adl" in result.stderr
    assert live.requests["a.txt"] == 0


# --- list input -----------------------------------------------------------------------------


def test_dash_reads_the_list_from_stdin(live, runner, tmp_path):
    live.add("a.txt", b"alpha")
    live.add("b.txt", b"beta")
    stdin = f"{live.url('a.txt')}\n# a comment\n\n  {live.url('b.txt')}  \n"

    result = runner.invoke(app, ["get", "-", "-o", str(tmp_path)], input=stdin)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "b.txt").read_bytes() == b"beta"
    assert len(lines_starting(result.stdout, "done ")) == 2


def test_invalid_lines_are_reported_with_line_numbers_and_the_rest_downloads(
    live, runner, tmp_path
):
    live.add("a.txt", b"alpha")
    live.add("b.txt", b"beta")
    listing = write_list(
        tmp_path / "list.txt",
        "# header comment",
        live.url("a.txt"),
        "ftp://127.0.0.1/file",
        "",
        "just some words",
        live.url("b.txt"),
    )

    result = runner.invoke(app, ["get", str(listing), "-o", str(tmp_path / "out")])

    assert result.exit_code == 1, result.output
    failed = lines_starting(result.stdout, "FAILED ")
    assert len(failed) == 2
    assert any("(line 3)" in line and "not an http or https URL" in line for line in failed)
    assert any("(line 5)" in line for line in failed)
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "out" / "b.txt").read_bytes() == b"beta"
    assert summary_counts(result.stdout) == (2, 0, 2)


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n\n   \n"])
def test_an_empty_list_is_nothing_to_do(runner, tmp_path, content):
    listing = tmp_path / "list.txt"
    listing.write_text(content)

    result = runner.invoke(app, ["get", str(listing), "-o", str(tmp_path / "out")])

    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output


# --- output modes -----------------------------------------------------------------------------


def test_quiet_prints_only_failures_and_the_summary(live, runner, tmp_path):
    bodies = three_files(live)
    missing = live.url("missing.txt")
    listing = write_list(tmp_path / "list.txt", *(live.url(n) for n in bodies), missing)
    out = tmp_path / "out"
    out.mkdir()
    live.add("pre.txt", b"x")
    (out / "pre.txt").write_bytes(b"there already")
    with listing.open("a") as file:
        file.write(live.url("pre.txt") + "\n")

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "-q", "--retries", "0"])

    assert result.exit_code == 1, result.output
    failed = lines_starting(result.stdout, "FAILED ")
    assert len(failed) == 1
    assert missing in failed[0]
    assert lines_starting(result.stdout, "done ") == []
    assert lines_starting(result.stdout, "skipped ") == []
    rest = [line for line in result.stdout.splitlines() if line not in failed]
    assert re.match(r"\d+ done, \d+ skipped, \d+ failed", rest[0])  # the summary, then
    assert rest[1:] == ["failed:", f"  {missing}: HTTP 404 Not Found"]  # its failure list
    assert summary_counts(result.stdout) == (3, 1, 1)
    assert all((out / n).read_bytes() == b for n, b in bodies.items())


# --- adl status ------------------------------------------------------------------------------


def _batch_with_a_failure(live, runner, tmp_path) -> tuple[Path, str]:
    live.add("a.txt", b"alpha")
    live.add("b.txt", b"beta!")
    missing = live.url("missing.txt")
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"), live.url("b.txt"), missing)
    out = tmp_path / "out"
    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "--retries", "0"])
    assert result.exit_code == 1
    return out, missing


def test_status_after_a_batch(live, runner, tmp_path):
    out, missing = _batch_with_a_failure(live, runner, tmp_path)

    result = runner.invoke(app, ["status", "-o", str(out)])

    assert result.exit_code == 0, result.output
    assert "2 done" in result.stdout
    assert "1 failed" in result.stdout
    assert "0 skipped" in result.stdout
    assert f"FAILED {missing}: HTTP 404 Not Found" in result.stdout
    assert "10 B done" in result.stdout  # alpha + beta!


def test_status_json_after_a_batch(live, runner, tmp_path):
    out, missing = _batch_with_a_failure(live, runner, tmp_path)

    result = runner.invoke(app, ["status", "--output", str(out), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == {"done": 2, "failed": 1}
    assert data["bytes_done"] == 10
    assert [f["url"] for f in data["failed"]] == [missing]
    assert data["failed"][0]["error"] == "HTTP 404 Not Found"
    assert data["failed"][0]["name"] == "missing.txt"


def test_status_reads_while_another_adl_holds_the_folder(live, runner, tmp_path):
    out, _ = _batch_with_a_failure(live, runner, tmp_path)
    held = SqliteJournal(out)
    try:
        result = runner.invoke(app, ["status", "-o", str(out), "--json"])
    finally:
        held.close()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["done"] == 2


def test_status_bytes_done_never_exceed_the_total(live, runner, tmp_path):
    live.add("a.txt", b"x" * 50)
    live.add("b.txt", b"y" * 20)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.txt").write_bytes(b"foreign")  # skipped: on-exists skip
    listing = write_list(tmp_path / "list.txt", live.url("a.txt"), live.url("b.txt"))
    assert runner.invoke(app, ["get", str(listing), "-o", str(out)]).exit_code == 0

    data = json.loads(runner.invoke(app, ["status", "-o", str(out), "--json"]).stdout)

    assert data["counts"] == {"done": 1, "skipped": 1}
    assert data["bytes_total"] is None or data["bytes_done"] <= data["bytes_total"]


def test_status_without_a_batch_exits_2(runner, tmp_path):
    result = runner.invoke(app, ["status", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "no adl batch" in result.stderr


# --- help and version -------------------------------------------------------------------------


def test_help_lists_both_commands(runner):
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "get" in result.stdout
    assert "status" in result.stdout
    assert "--version" in result.stdout


def test_get_help_mentions_every_option(runner):
    result = runner.invoke(app, ["get", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "LIST" in result.stdout
    for names in LIST_OPTIONS:
        for name in names:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.stdout), name
    for choice in ("skip", "overwrite", "rename"):
        assert choice in result.stdout


def test_get_help_covers_every_declared_option():
    """Whatever options `get` grows, the contract's list above must be part of them."""
    command = typer.main.get_command(app).commands["get"]  # type: ignore[attr-defined]
    declared = {opt for param in command.params for opt in param.opts}
    for names in LIST_OPTIONS:
        assert set(names) <= declared


def _help_option_names(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[A-Za-z])(?![\w-])", text))


def test_get_help_at_80_columns_shows_every_option_in_full(runner):
    command = typer.main.get_command(app).commands["get"]  # type: ignore[attr-defined]
    declared = {opt for param in command.params for opt in param.opts if opt.startswith("-")}

    result = runner.invoke(app, ["get", "--help"], env={"COLUMNS": "80"})

    assert result.exit_code == 0
    assert declared <= _help_option_names(result.stdout)


def test_status_help_mentions_its_options(runner):
    result = runner.invoke(app, ["status", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("-o", "--output", "--json"):
        assert name in result.stdout


def test_version_in_process(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"adl {__version__}"


# --- real processes ------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _adl_script() -> str:
    beside = Path(sys.executable).with_name("adl")
    found = str(beside) if beside.exists() else shutil.which("adl")
    if found is None:
        pytest.skip("the adl console script is not installed")
    return found


def test_adl_version_as_a_real_command():
    done = subprocess.run(
        [_adl_script(), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"adl {__version__}"


def test_python_dash_m_downloader_get_in_a_pipe(live, tmp_path):
    bodies = three_files(live)
    listing = write_list(tmp_path / "list.txt", *(live.url(n) for n in bodies))
    out = tmp_path / "out"

    done = subprocess.run(
        [sys.executable, "-m", "downloader", "get", str(listing), "-o", str(out), "-j", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_child_env(),
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body
    # Not a terminal: no bars, one line per file, then the summary.
    assert len(lines_starting(done.stdout, "done ")) == len(bodies)
    assert "\r" not in done.stdout + done.stderr
    assert summary_counts(done.stdout) == (3, 0, 0)


def test_python_dash_m_downloader_failure_exit_code_and_no_traceback(live, tmp_path):
    listing = write_list(tmp_path / "list.txt", live.url("missing.txt"))

    done = subprocess.run(
        [sys.executable, "-m", "downloader", "get", str(listing), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_child_env(),
        check=False,
    )

    assert done.returncode == 1
    assert "HTTP 404" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_python_dash_m_downloader_usage_error_exit_code(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "downloader", "get", str(tmp_path / "nope.txt")],
        capture_output=True,
        text=True,
        timeout=60,
        env=_child_env(),
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert "nope.txt" in done.stderr
    assert "Traceback" not in done.stderr
