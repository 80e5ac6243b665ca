"""The harness's pure decisions: targets, the hosts curve, corpora that borrow files.

Not in the project's suite (testpaths = tests): `python -m pytest bench/test_targets.py`.
"""

from __future__ import annotations

import corpus as corpora
import pytest
from adl_only import rss_curve
from report import Row
from targets import flat_verdict, rss_verdict, speed_verdict, startup_verdict


def row(tool: str, wall_s: float, rss: float | None = 50.0, ok: bool = True) -> Row:
    return Row(tool, 1, 1 if ok else 0, wall_s, 0, 0, 0, rss, None if ok else "exit 1")


@pytest.mark.parametrize(
    ("corpus", "rows", "ok", "text"),
    [
        ("huge", [row("adl", 2.0), row("curl", 2.0)], True, "1.00x"),
        ("huge", [row("adl", 2.0), row("curl", 1.9)], False, "0.95x"),
        ("https", [row("adl", 2.0), row("curl", 1.6)], True, "0.80x"),
        ("many", [row("adl", 1.0), row("aria2c", 0.5)], False, "0.50x"),
        ("medium1g", [row("adl", 1.0)], None, "aria2c: no correct run"),
        ("medium1g", [row("adl", 1.0, ok=False), row("aria2c", 1.0)], None, "adl: no correct"),
    ],
)
def test_speed_verdict(corpus, rows, ok, text):
    v = speed_verdict(corpus, rows)
    assert v is not None and v.ok is ok and text in v.line


def test_no_target_no_line():
    assert speed_verdict("small", [row("adl", 1.0)]) is None
    assert rss_verdict("medium", [row("adl", 1.0)]) is None


@pytest.mark.parametrize(
    ("corpus", "rss", "ok"),
    [
        ("conc64", 80.0, True),
        ("conc64slow", 80.1, False),
        ("conc500", 59.0, True),
        ("conc500", None, None),
    ],
)
def test_rss_verdict(corpus, rss, ok):
    v = rss_verdict(corpus, [row("adl", 1.0, rss=rss)])
    assert v is not None and v.ok is ok


@pytest.mark.parametrize(
    ("curve", "ok"),
    [
        ({0: 38, 10_000: 100, 50_000: 110, 100_000: 105}, True),
        ({0: 38, 10_000: 100, 50_000: 111, 100_000: 100}, False),  # any later sample counts
        ({0: 38, 10_000: 100}, None),  # nothing after the 10,000th
        ({0: 38, 20_000: 100, 30_000: 100}, None),  # no 10,000th sample
    ],
)
def test_flat_verdict(curve, ok):
    assert flat_verdict(curve, ok_run=True).ok is ok


def test_flat_verdict_needs_a_correct_run():
    assert flat_verdict({10_000: 100, 20_000: 100}, ok_run=False).ok is None


@pytest.mark.parametrize(("wall", "ok"), [(0.09, True), (0.1, True), (0.11, False), (None, None)])
def test_startup_verdict(wall, ok):
    assert startup_verdict("--version", wall).ok is ok


def test_rss_curve_reads_only_sample_lines():
    log = "rss 0 38.1 7\nfailed: http://h1.localhost/m/1: boom\nrss 10000 99.5 120\ndone ok=1\n"
    assert rss_curve(log) == ({0: 38.1, 10_000: 99.5}, {0: 7, 10_000: 120})


@pytest.mark.parametrize("name", ["https", "conc64", "conc64slow"])
def test_borrowing_corpora_serve_their_owners_files(name):
    c = corpora.CORPORA[name]
    owner = corpora.source(c)
    assert owner.name != name and owner.data == ""
    urls = corpora.corpus_urls("http://x", c)
    assert urls[0] == f"http://x/{owner.name}/{owner.file_names()[0]}"
