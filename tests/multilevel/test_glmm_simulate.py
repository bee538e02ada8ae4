"""The staff-outcome simulator, its catalogue questions and the demo stage (glmm recovers the truth)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

import teamculture as tc
from teamculture.simulate import DEFAULT_OUTCOMES, OutcomeModel, outcome_truth, staff_outcomes
from teamculture.instruments import get
from teamculture.multilevel import glmm


@pytest.fixture(scope="module")
def survey():
    return tc.national_survey(n_trusts=40, n_teams=800, n_staff=24_000, rng=5)


def test_codes_missingness_and_determinism(survey):
    a = staff_outcomes(survey.staff, rng=3)
    b = staff_outcomes(survey.staff, rng=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [m.item for m in DEFAULT_OUTCOMES]
    assert a.index.equals(survey.staff.index)
    assert set(np.unique(a.to_numpy()[~np.isnan(a.to_numpy())])) == {1.0, 2.0}
    assert abs(float(a.isna().mean().mean()) - 0.02) < 0.005  # binomial sd ~0.0004
    c = staff_outcomes(survey.staff, rng=4)
    assert not c.equals(a)


def test_truth_table_closed_forms():
    t = outcome_truth()
    m = DEFAULT_OUTCOMES[0]
    assert t.loc[m.item, "intercept"] == pytest.approx(math.log(m.prevalence / (1 - m.prevalence)), rel=1e-15)
    total = m.sd_trust**2 + m.sd_team**2 + math.pi**2 / 3
    assert t.loc[m.item, "vpc_team"] == pytest.approx(m.sd_team**2 / total, rel=1e-15)
    assert t.loc[m.item, "mor_team"] == pytest.approx(math.exp(math.sqrt(2) * m.sd_team * 0.6744897501960817),
                                                      rel=1e-15)


def test_glmm_recovers_the_simulated_odds_ratios(survey):
    # one seeded draw: the truths lie inside the 99.9% intervals (a false failure has probability
    # ~0.1% per assertion, so the test says something without depending on a lucky seed)
    model = OutcomeModel("y", "test", 0.25, 1.5, 1.25, 1.0, 0.3, 0.5)
    ans = staff_outcomes(survey.staff, models=(model,), rng=9, missing_rate=0.0)
    d = survey.staff.assign(y=(ans["y"] == 1).astype(float))
    fit = glmm("y ~ team_type + (1 | trust/team)", d)
    c = fit.contrasts("team_type", pairs=[("pseudo", "real"), ("none", "real")], confidence_level=0.999)
    for pair, ratio in (("pseudo vs real", 1.5), ("none vs real", 1.25)):
        assert c.loc[pair, "ci_low"] <= math.log(ratio) <= c.loc[pair, "ci_high"]
    mor = fit.median_odds_ratio(confidence_level=0.999)
    true_mor = math.exp(math.sqrt(2) * 0.5 * 0.6744897501960817)
    assert mor.loc["trust:team", "ci_low"] <= true_mor <= mor.loc["trust:team", "ci_high"]


def test_validation(survey):
    with pytest.raises(ValueError, match="`staff` must have the columns"):
        staff_outcomes(survey.staff.drop(columns=["team_type"]))
    with pytest.raises(ValueError, match="`staff` column 'team_type'"):
        staff_outcomes(survey.staff.assign(team_type="solo"))
    with pytest.raises(ValueError, match="`missing_rate`"):
        staff_outcomes(survey.staff, missing_rate=1.5)
    with pytest.raises(ValueError, match="prevalence"):
        staff_outcomes(survey.staff, models=(OutcomeModel("y", "t", 1.0, 1, 1, 1, 0, 0),))


def test_catalogue_questions_match_the_simulator():
    inst = get("nhs-staff-outcomes")
    assert inst.status == "reconstructed" and inst.unconfirmed
    assert [it.id for it in inst.items] == [m.item for m in DEFAULT_OUTCOMES]
    assert all(it.scale == "yesno" for it in inst.items)
    assert inst.scales["yesno"].codes == (1.0, 2.0)


def test_demo_stage_reports_truth_coverage():
    from teamculture._demo import DemoContext
    from teamculture._demo import staff_outcomes as stage

    out = io.StringIO()
    ctx = DemoContext(survey=tc.national_survey("small", rng=2023), stream=out)
    stage.run(ctx)
    text = out.getvalue()
    assert "pseudo" in text and "MOR trust" in text and "truth inside the 95% intervals" in text
    assert set(ctx.results["staff_outcome_fits"]) == {m.item for m in DEFAULT_OUTCOMES}
    assert all(f.converged for f in ctx.results["staff_outcome_fits"].values())
