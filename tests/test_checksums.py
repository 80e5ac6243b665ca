"""Checksums checked as the bytes stream, against a real server: right ones pass, wrong ones
are fetched once more from zero and then fail, resumed `.part` files are hashed, checksums
files are looked up by name, server digests are checked, and --check-integrity re-hashes.

Two body sizes go through the two write paths: SMALL is written whole at once, BIG streams
to a `.part` in blocks. Backoff waits go through a fake sleep: nothing here waits.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path

import pytest

from downloader import FileRetrying, Item, Notice, OptionsError, iter_downloads
from downloader.api import run_batch
from downloader.hashing import FileCheck
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State
from downloader.writes import open_part

from .conftest import FakeSleep, random_bytes
from .fileserver import Fault

MiB = 1024 * 1024
SMALL, BIG = 20_000, 3 * MiB


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def b64(algo: str, body: bytes) -> str:
    return base64.b64encode(hashlib.new(algo, body).digest()).decode()


async def fetch(items: list, dest: Path, events: list | None = None, **options) -> list[Result]:
    """One batch of URLs or Items with `Options(**options)`, results in input order."""
    on_event = events.append if events is not None else None
    batch = run_batch(
        entries_from_urls(items), dest, Options(**options), on_event, sleep=FakeSleep()
    )
    return sorted([r async for r in batch], key=lambda r: r.line_no)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.part"))


# -- an item's own checksum ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, BIG])
async def test_a_right_checksum_passes_and_is_reported(server, tmp_path, size):
    body = random_bytes(size, seed=1)
    url = server.url(server.add("f.bin", body))

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert result.checksum == f"sha256:{sha256(body)}"
    assert (tmp_path / "f.bin").read_bytes() == body
    assert server.requests["f.bin"] == 1


@pytest.mark.parametrize("size", [SMALL, BIG])
async def test_a_wrong_checksum_is_fetched_once_more_from_zero_then_fails(server, tmp_path, size):
    body = random_bytes(size, seed=2)
    url = server.url(server.add("f.bin", body))
    wrong = sha256(b"something else")
    events: list = []

    [result] = await fetch([Item(url=url, checksum=f"sha-256={wrong}")], tmp_path, events)

    assert result.state is State.FAILED
    assert result.error == f"checksum mismatch: sha256 expected {wrong}, got {sha256(body)}"
    assert server.requests["f.bin"] == 2  # once more, and not the whole retry schedule
    assert not server.range_requests  # the second fetch starts from zero
    assert not (tmp_path / "f.bin").exists()  # bad bytes never get the final name
    assert leftovers(tmp_path) == []  # nor stay to be resumed
    [retry] = [e for e in events if isinstance(e, FileRetrying)]
    assert "checksum mismatch" in retry.reason and "fetching it from zero" in retry.reason


@pytest.mark.parametrize("size", [SMALL, BIG])
async def test_bytes_corrupted_once_are_fixed_by_the_second_fetch(server, tmp_path, size):
    body = random_bytes(size, seed=3)
    corrupted = bytearray(body)
    corrupted[size // 2] ^= 0xFF
    url = server.url(server.add("f.bin", bytes(corrupted)))
    # The first answer is corrupted (a bad cache, a flipped bit); the next one is right.
    server.hooks.append(lambda name, request: server.requests[name] == 2 and server.add(name, body))

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "f.bin").read_bytes() == body
    assert server.requests["f.bin"] == 2


async def test_a_bad_checksum_in_an_item_is_a_failed_line_with_no_request(server, tmp_path):
    url = server.url(server.add("f.bin", b"data"))

    [result] = await fetch([Item(url=url, checksum="sha-256=nothex")], tmp_path)

    assert result.state is State.FAILED
    assert result.error == "checksum: 'nothex' is not a hex digest"
    assert server.requests["f.bin"] == 0


# -- resumed .part files are hashed -------------------------------------------------------------


async def test_a_body_cut_mid_way_resumes_and_still_passes_the_check(server, tmp_path, reads_back):
    body = random_bytes(BIG, seed=4)
    url = server.url(server.add("big.bin", body))
    server.fail_next("big.bin", Fault("cut", after=MiB))
    server.rate = 16 * MiB  # pauses between pieces let the client drain them before the cut

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert result.checksum == f"sha256:{sha256(body)}"
    assert len(server.range_requests) == 1  # resumed, not fetched again from zero
    assert server.requests["big.bin"] == 2
    assert (tmp_path / "big.bin").read_bytes() == body
    assert reads_back == []  # the hash of the kept bytes was carried, not read back


async def leave_part(server, dest: Path, name: str, prefix: bytes) -> None:
    """An earlier run that died mid-body: the journal knows the file's validators and
    DEST/NAME.part holds `prefix`."""
    server.fail_next(name, Fault("cut", after=64 * 1024))
    [result] = await fetch([server.url(name)], dest, retries=0)
    assert result.state is State.FAILED
    (dest / (name + ".part")).write_bytes(prefix)


async def test_a_rerun_hashes_the_part_it_resumes_from_disk(server, tmp_path, reads_back):
    body = random_bytes(BIG, seed=5)
    url = server.url(server.add("big.bin", body))
    await leave_part(server, tmp_path, "big.bin", body[:MiB])

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert server.range_requests == [("big.bin", f"bytes={MiB}-", server.files["big.bin"].etag)]
    assert result.received == BIG - MiB  # the kept MiB was hashed from disk, not fetched
    assert result.checksum == f"sha256:{sha256(body)}"
    assert reads_back == [MiB]  # once, before the first byte was appended


async def test_a_part_damaged_on_disk_is_caught_and_fetched_again(server, tmp_path):
    body = random_bytes(BIG, seed=6)
    url = server.url(server.add("big.bin", body))
    damaged = bytearray(body[:MiB])
    damaged[1000] ^= 0xFF  # same size: only its hash can tell
    await leave_part(server, tmp_path, "big.bin", bytes(damaged))
    requests_before = server.requests["big.bin"]

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    assert server.requests["big.bin"] - requests_before == 2  # the resume, then from zero
    assert len(server.range_requests) == 1


@pytest.mark.parametrize("damaged", [False, True])
async def test_a_part_that_holds_the_whole_file_is_hashed_before_its_rename(
    server, tmp_path, reads_back, damaged
):
    body = random_bytes(BIG, seed=15)
    url = server.url(server.add("big.bin", body))
    kept = bytearray(body)
    if damaged:
        kept[-1] ^= 0xFF
    await leave_part(server, tmp_path, "big.bin", bytes(kept))  # killed just before the rename
    requests_before = server.requests["big.bin"]

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "big.bin").read_bytes() == body
    assert reads_back == [BIG]  # the server said 416: all of it was on disk already
    assert server.requests["big.bin"] - requests_before == (2 if damaged else 1)


# -- --checksums FILE ---------------------------------------------------------------------------


async def test_a_checksums_file_is_looked_up_by_each_files_name(server, tmp_path):
    bodies = {name: random_bytes(SMALL, seed=i) for i, name in enumerate("abcd")}
    urls = [server.url(server.add(f"{name}.bin", body)) for name, body in bodies.items()]
    sums = tmp_path / "SUMS"
    sums.write_text(
        "# coreutils and BSD lines, mixed\n"
        f"{sha256(bodies['a'])}  a.bin\n"
        f"{hashlib.md5(bodies['b']).hexdigest()} *./b.bin\n"
        f"SHA512 (c.bin) = {hashlib.sha512(b'not c').hexdigest()}\n"
    )
    out = tmp_path / "out"

    a, b, c, d = await fetch(urls, out, checksums=str(sums))

    assert (a.state, a.checksum) == (State.DONE, f"sha256:{sha256(bodies['a'])}")
    assert (b.state, b.checksum) == (State.DONE, f"md5:{hashlib.md5(bodies['b']).hexdigest()}")
    assert c.state is State.FAILED
    assert c.error is not None and c.error.startswith("checksum mismatch: sha512 expected ")
    assert (d.state, d.checksum) == (State.DONE, None)  # not listed: nothing to check
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["a.bin", "b.bin", "d.bin"]


async def test_an_items_own_checksum_wins_over_the_checksums_file(server, tmp_path):
    body = random_bytes(SMALL, seed=7)
    url = server.url(server.add("a.bin", body))
    sums = tmp_path / "SUMS"
    sums.write_text(f"{sha256(b'wrong')}  a.bin\n")
    item = Item(url=url, checksum=f"md5={hashlib.md5(body).hexdigest()}")

    [result] = await fetch([item], tmp_path / "out", checksums=str(sums))

    assert result.state is State.DONE, result.error
    assert result.checksum == f"md5:{hashlib.md5(body).hexdigest()}"


def test_iter_downloads_checks_the_checksums_file_at_the_call(tmp_path):
    bad = tmp_path / "SUMS"
    bad.write_text(f"{sha256(b'x')}  ok.bin\nnot a line\n")
    with pytest.raises(OptionsError, match="line 2"):
        iter_downloads(["http://127.0.0.1:9/x"], tmp_path, checksums=str(bad))
    with pytest.raises(OptionsError, match="cannot read checksums file"):
        iter_downloads(["http://127.0.0.1:9/x"], tmp_path, checksums=str(tmp_path / "none"))


# -- digests the server sends -------------------------------------------------------------------

RIGHT, WRONG = b"the body", b"another body"


@pytest.mark.parametrize("size", [SMALL, BIG])
@pytest.mark.parametrize(
    ("field", "value", "algo"),
    [
        ("Repr-Digest", lambda b: f"sha-256=:{b64('sha256', b)}:", "sha256"),
        (
            "Repr-Digest",
            lambda b: f"sha-256=:{b64('sha256', b)}:, sha-512=:{b64('sha512', b)}:",
            "sha512",
        ),
        ("Digest", lambda b: f"MD5={b64('md5', b)}", "md5"),
        ("Content-Digest", lambda b: f"sha-512=:{b64('sha512', b)}:", "sha512"),
    ],
)
async def test_a_right_server_digest_passes(server, tmp_path, size, field, value, algo):
    body = random_bytes(size, seed=8)
    url = server.url(server.add("f.bin", body, **{field: value(body)}))

    [result] = await fetch([url], tmp_path)

    assert result.state is State.DONE, result.error
    assert result.checksum == f"{algo}:{hashlib.new(algo, body).hexdigest()}"


@pytest.mark.parametrize("size", [SMALL, BIG])
@pytest.mark.parametrize(
    ("field", "value", "algo"),
    [
        ("Repr-Digest", f"sha-256=:{b64('sha256', WRONG)}:", "sha256"),
        ("Digest", f"SHA-256={b64('sha256', WRONG)}", "sha256"),
        ("Content-Digest", f"sha-256=:{b64('sha256', WRONG)}:", "sha256"),
    ],
)
async def test_a_wrong_server_digest_fails_the_file(server, tmp_path, size, field, value, algo):
    body = random_bytes(size, seed=9)
    url = server.url(server.add("f.bin", body, **{field: value}))

    [result] = await fetch([url], tmp_path)

    assert result.state is State.FAILED
    expected = hashlib.sha256(WRONG).hexdigest()
    assert (
        result.error
        == f"checksum mismatch ({field}): sha256 expected {expected}, got {sha256(body)}"
    )
    assert server.requests["f.bin"] == 2
    assert not (tmp_path / "f.bin").exists()


async def test_a_server_digest_is_checked_across_a_resume_in_one_run(server, tmp_path):
    body = random_bytes(BIG, seed=10)
    url = server.url(
        server.add("big.bin", body, **{"Repr-Digest": f"sha-256=:{b64('sha256', WRONG)}:"})
    )
    server.fail_next("big.bin", Fault("cut", after=MiB))
    server.rate = 16 * MiB

    [result] = await fetch([url], tmp_path)

    assert result.state is State.FAILED
    assert result.error is not None and result.error.startswith("checksum mismatch (Repr-Digest)")
    assert len(server.range_requests) == 1  # the 206's digest was checked: its hash carried


async def test_with_a_checksum_and_a_server_digest_both_are_checked(server, tmp_path):
    body = random_bytes(SMALL, seed=11)
    url = server.url(
        server.add("f.bin", body, **{"Repr-Digest": f"sha-512=:{b64('sha512', WRONG)}:"})
    )

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.FAILED
    assert result.error is not None and "(Repr-Digest): sha512 expected" in result.error


# -- --check-integrity --------------------------------------------------------------------------


async def test_check_integrity_fetches_again_a_finished_file_changed_on_disk(server, tmp_path):
    body = random_bytes(SMALL, seed=12)
    item = Item(url=server.url(server.add("f.bin", body)), checksum=f"sha-256={sha256(body)}")
    [first] = await fetch([item], tmp_path)
    assert first.state is State.DONE
    damaged = bytearray(body)
    damaged[5] ^= 0xFF
    (tmp_path / "f.bin").write_bytes(bytes(damaged))  # same size: a rerun trusts it

    [trusted] = await fetch([item], tmp_path)
    assert trusted.state is State.SKIPPED and server.requests["f.bin"] == 1

    events: list = []
    [checked] = await fetch([item], tmp_path, events, check_integrity=True)

    assert checked.state is State.DONE, checked.error
    assert (tmp_path / "f.bin").read_bytes() == body
    assert server.requests["f.bin"] == 2
    [notice] = [e for e in events if isinstance(e, Notice)]
    assert notice.message.startswith("f.bin: checksum mismatch: sha256 expected ")

    [again] = await fetch([item], tmp_path, check_integrity=True)

    assert again.state is State.SKIPPED
    assert again.checksum == f"sha256:{sha256(body)}"  # hashed again, and right
    assert server.requests["f.bin"] == 2


async def test_check_integrity_trusts_by_size_files_without_a_known_checksum(server, tmp_path):
    url = server.url(server.add("f.bin", b"plain file"))
    await fetch([url], tmp_path)
    (tmp_path / "f.bin").write_bytes(b"PLAIN FILE")

    [result] = await fetch([url], tmp_path, check_integrity=True)

    assert result.state is State.SKIPPED
    assert result.checksum is None
    assert server.requests["f.bin"] == 1


# -- where the hashing happens ------------------------------------------------------------------


async def test_a_part_files_observer_sees_each_block_in_the_writing_thread(tmp_path):
    seen: list[tuple[int, bytes]] = []
    file = await open_part(
        str(tmp_path / "x.part"),
        append=False,
        observe=lambda pieces: seen.append((threading.get_ident(), b"".join(pieces))),
    )
    await file.writelines([b"ab", memoryview(b"cd")])
    await file.writelines([b"ef"])
    await file.close()

    assert (tmp_path / "x.part").read_bytes() == b"abcdef"
    assert [data for _, data in seen] == [b"abcd", b"ef"]
    assert all(thread != threading.get_ident() for thread, _ in seen)  # not the loop's


@pytest.mark.parametrize(("size", "in_loop"), [(16_000, True), (500_000, False)])
async def test_small_bodies_are_hashed_in_the_loop_only_when_cheap(
    server, tmp_path, monkeypatch, size, in_loop
):
    body = random_bytes(size, seed=13)
    url = server.url(server.add("s.bin", body))
    threads: list[int] = []
    verify_body = FileCheck.verify_body

    def spy(check: FileCheck, data) -> None:
        threads.append(threading.get_ident())
        verify_body(check, data)

    monkeypatch.setattr(FileCheck, "verify_body", spy)
    monkeypatch.setattr("downloader.transfer.FLUSH_SECONDS", 60.0)  # a busy machine's pauses

    [result] = await fetch([Item(url=url, checksum=f"sha-256={sha256(body)}")], tmp_path)

    assert result.state is State.DONE, result.error
    assert (threads == [threading.get_ident()]) is in_loop


async def test_check_integrity_removes_a_bad_file_even_when_it_cannot_be_fetched(server, tmp_path):
    body = random_bytes(SMALL, seed=14)
    item = Item(url=server.url(server.add("f.bin", body)), checksum=f"sha-256={sha256(body)}")
    await fetch([item], tmp_path)
    (tmp_path / "f.bin").write_bytes(bytes(SMALL))  # zeros: same size, other bytes
    del server.files["f.bin"]  # 404 from now on

    [result] = await fetch([item], tmp_path, check_integrity=True)

    assert result.state is State.FAILED and result.status == 404
    assert not (tmp_path / "f.bin").exists()  # a final name never holds bad bytes
