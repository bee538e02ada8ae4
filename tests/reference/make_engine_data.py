"""Write the extra data sets that ``lme4_engine_extra.R`` fits (deterministic).

Run from the repository root::

    python tests/reference/make_engine_data.py

Data sets (CSV in ``tests/reference/engine_data/``, values rounded to four
decimals so that R and Python read the same doubles):

depth3    4-level hierarchy: 5 regions, 3-6 trusts each, 2-6 teams per trust,
          1-9 staff per team (some teams of one), level-1 ``x``, a
          trust-level ``z``, a two-level categorical ``grade`` and the
          cross-level interaction ``x:z``; team labels are local numbers
          reused in every trust and trust labels are reused in every region.
tiny_zero 3 trusts x 3 teams x 3 staff drawn with no team variance, chosen so
          that lme4 estimates a zero team variance.
big_mean  unbalanced 3-level data whose response has mean 100 and a small
          spread (tests the numerical stability of the sums).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "engine_data"


def depth3() -> pd.DataFrame:
    rng = np.random.default_rng(5101)
    rows = []
    for r in range(5):
        u_r = rng.normal(0.0, 0.5)
        for t in range(int(rng.integers(3, 7))):
            u_t = rng.normal(0.0, 0.4)
            z = rng.normal(0.0, 1.0)
            for j in range(int(rng.integers(2, 7))):
                u_j = rng.normal(0.0, 0.6)
                for _ in range(int(rng.integers(1, 10))):
                    x = rng.normal(0.0, 1.0)
                    grade = "senior" if rng.random() < 0.3 else "junior"
                    y = (1.0 + 0.5 * x + 0.3 * z + 0.2 * x * z + 0.4 * (grade == "senior")
                         + u_r + u_t + u_j + rng.normal(0.0, 1.0))
                    rows.append((f"G{r + 1}", f"T{t + 1}", str(j + 1), x, z, grade, y))
    return pd.DataFrame(rows, columns=["region", "trust", "team", "x", "z", "grade", "y"])


def tiny_zero() -> pd.DataFrame:
    trust = np.repeat(np.arange(3), 9)
    team = np.repeat(np.arange(9), 3)
    for seed in range(5200, 6200):
        rng = np.random.default_rng(seed)
        u = rng.normal(0.0, 0.7, 3)
        x = rng.normal(0.0, 1.0, 27)
        y = 2.0 + 0.3 * x + u[trust] + rng.normal(0.0, 1.0, 27)
        team_means = np.bincount(team, y) / 3
        trust_means = np.bincount(trust, y) / 9
        ms_team = 3 * np.sum((team_means - trust_means[np.arange(9) // 3]) ** 2) / 6
        resid = y - team_means[team]
        ms_within = np.sum(resid**2) / 18
        if ms_team < 0.5 * ms_within:
            break
    return pd.DataFrame({
        "trust": [f"K{k + 1}" for k in trust],
        "team": [f"K{trust[i] + 1}-{team[i] % 3 + 1}" for i in range(27)],
        "x": x,
        "y": y,
    })


def big_mean() -> pd.DataFrame:
    rng = np.random.default_rng(5301)
    n_trust = 12
    teams = rng.integers(2, 9, n_trust)
    rows = []
    for k in range(n_trust):
        u = rng.normal(0.0, 0.05)
        for j in range(int(teams[k])):
            v = rng.normal(0.0, 0.08)
            for _ in range(int(rng.integers(2, 12))):
                x = rng.normal(50.0, 5.0)
                rows.append((f"R{k + 1:02d}", f"R{k + 1:02d}-{j + 1}", x,
                             100.0 + 0.01 * (x - 50.0) + u + v + rng.normal(0.0, 0.1)))
    return pd.DataFrame(rows, columns=["trust", "team", "x", "y"])


DATASETS = {"depth3": depth3, "tiny_zero": tiny_zero, "big_mean": big_mean}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, make in DATASETS.items():
        df = make()
        for c in df.columns:
            if df[c].dtype.kind == "f":
                df[c] = df[c].round(4)
        df.to_csv(OUT / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
