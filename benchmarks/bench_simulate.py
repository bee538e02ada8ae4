"""Time and memory of drawing the simulated national survey.

Target (foundation issue): the national default (250 trusts, 25,000 teams,
700,000 staff) builds in a few seconds. The anchor is the cost of merely
allocating the same staff table with numpy's fastest generator calls, measured
in the same run, so the ratio says how much the generative model costs on top.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

from teamculture.simulate import national_survey


def anchor(n_staff: int, n_cols: int, seed: int) -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    pd.DataFrame(rng.integers(1, 6, size=(n_staff, n_cols)).astype(float))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", default="national", choices=["national", "small", "tiny"])
    args = parser.parse_args()

    times = []
    for r in range(args.repeat):
        t0 = time.perf_counter()
        sim = national_survey(args.size, rng=r)
        times.append(time.perf_counter() - t0)
    n_staff, n_cols = sim.staff.shape
    a = min(anchor(n_staff, n_cols, r) for r in range(args.repeat))
    tracemalloc.start()
    national_survey(args.size, rng=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{sim}")
    print(f"national_survey({args.size!r}): best {min(times):.2f} s of {args.repeat} "
          f"(all: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"anchor (allocate a {n_staff:,} x {n_cols} random float table): {a:.2f} s; "
          f"ratio {min(times) / a:.1f}x")
    print(f"peak traced memory: {peak / 2**20:.0f} MiB; staff table "
          f"{sim.staff.memory_usage(deep=True).sum() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
