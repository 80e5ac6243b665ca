"""The `adl` command (typer): the only module that imports typer and calls asyncio.run.

It parses flags, picks renderers, runs the batch and maps the outcome to an exit code:
0 all done or skipped, 1 some files failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import gc
import getpass
import json
import os
import signal
import sqlite3
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO

import typer

from . import cli_flags as flags
from ._version import __version__
from .errors import AdlError, OptionsError
from .events import Event, Notice
from .integrity import load_checksums
from .journal import read_journal
from .journalfile import unreadable_journal
from .jsonlines import JsonLinesWriter
from .options import OnExists, Options
from .redact import for_display
from .report import LineRenderer, Renderer, Tally, print_line
from .status import read_status, status_data, status_lines

if TYPE_CHECKING:  # at run time, `get` imports these: they bring aiohttp (~0.3 s of start-up)
    from .inputs import ListEntry
    from .integrity import Checksums
    from .request import RequestPolicy
    from .sources import ListSources

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


@app.command(help=flags.GET_HELP, short_help="Download URLs from lists or arguments into a folder.")
def get(
    sources: flags.Sources,
    jobs: flags.Jobs = 5,
    output: flags.Output = Path("."),
    quiet: flags.Quiet = False,
    on_exists: flags.OnExistsFlag = OnExists.SKIP,
    content_disposition: flags.ContentDisposition = False,
    no_journal: flags.NoJournal = False,
    debug: flags.Debug = False,
    retries: flags.Retries = 5,
    timeout: flags.Timeout = 60.0,
    connect_timeout: flags.ConnectTimeout = 30.0,
    per_host: flags.PerHost = 0,
    headers: flags.Headers = None,
    user_agent: flags.UserAgent = None,
    referer: flags.Referer = None,
    user: flags.User = None,
    netrc_file: flags.NetrcFile = None,
    no_netrc: flags.NoNetrc = False,
    load_cookies: flags.LoadCookies = None,
    save_cookies: flags.SaveCookies = None,
    location_trusted: flags.LocationTrusted = False,
    proxy: flags.Proxy = None,
    no_proxy: flags.NoProxy = None,
    ca_certificate: flags.CaCertificate = None,
    insecure: flags.Insecure = False,
    certificate: flags.Certificate = None,
    private_key: flags.PrivateKey = None,
    checksums: flags.Checksums = None,
    check_integrity: flags.CheckIntegrity = False,
    json_lines: flags.JsonLines = False,
    procs: flags.Procs = 1,
    cluster: flags.Cluster = None,
) -> None:
    settings = {name: value for name, value in locals().items() if name in Options.names()}
    if procs > 1 and cluster is None:  # their imports overlap ours (spawn.py)
        from .spawn import prestart

        prestart(min(procs, jobs) - 1)  # this process is one of them
    from .api import prepare_dest
    from .request import RequestPolicy
    from .sources import ListSources

    try:
        options = Options(
            **{**settings, "headers": tuple(headers or ()), "user": _with_password(user)},
            resume=not no_journal,
            netrc=not no_netrc,
        )
        policy = RequestPolicy.from_options(options)
        table = load_checksums(options.checksums)
        lists = ListSources(sources, sys.stdin.buffer)
    except OptionsError as exc:
        _usage_error(str(exc))
    try:
        folder = prepare_dest(output)  # only once the lists opened: no stray folders
    except OptionsError as exc:
        lists.close()
        _usage_error(str(exc))
    if insecure:
        print("adl: warning: --insecure: TLS certificates are not verified", file=sys.stderr)
    try:
        code = _run(
            lists, folder, options, policy, table, quiet=quiet, debug=debug, json_lines=json_lines
        )
    finally:
        lists.close()
    raise typer.Exit(code)


def _with_password(user: str | None) -> str | None:
    """-u USER without :PASSWORD: ask for it without echo, as curl does, when a person is
    at the terminal; otherwise there is nobody to ask, and that is a usage error."""
    if user is None or ":" in user:
        return user
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise OptionsError(f"-u {user}: give the password as {user}:PASSWORD (no terminal to ask)")
    return f"{user}:{getpass.getpass(f'Password for {user}: ', stream=sys.stderr)}"


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
    try:
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
    except (AdlError, sqlite3.Error) as exc:
        _usage_error(unreadable_journal(output, exc))


def _run(
    lists: ListSources,
    folder: Path,
    options: Options,
    policy: RequestPolicy,
    checksums: Checksums,
    *,
    quiet: bool,
    debug: bool,
    json_lines: bool,
) -> int:
    tally = Tally()
    # --json: stdout carries the records alone (a script reads it with jq); people read stderr.
    human = sys.stderr if json_lines else sys.stdout
    renderer = _renderer(lists, human, quiet=quiet, debug=debug)
    records = JsonLinesWriter(sys.stdout, lists.line_in_list) if json_lines else None

    def on_event(event: Event) -> None:
        tally(event)
        if records is not None:
            records(event)
        renderer(event)

    interrupted = False
    # Everything imported so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise walk it again and again during a batch.
    gc.freeze()
    import asyncio  # here: `adl --version` and `adl status` start faster without it

    try:
        from .session import loop_factory

        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            entries = lists.entries(warn=lambda message: on_event(Notice(message)))
            batch = _batch(entries, folder, options, policy, checksums, on_event, renderer)
            interrupted = runner.run(batch)
    except AdlError as exc:
        renderer.close()
        _usage_error(str(exc))
    except Exception:
        renderer.close()
        if debug:  # masked: a traceback may quote a URL with its password
            print(for_display(traceback.format_exc()), file=sys.stderr)
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
    # sys.stdout itself is replaced once its reader has left: Python's exit-time flush of the
    # dead pipe must not print a traceback.
    shown = print_line(summary, human)
    sys.stdout = records.stream if records is not None else shown
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if tally.failed else EXIT_OK


async def _batch(
    entries: AsyncIterator[ListEntry],
    folder: Path,
    options: Options,
    policy: RequestPolicy,
    checksums: Checksums,
    on_event: Callable[[Event], None],
    renderer: Renderer,
) -> bool:
    """Run the batch; True if Ctrl-C or SIGTERM stopped it. The first signal cancels the
    batch (partial files and the journal are kept); a second one exits at once."""
    import asyncio

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
        from .api import run_batch

        results = run_batch(entries, folder, options, on_event, policy=policy, checksums=checksums)
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
    import asyncio

    while True:
        renderer.tick()
        await asyncio.sleep(0.2)


def _unfinished(lists: ListSources, finished: int) -> int:
    """URLs of an interrupted batch that did not end: all listed ones when the lists can be
    counted, else those read before the stop."""
    listed = lists.count_urls()
    return max((listed if listed is not None else lists.read) - finished, 0)


def _renderer(lists: ListSources, lines_to: TextIO, *, quiet: bool, debug: bool) -> Renderer:
    """Bars on stderr when it is a terminal, else plain lines to LINES_TO."""
    if quiet or debug or not sys.stderr.isatty() or lists.reads_a_terminal():
        return LineRenderer(
            lines_to, quiet=quiet, debug=debug, where=lists.where, notices_to=sys.stderr
        )
    from .progress import TqdmRenderer  # only a terminal pays for importing tqdm

    return TqdmRenderer(lists.count_urls(), where=lists.where)


def _usage_error(message: str) -> NoReturn:
    print(f"adl: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_USAGE)


def main() -> None:
    try:
        app(prog_name="adl")
    except KeyboardInterrupt:  # Ctrl-C before the batch's own handler is installed
        sys.exit(EXIT_INTERRUPTED)
