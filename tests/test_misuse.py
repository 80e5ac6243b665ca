"""Library misuse is an exception, not a batch of failed files: a single URL passed as
`urls`, and an exception raised by the caller's own `on_event` handler."""

from __future__ import annotations

import re

import pytest

from downloader import FileFinished, FileProgress, State, download_all, iter_downloads
from downloader.journal import Status, read_journal

from .conftest import random_bytes
from .fileserver import Fault

KiB = 1024


async def via_download_all(urls, dest, **options):
    return list(await download_all(urls, dest, **options))


async def via_iter_downloads(urls, dest, **options):
    return [r async for r in iter_downloads(urls, dest, **options)]


ENTRY_POINTS = [via_download_all, via_iter_downloads]


# -- urls that are not an iterable of URLs ----------------------------------------------------

NOT_URL_LISTS = [
    ("https://example.org/file.iso", "not a str: for one URL, pass [url]"),
    (b"https://example.org/file.iso", "not a bytes: for one URL, pass [url]"),
    (42, "not int"),
    (None, "not NoneType"),
]


@pytest.mark.parametrize(("urls", "message"), NOT_URL_LISTS)
async def test_download_all_refuses_a_single_url_or_a_non_iterable(tmp_path, urls, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        await download_all(urls, tmp_path / "out")

    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("urls", "message"), NOT_URL_LISTS)
def test_iter_downloads_refuses_them_when_called_before_any_iteration(tmp_path, urls, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        iter_downloads(urls, tmp_path / "out")

    assert not (tmp_path / "out").exists()


# -- an exception in the caller's event handler -----------------------------------------------


class HandlerBug(Exception):
    pass


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("where", ["in a transfer", "in the engine"])
async def test_an_on_event_exception_propagates_after_stopping_and_flushing(
    server, tmp_path, entry, where
):
    """The caller's exception comes out as itself; the other transfers were stopped (their
    partial files kept) and the journal flushed: a rerun skips what was done and resumes
    the rest."""
    # done.txt ends after 0.25 s, when the slow files are well under way.
    server.add("done.txt", random_bytes(32 * KiB, seed=9))
    server.fail_next("done.txt", Fault("trickle", rate=128 * KiB))
    bodies = {f"slow{i}.bin": random_bytes(256 * KiB, seed=i) for i in range(2)}
    for name, body in bodies.items():
        server.add(name, body)
        server.fail_next(name, Fault("trickle", rate=128 * KiB))  # 2 s each, if not stopped
    urls = [server.url("done.txt"), *(server.url(name) for name in bodies)]
    bug = HandlerBug("the caller's handler is broken")
    finished = []

    def handler(event) -> None:
        # FileFinished is emitted by the engine; FileProgress from inside a transfer.
        if isinstance(event, FileFinished) and event.result.url == urls[0]:
            finished.append(event)
            if where == "in the engine":
                raise bug
        if where == "in a transfer" and finished and isinstance(event, FileProgress):
            raise bug

    with pytest.raises(HandlerBug) as caught:
        await entry(urls, tmp_path, chunk_size=16 * KiB, on_event=handler)

    assert caught.value is bug
    assert not any((tmp_path / name).exists() for name in bodies)  # stopped, not finished
    journal = read_journal(tmp_path)
    assert journal is not None
    assert journal.get(urls[0]).state is Status.DONE
    journal.close()

    rerun = await download_all(urls, tmp_path, chunk_size=16 * KiB)

    assert [r.state for r in rerun] == [State.SKIPPED, State.DONE, State.DONE]
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body
    assert rerun[1].received < len(bodies["slow0.bin"])  # resumed from the kept part
