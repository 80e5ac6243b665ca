"""How a batch's caps are spread over its workers (--procs, --cluster): pure decisions.

Each lane (the coordinator's own engine, a worker process, or one Dask task at a time) runs
files with caps of its own. So that -j and --per-host still hold across all of them, each
lane gets a share of each, and the shares add up to the batch's:

- -j: `jobs` split over at most `jobs` lanes (a lane with no share would have nothing to
  do), in proportion to their weights: with --procs the coordinator's own lane weighs less
  (OWN_WEIGHT), as it also names, journals and reports every file.
- --per-host H over L lanes: when H >= L, every lane takes a host's files, each holding its
  share of H connections to it. When H < L, a host's files go to H lanes only, each holding
  one connection: which H is decided by the host's name (`lanes_for_host`), so one busy
  host does not hold every lane back, and two hosts mostly use different lanes.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import replace

from .options import Options

# The coordinator's own lane, against a worker's 1 (--procs): it also spends ~75-100 µs on
# each worker's file (naming, journaling, reporting it), against ~250 µs to fetch a small
# file. On 2 cores, own shares of 30-60 % of -j measured alike (bench, 10,000 × 16 KiB);
# with more workers the coordinator has more of their files to report.
OWN_WEIGHT = 0.6


def shares(total: int, lanes: int, first: float = 1.0) -> list[int]:
    """`total` split over `lanes` in proportion to their weights (the first lane's is
    `first`, the others' 1), each at least 1 when `total` allows: largest remainders."""
    weights = [first] + [1.0] * (lanes - 1)
    quotas = [total * w / sum(weights) for w in weights]
    split = [max(1, int(q)) if total >= lanes else int(q) for q in quotas]
    by_remainder = sorted(range(lanes), key=lambda n: (split[n] - quotas[n], n))
    for n in itertools.islice(itertools.cycle(by_remainder), max(0, total - sum(split))):
        split[n] += 1
    return split


def lane_count(options: Options, workers: int) -> int:
    """How many of `workers` get a share of -j."""
    return max(1, min(workers, options.jobs))


def lane_options(options: Options, lanes: int, first: float = 1.0) -> list[Options]:
    """Each lane's options: its share of -j and its cap per host (0: no cap); `first`: the
    first lane's weight."""
    jobs = shares(options.jobs, lanes, first)
    per_host = options.per_host
    if not per_host:
        caps = [0] * lanes
    elif per_host >= lanes:
        caps = shares(per_host, lanes, first)
    else:
        caps = [1] * lanes  # only `per_host` lanes take each host (`lanes_for_host`)
    return [
        replace(options, jobs=j, per_host=c, procs=1, cluster=None)
        for j, c in zip(jobs, caps, strict=True)
    ]


def lanes_for_host(host: str, per_host: int, lanes: int) -> range | list[int]:
    """The lanes that may take `host`'s files: all of them, unless --per-host is lower
    than the number of lanes; then `per_host` of them, chosen by the host's name (crc32: the
    same in every run, unlike `hash`)."""
    if not per_host or per_host >= lanes:
        return range(lanes)
    first = zlib.crc32(host.encode()) % lanes
    return [(first + n) % lanes for n in range(per_host)]
