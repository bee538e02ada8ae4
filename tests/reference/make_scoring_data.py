"""Write the input data for psych_scoreitems.R (deterministic; run from the repository root).

    python tests/reference/make_scoring_data.py
    Rscript tests/reference/psych_scoreitems.R

scoring_data/sim_items.csv: the engagement and psychological-safety items of
``national_survey("tiny", rng=5)`` (1..5 and 1..7 codes, NaN written as NA).
scoring_data/random_items.csv: 240 respondents x 12 items on 1..5 with 20%
missing answers and a few respondents missing every item of a subscale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import teamculture as tc

OUT = Path(__file__).parent / "scoring_data"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    sim = tc.simulate.national_survey("tiny", rng=5)
    cols = [f"{p}{k}" for p in ("mot", "inv", "adv") for k in (1, 2, 3)] + [f"ps{k}" for k in range(1, 8)]
    sim.staff[cols].to_csv(OUT / "sim_items.csv", index=False, na_rep="NA", float_format="%.0f")

    rng = np.random.default_rng(20261126)
    n, p = 240, 12
    latent = rng.normal(size=(n, 1)) + rng.normal(scale=0.8, size=(n, p))
    x = np.clip(np.round(3 + 1.2 * latent), 1, 5)
    x[rng.random((n, p)) < 0.2] = np.nan
    x[:6, 0:4] = np.nan  # some respondents answer no item of subscale "a"
    df = pd.DataFrame(x, columns=[f"i{k}" for k in range(1, p + 1)])
    df.to_csv(OUT / "random_items.csv", index=False, na_rep="NA", float_format="%.0f")


if __name__ == "__main__":
    main()
