"""Travel-time matrices: the offline estimate at 100 to 2,000 points, and what the route
planner pays on top (a cache hit reordered to its points, conversion to lists for the solver).

    .venv/bin/python bench/matrix_bench.py [--repeat 7]

Writes its section of docs/benchmarks.md. Target (issue 4): a 1,000 x 1,000 offline matrix in
well under a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, write_section
from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import cache
from lastmile.routing.matrix.offline import OfflineProvider

SIZES = (100, 500, 1000, 2000)
TARGET_MS = 1000.0


def points(n: int, seed: int = 1) -> list[tuple[float, float]]:
    """n places scattered over a 25 km x 15 km city."""
    rng = np.random.default_rng(seed)
    return [(52.30 + 0.15 * rng.random(), 4.75 + 0.35 * rng.random()) for _ in range(n)]


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    offline = OfflineProvider()
    rows = []
    for n in SIZES:
        pts = points(n)
        m = offline.compute(pts, VehicleType.car)
        _distinct, where = cache.canonical(pts[::-1])
        rows.append(
            (
                n,
                median_ms(lambda pts=pts: offline.compute(pts, VehicleType.car), args.repeat),
                median_ms(lambda pts=pts: cache.canonical(pts), args.repeat),
                median_ms(lambda m=m, where=where: cache.expand(m, where), args.repeat),
                median_ms(m.to_lists, args.repeat),
            )
        )
        print(f"{n:>5} points: offline {rows[-1][1]:.1f} ms", flush=True)
    thousand = next(r[1] for r in rows if r[0] == 1000)
    verdict = "PASS" if thousand < TARGET_MS else "FAIL"
    table = "\n".join(
        f"| {n:,} | {off:.1f} | {canon:.1f} | {expand:.1f} | {lists:.1f} |"
        for n, off, canon, expand, lists in rows
    )
    body = f"""## Travel-time matrices: the offline estimate (issue 4)

Command: `python bench/matrix_bench.py --repeat {args.repeat}` (on {date.today().isoformat()}, {machine()}; numpy {np.__version__}; median of {args.repeat} runs after a warm-up).

**1,000 x 1,000 offline matrix** (great-circle distance x detour factor, durations at the vehicle type's speed, both rounded to int64): **{thousand:.1f} ms**. Target well under 1 s: {verdict}.

The other columns are what a remote provider's matrix costs on a cache hit (canonical point set, then rows put back in the caller's order) and the conversion to lists of Python ints for the solver.

| points | offline matrix ms | canonical points ms | cache hit reorder ms | to lists ms |
|---|---|---|---|---|
{table}
"""
    write_section("routing-matrix", body)
    print(body)


if __name__ == "__main__":
    main()
