"""adl: an asynchronous bulk file downloader.

import asyncio
from downloader import download_all

results = asyncio.run(download_all(urls, "out", jobs=5))
for r in results.failed:
    print(r.url, r.error)
"""

from ._version import __version__
from .api import download_all, iter_downloads
from .errors import AdlError, JournalBusyError, OptionsError
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
    "Notice",
    "OnExists",
    "OptionsError",
    "Result",
    "State",
    "__version__",
    "download_all",
    "iter_downloads",
]
