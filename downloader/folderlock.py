"""Who holds a batch folder: one run at a time writes DIR/.adl, and `adl status` asks
whether a run is alive there.

The lock is a `flock` on DIR/.adl/lock, held for the whole run. The kernel drops it when
the process dies however it dies (kill -9 included), so "nobody holds the lock" is the
reliable way to tell that rows left `active` belong to a run that is gone.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import JournalBusyError

LOCK_FILE = "lock"
# `adl status` takes the lock for an instant to see whether it is free; a run starting at
# that very instant waits this long for it instead of calling the folder busy.
_PROBE_GRACE_SECONDS = 0.2
_RETRY_EVERY_SECONDS = 0.02


def lock_folder(folder: Path) -> int:
    """Hold an exclusive lock so two adl processes never interleave writes to one folder.
    Returns the descriptor that holds it (closing it releases the lock)."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + _PROBE_GRACE_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise JournalBusyError(
                    f"another adl is already working in {folder.parent}"
                ) from None
            time.sleep(_RETRY_EVERY_SECONDS)


def folder_in_use(folder: Path) -> bool | None:
    """True while some process (this one included) holds `folder`'s lock; None when that
    cannot be told (a lock file we may not read). Takes a shared lock for an instant and
    gives it back; never creates the lock file."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the shared lock if we got it
    return False
