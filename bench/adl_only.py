"""The measurements of adl alone: memory over the list length, memory over many host names,
and the start-up of the commands that download nothing.

- memory: 20,000 and 500,000 URLs of 1-byte bodies; peak RSS must not grow with the list.
- hosts: 100,000 URLs over 10,000 host names through adl_hosts.py (adl's library API, with a
  resolver of its own); its RSS curve must be flat from the 10,000th URL on (issue 16).
- startup commands: `adl --version`, `--help` and `status`, each under 0.1 s (issue 13).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from urllib.parse import urlsplit

import corpus as corpora
from measure import run_measured
from report import Row, align, format_memory, memory_verdict, summarize
from runner import Bench, emit, log
from targets import FLAT_FROM, flat_verdict, startup_verdict, verdict_lines
from tools import Batch, Tool, adl_python, child_env

BENCH = Path(__file__).resolve().parent
# One run per list length: the 500,000-URL run takes minutes, and peak RSS (unlike speed)
# barely moves from run to run. The same for the hosts run.
MEMORY_RUNS = 1
HOSTS_SAMPLE_EVERY = 10_000
HOSTS_SHOWN = (10_000, 50_000, 100_000)  # the curve's points in the table
STARTUP_REPEATS = 5  # per command: each takes a fraction of a second


def bench_memory(b: Bench, tool: Tool) -> dict:
    rows: list[tuple[int, Row]] = []
    samples = []
    for n in corpora.MEMORY_SIZES:
        list_path = b.work / f"memory-{n}.txt"
        corpora.write_url_list(list_path, corpora.memory_urls(b.endpoints.http, n))
        runs = [
            b.run_one(
                tool.name,
                lambda out, list_path=list_path: tool.command(Batch(list_path, out, b.jobs)),
                f"memory-{n}",
                run,
                files=n,
                nbytes=n,
                verify=lambda out, n=n: corpora.verify_count(out, n),
            )
            for run in range(1, MEMORY_RUNS + 1)
        ]
        samples += runs
        rows += [(n, row) for row in summarize(runs)]
    emit(format_memory(tool.name, rows))
    return {
        "urls": list(corpora.MEMORY_SIZES),
        "rows": [row for _, row in rows],
        "samples": samples,
        **memory_verdict(rows[0][1], rows[1][1]),
    }


# --- hosts --------------------------------------------------------------------------------------


def bench_hosts(b: Bench) -> dict:
    n, names, jobs = corpora.HOSTS_URLS, corpora.HOSTS_NAMES, corpora.HOSTS_JOBS
    port = urlsplit(b.endpoints.http).port
    command = [adl_python(), str(BENCH / "adl_hosts.py")]
    options = ["--port", str(port), "--urls", str(n), "--hosts", str(names), "-j", str(jobs)]
    options += ["--every", str(HOSTS_SAMPLE_EVERY)]
    sample = b.run_one(
        "adl",
        lambda out: [*command, str(out), *options],
        corpora.HOSTS,
        1,
        files=n,
        nbytes=n,
        verify=lambda out: corpora.verify_count(out, n),
    )
    curve, fds = rss_curve(b.log_path(corpora.HOSTS, "adl", 1).read_text(errors="replace"))
    rows = summarize([sample])
    verdict = flat_verdict(curve, sample.ok)
    title = f"hosts (adl): {n:,} URLs over {names:,} host names, -j {jobs}, RSS as it goes"
    emit(f"{title}\n{format_curve(curve, fds, rows[0])}\n{verdict.line}")
    return {
        "rows": rows,
        "samples": [sample],
        "rss_curve_mib": curve,
        "open_fds": fds,
        "targets": [verdict],
    }


def rss_curve(log_text: str) -> tuple[dict[int, float], dict[int, int]]:
    """adl_hosts.py's `rss <results> <MiB> <fds>` lines: results so far -> RSS, open fds."""
    rss, fds = {}, {}
    for line in log_text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "rss":
            rss[int(parts[1])] = float(parts[2])
            fds[int(parts[1])] = int(parts[3])
    return rss, fds


def format_curve(curve: dict[int, float], fds: dict[int, int], row: Row) -> str:
    base = curve.get(FLAT_FROM)
    cells = [("URLs done", "RSS MiB", f"vs {FLAT_FROM:,}", "open fds")]
    for n in HOSTS_SHOWN:
        mib = curve.get(n)
        growth = f"{mib / base - 1:+.0%}" if mib is not None and base else "-"
        cells.append(
            (f"{n:,}", "n/a" if mib is None else f"{mib:.1f}", growth, str(fds.get(n, "-")))
        )
    every = ", ".join(f"{mib:.0f}" for _, mib in sorted(curve.items()))
    peak = "n/a" if row.peak_rss_mib is None else f"{row.peak_rss_mib:.1f} MiB"
    return (
        f"{align(cells)}\n"
        f"RSS every {HOSTS_SAMPLE_EVERY:,} URLs (MiB, from 0): {every}\n"
        f"peak RSS {peak}, {row.files_per_s:.0f} files/s, {row.wall_s:.1f} s wall, "
        f"CPU {row.cpu_s:.1f} s, {row.status}"
    )


# --- start-up of the commands that download nothing ---------------------------------------------

STARTUP_COMMANDS = ("--version", "--help", "status")
_ONE_FILE = corpora.CORPORA["startup"]


def bench_startup_commands(b: Bench, adl: Tool) -> dict:
    """Median wall time of each command; `status` reads a real (one-file) batch's journal."""
    prefix = adl.find()
    assert prefix is not None
    batch = b.root / "out-adl-status"
    list_path = b.work / "status-batch.txt"
    corpora.write_url_list(list_path, corpora.corpus_urls(b.endpoints.http, _ONE_FILE))
    argv = {
        "--version": [*prefix, "--version"],
        "--help": [*prefix, "--help"],
        "status": [*prefix, "status", "-o", str(batch)],
    }
    try:
        _run(b, [*prefix, "get", str(list_path), "-o", str(batch), "-q"], "status-batch")
        walls = {c: [_run(b, argv[c], f"adl{c}-{i}") for i in range(STARTUP_REPEATS)] for c in argv}
    finally:
        shutil.rmtree(batch, ignore_errors=True)
    medians = {c: _median_of_ok(w) for c, w in walls.items()}
    verdicts = [startup_verdict(c, medians[c]) for c in STARTUP_COMMANDS]
    cells = [("command", f"median wall s of {STARTUP_REPEATS}")]
    cells += [(f"adl {c}", "failed" if medians[c] is None else f"{medians[c]:.3f}") for c in argv]
    emit("startup commands (adl)\n" + align(cells) + "\n" + verdict_lines(verdicts))
    return {"wall_s": walls, "median_s": medians, "targets": verdicts}


def _run(b: Bench, argv: list[str], label: str) -> float | None:
    """Wall seconds of ARGV, or None when it failed."""
    m = run_measured(
        argv,
        cwd=b.work,
        env=child_env(),
        log_path=b.work / f"{label}.log",
        timeout=60,
        gnu_time=None,
    )
    if m.exit_code != 0:
        log(f"{' '.join(argv[-2:])} exited {m.exit_code}: see {b.work / f'{label}.log'}")
        return None
    return m.wall_s


def _median_of_ok(walls: list[float | None]) -> float | None:
    return None if None in walls else statistics.median(w for w in walls if w is not None)
