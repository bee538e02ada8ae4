"""Write the small data sets that ``agreement.R`` analyses (deterministic).

Run from the repository root::

    python tests/reference/make_agreement_data.py

Files in ``tests/reference/agreement_data/`` (integers, or continuous values
rounded to six decimals, so R and Python read the same doubles):

items.csv
    250 respondents in 30 unbalanced groups (sizes 2-15) answering three
    5-point items ``i1``-``i3`` (a group effect plus individual noise, cut
    into 1..5; about 6% missing) and two 7-point items ``p1``, ``p2``;
    continuous ``y`` and ``x`` (group and individual parts) for ICC and
    WABA. Hand-made groups are appended: ``solo`` (one member),
    ``same`` (unanimous), ``edge`` (item 1 = [1, 1, 1, 1, 5], the awg
    boundary), ``hole`` (one member with every item missing), ``top``
    (everyone answers 5 on item 1).
three_balanced.csv
    6 trusts x 5 teams x 8 staff; team numbers 1..5 reused in every trust.
three_unbalanced.csv
    8 trusts with 3-9 teams of 2-15 staff; team labels unique.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "agreement_data"


def items(rng: np.random.Generator) -> pd.DataFrame:
    sizes = rng.integers(2, 16, size=30)
    sizes = np.round(sizes * 250 / sizes.sum()).astype(int)
    sizes[-1] += 250 - sizes.sum()
    grp = np.repeat([f"G{g:02d}" for g in range(1, 31)], sizes)
    n = grp.size
    codes = pd.factorize(grp)[0]
    u = rng.normal(0, 0.6, 30)[codes]
    lat = u[:, None] + rng.normal(0, 1.0, (n, 3))
    i = np.clip(np.round(3.2 + lat), 1, 5)
    p = np.clip(np.round(4.5 + 1.2 * (u[:, None] + rng.normal(0, 1.0, (n, 2)))), 1, 7)
    miss = rng.random((n, 3)) < 0.06
    i[miss] = np.nan
    y = np.round(u + rng.normal(0, 1, n), 6)
    x = np.round(0.5 * u + 0.8 * rng.normal(0, 0.5, 30)[codes] + rng.normal(0, 1, n) + 0.3 * y, 6)
    df = pd.DataFrame({"grp": grp, "i1": i[:, 0], "i2": i[:, 1], "i3": i[:, 2],
                       "p1": p[:, 0], "p2": p[:, 1], "y": y, "x": x})
    extra = pd.DataFrame({
        "grp": ["solo"] + ["same"] * 4 + ["edge"] * 5 + ["hole"] * 4 + ["top"] * 3,
        "i1": [3, 4, 4, 4, 4, 1, 1, 1, 1, 5, 2, 3, np.nan, 4, 5, 5, 5],
        "i2": [2, 3, 3, 3, 3, 2, 3, 2, 2, 3, 2, 4, np.nan, 4, 4, 5, 3],
        "i3": [5, 2, 2, 2, 2, 1, 2, 3, 4, 5, 3, 3, np.nan, 2, 4, 4, 5],
        "p1": [4, 5, 5, 5, 5, 1, 2, 3, 4, 7, 6, 6, 5, 7, 4, 4, 4],
        "p2": [3, 6, 6, 6, 6, 2, 2, 2, 2, 2, 5, 6, 5, 6, 1, 7, 4],
        "y": [0.1, 0.5, 0.7, 0.2, 0.4, -1.2, -0.3, 0.8, 1.1, 0.0, 0.3, 0.25, 0.6, -0.4, 1.5, 1.2, 0.9],
        "x": [0.2, 0.1, 0.3, -0.2, 0.0, -0.9, 0.4, 0.5, 0.7, -0.1, 0.2, 0.35, 0.1, -0.5, 1.1, 0.8, 1.3],
    })
    return pd.concat([df, extra], ignore_index=True)


def three_balanced(rng: np.random.Generator) -> pd.DataFrame:
    trust = np.repeat(np.arange(1, 7), 40)
    team = np.tile(np.repeat(np.arange(1, 6), 8), 6)
    u = rng.normal(0, np.sqrt(0.2), 6)[trust - 1]
    v = rng.normal(0, np.sqrt(0.3), 30)[(trust - 1) * 5 + team - 1]
    y = np.round(u + v + rng.normal(0, 1, 240), 6)
    return pd.DataFrame({"trust": [f"T{t}" for t in trust], "team": team, "y": y})


def three_unbalanced(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for t in range(1, 9):
        ut = rng.normal(0, np.sqrt(0.15))
        for m in range(1, int(rng.integers(3, 10)) + 1):
            vm = rng.normal(0, np.sqrt(0.25))
            for _ in range(int(rng.integers(2, 16))):
                rows.append((f"T{t}", f"T{t}-{m}", round(ut + vm + rng.normal(0, 1), 6)))
    return pd.DataFrame(rows, columns=["trust", "team", "y"])


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(20240415)
    items(rng).to_csv(OUT / "items.csv", index=False)
    three_balanced(rng).to_csv(OUT / "three_balanced.csv", index=False)
    three_unbalanced(rng).to_csv(OUT / "three_unbalanced.csv", index=False)


if __name__ == "__main__":
    main()
