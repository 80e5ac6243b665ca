"""Mirrors: the other URLs of one file (TAB-separated on an aria2c list line, or
`Item.mirrors`), and when to move on to the next one. Pure decisions, table-tested.

The first URL is tried first, with the whole retry schedule. When its attempts end in a
failure another URL may not meet, the next one is tried, with a schedule of its own. A
`.part` left by one URL is resumed from the next only as its validators allow (If-Range:
resume.py), so two versions of a file are never spliced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from .errors import DiskError, DownloadError, with_attempts
from .hosts import host_of
from .redact import mask_url
from .request import RequestPolicy
from .results import Result


class Source(NamedTuple):
    """What one attempt fetches, and how: the URL (the item's or a mirror), the item's own
    request policy (None: the batch's), whether the item's name was given (out=: the
    server's Content-Disposition then does not rename it), and the item's own split= (None:
    the batch's)."""

    url: str
    policy: RequestPolicy | None = None
    named: bool = False
    split: int | None = None


class Tried:
    """One file's URLs, and those tried so far in this run: attempts made, and why each
    one failed."""

    __slots__ = ("attempts", "reasons", "urls")

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self.attempts = 0
        self.reasons: list[tuple[str, str]] = []

    def failed(self, url: str, error: DownloadError, attempts: int) -> bool:
        """Note that `url` failed after `attempts`; True when the next URL is to be tried."""
        self.attempts += attempts
        self.reasons.append((url, with_attempts(error, attempts)))
        return len(self.reasons) < len(self.urls) and next_mirror_helps(error)

    def counted_in(self, result: Result) -> Result:
        """A Result of the last URL, with the attempts at the URLs before it."""
        return (
            replace(result, attempts=self.attempts + result.attempts) if self.attempts else result
        )

    def message(self) -> str:
        return failure_message(self.reasons)

    def why_next(self) -> str:
        """Why the next URL is tried (for a FileRetrying event)."""
        return f"{self.reasons[-1][1]}; trying mirror {mask_url(self.urls[len(self.reasons)])}"


def next_mirror_helps(error: DownloadError) -> bool:
    """After `error` ended the attempts at one URL (not retryable, or retries used up):
    whether another URL of the same file may do better. Anything the server or the way to
    it did (a 404, an unknown host, a host that never answered, a 503 that stayed, a bad
    certificate, a broken response) may be different elsewhere; a local failure (the
    disk) would be met by every mirror."""
    return not isinstance(error, DiskError)


def failure_message(reasons: list[tuple[str, str]]) -> str:
    """Why a file failed, from `(url, reason)` of each URL tried: the reason alone for one
    URL; for several, each URL's in a few words, named by its host when hosts differ."""
    if len(reasons) == 1:
        return reasons[0][1]
    hosts = [host_of(url) for url, _ in reasons]
    distinct = len(set(hosts)) == len(hosts)
    parts = [
        f"{host if distinct else mask_url(url)}: {reason}"
        for host, (url, reason) in zip(hosts, reasons, strict=True)
    ]
    return f"{len(reasons)} mirrors tried: " + "; ".join(parts)
