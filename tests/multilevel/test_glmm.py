"""glmm(): result protocol, closed-form summaries, invariances, equivalent inputs, flags.

Numbers checked here come from closed forms (VPC, MOR, exp of coefficients, linear
contrasts), from independent computations done in the test (numerical integration of the
population-averaged probability, a dense-matrix Laplace approximation), or from identities
between two ways of writing the same model; the lme4 comparisons are in ``test_glmm_lme4``.
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import integrate, special, stats

from _glmm_helpers import data, fit
from teamculture.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture.multilevel import GLMMCompareResult, GLMMResult, glmm
from teamculture.multilevel._glmm_engine import GLMMEngine
from teamculture.results import COEF_COLUMNS, Result, Summary


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.fixture(scope="module")
def three():
    return fit("three_level")


# --------------------------------------------------------------------------- protocol
def test_result_protocol(three):
    other = fit("two_level")
    assert isinstance(three, Result) and isinstance(three, GLMMResult)
    back = pickle.loads(pickle.dumps(three))
    assert back == three and not (back != three)
    assert three != other
    d = three.to_dict()
    assert {"n_obs", "n_dropped", "n_groups"} <= set(d)
    assert three.n_obs == 2141 and three.n_dropped == 0
    assert three.n_groups.to_dict() == {"trust": 40, "trust:team": 279}
    s = three.summary()
    assert isinstance(s, Summary)
    text = str(three)
    assert "nan" not in text.lower().split()
    assert "\\toprule" in s.as_latex() and s.as_html().startswith("<div") and "|" in s.as_markdown()
    assert list(three.coefficients.columns) == list(COEF_COLUMNS)
    assert np.all(np.isinf(three.coefficients["df"]))
    ci = three.confidence_interval()
    narrow = three.confidence_interval(confidence_level=0.5)
    assert list(ci.columns) == ["ci_low", "ci_high"]
    assert (ci["ci_low"] <= narrow["ci_low"]).all() and (narrow["ci_high"] <= ci["ci_high"]).all()
    z = stats.norm.isf(0.025)
    assert_allclose(ci["ci_low"], three.coefficients["estimate"] - z * three.coefficients["std_error"], rtol=1e-12)
    assert_allclose(three.aic, -2 * three.loglik + 2 * 6, rtol=1e-12)
    assert_allclose(three.bic, -2 * three.loglik + 6 * math.log(2141), rtol=1e-12)


def test_compare_result_protocol(three):
    small = _quiet(glmm, "y ~ team_type + (1 | trust/team)", data("three_level"))
    res = three.compare(small)
    assert isinstance(res, GLMMCompareResult)
    assert pickle.loads(pickle.dumps(res)) == res
    assert res.statistic == pytest.approx(2 * (three.loglik - small.loglik), rel=1e-12)
    assert res.pvalue == pytest.approx(stats.chi2.sf(res.statistic, 1), rel=1e-12)
    assert small.compare(three) == res  # either order
    assert "nan" not in str(res).lower().split()
    with pytest.raises(TypeError, match="has no confidence interval"):
        res.confidence_interval()


# --------------------------------------------------------------------------- closed forms
def test_odds_ratios_are_exponentiated_coefficients(three):
    orr = three.odds_ratios()
    assert_allclose(orr["estimate"], np.exp(three.coefficients["estimate"]), rtol=1e-14)
    assert_allclose(orr["ci_low"], np.exp(three.coefficients["ci_low"]), rtol=1e-14)
    ci90 = three.odds_ratios(confidence_level=0.9)
    assert (ci90["ci_low"] > orr["ci_low"]).all()
    with pytest.raises(ValueError, match="`rate_ratios`"):
        three.rate_ratios()


def test_icc_and_median_odds_ratio_closed_forms(three):
    v_t, v_j = three.variance_components["trust"], three.variance_components["trust:team"]
    total = v_t + v_j + math.pi**2 / 3
    icc = three.icc()
    assert_allclose(icc.loc["trust", "vpc"], v_t / total, rtol=1e-14)
    assert_allclose(icc.loc["trust:team", "icc"], (v_t + v_j) / total, rtol=1e-14)
    assert np.isnan(icc.loc["residual", "icc"])
    mor = three.median_odds_ratio()
    assert_allclose(mor.loc["trust", "estimate"], math.exp(math.sqrt(2 * v_t) * stats.norm.ppf(0.75)), rtol=1e-14)
    assert_allclose(mor.loc["trust:team", "estimate"], math.exp(0.9538725524 * math.sqrt(v_j)), rtol=1e-9)
    assert (mor["ci_low"] < mor["estimate"]).all() and (mor["estimate"] < mor["ci_high"]).all()


def test_probit_icc_uses_unit_residual_variance():
    f = fit("probit")
    icc = f.icc()
    assert icc.loc["residual", "variance"] == 1.0
    with pytest.raises(ValueError, match="`odds_ratios`"):
        f.odds_ratios()
    assert f.contrasts("team_type")["ratio"].isna().all()


def test_contrasts_are_differences_of_coefficients(three):
    c = three.contrasts("team_type")
    b = three.coefficients["estimate"]
    cov = three.cov_params
    assert list(c.index) == ["pseudo vs none", "real vs none", "real vs pseudo"]
    assert_allclose(c.loc["pseudo vs none", "estimate"], b["team_type[T.pseudo]"], rtol=1e-14)
    diff = b["team_type[T.real]"] - b["team_type[T.pseudo]"]
    var = (cov.loc["team_type[T.real]", "team_type[T.real]"] + cov.loc["team_type[T.pseudo]", "team_type[T.pseudo]"]
           - 2 * cov.loc["team_type[T.real]", "team_type[T.pseudo]"])
    assert_allclose(c.loc["real vs pseudo", "estimate"], diff, rtol=1e-12)
    assert_allclose(c.loc["real vs pseudo", "std_error"], math.sqrt(var), rtol=1e-12)
    assert_allclose(c["ratio"], np.exp(c["estimate"]), rtol=1e-14)
    chosen = three.contrasts("team_type", pairs=[("pseudo", "real"), ("none", "real")])
    assert_allclose(chosen.loc["pseudo vs real", "estimate"], -c.loc["real vs pseudo", "estimate"], rtol=1e-12)
    assert list(chosen.columns[:7]) == list(COEF_COLUMNS)


def _pa_probability(eta, tau):
    """mean over rows of E[expit(eta + tau Z)] by adaptive quadrature (scipy's quad_vec, all rows at once)."""
    vals, _ = integrate.quad_vec(lambda z: special.expit(eta + tau * z) * stats.norm.pdf(z), -12, 12,
                                 epsabs=1e-13, epsrel=1e-12)
    return float(np.mean(vals))


def test_population_averaged_probabilities_equal_numerical_integration():
    f = fit("two_level")
    d = data("two_level")
    b = f.coefficients["estimate"]
    tau = math.sqrt(float(f.variance_components.sum()))
    pp = f.predicted_probabilities("team_type")
    for lv in ("none", "pseudo", "real"):
        eta = b["Intercept"] + b["x"] * d["x"].to_numpy() + (b[f"team_type[T.{lv}]"] if lv != "none" else 0.0)
        assert_allclose(pp.loc[lv, "estimate"], _pa_probability(eta, tau), rtol=1e-9)
    rd = f.risk_differences("team_type", pairs=[("pseudo", "real")])
    assert_allclose(rd.loc["pseudo vs real", "estimate"], pp.loc["pseudo", "estimate"] - pp.loc["real", "estimate"],
                    rtol=1e-12)
    assert list(rd.columns) == list(COEF_COLUMNS)
    # attenuation: population-averaged contrasts are smaller than the conditional ones (logit)
    assert abs(rd.iloc[0]["estimate"]) < abs(f.contrasts("team_type", pairs=[("pseudo", "real")]).iloc[0]["estimate"])


def test_population_averaged_probabilities_with_random_slopes():
    d = data("slopes").assign(grp=lambda t: np.where(t.index % 2 == 0, "a", "b"))
    f = _quiet(glmm, "y ~ x + grp + (1 + x | team)", d)
    b = f.coefficients["estimate"]
    S = f._Sigma
    x = d["x"].to_numpy()
    tau = np.sqrt(S[0, 0] + 2 * S[0, 1] * x + S[1, 1] * x**2)  # each row's random-part SD
    eta = b["Intercept"] + b["x"] * x + b["grp[T.b]"]
    vals, _ = integrate.quad_vec(lambda z: special.expit(eta + tau * z) * stats.norm.pdf(z), -12, 12,
                                 epsabs=1e-13, epsrel=1e-12)
    pp = f.predicted_probabilities("grp")
    assert_allclose(pp.loc["b", "estimate"], float(np.mean(vals)), rtol=1e-9)
    assert np.isfinite(pp["std_error"]).all() and (pp["std_error"] > 0).all()


def test_population_averaged_standard_error_is_the_delta_method():
    f = fit("two_level")
    d = data("two_level")
    x = d["x"].to_numpy()
    names = list(f.coefficients.index)
    cov = f._cov_theta.to_numpy()

    def pbar(theta):
        b = dict(zip(names, theta[:4]))
        eta = b["Intercept"] + b["x"] * x + b["team_type[T.pseudo]"]
        z, w = np.polynomial.hermite_e.hermegauss(80)
        return float(np.mean(special.expit(eta[:, None] + theta[4] * z[None, :]) @ (w / w.sum())))

    theta = np.r_[f.coefficients["estimate"].to_numpy(), math.sqrt(f.variance_components.iloc[0])]
    grad = np.array([(pbar(theta + e) - pbar(theta - e)) / 2e-6 for e in np.eye(5) * 1e-6])
    se = math.sqrt(grad @ cov @ grad)
    assert_allclose(f.predicted_probabilities("team_type").loc["pseudo", "std_error"], se, rtol=1e-5)


def test_poisson_rate_ratios_and_means():
    f = fit("poisson")
    rr = f.rate_ratios()
    assert_allclose(rr["estimate"], np.exp(f.coefficients["estimate"]), rtol=1e-14)
    d = data("poisson")
    b = f.coefficients["estimate"]
    tau2 = float(f.variance_components.sum())
    eta = b["Intercept"] + b["x"] * d["x"].to_numpy() + np.log(d["days"].to_numpy())
    assert_allclose(f.predicted_probabilities("team_type").loc["none", "estimate"],
                    np.mean(np.exp(eta + tau2 / 2)), rtol=1e-12)
    with pytest.raises(ValueError, match="`icc`"):
        f.icc()


# --------------------------------------------------------------------------- invariances
def test_row_order_and_label_names_do_not_matter(three):
    d = data("three_level")
    shuffled = d.sample(frac=1.0, random_state=3)
    shuffled["trust"] = "H-" + shuffled["trust"]
    f = _quiet(glmm, "y ~ x + team_type + (1 | trust/team)", shuffled)
    assert_allclose(f.loglik, three.loglik, rtol=1e-10)
    assert_allclose(f.coefficients["estimate"], three.coefficients["estimate"], rtol=1e-6, atol=1e-7)
    assert_allclose(f.variance_components, three.variance_components, rtol=1e-6)
    re = f.random_effects["trust"]
    assert_allclose(re.loc["H-T07", "condval"], three.random_effects["trust"].loc["T07", "condval"], atol=1e-6)


def test_unique_team_labels_make_crossed_syntax_the_nested_model(three):
    f = _quiet(glmm, "y ~ x + team_type + (1 | trust) + (1 | team_id)", data("three_level"))
    assert_allclose(f.loglik, three.loglik, rtol=1e-10)
    assert_allclose(f.variance_components["team_id"], three.variance_components["trust:team"], rtol=1e-6)


def test_weights_with_proportions_equal_cbind():
    d = data("trials")
    a = _quiet(glmm, "cbind(k, n - k) ~ team_type + (1 | team)", d)
    d = d.assign(p=d["k"] / d["n"])
    b = _quiet(glmm, "p ~ team_type + (1 | team)", d, weights="n")
    c = _quiet(glmm, "p ~ team_type + (1 | team)", d, weights=d["n"].sample(frac=1.0, random_state=1))
    for other in (b, c):
        assert_allclose(other.loglik, a.loglik, rtol=1e-12)
        assert_allclose(other.coefficients["estimate"], a.coefficients["estimate"], rtol=1e-8, atol=1e-9)


def test_offset_as_formula_column_or_series_is_the_same_model():
    d = data("poisson").assign(log_days=lambda t: np.log(t["days"]))
    a = fit("poisson")
    b = _quiet(glmm, "absence ~ x + team_type + (1 | trust/team)", d, family="poisson", offset="log_days")
    c = _quiet(glmm, "absence ~ x + team_type + (1 | trust/team)", d, family="poisson",
               offset=d["log_days"].sample(frac=1.0, random_state=2))
    for other in (b, c):
        assert_allclose(other.loglik, a.loglik, rtol=1e-12)
        assert_allclose(other.coefficients["estimate"], a.coefficients["estimate"], rtol=1e-8, atol=1e-9)


def test_poisson_prior_weights_equal_duplicated_rows():
    d = data("poisson")
    twice = pd.concat([d, d], ignore_index=True)
    a = _quiet(glmm, "absence ~ x + (1 | trust/team)", twice, family="poisson")
    b = _quiet(glmm, "absence ~ x + (1 | trust/team)", d, family="poisson", weights=np.full(len(d), 2.0))
    assert_allclose(b.loglik, a.loglik, rtol=1e-12)
    assert_allclose(b.coefficients["estimate"], a.coefficients["estimate"], rtol=1e-8, atol=1e-9)


def _slope_data(seed=20261203, n_groups=40, size=30):
    """Binary outcomes with a real random-slope variance (intercept SD 0.9, slope SD 0.5)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), size)
    x = rng.normal(size=g.size)
    b0, b1 = rng.normal(0, 0.9, n_groups), rng.normal(0, 0.5, n_groups)
    eta = -0.3 + 0.8 * x + 0.4 * (g % 2) + b0[g] + b1[g] * x
    y = (rng.random(g.size) < special.expit(eta)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "grp": np.where(np.arange(g.size) % 3 == 0, "a", "b"),
                         "g": [f"G{i:02d}" for i in g]})


@pytest.mark.parametrize("s", [1e8, 1e-8])
def test_random_slopes_are_equivariant_in_the_unit_of_the_covariate(s):
    # before: x in units of 1e8 gave converged=False, a slope variance 4.5e-18 (expected 2.2e-18 on the red team's
    # data) and a wrong covariance; in units of 1e-8 a non-positive-definite Hessian and the start value 0.25
    d = _slope_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = glmm("y ~ xs + grp + (xs | g)", d.assign(xs=d["x"]))
        b = glmm("y ~ xs + grp + (xs | g)", d.assign(xs=d["x"] * s))
    assert a.converged and b.converged and not a.singular and not b.singular
    assert a.variance_components["g|xs"] > 0.1  # a real slope variance
    assert_allclose(b.loglik, a.loglik, rtol=1e-11)
    unit = pd.Series({"Intercept": 1.0, "grp[T.b]": 1.0, "xs": 1.0 / s}).reindex(a.coefficients.index)
    for col in ("estimate", "std_error"):
        assert_allclose(b.coefficients[col], a.coefficients[col] * unit, rtol=1e-6)
    assert_allclose(b.coefficients["statistic"], a.coefficients["statistic"], rtol=1e-6)
    vunit = pd.Series({"g|(Intercept)": 1.0, "g|xs": s**-2, "g|(Intercept),xs": 1.0 / s}).reindex(
        a.variance_components.index)
    assert_allclose(b.variance_components, a.variance_components * vunit, rtol=1e-6)
    ra, rb = a.random_effects["g"], b.random_effects["g"]
    for col in ("condval:(Intercept)", "condsd:(Intercept)"):
        assert_allclose(rb[col], ra[col], rtol=1e-5, atol=1e-8)
    for col in ("condval:xs", "condsd:xs"):
        assert_allclose(rb[col] * s, ra[col], rtol=1e-5, atol=1e-8)
    assert_allclose(b.predicted_probabilities("grp")[["estimate", "std_error"]],
                    a.predicted_probabilities("grp")[["estimate", "std_error"]], rtol=1e-6)
    ia, ib = a.variance_intervals().table, b.variance_intervals().table
    sdunit = np.array([1.0, 1.0 / s, 1.0])
    for col in ("estimate", "ci_low", "ci_high"):
        assert_allclose(ib[col].to_numpy(), ia[col].to_numpy() * sdunit, rtol=1e-6)
    assert_allclose(ib["variance_ci_high"].to_numpy()[:2], ia["variance_ci_high"].to_numpy()[:2] * sdunit[:2] ** 2,
                    rtol=1e-6)


@pytest.mark.parametrize("s", [1e12, 1e-12])
def test_random_intercepts_are_equivariant_in_the_unit_of_a_covariate(s):
    # the start's divergence bound was |beta| > 1e8 in the caller's units: with x in units of 1e-12 it stopped the
    # start early and the fit ended 1.7e-5 (relative) away from the unit fit's estimates
    d = _slope_data()
    a = glmm("y ~ xs + grp + (1 | g)", d.assign(xs=d["x"]))
    b = glmm("y ~ xs + grp + (1 | g)", d.assign(xs=d["x"] * s))
    unit = np.array([1.0 / s if c == "xs" else 1.0 for c in a.coefficients.index])
    assert_allclose(b.coefficients["estimate"].to_numpy(), a.coefficients["estimate"].to_numpy() * unit, rtol=1e-9)
    assert_allclose(b.loglik, a.loglik, rtol=1e-12)
    assert_allclose(b.variance_components.to_numpy(), a.variance_components.to_numpy(), rtol=1e-9)


def test_categorical_random_slope_keeps_lme4_meaning():
    # (grp | g) is lme4's (1 + grp | g): an intercept and the treatment-coded dummy grp[T.b] (was refused as rank
    # deficient: the slope was built as '0 + grp', both dummies next to the intercept); the same model as a 0/1
    # column (lme4's glmer(y ~ x + c + (c | g)), run once on a similar design, codes it so too: loglik -727.70548
    # against our -727.70534)
    d = _slope_data()
    a = _quiet(glmm, "y ~ x + grp + (grp | g)", d)
    b = _quiet(glmm, "y ~ x + grp + (gb | g)", d.assign(gb=(d["grp"] == "b").astype(float)))
    assert list(a.variance_components.index) == ["g|(Intercept)", "g|grp[T.b]", "g|(Intercept),grp[T.b]"]
    assert_allclose(a.loglik, b.loglik, rtol=1e-12)
    assert_allclose(a.variance_components.to_numpy(), b.variance_components.to_numpy(), rtol=1e-6, atol=1e-10)
    assert list(a.random_effects["g"].columns[:2]) == ["condval:(Intercept)", "condval:grp[T.b]"]


# --------------------------------------------------------------------------- flags
def test_singular_fit_is_flagged_with_a_boundary_warning():
    ref = data("zero_trust")
    with pytest.warns(BoundaryWarning, match="singular fit"):
        f = glmm("y ~ x + team_type + (1 | trust/team)", ref)
    assert f.singular and f.variance_components["trust"] < 1e-8
    assert any("singular" in n for n in f.notes) and "singular" in str(f)
    assert np.isnan(f.median_odds_ratio().loc["trust", "ci_low"])


def test_separation_is_reported_as_an_infinite_estimate():
    d = data("three_level").copy()
    d.loc[d["team_type"] == "none", "y"] = 0
    with pytest.warns(DegenerateDataWarning, match="separation"):
        f = glmm("y ~ x + team_type + (1 | trust/team)", d)
    assert f.coefficients.loc["team_type[T.pseudo]", "estimate"] == np.inf
    assert f.coefficients.loc["team_type[T.real]", "estimate"] == np.inf
    assert np.isfinite(f.coefficients.loc["x", "estimate"])
    assert f.confidence_interval().loc["team_type[T.real]", "ci_high"] == np.inf
    with pytest.raises(ValueError, match="`term`"):
        f.contrasts("team_type", pairs=[("real", "none")])


def test_nonconvergence_is_flagged(monkeypatch):
    from teamculture.multilevel import _glmm_engine

    original = _glmm_engine._Fitter.laplace_fit

    def stop_early(self, theta0, scale, **kw):
        kw["max_iter"] = 1
        return original(self, theta0, scale, **kw)

    monkeypatch.setattr(_glmm_engine._Fitter, "laplace_fit", stop_early)
    with pytest.warns(ConvergenceWarning, match="convergence not confirmed"):
        f = glmm("y ~ x + team_type + (1 | trust/team)", data("three_level"))
    assert not f.converged and "did not converge" in str(f)


def test_missing_rows_are_dropped_and_counted():
    d = data("three_level").copy()
    d.loc[[3, 10, 11], "x"] = np.nan
    d.loc[20, "trust"] = None
    with pytest.warns(DroppedDataWarning, match="4 of 2141"):
        f = glmm("y ~ x + (1 | trust/team)", d)
    assert f.n_dropped == 4 and f.n_obs == 2137
    with pytest.raises(ValueError, match="`data`.*nan_policy='raise'"):
        glmm("y ~ x + (1 | trust/team)", d, nan_policy="raise")


# --------------------------------------------------------------------------- the engine against dense algebra
def _dense_laplace(X, k, m, codes, beta, sigma):
    Z = np.hstack([np.eye(c.max() + 1)[c] for c in codes])
    lam = np.concatenate([np.full(c.max() + 1, s) for c, s in zip(codes, sigma)])
    ZL = Z * lam
    eta0 = X @ beta
    u = np.zeros(Z.shape[1])
    for _ in range(100):
        mu = special.expit(eta0 + ZL @ u)
        g = ZL.T @ (k - m * mu) - u
        H = ZL.T @ (ZL * (m * mu * (1 - mu))[:, None]) + np.eye(len(u))
        step = np.linalg.solve(H, g)
        u = u + step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = eta0 + ZL @ u
    mu = special.expit(eta)
    H = ZL.T @ (ZL * (m * mu * (1 - mu))[:, None]) + np.eye(len(u))
    const = np.sum(special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1))
    return float(np.sum(k * eta - m * np.logaddexp(0, eta)) - 0.5 * u @ u - 0.5 * np.linalg.slogdet(H)[1] + const)


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 3))
def test_engine_equals_dense_laplace_on_random_unbalanced_designs(seed, depth):
    rng = np.random.default_rng(seed)
    groups = [np.arange(int(rng.integers(2, 5)))]
    parents = [None]
    for _ in range(1, depth):
        kids = rng.integers(1, 4, size=len(groups[-1]))
        parents.append(np.repeat(groups[-1], kids))
        groups.append(np.arange(int(kids.sum())))
    fin = np.repeat(groups[-1], rng.integers(1, 5, size=len(groups[-1])))
    codes = [fin]
    for lev in range(depth - 1, 0, -1):
        codes.insert(0, parents[lev][codes[0]])
    perm = rng.permutation(len(fin))
    codes = [c[perm] for c in codes]
    n = len(fin)
    X = np.c_[np.ones(n), rng.normal(size=n)]
    m = rng.integers(1, 4, size=n).astype(float)
    k = rng.binomial(m.astype(int), 0.4).astype(float)
    beta = rng.normal(0, 0.5, 2)
    sigma = rng.uniform(0.0, 1.5, depth)
    eng = GLMMEngine(X, k, m, None, codes, "binomial", "logit")
    value, grad, _ = eng.laplace(beta, sigma, grad=True)
    assert_allclose(value, _dense_laplace(X, k, m, codes, beta, sigma), rtol=1e-11, atol=1e-11)
    th = np.r_[beta, sigma]
    fd = []
    for j in range(th.size):
        e = np.zeros(th.size)
        e[j] = 1e-5
        fd.append((_dense_laplace(X, k, m, codes, (th + e)[:2], (th + e)[2:])
                   - _dense_laplace(X, k, m, codes, (th - e)[:2], (th - e)[2:])) / 2e-5)
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)
