"""Retry policy: which HTTP statuses are worth another try, and how long to wait.

Pure functions only. The engine owns the clock and the sleep (so tests never wait); it
passes ``now`` and, if it likes, a deterministic ``rand`` in here.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "RETRYABLE_STATUSES",
    "RETRY_AFTER_CAP",
    "backoff_delay",
    "is_retryable_status",
    "parse_retry_after",
    "retry_delay",
]

# Timeouts, too-early, rate limiting and transient server/gateway failures. Other 4xx are
# the client's fault and fail at once; 501/505 will not get better on a retry.
RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds: the ceiling of the first retry's delay
BACKOFF_CAP = 30.0  # seconds: the ceiling never grows past this
# A server asking for a longer pause (hours, a date next week) would stall the whole batch;
# we wait at most this long and let the normal retry budget decide what happens next.
RETRY_AFTER_CAP = 120.0  # seconds

# RFC 9110 delay-seconds is 1*DIGIT; a fraction ("1.5") is accepted too, as its meaning is
# clear. re.ASCII keeps non-ASCII digits out.
_SECONDS = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


def is_retryable_status(status: int) -> bool:
    """True when a response with this status should be retried."""
    return status in RETRYABLE_STATUSES


def backoff_delay(
    attempt: int,
    *,
    rand: Callable[[], float] = random.random,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``.
    Full jitter spreads many failing downloads apart instead of having them retry in lockstep
    against a server that is already struggling.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    try:
        ceiling = min(cap, base * 2.0 ** (attempt - 1))
    except OverflowError:  # 2.0 ** 5000 does not fit a float; the cap has long been reached
        ceiling = cap
    return rand() * ceiling


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or ``None`` if unusable.

    Accepts delay-seconds or an HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime
    forms). ``now`` is the current Unix time. A date in the past gives 0.0; anything longer
    than ``RETRY_AFTER_CAP`` is clamped to it. Missing, negative or unparsable → ``None``,
    and the caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    # A huge digit string becomes inf, which the cap absorbs.
    seconds = float(text) if _SECONDS.fullmatch(text) else _seconds_until_http_date(text, now)
    if seconds is None:
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _seconds_until_http_date(text: str, now: float) -> float | None:
    # Imported here: a Retry-After date is rare, and email and datetime cost every start-up
    # (`adl --help` reads this module for its list of retried statuses).
    from datetime import UTC
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # asctime dates carry no zone, but HTTP dates are always GMT.
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp() - now
    return seconds if math.isfinite(seconds) else None


def retry_delay(
    attempt: int,
    retry_after: float | None,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry ``attempt``.

    The server's ``Retry-After`` (from ``parse_retry_after``) wins when present: it knows
    its own load, and adding jitter on top would only make us later than asked. It is
    clamped again here so a caller passing a raw number cannot stall the batch.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
    return backoff_delay(attempt, rand=rand)
