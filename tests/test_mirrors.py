"""Mirrors: the next URL of a file is tried when the failure at one is one that retrying it
will not fix; a resume across mirrors only as validators allow; Result.source says which
URL served the file. Real servers on 127.0.0.1, backoff through a fake sleep."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from downloader.api import run_batch
from downloader.errors import (
    ConnectError,
    DiskError,
    DownloadError,
    HostDownError,
    HostNotFoundError,
    HTTPStatusError,
    IncompleteBodyError,
    TLSError,
)
from downloader.events import Event, FileRetrying
from downloader.inputs import entries_from_urls
from downloader.items import Item
from downloader.mirrors import failure_message, next_mirror_helps
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep, random_bytes
from .fileserver import Fault, FileServer

MiB = 1024 * 1024


async def fetch(items, dest: Path, *, sleep=None, events=None, **options) -> list[Result]:
    handler = events.append if events is not None else None
    batch = run_batch(
        entries_from_urls(items), dest, Options(**options), handler, sleep=sleep or FakeSleep()
    )
    return sorted([r async for r in batch], key=lambda r: r.line_no)


# --- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "helps"),
    [
        (HTTPStatusError(404), True),
        (HTTPStatusError(403), True),
        (HTTPStatusError(410), True),
        (HTTPStatusError(503), True),  # only ever seen after its retries were used up
        (HTTPStatusError(429), True),
        (HostNotFoundError("cannot resolve host x"), True),
        (ConnectError("cannot connect to x:1: Connection refused"), True),
        (HostDownError("not tried: x did not answer"), True),
        (IncompleteBodyError("connection cut mid-body"), True),
        (TLSError("certificate verify failed"), True),
        (DownloadError("body longer than announced"), True),
        (DiskError("No space left on device", disk_full=True), False),
        (DiskError("Permission denied"), False),
    ],
)
def test_next_mirror_helps(error, helps):
    assert next_mirror_helps(error) is helps


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ([("http://a/x", "HTTP 404 Not Found")], "HTTP 404 Not Found"),
        (
            [("http://a/x", "HTTP 404 Not Found"), ("https://u:pw@B:8443/x", "HTTP 410 Gone")],
            "2 mirrors tried: a: HTTP 404 Not Found; b:8443: HTTP 410 Gone",
        ),
        (
            [("http://a/x", "HTTP 404 Not Found"), ("http://u:pw@a/y", "HTTP 403 Forbidden")],
            "2 mirrors tried: http://a/x: HTTP 404 Not Found; http://u:***@a/y: HTTP 403 Forbidden",
        ),
    ],
)
def test_failure_message_names_each_mirror_briefly(reasons, message):
    assert failure_message(reasons) == message


# --- against servers --------------------------------------------------------------------------


@pytest.fixture
def mirror(elsewhere):
    """The second origin (conftest's `elsewhere`), as the mirror of `server`."""
    return elsewhere


async def test_a_404_moves_on_to_the_next_mirror(server, mirror, tmp_path):
    mirror.add("f.bin", b"from the mirror")
    events: list[Event] = []
    item = Item(url=server.url("f.bin"), mirrors=(mirror.url("f.bin"),))

    [result] = await fetch([item], tmp_path, events=events)

    assert result.state is State.DONE, result
    assert result.url == server.url("f.bin")  # the item is known by its first URL
    assert result.source == mirror.url("f.bin")
    assert result.attempts == 2
    assert (tmp_path / "f.bin").read_bytes() == b"from the mirror"
    assert server.requests["f.bin"] == 1  # a 404 is not retried at the same URL
    [switch] = [e for e in events if isinstance(e, FileRetrying)]
    assert switch.reason == f"HTTP 404 Not Found; trying mirror {mirror.url('f.bin')}"


async def test_every_done_file_names_its_source(server, tmp_path):
    server.add("a.bin", b"a")
    [result] = await fetch([server.url("a.bin")], tmp_path)
    assert result.source == server.url("a.bin")


async def test_a_refused_port_is_retried_then_the_mirror_serves(mirror, tmp_path):
    mirror.add("f.bin", b"mirrored")
    mirror.add("g.bin", b"also mirrored")
    sleep = FakeSleep()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        items = [
            Item(url=f"{dead}/f.bin", mirrors=(mirror.url("f.bin"),)),
            Item(url=f"{dead}/g.bin", mirrors=(mirror.url("g.bin"),)),
        ]
        results = await fetch(items, tmp_path, sleep=sleep, retries=2, jobs=1)

    assert [r.state for r in results] == [State.DONE, State.DONE], results
    assert [r.source for r in results] == [mirror.url("f.bin"), mirror.url("g.bin")]
    # The first file used its retries on the dead host; the second, queued behind it,
    # was told the host is given up on and went to its mirror at once.
    assert len(sleep.delays) == 2
    assert results[0].attempts == 3 + 1
    assert results[1].attempts == 1
    assert (tmp_path / "g.bin").read_bytes() == b"also mirrored"


async def test_when_every_mirror_fails_the_message_names_each(server, mirror, tmp_path):
    mirror.add("f.bin", b"x")
    mirror.fail_next("f.bin", *[Fault("status", status=503)] * 3)
    item = Item(url=server.url("f.bin"), mirrors=(mirror.url("f.bin"),))

    [result] = await fetch([item], tmp_path, retries=2)

    assert result.state is State.FAILED
    assert result.error == (
        f"2 mirrors tried: {server.url('/')[7:-1]}: HTTP 404 Not Found; "
        f"{mirror.url('/')[7:-1]}: HTTP 503 Service Unavailable after 3 attempts"
    )
    assert result.status == 503
    assert result.attempts == 4
    assert result.source is None


async def test_a_plain_url_keeps_its_plain_message(server, tmp_path):
    [result] = await fetch([server.url("gone.bin")], tmp_path)
    assert result.error == "HTTP 404 Not Found"


def cut_every_time(files: FileServer, name: str, attempts: int) -> None:
    files.fail_next(name, *[Fault("cut", after=MiB + MiB // 2)] * attempts)


async def test_a_mirror_of_the_same_version_resumes_the_part(server, mirror, tmp_path):
    body = random_bytes(4 * MiB, seed=7)
    server.add("big.bin", body)
    mirror.add("big.bin", body)  # same bytes, same validators
    cut_every_time(server, "big.bin", 2)
    item = Item(url=server.url("big.bin"), mirrors=(mirror.url("big.bin"),))

    [result] = await fetch([item], tmp_path, retries=1)

    assert result.state is State.DONE, result
    assert result.source == mirror.url("big.bin")
    assert (tmp_path / "big.bin").read_bytes() == body
    [(_, header, if_range)] = mirror.range_requests
    assert header.startswith("bytes=") and if_range == server.files["big.bin"].etag
    assert mirror.bytes_sent["big.bin"] < len(body)


async def test_a_mirror_with_another_version_starts_over_never_splicing(server, mirror, tmp_path):
    old, new = random_bytes(4 * MiB, seed=1), random_bytes(4 * MiB, seed=2)
    server.add("big.bin", old)
    mirror.add("big.bin", new)  # another version: other validators
    cut_every_time(server, "big.bin", 2)
    item = Item(url=server.url("big.bin"), mirrors=(mirror.url("big.bin"),))

    [result] = await fetch([item], tmp_path, retries=1)

    assert result.state is State.DONE, result
    assert (tmp_path / "big.bin").read_bytes() == new
    [(_, _, if_range)] = mirror.range_requests  # asked to resume, only if unchanged
    assert if_range == server.files["big.bin"].etag
    assert mirror.bytes_sent["big.bin"] == len(new)  # so the whole file came
