"""Running `adl get` from the command line: renderers, Ctrl-C and SIGTERM, the summary line
and the exit code. Imported by `get` only: `adl --help` and `adl status` load none of it."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .errors import AdlError
from .events import Event, Notice
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, usage_error
from .jsonlines import JsonLinesWriter
from .options import Options
from .redact import for_display
from .report import LineRenderer, Renderer, Tally, print_line

if TYPE_CHECKING:  # imported when a batch runs: they bring aiohttp
    from .inputs import ListEntry
    from .integrity import Checksums
    from .request import RequestPolicy
    from .sources import ListSources


def run_get(
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
        usage_error(str(exc))
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

        results = run_batch(
            entries,
            folder,
            options,
            on_event,
            policy=policy,
            checksums=checksums,
            progress_events=renderer.shows_progress,
        )
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
