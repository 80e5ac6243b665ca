"""What `adl get` reads and what it prints about it: URL arguments, several lists, a list on
a pipe that arrives slowly, and failures that must not flood the screen or the memory."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

from downloader import __version__
from downloader.cli import app

from .test_cli import live, runner, summary_counts, write_list  # noqa: F401 - fixtures
from .test_interrupts import _default_sigint


def test_urls_given_as_arguments_are_downloaded(live, runner, tmp_path):  # noqa: F811
    live.add("a.txt", b"alpha")
    live.add("b.txt", b"beta")

    result = runner.invoke(
        app, ["get", live.url("a.txt"), live.url("b.txt"), "-o", str(tmp_path / "out")]
    )

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "out" / "b.txt").read_bytes() == b"beta"
    assert summary_counts(result.output) == (2, 0, 0)


def test_several_lists_and_urls_mix_and_failures_name_their_list(live, runner, tmp_path):  # noqa: F811
    live.add("a.txt", b"alpha")
    live.add("b.txt", b"beta")
    first = write_list(tmp_path / "first.txt", live.url("a.txt"))
    second = write_list(tmp_path / "second.txt", "# comment", live.url("gone.txt"))

    result = runner.invoke(
        app, ["get", str(first), live.url("b.txt"), str(second), "-o", str(tmp_path / "out")]
    )

    assert result.exit_code == 1, result.output
    assert summary_counts(result.output) == (2, 0, 1)
    assert f"FAILED {live.url('gone.txt')} ({second}, line 2): HTTP 404" in result.output


def test_a_missing_list_among_urls_is_a_usage_error_before_any_download(live, runner, tmp_path):  # noqa: F811
    live.add("a.txt", b"alpha")
    result = runner.invoke(
        app, ["get", live.url("a.txt"), str(tmp_path / "nope.txt"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "nope.txt" in result.output
    assert live.requests["a.txt"] == 0
    assert not (tmp_path / "o").exists()


def test_failures_are_printed_once_and_the_summary_names_only_the_first_20(
    live,  # noqa: F811
    runner,  # noqa: F811
    tmp_path,
):
    urls = [live.url(f"missing-{i}.bin") for i in range(60)]
    listing = write_list(tmp_path / "list.txt", *urls)
    out = tmp_path / "out"

    result = runner.invoke(app, ["get", str(listing), "-o", str(out), "-j", "8"])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    for url in urls:
        assert sum(line.startswith(f"FAILED {url} ") for line in lines) == 1, url
    recap = lines[lines.index("failed:") + 1 :]
    assert len([line for line in recap if line.startswith("  http")]) == 20
    assert recap[20] == f"  ... and 40 more: adl status -o {out} lists them all"
    assert len(lines) == 60 + 1 + 1 + 20 + 1


async def start_reading_stdin(out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "downloader", "get", "-", "-o", str(out),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip


async def wait_for_file(path: Path, process: asyncio.subprocess.Process) -> bool:
    for _ in range(1000):
        if path.exists() or process.returncode is not None:
            return path.exists()
        await asyncio.sleep(0.01)
    return False


async def test_a_url_on_a_pipe_downloads_before_the_pipe_closes(server, tmp_path):
    """`(echo URL; sleep 8) | adl get -`: the file comes at once, not after the sleep."""
    server.add("now.txt", b"right away")
    out = tmp_path / "out"
    process = await start_reading_stdin(out)
    assert process.stdin is not None
    process.stdin.write(f"{server.url('now.txt')}\n".encode())
    await process.stdin.drain()

    arrived = await wait_for_file(out / "now.txt", process)

    process.stdin.close()
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert arrived, (stdout + stderr).decode()
    assert process.returncode == 0
    assert (out / "now.txt").read_bytes() == b"right away"


async def test_ctrl_c_stops_a_run_whose_pipe_is_still_open(server, tmp_path):
    process = await start_reading_stdin(tmp_path / "out")
    # Started (its journal is open), waiting for a line that never comes. Polled, not a
    # fixed sleep: on a loaded machine start-up alone can take longer than any guess.
    for _ in range(200):
        if (tmp_path / "out" / ".adl" / "journal.sqlite").exists():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the journal opens just before the loop reads the pipe
    process.send_signal(signal.SIGINT)

    # The pipe stays open: the run must end on the signal, not on the end of its input.
    await asyncio.wait_for(process.wait(), timeout=10)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = await process.stdout.read(), await process.stderr.read()

    assert process.returncode == 130, (stdout + stderr).decode()
    assert "Traceback" not in stderr.decode()
    assert re.search(r"0 unfinished", stdout.decode())


# --- help text at 80 columns -------------------------------------------------------------


def _help_prose(runner_, args: list[str]) -> str:
    """The help text as prose: box borders dropped and wrapped lines joined."""
    result = runner_.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = [line.strip(" │╭╮╰╯─") for line in result.stdout.splitlines()]
    return " ".join(line for line in lines if line)


def test_help_sentences_are_not_broken_by_the_docstring_layout(runner):  # noqa: F811
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "80"})
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ get ")]
    assert len(rows) == 1 and rows[0].rstrip(" │").endswith(".")  # one line, one sentence
    for line in runner.invoke(app, ["get", "--help"], env={"COLUMNS": "80"}).stdout.splitlines():
        assert line.strip() not in ("skipped.", "partial"), "a sentence broken mid-way"


def test_on_exists_choices_do_not_wrap_mid_word(runner):  # noqa: F811
    text = _help_prose(runner, ["get", "--help"])
    assert "skip, overwrite, or rename" in text
    assert "renam e" not in text and "renam\n" not in text


def test_retries_help_names_exactly_the_statuses_retried(runner):  # noqa: F811
    from downloader.retry import RETRYABLE_STATUSES

    text = _help_prose(runner, ["get", "--help"])
    named = ", ".join(str(s) for s in sorted(RETRYABLE_STATUSES))
    assert f"HTTP {named}" in text
    assert "5xx" not in text


# --- start-up ------------------------------------------------------------------------------


def test_version_is_answered_before_the_command_line_is_built():
    """`adl --version` (the console script's entry point) prints without importing typer."""
    import subprocess

    child = (
        "import sys\n"
        "from downloader.launch import main\n"
        "sys.argv = ['adl', '--version']\n"
        "main()\n"
        "print(sorted(m for m in ('typer', 'aiohttp', 'sqlite3') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == [f"adl {__version__}", "[]"], done.stderr


def test_version_help_and_status_start_without_importing_aiohttp(tmp_path):
    """aiohttp's import is ~0.3 s (it builds SSL contexts): commands that send no request
    must not pay it. The child reports, as it exits, whether aiohttp was imported."""
    import subprocess

    child = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('aiohttp' in sys.modules, file=sys.stderr))\n"
        "from downloader.cli import main\n"
        "sys.argv = ['adl', *sys.argv[1:]]\n"
        "main()\n"
    )
    for args in (["--version"], ["--help"], ["get", "--help"], ["status", "-o", str(tmp_path)]):
        done = subprocess.run(
            [sys.executable, "-c", child, *args], capture_output=True, text=True, timeout=60
        )
        assert done.stderr.splitlines()[-1] == "False", (args, done.stderr)
