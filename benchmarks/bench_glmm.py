"""Benchmark: multilevel logistic models of staff in teams in trusts, teamculture vs lme4 vs glmmTMB.

Model (simulated here with known truth; issue 11's anchor)::

    y ~ x1 + real + (1 | trust) + (1 | team),     binomial, logit

with ``x1`` standard normal, ``real`` 0/1 (40%), trust and team SDs 0.3 and 0.6, intercept
-1.2 (about 25% yes), team sizes log-normal around 28 (at least 2). Sizes: 10^5 rows (100
trusts, 4,000 teams) and 7 x 10^5 rows (250 trusts, 25,000 teams: the national survey).

In the same run and on the same data it times:

* ``teamculture.multilevel.glmm`` with the Laplace approximation (whole call: validation,
  formula, design, fit, standard errors, conditional modes); best of ``--repeat`` runs; Python
  peak memory of one call (``tracemalloc``, which counts numpy's buffers);
* ``glmm`` with nested adaptive Gauss-Hermite quadrature at ``--nagq`` points per level (trust,
  team), and its convergence check (log-likelihood at 2q - 1 points per level);
* lme4 ``glmer`` (Laplace, default control) and glmmTMB (Laplace) through ``Rscript``: the
  fitting call alone, timed inside R, and their log-likelihoods and estimates.

The load average of the machine is printed before and after: the machine is shared, and
timings on a loaded machine are slower by about the load factor. Without R the R anchors print
"R not available".

Run::

    python benchmarks/bench_glmm.py                       # both sizes, R anchors, AGQ
    python benchmarks/bench_glmm.py --sizes 1e4 --skip-r  # a quick check that it runs
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from teamculture.multilevel import glmm

FORMULA = "y ~ x1 + real + (1 | trust) + (1 | team)"
SIZES = {10_000: (20, 400), 100_000: (100, 4_000), 700_000: (250, 25_000)}
TRUTH = {"Intercept": -1.2, "x1": 0.3, "real": 0.25, "sd_trust": 0.3, "sd_team": 0.6}

R_CODE = r"""
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
args <- commandArgs(trailingOnly = TRUE)
d <- if (requireNamespace("data.table", quietly = TRUE)) as.data.frame(data.table::fread(args[1])) else read.csv(args[1])
d$trust <- factor(d$trust); d$team <- factor(d$team)
f <- y ~ x1 + real + (1 | trust) + (1 | team)
if (args[2] == "glmer") {
  tm <- system.time(m <- glmer(f, data = d, family = binomial))
  cat(sprintf("seconds %.6f\n", tm[["elapsed"]]))
  cat(sprintf("loglik %.17g\n", logLik(m)))
  cat(sprintf("fixef %s\n", paste(sprintf("%.10g", fixef(m)), collapse = " ")))
  vc <- as.data.frame(VarCorr(m))
  cat(sprintf("sd %s\n", paste(sprintf("%s=%.10g", vc$grp, vc$sdcor), collapse = " ")))
} else {
  tm <- system.time(m <- glmmTMB(f, data = d, family = binomial))
  cat(sprintf("seconds %.6f\n", tm[["elapsed"]]))
  cat(sprintf("loglik %.17g\n", logLik(m)))
  cat(sprintf("fixef %s\n", paste(sprintf("%.10g", fixef(m)$cond), collapse = " ")))
  vc <- VarCorr(m)$cond
  cat(sprintf("sd %s\n", paste(sprintf("%s=%.10g", names(vc), sapply(vc, function(v) attr(v, "stddev"))), collapse = " ")))
}
"""


def make_data(n: int, seed: int = 2026) -> pd.DataFrame:
    n_trust, n_team = SIZES[n]
    rng = np.random.default_rng(seed)
    w = rng.lognormal(0.0, 0.6, n_trust)
    teams_per_trust = rng.multinomial(n_team - n_trust, w / w.sum()) + 1
    team_trust = np.repeat(np.arange(n_trust), teams_per_trust)
    w = rng.lognormal(0.0, 0.6, n_team)
    staff_per_team = rng.multinomial(n - 2 * n_team, w / w.sum()) + 2
    team = np.repeat(np.arange(n_team), staff_per_team)
    trust = team_trust[team]
    x1 = np.round(rng.normal(size=n), 6)
    real = (rng.random(n) < 0.4).astype(float)
    eta = (TRUTH["Intercept"] + TRUTH["x1"] * x1 + TRUTH["real"] * real
           + rng.normal(0, TRUTH["sd_trust"], n_trust)[trust] + rng.normal(0, TRUTH["sd_team"], n_team)[team])
    y = (rng.random(n) < special.expit(eta)).astype(float)
    return pd.DataFrame({"y": y, "x1": x1, "real": real, "trust": trust, "team": team})


def time_ours(data: pd.DataFrame, repeat: int, **kw) -> tuple[float, object, float]:
    best, fit = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a quadrature warning is read from the result below
            fit = glmm(FORMULA, data, **kw)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmm(FORMULA, data, **kw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, fit, peak / 2**20


def run_r(csv: Path, which: str) -> dict[str, str] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_CODE)
        script = fh.name
    t0 = time.perf_counter()
    proc = subprocess.run(["Rscript", script, str(csv), which], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    os.unlink(script)
    if proc.returncode != 0:
        print(f"    {which} failed: {proc.stderr.strip()[-300:]}")
        return None
    out = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines() if " " in line)
    out["wall"] = f"{wall:.2f}"
    return out


def describe(fit) -> str:
    b = fit.coefficients["estimate"]
    sd = np.sqrt(fit.variance_components)
    return (f"loglik {fit.loglik:.6f}; beta {b['Intercept']:+.5f} {b['x1']:+.5f} {b['real']:+.5f}; "
            f"sd trust {sd['trust']:.5f} team {sd['team']:.5f}; converged {fit.converged}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 7e5])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nagq", nargs=2, type=int, default=[9, 17], metavar=("Q_TRUST", "Q_TEAM"))
    ap.add_argument("--skip-r", action="store_true", help="do not run lme4 and glmmTMB")
    ap.add_argument("--skip-agq", action="store_true")
    args = ap.parse_args()
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; CPUs: {os.cpu_count()}")
    print(f"model: {FORMULA}; truth: {TRUTH}")
    for size in args.sizes:
        n = int(size)
        if n not in SIZES:
            raise SystemExit(f"--sizes must be among {sorted(SIZES)}")
        data = make_data(n)
        print(f"\n== {n:,} rows, {SIZES[n][1]:,} teams, {SIZES[n][0]:,} trusts (mean y {data['y'].mean():.3f})")
        secs, fit, mem = time_ours(data, args.repeat)
        print(f"  teamculture glmm, Laplace: {secs:.2f} s (best of {args.repeat}), Python peak memory {mem:.0f} MiB")
        print(f"    {describe(fit)}")
        r_results = {}
        if not args.skip_r:
            with tempfile.TemporaryDirectory() as tmp:
                csv = Path(tmp) / "d.csv"
                data.to_csv(csv, index=False)
                for which in ("glmmTMB", "glmer"):
                    res = run_r(csv, which)
                    if res is None:
                        print(f"  {which}: R not available or failed")
                        continue
                    r_results[which] = res
                    print(f"  {which}: {float(res['seconds']):.2f} s inside R ({res['wall']} s with R start and CSV "
                          f"read); loglik {float(res['loglik']):.6f}; fixef {res['fixef']}; sd {res['sd']}")
                    print(f"    ours - {which} log-likelihood: {fit.loglik - float(res['loglik']):+.3g}; speed-up "
                          f"{float(res['seconds']) / secs:.1f}x")
        if not args.skip_agq:
            q = tuple(args.nagq)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                agq = glmm(FORMULA, data, nagq=q)
            t_agq = time.perf_counter() - t0
            print(f"  teamculture glmm, adaptive quadrature {q}: {t_agq:.1f} s (one run, including the check at "
                  f"{tuple(2 * v - 1 for v in q)} points)")
            print(f"    {describe(agq)}")
            print(f"    log-likelihood change at {tuple(2 * v - 1 for v in q)} points: {agq.quadrature_check:+.3g} "
                  f"({'stopped moving' if abs(agq.quadrature_check) <= 1e-6 else 'NOT converged to 1e-6'}); "
                  f"AGQ - Laplace log-likelihood {agq.loglik - fit.loglik:+.4f}")
    print(f"\nload average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
