"""Request policy: what is sent and to whom. Headers, credentials (URL, --user, netrc) and the
origin rule that keeps secrets from the hosts a redirect names."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from yarl import URL

from downloader import __version__, download_all
from downloader.cli import app
from downloader.errors import OptionsError, RedirectError
from downloader.options import Options
from downloader.request import RequestPolicy, parse_header, redirect_target, same_origin

from .fileserver import FileServer
from .test_cli import _child_env, live, runner  # noqa: F401 - fixtures and the child env


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("Accept: application/octet-stream", ("Accept", "application/octet-stream")),
        ("X-Token:abc", ("X-Token", "abc")),
        ("Authorization: Bearer t0k:en", ("Authorization", "Bearer t0k:en")),  # ':' in value
        ("X-Empty:", ("X-Empty", "")),
        ("X-Spaces:   padded   ", ("X-Spaces", "padded")),
    ],
)
def test_parse_header(text, parsed):
    assert parse_header(text) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("NoColon", "has no colon"),
        ("X-Evil: a\r\nInjected: 1", "line break"),
        ("X-Evil: a\nb", "line break"),
        ("X-Nul: a\0", "line break or NUL"),
        ("Bad Name: v", "not a valid HTTP field name"),
        (": v", "not a valid HTTP field name"),
        ("Accept-Encoding: gzip", "bytes saved are the bytes served"),
        ("range: bytes=0-", "resume"),
        ("If-Range: x", "resume"),
    ],
)
def test_bad_headers_are_refused_naming_them(text, says):
    with pytest.raises(OptionsError, match=says):
        parse_header(text)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://h/x", "http://h/y?q", True),
        ("http://h/x", "http://h:80/y", True),  # default port filled in
        ("https://h/x", "http://h/x", False),  # a downgrade is another origin
        ("http://h/x", "http://h:8080/x", False),
        ("http://h/x", "http://other/x", False),
        ("http://u:p@h/x", "http://h/x", True),  # userinfo is not part of the origin
    ],
)
def test_same_origin(a, b, same):
    assert same_origin(URL(a), URL(b)) is same


@pytest.mark.parametrize(
    ("current", "location", "target"),
    [
        ("http://h/a/b", "c", "http://h/a/c"),
        ("http://h/a", "https://cdn/x", "https://cdn/x"),
        ("http://h/a", "//cdn/x", "http://cdn/x"),
        ("http://h/a", "http://u:p@cdn/x", "http://cdn/x"),  # no userinfo of its own
    ],
)
def test_redirect_target(current, location, target):
    assert redirect_target(URL(current), location) == URL(target)


@pytest.mark.parametrize("location", ["ftp://h/x", "file:///etc/passwd", "data:,x"])
def test_redirect_to_another_scheme_is_refused(location):
    with pytest.raises(RedirectError):
        redirect_target(URL("http://h/a"), location)


def policy(tmp_path: Path, netrc_text: str | None = None, **options) -> RequestPolicy:
    if netrc_text is not None:
        (tmp_path / "netrc").write_text(netrc_text)
        options["netrc_file"] = str(tmp_path / "netrc")
    else:
        options.setdefault("netrc", False)  # not the ~/.netrc of whoever runs the tests
    return RequestPolicy.from_options(Options(**options))


def test_credentials_come_from_the_url_then_user_then_netrc(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc of the machine running the tests
    netrc = "machine h login nl password np\n"
    url, bare, other = URL("http://ul:up@h/x"), URL("http://h/x"), URL("http://other/x")
    both = policy(tmp_path, netrc, user="cl:cp")
    assert both.credentials(url) == basic("ul", "up")
    assert both.credentials(bare) == basic("cl", "cp")
    assert policy(tmp_path, netrc).credentials(bare) == basic("nl", "np")
    assert policy(tmp_path, netrc).credentials(other) is None  # no entry, no default
    assert policy(tmp_path, netrc, netrc=False).credentials(bare) is None


def test_netrc_comes_from_the_netrc_variable_or_home(tmp_path, monkeypatch):
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert RequestPolicy.from_options(Options()).netrc is None  # no ~/.netrc: fine
    (tmp_path / ".netrc").write_text("default login d password dp\n")
    assert RequestPolicy.from_options(Options()).credentials(URL("http://any/x")) == basic(
        "d", "dp"
    )
    (tmp_path / "elsewhere").write_text("machine any login e password ep\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "elsewhere"))
    assert RequestPolicy.from_options(Options()).credentials(URL("http://any/x")) == basic(
        "e", "ep"
    )


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"netrc_file": "/nonexistent/netrc"}, "does not exist"),
        ({"user": "nopassword"}, "needs a password"),
        ({"user": "u:p\r\nX: y"}, "line break"),
        ({"user_agent": "a\nb"}, "user agent"),
        ({"headers": ("Broken",)}, "no colon"),
    ],
)
def test_bad_request_options_are_options_errors(options, says):
    with pytest.raises(OptionsError, match=says):
        RequestPolicy.from_options(Options(**options))


def test_a_netrc_that_does_not_parse_names_the_file_and_line(tmp_path):
    (tmp_path / "netrc").write_text("machine h login u password p\nbogus words\n")
    with pytest.raises(OptionsError, match=r"netrc file .*netrc.*line"):
        RequestPolicy.from_options(Options(netrc_file=str(tmp_path / "netrc")))


def test_headers_follow_redirects_but_secrets_stay_with_their_origin(tmp_path):
    secrets = policy(tmp_path, headers=("Authorization: Bearer T", "Cookie: c=1", "X-A: 1"))
    base = {"Range": "bytes=5-"}
    home = secrets.headers(base, trusted=True, auth=basic("u", "p"))
    away = secrets.headers(base, trusted=False, auth=basic("u", "p"))
    assert home == {"Range": "bytes=5-", "X-A": "1", "Authorization": "Bearer T", "Cookie": "c=1"}
    assert away == {"Range": "bytes=5-", "X-A": "1"}
    assert policy(tmp_path).headers(base, trusted=True, auth=None) is base  # nothing added


# --- a real server, and a second origin a redirect leads to -----------------------------------


def headers_seen(server: FileServer, path: str) -> dict[str, str]:
    [headers] = [h for p, h in server.request_headers if p == path]
    return headers


async def redirected_batch(server, elsewhere, tmp_path, url_userinfo="", **options):
    elsewhere.add("file.bin", b"payload")
    server.redirect("go.bin", elsewhere.url("file.bin"))
    listed = server.url("go.bin").replace("http://", f"http://{url_userinfo}")
    return await download_all([listed], tmp_path, netrc=False, **options)


SECRET_OPTIONS = {
    "headers": ["Authorization: Bearer s3cr3t", "Cookie: sid=42", "Accept: application/x-bin"],
    "user_agent": "fetcher/2",
    "referer": "http://ref.example/",
}


async def test_a_redirect_to_another_origin_carries_no_secret(server, elsewhere, tmp_path):
    batch = await redirected_batch(server, elsewhere, tmp_path, **SECRET_OPTIONS)

    assert batch.ok, batch.failed
    assert (tmp_path / "go.bin").read_bytes() == b"payload"  # named after the listed URL
    home, away = headers_seen(server, "/go.bin"), headers_seen(elsewhere, "/file.bin")
    assert home["Authorization"] == "Bearer s3cr3t" and home["Cookie"] == "sid=42"
    assert "Authorization" not in away and "Cookie" not in away
    for seen in (home, away):  # the other headers follow the redirect, as in curl
        assert seen["Accept"] == "application/x-bin"
        assert seen["User-Agent"] == "fetcher/2"
        assert seen["Referer"] == "http://ref.example/"
        assert seen["Accept-Encoding"] == "identity"


async def test_url_and_user_credentials_stay_with_their_origin(server, elsewhere, tmp_path):
    batch = await redirected_batch(server, elsewhere, tmp_path, url_userinfo="ann:pw@")
    assert batch.ok, batch.failed
    assert headers_seen(server, "/go.bin")["Authorization"] == basic("ann", "pw")
    assert "Authorization" not in headers_seen(elsewhere, "/file.bin")

    again = await redirected_batch(server, elsewhere, tmp_path / "2", user="bob:pw2")
    assert again.ok, again.failed
    [_, home] = [h for p, h in server.request_headers if p == "/go.bin"]
    [_, away] = [h for p, h in elsewhere.request_headers if p == "/file.bin"]
    assert home["Authorization"] == basic("bob", "pw2")
    assert "Authorization" not in away


async def test_location_trusted_sends_the_secrets_along(server, elsewhere, tmp_path):
    batch = await redirected_batch(
        server, elsewhere, tmp_path, user="bob:pw2", location_trusted=True, **SECRET_OPTIONS
    )
    assert batch.ok, batch.failed
    away = headers_seen(elsewhere, "/file.bin")
    assert away["Authorization"] == "Bearer s3cr3t"  # the explicit -H wins over --user
    assert away["Cookie"] == "sid=42"


async def test_the_default_user_agent_names_adl(server, tmp_path):
    server.add("a.bin", b"x")
    assert (await download_all([server.url("a.bin")], tmp_path, netrc=False)).ok
    assert headers_seen(server, "/a.bin")["User-Agent"] == f"adl/{__version__}"


async def test_netrc_credentials_reach_a_server_that_requires_them(server, tmp_path, monkeypatch):
    server.auth = ("nico", "from-netrc")
    server.add("locked.bin", b"secret body")
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login nico password from-netrc\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))

    batch = await download_all([server.url("locked.bin")], tmp_path / "out")

    assert batch.ok, batch.failed
    assert (tmp_path / "out" / "locked.bin").read_bytes() == b"secret body"


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-H", "NoColon"], "NoColon"),
        (["-H", "X-Evil: a\r\nInjected: 1"], "X-Evil"),
        (["-u", "someone"], "-u someone"),
        (["--netrc-file", "/nonexistent/netrc"], "/nonexistent/netrc"),
    ],
)
def test_bad_request_flags_exit_2_before_any_request(live, runner, tmp_path, args, says):  # noqa: F811
    live.add("a.bin", b"x")
    result = runner.invoke(app, ["get", live.url("a.bin"), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert live.requests["a.bin"] == 0
    assert not (tmp_path / "o").exists()


def test_insecure_warns_once_on_stderr(live, runner, tmp_path):  # noqa: F811
    live.add("a.bin", b"x")
    result = runner.invoke(app, ["get", live.url("a.bin"), "-k", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("--insecure") == 1


def test_user_without_password_asks_on_the_terminal_without_echo(live, tmp_path):  # noqa: F811
    """`adl get URL -u nico` at a terminal: a password prompt (no echo), then the download."""
    live.auth = ("nico", "typed-secret")
    live.add("locked.bin", b"secret body")
    main, terminal = os.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "downloader", "get", live.url("locked.bin"), "-u", "nico",
         "-o", str(tmp_path), "--no-netrc"],
        stdin=terminal, stderr=terminal, stdout=subprocess.PIPE, env=_child_env(),
    )  # fmt: skip
    os.close(terminal)
    try:
        seen = _read_until(main, b"Password for nico: ")
        os.write(main, b"typed-secret\n")
        stdout, _ = child.communicate(timeout=30)
    finally:
        child.kill()
        os.close(main)
    assert child.returncode == 0, stdout
    assert b"typed-secret" not in seen + stdout
    assert (tmp_path / "locked.bin").read_bytes() == b"secret body"


def _read_until(fd: int, marker: bytes, seconds: float = 20) -> bytes:
    seen, deadline = b"", time.monotonic() + seconds
    while marker not in seen and time.monotonic() < deadline:
        seen += os.read(fd, 1024)
    assert marker in seen, seen
    return seen


def test_no_secret_reaches_the_output_even_with_debug(live, runner, tmp_path):  # noqa: F811
    live.add("ok.bin", b"x")
    live.redirect("loop.bin", live.url("loop.bin"))  # too many redirects
    urls = [
        live.url("ok.bin").replace("http://", "http://ann:url-secret@"),
        live.url("missing.bin").replace("http://", "http://ann:url-secret@"),
        live.url("loop.bin"),
        "http://ann:url-secret@127.0.0.1:1/refused.bin",
    ]
    result = runner.invoke(
        app,
        ["get", *urls, "-o", str(tmp_path), "--debug", "--retries", "0", "--no-netrc",
         "-H", "Authorization: Bearer header-secret", "-H", "Cookie: sid=cookie-secret",
         "-u", "bob:user-secret"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    for secret in ("url-secret", "header-secret", "cookie-secret", "user-secret"):
        assert secret not in result.output
    assert "ann:***@" in result.output
