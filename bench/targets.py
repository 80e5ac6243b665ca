"""The targets the issues set, and the PASS / FAIL line for each.

- issue 13 (speed, side by side): adl's rate against a peer's on the same corpus and run, as
  the ratio of their median wall times; `adl --version`, `--help` and `status` under 0.1 s.
- issue 16 (memory at high concurrency): adl's peak RSS at -j 64 and -j 500; its RSS over
  10,000 host names flat from the 10,000th URL on.
- issue 14 (big files): adl --split 8 against --split 1 and aria2c -x8 -s8 on one file from
  a server capping each connection; what the server sent for a split download killed with
  SIGKILL and run again; --limit-rate 30M's wall time.
- issue 15 (worker processes): adl --procs 2 against --procs 1 on the many corpus.
- issue 5/13's memory over the list length is judged in report.py (memory_verdict).

A target is judged only on correct runs that measured what it needs; otherwise its line says
n/a and why. Targets do not change the exit status (a wrong output does).
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus import MiB
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
# corpus -> (issue, numerator tool, denominator tool, limit, at_least): a ratio of median wall
# times. split: --split 8 at least 3x faster than one connection; no slower than 1.5 x aria2c
# -x8 -s8. procs: --procs 2 at least 1.3x the files/s of --procs 1 (the same files: the ratio
# of wall times is that of files/s).
WALL_RATIOS = {
    "split": (
        (14, "adl-split1", "adl-split8", 3.0, True),
        (14, "adl-split8", "aria2c-x8", 1.5, False),
    ),
    "procs": ((15, "adl-procs1", "adl-procs2", 1.3, True),),
}
# corpus -> (tool, its --limit-rate in bytes/s, how far off the expected wall time it may be)
RATE_LIMITED = {"ratelimit": ("adl-limit30M", 30 * MiB, 0.10)}
SENT_AT_MOST = 1.15  # splitkill: the server's bytes for both runs, per byte of the file


@dataclass(frozen=True)
class Verdict:
    issue: int
    what: str  # e.g. "adl / curl rate"
    measured: float | None  # None: not judged (`missing` says why)
    limit: float
    at_least: bool  # the target is measured >= limit (else measured <= limit)
    unit: str  # how both figures print: "x", " MiB", " s", "%"
    missing: str = ""
    both_ways: bool = False  # the target is -limit <= measured <= limit (at_least unused)

    @property
    def ok(self) -> bool | None:
        if self.measured is None:
            return None
        if self.both_ways:
            return abs(self.measured) <= self.limit
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    @property
    def line(self) -> str:
        result = {None: "n/a", True: "PASS", False: "FAIL"}[self.ok]
        value = (
            f"not measured ({self.missing})" if self.measured is None else self._fmt(self.measured)
        )
        sign = ">=" if self.at_least else "<="
        target = f"target {sign} {self._fmt(self.limit)}"
        if self.both_ways:
            target = f"target within ±{self._fmt(self.limit).lstrip('+')}"
        return f"target (issue {self.issue}): {self.what} {value} ({target}) {result}"

    def _fmt(self, x: float) -> str:
        digits = {"%": 0, "x": 2, " s": 3}.get(self.unit, 1)
        # One more digit while the measure would print as the limit it misses (or meets only
        # exactly): "1.50x (target <= 1.50x) FAIL" reads as a bug; "1.503x" does not.
        near = self.measured if self.measured is not None else x
        while digits < 4 and abs(near) != self.limit and _same(near, self.limit, digits, self.unit):
            digits += 1
        if self.unit == "%":
            return f"{x:+.{digits}%}"
        return f"{x:.{digits}f}{self.unit}"


def _same(a: float, b: float, digits: int, unit: str) -> bool:
    scale = 100 if unit == "%" else 1
    return f"{abs(a) * scale:.{digits}f}" == f"{abs(b) * scale:.{digits}f}"


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


def wall_ratio_verdicts(corpus: str, rows: list[Row]) -> list[Verdict]:
    """Issue 14's split and issue 15's procs targets: ratios of two tools' median wall times
    (start-up included)."""
    verdicts = []
    for issue, slower, faster, limit, at_least in WALL_RATIOS.get(corpus, ()):
        a, b = _row(rows, slower), _row(rows, faster)
        ratio = a.wall_s / b.wall_s if a and b else None
        absent = " and ".join(t for t, r in ((slower, a), (faster, b)) if r is None)
        missing = f"{absent}: no correct run" if absent else ""
        what = f"{slower} / {faster} wall time"
        verdicts.append(Verdict(issue, what, ratio, limit, at_least, "x", missing))
    return verdicts


def rate_limit_verdict(corpus: str, rows: list[Row], total_bytes: int) -> Verdict | None:
    """Issue 14: the wall time (start-up included, as the issue judges it) of a rate-limited
    batch, off TOTAL_BYTES / rate by at most the tolerance either way."""
    if corpus not in RATE_LIMITED:
        return None
    tool, rate, tolerance = RATE_LIMITED[corpus]
    expected = total_bytes / rate
    row = _row(rows, tool)
    off = round(row.wall_s / expected - 1, 6) if row else None  # 1.1 - 1 is 0.100...09
    wall = f" {row.wall_s:.2f} s" if row else ""
    what = f"{tool} wall time{wall} against {expected:.2f} s"
    return Verdict(14, what, off, tolerance, False, "%", f"{tool}: no correct run", both_ways=True)


def sent_verdict(sent: int | None, file_bytes: int, missing: str = "") -> Verdict:
    """Issue 14's splitkill: the bytes the server sent for the killed run and the rerun, per
    byte of the file (the worst run's); SENT None when not judged, MISSING says why."""
    ratio = sent / file_bytes if sent is not None else None
    what = "server bytes sent / file size, kill -9 then rerun (worst run)"
    return Verdict(14, what, ratio, SENT_AT_MOST, False, "x", missing or "no run")


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
