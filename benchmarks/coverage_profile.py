"""How often does the culture profile flag trust-elements that are not special, and does it find those that are?

Simulates culture surveys with known truth
(``teamculture.simulate.simulate_culture``: element-level culture of
trusts and teams, some trust-elements shifted up
("strong") or down ("weak"); 1.2 and 2 latent SDs, against a between-trust SD of 0.25),
``--reps`` times per scenario, profiles every
trust with :func:`teamculture.profile.culture_profile` (framework
``"nhs-culture-elements"``, teams nested in trusts, all trusts as benchmark)
and counts, over the labels of every trust x element:

- for the Benjamini-Hochberg rule (the default, false-discovery rate 0.05):
  the false-discovery proportion (false flags / flags, 0 without flags),
  averaged over replicates = the FDR the rule claims to keep at or below 0.05;
  under the global null (no shifts) every flag is false and FDR = the share of
  replicates with any flag;
- for funnel limits at 99.8% and 95% (per-comparison rules, the same
  statistic): the share of ordinary trust-elements flagged, which they claim
  to keep at 0.002 and 0.05;
- the power: the share of shifted trust-elements flagged with the right label.

Ordinary trust-elements are drawn from the normal benchmark distribution;
shifted ones are outliers from it. Support and compassion shares a measure
with compassionate leadership, so its shifts are diluted (see the simulator).

Usage: python benchmarks/coverage_profile.py [--reps 200] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from teamculture.profile import culture_profile
from teamculture.simulate import simulate_culture

SCENARIOS = {
    # name: (n_trusts, teams_per_trust, staff_per_team, n_strong, n_weak, shift in latent SDs)
    "null-40": (40, 8, 12, 0, 0, 0.0),
    "shift1.2-40": (40, 8, 12, 4, 4, 1.2),
    "shift2-40": (40, 8, 12, 4, 4, 2.0),
    "null-150": (150, 8, 12, 0, 0, 0.0),
    "shift1.2-150": (150, 8, 12, 8, 8, 1.2),
    "shift2-150": (150, 8, 12, 8, 8, 2.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script (3 reps)")
    args = parser.parse_args()
    if args.quick:
        args.reps = 3
    print(f"coverage_profile: {args.reps} replicates per scenario (trust SD of each element's latent 0.25)")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(args.seed)
    header = (f"{'scenario':12} {'cells':>6} {'BH: FDR':>8} {'any flag':>8} {'power':>6} | {'99.8%: ff':>9} "
              f"{'power':>6} | {'95%: ff':>8} {'power':>6}")
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    for name in args.scenarios.split(","):
        k, teams, staff, n_strong, n_weak, shift = SCENARIOS[name]
        fdp, any_flag, power_bh = [], [], []
        ff998, ff95, power998, power95 = [], [], [], []
        t1 = time.perf_counter()
        for _ in range(args.reps):
            sim = simulate_culture(n_trusts=k, teams_per_trust=teams, staff_per_team=staff, n_strong=n_strong,
                                   n_weak=n_weak, shift=shift, n_changed=0, years=(2023,),
                                   rng=int(rng.integers(2**31)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # respondents without a score: rare, counted in the table
                prof = culture_profile(sim.staff, "nhs-culture-elements", by=["trust", "team"])
            t = prof.table
            truth = sim.truth["status"].reindex(t.index).to_numpy()
            ordinary = truth == "ordinary"
            lab = t["label"].astype(str).to_numpy()
            flagged = lab != "as expected"
            right = ((lab == "strength") & (truth == "strong")) | ((lab == "area to develop") & (truth == "weak"))
            n_false = int((flagged & ordinary).sum())
            fdp.append(n_false / max(int(flagged.sum()), 1))
            any_flag.append(bool(flagged.any()))
            if (~ordinary).any():
                power_bh.append(right[~ordinary].mean())
            stat = t["statistic"].to_numpy()
            p = t["pvalue"].to_numpy()
            for rate, ff, pw in ((0.002, ff998, power998), (0.05, ff95, power95)):
                f = p < rate
                ff.append(f[ordinary].mean())
                if (~ordinary).any():
                    sign_ok = np.where(truth == "strong", stat > 0, stat < 0)
                    pw.append((f & sign_ok)[~ordinary].mean())
        cells = len(prof.table)

        def pw(x):
            return f"{np.mean(x):6.3f}" if x else f"{'-':>6}"

        print(f"{name:12} {cells:6d} {np.mean(fdp):8.4f} {np.mean(any_flag):8.3f} {pw(power_bh)} | "
              f"{np.mean(ff998):9.4f} {pw(power998)} | {np.mean(ff95):8.4f} {pw(power95)}   "
              f"[{time.perf_counter() - t1:.0f} s]")
    print("claims: BH FDR <= 0.05 (under the null: share of replicates with any flag <= 0.05); funnel 99.8%: "
          "false-flag share 0.002; funnel 95%: 0.05")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
