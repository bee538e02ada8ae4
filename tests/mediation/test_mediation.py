"""mediate: closed forms (reduced form, trust means), simulation truth, invariances and the result protocol.

The R oracles (lavaan, lm, glm, sandwich) are in test_lavaan.py; interval coverage at the nominal rate is
studied in benchmarks/coverage_mediation.py (too long for the suite).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture.mediation import EFFECT_COLUMNS, MediationResult, mediate
from teamculture.results import COEF_COLUMNS
from teamculture.simulate import ANTECEDENTS, simulate_engagement

PREDICTORS = list(ANTECEDENTS)


@pytest.fixture(scope="module")
def trusts():
    return simulate_engagement(n_trusts=150, rng=5)


def _ols(y, X):
    X = np.column_stack([np.ones(len(y)), X])
    return np.linalg.lstsq(X, y, rcond=None)[0]


def test_total_effect_is_the_reduced_form_coefficient(trusts):
    # in a saturated recursive linear system, direct + all indirect effects = the coefficient of X in the
    # regression of the outcome on the predictors and covariates alone (an algebraic identity of OLS)
    d = trusts.trusts
    res = mediate(d, predictors=PREDICTORS[:3], mediators=[["engagement"], ["wellbeing"]], outcome="absence_rate",
                  covariates=PREDICTORS[3:], method="monte_carlo", n_resamples=100, rng=1)
    reduced = _ols(d["absence_rate"].to_numpy(), d[PREDICTORS].to_numpy())
    for j, x in enumerate(PREDICTORS[:3]):
        assert_allclose(res.effects.loc[(x, "total", ""), "estimate"], reduced[1 + j], rtol=1e-10)
        parts = res.effects.xs(x, level="predictor")
        assert_allclose(parts.loc[("direct", ""), "estimate"] + parts.loc[("total indirect", ""), "estimate"],
                        parts.loc[("total", ""), "estimate"], rtol=1e-12)


def test_estimates_recover_the_simulated_chain():
    sim = simulate_engagement(n_trusts=3000, rng=7)
    res = mediate(sim.trusts, predictors=PREDICTORS, mediators=[["engagement"], ["wellbeing"]],
                  outcome="absence_rate", method="monte_carlo", n_resamples=2000, rng=8)
    truth = sim.indirect.xs("absence_rate", level="outcome")["value"]
    for (x, path), v in truth.items():
        row = res.effects.loc[(x, "indirect", path)]
        assert abs(row["estimate"] - v) < 4 * row["delta_std_error"], (x, path)
    # the count outcome with its offset
    res = mediate(sim.trusts, predictors=PREDICTORS, mediators="engagement", outcome="observed_deaths",
                  family="quasipoisson", expected="expected_deaths", method="monte_carlo", n_resamples=2000, rng=9)
    for (x, path), v in sim.indirect.xs("observed_deaths", level="outcome")["value"].items():
        row = res.effects.loc[(x, "indirect", path)]
        assert abs(row["estimate"] - v) < 4 * row["delta_std_error"], (x, path)


def test_multilevel_separates_within_and_between_paths():
    sim = simulate_engagement(n_trusts=300, staff_per_trust=60, rng=3)
    staff = sim.staff
    observed = mediate(staff, predictors=PREDICTORS, mediators="engagement", outcome="patient_satisfaction",
                       by="trust", between="observed", method="monte_carlo", n_resamples=50, rng=4)
    # observed means: the between paths are the trust-level regressions on trust means (closed form)
    means = staff.groupby("trust")[PREDICTORS + ["engagement", "patient_satisfaction"]].mean()
    a_b = _ols(means["engagement"].to_numpy(), means[PREDICTORS].to_numpy())
    got = observed.paths.xs(("between", "engagement"), level=("level", "equation")).loc[["Intercept", *PREDICTORS]]
    assert_allclose(got["estimate"], a_b, rtol=1e-10)
    # corrected means (the default): the between covariance of the means minus the mean sampling covariance
    # sigma_w / n_k, sigma_w the pooled within-trust covariance (closed form, Fuller 1987)
    res = mediate(staff, predictors=PREDICTORS, mediators="engagement", outcome="patient_satisfaction", by="trust",
                  method="monte_carlo", n_resamples=500, rng=4)
    cols = PREDICTORS + ["engagement"]
    n_k = staff.groupby("trust").size()
    dev = staff[cols] - staff.groupby("trust")[cols].transform("mean")
    sigma_w = (dev.T @ dev).to_numpy() / (len(staff) - len(n_k))
    S = np.cov(means[cols].to_numpy().T) - sigma_w * np.mean(1.0 / n_k.to_numpy())
    a_star = np.linalg.solve(S[:5, :5], S[:5, 5])
    got = res.paths.xs(("between", "engagement"), level=("level", "equation")).loc[PREDICTORS]
    assert_allclose(got["estimate"], a_star, rtol=1e-9)
    assert res.between == "corrected" and observed.between == "observed"
    # within and between estimates each cover their own truth; they differ from each other (truth: a_W = a_B / 2)
    within = res.paths.xs(("within", "engagement"), level=("level", "equation"))
    between = res.paths.xs(("between", "engagement"), level=("level", "equation"))
    for x in PREDICTORS:
        tw = sim.paths.loc[("within: engagement", x), "value"]
        tb = sim.paths.loc[("between: engagement", x), "value"]
        assert within.loc[x, "ci_low"] <= tw <= within.loc[x, "ci_high"], x
        assert abs(between.loc[x, "estimate"] - tb) < 4 * between.loc[x, "std_error"], x
    # the indirect effect is a_B * b_B, never a_W * b_B
    b = res.paths.loc[("between", "patient_satisfaction", "engagement"), "estimate"]
    for x in PREDICTORS:
        assert_allclose(res.effects.loc[(x, "indirect", "engagement"), "estimate"], between.loc[x, "estimate"] * b,
                        rtol=1e-12)
    assert set(res.reliability.index) == set(PREDICTORS) | {"engagement"}
    assert res.n_groups == 300 and res.design == "multilevel"


def test_trust_level_predictor_has_no_within_path():
    sim = simulate_engagement(n_trusts=60, staff_per_trust=20, rng=12)
    staff = sim.staff.copy()
    staff["programme"] = staff["trust"].map(dict(zip(sim.trusts.index, np.arange(60) % 2))).astype(float)
    res = mediate(staff, predictors=["leadership", "programme"], mediators="engagement", outcome="absence_rate",
                  by="trust", method="monte_carlo", n_resamples=100, rng=1)
    within_terms = res.paths.xs("within", level="level").index.get_level_values("term")
    assert "programme" not in within_terms and "leadership" in within_terms
    assert ("programme", "indirect", "engagement") in res.effects.index


def test_bootstrap_is_reproducible_and_resamples_trusts(trusts):
    kw = dict(predictors="leadership", mediators="engagement", outcome="patient_satisfaction", n_resamples=200)
    a = mediate(trusts.trusts, rng=11, **kw)
    b = mediate(trusts.trusts, rng=11, **kw)
    assert a == b
    c = mediate(trusts.trusts, rng=np.random.default_rng(11), **kw)
    assert_allclose(c.draws.to_numpy(), a.draws.to_numpy(), rtol=0)
    assert a.draws.shape == (200, 4) and a.n_failed == 0
    # percentile interval = the quantiles of the stored draws
    q = np.quantile(a.draws[("leadership", "indirect", "engagement")], [0.025, 0.975])
    assert_allclose(a.effects.loc[("leadership", "indirect", "engagement"), ["ci_low", "ci_high"]], q, rtol=0)


@pytest.mark.filterwarnings("ignore::teamculture.errors.SmallGroupWarning")  # 30 small trusts: not the point
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_and_trust_labels_do_not_change_the_estimates(seed):
    sim = simulate_engagement(n_trusts=30, staff_per_trust=20, rng=seed)
    staff = sim.staff
    kw = dict(predictors=["leadership", "team_working"], mediators="engagement", outcome="absence_rate",
              by="trust", method="monte_carlo", n_resamples=20, rng=0)
    a = mediate(staff, **kw)
    perm = np.random.default_rng(seed + 1).permutation(len(staff))
    shuffled = staff.iloc[perm].copy()
    shuffled["trust"] = "new-" + shuffled["trust"].str[::-1]
    b = mediate(shuffled, **kw)
    assert_allclose(b.effects["estimate"], a.effects["estimate"], rtol=1e-10, atol=1e-14)
    assert_allclose(b.effects["delta_std_error"], a.effects["delta_std_error"], rtol=1e-9)
    assert_allclose(b.paths["estimate"].to_numpy(), a.paths["estimate"].to_numpy(), rtol=1e-9, atol=1e-12)


def test_result_protocol(trusts):
    res = mediate(trusts.trusts, predictors=["leadership", "work_pressure"], mediators="engagement",
                  outcome="observed_deaths", family="poisson", expected="expected_deaths", n_resamples=100, rng=1)
    assert isinstance(res, MediationResult)
    assert list(res.effects.columns) == list(EFFECT_COLUMNS)
    assert list(res.paths.columns) == list(COEF_COLUMNS)
    assert pickle.loads(pickle.dumps(res)) == res
    text = str(res)
    assert "log-rate scale" in text and "nan" not in text.lower().split()
    ci = res.confidence_interval(confidence_level=0.5)
    assert (ci["ci_low"] >= res.effects["ci_low"]).all() and (ci["ci_high"] <= res.effects["ci_high"]).all()
    assert res.to_frame().equals(res.effects)
    assert set(res.indirect().index.get_level_values("effect")) == {"indirect", "total indirect"}
    assert res.to_dict()["n_obs"] == 150
