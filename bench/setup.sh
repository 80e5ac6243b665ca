#!/usr/bin/env bash
# Install the benchmark's server (nginx), openssl (the https corpus's certificate), GNU time,
# and the peer downloaders adl is compared with.
# Idempotent: each tool is installed only when missing. Needs root (or sudo) for apt-get.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v nginx  >/dev/null 2>&1 || missing+=(nginx)
command -v curl   >/dev/null 2>&1 || missing+=(curl)
command -v aria2c >/dev/null 2>&1 || missing+=(aria2)
command -v wget2  >/dev/null 2>&1 || missing+=(wget2)
# openssl makes the throw-away CA and certificate of the https corpus (bench/certs.py).
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# GNU time measures peak RSS (bench/measure.py says why wait4 alone cannot).
/usr/bin/time --version 2>&1 | grep -q GNU || missing+=(time)

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "setup: nginx curl aria2c wget2 openssl time already installed" >&2
fi

# parfive goes into the interpreter that runs the harness, so bench/parfive_get.py can import it.
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import parfive' >/dev/null 2>&1; then
    echo "setup: pip install parfive" >&2
    "$PY" -m pip install -q parfive
else
    echo "setup: parfive already installed" >&2
fi

# adl as its users install it: `pip install .` into a venv of its own (bench/.venv), which
# the harness runs adl with (tools.adl_python). The code run is this checkout's either way
# (PYTHONPATH); the venv gives adl its dependencies and none of the system's site-wide .pth
# files. Rerun setup.sh after a dependency changes.
VENV="$(dirname "$0")/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: python -m venv bench/.venv" >&2
    "$PY" -m venv "$VENV"
fi
echo "setup: pip install . into bench/.venv" >&2
"$VENV/bin/python" -m pip install -q "$(dirname "$0")/.."

for t in nginx curl aria2c wget2 openssl; do
    printf '%-7s %s\n' "$t" "$(command -v "$t")" >&2
done
printf '%-7s %s\n' time "$(/usr/bin/time --version 2>&1 | head -1)" >&2
"$PY" -c 'import parfive; print("parfive ", parfive.__version__)' >&2
