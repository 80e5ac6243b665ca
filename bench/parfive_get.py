"""parfive as a command line for the benchmark: parfive_get.py LIST OUT [-j N] [--cacert FILE]
| --version

Downloads every URL in LIST into OUT with parfive.Downloader(max_conn=N), no progress bars,
and exits 1 when any download failed (parfive itself only reports errors in its Results).
max_splits=1: one connection per file, like the other tools' -j N (parfive's default of 5 would
open 5 Range connections per file and so 25 at once). --cacert: trust this PEM bundle instead
of the system's (given to each request as aiohttp's `ssl=`, which parfive passes through).
"""

from __future__ import annotations

import argparse
import ssl
import sys

import parfive


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        print(f"parfive {parfive.__version__}")
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("list")
    parser.add_argument("out")
    parser.add_argument("-j", "--jobs", type=int, default=5)
    parser.add_argument("--cacert")
    args = parser.parse_args()
    tls = {"ssl": ssl.create_default_context(cafile=args.cacert)} if args.cacert else {}

    downloader = parfive.Downloader(max_conn=args.jobs, max_splits=1, progress=False)
    with open(args.list) as f:
        for line in f:
            url = line.strip()
            if url and not url.startswith("#"):
                downloader.enqueue_file(url, path=args.out, **tls)
    results = downloader.download()
    for error in results.errors:
        print(f"{error.url}: {error.exception}", file=sys.stderr)
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
