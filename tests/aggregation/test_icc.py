"""Tests of the non-independence statistics: ICC(1)/ICC(2), three-level VPCs, WABA, design effect."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import BoundaryWarning, DroppedDataWarning


def _f(s):
    return float(s)


def _vc(ref, name):
    d = ref[name]
    return dict(zip(d["grp"], map(_f, d["vcov"])))


# ---------------------------------------------------------------------------
# R oracles
# ---------------------------------------------------------------------------
def test_icc1_icc2_match_r(agreement_ref, agreement_items):
    r = agreement_ref["icc"]
    assert_allclose(tc.icc1(agreement_items["y"], agreement_items["grp"]), _f(r["icc1_y"]), rtol=1e-8)
    assert_allclose(tc.icc2(agreement_items["y"], agreement_items["grp"]), _f(r["icc2_y"]), rtol=1e-8)
    n_na = int(agreement_items["i1"].isna().sum())
    with pytest.warns(DroppedDataWarning, match=f"^{n_na} of {len(agreement_items)} row"):
        assert_allclose(tc.icc1(agreement_items["i1"], agreement_items["grp"]), _f(r["icc1_i1"]), rtol=1e-8)
    with pytest.warns(DroppedDataWarning):
        assert_allclose(tc.icc2(agreement_items["i1"], agreement_items["grp"]), _f(r["icc2_i1"]), rtol=1e-8)


def test_icc_anova_result_matches_r(agreement_ref, agreement_items):
    res = tc.icc(agreement_items["y"], agreement_items["grp"])
    assert_allclose(res.icc1, _f(agreement_ref["icc"]["icc1_y"]), rtol=1e-8)
    assert_allclose(res.icc2, _f(agreement_ref["icc"]["icc2_y"]), rtol=1e-8)


def test_icc1_several_columns_gives_series(agreement_ref, agreement_items):
    out = tc.icc1(agreement_items[["y", "x"]], agreement_items["grp"])
    assert list(out.index) == ["y", "x"]
    assert_allclose(out["y"], _f(agreement_ref["icc"]["icc1_y"]), rtol=1e-8)


def test_reml_two_level_matches_mult_icc_and_lme4(agreement_ref, agreement_items):
    # multilevel::mult.icc fits nlme::lme by REML with optim: iterative, compared at 1e-5
    mi = agreement_ref["mult_icc"]
    for var, r1, r2 in zip(mi["Variable"], mi["ICC1"], mi["ICC2"]):
        res = tc.icc(agreement_items[var], agreement_items["grp"], method="reml")
        assert_allclose(res.icc1, _f(r1), rtol=1e-5)
        assert_allclose(res.icc2, _f(r2), rtol=1e-5)
    vc = _vc(agreement_ref, "two_level_reml")
    res = tc.icc(agreement_items["y"], agreement_items["grp"], method="reml")
    assert_allclose(res.variance_components["grp"], vc["grp"], rtol=1e-6)
    assert_allclose(res.variance_components["residual"], vc["Residual"], rtol=1e-6)


def test_waba_matches_r(agreement_ref, agreement_items):
    r = agreement_ref["waba"]
    w = tc.waba(agreement_items["x"], agreement_items["y"], agreement_items["grp"])
    pairs = {"RawCorr": w.raw_corr, "EtaBx": w.eta_between_x, "EtaBy": w.eta_between_y,
             "CorrB": w.corr_between, "EtaWx": w.eta_within_x, "EtaWy": w.eta_within_y,
             "CorrW": w.corr_within}
    for key, ours in pairs.items():
        assert_allclose(ours, _f(r[key]), rtol=1e-8, err_msg=key)
    assert w.n_obs == int(_f(r["n_obs"])) and w.n_groups == int(_f(r["n_grps"]))
    i2x = tc.icc2(agreement_items["x"], agreement_items["grp"])
    i2y = tc.icc2(agreement_items["y"], agreement_items["grp"])
    assert_allclose(w.corr_between_disattenuated,
                    w.corr_within + (w.corr_between - w.corr_within) / np.sqrt(i2x * i2y), rtol=1e-12)
    assert "covariance theorem" in str(w.summary())
    assert w.n_dropped == 0 and w.to_frame().loc["between", "component"] == pytest.approx(
        w.eta_between_x * w.eta_between_y * w.corr_between, rel=1e-15)


def test_three_level_balanced_anova_and_reml_match_lme4(reference_dir, agreement_ref):
    # balanced design: the nested-ANOVA estimates are the REML estimates (all positive here)
    d = pd.read_csv(reference_dir / "agreement_data" / "three_balanced.csv")
    vc = _vc(agreement_ref, "three_balanced")
    for method in ("anova", "reml"):
        res = tc.icc(d["y"], d[["trust", "team"]], method=method)
        assert res.levels == ("trust", "team")
        assert_allclose(res.variance_components["trust"], vc["trust"], rtol=1e-6)
        assert_allclose(res.variance_components["team"], vc["team:trust"], rtol=1e-6)
        assert_allclose(res.variance_components["residual"], vc["Residual"], rtol=1e-6)
        total = sum(vc.values())
        assert_allclose(res.vpc.to_numpy(), [vc["trust"] / total, vc["team:trust"] / total], rtol=1e-6)
        assert res.n_groups.tolist() == [6, 30]  # team numbers reused across trusts are kept apart


def test_three_level_unbalanced_reml_matches_lme4(reference_dir, agreement_ref):
    d = pd.read_csv(reference_dir / "agreement_data" / "three_unbalanced.csv")
    vc = _vc(agreement_ref, "three_unbalanced")
    res = tc.icc(d["y"], [d["trust"], d["team"]], method="reml")
    total = sum(vc.values())
    assert_allclose(res.vpc["trust"], vc["trust"] / total, rtol=1e-5)
    assert_allclose(res.vpc["team"], vc["team:trust"] / total, rtol=1e-5)
    assert_allclose(res.icc1, (vc["trust"] + vc["team:trust"]) / total, rtol=1e-5)


# ---------------------------------------------------------------------------
# closed forms and dense-matrix checks
# ---------------------------------------------------------------------------
@st.composite
def nested_design(draw):
    n_outer = draw(st.integers(2, 4))
    sizes = []
    outer = []
    for a in range(n_outer):
        for _ in range(draw(st.integers(1, 3))):
            sizes.append(draw(st.integers(1, 4)))
            outer.append(a)
    inner = np.repeat(np.arange(len(sizes)), sizes)
    outer_rows = np.repeat(outer, sizes)
    return outer_rows, inner


@given(nested_design())
def test_nested_anova_coefficients_equal_dense_expectations(design):
    from teamculture.aggregation._icc import _nested_anova

    outer, inner = design
    n = inner.size
    a, b = len(set(outer)), len(set(inner))
    if not (b - a >= 1 and n - b >= 1):
        return
    Za = (outer[:, None] == np.arange(a)).astype(float)
    Zb = (inner[:, None] == np.arange(b)).astype(float)

    def proj(Z):
        return Z @ np.linalg.pinv(Z.T @ Z) @ Z.T

    J = np.full((n, n), 1.0 / n)
    Pa, Pb = proj(Za), proj(Zb)
    Qa, Qb = (Pa - J) / (a - 1), (Pb - Pa) / (b - a)
    # E[MS] = tr(Q V), V = tau_a ZaZa' + tau_b ZbZb' + sigma2 I
    r = _nested_anova(np.random.default_rng(0).normal(size=n), outer, inner)
    assert_allclose(np.trace(Qb @ Zb @ Zb.T), r.c1, rtol=1e-10)
    assert_allclose(np.trace(Qa @ Zb @ Zb.T), r.c2, rtol=1e-10, atol=1e-12)
    assert_allclose(np.trace(Qa @ Za @ Za.T), r.c3, rtol=1e-10)
    assert_allclose(np.trace(Qa), 1.0, rtol=1e-10)
    assert_allclose(np.trace(Qb @ Za @ Za.T), 0.0, atol=1e-10)


@st.composite
def two_level(draw):
    sizes = draw(st.lists(st.integers(1, 8), min_size=2, max_size=8))
    g = np.repeat(np.arange(len(sizes)), sizes)
    y = np.array(draw(st.lists(st.integers(0, 9), min_size=g.size, max_size=g.size)), dtype=float)
    return y, g


@given(two_level())
def test_property_icc2_is_spearman_brown_of_icc1(data):
    y, g = data
    if g.size - len(set(g)) < 1 or np.ptp(y) == 0:
        return
    df = pd.DataFrame({"y": y, "g": g})
    msw = df.groupby("g")["y"].var(ddof=1).mul(df.groupby("g").size() - 1).sum() / (g.size - len(set(g)))
    if msw == 0 or df.groupby("g")["y"].mean().var() == 0:
        return
    k = g.size / len(set(g))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)  # negative ICCs are flagged; tested elsewhere
        i1 = tc.icc1(y, g)
        i2 = tc.icc2(y, g)
        res = tc.icc(y, g)
        i1_adj = tc.icc1(y, g, k="adjusted")
    assert_allclose(i2, k * i1 / (1 + (k - 1) * i1), rtol=1e-9)
    assert_allclose(res.icc2, i2, rtol=1e-9)
    # slow ANOVA: MSB from group means
    gm = df.groupby("g")["y"].agg(["mean", "size"])
    msb = (gm["size"] * (gm["mean"] - y.mean()) ** 2).sum() / (len(gm) - 1)
    assert_allclose(i1, (msb - msw) / (msb + (k - 1) * msw), rtol=1e-9)
    k0 = (g.size - (gm["size"] ** 2).sum() / g.size) / (len(gm) - 1)
    assert_allclose(i1_adj, (msb - msw) / (msb + (k0 - 1) * msw), rtol=1e-9)


def test_adjusted_k_equals_mean_k_when_balanced():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(10), 5)
    y = rng.normal(size=50) + rng.normal(size=10)[g]
    assert_allclose(tc.icc1(y, g, k="adjusted"), tc.icc1(y, g), rtol=1e-12)


def test_design_effect_closed_form():
    assert tc.design_effect(0.1, 28) == pytest.approx(3.7, rel=1e-15)
    assert_allclose(tc.design_effect([0.0, 0.5], [10, 3]), [1.0, 2.0], rtol=1e-15)
    res = tc.icc(*_two_level_data())
    assert_allclose(res.design_effect, 1 + (res.n_obs / res.n_groups.iloc[0] - 1) * res.icc1, rtol=1e-12)
    assert_allclose(res.effective_n, res.n_obs / res.design_effect, rtol=1e-12)


def _two_level_data():
    rng = np.random.default_rng(7)
    sizes = rng.integers(2, 12, 40)
    g = np.repeat([f"t{i:02d}" for i in range(40)], sizes)
    y = rng.normal(0, 0.5, 40).repeat(sizes) + rng.normal(size=g.size)
    return pd.Series(y, name="y"), pd.Series(g, name="team")


def test_icc1_f_test_matches_r_aov():
    # summary(aov(y ~ factor(grp))): F, df and p (tests/reference/reporting.R)
    from _reference import REFERENCE_DIR, load_json

    ref = load_json("reporting.json")["icc"]
    items = pd.read_csv(REFERENCE_DIR / "agreement_data" / "items.csv")
    res = tc.icc(items["y"], items["grp"])
    r = ref["items_y"]
    assert (res.df_between, res.df_within) == (r["df1"], r["df2"])
    assert_allclose([res.statistic, res.pvalue], [r["F"], r["p"]], rtol=1e-10)
    assert_allclose(res.mean_squares.to_numpy(), [r["msb"], r["msw"]], rtol=1e-10)
    with pytest.warns(DroppedDataWarning):
        res_i1 = tc.icc(items["i1"], items["grp"])
    r = ref["items_i1"]
    assert (res_i1.df_between, res_i1.df_within) == (r["df1"], r["df2"])
    assert_allclose([res_i1.statistic, res_i1.pvalue], [r["F"], r["p"]], rtol=1e-10)


def test_icc1_interval_matches_psych_icc():
    # equal teams of 8: psych::ICC's ICC1 (single rater) and ICC1k (average) rows, 95% and 90%
    from _reference import REFERENCE_DIR, load_json

    ref = load_json("reporting.json")["icc"]["three_balanced"]
    d = pd.read_csv(REFERENCE_DIR / "agreement_data" / "three_balanced.csv")
    res = tc.icc(d["y"], d["trust"] + "-" + d["team"].astype(str))
    p = ref["psych_icc1"]
    assert (res.df_between, res.df_within) == (p["df1"], p["df2"]) and res.k == p["n_members"]
    assert_allclose([res.icc1, res.statistic, res.pvalue], [p["icc"], p["F"], p["p"]], rtol=1e-10)
    ci = res.confidence_interval()
    assert_allclose(ci.loc["icc1"].to_numpy(), [p["lower"], p["upper"]], rtol=1e-10)
    assert_allclose(ci.loc["icc2"].to_numpy(), [ref["psych_icc1k"]["lower"], ref["psych_icc1k"]["upper"]],
                    rtol=1e-10)
    assert_allclose(res.icc2, ref["psych_icc1k"]["icc"], rtol=1e-10)
    ci90 = res.confidence_interval(0.90)
    assert_allclose(ci90.loc["icc1"].to_numpy(), [ref["psych_icc1_90"]["lower"], ref["psych_icc1_90"]["upper"]],
                    rtol=1e-10)


def test_icc_f_interval_duality():
    # the F-based interval excludes 0 exactly when the F test rejects at the same level (closed form)
    rng = np.random.default_rng(5)
    for tau in (0.0, 0.05, 0.3):
        g = np.repeat(np.arange(25), 6)
        y = pd.Series(rng.normal(0, np.sqrt(tau), 25)[g] + rng.normal(size=g.size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            res = tc.icc(y, pd.Series(g))
        for level in (0.9, 0.95, 0.99):
            lo = res.confidence_interval(level).loc["icc1", "ci_low"]
            # two-sided interval at `level` <-> one-sided test at (1 - level) / 2
            assert (lo > 0) == (res.pvalue < (1 - level) / 2)


def test_icc_f_interval_with_no_within_variance_is_one():
    y = pd.Series([1.0, 1.0, 2.0, 2.0, 5.0, 5.0])
    res = tc.icc(y, pd.Series(list("aabbcc")))
    assert res.statistic == np.inf and res.pvalue == 0.0
    assert res.confidence_interval().loc["icc1"].tolist() == [1.0, 1.0]


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------
def test_icc_result_fields_and_summary():
    y, g = _two_level_data()
    res = tc.icc(y, g)
    assert res.levels == ("team",) and res.method == "anova"
    assert list(res.variance_components.index) == ["team", "residual"]
    assert list(res.to_frame().columns) == ["estimate", "ci_low", "ci_high"]
    # two levels by ANOVA: F-based intervals without a bootstrap (issue 10)
    pd.testing.assert_frame_equal(res.to_frame()[["ci_low", "ci_high"]], res.confidence_interval())
    assert "F test of ICC(1) = 0" in str(res.summary())
    # three levels: no analytic interval, so a bootstrap is needed
    three = tc.icc(y, pd.DataFrame({"trust": g.str[:2], "team": g}))
    assert three.to_frame()["ci_low"].isna().all() and np.isnan(three.statistic)
    with pytest.raises(ValueError, match="`n_resamples`"):
        three.confidence_interval()
    assert_allclose(res.vpc["team"], res.icc1, rtol=1e-12)
    assert "ICC(1)" in str(res.summary()) and str(res) == str(res.summary())


def test_bootstrap_is_seeded_and_brackets_estimate():
    y, g = _two_level_data()
    a = tc.icc(y, g, n_resamples=200, rng=3)
    b = tc.icc(y, g, n_resamples=200, rng=3)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert a == b
    lo, hi = a.confidence_interval().loc["icc1"]
    assert lo < a.icc1 < hi
    assert "bootstrap" in str(a.summary())
    # intervals at another level come from the kept draws
    assert a.bootstrap_distribution.shape == (200, 3)
    lo90, hi90 = a.confidence_interval(0.90).loc["icc1"]
    assert lo <= lo90 < hi90 <= hi
    assert_allclose([lo90, hi90], np.quantile(a.bootstrap_distribution[:, 0], [0.05, 0.95]), rtol=1e-15)


def test_three_level_bootstrap_runs(reference_dir):
    d = pd.read_csv(reference_dir / "agreement_data" / "three_unbalanced.csv")
    res = tc.icc(d["y"], d[["trust", "team"]], n_resamples=50, rng=1)
    assert list(res.to_frame().index) == ["icc1", "icc2", "vpc_trust", "vpc_team"]
    assert (res.to_frame()["ci_low"] <= res.to_frame()["ci_high"]).all()


def test_missing_rows_dropped_and_counted():
    y, g = _two_level_data()
    y2 = y.copy()
    y2.iloc[[0, 5, 9]] = np.nan
    with pytest.warns(DroppedDataWarning, match=f"^3 of {len(y)} row"):
        res = tc.icc(y2, g)
    assert res.n_dropped == 3 and res.n_obs == len(y) - 3


def test_does_not_mutate_inputs(reference_dir):
    d = pd.read_csv(reference_dir / "agreement_data" / "three_unbalanced.csv")
    before = d.copy(deep=True)
    tc.icc(d["y"], d[["trust", "team"]], n_resamples=5, rng=1)
    with pytest.warns(BoundaryWarning, match="outside \\[-1, 1\\]"):
        tc.waba(d["y"], d["y"] ** 2, d["team"])
    tc.icc1(d[["y"]], d["team"])
    pd.testing.assert_frame_equal(d, before)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: tc.icc1([1, 2, 3], ["a", "a", "a"]), ValueError, "at least two groups"),
        (lambda: tc.icc1([1, 2], ["a", "b"]), ValueError, "one member"),
        (lambda: tc.icc1([1, 2, 3, 4], ["a", "a", "b", "b"], k="harmonic"), ValueError, "`k`"),
        (lambda: tc.icc([1, 2, 3, 4], ["a", "a", "b", "b"], method="ml"), ValueError, "`method`"),
        (lambda: tc.icc([1, 2, 3, 4], ["a", "a", "b", "b"], method="reml", n_resamples=10), ValueError, "anova"),
        (lambda: tc.icc([1, 2, 3, 4], ["a", "a", "b", "b"], n_resamples=-1), ValueError, "n_resamples"),
        (lambda: tc.icc([1, 2, 3, 4], ["a", "a", "b"]), ValueError, "has 3 labels but the data have 4 rows"),
        (lambda: tc.design_effect(0.1, 0.5), ValueError, "mean_group_size"),
        (lambda: tc.design_effect(1.5, 5), ValueError, "icc"),
        (lambda: tc.waba([1, 2, 3], [1, 2], ["a", "a", "b"]), ValueError, "same length"),
        (lambda: tc.icc1(pd.DataFrame({"q": ["x", "y"]}), ["a", "b"]), TypeError, "'q'"),
    ],
)
def test_validation(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
