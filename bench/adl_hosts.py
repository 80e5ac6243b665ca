"""adl over many host names, through its library API, printing its own RSS as it goes.

    python bench/adl_hosts.py OUT --port PORT [--urls 100000] [--hosts 10000] [-j 100]

Downloads URLS 1-byte files from `http://hNNNN.localhost:PORT/m/<i>` into OUT with
`downloader.iter_downloads` (which keeps nothing per URL; `download_all` keeps every Result,
by design) and prints `rss <results> <MiB> <open fds>` before the first and after every EVERY-th
result, then `done ok=<n> failed=<n>`. (The open file descriptors are mostly sockets: kept-alive
connections to hosts the list has moved past show there.) Exit 1 when any download failed.
run.py's `hosts` corpus runs it under GNU time and judges the curve: flat from the 10,000th URL
on (issue 16).

The names never reach /etc/hosts or DNS: the aiohttp session handed to adl (`session=`) has a
connector whose resolver answers 127.0.0.1 for every name, and nginx answers any Host. The
session is otherwise set up as adl sets up its own (downloader/session.py: its connector with
the idle-connection cap, limit = -j, its DNS TTL, the same timeouts, no decompression, no
trust_env); if that changes, change it here too. uvloop when installed, as the `adl` command does.

URL i goes to host i // (URLS / HOSTS): new host names keep coming until the last URL, so a
per-host table that only grows shows as a rising curve (with names cycling, every host would
be known by the 10,000th URL and such a leak would look flat).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Iterator

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

import downloader

LOOPBACK = "127.0.0.1"


class LoopbackResolver(AbstractResolver):
    """Every host name is 127.0.0.1 (no /etc/hosts, no DNS, no thread pool)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=LOOPBACK,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


def urls(port: int, count: int, hosts: int) -> Iterator[str]:
    """Lazily: a list of 100,000 strings would itself be memory the curve shows."""
    per_host = max(1, count // hosts)
    width = len(str(count - 1))
    for i in range(count):
        yield f"http://h{i // per_host:04d}.localhost:{port}/m/{i:0{width}d}"


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def sample(results: int) -> None:
    print(f"rss {results} {rss_mib():.1f} {open_fds()}", flush=True)


def session(jobs: int) -> aiohttp.ClientSession:
    from downloader.session import DNS_TTL_SECONDS, IdleCappedConnector, idle_cap

    connector = IdleCappedConnector(
        idle_cap=idle_cap(jobs),
        limit=jobs,
        ttl_dns_cache=DNS_TTL_SECONDS,
        resolver=LoopbackResolver(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60),
        cookie_jar=aiohttp.CookieJar(unsafe=True, quote_cookie=False),
        auto_decompress=False,
        headers={"Accept-Encoding": "identity"},
        trust_env=False,
    )


async def run(args: argparse.Namespace) -> int:
    ok = failed = 0
    sample(0)
    async with session(args.jobs) as http:
        batch = downloader.iter_downloads(
            urls(args.port, args.urls, args.hosts),
            args.out,
            jobs=args.jobs,
            proxy="",  # never a proxy from the environment: the names are ours alone
            session=http,
        )
        async for result in batch:
            if result.ok:
                ok += 1
            else:
                failed += 1
                if failed <= 5:
                    print(f"failed: {result.url}: {result.error}", file=sys.stderr)
            if (ok + failed) % args.every == 0:
                sample(ok + failed)
    print(f"done ok={ok} failed={failed}", flush=True)
    return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--urls", type=int, default=100_000)
    p.add_argument("--hosts", type=int, default=10_000)
    p.add_argument("-j", "--jobs", type=int, default=100)
    p.add_argument("--every", type=int, default=10_000, help="results between RSS samples")
    args = p.parse_args()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run(args))


def _loop_factory():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
