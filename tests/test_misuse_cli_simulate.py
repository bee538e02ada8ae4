"""Misuse suite of the simulator (framework: tests/_misuse.py).

The command line's bad arguments (usage message, exit code 2, no traceback) are tested in
tests/test_cli.py: ``main`` is not a public function of the package namespace.
"""

from __future__ import annotations

import numpy as np
import pytest
from _misuse import Case, case_id, run_case

from teamculture.simulate import OutcomeModel, SimulationParameters, national_survey, outcome_truth, staff_outcomes

_STAFF = national_survey("tiny", rng=3).staff

CASES = [
    Case(national_survey, lambda: national_survey("Small"), "input", "size-letter-case",
         raises=(ValueError, r"`size` must be one of \['national', 'small', 'tiny'\]; got 'Small'. Did you mean 'small'")),
    Case(national_survey, lambda: national_survey(5), "input", "size-number",
         raises=(ValueError, r"`size` must be one of \['national', 'small', 'tiny'\]; got 5")),
    Case(national_survey, lambda: national_survey("tiny", rng=-1), "input", "negative-seed",
         raises=(ValueError, r"`rng` must be a non-negative integer seed; got -1")),
    Case(national_survey, lambda: national_survey("tiny", rng="2023"), "input", "seed-as-text",
         raises=(TypeError, r"`rng` must be None, a non-negative int seed or a numpy.random.Generator; got str")),
    Case(national_survey, lambda: national_survey("tiny", rng=np.random.SeedSequence(1)), "input", "seed-sequence",
         raises=(TypeError, r"`rng` must be None, a non-negative int seed or a numpy.random.Generator")),
    Case(national_survey, lambda: national_survey("tiny", sigma=0.5), "input", "unknown-parameter",
         raises=(TypeError, r"`sigma` is neither an argument of national_survey nor a field of "
                            r"SimulationParameters. Did you mean 'sigma2'")),
    Case(national_survey, lambda: national_survey("tiny", tau2_team=float("nan")), "input", "nan-variance",
         raises=(ValueError, r"`tau2_team` must be a finite number; got nan")),
    Case(national_survey, lambda: national_survey("tiny", real_team_prevalence=1.0), "input", "prevalence-one",
         raises=(ValueError, r"`real_team_prevalence` must lie in \(0, 1\); got 1.0")),
    Case(national_survey, lambda: national_survey("tiny", min_team_size=2.5), "input", "fractional-team-size",
         raises=(TypeError, r"`min_team_size` must be an integer; got 2.5")),
    Case(national_survey, lambda: national_survey(n_trusts=3, n_teams=10, n_staff=15), "input", "too-few-staff",
         raises=(ValueError, r"`n_staff` \(15\) must be at least `min_team_size` x `n_teams` \(2 x 10 = 20\)")),
    Case(national_survey, lambda: national_survey("tiny", n_years=0), "input", "no-years",
         raises=(ValueError, r"`n_years` must be an integer >= 1; got 0")),
    Case(national_survey, lambda: national_survey("tiny", params={"tau2_team": 0.1}), "input", "params-dict",
         raises=(TypeError, r"`params` must be a SimulationParameters; got dict")),
    Case(national_survey, lambda: national_survey("tiny", rng=1, n_years=1, params=SimulationParameters(),
                                                  tau2_team=0.0), "f", "no-team-variance-is-allowed",
         check=lambda s: s.params.tau2_team == 0.0 and np.all(s.teams["true_effect"] == 0.0)),
    # ---------------------------------------------------------------- staff_outcomes / outcome_truth
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF.drop(columns=["team_type"])), "input", "no-team-type",
         raises=(ValueError, r"`staff` must have the columns .*missing \['team_type'\]")),
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF.assign(team_type="solo")), "input", "unknown-team-type",
         raises=(ValueError, r"`staff` column 'team_type' must hold 'real', 'pseudo' or 'none'; got \['solo'\]")),
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF.assign(team=_STAFF["team"].astype(object).where(
         _STAFF.index != 5))), "f", "missing-team-label",
         raises=(ValueError, r"`staff` column 'team' has 1 missing value")),
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF.iloc[:0]), "f", "no-rows",
         raises=(ValueError, r"`staff` has no rows")),
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF, missing_rate=1.5), "input", "missing-rate-above-one",
         raises=(ValueError, r"`missing_rate`")),
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF, models=(OutcomeModel("y", "t", 1.0, 1, 1, 1, 0, 0),)),
         "g", "prevalence-one", raises=(ValueError, r"`models\['y'\]\.prevalence`")),
    # team labels reused across trusts are different teams: same draws as with unique labels
    Case(staff_outcomes, lambda: staff_outcomes(_STAFF.assign(team=_STAFF["team_in_trust"]), rng=4), "k",
         "team-labels-reused-across-trusts",
         check=lambda a: a.equals(staff_outcomes(_STAFF, rng=4))),
    Case(outcome_truth, lambda: outcome_truth(models=[]), "input", "no-models",
         raises=(TypeError, r"`models` must be a non-empty sequence of OutcomeModel; got list")),
    Case(outcome_truth, lambda: outcome_truth(models={"a": 1}), "input", "dict",
         raises=(TypeError, r"`models` must be a non-empty sequence of OutcomeModel; got dict")),
    Case(outcome_truth, lambda: outcome_truth(models=(OutcomeModel("y", "t", 0.2, 1, 1, 1, 0, 0),) * 2), "input",
         "repeated-item", raises=(ValueError, r"`models` must have distinct item ids; repeated: \['y'\]")),
    Case(outcome_truth, lambda: outcome_truth(models=(OutcomeModel("y", "t", 0.2, -1.0, 1, 1, 0, 0),)), "g",
         "negative-odds-ratio", raises=(ValueError, r"`models\['y'\]\.or_pseudo` must lie in \(0, inf\); got -1\.0")),
    Case(outcome_truth, lambda: outcome_truth(models=(OutcomeModel("y", "t", 0.2, 1, 1, 1, "0.3", 0),)), "input",
         "sd-as-text", raises=(TypeError, r"`models\['y'\]\.sd_trust` must be a real number; got '0\.3'")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)
