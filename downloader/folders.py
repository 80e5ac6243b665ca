"""Subfolders of the output folder (`dir=`, `out=docs/a.pdf`), walked and made without ever
following a link: a link planted at `OUTPUT/docs` must not send a file into another folder.

Each folder is opened relative to its parent's descriptor with O_NOFOLLOW | O_DIRECTORY (a
link or a file there fails the open itself, not a look before it) and created with mkdir
relative to the same descriptor. The final component is guarded where it is opened
(`writes.open_no_follow`) and renamed (`os.replace` replaces a link, never follows it).

What this cannot close: a folder swapped for a link *between* this walk and the open of the
file in it, by someone writing into the output folder while adl runs. A link present before
the walk (planted before the run, or while it waits) is refused.
"""

from __future__ import annotations

import errno
import os

from .errors import DownloadError, from_os_error
from .itempath import folders_of, is_clean_relative

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def checked_path(root: str, name: str, *, create: bool = False) -> str:
    """`root/name`, once every folder of `name` is a real folder below `root` (made first
    with `create`; without it a missing folder ends the walk: nothing below it exists)."""
    # Names are sanitized when made; this last guard keeps every path inside the folder.
    if "/" not in name:  # the common case: no folder to walk
        if name in ("", ".", "..") or "\0" in name:
            raise DownloadError(f"unsafe file name {name!r}")
    elif is_clean_relative(name):
        _walk(root, folders_of(name), create=create)
    else:
        raise DownloadError(f"unsafe file name {name!r}")
    return f"{root}/{name}"


def _walk(root: str, folders: list[str], *, create: bool) -> None:
    try:
        fd = os.open(root, _DIRECTORY)
    except OSError as exc:
        raise from_os_error(exc) from exc
    try:
        for depth, folder in enumerate(folders, 1):
            child = _open_folder(fd, folder, "/".join(folders[:depth]), create=create)
            if child is None:
                return
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def _open_folder(parent: int, folder: str, shown: str, *, create: bool) -> int | None:
    """The descriptor of `folder` inside `parent`; None when it is missing and not made."""
    try:
        return os.open(folder, _DIRECTORY, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            return None
    except OSError as exc:
        raise _refused(exc, shown) from exc
    try:
        os.mkdir(folder, 0o777, dir_fd=parent)
    except FileExistsError:
        pass  # made meanwhile by another file of the same folder: opened below, checked
    except OSError as exc:
        raise from_os_error(exc) from exc
    try:
        return os.open(folder, _DIRECTORY, dir_fd=parent)
    except OSError as exc:
        raise _refused(exc, shown) from exc


def _refused(exc: OSError, shown: str) -> DownloadError:
    # ELOOP: a link (O_NOFOLLOW); ENOTDIR: a file or a link to one (O_DIRECTORY).
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return DownloadError(f"cannot write into {shown!r}: it is a link or not a folder")
    return from_os_error(exc)
