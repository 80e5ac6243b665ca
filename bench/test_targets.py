"""The harness's pure decisions: targets, the hosts curve, corpora that borrow files.

Not in the project's suite (testpaths = tests): `python -m pytest bench/test_targets.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import corpus as corpora
import pytest
import server
import tools
from adl_only import rss_curve
from report import Row
from split_kill import KilledRun, judge, kill_after_s, sent_bytes
from targets import (
    flat_verdict,
    rate_limit_verdict,
    rss_verdict,
    speed_verdict,
    startup_verdict,
    wall_ratio_verdicts,
)
from tools import TOOLS, VARIANTS, Batch, pick_variants


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


@pytest.mark.parametrize(
    "name", ["https", "conc64", "conc64slow", "split", "splitkill", "ratelimit"]
)
def test_borrowing_corpora_serve_their_owners_files(name):
    c = corpora.CORPORA[name]
    owner = corpora.source(c)
    assert owner.name != name and owner.data == ""
    urls = corpora.corpus_urls("http://x", c)
    assert len(urls) == c.count
    assert urls[0] == f"http://x/{owner.name}/{owner.file_names()[0]}"


@pytest.mark.parametrize(
    ("name", "owner", "files"),
    [("split", "large", ["f0.bin"]), ("splitkill", "huge", ["f0.bin"])],
)
def test_a_corpus_may_borrow_the_first_of_its_owners_files(name, owner, files):
    c = corpora.CORPORA[name]
    assert corpora.source(c).name == owner and corpora.served_names(c) == files


# --- issue 14 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "ok"),
    [
        # split1 / split8 >= 3, split8 / aria2c <= 1.5
        ([row("adl-split8", 2.0), row("adl-split1", 6.0), row("aria2c-x8", 2.0)], [True, True]),
        ([row("adl-split8", 2.0), row("adl-split1", 5.9), row("aria2c-x8", 1.3)], [False, False]),
        ([row("adl-split8", 1.5), row("adl-split1", 6.0), row("aria2c-x8", 1.0)], [True, True]),
        ([row("adl-split8", 1.0), row("adl-split1", 6.0)], [True, None]),  # no aria2c
        ([row("adl-split8", 1.0, ok=False), row("adl-split1", 6.0)], [None, None]),
    ],
)
def test_split_verdicts(rows, ok):
    assert [v.ok for v in wall_ratio_verdicts("split", rows)] == ok


@pytest.mark.parametrize(
    ("procs1", "procs2", "ok"),
    [(3.0, 2.3, True), (3.0, 2.4, False), (3.0, None, None)],  # 1.30x, 1.25x, procs2 failed
)
def test_procs_verdict(procs1, procs2, ok):
    rows = [row("adl-procs1", procs1)]
    if procs2 is not None:
        rows.append(row("adl-procs2", procs2))
    [verdict] = wall_ratio_verdicts("procs", rows)
    assert verdict.ok is ok and verdict.issue == 15


@pytest.mark.parametrize(
    ("split8", "text"),
    [
        (1.503, "1.503x (target <= 1.500x) FAIL"),  # not "1.50x (target <= 1.50x) FAIL"
        (1.5, "1.50x (target <= 1.50x) PASS"),
        (1.4, "1.40x (target <= 1.50x) PASS"),
    ],
)
def test_a_ratio_that_would_print_as_its_limit_gets_more_digits(split8, text):
    rows = [row("adl-split8", split8), row("aria2c-x8", 1.0)]
    assert wall_ratio_verdicts("split", rows)[1].line.endswith(text)


def test_split_verdict_says_which_tool_had_no_correct_run():
    lines = [v.line for v in wall_ratio_verdicts("split", [row("adl-split8", 1.0)])]
    assert "adl-split1: no correct run" in lines[0] and "aria2c-x8: no correct run" in lines[1]
    assert wall_ratio_verdicts("large", [row("adl", 1.0)]) == []


RATE_BYTES = 64 * 4 * corpora.MiB  # 256 MiB at 30 MiB/s: 8.533 s


@pytest.mark.parametrize(
    ("wall", "ok", "text"),
    [
        (RATE_BYTES / (30 * corpora.MiB), True, "+0%"),
        (RATE_BYTES / (30 * corpora.MiB) * 1.1, True, "+10%"),
        (RATE_BYTES / (30 * corpora.MiB) * 0.9, True, "-10%"),
        (9.5, False, "+11%"),
        (7.6, False, "-11%"),
        (None, None, "no correct run"),
    ],
)
def test_rate_limit_verdict_is_wall_time_within_ten_percent_either_way(wall, ok, text):
    rows = [row("adl-limit30M", wall)] if wall is not None else [row("adl", 1.0)]
    v = rate_limit_verdict("ratelimit", rows, RATE_BYTES)
    assert v is not None and v.ok is ok and text in v.line and "8.53 s" in v.line
    assert "within ±10%" in v.line


def test_rate_limit_verdict_only_on_its_corpus():
    assert rate_limit_verdict("medium", [row("adl-limit30M", 8.5)], RATE_BYTES) is None


def test_sent_bytes_sums_the_first_field():
    log = '262400 262144 206 "/capped/huge/f0.bin" "bytes=0-"\n\n1000 744 206 "/x" "-"\n'
    assert sent_bytes(log) == (263_400, 2)


FILE = 1000


def killed(sent: int, cut_short: str | None = None) -> KilledRun:
    return KilledRun(1, 1.28, cut_short, sent // 4, sent, 9)


@pytest.mark.parametrize(
    ("kills", "all_ok", "ok", "text"),
    [
        ([killed(1000), killed(1150)], True, True, "1.15x"),
        ([killed(1000), killed(1151), killed(1000)], True, False, "1.151x"),  # the worst run
        ([killed(1000), killed(1200, "exited 0 before the kill")], True, None, "exited 0"),
        ([killed(1000)], False, None, "a run failed"),
        ([], True, None, "no run"),
    ],
)
def test_splitkill_verdict_judges_the_worst_run_killed_mid_way(kills, all_ok, ok, text):
    v = judge(kills, all_ok, FILE)
    assert v.ok is ok and text in v.line


def test_splitkill_kills_at_40_percent_of_eight_capped_connections():
    # 1 GiB over 8 x 40 MiB/s is 3.2 s
    assert kill_after_s(corpora.CORPORA["splitkill"]) == pytest.approx(1.28)


BATCH = Batch(Path("list.txt"), Path("out"), 5)


@pytest.mark.parametrize(
    ("name", "has", "lacks"),
    [
        ("adl-split8", ["--split 8"], []),
        ("adl-split1", ["--split 1"], []),
        ("adl-limit30M", ["--limit-rate 30M", "-j 5"], ["--split"]),
        ("aria2c-x8", ["-x 8 -s 8 -k 1M"], ["-x 1"]),
    ],
)
def test_variant_command_lines(name, has, lacks):
    args = " ".join(VARIANTS[name].args(BATCH))
    assert all(h in args for h in has) and not any(x in args for x in lacks)


def test_the_default_tools_keep_their_options():
    assert "-x 1 -d" in " ".join(TOOLS["aria2c"].args(BATCH))
    assert "--split" not in " ".join(TOOLS["adl"].args(BATCH))
    assert not set(VARIANTS) & set(TOOLS)


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        (["adl", "aria2c"], ["adl-split8", "adl-split1", "aria2c-x8"]),
        (["adl"], ["adl-split8", "adl-split1"]),
        (["aria2c", "curl"], ["aria2c-x8"]),
        (["curl"], []),
    ],
)
def test_variants_run_when_their_base_tool_is_selected(selected, expected):
    picked = pick_variants(corpora.CORPORA["split"].variants, [TOOLS[n] for n in selected])
    assert [t.name for t in picked] == expected


def test_only_the_capped_location_is_rate_limited_and_logged(tmp_path):
    conf = server._config(tmp_path, tmp_path / "www", 8080, None, None, None)
    http, capped = conf.split("location /capped/", 1)
    assert "access_log off;" in http and "limit_rate" not in http
    block = capped.split("}", 1)[0]
    assert "limit_rate 40m;" in block and f"access_log {tmp_path}/capped-access.log" in block


# --- the tools' environment ---------------------------------------------------------------


def test_tools_run_without_proxies_and_write_their_bytecode(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # this sandbox sets it
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:3128")
    env = tools.child_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env and "HTTPS_PROXY" not in env
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tools.REPO)
