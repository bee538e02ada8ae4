"""Satterthwaite degrees of freedom for fixed effects, as lmerTest computes them.

lmerTest (Kuznetsova, Brockhoff & Christensen 2017, section 3 and its
``as_lmerModLT``) parameterises the variance parameters as
``varpar = (theta, sigma)`` (relative standard deviations and the residual
standard deviation), and uses

* ``A = 2 H^+``: the asymptotic covariance of ``varpar``, with ``H`` the
  Hessian of the deviance ``-2 l(varpar)`` (REML or ML, at the conditional
  ``beta(theta)``) and ``^+`` the Moore-Penrose inverse over eigenvalues
  greater than 1e-8;
* ``J_k = d Cov(beta) / d varpar_k``, the Jacobian of
  ``Cov(beta) = sigma^2 (X^T V^{-1} X)^{-1}`` (unit-free ``V``);

and for a contrast ``L`` (here each unit vector) ``v = L^T Cov(beta) L``,
``g_k = L^T J_k L`` and ``df = 2 v^2 / (g^T A g)``. lmerTest gets ``H`` and
``J`` with ``numDeriv`` (central differences with Richardson extrapolation);
this module does the same, with numDeriv's default steps (relative 0.1 for
the Hessian and 1e-4 for the Jacobian, absolute 1e-4 at zero, four halvings), so both approximate the exact
derivatives to many more digits than the df need. The nested engine
supplies exact derivatives instead (forward-mode differentiation of its
recursion) and calls :func:`satterthwaite_from_derivatives`; the numerical
route serves other backends and the tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["richardson_jacobian", "richardson_hessian", "satterthwaite_df", "satterthwaite_from_derivatives"]


def _steps(x: np.ndarray, d: float = 1e-4, eps: float = 1e-4, zero_tol: float = 1.78e-5) -> np.ndarray:
    return np.where(np.abs(x) < zero_tol, eps, d * np.abs(x))


def _extrapolate(a: np.ndarray, r: int, v: float, order: int = 2) -> np.ndarray:
    """Richardson extrapolation of estimates ``a[0..r-1]`` with steps shrinking by ``v``."""
    a = [np.asarray(ai, dtype=float) for ai in a]
    for m in range(1, r):
        f = v ** (order * m)
        a = [(f * a[i + 1] - a[i]) / (f - 1.0) for i in range(len(a) - 1)]
    return a[0]


def richardson_jacobian(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, r: int = 4,
                        v: float = 2.0) -> np.ndarray:
    """Jacobian of a vector function by extrapolated central differences, shape ``(m, k)``."""
    x = np.asarray(x, dtype=float)
    h0 = _steps(x)
    cols = []
    for k in range(len(x)):
        est = []
        h = h0[k]
        for _ in range(r):
            e = np.zeros_like(x)
            e[k] = h
            est.append((np.ravel(fun(x + e)) - np.ravel(fun(x - e))) / (2.0 * h))
            h /= v
        cols.append(_extrapolate(est, r, v))
    return np.column_stack(cols)


def richardson_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, *, r: int = 4,
                       v: float = 2.0) -> np.ndarray:
    """Hessian of a scalar function by extrapolated central differences."""
    x = np.asarray(x, dtype=float)
    k = len(x)
    h0 = _steps(x, d=0.1)
    f0 = float(fun(x))
    H = np.empty((k, k))
    for i in range(k):
        for j in range(i + 1):
            est = []
            hi, hj = h0[i], h0[j]
            for _ in range(r):
                ei = np.zeros(k)
                ei[i] = hi
                if i == j:
                    est.append((fun(x + ei) - 2.0 * f0 + fun(x - ei)) / hi**2)
                else:
                    ej = np.zeros(k)
                    ej[j] = hj
                    est.append((fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej)
                                + fun(x - ei - ej)) / (4.0 * hi * hj))
                hi /= v
                hj /= v
            H[i, j] = H[j, i] = float(_extrapolate(est, r, v))
    return H


def satterthwaite_from_derivatives(H: np.ndarray, cov_beta: np.ndarray, J: np.ndarray, *,
                                   tol: float = 1e-8, sigma: float | None = None
                                   ) -> tuple[np.ndarray, np.ndarray]:
    """Satterthwaite df of each fixed effect from the deviance Hessian and ``d Cov(beta)``.

    Parameters
    ----------
    H : numpy.ndarray
        ``(k, k)`` Hessian of the deviance in ``varpar = (theta..., sigma)``.
    cov_beta : numpy.ndarray
        ``(p, p)`` covariance of the fixed effects.
    J : numpy.ndarray
        ``(p, p, k)`` derivatives of ``cov_beta`` with respect to ``varpar``.
    tol : float
        Eigenvalues of ``H`` at or below this are treated as zero (lmerTest's rule).
    sigma : float, optional
        The estimate of the residual SD (the last element of ``varpar``).
        When given, the last coordinate is measured in units of ``sigma``
        (``H -> D H D``, ``J -> J D`` with ``D = diag(1, ..., 1, sigma)``)
        before the eigen-decomposition, so that the df do not depend on the
        unit of the response: in ``(theta, sigma)`` the Hessian mixes
        unit-free entries with entries of order ``n / sigma^2``, and at a
        response scale of 1e-8 (or 1e8) its small eigenvalues are lost to
        rounding and ``tol`` becomes a scale-dependent cut. With the full
        inverse the df are unchanged by this reparametrisation; at unit scale
        it matches lmerTest.

    Returns
    -------
    df : numpy.ndarray
        Degrees of freedom per fixed effect.
    vcov_varpar : numpy.ndarray
        ``2 H^+``, the asymptotic covariance of ``varpar``.
    """
    D = np.ones(H.shape[0])
    if sigma is not None and np.isfinite(sigma) and sigma > 0:
        D[-1] = float(sigma)
        H = H * np.outer(D, D)
        J = J * D
    w, U = np.linalg.eigh(H)
    pos = w > tol
    A = 2.0 * (U[:, pos] / w[pos]) @ U[:, pos].T
    var = np.diag(cov_beta)
    g = np.stack([np.diag(J[:, :, k]) for k in range(J.shape[2])], axis=1)  # (p, k)
    denom = np.einsum("ik,kl,il->i", g, A, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * var**2 / denom
    return df, A * np.outer(D, D)


def satterthwaite_df(
    deviance: Callable[[np.ndarray], float],
    cov_beta: Callable[[np.ndarray], np.ndarray],
    varpar: np.ndarray,
    *,
    tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray]:
    """Satterthwaite df by numerical derivatives, exactly as lmerTest computes them.

    Parameters
    ----------
    deviance : callable
        ``varpar -> -2 log-likelihood`` (REML or ML), not profiled over ``sigma``.
    cov_beta : callable
        ``varpar -> Cov(beta)`` (``p x p``).
    varpar : numpy.ndarray
        The estimates ``(theta..., sigma)``.
    tol : float
        Eigenvalues of the Hessian below this are treated as zero (as lmerTest).

    Returns
    -------
    df, vcov_varpar : numpy.ndarray
        As :func:`satterthwaite_from_derivatives`.
    """
    varpar = np.asarray(varpar, dtype=float)
    H = richardson_hessian(deviance, varpar)
    C = cov_beta(varpar)
    p = C.shape[0]
    J = richardson_jacobian(cov_beta, varpar).reshape(p, p, len(varpar))
    return satterthwaite_from_derivatives(H, C, J, tol=tol)
