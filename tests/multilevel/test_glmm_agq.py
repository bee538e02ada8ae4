"""Nested adaptive Gauss-Hermite quadrature against independent integrals and lme4's nAGQ.

Oracles:

- brute force: the marginal likelihood as nested one-dimensional integrals computed here with
  ``scipy.integrate.quad`` (one random effect, and staff in teams in trusts), at fixed
  parameters; ours with enough points must equal it to 1e-6 (the issue's bar);
- lme4: for one scalar random effect ``glmer(nAGQ = q)`` uses the same adaptive rule (mode and
  PIRLS curvature), so its deviance function at the same parameters must equal ours to 1e-9
  relative for q = 7, 15, 25; fitted with ``nAGQ = 25`` where 25 points have converged
  (``two_level``: 10 staff per team), our estimates must match glmer's;
- the rule with one point per level is the Laplace approximation (exact identity).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate

from _glmm_helpers import GLMM_REF, data, engine, fit, fixef_name, r_params
from teamculture.errors import ConvergenceWarning
from teamculture.multilevel import glmm


def _loglik_rows(eta: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _brute_one_level(X, y, g, beta, sd):
    eta0 = X @ beta
    total = 0.0
    for c in np.unique(g):
        r = g == c
        mode = 0.0  # integrate over a wide, finite range around 0 (the prior dominates the tails)

        def f(b, r=r):
            return math.exp(_loglik_rows(eta0[r] + b, y[r])) * math.exp(-0.5 * (b / sd) ** 2) / (sd * math.sqrt(2 * math.pi))

        val, _ = integrate.quad(f, mode - 12 * sd, mode + 12 * sd, epsabs=0, epsrel=1e-12, limit=200)
        total += math.log(val)
    return total


_GL_X, _GL_W = np.polynomial.legendre.leggauss(400)


def _brute_two_levels(X, y, outer, inner, beta, sd_out, sd_in):
    """Nested integral: scipy's adaptive quad over the trust effect; for each of its evaluation points
    the team integrals by 400-point Gauss-Legendre on [-12 sd, 12 sd] (vectorised, machine precision
    for these smooth integrands). Not adaptive to the posterior, so independent of our rule."""
    eta0 = X @ beta
    v = 12 * sd_in * _GL_X
    wv = 12 * sd_in * _GL_W * np.exp(-0.5 * (v / sd_in) ** 2) / (sd_in * math.sqrt(2 * math.pi))
    total = 0.0
    for k in np.unique(outer):
        rows = outer == k
        teams = [rows & (inner == j) for j in np.unique(inner[rows])]

        def integrand(u, teams=teams):
            logval = 0.0
            for r in teams:
                e = eta0[r][:, None] + u + v[None, :]
                ll = (y[r][:, None] * e - np.logaddexp(0.0, e)).sum(axis=0)
                logval += math.log(float(np.exp(ll) @ wv))
            return math.exp(logval - 0.5 * (u / sd_out) ** 2) / (sd_out * math.sqrt(2 * math.pi))

        total += math.log(integrate.quad(integrand, -12 * sd_out, 12 * sd_out, epsabs=0, epsrel=1e-11,
                                         limit=200)[0])
    return total


def _arrays(name, eng):
    perm = eng.tree.perm
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    X = eng.Xt.T[inv]
    y = eng.k[inv]
    return X, y


def test_one_point_per_level_is_the_laplace_approximation():
    for name in ("three_level", "agq_small", "two_level", "poisson", "probit"):
        eng, cols, levels = engine(name)
        beta, theta = r_params(name, "probe_", cols, levels)
        grid = eng.adapt(beta, theta, (1,) * len(levels))
        assert_allclose(eng.agq(beta, theta, grid)[0], eng.laplace(beta, theta)[0], rtol=1e-13)


def test_one_level_quadrature_equals_brute_force_integral():
    eng, cols, levels = engine("agq_single")
    beta, theta = r_params("agq_single", "probe_", cols, levels)
    d = data("agq_single")
    X = np.c_[np.ones(len(d)), d["x"].to_numpy()]
    brute = _brute_one_level(X, d["y"].to_numpy(float), d["team"].to_numpy(), beta, theta[0])
    for q in (25, 51):
        grid = eng.adapt(beta, theta, (q,))
        assert abs(eng.agq(beta, theta, grid)[0] - brute) < 1e-6
    # Laplace is far off here (team SD ~2, one to three staff per team)
    assert abs(eng.laplace(beta, theta)[0] - brute) > 0.5


@pytest.fixture(scope="module")
def small_brute():
    d = data("agq_small")
    beta, theta = np.array([-0.2, 0.6]), np.array([0.9, 1.4])
    X = np.c_[np.ones(len(d)), d["x"].to_numpy()]
    return beta, theta, _brute_two_levels(X, d["y"].to_numpy(float), d["trust"].to_numpy(), d["team_id"].to_numpy(),
                                          beta, theta[0], theta[1])


@pytest.mark.slow
@pytest.mark.parametrize("q", [15, 25])
def test_three_level_quadrature_equals_nested_brute_force_integral(q, small_brute):
    beta, theta, brute = small_brute
    eng, cols, levels = engine("agq_small")
    grid = eng.adapt(beta, theta, (q, q))
    assert abs(eng.agq(beta, theta, grid)[0] - brute) < 1e-6


@pytest.mark.slow
def test_three_level_quadrature_equals_brute_force_on_a_larger_unbalanced_subset():
    d = data("three_level")
    d = d[d["trust"].isin(["T00", "T01", "T02", "T03", "T04", "T05"])].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = glmm("y ~ x + (1 | trust/team)", d, nagq=(9, 15))
    beta = f.coefficients["estimate"].to_numpy()
    sd = np.sqrt(f.variance_components[["trust", "trust:team"]].to_numpy())
    X = np.c_[np.ones(len(d)), d["x"].to_numpy()]
    brute = _brute_two_levels(X, d["y"].to_numpy(float), d["trust"].to_numpy(), d["team_id"].to_numpy(), beta,
                              sd[0], sd[1])
    assert abs(f.loglik - brute) < 1e-6


@pytest.mark.parametrize("q", [7, 15, 25])
def test_single_term_rule_equals_glmer_nagq_at_the_same_parameters(q):
    ref = GLMM_REF["agq_single"]
    eng, cols, levels = engine("agq_single")
    beta, theta = r_params("agq_single", "probe_", cols, levels)
    grid = eng.adapt(beta, theta, (q,))
    assert_allclose(eng.agq(beta, theta, grid)[0], ref[f"agq{q}"]["probe_loglik"], rtol=1e-9)


def test_fit_with_25_points_matches_glmer_where_converged():
    ref = GLMM_REF["two_level"]["agq25"]
    f = fit("two_level", nagq=25)
    assert abs(f.quadrature_check) < 1e-6
    assert f.loglik >= ref["loglik"] - 1e-6
    assert_allclose(f.loglik, ref["loglik"], rtol=1e-9)
    fnames = [fixef_name(n) for n in GLMM_REF["two_level"]["fixef_names"]]
    order = [fnames.index(c) for c in f.coefficients.index]
    assert_allclose(f.coefficients["estimate"].to_numpy(), np.array(ref["fixef"])[order], rtol=2e-5, atol=2e-5)
    assert_allclose(math.sqrt(f.variance_components.iloc[0]), ref["theta"][0], rtol=2e-5)
    assert_allclose(f.coefficients["std_error"].to_numpy(), np.array(ref["se"])[order], rtol=1e-4)


def test_too_few_points_are_reported_and_more_points_converge():
    with pytest.warns(ConvergenceWarning, match="quadrature has not converged"):
        f7 = fit_warn("agq_single", 7)
    assert abs(f7.quadrature_check) > 1e-3
    ref = GLMM_REF["agq_single"]
    # glmer's 25-point fit: our 25-point log-likelihood agrees with it
    f25 = fit("agq_single", nagq=25)
    assert f25.loglik >= ref["agq25"]["loglik"] - 1e-6
    assert_allclose(f25.loglik, ref["agq25"]["loglik"], rtol=1e-8)


def fit_warn(name, q):
    ref = GLMM_REF[name]
    return glmm(ref["formula_py"], data(name), nagq=q)


def test_fixed_node_gradient_matches_differences():
    eng, cols, levels = engine("three_level")
    beta, theta = r_params("three_level", "probe_", cols, levels)
    grid = eng.adapt(beta, theta, (5, 7))
    v, g = eng.agq(beta, theta, grid, grad=True)
    th = np.r_[beta, theta]
    fd = []
    for j in range(th.size):
        e = np.zeros(th.size)
        e[j] = 1e-5
        hi = eng.agq((th + e)[:len(beta)], (th + e)[len(beta):], grid)[0]
        lo = eng.agq((th - e)[:len(beta)], (th - e)[len(beta):], grid)[0]
        fd.append((hi - lo) / 2e-5)
    assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_agq_estimates_move_away_from_laplace_towards_larger_variances():
    # small teams, binary outcome: Laplace underestimates the team variance
    lap = fit("agq_single")
    agq = fit("agq_single", nagq=25)
    assert agq.variance_components.iloc[0] > lap.variance_components.iloc[0]


def test_chunked_evaluation_equals_one_chunk():
    eng, cols, levels = engine("three_level")
    beta, theta = r_params("three_level", "probe_", cols, levels)
    grid = eng.adapt(beta, theta, (5, 7))
    whole = eng.agq(beta, theta, grid, grad=True)
    for budget in (35, 2000, 20_000):  # one trust per chunk, a few, several
        part = eng.agq(beta, theta, grid, grad=True, chunk_elements=budget)
        assert_allclose(part[0], whole[0], rtol=1e-13)
        assert_allclose(part[1], whole[1], rtol=1e-10, atol=1e-10)
