"""The ``mixed`` front end and ``MixedResult``: formulas, missing data, nesting, interface.

Numbers are checked against lme4/lmerTest (``lme4_engine_extra.json``,
``lme4_reference.json``) or closed forms of the model's own estimates
(conf_int, icc, to_frame); the engine itself is tested in test_mixed_engine.py.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

import _mixed_fixtures as fx
import teamculture as tc
from teamculture.errors import BoundaryWarning, DroppedDataWarning, NestingWarning
from teamculture.multilevel import MixedResult
from teamculture.multilevel._formula import RandomTerm, parse_formula


EXTRA = fx.engine_extra()


@pytest.fixture(scope="module")
def unbalanced():
    return fx.mixed_data("unbalanced3")


@pytest.fixture(scope="module")
def fit3(unbalanced):
    return tc.mixed("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", unbalanced)


# --------------------------------------------------------------------------- formula parsing
def test_parse_nested_expansion():
    p = parse_formula("y ~ x + C(cat) + (1 | region/trust/team)")
    assert p.response == "y"
    assert p.fixed == "x + C(cat)"
    assert [t.group for t in p.random] == ["region", "region:trust", "region:trust:team"]
    assert p.random[2].factors == ("region", "trust", "team")
    assert all(t.is_intercept_only for t in p.random)
    assert p.group_columns == ("region", "trust", "team")


def test_parse_slopes_and_no_intercept():
    p = parse_formula("y ~ 0 + x + (x | team) + (0 + z | trust) + (z - 1 | g)")
    assert p.fixed == "0 + x"
    assert p.random[0] == RandomTerm(group="team", intercept=True, slopes=("x",), factors=("team",))
    assert p.random[1] == RandomTerm(group="trust", intercept=False, slopes=("z",), factors=("trust",))
    assert p.random[2].intercept is False and p.random[2].slopes == ("z",)
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ I(a + b) + (1 | g)").fixed == "I(a + b)"


@pytest.mark.parametrize("formula, match", [
    ("y ~ x", r"`formula` has no random term such as \(1 \| team\); got 'y ~ x'"),
    ("~ x + (1 | g)", r"`formula` must have the form 'response ~ terms'"),
    ("y ~ x + (1 | g", r"`formula` has unbalanced parentheses"),
    ("y ~ x + (x || g) + (1 | g)", r"`formula` has the random intercept for 'g' twice"),
    ("y ~ . + (1 | g)", r"`formula`: '\.' \(every other column\) is not supported"),
    ("y ~ x + offset(z) + (1 | g)", r"`formula`: offset\(\) terms are not supported"),
    ("y ~ x + 1 | g", r"`formula`: the random term in '1 \| g' needs its own parentheses"),
    ("y ~ (1 | g) + (1 | g)", r"`formula` has the random intercept for 'g' twice"),
    ("y ~ (1 | log(g))", r"`formula`: grouping factor\(s\) \['log\(g\)'\] .* are not column names"),
])
def test_parse_errors(formula, match):
    with pytest.raises(ValueError, match=match):
        parse_formula(formula)


def test_formula_type_error():
    with pytest.raises(TypeError, match="`formula` must be a string .*; got int"):
        tc.mixed(3, pd.DataFrame({"y": [1.0]}))


# --------------------------------------------------------------------------- validation
def test_validation_messages(unbalanced):
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame"):
        tc.mixed("y ~ x + (1 | team)", unbalanced.to_dict())
    with pytest.raises(TypeError, match="`reml`"):
        tc.mixed("y ~ x + (1 | team)", unbalanced, reml="yes")
    with pytest.raises(ValueError, match=r"grouping column\(s\) \['ward'\]"):
        tc.mixed("y ~ x + (1 | ward)", unbalanced)
    with pytest.raises(ValueError, match=r"variable\(s\) \['w'\]"):
        tc.mixed("y ~ w + (1 | team)", unbalanced)
    with pytest.raises(ValueError, match=r"`formula`: the fixed-effects design is rank deficient .*\['x2'\]"):
        tc.mixed("y ~ x + x2 + (1 | team)", unbalanced.assign(x2=2 * unbalanced["x"]))
    with pytest.raises(ValueError, match=r"`formula`: grouping factor 'id' has one observation per group"):
        tc.mixed("y ~ x + (1 | id)", unbalanced.assign(id=np.arange(len(unbalanced))))


# --------------------------------------------------------------------------- missing data
def test_missing_rows_dropped_counted_and_caller_data_untouched(unbalanced):
    data = unbalanced.copy()
    data.loc[[0, 5, 9], "x"] = np.nan
    data.loc[[5, 17], "trust"] = None
    before = data.copy()
    with pytest.warns(DroppedDataWarning, match=r"4 of \d+ row\(s\) with a missing value in `data`.*x: 3.*trust: 2"):
        fit = tc.mixed("y ~ x + (1 | trust) + (1 | team)", data)
    with pytest.raises(ValueError, match=r"`data` has 4 row\(s\) with a missing value \(rows \[0, 5, 9, 17\]\)"):
        tc.mixed("y ~ x + (1 | trust) + (1 | team)", data, nan_policy="raise")
    pd.testing.assert_frame_equal(data, before)
    assert fit.n_dropped == 4
    assert fit.n_obs == len(data) - 4
    assert "4 of" in str(fit.summary())
    ref = tc.mixed("y ~ x + (1 | trust) + (1 | team)", before.dropna(subset=["x", "trust"]))
    assert_allclose(fit.deviance, ref.deviance, rtol=1e-12)
    assert_allclose(fit.fixed_effects.to_numpy(), ref.fixed_effects.to_numpy(), rtol=1e-10)
    # design and response keep the caller's row labels of the rows used
    assert list(fit.design.index) == list(ref.design.index)
    assert not fit.design.index.isin([0, 5, 9, 17]).any()


def test_fit_does_not_mutate_data(unbalanced):
    before = unbalanced.copy()
    tc.mixed("y ~ x + cat + (1 | trust/team)", unbalanced)
    pd.testing.assert_frame_equal(unbalanced, before)


# --------------------------------------------------------------------------- nesting
def test_unique_team_ids_separate_terms_equal_nested_form(unbalanced):
    a = tc.mixed("y ~ x + (1 | trust) + (1 | team)", unbalanced)
    b = tc.mixed("y ~ x + (1 | trust/team)", unbalanced)
    assert "unique across 'trust'" in a.nesting and "same model as (1 | trust/team)" in a.nesting
    assert "unique across 'trust'" in b.nesting
    assert_allclose(a.deviance, b.deviance, rtol=1e-12)
    assert_allclose(a.variance_components.to_numpy(), b.variance_components.to_numpy(), rtol=1e-9)
    assert list(b.variance_components.index) == ["trust", "trust:team", "residual"]


def test_reused_team_ids_need_nesting():
    data = fx.mixed_data("reused3")
    fit = tc.mixed("y ~ x + (1 | trust/team)", data)
    assert "reused across 'trust'" in fit.nesting
    assert fit.n_groups["trust:team"] == data[["trust", "team"]].drop_duplicates().shape[0]
    assert fit.n_groups["trust:team"] > data["team"].nunique()
    # lme4-style labels "trust:team"
    assert all(":" in lab for lab in fit.random_effects["trust:team"].index)
    # written as separate terms, the reused labels are crossed factors, as in lme4: fitted, with a warning
    with pytest.warns(NestingWarning, match=r"'team' labels occur in more than one 'trust'.*\(1 \| trust/team\)"):
        crossed = tc.mixed("y ~ x + (1 | trust) + (1 | team)", data)
    assert crossed.engine == "crossed" and "not nested" in crossed.nesting
    assert crossed.n_groups["team"] == data["team"].nunique()


def test_simulated_team_in_trust_trap(small_survey):
    staff = small_survey.staff
    a = tc.mixed("latent_engagement ~ tenure + (1 | trust/team_in_trust)", staff)
    b = tc.mixed("latent_engagement ~ tenure + (1 | trust) + (1 | team)", staff)
    assert "reused" in a.nesting
    assert_allclose(a.deviance, b.deviance, rtol=1e-10)


# --------------------------------------------------------------------------- the result interface
def test_result_types_and_names(fit3, unbalanced):
    r = fit3
    assert isinstance(r, MixedResult)
    names = ["Intercept", "x", "cat[T.b]", "cat[T.c]", "z", "x:z"]
    assert list(r.coefficients.columns) == list(tc.results.COEF_COLUMNS)
    assert list(r.coefficients.index) == names and r.coefficients.dtypes.eq(float).all()
    assert isinstance(r.fixed_effects, pd.Series) and list(r.fixed_effects.index) == names
    assert r.fixed_effects.equals(r.coefficients["estimate"].rename("fixed_effects"))
    assert list(r.cov_params.index) == names and list(r.cov_params.columns) == names
    assert list(r.variance_components.index) == ["trust", "team", "residual"]
    assert r.reml and r.engine == "nested" and r.converged and not r.singular
    assert r.n_obs == len(unbalanced) and r.n_dropped == 0
    assert r.n_groups.to_dict() == {"trust": unbalanced["trust"].nunique(), "team": unbalanced["team"].nunique()}
    assert r.n_params == 6 + 3
    assert_allclose(r.deviance, -2 * r.loglik, rtol=1e-15)
    assert_allclose(r.coefficients["std_error"].to_numpy(), np.sqrt(np.diag(r.cov_params.to_numpy())), rtol=1e-14)
    assert_allclose(r.coefficients["statistic"].to_numpy(), (r.fixed_effects / r.coefficients["std_error"]).to_numpy(), rtol=1e-14)
    assert r.design.shape == (len(unbalanced), 6) and list(r.design.columns) == names
    assert_allclose(r.response.to_numpy(), unbalanced["y"].to_numpy())
    assert list(r.group_labels.columns) == ["trust", "team"]
    assert (r.group_labels["team"].astype(str).to_numpy() == unbalanced["team"].to_numpy()).all()
    for g in ("trust", "team"):
        re = r.random_effects[g]
        assert list(re.columns) == ["blup", "cond_var"]
        assert set(re.index) == set(unbalanced[g])
    with pytest.raises(AttributeError):
        r.reml = False  # frozen


def test_against_lmertest_summary(fit3):
    """The full lmerTest summary table.

    A default-tolerance lme4 fixture, but on this model lme4 converged closely: the largest
    relative differences are 9e-8 (estimates, SEs, df, t) and 7e-7 (p-values); the
    tolerances are about 10x those (they were 1e-4 and 1e-3, which could not catch an error
    smaller than a thousand times what is there).
    """
    ref = fx.lme4_reference()["models"]["unbalanced3_full"]["REML"]["satterthwaite"]
    assert_allclose(fit3.fixed_effects.to_numpy(), ref["estimate"], rtol=1e-6)
    assert_allclose(fit3.coefficients["std_error"].to_numpy(), ref["se"], rtol=1e-6)
    assert_allclose(fit3.coefficients["df"].to_numpy(), ref["df"], rtol=1e-6)
    assert_allclose(fit3.coefficients["statistic"].to_numpy(), ref["t"], rtol=1e-6)
    assert_allclose(fit3.coefficients["pvalue"].to_numpy(), ref["p"], rtol=1e-5)


def test_confidence_interval_closed_form_and_duality(fit3):
    ci = fit3.confidence_interval(0.9)
    assert list(ci.columns) == ["ci_low", "ci_high"] and ci.dtypes.eq(float).all()
    pd.testing.assert_frame_equal(fit3.confidence_interval(), fit3.coefficients[["ci_low", "ci_high"]])
    q = stats.t.ppf(0.95, fit3.coefficients["df"].to_numpy())
    assert_allclose(ci["ci_low"].to_numpy(), (fit3.fixed_effects - q * fit3.coefficients["std_error"]).to_numpy(), rtol=1e-12)
    # the (1 - p) interval has 0 on its boundary
    for name in fit3.fixed_effects.index:
        c = fit3.confidence_interval(1 - fit3.coefficients["pvalue"][name]).loc[name]
        edge = c["ci_low"] if fit3.fixed_effects[name] > 0 else c["ci_high"]
        assert_allclose(edge, 0.0, atol=1e-6 * fit3.coefficients["std_error"][name])
    with pytest.raises(ValueError, match=r"`confidence_level` must lie in \(0, 1\).*; got 1.5"):
        fit3.confidence_interval(1.5)
    with pytest.raises(ValueError, match=r"`confidence_level` must lie in \(0, 1\) \(a proportion: 0.95 for 95%\)"):
        fit3.confidence_interval(95)


def test_icc_closed_form(fit3):
    t = fit3.icc()
    vc = fit3.variance_components
    assert list(t.columns) == ["variance", "vpc", "icc"]
    assert_allclose(t["vpc"].to_numpy(), (vc / vc.sum()).to_numpy(), rtol=1e-14)
    assert_allclose(t.loc["trust", "icc"], vc["trust"] / vc.sum(), rtol=1e-14)
    assert_allclose(t.loc["team", "icc"], (vc["trust"] + vc["team"]) / vc.sum(), rtol=1e-14)
    assert np.isnan(t.loc["residual", "icc"])
    assert_allclose(t["vpc"].sum(), 1.0, rtol=1e-14)


def test_refit_ml_equals_direct_ml(fit3, unbalanced):
    ml = fit3.refit(reml=False)
    direct = tc.mixed("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", unbalanced, reml=False)
    assert not ml.reml
    assert_allclose(ml.deviance, direct.deviance, rtol=1e-12)
    assert fit3.refit(reml=True) is fit3
    assert_allclose(ml.refit(reml=True).deviance, fit3.deviance, rtol=1e-12)
    with pytest.raises(TypeError, match="`reml` must be True or False; got 'no'"):
        fit3.refit(reml="no")


def test_pickle_and_equality(fit3, unbalanced):
    import pickle

    back = pickle.loads(pickle.dumps(fit3))
    assert back == fit3 and back is not fit3
    # the unpickled result still refits (no closures: the model is stored)
    assert_allclose(back.refit(reml=False).deviance, fit3.refit(reml=False).deviance, rtol=1e-14)
    other = tc.mixed("y ~ x + (1 | trust) + (1 | team)", unbalanced)
    assert other != fit3
    slopes = tc.mixed("y ~ x + (1 + x | team)", fx.mixed_data("slope3"))
    again = pickle.loads(pickle.dumps(slopes))
    assert again == slopes
    assert_allclose(again.refit(reml=False).deviance, slopes.refit(reml=False).deviance, rtol=1e-10)
    r2 = fit3.r_squared()
    assert pickle.loads(pickle.dumps(r2)) == r2
    cmp = fit3.compare(other)
    assert pickle.loads(pickle.dumps(cmp)) == cmp


def test_compare_and_r_squared_are_wired(unbalanced):
    full = tc.mixed("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", unbalanced)
    reduced = tc.mixed("y ~ x + cat + z + x:z + (1 | team)", unbalanced)
    test = full.compare(reduced)
    ref = [c for c in fx.lme4_reference()["comparisons"]
           if c["full"] == "unbalanced3_full" and c["reduced"] == "unbalanced3_notrust" and not c["refit"]][0]
    # measured: statistic 1e-13, R2 7e-8 relative to lme4/performance
    assert_allclose(test.statistic, ref["chisq"], rtol=1e-8)
    r2 = full.r_squared()
    ref2 = fx.lme4_reference()["models"]["unbalanced3_full"]["REML"]["r2_nakagawa"]
    assert_allclose([r2.marginal, r2.conditional], [ref2["marginal"], ref2["conditional"]], rtol=1e-6)


def test_to_frame_and_summaries(fit3):
    t = fit3.to_frame()
    assert list(t.columns) == ["estimate", "std_error", "statistic", "df", "pvalue", "ci_low", "ci_high"]
    assert t.dtypes.eq(float).all()
    pd.testing.assert_frame_equal(t, fit3.coefficients)
    assert_allclose(t["estimate"].to_numpy(), fit3.fixed_effects.to_numpy())
    summary = fit3.summary()
    assert isinstance(summary, tc.results.Summary)
    text = str(summary)
    for piece in ("REML criterion", "trust", "team", "Residual", "Satterthwaite", "x:z", "Engine", "Converged"):
        assert piece in text
    assert "NA" not in text  # no NaN cells (the old Corr column)
    assert str(fit3) == text
    html = summary.as_html()
    assert "<table" in html and "x:z" in html
    latex = summary.as_latex()
    assert latex.count("\\begin{tabular}") == 2 and "x:z" in latex and "\\toprule" in latex


def test_singular_fit_reported():
    with pytest.warns(BoundaryWarning, match=r"boundary \(singular\) fit.*'trust'"):
        fit = tc.mixed(EXTRA["singular3"]["formula"], fx.mixed_data("singular3"))
    assert fit.singular
    assert fit.variance_components["trust"] == 0.0
    assert "singular" in str(fit.summary())


def test_random_slopes_use_the_exact_engine():
    data = fx.mixed_data("slope3")
    fit = tc.mixed("y ~ x + (1 + x | team)", data)
    ref = fx.lme4_reference()["models"]["slope3_corr2"]["REML"]
    assert fit.engine == "nested-slopes"
    assert fit.deviance <= ref["remlcrit"] + 1e-6
    assert_allclose(fit.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-4)
    with pytest.raises(ValueError, match="random slopes"):
        fit.icc()
    assert "Corr" in str(fit.summary())
    vc = fit._variance_table()
    corr = vc["Corr"].iloc[1]
    expected = fit.variance_components["team|Intercept,x"] / np.sqrt(
        fit.variance_components["team|Intercept"] * fit.variance_components["team|x"])
    assert corr == f"{expected:.3f}"


@settings(max_examples=10)
@given(scale=st.floats(1e-3, 1e3), shift=st.floats(-1e3, 1e3))
def test_affine_response_equivariance(scale, shift):
    """y -> a*y + b scales the fixed effects and variances exactly; the VPCs are unchanged."""
    data = fx.mixed_data("balanced3")
    base = tc.mixed("y ~ x + (1 | trust/team)", data)
    fit = tc.mixed("y ~ x + (1 | trust/team)", data.assign(y=scale * data["y"] + shift))
    assert_allclose(fit.fixed_effects["x"], scale * base.fixed_effects["x"], rtol=1e-6)
    assert_allclose(fit.fixed_effects["Intercept"], scale * base.fixed_effects["Intercept"] + shift,
                    rtol=1e-6, atol=1e-6 * scale)
    assert_allclose(fit.variance_components.to_numpy(), scale**2 * base.variance_components.to_numpy(),
                    rtol=1e-5)
    assert_allclose(fit.icc()["vpc"].to_numpy(), base.icc()["vpc"].to_numpy(), rtol=1e-5)
    assert_allclose(fit.coefficients["df"].to_numpy(), base.coefficients["df"].to_numpy(), rtol=1e-5)


def test_repr_is_short(fit3):
    text = repr(fit3)
    assert text.startswith("MixedResult(formula='y ~ x + cat") and "engine='nested'" in text
    assert "\n" not in text


def test_demo_stage_reports_against_truth():
    import io

    from teamculture._demo import DemoContext
    from teamculture._demo import multilevel as stage

    survey = tc.national_survey("small", rng=5)
    out = io.StringIO()
    ctx = DemoContext(survey=survey, stream=out)
    stage.run(ctx)
    text = out.getvalue()
    assert "latent engagement (no scoring-stage scores available)" in text
    assert "nested engine" in text and "truth inside both 95% CIs" in text
    # the truths quoted are the simulator's parameters, not typed numbers
    p = survey.params
    total = p.tau2_trust + p.tau2_team + p.sigma2
    assert f"(truth {p.beta_real_team:+.2f})" in text and f"(truth {p.beta_tenure:+.3f})" in text
    assert f"(truth {p.tau2_trust:.2f} / {p.tau2_team:.2f} / {p.sigma2:.2f})" in text
    assert f"(truth {p.tau2_trust / total:.1%} / {p.tau2_team / total:.1%})" in text
    fit = ctx.results["engagement_fit"]
    assert isinstance(fit, MixedResult) and fit.n_obs == len(survey.staff)


def test_double_bar_is_lme4s_uncorrelated_form():
    """lme4 expands (x || team) to (1 | team) + (0 + x | team): the lme4 fit of that model is the oracle."""
    data = fx.mixed_data("slope3")
    fit = tc.mixed("y ~ x + (1 | trust) + (x || team)", data)
    ref = fx.lme4_reference()["models"]["slope3_uncorr3"]["REML"]
    assert fit.deviance <= ref["remlcrit"] + 1e-6
    assert_allclose(fit.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    expected = fx.varcorr_series(ref)  # lme4 names the intercept of a lone-(1|team) term "team|(Intercept)"
    assert_allclose(fit.variance_components[["trust", "team", "team|x", "residual"]].to_numpy(),
                    expected[["trust", "team|(Intercept)", "team|x", "residual"]].to_numpy(), rtol=2e-4)


def test_non_ascii_and_backticked_grouping_names(unbalanced):
    base = tc.mixed("y ~ x + (1 | trust/team)", unbalanced)
    renamed = unbalanced.rename(columns={"trust": "Trust Name", "team": "équipe"})
    fit = tc.mixed("y ~ x + (1 | `Trust Name`/équipe)", renamed)
    assert list(fit.variance_components.index) == ["Trust Name", "Trust Name:équipe", "residual"]
    assert_allclose(fit.deviance, base.deviance, rtol=1e-12)
