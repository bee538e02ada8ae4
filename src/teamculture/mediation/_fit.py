"""Numerics of the path models (private): weighted least squares, Poisson IRLS with an offset, the
pooled within-cluster estimator, all with frequency weights so that a bootstrap replicate is a refit
with resampling counts.

Everything works on float arrays; a singular system raises :class:`Singular`, which the callers
translate into an error naming the user's parameter (point estimates) or a failed replicate
(resamples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Singular", "NotConverged", "Fit", "solve_spd", "fit_gaussian", "fit_poisson", "fit_within"]

#: smallest eigenvalue of the scaled cross-product matrix (unit diagonal) accepted as non-singular
_RCOND = 1e-11


class Singular(ArithmeticError):
    """A cross-product matrix is singular (after scaling to unit diagonal)."""


class NotConverged(ArithmeticError):
    """IRLS did not converge."""


@dataclass(frozen=True)
class Fit:
    """One fitted equation: coefficients, their covariance, residual degrees of freedom and extras."""

    beta: np.ndarray
    cov: np.ndarray
    df: float
    dispersion: float
    n_obs: float
    converged: bool = True
    iterations: int = 0
    deviance: float = math.nan
    resid: np.ndarray | None = None
    xtx_inv: np.ndarray | None = None


def solve_spd(A: np.ndarray, b: np.ndarray, *, inverse: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Solve ``A x = b`` for symmetric positive definite ``A``, scale-free singularity check.

    ``A`` is scaled to unit diagonal before the check, so columns measured in
    pounds or in thousandths are judged alike. Returns ``(x, A^-1 or None)``.
    """
    d = np.diag(A).copy()
    if not np.all(np.isfinite(A)) or np.any(d <= 0):
        raise Singular("zero or non-finite diagonal")
    s = 1.0 / np.sqrt(d)
    S = A * s[:, None] * s[None, :]
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise Singular("not positive definite") from None
    if np.min(np.diag(L)) ** 2 <= _RCOND:
        raise Singular("ill-conditioned")
    y = np.linalg.solve(L, b * s)
    x = np.linalg.solve(L.T, y) * s
    inv = None
    if inverse:
        Li = np.linalg.solve(L, np.eye(L.shape[0]))
        inv = (Li.T @ Li) * s[:, None] * s[None, :]
    return x, inv


def fit_gaussian(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, *, estimator: str = "ols",
                 cov: bool = True) -> Fit:
    """Least squares with frequency weights ``w``; covariance ``s^2 (X'WX)^-1``.

    ``estimator="ols"``: ``s^2 = RSS / (n - p)`` and ``t`` with ``n - p``
    degrees of freedom (R ``lm``); ``"ml"``: ``s^2 = RSS / n`` and normal
    tests (lavaan's maximum likelihood for a recursive path model with
    ``fixed.x = TRUE``).
    """
    n = float(X.shape[0] if w is None else w.sum())
    XtW = X.T if w is None else X.T * w
    beta, inv = solve_spd(XtW @ X, XtW @ y, inverse=cov)
    r = y - X @ beta
    rss = float(r @ r) if w is None else float(w @ (r * r))
    p = X.shape[1]
    dof = n - p
    if estimator == "ml":
        s2, df = rss / n, math.inf
    else:
        s2, df = (rss / dof if dof > 0 else math.nan), dof
    return Fit(beta=beta, cov=(s2 * inv if cov else np.empty((0, 0))), df=df, dispersion=s2, n_obs=n,
               deviance=rss, resid=r if cov else None, xtx_inv=inv)


def fit_poisson(X: np.ndarray, y: np.ndarray, offset: np.ndarray, w: np.ndarray | None = None, *,
                quasi: bool = False, cov: bool = True, maxiter: int = 100, tol: float = 1e-12) -> Fit:
    """Poisson log-linear model with an offset by IRLS (R ``glm``'s start and convergence rule).

    Starts from ``mu = y + 0.1`` as R does; stops when the relative change of
    the deviance ``|D - D_old| / (|D| + 0.1)`` is below ``tol``. Covariance
    ``(X'WX)^-1``, times the Pearson dispersion ``X^2 / (n - p)`` for the
    quasi-Poisson (with ``t`` on ``n - p`` df, as R's summary.glm).
    """
    wt = np.ones(y.size) if w is None else w
    if not float(wt @ y) > 0:
        raise NotConverged("no events: the log rate tends to minus infinity")
    mu = y + 0.1
    eta = np.log(mu)
    dev_old = math.inf
    converged = False
    it = 0
    beta = np.zeros(X.shape[1])
    for it in range(1, maxiter + 1):
        z = eta - offset + (y - mu) / mu
        W = wt * mu
        XtW = X.T * W
        beta, _ = solve_spd(XtW @ X, XtW @ z)
        eta = X @ beta + offset
        if np.max(eta) > 700.0:
            raise NotConverged("linear predictor overflow")
        mu = np.exp(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(y > 0, y * np.log(y / mu), 0.0)
        dev = float(2.0 * np.sum(wt * (ylogy - (y - mu))))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            converged = True
            break
        dev_old = dev
    if not converged:
        raise NotConverged(f"no convergence in {maxiter} iterations")
    n = float(wt.sum())
    p = X.shape[1]
    inv = None
    if cov:
        XtW = X.T * (wt * mu)
        _, inv = solve_spd(XtW @ X, np.zeros(p), inverse=True)
    pearson = float(np.sum(wt * (y - mu) ** 2 / mu))
    if quasi:
        phi = pearson / (n - p) if n > p else math.nan
        df = n - p
    else:
        phi, df = 1.0, math.inf
    return Fit(beta=beta, cov=(phi * inv if cov else np.empty((0, 0))), df=df, dispersion=phi, n_obs=n,
               converged=True, iterations=it, deviance=dev)


def cluster_crossproducts(D: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-cluster cross-products ``C_k = sum_i d_i d_i'`` of rows ``D`` (n, p); shape (G, p, p)."""
    p = D.shape[1]
    out = np.zeros((n_groups, p, p))
    outer = D[:, :, None] * D[:, None, :]
    np.add.at(out, codes, outer)
    return out


def fit_within(C: np.ndarray, response: int, terms: list[int], counts: np.ndarray | None = None, *,
               cov: bool = True) -> Fit:
    """Pooled within-cluster regression from per-cluster cross-products of deviations.

    ``C`` (G, p, p) holds each cluster's cross-products of the deviations
    from its own means; the coefficients of ``response`` on ``terms`` are
    ``(sum_k c_k C_k,xx)^-1 sum_k c_k C_k,xy`` with cluster counts ``c``
    (1 for the data, resampling counts for a cluster bootstrap). The
    covariance is cluster-robust: ``A^-1 (sum_k s_k s_k') A^-1 G/(G - 1)``
    with cluster scores ``s_k = C_k,xy - C_k,xx beta`` (R
    ``sandwich::vcovCL(type = "HC0")`` of ``lm(y ~ x + factor(cluster))``).
    """
    G = C.shape[0] if counts is None else int(np.count_nonzero(counts))
    cw = np.ones(C.shape[0]) if counts is None else counts.astype(float)
    Csum = np.tensordot(cw, C, axes=1)
    t = np.asarray(terms)
    A = Csum[np.ix_(t, t)]
    beta, inv = solve_spd(A, Csum[t, response], inverse=cov)
    if not cov:
        return Fit(beta=beta, cov=np.empty((0, 0)), df=G - 1.0, dispersion=math.nan, n_obs=math.nan)
    scores = C[:, t, response] - C[:, t][:, :, t] @ beta
    meat = (scores * cw[:, None]).T @ scores
    V = inv @ meat @ inv * (G / (G - 1.0) if G > 1 else math.nan)
    return Fit(beta=beta, cov=V, df=G - 1.0, dispersion=math.nan, n_obs=math.nan)
