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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ._version import __version__
from .api import prepare_dest, run_batch
from .errors import AdlError, OptionsError
from .events import Event
from .inputs import ListEntry
from .journal import read_journal
from .options import OnExists, Options
from .report import LineRenderer, Renderer, Tally, print_line
from .sources import ListSources
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


OUTPUT, RETRIES, REQUESTS = "Output", "Retries and timeouts", "Requests"


# Help texts are single lines per paragraph: rich keeps a docstring's line breaks, which
# then break sentences in the middle at any terminal width.
GET_HELP = (
    "Download every URL of the lists and arguments into OUTPUT.\n\n"
    "A list has one URL per line; blank lines and lines starting with # are skipped. "
    "Rerunning the same command resumes: finished files are not fetched again and partial "
    "ones continue where they stopped."
)


@app.command(help=GET_HELP, short_help="Download URLs from lists or arguments into a folder.")
def get(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="LIST|URL...",
            help="Files with one URL per line, - for standard input, or URLs (http/https).",
            show_default=False,
        ),
    ],
    jobs: Annotated[
        int, typer.Option("-j", "--jobs", help="Files downloaded at once.", rich_help_panel=OUTPUT)
    ] = 5,
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Folder for the files, created if missing.",
            rich_help_panel=OUTPUT,
        ),
    ] = Path("."),
    quiet: Annotated[
        bool,
        typer.Option(
            "-q", "--quiet", help="Print only failures and the summary.", rich_help_panel=OUTPUT
        ),
    ] = False,
    on_exists: Annotated[
        OnExists,
        typer.Option(
            metavar="MODE",
            help="A file at the destination that adl did not write: skip, overwrite, or "
            "rename (the download takes a free name).",
            rich_help_panel=OUTPUT,
        ),
    ] = OnExists.SKIP,
    content_disposition: Annotated[
        bool,
        typer.Option(
            "--content-disposition",
            help="Name files as the server's Content-Disposition header suggests.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    no_journal: Annotated[
        bool,
        typer.Option(
            "--no-journal",
            help="Keep no resume state in OUTPUT/.adl (one-shot).",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries per file after connection errors, timeouts, cut bodies and "
            "HTTP 408, 425, 429, 500, 502, 503, 504.",
            rich_help_panel=RETRIES,
        ),
    ] = 5,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds without a byte from the server before retrying.",
            rich_help_panel=RETRIES,
        ),
    ] = 60.0,
    connect_timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait for a connection.", rich_help_panel=RETRIES),
    ] = 30.0,
    per_host: Annotated[
        int,
        typer.Option(
            help="Connections per host at most (0: only the -j limit).",
            rich_help_panel=REQUESTS,
        ),
    ] = 0,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show tracebacks for unexpected errors.", rich_help_panel=OUTPUT
        ),
    ] = False,
) -> None:
    try:
        options = Options(
            jobs=jobs, retries=retries, timeout=timeout, connect_timeout=connect_timeout,
            on_exists=on_exists, per_host=per_host, content_disposition=content_disposition,
            resume=not no_journal,
        )  # fmt: skip
        lists = ListSources(sources, sys.stdin.buffer)
    except OptionsError as exc:
        _usage_error(str(exc))
    try:
        folder = prepare_dest(output)  # only once the lists opened: no stray folders
    except OptionsError as exc:
        lists.close()
        _usage_error(str(exc))
    try:
        code = _run(lists, folder, options, quiet=quiet, debug=debug)
    finally:
        lists.close()
    raise typer.Exit(code)


@app.command(
    help="Show the state of the batch in OUTPUT: counts per state, bytes, failed URLs.\n\n"
    "Works while a run is in progress; files a killed run left behind show as interrupted.",
    short_help="Show a batch's state: counts, bytes, failed URLs.",
)
def status(
    output: Annotated[Path, typer.Option("-o", "--output", help="The batch's folder.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
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


def _run(lists: ListSources, folder: Path, options: Options, *, quiet: bool, debug: bool) -> int:
    tally = Tally()
    renderer = _renderer(lists, quiet=quiet, debug=debug)

    def on_event(event: Event) -> None:
        tally(event)
        renderer(event)

    interrupted = False
    # Everything imported so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise walk it again and again during a batch.
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            batch = _batch(lists.entries(), folder, options, on_event, renderer)
            interrupted = runner.run(batch)
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
    if tally.finished == 0 and not interrupted:
        print("nothing to do: the list has no URLs", file=sys.stderr)
        return EXIT_OK
    summary = tally.summary(
        interrupted=interrupted,
        unfinished=_unfinished(lists, tally.finished) if interrupted else 0,
        listed_by=f"adl status -o {folder}" if options.resume else "",
    )
    # sys.stdout itself is replaced once the reader has left: Python's exit-time flush of the
    # dead pipe must not print a traceback.
    sys.stdout = print_line(summary, sys.stdout)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if tally.failed else EXIT_OK


async def _batch(
    entries: AsyncIterator[ListEntry],
    folder: Path,
    options: Options,
    on_event: Callable[[Event], None],
    renderer: Renderer,
) -> bool:
    """Run the batch; True if Ctrl-C or SIGTERM stopped it. The first signal cancels the
    batch (partial files and the journal are kept); a second one exits at once."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal() -> None:
        nonlocal stopping
        if stopping:
            renderer.abort()
            print("adl: stopped at once; run the same command to resume", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        stopping = True
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    ticker = asyncio.create_task(_tick(renderer))
    try:
        results = run_batch(entries, folder, options, on_event)
        async with contextlib.aclosing(results):
            async for _ in results:
                pass
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        ticker.cancel()
    return stopping


async def _tick(renderer: Renderer) -> None:
    """Redraw the progress on a timer: the clock and the rate move while nothing arrives."""
    while True:
        renderer.tick()
        await asyncio.sleep(0.2)


def _unfinished(lists: ListSources, finished: int) -> int:
    """URLs of an interrupted batch that did not end: all listed ones when the lists can be
    counted, else those read before the stop."""
    listed = lists.count_urls()
    return max((listed if listed is not None else lists.read) - finished, 0)


def _renderer(lists: ListSources, *, quiet: bool, debug: bool) -> Renderer:
    if quiet or debug or not sys.stderr.isatty() or lists.reads_a_terminal():
        return LineRenderer(sys.stdout, quiet=quiet, debug=debug, where=lists.where)
    from .progress import TqdmRenderer  # only a terminal pays for importing tqdm

    return TqdmRenderer(lists.count_urls(), where=lists.where)


def _loop_factory():
    """uvloop when installed (the `fast` extra): it makes small files noticeably cheaper."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]  # the optional extra
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
