"""Benchmark: three-level random-intercept REML fits, teamculture vs lme4 vs statsmodels.

Model (simulated data from ``teamculture.simulate.national_survey``)::

    latent_engagement ~ tenure + real + (1 | trust) + (1 | team)

where ``real`` is 1 for staff in real teams. Sizes: 10^4 (20 trusts, 500
teams), 10^5 (100 trusts, 4,000 teams) and 7 x 10^5 rows (the national preset:
250 trusts, 25,000 teams), plus 10^6 rows (250 trusts, 35,000 teams) for
teamculture only. In the same run and on the same data it times:

* ``teamculture.mixed`` (whole call: validation, formula, sufficient
  statistics, REML fit, Satterthwaite df, BLUPs); best of ``--repeat`` runs,
  and Python peak memory of one call (``tracemalloc``);
* lme4 ``lmer`` through ``Rscript``: the ``lmer()`` call alone timed inside R
  (``system.time``), and the whole subprocess (start R, read the CSV, fit);
  peak resident memory of the R process (``getrusage`` of children);
* statsmodels ``MixedLM`` with the three-level recipe (``groups="trust",
  re_formula="1", vc_formula={"team": "0 + C(team)"}``), default optimiser.
  At 7 x 10^5 rows it takes minutes: ``--skip-statsmodels-national`` skips it
  (and the report says so).

It prints times, ratios measured in this run, estimates side by side (so
that speed is not bought with a wrong answer), and how time grows with the
number of rows (log-log slope between successive sizes). Without R it prints
"R not available" and carries on.

Run::

    python benchmarks/bench_mixed.py
    python benchmarks/bench_mixed.py --skip-statsmodels-national
    python benchmarks/bench_mixed.py --sizes 1e4 1e5   # quicker

Timings depend on the machine and on what else is running; say so when
quoting them.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import teamculture as tc

FORMULA = "latent_engagement ~ tenure + real + (1 | trust) + (1 | team)"
SIZES = {  # rows -> (trusts, teams)
    10_000: (20, 500),
    100_000: (100, 4_000),
    700_000: (250, 25_000),
    1_000_000: (250, 35_000),
}
TC_ONLY = {1_000_000}

R_CODE = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- if (requireNamespace("data.table", quietly = TRUE)) as.data.frame(data.table::fread(args[1])) else read.csv(args[1])
d$trust <- factor(d$trust); d$team <- factor(d$team)
tm <- system.time(m <- lmer(latent_engagement ~ tenure + real + (1 | trust) + (1 | team), data = d, REML = TRUE))
vc <- as.data.frame(VarCorr(m))
cat(sprintf("lmer_seconds %.6f\n", tm[["elapsed"]]))
cat(sprintf("remlcrit %.17g\n", REMLcrit(m)))
cat(sprintf("fixef %s\n", paste(sprintf("%.17g", fixef(m)), collapse = " ")))
cat(sprintf("vc %s\n", paste(sprintf("%s=%.17g", vc$grp, vc$vcov), collapse = " ")))
"""


def make_data(n: int, seed: int = 2026) -> pd.DataFrame:
    trusts, teams = SIZES[n]
    s = tc.simulate.national_survey(n_trusts=trusts, n_teams=teams, n_staff=n, rng=seed)
    staff = s.staff[["trust", "team", "tenure", "team_type", "latent_engagement"]]
    return pd.DataFrame({
        "trust": staff["trust"].astype(str).to_numpy(),
        "team": staff["team"].astype(str).to_numpy(),
        "tenure": staff["tenure"].to_numpy(dtype=float),
        "real": (staff["team_type"] == "real").to_numpy(dtype=float),
        "latent_engagement": staff["latent_engagement"].to_numpy(dtype=float),
    })


def time_ours(df: pd.DataFrame, repeat: int) -> dict:
    # one untimed warm-up fit on a slice, so that one-off import costs (formulaic, scipy.optimize)
    # are not charged to the fit -- R's lmer() time likewise excludes loading lme4
    # (20,000 rows: the first 2,000 rows of a file sorted by trust hold one trust, which mixed() refuses)
    tc.mixed(FORMULA, df.iloc[: min(len(df), 20_000)])
    best = math.inf
    fit = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = tc.mixed(FORMULA, df)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    tc.mixed(FORMULA, df)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": best, "peak_mb": peak / 2**20, "crit": fit.deviance,
            "fixef": fit.fixed_effects.to_numpy(), "vc": fit.variance_components.to_dict()}


def time_lme4(df: pd.DataFrame) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        script = Path(tmp) / "fit.R"
        df.to_csv(csv, index=False)
        script.write_text(R_CODE)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
        total = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        print("  lme4 failed:", proc.stderr.strip().splitlines()[-1:] if proc.stderr else "")
        return None
    out = {}
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest
    vc = dict(kv.split("=") for kv in out["vc"].split())
    return {"seconds": float(out["lmer_seconds"]), "total": total, "crit": float(out["remlcrit"]),
            "fixef": np.array([float(v) for v in out["fixef"].split()]),
            "vc": {k: float(v) for k, v in vc.items()},
            # ru_maxrss is the max over all children so far (KiB on Linux)
            "peak_mb": max(after, before) / 1024 if after > before else float("nan")}


def time_statsmodels(df: pd.DataFrame) -> dict:
    import statsmodels.formula.api as smf

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm("latent_engagement ~ tenure + real", df, groups="trust", re_formula="1",
                            vc_formula={"team": "0 + C(team)"})
        res = model.fit(reml=True)
    sec = time.perf_counter() - t0
    return {"seconds": sec, "fixef": np.asarray(res.fe_params, dtype=float),
            "vc": {"trust": float(res.cov_re.iloc[0, 0]), "team": float(res.vcomp[0]),
                   "residual": float(res.scale)}, "llf": float(res.llf), "converged": bool(res.converged)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="*", type=float, default=[1e4, 1e5, 7e5, 1e6])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-statsmodels-national", action="store_true",
                    help="do not run statsmodels at 7e5 rows (it takes minutes)")
    ap.add_argument("--skip-statsmodels", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise SystemExit(f"--sizes must be among {sorted(SIZES)}; got {bad}")
    print(f"bench_mixed: {FORMULA}, REML; {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    if args.no_r or shutil.which("Rscript") is None:
        print("R not available (or --no-r): lme4 columns skipped")
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        df = make_data(n)
        print(f"\n== {len(df):,} rows, {df['trust'].nunique()} trusts, {df['team'].nunique():,} teams "
              f"(simulated in {time.perf_counter() - t0:.1f} s)")
        ours = time_ours(df, args.repeat)
        print(f"  teamculture.mixed  {ours['seconds']:8.3f} s   peak Python memory {ours['peak_mb']:.0f} MiB   "
              f"REML crit {ours['crit']:.6f}")
        print(f"    fixef {np.array2string(ours['fixef'], precision=6)}  vc "
              + ", ".join(f"{k} {v:.6f}" for k, v in ours["vc"].items()))
        row = {"n": n, "ours": ours["seconds"], "lme4": np.nan, "lme4_total": np.nan, "sm": np.nan}
        if n not in TC_ONLY and not args.no_r:
            r = time_lme4(df)
            if r is None:
                print("  lme4: R not available")
            else:
                row["lme4"], row["lme4_total"] = r["seconds"], r["total"]
                print(f"  lme4 lmer()        {r['seconds']:8.3f} s   (whole Rscript {r['total']:.1f} s; "
                      f"R peak RSS {r['peak_mb']:.0f} MiB)   REML crit {r['crit']:.6f}")
                print(f"    fixef {np.array2string(r['fixef'], precision=6)}  vc "
                      + ", ".join(f"{k} {v:.6f}" for k, v in r["vc"].items()))
                print(f"    our criterion - lme4's: {ours['crit'] - r['crit']:+.2e};  max |fixef diff| "
                      f"{np.max(np.abs(ours['fixef'] - r['fixef'])):.2e}")
                print(f"    ratio lme4 lmer() / teamculture: {r['seconds'] / ours['seconds']:.1f}x "
                      f"(whole Rscript: {r['total'] / ours['seconds']:.1f}x)")
        skip_sm = args.skip_statsmodels or n in TC_ONLY or (n >= 700_000 and args.skip_statsmodels_national)
        if skip_sm:
            if n not in TC_ONLY:
                print("  statsmodels MixedLM: skipped (flag)")
        else:
            sm = time_statsmodels(df)
            row["sm"] = sm["seconds"]
            print(f"  statsmodels MixedLM{sm['seconds']:8.3f} s   converged={sm['converged']}  fixef "
                  f"{np.array2string(sm['fixef'], precision=6)}  vc "
                  + ", ".join(f"{k} {v:.6f}" for k, v in sm["vc"].items()))
            print(f"    ratio statsmodels / teamculture: {sm['seconds'] / ours['seconds']:.1f}x")
        rows.append(row)
    table = pd.DataFrame(rows).set_index("n")
    print("\nSummary (seconds; same run):")
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    if len(table) > 1:
        print("\nGrowth of teamculture.mixed time with rows (log-log slope between sizes):")
        ns, ts = table.index.to_numpy(dtype=float), table["ours"].to_numpy()
        for i in range(1, len(ns)):
            slope = math.log(ts[i] / ts[i - 1]) / math.log(ns[i] / ns[i - 1])
            print(f"  {int(ns[i - 1]):>9,} -> {int(ns[i]):>9,} rows: x{ts[i] / ts[i - 1]:.2f} time, slope {slope:.2f}")


if __name__ == "__main__":
    main()
