"""Hashing as the bytes stream: each file's bytes checked against what they must hash to.

A `FileCheck` lives for one file's run, across its attempts. Each attempt that writes bytes
asks it (`begin`) for an observer: None when there is nothing to check (the common case
costs nothing), else the `update` of running hashes that `writes.PartFile` calls in the very
thread hop that writes each block, so the event loop's thread never hashes big bodies.
Before the rename, `verify` compares; a mismatch raises `ChecksumError` and the transfer
fetches the file once more from zero (`may_refetch`), then fails it.

What is checked: the item's own checksum, else the one the checksums file lists for the
file's name; and the digest the server sent (see `digest_fields`). A server's digest of the
whole representation (Repr-Digest, Digest) is checked on a 206 only when the `.part`'s hash
is at hand: carried from this run's earlier attempt, or computed anyway because a checksum
is expected. A `.part` is never read back for a server's digest alone.

A resumed `.part` is hashed once from disk before the first byte is appended. Within one
run the hash is carried from attempt to attempt, as long as it covers exactly the bytes
of the `.part` (a failed write may have left more): no re-reading after each cut.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .digest_fields import ServerDigest, server_digest
from .errors import ChecksumError, DownloadError
from .events import Event, Notice
from .integrity import NO_CHECKSUMS, Checksums, Digest, parse_checksum

if TYPE_CHECKING:
    from .inputs import ListEntry
    from .journal import Entry

READ_SIZE = 1024 * 1024
Observe = Callable[[list[bytes | memoryview]], None]


class Hashes:
    """Running hashes of one file's first `covered` bytes, one per algorithm. `update`
    runs in a worker thread: hashlib releases the GIL over buffers of more than 2 KiB."""

    __slots__ = ("_hashers", "covered")

    def __init__(self, algos: set[str]) -> None:
        self._hashers = [hashlib.new(algo) for algo in sorted(algos)]
        self.covered = 0

    def algos(self) -> set[str]:
        return {hasher.name for hasher in self._hashers}

    def update(self, pieces: list[bytes | memoryview]) -> None:
        for piece in pieces:
            for hasher in self._hashers:
                hasher.update(piece)
            self.covered += len(piece)

    def digest(self, algo: str) -> bytes:
        return next(h for h in self._hashers if h.name == algo).digest()


def hash_file(hashes: Hashes, path: str, size: int | None = None) -> Hashes:
    """Feed the first `size` bytes of `path` (all of it when None) to `hashes`, in the
    calling thread. A link is not followed: the `.part` and final names are ours."""
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        left = size
        while left is None or left > 0:
            got = os.readv(fd, [view if left is None or left >= READ_SIZE else view[:left]])
            if got == 0:
                break
            hashes.update([view[:got]])
            left = None if left is None else left - got
    finally:
        os.close(fd)
    if size is not None and hashes.covered != size:
        raise DownloadError(f"{path} changed while it was read")
    return hashes


async def file_digest(path: str, algo: str) -> bytes:
    """The digest of a whole file, hashed in a worker thread."""
    loop = asyncio.get_running_loop()
    hashes = await loop.run_in_executor(None, hash_file, Hashes({algo}), path)
    return hashes.digest(algo)


class FileCheck:
    """One file's check over its run: what it must hash to, the running hashes of its
    `.part`, and how often it mismatched. `verified` is `algo:hex` once it checked out."""

    __slots__ = ("_expected", "_hashes", "_own", "_server", "_table", "mismatches", "verified")

    def __init__(self, own: Digest | None = None, table: Checksums = NO_CHECKSUMS) -> None:
        self._own = own  # the item's checksum: it wins over the checksums file
        self._table = table
        self._expected: Digest | None = None
        self._server: ServerDigest | None = None
        self._hashes: Hashes | None = None
        self.mismatches = 0
        self.verified: str | None = None

    @classmethod
    def of(cls, item: ListEntry, table: Checksums) -> FileCheck:
        """The check of a list's item (its checksum's syntax was checked with the list)."""
        spec = item.item.checksum if item.item is not None else None
        return cls(parse_checksum(spec) if spec else None, table)

    def expected(self, name: str) -> Digest | None:
        """The digest the file must have once named `name` (relative to the output folder)."""
        return self._own or self._table.get(name)

    async def begin(
        self, name: str, part: str, offset: int, headers: Mapping[str, str]
    ) -> Observe | None:
        """Prepare the check of an attempt whose bytes go to `part` from `offset` on (its
        response `headers`); the observer of the bytes written, or None to check nothing."""
        self._expected = self.expected(name)
        hashes = self._hashes
        carried = hashes if hashes is not None and hashes.covered == offset else None
        self._server = self._server_digest(headers, offset, carried)
        wanted = {d.algo for d in (self._expected, self._server and self._server.digest) if d}
        if not wanted:
            self._hashes = None
            return None
        if carried is None or not wanted <= carried.algos():
            self._hashes = Hashes(wanted)
            if offset:  # the bytes already in the .part, once, before any is appended
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, hash_file, self._hashes, part, offset)
        return self.observe

    def _server_digest(self, headers, offset: int, carried: Hashes | None) -> ServerDigest | None:
        """The server's digest worth checking in this attempt."""
        expected = self._expected.algo if self._expected else None
        if offset == 0:  # the whole body comes in this answer: any digest can be checked
            return server_digest(headers, whole_body=True, prefer=expected)
        if expected:  # the .part is hashed anyway: a digest of the whole file can be checked
            return server_digest(headers, whole_body=False, prefer=expected)
        if carried is None:
            return None  # a .part is never read back for a server's digest alone
        found = server_digest(headers, whole_body=False, prefer=min(carried.algos()))
        return found if found is not None and found.digest.algo in carried.algos() else None

    def verify(self) -> None:
        """Raise ChecksumError unless the bytes hashed are what was expected."""
        self.verified = None
        if self._hashes is None:
            return
        checks = [ServerDigest("", self._expected)] if self._expected else []
        if self._server is not None:
            checks.append(self._server)
        for field, want in checks:
            got = self._hashes.digest(want.algo)
            if got != want.value:
                self._hashes = None  # the .part goes: nothing to carry
                raise ChecksumError(want.algo, want.hex, got.hex(), field)
        self.verified = str(checks[0].digest) if checks else None

    def verify_body(self, body: bytes | memoryview) -> None:
        """A small body that came whole: hash and verify it (in the thread that writes it)."""
        if self._hashes is not None:
            self._hashes.update([body])
        self.verify()

    async def recheck(self, path: str, entry: Entry, emit: Callable[[Event], None]) -> bool:
        """--check-integrity on a finished file (its `entry` says its name and size): True
        to keep it (it hashes right, or nothing says what it must hash to). A file that
        hashes wrong is removed, and said so: a final name never holds bad bytes. One that
        is gone, changed size or cannot be read is fetched again (the fetch tells why not)."""
        expected = self.expected(entry.name)
        try:
            if os.lstat(path).st_size != entry.size:
                return False
            if expected is None:
                return True
            got = await file_digest(path, expected.algo)
            if got == expected.value:
                self.verified = str(expected)
                return True
            os.unlink(path)
        except OSError:
            return False
        error = ChecksumError(expected.algo, expected.hex, got.hex())
        emit(Notice(f"{entry.name}: {error}; fetching it again"))
        return False

    @property
    def observe(self) -> Observe | None:
        """What the writes of this attempt's bytes are shown to (None: nothing to check)."""
        return self._hashes.update if self._hashes is not None else None

    def may_refetch(self) -> bool:
        """After a mismatch: True the first time (fetch the file once more, from zero)."""
        self.mismatches += 1
        return self.mismatches == 1
