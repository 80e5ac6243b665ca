"""Why a file failed, as one small exception tree.

Everything aiohttp and the OS can raise is mapped to these classes at one boundary
(`from_exception`), so the engine decides on `retryable` and never on library types,
and the message a user reads is written here once. aiohttp is imported by the mapping
functions, not by this module: `adl --version`, `--help` and `status` need these classes
and must not pay ~0.3 s for aiohttp's import.
"""

from __future__ import annotations

import errno
import os
import re
from typing import TYPE_CHECKING

from .retry import is_retryable_status

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError


class AdlError(Exception):
    """Base of everything adl raises on purpose."""


class OptionsError(AdlError, ValueError):
    """A bad option value or argument: misuse, raised before any download starts."""


class JournalBusyError(AdlError):
    """Another adl process is working on the same output folder."""


class NewerJournalError(AdlError):
    """The folder's journal has a layout this adl does not know: a newer adl wrote it."""


class DamagedJournalError(AdlError):
    """The folder's journal cannot be read (not a database, a failed integrity check,
    missing tables). `adl get` moves it aside and starts afresh; `adl status` says so."""


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


class ConnectError(NetworkError):
    """No connection was made: refused, unreachable, or the connect timed out. Retried, and
    counted per host: a host that never answers is given up on (see `hosts`)."""


class HostDownError(DownloadError):
    """Not tried (or not tried again): another file of the same host used its whole retry
    schedule and the host never answered."""


class HostNotFoundError(DownloadError):
    """DNS gave no address: a typo does not fix itself, so no retries."""


class TLSError(DownloadError):
    """The TLS handshake failed in a way another try cannot fix: a certificate that does not
    verify, or a server that does not speak TLS on that port."""


class ProxyRefusedError(HTTPStatusError):
    """The proxy answered CONNECT with an error status (407: its credentials are missing or
    wrong); retried as the same status from a server would be."""

    def __init__(self, status: int, reason: str | None = None) -> None:
        super().__init__(status, reason)
        self.args = (f"proxy refused the tunnel: {self}",)


class MalformedResponseError(DownloadError):
    """The server's answer is not valid HTTP/1.1 (two different Content-Lengths, a bad
    status line, a broken chunk). Not retried: the same server sends the same bytes again,
    as curl's "weird server reply" is not retried either. No HTTP status: none was sent."""


class IncompleteBodyError(NetworkError):
    """The body ended before Content-Length: retry, resuming from what is on disk."""


class StalledError(NetworkError):
    """Bytes kept trickling in below the speed floor for too long."""


class ResumeRejectedError(NetworkError):
    """The server's answer to a Range request cannot be appended; start from zero."""


class RedirectError(DownloadError):
    """Too many redirects, or a redirect to a scheme we do not fetch."""


class ChecksumError(DownloadError):
    """The bytes do not hash to what the item, the checksums file or the server said. The
    transfer fetches the file once more from zero; a second mismatch fails it."""

    def __init__(self, algo: str, expected: str, got: str, field: str = "") -> None:
        source = f" ({field})" if field else ""
        super().__init__(f"checksum mismatch{source}: {algo} expected {expected}, got {got}")


class DiskError(DownloadError):
    """Writing to the output folder failed; not retried."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def with_attempts(error: DownloadError, attempts: int) -> str:
    """The reason a file failed: a retryable error says how many attempts it took."""
    if error.retryable and attempts > 1:
        return f"{error} after {attempts} attempts"
    return str(error)


def _phrase(status: int) -> str:
    from http import HTTPStatus  # here: its enum costs every start-up, `adl --help` too

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
    import aiohttp  # imported by then: a transfer raised this
    from aiohttp.http_exceptions import HttpProcessingError

    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return HostNotFoundError(f"cannot resolve host {exc.host}")
    # Before ClientConnectorError: the TLS errors are its subclasses, and their os_error's
    # errno is OpenSSL's code (1), which os.strerror would call "Operation not permitted".
    if isinstance(exc, aiohttp.ClientSSLError):
        return from_tls_error(exc)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return ConnectError(f"cannot connect to proxy {exc.host}:{exc.port}: {_os_reason(exc)}")
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return ProxyRefusedError(exc.status, exc.message)
    # TLS 1.3 servers check a client certificate after the handshake: their alert comes
    # with the first read, as an OSError (not retried: the next try sends the same).
    if isinstance(exc, aiohttp.ClientOSError) and _tls_alert(exc.__cause__):
        return TLSError(_tls_alert(exc.__cause__))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"cannot connect to {exc.host}:{exc.port}: {_os_reason(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return NetworkError("server closed the connection")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return IncompleteBodyError("connection cut mid-body")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectError("connect timed out")
    # asyncio.TimeoutError is TimeoutError since 3.11
    if isinstance(exc, aiohttp.SocketTimeoutError | TimeoutError):
        return NetworkError("read timed out")
    if isinstance(exc, aiohttp.InvalidURL):
        return DownloadError(f"invalid URL: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError | HttpProcessingError):
        return _from_response_error(exc)
    if isinstance(exc, ConnectionResetError | aiohttp.ClientConnectionResetError):
        return NetworkError("connection reset")
    if isinstance(exc, aiohttp.ClientError):
        return NetworkError(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        return from_os_error(exc)
    return DownloadError(f"{type(exc).__name__}: {exc}")


# What OpenSSL says when the first bytes back are not a TLS record, e.g. "HTTP/1.1 400":
# 3.0 reads "HT" as a version, 3.2+ reports a record layer failure or an absurd length.
_NOT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)
NOT_TLS_REASON = "the server did not answer with TLS (plain HTTP on an https port?)"
# "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> "wrong version number"
_SSL_NOISE = re.compile(r"^\[[A-Z_]+: [A-Z0-9_]+\] | \(_ssl\.c:\d+\)$")


def from_tls_error(exc: aiohttp.ClientConnectorError) -> DownloadError:
    """A failed TLS handshake in OpenSSL's own words, e.g. "certificate verify failed:
    self-signed certificate". A connection cut during the handshake may pass next time
    (a busy server): it is a connect failure. Anything else would fail the same way again."""
    cause = exc.os_error
    verify = getattr(cause, "verify_message", None)
    if verify:
        return TLSError(f"certificate verify failed: {verify.rstrip('.')}")
    if getattr(cause, "reason", None) == _CERTIFICATE_REQUIRED:
        return TLSError(_tls_alert(cause))
    import ssl  # loaded by aiohttp by now; not at this module's import (start-up)

    if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError):
        return ConnectError(f"cannot connect to {exc.host}:{exc.port}: TLS handshake cut short")
    if getattr(cause, "reason", None) in _NOT_TLS:
        return TLSError(f"TLS handshake failed: {NOT_TLS_REASON}")
    text = getattr(cause, "strerror", None) or str(cause or exc)
    return TLSError(f"TLS handshake failed: {_SSL_NOISE.sub('', text).strip()}")


_CERTIFICATE_REQUIRED = "TLSV13_ALERT_CERTIFICATE_REQUIRED"


def _tls_alert(cause: BaseException | None) -> str:
    """What a TLS alert from the server says ("" when `cause` is none), e.g. "the server
    rejected the TLS session: tlsv1 alert unknown ca" (it does not trust our certificate)."""
    reason = getattr(cause, "reason", None)
    import ssl

    if not isinstance(cause, ssl.SSLError) or not reason or "ALERT" not in reason:
        return ""
    if reason == _CERTIFICATE_REQUIRED:
        return "the server requires a client certificate (--certificate)"
    return f"the server rejected the TLS session: {reason.lower().replace('_', ' ')}"


def _from_response_error(exc: aiohttp.ClientResponseError | HttpProcessingError) -> DownloadError:
    """aiohttp reports a response its parser rejects as ClientResponseError(400), with the
    parser's multi-line dump as the message, though the server never sent a 400. (We never
    call raise_for_status, so one with no parser error behind it is unexpected.)"""
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError, TransferEncodingError

    parser_error = exc if isinstance(exc, HttpProcessingError) else exc.__cause__
    if not isinstance(parser_error, HttpProcessingError):
        assert isinstance(exc, aiohttp.ClientResponseError)
        return HTTPStatusError(exc.status, exc.message)
    reason = parser_reason(str(exc.message or ""))
    if isinstance(exc, TransferEncodingError):  # pure-Python parser: the reason is the bytes
        reason = f"invalid chunked body: {reason}" if reason else "invalid chunked body"
    return MalformedResponseError(f"malformed response from server: {reason or 'unparsable'}")


def parser_reason(message: str) -> str:
    """aiohttp's parser message on one line, without its dump of the bad bytes:
    "Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 abc OK'\n  ^"
    -> "Bad status line: Invalid status code"."""
    head = message.strip().split("\n\n", 1)[0]
    parts = ("".join(c for c in line if c.isprintable()) for line in head.splitlines())
    return ": ".join(p for p in (part.strip().rstrip(":").strip() for part in parts) if p)


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if os_error is None:
        return "connection failed"
    # asyncio's own text ("Connect call failed ('127.0.0.1', 1)") says less than errno does.
    if os_error.errno:
        return os.strerror(os_error.errno)
    # A peer that closes during the TLS handshake gives a ConnectionResetError with no text.
    return str(os_error) or _words(type(os_error).__name__)


def _words(class_name: str) -> str:
    """ "ConnectionResetError" -> "connection reset" """
    return re.sub(r"(?<!^)(?=[A-Z])", " ", class_name).lower().removesuffix(" error")
