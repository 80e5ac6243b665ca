"""What a file already at an entry's name means, decided before anything is downloaded.

- Ours (the journal has it done): skipped while it has the size recorded; fetched again when
  it changed (hashed again first with --check-integrity: engine.py).
- Foreign (this journal never wrote it): `--on-exists` decides: skip, overwrite or rename.
- While a lost journal is rebuilt (journalfile.py): a file under a listed name whose row is
  new may be one the lost journal had done. The server is asked its size (a HEAD, in the
  engine's pool like any request): when it is the file's, the file counts as done, as the
  lost journal would have said; otherwise, or without an answer, it is foreign. A `.part`
  is never resumed then: without the lost validators nothing says its bytes are of the
  current version, so its row, which has none, starts from zero (transfer.py).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

import aiohttp

from .errors import DownloadError
from .hosts import Hosts, host_of
from .inputs import ListEntry
from .journal import Entry, Journal, Status
from .options import OnExists, Options
from .request import RequestPolicy
from .results import Result, State
from .resume import expected_body_length, validators_from_headers
from .transfer import Transfer
from .writes import Identity


def size_confirmed(status: int, headers: Mapping[str, str], size: int) -> bool:
    """Whether the answer to a HEAD says the remote file has `size` bytes: a 200 with that
    Content-Length (no length, another status, a redirect left over: not confirmed)."""
    return status == 200 and expected_body_length(200, headers) == size


class Existing:
    """Answers for files already on disk, for one batch (see the module's doc)."""

    def __init__(
        self, transfer: Transfer, journal: Journal, options: Options, policy: RequestPolicy
    ) -> None:
        self._transfer, self._journal, self._options = transfer, journal, options
        self._policy = policy
        self.at_final_name: Identity = None  # what the last `answer` found at its final name

    def answer(self, item: ListEntry, entry: Entry) -> Result | Entry:
        """A skip Result when the file is there already; else the entry to download
        (renamed first under --on-exists rename when a foreign file holds its name), and
        what holds its final name now: `at_final_name`."""
        self.at_final_name = None
        try:
            info = os.lstat(self._transfer.final_path(entry))
        except FileNotFoundError:
            return entry
        if stat.S_ISREG(info.st_mode):
            self.at_final_name = info.st_ino, info.st_mtime_ns, info.st_size
        if entry.state is Status.DONE:  # ours: changed or truncated since? fetch it again
            if info.st_size != entry.size or self._options.check_integrity:
                return entry  # (with --check-integrity, hashed again first: engine.py)
            return self.skipped(item, entry, "already downloaded", info.st_size)
        if self._journal.rebuilding and _new(entry) and stat.S_ISREG(info.st_mode):
            return entry  # the server is asked first: `confirm`
        return self._foreign(item, entry, info.st_size)

    async def confirm(self, item: ListEntry, entry: Entry, hosts: Hosts) -> Result | Entry:
        """While rebuilding, for a file `answer` left to ask about: done (a skip Result, or
        with --check-integrity the entry done, to be hashed) when the server gives its size,
        else as any foreign file. Any other entry is given back as it is."""
        if not (self._journal.rebuilding and _new(entry)):
            return entry
        try:
            info = os.lstat(self._transfer.final_path(entry))
        except FileNotFoundError:
            return entry
        answer = await self._head(item, hosts) if stat.S_ISREG(info.st_mode) else None
        if answer is None or not size_confirmed(*answer, info.st_size):
            return self._foreign(item, entry, info.st_size)
        found = validators_from_headers(answer[1])
        entry = self._journal.update(
            entry,
            state=Status.DONE,
            size=info.st_size,
            total=info.st_size,
            etag=found.etag,
            last_modified=found.last_modified,
        )
        if self._options.check_integrity:
            return entry
        return self.skipped(item, entry, "already downloaded", info.st_size)

    def skipped(
        self, item: ListEntry, entry: Entry, why: str, size: int, checksum: str | None = None
    ) -> Result:
        if entry.state is not Status.DONE:
            self._journal.update(entry, state=Status.SKIPPED, size=size, error=why)
        return Result(
            item.url,
            State.SKIPPED,
            path=self._transfer.dest / entry.name,
            error=None,
            bytes=size,
            line_no=item.line_no,
            checksum=checksum,
        )

    def _foreign(self, item: ListEntry, entry: Entry, size: int) -> Result | Entry:
        match self._options.on_exists:
            case OnExists.SKIP:
                return self.skipped(item, entry, "file exists", size)
            case OnExists.RENAME:
                self.at_final_name = None  # a free name
                return self._journal.rename(entry, entry.name, taken=self._transfer.name_taken)
        return entry

    async def _head(self, item: ListEntry, hosts: Hosts) -> tuple[int, Mapping[str, str]] | None:
        """The status and headers of the answer to a HEAD of the item's URL; None without
        one (one try: a file not confirmed is only taken for a foreign one)."""
        policy = self._policy.for_item(item.item)
        visit = hosts.visit(host_of(item.url))
        try:
            async with visit:
                requests = self._transfer.requests
                async with await requests.get(
                    item.url, requests.identity, policy, method="HEAD"
                ) as response:
                    visit.answered()
                    return response.status, response.headers
        except (TimeoutError, DownloadError, aiohttp.ClientError, OSError, ValueError):
            return None
        finally:
            visit.leave()


def _new(entry: Entry) -> bool:
    """A row made in this journal's life that no attempt has touched yet."""
    return entry.state is Status.PENDING and not entry.attempts and entry.total is None
