"""Write the staff table that ``effects.R`` fits two mixed models to (deterministic).

Run from the repository root::

    python tests/reference/make_effects_data.py

Writes ``tests/reference/effects_data/staff.csv`` from
``teamculture.simulate.national_survey("tiny", rng=5)``: ``trust``, ``team``,
``tenure``, ``real`` (1 if the respondent is in a real team, else 0) and
``y`` (the latent engagement, rounded to six decimals so that R and Python
parse the same doubles).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from teamculture.simulate import national_survey

OUT = Path(__file__).parent / "effects_data"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    staff = national_survey("tiny", rng=5).staff
    out = pd.DataFrame(
        {
            "trust": staff["trust"].astype(str),
            "team": staff["team"].astype(str),
            "tenure": staff["tenure"],
            "real": (staff["team_type"] == "real").astype(int),
            "y": staff["latent_engagement"].round(6),
        }
    )
    out.to_csv(OUT / "staff.csv", index=False)


if __name__ == "__main__":
    main()
