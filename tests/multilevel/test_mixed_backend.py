"""The statsmodels MixedLM backend for random slopes (multilevel._statsmodels_backend).

Oracle: lme4 + lmerTest fits in tests/reference/lme4_reference.json.
Tolerances: the criterion must be <= lme4's + 1e-6 (we polish on the exact
criterion, lme4's bobyqa stops ~1e-9 above it); fixed effects rtol 1e-5;
variance components, standard errors and Satterthwaite df rtol 2e-4, BLUPs
atol 1e-4 — slope variances sit in a flat likelihood, so lme4's own optimum is
only that precise (observed differences up to 3e-5 relative).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import _mixed_fixtures as fx
from teamculture.multilevel._formula import parse_formula
from teamculture.multilevel._lmm_common import BackendFit
from teamculture.multilevel._statsmodels_backend import _Blocks, _structure, fit_statsmodels


REF = fx.lme4_reference()
FAST = ("lbfgs", "powell")


def _inputs(formula: str, data: pd.DataFrame):
    parsed = parse_formula(formula)
    codes, labels = {}, {}
    for t in parsed.random:
        if len(t.factors) == 1:
            c, lab = pd.factorize(data[t.factors[0]], sort=True)
        else:
            c, lab = pd.factorize(data[list(t.factors)].astype(str).agg(":".join, axis=1), sort=True)
        codes[t.group], labels[t.group] = c.astype(np.intp), pd.Index(lab, name=t.group)
    return parsed, codes, labels


def _fit(model_id: str, method: str, methods=FAST) -> tuple[BackendFit, dict]:
    ref = REF["models"][model_id]
    X, data = fx.design_matrix(model_id)
    X = X.rename(columns={"(Intercept)": "Intercept"})
    parsed, codes, labels = _inputs(ref["formula"], data)
    res = fit_statsmodels(data["y"], X, parsed.random, codes, labels, data, reml=(method == "REML"),
                          methods=methods)
    return res, ref[method]


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("model_id", ["slope3_corr2", "slope3_uncorr3"])
def test_matches_lme4_random_slopes(model_id, method):
    res, ref = _fit(model_id, method)
    crit = ref["remlcrit"] if method == "REML" else ref["deviance"]
    assert res.deviance <= crit + 1e-6
    assert_allclose(res.loglik, ref["loglik"], rtol=1e-8)
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    expected_vc = fx.varcorr_series(ref).rename(lambda k: k.replace("(Intercept)", "Intercept"))
    expected_vc = expected_vc.rename({"team|Intercept": "team"}) if model_id == "slope3_uncorr3" else expected_vc
    assert sorted(res.variance_components.index) == sorted(expected_vc.index)
    # lme4 at its default tolerances (our criterion is lower): largest relative differences seen
    # on these four fits are VC 3.1e-5, SE 1.2e-5, df 3.1e-5, p 1.3e-4; tolerances about 3-4x those
    assert_allclose(res.variance_components[expected_vc.index].to_numpy(), expected_vc.to_numpy(), rtol=1e-4)
    assert_allclose(res.coefficients["std_error"].to_numpy(), np.sqrt(np.diag(np.array(ref["vcov"]))), rtol=5e-5)
    sat = ref["satterthwaite"]
    assert_allclose(res.coefficients["df"].to_numpy(), sat["df"], rtol=1e-4)
    assert_allclose(res.coefficients["pvalue"].to_numpy(), sat["p"], rtol=5e-4)
    assert res.n_params == ref["loglik_df"]
    assert not res.singular and res.converged


def test_blups_and_conditional_variances_match_lme4():
    res, ref = _fit("slope3_corr2", "REML")
    re = res.random_effects["team"]
    lme = ref["ranef"]["team"]
    assert list(re.index) == lme["levels"]
    assert list(re.columns) == ["Intercept", "x", "cond_var:Intercept", "cond_var:x"]
    assert_allclose(re["Intercept"].to_numpy(), lme["values"]["(Intercept)"], rtol=0, atol=1e-4)
    assert_allclose(re["x"].to_numpy(), lme["values"]["x"], rtol=0, atol=1e-4)
    blocks = np.array(lme["condvar_blocks"][0])  # (levels, 2, 2)
    assert_allclose(re["cond_var:Intercept"].to_numpy(), blocks[:, 0, 0], rtol=2e-4)
    assert_allclose(re["cond_var:x"].to_numpy(), blocks[:, 1, 1], rtol=2e-4)


def test_random_intercepts_agree_with_lme4_closely():
    # a plain random-intercept model through the backend: no flat directions, tight match
    res, ref = _fit("slope3_ri3", "REML")
    assert res.deviance <= ref["remlcrit"] + 1e-6
    expected = fx.varcorr_series(ref)
    assert_allclose(res.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-5)
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-6)
    assert_allclose(res.coefficients["df"].to_numpy(), ref["satterthwaite"]["df"], rtol=1e-4)
    lme = ref["ranef"]["team"]
    assert_allclose(res.random_effects["team"]["blup"].to_numpy(), lme["values"]["(Intercept)"], atol=1e-5, rtol=0)
    assert_allclose(res.random_effects["team"]["cond_var"].to_numpy(), lme["condvar_blocks"][0], rtol=1e-5)


def test_keeps_the_best_optimiser():
    res, ref = _fit("balanced2_ri", "REML", methods=("lbfgs", "bfgs", "cg", "powell", "nm"))
    runs = {k: v for k, v in res.criteria.items() if k != "polished"}
    assert set(runs) == {f"statsmodels:{m}" for m in ("lbfgs", "bfgs", "cg", "powell", "nm")} | {
        "exact:L-BFGS-B", "exact:Powell", "exact:Nelder-Mead"}
    finite = [v for v in runs.values() if np.isfinite(v)]
    assert res.criteria[res.optimizer] == min(finite)
    assert res.deviance <= min(finite) + 1e-12
    assert_allclose(res.deviance, ref["remlcrit"], rtol=1e-9)
    assert any(res.optimizer in n for n in res.notes)


def test_statsmodels_only_and_exact_only_agree():
    sm, ref = _fit("slope3_corr2", "REML", methods=("lbfgs",))
    from teamculture.multilevel._statsmodels_backend import fit_statsmodels as fit

    X, data = fx.design_matrix("slope3_corr2")
    X = X.rename(columns={"(Intercept)": "Intercept"})
    parsed, codes, labels = _inputs(REF["models"]["slope3_corr2"]["formula"], data)
    exact = fit(data["y"], X, parsed.random, codes, labels, data, methods=(), exact_methods=("Powell",))
    assert set(exact.criteria) == {"exact:Powell", "polished"}
    assert_allclose(exact.deviance, sm.deviance, rtol=1e-10)
    assert_allclose(exact.fixed_effects.to_numpy(), sm.fixed_effects.to_numpy(), rtol=1e-5)


def test_unsupported_structures_raise():
    data = fx.mixed_data("slope3")
    X = pd.DataFrame({"Intercept": 1.0, "x": data["x"]})
    parsed, codes, labels = _inputs("y ~ x + (1 | trust) + (1 + x | team)", data)
    with pytest.raises(ValueError, match="correlated random effects of 'team'"):
        fit_statsmodels(data["y"], X, parsed.random, codes, labels, data, methods=FAST)
    crossed = data.assign(rater=np.arange(len(data)) % 7)
    parsed, codes, labels = _inputs("y ~ x + (1 | team) + (1 | rater)", crossed)
    with pytest.raises(ValueError, match="not nested"):
        fit_statsmodels(crossed["y"], X, parsed.random, codes, labels, crossed, methods=FAST)


def _dense_criterion(X, y, Z, D, reml):
    """-2 log-likelihood (profiled over sigma) from the dense n x n covariance."""
    n, p = X.shape
    V = np.eye(n) + Z @ D @ Z.T
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    beta = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ beta
    rss = r @ Vi @ r
    ld = np.linalg.slogdet(V)[1]
    if reml:
        return ld + np.linalg.slogdet(A)[1] + (n - p) * (1 + np.log(2 * np.pi * rss / (n - p)))
    return ld + n * (1 + np.log(2 * np.pi * rss / n))


@given(st.integers(0, 2**31), st.booleans(), st.lists(st.floats(0, 2), min_size=5, max_size=5))
def test_exact_criterion_equals_dense_implementation(seed, reml, th):
    rng = np.random.default_rng(seed)
    n_trust = int(rng.integers(2, 4))
    team_trust = np.r_[np.arange(n_trust), rng.integers(0, n_trust, int(rng.integers(1, 5)))]
    sizes = rng.integers(1, 5, len(team_trust))
    team = np.repeat(np.arange(len(team_trust)), sizes)
    trust = team_trust[team]
    n = len(team)
    x = rng.normal(size=n)
    data = pd.DataFrame({"trust": trust, "team": team, "x": x, "y": rng.normal(size=n)})
    X = pd.DataFrame({"Intercept": 1.0, "x": x})
    if n <= 3:
        return
    parsed, codes, labels = _inputs("y ~ x + (1 + x | trust) + (1 | team) + (0 + x | team)", data)
    s = _structure(parsed.random, codes, X, data)
    blocks = _Blocks(s, X.to_numpy(), data["y"].to_numpy())
    theta = np.array([th[0], th[1] - 1.0, th[2], th[3], th[4]])
    # dense: trust intercept/slope with Cholesky factor, team intercept and slope
    T = np.eye(n_trust)[trust]
    U = np.eye(len(team_trust))[team]
    Z = np.hstack([T, T * x[:, None], U, U * x[:, None]])
    Lc = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    S = Lc @ Lc.T
    D = np.zeros((Z.shape[1], Z.shape[1]))
    k = n_trust
    D[:k, :k] = S[0, 0] * np.eye(k)
    D[:k, k:2 * k] = D[k:2 * k, :k] = S[0, 1] * np.eye(k)
    D[k:2 * k, k:2 * k] = S[1, 1] * np.eye(k)
    m = len(team_trust)
    D[2 * k:2 * k + m, 2 * k:2 * k + m] = theta[3] ** 2 * np.eye(m)
    D[2 * k + m:, 2 * k + m:] = theta[4] ** 2 * np.eye(m)
    expected = _dense_criterion(X.to_numpy(), data["y"].to_numpy(), Z, D, reml)
    assert_allclose(blocks.profiled(theta, reml), expected, rtol=1e-9, atol=1e-9)


def test_agrees_with_the_exact_nested_engine_on_random_intercepts():
    import teamculture as tc

    data = fx.mixed_data("unbalanced3")
    nested = tc.mixed("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", data)
    X = nested.design
    parsed, codes, labels = _inputs("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", data)
    res = fit_statsmodels(nested.response, X, parsed.random, codes, labels, data, methods=())
    assert_allclose(res.deviance, nested.deviance, rtol=1e-10)
    assert_allclose(res.fixed_effects.to_numpy(), nested.fixed_effects.to_numpy(), rtol=1e-6)
    assert_allclose(res.variance_components[nested.variance_components.index].to_numpy(),
                    nested.variance_components.to_numpy(), rtol=1e-5)
    assert_allclose(res.coefficients["df"].to_numpy(), nested.coefficients["df"].to_numpy(), rtol=1e-4)
    assert_allclose(res.random_effects["team"]["blup"].to_numpy(),
                    nested.random_effects["team"]["blup"].to_numpy(), rtol=0, atol=1e-6)


@given(st.integers(0, 2**31), st.lists(st.floats(0.05, 2), min_size=3, max_size=3))
def test_blups_equal_dense_formula(seed, th):
    rng = np.random.default_rng(seed)
    team = np.repeat(np.arange(5), rng.integers(1, 5, 5))
    n = len(team)
    x = rng.normal(size=n)
    y = rng.normal(size=n)
    data = pd.DataFrame({"team": team, "x": x, "y": y})
    X = pd.DataFrame({"Intercept": 1.0, "x": x})
    parsed, codes, labels = _inputs("y ~ x + (1 + x | team)", data)
    s = _structure(parsed.random, codes, X, data)
    blocks = _Blocks(s, X.to_numpy(), y)
    theta = np.array([th[0], th[1] - 1.0, th[2]])
    beta, sigma2, _ = blocks.estimates(theta, True)
    modes = blocks.conditional_modes(theta, beta, sigma2)
    Lc = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    U = np.eye(5)[team]
    Z = np.hstack([U, U * x[:, None]])
    D = np.kron(Lc @ Lc.T, np.eye(5))
    V = np.eye(n) + Z @ D @ Z.T
    Vi = np.linalg.inv(V)
    A = X.to_numpy().T @ Vi @ X.to_numpy()
    beta_d = np.linalg.solve(A, X.to_numpy().T @ Vi @ y)
    b = D @ Z.T @ Vi @ (y - X.to_numpy() @ beta_d)  # (intercepts of 5 teams, then slopes)
    assert_allclose(beta, beta_d, rtol=1e-8, atol=1e-10)
    got = np.array([m[0] for m in modes])  # (team, [intercept, slope])
    assert_allclose(got[:, 0], b[:5], rtol=1e-7, atol=1e-9)
    assert_allclose(got[:, 1], b[5:], rtol=1e-7, atol=1e-9)
    # conditional covariance sigma^2 (D - D Z' V^-1 Z D), per team block
    C = sigma2 * (D - D @ Z.T @ Vi @ Z @ D)
    for j, (_, cov) in enumerate(modes):
        block = C[np.ix_([j, j + 5], [j, j + 5])]
        assert_allclose(cov, block, rtol=1e-7, atol=1e-10)
