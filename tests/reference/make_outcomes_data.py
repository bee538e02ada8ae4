"""Write the trust tables that ``outcomes.R`` fits (deterministic).

Run from the repository root::

    python tests/reference/make_outcomes_data.py

Writes ``tests/reference/outcomes_data/trusts.csv`` (one row per trust: the
survey-year cross-section) and ``panel.csv`` (trust x year) from
``teamculture.simulate.national_survey(n_trusts=150, n_teams=1500,
n_staff=15000, rng=7)``, and ``trusts20.csv``: the 20 trusts of
``national_survey("small", rng=3)`` (a small cross-section, where the t and
normal reference distributions of quasi-Poisson tests differ visibly). Shares
and absence rates are rounded to six
decimals so that R and Python parse exactly the same doubles. The data are
ours (generated here), so they are committed next to the R outputs.
"""

from __future__ import annotations

from pathlib import Path

from teamculture.simulate import national_survey

OUT = Path(__file__).parent / "outcomes_data"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    sim = national_survey(n_trusts=150, n_teams=1500, n_staff=15000, rng=7)
    trusts = sim.trusts[["real_team_pct", "absence_rate", "expected_deaths", "observed_deaths"]].copy()
    trusts["real_team_pct"] = trusts["real_team_pct"].round(6)
    trusts["absence_rate"] = trusts["absence_rate"].round(6)
    trusts.to_csv(OUT / "trusts.csv")
    panel = sim.panel[["real_team_pct", "expected_deaths", "observed_deaths"]].copy()
    panel["real_team_pct"] = panel["real_team_pct"].round(6)
    panel.to_csv(OUT / "panel.csv")
    small = national_survey("small", rng=3).trusts
    small = small[["real_team_pct", "absence_rate", "expected_deaths", "observed_deaths"]].copy()
    small["real_team_pct"] = small["real_team_pct"].round(6)
    small["absence_rate"] = small["absence_rate"].round(6)
    small.to_csv(OUT / "trusts20.csv")


if __name__ == "__main__":
    main()
