"""Misuse suite of the reporting area: model_table, and the new result methods (MixedResult.variance_intervals,
var_corr, aic/bic, fitted/residuals; OutcomeFit.aic/bic) -- careless or hostile calls, each with its outcome.

Framework: tests/_misuse.py (tabled cases for public functions); methods are tested in plain tests below
(the coverage test counts public functions only).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import teamculture as tc
from _misuse import Case, case_id, run_case
from _reference import REFERENCE_DIR
from teamculture.errors import BoundaryWarning
from teamculture.reporting import ModelParts, model_table

SLOPE = pd.read_csv(REFERENCE_DIR / "mixed_data" / "slope3.csv", dtype={"trust": str, "team": str})
TRUSTS = pd.read_csv(REFERENCE_DIR / "outcomes_data" / "trusts.csv", index_col="trust")
FIT = tc.mixed("y ~ x + (1 | trust) + (1 | team)", SLOPE)
GLM = tc.mortality_glm(TRUSTS, predictors="real_team_pct")


def _probit():
    staff = tc.national_survey("tiny", rng=4).staff
    return tc.glmm("y ~ tenure + (1 | team)", staff.assign(y=(staff["out_stress"] == 2).astype(float)), link="probit")


class _Junk:
    def model_parts(self):
        return {"coefficients": None}


class _BadLink:
    def model_parts(self):
        return ModelParts(coefficients=FIT.coefficients, link="cloglog")


class _BadCoefs:
    def model_parts(self):
        return ModelParts(coefficients=FIT.coefficients[["estimate", "std_error"]])


CASES = [
    Case(model_table, lambda: model_table("y ~ x"), "input", "formula-instead-of-model",
         raises=(TypeError, "`models`: Model 1 is of type str, which model_table cannot read")),
    Case(model_table, lambda: model_table([]), "input", "empty-list",
         raises=(ValueError, "`models` is empty")),
    Case(model_table, lambda: model_table({"a": FIT, "b": SLOPE}), "input", "data-frame-among-models",
         raises=(TypeError, "`models`: b is of type DataFrame")),
    Case(model_table, lambda: model_table(_Junk()), "j", "plug-in-returns-a-dict",
         raises=(TypeError, r"`models`: Model 1.model_parts\(\) must return a teamculture.reporting.ModelParts")),
    Case(model_table, lambda: model_table(_probit(), exponentiate=True), "input", "exponentiate-probit-glmm",
         raises=(ValueError, r"`exponentiate`=True applies to models with a log or logit link; \['Model 1'\]")),
    Case(model_table, lambda: model_table(_BadLink()), "j", "plug-in-unknown-link",
         raises=(ValueError, "`models`: the link of Model 1 must be one of")),
    Case(model_table, lambda: model_table(_BadCoefs()), "j", "plug-in-coefficients-without-schema",
         raises=(ValueError, "`models`: the coefficients of Model 1 must be a DataFrame with the columns")),
    Case(model_table, lambda: model_table(FIT, statistics=["estimate", "pvalue"]), "input", "unknown-statistic",
         raises=(ValueError, "`statistics` must be one of .* got 'pvalue'")),
    Case(model_table, lambda: model_table(FIT, statistics=["ci", "ci"]), "input", "statistic-twice",
         raises=(ValueError, "`statistics` names a statistic twice")),
    Case(model_table, lambda: model_table(FIT, statistics=[]), "input", "no-statistics",
         raises=(TypeError, "`statistics` must be a non-empty list")),
    Case(model_table, lambda: model_table(FIT, digits=-1), "input", "negative-digits",
         raises=(ValueError, "`digits`")),
    Case(model_table, lambda: model_table(FIT, digits=2.5), "input", "fractional-digits",
         raises=(TypeError, "`digits`")),
    Case(model_table, lambda: model_table(FIT, random="sds"), "input", "random-typo",
         raises=(ValueError, "`random` must be one of .* Did you mean 'sd'")),
    Case(model_table, lambda: model_table(FIT, exponentiate=True), "k", "exponentiate-identity-link",
         raises=(ValueError, "`exponentiate`=True applies to models with a log or logit link")),
    Case(model_table, lambda: model_table(FIT, exponentiate="yes"), "input", "exponentiate-not-bool",
         raises=(TypeError, "`exponentiate` must be True or False")),
    Case(model_table, lambda: model_table(FIT, confidence_level=95), "input", "level-in-percent",
         raises=(ValueError, "`confidence_level`")),
    Case(model_table, lambda: model_table(FIT, labels=["x"]), "input", "labels-not-a-dict",
         raises=(TypeError, "`labels` must be a dict")),
    Case(model_table, lambda: model_table(FIT, title=3), "input", "title-not-text",
         raises=(TypeError, "`title` must be text")),
    Case(model_table, lambda: model_table({"a": FIT, "b": GLM}), "k", "mixed-and-glm-side-by-side",
         check=lambda t: (t.exponentiated == (False, True) and t.table.loc[("Model fit", "AIC"), ("b", "IRR")] == ""
                          and "nan" not in str(t).lower().split()) or pytest.fail(str(t))),
    Case(model_table, lambda: model_table(GLM, exponentiate=False), "k", "glm-on-the-log-scale",
         check=lambda t: (t.exponentiated == (False,) and "Estimate" in t.table.columns.get_level_values(1))
         or pytest.fail(str(t))),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


# ---------------------------------------------------------------------------
# methods of the results
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"method": "boot"}, ValueError, r"`method` must be one of \['profile', 'bootstrap'\].*Did you mean 'bootstrap'"),
    ({"method": None}, ValueError, "`method`"),
    ({"confidence_level": 1.5}, ValueError, "`confidence_level`"),
    ({"confidence_level": "95%"}, TypeError, "`confidence_level`"),
    ({"method": "bootstrap", "n_resamples": 5}, ValueError, "`n_resamples` must be at least 20"),
    ({"n_resamples": 0}, ValueError, "`n_resamples`"),
    ({"n_resamples": 10.5}, TypeError, "`n_resamples`"),
    ({"method": "bootstrap", "n_resamples": 20, "rng": "seed"}, TypeError, "`rng`"),
])
def test_variance_intervals_validation(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        FIT.variance_intervals(**kwargs)


def test_variance_intervals_options_are_keyword_only():
    with pytest.raises(TypeError):
        FIT.variance_intervals("profile")  # type: ignore[misc]


def test_variance_intervals_of_a_singular_fit_reach_zero():
    data = pd.read_csv(REFERENCE_DIR / "mixed_data" / "singular3.csv", dtype={"trust": str, "team": str})
    with pytest.warns(BoundaryWarning):
        fit = tc.mixed("y ~ x + (1 | trust) + (1 | team)", data)
    res = fit.variance_intervals()
    assert res.table.loc["trust", "ci_low"] == 0.0 and res.table.loc["trust", "estimate"] == 0.0
    assert res.table.loc["trust", "ci_high"] > 0
    assert "lower limit 0 for trust" in str(res.summary())


def test_variance_intervals_scale_free():
    # the response in pennies (x 100) scales every SD interval by 100 and leaves the correlation alone
    fit = tc.mixed("y ~ x + (1 | trust) + (1 + x | team)", SLOPE)
    big = tc.mixed("y ~ x + (1 | trust) + (1 + x | team)", SLOPE.assign(y=SLOPE["y"] * 100))
    a, b = fit.variance_intervals().table, big.variance_intervals().table
    sd = ~a.index.str.contains(",")
    np.testing.assert_allclose(b.loc[sd, ["ci_low", "ci_high"]], 100 * a.loc[sd, ["ci_low", "ci_high"]], rtol=2e-5)
    np.testing.assert_allclose(b.loc[~sd, ["ci_low", "ci_high"]], a.loc[~sd, ["ci_low", "ci_high"]], rtol=2e-5,
                               atol=1e-6)


def test_slope_term_missing_from_the_design_is_refused_clearly():
    # a random slope whose variable is not among the fixed effects: its values are read from the refit state
    fit = tc.mixed("y ~ 1 + (1 | trust) + (0 + x | team)", SLOPE)
    assert "x" not in fit.design.columns
    np.testing.assert_allclose(fit.fitted + fit.residuals, fit.response, rtol=1e-14)
    stripped = type(fit)(**{**{f: getattr(fit, f) for f in fit.__dataclass_fields__}, "_refit_state": None})
    with pytest.raises(ValueError, match="`self`: the values of the random-slope term 'x' are not kept"):
        stripped.fitted  # noqa: B018


def test_outcome_aic_is_nan_where_r_says_na():
    assert math.isnan(GLM.aic) and math.isnan(GLM.bic)  # quasi-Poisson: R's AIC is NA
    panel = pd.read_csv(REFERENCE_DIR / "outcomes_data" / "panel.csv", index_col=["trust", "year"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = tc.panel_regression(panel.assign(smr=panel["observed_deaths"] / panel["expected_deaths"]),
                                  predictors="real_team_pct", log_outcome=True)
    assert math.isnan(fit.aic) and "AIC" not in str(fit.summary())
    pois = tc.mortality_glm(TRUSTS, predictors="real_team_pct", family="poisson")
    assert pois.n_params == 2 and "AIC" in str(pois.summary())


def test_icc_analytic_interval_needs_two_levels_by_anova():
    staff = tc.national_survey("tiny", rng=4).staff
    res = tc.icc(staff["latent_engagement"], staff["team"], method="reml")
    with pytest.raises(ValueError, match="`n_resamples`=0"):
        res.confidence_interval()
    assert np.isnan(res.statistic)
