"""Segment planning, pure: how many connections, which ranges, work stealing, what a ranged
answer means, and which journal rows can be resumed."""

from __future__ import annotations

import pytest

from downloader.resume import Validators
from downloader.segments import (
    Plan,
    Row,
    Segment,
    answer_problem,
    connections_for,
    opening_problem,
    range_asked,
    range_header,
    rows_fit,
    split_total,
)

M = 1024 * 1024
ETAG = '"v1"'
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"


@pytest.mark.parametrize(
    ("total", "done", "split", "min_size", "connections"),
    [
        (256 * M, 0, 8, 20 * M, 8),
        (256 * M, 0, 8, 1 * M, 8),
        (256 * M, 0, 16, 20 * M, 12),  # one per min-split-size
        (40 * M, 0, 8, 20 * M, 2),  # exactly twice: split
        (40 * M - 1, 0, 8, 20 * M, 1),  # less than twice: not split (aria2c's -k)
        (100 * M, 0, 1, 1 * M, 1),  # --split 1
        (None, 0, 8, 1 * M, 1),  # size unknown
        (0, 0, 8, 1 * M, 1),
        (100 * M, 95 * M, 8, 1 * M, 5),  # what is left decides how many
        (100 * M, 100 * M - 1, 8, 1 * M, 1),  # never none
    ],
)
def test_connections_for(total, done, split, min_size, connections):
    assert connections_for(total, done, split, min_size) == connections


def spans(plan: Plan) -> list[tuple[int, int, int]]:
    return [(s.start, s.end, s.written) for s in plan.segments]


@pytest.mark.parametrize(
    ("total", "offset", "parts", "expected"),
    [
        (100, 0, 4, [(0, 25, 0), (25, 50, 0), (50, 75, 0), (75, 100, 0)]),
        (10, 0, 3, [(0, 3, 0), (3, 6, 0), (6, 10, 0)]),  # the last takes the rest
        (100, 0, 1, [(0, 100, 0)]),
        # A .part a single stream left: kept as a finished segment, the rest split.
        (100, 20, 2, [(0, 20, 20), (20, 60, 0), (60, 100, 0)]),
    ],
)
def test_fresh_plan_tiles_the_file(total, offset, parts, expected):
    assert spans(Plan.fresh(total, offset, parts)) == expected


def test_connections_take_the_ranges_in_order_then_steal():
    plan = Plan.fresh(8 * M, 0, 4, floor=M)
    taken = [plan.take() for _ in range(4)]
    assert [s.start for s in taken if s] == [0, 2 * M, 4 * M, 6 * M]
    # Nothing is free; every range has 2 MiB to come: the back half of the first is taken.
    stolen = plan.take()
    assert stolen is not None and (stolen.start, stolen.end) == (M, 2 * M)
    assert (taken[0].start, taken[0].end) == (0, M)


def test_steal_splits_the_largest_range_still_to_come_from_where_it_has_got():
    plan = Plan.fresh(12 * M, 0, 3, floor=M)
    a, b, c = (plan.take() for _ in range(3))
    assert a and b and c
    a.received = a.written = 4 * M  # a is done
    b.received, b.written = 3 * M, M  # b is fast: 1 MiB to come (2 MiB in memory)
    c.received = M // 2  # c is slow: 3.5 MiB to come
    stolen = plan.take()
    assert stolen is not None
    middle = 8 * M + M // 2 + (3 * M + M // 2) // 2
    assert (stolen.start, stolen.end) == (middle, 12 * M)
    assert c.end == middle
    assert spans(plan)[-2:] == [(8 * M, middle, 0), (middle, 12 * M, 0)]


def test_no_steal_below_twice_the_floor():
    plan = Plan.fresh(4 * M, 0, 2, floor=M)
    a, b = plan.take(), plan.take()
    assert a and b
    a.received = a.written = a.length
    b.received = 1  # 2 MiB - 1 byte to come: halves would be under the floor
    assert plan.take() is None
    b.received = 0  # exactly 2 MiB: split
    assert plan.take() is not None


def test_a_released_range_is_taken_before_any_steal_and_from_its_bytes_on_disk():
    plan = Plan.fresh(8 * M, 0, 2, floor=M)
    a, b = plan.take(), plan.take()
    assert a and b
    b.received, b.written = 3 * M, 2 * M  # 1 MiB in memory, lost with the connection
    plan.release(b)
    again = plan.take()
    assert again is b and b.received == 2 * M
    assert range_header(range_asked(b)) == f"bytes={6 * M}-{8 * M - 1}"


def test_finished_segments_are_never_taken_and_the_plan_ends():
    plan = Plan.fresh(4 * M, 0, 2, floor=M)
    for segment in (plan.take(), plan.take()):
        assert segment
        segment.received = segment.written = segment.length
    assert plan.take() is None
    assert plan.finished and plan.written == 4 * M and plan.unfinished() == 0


def test_rows_round_trip():
    plan = Plan.fresh(100, 0, 2, floor=10)
    first = plan.take()
    assert first
    first.received = first.written = 30
    rows = plan.rows()
    assert rows == [Row(0, 50, 30), Row(50, 100, 0)]
    again = Plan.resumed(rows)
    assert spans(again) == [(0, 50, 30), (50, 100, 0)]
    assert again.written == 30 and again.unfinished() == 2


@pytest.mark.parametrize(
    ("rows", "total", "part_size", "fits"),
    [
        ([Row(0, 50, 30), Row(50, 100, 10)], 100, 60, True),
        ([Row(0, 50, 50), Row(50, 100, 50)], 100, 100, True),
        ([Row(0, 50, 30), Row(50, 100, 10)], 100, 59, False),  # the .part was cut short
        ([Row(0, 50, 30), Row(50, 100, 10)], 120, 60, False),  # another size now
        ([Row(0, 50, 30), Row(60, 100, 10)], 100, 70, False),  # a gap
        ([Row(0, 60, 30), Row(50, 100, 10)], 100, 60, False),  # an overlap
        ([Row(0, 50, 51), Row(50, 100, 0)], 100, 60, False),  # more done than the range
        ([Row(10, 100, 0)], 100, 0, False),  # not from byte 0
        ([Row(0, 50, 30), Row(50, 100, 10)], None, 60, False),  # size unknown
        ([], 100, 0, False),
    ],
)
def test_rows_fit(rows, total, part_size, fits):
    assert rows_fit(rows, total, part_size) is fits


def answer(status=206, content_range=None, etag=ETAG, **more):
    headers = {"ETag": etag, "Last-Modified": DATE, **more} if etag else {**more}
    if content_range is not None:
        headers["Content-Range"] = content_range
    return status, headers


@pytest.mark.parametrize(
    ("status_headers", "offset", "known", "known_total", "total"),
    [
        (answer(206, "bytes 0-999/1000"), 0, Validators(), None, 1000),
        (
            answer(206, "bytes 0-999/1000", etag=None, **{"Last-Modified": DATE}),
            0,
            Validators(),
            None,
            1000,
        ),
        (answer(200), 0, Validators(), None, None),  # no Range support: one connection
        (answer(206, "bytes 0-999/*"), 0, Validators(), None, None),  # size unknown
        (answer(206, "bytes 0-499/1000"), 0, Validators(), None, None),  # not to the end
        (answer(206, "bytes 0-999/1000", etag=None), 0, Validators(), None, None),  # no validator
        (answer(206, "bytes 0-999/1000", etag='W/"weak"'), 0, Validators(), None, 1000),  # date
        # Resuming a single stream's .part: the same version only.
        (answer(206, "bytes 400-999/1000"), 400, Validators(ETAG, DATE), 1000, 1000),
        (answer(206, "bytes 400-999/1000", etag='"v2"'), 400, Validators(ETAG, DATE), 1000, None),
        (answer(206, "bytes 400-999/1000"), 400, Validators(ETAG, DATE), 2000, None),
        (answer(206, "bytes 300-999/1000"), 400, Validators(ETAG, DATE), 1000, None),
    ],
)
def test_split_total(status_headers, offset, known, known_total, total):
    status, headers = status_headers
    assert split_total(status, headers, offset, known, known_total) == total


@pytest.mark.parametrize(
    ("status_headers", "offset", "problem"),
    [
        (answer(206, "bytes 0-999/1000"), 0, None),
        (answer(200), 0, None),  # no Range support: fetched over this answer
        (answer(404), 0, None),  # the transfer reports it
        (answer(206, "bytes 10-999/1000"), 0, "asked for bytes 0-, got Content-Range"),
        (answer(206, None), 0, "asked for bytes 0-, got Content-Range None"),
        (answer(206, "bytes 0-999/1000"), 10, "asked for bytes 10-"),
    ],
)
def test_opening_problem(status_headers, offset, problem):
    status, headers = status_headers
    found = opening_problem(status, headers, offset)
    assert found == problem if problem is None else found.startswith(problem)


ASKED = (120, 199)
KNOWN = Validators(ETAG, DATE)


@pytest.mark.parametrize(
    ("status_headers", "known", "problem"),
    [
        (answer(206, "bytes 120-199/1000"), KNOWN, None),
        (answer(206, "bytes 120-199/*"), KNOWN, None),
        (answer(206, "bytes 120-199/1000", etag=None), KNOWN, None),  # nothing says otherwise
        # Validators: an ETag that changed; the date when no ETag is known.
        (answer(206, "bytes 120-199/1000", etag='"v2"'), KNOWN, "validator changed"),
        (
            answer(206, "bytes 120-199/1000", etag=None, **{"Last-Modified": "Wed"}),
            Validators(None, DATE),
            "validator changed",
        ),
        (answer(200), KNOWN, "the server sent the whole file"),
        (answer(416, None), KNOWN, "HTTP 416 to a range request"),
        (answer(204), KNOWN, "HTTP 204 to a range request"),
        (answer(206, "bytes 121-199/1000"), KNOWN, "asked for bytes 120-199, got"),
        (answer(206, "bytes 120-198/1000"), KNOWN, "asked for bytes 120-199, got"),
        (answer(206, "bytes 120-999/1000"), KNOWN, "asked for bytes 120-199, got"),
        (answer(206, None), KNOWN, "asked for bytes 120-199, got Content-Range None"),
        (answer(206, "bytes 120-199/2000"), KNOWN, "size changed: 2000, expected 1000"),
    ],
)
def test_answer_problem(status_headers, known, problem):
    status, headers = status_headers
    found = answer_problem(status, headers, ASKED, known, 1000)
    assert found == problem if problem is None else found.startswith(problem)


def test_the_range_asked_is_what_is_not_on_disk_yet():
    assert range_header(range_asked(Segment(100, 200))) == "bytes=100-199"
    assert range_header(range_asked(Segment(100, 200, 99))) == "bytes=199-199"
