"""A throw-away CA and a server certificate for 127.0.0.1, made with the `openssl` command.

The https corpus is served by nginx over TLS, and every tool is told to trust this CA
explicitly (curl --cacert, aria2c/wget2/adl --ca-certificate, parfive_get.py --cacert):
nothing is added to the system's trust store, and no tool runs with verification off, so
each one pays for the checks it makes for its users.

The `openssl` command rather than Python: the standard library cannot make certificates, and
the harness takes no dependencies. The files live in the run's temp dir (making them takes
milliseconds). P-256 keys: the handshake is not what the corpus measures (4 files, at most
-j connections); the bulk cipher is whatever each tool and nginx agree on, as for users.
The extensions are the ones strict verifiers ask for (Python 3.13's VERIFY_X509_STRICT:
key identifiers, key usage, a critical CA basic constraint).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from system import ensure_binary

HOST_IP = "127.0.0.1"
# Fixed arguments, space-separated; paths and subjects are passed apart (they may hold spaces).
NEW_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
DAYS = "-days 2"  # remade on every run
MAKE_CA = (
    f"req -x509 {NEW_KEY} {DAYS} -addext basicConstraints=critical,CA:TRUE"
    " -addext keyUsage=critical,keyCertSign,cRLSign -addext subjectKeyIdentifier=hash"
)
MAKE_REQUEST = f"req -new {NEW_KEY}"
SIGN = f"x509 -req -CAcreateserial {DAYS}"

SERVER_EXTENSIONS = f"""\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:{HOST_IP}, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what the tools trust
    cert: Path  # nginx's ssl_certificate (the server's, signed by the CA)
    key: Path  # nginx's ssl_certificate_key


def find_openssl(log) -> str | None:
    """The openssl command; installed with apt-get when missing and root (else None)."""
    return ensure_binary("openssl", "openssl", log)


def make_certificates(directory: Path, openssl: str) -> Certificates:
    """A CA, and a certificate for 127.0.0.1 signed by it, in DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    csr, cert, key = directory / "server.csr", directory / "server.pem", directory / "server.key"
    extensions = directory / "server.ext"
    extensions.write_text(SERVER_EXTENSIONS)
    _openssl(openssl, MAKE_CA, "-subj", "/CN=adl bench CA", "-keyout", ca_key, "-out", ca)
    _openssl(openssl, MAKE_REQUEST, "-subj", f"/CN={HOST_IP}", "-keyout", key, "-out", csr)
    _openssl(
        openssl, SIGN, "-in", csr, "-CA", ca, "-CAkey", ca_key, "-extfile", extensions, "-out", cert
    )
    return Certificates(ca=ca, cert=cert, key=key)


def _openssl(openssl: str, fixed: str, *args: str | Path) -> None:
    argv = [openssl, *fixed.split(), *map(str, args)]
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {res.stderr.strip()[-1000:]}")
