"""The block-elimination engine (multilevel._blocked) against a dense n x n implementation.

Oracle: the textbook formulas written here with dense matrices on small random
unbalanced designs (Hypothesis): V/sigma^2 = I + Z Lambda Lambda' Z', the
profiled REML criterion / ML deviance, GLS estimates, BLUPs Lambda Lambda' Z'
V^-1 (y - X beta) and conditional covariances sigma^2 (G - G Z' V^-1 Z G). The
exact derivatives are checked against central differences of the dense
criterion (steps 2e-3 and 1e-3, Richardson-extrapolated: error ~1e-8; numDeriv's
default steps, which lmerTest uses, are noisier at a zero Cholesky diagonal,
where their absolute step is 1e-4). Designs cover
nested and crossed factors, correlated and uncorrelated terms, slopes in every
factor and zero variances (the boundary).

Tolerances: criteria rtol 1e-9 (observed ~1e-13); estimates and BLUPs rtol
1e-7; gradient and Hessian rtol 1e-5 relative to the largest entry (the
numerical side is accurate to ~1e-8).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.multilevel._blocked import BlockedModel, Factor

KINDS = {
    # factor specs: (name, columns, blocks)
    "nested_corr": [("trust", ("Intercept",), ((0,),)), ("team", ("Intercept", "x"), ((0, 1),))],
    "nested_uncorr": [("trust", ("Intercept",), ((0,),)), ("team", ("Intercept", "x"), ((0,), (1,)))],
    "nested_both": [("trust", ("Intercept", "x"), ((0, 1),)), ("team", ("Intercept", "x"), ((0,), (1,)))],
    "single": [("team", ("Intercept", "x", "z"), ((0, 1), (2,)))],
    "crossed_ri": [("team", ("Intercept",), ((0,),)), ("occ", ("Intercept",), ((0,),))],
    "crossed_slopes": [("team", ("Intercept", "x"), ((0, 1),)), ("occ", ("Intercept", "z"), ((0,), (1,)))],
    "nested_and_crossed": [("trust", ("Intercept",), ((0,),)), ("team", ("Intercept", "x"), ((0, 1),)),
                           ("occ", ("Intercept",), ((0,),))],
}


def _coords(blocks):
    out = []
    for blk in blocks:
        for a in range(len(blk)):
            for b in range(a, len(blk)):
                out.append((blk[b], blk[a]))
    return out


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(sorted(KINDS)))
    K = draw(st.integers(2, 4))
    J = draw(st.integers(K + 1, 8))
    n_occ = draw(st.integers(2, 4))
    n = draw(st.integers(3 * J, 6 * J))
    team = np.r_[np.arange(J), rng.integers(0, J, n - J)]
    trust_of_team = np.r_[np.arange(K), rng.integers(0, K, J - K)]
    occ = np.r_[np.arange(n_occ), rng.integers(0, n_occ, n - n_occ)]
    perm = rng.permutation(n)
    team, occ = team[perm], occ[perm]
    trust = trust_of_team[team]
    x, z = rng.normal(size=n) + 2.0, rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, z])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=J)[team] + rng.normal(size=n)
    codes = {"trust": (trust, K), "team": (team, J), "occ": (occ, n_occ)}
    factors = [Factor(name, cols, blocks, codes[name][0], codes[name][1]) for name, cols, blocks in KINDS[kind]]
    k = sum(len(_coords(f.blocks)) for f in factors)
    diag = np.array([r == c for f in factors for (r, c) in _coords(f.blocks)])
    theta = np.where(diag, rng.uniform(0.1, 1.5, k), rng.uniform(-0.8, 0.8, k))
    if draw(st.booleans()):  # a zero Cholesky diagonal (a boundary point) is a legitimate point
        theta[rng.choice(np.flatnonzero(diag))] = 0.0
    return X, y, factors, {"x": x, "z": z}, theta, draw(st.booleans())


def _model_theta(model, factors, theta):
    """theta given in the factors' order -> the model's internal order (largest factor first)."""
    by = {}
    st_ = 0
    for f in factors:
        kf = len(_coords(f.blocks))
        by[f.name] = theta[st_:st_ + kf]
        st_ += kf
    return np.concatenate([by[f.name] for f in model.factors])


def _dense(X, factors, Zc, theta_by_factor):
    n = X.shape[0]
    Zs, Gs = [], []
    for f, th in zip(factors, theta_by_factor):
        cols = np.column_stack([np.ones(n) if c == "Intercept" else Zc[c] for c in f.columns])
        Zf = np.zeros((n, f.n_levels * f.q))
        for i in range(f.q):
            Zf[np.arange(n), f.codes * f.q + i] = cols[:, i]
        T = np.zeros((f.q, f.q))
        for t, (r, c) in zip(th, _coords(f.blocks)):
            T[r, c] = t
        Zs.append(Zf)
        Gs.append(np.kron(np.eye(f.n_levels), T @ T.T))
    Z = np.hstack(Zs)
    G = np.zeros((Z.shape[1],) * 2)
    at = 0
    for g in Gs:
        G[at:at + len(g), at:at + len(g)] = g
        at += len(g)
    return Z, G


def _dense_criterion(X, y, Z, G, reml):
    n, p = X.shape
    V = np.eye(n) + Z @ G @ Z.T
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    beta = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ beta
    rss = r @ Vi @ r
    nu = n - p if reml else n
    crit = np.linalg.slogdet(V)[1] + nu * (1 + np.log(2 * np.pi * rss / nu))
    if reml:
        crit += np.linalg.slogdet(A)[1]
    return crit, beta, rss / nu, Vi, A


def _num_grad(f, x, h=2e-3):
    """Central differences at steps h and h/2, Richardson-extrapolated (error O(h^4))."""
    def d(step):
        return np.array([(f(x + step * e) - f(x - step * e)) / (2 * step) for e in np.eye(len(x))])
    return (4 * d(h / 2) - d(h)) / 3


def _num_hess(f, x, h=2e-3):
    def d(step):
        k = len(x)
        H = np.empty((k, k))
        f0 = f(x)
        E = np.eye(k) * step
        for i in range(k):
            H[i, i] = (f(x + E[i]) - 2 * f0 + f(x - E[i])) / step**2
            for j in range(i):
                H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j])
                                     + f(x - E[i] - E[j])) / (4 * step**2)
        return H
    return (4 * d(h / 2) - d(h)) / 3


def _split(model, theta):
    out, st_ = [], 0
    for kf in model.k_f:
        out.append(theta[st_:st_ + kf])
        st_ += kf
    return out


@given(designs())
def test_criterion_estimates_and_blups_match_dense_formulas(design):
    X, y, factors, Zc, theta, reml = design
    model = BlockedModel(X, y, factors, Zc)
    th = _model_theta(model, factors, theta)
    Z, G = _dense(X, model.factors, Zc, _split(model, th))
    crit, beta, sigma2, Vi, A = _dense_criterion(X, y, Z, G, reml)
    assert_allclose(model.criterion(th, reml), crit, rtol=1e-9)
    f, _, _ = model.criterion_jet(th, reml)
    assert_allclose(f, crit, rtol=1e-9)
    b, s2, cov = model.estimates(th, reml)
    assert_allclose(b, beta, rtol=1e-7, atol=1e-9)
    assert_allclose(s2, sigma2, rtol=1e-7)
    assert_allclose(cov, sigma2 * np.linalg.inv(A), rtol=1e-7, atol=1e-12)
    # BLUPs and conditional covariances (lme4's condVar: given beta-hat)
    u = G @ Z.T @ Vi @ (y - X @ beta)
    C = sigma2 * (G - G @ Z.T @ Vi @ Z @ G)
    at = 0
    for f, (blup, cv) in zip(model.factors, model.conditional_modes(th, b, s2)):
        size = f.n_levels * f.q
        assert_allclose(blup.ravel(), u[at:at + size], rtol=1e-7, atol=1e-9)
        for lev in range(f.n_levels):
            s = slice(at + lev * f.q, at + (lev + 1) * f.q)
            assert_allclose(cv[lev], C[s, s], rtol=1e-7, atol=1e-10)
        at += size


@given(designs())
def test_exact_derivatives_match_numerical_ones_of_the_dense_criterion(design):
    X, y, factors, Zc, theta, reml = design
    model = BlockedModel(X, y, factors, Zc)
    th = _model_theta(model, factors, theta)

    def dense(t):
        Z, G = _dense(X, model.factors, Zc, _split(model, t))
        return _dense_criterion(X, y, Z, G, reml)[0]

    _, g, H = model.criterion_jet(th, reml)
    g_num = _num_grad(dense, th)
    H_num = _num_hess(dense, th)
    scale_g = max(1.0, float(np.max(np.abs(g_num))))
    scale_h = max(1.0, float(np.max(np.abs(H_num))))
    assert_allclose(g, g_num, rtol=0, atol=1e-5 * scale_g)
    assert_allclose(H, H_num, rtol=0, atol=1e-5 * scale_h)


@given(designs())
def test_satterthwaite_pieces_match_numerical_derivatives(design):
    """The exact Hessian of lmerTest's devfun_vp(theta, sigma) and the Jacobian of Cov(beta)."""
    X, y, factors, Zc, theta, reml = design
    model = BlockedModel(X, y, factors, Zc)
    th = _model_theta(model, factors, theta)
    n, p = X.shape
    sigma = 0.9

    def devfun_vp(vp):
        Z, G = _dense(X, model.factors, Zc, _split(model, vp[:-1]))
        V = np.eye(n) + Z @ G @ Z.T
        Vi = np.linalg.inv(V)
        A = X.T @ Vi @ X
        beta = np.linalg.solve(A, X.T @ Vi @ y)
        r = y - X @ beta
        s2 = vp[-1] ** 2
        dev = np.linalg.slogdet(V)[1] + r @ Vi @ r / s2 + n * np.log(2 * np.pi * s2)
        if reml:
            dev += np.linalg.slogdet(A)[1] - p * np.log(2 * np.pi * s2)
        return dev

    def cov_beta(vp):
        Z, G = _dense(X, model.factors, Zc, _split(model, vp[:-1]))
        Vi = np.linalg.inv(np.eye(n) + Z @ G @ Z.T)
        return vp[-1] ** 2 * np.linalg.inv(X.T @ Vi @ X)

    vp = np.r_[th, sigma]
    H, cov, J = model.varpar_derivatives(th, sigma, reml)
    H_num = _num_hess(devfun_vp, vp)
    J_num = np.stack([_num_grad(lambda v, a=a, b=b: cov_beta(v)[a, b], vp) for a in range(p) for b in range(p)])
    J_num = J_num.reshape(p, p, len(vp))
    assert_allclose(cov, cov_beta(vp), rtol=1e-8)
    assert_allclose(H, H_num, rtol=0, atol=1e-5 * max(1.0, float(np.max(np.abs(H_num)))))
    assert_allclose(J, J_num, rtol=0, atol=1e-6 * max(1.0, float(np.max(np.abs(J_num)))))


def test_nested_intercepts_through_the_blocked_engine_equal_the_nested_engine():
    import _mixed_fixtures as fx

    data = fx.mixed_data("unbalanced3")
    nested = tc.mixed("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", data)
    codes = {g: pd.factorize(nested.group_labels[g], sort=True)[0] for g in ("trust", "team")}
    factors = [Factor(g, ("Intercept",), ((0,),), codes[g], int(nested.n_groups[g])) for g in ("trust", "team")]
    model = BlockedModel(nested.design.to_numpy(), nested.response.to_numpy(), factors, {})
    theta, crit, converged, _ = model.fit(True)
    assert converged
    assert_allclose(crit, nested.deviance, rtol=1e-12)
    names = [f.name for f in model.factors]  # team first (more levels)
    assert_allclose(theta, nested.theta[names].to_numpy(), rtol=1e-5)
    beta, _, cov = model.estimates(theta, True)
    assert_allclose(beta, nested.fixed_effects.to_numpy(), rtol=1e-7)
    assert_allclose(cov, nested.cov_params.to_numpy(), rtol=1e-5)


def test_column_signs_are_normalised_and_do_not_change_the_criterion():
    import _mixed_fixtures as fx

    data = fx.mixed_data("slope3")
    team = pd.factorize(data["team"])[0]
    f = Factor("team", ("Intercept", "x"), ((0, 1),), team, int(team.max()) + 1)
    model = BlockedModel(np.column_stack([np.ones(len(data)), data["x"]]), data["y"].to_numpy(), [f],
                         {"x": data["x"].to_numpy()})
    theta = np.array([0.8, 0.3, 0.5])
    flipped = np.array([-0.8, -0.3, 0.5])  # the first column of the template negated
    assert_allclose(model.criterion(flipped, True), model.criterion(theta, True), rtol=1e-14)
    assert_allclose(model.normalise(flipped), theta)
    assert_allclose(model.normalise(np.array([0.8, 0.3, -0.5])), theta)


def test_too_many_coupled_random_effects_are_refused(monkeypatch):
    import teamculture.multilevel._blocked as blocked

    monkeypatch.setattr(blocked, "DENSE_LIMIT", 10)
    import _mixed_fixtures as fx

    data = fx.mixed_data("slope3").assign(occ=lambda d: (np.arange(len(d)) % 7).astype(str))
    with pytest.warns(tc.errors.NestingWarning):
        with pytest.raises(ValueError, match=r"`formula`: after eliminating 'team', the other random effects form "
                                             r"coupled blocks of up to \d+ columns"):
            tc.mixed("y ~ x + (1 | team) + (1 | occ) + (1 | trust)", data)
