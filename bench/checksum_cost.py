"""What checking a checksum as the bytes stream costs adl, side by side on loopback.

Usage (from the repo root, after `bash bench/setup.sh`):

    python bench/checksum_cost.py                       # huge and many, 5 runs each
    python bench/checksum_cost.py --corpus large --runs 3

For each corpus (see corpus.py; generated once, reused), adl downloads the whole corpus from
nginx on 127.0.0.1 with -j 5, three ways, interleaved in a shuffled order per round:
- plain: no checksum known, nothing hashed (the default);
- sha256: `--checksums SHA256SUMS` (every file checked as it streams);
- then sha256sum: plain, then `sha256sum -c` in the output folder (the two-pass way).
Prints the median wall time, the rate and adl's CPU seconds per way. Nothing is sent
anywhere but 127.0.0.1; the output folder is emptied before each run.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import corpus as corpora
from measure import run_measured
from server import nginx
from tools import adl_python, child_env

WAYS = ("plain", "sha256", "then sha256sum")


def log(message: str) -> None:
    print(f"[checksum-cost] {message}", file=sys.stderr, flush=True)


def sums_file(root: Path, c: corpora.Corpus) -> Path:
    """SHA256SUMS of a corpus, made once (hashing 4 GiB takes a few seconds)."""
    path = root / "sums" / f"{c.name}.sha256"
    if not path.exists():
        log(f"hashing corpus {c.name}")
        lines = []
        for name in c.file_names():
            with open(corpora.corpus_dir(root, c) / name, "rb") as f:
                lines.append(f"{hashlib.file_digest(f, 'sha256').hexdigest()}  {name}\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
    return path


def one_run(way: str, listing: Path, sums: Path, out: Path, work: Path, jobs: int):
    """(wall seconds, adl CPU seconds) of one way; raises when a download fails."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [adl_python(), "-m", "downloader", "get", str(listing), "-j", str(jobs)]
    argv += ["-o", str(out), "-q", *(["--checksums", str(sums)] if way == "sha256" else [])]
    m = run_measured(
        argv, cwd=work, env=child_env(), log_path=work / "adl.log", timeout=3600, gnu_time=None
    )
    if m.exit_code != 0:
        raise SystemExit(f"{way}: adl exited {m.exit_code}; see {work / 'adl.log'}")
    wall = m.wall_s
    if way == "then sha256sum":
        start = time.perf_counter()
        subprocess.run(["sha256sum", "-c", "--quiet", str(sums)], cwd=out, check=True)
        wall += time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return wall, m.cpu_s


def bench(c: corpora.Corpus, root: Path, base_url: str, work: Path, args) -> None:
    corpora.ensure_generated(root, c, log)
    sums = sums_file(root, c)
    listing = work / f"{c.name}.txt"
    corpora.write_url_list(listing, corpora.corpus_urls(base_url, c))
    walls: dict[str, list[float]] = {way: [] for way in WAYS}
    cpus: dict[str, list[float]] = {way: [] for way in WAYS}
    rng = random.Random(c.name)
    for run in range(args.runs):
        order = list(WAYS)
        rng.shuffle(order)
        for way in order:
            wall, cpu = one_run(way, listing, sums, root / "out-checksum-cost", work, args.jobs)
            walls[way].append(wall)
            cpus[way].append(cpu)
        log(f"{c.name} run {run + 1}: " + ", ".join(f"{w} {walls[w][-1]:.2f} s" for w in WAYS))
    for way in WAYS:
        wall = statistics.median(walls[way])
        rate = (
            f"{c.total_bytes / wall / 1e6:6.0f} MB/s"
            if c.size >= corpora.MiB
            else f"{c.count / wall:6.0f} files/s"
        )
        cpu = statistics.median(cpus[way])
        print(f"{c.name:8} {way:15} {wall:7.2f} s  {rate}  adl CPU {cpu:6.2f} s", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="huge,many", help="comma list (default: %(default)s)")
    p.add_argument("--runs", type=int, default=5, help="runs per way (default: %(default)s)")
    p.add_argument("-j", "--jobs", type=int, default=5)
    args = p.parse_args()
    wanted = [corpora.CORPORA[name] for name in args.corpus.split(",")]
    if other := [c.name for c in wanted if c.route is not corpora.Route.HTTP]:
        p.error(f"only corpora served over plain http: not {', '.join(other)}")
    root = corpora.choose_root(wanted)
    with tempfile.TemporaryDirectory(prefix="adl-checksum-cost-") as tmp:
        work = Path(tmp)
        with nginx(root / "www", work, log) as endpoints:
            for c in wanted:
                bench(c, root, endpoints.http, work, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
