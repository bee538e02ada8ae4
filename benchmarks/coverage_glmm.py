"""Simulation study: bias and interval coverage of glmm(), Laplace versus adaptive quadrature.

Staff in teams in trusts with a binary outcome, data generated from a known model::

    logit P(y = 1) = b0 + 0.5 x + 0.4 real + u_trust + v_team,   SD(u) = 0.5,  SD(v) = 1.0

``x`` standard normal, ``real`` 0/1 (40%). Four scenarios cross small teams (2-4 staff) with
larger ones (15-25) and a common outcome (b0 = -0.5, ~40% yes) with a rare one (b0 = -3.5,
~6%); 40 trusts with 10-20 teams each. Each replicate is fitted with the Laplace
approximation (lme4's nAGQ = 1) and with nested adaptive Gauss-Hermite quadrature
(``--nagq`` points per level). The report gives, per method: the mean estimate of each
parameter (bias), the coverage of the 95% Wald intervals of the fixed effects, the coverage of
the 95% intervals of the standard deviations (Wald on log SD, as ``median_odds_ratio``), the
share of fits that converged, and the largest quadrature check. Laplace is expected to
underestimate the team variance when teams are small and outcomes binary (Breslow & Lin 1995;
Rabe-Hesketh, Skrondal & Pickles 2005).

Run::

    python benchmarks/coverage_glmm.py                  # 200 replicates per scenario (slow)
    python benchmarks/coverage_glmm.py --replicates 5   # a quick check that it runs
    python benchmarks/coverage_glmm.py --only "larger teams, rare"   # one scenario
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

from teamculture.multilevel import glmm

TRUTH = {"x": 0.5, "real": 0.4, "sd_trust": 0.5, "sd_team": 1.0}
SCENARIOS = {  # name -> (intercept, team size range)
    "small teams, common": (-0.5, (2, 4)),
    "small teams, rare": (-3.5, (2, 4)),
    "larger teams, common": (-0.5, (15, 25)),
    "larger teams, rare": (-3.5, (15, 25)),
}
FORMULA = "y ~ x + real + (1 | trust/team)"


def simulate(rng: np.random.Generator, b0: float, sizes: tuple[int, int]) -> pd.DataFrame:
    n_trust = 40
    teams = rng.integers(10, 21, size=n_trust)
    team_trust = np.repeat(np.arange(n_trust), teams)
    n_team = team_trust.size
    staff = rng.integers(sizes[0], sizes[1] + 1, size=n_team)
    team = np.repeat(np.arange(n_team), staff)
    trust = team_trust[team]
    n = team.size
    x = rng.normal(size=n)
    real = (rng.random(n) < 0.4).astype(float)
    eta = (b0 + TRUTH["x"] * x + TRUTH["real"] * real + rng.normal(0, TRUTH["sd_trust"], n_trust)[trust]
           + rng.normal(0, TRUTH["sd_team"], n_team)[team])
    return pd.DataFrame({"y": (rng.random(n) < special.expit(eta)).astype(float), "x": x, "real": real,
                         "trust": trust, "team": team})


def summarise(fit, b0: float) -> dict[str, float]:
    c = fit.coefficients
    out = {"converged": float(fit.converged), "qcheck": abs(fit.quadrature_check) if fit.method != "Laplace" else 0.0}
    for name, true in (("Intercept", b0), ("x", TRUTH["x"]), ("real", TRUTH["real"])):
        out[f"est_{name}"] = c.loc[name, "estimate"]
        out[f"cov_{name}"] = float(c.loc[name, "ci_low"] <= true <= c.loc[name, "ci_high"])
    z = stats.norm.isf(0.025)
    for g, key in (("trust", "sd_trust"), ("trust:team", "sd_team")):
        s = math.sqrt(fit.variance_components[g])
        se = fit._sigma_se(g)
        out[f"est_{key}"] = s
        if s >= 1e-4 and np.isfinite(se):
            with np.errstate(over="ignore"):
                lo, hi = s * np.exp(-z * se / s), s * np.exp(z * se / s)
            out[f"cov_{key}"] = float(lo <= TRUTH[key] <= hi)
        else:
            out[f"cov_{key}"] = 0.0  # a zero estimate: the interval does not cover a positive truth
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--nagq", nargs=2, type=int, default=[9, 15], metavar=("Q_TRUST", "Q_TEAM"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", choices=list(SCENARIOS), default=None,
                    help="run one scenario (same random stream as in the full run)")
    args = ap.parse_args()
    q = tuple(args.nagq)
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"model: {FORMULA}; truth {TRUTH}; {args.replicates} replicates per scenario; AGQ points {q}")
    t_start = time.perf_counter()
    for s_i, (name, (b0, sizes)) in enumerate(SCENARIOS.items()):
        if args.only is not None and name != args.only:
            continue
        rng = np.random.default_rng([args.seed, s_i])
        rows = {"Laplace": [], f"AGQ{q}": []}
        n_rows = []
        for _ in range(args.replicates):
            d = simulate(rng, b0, sizes)
            n_rows.append(len(d))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # singular fits and quadrature warnings are in the summaries
                for label, nagq in (("Laplace", 1), (f"AGQ{q}", q)):
                    try:
                        rows[label].append(summarise(glmm(FORMULA, d, nagq=nagq), b0))
                    except ValueError as exc:  # e.g. an outcome with no successes in a tiny replicate
                        print(f"    skipped a replicate ({label}): {exc}")
        print(f"\n== {name}: intercept {b0}, {sizes[0]}-{sizes[1]} staff per team, {np.mean(n_rows):,.0f} rows on "
              f"average, mean y {special.expit(b0):.2f} at x = 0")
        table = {}
        for label, recs in rows.items():
            df = pd.DataFrame(recs)
            table[label] = {
                "mean x (0.5)": df["est_x"].mean(), "mean real (0.4)": df["est_real"].mean(),
                "mean sd_trust (0.5)": df["est_sd_trust"].mean(), "mean sd_team (1.0)": df["est_sd_team"].mean(),
                "cov x": df["cov_x"].mean(), "cov real": df["cov_real"].mean(),
                "cov sd_trust": df["cov_sd_trust"].mean(), "cov sd_team": df["cov_sd_team"].mean(),
                "converged": df["converged"].mean(), "max |qcheck|": df["qcheck"].max(), "n": float(len(df)),
            }
        print(pd.DataFrame(table).to_string(float_format=lambda v: f"{v:.3g}"))
        mc = 1.96 * math.sqrt(0.95 * 0.05 / max(args.replicates, 1))
        print(f"  (Monte Carlo margin of a 95% coverage estimate: +/-{mc:.3f})")
    print(f"\n{time.perf_counter() - t_start:.0f} s in all; load average at end: "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
