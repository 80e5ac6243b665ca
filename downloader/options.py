"""Every setting of a batch, in one frozen dataclass validated once.

The CLI flags and the library's keyword arguments share these names and defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from .errors import OptionsError
from .segments import MAX_SPLIT, MIN_SPLIT_SIZE
from .units import parse_size

MiB = 1024 * 1024


class OnExists(StrEnum):
    """What to do with a file already at DIR/NAME that this batch did not write."""

    SKIP = "skip"
    OVERWRITE = "overwrite"
    RENAME = "rename"


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    jobs: int = 5
    retries: int = 5
    timeout: float = 60.0  # idle read: seconds without a byte before the attempt fails
    connect_timeout: float = 30.0
    on_exists: OnExists = OnExists.SKIP
    per_host: int = 0  # 0: no cap beyond `jobs`
    chunk_size: int = 1 * MiB
    max_redirects: int = 10
    content_disposition: bool = False
    resume: bool = True  # keep a journal in DIR/.adl and resume from it
    # A transfer slower than stall_speed bytes/s over stall_time seconds is retried.
    stall_speed: int = 1024
    stall_time: float = 60.0
    # What is sent and to whom (request.py, session.py check and apply these).
    headers: tuple[str, ...] = ()  # "Name: value", as -H takes them
    user_agent: str | None = None  # None: adl/VERSION
    referer: str | None = None
    user: str | None = None  # "USER:PASSWORD" for Basic auth
    netrc: bool = True  # credentials from netrc for hosts with none of their own
    netrc_file: str | None = None  # None: $NETRC, else ~/.netrc
    load_cookies: str | None = None  # a cookies.txt (Netscape format) to start with
    save_cookies: str | None = None  # where the cookies go at the end
    proxy: str | None = None  # None: the *_proxy environment variables
    no_proxy: str | None = None  # hosts reached directly, as in no_proxy
    ca_certificate: str | None = None  # PEM bundle trusted instead of the system's
    insecure: bool = False  # no TLS verification at all
    certificate: str | None = None  # client certificate (PEM)
    private_key: str | None = None  # its key, when not in the certificate file
    location_trusted: bool = False  # send credentials to every host a redirect names
    # Integrity (integrity.py)
    checksums: str | None = None  # a sha256sum-style file: NAME -> expected digest
    check_integrity: bool = False  # re-hash finished files with a known checksum on a rerun
    # Bandwidth (ratelimit.py): bytes per second for the whole batch; None: no limit
    limit_rate: int | None = None
    # Big files (segments.py): connections per file, and the least a file is split into
    split: int = 1
    min_split_size: int = 20 * MiB  # bytes; "20M" style text is taken too
    # Scale (coordinator.py): attempts run in worker processes, or on a Dask cluster.
    procs: int = 1  # "auto": one per core
    cluster: object = None  # a Dask scheduler's address, or a distributed.Client

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_exists", _on_exists(self.on_exists))
        object.__setattr__(self, "headers", _headers(self.headers))
        object.__setattr__(self, "min_split_size", _size("min_split_size", self.min_split_size))
        object.__setattr__(self, "procs", _procs(self.procs))
        _cluster(self.cluster)
        _at_least("jobs", self.jobs, 1)
        _at_least("retries", self.retries, 0)
        _at_least("per_host", self.per_host, 0)
        _at_least("chunk_size", self.chunk_size, 1024)
        _at_least("max_redirects", self.max_redirects, 0)
        _at_least("stall_speed", self.stall_speed, 0)
        if self.limit_rate is not None:
            _at_least("limit_rate", self.limit_rate, 1)
        _split(self.split)
        if self.min_split_size < MIN_SPLIT_SIZE:  # aria2c's -k takes no less either
            raise OptionsError(f"min_split_size must be at least 1M, not {self.min_split_size}")
        for name in ("timeout", "connect_timeout", "stall_time"):
            _positive(name, getattr(self, name))

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))


def _on_exists(value: object) -> OnExists:
    if isinstance(value, str) and value in OnExists._value2member_map_:
        return OnExists(value)
    choices = ", ".join(o.value for o in OnExists)
    raise OptionsError(f"on_exists must be one of {choices}, not {value!r}")


def _headers(value: object) -> tuple[str, ...]:
    """Headers as "Name: value" strings: a mapping or an iterable of such strings (their
    syntax is checked with the rest of the request policy)."""
    if isinstance(value, Mapping):
        return tuple(f"{name}: {text}" for name, text in value.items())
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise OptionsError(f"headers must be a mapping or a list of 'Name: value', not {value!r}")
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise OptionsError("headers must be strings of the form 'Name: value'")
    return items


def _split(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SPLIT:
        raise OptionsError(f"split must be a whole number from 1 to {MAX_SPLIT}, not {value!r}")


def _size(name: str, value: object) -> int:
    """Bytes, given as a number or as text with a K, M or G suffix (powers of 1024)."""
    if isinstance(value, str):
        try:
            return parse_size(value)
        except ValueError as exc:
            raise OptionsError(f"{name}: {exc}") from None
    _at_least(name, value, 0)
    return value  # type: ignore[return-value]  # checked: an int


def _procs(value: object) -> int:
    """A number of worker processes, or "auto" for the machine's cores."""
    if value == "auto":
        return os.cpu_count() or 1
    _at_least("procs", value, 1)
    return value  # type: ignore[return-value]


def _cluster(value: object) -> None:
    if value is None or (isinstance(value, str) and value.strip()) or hasattr(value, "submit"):
        return
    raise OptionsError(
        f"cluster must be a Dask scheduler address (tcp://HOST:PORT) or a distributed.Client, "
        f"not {value!r}"
    )


def _at_least(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionsError(f"{name} must be a whole number >= {low}, not {value!r}")


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise OptionsError(f"{name} must be a number of seconds > 0, not {value!r}")
