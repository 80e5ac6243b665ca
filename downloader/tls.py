"""The TLS settings of a batch: which servers are trusted, and the client's own certificate.

One SSLContext per batch, built before any download (a bad file is an OptionsError, exit 2,
with the reason), handed to every request by the Requester — so it applies to a session the
caller brings, too, and to the TLS connection to an https:// proxy (one trust store for both).

- `ca_certificate`: a PEM bundle trusted INSTEAD of the system's store (as curl --cacert and
  wget --ca-certificate): `create_default_context(cafile=...)` loads no default paths, and so
  ignores SSL_CERT_FILE too.
- `insecure`: no verification of the chain or the name. As in curl and wget it wins over
  `ca_certificate`, which is still checked (a typo in a path is worth hearing about).
- `certificate` and `private_key`: the client certificate, PEM, its key in the same file or
  in `private_key`. A key with a passphrase is refused (adl has no way to ask for it).

Without any of them there is no context of our own: aiohttp's default (the system store,
SSL_CERT_FILE honoured) is used as it is.
"""

from __future__ import annotations

import ssl

from .errors import OptionsError
from .options import Options

_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_KEY = "PRIVATE KEY-----"  # BEGIN PRIVATE KEY, BEGIN RSA/EC/ENCRYPTED PRIVATE KEY


class _Encrypted(Exception):
    """Raised by the passphrase callback: OpenSSL asks only for an encrypted key."""


def tls_context(options: Options) -> ssl.SSLContext | None:
    """The batch's SSLContext, or None when no TLS option is set."""
    if options.private_key is not None and options.certificate is None:
        raise OptionsError("a private key needs its client certificate (--certificate)")
    if not (options.ca_certificate or options.insecure or options.certificate):
        return None
    if options.ca_certificate is not None:
        context = _trusting(options.ca_certificate)
    else:
        context = ssl.create_default_context()
    if options.insecure:
        context.check_hostname = False  # before verify_mode: ssl insists on this order
        context.verify_mode = ssl.CERT_NONE
    if options.certificate is not None:
        _load_client_certificate(context, options.certificate, options.private_key)
    context.set_alpn_protocols(["http/1.1"])  # as aiohttp's own contexts do
    return context


def _trusting(path: str) -> ssl.SSLContext:
    if _CERTIFICATE not in _read("CA certificate", path):
        raise OptionsError(f"CA certificate file {path!r} holds no PEM certificate")
    try:
        return ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        raise OptionsError(f"cannot use CA certificate file {path!r}: {_reason(exc)}") from None


def _load_client_certificate(context: ssl.SSLContext, cert: str, key: str | None) -> None:
    if _CERTIFICATE not in (text := _read("client certificate", cert)):
        raise OptionsError(f"client certificate {cert!r} holds no PEM certificate")
    if key is None and _KEY not in text:
        raise OptionsError(
            f"client certificate {cert!r} holds no private key: give its key (--private-key)"
        )
    if key is not None and _KEY not in _read("private key", key):
        raise OptionsError(f"private key file {key!r} holds no PEM private key")
    key_path = key or cert
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _Encrypted:
        raise OptionsError(
            f"private key {key_path!r} is encrypted: adl cannot ask for its passphrase "
            "(decrypt it first, e.g. openssl pkey -in KEY -out KEY.plain)"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise OptionsError(
                f"private key {key_path!r} does not match the client certificate {cert!r}"
            ) from None
        raise OptionsError(f"cannot use client certificate {cert!r}: {_reason(exc)}") from None


def _read(what: str, path: str) -> str:
    """The file's text (latin-1: any bytes), or an OptionsError saying why it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read().decode("latin-1")
    except FileNotFoundError:
        raise OptionsError(f"{what} file {path!r} does not exist") from None
    except IsADirectoryError:
        raise OptionsError(f"{what} file {path!r} is a directory") from None
    except OSError as exc:
        raise OptionsError(f"cannot read {what} file {path!r}: {exc.strerror}") from None


def _no_passphrase() -> bytes:
    raise _Encrypted


def _reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason in words: NO_CERTIFICATE_OR_CRL_FOUND -> no certificate or crl found."""
    return (exc.reason or str(exc)).lower().replace("_", " ")
