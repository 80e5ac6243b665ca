"""Which engine runs a batch: this process's own, or a coordinator of worker lanes.

`--procs` and `--cluster` make the coordinator (coordinator.py); everything else, and
`--limit-rate` on one machine (one byte budget cannot be shared between processes
exactly), keeps one process's engine (engine.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

from aiohttp.abc import AbstractCookieJar

from .cookies import load_into
from .coordinator import Coordinator
from .engine import Engine
from .errors import OptionsError
from .events import Event, Notice
from .hosts import Sleep
from .journal import Journal
from .messages import Setup
from .options import Options
from .ratelimit import Limits
from .request import RequestPolicy
from .transfer import Transfer


@contextlib.asynccontextmanager
async def engine_for(
    transfer: Transfer,
    journal: Journal,
    options: Options,
    emit: Callable[[Event], None],
    *,
    jar: AbstractCookieJar,
    policy: RequestPolicy,
    limits: Limits,
    sleep: Sleep,
    progress: bool = True,
) -> AsyncIterator[Engine]:
    """The batch's engine: this process's own, or a coordinator of workers (started here,
    stopped when the batch ends; their cookies join `jar`). Without `progress`, workers
    send no FileStarted or FileProgress events: one FileProgress comes as each file ends."""
    if not pooled(options):
        if options.procs > 1:
            emit(Notice("--limit-rate: one process downloads (one byte budget is exact)"))
        yield Engine(transfer, journal, options, emit, policy=policy, limits=limits, sleep=sleep)
        return
    coordinator = Coordinator(
        transfer, journal, options, emit, policy=policy, limits=limits, sleep=sleep
    )
    coordinator.progress = progress
    setup = Setup(options, str(transfer.dest), transfer.checksums, journal.rebuilding, progress)
    await coordinator.start(setup)
    try:
        yield coordinator
    finally:
        load_into(jar, await coordinator.pool.close(), time.time())


def pooled(options: Options) -> bool:
    """Whether files go to workers. Not with --limit-rate on one machine: one budget
    cannot be shared by processes, and a rate-limited batch waits on the network anyway
    (a file's own max-download-limit= goes with it)."""
    if options.cluster is not None:
        return True
    return options.procs > 1 and options.limit_rate is None


def check_pool_options(options: Options, session: object | None) -> None:
    """Misuse of workers: a session of the caller's cannot be shared with processes, and
    one byte budget cannot be shared over a cluster's machines."""
    if session is not None and (options.procs > 1 or options.cluster is not None):
        raise OptionsError(
            "session cannot be used with procs > 1 or cluster: workers open their own"
        )
    if options.cluster is not None and options.limit_rate is not None:
        raise OptionsError("limit_rate cannot be used with cluster (one budget over many machines)")
