"""TLS failures say what failed, in OpenSSL's words, and are not retried: another try
cannot make a certificate valid or a plain-HTTP port speak TLS.

A real aiohttp https server on 127.0.0.1 with certificates from `trustme` (a throwaway CA).
A test that trusts that CA brings its own session whose SSL context trusts it.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey

from downloader.api import run_batch
from downloader.errors import NOT_TLS_REASON, ConnectError, TLSError, from_exception
from downloader.events import Event, FileRetrying
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep

BODY = b"served over TLS\n"
LONG_AGO = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


class HttpsServer:
    """Serves BODY at /file.txt, over TLS with `cert` (or plain HTTP when it is None)."""

    def __init__(self, cert: trustme.LeafCert | None, chain_extra: bytes = b"") -> None:
        self.requests = 0
        self._context = None
        if cert is not None:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            if chain_extra:  # serve the CA's certificate after the leaf's
                pem = cert.private_key_and_cert_chain_pem.bytes() + chain_extra
                with trustme.Blob(pem).tempfile() as path:
                    self._context.load_cert_chain(path)
            else:
                cert.configure_cert(self._context)

    async def __aenter__(self) -> HttpsServer:
        app = web.Application()
        app.router.add_get("/file.txt", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/file.txt"

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(body=BODY)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def trusting_session(ca) -> AsyncIterator[aiohttp.ClientSession]:
    """A caller's session whose SSL context trusts the test CA (and only it)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


async def fetch(url: str, dest: Path, session=None) -> tuple[Result, list[Event]]:
    events: list[Event] = []
    batch = run_batch(
        entries_from_urls([url]), dest, Options(), events.append, session, sleep=FakeSleep()
    )
    [result] = [r async for r in batch]
    return result, events


def assert_failed_once(result: Result, events: list[Event], error: str) -> None:
    assert result.state is State.FAILED
    assert result.error == error
    assert result.status is None
    assert result.attempts == 1
    assert not [e for e in events if isinstance(e, FileRetrying)]


async def test_a_certificate_from_an_unknown_ca_is_not_retried(tmp_path, ca):
    async with HttpsServer(ca.issue_cert("127.0.0.1"), ca.cert_pem.bytes()) as server:
        result, events = await fetch(server.url, tmp_path)

    error = "certificate verify failed: self-signed certificate in certificate chain"
    assert_failed_once(result, events, error)
    assert server.requests == 0


async def test_a_certificate_for_another_name_is_not_retried(tmp_path, ca, trusting_session):
    async with HttpsServer(ca.issue_cert("example.org")) as server:
        result, events = await fetch(server.url, tmp_path, trusting_session)

    error = (
        "certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'"
    )
    assert_failed_once(result, events, error)


async def test_an_expired_certificate_is_not_retried(tmp_path, ca, trusting_session):
    old = ca.issue_cert("127.0.0.1", not_before=LONG_AGO, not_after=LONG_AGO.replace(month=2))
    async with HttpsServer(old) as server:
        result, events = await fetch(server.url, tmp_path, trusting_session)

    assert_failed_once(result, events, "certificate verify failed: certificate has expired")


async def test_https_to_a_plain_http_port_says_so_and_is_not_retried(tmp_path):
    async with HttpsServer(None) as server:
        result, events = await fetch(server.url, tmp_path)

    assert_failed_once(result, events, f"TLS handshake failed: {NOT_TLS_REASON}")
    assert "plain HTTP on an https port" in NOT_TLS_REASON


async def test_a_trusted_certificate_downloads(tmp_path, ca, trusting_session):
    async with HttpsServer(ca.issue_cert("127.0.0.1")) as server:
        result, _ = await fetch(server.url, tmp_path, trusting_session)

    assert result.state is State.DONE, result.error
    assert (tmp_path / "file.txt").read_bytes() == BODY


async def test_ssl_cert_file_names_the_cas_the_cli_trusts(tmp_path, ca):
    """OpenSSL reads SSL_CERT_FILE when the default context loads its CAs."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    listing = tmp_path / "list.txt"
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}

    async def adl_get(out: str, **extra: str) -> tuple[int | None, str]:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "downloader", "get", str(listing), "-o", str(tmp_path / out),
            env={**env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(child.communicate(), 60)
        return child.returncode, output.decode()

    async with HttpsServer(ca.issue_cert("127.0.0.1")) as server:
        listing.write_text(server.url + "\n")
        untrusted = await adl_get("without")
        trusted = await adl_get("with", SSL_CERT_FILE=str(ca_file))

    assert untrusted[0] == 1 and "certificate verify failed" in untrusted[1], untrusted
    assert trusted[0] == 0, trusted[1]
    assert (tmp_path / "with" / "file.txt").read_bytes() == BODY


KEY = ConnectionKey("example.org", 443, True, True, None, None, None)


def _ssl_error(kind: type[ssl.SSLError], reason: str, text: str) -> Exception:
    error = kind(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    error.reason = reason
    return aiohttp.ClientConnectorSSLError(KEY, error)


@pytest.mark.parametrize(
    ("raised", "kind", "message"),
    [
        # What OpenSSL 3.2+ says for a plain-HTTP answer (3.0 says WRONG_VERSION_NUMBER)
        (_ssl_error(ssl.SSLError, "RECORD_LAYER_FAILURE", "record layer failure"), TLSError,
         f"TLS handshake failed: {NOT_TLS_REASON}"),
        (_ssl_error(ssl.SSLError, "PACKET_LENGTH_TOO_LONG", "packet length too long"), TLSError,
         f"TLS handshake failed: {NOT_TLS_REASON}"),
        (_ssl_error(ssl.SSLError, "SSLV3_ALERT_HANDSHAKE_FAILURE", "sslv3 alert handshake failure"),
         TLSError, "TLS handshake failed: sslv3 alert handshake failure"),
        # A handshake cut short may pass next time: a connect failure, retried
        (_ssl_error(ssl.SSLEOFError, "UNEXPECTED_EOF_WHILE_READING", "EOF occurred"),
         ConnectError, "cannot connect to example.org:443: TLS handshake cut short"),
        # asyncio's error when the peer closes during the handshake has no errno and no text
        (aiohttp.ClientConnectorError(KEY, ConnectionResetError()), ConnectError,
         "cannot connect to example.org:443: connection reset"),
    ],
)  # fmt: skip
def test_tls_errors_map_to_what_failed(raised, kind, message):
    mapped = from_exception(raised)

    assert type(mapped) is kind
    assert str(mapped) == message
    assert mapped.retryable is (kind is ConnectError)
