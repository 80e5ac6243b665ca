"""Run one child process and measure it: wall time, CPU seconds, peak RSS.

CPU comes from os.wait4 on the child's pid: its own rusage and that of the children it waited
for, so the figure belongs to the tool alone, not to nginx or this harness. No psutil needed.

Peak RSS cannot come from the same wait4: Linux carries a process's memory high-water mark
across fork and exec, so a tool started from this Python process reports at least the harness's
own peak (62 MiB for a curl whose real peak is a few MiB). GNU time (/usr/bin/time, Debian
package `time`) starts the tool from its own tiny process and reports the tool's true peak; the
harness uses it when present and otherwise marks RSS as not measured.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from system import ensure_binary


@dataclass(frozen=True)
class Measured:
    exit_code: int  # negative: killed by that signal
    wall_s: float
    cpu_s: float  # user + system
    peak_rss_mib: float | None  # None: no GNU time to measure it
    timed_out: bool


def find_gnu_time(log) -> str | None:
    """/usr/bin/time if it is GNU time (the one with -f); installed when missing and root."""
    path = ensure_binary("time", "time", log)
    if path:
        res = subprocess.run([path, "--version"], capture_output=True, text=True)
        if "GNU" in res.stdout + res.stderr:
            return path
    log("GNU time not found (apt-get install time): peak RSS will not be measured")
    return None


def run_measured(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    timeout: float,
    gnu_time: str | None,
) -> Measured:
    """Run ARGV to completion (or TIMEOUT seconds), its output into LOG_PATH."""
    rss_path = log_path.with_suffix(".rss")
    if gnu_time:
        argv = [gnu_time, "-q", "-f", "%M", "-o", str(rss_path), *argv]
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        # A session of its own: a timeout kills the whole group, helpers the tool forked included.
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timer = _killer(proc.pid, timeout)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            # Interrupted (Ctrl-C) before the child ended: do not leave it running.
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    return Measured(
        exit_code=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=_read_rss(rss_path) if gnu_time else None,
        timed_out=timer.fired,
    )


def _read_rss(path: Path) -> float | None:
    """GNU time's %M: the peak RSS in KiB, on the last line of its output file."""
    try:
        return int(path.read_text().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return None  # killed before GNU time could write it


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


class _Killer(threading.Timer):
    fired = False


def _killer(pgid: int, timeout: float) -> _Killer:
    def kill() -> None:
        timer.fired = True
        _kill_group(pgid)

    timer = _Killer(timeout, kill)
    timer.daemon = True
    timer.start()
    return timer
