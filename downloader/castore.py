"""When `adl get` reads the system's CA store: beside its start-up, not in its way.

aiohttp builds two default SSL contexts as it is imported, and each reads the system's CA
store: ~30 ms apiece on our 2-core machines, 60 ms of a 0.35 s start-up spent before the
first request of every run, https or not. `import_aiohttp` (the `adl get` command only)
imports aiohttp with those two reads put aside, then does them in a thread while the rest
of start-up goes on: OpenSSL lets go of the GIL while it reads, so they cost no wall time.
`ready` waits for them, and the batch's session is opened after it (session.py): no request
can meet a context without its CA store. No library does this; the one hook is the
stdlib's own method, shadowed for the length of one import in a process that is ours (the
command line), never when adl is imported as a library: another thread of the caller's
could use aiohttp's contexts in between.
"""

from __future__ import annotations

import ssl
import sys
import threading

_loading: threading.Thread | None = None
_failure: list[BaseException] = []


def import_aiohttp() -> None:
    """Import aiohttp, its default contexts' CA store read in a thread (`ready` waits)."""
    global _loading
    if "aiohttp" in sys.modules or _loading is not None:
        return  # imported already (by tests, by a caller): nothing is put aside
    put_aside: list[ssl.SSLContext] = []
    own = ssl.SSLContext.__dict__.get("set_default_verify_paths")  # None: _SSLContext's

    def put_off(context: ssl.SSLContext) -> None:
        put_aside.append(context)

    ssl.SSLContext.set_default_verify_paths = put_off  # type: ignore[method-assign,assignment]
    try:
        import aiohttp  # noqa: F401
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]
    if put_aside:
        _loading = threading.Thread(target=_load, args=(put_aside,), daemon=True)
        _loading.start()


def ready() -> None:
    """Wait until the CA stores put aside are read; raise what reading one raised."""
    if _loading is not None:
        _loading.join()
    if _failure:
        raise _failure[0]


def _load(contexts: list[ssl.SSLContext]) -> None:
    try:
        for context in contexts:
            context.set_default_verify_paths()
    except BaseException as exc:  # told by `ready`, in the thread that uses the contexts
        _failure.append(exc)
