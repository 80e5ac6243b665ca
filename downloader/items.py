"""One item of a batch with its own options, as an aria2c input file describes it.

A plain URL is the common item; an `Item` carries what aria2c's option lines give one file:
mirrors, a file name and a subfolder, a checksum, and request options of its own. Library
callers may pass `Item`s among plain URL strings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """A file to download. `url` is tried first, then each of `mirrors` (other URLs of the
    same file) when a failure is one that retrying `url` will not fix.

    `name` and `subdir` place the file at OUTPUT/subdir/name (sanitized: they never leave
    the output folder); `checksum` is `algo=hex` as in aria2c (`sha-256=9f86d0...`; md5,
    sha-1, sha-224, sha-256, sha-384, sha-512). `headers` ("Name: value") add to the batch's
    own; `referer`, `user_agent` and `user` ("USER:PASSWORD") replace the batch's for this
    item. `limit_rate` caps this file's download speed (bytes per second), on top of the
    batch's `limit_rate`. `split`: connections for this file, 1 to 16 (None: the batch's
    `split`)."""

    url: str
    mirrors: tuple[str, ...] = ()
    name: str | None = None
    subdir: str | None = None
    checksum: str | None = None
    headers: tuple[str, ...] = ()
    referer: str | None = None
    user_agent: str | None = None
    user: str | None = None
    limit_rate: int | None = None
    split: int | None = None

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL of the file, in the order they are tried."""
        return (self.url, *self.mirrors)
