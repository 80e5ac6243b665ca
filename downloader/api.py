"""The library's entry points: `iter_downloads` and `download_all`.

This module owns the ClientSession's and the journal's lifetimes. Options are keyword-only,
with the same names and defaults as the CLI flags.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Any, Literal

import aiohttp

from .engine import Sleep
from .engines import check_pool_options, engine_for
from .errors import DamagedJournalError, OptionsError
from .events import Event, Notice
from .inputs import ListEntry, entries_from_urls
from .integrity import Checksums, load_checksums
from .items import Item
from .journal import COMMIT_EVERY_SECONDS, JOURNAL_DIR, Journal, MemoryJournal, open_journal
from .journalfile import end_rebuild
from .options import MiB, OnExists, Options
from .ratelimit import Limits
from .request import Requester, RequestPolicy
from .results import BatchResult, Result
from .session import open_session
from .transfer import Transfer


async def download_all(
    urls: Iterable[str | Item],
    dest: str | os.PathLike[str] = ".",
    jobs: int = 5,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    connect_timeout: float = 30.0,
    on_exists: OnExists | str = OnExists.SKIP,
    per_host: int = 0,
    chunk_size: int = 1 * MiB,
    max_redirects: int = 10,
    content_disposition: bool = False,
    resume: bool = True,
    stall_speed: int = 1024,
    stall_time: float = 60.0,
    headers: Mapping[str, str] | Iterable[str] = (),
    user_agent: str | None = None,
    referer: str | None = None,
    user: str | None = None,
    netrc: bool = True,
    netrc_file: str | None = None,
    load_cookies: str | None = None,
    save_cookies: str | None = None,
    proxy: str | None = None,
    no_proxy: str | None = None,
    ca_certificate: str | None = None,
    insecure: bool = False,
    certificate: str | None = None,
    private_key: str | None = None,
    location_trusted: bool = False,
    checksums: str | None = None,
    check_integrity: bool = False,
    limit_rate: int | None = None,
    split: int = 1,
    min_split_size: int | str = 20 * MiB,
    procs: int | Literal["auto"] = 1,
    cluster: str | Any = None,
    on_event: Callable[[Event], None] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> BatchResult:
    """Download every URL into `dest`; return one Result per URL, in input order.

    An item of `urls` is a URL, or an `Item` with mirrors, a name, a subfolder, a checksum
    or request options of its own (what a line of an aria2c input file says).

    Failed files are reported in the result (`.ok`, `.failed`), never raised. With
    `resume=True` (the default) a journal in `dest/.adl` lets a second call finish what an
    interrupted one started. `session` lets you bring your own aiohttp.ClientSession.
    Request options (`headers`, `user`, `proxy`, `ca_certificate`, ...) are the CLI's:
    credentials and secret headers go only to each URL's own origin (see README).
    `load_cookies` / `save_cookies` act on the jar of the session in use: with `session`,
    the file's cookies join the caller's jar (under its rules) and the whole jar is saved.
    `limit_rate` (bytes per second) is one budget shared by every file of the batch; an
    `Item.limit_rate` caps its own file on top of it.
    `split` (1 to 16) lets a file of at least twice `min_split_size` bytes (an int, or text
    such as "20M") come over that many connections at once (an `Item`'s own `split` wins).
    `procs` runs the transfers in that many worker processes ("auto": one per core), and
    `cluster` on a Dask cluster (its scheduler's address, or a `distributed.Client`); one
    journal and the same names either way (see README, "Past one core").
    """
    options = _options_from(locals())
    entries = entries_from_urls(_each_url(urls))
    results = [r async for r in run_batch(entries, dest, options, on_event, session)]
    results.sort(key=lambda r: r.line_no)
    return BatchResult(tuple(results))


def iter_downloads(
    urls: Iterable[str | Item],
    dest: str | os.PathLike[str] = ".",
    jobs: int = 5,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    connect_timeout: float = 30.0,
    on_exists: OnExists | str = OnExists.SKIP,
    per_host: int = 0,
    chunk_size: int = 1 * MiB,
    max_redirects: int = 10,
    content_disposition: bool = False,
    resume: bool = True,
    stall_speed: int = 1024,
    stall_time: float = 60.0,
    headers: Mapping[str, str] | Iterable[str] = (),
    user_agent: str | None = None,
    referer: str | None = None,
    user: str | None = None,
    netrc: bool = True,
    netrc_file: str | None = None,
    load_cookies: str | None = None,
    save_cookies: str | None = None,
    proxy: str | None = None,
    no_proxy: str | None = None,
    ca_certificate: str | None = None,
    insecure: bool = False,
    certificate: str | None = None,
    private_key: str | None = None,
    location_trusted: bool = False,
    checksums: str | None = None,
    check_integrity: bool = False,
    limit_rate: int | None = None,
    split: int = 1,
    min_split_size: int | str = 20 * MiB,
    procs: int | Literal["auto"] = 1,
    cluster: str | Any = None,
    on_event: Callable[[Event], None] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> AsyncIterator[Result]:
    """Like `download_all`, but yield each Result as its file completes.

    `urls` is consumed lazily: a generator over a file of millions of lines is fine.
    """
    # A plain function returning the batch's async generator, so that misuse (a str for
    # `urls`, a bad option) raises here, at the call, not at the first iteration.
    options = _options_from(locals())
    entries = entries_from_urls(_each_url(urls))
    policy = RequestPolicy.from_options(options)
    table = load_checksums(options.checksums)
    return run_batch(entries, dest, options, on_event, session, policy=policy, checksums=table)


async def run_batch(
    entries: Iterable[ListEntry] | AsyncIterable[ListEntry],
    dest: str | os.PathLike[str],
    options: Options,
    on_event: Callable[[Event], None] | None = None,
    session: aiohttp.ClientSession | None = None,
    *,
    sleep: Sleep | None = None,
    policy: RequestPolicy | None = None,
    checksums: Checksums | None = None,
    limits: Limits | None = None,
    progress_events: bool = True,
) -> AsyncGenerator[Result, None]:
    """The batch behind both entry points (and the CLI), on already-parsed list entries.
    `sleep` is a seam for tests: backoff waits go through it. `policy`: what requests carry,
    and `checksums`: the --checksums file's table, when the caller has checked them already
    (else they are made from `options` here), and `limits`: the byte budgets, a seam for
    tests (a fake clock). Without `progress_events` (nothing draws them), worker processes
    send no FileStarted or FileProgress: one FileProgress comes as each of their files
    ends, with the bytes it received. An exception raised by `on_event` stops the batch (transfers
    cancelled, journal flushed) and is raised here."""
    check_pool_options(options, session)
    emit = _carried(on_event) if on_event is not None else _ignore
    policy = policy or RequestPolicy.from_options(options)
    if checksums is None:
        checksums = load_checksums(options.checksums)
    try:
        limits = limits or Limits(options.limit_rate)
        batch = _run(
            entries,
            prepare_dest(dest),
            options,
            policy,
            checksums,
            emit,
            session,
            sleep,
            limits,
            progress_events,
        )
        async with aclosing(batch):  # a caller that stops early stops the transfers now
            async for result in batch:
                yield result
    except _HandlerError as carrier:
        error = carrier.error
    else:
        return
    raise error  # outside the except clause: the caller's exception, not chained to ours


async def _run(
    entries: Iterable[ListEntry] | AsyncIterable[ListEntry],
    folder: Path,
    options: Options,
    policy: RequestPolicy,
    checksums: Checksums,
    emit: Callable[[Event], None],
    session: aiohttp.ClientSession | None,
    sleep: Sleep | None,
    limits: Limits,
    progress_events: bool,
) -> AsyncGenerator[Result, None]:
    journal = _journal_or_memory(folder, options, emit)
    committer = asyncio.create_task(_commit_on_a_timer(journal))
    try:
        if journal.recovered:  # a damaged journal was moved aside: say so, once
            emit(Notice(journal.recovered))
        async with (
            open_session(options, session) as http,
            policy.cookies.kept_in(http.cookie_jar, emit),  # a caller's session: its jar
            AsyncExitStack() as stack,
        ):
            requester = Requester(http, policy, max_redirects=options.max_redirects)
            transfer = Transfer(requester, folder, options, journal, emit, checksums)
            engines = engine_for(
                transfer,
                journal,
                options,
                emit,
                jar=http.cookie_jar,
                policy=policy,
                limits=limits,
                sleep=sleep or asyncio.sleep,
                progress=progress_events,
            )
            engine = await stack.enter_async_context(engines)  # workers, with procs/cluster
            items = _aiter(entries)
            results = engine.run(items)
            # Both generators closed here and now, in this order: left to the garbage
            # collector, a list reader would be closed later, in a task of its own.
            async with aclosing(items), aclosing(results):
                async for result in results:
                    yield result
        if journal.rebuilding:  # every listed URL has its row again
            end_rebuild(folder / JOURNAL_DIR)
    finally:
        committer.cancel()  # cancelled while it waits: it never touches the closed journal
        journal.close()


async def _commit_on_a_timer(journal: Journal) -> None:
    """Commit the journal's pending changes every COMMIT_EVERY_SECONDS. Commits are otherwise
    batched on the next change, and a file that finishes while the others are mid-body
    would wait for their end to show as done in `adl status`. The engine does not know."""
    if isinstance(journal, MemoryJournal):
        return  # nothing to commit, and nobody can look
    while True:
        await asyncio.sleep(COMMIT_EVERY_SECONDS)
        journal.flush_pending()


class _HandlerError(BaseException):
    """Carries an exception raised by the caller's `on_event` out of the batch.

    The handler is called from inside transfers, whose `except Exception` turns whatever a
    request raises into a failed file: the caller's bug would become every file's failure.
    A BaseException passes those handlers as a cancel does, and ends the batch the same way
    (other transfers cancelled, partial files kept, journal flushed); `run_batch` then
    raises the caller's own exception."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _carried(handler: Callable[[Event], None]) -> Callable[[Event], None]:
    def emit(event: Event) -> None:
        try:
            handler(event)
        except Exception as exc:
            raise _HandlerError(exc) from exc

    return emit


def _each_url(urls: object) -> Iterator[object]:
    """An iterator over the caller's URLs. A single URL (a str, say) would be iterated
    character by character, one failed file each: that is misuse, a TypeError now."""
    if isinstance(urls, str | bytes | bytearray):
        kind = type(urls).__name__
        raise TypeError(f"urls must be an iterable of URLs, not a {kind}: for one URL, pass [url]")
    try:
        return iter(urls)  # type: ignore[call-overload]
    except TypeError:
        kind = type(urls).__name__
        raise TypeError(f"urls must be an iterable of URLs, not {kind}") from None


def _options_from(arguments: dict[str, Any]) -> Options:
    """The Options among an entry point's arguments (its `locals()`). The signatures spell
    every knob out for readers and editors; this keeps them from also repeating the mapping.
    (Any: Options checks every value at run time, as a library caller may pass anything.)"""
    names = Options.names()
    return Options(**{name: value for name, value in arguments.items() if name in names})


def prepare_dest(dest: str | os.PathLike[str]) -> Path:
    """The output folder, created if missing; misuse (a file in the way) raises OptionsError."""
    folder = Path(dest).absolute()
    if folder.exists() and not folder.is_dir():
        raise OptionsError(f"output path {str(dest)!r} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionsError(f"cannot create output folder {str(dest)!r}: {exc.strerror}") from exc
    return folder


def _journal_or_memory(folder: Path, options: Options, emit: Callable[[Event], None]) -> Journal:
    """The folder's journal; when it cannot be kept (read-only folder, say) the batch still
    runs and each file fails or succeeds on its own, just without resumability."""
    try:
        return open_journal(folder, persistent=options.resume)
    except (OSError, sqlite3.Error, DamagedJournalError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        emit(Notice(f"cannot keep a journal in {folder}: {reason}; this run cannot be resumed"))
        return MemoryJournal()


async def _aiter(
    entries: Iterable[ListEntry] | AsyncIterable[ListEntry],
) -> AsyncGenerator[ListEntry, None]:
    """The engine reads entries asynchronously: a list on a pipe must never block it."""
    if isinstance(entries, AsyncIterable):
        async for entry in entries:
            yield entry
    else:
        for entry in entries:
            yield entry


def _ignore(event: Event) -> None:
    pass
