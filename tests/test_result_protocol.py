"""Every public result class, built by a real call, follows the protocol of teamculture.results.

Pickles and compares equal after the round trip (and unequal to a result of other data); summary()
renders as text, HTML, LaTeX and Markdown with no "nan" cell; to_frame() is a DataFrame;
to_dict() holds n_obs/n_dropped/n_groups; confidence_interval() either answers at the stored level
and at another level, or says clearly that the result has none.
"""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import teamculture as tc
from teamculture.results import ConfidenceInterval, Result, Summary
from teamculture.simulate import simulate_culture, simulate_engagement


@pytest.fixture(scope="module")
def survey():
    return tc.national_survey("tiny", rng=4)


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn()


def _yes(staff, item):
    """A 0/1 outcome from a simulated yes/no question (1 = Yes), complete rows only."""
    d = staff[staff[item].notna()]
    return d.assign(y=(d[item] == 1.0).astype(float))


BUILDERS = {
    "SimulatedSurvey": lambda s, k: tc.national_survey("tiny", rng=k),
    "GroupScores": lambda s, k: tc.score_groups(s.staff.iloc[k:], "nhs-engagement", by="team"),
    "AlphaResult": lambda s, k: tc.cronbach_alpha(s.staff[["mot1", "mot2", "mot3"]].iloc[k:], scale=(1, 5)),
    "OmegaResult": lambda s, k: tc.omega(s.staff[["mot1", "mot2", "mot3", "inv1", "inv2", "inv3"]].iloc[k:],
                                         n_factors=2, scale=(1, 5)),
    "MultilevelReliabilityResult": lambda s, k: tc.multilevel_reliability(
        s.staff[["mot1", "mot2", "mot3"]].iloc[k:], s.staff["team"].iloc[k:], scale=(1, 5)),
    "NullSimulation": lambda s, k: tc.rwg_sim(5, (1, 5), n_resamples=200, rng=k),
    "RGRResult": lambda s, k: tc.rgr_agree(s.staff["mot1"], s.staff["team"], n_resamples=10, rng=k),
    "ICCResult": lambda s, k: tc.icc(s.staff["latent_engagement"].iloc[k:], s.staff[["trust", "team"]].iloc[k:]),
    "WABAResult": lambda s, k: tc.waba(s.staff["mot1"].iloc[k:], s.staff["mot2"].iloc[k:], s.staff["team"].iloc[k:]),
    "AggregateResult": lambda s, k: tc.aggregate(s.staff.iloc[k:], ["mot1", "mot2"], by="team", scale=(1, 5)),
    "MixedResult": lambda s, k: tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", s.staff.iloc[k:]),
    "R2Result": lambda s, k: tc.r_squared(tc.mixed("latent_engagement ~ tenure + (1 | trust/team)",
                                                   s.staff.iloc[k:])),
    "CompareResult": lambda s, k: tc.compare(
        tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", s.staff.iloc[k:], reml=False),
        tc.mixed("latent_engagement ~ 1 + (1 | trust/team)", s.staff.iloc[k:], reml=False)),
    "OutcomeFit": lambda s, k: tc.mortality_glm(s.trusts.iloc[k:], predictors="real_team_pct"),
    "FunnelResult": lambda s, k: tc.funnel_limits(s.trusts["observed_deaths"].iloc[k:],
                                                  s.trusts["expected_deaths"].iloc[k:]),
    "ShareEffect": lambda s, k: tc.share_effect(-0.0067 - k * 1e-4, se=0.0024, delta=5, expected_deaths=1212),
    "ModelTable": lambda s, k: tc.model_table(
        [tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", s.staff.iloc[k:]),
         tc.mortality_glm(s.trusts.iloc[k:], predictors="real_team_pct"),
         tc.glmm("y ~ tenure + (1 | trust/team)", _yes(s.staff.iloc[k:], "out_stress"))]),
    "VarianceIntervals": lambda s, k: tc.mixed("latent_engagement ~ tenure + (1 | trust/team)",
                                               s.staff.iloc[k:]).variance_intervals(),
    "CultureProfile": lambda s, k: tc.culture_profile(s.staff.iloc[k:], "nhs-culture-elements",
                                                      by=["trust", "team"]),
    "MediationResult": lambda s, k: tc.mediate(
        simulate_engagement(n_trusts=40, rng=k).trusts, predictors="leadership",
        mediators="engagement", outcome="absence_rate", n_resamples=50, rng=k),
    "GLMMResult": lambda s, k: tc.glmm("y ~ tenure + (1 | trust/team)", _yes(s.staff.iloc[k:], "out_stress")),
    "GLMMCompareResult": lambda s, k: tc.glmm("y ~ tenure + (1 | trust/team)", _yes(s.staff.iloc[k:], "out_stress"))
    .compare(tc.glmm("y ~ 1 + (1 | trust/team)", _yes(s.staff.iloc[k:], "out_stress"))),
    "CultureSimulation": lambda s, k: simulate_culture(n_trusts=4, teams_per_trust=2, staff_per_team=4, rng=k),
    "EngagementSimulation": lambda s, k: simulate_engagement(n_trusts=6, staff_per_trust=5 + k, rng=k),
    "PowerResult": lambda s, k: tc.power_three_level(0.3 + k / 10, n_trusts=40, teams_per_trust=10,
                                                     staff_per_team=8, icc_team=0.1, icc_trust=0.02),
}


def test_every_result_class_has_a_builder():
    from teamculture import results

    classes = {n for n in results.__all__ if isinstance(getattr(results, n), type)
               and issubclass(getattr(results, n), Result) and getattr(results, n) is not Result}
    assert classes == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_result_protocol(name, survey):
    build = BUILDERS[name]
    a = _quiet(lambda: build(survey, 0))
    b = _quiet(lambda: build(survey, 1))
    assert type(a).__name__ == name and isinstance(a, Result)
    # pickles, and compares by value
    back = pickle.loads(pickle.dumps(a))
    assert back == a and not (back != a)
    assert a != b
    # counts
    d = a.to_dict()
    assert {"n_obs", "n_dropped", "n_groups"} <= set(d)
    assert a.n_dropped >= 0
    # summaries in every format, no "nan" shown
    s = a.summary()
    assert isinstance(s, Summary)
    text = str(a)
    assert text == str(s) and len(text) > 20
    assert "nan" not in text.lower().split(), text
    assert s.as_html().startswith("<div") and "\\toprule" in s.as_latex() or not s.tables
    assert isinstance(s.as_markdown(), str)
    assert isinstance(a.to_frame(), pd.DataFrame)
    # intervals: at the stored level and at another one, or a clear refusal
    try:
        ci = a.confidence_interval()
    except TypeError as exc:  # no estimate with sampling uncertainty
        assert "has no confidence interval" in str(exc)
        return
    except ValueError as exc:  # intervals need an option at fit time: the message names it
        assert re.search(r"`\w+`", str(exc)), str(exc)
        return
    other = a.confidence_interval(confidence_level=0.5)
    if isinstance(ci, ConfidenceInterval):
        assert ci.low <= ci.high
        assert ci.low <= other.low <= other.high <= ci.high or np.isnan(ci.low)
    else:
        assert list(ci.columns) == ["ci_low", "ci_high"]
        ok = ci.notna().all(axis=1)
        assert (ci.loc[ok, "ci_low"] <= other.loc[ok, "ci_low"] + 1e-12).all()
        assert (other.loc[ok, "ci_high"] <= ci.loc[ok, "ci_high"] + 1e-12).all()
