"""Monte Carlo check of teamculture.power, and its speed against R's power.t.test.

1. For several balanced three-level designs and predictors at the trust, team
   and staff level, simulate the outcome (trust, team and staff normal
   effects with the given ICCs), analyse each replicate with the estimator the
   formulas assume (trust means: pooled two-sample t test, df K - 2; team
   means with trust fixed effects, df K(J - 1) - 1; within-team regression,
   df N - KJ - 1) and compare the rejection rate with the predicted power.
   The last column is (empirical - predicted) / Monte Carlo SE; values beyond
   about +/-3 would indicate a wrong formula.
2. Time `power_three_level` and `sample_size_three_level` per call, and R's
   `power.t.test` (through Rscript, in the same run) for the same trust-level
   question; prints "R not available" without R.

Usage: python benchmarks/bench_power.py [--reps 4000] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import time

import numpy as np
from scipy import stats

from teamculture.power import power_three_level, sample_size_three_level

DESIGNS = [
    # K, J, n, rho2, rho3, effect, level
    (10, 4, 6, 0.10, 0.05, 0.55, "trust"),
    (24, 8, 10, 0.11, 0.03, 0.30, "trust"),
    (40, 3, 12, 0.20, 0.10, 0.35, "trust"),
    (8, 6, 5, 0.10, 0.05, 0.25, "team"),
    (12, 4, 10, 0.25, 0.05, 0.30, "team"),
    (6, 4, 6, 0.10, 0.05, 0.25, "staff"),
    (20, 5, 4, 0.30, 0.10, 0.12, "staff"),
]


def simulate_rate(rng, reps, k, j, n, r2, r3, effect, level, chunk=500):
    trust = np.repeat(np.arange(k), j * n)
    team = np.repeat(np.arange(k * j), n)
    if level == "trust":
        x = np.repeat((np.arange(k) % 2).astype(float), j * n)
    elif level == "team":
        x = np.repeat((np.arange(k * j) % 2).astype(float), n)
    else:
        x = np.tile((np.arange(n) % 2).astype(float), k * j)
    rejections = 0
    done = 0
    while done < reps:
        r = min(chunk, reps - done)
        y = (effect * x
             + rng.normal(0, math.sqrt(r3), (r, k))[:, trust]
             + rng.normal(0, math.sqrt(r2), (r, k * j))[:, team]
             + rng.normal(0, math.sqrt(1 - r2 - r3), (r, k * j * n)))
        if level == "trust":
            means = (y.reshape(r, k, j * n)).mean(axis=2)
            g = np.arange(k) % 2 == 1
            a, b = means[:, g], means[:, ~g]
            df = k - 2
            sp = ((a.var(axis=1, ddof=1) * (a.shape[1] - 1) + b.var(axis=1, ddof=1) * (b.shape[1] - 1)) / df)
            t = (a.mean(axis=1) - b.mean(axis=1)) / np.sqrt(sp * (1 / a.shape[1] + 1 / b.shape[1]))
        elif level == "team":
            tm = y.reshape(r, k * j, n).mean(axis=2)  # team means
            xt = (np.arange(k * j) % 2).astype(float)
            xt = xt - xt.reshape(k, j).mean(axis=1).repeat(j)
            ym = tm - tm.reshape(r, k, j).mean(axis=2).repeat(j, axis=1)
            beta = ym @ xt / (xt @ xt)
            df = k * (j - 1) - 1
            resid = ym - beta[:, None] * xt[None, :]
            t = beta / np.sqrt((resid**2).sum(axis=1) / df / (xt @ xt))
        else:
            xt = x - np.repeat(x.reshape(k * j, n).mean(axis=1), n)
            ym = y - np.repeat(y.reshape(r, k * j, n).mean(axis=2), n, axis=1)
            beta = ym @ xt / (xt @ xt)
            df = k * j * n - k * j - 1
            resid = ym - beta[:, None] * xt[None, :]
            t = beta / np.sqrt((resid**2).sum(axis=1) / df / (xt @ xt))
        rejections += int(np.sum(np.abs(t) > stats.t.isf(0.025, df)))
        done += r
    return rejections / reps


def r_timing(calls: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    code = (
        f"F <- 1 + 7*0.11 + 79*0.03; t0 <- proc.time()[['elapsed']];"
        f"for (i in 1:{calls}) {{ power.t.test(n = 20, delta = 0.3, sd = sqrt(F/80), strict = TRUE)$power;"
        f" power.t.test(delta = 0.3, sd = sqrt(F/80), power = 0.8, strict = TRUE)$n }};"
        f"cat(proc.time()[['elapsed']] - t0)"
    )
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip()) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=4000, help="Monte Carlo replicates per design")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calls", type=int, default=200, help="calls for the timing comparison")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print(f"Monte Carlo check, {args.reps} replicates per design (alpha 0.05, two-sided)")
    print(f"{'level':6} {'K':>4} {'J':>3} {'n':>3} {'rho2':>5} {'rho3':>5} {'effect':>6} "
          f"{'predicted':>9} {'empirical':>9} {'MC SE':>7} {'z':>6}")
    t0 = time.perf_counter()
    worst = 0.0
    for k, j, n, r2, r3, eff, level in DESIGNS:
        pred = power_three_level(eff, n_trusts=k, teams_per_trust=j, staff_per_team=n, icc_team=r2,
                                 icc_trust=r3, predictor_level=level).power
        emp = simulate_rate(rng, args.reps, k, j, n, r2, r3, eff, level)
        se = math.sqrt(pred * (1 - pred) / args.reps)
        z = (emp - pred) / se
        worst = max(worst, abs(z))
        print(f"{level:6} {k:4d} {j:3d} {n:3d} {r2:5.2f} {r3:5.2f} {eff:6.2f} {pred:9.4f} {emp:9.4f} "
              f"{se:7.4f} {z:6.2f}")
    print(f"largest |z| {worst:.2f}; Monte Carlo took {time.perf_counter() - t0:.1f} s")

    print()
    kw = dict(teams_per_trust=10, staff_per_team=8, icc_team=0.11, icc_trust=0.03)
    t0 = time.perf_counter()
    for _ in range(args.calls):
        power_three_level(0.3, n_trusts=40, **kw)
        sample_size_three_level(0.3, **kw)
    ours = (time.perf_counter() - t0) / args.calls
    print(f"teamculture: power + number of trusts: {ours * 1e3:.2f} ms per call pair")
    r = r_timing(args.calls)
    if r is None:
        print("R not available")
    else:
        print(f"R power.t.test: power + n: {r * 1e3:.2f} ms per call pair; ratio (ours / R) {ours / r:.2f}")
    print("(the machine may be shared with other jobs; timings are indicative)")


if __name__ == "__main__":
    main()
