"""Tests for teamculture.effects.

Oracles: ``tests/reference/effects.R`` (effectsize conversions, Hedges' g,
``cor.test`` Fisher-z intervals, lme4 fits for f² and standardised
coefficients, and the headline arithmetic written out in R), closed forms,
and Hypothesis properties (round trips, monotonicity, intervals containing
the estimate).
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as ef  # the effect-size, translation and multilevel effect functions are all top-level
from teamculture.errors import DroppedDataWarning


@pytest.fixture(scope="module")
def ref(reference_dir):
    return json.loads((reference_dir / "effects.json").read_text())


# --------------------------------------------------------------------------- R oracles
def test_reference_header(ref):
    assert "generated, do not edit" in ref["header"]
    assert "effectsize" in ref["header"]


def test_conversions_match_effectsize(ref):
    c = ref["conversions"]
    d, r, odds = np.array(c["d"]), np.array(c["r"]), np.array(c["odds_ratio"])
    assert_allclose(ef.d_to_r(d), c["d_to_r"], rtol=1e-12, atol=0)
    assert_allclose(ef.d_to_r(d, c["n1"], c["n2"]), c["d_to_r_n"], rtol=1e-12, atol=0)
    assert_allclose(ef.r_to_d(r), c["r_to_d"], rtol=1e-12, atol=0)
    assert_allclose(ef.r_to_d(r, c["n1"], c["n2"]), c["r_to_d_n"], rtol=1e-12, atol=0)
    assert_allclose(ef.d_to_odds_ratio(d), c["d_to_odds_ratio"], rtol=1e-12, atol=0)
    assert_allclose(ef.d_to_odds_ratio(d, log=True), c["d_to_log_odds_ratio"], rtol=1e-12, atol=0)
    assert_allclose(ef.odds_ratio_to_d(odds), c["odds_ratio_to_d"], rtol=1e-12, atol=1e-15)
    assert_allclose(ef.odds_ratio_to_d(np.log(odds), log=True), c["log_odds_ratio_to_d"], rtol=1e-12, atol=1e-15)


def test_cohens_d_and_hedges_g_match_effectsize(ref):
    for s in ref["samples"]:
        assert_allclose(ef.cohens_d(s["x"], s["y"]), s["cohens_d"], rtol=1e-10, atol=0)
        assert_allclose(ef.hedges_g(s["x"], s["y"]), s["hedges_g"], rtol=1e-10, atol=0)


def test_fisher_z_interval_matches_cor_test(ref):
    for c in ref["correlations"]:
        n = len(c["x"])
        assert_allclose(np.corrcoef(c["x"], c["y"])[0, 1], c["r"], rtol=1e-12, atol=0)
        assert_allclose(ef.fisher_z_interval(c["r"], n), c["ci95"], rtol=1e-12, atol=0)
        assert_allclose(ef.fisher_z_interval(c["r"], n, confidence_level=0.9), c["ci90"], rtol=1e-12, atol=0)


def test_headline_arithmetic_matches_r(ref):
    """3.3% per 5 points, p = .006, about 40 deaths: every number against R."""
    h = ref["headline"]
    beta = ef.implied_coefficient(-3.3, per=5)
    assert_allclose(beta, h["beta"], rtol=1e-13, atol=0)
    se = ef.se_from_pvalue(beta, 0.006)
    assert_allclose(se, h["se"], rtol=1e-12, atol=0)
    assert_allclose(ef.implied_expected_deaths(-3.3, -40), h["implied_expected_deaths"], rtol=1e-13, atol=0)
    eff = ef.share_effect(beta, se=se, delta=5, expected_deaths=1212)
    assert_allclose(eff.percent_change, h["pct_change"], rtol=1e-12, atol=0)
    assert_allclose([eff.percent_change_ci_low, eff.percent_change_ci_high], h["pct_ci"], rtol=1e-12, atol=0)
    assert_allclose(eff.deaths, h["deaths_E1212"], rtol=1e-12, atol=0)
    assert_allclose([eff.deaths_ci_low, eff.deaths_ci_high], h["deaths_ci_E1212"], rtol=1e-12, atol=0)
    rel = ef.implied_coefficient(-3.3, per=5, change="relative", baseline_share=40)
    assert_allclose(rel, h["beta_relative_40"], rtol=1e-13, atol=0)
    assert_allclose(ef.implied_coefficient(-3.3, per=5, link="identity"), h["beta_identity_hsmr"], rtol=1e-13, atol=0)


def test_headline_worked_example():
    """The documented reading: about 40 deaths, E about 1,212, and 2.5x for a relative 5%."""
    beta = ef.implied_coefficient(-3.3, per=5)
    eff = ef.share_effect(beta, se=0.001, delta=5, expected_deaths=1212)
    assert round(eff.deaths) == -40
    assert round(ef.implied_expected_deaths(-3.3, -40)) == 1212
    # the rounded readings above, exactly: 3.3% of E deaths, and E = d / 3.3%
    assert_allclose(eff.deaths, -0.033 * 1212, rtol=1e-12, atol=0)
    assert_allclose(ef.implied_expected_deaths(-3.3, -40), -40 / -0.033, rtol=1e-12, atol=0)
    rel = ef.implied_coefficient(-3.3, per=5, change="relative", baseline_share=40)
    assert_allclose(rel / beta, 2.5, rtol=1e-12, atol=0)  # 5% of 40% is 2 points
    s = eff.summary()
    assert "-3.30%" in s and "1,212" in s and "-40.0" in s


def _staff(reference_dir):
    return pd.read_csv(reference_dir / "effects_data" / "staff.csv")


def test_local_f_squared_matches_lme4_variances(ref):
    """f² from lme4's variance components (closed form on R's numbers)."""
    m = ref["multilevel"]
    names = ["team:trust" if n == "team:trust" else n.lower() for n in m["varcomp_names_full"]]
    full = SimpleNamespace(variance_components=pd.Series(m["varcomp_full"], index=names))
    reduced = SimpleNamespace(variance_components=pd.Series(m["varcomp_reduced"], index=names))
    assert_allclose(ef.local_f_squared(full, reduced), m["f2_residual"], rtol=1e-10, atol=0)
    assert_allclose(ef.local_f_squared(full, reduced, variance="total"), m["f2_total"], rtol=1e-10, atol=0)


def test_multilevel_on_real_mixed_fits(ref, reference_dir):
    """f² and standardised coefficients from teamculture.mixed fits against lme4 / effectsize.

    REML fits are iterative: the variance components agree with lme4 to about
    1e-6 relative, f² (a small difference of two variances) to 1e-4 relative.
    """
    import teamculture as tc

    m = ref["multilevel"]
    staff = _staff(reference_dir)
    full = tc.mixed("y ~ tenure + real + (1 | trust/team)", staff)
    reduced = tc.mixed("y ~ tenure + (1 | trust/team)", staff)
    assert_allclose(ef.local_f_squared(full, reduced), m["f2_residual"], rtol=1e-4, atol=1e-9)
    assert_allclose(ef.local_f_squared(full, reduced, variance="total"), m["f2_total"], rtol=1e-4, atol=1e-9)
    std = ef.standardized_coefficients(full)
    want = dict(zip(m["std_names"], m["std_coefficient"]))
    assert_allclose(std.loc[["tenure", "real"], "std_estimate"], [want["tenure"], want["real"]], rtol=1e-6, atol=0)
    assert math.isnan(std.loc[std.index[0], "std_estimate"])  # intercept
    # the data route gives the same numbers as the design route
    via_data = ef.standardized_coefficients(full, staff, outcome="y")
    assert_allclose(via_data.loc[["tenure", "real"]].to_numpy(), std.loc[["tenure", "real"]].to_numpy(),
                    rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- closed forms
def test_standardized_coefficients_closed_form():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=30), rng.normal(5, 3, size=30)
    y = 1 + 0.5 * x1 - 0.2 * x2 + rng.normal(size=30)
    design = pd.DataFrame({"(Intercept)": 1.0, "x1": x1, "x2": x2})
    fit = SimpleNamespace(
        fixed_effects=pd.Series({"(Intercept)": 1.1, "x1": 0.45, "x2": -0.21}),
        bse=pd.Series({"(Intercept)": 0.3, "x1": 0.1, "x2": 0.05}),
        design=design, response=pd.Series(y),
    )
    out = ef.standardized_coefficients(fit)
    assert list(out.columns) == ["estimate", "se", "sd_x", "sd_y", "std_estimate", "std_se"]
    sy = np.std(y, ddof=1)
    assert_allclose(out.loc["x1", "std_estimate"], 0.45 * np.std(x1, ddof=1) / sy, rtol=1e-12, atol=0)
    assert_allclose(out.loc["x2", "std_se"], 0.05 * np.std(x2, ddof=1) / sy, rtol=1e-12, atol=0)
    assert math.isnan(out.loc["(Intercept)", "std_estimate"])


def test_standardized_coefficients_does_not_mutate():
    df = pd.DataFrame({"y": [1.0, 2.0, np.nan, 5.0, 4.0], "x": [0.0, 1.0, 2.0, 3.0, 1.0]})
    before = df.copy()
    fit = SimpleNamespace(fixed_effects=pd.DataFrame({"estimate": [0.5, 1.0], "se": [0.1, 0.2]},
                                                     index=["Intercept", "x"]))
    with pytest.warns(DroppedDataWarning, match=r"dropped 1 of 5 row\(s\) of `data`.*\['y', 'x'\]: rows \[2\]"):
        out = ef.standardized_coefficients(fit, df, outcome="y")
    pd.testing.assert_frame_equal(df, before)
    ok = df.dropna()
    assert_allclose(out.loc["x", "std_estimate"], 1.0 * ok["x"].std() / ok["y"].std(), rtol=1e-12, atol=0)


def test_local_f_squared_closed_form_and_null_cancels():
    """f² = (R²_AB - R²_A) / (1 - R²_AB) with R² relative to any null variance V0."""
    va, vab = 0.7, 0.6
    a = SimpleNamespace(variance_components=pd.Series({"team": 0.1, "residual": va}))
    ab = SimpleNamespace(variance_components=pd.Series({"team": 0.08, "residual": vab}))
    for v0 in (0.8, 1.0, 3.0):
        r2a, r2ab = 1 - va / v0, 1 - vab / v0
        assert_allclose(ef.local_f_squared(ab, a), (r2ab - r2a) / (1 - r2ab), rtol=1e-12, atol=0)
    assert_allclose(ef.local_f_squared(ab, a, variance="total"), (0.8 - 0.68) / 0.68, rtol=1e-12, atol=0)


def test_local_f_squared_total_refuses_random_slopes():
    vc = pd.Series({"team": 0.1, "team|x": 0.02, "team|(Intercept),x": -0.01, "residual": 0.6})
    a = SimpleNamespace(variance_components=vc)
    assert ef.local_f_squared(a, a) == 0.0
    with pytest.raises(ValueError, match="variance='total'"):
        ef.local_f_squared(a, a, variance="total")


def test_hedges_correction_approximation():
    df = np.array([5.0, 20.0, 200.0])
    assert_allclose(ef.hedges_correction(df), 1 - 3 / (4 * df - 1), rtol=2e-3, atol=0)
    assert_allclose(ef.hedges_correction(2000.0), 1 - 3 / (4 * 2000 - 1), rtol=1e-8, atol=0)


def test_share_effect_identity_link():
    # -0.66 HSMR points per point, +5 points: SMR 100 -> 96.7, -3.3%, deaths -0.033 E
    eff = ef.share_effect(-0.66, se=0.1, delta=5, link="identity", expected_deaths=1000)
    assert_allclose(eff.percent_change, -3.3, rtol=1e-12, atol=0)
    assert_allclose(eff.deaths, -33.0, rtol=1e-12, atol=0)
    # relative to a trust already at SMR 110 the same 3.3 points are 3.0%
    eff2 = ef.share_effect(-0.66, se=0.1, delta=5, link="identity", baseline_smr=110)
    assert_allclose(eff2.percent_change, -3.3 / 110 * 100, rtol=1e-12, atol=0)
    # a plain ratio scale
    eff3 = ef.share_effect(-0.0066, se=0.001, delta=5, link="identity", smr_scale=1, expected_deaths=1000)
    assert_allclose(eff3.deaths, -33.0, rtol=1e-12, atol=0)


def test_share_effect_with_ci_and_negative_delta():
    eff = ef.share_effect(-0.01, ci=(-0.02, 0.001), delta=-5, expected_deaths=500)
    assert math.isnan(eff.se)
    assert_allclose(eff.percent_change, 100 * math.expm1(0.05), rtol=1e-12, atol=0)
    assert_allclose([eff.percent_change_ci_low, eff.percent_change_ci_high],
                    [100 * math.expm1(-0.005), 100 * math.expm1(0.1)], rtol=1e-12, atol=0)
    frame = eff.to_frame()
    assert list(frame.columns) == ["estimate", "ci_low", "ci_high"]
    assert (frame["ci_low"] <= frame["ci_high"]).all()


def test_share_effect_without_expected_deaths_has_nan_deaths():
    eff = ef.share_effect(-0.005, se=0.001)
    assert math.isnan(eff.deaths) and math.isnan(eff.deaths_ci_low)
    assert "deaths" not in eff.summary()


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"coef": 0.1}, ValueError, "`se`"),
        ({"coef": 0.1, "se": 0.1, "ci": (0, 0.2)}, ValueError, "either `se` or `ci`"),
        ({"coef": 0.1, "se": -1}, ValueError, "`se`"),
        ({"coef": 0.1, "ci": (0.2, 0.3)}, ValueError, "`ci`"),
        ({"coef": 0.1, "se": 0.1, "change": "percent"}, ValueError, "`change`"),
        ({"coef": 0.1, "se": 0.1, "change": "relative"}, ValueError, "`baseline_share`"),
        ({"coef": 0.1, "se": 0.1, "link": "logit"}, ValueError, "`link`"),
        ({"coef": 0.1, "se": 0.1, "expected_deaths": 0}, ValueError, "`expected_deaths`"),
        ({"coef": "a", "se": 0.1}, TypeError, "`coef`"),
        ({"coef": 0.1, "se": 0.1, "confidence_level": 95}, ValueError, "`confidence_level`"),
        ({"coef": np.nan, "se": 0.1}, ValueError, "`coef`"),
    ],
)
def test_share_effect_validation(kwargs, exc, match):
    coef = kwargs.pop("coef")
    with pytest.raises(exc, match=match):
        ef.share_effect(coef, **kwargs)


def test_other_validation():
    with pytest.raises(ValueError, match="`percent_change`"):
        ef.implied_coefficient(-100, per=5)
    with pytest.raises(ValueError, match="`per`"):
        ef.implied_coefficient(-3.3, per=0)
    with pytest.raises(ValueError, match="sign"):
        ef.implied_expected_deaths(-3.3, 40)
    with pytest.raises(ValueError, match="`pvalue`"):
        ef.se_from_pvalue(0.1, 1.5)
    with pytest.raises(ValueError, match="`r`"):
        ef.fisher_z_interval(1.0, 10)
    with pytest.raises(ValueError, match="`n`"):
        ef.fisher_z_interval(0.3, 3)
    with pytest.raises(ValueError, match="`r`"):
        ef.r_to_d(1.0)
    with pytest.raises(ValueError, match="`odds_ratio`"):
        ef.odds_ratio_to_d(-1.0)
    with pytest.raises(ValueError, match="`n1` and `n2`"):
        ef.d_to_r(0.5, n1=10)
    with pytest.raises(ValueError, match="`x`"):
        ef.cohens_d([1.0, np.nan, 2.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="fixed_effects"):
        ef.standardized_coefficients(object(), pd.DataFrame({"y": [1.0]}), outcome="y")
    fit = SimpleNamespace(fixed_effects=pd.Series({"(Intercept)": 0.0, "x": 1.0}))
    with pytest.raises(ValueError, match=r"`outcome` column 'y' of `data` is constant"):
        ef.standardized_coefficients(fit, pd.DataFrame({"y": [2.0, 2.0, 2.0], "x": [0.0, 1.0, 2.0]}), outcome="y")
    with (pytest.warns(DroppedDataWarning, match="dropped 2 of 3"),
          pytest.raises(ValueError, match=r"`outcome` column 'y' of `data` has 1 complete row\(s\)")):
        ef.standardized_coefficients(fit, pd.DataFrame({"y": [2.0, np.nan, 1.0], "x": [0.0, 1.0, np.inf]}),
                                     outcome="y")
    with pytest.raises(ValueError, match="residual"):
        ef.local_f_squared(SimpleNamespace(variance_components=pd.Series({"team": 1.0})),
                           SimpleNamespace(variance_components=pd.Series({"team": 1.0})))


# --------------------------------------------------------------------------- properties
coefs = st.floats(-0.05, 0.05, allow_nan=False)
deltas = st.floats(0.5, 20)
links = st.sampled_from(["log", "identity"])


@given(coef=coefs, delta=deltas, link=links, change=st.sampled_from(["points", "relative"]),
       base=st.floats(5, 95))
def test_translation_round_trips(coef, delta, link, change, base):
    if link == "identity":
        coef = coef * 100  # SMR points
    eff = ef.share_effect(coef, se=0.01, delta=delta, change=change, baseline_share=base, link=link)
    back = ef.implied_coefficient(eff.percent_change, per=delta, change=change, baseline_share=base, link=link)
    assert_allclose(back, coef, rtol=1e-9, atol=1e-12)


@given(c1=coefs, c2=coefs, delta=deltas, link=links, e=st.floats(10, 5000))
def test_translation_monotone_in_coefficient(c1, c2, delta, link, e):
    lo, hi = sorted((c1, c2))
    a = ef.share_effect(lo, se=0.01, delta=delta, link=link, expected_deaths=e)
    b = ef.share_effect(hi, se=0.01, delta=delta, link=link, expected_deaths=e)
    assert a.percent_change <= b.percent_change
    assert a.deaths <= b.deaths


@given(coef=coefs, se=st.floats(0, 0.05), delta=st.floats(-20, 20), link=links,
       level=st.floats(0.5, 0.999), e=st.floats(10, 5000))
def test_intervals_contain_estimate(coef, se, delta, link, level, e):
    eff = ef.share_effect(coef, se=se, delta=delta, link=link, expected_deaths=e, confidence_level=level)
    tol = 1e-9 * (1 + abs(eff.percent_change))
    assert eff.percent_change_ci_low - tol <= eff.percent_change <= eff.percent_change_ci_high + tol
    tol_d = 1e-9 * (1 + abs(eff.deaths))
    assert eff.deaths_ci_low - tol_d <= eff.deaths <= eff.deaths_ci_high + tol_d


@given(d=st.floats(-5, 5), n1=st.integers(2, 500), n2=st.integers(2, 500))
def test_d_r_round_trip(d, n1, n2):
    assert_allclose(ef.r_to_d(ef.d_to_r(d, n1, n2), n1, n2), d, rtol=1e-9, atol=1e-12)


@given(d=st.floats(-5, 5))
def test_d_odds_ratio_round_trip_and_monotone(d):
    assert_allclose(ef.odds_ratio_to_d(ef.d_to_odds_ratio(d)), d, rtol=1e-12, atol=1e-14)
    assert ef.d_to_odds_ratio(d) <= ef.d_to_odds_ratio(d + 0.1)
    assert ef.d_to_r(d) <= ef.d_to_r(d + 0.1)


@given(r=st.floats(-0.99, 0.99), n=st.integers(4, 10_000), level=st.floats(0.5, 0.999))
def test_fisher_interval_contains_r_and_narrows_with_n(r, n, level):
    lo, hi = ef.fisher_z_interval(r, n, confidence_level=level)
    assert -1 < lo <= r <= hi < 1
    lo2, hi2 = ef.fisher_z_interval(r, n + 10, confidence_level=level)
    assert hi2 - lo2 <= hi - lo + 1e-15


@given(x=st.lists(st.floats(-100, 100), min_size=3, max_size=20),
       y=st.lists(st.floats(-100, 100), min_size=3, max_size=20))
def test_cohens_d_antisymmetric_and_g_shrinks(x, y):
    sp = np.var(x, ddof=1) * (len(x) - 1) + np.var(y, ddof=1) * (len(y) - 1)
    if not sp > 1e-6:
        return
    d = ef.cohens_d(x, y)
    assert_allclose(ef.cohens_d(y, x), -d, rtol=1e-12, atol=1e-12)
    assert abs(ef.hedges_g(x, y)) <= abs(d) + 1e-15
