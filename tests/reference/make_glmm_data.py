"""Write the data sets that ``glmm_lme4.R`` fits (deterministic; our own simulated data).

Run from the repository root::

    python tests/reference/make_glmm_data.py

Each data set is a CSV in ``tests/reference/glmm_data/``. Covariates are
rounded to four decimals so that R and Python parse exactly the same doubles.

Data sets (staff in teams in trusts unless said otherwise)
----------------------------------------------------------
two_level       150 teams x 10 staff (balanced), one level; logit, common outcome
                (~35%); ``y ~ x + team_type + (1 | team)``.
three_level     40 trusts, 2-12 teams each, 1-15 staff per team (unbalanced); the
                team column is a local number reused in every trust, so only
                ``(1 | trust/team)`` is right; logit, common outcome.
rare            60 trusts, 4-14 teams, 2-14 staff; logit, rare outcome (~3%).
zero_trust      30 trusts x 8 teams x 6 staff with a true trust variance of zero;
                the seed is the first whose glmer fit is singular (checked in R).
probit          30 trusts, 3-9 teams, 3-12 staff; probit link.
poisson         30 trusts, 3-9 teams, 2-10 staff; counts with exposure
                (``days``), ``offset(log(days))``.
trials          80 teams x 3 team-type cells: ``cbind(k, n - k)`` binomial.
agq_single      300 clusters of 1-3 staff, one level, team SD 2.3: where Laplace
                is poor and even 25 quadrature points are not exact.
agq_small       4 trusts x 3 teams x 1-4 staff, two levels: small enough for
                brute-force nested integration.
rare_flat       40 trusts, 10-20 teams of 15-25 staff, rare outcome (~6%), team SD 1: a
                replicate of the "larger teams, rare" scenario of benchmarks/coverage_glmm.py,
                where the likelihood is flat in the trust SD (an early version of the
                optimiser stalled on such replicates).
slopes          150 teams of 5-19 staff, one level, correlated random intercept and slope of
                ``x`` (SDs 0.8 and ~0.45, correlation ~0.44): ``y ~ x + (1 + x | team)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

OUT = Path(__file__).parent / "glmm_data"
TYPES = np.array(["real", "pseudo", "none"])


def _nested(rng: np.random.Generator, n_trust: int, teams: tuple[int, int], staff: tuple[int, int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trust, global team and local team numbers per staff member."""
    tr, tm, loc = [], [], []
    team_id = 0
    for t in range(n_trust):
        for j in range(int(rng.integers(teams[0], teams[1] + 1))):
            n = int(rng.integers(staff[0], staff[1] + 1))
            tr += [t] * n
            tm += [team_id] * n
            loc += [j + 1] * n
            team_id += 1
    return np.array(tr), np.array(tm), np.array(loc)


def _frame(rng: np.random.Generator, tr: np.ndarray, tm: np.ndarray, loc: np.ndarray, beta: tuple[float, ...],
           sd: tuple[float, float], link: str = "logit") -> pd.DataFrame:
    n = len(tr)
    x = np.round(rng.normal(size=n), 4)
    tt = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])
    u = rng.normal(0, sd[0], tr.max() + 1)
    v = rng.normal(0, sd[1], tm.max() + 1)
    eta = beta[0] + beta[1] * x + beta[2] * (tt == 1) + beta[3] * (tt == 2) + u[tr] + v[tm]
    p = special.expit(eta) if link == "logit" else special.ndtr(eta)
    y = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"y": y, "x": x, "team_type": TYPES[tt], "trust": [f"T{t:02d}" for t in tr],
                         "team": loc, "team_id": [f"T{t:02d}-{j:02d}" for t, j in zip(tr, loc)]})


def two_level(rng: np.random.Generator) -> pd.DataFrame:
    tm = np.repeat(np.arange(150), 10)
    d = _frame(rng, np.zeros_like(tm), tm, tm + 1, (-0.9, 0.5, 0.3, -0.4), (0.0, 0.8))
    return d.drop(columns=["trust", "team_id"]).assign(team=[f"M{t:03d}" for t in tm])


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(20260311)
    sets = {"two_level": two_level(rng)}
    tr, tm, loc = _nested(rng, 40, (2, 12), (1, 15))
    sets["three_level"] = _frame(rng, tr, tm, loc, (-0.6, 0.4, 0.35, -0.3), (0.5, 0.7))
    tr, tm, loc = _nested(rng, 60, (4, 14), (2, 14))
    sets["rare"] = _frame(rng, tr, tm, loc, (-3.9, 0.5, 0.4, 0.6), (0.4, 0.8))
    for seed in range(1, 200):
        r = np.random.default_rng(seed)
        tr, tm, loc = _nested(r, 30, (8, 8), (6, 6))
        d = _frame(r, tr, tm, loc, (-0.5, 0.3, 0.2, -0.2), (0.0, 0.6))
        # the first seed whose naive between-trust variance of team log-odds is below its sampling noise
        g = d.groupby("trust")["y"].mean()
        if g.var() < d.groupby("team_id")["y"].mean().var() / 8 * 0.6:
            sets["zero_trust"] = d
            break
    tr, tm, loc = _nested(rng, 30, (3, 9), (3, 12))
    sets["probit"] = _frame(rng, tr, tm, loc, (-0.3, 0.4, 0.2, -0.25), (0.35, 0.5), link="probit")
    tr, tm, loc = _nested(rng, 30, (3, 9), (2, 10))
    n = len(tr)
    days = rng.integers(30, 365, size=n)
    x = np.round(rng.normal(size=n), 4)
    tt = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])
    eta = np.log(days / 100.0) + 0.2 + 0.3 * x + 0.25 * (tt == 1) - 0.1 * (tt == 2) \
        + rng.normal(0, 0.3, tr.max() + 1)[tr] + rng.normal(0, 0.4, tm.max() + 1)[tm]
    sets["poisson"] = pd.DataFrame({"absence": rng.poisson(np.exp(eta)), "x": x, "team_type": TYPES[tt],
                                    "days": days, "trust": [f"T{t:02d}" for t in tr], "team": loc})
    teams = np.repeat(np.arange(80), 3)
    cell = np.tile(np.arange(3), 80)
    size = rng.integers(1, 12, size=teams.size)
    eta = -1.0 + np.array([0.0, 0.45, -0.3])[cell] + rng.normal(0, 0.6, 80)[teams]
    k = rng.binomial(size, special.expit(eta))
    sets["trials"] = pd.DataFrame({"k": k, "n": size, "team_type": TYPES[cell],
                                   "team": [f"M{t:02d}" for t in teams]})
    cl = np.repeat(np.arange(300), rng.integers(1, 4, size=300))
    x = np.round(rng.normal(size=cl.size), 4)
    eta = -0.5 + 0.6 * x + rng.normal(0, 2.3, 300)[cl]
    sets["agq_single"] = pd.DataFrame({"y": (rng.random(cl.size) < special.expit(eta)).astype(int), "x": x,
                                       "team": [f"C{c:03d}" for c in cl]})
    tr, tm, loc = _nested(rng, 4, (3, 3), (1, 4))
    sets["agq_small"] = _frame(rng, tr, tm, loc, (-0.2, 0.7, 0.0, 0.0), (1.0, 1.5)).drop(columns=["team_type"])
    # drawn from its own generator, so that the data sets above do not change
    r = np.random.default_rng([11, 3])
    for _ in range(5):  # the fifth replicate of the "larger teams, rare" scenario
        n_trust = 40
        teams = r.integers(10, 21, size=n_trust)
        team_trust = np.repeat(np.arange(n_trust), teams)
        staff = r.integers(15, 26, size=team_trust.size)
        team = np.repeat(np.arange(team_trust.size), staff)
        trust = team_trust[team]
        x = r.normal(size=team.size)
        real = (r.random(team.size) < 0.4).astype(float)
        eta = (-3.5 + 0.5 * x + 0.4 * real + r.normal(0, 0.5, n_trust)[trust]
               + r.normal(0, 1.0, team_trust.size)[team])
        y = (r.random(team.size) < special.expit(eta)).astype(int)
    sets["rare_flat"] = pd.DataFrame({"y": y, "x": np.round(x, 4), "real": real.astype(int), "trust": trust,
                                      "team": team})
    r = np.random.default_rng(3)  # its own generator: the data sets above do not change
    n_team = 150
    team = np.repeat(np.arange(n_team), r.integers(5, 20, n_team))
    x = np.round(r.normal(size=team.size), 4)
    b = r.normal(size=(n_team, 2)) @ np.array([[0.8, 0.0], [0.2, 0.4]]).T
    eta = -0.5 + 0.6 * x + b[team, 0] + b[team, 1] * x
    sets["slopes"] = pd.DataFrame({"y": (r.random(team.size) < special.expit(eta)).astype(int), "x": x,
                                   "team": [f"M{t:03d}" for t in team]})
    for name, d in sets.items():
        d.to_csv(OUT / f"{name}.csv", index=False)
        print(name, d.shape)


if __name__ == "__main__":
    main()
