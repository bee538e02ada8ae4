"""How often do funnel-plot limits flag trusts that are not special?

Simulates ``--trusts`` trusts with expected deaths drawn like the simulator's
(log-normal, mean 1,212), true log relative risks ``N(0, tau2)`` and Poisson
deaths, ``--reps`` times, and reports for each variant of
:func:`teamculture.outcomes.funnel_limits` the mean estimated ``tau2`` (on the
log scale for SHMI; CQC's square-root-scale estimate is multiplied by 4 to put
it on the same scale, its delta-method equivalent) and the share of trusts
outside the 95% and 99.8% limits. With a correct ``tau2`` the shares are about
5% and 0.2%. A second scenario adds gross outliers (5% of trusts with a log
relative risk of +/-0.4), against which trimming is meant to protect.

Usage: python benchmarks/coverage_funnel.py [--reps 300] [--trusts 150]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from teamculture.outcomes import funnel_limits

VARIANTS = [("shmi", True), ("shmi", False), ("cqc", True), ("cqc", False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--trusts", type=int, default=150)
    parser.add_argument("--tau2", type=float, default=0.0128)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    k = args.trusts
    t0 = time.perf_counter()
    for scenario in ("normal", "outliers"):
        acc = {v: [] for v in VARIANTS}
        for _ in range(args.reps):
            e = rng.lognormal(math.log(1212) - 0.125, 0.5, k)
            log_rr = rng.normal(0.0, math.sqrt(args.tau2), k)
            special = np.zeros(k, dtype=bool)
            if scenario == "outliers":
                special[rng.choice(k, size=max(1, k // 20), replace=False)] = True
                log_rr[special] = rng.choice([-0.4, 0.4], size=special.sum())
            o = rng.poisson(e * np.exp(log_rr)).astype(float)
            for method, trim in VARIANTS:
                res = funnel_limits(o, e, method=method, trim=trim)
                flag = res.table["flag"].astype(str).to_numpy()
                ordinary = ~special
                out95 = np.mean(flag[ordinary] != "in_control")
                out998 = np.mean(np.isin(flag[ordinary], ["low_alarm", "high_alarm"]))
                caught = np.mean(flag[special] != "in_control") if special.any() else np.nan
                scale = 1.0 if method == "shmi" else 4.0
                acc[(method, trim)].append((res.tau2 * scale, out95, out998, caught))
        print(f"scenario: {scenario} (true tau2 {args.tau2} on the log scale for ordinary trusts; "
              f"{k} trusts, {args.reps} replicates)")
        print(f"  {'method':6} {'trim':5} {'mean tau2':>9} {'ordinary >95%':>14} {'ordinary >99.8%':>16} "
              f"{'outliers flagged':>17}")
        for (method, trim), rows in acc.items():
            a = np.array(rows)
            caught = f"{np.nanmean(a[:, 3]):17.3f}" if scenario == "outliers" else f"{'-':>17}"
            print(f"  {method:6} {trim!s:5} {a[:, 0].mean():9.4f} {a[:, 1].mean():14.3f} {a[:, 2].mean():16.4f} "
                  f"{caught}")
    print(f"({time.perf_counter() - t0:.1f} s; the machine may be shared with other jobs)")


if __name__ == "__main__":
    main()
