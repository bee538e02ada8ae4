"""Write the small data sets that ``lme4_reference.R`` fits (deterministic).

Run from the repository root::

    python tests/reference/make_mixed_data.py

Each data set is a CSV in ``tests/reference/mixed_data/``. Values are rounded
to four decimals so that R and Python parse exactly the same doubles. The data
are ours (generated here), so they are committed next to the R outputs.

Data sets
---------
balanced2   20 teams x 6 staff; ``y ~ x + (1 | team)``.
balanced3   6 trusts x 4 teams x 5 staff; ``y ~ x + (1 | trust) + (1 | team)``.
unbalanced3 10 trusts, 3-8 teams each, 2-15 staff per team; level-1 ``x``, a
            three-level categorical ``cat``, a trust-level ``z`` and the
            cross-level interaction ``x:z``.
reused3     like ``unbalanced3`` but the team column holds a local number
            reused in every trust (``team`` = "1", "2", ...): only
            ``(1 | trust/team)`` is right.
singular3   6 trusts x 5 teams x 6 staff with a true trust variance of zero;
            the seed is the first one whose balanced ANOVA trust mean square
            is well below the team mean square, so lme4 returns a singular
            fit (trust variance exactly 0).
slope3      8 trusts, 40 teams, 6-20 staff; team-level correlated random
            intercept and slope of ``x`` plus trust intercepts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "mixed_data"


def _sizes(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    return rng.integers(low, high + 1, size=n)


def _round(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":
            out[c] = out[c].round(4)
    return out


def balanced2() -> pd.DataFrame:
    rng = np.random.default_rng(20260101)
    n_team, m = 20, 6
    team = np.repeat(np.arange(1, n_team + 1), m)
    u = rng.normal(0.0, np.sqrt(0.5), n_team)
    x = rng.normal(0.0, 1.0, n_team * m)
    y = 1.0 + 0.4 * x + u[team - 1] + rng.normal(0.0, 1.0, n_team * m)
    return pd.DataFrame({"team": [f"T{t:02d}" for t in team], "x": x, "y": y})


def balanced3() -> pd.DataFrame:
    rng = np.random.default_rng(20260102)
    k, j, m = 6, 4, 5
    trust = np.repeat(np.arange(k), j * m)
    team = np.repeat(np.arange(k * j), m)
    u = rng.normal(0.0, np.sqrt(0.3), k)
    v = rng.normal(0.0, np.sqrt(0.4), k * j)
    x = rng.normal(0.0, 1.0, k * j * m)
    y = 0.5 - 0.3 * x + u[trust] + v[team] + rng.normal(0.0, 1.0, k * j * m)
    return pd.DataFrame({
        "trust": [f"R{t + 1:02d}" for t in trust],
        "team": [f"R{trust[i] + 1:02d}-{team[i] % j + 1}" for i in range(len(team))],
        "x": x,
        "y": y,
    })


def _unbalanced(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_trust = 10
    teams_per = _sizes(rng, n_trust, 3, 8)
    rows = []
    z = rng.normal(0.0, 1.0, n_trust)
    u = rng.normal(0.0, np.sqrt(0.25), n_trust)
    for k in range(n_trust):
        for j in range(teams_per[k]):
            v = rng.normal(0.0, np.sqrt(0.5))
            for _ in range(int(_sizes(rng, 1, 2, 15)[0])):
                rows.append((k, j, v))
    rows_a = np.array(rows, dtype=float)
    kk = rows_a[:, 0].astype(int)
    jj = rows_a[:, 1].astype(int)
    n = len(rows_a)
    x = rng.normal(0.0, 1.0, n)
    cat = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.5, 0.3, 0.2])
    cat_eff = np.select([cat == "b", cat == "c"], [0.4, -0.3], 0.0)
    y = (2.0 + 0.5 * x + cat_eff + 0.3 * z[kk] + 0.2 * x * z[kk] + u[kk] + rows_a[:, 2]
         + rng.normal(0.0, 1.0, n))
    return pd.DataFrame({
        "trust": [f"R{k + 1:02d}" for k in kk],
        "team_unique": [f"R{k + 1:02d}-{j + 1}" for k, j in zip(kk, jj)],
        "team_local": [str(j + 1) for j in jj],
        "x": x,
        "cat": cat,
        "z": z[kk],
        "y": y,
    })


def unbalanced3() -> pd.DataFrame:
    df = _unbalanced(20260103)
    return df.rename(columns={"team_unique": "team"}).drop(columns="team_local")


def reused3() -> pd.DataFrame:
    df = _unbalanced(20260104)
    return df.rename(columns={"team_local": "team"}).drop(columns="team_unique")


def singular3() -> pd.DataFrame:
    k, j, m = 6, 5, 6
    trust = np.repeat(np.arange(k), j * m)
    team = np.repeat(np.arange(k * j), m)
    for seed in range(20260105, 20260105 + 1000):
        rng = np.random.default_rng(seed)
        v = rng.normal(0.0, np.sqrt(0.4), k * j)
        x = rng.normal(0.0, 1.0, k * j * m)
        y = 1.0 + 0.2 * x + v[team] + rng.normal(0.0, 1.0, k * j * m)
        team_means = np.bincount(team, y) / m
        trust_means = np.bincount(trust, y) / (j * m)
        ms_trust = j * m * np.var(trust_means, ddof=1)
        ms_team = m * np.sum((team_means - trust_means[np.arange(k * j) // j]) ** 2) / (k * (j - 1))
        if ms_trust < 0.5 * ms_team:
            break
    return pd.DataFrame({
        "trust": [f"R{t + 1:02d}" for t in trust],
        "team": [f"R{trust[i] + 1:02d}-{team[i] % j + 1}" for i in range(len(team))],
        "x": x,
        "y": y,
    })


def slope3() -> pd.DataFrame:
    rng = np.random.default_rng(20260106)
    n_trust, n_team = 8, 40
    team_trust = np.sort(np.concatenate([np.arange(n_trust), rng.integers(0, n_trust, n_team - n_trust)]))
    sizes = _sizes(rng, n_team, 6, 20)
    team = np.repeat(np.arange(n_team), sizes)
    trust = team_trust[team]
    u = rng.normal(0.0, np.sqrt(0.2), n_trust)
    cov = np.array([[0.5, 0.1], [0.1, 0.15]])
    ab = rng.multivariate_normal([0.0, 0.0], cov, size=n_team)
    x = rng.normal(0.0, 1.0, len(team))
    y = 1.0 + 0.6 * x + u[trust] + ab[team, 0] + ab[team, 1] * x + rng.normal(0.0, 0.8, len(team))
    local = np.zeros(n_team, dtype=int)
    for k in range(n_trust):
        idx = np.flatnonzero(team_trust == k)
        local[idx] = np.arange(1, len(idx) + 1)
    return pd.DataFrame({
        "trust": [f"R{t + 1:02d}" for t in trust],
        "team": [f"R{team_trust[t] + 1:02d}-{local[t]}" for t in team],
        "x": x,
        "y": y,
    })


DATASETS = {
    "balanced2": balanced2,
    "balanced3": balanced3,
    "unbalanced3": unbalanced3,
    "reused3": reused3,
    "singular3": singular3,
    "slope3": slope3,
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, make in DATASETS.items():
        _round(make()).to_csv(OUT / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
