"""adl: an asynchronous bulk file downloader.

import asyncio
from downloader import download_all

results = asyncio.run(download_all(urls, "out", jobs=5))
for r in results.failed:
    print(r.url, r.error)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__
from .errors import AdlError, JournalBusyError, NewerJournalError, OptionsError
from .events import (
    Event,
    EventHandler,
    FileFinished,
    FileProgress,
    FileRetrying,
    FileStarted,
    Notice,
)
from .items import Item
from .options import OnExists
from .results import BatchResult, Result, State

if _TYPE_CHECKING:
    from .api import download_all, iter_downloads


def __getattr__(name: str) -> object:
    """The entry points are imported on first use: they bring aiohttp (~0.3 s), which
    `adl --version`, `adl --help` and `adl status` (this package, too) do without."""
    if name in ("download_all", "iter_downloads"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AdlError",
    "BatchResult",
    "Event",
    "EventHandler",
    "FileFinished",
    "FileProgress",
    "FileRetrying",
    "FileStarted",
    "Item",
    "JournalBusyError",
    "NewerJournalError",
    "Notice",
    "OnExists",
    "OptionsError",
    "Result",
    "State",
    "__version__",
    "download_all",
    "iter_downloads",
]
