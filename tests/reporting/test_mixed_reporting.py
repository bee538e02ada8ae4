"""What a mixed model reports, against lme4 (tests/reference/reporting.R -> reporting.json).

AIC, BIC and the log-likelihood (REML and ML, as lme4's AIC/BIC/logLik), VarCorr, fitted values and
residuals, profile-likelihood intervals (confint(method = "profile")) and the parametric bootstrap
(bootMer), the singular-fit advice.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import teamculture as tc
from _reference import REFERENCE_DIR, load_json
from teamculture.errors import BoundaryWarning, NestingWarning
from teamculture.multilevel import _profile

REF = load_json("reporting.json")["mixed"]

# lme4's parameter names -> the rows of VarianceIntervals (the model's variance-component names)
NAMES = {
    "unbalanced3_nested": {"sd_(Intercept)|team:trust": "trust:team", "sd_(Intercept)|trust": "trust",
                           "sigma": "residual"},
    "singular3_ri": {"sd_(Intercept)|team": "team", "sd_(Intercept)|trust": "trust", "sigma": "residual"},
    "slope3_corr3": {"sd_(Intercept)|team": "team|Intercept", "cor_x.(Intercept)|team": "team|Intercept,x",
                     "sd_x|team": "team|x", "sd_(Intercept)|trust": "trust", "sigma": "residual"},
    "slope3_uncorr3": {"sd_x|team": "team|x", "sd_(Intercept)|team": "team", "sd_(Intercept)|trust": "trust",
                       "sigma": "residual"},
    "crossed2_ri": {"sd_(Intercept)|team": "team", "sd_(Intercept)|occ": "occ", "sigma": "residual"},
}
# lme4's VarCorr group names -> the package's
GROUPS = {"team:trust": "trust:team", "team.1": "team"}


def _data(name):
    # "frontier_data/crossed2": a data set of another oracle (crossed team x occupation factors)
    path = REFERENCE_DIR / f"{name}.csv" if "/" in name else REFERENCE_DIR / "mixed_data" / f"{name}.csv"
    return pd.read_csv(path, dtype={"trust": str, "team": str, "occ": str})


_FITS: dict = {}


def fit(model_id, reml=True):
    key = (model_id, reml)
    if key not in _FITS:
        ref = REF[model_id]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            warnings.simplefilter("ignore", NestingWarning)  # crossed2: team x occupation, crossed by design
            _FITS[key] = tc.mixed(ref["formula"], _data(ref["dataset"]), reml=reml)
    return _FITS[key]


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("model_id", sorted(REF))
def test_aic_bic_loglik_match_lme4(model_id, reml):
    r = REF[model_id]["reml" if reml else "ml"]
    m = fit(model_id, reml)
    assert m.n_params == r["loglik_df"] and m.n_obs == r["nobs"]
    # iterative fits: the criteria agree to the optimisers' precision
    assert_allclose([m.loglik, m.aic, m.bic], [r["loglik"], r["aic"], r["bic"]], rtol=1e-8)
    # closed forms from the log-likelihood
    assert m.aic == -2 * m.loglik + 2 * m.n_params
    assert_allclose(m.bic, -2 * m.loglik + np.log(m.n_obs) * m.n_params, rtol=1e-15)


@pytest.mark.parametrize("model_id", sorted(REF))
def test_var_corr_matches_lme4(model_id):
    got = fit(model_id).var_corr()
    assert list(got.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    want = pd.DataFrame(REF[model_id]["reml"]["varcorr"])
    for col in ("var1", "var2"):
        want[col] = want[col].astype(object).where(want[col].notna(), "")
    # lme4 orders terms by their number of levels, and numbers the second term of a factor ("team.1") by
    # that order; compare by (group, term, term) with the numbering removed on both sides
    want["grp"] = want["grp"].replace(GROUPS).str.replace(r"\.\d+$", "", regex=True)
    got = got.assign(grp=got["grp"].str.replace(r"\.\d+$", "", regex=True))
    key = ["grp", "var1", "var2"]
    merged = got.merge(want, on=key, suffixes=("", "_r"), how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged
    assert_allclose(merged["vcov"], merged["vcov_r"], rtol=1e-5, atol=1e-9)
    assert_allclose(merged["sdcor"], merged["sdcor_r"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_id", ["unbalanced3_nested", "slope3_corr3", "slope3_uncorr3"])
def test_fitted_and_residuals_match_lme4(model_id):
    r = REF[model_id]["reml"]
    m = fit(model_id)
    assert_allclose(m.fitted.to_numpy(), r["fitted"], rtol=1e-5, atol=1e-6)
    assert_allclose(m.residuals.to_numpy(), r["residuals"], rtol=1e-5, atol=1e-6)
    assert_allclose(m.fitted + m.residuals, m.response, rtol=1e-14)
    assert m.fitted.index.equals(m.response.index)


def test_summary_prints_varcorr_and_criteria():
    m = fit("slope3_corr3")
    text = str(m.summary())
    assert "AIC, BIC" in text and f"{m.aic:.4f}" in text
    assert "Corr" in text and "0.499" in text  # the correlation on the slope's row, as lme4 prints it
    assert "nan" not in text.lower().split()
    uncorr = str(fit("slope3_uncorr3").summary())
    assert "team.1" in uncorr  # a second, uncorrelated term of the same factor, as lme4 names it


def test_singular_fit_summary_says_what_it_means_and_what_to_do():
    m = fit("singular3_ri")
    assert m.singular
    text = str(m.summary())
    for phrase in ("singular (boundary) fit", "cannot tell", "simplify the random part", "compare()",
                   "isSingular"):
        assert phrase in text
    assert "simplify the random part" not in str(fit("unbalanced3_nested").summary())


# ---------------------------------------------------------------------------
# profile likelihood
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("model_id", sorted(REF))
def test_profile_zeta_matches_lme4_trace(model_id):
    # lme4's profile trace holds exact evaluations of the signed root of the ML deviance (.zeta) at its
    # grid points; ours at the same points agrees to the inner optimisers' precision
    trace = REF[model_id]["reml"]["profile"]
    m = fit(model_id)
    par = np.array(trace["par"])
    focal = np.array(trace["focal"], dtype=float)
    zeta = np.array(trace["zeta"], dtype=float)
    for p in sorted(set(par)):
        sel = (par == p) & (np.abs(zeta) > 0.05)  # away from the optimum, where zeta = sqrt(~1e-12)
        got = _profile.profile_zeta(m, NAMES[model_id][p], focal[sel])
        assert_allclose(got, zeta[sel], rtol=0, atol=1e-7)


@pytest.mark.parametrize("model_id", sorted(REF))
def test_profile_intervals_match_lme4_confint(model_id):
    # lme4 interpolates a spline through its profile trace; the limits here are exact roots. They agree
    # to the spline's accuracy: 2e-5 relative where the profile is nearly linear; 1.5e-3 for the lower limit
    # of a standard deviation near zero, where zeta bends (there the exact root is checked below)
    m = fit(model_id)
    for level, key in ((0.95, "profile_ci_95"), (0.90, "profile_ci_90")):
        res = m.variance_intervals(confidence_level=level)
        ref = REF[model_id]["reml"][key]
        for name, lo, hi in zip(ref["names"], ref["lower"], ref["upper"]):
            row = res.table.loc[NAMES[model_id][name]]
            bent = name.startswith("sd_(Intercept)|trust")
            assert_allclose(row["ci_high"], hi, rtol=1.5e-3 if bent else 2e-5)
            if lo == 0:
                assert row["ci_low"] == 0  # the profile does not reach the limit before zero
            else:
                assert_allclose(row["ci_low"], lo, rtol=0.35 if bent and lo < 0.05 else 1.5e-3 if bent else 2e-5)


def test_profile_lower_limit_near_zero_is_the_exact_root():
    # unbalanced3: lme4's trace has zeta(0) = -1.9770 and zeta(0.0705) = -1.9261 for sd(trust); zeta is even
    # in the SD near zero, so the crossing of -1.96 lies at 0.0408, where lme4's spline reads 0.0307
    m = fit("unbalanced3_nested")
    res = m.variance_intervals()
    lo = res.table.loc["trust", "ci_low"]
    assert_allclose(_profile.profile_zeta(m, "trust", [lo]), [-stats.norm.isf(0.025)], atol=1e-8)
    trace = REF["unbalanced3_nested"]["reml"]["profile"]
    sel = np.array(trace["par"]) == "sd_(Intercept)|trust"
    focal, zeta = np.array(trace["focal"])[sel], np.array(trace["zeta"])[sel]
    below, above = focal[zeta < -1.96].max(), focal[(zeta > -1.96) & (focal < 0.5)].min()
    assert below < lo < above


def test_profile_centre_is_the_ml_fit_as_in_lme4():
    for model_id in sorted(REF):
        res = fit(model_id).variance_intervals()
        want = REF[model_id]["reml"]["ml_sdcor"]
        ml = fit(model_id, reml=False)
        assert_allclose(res.ml_estimate.reindex(ml.variance_intervals().ml_estimate.index), res.ml_estimate,
                        rtol=0)
        assert_allclose(np.sort(res.ml_estimate.to_numpy()), np.sort(want), rtol=1e-5, atol=1e-7)


def test_profile_of_ml_fit_equals_profile_of_reml_fit():
    # lme4 profiles the ML deviance whatever the fit's method
    a = fit("unbalanced3_nested").variance_intervals().table[["ci_low", "ci_high"]]
    b = fit("unbalanced3_nested", reml=False).variance_intervals().table[["ci_low", "ci_high"]]
    assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7)


def test_variance_scale_is_the_square_of_the_sd_interval():
    res = fit("slope3_corr3").variance_intervals()
    t = res.table
    sd = res.parameters == "sd"
    assert_allclose(t.loc[sd, "variance_ci_low"], t.loc[sd, "ci_low"] ** 2, rtol=1e-15)
    assert_allclose(t.loc[sd, "variance_ci_high"], t.loc[sd, "ci_high"] ** 2, rtol=1e-15)
    assert t.loc[~sd, ["variance_ci_low", "variance_ci_high"]].isna().all().all()
    assert_allclose(t.loc["team|Intercept,x", "estimate"],
                    fit("slope3_corr3").var_corr().query("var2 == 'x'")["sdcor"].iloc[0], rtol=1e-12)
    assert (t["ci_low"] <= res.ml_estimate).all() and (res.ml_estimate <= t["ci_high"]).all()


def test_profile_interval_at_another_level_is_recomputed():
    res = fit("unbalanced3_nested").variance_intervals()
    ci90 = res.confidence_interval(0.9)
    ref = REF["unbalanced3_nested"]["reml"]["profile_ci_90"]
    assert_allclose(ci90.loc["trust:team"].to_numpy(), [ref["lower"][0], ref["upper"][0]], rtol=2e-5)
    pd.testing.assert_frame_equal(res.confidence_interval(), res.table[["ci_low", "ci_high"]])
    back = pickle.loads(pickle.dumps(res))
    assert back == res


def test_dense_sparse_and_nested_deviances_agree():
    # three evaluations of lme4's ML deviance: the NestedModel route, the dense and the sparse PLS
    m = fit("unbalanced3_nested")
    st = _profile.structure(m)
    nested = _profile.deviance_function(m, st)
    assert isinstance(nested, _profile._NestedDeviance)
    dense = _profile._SparseDeviance(st)
    rng = np.random.default_rng(0)
    big = _profile._SparseDeviance.DENSE_MAX
    try:
        _profile._SparseDeviance.DENSE_MAX = 0
        sparse_ = _profile._SparseDeviance(st)
    finally:
        _profile._SparseDeviance.DENSE_MAX = big
    assert dense.dense and not sparse_.dense
    for _ in range(5):
        v = _profile.estimates(m, st) * rng.uniform(0.3, 2.0, st.n_params)
        d = [nested(v), dense(v), sparse_(v)]
        assert_allclose(d[1:], [d[0]] * 2, rtol=1e-11)
    # at the ML estimates: lme4's ML deviance
    v = _profile.estimates(fit("unbalanced3_nested", reml=False), st)
    assert_allclose(nested(v), REF["unbalanced3_nested"]["ml"]["criterion"], rtol=1e-9)


# ---------------------------------------------------------------------------
# parametric bootstrap
# ---------------------------------------------------------------------------
def test_bootstrap_matches_lme4_bootmer_in_distribution():
    ref = REF["unbalanced3_nested"]["reml"]["boot"]
    m = fit("unbalanced3_nested")
    res = m.variance_intervals(method="bootstrap", n_resamples=400, rng=20240611)
    assert res.draws.shape == (400, 3) and res.n_failed == 0
    names = list(res.table.index)
    for j, name in enumerate(ref["names"]):
        theirs = np.array(ref["draws"][j], dtype=float)
        ours = res.draws[:, names.index(NAMES["unbalanced3_nested"][name])]
        # same sampling distribution: two-sample Kolmogorov-Smirnov, and medians within Monte Carlo error
        assert stats.ks_2samp(theirs, ours).pvalue > 0.01, name
        se_median = 1.2533 * theirs.std() * np.sqrt(1 / len(theirs) + 1 / len(ours))
        assert abs(np.median(theirs) - np.median(ours)) < 4 * se_median, name
    # R's percentile interval of the team SD lies within Monte Carlo error of ours
    lo, hi = res.table.loc["trust:team", ["ci_low", "ci_high"]]
    r_lo, r_hi = ref["ci_95"]["lower"][0], ref["ci_95"]["upper"][0]
    assert abs(lo - r_lo) < 0.05 and abs(hi - r_hi) < 0.05


def test_bootstrap_draws_give_intervals_at_any_level():
    res = fit("unbalanced3_nested").variance_intervals(method="bootstrap", n_resamples=60, rng=1)
    again = fit("unbalanced3_nested").variance_intervals(method="bootstrap", n_resamples=60, rng=1)
    assert res == again  # seeded
    ci = res.confidence_interval(0.5)
    assert_allclose(ci.to_numpy(), np.quantile(res.draws, [0.25, 0.75], axis=0).T, rtol=1e-15)
    assert "parametric bootstrap" in str(res.summary())


def test_bootstrap_of_a_slope_model_refits_through_mixed():
    res = fit("slope3_corr3").variance_intervals(method="bootstrap", n_resamples=20, rng=2)
    assert list(res.table.index) == ["trust", "team|Intercept", "team|x", "team|Intercept,x", "residual"]
    assert np.isfinite(res.draws).all() and res.n_failed == 0
    cor = res.draws[:, 3]
    assert ((-1 <= cor) & (cor <= 1)).all()
