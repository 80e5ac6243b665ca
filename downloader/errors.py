"""Why a file failed, as one small exception tree.

Everything aiohttp and the OS can raise is mapped to these classes at one boundary
(`from_exception`), so the engine decides on `retryable` and never on library types,
and the message a user reads is written here once.
"""

from __future__ import annotations

import asyncio
import errno
import os
from http import HTTPStatus

import aiohttp

from .retry import is_retryable_status


class AdlError(Exception):
    """Base of everything adl raises on purpose."""


class OptionsError(AdlError, ValueError):
    """A bad option value or argument: misuse, raised before any download starts."""


class JournalBusyError(AdlError):
    """Another adl process is working on the same output folder."""


class DownloadError(AdlError):
    """One file could not be fetched this attempt. `retryable` says whether to try again."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after: float | None = None


class HTTPStatusError(DownloadError):
    """The server answered with an error status."""

    def __init__(self, status: int, reason: str | None = None, *, retry_after=None) -> None:
        super().__init__(f"HTTP {status} {reason or _phrase(status)}".rstrip(), status=status)
        self.retryable = is_retryable_status(status)
        self.retry_after = retry_after


class NetworkError(DownloadError):
    """The connection failed, was reset, or timed out: worth another try."""

    retryable = True


class HostNotFoundError(DownloadError):
    """DNS gave no address: a typo does not fix itself, so no retries."""


class IncompleteBodyError(NetworkError):
    """The body ended before Content-Length: retry, resuming from what is on disk."""


class StalledError(NetworkError):
    """Bytes kept trickling in below the speed floor for too long."""


class ResumeRejectedError(NetworkError):
    """The server's answer to a Range request cannot be appended; start from zero."""


class RedirectError(DownloadError):
    """Too many redirects, or a redirect to a scheme we do not fetch."""


class DiskError(DownloadError):
    """Writing to the output folder failed; not retried."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def from_os_error(exc: OSError) -> DiskError:
    """A local file-system error in the user's words, e.g. 'No space left on device'."""
    disk_full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = exc.strerror or str(exc)
    return DiskError(text, disk_full=disk_full)


def from_exception(exc: BaseException) -> DownloadError:
    """Map an aiohttp / asyncio / OS exception raised during a transfer to a DownloadError."""
    if isinstance(exc, DownloadError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return HostNotFoundError(f"cannot resolve host {exc.host}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return NetworkError(f"cannot connect to {exc.host}:{exc.port}: {_os_reason(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return NetworkError("server closed the connection")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return IncompleteBodyError("connection cut mid-body")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return NetworkError("connect timed out")
    if isinstance(exc, aiohttp.SocketTimeoutError | asyncio.TimeoutError | TimeoutError):
        return NetworkError("read timed out")
    if isinstance(exc, aiohttp.InvalidURL):
        return DownloadError(f"invalid URL: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        return HTTPStatusError(exc.status, exc.message)
    if isinstance(exc, ConnectionResetError | aiohttp.ClientConnectionResetError):
        return NetworkError("connection reset")
    if isinstance(exc, aiohttp.ClientError):
        return NetworkError(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        return from_os_error(exc)
    return DownloadError(f"{type(exc).__name__}: {exc}")


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if os_error is None:
        return "connection failed"
    # asyncio's own text ("Connect call failed ('127.0.0.1', 1)") says less than errno does.
    return os.strerror(os_error.errno) if os_error.errno else str(os_error)
