"""Write the data sets that ``lme4_frontier.R`` fits: uncorrelated slopes and crossed factors (deterministic).

Run from the repository root::

    python tests/reference/make_frontier_data.py

Each data set is a CSV in ``tests/reference/frontier_data/``; values rounded to
four decimals so that R and Python parse the same doubles. The data are ours
(generated here), so they are committed next to the R output.

Data sets
---------
crossed2    30 teams crossed with 5 occupations (each team has staff of 2-5
            occupations), 4-30 staff per team; team and occupation random
            intercepts, and an occupation slope of ``x``.
crossed3    8 trusts, 40 teams nested in them, crossed with 6 occupations;
            trust, team and occupation intercepts and a team slope of ``x``.
panel       30 trusts observed in 5 survey years, 4-25 staff per trust-year;
            trust, year and trust-by-year intercepts.
unequal3    14 trusts of very unequal size (20 to about 500 staff), 3-25
            staff per team; trust intercepts, team intercepts and
            uncorrelated team slopes of ``x``.
crossed0    like crossed2 but without any occupation effect, the first seed
            whose fit puts the occupation variance at zero (a singular
            crossed fit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "frontier_data"


def _round(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":
            out[c] = out[c].round(4)
    return out


def _crossed2(seed: int, occ_sd: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_team, n_occ = 30, 5
    rows = []
    u = rng.normal(0.0, np.sqrt(0.5), n_team)
    v = rng.normal(0.0, occ_sd, n_occ)
    w = rng.normal(0.0, np.sqrt(0.1), n_occ)  # occupation slope of x
    for t in range(n_team):
        occs = rng.choice(n_occ, size=rng.integers(2, n_occ + 1), replace=False)
        for _ in range(rng.integers(4, 31)):
            o = int(rng.choice(occs))
            x = rng.normal(0.0, 1.0)
            y = 1.0 + 0.5 * x + u[t] + v[o] + (w[o] * x if occ_sd > 0 else 0.0) + rng.normal(0.0, 1.0)
            rows.append((f"T{t + 1:02d}", f"O{o + 1}", x, y))
    return pd.DataFrame(rows, columns=["team", "occ", "x", "y"])


def crossed2() -> pd.DataFrame:
    return _crossed2(20261203, np.sqrt(0.3))


def crossed0() -> pd.DataFrame:
    """No occupation effect; the first seed whose occupation means spread less than chance."""
    for seed in range(20261300, 20261400):
        d = _crossed2(seed, 0.0)
        # a crude screen: occupation means of the within-team residuals vary less than their noise
        r = d["y"] - d.groupby("team")["y"].transform("mean")
        g = r.groupby(d["occ"])
        between = float(np.average((g.mean() - r.mean()) ** 2, weights=g.size()))
        if between < 0.5 * float(r.var()) * len(g) / len(d):
            return d
    raise RuntimeError("no seed found")


def crossed3() -> pd.DataFrame:
    rng = np.random.default_rng(20261204)
    n_trust, n_occ = 8, 6
    a = rng.normal(0.0, np.sqrt(0.2), n_trust)
    v = rng.normal(0.0, np.sqrt(0.3), n_occ)
    rows = []
    team_id = 0
    for k in range(n_trust):
        for _ in range(5):
            team_id += 1
            u0, u1 = rng.multivariate_normal([0.0, 0.0], [[0.4, 0.1], [0.1, 0.15]])
            occs = rng.choice(n_occ, size=rng.integers(2, n_occ + 1), replace=False)
            for _ in range(rng.integers(5, 21)):
                o = int(rng.choice(occs))
                x = rng.normal(0.0, 1.0)
                y = 0.5 + 0.6 * x + a[k] + u0 + u1 * x + v[o] + rng.normal(0.0, 1.0)
                rows.append((f"R{k + 1}", f"R{k + 1}-{team_id:02d}", f"O{o + 1}", x, y))
    return pd.DataFrame(rows, columns=["trust", "team", "occ", "x", "y"])


def panel() -> pd.DataFrame:
    rng = np.random.default_rng(20261205)
    n_trust, n_year = 30, 5
    a = rng.normal(0.0, np.sqrt(0.3), n_trust)
    b = rng.normal(0.0, np.sqrt(0.1), n_year)
    c = rng.normal(0.0, np.sqrt(0.05), (n_trust, n_year))
    rows = []
    for k in range(n_trust):
        for t in range(n_year):
            for _ in range(rng.integers(4, 26)):
                x = rng.normal(0.0, 1.0)
                y = 2.0 + 0.3 * x + a[k] + b[t] + c[k, t] + rng.normal(0.0, 1.0)
                rows.append((f"K{k + 1:02d}", str(2019 + t), x, y))
    return pd.DataFrame(rows, columns=["trust", "year", "x", "y"])


def unequal3() -> pd.DataFrame:
    rng = np.random.default_rng(20261206)
    sizes = np.round(np.geomspace(20, 500, 14)).astype(int)
    rows = []
    team_id = 0
    a = rng.normal(0.0, np.sqrt(0.2), len(sizes))
    for k, size in enumerate(sizes):
        left = int(size)
        while left > 0:
            m = int(min(left, rng.integers(3, 26)))
            if left - m < 3:
                m = left
            left -= m
            team_id += 1
            u0 = rng.normal(0.0, np.sqrt(0.4))
            u1 = rng.normal(0.0, np.sqrt(0.15))
            for _ in range(m):
                x = rng.normal(0.0, 1.0)
                y = 1.0 + 0.5 * x + a[k] + u0 + u1 * x + rng.normal(0.0, 1.0)
                rows.append((f"K{k + 1:02d}", f"K{k + 1:02d}-{team_id:03d}", x, y))
    return pd.DataFrame(rows, columns=["trust", "team", "x", "y"])


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, make in [("crossed2", crossed2), ("crossed0", crossed0), ("crossed3", crossed3),
                       ("panel", panel), ("unequal3", unequal3)]:
        df = _round(make())
        df.to_csv(OUT / f"{name}.csv", index=False)
        print(f"{name}: {len(df)} rows")


if __name__ == "__main__":
    main()
