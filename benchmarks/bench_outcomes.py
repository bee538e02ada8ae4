"""Benchmark: trust mortality models, teamculture against statsmodels and R.

Times, in the same run and on the same data (a simulated national trust table
of 250 trusts and its 5-year panel, 1,250 trust-years):

* ``teamculture.outcomes.mortality_glm`` (Poisson, quasi-Poisson, negative
  binomial) and ``panel_regression`` (within, trust and year effects,
  clustered SEs), including validation and result labelling;
* the bare statsmodels GLM calls (``sm.GLM(...).fit()``) they wrap;
* R ``glm(family = poisson / quasipoisson, offset = log(E))``,
  ``MASS::glm.nb`` and ``plm(model = "within", effect = "twoways")`` with
  ``vcovHC(type = "sss")`` through ``Rscript`` (timed inside R, repeated,
  excluding start-up and data transfer), if R is installed; otherwise it
  prints "R not available".

Run::

    python benchmarks/bench_outcomes.py
    python benchmarks/bench_outcomes.py --trusts 2500 --repeat 5

Every fit here takes milliseconds; the point is that the convenience layer
adds little. Results depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from teamculture import outcomes as oc
from teamculture.simulate import national_survey

R_SCRIPT = r"""
suppressPackageStartupMessages({library(MASS); library(plm); library(sandwich)})
args <- commandArgs(TRUE)
tr <- read.csv(args[1]); pa <- read.csv(args[2]); reps <- as.integer(args[3])
tm <- function(expr) { t <- system.time(for (i in seq_len(reps)) force(eval.parent(substitute(expr))))[["elapsed"]]; t / reps }
pa$log_smr <- log(pa$observed_deaths / pa$expected_deaths)
pd <- pdata.frame(pa, index = c("trust", "year"))
out <- c(
  poisson = tm(glm(observed_deaths ~ real_team_pct, family = poisson, offset = log(expected_deaths), data = tr)),
  quasipoisson = tm(summary(glm(observed_deaths ~ real_team_pct, family = quasipoisson, offset = log(expected_deaths), data = tr))),
  negbin = tm(glm.nb(observed_deaths ~ real_team_pct + offset(log(expected_deaths)), data = tr)),
  within = tm({f <- plm(log_smr ~ real_team_pct, data = pd, model = "within", effect = "twoways"); vcovHC(f, method = "arellano", type = "sss", cluster = "group")})
)
cat(sprintf("%s %.6f\n", names(out), out), sep = "")
"""


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trusts", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    n = args.trusts
    sim = national_survey(n_trusts=n, n_teams=4 * n, n_staff=40 * n, rng=1)
    trusts, panel = sim.trusts, sim.panel
    import statsmodels.api as sm

    X = sm.add_constant(trusts[["real_team_pct"]].to_numpy())
    y = trusts["observed_deaths"].to_numpy()
    off = np.log(trusts["expected_deaths"].to_numpy())

    ours = {
        "poisson": lambda: oc.mortality_glm(trusts, predictors="real_team_pct", family="poisson"),
        "quasipoisson": lambda: oc.mortality_glm(trusts, predictors="real_team_pct", family="quasipoisson"),
        "negbin": lambda: oc.mortality_glm(trusts, predictors="real_team_pct", family="negbin"),
        "within": lambda: oc.panel_regression(panel, predictors="real_team_pct", outcome="smr", log_outcome=True),
    }
    bare = {
        "poisson": lambda: sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(),
        "quasipoisson": lambda: sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(scale="X2"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in (*ours.values(), *bare.values()):
            f()  # warm up imports
        t_ours = {k: best(f, args.repeat) for k, f in ours.items()}
        t_bare = {k: best(f, args.repeat) for k, f in bare.items()}

    t_r: dict[str, float] = {}
    if shutil.which("Rscript") is None:
        print("R not available")
    else:
        with tempfile.TemporaryDirectory() as d:
            tp, pp, rs = Path(d) / "trusts.csv", Path(d) / "panel.csv", Path(d) / "bench.R"
            trusts.to_csv(tp)
            panel.to_csv(pp)
            rs.write_text(R_SCRIPT)
            res = subprocess.run(["Rscript", str(rs), str(tp), str(pp), str(args.repeat)],
                                 capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print("R failed:", res.stderr.strip()[:500])
            for line in res.stdout.split("\n"):
                if line.strip():
                    k, v = line.split()
                    t_r[k] = float(v)

    print(f"Trust mortality models: {n} trusts ({len(panel):,} trust-years); best of {args.repeat} (ours, "
          f"statsmodels), mean of {args.repeat} (R). Shared machine: treat ratios as rough.")
    print(f"{'model':<14}{'teamculture ms':>16}{'statsmodels ms':>16}{'R ms':>10}{'ours / R':>10}")
    for k in ours:
        sm_ms = f"{1000 * t_bare[k]:.1f}" if k in t_bare else "-"
        r_ms = f"{1000 * t_r[k]:.1f}" if k in t_r else "-"
        ratio = f"{t_ours[k] / t_r[k]:.2f}" if k in t_r and t_r[k] > 0 else "-"
        print(f"{k:<14}{1000 * t_ours[k]:>16.1f}{sm_ms:>16}{r_ms:>10}{ratio:>10}")


if __name__ == "__main__":
    main()
