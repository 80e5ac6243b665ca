"""Issue 14's splitkill: a split download killed with SIGKILL mid-way, then the same command.

Per run: adl --split 8 fetches the 1 GiB file through the capped route (40 MiB/s per
connection, server.py) into an emptied dir; at KILL_AT of the time 8 capped connections need
for the file (0.4 x 3.2 s, counted from the process start) its process group gets SIGKILL;
then the same command runs again in the same dir, measured as any run, and its output is
checked byte for byte. What the server sent for both runs comes from nginx's access log of the
capped location (`$bytes_sent` per response, headers included; a response cut short by the
kill is logged with what was sent of it): the target is at most 1.15 x the file, judged on the
worst run (a resume that sometimes fetches a segment twice is the failure this is for).

A run whose first half was not cut short (it finished before the kill, or failed on its own)
is not judged: it says nothing about resuming.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import corpus as corpora
from corpus import Corpus, MiB
from measure import run_measured
from report import align, summarize
from runner import Bench, emit
from server import CAP_MIB_PER_S
from targets import sent_verdict
from tools import Batch, Tool, child_env

CONNECTIONS = 8  # adl-split8's --split (tools.VARIANTS)
KILL_AT = 0.4  # of the file's time over CONNECTIONS capped connections
LOG_QUIET_S = 0.3  # nginx logs a cut-short response once it notices the peer is gone
LOG_WAIT_S = 5.0


@dataclass(frozen=True)
class KilledRun:
    """What one kill-then-rerun cost the server, and whether the kill came mid-way."""

    run: int
    kill_s: float
    cut_short: str | None  # None: killed mid-way, as intended; else what happened instead
    sent_by_kill: int  # bytes, headers included, for the responses of the killed run
    sent_total: int  # ... of both runs
    responses: int  # both runs


def kill_after_s(c: Corpus) -> float:
    return KILL_AT * c.size / (CONNECTIONS * CAP_MIB_PER_S * MiB)


def bench_split_kill(b: Bench, c: Corpus, tool: Tool) -> dict:
    list_path = b.work / f"{c.name}.txt"
    corpora.write_url_list(list_path, corpora.corpus_urls(b.endpoints.base(c.route), c))
    log = b.endpoints.capped_log
    assert log is not None
    kills: list[KilledRun] = []
    samples = []
    for run in range(1, b.runs + 1):
        kill = {}  # filled by the killed run, before the measured rerun

        def killed_run(out: Path, run: int = run, kill: dict = kill) -> None:
            kill.update(_killed_run(b, c, tool, Batch(list_path, out, b.jobs), run, log))

        sample = b.run_one(
            tool.name,
            lambda out: tool.command(Batch(list_path, out, b.jobs)),
            c.name,
            run,
            files=c.count,
            nbytes=c.total_bytes,
            verify=lambda out: corpora.verify_corpus(b.root, c, out),
            before=killed_run,
        )
        sent, responses = sent_since(log, kill["log_offset"])
        samples.append(sample)
        kills.append(
            KilledRun(run, kill["kill_s"], kill["cut_short"], kill["sent"], sent, responses)
        )
    rows = summarize(samples)
    verdict = judge(kills, all(s.ok for s in samples), c.size)
    title = (
        f"{c.name}: {c.count} x {corpora.human_bytes(c.size)}, {c.route.value} "
        f"({CAP_MIB_PER_S} MiB/s per connection), {tool.name}, SIGKILL then the same command"
    )
    emit(f"{title}\n{format_kills(kills, samples, c.size)}\n{verdict.line}")
    return {
        "spec": {"count": c.count, "size": c.size, "route": c.route.value, "tool": tool.name},
        "rows": rows,
        "samples": samples,
        "kills": kills,
        "targets": [verdict],
    }


def _killed_run(b: Bench, c: Corpus, tool: Tool, batch: Batch, run: int, log: Path) -> dict:
    """The first half: the command, killed KILL_AT of the way; what the server sent for it."""
    offset = _settled_size(log)
    kill_s = kill_after_s(c)
    m = run_measured(
        tool.command(batch),
        cwd=b.work,
        env=child_env(),
        log_path=b.log_path(f"{c.name}-killed", tool.name, run),
        timeout=kill_s,  # run_measured kills the process group with SIGKILL
        gnu_time=None,  # so SIGKILL hits adl itself, not GNU time
    )
    cut_short = None
    if not m.timed_out:
        cut_short = f"exited {m.exit_code} before the kill at {kill_s:.2f} s"
    _settled_size(log)  # the killed responses' lines
    sent, _ = sent_since(log, offset)
    return {"log_offset": offset, "kill_s": kill_s, "cut_short": cut_short, "sent": sent}


def _settled_size(path: Path) -> int:
    """PATH's size once it has not grown for LOG_QUIET_S (at most LOG_WAIT_S)."""
    deadline = time.monotonic() + LOG_WAIT_S
    size = _size(path)
    while time.monotonic() < deadline:
        time.sleep(LOG_QUIET_S)
        now = _size(path)
        if now == size:
            break
        size = now
    return size


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def sent_since(log: Path, offset: int) -> tuple[int, int]:
    """Bytes sent and responses in LOG's lines after OFFSET."""
    if not log.exists():
        return 0, 0
    with open(log, "rb") as f:
        f.seek(offset)
        return sent_bytes(f.read().decode(errors="replace"))


def sent_bytes(log_text: str) -> tuple[int, int]:
    """The sum of the first field ($bytes_sent) of the access log's lines, and their count."""
    sent = [int(line.split()[0]) for line in log_text.splitlines() if line.strip()]
    return sum(sent), len(sent)


def judge(kills: list[KilledRun], all_ok: bool, file_bytes: int):
    """The worst run's bytes per byte of the file; not judged when any run failed or any
    killed run was not cut short."""
    odd = next((k.cut_short for k in kills if k.cut_short), None)
    missing = "a run failed" if not all_ok else f"a first run {odd}" if odd else ""
    worst = None if missing or not kills else max(k.sent_total for k in kills)
    return sent_verdict(worst, file_bytes, missing)


def format_kills(kills: list[KilledRun], samples, file_bytes: int) -> str:
    cells = [
        (
            "run",
            "killed at s",
            "sent by then MiB",
            "rerun wall s",
            "sent in all MiB",
            "responses",
            "sent / file",
            "result",
        )
    ]
    for k, s in zip(kills, samples, strict=True):
        cells.append(
            (
                str(k.run),
                f"{k.kill_s:.2f}" if k.cut_short is None else f"not killed: {k.cut_short}",
                f"{k.sent_by_kill / MiB:.0f} ({k.sent_by_kill / file_bytes:.0%})",
                f"{s.wall_s:.2f}",
                f"{k.sent_total / MiB:.0f}",
                str(k.responses),
                f"{k.sent_total / file_bytes:.3f}x",
                "ok" if s.ok else f"FAIL: {s.problem}",
            )
        )
    ratios = [k.sent_total / file_bytes for k in kills]
    median, worst = statistics.median(ratios), max(ratios)
    return f"{align(cells)}\nsent / file: median {median:.3f}x, worst {worst:.3f}x"
