"""Benchmark: random group resampling (``rgr_agree``) with 1,000 pseudo-group sets at national scale.

Data: ``teamculture.national_survey(size, rng=2023)``: ``latent_engagement`` of
700,000 staff in 25,000 teams (``national``). In the same run it times:

* ``teamculture.rgr_agree(x, team, n_resamples=1000)`` (one call: validation,
  factorising the labels, 1,000 reassignments of every member to pseudo teams
  of the real sizes, 25 million pseudo-team variances, the z test);
* a hand-written pandas anchor doing the same per replicate
  (``rng.permutation`` of the values, ``groupby(team).var()``), timed on
  ``--anchor-reps`` replicates and scaled to 1,000;
* R ``multilevel::rgr.agree`` is not timed: it forms pseudo groups one at a
  time in R code and 25 million of them are out of reach (hours).

It checks the numbers first: the real-team mean variance equals the pandas
``groupby().var().mean()`` and the mean pseudo-team variance lies within 4
standard errors of the pooled variance (its expectation).

Run::

    python benchmarks/bench_rgr.py                  # national, 1,000 resamples
    python benchmarks/bench_rgr.py --size small     # quicker

Timings depend on the machine and on what else runs on it; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import teamculture as tc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="national", choices=["national", "small", "tiny"])
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--anchor-reps", type=int, default=10, help="pandas replicates timed (scaled to --n-resamples)")
    args = ap.parse_args()
    staff = tc.national_survey(args.size, rng=2023).staff
    x, team = staff["latent_engagement"], staff["team"]
    print(f"data: {len(staff):,} staff in {team.nunique():,} teams; {args.n_resamples:,} resamples; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    t0, c0 = time.perf_counter(), time.process_time()
    res = tc.rgr_agree(x, team, n_resamples=args.n_resamples, rng=1)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    real = x.groupby(team).var().mean()
    assert abs(res.actual_mean_var - real) <= 1e-12 * real, (res.actual_mean_var, real)
    per_rep = res.random_variances.reshape(args.n_resamples, -1).mean(axis=1)
    se = per_rep.std(ddof=1) / np.sqrt(per_rep.size)
    assert abs(per_rep.mean() - x.var()) < 4 * se, (per_rep.mean(), x.var(), se)
    print(f"checks: real-team mean variance = pandas groupby (|diff| {abs(res.actual_mean_var - real):.2g}); "
          f"mean pseudo variance {per_rep.mean():.6f} vs pooled {x.var():.6f} (4 SE = {4 * se:.2g})")
    rng = np.random.default_rng(1)
    v, g = x.to_numpy(), team.to_numpy()
    t0 = time.perf_counter()
    for _ in range(args.anchor_reps):
        pd.Series(rng.permutation(v)).groupby(g).var()
    t_pd = (time.perf_counter() - t0) / args.anchor_reps * args.n_resamples
    print(f"teamculture.rgr_agree, {args.n_resamples:,} resamples:       {t_ours:8.2f} s   "
          f"({res.n_random_groups:,} pseudo groups, z = {res.statistic:.1f}; CPU {c_ours:.2f} s on up to 2 threads)")
    print(f"pandas permutation + groupby().var() (scaled): {t_pd:8.2f} s   ratio pandas/teamculture {t_pd / t_ours:5.1f}"
          f"   (load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
