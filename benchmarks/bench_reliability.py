"""Benchmark: Cronbach's alpha (with item analysis) and omega at national scale.

Times, in the same run and on the same data (n respondents x 9 items, 1..5,
about 3% missing responses):

* ``teamculture.cronbach_alpha`` with ``nan_policy="omit"`` (complete cases)
  and ``nan_policy="pairwise"`` (psych's default);
* a plain pandas/NumPy alpha (complete cases, ``DataFrame.cov``; alpha only,
  no item table);
* ``teamculture.omega(n_factors=3, nan_policy="pairwise")`` (as psych: the
  cost is the pairwise correlation pass plus a small factor analysis);
* R ``psych::alpha`` (pairwise, as its default) and ``psych::omega``
  through ``Rscript`` (timed inside R, excluding data transfer), if R and
  psych are installed; otherwise it prints "R not available".

Run::

    python benchmarks/bench_reliability.py            # 700,000 respondents
    python benchmarks/bench_reliability.py --n 70000  # quicker

Results depend on the machine and on what else runs on it; report the
machine's load with any numbers quoted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import teamculture as tc


def make_data(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, 1))
    s = rng.standard_normal((n, 3))
    z = 0.6 * g + 0.5 * np.repeat(s, 3, axis=1) + 0.6 * rng.standard_normal((n, 9))
    x = np.clip(np.round(3 + 1.2 * z), 1, 5)
    x[rng.random(x.shape) < 0.03] = np.nan
    return pd.DataFrame(x, columns=[f"i{j}" for j in range(1, 10)])


def plain_alpha(df: pd.DataFrame) -> float:
    c = df.dropna().cov().to_numpy()
    k = c.shape[0]
    return k / (k - 1) * (1 - np.trace(c) / c.sum())


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def r_times(df: pd.DataFrame) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.csv"
        df.to_csv(path, index=False, na_rep="NA")
        script = f"""
suppressPackageStartupMessages(library(psych))
x <- read.csv("{path}")
t1 <- system.time(a <- alpha(x, warnings = FALSE))[["elapsed"]]
t2 <- system.time(o <- suppressWarnings(suppressMessages(omega(x, nfactors = 3, plot = FALSE))))[["elapsed"]]
cat(sprintf("%.17g %.17g %.17g %.17g\\n", t1, t2, a$total$raw_alpha, o$omega.tot))
"""
        proc = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return None
        t1, t2, a, om = (float(v) for v in proc.stdout.split()[-4:])
        return {"alpha": t1, "omega": t2, "alpha_value": a, "omega_value": om}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=700_000)
    args = parser.parse_args()
    df = make_data(args.n)
    print(f"{args.n:,} respondents x 9 items; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.errors.DroppedDataWarning)
        t_omit, res_omit = best_of(lambda: tc.cronbach_alpha(df))
        t_pair, res_pair = best_of(lambda: tc.cronbach_alpha(df, nan_policy="pairwise"))
        t_omega, res_omega = best_of(lambda: tc.omega(df, n_factors=3, nan_policy="pairwise"), repeat=1)
    t_plain, a_plain = best_of(lambda: plain_alpha(df))
    print(f"teamculture cronbach_alpha (omit)     {t_omit:8.3f} s   alpha {res_omit.alpha:.6f}")
    print(f"teamculture cronbach_alpha (pairwise) {t_pair:8.3f} s   alpha {res_pair.alpha:.6f}")
    print(f"plain pandas alpha (omit, alpha only) {t_plain:8.3f} s   alpha {a_plain:.6f}")
    print(f"teamculture omega (3, pairwise)       {t_omega:8.3f} s   omega_t {res_omega.omega_total:.6f}")
    r = r_times(df)
    if r is None:
        print("R not available (Rscript or psych missing): no R timings")
        return
    print(f"psych::alpha (pairwise)               {r['alpha']:8.3f} s   alpha {r['alpha_value']:.6f}")
    print(f"psych::omega (3 factors)              {r['omega']:8.3f} s   omega_t {r['omega_value']:.6f}")
    print(f"ratio psych::alpha / cronbach_alpha(pairwise): {r['alpha'] / t_pair:6.1f}")
    print(f"ratio psych::omega / omega:                    {r['omega'] / t_omega:6.1f}")


if __name__ == "__main__":
    main()
