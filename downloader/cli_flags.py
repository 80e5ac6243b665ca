"""The flags of `adl get`: names, help texts and help panels, one type alias each.

Kept apart from cli.py so the command reads as a list of its parameters. Like cli.py, only
the command line imports this (and so typer). Help texts are single lines per paragraph:
rich keeps a text's line breaks, which then break sentences at any terminal width.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .options import OnExists
from .retry import RETRYABLE_STATUSES
from .segments import MAX_SPLIT
from .units import parse_size

OUTPUT, RETRIES, REQUESTS, TLS = "Output", "Retries and timeouts", "Requests", "Proxies and TLS"
LISTS, BIG_FILES = "Lists and integrity", "Big files"
LISTS = "Lists and integrity"
SCALE = "Scale"
_RETRIED = ", ".join(str(status) for status in sorted(RETRYABLE_STATUSES))

GET_HELP = (
    "Download every URL of the lists and arguments into OUTPUT.\n\n"
    "A list has one URL per line; blank lines and lines starting with # are skipped. "
    "aria2c input files work too: URLs separated by a TAB are mirrors of one file, and "
    "indented key=value lines under a URL (out=, dir=, checksum=, header=, ...) are its "
    "options.\n\n"
    "Rerunning the same command resumes: finished files are not fetched again and partial "
    "ones continue where they stopped."
)


def _flag(*names: str, help: str, panel: str, metavar: str | None = None):
    return typer.Option(*names, help=help, rich_help_panel=panel, metavar=metavar)


Sources = Annotated[
    list[str],
    typer.Argument(
        metavar="LIST|URL...",
        help="Files with one URL per line, - for standard input, or URLs (http/https).",
        show_default=False,
    ),
]

# Output
Jobs = Annotated[int, _flag("-j", "--jobs", help="Files downloaded at once.", panel=OUTPUT)]
Output = Annotated[
    Path, _flag("-o", "--output", help="Folder for the files, created if missing.", panel=OUTPUT)
]
Quiet = Annotated[
    bool, _flag("-q", "--quiet", help="Print only failures and the summary.", panel=OUTPUT)
]
OnExistsFlag = Annotated[
    OnExists,
    _flag(
        "--on-exists",
        metavar="MODE",
        help="A file at the destination that adl did not write: skip, overwrite, or rename "
        "(the download takes a free name).",
        panel=OUTPUT,
    ),
]
ContentDisposition = Annotated[
    bool,
    _flag(
        "--content-disposition",
        help="Name files as the server's Content-Disposition header suggests.",
        panel=OUTPUT,
    ),
]
NoJournal = Annotated[
    bool,
    _flag("--no-journal", help="Keep no resume state in OUTPUT/.adl (one-shot).", panel=OUTPUT),
]
Debug = Annotated[
    bool, _flag("--debug", help="Show tracebacks for unexpected errors.", panel=OUTPUT)
]

# Retries and timeouts
Retries = Annotated[
    int,
    _flag(
        "--retries",
        help=f"Retries per file after connection errors, timeouts, cut bodies and HTTP {_RETRIED}.",
        panel=RETRIES,
    ),
]
Timeout = Annotated[
    float,
    _flag(
        "--timeout", help="Seconds without a byte from the server before retrying.", panel=RETRIES
    ),
]
ConnectTimeout = Annotated[
    float, _flag("--connect-timeout", help="Seconds to wait for a connection.", panel=RETRIES)
]

# Requests: what is sent, and to whom
PerHost = Annotated[
    int,
    _flag(
        "--per-host", help="Connections per host at most (0: only the -j limit).", panel=REQUESTS
    ),
]
Headers = Annotated[
    list[str] | None,
    _flag(
        "-H",
        "--header",
        metavar="'NAME: VALUE'",
        help="Send this header (repeatable). Authorization, Cookie and Proxy-Authorization go "
        "only to each URL's own origin; the others follow redirects.",
        panel=REQUESTS,
    ),
]
UserAgent = Annotated[
    str | None,
    _flag("-U", "--user-agent", help="User-Agent to send (default: adl/VERSION).", panel=REQUESTS),
]
Referer = Annotated[str | None, _flag("--referer", help="Referer to send.", panel=REQUESTS)]
User = Annotated[
    str | None,
    _flag(
        "-u",
        "--user",
        metavar="USER[:PASSWORD]",
        help="Basic auth for each URL's own origin; without :PASSWORD, asked for on the terminal.",
        panel=REQUESTS,
    ),
]
NetrcFile = Annotated[
    str | None,
    _flag(
        "--netrc-file",
        metavar="FILE",
        help="Credentials for hosts with none of their own (default: $NETRC, else ~/.netrc).",
        panel=REQUESTS,
    ),
]
NoNetrc = Annotated[bool, _flag("--no-netrc", help="Read no netrc file.", panel=REQUESTS)]
LoadCookies = Annotated[
    str | None,
    _flag(
        "--load-cookies",
        metavar="FILE",
        help="Start with the cookies of this cookies.txt (Netscape format, as curl -c writes).",
        panel=REQUESTS,
    ),
]
SaveCookies = Annotated[
    str | None,
    _flag(
        "--save-cookies",
        metavar="FILE",
        help="Write the cookies to this file at the end (Netscape format, mode 0600).",
        panel=REQUESTS,
    ),
]
LocationTrusted = Annotated[
    bool,
    _flag(
        "--location-trusted",
        help="Send credentials and secret headers to every host a redirect names, too.",
        panel=REQUESTS,
    ),
]

# Proxies and TLS
Proxy = Annotated[
    str | None,
    _flag(
        "--proxy",
        metavar="URL",
        help="Proxy for every request: http://HOST:PORT or https://HOST:PORT, with user:pass@ "
        "for its own auth; '' for none. Default: the http_proxy, https_proxy and all_proxy "
        "variables.",
        panel=TLS,
    ),
]
NoProxy = Annotated[
    str | None,
    _flag(
        "--no-proxy",
        metavar="HOSTS",
        help="Comma-separated hosts reached without the proxy, as no_proxy: domains (with "
        "their subdomains), IP addresses, CIDR ranges, HOST:PORT, or * for all.",
        panel=TLS,
    ),
]
CaCertificate = Annotated[
    str | None,
    _flag(
        "--ca-certificate",
        metavar="FILE",
        help="Trust the certificates of this PEM bundle instead of the system's.",
        panel=TLS,
    ),
]
Insecure = Annotated[
    bool,
    _flag(
        "-k",
        "--insecure",
        help="Do not verify TLS certificates at all (wins over --ca-certificate).",
        panel=TLS,
    ),
]
Certificate = Annotated[
    str | None,
    _flag(
        "--certificate",
        metavar="FILE",
        help="Client certificate (PEM), with its key unless --private-key names another file.",
        panel=TLS,
    ),
]
PrivateKey = Annotated[
    str | None,
    _flag(
        "--private-key",
        metavar="FILE",
        help="Key of the client certificate, when not in its file (PEM).",
        panel=TLS,
    ),
]

# Lists and integrity
Checksums = Annotated[
    str | None,
    _flag(
        "--checksums",
        metavar="FILE",
        help="Check each file against this sha256sum-style file (HEX  NAME, or SHA256 (NAME) "
        "= HEX; md5 to sha512), NAME relative to OUTPUT.",
        panel=LISTS,
    ),
]
CheckIntegrity = Annotated[
    bool,
    _flag(
        "--check-integrity",
        help="On a rerun, hash the finished files whose checksum is known and fetch again "
        "those that differ.",
        panel=LISTS,
    ),
]
JsonLines = Annotated[
    bool,
    _flag(
        "--json",
        help="One JSON object per file on stdout as it finishes (JSON Lines); the rest goes "
        "to stderr.",
        panel=OUTPUT,
    ),
]

# Big files
LimitRate = Annotated[
    str | None,
    _flag(
        "--limit-rate",
        metavar="RATE",
        help="Download at most RATE bytes per second in all, one budget shared by every file "
        "(K, M, G: powers of 1024, e.g. 500K or 30M; 0: no limit). A list's "
        "max-download-limit= caps one file on top of it.",
        panel=BIG_FILES,
    ),
]


Split = Annotated[
    int,
    _flag(
        "--split",
        metavar="N",
        help=f"Up to N connections for one file (1 to {MAX_SPLIT}), each fetching a byte range "
        "of it; only files of at least twice --min-split-size, from servers that answer "
        "ranges with a validator.",
        panel=BIG_FILES,
    ),
]


def _size(text: str | int) -> int:
    """--min-split-size: 20M and the like (typer hands over the default as it is, an int)."""
    if isinstance(text, int):
        return text
    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


MinSplitSize = Annotated[
    int,
    typer.Option(
        "--min-split-size",
        metavar="SIZE",
        parser=_size,
        show_default=False,
        help="Split a file only when it is at least twice this size, and into parts no "
        "smaller (K, M, G: powers of 1024; at least 1M). Default: 20M.",
        rich_help_panel=BIG_FILES,
    ),
]


# Scale
def _procs(text: str) -> int:
    """--procs N, or auto: one per core (checked again by Options)."""
    if text == "auto":
        return os.cpu_count() or 1
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a whole number or auto") from None


Procs = Annotated[
    int,
    typer.Option(
        "--procs",
        metavar="P|auto",
        parser=_procs,
        help="Processes that download: this one and P-1 workers (auto: one per core); -j "
        "stays the total files in flight. One journal, the same names as with one process.",
        rich_help_panel=SCALE,
    ),
]
Cluster = Annotated[
    str | None,
    _flag(
        "--cluster",
        metavar="ADDRESS",
        help="Download on the workers of a Dask scheduler (tcp://HOST:PORT; pip install "
        "'adl[dask]'). OUTPUT must be one folder shared by every worker, at the same path.",
        panel=SCALE,
    ),
]
