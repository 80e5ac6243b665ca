"""Starting worker processes (--procs), each on a socket pair with the coordinator.

A library caller's process may run an event loop and threads of its own, which a fork would
copy half-way: there each worker is a new interpreter (`python -m downloader.workers`,
`spawn`), rather than multiprocessing's spawn, which would import the caller's `__main__`
again in each worker (a script without an `if __name__ == "__main__"` guard would run
again). Such a worker spends its first ~0.3 CPU-s importing what it needs, on a machine
whose cores the batch needs.

The command line knows its own process: `fork_ahead` forks its workers once it has imported
everything they need, before it starts any thread or event loop. A forked worker starts in
milliseconds, sharing the coordinator's imported modules (copy on write).
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import NamedTuple


class Forked:
    """A forked worker, with the surface of `subprocess.Popen` that the pool uses."""

    def __init__(self, process: BaseProcess) -> None:
        self._process = process
        self.pid = process.pid

    def poll(self) -> int | None:
        return self._process.exitcode  # reaps it once it ended; -N: killed by signal N

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("adl worker", timeout or 0.0)
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()


class Spawned(NamedTuple):
    process: subprocess.Popen | Forked
    sock: socket.socket  # the coordinator's end


_ready: list[Spawned] = []  # started ahead (`fork_ahead`), not yet taken by a pool


def spawn() -> Spawned:
    ours, theirs = socket.socketpair()
    with theirs:
        process = subprocess.Popen(
            [sys.executable, "-m", "downloader.workers", str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),),
            env=_env_finding_this_package(),
        )
    # uvloop uses a socket as it is given: a blocking write would hold the whole loop.
    ours.setblocking(False)
    return Spawned(process, ours)


def fork_ahead(count: int) -> None:
    """Fork `count` workers now, for the pool the batch makes later (`take`). Only for a
    process that runs no other thread and no event loop yet (a fork copies the calling
    thread alone), and has imported what a worker runs."""
    context = multiprocessing.get_context("fork")
    for stream in (sys.stdout, sys.stderr):  # a child flushes its copy as it leaves
        stream.flush()
    for _ in range(count):
        ours, theirs = socket.socketpair()
        # The coordinator's ends stay the coordinator's: a worker holding one would keep a
        # lost worker's socket from ending, or its own from ending when the coordinator dies.
        ends = [spawned.sock.fileno() for spawned in _ready] + [ours.fileno()]
        # daemon: if this process exits before a pool took them (another adl holds the
        # folder, say), multiprocessing ends them at exit instead of waiting for them.
        process = context.Process(target=_forked, args=(theirs, os.getpid(), ends), daemon=True)
        process.start()
        theirs.close()
        ours.setblocking(False)
        _ready.append(Spawned(Forked(process), ours))


def _forked(sock: socket.socket, parent: int, coordinators_ends: list[int]) -> None:
    for fd in coordinators_ends:
        os.close(fd)
    from .workers import run_worker

    run_worker(sock, parent)


def take() -> Spawned:
    """A worker started ahead, else a new one."""
    return _ready.pop(0) if _ready else spawn()


def discard_unused() -> list[subprocess.Popen | Forked]:
    """Close the sockets of workers started ahead and never taken (they leave at once, at
    the end of their socket); their processes, to reap."""
    left = [spawned.process for spawned in _ready]
    for spawned in _ready:
        spawned.sock.close()
    _ready.clear()
    return left


def _env_finding_this_package() -> dict[str, str]:
    """The environment, with this package's folder on PYTHONPATH: a worker runs the same
    adl as its coordinator, installed or not (a checkout run with PYTHONPATH=...)."""
    env = dict(os.environ)
    home = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (home, env.get("PYTHONPATH")) if p)
    return env
