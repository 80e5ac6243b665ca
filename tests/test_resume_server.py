"""Resume against a real server: Range/If-Range, 200/206/416 answers, changed files, reruns.

The invariant behind every test: a final file is byte-exact, never two versions spliced, and
a resume continues from the bytes on disk instead of starting over (checked with the server's
byte and Range counters). Backoff waits go through a fake sleep, so nothing here waits.
"""

from __future__ import annotations

import os
from pathlib import Path

from downloader.api import run_batch
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep, random_bytes
from .fileserver import Fault

MiB = 1024 * 1024
SIZE = 3 * MiB


async def fetch(urls: list[str], dest: Path, **options) -> list[Result]:
    """One batch with `Options(**options)`, results in input order."""
    batch = run_batch(entries_from_urls(urls), dest, Options(**options), sleep=FakeSleep())
    results = [r async for r in batch]
    return sorted(results, key=lambda r: r.line_no)


async def leave_part(server, dest: Path, name: str, prefix: bytes) -> None:
    """An earlier run that died mid-body: the journal knows the file's validators and
    DEST/NAME.part holds `prefix` (the first bytes of some version of the file)."""
    server.fail_next(name, Fault("cut", after=64 * 1024))
    [result] = await fetch([server.url(name)], dest, retries=0)
    assert result.state is State.FAILED
    (dest / (name + ".part")).write_bytes(prefix)
    assert not (dest / name).exists()


def ranged(server, name: str) -> list[str]:
    """The Range headers sent for /name."""
    return [h["Range"] for path, h in server.request_headers if path == "/" + name and "Range" in h]


# -- resume within one run ---------------------------------------------------------------------


async def test_body_cut_mid_way_is_retried_with_range_from_the_bytes_on_disk(server, tmp_path):
    body = random_bytes(SIZE, seed=1)
    server.add("big.bin", body)
    server.fail_next("big.bin", Fault("cut", after=MiB))
    server.rate = 16 * MiB  # pauses between pieces let the client drain them before the cut

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert result.attempts == 2
    assert (tmp_path / "big.bin").read_bytes() == body
    [(name, header, if_range)] = server.range_requests
    assert name == "big.bin" and if_range == server.files["big.bin"].etag
    offset = int(header.removeprefix("bytes=").removesuffix("-"))
    assert 0 < offset <= MiB  # what reached the .part, never more than the server sent
    assert server.bytes_sent["big.bin"] == MiB + (SIZE - offset)
    assert server.bytes_sent["big.bin"] < 1.5 * SIZE
    assert not (tmp_path / "big.bin.part").exists()
    # Received in this run: the first attempt's `offset` bytes and the rest, not just the
    # last attempt's SIZE - offset.
    assert result.received == SIZE


async def test_several_cuts_in_one_run_each_resume_where_the_last_stopped(server, tmp_path):
    body = random_bytes(SIZE, seed=2)
    server.add("big.bin", body)
    server.fail_next("big.bin", *[Fault("cut", after=768 * 1024)] * 3)
    server.rate = 16 * MiB

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    offsets = [int(h.removeprefix("bytes=").removesuffix("-")) for _, h, _ in server.range_requests]
    assert len(offsets) == 3
    assert 0 < offsets[0] < offsets[1] < offsets[2]  # each retry continues the .part
    assert server.bytes_sent["big.bin"] < 1.5 * SIZE


async def test_a_failed_result_reports_the_bytes_it_received(server, tmp_path):
    body = random_bytes(SIZE, seed=16)
    server.add("big.bin", body)
    server.fail_next("big.bin", Fault("cut", after=MiB), Fault("cut", after=MiB))
    server.rate = 16 * MiB

    [result] = await fetch([server.url("big.bin")], tmp_path, retries=1)

    assert result.state is State.FAILED
    kept = (tmp_path / "big.bin.part").stat().st_size
    assert 0 < kept <= 2 * MiB
    assert result.bytes == kept
    assert result.received == kept  # both attempts' bytes, each of them kept on disk


# -- resume across runs ------------------------------------------------------------------------


async def test_rerun_continues_the_part_file_with_range_and_if_range(server, tmp_path):
    body = random_bytes(SIZE, seed=3)
    server.add("big.bin", body)
    await leave_part(server, tmp_path, "big.bin", body[:MiB])
    sent_before = server.bytes_sent["big.bin"]

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    assert ("big.bin", f"bytes={MiB}-", server.files["big.bin"].etag) in server.range_requests
    assert server.bytes_sent["big.bin"] - sent_before == SIZE - MiB
    assert result.received == SIZE - MiB


async def test_server_ignoring_range_gives_the_exact_file_not_a_splice(server, tmp_path):
    body = random_bytes(SIZE, seed=4)
    server.add("big.bin", body)
    await leave_part(server, tmp_path, "big.bin", body[:MiB])
    server.ignore_range = True  # answers 200 with the whole body to a Range request

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert ranged(server, "big.bin") == [f"bytes={MiB}-"]  # a resume was attempted
    data = (tmp_path / "big.bin").read_bytes()
    assert len(data) == SIZE  # not 1 MiB + 3 MiB
    assert data == body


async def test_file_changed_between_runs_gives_exactly_the_new_version(server, tmp_path):
    old = random_bytes(SIZE, seed=5)
    new = random_bytes(SIZE, seed=6)  # same size: a length check alone would splice
    server.add("big.bin", old)
    await leave_part(server, tmp_path, "big.bin", old[:MiB])
    server.add("big.bin", new)  # new bytes, new ETag

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == new
    assert ranged(server, "big.bin")[-1] == f"bytes={MiB}-"  # asked; If-Range said no


async def test_file_changed_and_server_ignores_if_range_is_restarted_not_spliced(server, tmp_path):
    """A broken cache answers 206 for the new version: the ETag check catches it."""
    old = random_bytes(SIZE, seed=7)
    new = random_bytes(SIZE, seed=8)
    server.add("big.bin", old)
    await leave_part(server, tmp_path, "big.bin", old[:MiB])
    server.add("big.bin", new)
    server.ignore_if_range = True

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == new


async def test_file_changed_to_a_shorter_one_between_runs(server, tmp_path):
    old = random_bytes(SIZE, seed=9)
    new = random_bytes(MiB // 2, seed=10)  # shorter than the .part already is
    server.add("big.bin", old)
    await leave_part(server, tmp_path, "big.bin", old[:MiB])
    server.add("big.bin", new)

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == new


async def test_416_with_a_complete_part_finishes_without_downloading(server, tmp_path):
    body = random_bytes(SIZE, seed=11)
    server.add("big.bin", body)
    await leave_part(server, tmp_path, "big.bin", body)  # all bytes there, never renamed
    sent_before = server.bytes_sent["big.bin"]

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    assert ranged(server, "big.bin")[-1] == f"bytes={SIZE}-"
    assert server.bytes_sent["big.bin"] == sent_before
    assert not (tmp_path / "big.bin.part").exists()


async def test_416_with_a_size_mismatch_restarts_from_zero(server, tmp_path):
    body = random_bytes(SIZE, seed=12)
    server.add("big.bin", body)
    await leave_part(server, tmp_path, "big.bin", body + b"garbage beyond the end")

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    assert ranged(server, "big.bin") == [f"bytes={SIZE + 22}-"]  # then a plain GET


async def test_no_validators_means_no_resume_but_an_exact_file(server, tmp_path):
    body = random_bytes(SIZE, seed=13)
    server.add("big.bin", body, validators=False)
    await leave_part(server, tmp_path, "big.bin", b"X" * MiB)  # not even the right bytes

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert ranged(server, "big.bin") == []  # a Range without If-Range could splice
    assert (tmp_path / "big.bin").read_bytes() == body


async def test_stray_part_file_unknown_to_the_journal_is_not_trusted(server, tmp_path):
    body = random_bytes(SIZE, seed=14)
    server.add("big.bin", body)
    (tmp_path / "big.bin.part").write_bytes(b"not from this server" * 1000)

    [result] = await fetch([server.url("big.bin")], tmp_path)

    assert result.state is State.DONE, result.error
    assert ranged(server, "big.bin") == []
    assert (tmp_path / "big.bin").read_bytes() == body


# -- reruns of a finished batch ----------------------------------------------------------------


async def test_rerun_of_a_finished_batch_sends_no_request(server, tmp_path):
    bodies = {f"f{i}.bin": random_bytes(10_000 * (i + 1), seed=i) for i in range(3)}
    urls = [server.url(server.add(name, body)) for name, body in bodies.items()]
    assert all(r.state is State.DONE for r in await fetch(urls, tmp_path))
    mtimes = {name: os.stat(tmp_path / name).st_mtime_ns for name in bodies}
    requests = sum(server.requests.values())

    results = await fetch(urls, tmp_path)

    assert [r.state for r in results] == [State.SKIPPED] * 3
    assert sum(server.requests.values()) == requests
    assert {name: os.stat(tmp_path / name).st_mtime_ns for name in bodies} == mtimes


async def test_done_but_deleted_or_truncated_files_are_fetched_again(server, tmp_path):
    bodies = {name: random_bytes(200_000, seed=i) for i, name in enumerate("abc")}
    urls = [server.url(server.add(name, body)) for name, body in bodies.items()]
    assert all(r.state is State.DONE for r in await fetch(urls, tmp_path))
    (tmp_path / "a").unlink()
    with open(tmp_path / "b", "r+b") as file:
        file.truncate(1000)

    results = await fetch(urls, tmp_path)

    assert [r.state for r in results] == [State.DONE, State.DONE, State.SKIPPED]
    assert server.requests == {"a": 2, "b": 2, "c": 1}
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body


async def test_changed_list_fetches_new_urls_and_leaves_old_ones_alone(server, tmp_path):
    bodies = {name: random_bytes(50_000, seed=i) for i, name in enumerate(["a", "b", "c", "d"])}
    for name, body in bodies.items():
        server.add(name, body)
    first = await fetch([server.url("a"), server.url("b")], tmp_path)
    assert all(r.state is State.DONE for r in first)

    results = await fetch([server.url("b"), server.url("c"), server.url("d")], tmp_path)

    assert [r.state for r in results] == [State.SKIPPED, State.DONE, State.DONE]
    assert server.requests == {"a": 1, "b": 1, "c": 1, "d": 1}
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body  # "a" is still there, untouched
