"""Benchmark: within-group agreement indices, teamculture vs R multilevel.

Data: ``teamculture.national_survey(size, rng=2023)``: the nine engagement
items (1..5, ~2% missing) of 700,000 staff in 25,000 teams (``national``) or
10,000 staff in 500 teams (``small``). In the same run and on the same data
it times:

* teamculture: ``rwg_j``, ``rwg_j_lindell``, ``awg``, ``ad_index`` (each a
  whole public call: validation, factorising the team labels, grouped sums,
  labelled DataFrame), ``icc1`` + ``icc2`` of the item mean, and
  ``aggregate`` (all indices, n/mean/sd, flags and ICCs in one call);
  best of ``--repeat`` runs; ``nan_policy="omit"`` (complete cases, the
  default) so that the numbers are the ones R multilevel 2.7 computes;
  ``icc(method="reml")`` (the array route: nested sums and the exact
  engine) is timed as well;
* R multilevel (``rwg.j``, ``rwg.j.lindell``, ``awg``, ``ad.m``, ``ICC1`` and
  ``ICC2`` of ``aov``) through ``Rscript`` on the same data written to CSV:
  each call timed inside R with ``system.time`` (CSV reading excluded).
  ``ICC1``/``ICC2`` need an ``aov`` fit, whose dense model matrix with
  25,000 team dummies would take ~130 GB at national scale: R's ICCs are
  timed only when there are at most 2,000 groups (the ``small`` size).

It prints times, the ratio R / teamculture per index, and the largest
absolute difference between the two sets of results (speed is not bought
with a wrong answer). Without R it prints "R not available" and carries on.

Run::

    python benchmarks/bench_agreement.py             # national (R takes a minute or two)
    python benchmarks/bench_agreement.py --size small
    python benchmarks/bench_agreement.py --size tiny --repeat 1   # smoke test

Timings depend on the machine and on what else is running; say so when
quoting them.
"""

from __future__ import annotations

import argparse
import os
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import teamculture as tc
from teamculture.simulate import ENGAGEMENT_ITEMS

ITEMS = list(ENGAGEMENT_ITEMS)

R_SCRIPT = r"""
suppressPackageStartupMessages(library(multilevel))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
items <- d[, -1]
grp <- d$team
tm <- function(expr) { t <- system.time(v <- expr)[["elapsed"]]; list(t = t, v = v) }
out <- list()
a <- tm(rwg.j(items, grp, ranvar = 2)); out$rwg_j <- list(t = a$t, v = a$v$rwg.j, g = a$v$grpid)
a <- tm(rwg.j.lindell(items, grp, ranvar = 2)); out$rwg_j_lindell <- list(t = a$t, v = a$v$rwg.lindell, g = a$v$grpid)
a <- tm(awg(items, grp, range = c(1, 5))); out$awg <- list(t = a$t, v = a$v$a.wg, g = a$v$grpid)
a <- tm(ad.m(items, grp, type = "mean")); out$ad <- list(t = a$t, v = a$v$AD.M, g = a$v$grpid)
score <- rowMeans(items, na.rm = TRUE)
if (length(unique(grp)) <= 2000) {
  a <- tm({m <- aov(score ~ as.factor(grp)); c(ICC1(m), ICC2(m))}); out$icc <- list(t = a$t, v = a$v)
}
cat(jsonlite::toJSON(out, digits = NA, na = "null"))
"""


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="national", choices=["national", "small", "tiny"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    survey = tc.national_survey(args.size, rng=2023)
    staff = survey.staff
    x = staff[ITEMS]
    g = staff["team"]
    print(f"{len(staff):,} respondents x {len(ITEMS)} items in {g.nunique():,} teams; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    warnings.simplefilter("ignore", tc.errors.TeamcultureWarning)

    score = x.mean(axis=1)
    ours = {}
    ours["rwg_j"] = best(lambda: tc.rwg_j(x, g, scale=(1, 5), nan_policy="omit"), args.repeat)
    ours["rwg_j_lindell"] = best(lambda: tc.rwg_j_lindell(x, g, scale=(1, 5), nan_policy="omit"), args.repeat)
    ours["awg"] = best(lambda: tc.awg(x, g, scale=(1, 5), nan_policy="omit"), args.repeat)
    ours["ad"] = best(lambda: tc.ad_index(x, g, nan_policy="omit"), args.repeat)
    ours["icc"] = best(lambda: (tc.icc1(score, g), tc.icc2(score, g)), args.repeat)
    t_agg, _ = best(lambda: tc.aggregate(staff, {"eng": ITEMS}, by="team", scale=(1, 5)), args.repeat)
    t_cat, _ = best(lambda: tc.aggregate(staff.assign(team=g.astype("category")), {"eng": ITEMS}, by="team",
                                         scale=(1, 5)), args.repeat)
    t_reml, _ = best(lambda: tc.icc(score, staff[["trust", "team"]], method="reml"), args.repeat)
    total = sum(t for t, _ in ours.values())
    print("\nteamculture (best of %d, seconds)" % args.repeat)
    for k, (t, _) in ours.items():
        print(f"  {k:<15} {t:8.3f}")
    print(f"  {'sum of the five':<15} {total:8.3f}")
    print(f"  {'aggregate()':<15} {t_agg:8.3f}   (all indices + n/mean/sd + flags + ICCs, string labels)")
    print(f"  {'aggregate()':<15} {t_cat:8.3f}   (same, team labels as a categorical)")
    print(f"  {'icc(reml)':<15} {t_reml:8.3f}   (trust > team, item mean; array route)")

    if shutil.which("Rscript") is None:
        print("\nR not available: no R multilevel timings.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "items.csv"
        pd.concat([pd.Series(pd.factorize(g, sort=True)[0] + 1, name="team"),
                   x.reset_index(drop=True)], axis=1).to_csv(csv, index=False, na_rep="NA")
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        t = time.perf_counter()
        proc = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        print("\nR failed:", proc.stderr[-2000:])
        return
    r = json.loads(proc.stdout)
    print(f"\nR multilevel (time inside R per call; whole Rscript run {wall:.1f} s incl. reading the CSV)")
    print(f"  {'index':<15} {'R (s)':>8} {'ours (s)':>9} {'R / ours':>9} {'max |diff|':>11}")
    r_total = 0.0
    for k, (t_ours, val) in ours.items():
        if k not in r:
            print(f"  {k:<15} {'not run':>8} {t_ours:9.3f}   (aov with {g.nunique():,} groups: too large for R)")
            continue
        rt = float(r[k]["t"][0])
        r_total += rt
        if k == "icc":
            diff = float(np.max(np.abs(np.array(val) - np.array(r[k]["v"], dtype=float))))
        else:
            col = val.columns[0]
            rv = pd.Series(np.array([np.nan if v is None else v for v in r[k]["v"]], dtype=float),
                           index=np.array(r[k]["g"], dtype=int) - 1)
            mine = val[col].to_numpy()[rv.index.to_numpy()]
            both = ~(np.isnan(mine) | rv.isna().to_numpy())
            same_nan = np.array_equal(np.isnan(mine), rv.isna().to_numpy())
            diff = float(np.max(np.abs(mine[both] - rv.to_numpy()[both])))
            if not same_nan:
                diff = float("nan")
        print(f"  {k:<15} {rt:8.2f} {t_ours:9.3f} {rt / t_ours:9.0f} {diff:11.2e}")
    ran = [k for k in ours if k in r]
    ours_ran = sum(ours[k][0] for k in ran)
    print(f"  {'all R ran':<15} {r_total:8.2f} {ours_ran:9.3f} {r_total / ours_ran:9.0f}")
    print(f"  aggregate() does all of them (and more) in {t_agg:.3f} s: {r_total / t_agg:.0f}x faster "
          "than the R calls it replaces")
    print(f"  (load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
