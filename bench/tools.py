"""The downloaders under test: how to find each one and the command line for one batch.

Every tool gets the same URL list, the same concurrency (-j, 5 by default) and one connection
per file (aria2c -x 1, parfive max_splits=1), writes into an empty directory, and prints
nothing but errors, so the comparison is of the downloaders and not of their options. Over
https each is told to trust the bench's own CA (certs.py) with its own option; none runs with
verification off.

Some corpora run variants instead (VARIANTS, issue 14): a tool with the options that corpus is
about, e.g. adl --split 8 beside adl --split 1 and aria2c -x8 -s8 -k1M. A variant runs when
its base tool is among --tools; the default tool list stays the same for every other corpus.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


@dataclass(frozen=True)
class Batch:
    list_path: Path  # one URL per line
    out: Path  # empty directory for the files
    jobs: int
    ca: Path | None = None  # the CA to trust, for https URLs


@dataclass(frozen=True)
class Tool:
    name: str
    find: Callable[[], list[str] | None]  # argv prefix, or None when not installed
    args: Callable[[Batch], list[str]]  # what follows the prefix for one batch
    version_args: tuple[str, ...] = ("--version",)
    base: str = ""  # a variant's tool in TOOLS (what --tools names); "" for those tools

    @property
    def family(self) -> str:
        """The name --tools selects it by."""
        return self.base or self.name

    def command(self, batch: Batch) -> list[str]:
        prefix = self.find()
        assert prefix is not None, f"{self.name} is not installed"
        return [*prefix, *self.args(batch)]

    def version(self) -> str:
        prefix = self.find()
        if prefix is None:
            return "not installed"
        try:
            res = subprocess.run(
                [*prefix, *self.version_args],
                capture_output=True,
                text=True,
                timeout=30,
                env=child_env(),
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unknown ({e})"
        lines = (res.stdout or res.stderr).strip().splitlines()
        return lines[0] if lines else "unknown"


# Every tool honours some of these; the bench's traffic must never leave 127.0.0.1.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")


def child_env() -> dict[str, str]:
    """The environment for every tool: `python -m downloader` must find this repo's package,
    and no proxy variable may send loopback requests elsewhere.

    Without PYTHONDONTWRITEBYTECODE: a machine that sets it (this sandbox does) would have
    adl compile its ~60 modules from this checkout at every start (+60-80 ms a run here), a
    cost no user's install has (pip writes the bytecode); the first run writes the cache."""
    hidden = {*PROXY_VARIABLES, "pythondontwritebytecode"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in hidden}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _on_path(binary: str) -> Callable[[], list[str] | None]:
    def find() -> list[str] | None:
        path = shutil.which(binary)
        return [path] if path else None

    return find


# --- adl ----------------------------------------------------------------------------------------


ADL_VENV = BENCH / ".venv"  # made by setup.sh: `pip install .` into a venv, as users install


def adl_python() -> str:
    """The interpreter adl runs in: bench/.venv's when setup.sh made it, else the harness's.

    A venv is what users run adl in, and it matters: a system interpreter may carry site-wide
    .pth files (one here imports certifi at every start: +5 MB RSS, +30-90 ms of start-up)
    that no user's venv has. The code run is this checkout's either way (child_env)."""
    venv_python = ADL_VENV / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def _find_adl() -> list[str] | None:
    """This checkout's adl (`python -m downloader`), else `adl` from PATH; None if neither answers.

    The checkout first: the benchmark is of the code in this repo, whatever version of adl is
    installed; and `python -m` skips launchers such as pyenv's bash shims, which add 0.1-0.2 s
    of start-up to every run.
    """
    path = shutil.which("adl")
    for prefix in ([adl_python(), "-m", "downloader"], [path] if path else []):
        if prefix and _answers_help([*prefix, "get", "--help"]):
            return prefix
    return None


def adl_status_problem(out: Path, files: int) -> str | None:
    """After a correct adl run, `adl status` must count every file done (issue 15 asks it of
    --procs: one journal, whatever the processes); what it says otherwise."""
    prefix = _find_adl()
    assert prefix is not None
    argv = [*prefix, "status", "-o", str(out), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=120)
    if done.returncode != 0:
        return f"adl status exited {done.returncode}: {done.stderr.strip()[-200:]}"
    counts = json.loads(done.stdout)["counts"]
    return None if counts == {"done": files} else f"adl status: {counts}, expected {files} done"


_help_cache: dict[tuple[str, ...], bool] = {}


def _answers_help(argv: list[str]) -> bool:
    key = tuple(argv)
    if key not in _help_cache:
        try:
            res = subprocess.run(
                argv,
                capture_output=True,
                timeout=30,
                env=child_env(),
                cwd=REPO,
            )
            _help_cache[key] = res.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _help_cache[key] = False
    return _help_cache[key]


def _adl_args(b: Batch) -> list[str]:
    return ["get", str(b.list_path), "-j", str(b.jobs), "-o", str(b.out), "-q", *_adl_ca(b)]


def _adl_with(*options: str) -> Callable[[Batch], list[str]]:
    return lambda b: [*_adl_args(b), *options]


def _adl_ca(b: Batch) -> list[str]:
    return ["--ca-certificate", str(b.ca)] if b.ca else []


def _find_adl_tty() -> list[str] | None:
    """adl with its progress bars on: run under `script`, so it sees a terminal."""
    adl, script = _find_adl(), shutil.which("script")
    return [script] if adl and script else None


def _adl_tty_args(b: Batch) -> list[str]:
    adl = _find_adl()
    assert adl is not None
    argv = [*adl, "get", str(b.list_path), "-j", str(b.jobs), "-o", str(b.out), *_adl_ca(b)]
    # script's output goes to the harness's log; /dev/null is script's own typescript file.
    return ["-qec", shlex.join(argv), "/dev/null"]


# --- peers --------------------------------------------------------------------------------------


def _curl_args(b: Batch) -> list[str]:
    # The URLs go in a config file (`url = ...` lines), not argv: 10,000 URLs would pass
    # ARG_MAX-sized command lines. --remote-name-all gives each one -O.
    config = b.list_path.with_suffix(".curl")
    if not config.exists():
        urls = b.list_path.read_text().split()
        config.write_text("".join(f'url = "{u}"\n' for u in urls))
    return [
        "--parallel",
        "--parallel-max",
        str(b.jobs),
        "-s",
        "-S",
        "--fail",
        "--remote-name-all",
        "--output-dir",
        str(b.out),
        "-K",
        str(config),
        *(["--cacert", str(b.ca)] if b.ca else []),
    ]


def _aria2c_args(b: Batch, *, split: int = 1) -> list[str]:
    # SPLIT > 1: aria2c's segmented download as its users run it (issue 14): SPLIT connections
    # per file (-x), SPLIT pieces (-s), pieces of 1 MiB at least (-k, aria2c's smallest).
    pieces = ["-s", str(split), "-k", "1M"] if split > 1 else []
    return [
        "-i",
        str(b.list_path),
        "-j",
        str(b.jobs),
        "-x",
        str(split),
        *pieces,
        "-d",
        str(b.out),
        "--quiet",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--file-allocation=none",
        *([f"--ca-certificate={b.ca}"] if b.ca else []),
    ]


def _wget2_args(b: Batch) -> list[str]:
    return [
        f"--max-threads={b.jobs}",
        "-q",
        "-i",
        str(b.list_path),
        "-P",
        str(b.out),
        "--no-robots",
        # --no-ocsp: the bench's certificates name no OCSP responder, so this changes nothing
        # but makes sure wget2 never tries to reach one.
        *([f"--ca-certificate={b.ca}", "--no-ocsp"] if b.ca else []),
    ]


def _find_parfive() -> list[str] | None:
    try:
        import parfive  # noqa: F401  (only asking whether it is installed)
    except ImportError:
        return None
    return [sys.executable, str(BENCH / "parfive_get.py")]


def _parfive_args(b: Batch) -> list[str]:
    return [
        str(b.list_path),
        str(b.out),
        "-j",
        str(b.jobs),
        *(["--cacert", str(b.ca)] if b.ca else []),
    ]


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("adl", _find_adl, _adl_args),
        Tool("adl-tty", _find_adl_tty, _adl_tty_args),
        Tool("curl", _on_path("curl"), _curl_args),
        Tool("aria2c", _on_path("aria2c"), _aria2c_args),
        Tool("wget2", _on_path("wget2"), _wget2_args),
        Tool("parfive", _find_parfive, _parfive_args),
    )
}

# Corpora that run other options than the ones above (corpus.Corpus.variants); not in TOOLS, so
# not in --tools' default list: each runs when its base tool is among --tools.
VARIANTS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("adl-split8", _find_adl, _adl_with("--split", "8"), base="adl"),
        Tool("adl-split1", _find_adl, _adl_with("--split", "1"), base="adl"),
        Tool("aria2c-x8", _on_path("aria2c"), partial(_aria2c_args, split=8), base="aria2c"),
        Tool("adl-limit30M", _find_adl, _adl_with("--limit-rate", "30M"), base="adl"),
        Tool("adl-procs1", _find_adl, _adl_with("--procs", "1"), base="adl"),
        Tool("adl-procs2", _find_adl, _adl_with("--procs", "2"), base="adl"),
    )
}


def pick_variants(names: tuple[str, ...], tools: list[Tool]) -> list[Tool]:
    """The variants NAMES whose base tool is among TOOLS (selected and installed), in order."""
    selected = {t.name for t in tools}
    return [VARIANTS[n] for n in names if VARIANTS[n].family in selected]
