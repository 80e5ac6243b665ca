"""--load-cookies and --save-cookies: cookies.txt (Netscape format, as browsers' exporters and
`curl -c` write it) read into the batch's jar before it starts, the jar written back at its
end — atomically, mode 0600, also after Ctrl-C. Scoping (RFC 6265) is aiohttp's jar's.
The line format is tested as a table; the rest against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import shutil
import signal
import stat
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner
from yarl import URL

from downloader import download_all
from downloader.cli import app
from downloader.cookies import (
    HEADER,
    CookieFiles,
    CookieLineError,
    FileCookie,
    format_line,
    jar_cookies,
    load_into,
    parse_line,
    read_cookie_file,
    set_cookie_header,
    write_cookie_file,
)
from downloader.errors import OptionsError
from downloader.events import Notice

from .fileserver import Fault
from .test_cli import ThreadedServer, write_list
from .test_interrupts import _default_sigint

FUTURE = int(time.time()) + 10 * 365 * 86400
SECRET = "v4lu3-n0t-t0-pr1nt"


def cookie(domain="example.com", name="sid", value="abc", **fields) -> FileCookie:
    defaults = {"subdomains": False, "path": "/", "secure": False, "expires": 0}
    return FileCookie(domain=domain, name=name, value=value, **{**defaults, **fields})


def line(*fields: object) -> str:
    return "\t".join(str(f) for f in fields)


# --- the line format: a table -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (line("example.com", "FALSE", "/", "FALSE", 0, "sid", "abc"), cookie()),
        (  # curl's domain cookie: leading dot, include-subdomains TRUE
            line(".example.com", "TRUE", "/a", "TRUE", FUTURE, "sid", "abc"),
            cookie(subdomains=True, path="/a", secure=True, expires=FUTURE),
        ),
        (  # curl's HttpOnly marker
            "#HttpOnly_" + line("example.com", "FALSE", "/", "FALSE", 0, "sid", "abc"),
            cookie(http_only=True),
        ),
        (
            "#HttpOnly_" + line(".example.com", "TRUE", "/", "FALSE", 0, "sid", "abc"),
            cookie(subdomains=True, http_only=True),
        ),
        (  # an IP-address host
            line("127.0.0.1", "FALSE", "/", "FALSE", 0, "sid", "abc"),
            cookie(domain="127.0.0.1"),
        ),
        (line("[::1]", "FALSE", "/", "FALSE", 0, "sid", "abc"), cookie(domain="::1")),
        (  # Windows line end, upper-case host, lower-case flags
            line("Example.COM", "false", "/", "true", 0, "sid", "abc") + "\r\n",
            cookie(secure=True),
        ),
        (  # Python's MozillaCookieJar writes session cookies with an empty expiry
            line("example.com", "FALSE", "/", "FALSE", "", "sid", "abc"),
            cookie(),
        ),
        (  # some exporters write fractions of a second
            line("example.com", "FALSE", "/", "FALSE", "1900000000.25", "sid", "abc"),
            cookie(expires=1900000000),
        ),
        (  # curl drops the last field of a cookie with no value
            line("example.com", "FALSE", "/", "FALSE", 0, "sid"),
            cookie(value=""),
        ),
        (  # values as servers set them: base64, quotes, brackets in names
            line("example.com", "FALSE", "/", "FALSE", 0, "cart[1]", '"ab/c+d=="'),
            cookie(name="cart[1]", value='"ab/c+d=="'),
        ),
        (
            line("bücher.example", "FALSE", "/", "FALSE", 0, "sid", "abc"),
            cookie("xn--bcher-kva.example"),
        ),
        ("# Netscape HTTP Cookie File", None),
        ("# any comment\ttab\tseparated\tand\tseven\tfields", None),
        ("", None),
        ("   \r\n", None),
    ],
)
def test_parse_line(text, expected):
    assert parse_line(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not a cookies file", "7 fields"),
        ('{"name": "sid", "value": "' + SECRET + '"}', "7 fields"),
        (line("example.com", "FALSE", "/", "FALSE", 0, "sid", SECRET, "extra"), "7 fields"),
        (line("example.com", "yes", "/", "FALSE", 0, "sid", SECRET), "include-subdomains"),
        (line("example.com", "FALSE", "/", "1", 0, "sid", SECRET), "secure"),
        (line("example.com", "FALSE", "/", "FALSE", "tomorrow", "sid", SECRET), "expiry"),
        (line("example.com", "FALSE", "/", "FALSE", "-5", "sid", SECRET), "expiry"),
        (line("", "FALSE", "/", "FALSE", 0, "sid", SECRET), "domain"),
        (line("user@example.com", "FALSE", "/", "FALSE", 0, "sid", SECRET), "domain"),
        (line("exa mple.com", "FALSE", "/", "FALSE", 0, "sid", SECRET), "domain"),
        (line("example.com", "FALSE", "/", "FALSE", 0, "", SECRET), "name"),
        (line("example.com", "FALSE", "/", "FALSE", 0, "a b", SECRET), "name"),
        (line("example.com", "FALSE", "/", "FALSE", 0, "a=b", SECRET), "name"),
        (line("example.com", "FALSE", "/", "FALSE", 0, "sid", SECRET + "; Domain=x"), "value"),
        (line("example.com", "FALSE", "/;x", "FALSE", 0, "sid", SECRET), "path"),
    ],
)
def test_a_bad_line_says_why_and_never_what_it_holds(text, why):
    with pytest.raises(CookieLineError) as caught:
        parse_line(text)

    assert why in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (cookie(), line("example.com", "FALSE", "/", "FALSE", 0, "sid", "abc")),
        (
            cookie(subdomains=True, path="/a", secure=True, expires=FUTURE, http_only=True),
            "#HttpOnly_" + line(".example.com", "TRUE", "/a", "TRUE", FUTURE, "sid", "abc"),
        ),
        (
            cookie(domain="127.0.0.1", value=""),
            line("127.0.0.1", "FALSE", "/", "FALSE", 0, "sid", ""),
        ),
        (cookie(value="a\tb"), None),  # would read back as eight fields
        (cookie(path="/a\nb"), None),
    ],
)
def test_format_line(value, expected):
    assert format_line(value) == expected
    if expected is not None:
        assert parse_line(expected) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (cookie(), "sid=abc; Path=/"),
        (
            cookie(subdomains=True, secure=True, http_only=True, expires=1900000000),
            "sid=abc; Path=/; Domain=example.com; Expires=Sun, 17 Mar 2030 17:46:40 GMT; "
            "Secure; HttpOnly",
        ),
        (cookie(expires=10**12), "sid=abc; Path=/; Expires=Fri, 31 Dec 9999 23:59:59 GMT"),
    ],
)
def test_set_cookie_header(value, expected):
    assert set_cookie_header(value) == expected


# --- RFC 6265 scoping, by aiohttp's jar, of cookies loaded from a file ---------------------------


SCOPED = [
    cookie("example.com", "host_only"),
    cookie("example.com", "domain_wide", subdomains=True),
    cookie("example.com", "deep", path="/private"),
    cookie("example.com", "tls_only", secure=True),
    cookie("example.com", "persistent", expires=FUTURE),
    cookie("example.com", "expired", expires=int(time.time()) - 60),
    cookie("127.0.0.1", "by_ip"),
    cookie("other.example", "elsewhere"),
]


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("http://example.com/file", {"host_only", "domain_wide", "persistent"}),
        ("https://example.com/file", {"host_only", "domain_wide", "persistent", "tls_only"}),
        ("http://example.com/private/file", {"host_only", "domain_wide", "persistent", "deep"}),
        ("http://example.com/privateer", {"host_only", "domain_wide", "persistent"}),
        ("http://cdn.example.com/file", {"domain_wide"}),
        ("http://notexample.com/file", set()),
        ("http://127.0.0.1:8080/file", {"by_ip"}),
        ("http://other.example/file", {"elsewhere"}),
    ],
)
async def test_loaded_cookies_follow_rfc_6265_scoping(url, sent):
    jar = aiohttp.CookieJar(unsafe=True, quote_cookie=False)  # as our own session's

    load_into(jar, SCOPED, time.time())

    assert set(jar.filter_cookies(URL(url))) == sent


async def test_the_jar_saves_what_it_loaded_and_what_servers_set():
    jar = aiohttp.CookieJar(unsafe=True, quote_cookie=False)
    loaded = [c for c in SCOPED if c.name != "expired"]
    load_into(jar, SCOPED, time.time())
    host = URL("http://127.0.0.1:8080/login")
    jar.update_cookies_from_headers(["fresh=1; Max-Age=3600; HttpOnly", 'q="x y"'], host)
    jar.update_cookies({"anywhere": "1"})  # no host: no line could scope it

    saved = {c.name: c for c in jar_cookies(jar, time.time())}

    assert {name: saved[name] for name in saved if name not in ("fresh", "q")} == {
        c.name: c for c in loaded
    }
    assert saved["fresh"].http_only and not saved["fresh"].subdomains
    assert abs(saved["fresh"].expires - (time.time() + 3600)) < 5
    assert saved["q"].value == '"x y"'  # as the server set it, as curl keeps it


async def test_a_caller_jar_with_its_own_rules_is_loaded_under_them():
    jar = aiohttp.CookieJar()  # aiohttp's default: no cookies for IP-address hosts
    load_into(jar, SCOPED, time.time())
    assert not jar.filter_cookies(URL("http://127.0.0.1/file"))
    assert set(jar.filter_cookies(URL("http://other.example/file"))) == {"elsewhere"}


# --- the files ------------------------------------------------------------------------------------


def test_read_cookie_file_skips_comments_and_keeps_httponly(tmp_path):
    path = tmp_path / "cookies.txt"
    path.write_bytes(
        b"\xef\xbb\xbf# Netscape HTTP Cookie File\r\n\r\n"  # a BOM, Windows line ends
        b"#HttpOnly_example.com\tFALSE\t/\tFALSE\t0\tsid\tabc\r\n"
        b"# a comment\r\n.example.com\tTRUE\t/\tFALSE\t0\tlang\ten\r\n"
    )
    assert read_cookie_file(str(path)) == (
        cookie(http_only=True),
        cookie(name="lang", value="en", subdomains=True),
    )


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (None, "does not exist"),
        ("directory", "cannot read cookies file"),
        (b"SQLite format 3\x00\xff\xfe\x01", "line 1 is not UTF-8"),
        (f"# Netscape HTTP Cookie File\n\nexample.com FALSE / FALSE 0 sid {SECRET}\n", "line 3"),
    ],
    ids=["missing", "directory", "binary", "spaces-not-tabs"],
)
def test_a_cookies_file_that_cannot_be_used_is_an_options_error(tmp_path, content, mentions):
    path = tmp_path / "cookies.txt"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    with pytest.raises(OptionsError) as caught:
        CookieFiles.from_options(str(path), None)

    assert mentions in str(caught.value) and str(path) in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("where", "mentions"),
    [("missing/cookies.txt", "does not exist"), ("", "is a directory")],
)
def test_a_save_path_that_cannot_be_written_is_an_options_error(tmp_path, where, mentions):
    with pytest.raises(OptionsError, match=mentions):
        CookieFiles.from_options(None, str(tmp_path / where))


def test_a_save_folder_without_write_permission_is_an_options_error(read_only_dir):
    with pytest.raises(OptionsError, match="not writable"):
        CookieFiles.from_options(None, str(read_only_dir / "cookies.txt"))


def test_the_saved_file_is_private_whatever_the_umask(tmp_path):
    path = tmp_path / "cookies.txt"
    path.write_text("old")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_cookie_file(path, [cookie()])
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == HEADER + format_line(cookie()) + "\n"


def test_a_save_that_fails_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "cookies.txt"
    path.write_text("the old cookies\n")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_cookie_file(path, [cookie()])

    assert path.read_text() == "the old cookies\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cookies.txt"]


# --- against a real server ------------------------------------------------------------------------


def cookie_checker(server, name: str) -> list[dict[str, str]]:
    """/name answers 403 unless a request carries the cookie `sid`; returns, per request, the
    cookies that came (name -> value)."""
    seen: list[dict[str, str]] = []

    def check(path: str, request) -> None:
        if path == name:
            seen.append(dict(request.cookies))
            if "sid" not in seen[-1]:
                server.fail_next(name, Fault("status", status=403))

    server.hooks.append(check)
    return seen


def cookies_txt(path: Path, *lines: str) -> Path:
    path.write_text("# Netscape HTTP Cookie File\n\n" + "".join(f"{x}\n" for x in lines))
    return path


async def test_loaded_cookies_reach_the_server_within_their_scope_only(server, tmp_path):
    data = server.add("data.bin", b"members only")
    seen = cookie_checker(server, "data.bin")
    jar_file = cookies_txt(
        tmp_path / "cookies.txt",
        "#HttpOnly_" + line("127.0.0.1", "FALSE", "/", "FALSE", FUTURE, "sid", "ab/c+d=="),
        line("127.0.0.1", "FALSE", "/", "FALSE", 0, "session", "s1"),
        line(".example.com", "TRUE", "/", "FALSE", FUTURE, "other_host", "no"),
        line("127.0.0.1", "FALSE", "/private", "FALSE", FUTURE, "other_path", "no"),
        line("127.0.0.1", "FALSE", "/", "FALSE", 1_000_000_000, "expired", "no"),
        line("127.0.0.1", "FALSE", "/", "TRUE", FUTURE, "tls_only", "no"),
    )

    results = await download_all(
        [server.url(data)], tmp_path / "out", retries=0, load_cookies=str(jar_file)
    )

    assert results.ok, results.failed
    assert seen == [{"sid": "ab/c+d==", "session": "s1"}]


async def test_cookies_a_server_sets_are_saved_as_curl_reads_them(server, tmp_path):
    login = server.add(
        "login",
        b"welcome",
        **{"Set-Cookie": "sid=t0k/en==; Path=/; Max-Age=3600; HttpOnly"},
    )
    data = server.add("data.bin", b"members only")
    seen = cookie_checker(server, "data.bin")
    saved = tmp_path / "saved.txt"

    results = await download_all(
        [server.url(login)], tmp_path / "out", retries=0, save_cookies=str(saved)
    )

    assert results.ok
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    lines = saved.read_text().splitlines()
    assert lines[0] == "# Netscape HTTP Cookie File"
    fields = lines[-1].split("\t")
    assert fields[:4] == ["#HttpOnly_127.0.0.1", "FALSE", "/", "FALSE"]
    assert abs(int(fields[4]) - (time.time() + 3600)) < 60
    assert fields[5:] == ["sid", "t0k/en=="]
    # Python's own reader takes it, and so does adl on the next run
    other = http.cookiejar.MozillaCookieJar()
    other.load(str(saved))
    assert [(c.domain, c.name, c.value) for c in other] == [("127.0.0.1", "sid", "t0k/en==")]
    again = await download_all(
        [server.url(data)], tmp_path / "out", retries=0, load_cookies=str(saved)
    )
    assert again.ok and seen == [{"sid": "t0k/en=="}]
    if shutil.which("curl"):  # curl -b sends what we wrote
        curl = await asyncio.create_subprocess_exec(
            "curl", "-sf", "--noproxy", "*", "-b", str(saved), "-o", os.devnull, server.url(data)
        )
        assert await curl.wait() == 0
        assert seen[-1] == {"sid": "t0k/en=="}


async def test_a_caller_session_gets_the_file_cookies_and_its_jar_is_saved(server, tmp_path):
    data = server.add("data.bin", b"members only")
    seen = cookie_checker(server, "data.bin")
    jar_file = cookies_txt(
        tmp_path / "in.txt", line("127.0.0.1", "FALSE", "/", "FALSE", 0, "sid", "s1")
    )
    saved = tmp_path / "out.txt"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        session.cookie_jar.update_cookies({"mine": "m"}, URL(server.url("/")))
        results = await download_all(
            [server.url(data)],
            tmp_path / "out",
            load_cookies=str(jar_file),
            save_cookies=str(saved),
            session=session,
        )

    assert results.ok and seen == [{"mine": "m", "sid": "s1"}]
    assert {c.name for c in read_cookie_file(str(saved))} == {"mine", "sid"}


async def test_a_save_that_fails_at_the_end_is_a_notice_not_a_crash(server, tmp_path):
    login = server.add("login", b"welcome", **{"Set-Cookie": "sid=s1"})
    folder = tmp_path / "gone"
    folder.mkdir()
    server.hooks.append(lambda name, request: shutil.rmtree(folder, ignore_errors=True))
    events = []

    results = await download_all(
        [server.url(login)],
        tmp_path / "out",
        save_cookies=str(folder / "cookies.txt"),
        on_event=events.append,
    )

    assert results.ok
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert notices == [
        f"cannot save cookies to {folder / 'cookies.txt'}: No such file or directory"
    ]


async def test_ctrl_c_still_saves_the_cookies(server, tmp_path):
    login = server.add("login", b"welcome", **{"Set-Cookie": "sid=s1; Path=/"})
    slow = server.add("slow.bin", os.urandom(1024 * 1024))
    server.rate = 256 * 1024  # four seconds: the interrupt lands mid-body
    listing = write_list(tmp_path / "list.txt", server.url(login), server.url(slow))
    saved = tmp_path / "saved.txt"
    adl = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "downloader", "get", str(listing), "-o", str(tmp_path / "out"),
        "-j", "1", "--save-cookies", str(saved),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True, preexec_fn=_default_sigint,
    )  # fmt: skip
    for _ in range(1000):
        if server.bytes_sent["slow.bin"]:
            break
        await asyncio.sleep(0.01)
    adl.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(adl.communicate(), timeout=30)

    assert adl.returncode == 130, stderr.decode()
    assert [(c.domain, c.name, c.value) for c in read_cookie_file(str(saved))] == [
        ("127.0.0.1", "sid", "s1")
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".saved")] == []


# --- the command: bad files are exit 2 before any request -----------------------------------------


@pytest.mark.parametrize(
    ("flag", "make", "mentions"),
    [
        ("--load-cookies", lambda p: p, "does not exist"),
        ("--load-cookies", lambda p: (p.mkdir(), p)[1], "cannot read cookies file"),
        (
            "--load-cookies",
            lambda p: cookies_txt(p, line("127.0.0.1", "FALSE", "/", "FALSE", 0, "sid") + " x"),
            "line 3",
        ),
        (
            "--load-cookies",
            lambda p: cookies_txt(p, line("127.0.0.1", "no", "/", "FALSE", 0, "sid", SECRET)),
            "line 3: the include-subdomains flag (field 2) is neither TRUE nor FALSE",
        ),
        ("--save-cookies", lambda p: p / "sub" / "c.txt", "does not exist"),
        ("--save-cookies", lambda p: (p.mkdir(), p)[1], "is a directory"),
    ],
    ids=["missing", "directory", "bad-line", "secret-line", "no-folder", "save-to-dir"],
)
def test_bad_cookie_files_exit_2_before_any_request(tmp_path, flag, make, mentions):
    target = make(tmp_path / "cookies.txt")
    with ThreadedServer() as live:
        live.add("a.txt", b"alpha")
        listing = write_list(tmp_path / "list.txt", live.url("a.txt"))

        result = CliRunner().invoke(
            app, ["get", str(listing), "-o", str(tmp_path / "out"), flag, str(target)]
        )

        assert result.exit_code == 2, result.output
        assert mentions in result.stderr and str(target) in result.stderr
        assert SECRET not in result.output
        assert "Traceback" not in result.output
        assert not live.requests
