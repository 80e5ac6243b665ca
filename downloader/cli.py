"""The `adl` command (typer): the only module that imports typer and calls asyncio.run.

It parses flags, picks renderers, runs the batch and maps the outcome to an exit code:
0 all done or skipped, 1 some files failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import cli_flags as flags
from ._version import __version__
from .exits import EXIT_INTERRUPTED, usage_error
from .options import OnExists, Options

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
    split: flags.Split = 1,
    min_split_size: flags.MinSplitSize = 20 * 1024 * 1024,
    json_lines: flags.JsonLines = False,
    limit_rate: flags.LimitRate = None,
    procs: flags.Procs = 1,
    cluster: flags.Cluster = None,
) -> None:
    settings = {name: value for name, value in locals().items() if name in Options.names()}
    from . import castore

    castore.import_aiohttp()  # before api.py imports it: its CA store read aside
    from .api import prepare_dest
    from .clirun import run_get
    from .errors import OptionsError
    from .integrity import load_checksums
    from .request import RequestPolicy
    from .sources import ListSources

    try:
        options = Options(
            **{
                **settings,
                "headers": tuple(headers or ()),
                "limit_rate": _rate("--limit-rate", limit_rate),
                "user": _with_password(user),  # last: a bad value is told before a prompt
            },
            resume=not no_journal,
            netrc=not no_netrc,
        )
        policy = RequestPolicy.from_options(options)
        table = load_checksums(options.checksums)
        lists = ListSources(sources, sys.stdin.buffer)
    except OptionsError as exc:
        usage_error(str(exc))
    try:
        folder = prepare_dest(output)  # only once the lists opened: no stray folders
    except OptionsError as exc:
        lists.close()
        usage_error(str(exc))
    if insecure:
        print("adl: warning: --insecure: TLS certificates are not verified", file=sys.stderr)
    _fork_workers(options)
    try:
        code = run_get(
            lists, folder, options, policy, table, quiet=quiet, debug=debug, json_lines=json_lines
        )
    finally:
        lists.close()
    raise typer.Exit(code)


def _fork_workers(options: Options) -> None:
    """--procs: the workers, forked now that this process has imported all they run and
    before it starts a thread (the CA store's is waited for) or an event loop (spawn.py)."""
    from . import castore
    from .engines import pooled
    from .lanes import lane_count
    from .spawn import fork_ahead

    if pooled(options) and options.cluster is None:
        with contextlib.suppress(Exception):  # raised again where the session opens
            castore.ready()
        fork_ahead(lane_count(options, options.procs) - 1)  # and this process (lanes.py)


def _rate(flag: str, text: str | None) -> int | None:
    from .errors import OptionsError
    from .units import parse_rate

    try:
        return None if text is None else parse_rate(text)
    except ValueError as exc:
        raise OptionsError(f"{flag}: {exc}") from None


def _with_password(user: str | None) -> str | None:
    """-u USER without :PASSWORD: ask for it without echo, as curl does, when a person is
    at the terminal; otherwise there is nobody to ask, and that is a usage error."""
    if user is None or ":" in user:
        return user
    from .errors import OptionsError

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise OptionsError(f"-u {user}: give the password as {user}:PASSWORD (no terminal to ask)")
    import getpass

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
    import json
    import sqlite3

    from .errors import AdlError
    from .journal import read_journal
    from .journalfile import unreadable_journal
    from .status import read_status, status_data, status_lines

    dest = output.absolute()
    try:
        journal = read_journal(dest)
        if journal is None:
            usage_error(f"no adl batch in {output} (no {output}/.adl/journal.sqlite)")
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
        usage_error(unreadable_journal(output, exc))


def main() -> None:
    try:
        app(prog_name="adl")
    except KeyboardInterrupt:  # Ctrl-C before the batch's own handler is installed
        sys.exit(EXIT_INTERRUPTED)
