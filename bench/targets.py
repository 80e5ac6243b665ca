"""The targets the issues set, and the PASS / FAIL line for each.

- issue 13 (speed, side by side): adl's rate against a peer's on the same corpus and run, as
  the ratio of their median wall times; `adl --version`, `--help` and `status` under 0.1 s.
- issue 16 (memory at high concurrency): adl's peak RSS at -j 64 and -j 500; its RSS over
  10,000 host names flat from the 10,000th URL on.
- issue 5/13's memory over the list length is judged in report.py (memory_verdict).

A target is judged only on correct runs that measured what it needs; otherwise its line says
n/a and why. Targets do not change the exit status (a wrong output does).
"""

from __future__ import annotations

from dataclasses import dataclass

from report import Row

# corpus -> (peer, the least adl/peer ratio of rates)
SPEED = {
    "huge": ("curl", 1.0),
    "many": ("aria2c", 0.6),
    "medium1g": ("aria2c", 1.0),
    "https": ("curl", 0.8),
}
# corpus -> the most peak RSS, MiB (GNU time's figure, KiB / 1024)
PEAK_RSS_MIB = {"conc64": 80.0, "conc64slow": 80.0, "conc500": 60.0}
FLAT_FROM = 10_000  # URLs: RSS at every later sample within FLAT_GROWTH of the one here
FLAT_GROWTH = 0.10
STARTUP_S = 0.1


@dataclass(frozen=True)
class Verdict:
    issue: int
    what: str  # e.g. "adl / curl rate"
    measured: float | None  # None: not judged (`missing` says why)
    limit: float
    at_least: bool  # the target is measured >= limit (else measured <= limit)
    unit: str  # how both figures print: "x", " MiB", " s", "%"
    missing: str = ""

    @property
    def ok(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    @property
    def line(self) -> str:
        result = {None: "n/a", True: "PASS", False: "FAIL"}[self.ok]
        value = (
            f"not measured ({self.missing})" if self.measured is None else self._fmt(self.measured)
        )
        sign = ">=" if self.at_least else "<="
        target = f"target {sign} {self._fmt(self.limit)}"
        return f"target (issue {self.issue}): {self.what} {value} ({target}) {result}"

    def _fmt(self, x: float) -> str:
        if self.unit == "%":
            return f"{x:+.0%}"
        digits = {"x": 2, " s": 3}.get(self.unit, 1)
        return f"{x:.{digits}f}{self.unit}"


def _row(rows: list[Row], tool: str) -> Row | None:
    return next((r for r in rows if r.tool == tool and r.status == "ok"), None)


def speed_verdict(corpus: str, rows: list[Row]) -> Verdict | None:
    """adl's speed against the issue's peer on CORPUS; None when the corpus has no target."""
    if corpus not in SPEED:
        return None
    peer, least = SPEED[corpus]
    adl, other = _row(rows, "adl"), _row(rows, peer)
    # Same bytes and files: the ratio of their wall times is the ratio of their rates.
    ratio = other.wall_s / adl.wall_s if adl and other else None
    absent = " and ".join(t for t, r in (("adl", adl), (peer, other)) if r is None)
    missing = f"{absent}: no correct run" if absent else ""
    return Verdict(13, f"adl / {peer} rate", ratio, least, True, "x", missing)


def rss_verdict(corpus: str, rows: list[Row]) -> Verdict | None:
    """adl's peak RSS on CORPUS against issue 16's bound; None when the corpus has none."""
    if corpus not in PEAK_RSS_MIB:
        return None
    adl = _row(rows, "adl")
    mib = adl.peak_rss_mib if adl else None
    missing = "" if mib is not None else "no correct run" if adl is None else "no GNU time"
    return Verdict(16, "adl peak RSS", mib, PEAK_RSS_MIB[corpus], False, " MiB", missing)


def flat_verdict(curve: dict[int, float], ok_run: bool) -> Verdict:
    """RSS flat from FLAT_FROM results on: no later sample above the one there by more than
    FLAT_GROWTH."""
    later = [mib for n, mib in curve.items() if n > FLAT_FROM]
    growth = None
    if ok_run and curve.get(FLAT_FROM) and later:
        growth = round(max(later) / curve[FLAT_FROM] - 1, 6)  # 110 / 100 - 1 is 0.1000...09
    what = f"adl RSS growth after {FLAT_FROM:,} URLs"
    return Verdict(16, what, growth, FLAT_GROWTH, False, "%", "no correct run, or no samples")


def startup_verdict(command: str, wall_s: float | None) -> Verdict:
    what = f"`adl {command}` wall time"
    return Verdict(13, what, wall_s, STARTUP_S, False, " s", "it failed")


def verdict_lines(verdicts: list[Verdict | None]) -> str:
    return "\n".join(v.line for v in verdicts if v is not None)
