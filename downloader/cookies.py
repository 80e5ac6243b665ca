"""Cookie files: a cookies.txt loaded into the batch's jar at its start, the jar saved at its end.

The format is the Netscape/Mozilla cookies.txt that browsers' exporters and `curl -c` write:
one cookie per line, seven fields separated by tabs — domain, include-subdomains flag,
path, secure flag, expiry (Unix time; 0 for a session cookie), name, value. Lines starting
with `#` are comments, except `#HttpOnly_` in front of a domain, which marks an HttpOnly
cookie (curl's convention).

Who decides what:
- aiohttp's CookieJar stays the live jar and alone applies RFC 6265 scoping (host-only or
  domain, path, secure, expiry; IP-address hosts in our unsafe jar). The lines of a file go
  in through its public `update_cookies_from_headers`, each as the Set-Cookie its own host
  would have sent (`Domain=` only for include-subdomains lines): a loaded cookie is scoped
  by the same code, the same way, as one a server sets during the batch.
- This module only translates lines to and from cookies (plain functions, table-tested),
  checks the files before any download, and writes the file atomically (a temporary file in
  the same folder, fsync, os.replace), mode 0600 as curl and wget do: cookies are secrets.

Why not `http.cookiejar.MozillaCookieJar`: on Python 3.11 it does read and write
`#HttpOnly_` lines, but it drops curl's session cookies (expiry 0 counts as expired), checks
lines with `assert` (gone under -O), names no line number and quotes the whole line, value
included, in its errors (we print no cookie value, ever), writes an empty expiry curl does
not write, and saves in place (a crash leaves half a file). Its `Cookie` objects would still
need converting for aiohttp, and its scoping rules (RFC 2965/Netscape) are not RFC 6265's.
The format itself is a split on tabs; what is worth a library is the scoping, and that
stays aiohttp's.

No message here ever includes a cookie's name or value: lines are named by their number.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp.abc import AbstractCookieJar
from yarl import URL

from ._version import __version__
from .errors import OptionsError
from .events import Event, Notice

HTTPONLY_PREFIX = "#HttpOnly_"
HEADER = (
    "# Netscape HTTP Cookie File\n"  # the first line curl, wget and Python look for
    f"# Written by adl {__version__}: the cookies of a batch. Keep it private.\n\n"
)
LAST_EXPIRY = 253402300799  # 9999-12-31T23:59:59Z: later dates do not fit an Expires
_EXPIRY = re.compile(r"\d+(\.\d*)?")  # some exporters write fractions of a second
# What a name, value or path may not hold: it would end the Set-Cookie or the line early.
_BAD_NAME = re.compile(r"[;=\s\x00-\x1f\x7f]")
_BAD_TEXT = re.compile(r"[;\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class FileCookie:
    """One line of a cookies.txt."""

    domain: str  # lower case, without the leading dot
    subdomains: bool  # the include-subdomains flag: a Domain cookie, else host-only
    path: str
    secure: bool
    expires: int  # Unix time; 0: a session cookie
    name: str
    value: str
    http_only: bool = False


class CookieLineError(ValueError):
    """A line that is not a cookies.txt line; the message says why, never what it holds."""


# -- the format: plain functions -------------------------------------------------------------


def parse_line(line: str) -> FileCookie | None:
    """One line of a cookies.txt: a cookie, or None for a comment or a blank line."""
    http_only = line.startswith(HTTPONLY_PREFIX)
    if http_only:
        line = line[len(HTTPONLY_PREFIX) :]
    line = line.rstrip("\r\n")
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    fields = line.split("\t")
    if len(fields) == 6:  # curl writes a cookie without a value with no last field
        fields.append("")
    if len(fields) != 7:
        raise CookieLineError(f"expected 7 fields separated by tabs, found {len(fields)}")
    domain, subdomains, path, secure, expires, name, value = fields
    domain = _host(domain)
    if not name or _BAD_NAME.search(name):
        raise CookieLineError("the cookie name (field 6) is empty or holds ';', '=' or spaces")
    if _BAD_TEXT.search(value) or _BAD_TEXT.search(path):
        raise CookieLineError("the path or the value holds ';' or a control character")
    return FileCookie(
        domain=domain,
        subdomains=_flag(subdomains, "include-subdomains flag (field 2)"),
        path=path,
        secure=_flag(secure, "secure flag (field 4)"),
        expires=_expiry(expires),
        name=name,
        value=value,
        http_only=http_only,
    )


def parse_lines(lines: Iterable[str]) -> Iterator[FileCookie]:
    """The cookies of a file's lines; a bad line raises CookieLineError saying which."""
    for number, line in enumerate(lines, 1):
        try:
            cookie = parse_line(line)
        except CookieLineError as exc:
            raise CookieLineError(f"line {number}: {exc}") from None
        if cookie is not None:
            yield cookie


def format_line(cookie: FileCookie) -> str | None:
    """The cookies.txt line of a cookie, as curl writes it; None for one no line can hold
    (a tab or line break in a field would be read back as other fields or lines)."""
    fields = [
        ("." if cookie.subdomains else "") + cookie.domain,
        "TRUE" if cookie.subdomains else "FALSE",
        cookie.path,
        "TRUE" if cookie.secure else "FALSE",
        str(cookie.expires),
        cookie.name,
        cookie.value,
    ]
    if any(re.search(r"[\t\r\n]", field) for field in fields):
        return None
    return (HTTPONLY_PREFIX if cookie.http_only else "") + "\t".join(fields)


def set_cookie_header(cookie: FileCookie) -> str:
    """The Set-Cookie its own host would send for this cookie (relative to that host)."""
    parts = [f"{cookie.name}={cookie.value}", f"Path={cookie.path}"]
    if cookie.subdomains:
        parts.append(f"Domain={cookie.domain}")
    if cookie.expires:
        expires = email.utils.formatdate(min(cookie.expires, LAST_EXPIRY), usegmt=True)
        parts.append(f"Expires={expires}")
    if cookie.secure:
        parts.append("Secure")
    if cookie.http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)


def _host(text: str) -> str:
    """The domain field as the jar compares hosts: no leading dot, lower case, IDNA."""
    text = text.strip().removeprefix(".").removeprefix("[").removesuffix("]")
    try:
        host = URL.build(scheme="https", host=text).raw_host if text else None
    except ValueError:
        host = None
    if not host or _BAD_NAME.search(host):
        raise CookieLineError("the domain (field 1) is not a host name")
    return host


def _flag(text: str, what: str) -> bool:
    upper = text.strip().upper()
    if upper not in ("TRUE", "FALSE"):
        raise CookieLineError(f"the {what} is neither TRUE nor FALSE")
    return upper == "TRUE"


def _expiry(text: str) -> int:
    text = text.strip()
    if not text:
        return 0  # Python's MozillaCookieJar writes session cookies so
    if not _EXPIRY.fullmatch(text):
        raise CookieLineError("the expiry (field 5) is not a Unix time")
    return int(float(text))


# -- the jar ---------------------------------------------------------------------------------


def load_into(jar: AbstractCookieJar, cookies: Iterable[FileCookie], now: float) -> None:
    """Put the file's unexpired cookies into the jar, each as its own host would set it."""
    for cookie in cookies:
        if cookie.expires and cookie.expires <= now:
            continue  # RFC 6265 5.3: an expired cookie is not stored (curl skips them too)
        # https: a jar may refuse Secure cookies from an http origin (RFC 6265bis)
        host = URL.build(scheme="https", host=cookie.domain)
        jar.update_cookies_from_headers([set_cookie_header(cookie)], host)


def jar_cookies(jar: AbstractCookieJar, now: float) -> list[FileCookie]:
    """The jar's live cookies, as file lines. Cookies put in a jar for every host (by a
    caller's `update_cookies` without a URL) have no domain a line could name: left out."""
    host_only = jar.host_only_cookies
    # The expiry of each cookie: aiohttp keeps it (an absolute time, Max-Age applied when
    # the cookie came) in this dict only; it has no public accessor (aiohttp #3951).
    deadlines: dict[tuple[str, str, str], float] = getattr(jar, "_expirations", {})
    found = []
    for (domain, path_key), bucket in jar.cookies.items():
        for name, morsel in bucket.items():
            key = (domain, path_key, name)
            deadline = deadlines.get(key)
            if not domain or (deadline is not None and deadline <= now):
                continue
            found.append(
                FileCookie(
                    domain=domain,
                    # (domain, name): the key of aiohttp releases before the path joined it
                    subdomains=key not in host_only and (domain, name) not in host_only,
                    path=morsel["path"] or "/",
                    secure=bool(morsel["secure"]),
                    expires=0 if deadline is None else int(deadline),
                    name=name,
                    value=morsel.coded_value,  # as the server set it (quotes kept, as curl)
                    http_only=bool(morsel["httponly"]),
                )
            )
    return found


# -- the files -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CookieFiles:
    """--load-cookies read and checked, --save-cookies checked: once, before any download."""

    loaded: tuple[FileCookie, ...] = ()
    save_to: Path | None = None

    @classmethod
    def from_options(cls, load: str | None, save: str | None) -> CookieFiles:
        return cls(
            loaded=read_cookie_file(load) if load is not None else (),
            save_to=checked_save_path(save) if save is not None else None,
        )

    @contextlib.asynccontextmanager
    async def kept_in(
        self, jar: AbstractCookieJar, emit: Callable[[Event], None]
    ) -> AsyncIterator[None]:
        """The loaded cookies in `jar` for the batch; the jar saved when it ends, however it
        ends (Ctrl-C included). A save that fails is a notice: the files are there."""
        load_into(jar, self.loaded, time.time())
        try:
            yield
        finally:
            if self.save_to is not None:
                try:
                    write_cookie_file(self.save_to, jar_cookies(jar, time.time()))
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    emit(Notice(f"cannot save cookies to {self.save_to}: {reason}"))


def read_cookie_file(name: str) -> tuple[FileCookie, ...]:
    """The cookies of a cookies.txt; OptionsError when it cannot be read or is not one."""
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise OptionsError(f"cookies file {name!r} does not exist") from None
    except OSError as exc:
        raise OptionsError(f"cannot read cookies file {name!r}: {exc.strerror}") from None
    not_one = f"cookies file {name!r} is not a cookies.txt (Netscape format)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise OptionsError(f"{not_one}: line {line} is not UTF-8 text") from None
    try:
        return tuple(parse_lines(text.splitlines()))
    except CookieLineError as exc:
        raise OptionsError(f"{not_one}: {exc}") from None


def checked_save_path(name: str) -> Path:
    """Where --save-cookies writes: its folder must exist and take new files."""
    path = Path(name).absolute()
    if path.is_dir():
        raise OptionsError(f"cannot save cookies to {name!r}: it is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise OptionsError(
            f"cannot save cookies to {name!r}: folder {str(folder)!r} does not exist"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionsError(
            f"cannot save cookies to {name!r}: folder {str(folder)!r} is not writable"
        )
    return path


def write_cookie_file(path: Path, cookies: Iterable[FileCookie]) -> None:
    """Write a cookies.txt atomically, mode 0600: the old file or the new one, never half."""
    lines = (format_line(cookie) for cookie in cookies)
    text = HEADER + "".join(line + "\n" for line in lines if line is not None)
    # mkstemp creates the file with mode 0600, whatever the umask
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
