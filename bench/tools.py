"""The downloaders under test: how to find each one and the command line for one batch.

Every tool gets the same URL list, the same concurrency (-j, 5 by default) and one connection
per file (aria2c -x 1, parfive max_splits=1), writes into an empty directory, and prints
nothing but errors, so the comparison is of the downloaders and not of their options.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


@dataclass(frozen=True)
class Batch:
    list_path: Path  # one URL per line
    out: Path  # empty directory for the files
    jobs: int


@dataclass(frozen=True)
class Tool:
    name: str
    find: Callable[[], list[str] | None]  # argv prefix, or None when not installed
    args: Callable[[Batch], list[str]]  # what follows the prefix for one batch
    version_args: tuple[str, ...] = ("--version",)

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


def child_env() -> dict[str, str]:
    """The environment for every tool: `python -m downloader` must find this repo's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _on_path(binary: str) -> Callable[[], list[str] | None]:
    def find() -> list[str] | None:
        path = shutil.which(binary)
        return [path] if path else None

    return find


# --- adl ----------------------------------------------------------------------------------------


def _find_adl() -> list[str] | None:
    """This checkout's adl (`python -m downloader`), else `adl` from PATH; None if neither answers.

    The checkout first: the benchmark is of the code in this repo, whatever version of adl is
    installed; and `python -m` skips launchers such as pyenv's bash shims, which add 0.1-0.2 s
    of start-up to every run.
    """
    path = shutil.which("adl")
    for prefix in ([sys.executable, "-m", "downloader"], [path] if path else []):
        if prefix and _answers_help([*prefix, "get", "--help"]):
            return prefix
    return None


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
    return ["get", str(b.list_path), "-j", str(b.jobs), "-o", str(b.out), "-q"]


def adl_variant(spec: str) -> Tool:
    """`NAME=ARGS`: adl with more arguments, as a tool of its own, measured side by side
    with plain adl (e.g. `adl-p2=--procs 2`)."""
    name, _, extra = spec.partition("=")
    more = shlex.split(extra)
    return Tool(name.strip(), _find_adl, lambda b: [*_adl_args(b), *more])


def _find_adl_tty() -> list[str] | None:
    """adl with its progress bars on: run under `script`, so it sees a terminal."""
    adl, script = _find_adl(), shutil.which("script")
    return [script] if adl and script else None


def _adl_tty_args(b: Batch) -> list[str]:
    adl = _find_adl()
    assert adl is not None
    argv = [*adl, "get", str(b.list_path), "-j", str(b.jobs), "-o", str(b.out)]
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
    ]


def _aria2c_args(b: Batch) -> list[str]:
    return [
        "-i",
        str(b.list_path),
        "-j",
        str(b.jobs),
        "-x",
        "1",
        "-d",
        str(b.out),
        "--quiet",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--file-allocation=none",
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
    ]


def _find_parfive() -> list[str] | None:
    try:
        import parfive  # noqa: F401  (only asking whether it is installed)
    except ImportError:
        return None
    return [sys.executable, str(BENCH / "parfive_get.py")]


def _parfive_args(b: Batch) -> list[str]:
    return [str(b.list_path), str(b.out), "-j", str(b.jobs)]


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
