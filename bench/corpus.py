"""Benchmark corpora: what each one holds, generating it once into a cache, and checking output.

A corpus is N files of S bytes of pseudo-random data under ``<root>/www/<name>/``. The bytes come
from a fixed seed, so every machine and every run serves the same content. Generation happens
only when the corpus is missing or incomplete: a stamp file is written after the last byte.

A corpus may serve another one's files (``data``): ``https`` is ``large`` over TLS, the
``conc64`` ones are ``medium`` at ``-j 64``, ``split`` is the first of ``large``'s files; the
same bytes, no second copy in RAM. Its ``route`` says how nginx serves it (plain http, https on
a second port, through the slow location that holds each response ~50 ms, or through the
capped location that sends each response at 40 MiB/s; see server.py), its ``jobs`` the ``-j``
it runs at when that is part of what it measures, its ``variants`` the tools it runs when they
are not the usual ones (tools.VARIANTS: adl --split 8, aria2c -x8 ...).

The ``memory`` and ``hosts`` corpora are virtual: nginx answers every ``/m/<anything>`` with a
1-byte body, so a 500,000-URL list needs no files on disk (see server.py).
"""

from __future__ import annotations

import enum
import json
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

SEED = 20240601
# Files are cut from one random pool at random offsets: as random as generating every byte
# (random.randbytes runs at ~150 MB/s here; the 4 GiB corpus would take half a minute),
# distinct per file so a tool that swaps two files is caught, and limited only by write speed.
POOL_SIZE = 8 * MiB
CHUNK = 1 * MiB
STAMP_VERSION = 1

# URL path prefix that nginx answers with a fixed tiny body (server.py).
MEMORY_PREFIX = "m"
MEMORY_SIZES = (20_000, 500_000)
SPLITKILL = "splitkill"  # a corpus with a procedure of its own (split_kill.py)


class Route(enum.Enum):
    """How nginx serves a corpus (server.py)."""

    HTTP = "http"
    HTTPS = "https"  # TLS on a second port, with a certificate the bench makes (certs.py)
    SLOW = "slow"  # every response held ~50 ms before its first byte (slow.py)
    CAPPED = "capped"  # every response sent at 40 MiB/s (nginx limit_rate), its bytes logged


@dataclass(frozen=True)
class Corpus:
    name: str
    count: int
    size: int  # bytes per file
    data: str = ""  # the corpus whose files are served, when not its own (same size; its first
    # `count` files)
    route: Route = Route.HTTP
    jobs: int | None = None  # its own -j, when concurrency is what it measures; else --jobs
    adl_only: bool = False  # a target on adl alone (issue 16's memory at concurrency)
    # The tools it runs instead of --tools' own (tools.VARIANTS: a tool with extra options);
    # a variant runs when its base tool is among --tools.
    variants: tuple[str, ...] = ()

    @property
    def files_from(self) -> str:
        """The name of the directory under www/ that holds its files."""
        return self.data or self.name

    @property
    def total_bytes(self) -> int:
        return self.count * self.size

    def file_names(self) -> list[str]:
        width = len(str(self.count - 1))
        return [f"f{i:0{width}d}.bin" for i in range(self.count)]


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in (
        Corpus("huge", 4, 1 * GiB),
        Corpus("many", 10_000, 16 * KiB),
        Corpus("large", 4, 256 * MiB),
        Corpus("medium", 64, 4 * MiB),
        # Issue 13's medium target: start-up amortized over 1 GiB, files still 4 MiB.
        Corpus("medium1g", 256, 4 * MiB),
        Corpus("small", 2000, 16 * KiB),
        # One file: the wall time is what a run costs besides its transfer (process start,
        # imports, setup, exit); it tells how much of the medium and small figures that is.
        Corpus("startup", 1, 16 * KiB),
        # large's files over TLS: its table beside large's shows what TLS costs each tool.
        Corpus("https", 4, 256 * MiB, data="large", route=Route.HTTPS),
        # Issue 16: peak RSS with many transfers in flight, against plain nginx and against
        # a server that holds each response ~50 ms (as far servers do).
        Corpus("conc64", 64, 4 * MiB, data="medium", jobs=64, adl_only=True),
        Corpus("conc64slow", 64, 4 * MiB, data="medium", route=Route.SLOW, jobs=64, adl_only=True),
        Corpus("conc500", 3000, 16 * KiB, jobs=500, adl_only=True),
        # Issue 14: one big file from a server that caps each connection at 40 MiB/s, over
        # 8 connections and over one, beside aria2c -x8 -s8.
        Corpus(
            "split",
            1,
            256 * MiB,
            data="large",
            route=Route.CAPPED,
            variants=("adl-split8", "adl-split1", "aria2c-x8"),
        ),
        # Issue 14: a split 1 GiB download killed with SIGKILL mid-way, then run again
        # (split_kill.py): byte-exact, and what the server sent in all.
        Corpus(SPLITKILL, 1, 1 * GiB, data="huge", route=Route.CAPPED, variants=("adl-split8",)),
        # Issue 14: --limit-rate 30M over 256 MiB at -j 8: 8.53 s of wall time.
        Corpus("ratelimit", 64, 4 * MiB, data="medium", jobs=8, variants=("adl-limit30M",)),
        # Issue 15: many's files at -j 10 with two processes beside one: files/s, side by side.
        Corpus(
            "procs", 10_000, 16 * KiB, data="many", jobs=10, variants=("adl-procs1", "adl-procs2")
        ),
    )
}
# Virtual corpora, measured on adl alone: bodies of 1 byte from one nginx location.
MEMORY = "memory"  # 20,000 vs 500,000 URLs: RSS must not grow with the list
HOSTS = "hosts"  # 100,000 URLs over 10,000 host names: RSS flat from the 10,000th (adl_hosts.py)
ALL_NAMES = (*CORPORA, MEMORY, HOSTS)
DEFAULT_NAMES = ("large", "medium1g", "https", "small", "startup")
# Names --corpus also takes, for several corpora at once.
GROUPS = {
    "all": ALL_NAMES,
    "concurrency": ("conc64", "conc64slow", "conc500", HOSTS),  # issue 16, adl only
    "bigfiles": ("split", SPLITKILL, "ratelimit"),  # issue 14
}
HOSTS_URLS = 100_000
HOSTS_NAMES = 10_000
HOSTS_JOBS = 100


def source(corpus: Corpus) -> Corpus:
    """The corpus whose files CORPUS serves (itself, unless it borrows another one's)."""
    if not corpus.data:
        return corpus
    owner = CORPORA[corpus.data]
    assert owner.size == corpus.size and owner.count >= corpus.count, corpus.name
    return owner


def served_names(corpus: Corpus) -> list[str]:
    """The names of CORPUS's files: its own, or the first of those of the corpus it borrows."""
    return source(corpus).file_names()[: corpus.count]


def choose_root(wanted: list[Corpus]) -> Path:
    """/dev/shm/adl-bench when tmpfs has room for the corpora and one tool's output, else /tmp.

    Output must be on tmpfs where possible: ext4 file creation here varies 1.2k-3k files/s from
    run to run, which would drown the difference between the tools (DESIGN.md section 4).
    """
    shm = Path("/dev/shm")
    if shm.is_dir():
        root = shm / "adl-bench"
        sources = {source(c) for c in wanted}
        missing = sum(c.total_bytes for c in sources if not is_generated(root, c))
        biggest_output = max((c.total_bytes for c in wanted), default=0)
        # Margin: tmpfs is RAM; leave room for the tools themselves and the rest of the machine.
        if shutil.disk_usage(shm).free > missing + biggest_output + 2 * GiB:
            return root
    return Path("/tmp/adl-bench")


def corpus_dir(root: Path, corpus: Corpus) -> Path:
    return root / "www" / corpus.name


def _stamp_path(root: Path, corpus: Corpus) -> Path:
    return root / "stamps" / f"{corpus.name}.json"


def _stamp(corpus: Corpus) -> dict:
    return {"version": STAMP_VERSION, "seed": SEED, "count": corpus.count, "size": corpus.size}


def is_generated(root: Path, corpus: Corpus) -> bool:
    try:
        return json.loads(_stamp_path(root, corpus).read_text()) == _stamp(corpus)
    except (OSError, ValueError):
        return False


def ensure_generated(root: Path, corpus: Corpus, log) -> None:
    """Write the corpus (or the one whose files it serves) unless a matching stamp says it
    is already complete."""
    corpus = source(corpus)
    if is_generated(root, corpus):
        return
    directory = corpus_dir(root, corpus)
    size = human_bytes(corpus.size)
    log(f"generating corpus {corpus.name}: {corpus.count} x {size} in {directory}")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    pool = memoryview(random.Random(SEED).randbytes(POOL_SIZE))
    for index, name in enumerate(corpus.file_names()):
        rng = random.Random(f"{SEED}:{corpus.name}:{index}")
        with open(directory / name, "wb") as f:
            for piece in _file_pieces(pool, rng, corpus.size):
                f.write(piece)
    stamp = _stamp_path(root, corpus)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(_stamp(corpus)))


def _file_pieces(pool: memoryview, rng: random.Random, size: int) -> Iterator[memoryview]:
    remaining = size
    while remaining:
        n = min(CHUNK, remaining)
        offset = rng.randrange(len(pool) - n + 1)
        yield pool[offset : offset + n]
        remaining -= n


def write_url_list(path: Path, urls: list[str]) -> None:
    path.write_text("".join(f"{u}\n" for u in urls))


def corpus_urls(base_url: str, corpus: Corpus) -> list[str]:
    """BASE_URL: the server's URL for the corpus's route (server.Endpoints.base)."""
    return [f"{base_url}/{corpus.files_from}/{name}" for name in served_names(corpus)]


def memory_urls(base_url: str, count: int) -> list[str]:
    width = len(str(count - 1))
    return [f"{base_url}/{MEMORY_PREFIX}/{i:0{width}d}" for i in range(count)]


# --- verification -----------------------------------------------------------------------------


def output_files(out: Path) -> dict[str, Path]:
    """Regular files at the top of OUT, skipping dot-names (adl's .adl/ journal and the like)."""
    with os.scandir(out) as entries:
        return {e.name: Path(e.path) for e in entries if e.is_file() and e.name[0] != "."}


def verify_corpus(root: Path, corpus: Corpus, out: Path) -> str | None:
    """None when OUT holds exactly the corpus, byte for byte; else what is wrong."""
    if not out.is_dir():
        return f"output dir {out} is gone"
    got = output_files(out)
    expected = served_names(corpus)
    missing = [n for n in expected if n not in got]
    extra = sorted(set(got) - set(expected))
    served = corpus_dir(root, source(corpus))
    corrupt = [n for n in expected if n in got and not same_bytes(served / n, got[n])]
    return _problems(missing=missing, corrupt=corrupt, extra=extra)


def verify_count(out: Path, count: int) -> str | None:
    """The memory corpus: only the number of files is checked (the bodies are all one byte)."""
    if not out.is_dir():
        return f"output dir {out} is gone"
    got = len(output_files(out))
    return None if got == count else f"{got} files, expected {count}"


def _problems(**named: list[str]) -> str | None:
    parts = [f"{len(names)} {what} (e.g. {names[0]})" for what, names in named.items() if names]
    return "; ".join(parts) or None


def same_bytes(a: Path, b: Path) -> bool:
    # Sizes first: cheap, and catches short or padded files without reading them.
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(CHUNK)
            if x != fb.read(CHUNK):
                return False
            if not x:
                return True


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
