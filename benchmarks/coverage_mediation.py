"""Do the mediation intervals cover the true indirect effects at their nominal rate?

Simulates the King's Fund engagement chain with known paths
(``teamculture.simulate.simulate_engagement``) ``--reps`` times per
scenario and fits :func:`teamculture.mediation.mediate`, recording for every
true indirect effect whether each interval covers it:

- bootstrap percentile and bias-corrected (resampling trusts; one set of
  ``--resamples`` resamples serves both),
- Monte Carlo (``--resamples`` normal draws of the coefficients),
- delta method (Wald, normal) -- the check the package reports but does not
  recommend.

Scenarios: single level with a linear outcome (patient satisfaction), a
quasi-Poisson mortality outcome with an expected-deaths offset, a serial
chain (engagement -> well-being -> absence; paths through one and two
mediators), and the multilevel 1-1-2 design (staff in teams in trusts,
staff-level antecedents and engagement, trust-level outcome) at two trust
sizes with between paths from trust means corrected for their sampling error
(the default) and, at 40 staff per trust, from the observed means (the
reliability of the means is printed), and, for contrast, the *conflated*
estimate that multiplies the pooled
staff-level slope of engagement on an antecedent (within and between mixed)
by the between-level b path. A null scenario (all paths 0) gives the type I
error of "the interval excludes 0".

Coverage is pooled over the five antecedents (and paths); its Monte Carlo
standard error is sqrt(p(1-p)/m) with m the number of intervals (antecedents
within a replicate are correlated, so the true uncertainty is somewhat
larger). The nominal level is 95%.

Usage: python benchmarks/coverage_mediation.py [--reps 300] [--resamples 999] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
import warnings

import numpy as np

from teamculture.mediation import mediate
from teamculture.simulate import ANTECEDENTS, simulate_engagement

LEVEL = 0.95


def _run(scenario: str, rng: np.random.Generator, args) -> dict[str, list]:
    acc: dict[str, list] = {"percentile": [], "bc": [], "monte_carlo": [], "delta": [], "bias": [], "rel": [],
                            "conflated": [], "conflated_bias": [], "excludes0_boot": [], "excludes0_mc": [], "refused": [],
                            "n_failed": []}
    for _ in range(args.reps):
        seed = int(rng.integers(2**31))
        between = None
        if scenario.startswith("multilevel"):
            staff = 40 if "40" in scenario else 200  # staff per trust
            sim = simulate_engagement(n_trusts=args.trusts, staff_per_trust=staff, rng=seed)
            data, by = sim.staff, ["trust", "team"]
            between = "observed" if scenario.endswith("observed") else "corrected"
        else:
            sim = simulate_engagement(n_trusts=args.trusts, effect_scale=0.0 if scenario == "null" else 1.0,
                                      rng=seed)
            data, by = sim.trusts, None
        kw: dict = {"predictors": list(ANTECEDENTS), "by": by}
        if between is not None:
            kw["between"] = between
        if scenario in ("linear", "null") or scenario.startswith("multilevel"):
            kw.update(mediators="engagement", outcome="patient_satisfaction")
            outcome = "patient_satisfaction"
        elif scenario == "mortality":
            kw.update(mediators="engagement", outcome="observed_deaths", family="quasipoisson",
                      expected="expected_deaths")
            outcome = "observed_deaths"
        else:  # serial
            kw.update(mediators=[["engagement"], ["wellbeing"]], outcome="absence_rate")
            outcome = "absence_rate"
        truth = {(x, p): v for (o, x, p), v in sim.indirect["value"].items() if o == outcome}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # low-reliability notes etc.: counted below, not printed
            try:
                boot = mediate(data, n_resamples=args.resamples, rng=seed + 1, **kw)
                mc = mediate(data, method="monte_carlo", n_resamples=args.resamples, rng=seed + 2, **kw)
            except ValueError:  # refused (e.g. corrected trust means unstable): counted, not covered
                acc["refused"].append(1)
                continue
        acc["n_failed"].append(boot.n_failed)
        ci_bc = _bc(boot)
        for (x, p), v in truth.items():
            idx = (x, "indirect", p)
            r = boot.effects.loc[idx]
            acc["percentile"].append(r["ci_low"] <= v <= r["ci_high"])
            lo, hi = ci_bc.loc[idx]
            acc["bc"].append(lo <= v <= hi)
            m = mc.effects.loc[idx]
            acc["monte_carlo"].append(m["ci_low"] <= v <= m["ci_high"])
            acc["delta"].append(r["delta_ci_low"] <= v <= r["delta_ci_high"])
            acc["bias"].append(r["estimate"] - v)
            acc["excludes0_boot"].append(not (r["ci_low"] <= 0 <= r["ci_high"]))
            acc["excludes0_mc"].append(not (m["ci_low"] <= 0 <= m["ci_high"]))
        if boot.reliability is not None:
            acc["rel"].append(float(boot.reliability["icc2"].mean()))
        if scenario.startswith("multilevel"):
            # the conflated estimate: pooled staff-level slope (within and between mixed) times the between b
            X = np.column_stack([np.ones(len(data))] + [data[x].to_numpy() for x in ANTECEDENTS])
            a_pooled = np.linalg.lstsq(X, data["engagement"].to_numpy(), rcond=None)[0][1:]
            b = boot.paths.loc[("between", outcome, "engagement"), "estimate"]
            for j, x in enumerate(ANTECEDENTS):
                v = truth[(x, "engagement")]
                acc["conflated_bias"].append(a_pooled[j] * b - v)
    return acc


def _bc(res):
    """Bias-corrected intervals from the same bootstrap draws (the result's interval is percentile)."""
    from teamculture.mediation._mediation import _intervals

    lo, hi = _intervals(res.draws.to_numpy(), res.effects["estimate"].to_numpy(), res.confidence_level, "bc")
    import pandas as pd

    return pd.DataFrame({"ci_low": lo, "ci_high": hi}, index=res.effects.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--resamples", type=int, default=999)
    parser.add_argument("--trusts", type=int, default=150)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--scenarios", default="linear,mortality,serial,multilevel40,multilevel40-observed,"
                                                "multilevel200,null")
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script (5 reps, 99 resamples)")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.resamples = 5, 99
    print(f"coverage_mediation: {args.reps} replicates x {args.resamples} resamples, {args.trusts} trusts; "
          f"nominal {LEVEL:.0%}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    header = (f"{'scenario':21} {'m':>5} {'percentile':>10} {'bc':>7} {'MC':>7} {'delta':>7} {'MCSE':>6} "
              f"{'mean bias':>10} {'rel(ICC2)':>9}")
    print(header)
    print("-" * len(header))
    for scenario in args.scenarios.split(","):
        t1 = time.perf_counter()
        acc = _run(scenario, rng, args)
        m = len(acc["percentile"])
        cov = {k: float(np.mean(acc[k])) for k in ("percentile", "bc", "monte_carlo", "delta")}
        mcse = math.sqrt(0.95 * 0.05 / m)
        rel = f"{np.mean(acc['rel']):9.3f}" if acc["rel"] else f"{'':9}"
        print(f"{scenario:21} {m:5d} {cov['percentile']:10.3f} {cov['bc']:7.3f} {cov['monte_carlo']:7.3f} "
              f"{cov['delta']:7.3f} {mcse:6.3f} {np.mean(acc['bias']):10.5f} {rel}   "
              f"[{time.perf_counter() - t1:.0f} s]")
        if acc["refused"] or any(acc["n_failed"]):
            print(f"{'':21} {len(acc['refused'])} replicate(s) refused; failed bootstrap resamples per replicate: "
                  f"mean {np.mean(acc['n_failed']):.1f}, max {max(acc['n_failed'])}")
        if scenario == "null":
            print(f"{'':21} null: share of intervals excluding 0 (type I error, nominal 0.05): bootstrap "
                  f"{np.mean(acc['excludes0_boot']):.3f}, Monte Carlo {np.mean(acc['excludes0_mc']):.3f}")
        if acc["conflated_bias"]:
            print(f"{'':21} conflated a(pooled staff) x b(between): mean bias {np.mean(acc['conflated_bias']):.5f} "
                  f"vs between-level estimate {np.mean(acc['bias']):.5f}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
