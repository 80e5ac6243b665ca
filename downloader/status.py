"""What `adl status` tells about a batch folder, read while a run works there or after one.

The journal lags the disk on purpose (commits are batched), and a run killed with kill -9
leaves rows `active` that nobody is working on. So the report adds what only the folder
knows: whether a run holds it (its lock), and the bytes already in `.part` files.
Rows left `active` with no run alive are shown as `interrupted`: the same command resumes them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .folderlock import folder_in_use
from .itempath import is_clean_relative
from .journal import JOURNAL_DIR, Entry, SqliteJournal
from .naming import PART_SUFFIX
from .redact import for_display, mask_text, mask_url
from .report import human_bytes
from .segments import bytes_kept

# The order counts are printed in; `active` (a run is in progress) or `interrupted` follows.
STATES = ("done", "skipped", "failed", "pending")


@dataclass(frozen=True, slots=True)
class FolderStatus:
    counts: dict[str, int]  # per state, only states that have rows
    running: bool | None  # a run holds the folder right now (None: cannot tell)
    bytes_done: int  # finished files, plus what `.part` files hold
    bytes_partial: int  # the part of bytes_done in `.part` files
    bytes_total: int | None  # None while some sizes are unknown


def read_status(journal: SqliteJournal, dest: Path) -> FolderStatus:
    # Whether a run is alive is asked first: a run that ends between the two reads then
    # shows its last rows as they are, never its finished rows as "interrupted".
    running = folder_in_use(dest / JOURNAL_DIR)
    summary = journal.summary()
    partial = part_bytes(dest, journal.names_with_partial_data())
    return FolderStatus(
        counts=label_counts(summary.counts, running=running),
        running=running,
        bytes_done=summary.bytes_done + partial,
        bytes_partial=partial,
        bytes_total=summary.bytes_total,
    )


def label_counts(counts: dict[str, int], *, running: bool | None) -> dict[str, int]:
    """Rows left `active` are `interrupted` when no run holds the folder."""
    if running is not False or "active" not in counts:
        return dict(counts)
    labelled = {state: n for state, n in counts.items() if state != "active"}
    labelled["interrupted"] = counts["active"]
    return labelled


def part_bytes(dest: Path, names: Iterable[tuple[str, int | None]]) -> int:
    """Bytes in the `.part` files of `names` (missing ones count 0; links are not followed),
    each with what its segments have on disk when it is split (its size says nothing)."""
    total = 0
    for name, segments_done in names:
        if not is_clean_relative(name):
            continue  # a journal edited by hand must not make us look outside the folder
        try:
            info = os.lstat(f"{dest}/{name}{PART_SUFFIX}")
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            total += bytes_kept(segments_done, info.st_size)
    return total


def status_lines(status: FolderStatus, failed: Iterable[Entry], dest: Path) -> Iterator[str]:
    counts = status.counts
    shown = [f"{counts.get(state, 0)} {state}" for state in STATES]
    if status.running:
        yield ", ".join([*shown, f"{counts.get('active', 0)} active"]) + " (a run is in progress)"
    elif status.running is None:  # as recorded
        yield ", ".join([*shown, f"{counts.get('active', 0)} active"])
    elif counts.get("interrupted"):
        yield ", ".join([*shown, f"{counts['interrupted']} interrupted"])
    else:  # a batch that ran to its end
        yield ", ".join(shown)
    total = "" if status.bytes_total is None else f" of {human_bytes(status.bytes_total)}"
    partial = status.bytes_partial
    in_parts = f" ({human_bytes(partial)} of it in .part files)" if partial else ""
    yield f"bytes: {human_bytes(status.bytes_done)} done{total}{in_parts}"
    unfinished = counts.get("pending", 0) + counts.get("interrupted", 0)
    if unfinished and status.running is False:
        yield (
            f"{unfinished} unfinished: no adl is running in {dest};"
            " rerun the same `adl get` to finish them"
        )
    for entry in failed:
        yield for_display(f"FAILED {entry.url}: {entry.error or ''}")


def status_data(status: FolderStatus, failed: Iterable[Entry]) -> dict[str, object]:
    """The `--json` document."""
    return {
        "running": status.running,
        "counts": status.counts,
        "bytes_done": status.bytes_done,
        "bytes_partial": status.bytes_partial,
        "bytes_total": status.bytes_total,
        "failed": [
            {
                "url": mask_url(e.url),
                "name": e.name,
                "error": None if e.error is None else mask_text(e.error),
            }
            for e in failed
        ],
    }
