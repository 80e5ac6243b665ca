"""castore.py: `adl get` imports aiohttp with its CA store read in a thread, not in its way."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap

import pytest

from downloader import castore

# Run in a fresh interpreter: this one imported aiohttp long ago. The main thread's profile
# hook sees every call of a C method, so it tells whether the main thread read a CA store.
FRESH = textwrap.dedent(
    """
    import ssl, sys
    read_here = []
    def hook(frame, event, arg):
        if event == "c_call" and getattr(arg, "__name__", "") == "set_default_verify_paths":
            read_here.append(arg)
    sys.setprofile(hook)
    from downloader import castore
    castore.import_aiohttp()
    aside = castore._loading is not None
    castore.ready()
    sys.setprofile(None)
    import aiohttp.connector as connector
    reference = ssl.create_default_context()
    print(len(read_here), aside, "set_default_verify_paths" in ssl.SSLContext.__dict__)
    print(len(connector._SSL_CONTEXT_VERIFIED.get_ca_certs()), len(reference.get_ca_certs()))
    print(connector._SSL_CONTEXT_UNVERIFIED.cert_store_stats() == reference.cert_store_stats())
    """
)


def test_the_ca_store_is_read_in_a_thread_and_every_context_has_it(tmp_path):
    # SSL_CERT_FILE: a store of one CA, so that the counts below say it was read.
    trustme = pytest.importorskip("trustme")
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    env = {**os.environ, "SSL_CERT_FILE": str(ca_file)}
    done = subprocess.run(
        [sys.executable, "-c", FRESH], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    main_thread, counts, unverified = done.stdout.splitlines()
    assert main_thread == "0 True False"  # none read here; put aside; the method restored
    assert counts == "1 1"  # aiohttp's default context trusts what the system store holds
    assert unverified == "True"


def test_nothing_is_put_aside_once_aiohttp_is_imported(monkeypatch):
    import aiohttp  # noqa: F401  (as a caller's program or the tests have it)

    monkeypatch.setattr(castore, "_loading", None)
    castore.import_aiohttp()
    assert castore._loading is None
    assert "set_default_verify_paths" not in ssl.SSLContext.__dict__
    castore.ready()  # nothing to wait for


def test_a_store_that_cannot_be_read_is_told_where_the_contexts_are_used(monkeypatch):
    class Broken:
        def set_default_verify_paths(self) -> None:
            raise ssl.SSLError("no store")

    monkeypatch.setattr(castore, "_failure", [])
    castore._load([Broken()])  # type: ignore[list-item]
    with pytest.raises(ssl.SSLError, match="no store"):
        castore.ready()
