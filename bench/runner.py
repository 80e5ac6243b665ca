"""One measured run of one tool into an emptied folder, checked and then deleted; and the order
the tools take their turns in."""

from __future__ import annotations

import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measure import Measured, run_measured
from report import Sample
from server import Endpoints
from tools import Tool, child_env


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def emit(text: str) -> None:
    """A table or verdict, to stdout."""
    print(text + "\n", flush=True)


@dataclass(frozen=True)
class Bench:
    """What every run of one invocation shares."""

    root: Path  # cache dir: www/ (the corpora) and out-<tool>/
    work: Path  # temp dir: URL lists, tool logs, nginx config
    endpoints: Endpoints  # where nginx answers, per route
    jobs: int  # --jobs, for the corpora that do not set their own
    runs: int
    timeout: float
    gnu_time: str | None  # measures peak RSS (measure.py says why)

    def log_path(self, label: str, tool: str, run: int) -> Path:
        return self.work / f"{label}-{tool}-{run}.log"

    def run_one(
        self,
        tool: str,
        command: Callable[[Path], list[str]],
        label: str,
        run: int,
        *,
        files: int,
        nbytes: int,
        verify: Callable[[Path], str | None],
        before: Callable[[Path], None] | None = None,
    ) -> Sample:
        """TOOL's COMMAND (given its output dir) into an emptied dir; the output is checked,
        then deleted. BEFORE (given the dir) runs first, unmeasured: splitkill's killed run."""
        out = self.root / f"out-{tool}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        log_path = self.log_path(label, tool, run)
        try:
            if before is not None:
                before(out)
            m = run_measured(
                command(out),
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
            tool=tool,
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


def round_order(tools: list[Tool], corpus: str, run: int) -> list[Tool]:
    """Every tool once, in a shuffled order that differs per round (seeded: the same on every
    invocation). A fixed or rotated order always puts the same tool right after the same
    other one, and the run right after some tools' cleanup measured 10-20 % slower on the
    huge corpus (likely gigabytes just freed from tmpfs): that cost must not land on one tool."""
    return random.Random(f"{corpus}:{run}").sample(tools, len(tools))
