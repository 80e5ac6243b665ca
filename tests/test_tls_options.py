"""--ca-certificate, -k/--insecure, --certificate and --private-key (downloader/tls.py).

Real https servers on 127.0.0.1 with certificate authorities made by `trustme` at test time:
a private CA trusted through the option (instead of the system store), a server that
requires a client certificate, and every bad value refused (exit 2) before any request.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from downloader import download_all
from downloader.api import run_batch
from downloader.cli import app
from downloader.errors import OptionsError
from downloader.events import Event, FileRetrying
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep
from .test_cli import ThreadedServer
from .tlsservers import BODY, BlockingTlsServer, HttpsOrigin, server_context, write_pem


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(tmp_path, ca) -> str:
    return write_pem(tmp_path / "ca.pem", ca.cert_pem)


async def fetch(url: str, dest: Path, **options) -> tuple[Result, list[Event]]:
    events: list[Event] = []
    batch = run_batch(
        entries_from_urls([url]), dest, Options(**options), events.append, sleep=FakeSleep()
    )
    [result] = [r async for r in batch]
    return result, events


def assert_done(result: Result, dest: Path) -> None:
    assert result.state is State.DONE, result.error
    assert (dest / "file.txt").read_bytes() == BODY


def assert_failed_once(result: Result, events: list[Event], error: str) -> None:
    assert (result.state, result.error, result.attempts) == (State.FAILED, error, 1)
    assert not [e for e in events if isinstance(e, FileRetrying)]


# -- trust ---------------------------------------------------------------------------------


async def test_a_private_ca_is_trusted_through_ca_certificate(tmp_path, ca, ca_file):
    async with HttpsOrigin(server_context(ca)) as server:
        untrusted, events = await fetch(server.url(), tmp_path / "without")
        trusted, _ = await fetch(server.url(), tmp_path / "with", ca_certificate=ca_file)

    error = "certificate verify failed: unable to get local issuer certificate"
    assert_failed_once(untrusted, events, error)
    assert_done(trusted, tmp_path / "with")


def test_ca_certificate_replaces_the_system_store(tmp_path, ca, ca_file):
    """SSL_CERT_FILE is the system store as OpenSSL reads it: it trusts `ca`, and
    --ca-certificate naming another CA must leave it out, as curl --cacert does."""
    other_ca = write_pem(tmp_path / "other.pem", trustme.CA().cert_pem)
    env = {**os.environ, "SSL_CERT_FILE": ca_file}

    def adl_get(url: str, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "downloader", "get", url, "-o", str(tmp_path / out)]
        return subprocess.run(
            [*command, *extra], env=env, capture_output=True, text=True, timeout=60
        )

    async def serve() -> tuple[subprocess.CompletedProcess[str], ...]:
        async with HttpsOrigin(server_context(ca)) as server:
            return await asyncio.gather(
                asyncio.to_thread(adl_get, server.url(), "system"),
                asyncio.to_thread(adl_get, server.url(), "other", "--ca-certificate", other_ca),
            )

    system, other = asyncio.run(serve())

    assert system.returncode == 0, system.stderr
    assert other.returncode == 1
    assert "certificate verify failed: unable to get local issuer certificate" in other.stdout


async def test_insecure_downloads_from_an_untrusted_server(tmp_path, ca):
    async with HttpsOrigin(server_context(ca)) as server:
        result, _ = await fetch(server.url(), tmp_path, insecure=True)

    assert_done(result, tmp_path)


async def test_insecure_wins_over_ca_certificate_as_in_curl(tmp_path, ca):
    other_ca = write_pem(tmp_path / "other.pem", trustme.CA().cert_pem)
    async with HttpsOrigin(server_context(ca)) as server:
        result, _ = await fetch(server.url(), tmp_path, insecure=True, ca_certificate=other_ca)

    assert_done(result, tmp_path)


def test_insecure_warns_once_on_stderr(tmp_path, ca):
    async def serve() -> subprocess.CompletedProcess[str]:
        async with HttpsOrigin(server_context(ca)) as server:
            urls = [server.url("a.txt"), server.url("b.txt")]
            command = [sys.executable, "-m", "downloader", "get", *urls, "-k", "-o", str(tmp_path)]
            return await asyncio.to_thread(
                subprocess.run, command, capture_output=True, text=True, timeout=60
            )

    result = asyncio.run(serve())

    assert result.returncode == 0, result.stderr
    warning = "adl: warning: --insecure: TLS certificates are not verified"
    assert result.stderr.splitlines() == [warning]
    assert (tmp_path / "b.txt").read_bytes() == BODY


# -- client certificates -----------------------------------------------------------------


@pytest.fixture
def client_ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("key_apart", [False, True], ids=["key-in-cert-file", "key-file"])
async def test_a_client_certificate_is_presented(tmp_path, ca, ca_file, client_ca, key_apart):
    client = client_ca.issue_cert("client@example.org")
    if key_apart:
        tls = {
            "certificate": write_pem(tmp_path / "cert.pem", *client.cert_chain_pems),
            "private_key": write_pem(tmp_path / "key.pem", client.private_key_pem),
        }
    else:
        tls = {
            "certificate": write_pem(tmp_path / "both.pem", client.private_key_and_cert_chain_pem)
        }
    async with HttpsOrigin(server_context(ca, client_ca=client_ca)) as server:
        result, _ = await fetch(server.url(), tmp_path / "out", ca_certificate=ca_file, **tls)

    assert_done(result, tmp_path / "out")


async def test_without_the_client_certificate_it_fails_once_saying_so(
    tmp_path, ca, ca_file, client_ca
):
    with BlockingTlsServer(server_context(ca, client_ca=client_ca)) as server:
        result, events = await fetch(server.url(), tmp_path, ca_certificate=ca_file)

    error = "the server requires a client certificate (--certificate)"
    assert_failed_once(result, events, error)
    # aiohttp itself sends a GET once more after an OSError on a new connection, too
    assert set(server.handshakes) == {"PEER_DID_NOT_RETURN_A_CERTIFICATE"}


async def test_a_client_certificate_the_server_does_not_trust_fails_once(
    tmp_path, ca, ca_file, client_ca
):
    stranger = trustme.CA().issue_cert("client@example.org")
    cert = write_pem(tmp_path / "both.pem", stranger.private_key_and_cert_chain_pem)
    with BlockingTlsServer(server_context(ca, client_ca=client_ca)) as server:
        result, events = await fetch(
            server.url(), tmp_path, ca_certificate=ca_file, certificate=cert
        )

    assert_failed_once(
        result, events, "the server rejected the TLS session: tlsv1 alert unknown ca"
    )
    assert set(server.handshakes) == {"CERTIFICATE_VERIFY_FAILED"}


async def test_the_blocking_server_accepts_the_right_client_certificate(
    tmp_path, ca, ca_file, client_ca
):
    """The control for the two tests above: the alerts come from the missing or foreign
    certificate, not from the test server."""
    client = client_ca.issue_cert("client@example.org")
    cert = write_pem(tmp_path / "both.pem", client.private_key_and_cert_chain_pem)
    with BlockingTlsServer(server_context(ca, client_ca=client_ca)) as server:
        result, _ = await fetch(server.url(), tmp_path, ca_certificate=ca_file, certificate=cert)

    assert_done(result, tmp_path)
    assert server.handshakes == ["ok"]


# -- bad values: exit 2 before any request -----------------------------------------------


def _bad_tls_files(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    client = ca.issue_cert("client@example.org")
    other = ca.issue_cert("other@example.org")
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (tmp_path / "folder").mkdir()
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    (tmp_path / "encrypted.pem").write_bytes(encrypted)
    return {
        "cert": write_pem(tmp_path / "cert.pem", *client.cert_chain_pems),
        "key": write_pem(tmp_path / "key.pem", client.private_key_pem),
        "other-key": write_pem(tmp_path / "other-key.pem", other.private_key_pem),
        "junk": str(tmp_path / "junk.pem"),
        "encrypted": str(tmp_path / "encrypted.pem"),
        "folder": str(tmp_path / "folder"),
        "missing": str(tmp_path / "missing.pem"),
        "under-a-file": str(tmp_path / "junk.pem" / "x.pem"),
    }


BAD_TLS = [
    (["--ca-certificate", "missing"], "CA certificate file '{missing}' does not exist"),
    (["--ca-certificate", "folder"], "CA certificate file '{folder}' is a directory"),
    (["--ca-certificate", "under-a-file"],
     "cannot read CA certificate file '{under-a-file}': Not a directory"),
    (["--ca-certificate", "junk"], "CA certificate file '{junk}' holds no PEM certificate"),
    (["--ca-certificate", "key"], "CA certificate file '{key}' holds no PEM certificate"),
    (["-k", "--ca-certificate", "missing"], "CA certificate file '{missing}' does not exist"),
    (["--certificate", "missing"], "client certificate file '{missing}' does not exist"),
    (["--certificate", "junk"], "client certificate '{junk}' holds no PEM certificate"),
    (["--certificate", "cert"],
     "client certificate '{cert}' holds no private key: give its key (--private-key)"),
    (["--certificate", "cert", "--private-key", "other-key"],
     "private key '{other-key}' does not match the client certificate '{cert}'"),
    (["--certificate", "cert", "--private-key", "junk"],
     "private key file '{junk}' holds no PEM private key"),
    (["--certificate", "cert", "--private-key", "missing"],
     "private key file '{missing}' does not exist"),
    (["--certificate", "cert", "--private-key", "encrypted"],
     "private key '{encrypted}' is encrypted: adl cannot ask for its passphrase"),
    (["--private-key", "key"], "a private key needs its client certificate (--certificate)"),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "message"), BAD_TLS)
def test_bad_tls_values_exit_2_before_any_request(tmp_path, flags, message):
    files = _bad_tls_files(tmp_path)
    argv = [files.get(flag, flag) for flag in flags]
    with ThreadedServer() as server:
        server.add("file.txt", BODY)
        url = server.url("file.txt")
        result = CliRunner().invoke(app, ["get", url, "-o", str(tmp_path / "out"), *argv])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("adl: " + message.format(**files))
    assert server.requests["file.txt"] == 0
    assert not (tmp_path / "out").exists()


async def test_the_library_raises_on_a_bad_tls_value(tmp_path):
    with pytest.raises(OptionsError, match="does not exist"):
        await download_all([], tmp_path, ca_certificate=str(tmp_path / "missing.pem"))
