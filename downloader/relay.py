"""What a worker's engine records and learns, sent to the coordinator (--procs, --cluster).

A worker's engine (workers.py) runs with the surfaces one process's engine has — a journal,
segment rows, hosts — whose changes here are messages (messages.py) rather than writes:
the coordinator is the journal's one writer, and what one lane learns of a host all lanes
must heed. Names are the coordinator's too: a server's name stops the file (`NameSuggested`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Unpack

from .hosts import Hosts
from .journal import Changes, Entry, MemoryJournal, NameTaken, Status
from .messages import Flush, HostPaused, Message, SegmentRows, Update, Work
from .segmentrows import MemorySegments
from .segments import Row

Send = Callable[[Message], None]
_ENDED = (Status.DONE, Status.FAILED, Status.SKIPPED)


class NameSuggested(BaseException):
    """--content-disposition: the server names the file, and names are the coordinator's.
    The file's run stops here — a BaseException passes the transfer's and the engine's
    error handling as a cancel does — and the coordinator renames it and hands it out
    again, its name then settled."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class RelaySegments(MemorySegments):
    """A split file's segment rows: those the journal had come with its Work, and each
    change goes to the coordinator."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self._send = send

    def save(self, url: str, rows: list[Row]) -> None:
        if rows:
            self._rows[url] = rows
        else:
            self._rows.pop(url, None)
        self._send(SegmentRows(url, rows))

    def drop(self, url: str) -> None:
        self.save(url, [])


class RelayJournal(MemoryJournal):
    """The journal's surface for a worker's engine: the entries of its files in flight,
    each change sent to the coordinator instead of written."""

    def __init__(self, send: Send, flush: Callable[[], None], *, rebuilding: bool) -> None:
        super().__init__()
        self._send, self._flush = send, flush
        self.rebuilding = rebuilding  # the coordinator's journal is being rebuilt: confirm
        self.segments: RelaySegments = RelaySegments(send)
        # A file's last change, to its end state: it goes with its Result (`ended`), one
        # message per file rather than two.
        self._ended: dict[str, Entry] = {}

    def expect(self, work: Work) -> None:
        url = work.item.url
        self._entries[url] = work.entry
        if work.rows:
            self.segments._rows[url] = work.rows

    def forget(self, url: str) -> None:
        self._entries.pop(url, None)
        self.segments._rows.pop(url, None)

    def claim(self, url: str, name: str, taken: NameTaken = lambda _: False) -> Entry:
        return self._entries[url]  # claimed by the coordinator (`expect`)

    def update(self, entry: Entry, **changes: Unpack[Changes]) -> Entry:
        new = entry._replace(**changes)
        if new.state in _ENDED:
            self.forget(new.url)
            self._ended[new.url] = new
            return new
        if (ended := self._ended.pop(new.url, None)) is not None:
            self._send(Update(ended))  # in order: the file went on after all
        self._entries[new.url] = new
        self._send(Update(new))
        return new

    def ended(self, url: str) -> Entry | None:
        """The end state recorded for `url` since its last message, to go with its Result."""
        return self._ended.pop(url, None)

    def flush_outbox(self) -> None:
        """Send what waits to be sent now (news the other lanes must have at once)."""
        self._flush()

    def flush(self) -> None:
        for ended in self._ended.values():
            self._send(Update(ended))
        self._ended.clear()
        self._send(Flush())
        self._flush()  # validators before the first byte of a .part: at once

    def rename(self, entry: Entry, name: str, taken: NameTaken = lambda _: False) -> Entry:
        raise NameSuggested(name)  # names are the coordinator's


class RelayedHosts(Hosts):
    """The worker's hosts: a pause it makes is sent to the coordinator for the others."""

    def __init__(self, *args, send: Send) -> None:
        super().__init__(*args)
        self._send = send

    def back_off(self, host: str, delay: float) -> None:
        super().back_off(host, delay)
        self._send(HostPaused(host, delay))

    def heard(self, paused: HostPaused) -> None:
        """Another worker's pause."""
        super().back_off(paused.host, paused.seconds)
