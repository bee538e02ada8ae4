"""Write the small data sets that ``psych_reliability.R`` analyses (deterministic).

Run from the repository root::

    python tests/reference/make_reliability_data.py

Each data set is a CSV in ``tests/reference/reliability_data/`` (integers or
values rounded to four decimals, so R and Python read the same doubles).

Data sets
---------
likert6     250 respondents x 6 items on 1..5 from a one-factor model; item
            ``A3`` is negatively worded (reverse-keyed). Every item uses both
            1 and 5, so psych's observed-min/max reversal equals reversal with
            the declared bounds (1, 5).
likert6_na  the same with about 8% of responses missing (no respondent
            misses every item).
bifactor9   400 respondents x 9 continuous items: a general factor plus three
            group factors (items 1-3, 4-6, 7-9).
multilevel  45 groups of 2-14 members (unbalanced), 4 items on 1..7 with
            group-level and individual-level common factors; column ``g``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "reliability_data"


def likert6(rng: np.random.Generator) -> pd.DataFrame:
    n = 250
    f = rng.standard_normal(n)
    lam = np.array([0.8, 0.7, -0.6, 0.75, 0.5, 0.65])
    z = f[:, None] * lam + rng.standard_normal((n, 6)) * np.sqrt(1 - lam**2)
    x = np.clip(np.round(3 + 1.2 * z), 1, 5).astype(int)
    return pd.DataFrame(x, columns=[f"A{i}" for i in range(1, 7)])


def likert6_na(base: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    x = base.to_numpy(dtype=float, copy=True)
    mask = rng.random(x.shape) < 0.08
    all_missing = mask.all(axis=1)
    mask[all_missing, 0] = False
    x[mask] = np.nan
    return pd.DataFrame(x, columns=base.columns)


def bifactor9(rng: np.random.Generator) -> pd.DataFrame:
    n = 400
    g = rng.standard_normal(n)
    s = rng.standard_normal((n, 3))
    gl = np.array([0.6, 0.5, 0.55, 0.5, 0.6, 0.45, 0.55, 0.5, 0.6])
    sl = np.array([0.5, 0.45, 0.4, 0.5, 0.4, 0.55, 0.45, 0.5, 0.4])
    grp = np.repeat([0, 1, 2], 3)
    x = g[:, None] * gl + s[:, grp] * sl + rng.standard_normal((n, 9)) * np.sqrt(1 - gl**2 - sl**2)
    return pd.DataFrame(np.round(x, 4), columns=[f"V{i}" for i in range(1, 10)])


def multilevel(rng: np.random.Generator) -> pd.DataFrame:
    sizes = rng.integers(2, 15, size=45)
    g = np.repeat(np.arange(1, 46), sizes)
    n = len(g)
    fb = rng.standard_normal(45)[g - 1]
    fw = rng.standard_normal(n)
    lb = np.array([0.5, 0.4, 0.45, 0.35])
    lw = np.array([0.9, 0.8, 1.0, 0.7])
    eb = rng.standard_normal((45, 4))[g - 1] * 0.4
    z = fb[:, None] * lb + eb + fw[:, None] * lw + rng.standard_normal((n, 4)) * 0.8
    x = np.clip(np.round(4 + z), 1, 7).astype(int)
    df = pd.DataFrame(x, columns=["m1", "m2", "m3", "m4"])
    df.insert(0, "g", [f"G{v:02d}" for v in g])
    return df


def main() -> None:
    rng = np.random.default_rng(20261126)
    OUT.mkdir(exist_ok=True)
    base = likert6(rng)
    for col in base:
        if not (base[col].min() == 1 and base[col].max() == 5):
            raise RuntimeError(f"item {col} does not use both scale ends")
    base.to_csv(OUT / "likert6.csv", index=False)
    likert6_na(base, rng).to_csv(OUT / "likert6_na.csv", index=False, na_rep="NA")
    bifactor9(rng).to_csv(OUT / "bifactor9.csv", index=False)
    multilevel(rng).to_csv(OUT / "multilevel.csv", index=False)


if __name__ == "__main__":
    main()
