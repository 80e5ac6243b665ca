"""Segmented downloads, the decisions: how many connections a file gets, which byte ranges
they fetch, who fetches what next, and whether a ranged answer may be used. Pure: no I/O;
`segmented` applies them to sockets, the `.part` file and the journal.

- A file is split only when the server answered a ranged request with a 206 that names its
  total size and a validator (an ETag, else Last-Modified: every later range is asked with
  If-Range, so a changed file comes back as a 200 instead of a tail of the new version), and
  when it is at least twice `min_split_size` (aria2c's `-k`).
- Work stealing (aria2c's rule): a connection whose range is done takes a range nobody is
  fetching, else splits the largest range still to come in two and takes the back half. A
  slow connection so never leaves a long tail. Halves are at least STEAL_FLOOR bytes: a new
  request for less costs more than it saves.
- A ranged answer is used only when it is the range asked, of the same version: a 206 whose
  Content-Range matches and whose validators match. Anything else (a 200, another range,
  another ETag) means the file is fetched again from zero over one connection; two versions
  are never spliced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from . import resume
from .resume import Validators

MAX_SPLIT = 16  # connections for one file at most, as aria2c's -x
MIN_SPLIT_SIZE = 1024 * 1024  # the smallest -k aria2c takes
STEAL_FLOOR = 1024 * 1024


class Row(NamedTuple):
    """A segment as the journal keeps it: bytes [start, end) of the file, of which the first
    `done` are on disk."""

    start: int
    end: int
    done: int


class Segment:
    """One range of a file while it downloads. `received` bytes from `start` on came from
    the network (some may still wait in memory), `written` of them are on disk; `end` moves
    down when another connection takes the back half."""

    __slots__ = ("end", "owned", "received", "start", "written")

    def __init__(self, start: int, end: int, done: int = 0) -> None:
        self.start, self.end = start, end
        self.received = self.written = done
        self.owned = False

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def to_receive(self) -> int:
        return self.length - self.received

    @property
    def complete(self) -> bool:
        return self.written >= self.length

    def __repr__(self) -> str:
        return f"Segment({self.start}, {self.end}, written={self.written})"


def connections_for(total: int | None, done: int, split: int, min_split_size: int) -> int:
    """Connections for a file of `total` bytes with `done` of them on disk already: one
    unless `split` allows more and the file is at least twice `min_split_size`; then one per
    `min_split_size` of what is left, at most `split`."""
    if split <= 1 or total is None or total < 2 * min_split_size:
        return 1
    return max(1, min(split, (total - done) // min_split_size))


class Plan:
    """The segments of one file, tiling [0, total), and who fetches which."""

    def __init__(self, segments: Iterable[Segment], floor: int | None = None) -> None:
        self.segments = sorted(segments, key=lambda s: s.start)
        self.floor = STEAL_FLOOR if floor is None else floor

    @classmethod
    def fresh(cls, total: int, offset: int, parts: int, floor: int | None = None) -> Plan:
        """[offset, total) in `parts` ranges of (nearly) equal size; [0, offset) is the part
        already on disk (a `.part` left by a single-stream attempt)."""
        size = (total - offset) // parts
        starts = [offset + index * size for index in range(parts)]
        ends = [*starts[1:], total]
        segments = [Segment(s, e) for s, e in zip(starts, ends, strict=True)]
        if offset:
            segments.insert(0, Segment(0, offset, offset))
        return cls(segments, floor)

    @classmethod
    def resumed(cls, rows: Iterable[Row], floor: int | None = None) -> Plan:
        return cls((Segment(*row) for row in rows), floor)

    @property
    def written(self) -> int:
        return sum(s.written for s in self.segments)

    @property
    def finished(self) -> bool:
        return all(s.complete for s in self.segments)

    def unfinished(self) -> int:
        return sum(not s.complete for s in self.segments)

    def rows(self) -> list[Row]:
        return [Row(s.start, s.end, s.written) for s in self.segments]

    def take(self) -> Segment | None:
        """The next range for a free connection: one nobody fetches, else the back half of
        the largest range still to come; None when there is nothing worth taking."""
        free = next((s for s in self.segments if not s.owned and not s.complete), None)
        if free is not None:
            free.owned = True
            free.received = free.written  # bytes that never reached the disk come again
            return free
        owned = [s for s in self.segments if s.owned]
        victim = max(owned, key=lambda s: s.to_receive, default=None)
        if victim is None or victim.to_receive < 2 * self.floor:
            return None
        middle = victim.start + victim.received + victim.to_receive // 2
        back = Segment(middle, victim.end)
        victim.end = middle
        back.owned = True
        self.segments.insert(self.segments.index(victim) + 1, back)
        return back

    def release(self, segment: Segment) -> None:
        """Its connection is gone: the rest of the range is free for another."""
        segment.owned = False
        segment.received = segment.written


def bytes_kept(segments_done: int | None, part_size: int) -> int:
    """What a `.part` file of `part_size` bytes keeps. A split one is sparse (each segment is
    written at its offset), so the sum of its segments' `done` says (None: not split)."""
    return part_size if segments_done is None else min(segments_done, part_size)


def rows_fit(rows: list[Row], total: int | None, part_size: int) -> bool:
    """Whether journal rows can be resumed: they tile [0, total) in order, each done count
    fits its range, and the `.part` file is as long as the bytes they say are on disk."""
    if total is None or not rows:
        return False
    position = 0
    for start, end, done in rows:
        if start != position or end <= start or not 0 <= done <= end - start:
            return False
        position = end
    on_disk = max(start + done for start, _, done in rows)
    return position == total and part_size >= on_disk


def range_asked(segment: Segment) -> tuple[int, int]:
    """The first and last byte (inclusive, as HTTP counts) of what is left of a segment."""
    return segment.start + segment.written, segment.end - 1


def range_header(asked: tuple[int, int]) -> str:
    return f"bytes={asked[0]}-{asked[1]}"


def opening_problem(status: int, headers: Mapping[str, str], offset: int) -> str | None:
    """Why a 206 to the first request, `Range: bytes=OFFSET-`, cannot be used (the file is
    then fetched from zero without Range); None for any other answer, or a usable one."""
    if status != 206:
        return None
    parsed = resume.parse_content_range(headers.get("Content-Range"))
    if parsed is not None and parsed[0] == offset:
        return None
    return f"asked for bytes {offset}-, got Content-Range {headers.get('Content-Range')!r}"


def split_total(
    status: int, headers: Mapping[str, str], offset: int, known: Validators, known_total
) -> int | None:
    """The file's size when the answer to `Range: bytes=OFFSET-` allows splitting: a 206
    from exactly `offset` to the end, that names the total and a validator for If-Range, of
    the version the `.part` holds when `offset` > 0. None: fetch it over this one answer."""
    if status != 206:
        return None  # a 200: the server ignores Range (or the file changed: from zero)
    parsed = resume.parse_content_range(headers.get("Content-Range"))
    if parsed is None or parsed[0] != offset or parsed[2] is None or parsed[1] != parsed[2] - 1:
        return None
    if resume.if_range_value(resume.validators_from_headers(headers)) is None:
        return None  # nothing to ask the other ranges with: they could be of another version
    total = parsed[2]
    if offset and resume.version_mismatch(headers, known, known_total, total):
        return None
    return total


def answer_problem(
    status: int,
    headers: Mapping[str, str],
    asked: tuple[int, int],
    known: Validators,
    total: int,
) -> str | None:
    """Why the answer to a segment's ranged request for bytes `asked` cannot be written at
    its offset (the file is then fetched again from zero, over one connection); None when it
    can. (It is judged against the range asked: the segment's end may have moved since,
    when another connection took its back half, and its reader stops there.)"""
    if status == 200:
        return "the server sent the whole file to a range request (changed, or Range ignored)"
    if status != 206:
        return f"HTTP {status} to a range request"
    parsed = resume.parse_content_range(headers.get("Content-Range"))
    first, last = asked
    if parsed is None or parsed[:2] != (first, last):
        got = headers.get("Content-Range")
        return f"asked for bytes {first}-{last}, got Content-Range {got!r}"
    if parsed[2] is not None and parsed[2] != total:
        return f"size changed: {parsed[2]}, expected {total}"
    return resume.version_mismatch(headers, known, total, parsed[2])
