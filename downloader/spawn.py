"""Starting worker processes (--procs): a fresh interpreter each, on a socket pair.

Spawned, never forked: the coordinator runs an event loop and threads, which a fork would
copy half-way. A new interpreter (`python -m downloader.workers`) rather than
multiprocessing's spawn, which would import the caller's `__main__` again in each worker:
a library user's script without an `if __name__ == "__main__"` guard would run again.

A worker spends its first ~0.3 s importing aiohttp, before it needs to know anything of the
batch (its options come later, on the socket). So the command line starts its workers
(`prestart`) before importing that much itself: the imports overlap. This module imports
nothing heavy for that reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple


class Spawned(NamedTuple):
    process: subprocess.Popen
    sock: socket.socket  # the coordinator's end


_ready: list[Spawned] = []  # started by `prestart`, not yet taken by a pool


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


def prestart(count: int) -> None:
    """Start `count` workers now, for the pool the batch makes later (`take`)."""
    _ready.extend(spawn() for _ in range(count))


def take() -> Spawned:
    """A worker started ahead, else a new one."""
    return _ready.pop(0) if _ready else spawn()


def discard_unused() -> list[subprocess.Popen]:
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
