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

# adl itself, from this checkout, with the `fast` extra (uvloop) as its users would install it
# for speed; the harness runs this checkout's code either way (python -m downloader).
if ! "$PY" -c 'import aiohttp, tqdm, typer, uvloop' >/dev/null 2>&1; then
    echo "setup: pip install -e .[fast]" >&2
    "$PY" -m pip install -q -e "$(dirname "$0")/..[fast]"
else
    echo "setup: adl's dependencies and uvloop already installed" >&2
fi

for t in nginx curl aria2c wget2 openssl; do
    printf '%-7s %s\n' "$t" "$(command -v "$t")" >&2
done
printf '%-7s %s\n' time "$(/usr/bin/time --version 2>&1 | head -1)" >&2
"$PY" -c 'import parfive; print("parfive ", parfive.__version__)' >&2
