"""Write ``staff_survey_export.csv``, the tutorial's stand-in for a survey export (simulated, not real data).

Drawn by the package's simulator (12 trusts, 72 teams, 900 staff, seed 2024) and renamed the way
an export from a survey platform might look: question codes in capitals, the organisation and the
team under their own names, and columns the tutorial does not use. Run from the repository root::

    python docs/data/make_staff_survey_export.py
"""

from __future__ import annotations

from pathlib import Path

import teamculture as tc

RENAME = {
    "staff_id": "Respondent ID", "trust": "Organisation", "team": "Team", "occupation": "Staff group",
    "tenure": "Years in post",
    "mot1": "Q2A", "mot2": "Q2B", "mot3": "Q2C", "inv1": "Q3C", "inv2": "Q3D", "inv3": "Q3F",
    "adv1": "Q25A", "adv2": "Q25C", "adv3": "Q25D",
}


def main() -> None:
    staff = tc.national_survey(n_trusts=12, n_teams=72, n_staff=900, rng=2024).staff
    export = staff[list(RENAME)].rename(columns=RENAME)
    out = Path(__file__).with_name("staff_survey_export.csv")
    export.to_csv(out, index=False, float_format="%.10g")
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(export)} rows)")


if __name__ == "__main__":
    main()
