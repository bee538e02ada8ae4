"""Benchmark: scoring respondents x 100 items across the catalogue.

Times, in the same run and on the same data:

* ``teamculture.score`` on four catalogue instruments (hsopsc-1: 42 items,
  t-tpq: 35, tci-14: 14, nhs-engagement: 9; 100 items, 26 subscale scores),
  including validation of every code against the declared scale;
* a plain pandas implementation (reverse with the declared bounds, rescale,
  ``DataFrame.mean(axis=1)``, min-items rule; no validation);
* R ``psych::scoreItems(keys, items, totals = FALSE, impute = "none",
  min, max)`` through ``Rscript`` (timed inside R, excluding data transfer),
  per instrument (its response scale bounds differ), if R and psych are
  installed; otherwise it prints "R not available".

Run::

    python benchmarks/bench_scoring.py            # 700,000 respondents
    python benchmarks/bench_scoring.py --n 70000  # quicker

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
from pathlib import Path

import numpy as np
import pandas as pd

import teamculture as tc

INSTRUMENTS = ("hsopsc-1", "t-tpq", "tci-14", "nhs-engagement")


def make_data(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {}
    for iid in INSTRUMENTS:
        inst = tc.instruments.get(iid)
        used = {i for ids in inst.subscales.values() for i in ids}
        latent = rng.normal(size=n)
        for it in inst.items:
            if it.id not in used:
                continue
            sc = inst.scale_for(it.id)
            z = latent + rng.normal(scale=1.0, size=n)
            x = np.clip(np.round(3 + z), sc.low, sc.high)
            x[rng.random(n) < 0.03] = np.nan
            cols[f"{iid}:{it.id}"] = x
    return pd.DataFrame(cols)


def ours(df: pd.DataFrame) -> list[pd.DataFrame]:
    out = []
    for iid in INSTRUMENTS:
        inst = tc.instruments.get(iid)
        colmap = {f"{iid}:{i}": i for i in inst.item_ids if f"{iid}:{i}" in df.columns}
        out.append(tc.score(df, inst, columns=colmap))
    return out


def plain_pandas(df: pd.DataFrame) -> list[pd.DataFrame]:
    out = []
    for iid in INSTRUMENTS:
        inst = tc.instruments.get(iid)
        res = {}
        for name, ids in inst.subscales.items():
            block = {}
            for i in ids:
                sc = inst.scale_for(i)
                x = df[f"{iid}:{i}"]
                if inst.item(i).reverse:
                    x = sc.low + sc.high - x
                if inst.scoring.range is not None:
                    a, b = inst.scoring.range
                    x = a + (x - sc.low) * (b - a) / (sc.high - sc.low)
                block[i] = x
            frame = pd.DataFrame(block)
            m = frame.mean(axis=1)
            res[name] = m.where(frame.notna().sum(axis=1) >= inst.min_items[name])
        for name, subs in inst.composites.items():
            res[name] = pd.DataFrame({s: res[s] for s in subs}).mean(axis=1, skipna=False)
        out.append(pd.DataFrame(res))
    return out


R_SCRIPT = r"""
suppressPackageStartupMessages(library(psych))
args <- commandArgs(TRUE)
n <- as.integer(args[2])
spec <- read.csv(args[3], stringsAsFactors = FALSE)
total <- 0
for (inst in unique(spec$instrument)) {
  s <- spec[spec$instrument == inst, ]
  items <- unique(s$item)
  path <- file.path(args[1], paste0(inst, ".bin"))
  m <- matrix(readBin(path, "double", n * length(items)), nrow = n)
  colnames(m) <- items
  keys <- lapply(split(s$key, factor(s$scale, levels = unique(s$scale))), as.character)
  t <- system.time(sc <- scoreItems(keys, m, totals = FALSE, impute = "none",
                                    min = s$low[1], max = s$high[1]))[["elapsed"]]
  total <- total + t
}
cat(sprintf("%.6f\n", total))
"""


def time_r(df: pd.DataFrame, tmp: Path) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    ok = subprocess.run(["Rscript", "-e", "library(psych)"], capture_output=True)
    if ok.returncode != 0:
        return None
    rows = []
    for iid in INSTRUMENTS:
        inst = tc.instruments.get(iid)
        items = [i for i in inst.item_ids if f"{iid}:{i}" in df.columns]
        lows = {inst.scale_for(i).low for i in items}
        highs = {inst.scale_for(i).high for i in items}
        if len(lows) != 1 or len(highs) != 1:
            raise RuntimeError(f"{iid}: items on different scales; psych needs one min/max")
        # column-major matrix for R: write items x n in C order
        np.ascontiguousarray(df[[f"{iid}:{i}" for i in items]].to_numpy().T).tofile(tmp / f"{iid}.bin")
        for name, keys in inst.keys().items():
            for k in keys:
                rows.append({"instrument": iid, "scale": name, "key": k, "item": k.lstrip("-"),
                             "low": min(lows), "high": max(highs)})
    # R reads the matrix columns in the order of unique(spec$item): sort by matrix position
    spec = pd.DataFrame(rows)
    order = {iid: [i for i in tc.instruments.get(iid).item_ids if f"{iid}:{i}" in df.columns] for iid in INSTRUMENTS}
    spec["item_pos"] = [order[r.instrument].index(r.item) for r in spec.itertuples()]
    spec = spec.sort_values(["instrument", "item_pos"], kind="stable")
    spec.to_csv(tmp / "spec.csv", index=False)
    (tmp / "bench.R").write_text(R_SCRIPT)
    res = subprocess.run(["Rscript", str(tmp / "bench.R"), str(tmp), str(len(df)), str(tmp / "spec.csv")],
                         capture_output=True, text=True)
    if res.returncode != 0:
        print("R failed:", res.stderr[-500:])
        return None
    return float(res.stdout.strip().splitlines()[-1])


def best_of(f, reps: int) -> float:
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=700_000, help="respondents (default 700,000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (best time is reported)")
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison")
    args = ap.parse_args()
    df = make_data(args.n)
    print(f"data: {len(df):,} respondents x {df.shape[1]} items, {len(INSTRUMENTS)} instruments; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    a = ours(df)
    b = plain_pandas(df)
    for x, y in zip(a, b):  # same numbers, so the comparison is fair
        np.testing.assert_allclose(x.to_numpy(), y.to_numpy(), rtol=1e-12, atol=1e-12)
    t_ours = best_of(lambda: ours(df), args.reps)
    print(f"teamculture.score (with code validation): {t_ours:8.3f} s")
    t_pd = best_of(lambda: plain_pandas(df), args.reps)
    print(f"plain pandas (no validation):             {t_pd:8.3f} s   ratio pandas/teamculture {t_pd / t_ours:6.1f}")
    if args.no_r:
        print("R skipped (--no-r)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        t_r = time_r(df, Path(tmp))
    if t_r is None:
        print("R not available (Rscript with psych not found): no psych::scoreItems comparison")
    else:
        print(f"psych::scoreItems(impute='none'):         {t_r:8.3f} s   ratio psych/teamculture {t_r / t_ours:6.1f}")


if __name__ == "__main__":
    main()
