"""Laplace GLMM with correlated random intercepts and slopes for one grouping factor (private).

``g(E[y_i | b]) = x_i' beta + offset_i + z_i' b_{g(i)}``, ``b_g ~ N(0, Sigma)``, ``Sigma = L L'``
with ``L`` lower triangular, parametrised as lme4 does (``theta`` = the lower triangle of ``L``
column by column, diagonal >= 0) and the random effects in spherical form ``b_g = L u_g``,
``u_g ~ N(0, I)``. Groups are independent, so the Hessian of the conditional-mode problem is
block diagonal with ``r x r`` blocks ``L' A_g L + I`` (``A_g = sum_i w_i z_i z_i'``): the mode is
a batched Newton iteration and the Laplace log-likelihood::

    sum_i log f(y_i | eta*_i) - sum_g |u*_g|^2 / 2 - sum_g log|L' A_g L + I| / 2

(PIRLS weights in ``A_g``, as lme4) costs O(rows x r^2) per evaluation. The parameters are
estimated by L-BFGS-B on central differences of this function (``p + r(r+1)/2`` parameters),
polished by Newton steps on a finite-difference Hessian, whose inverse gives the standard
errors (lme4's default ``vcov`` for GLMMs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from teamculture.multilevel._glmm_engine import _Family, _fd_hess, _glm_start

__all__ = ["SlopeEngine", "SlopeFit", "fit_slopes"]


def theta_to_L(theta: np.ndarray, r: int) -> np.ndarray:
    """lme4's ``theta`` (lower triangle of L, column-major) to the ``r x r`` matrix ``L``."""
    L = np.zeros((r, r))
    k = 0
    for j in range(r):
        for i in range(j, r):
            L[i, j] = theta[k]
            k += 1
    return L


def diag_positions(r: int) -> list[int]:
    """Positions of the diagonal of ``L`` in ``theta``."""
    out, k = [], 0
    for j in range(r):
        for i in range(j, r):
            if i == j:
                out.append(k)
            k += 1
    return out


class SlopeEngine:
    """Laplace approximation for one grouping factor with ``r`` correlated random effects."""

    def __init__(self, X: np.ndarray, Z: np.ndarray, k: np.ndarray, m: np.ndarray, offset: np.ndarray | None,
                 codes: np.ndarray, family: str, link: str) -> None:
        order = np.argsort(codes, kind="stable")
        self.order = order
        sc = np.asarray(codes)[order]
        self.G = int(sc.max()) + 1
        self.counts = np.bincount(sc, minlength=self.G)
        self.starts = np.r_[0, np.cumsum(self.counts)[:-1]]
        self.Xt = np.ascontiguousarray(np.asarray(X, float)[order].T)
        self.Zt = np.ascontiguousarray(np.asarray(Z, float)[order].T)
        self.k = np.asarray(k, float)[order]
        self.m = np.asarray(m, float)[order]
        self.offset = None if offset is None else np.asarray(offset, float)[order]
        self.p, self.r = self.Xt.shape[0], self.Zt.shape[0]
        self.fam = _Family(family, link, self.k, self.m)
        self.family, self.link = family, link
        self.n = len(self.k)
        self._u: np.ndarray | None = None
        # products z_a z_b per row, for the per-group r x r blocks
        self.ZZ = np.einsum("an,bn->abn", self.Zt, self.Zt)
        # glm_start expects these attributes
        self.D = 0

    def eta0(self, beta: np.ndarray) -> np.ndarray:
        out = beta @ self.Xt
        return out if self.offset is None else out + self.offset

    def _blocks(self, w: np.ndarray) -> np.ndarray:
        """``A_g = sum_i w_i z_i z_i'`` as (G, r, r)."""
        A = np.add.reduceat(self.ZZ * w, self.starts, axis=-1)  # (r, r, G)
        return np.moveaxis(A, -1, 0)

    def mode(self, beta: np.ndarray, L: np.ndarray, u0: np.ndarray | None = None) -> dict[str, Any]:
        eta0 = self.eta0(beta)
        u = np.zeros((self.G, self.r)) if u0 is None else u0.copy()
        fam = self.fam

        def at(uu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
            b = uu @ L.T  # (G, r)
            eta = eta0 + np.einsum("an,an->n", self.Zt, np.repeat(b.T, self.counts, axis=1))
            lsum, s, w = fam.eval_sum(eta)
            return lsum - 0.5 * float(np.einsum("ga,ga->", uu, uu)), eta, s, w

        pen, eta, s, w = at(u)
        if not np.isfinite(pen):
            u = np.zeros((self.G, self.r))
            pen, eta, s, w = at(u)
        eye = np.eye(self.r)
        for _ in range(200):
            c = np.add.reduceat(self.Zt * s, self.starts, axis=-1).T  # (G, r)
            A = self._blocks(w)
            H = np.einsum("ba,gbc,cd->gad", L, A, L) + eye
            grad = c @ L - u
            delta = np.linalg.solve(H, grad[..., None])[..., 0]
            size = float(np.max(np.abs(delta))) if delta.size else 0.0
            # solved to near machine precision: the standard errors come from second differences
            # of this function, which amplify its rounding
            if not size > 1e-12:
                break
            if size < 1e-6:  # quadratic convergence: full Newton steps, no line search needed
                u = u + delta
                pen, eta, s, w = at(u)
                continue
            step = 1.0
            for _h in range(60):
                un = u + step * delta
                pn, en, sn, wn = at(un)
                if np.isfinite(pn) and pn >= pen - 1e-13 * abs(pen):
                    break
                step *= 0.5
            else:
                break
            u, pen, eta, s, w = un, pn, en, sn, wn
        return {"u": u, "pen": pen, "eta": eta, "w": w}

    def laplace(self, beta: np.ndarray, theta: np.ndarray) -> tuple[float, dict[str, Any]]:
        return self.laplace_factor(beta, theta_to_L(theta, self.r))

    def laplace_factor(self, beta: np.ndarray, L: np.ndarray) -> tuple[float, dict[str, Any]]:
        """Laplace log-likelihood with ``Sigma = L L'`` for any square factor ``L`` (the value depends on
        ``L L'`` only: ``det(L' A L + I) = det(A L L' + I)``, and ``b = L u`` with ``u ~ N(0, I)``)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            st = self.mode(beta, L, self._u)
            wF = st["w"] if self.fam.canonical else self.fam.fisher(st["eta"])[0]
            H = np.einsum("ba,gbc,cd->gad", L, self._blocks(wF), L) + np.eye(self.r)
            sign, logdet = np.linalg.slogdet(H)
            value = st["pen"] + self.fam.const - 0.5 * float(logdet.sum())
        if not np.isfinite(value) or np.any(sign <= 0):
            return -np.inf, st
        self._u = st["u"]
        st.update(H=H, L=L)
        return value, st


@dataclass
class SlopeFit:
    beta: np.ndarray
    theta: np.ndarray
    loglik: float
    cov: np.ndarray  # covariance of (beta, theta) (NaN where undefined)
    cov_beta: np.ndarray
    converged: bool
    message: str
    modes: np.ndarray  # (G, r) b, in the caller's group codes
    cond_sd: np.ndarray  # (G, r)
    Sigma: np.ndarray


def _fd_grad(f: Any, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    g = np.empty_like(x)
    for j in range(len(x)):
        e = np.zeros_like(x)
        e[j] = h[j]
        g[j] = (f(x + e) - f(x - e)) / (2 * h[j])
    return g


def fit_slopes(eng: SlopeEngine) -> SlopeFit:
    """Maximise the Laplace log-likelihood over ``(beta, theta)``."""
    p, r = eng.p, eng.r
    nt = r * (r + 1) // 2
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        beta0, info = _glm_start(eng)  # type: ignore[arg-type]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = 1.0 / np.sqrt(np.diag(info))
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    theta0 = np.zeros(nt)
    dpos = diag_positions(r)
    theta0[dpos] = 0.5
    scale = np.r_[sd, np.full(nt, 0.1)]

    def negll(z: np.ndarray) -> float:
        x = z * scale
        v, _ = eng.laplace(x[:p], x[p:])
        return -v if np.isfinite(v) else 1e300

    h = np.full(p + nt, 1e-5)

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        return negll(z), _fd_grad(negll, z, h)

    bounds = [(None, None)] * p + [((0.0, None) if j in dpos else (None, None)) for j in range(nt)]
    z0 = np.r_[beta0, theta0] / scale
    res = optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-7})
    z = res.x
    # Newton polish on a finite-difference Hessian (free parameters: diagonal of L away from 0); convergence is
    # judged once, below, at the final estimates (positive-definite Hessian, predicted gain < 1e-6)
    hh = np.full(p + nt, 3e-3)
    for _ in range(5):
        Hz = _fd_hess(negll, z, hh)
        gz = _fd_grad(negll, z, h)
        free = np.ones(p + nt, dtype=bool)
        for j in dpos:
            if z[p + j] * scale[p + j] < 1e-6:
                free[p + j] = False
        try:
            step = np.linalg.solve(Hz[np.ix_(free, free)], gz[free])
        except np.linalg.LinAlgError:
            break
        dec = 0.5 * float(gz[free] @ step)
        if dec < 1e-10:
            break
        z_new = z.copy()
        z_new[free] -= step
        for j in dpos:
            z_new[p + j] = max(z_new[p + j], 0.0)
        if negll(z_new) <= negll(z) + 1e-12:
            z = z_new
        else:
            break
    x = z * scale
    v, st = eng.laplace(x[:p], x[p:])
    Hz = _fd_hess(negll, z, hh)
    H = Hz / np.outer(scale, scale)  # Hessian of -loglik in x
    free = np.ones(p + nt, dtype=bool)
    for j in dpos:
        if x[p + j] < 1e-4:
            free[p + j] = False
    cov = np.full((p + nt, p + nt), np.nan)
    pd_ok = True
    try:
        np.linalg.cholesky(H[np.ix_(free, free)])
        cov[np.ix_(free, free)] = np.linalg.inv(H[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        pd_ok = False
    cov_beta = cov[:p, :p] if pd_ok else np.full((p, p), np.nan)
    g = _fd_grad(negll, z, h)[free]
    try:
        dec = 0.5 * float(g @ np.linalg.solve(Hz[np.ix_(free, free)], g))
    except np.linalg.LinAlgError:
        dec = np.inf
    converged = bool(pd_ok and dec < 1e-6)
    message = "" if converged else ("the Hessian is not positive definite at the estimates" if not pd_ok else
                                    f"the predicted remaining gain in log-likelihood is {dec:.3g}")
    L = st["L"]
    b = st["u"] @ L.T
    Hinv = np.linalg.inv(st["H"])  # conditional covariance of u
    cv = np.einsum("ab,gbc,dc->gad", L, Hinv, L)
    # rows were sorted by group code, so group position g is group code g
    return SlopeFit(beta=x[:p], theta=x[p:], loglik=float(v), cov=cov, cov_beta=cov_beta, converged=converged,
                    message=message, modes=b, cond_sd=np.sqrt(np.einsum("gaa->ga", cv)), Sigma=L @ L.T)
