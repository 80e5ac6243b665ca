"""The `adl` command (typer): the only module that imports typer and calls asyncio.run.

It parses flags, picks renderers, runs the batch and maps the outcome to an exit code:
0 all done or skipped, 1 some files failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer

from ._version import __version__
from .api import prepare_dest, run_batch
from .errors import AdlError, OptionsError
from .events import Event
from .inputs import parse_lines
from .journal import read_journal
from .options import OnExists, Options
from .report import LineRenderer, Tally, print_line
from .status import read_status, status_data, status_lines

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="adl: download a list of URLs concurrently; rerun the same command to resume.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"adl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """adl: asynchronous bulk downloader."""


@app.command()
def get(
    list_path: Annotated[
        str, typer.Argument(metavar="LIST", help="File with one URL per line, or - for stdin.")
    ],
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="Files downloaded at once.")] = 5,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for the files (created if missing).")
    ] = Path("."),
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only failures and the summary.")
    ] = False,
    retries: Annotated[
        int, typer.Option(help="Retries per file for transient failures (5xx, 429, resets).")
    ] = 5,
    timeout: Annotated[
        float, typer.Option(help="Seconds without a byte from the server before retrying.")
    ] = 60.0,
    connect_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a connection.")
    ] = 30.0,
    on_exists: Annotated[
        OnExists,
        typer.Option(help="A file already at the destination that adl did not write."),
    ] = OnExists.SKIP,
    per_host: Annotated[
        int, typer.Option(help="Connections per host at most (0: only the -j limit).")
    ] = 0,
    content_disposition: Annotated[
        bool,
        typer.Option(
            "--content-disposition",
            help="Name files as the server's Content-Disposition suggests.",
        ),
    ] = False,
    no_journal: Annotated[
        bool,
        typer.Option("--no-journal", help="Keep no resume state in OUTPUT/.adl (one-shot)."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show retries, and tracebacks for unexpected errors."),
    ] = False,
) -> None:
    """Download every URL in LIST into OUTPUT. Blank lines and lines starting with # are
    skipped. Rerunning the same command resumes: finished files are not fetched again and
    partial ones continue where they stopped."""
    try:
        options = Options(
            jobs=jobs, retries=retries, timeout=timeout, connect_timeout=connect_timeout,
            on_exists=on_exists, per_host=per_host, content_disposition=content_disposition,
            resume=not no_journal,
        )  # fmt: skip
        source = _open_list(list_path)
    except OptionsError as exc:
        _usage_error(str(exc))
    with source as lines:
        try:
            folder = prepare_dest(output)  # only once the list opened: no stray folders
        except OptionsError as exc:
            _usage_error(str(exc))
        code = _run(lines, folder, options, list_path, quiet=quiet, debug=debug)
    raise typer.Exit(code)


@app.command()
def status(
    output: Annotated[Path, typer.Option("-o", "--output", help="The batch's folder.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the state of the batch in OUTPUT: counts per state, bytes, failed URLs.
    Works while a run is in progress; files a killed run left behind show as interrupted."""
    dest = output.absolute()
    journal = read_journal(dest)
    if journal is None:
        _usage_error(f"no adl batch in {output} (no {output}/.adl/journal.sqlite)")
    try:
        report = read_status(journal, dest)
        if as_json:
            print(json.dumps(status_data(report, journal.failed()), indent=2))
        else:
            for line in status_lines(report, journal.failed(), output):
                print(line)
    finally:
        journal.close()


def _open_list(list_path: str) -> TextIO:
    if list_path == "-":
        return contextlib.nullcontext(sys.stdin)  # type: ignore[return-value]
    try:
        return open(list_path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise OptionsError(f"cannot read list {list_path!r}: {exc.strerror}") from exc


def _run(source, folder: Path, options: Options, list_path: str, *, quiet: bool, debug: bool):
    tally = Tally()
    renderer = _renderer(list_path, quiet=quiet, debug=debug)

    def on_event(event: Event) -> None:
        tally(event)
        renderer(event)

    interrupted = False
    # Everything imported so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise walk it again and again during a batch.
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            interrupted = runner.run(_batch(source, folder, options, on_event))
    except AdlError as exc:
        renderer.close()
        _usage_error(str(exc))
    except Exception:
        renderer.close()
        if debug:
            traceback.print_exc()
        print("adl: internal error (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILED
    renderer.close()
    if tally.done + tally.skipped + len(tally.failed) == 0 and not interrupted:
        print("nothing to do: the list has no URLs", file=sys.stderr)
        return EXIT_OK
    # sys.stdout itself is replaced once the reader has left: Python's exit-time flush of the
    # dead pipe must not print a traceback.
    sys.stdout = print_line(tally.summary(interrupted=interrupted), sys.stdout)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if tally.failed else EXIT_OK


async def _batch(source, folder: Path, options: Options, on_event) -> bool:
    """Run the batch; True if Ctrl-C or SIGTERM stopped it. The first signal cancels the
    batch (partial files and the journal are kept); a second one exits at once."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal() -> None:
        nonlocal stopping
        if stopping:
            os._exit(EXIT_INTERRUPTED)
        stopping = True
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        results = run_batch(parse_lines(source), folder, options, on_event)
        async with contextlib.aclosing(results):
            async for _ in results:
                pass
    except asyncio.CancelledError:
        if not stopping:
            raise
    return stopping


def _renderer(list_path: str, *, quiet: bool, debug: bool):
    if quiet or debug or not sys.stderr.isatty():
        return LineRenderer(sys.stdout, quiet=quiet, debug=debug)
    from .progress import TqdmRenderer  # only a terminal pays for importing tqdm

    return TqdmRenderer(_count_urls(list_path))


def _count_urls(list_path: str) -> int | None:
    """Lines that are not blank or comments, for the overall bar's total; None for stdin.
    A quick pass that does not check URLs: a million-line list counts in a fraction of a second."""
    if list_path == "-":
        return None
    try:
        with open(list_path, "rb") as file:
            return sum(1 for line in file if line.strip() and not line.lstrip().startswith(b"#"))
    except OSError:
        return None


def _loop_factory():
    """uvloop when installed (the `fast` extra): it makes small files noticeably cheaper."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _usage_error(message: str) -> NoReturn:
    print(f"adl: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_USAGE)


def main() -> None:
    try:
        app(prog_name="adl")
    except KeyboardInterrupt:  # Ctrl-C before the batch's own handler is installed
        sys.exit(EXIT_INTERRUPTED)
