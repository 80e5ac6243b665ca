"""Benchmark adl against curl, aria2c, wget2 and parfive, side by side, on loopback.

Usage (from the repo root; `bash bench/setup.sh` once installs nginx and the peers):

    python bench/run.py                                  # large,medium,small,startup; 3 runs
    python bench/run.py --corpus all                     # + huge, many and the memory test
    python bench/run.py --corpus small,medium --runs 1 --tools curl,aria2c,wget2,parfive

What it does:
1. Generates each corpus once (seeded random bytes) under /dev/shm/adl-bench/www (or
   /tmp/adl-bench when tmpfs is short), reusing it on later invocations.
2. Starts nginx on 127.0.0.1 on a free port with a minimal config in a temp dir; it is stopped
   at the end, on Ctrl-C and on errors alike. No traffic goes anywhere but 127.0.0.1.
3. For each corpus, runs every installed tool on the same URL list with -j 5, interleaved
   in a shuffled order per round (run 1: B, A, C; run 2: C, B, A ...) so drift on a shared
   machine hits all tools alike, each into an emptied output dir on tmpfs; measures wall time,
   CPU seconds (os.wait4) and peak RSS (GNU time) of the tool's process; then checks every
   file byte for byte against the corpus and deletes the output. A tool whose output is
   wrong, or that exits non-zero, is FAIL.
4. Prints one table per corpus (medians) to stdout, progress to stderr, and writes everything
   to bench/results/latest.json.

The memory corpus runs adl alone on a 20,000-URL and a 500,000-URL list (1-byte bodies, file
count checked) and compares the two peak RSS figures: memory must not grow with the list.

Exit status: 0 when every tool that ran was correct, 1 when any was FAIL, 2 when another
run.py holds the cache dir, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import corpus as corpora
from corpus import CORPORA, Corpus
from measure import Measured, find_gnu_time, run_measured
from report import Row, Sample, format_memory, format_table, memory_verdict, summarize, write_json
from server import nginx
from tools import TOOLS, Batch, Tool, adl_variant, child_env

BENCH = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH / "results" / "latest.json"
# One run per list length: the 500,000-URL run takes minutes, and peak RSS (unlike speed)
# barely moves from run to run.
MEMORY_RUNS = 1


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--corpus",
        default=",".join(corpora.DEFAULT_NAMES),
        help=f"comma list of {','.join(corpora.ALL_NAMES)}, or all (default: %(default)s)",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per tool (default: %(default)s)")
    p.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="comma list; tools not installed are skipped (default: %(default)s)",
    )
    p.add_argument("-j", "--jobs", type=int, default=5, help="concurrency (default: %(default)s)")
    p.add_argument(
        "--adl-variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="one more tool: adl with these arguments, e.g. 'adl-p2=--procs 2' (repeatable; "
        "name it in --tools)",
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
    for spec in args.adl_variant:
        variant = adl_variant(spec)
        TOOLS[variant.name] = variant
    args.corpus = _comma_list(p, args.corpus, corpora.ALL_NAMES, "corpus")
    args.tools = _comma_list(p, args.tools, tuple(TOOLS), "tool")
    if args.runs < 1 or args.jobs < 1:
        p.error("--runs and --jobs must be at least 1")
    return args


def _comma_list(
    p: argparse.ArgumentParser, value: str, allowed: tuple[str, ...], what: str
) -> list[str]:
    names = list(allowed) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
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


# --- one run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """What every run of one invocation shares."""

    root: Path  # cache dir: www/ (the corpora) and out-<tool>/
    work: Path  # temp dir: URL lists, tool logs, nginx config
    base_url: str
    jobs: int
    runs: int
    timeout: float
    gnu_time: str | None  # measures peak RSS (measure.py says why)

    def run_one(
        self,
        tool: Tool,
        label: str,
        run: int,
        list_path: Path,
        *,
        files: int,
        nbytes: int,
        verify: Callable[[Path], str | None],
    ) -> Sample:
        """One tool on one list into an emptied dir; the output is checked, then deleted."""
        out = self.root / f"out-{tool.name}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        log_path = self.work / f"{label}-{tool.name}-{run}.log"
        try:
            m = run_measured(
                tool.command(Batch(list_path, out, self.jobs)),
                cwd=self.work,
                env=child_env(),
                log_path=log_path,
                timeout=self.timeout,
                gnu_time=self.gnu_time,
            )
            problem = self._problems(m, lambda: verify(out))
        finally:
            # Delete now, and on Ctrl-C too: the huge corpus is 4 GiB per tool on RAM-backed tmpfs.
            shutil.rmtree(out, ignore_errors=True)
        sample = Sample(
            tool=tool.name,
            run=run,
            files=files,
            bytes=nbytes,
            exit_code=m.exit_code,
            wall_s=m.wall_s,
            cpu_s=m.cpu_s,
            peak_rss_mib=m.peak_rss_mib,
            problem=problem,
        )
        _log_sample(label, sample, log_path)
        return sample

    def _problems(self, m: Measured, verify: Callable[[], str | None]) -> str | None:
        """What went wrong in one run, or None: a timeout, an exit code, wrong output."""
        if m.timed_out:
            return f"timed out after {self.timeout:g} s"
        problems = [f"exit {m.exit_code}"] if m.exit_code != 0 else []
        if wrong := verify():
            problems.append(wrong)
        return "; ".join(problems) or None


def _log_sample(label: str, s: Sample, log_path: Path) -> None:
    rate = f"{s.bytes / s.wall_s / 1e6:.0f} MB/s, {s.files / s.wall_s:.0f} files/s"
    rss = "n/a" if s.peak_rss_mib is None else f"{s.peak_rss_mib:.1f} MiB"
    verdict = "ok" if s.ok else f"FAIL: {s.problem}"
    log(
        f"{label} run {s.run} {s.tool}: {s.wall_s:.2f} s, {rate}, CPU {s.cpu_s:.2f} s, "
        f"RSS {rss}, {verdict}"
    )
    if not s.ok:
        for line in log_path.read_text(errors="replace").strip().splitlines()[-5:]:
            log(f"    {s.tool}: {line}")


# --- corpora ------------------------------------------------------------------------------------


def bench_corpus(b: Bench, c: Corpus, tools: list[Tool]) -> dict:
    list_path = b.work / f"{c.name}.txt"
    corpora.write_url_list(list_path, corpora.corpus_urls(b.base_url, c))
    samples = [
        b.run_one(
            tool,
            c.name,
            run,
            list_path,
            files=c.count,
            nbytes=c.total_bytes,
            verify=lambda out: corpora.verify_corpus(b.root, c, out),
        )
        for run in range(1, b.runs + 1)  # interleaved: every tool once per round
        for tool in round_order(tools, c.name, run)
    ]
    rows = summarize(samples, order=[t.name for t in tools])  # rounds shuffle; tables do not
    size = corpora.human_bytes(c.size)
    _emit(format_table(f"{c.name}: {c.count} x {size}, -j {b.jobs}, median of {b.runs}", rows))
    return {"spec": {"count": c.count, "size": c.size}, "rows": rows, "samples": samples}


def round_order(tools: list[Tool], corpus: str, run: int) -> list[Tool]:
    """Every tool once, in a shuffled order that differs per round (seeded: the same on every
    invocation). A fixed or rotated order always puts the same tool right after the same
    other one, and the run right after some tools' cleanup measured 10-20 % slower on the
    huge corpus (likely gigabytes just freed from tmpfs): that cost must not land on one tool."""
    return random.Random(f"{corpus}:{run}").sample(tools, len(tools))


def bench_memory(b: Bench, tool: Tool) -> dict:
    rows: list[tuple[int, Row]] = []
    samples = []
    for n in corpora.MEMORY_SIZES:
        list_path = b.work / f"memory-{n}.txt"
        corpora.write_url_list(list_path, corpora.memory_urls(b.base_url, n))
        runs = [
            b.run_one(
                tool,
                f"memory-{n}",
                run,
                list_path,
                files=n,
                nbytes=n,
                verify=lambda out, n=n: corpora.verify_count(out, n),
            )
            for run in range(1, MEMORY_RUNS + 1)
        ]
        samples += runs
        rows += [(n, row) for row in summarize(runs)]
    _emit(format_memory(tool.name, rows))
    return {
        "urls": list(corpora.MEMORY_SIZES),
        "rows": [row for _, row in rows],
        "samples": samples,
        **memory_verdict(rows[0][1], rows[1][1]),
    }


def _emit(text: str) -> None:
    print(text + "\n", flush=True)


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
    real = [CORPORA[n] for n in args.corpus if n in CORPORA]
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
        with (
            tempfile.TemporaryDirectory(prefix="adl-bench-") as tmp,
            nginx(root / "www", Path(tmp), log) as base_url,
        ):
            b = Bench(root, Path(tmp), base_url, args.jobs, args.runs, args.timeout, gnu_time)
            for name in args.corpus:
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
    if name != "memory":
        return bench_corpus(b, CORPORA[name], tools)
    adl = next((t for t in tools if t.name == "adl"), None)
    if adl is None:
        log("skipping memory: it measures adl only, and adl is not among the tools that run")
        return None
    return bench_memory(b, adl)


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
