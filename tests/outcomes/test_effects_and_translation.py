"""Tests for teamculture.effect_sizes and the deaths translation of teamculture.outcomes.

Oracles: ``tests/reference/effects.R`` (effectsize conversions, Hedges' g,
``cor.test`` Fisher-z intervals, lme4 fits for f² and standardised
coefficients, and the headline arithmetic written out in R), closed forms,
and Hypothesis properties (round trips, monotonicity, intervals containing
the estimate).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as ef  # the effect-size, translation and multilevel effect functions are all top-level


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
    assert_allclose(ef.d_to_r(d, n1=c["n1"], n2=c["n2"]), c["d_to_r_n"], rtol=1e-12, atol=0)
    assert_allclose(ef.r_to_d(r), c["r_to_d"], rtol=1e-12, atol=0)
    assert_allclose(ef.r_to_d(r, n1=c["n1"], n2=c["n2"]), c["r_to_d_n"], rtol=1e-12, atol=0)
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
    ci = eff.confidence_interval()
    assert_allclose(ci.loc["percent_change"], h["pct_ci"], rtol=1e-12, atol=0)
    assert_allclose(eff.deaths, h["deaths_E1212"], rtol=1e-12, atol=0)
    assert_allclose(ci.loc["deaths_per_year"], h["deaths_ci_E1212"], rtol=1e-12, atol=0)
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
    s = str(eff.summary())
    assert "-3.30%" in s and "1,212" in s and "-40.0" in s
    assert eff.statement in s and str(eff) == s



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
    assert math.isnan(eff.std_error)
    assert_allclose(eff.percent_change, 100 * math.expm1(0.05), rtol=1e-12, atol=0)
    assert_allclose(eff.confidence_interval().loc["percent_change"],
                    [100 * math.expm1(-0.005), 100 * math.expm1(0.1)], rtol=1e-12, atol=0)
    frame = eff.to_frame()
    assert list(frame.columns) == ["estimate", "ci_low", "ci_high"]
    assert list(frame.index) == ["coefficient", "rate_ratio", "percent_change", "deaths_per_year"]
    assert (frame["ci_low"] <= frame["ci_high"]).all()
    assert eff.confidence_interval(0.95).equals(eff.confidence_interval())
    with pytest.raises(ValueError, match="`confidence_level`.*without a standard error"):
        eff.confidence_interval(0.9)


def test_share_effect_without_expected_deaths_has_nan_deaths():
    eff = ef.share_effect(-0.005, se=0.001)
    assert math.isnan(eff.deaths) and eff.confidence_interval().loc["deaths_per_year"].isna().all()
    assert "deaths" not in eff.statement
    assert eff.n_obs is None and eff.n_dropped == 0 and eff.n_groups is None


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
    with pytest.raises(ValueError, match="`x` has 1 row"):
        ef.cohens_d([1.0, np.nan, 2.0], [1.0, 2.0], nan_policy="raise")


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


@given(coef=coefs, se=st.floats(0, 0.05), delta=st.floats(-20, 20).filter(lambda v: v != 0), link=links,
       level=st.floats(0.5, 0.999), e=st.floats(10, 5000))
def test_intervals_contain_estimate(coef, se, delta, link, level, e):
    eff = ef.share_effect(coef, se=se, delta=delta, link=link, expected_deaths=e, confidence_level=level)
    ci = eff.confidence_interval()
    tol = 1e-9 * (1 + abs(eff.percent_change))
    assert ci.loc["percent_change", "ci_low"] - tol <= eff.percent_change <= ci.loc["percent_change", "ci_high"] + tol
    tol_d = 1e-9 * (1 + abs(eff.deaths))
    assert ci.loc["deaths_per_year", "ci_low"] - tol_d <= eff.deaths <= ci.loc["deaths_per_year", "ci_high"] + tol_d


@given(d=st.floats(-5, 5), n1=st.integers(2, 500), n2=st.integers(2, 500))
def test_d_r_round_trip(d, n1, n2):
    assert_allclose(ef.r_to_d(ef.d_to_r(d, n1=n1, n2=n2), n1=n1, n2=n2), d, rtol=1e-9, atol=1e-12)


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


# --------------------------------------------------------------------------- t-based p-values and intervals
def test_se_from_t_pvalue_matches_r_quasipoisson(reference_dir):
    """R's summary.glm p-value of a quasi-Poisson slope (t, 18 df) gives back R's standard error."""
    r = json.loads((reference_dir / "outcomes.json").read_text())["fits"]["quasipoisson_t20"]
    for b, p, se in zip(r["coef"], r["pvalue"], r["se"]):
        assert_allclose(ef.se_from_pvalue(b, p, df=r["df"]), se, rtol=1e-9, atol=0)
        # read as a z test the same p-value gives another, wrong, SE
        assert abs(ef.se_from_pvalue(b, p) / se - 1) > 0.1
    eff = ef.share_effect(r["coef"][1], se=r["se"][1], df=r["df"], delta=1, link="log")
    assert_allclose(eff.confidence_interval().loc["coefficient"], [r["ci_low"][1], r["ci_high"][1]], rtol=1e-9,
                    atol=0)


@given(b=st.floats(-5, 5).filter(lambda v: abs(v) > 1e-6), p=st.floats(1e-12, 0.999),
       df=st.one_of(st.none(), st.floats(1, 1e4)))
def test_se_from_pvalue_inverts_the_wald_test(b, p, df):
    from scipy import stats

    se = ef.se_from_pvalue(b, p, df=df)
    back = 2 * (stats.norm.sf(abs(b) / se) if df is None else stats.t.sf(abs(b) / se, df))
    assert_allclose(back, p, rtol=1e-8, atol=0)


def test_share_effect_other_levels_and_protocol():
    import pickle

    eff = ef.share_effect(-0.0067, se=0.002, df=18, expected_deaths=1212)
    from scipy import stats

    q = stats.t.isf(0.05, 18)
    assert_allclose(eff.confidence_interval(0.9).loc["coefficient"], [-0.0067 - q * 0.002, -0.0067 + q * 0.002],
                    rtol=1e-13, atol=0)
    assert pickle.loads(pickle.dumps(eff)) == eff
    assert eff != ef.share_effect(-0.0067, se=0.002, expected_deaths=1212)  # z instead of t(18)
    assert eff.to_dict()["deaths"] == eff.deaths
    assert eff.to_frame().loc["rate_ratio", "estimate"] == eff.rate_ratio


def test_share_effect_overflow_is_inf_not_an_error():
    eff = ef.share_effect(1000.0, se=1.0, delta=5, expected_deaths=10)
    assert math.isinf(eff.rate_ratio) and math.isinf(eff.percent_change) and math.isinf(eff.deaths)
    ci = eff.confidence_interval()
    assert np.isinf(ci.loc[["rate_ratio", "percent_change", "deaths_per_year"]].to_numpy()).all()
    small = ef.share_effect(-1000.0, se=1.0, delta=5, expected_deaths=10)
    assert small.rate_ratio == 0.0 and small.percent_change == -100.0 and small.deaths == -10.0


# --------------------------------------------------------------------------- missing values, degenerate samples
def test_cohens_d_omits_missing_values_and_counts_them(ref):
    from teamculture.errors import DroppedDataWarning

    s = ref["samples"][1]
    x = list(s["x"]) + [np.nan, np.nan]
    with pytest.warns(DroppedDataWarning, match=r"2 of .* `x`"):
        d = ef.cohens_d(x, s["y"])
    assert_allclose(d, s["cohens_d"], rtol=1e-10, atol=0)
    with pytest.warns(DroppedDataWarning, match=r"`x`"):
        assert_allclose(ef.hedges_g(x, s["y"]), s["hedges_g"], rtol=1e-10, atol=0)


def test_constant_samples_give_inf_or_nan_not_1e15():
    """0.1 three times has a pooled SD of ~1e-17 in floating point; d is infinite, not -3.7e15."""
    from teamculture.errors import DegenerateDataWarning

    with pytest.warns(DegenerateDataWarning, match="infinite"):
        assert ef.cohens_d([0.1] * 3, [0.2] * 3) == -math.inf
    with pytest.warns(DegenerateDataWarning, match="NaN"):
        assert math.isnan(ef.cohens_d([0.1] * 3, [0.1] * 3))
    # a tiny but real spread is not constant
    assert np.isfinite(ef.cohens_d([1e-9, 2e-9, 3e-9], [2e-9, 3e-9, 4e-9]))
    assert_allclose(ef.cohens_d([1e-9, 2e-9, 3e-9], [2e-9, 3e-9, 4e-9]), ef.cohens_d([1, 2, 3], [2, 3, 4]),
                    rtol=1e-12, atol=0)


def test_conversions_at_infinity():
    assert ef.d_to_r(np.inf) == 1.0 and ef.d_to_r(-np.inf) == -1.0
    assert_allclose(ef.d_to_r(1e200), 1.0, rtol=1e-15, atol=0)
    assert ef.d_to_odds_ratio(1000.0) == np.inf
    assert ef.odds_ratio_to_d(np.inf) == np.inf
    assert ef.fisher_z_interval(0.3, 50) == (ef.fisher_z_interval(0.3, 50).low, ef.fisher_z_interval(0.3, 50).high)
