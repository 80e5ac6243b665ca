"""Benchmark adl against curl, aria2c, wget2 and parfive, side by side, on loopback.

Usage (from the repo root; `bash bench/setup.sh` once installs nginx, openssl and the peers):

    python bench/run.py                           # large,medium1g,https,small,startup; 3 runs
    python bench/run.py --corpus all              # + huge, many, medium, memory, concurrency,
                                                  #   bigfiles
    python bench/run.py --corpus small,medium --runs 1 --tools curl,aria2c,wget2,parfive
    python bench/run.py --corpus concurrency --tools adl    # issue 16: conc64*, conc500, hosts
    python bench/run.py --corpus bigfiles   # issue 14: split, splitkill, ratelimit

What it does:
1. Generates each corpus once (seeded random bytes) under /dev/shm/adl-bench/www (or
   /tmp/adl-bench when tmpfs is short), reusing it on later invocations.
2. Starts nginx on 127.0.0.1 on a free port with a minimal config in a temp dir (plus TLS on a
   second port with a throw-away CA, and a slow route, when a corpus needs them); it is
   stopped at the end, on Ctrl-C and on errors alike. No traffic goes anywhere but 127.0.0.1.
3. For each corpus, runs every installed tool on the same URL list with -j 5 (or the
   corpus's own -j), interleaved in a shuffled order per round (run 1: B, A, C; run 2: C, B,
   A ...) so drift on a shared machine hits all tools alike, each into an emptied output dir
   on tmpfs; measures wall time, CPU seconds (os.wait4) and peak RSS (GNU time) of the tool's
   process; then checks every file byte for byte against the corpus and deletes the output.
   A tool whose output is wrong, or that exits non-zero, is FAIL.
4. Prints one table per corpus (medians) to stdout, with a PASS/FAIL line for each target an
   issue sets (targets.py), progress to stderr, and writes everything to
   bench/results/latest.json.

adl alone (adl_only.py): the memory corpus (20,000 vs 500,000 URLs: memory must not grow with
the list), the concurrency corpora (peak RSS at -j 64 and -j 500; RSS over 10,000 host
names), and the start-up of `adl --version`, `--help` and `status` after the startup corpus.
Issue 14's corpora run tool variants (adl --split 8 and 1, aria2c -x8 -s8, adl --limit-rate);
splitkill kills a split download with SIGKILL and runs it again (split_kill.py).

Exit status: 0 when every tool that ran was correct, 1 when any was FAIL, 2 when another
run.py holds the cache dir, 130 on Ctrl-C. Targets missed do not change it.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import os
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import corpus as corpora
from adl_only import bench_hosts, bench_memory, bench_startup_commands
from certs import Certificates, find_openssl, make_certificates
from corpus import CORPORA, Corpus, Route
from measure import find_gnu_time
from report import format_table, summarize, write_json
from runner import Bench, emit, log, round_order
from server import nginx
from split_kill import bench_split_kill
from targets import (
    rate_limit_verdict,
    rss_verdict,
    speed_verdict,
    verdict_lines,
    wall_ratio_verdicts,
)
from tools import TOOLS, Batch, Tool, adl_status_problem, pick_variants

BENCH = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--corpus",
        default=",".join(corpora.DEFAULT_NAMES),
        help=f"comma list of {','.join(corpora.ALL_NAMES)}, or of the groups "
        f"{','.join(corpora.GROUPS)} (default: %(default)s)",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per tool (default: %(default)s)")
    p.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="comma list; tools not installed are skipped (default: %(default)s)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=5,
        help="concurrency, for the corpora that set none of their own (default: %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=3600,  # the 500,000-URL memory run may take half an hour at 300 files/s
        help="seconds before one tool run is killed and FAIL (default: %(default)s)",
    )
    p.add_argument(
        "--root", type=Path, help="cache dir for corpora and outputs (default: /dev/shm/adl-bench)"
    )
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="default: %(default)s")
    p.add_argument(
        "--purge",
        action="store_true",
        help="delete the cached corpora at the end (they hold RAM on tmpfs)",
    )
    args = p.parse_args(argv)
    args.corpus = _comma_list(p, args.corpus, corpora.ALL_NAMES, "corpus", corpora.GROUPS)
    args.tools = _comma_list(p, args.tools, tuple(TOOLS), "tool", {"all": tuple(TOOLS)})
    if args.runs < 1 or args.jobs < 1:
        p.error("--runs and --jobs must be at least 1")
    return args


def _comma_list(
    p: argparse.ArgumentParser,
    value: str,
    allowed: tuple[str, ...],
    what: str,
    groups: dict[str, tuple[str, ...]],
) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    names = [n for name in names for n in groups.get(name, (name,))]  # a group: its members
    unknown = [n for n in names if n not in allowed]
    if unknown:
        p.error(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(names))  # drop repeats, keep order


def installed_tools(names: list[str]) -> list[Tool]:
    found = []
    for name in names:
        tool = TOOLS[name]
        if tool.find() is None:
            hint = (
                "its CLI does not answer `get --help` yet"
                if name == "adl"
                else "run `bash bench/setup.sh`"
            )
            log(f"skipping {name}: not installed ({hint})")
        else:
            found.append(tool)
    return found


# --- corpora ------------------------------------------------------------------------------------


def bench_corpus(b: Bench, c: Corpus, tools: list[Tool]) -> dict:
    jobs = c.jobs or b.jobs
    list_path = b.work / f"{c.name}.txt"
    corpora.write_url_list(list_path, corpora.corpus_urls(b.endpoints.base(c.route), c))
    ca = b.endpoints.ca if c.route is Route.HTTPS else None
    samples = [
        b.run_one(
            tool.name,
            lambda out, tool=tool: tool.command(Batch(list_path, out, jobs, ca)),
            c.name,
            run,
            files=c.count,
            nbytes=c.total_bytes,
            verify=lambda out, tool=tool: _verify(b, c, tool, out),
        )
        for run in range(1, b.runs + 1)  # interleaved: every tool once per round
        for tool in round_order(tools, c.name, run)
    ]
    rows = summarize(samples, order=[t.name for t in tools])  # rounds shuffle; tables do not
    verdicts = [
        speed_verdict(c.name, rows),
        rss_verdict(c.name, rows),
        *wall_ratio_verdicts(c.name, rows),
        rate_limit_verdict(c.name, rows, c.total_bytes),
    ]
    size = corpora.human_bytes(c.size)
    route = "" if c.route is Route.HTTP else f", {c.route.value}"
    title = f"{c.name}: {c.count} x {size}{route}, -j {jobs}, median of {b.runs}"
    emit("\n".join(filter(None, [format_table(title, rows), verdict_lines(verdicts)])))
    return {
        "spec": {"count": c.count, "size": c.size, "jobs": jobs, "route": c.route.value},
        "rows": rows,
        "samples": samples,
        "targets": [v for v in verdicts if v is not None],
    }


def _verify(b: Bench, c: Corpus, tool: Tool, out: Path) -> str | None:
    """The output byte for byte; for adl, its journal too (`adl status`: every file done)."""
    wrong = corpora.verify_corpus(b.root, c, out)
    if wrong is None and tool.family == "adl":
        wrong = adl_status_problem(out, c.count)
    return wrong


# --- main ---------------------------------------------------------------------------------------


def _raise_interrupt(signum, frame) -> None:
    # SIGTERM ends the benchmark like Ctrl-C does, so the finally blocks stop nginx and the tools.
    raise KeyboardInterrupt


def meta(args, tools: list[Tool], root: Path) -> dict:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "root": root,
        "jobs": args.jobs,
        "runs": args.runs,
        "corpora": args.corpus,
        "tools": {t.name: {"version": t.version(), "command": t.find()} for t in tools},
    }


def run(args) -> int:
    tools = installed_tools(args.tools)
    names = _without_unservable(args.corpus)
    real = [CORPORA[n] for n in names if n in CORPORA]
    root = args.root or corpora.choose_root(real)
    if not _lock_root(root):
        log(f"another bench/run.py is using {root}; wait for it, or give this one another --root")
        return 2
    log(f"cache dir {root}; tools: {', '.join(t.name for t in tools) or 'none'}")
    gnu_time = find_gnu_time(log)
    for c in real:
        corpora.ensure_generated(root, c, log)
    (root / "www").mkdir(parents=True, exist_ok=True)
    record = {"meta": meta(args, tools, root), "corpora": {}}
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="adl-bench-") as tmp:
            work = Path(tmp)
            tls = _certificates(work) if Route.HTTPS in _routes(real) else None
            slow_route = Route.SLOW in _routes(real)
            with nginx(root / "www", work, log, tls=tls, slow_route=slow_route) as endpoints:
                b = Bench(root, work, endpoints, args.jobs, args.runs, args.timeout, gnu_time)
                for name in names:
                    result = _bench_one(b, name, tools)
                    if result is None:
                        continue
                    record["corpora"][name] = result
                    failed |= any(row.status != "ok" for row in result["rows"])
                    write_json(args.json, record)  # after each corpus: partial results survive
    finally:
        if args.purge:
            shutil.rmtree(root, ignore_errors=True)
            log(f"purged {root}")
    log(f"results written to {args.json}")
    return 1 if failed else 0


def _routes(corpora_: list[Corpus]) -> set[Route]:
    return {c.route for c in corpora_}


def _without_unservable(names: list[str]) -> list[str]:
    """NAMES, less the https corpora when there is no openssl command to make a certificate."""
    https = [n for n in names if n in CORPORA and CORPORA[n].route is Route.HTTPS]
    if not https or find_openssl(log):
        return names
    log(
        f"skipping {', '.join(https)}: no openssl command to make its certificate "
        "(`bash bench/setup.sh` installs it; or apt-get install openssl)"
    )
    return [n for n in names if n not in https]


def _certificates(work: Path) -> Certificates:
    openssl = find_openssl(log)
    assert openssl is not None  # _without_unservable dropped the https corpora otherwise
    certs = make_certificates(work / "tls", openssl)
    log(f"made a throw-away CA and server certificate for 127.0.0.1 in {certs.ca.parent}")
    return certs


def _lock_root(root: Path) -> bool:
    """Hold ROOT for this process: a second harness would empty the first one's output dirs
    mid-run (and then report that tool's files missing). The lock goes with the process."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    return True  # fd stays open on purpose: closing it would release the lock


def _bench_one(b: Bench, name: str, tools: list[Tool]) -> dict | None:
    c = CORPORA.get(name)
    if c is not None and c.variants:
        tools = pick_variants(c.variants, tools)
        if not tools:
            log(f"skipping {name}: none of its tools ({', '.join(c.variants)}) is selected")
            return None
        return (
            bench_split_kill(b, c, tools[0])
            if name == corpora.SPLITKILL
            else bench_corpus(b, c, tools)
        )
    adl = next((t for t in tools if t.name == "adl"), None)
    if c is not None and not c.adl_only:
        result = bench_corpus(b, c, tools)
        if name == "startup" and adl is not None:
            result["commands"] = bench_startup_commands(b, adl)
        return result
    if adl is None:
        log(f"skipping {name}: it measures adl only, and adl is not among the tools that run")
        return None
    if c is not None:
        return bench_corpus(b, c, [adl])
    return bench_memory(b, adl) if name == corpora.MEMORY else bench_hosts(b)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run(args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
