"""Every setting of a batch, in one frozen dataclass validated once.

The CLI flags and the library's keyword arguments share these names and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from .errors import OptionsError

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_exists", _on_exists(self.on_exists))
        _at_least("jobs", self.jobs, 1)
        _at_least("retries", self.retries, 0)
        _at_least("per_host", self.per_host, 0)
        _at_least("chunk_size", self.chunk_size, 1024)
        _at_least("max_redirects", self.max_redirects, 0)
        _at_least("stall_speed", self.stall_speed, 0)
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


def _at_least(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionsError(f"{name} must be a whole number >= {low}, not {value!r}")


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise OptionsError(f"{name} must be a number of seconds > 0, not {value!r}")
