"""adl: an asynchronous bulk file downloader.

import asyncio
from downloader import download_all

results = asyncio.run(download_all(urls, "out", jobs=5))
for r in results.failed:
    print(r.url, r.error)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__

if _TYPE_CHECKING:
    from .api import download_all, iter_downloads
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

# Where each public name lives. They are imported on first use: `adl --version`, `--help`
# and `status` start in a fraction of the time without them (the entry points bring
# aiohttp, ~0.3 s; the others typing, dataclasses and email, ~50 ms).
_HOMES = {
    "download_all": "api",
    "iter_downloads": "api",
    "AdlError": "errors",
    "JournalBusyError": "errors",
    "NewerJournalError": "errors",
    "OptionsError": "errors",
    "Event": "events",
    "EventHandler": "events",
    "FileFinished": "events",
    "FileProgress": "events",
    "FileRetrying": "events",
    "FileStarted": "events",
    "Notice": "events",
    "Item": "items",
    "OnExists": "options",
    "BatchResult": "results",
    "Result": "results",
    "State": "results",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
