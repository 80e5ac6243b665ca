"""--proxy, --no-proxy and the *_proxy variables (downloader/proxy.py).

The decision is a pure function, table-tested; then real downloads through a forward proxy
on 127.0.0.1 (tests/forwardproxy.py) that records each request line and the
Proxy-Authorization it saw, while the file server records what reached the origin.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner
from yarl import URL

from downloader.api import run_batch
from downloader.cli import app
from downloader.errors import OptionsError
from downloader.events import Event
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.proxy import Proxies, parse_proxy, proxies_from
from downloader.results import Result, State

from .conftest import FakeSleep
from .fileserver import FileServer
from .forwardproxy import ForwardProxy
from .test_cli import ThreadedServer
from .tlsservers import BODY, HttpsOrigin, server_context, write_pem

P = "http://proxy.example:3128"
Q = "http://other.example:8080"


def route(url: str, proxy=None, no_proxy=None, **variables: str) -> str | None:
    """The proxy a request to `url` goes through (None: direct)."""
    chosen = Proxies.from_settings(proxy, no_proxy, variables).route(URL(url)).proxy
    return None if chosen is None else str(chosen)


@pytest.mark.parametrize(
    ("url", "proxy", "no_proxy", "variables", "expected"),
    [
        # which proxy
        ("http://a.example/f", None, None, {}, None),
        ("http://a.example/f", P, None, {}, P),
        ("https://a.example/f", P, None, {}, P),
        ("http://a.example/f", P, None, {"http": Q}, P),  # --proxy wins over the variables
        ("http://a.example/f", "", None, {"http": Q, "all": Q}, None),  # '' is no proxy
        ("http://a.example/f", None, None, {"http": Q}, Q),
        ("https://a.example/f", None, None, {"http": Q}, None),
        ("https://a.example/f", None, None, {"https": Q}, Q),
        ("http://a.example/f", None, None, {"https": Q}, None),
        ("http://a.example/f", None, None, {"all": Q}, Q),
        ("https://a.example/f", None, None, {"all": Q}, Q),
        ("http://a.example/f", None, None, {"http": P, "all": Q}, P),
        ("https://a.example/f", None, None, {"http": P, "all": Q}, Q),
        # which hosts go direct: names and their subdomains
        ("http://example.com/", P, "example.com", {}, None),
        ("http://dl.example.com/", P, "example.com", {}, None),
        ("http://dl.example.com/", P, ".example.com", {}, None),
        ("http://example.com/", P, ".example.com", {}, None),
        ("http://dl.example.com/", P, "*.example.com", {}, None),
        ("http://badexample.com/", P, "example.com", {}, P),
        ("http://example.com.evil.org/", P, "example.com", {}, P),
        ("http://DL.Example.COM/", P, "example.com", {}, None),
        ("http://dl.example.com./", P, "Example.com.", {}, None),
        ("http://b.example/", P, "a.example, b.example ,,", {}, None),
        ("http://a.example/", P, "*", {}, None),
        ("https://a.example/", P, "localhost,*", {}, None),
        # addresses: exact, CIDR, IPv6; never as name suffixes (urllib's bypass says yes)
        ("http://127.0.0.1:8080/", P, "127.0.0.1", {}, None),
        ("http://127.0.0.1/", P, "0.0.1", {}, P),
        ("http://10.1.2.3/", P, "10.0.0.0/8", {}, None),
        ("http://11.0.0.1/", P, "10.0.0.0/8", {}, P),
        ("http://[::1]:8080/", P, "::1", {}, None),
        ("http://[::1]:8080/", P, "[::1]", {}, None),
        ("http://[::1]:8080/", P, "[::1]:8080", {}, None),
        ("http://[::1]:8081/", P, "[::1]:8080", {}, P),
        ("http://[fd00::5]/", P, "fd00::/8", {}, None),
        ("http://localhost/", P, "127.0.0.1", {}, P),  # names are not resolved
        # ports: default ones count
        ("http://example.com:8080/", P, "example.com:8080", {}, None),
        ("http://example.com/", P, "example.com:8080", {}, P),
        ("https://example.com/", P, "example.com:443", {}, None),
        ("http://10.0.0.1:81/", P, "10.0.0.1:80", {}, P),
        # entries that are neither names nor addresses match nothing
        ("http://example.com/", P, "example.com:http", {}, P),
        ("http://example.com/", P, "", {}, P),
        # no_proxy: the option, else the variable; both apply to --proxy too, as in curl
        ("http://a.example/", P, None, {"no": "a.example"}, None),
        ("http://a.example/", None, None, {"http": Q, "no": "a.example"}, None),
        ("http://a.example/", P, "b.example", {"no": "a.example"}, P),
        ("http://a.example/", P, "", {"no": "a.example"}, P),
    ],
)
def test_which_proxy_a_request_goes_through(url, proxy, no_proxy, variables, expected):
    assert route(url, proxy, no_proxy, **variables) == expected


def test_proxy_credentials_go_to_connect_for_https_and_in_the_request_for_http():
    proxies = Proxies.from_settings("http://me:p%40ss@proxy.example:3128/ignored", None, {})
    basic = "Basic " + base64.b64encode(b"me:p@ss").decode()

    https = proxies.route(URL("https://a.example/f"))
    http = proxies.route(URL("http://a.example/f"))

    assert str(https.proxy) == str(http.proxy) == "http://proxy.example:3128"
    assert (https.connect_headers, https.request_headers) == ({"Proxy-Authorization": basic}, None)
    assert (http.connect_headers, http.request_headers) == (None, {"Proxy-Authorization": basic})


def test_a_proxy_without_credentials_adds_no_header():
    chosen = Proxies.from_settings(P, None, {}).route(URL("https://a.example/"))
    assert (chosen.connect_headers, chosen.request_headers) == (None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("proxy.example:3128", "has no scheme: write http://proxy.example:3128"),
        ("socks5://proxy.example:1080", "SOCKS proxies are not supported, only http:// and"),
        ("socks5h://u:secret@proxy.example", "SOCKS proxies are not supported"),
        ("ftp://proxy.example", "the scheme must be http:// or https://"),
        ("http://", "is not a valid proxy URL: no host"),
        ("http://:3128", "is not a valid proxy URL: no host"),
        ("http://proxy.example:99999", "is not a valid proxy URL: Port out of range 0-65535"),
        ("http://proxy.example:port", "is not a valid proxy URL: Invalid URL: port can't be"),
        ("http://proxy.example:0", "is not a valid proxy URL: port 0"),
        ("http://proxy .example", "contains a space or control character"),
        ("http://proxy.example\n:1", "contains a space or control character"),
    ],
)
def test_a_malformed_proxy_url_is_an_options_error(text, message):
    with pytest.raises(OptionsError) as raised:
        parse_proxy(text, "proxy")

    assert message in str(raised.value)
    assert str(raised.value).startswith("proxy '")
    assert "secret" not in str(raised.value)


def test_a_malformed_variable_is_named_and_only_when_it_is_used():
    with pytest.raises(OptionsError) as raised:
        Proxies.from_settings(None, None, {"http": P, "all": "socks5://h:1080"})
    assert str(raised.value) == (
        "all_proxy variable 'socks5://h:1080': SOCKS proxies are not supported, only http:// "
        "and https:// (a proxy of '' ignores the variables: --proxy '')"
    )
    # http_proxy and https_proxy both set: all_proxy is never used, so never checked.
    Proxies.from_settings(None, None, {"http": P, "https": P, "all": "socks5://h:1080"})
    # --proxy given: the variables are not read at all.
    Proxies.from_settings("", None, {"http": "nonsense"})


def test_the_variables_are_read_as_urllib_reads_them(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", Q)
    monkeypatch.setenv("http_proxy", P)
    monkeypatch.setenv("HTTP_PROXY", Q)  # lower case wins
    monkeypatch.setenv("NO_PROXY", "skip.example")
    proxies = proxies_from(None, None)

    assert str(proxies.route(URL("https://a.example/")).proxy) == Q
    assert str(proxies.route(URL("http://a.example/")).proxy) == P
    assert proxies.route(URL("https://skip.example/")).proxy is None


def test_http_proxy_in_upper_case_is_ignored_under_cgi(monkeypatch):
    """A CGI's client can set HTTP_PROXY with a `Proxy:` header (CVE-2016-1000110)."""
    monkeypatch.setenv("HTTP_PROXY", Q)
    monkeypatch.setenv("REQUEST_METHOD", "GET")

    assert proxies_from(None, None).route(URL("http://a.example/")).proxy is None


# -- real downloads through the test proxy ---------------------------------------------


@pytest.fixture(autouse=True)
def _no_bypass(monkeypatch):
    """conftest sends loopback traffic direct; these tests want it through the proxy."""
    for name in ("no_proxy", "NO_PROXY", "NETRC"):
        monkeypatch.delenv(name, raising=False)


async def fetch(urls: list[str], dest: Path, **options) -> tuple[list[Result], list[Event]]:
    events: list[Event] = []
    batch = run_batch(
        entries_from_urls(urls), dest, Options(**options), events.append, sleep=FakeSleep()
    )
    return [r async for r in batch], events


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def origin_headers(server: FileServer) -> list[dict[str, str]]:
    return [headers for _path, headers in server.request_headers]


async def test_http_goes_through_the_proxy_with_its_credentials(tmp_path, server):
    url = server.url(server.add("file.txt", BODY))
    async with ForwardProxy(auth=("me", "s3cret")) as proxy:
        [result], _ = await fetch([url], tmp_path, proxy=proxy.url("me:s3cret"))

    assert result.state is State.DONE, result.error
    assert (tmp_path / "file.txt").read_bytes() == BODY
    assert [(s.request_line, s.proxy_authorization) for s in proxy.seen] == [
        (f"GET {url} HTTP/1.1", basic("me", "s3cret"))
    ]
    [headers] = origin_headers(server)
    assert "Proxy-Authorization" not in headers
    assert headers["User-Agent"].startswith("adl/")


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("proxy_tls", [False, True], ids=["http-proxy", "https-proxy"])
async def test_https_goes_through_a_connect_tunnel(tmp_path, ca, proxy_tls):
    """The proxy's credentials go on CONNECT only: inside the tunnel the origin sees none.
    One --ca-certificate serves both the origin and an https:// proxy."""
    ca_file = write_pem(tmp_path / "ca.pem", ca.cert_pem)
    proxy_context = server_context(ca) if proxy_tls else None
    async with (
        HttpsOrigin(server_context(ca)) as origin,
        ForwardProxy(auth=("me", "s3cret"), tls=proxy_context) as proxy,
    ):
        options = {"proxy": proxy.url("me:s3cret"), "ca_certificate": ca_file}
        results, _ = await fetch([origin.url("a.txt"), origin.url("b.txt")], tmp_path, **options)

    assert [r.state for r in results] == [State.DONE, State.DONE], [r.error for r in results]
    assert (tmp_path / "b.txt").read_bytes() == BODY
    assert {(s.request_line, s.proxy_authorization) for s in proxy.seen} == {
        (f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1", basic("me", "s3cret"))
    }
    assert len(origin.headers) == 2
    assert not [h for h in origin.headers if "Proxy-Authorization" in h]


async def test_a_proxy_authorization_header_goes_to_the_proxy_only(tmp_path, ca, server):
    """-H "Proxy-Authorization: ..." is for the proxy: on CONNECT for https, in the request
    for plain http, never inside a tunnel to the origin, and not sent at all without a proxy."""
    ca_file = write_pem(tmp_path / "ca.pem", ca.cert_pem)
    plain = server.url(server.add("plain.txt", BODY))
    header = ["Proxy-Authorization: Basic cHJveHk6cHc="]
    async with HttpsOrigin(server_context(ca)) as origin, ForwardProxy() as proxy:
        options = {"proxy": proxy.url(), "ca_certificate": ca_file, "headers": header}
        results, _ = await fetch([origin.url("a.txt"), plain], tmp_path, **options)
        direct, _ = await fetch([plain], tmp_path / "direct", headers=header)

    assert [r.state for r in results + direct] == [State.DONE] * 3
    assert {(s.request_line, s.proxy_authorization) for s in proxy.seen} == {
        (f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1", "Basic cHJveHk6cHc="),
        (f"GET {plain} HTTP/1.1", "Basic cHJveHk6cHc="),
    }
    assert not [h for h in origin.headers if "Proxy-Authorization" in h]
    assert not [h for h in origin_headers(server) if "Proxy-Authorization" in h]


async def test_https_through_a_proxy_with_a_callers_session(tmp_path, ca):
    """Proxies are chosen per request, so they hold for a session the caller brings."""
    import aiohttp

    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with (
        HttpsOrigin(server_context(ca)) as origin,
        ForwardProxy() as proxy,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
    ):
        batch = run_batch(
            entries_from_urls([origin.url()]), tmp_path, Options(proxy=proxy.url()), None, session
        )
        [result] = [r async for r in batch]

    assert result.state is State.DONE, result.error
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1"]


async def test_no_proxy_hosts_are_reached_directly(tmp_path, server):
    url = server.url(server.add("file.txt", BODY))
    async with ForwardProxy() as proxy:
        [result], _ = await fetch([url], tmp_path, proxy=proxy.url(), no_proxy="127.0.0.1")

    assert result.state is State.DONE, result.error
    assert proxy.seen == []
    assert len(server.request_headers) == 1


async def test_each_redirect_hop_decides_again(tmp_path, server, monkeypatch):
    """127.0.0.1 redirects to localhost, which no_proxy sends direct: the proxy sees the
    first hop only, and its credentials never reach the origin."""
    server.add("file.txt", BODY)
    url = server.url("/away/file.txt")
    monkeypatch.setenv("no_proxy", "localhost")
    async with ForwardProxy() as proxy:
        [result], _ = await fetch([url], tmp_path, proxy=proxy.url("me:s3cret"))

    assert result.state is State.DONE, result.error
    assert proxy.request_lines == [f"GET {url} HTTP/1.1"]
    hosts = [headers["Host"] for headers in origin_headers(server)]
    assert hosts == [URL(url).raw_authority, f"localhost:{URL(url).port}"]
    assert not [h for h in origin_headers(server) if "Proxy-Authorization" in h]


async def test_the_proxy_variables_are_honoured(tmp_path, server, monkeypatch):
    url = server.url(server.add("file.txt", BODY))
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        [result], _ = await fetch([url], tmp_path)

    assert result.state is State.DONE, result.error
    assert proxy.request_lines == [f"GET {url} HTTP/1.1"]


async def test_the_no_proxy_variable_is_honoured(tmp_path, server, monkeypatch):
    url = server.url(server.add("file.txt", BODY))
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("all_proxy", proxy.url())
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
        [result], _ = await fetch([url], tmp_path)

    assert result.state is State.DONE, result.error
    assert proxy.seen == []


async def test_aiohttp_reads_no_netrc_behind_our_back(tmp_path, server, monkeypatch):
    """With a proxy variable set, aiohttp's trust_env would read ~/.netrc itself: an
    Authorization for the origin and a Proxy-Authorization for the proxy, though netrc is
    off (--no-netrc) and request.py is the only one that may add credentials."""
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login me password s3cret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    url = server.url(server.add("file.txt", BODY))
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url())
        [result], _ = await fetch([url], tmp_path / "out", netrc=False)

    assert result.state is State.DONE, result.error
    assert [(s.request_line, s.proxy_authorization) for s in proxy.seen] == [
        (f"GET {url} HTTP/1.1", None)
    ]
    [headers] = origin_headers(server)
    assert "Authorization" not in headers


async def test_a_proxy_that_refuses_the_tunnel_fails_the_file_once(tmp_path, ca):
    async with HttpsOrigin(server_context(ca)) as origin, ForwardProxy(auth=("me", "x")) as proxy:
        [result], _ = await fetch([origin.url()], tmp_path, proxy=proxy.url(), insecure=True)

    assert result.state is State.FAILED
    assert result.error == "proxy refused the tunnel: HTTP 407 Proxy Authentication Required"
    assert (result.status, result.attempts) == (407, 1)
    assert origin.headers == []


async def test_a_proxy_that_is_down_is_named(tmp_path, server):
    async with ForwardProxy() as proxy:
        down = proxy.url()  # closed when the block ends: nothing listens there any more
    url = server.url(server.add("file.txt", BODY))
    [result], _ = await fetch([url], tmp_path, proxy=down, retries=0)

    assert result.state is State.FAILED
    assert result.error == f"cannot connect to proxy 127.0.0.1:{URL(down).port}: Connection refused"
    assert server.request_headers == []


# -- bad values: exit 2 before any request ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--proxy", "127.0.0.1:3128"], {},
         "proxy '127.0.0.1:3128' has no scheme: write http://127.0.0.1:3128"),
        (["--proxy", "socks5://u:secret@127.0.0.1:1080"], {},
         "proxy 'socks5://u:***@127.0.0.1:1080': SOCKS proxies are not supported"),
        (["--proxy", "http://127.0.0.1:70000"], {},
         "proxy 'http://127.0.0.1:70000' is not a valid proxy URL: Port out of range"),
        (["--proxy", "gopher://127.0.0.1"], {},
         "proxy 'gopher://127.0.0.1': the scheme must be http:// or https://"),
        ([], {"https_proxy": "proxy:3128"},
         "https_proxy variable 'proxy:3128' has no scheme: write http://proxy:3128"),
    ],
)  # fmt: skip
def test_a_bad_proxy_exits_2_before_any_request(tmp_path, monkeypatch, argv, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with ThreadedServer() as server:
        url = server.url(server.add("file.txt", BODY))
        result = CliRunner().invoke(app, ["get", url, "-o", str(tmp_path / "out"), *argv])

    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"adl: {message}")
    assert server.request_headers == []
    assert not (tmp_path / "out").exists()
