"""Benchmark: random slopes and crossed factors (issue 13, items 1-3), teamculture vs lme4 / lmerTest.

In one run, on the same simulated data, it times for each target ``teamculture.mixed`` (the whole
call: formula, checks, fit, Satterthwaite df, BLUPs; best of ``--repeat``) and, through
``Rscript``, ``lme4::lmer`` (the call alone, timed inside R) and ``lmerTest::lmer`` (lme4's fit
plus lmerTest's numerical Hessian for the Satterthwaite df), and prints the ratios, the REML
criteria side by side and the largest difference of the Satterthwaite df. The load average is
printed before each section (the machine is shared; timings move with it).

Targets
-------
1. Uncorrelated slopes at 10,000 staff, ``(1 | trust) + (1 | team) + (0 + x | team)`` (the form
   that took 946 s before, "the 16-minute trap"), on the simulator's small survey and on a design
   with trusts of 37 to 1,328 staff; and ``(1 + x || team)``.
2. Nested correlated slopes ``(1 | trust) + (1 + x | team)`` at national scale (700,000 staff,
   25,000 teams, 250 trusts): target <= 1 s and >= 30x lme4; the same with trusts of very unequal
   size (the time should not move).
3. Crossed factors at national scale: teams x 20 occupational groups, ``(1 | team) + (1 | occ)``
   and ``(1 | trust) + (1 | team) + (1 | occ)``; trusts x 5 survey years, ``(1 | trust) + (1 | year)
   + (1 | trust:year)``; and crossed with slopes, ``(1 + x | team) + (1 | occ)``: faster than lme4.
0. With ``--before SRC`` (a source tree of teamculture before this work, e.g. from
   ``git archive 3f65158 src | tar -x -C /tmp/tc-before``): the national random-intercept fit
   (the nested engine, which must keep its speed) timed with both trees in alternating fresh
   subprocesses; and, with ``--before-slopes``, the 10,000-staff unequal-trust design with the old
   tree (minutes under load; a timeout of ``--before-timeout`` seconds).

Run::

    python benchmarks/bench_mixed_frontier.py                      # everything, R anchors once each
    python benchmarks/bench_mixed_frontier.py --only 1 --repeat 3
    python benchmarks/bench_mixed_frontier.py --before /tmp/tc-before/src --only 0
    python benchmarks/bench_mixed_frontier.py --no-r               # teamculture only
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import teamculture as tc
from teamculture.errors import NestingWarning

HERE = Path(__file__).resolve().parent

R_CODE = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
args <- commandArgs(trailingOnly = TRUE)
d <- as.data.frame(data.table::fread(args[1], colClasses = list(character = c("trust", "team", "occ", "year"))))
for (v in intersect(c("trust", "team", "occ", "year"), names(d))) d[[v]] <- factor(d[[v]])
f <- as.formula(args[2])
tm <- system.time(m <- lme4::lmer(f, data = d, REML = TRUE))
cat(sprintf("lmer_seconds %.6f\n", tm[["elapsed"]]))
cat(sprintf("remlcrit %.17g\n", REMLcrit(m)))
if (args[3] == "1") {
  tm2 <- system.time({mt <- lmerTest::lmer(f, data = d, REML = TRUE); co <- summary(mt)$coefficients})
  cat(sprintf("lmertest_seconds %.6f\n", tm2[["elapsed"]]))
  cat(sprintf("df %s\n", paste(sprintf("%.17g", co[, "df"]), collapse = " ")))
}
"""


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f} ({os.cpu_count()} CPUs)"


# --------------------------------------------------------------------------- data
def national(rng_seed: int = 2026, unequal: bool = False) -> pd.DataFrame:
    """700,000 staff in 25,000 teams in 250 trusts, with team slopes of ``x``, 20 occupations, 5 years.

    ``unequal=True`` keeps the staff, team and trust counts but gives the trusts sizes spanning a
    factor of 36 (as 37 to 1,328 staff do), teams assigned to trusts in proportion.
    """
    s = tc.simulate.national_survey("national", rng=rng_seed)
    st = s.staff
    rng = np.random.default_rng(rng_seed + 1)
    team_codes = pd.factorize(st["team"])[0]
    J = int(team_codes.max()) + 1
    if unequal:
        weights = np.geomspace(1.0, 36.0, 250)
        trust_of_team = rng.choice(250, size=J, p=weights / weights.sum())
        trust_of_team[:250] = np.arange(250)
        trust = np.char.add("K", trust_of_team[team_codes].astype(str))
        a = rng.normal(0.0, np.sqrt(0.02), 250)[trust_of_team[team_codes]]
    else:
        trust = st["trust"].astype(str).to_numpy()
        a = 0.0
    n_occ = 20
    k = rng.integers(3, 9, J)
    occ_sets = [rng.choice(n_occ, size=kk, replace=False) for kk in k]
    occ = np.array([occ_sets[t][rng.integers(0, len(occ_sets[t]))] for t in team_codes])
    year = rng.integers(0, 5, len(st))
    x = (st["team_type"] == "real").to_numpy(float)
    slope = rng.normal(0.0, 0.2, J)[team_codes]
    y = (st["latent_engagement"].to_numpy() + a + slope * x + rng.normal(0, np.sqrt(0.04), n_occ)[occ]
         + rng.normal(0, np.sqrt(0.01), 5)[year])
    return pd.DataFrame({"trust": trust, "team": st["team"].astype(str).to_numpy(),
                         "occ": np.char.add("O", occ.astype(str)), "year": (2019 + year).astype(str),
                         "x": x, "tenure": st["tenure"].to_numpy(float), "y": y})


def small_survey() -> pd.DataFrame:
    """The simulator's small survey (10,000 staff, 20 trusts, 500 teams) with real-team membership
    centred within teams, as in the newcomer review."""
    s = tc.simulate.national_survey("small", rng=3)
    st = s.staff
    real = (st["team_type"] == "real").astype(float)
    return pd.DataFrame({"trust": st["trust"].astype(str), "team": st["team"].astype(str),
                         "x": real - real.groupby(st["team"]).transform("mean"),
                         "y": st["latent_engagement"].to_numpy()})


def unequal_10k(seed: int = 13) -> pd.DataFrame:
    """About 10,000 staff in 27 trusts of 37 to 1,328 staff (geometric), teams of 3-25 staff."""
    rng = np.random.default_rng(seed)
    sizes = np.round(np.geomspace(37, 1328, 27)).astype(int)
    rows = []
    team_id = 0
    for k, size in enumerate(sizes):
        a = rng.normal(0.0, np.sqrt(0.02))
        left = int(size)
        while left > 0:
            m = int(min(left, rng.integers(3, 26)))
            if left - m < 3:
                m = left
            left -= m
            team_id += 1
            u0, u1 = rng.normal(0.0, np.sqrt(0.08)), rng.normal(0.0, np.sqrt(0.03))
            x = rng.normal(0.0, 1.0, m)
            y = 0.3 * x + a + u0 + u1 * x + rng.normal(0.0, np.sqrt(0.6), m)
            rows.append(pd.DataFrame({"trust": f"K{k:02d}", "team": f"T{team_id:04d}", "x": x, "y": y}))
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------- timing
def time_ours(formula: str, df: pd.DataFrame, repeat: int) -> tuple[float, object]:
    best, fit = math.inf, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NestingWarning)  # crossed by design here
        for _ in range(repeat):
            t0 = time.perf_counter()
            fit = tc.mixed(formula, df)
            best = min(best, time.perf_counter() - t0)
    return best, fit


def time_r(formula: str, df: pd.DataFrame, lmertest: bool) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "fit.R"
        df.to_csv(csv, index=False)
        script.write_text(R_CODE)
        proc = subprocess.run(["Rscript", str(script), str(csv), formula, "1" if lmertest else "0"],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        print("    R failed:", (proc.stderr.strip().splitlines() or [""])[-1])
        return None
    out = {}
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest
    res = {"lmer": float(out["lmer_seconds"]), "crit": float(out["remlcrit"])}
    if "lmertest_seconds" in out:
        res["lmertest"] = float(out["lmertest_seconds"])
        res["df"] = np.array([float(v) for v in out["df"].split()])
    return res


def report(label: str, formula: str, df: pd.DataFrame, args, lmertest: bool, target: str = "") -> dict:
    print(f"\n  {label}: {formula}  ({len(df):,} rows; {load()})")
    ours, fit = time_ours(formula, df, args.repeat)
    print(f"    teamculture.mixed   {ours:8.3f} s  engine {fit.engine}, converged {fit.converged}, "
          f"REML crit {fit.deviance:.6f}")
    row = {"target": label, "formula": formula, "rows": len(df), "ours": ours, "lme4": np.nan, "lmerTest": np.nan}
    if args.no_r:
        return row
    r = time_r(formula, df, lmertest)
    if r is None:
        print("    R not available")
        return row
    row["lme4"] = r["lmer"]
    print(f"    lme4::lmer          {r['lmer']:8.3f} s  REML crit {r['crit']:.6f}  (ours - lme4's: "
          f"{fit.deviance - r['crit']:+.2e})")
    line = f"    ratio lme4 / teamculture: {r['lmer'] / ours:.1f}x"
    if "lmertest" in r:
        row["lmerTest"] = r["lmertest"]
        dfd = np.max(np.abs(fit.coefficients["df"].to_numpy() / r["df"] - 1))
        print(f"    lmerTest::lmer      {r['lmertest']:8.3f} s  (fit + Satterthwaite Hessian); max relative df "
              f"difference {dfd:.1e}")
        line += f"; lmerTest / teamculture: {r['lmertest'] / ours:.1f}x"
    print(line + (f"   [{target}]" if target else ""))
    return row


# --------------------------------------------------------------------------- before/after
CHILD = textwrap.dedent('''
    import sys, time, warnings
    sys.path.insert(0, sys.argv[1])
    import pandas as pd, teamculture as tc
    df = pd.read_pickle(sys.argv[2])
    warnings.simplefilter("ignore")
    tc.mixed(sys.argv[3], df.iloc[:20000])
    t0 = time.perf_counter(); fit = tc.mixed(sys.argv[3], df); t = time.perf_counter() - t0
    print(t, repr(fit.deviance), tc.__file__)
''')


def before_after(src_old: str, formula: str, df: pd.DataFrame, rounds: int, timeout: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "d.pkl"
        df.to_pickle(pkl)
        child = Path(tmp) / "child.py"
        child.write_text(CHILD)
        times: dict[str, list[float]] = {"before": [], "after": []}
        crit = {}
        for r in range(rounds):
            for which, src in (("before", src_old), ("after", str(HERE.parent / "src"))):
                try:
                    proc = subprocess.run([sys.executable, str(child), src, str(pkl), formula], capture_output=True,
                                          text=True, timeout=timeout)
                except subprocess.TimeoutExpired:
                    print(f"    {which}: no result within {timeout:.0f} s ({load()})")
                    times[which].append(math.inf)
                    continue
                if proc.returncode != 0:
                    print(f"    {which} failed: {(proc.stderr.strip().splitlines() or [''])[-1]}")
                    continue
                t, c, path = proc.stdout.split()
                times[which].append(float(t))
                crit[which] = float(c)
                print(f"    round {r + 1} {which:6s} {float(t):8.3f} s  crit {float(c):.6f}  ({path.split('/src/')[0]})")
    med = {k: statistics.median(v) for k, v in times.items() if v}
    if len(med) == 2:
        print(f"    median before {med['before']:.3f} s, after {med['after']:.3f} s, after/before "
              f"{med['after'] / med['before']:.2f}; criteria differ by {crit.get('after', np.nan) - crit.get('before', np.nan):+.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--before", help="source tree (src/) of teamculture before this work, for section 0")
    ap.add_argument("--before-rounds", type=int, default=3)
    ap.add_argument("--before-slopes", action="store_true",
                    help="also time the old tree on the 10,000-staff unequal-trust slope model")
    ap.add_argument("--before-timeout", type=float, default=600.0)
    ap.add_argument("--national-lmertest", action="store_true",
                    help="also time lmerTest's df at national scale (slow: numerical Hessian of lme4's deviance)")
    args = ap.parse_args()
    print(f"bench_mixed_frontier: {load()}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    rows = []
    if 0 in args.only and args.before:
        print("\n== 0. the nested random-intercept engine, before/after (alternating fresh processes)")
        nat = national()
        f = "y ~ x + tenure + (1 | trust) + (1 | team)"
        print(f"  {f}  ({len(nat):,} rows; {load()})")
        before_after(args.before, f, nat, args.before_rounds, args.before_timeout)
        if args.before_slopes:
            f = "y ~ x + (1 | trust) + (1 | team) + (0 + x | team)"
            print(f"\n  {f}, 10,072 staff in 27 trusts of 37-1,328 ({load()})")
            before_after(args.before, f, unequal_10k(), 1, args.before_timeout)
    if 1 in args.only:
        print("\n== 1. uncorrelated random slopes, 10,000 staff (with lmerTest's Satterthwaite df)")
        small = small_survey()
        uneq = unequal_10k()
        sizes = uneq.groupby("trust").size()
        print(f"  unequal design: {len(uneq):,} staff, {uneq['team'].nunique()} teams, {len(sizes)} trusts of "
              f"{sizes.min()} to {sizes.max()} staff")
        f = "y ~ x + (1 | trust) + (1 | team) + (0 + x | team)"
        rows.append(report("1a small survey", f, small, args, True, "seconds, not minutes"))
        rows.append(report("1b unequal trusts", f, uneq, args, True, "seconds, not minutes"))
        rows.append(report("1c two-level ||", "y ~ x + (1 + x || team)", uneq, args, True))
        rows.append(report("1d correlated, unequal", "y ~ x + (1 | trust) + (1 + x | team)", uneq, args, True))
    if 2 in args.only or 3 in args.only:
        t0 = time.perf_counter()
        nat = national()
        print(f"\n(national data simulated in {time.perf_counter() - t0:.1f} s: {len(nat):,} staff, "
              f"{nat['team'].nunique():,} teams, {nat['trust'].nunique()} trusts, {nat['occ'].nunique()} occupations, "
              f"{nat['year'].nunique()} years)")
        # one untimed warm-up (imports), as R's time excludes loading lme4
        time_ours("y ~ x + (1 | trust) + (1 + x | team)", nat.iloc[:30000], 1)
    if 2 in args.only:
        print("\n== 2. nested correlated slopes, national scale")
        f = "y ~ x + (1 | trust) + (1 + x | team)"
        rows.append(report("2a national", f, nat, args, args.national_lmertest, "<= 1 s and >= 30x lme4"))
        uneq_nat = national(unequal=True)
        sizes = uneq_nat.groupby("trust").size()
        print(f"\n  unequal national design: trusts of {sizes.min():,} to {sizes.max():,} staff")
        rows.append(report("2b national, unequal trusts", f, uneq_nat, args, False, "time as 2a"))
    if 3 in args.only:
        print("\n== 3. crossed random factors, national scale")
        for label, f in [("3a teams x occupations", "y ~ x + (1 | team) + (1 | occ)"),
                         ("3b trusts/teams x occupations", "y ~ x + (1 | trust) + (1 | team) + (1 | occ)"),
                         ("3c trusts x years", "y ~ x + (1 | trust) + (1 | year) + (1 | trust:year)"),
                         ("3d team slopes x occupations", "y ~ x + (1 + x | team) + (1 | occ)")]:
            rows.append(report(label, f, nat, args, False, "faster than lme4"))
    if rows:
        table = pd.DataFrame(rows).set_index("target")
        table["lme4/ours"] = table["lme4"] / table["ours"]
        table["lmerTest/ours"] = table["lmerTest"] / table["ours"]
        print(f"\nSummary (seconds; all measured in this run; {load()}):")
        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
