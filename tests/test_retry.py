"""Tables for the retry policy: statuses, backoff bounds and Retry-After parsing."""

import pytest

from downloader.retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    backoff_delay,
    is_retryable_status,
    parse_retry_after,
    retry_delay,
)

# 2015-10-21 07:28:00 UTC, the Unix time of the IMF-fixdate used below.
NOW = 1445412480.0


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (200, False),
        (206, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (416, False),
        (501, False),
        (505, False),
    ],
)
def test_is_retryable_status(status, retryable):
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [
        (1, BACKOFF_BASE),
        (2, BACKOFF_BASE * 2),
        (3, BACKOFF_BASE * 4),
        (7, BACKOFF_BASE * 64),  # 32 s would pass the 30 s cap...
        (6, BACKOFF_BASE * 32),  # ...while 16 s does not
        (8, BACKOFF_CAP),
        (1000, BACKOFF_CAP),
        (10**6, BACKOFF_CAP),  # 2.0 ** 999999 overflows a float: must not raise
    ],
)
def test_backoff_delay_bounds(attempt, ceiling):
    expected_max = min(ceiling, BACKOFF_CAP)
    assert backoff_delay(attempt, rand=lambda: 1.0) == expected_max
    assert backoff_delay(attempt, rand=lambda: 0.0) == 0.0
    assert backoff_delay(attempt, rand=lambda: 0.5) == expected_max / 2


def test_backoff_delay_grows_then_plateaus():
    ceilings = [backoff_delay(n, rand=lambda: 1.0) for n in range(1, 12)]
    assert ceilings == sorted(ceilings)
    assert ceilings[0] == BACKOFF_BASE
    assert ceilings[-1] == BACKOFF_CAP


def test_backoff_delay_default_rand_stays_in_range():
    for attempt in (1, 3, 50):
        for _ in range(200):
            assert (
                0.0 <= backoff_delay(attempt) <= min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            )


def test_backoff_delay_custom_base_and_cap():
    assert backoff_delay(3, rand=lambda: 1.0, base=1.0, cap=3.0) == 3.0
    assert backoff_delay(2, rand=lambda: 1.0, base=1.0, cap=3.0) == 2.0


@pytest.mark.parametrize("attempt", [0, -1])
def test_backoff_delay_rejects_attempts_below_one(attempt):
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(attempt)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("121", RETRY_AFTER_CAP),  # just over the cap
        ("86400", RETRY_AFTER_CAP),  # a day
        ("9" * 400, RETRY_AFTER_CAP),  # absurdly large, still clamped
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # IMF-fixdate, 30 s ahead
        ("Wednesday, 21-Oct-15 07:28:45 GMT", 45.0),  # obsolete RFC 850
        ("Wed Oct 21 07:29:00 2015", 60.0),  # obsolete asctime (no zone: GMT)
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # exactly now
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past
        ("Thu, 22 Oct 2015 07:28:00 GMT", RETRY_AFTER_CAP),  # tomorrow
        (None, None),
        ("", None),
        ("   ", None),
        ("-5", None),
        ("soon", None),
        ("5s", None),
        ("1e3", None),
        ("inf", None),
        ("nan", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),  # day out of range
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),  # year out of range
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, 7.0, 7.0),  # the server's wish wins, no jitter added
        (5, 0.0, 0.0),
        (1, -3.0, 0.0),  # never negative
        (1, 10_000.0, RETRY_AFTER_CAP),  # clamped even if the caller passed a raw value
        (1, None, BACKOFF_BASE),  # otherwise the backoff (rand pinned to 1.0)
        (4, None, BACKOFF_BASE * 8),
        (50, None, BACKOFF_CAP),
    ],
)
def test_retry_delay(attempt, retry_after, expected):
    assert retry_delay(attempt, retry_after, rand=lambda: 1.0) == expected
