"""The exact engine for correlated team slopes nested in trusts (multilevel._nested_slopes).

Oracles:

* ``tests/reference/lme4_nested_slopes.json`` (``lme4_nested_slopes.R``):
  lme4 + lmerTest fits refitted with tight optimiser tolerances (bobyqa
  rhoend 1e-12, then Nelder-Mead). Tolerances: criterion within 1e-6 of
  lme4's (and so <= lme4's + 1e-6); fixed effects, variance components and
  standard errors rtol 1e-5; Satterthwaite df rtol 1e-4 (numerical
  derivatives on both sides); BLUPs atol 1e-5 and conditional variances rtol
  1e-5. Observed: criteria within 3e-12, everything else within 2e-6.
* ``slope3_corr3`` of ``tests/reference/lme4_reference.json`` (lme4's
  default tolerances), its LRT against ``slope3_ri3`` and its Nakagawa R².
  lme4's default fit stops short in flat directions (ML trust variance
  2.3e-5 relative from the optimum, criterion 3e-9 above ours), so there
  variance components are compared at rtol 1e-4.
* A dense ``n x n`` implementation of the REML/ML criterion and of the BLUPs
  written here (Hypothesis, random small unbalanced designs).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture.multilevel._nested_slopes import NestedSlopesModel, nested_slopes_suffstats

REFDIR = Path(__file__).resolve().parents[1] / "reference"
TIGHT = json.loads((REFDIR / "lme4_nested_slopes.json").read_text())["models"]
DEFAULT = json.loads((REFDIR / "lme4_reference.json").read_text())


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFDIR / "mixed_data" / f"{name}.csv", dtype={"trust": str, "team": str, "cat": str})


@lru_cache(maxsize=None)
def _fit(formula: str, dataset: str, reml: bool):
    import _mixed_fixtures as fx

    return fx.mixed_fit(formula, _data(dataset), reml=reml)


def _vc_expected(ref: dict) -> pd.Series:
    """lme4's VarCorr rows renamed to teamculture's index ("g", "g|term", "g|t1,t2", "residual")."""
    def term(t: str) -> str:
        return "Intercept" if t == "(Intercept)" else t

    out = {}
    for v in ref["varcorr"]:
        g = v["grp"]
        if g == "Residual":
            out["residual"] = v["vcov"]
        elif len(ref["ranef"][g]["terms"]) == 1:
            out[g] = v["vcov"]
        elif v["var2"] is None:
            out[f"{g}|{term(v['var1'])}"] = v["vcov"]
        else:
            out[f"{g}|{term(v['var1'])},{term(v['var2'])}"] = v["vcov"]
    return pd.Series(out, dtype=float)


CASES = [(mid, method) for mid in TIGHT for method in ("REML", "ML")]


@pytest.mark.parametrize(("model_id", "method"), CASES)
def test_matches_tightly_converged_lme4(model_id, method):
    m = TIGHT[model_id]
    ref = m[method]
    res = _fit(m["formula"], m["dataset"], method == "REML")
    assert res.engine == "nested-slopes"
    assert res.reml == (method == "REML") and res.converged
    assert res.deviance <= ref["crit"] + 1e-6
    assert_allclose(res.deviance, ref["crit"], rtol=0, atol=1e-6)
    assert_allclose(res.loglik, ref["loglik"], rtol=0, atol=5e-7)
    assert res.n_obs == ref["nobs"]
    assert res.singular == ref["singular"]
    assert dict(res.n_groups) == ref["ngrps"]
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    assert_allclose(res.cov_params.to_numpy(), np.array(ref["vcov"]), rtol=1e-5)
    assert_allclose(res.coefficients["std_error"].to_numpy(), np.sqrt(np.diag(ref["vcov"])), rtol=1e-5)
    assert_allclose(res.coefficients["df"].to_numpy(), ref["satterthwaite_df"], rtol=1e-4)
    expected = _vc_expected(ref)
    assert sorted(res.variance_components.index) == sorted(expected.index)
    assert_allclose(res.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-9)
    n_theta = len(ref["theta"])
    assert res.n_params == len(ref["fixef"]) + n_theta + 1 and len(res.theta) == n_theta
    for g, rv in ref["ranef"].items():
        ours = res.random_effects[g]
        terms = ["Intercept" if t == "(Intercept)" else t for t in rv["terms"]]
        levels = rv["levels"]
        assert sorted(map(str, ours.index)) == sorted(levels)
        ours = ours.set_axis(ours.index.map(str)).reindex(levels)
        cv_ref = np.array(rv["condvar"]).reshape(len(levels), len(terms), len(terms))
        cv_ref = np.stack([np.diag(c) for c in cv_ref])
        if len(terms) == 1:
            blup, cvar = ours[["blup"]].to_numpy(), ours[["cond_var"]].to_numpy()
        else:
            blup, cvar = ours[terms].to_numpy(), ours[[f"cond_var:{t}" for t in terms]].to_numpy()
        ref_blup = np.column_stack([rv["values"][t] for t in rv["terms"]])
        assert_allclose(blup, ref_blup, rtol=0, atol=1e-5)
        assert_allclose(cvar, cv_ref, rtol=1e-5, atol=1e-12)  # exact zeros at a zero variance


def test_colon_form_is_the_same_model_named_as_written():
    m = TIGHT["slope3_corr3"]
    a = _fit(m["formula"], "slope3", True)
    b = _fit(TIGHT["slope3_corr3_colon"]["formula"], "slope3", True)
    assert list(b.variance_components.index) == [
        "trust", "trust:team|Intercept", "trust:team|x", "trust:team|Intercept,x", "residual"]
    assert list(a.variance_components.index) == ["trust", "team|Intercept", "team|x", "team|Intercept,x", "residual"]
    assert_allclose(b.deviance, a.deviance, rtol=1e-12)
    assert_allclose(b.variance_components.to_numpy(), a.variance_components.to_numpy(), rtol=1e-6)
    assert list(b.random_effects["trust:team"].columns) == ["Intercept", "x", "cond_var:Intercept", "cond_var:x"]
    assert list(a.random_effects["trust"].columns) == ["blup", "cond_var"]


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_default_lme4_fit_is_not_better(method):
    m = DEFAULT["models"]["slope3_corr3"]
    ref = m[method]
    res = _fit(m["formula"], m["dataset"], method == "REML")
    crit = ref["remlcrit"] if method == "REML" else ref["deviance"]
    assert res.deviance <= crit + 1e-6
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    expected = _vc_expected({**ref, "ranef": {"trust": {"terms": ["(Intercept)"]},
                                              "team": {"terms": ["(Intercept)", "x"]}}})
    assert_allclose(res.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-4)


def test_interface_refit_compare_r2_and_summary():
    m = DEFAULT["models"]["slope3_corr3"]
    data = _data("slope3")
    before = data.copy()
    import teamculture as tc

    fit = tc.mixed(m["formula"], data)
    pd.testing.assert_frame_equal(data, before)
    ml = fit.refit(reml=False)
    assert ml.engine == "nested-slopes" and not ml.reml
    assert_allclose(ml.deviance, _fit(m["formula"], "slope3", False).deviance, rtol=1e-10)
    reduced = tc.mixed("y ~ x + (1 | trust) + (1 | team)", data)
    cmp_ref = next(c for c in DEFAULT["comparisons"]
                   if c["full"] == "slope3_corr3" and c["reduced"] == "slope3_ri3" and not c["refit"])
    res = fit.compare(reduced)
    assert res.df == cmp_ref["df"]
    assert_allclose(res.statistic, cmp_ref["chisq"], rtol=1e-6)
    r2_ref = m["REML"]["r2_nakagawa"]
    r2 = fit.r_squared()
    assert_allclose([r2.marginal, r2.conditional], [r2_ref["marginal"], r2_ref["conditional"]], rtol=1e-4)
    ci = fit.confidence_interval()
    assert list(ci.columns) == ["ci_low", "ci_high"] and bool((ci["ci_low"] < fit.fixed_effects).all())
    text = str(fit.summary())
    assert "nested-slopes" in text and "Corr" in text and "(Intercept)" in text
    with pytest.raises(ValueError, match="random-intercept model"):
        fit.icc()


# --------------------------------------------------------------------------- dense oracle
def _tri(vals, q):
    L = np.zeros((q, q))
    idx = 0
    for a in range(q):
        for b in range(a, q):
            L[b, a] = vals[idx]
            idx += 1
    return L


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    K = draw(st.integers(2, 4))
    teams_per = [draw(st.integers(1, 3)) for _ in range(K)]
    sizes = [draw(st.integers(1, 5)) for _ in range(sum(teams_per))]
    sizes[0] += 4  # at least p + 3 rows for the three fixed effects
    q_t = draw(st.sampled_from([1, 2]))
    reml = draw(st.booleans())
    trust_of_team = np.repeat(np.arange(K), teams_per)
    team = np.repeat(np.arange(len(sizes)), sizes)
    n = len(team)
    # shuffle rows and relabel teams so that codes are not sorted by trust
    perm = rng.permutation(n)
    relabel = rng.permutation(len(sizes))
    trust = trust_of_team[team][perm]
    team = relabel[team[perm]]
    x, z = rng.normal(size=n), rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, z])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=n)
    Z = np.column_stack([np.ones(n), x])
    T = np.column_stack([np.ones(n), z])[:, :q_t]
    n_theta = q_t * (q_t + 1) // 2 + 3
    theta = rng.uniform(-1.0, 1.5, size=n_theta)
    diag = [a == b for a in range(q_t) for b in range(a, q_t)] + [True, False, True]
    theta = np.where(diag, np.abs(theta), theta)
    if draw(st.booleans()):  # a zero variance (boundary) is a legitimate point
        theta[draw(st.integers(0, n_theta - 1))] = 0.0
    return X, y, T, Z, team, trust, theta, reml


def _dense(X, y, T, Z, team, trust, theta, reml):
    n, p = X.shape
    q_t, q = T.shape[1], Z.shape[1]
    n_t = q_t * (q_t + 1) // 2
    Lt, L = _tri(theta[:n_t], q_t), _tri(theta[n_t:], q)
    K, J = trust.max() + 1, team.max() + 1
    Zfull = np.zeros((n, K * q_t + J * q))
    for i in range(n):
        Zfull[i, trust[i] * q_t:(trust[i] + 1) * q_t] = T[i]
        Zfull[i, K * q_t + team[i] * q: K * q_t + (team[i] + 1) * q] = Z[i]
    G = np.zeros((Zfull.shape[1],) * 2)
    for k in range(K):
        G[k * q_t:(k + 1) * q_t, k * q_t:(k + 1) * q_t] = Lt @ Lt.T
    for j in range(J):
        s = K * q_t + j * q
        G[s:s + q, s:s + q] = L @ L.T
    V = np.eye(n) + Zfull @ G @ Zfull.T  # V / sigma^2
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    beta = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ beta
    rss = r @ Vi @ r
    logdet = np.linalg.slogdet(V)[1]
    if reml:
        crit = logdet + np.linalg.slogdet(A)[1] + (n - p) * (1 + np.log(2 * np.pi * rss / (n - p)))
    else:
        crit = logdet + n * (1 + np.log(2 * np.pi * rss / n))
    return crit, beta, Zfull, G, Vi, K


@given(designs())
def test_criterion_and_blups_match_dense_formulas(design):
    X, y, T, Z, team, trust, theta, reml = design
    model = NestedSlopesModel(nested_slopes_suffstats(X, y, T, Z, team, trust))
    crit, beta, Zfull, G, Vi, K = _dense(X, y, T, Z, team, trust, theta, reml)
    assert_allclose(model.criterion(theta, reml), crit, rtol=1e-9, atol=1e-9)
    b_hat, sigma2, _ = model.estimates(theta, reml)
    assert_allclose(b_hat, beta, rtol=1e-7, atol=1e-9)
    # BLUPs G Z' V^-1 (y - X beta) and conditional covariance sigma^2 (G - G Z' V^-1 Z G)
    sigma2 = 0.7
    u = G @ Zfull.T @ Vi @ (y - X @ beta)
    C = sigma2 * (G - G @ Zfull.T @ Vi @ Zfull @ G)
    b_t, cov_t, b_j, cov_j = model.conditional_modes(theta, beta, sigma2)
    q_t, q = T.shape[1], Z.shape[1]
    assert_allclose(b_t.ravel(), u[:K * q_t], rtol=1e-7, atol=1e-9)
    assert_allclose(b_j.ravel(), u[K * q_t:], rtol=1e-7, atol=1e-9)
    for k in range(K):
        s = slice(k * q_t, (k + 1) * q_t)
        assert_allclose(cov_t[k], C[s, s], rtol=1e-7, atol=1e-10)
    for j in range(len(b_j)):
        s = slice(K * q_t + j * q, K * q_t + (j + 1) * q)
        assert_allclose(cov_j[j], C[s, s], rtol=1e-7, atol=1e-10)
