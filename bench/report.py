"""Turn measured runs into the per-corpus tables (medians) and the JSON record.

Figures are medians over the runs, each metric on its own. A tool with any run that exited
non-zero, timed out, or left wrong output is FAIL: its numbers are shown but are not a result.
MB/s are 10^6 bytes per second; RSS is in MiB. The `rel` column is the tool's speed relative to
the fastest correct tool on that corpus: on these shared machines absolute figures drift a lot
from run to run, side-by-side ratios much less (DESIGN.md section 4).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One tool, one run, one corpus."""

    tool: str
    run: int
    files: int
    bytes: int
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float | None  # None: not measured (no GNU time)
    problem: str | None  # None: the output was verified correct

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Row:
    tool: str
    runs: int
    ok_runs: int
    wall_s: float
    mb_per_s: float
    files_per_s: float
    cpu_s: float
    peak_rss_mib: float | None
    problem: str | None  # the first failure seen, if any
    rel: float | None = None

    @property
    def status(self) -> str:
        if self.ok_runs == self.runs:
            return "ok"
        return f"FAIL {self.runs - self.ok_runs}/{self.runs}: {self.problem}"


def summarize(samples: list[Sample], order: list[str] | None = None) -> list[Row]:
    """One row per tool, in `order` (else the order the tools first ran); `rel` against the
    fastest ok tool."""
    by_tool: dict[str, list[Sample]] = {name: [] for name in order or []}
    for s in samples:
        by_tool.setdefault(s.tool, []).append(s)
    rows = [_row(tool, runs) for tool, runs in by_tool.items() if runs]
    best = min((r.wall_s for r in rows if r.status == "ok"), default=None)
    return [_with_rel(r, best) for r in rows]


def _row(tool: str, runs: list[Sample]) -> Row:
    wall = statistics.median(s.wall_s for s in runs)
    failed = [s for s in runs if not s.ok]
    return Row(
        tool=tool,
        runs=len(runs),
        ok_runs=len(runs) - len(failed),
        wall_s=wall,
        mb_per_s=runs[0].bytes / wall / 1e6,
        files_per_s=runs[0].files / wall,
        cpu_s=statistics.median(s.cpu_s for s in runs),
        peak_rss_mib=_median_or_none([s.peak_rss_mib for s in runs]),
        problem=failed[0].problem if failed else None,
    )


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _with_rel(row: Row, best_wall: float | None) -> Row:
    if best_wall is None or row.status != "ok":
        return row
    return Row(**{**asdict(row), "rel": best_wall / row.wall_s})


HEADERS = ("tool", "MB/s", "files/s", "wall s", "CPU s", "peak RSS MiB", "rel", "result")


def format_table(title: str, rows: list[Row]) -> str:
    cells = [HEADERS] + [
        (
            r.tool,
            _rate(r.mb_per_s),
            _rate(r.files_per_s),
            f"{r.wall_s:.2f}",
            f"{r.cpu_s:.2f}",
            _mib(r.peak_rss_mib),
            f"{r.rel:.2f}" if r.rel is not None else "-",
            r.status,
        )
        for r in rows
    ]
    return f"{title}\n{align(cells)}"


def _rate(value: float) -> str:
    # Whole numbers hide nothing above 10; below, 4 large files/s would read as "1".
    return f"{value:.0f}" if value >= 10 else f"{value:.2f}"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def align(cells: list[tuple[str, ...]]) -> str:
    """A plain-text table that also reads as Markdown: | cell | cell |."""
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([lines[0], rule, *lines[1:]])


# --- memory -------------------------------------------------------------------------------------

RSS_RATIO_TARGET = 1.25
RSS_MIB_TARGET = 150.0


def memory_verdict(small: Row, big: Row) -> dict:
    """Peak RSS of the big list against the small one: memory must not grow with the list.

    A target is met only when both runs were correct and their RSS was measured.
    """
    measured = small.peak_rss_mib and big.peak_rss_mib is not None
    ok = small.status == big.status == "ok" and bool(measured)
    ratio = big.peak_rss_mib / small.peak_rss_mib if measured else None
    return {
        "ratio": ratio,
        "ratio_ok": ok and ratio <= RSS_RATIO_TARGET,
        "big_rss_mib": big.peak_rss_mib,
        "big_rss_ok": ok and big.peak_rss_mib < RSS_MIB_TARGET,
    }


def format_memory(tool: str, rows: list[tuple[int, Row]]) -> str:
    """The table for the memory corpus, then the verdict on the two targets."""
    cells = [("URLs", "files/s", "wall s", "CPU s", "peak RSS MiB", "result")] + [
        (
            f"{n:,}",
            _rate(r.files_per_s),
            f"{r.wall_s:.2f}",
            f"{r.cpu_s:.2f}",
            _mib(r.peak_rss_mib),
            r.status,
        )
        for n, r in rows
    ]
    text = f"memory ({tool}): peak RSS against the length of the URL list\n{align(cells)}"
    (n_small, small), (n_big, big) = rows
    v = memory_verdict(small, big)
    ratio = "n/a" if v["ratio"] is None else f"{v['ratio']:.2f}x"
    return text + (
        f"\nRSS ratio {n_big:,} / {n_small:,} URLs: {ratio} "
        f"(target <= {RSS_RATIO_TARGET}) {_pass(v['ratio_ok'])}; "
        f"peak RSS at {n_big:,}: {_mib(v['big_rss_mib'])} MiB "
        f"(target < {RSS_MIB_TARGET:.0f}) {_pass(v['big_rss_ok'])}"
    )


def _pass(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=_jsonable) + "\n")
    tmp.replace(path)  # never a half-written latest.json


def _jsonable(obj):
    if isinstance(obj, Sample | Row):
        return {**asdict(obj), **({"status": obj.status} if isinstance(obj, Row) else {})}
    if is_dataclass(obj) and not isinstance(obj, type):  # a targets.Verdict, say
        extra = {k: getattr(obj, k) for k in ("ok", "line") if hasattr(obj, k)}
        return {**asdict(obj), **extra}
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")
