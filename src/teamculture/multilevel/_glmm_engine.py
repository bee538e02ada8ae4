"""Exact GLMM engine for nested random intercepts (private; numpy only, no pandas).

Model (rows ``i``, grouping levels ``l = 0..D-1`` outer first, nested)::

    g(E[y_i | b]) = x_i' beta + offset_i + sum_l b_{l, g_l(i)},   b_{l,g} ~ N(0, sigma_l^2)

for the binomial family (``k`` successes out of ``m`` trials; logit or probit
link) and the Poisson family (counts ``k`` with prior weights ``m``; log link).
As lme4, the random effects are written in "spherical" form ``b = sigma * u``
with ``u ~ N(0, 1)``, so a zero variance is an ordinary point of the
parameter space.

Laplace (lme4's ``nAGQ = 1``)
-----------------------------
The conditional mode ``u*`` of all random effects is found by Newton's method
on the penalised log-likelihood ``sum_i log f(y_i | eta_i) - |u|^2 / 2``. Its
Hessian ``H = Lambda Z' W Z Lambda + I`` has the sparsity of the nesting tree:
group ``g`` couples only with its ancestors, with the entry
``sigma_g sigma_a W_g`` (``W_g`` = the sum of the row weights of ``g``). Gaussian
elimination from the finest level upwards creates no fill-in and keeps that
form, with ``W_g`` replaced by::

    M_g = W_g                                   (finest level)
    M_g = sum_{children c} M_c / P_c            (coarser levels),   P_c = 1 + sigma_c^2 M_c,

so ``log|H| = sum_g log P_g`` and a Newton step, the conditional variances and
the variance of each row's total random effect are O(#groups) recursions
after one O(rows) pass (per-group sums of the scores and weights). No dense or
sparse ``n x n`` (or ``q x q``) matrix is ever formed. For two levels this is
the per-trust "arrowhead" elimination.

The Laplace log-likelihood is::

    l(beta, sigma) = sum_i log f(y_i | eta*_i) - |u*|^2 / 2 - sum_g log P_g / 2

with the weights ``W`` in ``P`` the PIRLS (Fisher) weights at the mode, as in
lme4 (for the canonical logit and log links they equal the observed
information; for probit they do not, and glmmTMB, which uses the observed
information, gives a slightly different Laplace value). The constants of the
binomial and Poisson densities are included, so the value is lme4's
``logLik``.

Its exact gradient in ``(beta, sigma)`` combines the envelope theorem (the
penalised log-likelihood is stationary in ``u``) with the implicit derivative
of the mode (one more tree solve) and the derivative of ``log|H|`` (which
needs, per row, ``dW/deta`` and the conditional variance of the row's total
random effect). See :meth:`GLMMEngine.laplace`.

Adaptive Gauss-Hermite quadrature (``nagq > 1``)
------------------------------------------------
Teams are conditionally independent given their trust, so the marginal
likelihood is a product over top-level groups of nested one-dimensional
integrals. Each integral is re-centred and scaled with the Laplace
factorisation (Pinheiro & Chao 2006): given the values of its ancestors, the
Gaussian approximation of ``u_g`` has mean ``u*_g - rho_g (S_anc - S*_anc)``
(``S_anc`` = the sum of the ancestors' ``b``, ``rho_g = sigma_g M_g / P_g``) and
variance ``1 / P_g``, so its ``q`` nodes are ``mean + z_k / sqrt(P_g)``. The
cost is ``rows x prod(q_l)`` evaluations of the density per likelihood
evaluation; with ``q = 1`` the rule is exactly the Laplace approximation.

The parameters are estimated with the nodes held fixed (the gradient of the
fixed-node rule is the quadrature estimate of the score, Fisher's identity),
re-adapting the nodes at the new estimate until the estimates stop moving;
the reported log-likelihood is the rule adapted at the final estimate. This
fixed point differs from the maximum of the adaptive rule (lme4's definition
for ``nAGQ > 1``) by terms of the order of the quadrature error, so the two
agree once enough points are used (the ``2q - 1`` check).

Estimation (Laplace)
--------------------
Newton steps in ``(beta, log sigma)`` (plain ``sigma`` below 0.05, so that a
variance can reach exactly zero) with the exact gradient and an analytic
Hessian of the penalised likelihood profiled over ``u`` (``-V'WV + R'H^-1 R``,
one more tree solve with ``p + D`` right-hand sides), whose sigma columns are
corrected by differences of the exact gradient; the mode is warm-started from
its implicit derivative. Large data start from a fit to a systematic sample
of whole teams. Standard errors from finite differences of the exact gradient
(central, or forward with a smaller step for large data).

References
----------
Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015). Fitting linear
mixed-effects models using lme4. J. Stat. Softw. 67(1).
Pinheiro, J. C. & Chao, E. C. (2006). Efficient Laplacian and adaptive
Gaussian quadrature algorithms for multilevel generalized linear mixed
models. J. Comput. Graph. Stat. 15(1), 58-81.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

__all__ = ["GLMMEngine", "EngineFit", "FAMILY_LINKS", "gauss_hermite"]

#: Supported (family, link) pairs.
FAMILY_LINKS = {("binomial", "logit"), ("binomial", "probit"), ("poisson", "log")}

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

#: Rows of the subsample whose Laplace fit gives the start values for large data.
_SUBSAMPLE_ROWS = 60_000

#: The conditional mode is solved until the largest Newton step in u (standard normal scale) is
#: below this. The log-likelihood's error is then ~1e-9 x sqrt(#groups) x |d log|H| / du|,
#: far below 1e-8 relative; its gradient is accurate enough for finite-difference Hessians.
_MODE_TOL = 1e-9

#: A standard deviation below this is at the boundary (lme4's isSingular tolerance on theta).
_SINGULAR_SD = 1e-4

#: Standard deviations at or above this value take Newton steps in log sigma.
_LOG_FROM = 0.05


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product of two group-level vectors without BLAS.

    OpenBLAS wakes its threads even for vectors of a few thousand entries; on a
    busy machine that costs milliseconds per call, more than the product itself.
    """
    return float(np.einsum("...i,...i->", a, b))


# --------------------------------------------------------------------------- quadrature rule
def gauss_hermite(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log-weights of the ``q``-point Gauss-Hermite rule for N(0, 1) (weights sum to 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(int(q))
    return x, np.log(w) - math.log(w.sum())


# --------------------------------------------------------------------------- the nesting tree
class _Tree:
    """Nested grouping levels over rows sorted so that every group is a contiguous block.

    ``perm`` reorders the caller's rows; ``group_order[l]`` gives, for each
    group position at level ``l``, the caller's code of that group.
    """

    def __init__(self, codes: list[np.ndarray]) -> None:
        n = len(codes[0])
        self.D = len(codes)
        if all(np.all(np.diff(np.asarray(c)) >= 0) for c in codes):
            perm = np.arange(n)  # rows already grouped (survey files usually are)
            sorted_codes = [np.asarray(c) for c in codes]
        else:
            keys = tuple(np.asarray(c, dtype=np.int64) for c in reversed(codes))
            perm = np.lexsort(keys) if self.D > 1 else np.argsort(codes[0], kind="stable")
            sorted_codes = [np.asarray(c)[perm] for c in codes]
        self.perm = perm.astype(np.intp)
        self.identity = bool(perm[-1] == n - 1) and bool(np.all(perm == np.arange(n))) if n else True
        # positions: groups numbered in order of appearance in the sorted rows
        self.group_order: list[np.ndarray] = []
        self.row_pos: list[np.ndarray] = []  # per level: group position of each (sorted) row
        for c in sorted_codes:
            new = np.empty(n, dtype=bool)
            if n:
                new[0] = True
                new[1:] = c[1:] != c[:-1]
            pos = np.cumsum(new) - 1
            self.group_order.append(c[new].astype(np.intp))
            self.row_pos.append(pos.astype(np.intp))
        # nesting check: a group must not re-appear after another group of its level
        for l, order in enumerate(self.group_order):
            if len(np.unique(order)) != len(order):
                raise ValueError(f"level {l} groups are not nested in the coarser levels")
        self.n_groups = [len(o) for o in self.group_order]
        fin = self.row_pos[-1]
        self.row_counts = np.bincount(fin, minlength=self.n_groups[-1]).astype(np.intp)
        self.row_starts = np.r_[0, np.cumsum(self.row_counts)[:-1]].astype(np.intp)
        # children of each group of level l (l < D-1): contiguous block of level l+1
        self.child_counts: list[np.ndarray] = []
        self.child_starts: list[np.ndarray] = []
        self.parent: list[np.ndarray] = []  # parent[l] : parent position of level-(l+1) groups
        for l in range(self.D - 1):
            child_first = self.row_starts_of(l + 1)
            par = self.row_pos[l][child_first]
            self.parent.append(par.astype(np.intp))
            cc = np.bincount(par, minlength=self.n_groups[l]).astype(np.intp)
            self.child_counts.append(cc)
            self.child_starts.append(np.r_[0, np.cumsum(cc)[:-1]].astype(np.intp))
        # ancestors of finest groups at each level
        self.fin_anc: list[np.ndarray] = []
        for l in range(self.D):
            self.fin_anc.append(self.row_pos[l][self.row_starts])

    def row_starts_of(self, l: int) -> np.ndarray:
        pos = self.row_pos[l]
        n = len(pos)
        new = np.empty(n, dtype=bool)
        if n:
            new[0] = True
            new[1:] = pos[1:] != pos[:-1]
        return np.flatnonzero(new)

    # sums and expansions
    def rows_to_fin(self, v: np.ndarray) -> np.ndarray:
        """Finest-group sums of a row vector (or (k, n) array along the last axis)."""
        return np.add.reduceat(v, self.row_starts, axis=-1)

    def fin_to_rows(self, v: np.ndarray) -> np.ndarray:
        return np.repeat(v, self.row_counts, axis=-1)

    def up(self, v: np.ndarray, l: int) -> np.ndarray:
        """Sums over the children (level l+1 values -> level l)."""
        return np.add.reduceat(v, self.child_starts[l], axis=-1)

    def down(self, v: np.ndarray, l: int) -> np.ndarray:
        """Level-l values repeated for each child (level l -> level l+1)."""
        return np.repeat(v, self.child_counts[l], axis=-1)


# --------------------------------------------------------------------------- family kernels
class _Family:
    """Row-level log density, score and weights for one family and link.

    ``k``: successes (binomial) or counts (Poisson); ``m``: trials (binomial)
    or prior weights (Poisson).
    """

    def __init__(self, family: str, link: str, k: np.ndarray, m: np.ndarray) -> None:
        self.family, self.link = family, link
        self.k, self.m = k, m
        if family == "binomial":
            self.mk = m - k
            pos = m > 0
            self.const = float(np.sum(special.gammaln(m[pos] + 1) - special.gammaln(k[pos] + 1)
                                      - special.gammaln(m[pos] - k[pos] + 1)))
        else:
            self.const = float(-np.sum(m * special.gammaln(k + 1)))
        self.canonical = link in ("logit", "log")
        self.unit_m = bool(np.all(m == 1.0))

    def eval(self, eta: np.ndarray, k: np.ndarray | None = None, m: np.ndarray | None = None,
             *, weights: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(log f without constant, score d/deta, observed weight -d2/deta2)`` per element."""
        k = self.k if k is None else k
        m = self.m if m is None else m
        if self.link == "logit":
            e = np.exp(-np.abs(eta))
            q = 1.0 / (1.0 + e)
            mu = np.where(eta >= 0, q, e * q)
            logf = k * eta - m * (np.maximum(eta, 0.0) + np.log1p(e))
            score = k - m * mu
            w = m * e * q * q if weights else None
            return logf, score, w
        if self.link == "probit":
            lp1 = special.log_ndtr(eta)
            lp0 = special.log_ndtr(-eta)
            lphi = -0.5 * eta * eta - _LOG_SQRT_2PI
            r1 = np.exp(lphi - lp1)
            r0 = np.exp(lphi - lp0)
            mk = m - k
            logf = k * lp1 + mk * lp0
            score = k * r1 - mk * r0
            w = k * r1 * (eta + r1) + mk * r0 * (r0 - eta) if weights else None
            return logf, score, w
        # poisson, log
        with np.errstate(over="ignore"):
            mu = np.exp(eta)
        logf = m * (k * eta - mu)
        score = m * (k - mu)
        return logf, score, (m * mu if weights else None)

    def eval_rule(self, eta: np.ndarray, k: np.ndarray, m: np.ndarray, score: bool
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(log f without constant, score or None)`` for the quadrature rule; overwrites ``eta``.

        The logit case works in place on (nodes x rows) arrays with as few passes over
        memory as possible: this is the inner loop of adaptive quadrature.
        """
        if self.link != "logit":
            logf, sc, _ = self.eval(eta, k, m, weights=False)
            return logf, (sc if score else None)
        e = np.abs(eta)
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|eta|)
        lf = np.log1p(e)
        tmp = np.maximum(eta, 0.0)
        np.add(lf, tmp, out=lf)  # softplus(eta)
        if self.unit_m:
            np.multiply(eta, k, out=tmp)
            np.subtract(tmp, lf, out=lf)
        else:
            np.multiply(lf, m, out=lf)
            np.multiply(eta, k, out=tmp)
            np.subtract(tmp, lf, out=lf)
        if not score:
            return lf, None
        np.add(e, 1.0, out=tmp)
        np.reciprocal(tmp, out=tmp)  # q = 1 / (1 + e)
        np.multiply(e, tmp, out=e)  # e q = expit(-|eta|)
        np.copyto(e, tmp, where=eta >= 0)  # mu
        if not self.unit_m:
            np.multiply(e, m, out=e)
        np.subtract(k, e, out=e)
        return lf, e

    def eval_sum(self, eta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``(sum of log f without constant, score, observed weight)`` over the rows."""
        if self.link == "logit":
            e = np.exp(-np.abs(eta))
            q = 1.0 / (1.0 + e)
            mu = np.where(eta >= 0, q, e * q)
            w = e * q * q
            self._last = (eta, mu)
            if self.unit_m:
                lsum = float(self.k @ eta) - float(np.maximum(eta, 0.0).sum()) - float(np.log1p(e).sum())
                return lsum, self.k - mu, w
            lsum = float(self.k @ eta) - float(self.m @ (np.maximum(eta, 0.0) + np.log1p(e)))
            return lsum, self.k - self.m * mu, self.m * w
        logf, score, w = self.eval(eta)
        return float(logf.sum()), score, w  # type: ignore[return-value]

    def dfisher(self, eta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Derivative in eta of the PIRLS weights ``w`` (given at ``eta``)."""
        if self.link == "logit":
            last = getattr(self, "_last", None)
            mu = last[1] if last is not None and last[0] is eta else special.expit(eta)
            return w * (1.0 - 2.0 * mu)
        if self.link == "log":
            return w
        return self.fisher(eta)[1]

    def fisher(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PIRLS (expected information) weights and their derivative in eta."""
        m = self.m
        if self.link == "logit":
            e = np.exp(-np.abs(eta))
            q = 1.0 / (1.0 + e)
            mu = np.where(eta >= 0, q, e * q)
            w = m * e * q * q
            return w, w * (1.0 - 2.0 * mu)
        if self.link == "probit":
            lp1 = special.log_ndtr(eta)
            lp0 = special.log_ndtr(-eta)
            lphi = -0.5 * eta * eta - _LOG_SQRT_2PI
            r1 = np.exp(lphi - lp1)
            r0 = np.exp(lphi - lp0)
            w = m * r1 * r0
            return w, w * (r0 - r1 - 2.0 * eta)
        with np.errstate(over="ignore"):
            w = m * np.exp(eta)
        return w, w


# --------------------------------------------------------------------------- results
@dataclass
class EngineFit:
    """What the engine returns (arrays in the caller's group codes)."""

    beta: np.ndarray
    sigma: np.ndarray
    loglik: float
    cov: np.ndarray  # covariance of (beta, sigma) (inverse Hessian of -loglik); NaN where undefined
    cov_beta: np.ndarray
    converged: bool
    message: str
    modes: list[np.ndarray]  # b = sigma * u per level, indexed by the caller's group codes
    cond_sd: list[np.ndarray]
    nagq: tuple[int, ...]
    n_evaluations: int
    decrement: float
    gradient: np.ndarray
    hessian: np.ndarray
    quadrature_check: float = float("nan")  # loglik at 2q-1 points minus loglik at q points
    laplace_loglik: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the engine
class GLMMEngine:
    """Laplace and nested adaptive Gauss-Hermite quadrature for nested random intercepts.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects design.
    k : ndarray (n,)
        Successes (binomial) or counts (Poisson).
    m : ndarray (n,)
        Trials (binomial) or prior weights (Poisson).
    offset : ndarray (n,) or None
    codes : list of ndarray (n,)
        Integer group codes per level, outer first, nested.
    family, link : str
        One of :data:`FAMILY_LINKS`.
    """

    def __init__(self, X: np.ndarray, k: np.ndarray, m: np.ndarray, offset: np.ndarray | None,
                 codes: list[np.ndarray], family: str, link: str) -> None:
        if (family, link) not in FAMILY_LINKS:
            raise ValueError(f"unsupported family/link {family}/{link}")
        self.tree = _Tree(codes)
        perm = self.tree.perm
        self.n, self.p = X.shape
        self.D = self.tree.D
        # X stored column-wise (p, n), rows in tree order
        take = (lambda a: a) if self.tree.identity else (lambda a: a[perm])
        self.Xt = np.ascontiguousarray(take(np.asarray(X, dtype=float)).T)
        self.k = np.ascontiguousarray(take(np.asarray(k, dtype=float)))
        self.m = np.ascontiguousarray(take(np.asarray(m, dtype=float)))
        self.offset = None if offset is None else np.ascontiguousarray(take(np.asarray(offset, dtype=float)))
        self.fam = _Family(family, link, self.k, self.m)
        self.family, self.link = family, link
        self._u: list[np.ndarray] | None = None  # warm start of the mode
        self.n_eval = 0

    # ------------------------------------------------------------------ helpers
    def eta0(self, beta: np.ndarray) -> np.ndarray:
        out = self.Xt[0] * beta[0] if self.p else np.zeros(self.n)
        if self.p:
            out = out.copy() if self.p == 1 else out
            for j in range(1, self.p):
                out += self.Xt[j] * beta[j]
        if self.offset is not None:
            out = out + self.offset
        return out

    def _zero_u(self) -> list[np.ndarray]:
        return [np.zeros(g) for g in self.tree.n_groups]

    def _total_fin(self, u: list[np.ndarray], sigma: np.ndarray) -> np.ndarray:
        """Total random effect (b units) of each finest group."""
        t = self.tree
        tot = sigma[0] * u[0]
        for l in range(1, self.D):
            tot = t.down(tot, l - 1) + sigma[l] * u[l]
        return tot

    def _factor(self, Wfin: np.ndarray, sigma: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``M`` and ``P = 1 + sigma^2 M`` per level (finest-first elimination)."""
        t = self.tree
        M: list[np.ndarray] = [None] * self.D  # type: ignore[list-item]
        P: list[np.ndarray] = [None] * self.D  # type: ignore[list-item]
        M[-1] = Wfin
        for l in range(self.D - 1, -1, -1):
            P[l] = 1.0 + sigma[l] ** 2 * M[l]
            if l > 0:
                M[l - 1] = t.up(M[l] / P[l], l - 1)
        return M, P

    def _solve(self, M: list[np.ndarray], P: list[np.ndarray], sigma: np.ndarray, Tfin: np.ndarray,
               u: list[np.ndarray] | None) -> list[np.ndarray]:
        """Solve ``H delta = Lambda Z' r - u`` given finest-group sums ``Tfin`` of ``r``."""
        t = self.tree
        D = self.D
        rt: list[np.ndarray] = [None] * D  # type: ignore[list-item]
        T = Tfin
        for l in range(D - 1, -1, -1):
            r = sigma[l] * T
            if u is not None:
                r = r - u[l]
            rt[l] = r
            if l > 0:
                T = t.up(T - sigma[l] * M[l] * r / P[l], l - 1)
        delta: list[np.ndarray] = [None] * D  # type: ignore[list-item]
        Dacc = np.zeros_like(rt[0])
        for l in range(D):
            delta[l] = (rt[l] - sigma[l] * M[l] * Dacc) / P[l]
            if l < D - 1:
                Dacc = t.down(Dacc + sigma[l] * delta[l], l)
        return delta

    def _condvar(self, M: list[np.ndarray], P: list[np.ndarray], sigma: np.ndarray
                 ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Conditional variances of ``u`` per level, ancestor-total variances, finest total variances."""
        t = self.tree
        var_u: list[np.ndarray] = []
        vanc: list[np.ndarray] = []
        V = np.zeros(len(P[0]))
        for l in range(self.D):
            if l > 0:
                V = t.down(V, l - 1)
            rho = sigma[l] * M[l] / P[l]
            var_u.append(rho * rho * V + 1.0 / P[l])
            vanc.append(V)
            V = V / P[l] ** 2 + sigma[l] ** 2 / P[l]
        return var_u, vanc, V

    # ------------------------------------------------------------------ conditional mode
    def mode(self, beta: np.ndarray, sigma: np.ndarray, u0: list[np.ndarray] | None = None,
             eta0: np.ndarray | None = None) -> dict[str, Any]:
        """Conditional mode of ``u`` by Newton's method with step halving (the objective is concave).

        Each iteration costs one pass over the rows (density, score and weight) and
        O(#groups) for the tree solve. Stops when the largest Newton step is below
        ``1e-11`` (``u`` is on the standard normal scale, so this is scale free): the
        log-determinant depends on the mode to first order, so the mode is solved to
        near machine precision.
        """
        t = self.tree
        if eta0 is None:
            eta0 = self.eta0(beta)
        u = [np.array(a, dtype=float) for a in u0] if u0 is not None else self._zero_u()
        fam = self.fam

        def at(uu: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
            eta = eta0 + t.fin_to_rows(self._total_fin(uu, sigma))
            lsum, score, w = fam.eval_sum(eta)
            return lsum - 0.5 * sum(_dot(a, a) for a in uu), eta, score, w

        pen, eta, score, w = at(u)
        if not np.isfinite(pen):
            u = self._zero_u()
            pen, eta, score, w = at(u)
        converged = False
        dec = np.inf
        M = P = None
        tail = 0
        for _it in range(200):
            Sfin = t.rows_to_fin(score)
            M, P = self._factor(t.rows_to_fin(w), sigma)
            delta = self._solve(M, P, sigma, Sfin, u)
            dec = sum(_dot(d, sigma[l] * self._level_sum(Sfin, l) - u[l]) for l, d in enumerate(delta))
            size = max(float(np.max(np.abs(d))) if d.size else 0.0 for d in delta)
            # u is on the N(0, 1) scale, so an absolute step size is scale free
            if not size > _MODE_TOL:
                converged = True
                break
            if dec <= 1e-12 * max(1.0, abs(pen)):
                # the tail of the quadratic convergence: the gain is below the rounding level of
                # the objective, so it cannot be checked; Newton steps are exact there
                tail += 1
                if tail > 8:
                    converged = size < 1e-8
                    break
                u = [a + d for a, d in zip(u, delta)]
                pen, eta, score, w = at(u)
                continue
            step = 1.0
            for _h in range(60):
                un = [a + step * d for a, d in zip(u, delta)]
                pn, en, sn, wn = at(un)
                if np.isfinite(pn) and pn >= pen - 1e-13 * abs(pen):
                    break
                step *= 0.5
            else:
                break
            u, pen, eta, score, w = un, pn, en, sn, wn
        return {"u": u, "pen": pen, "eta": eta, "score": score, "w": w, "converged": converged, "dec": dec,
                "eta0": eta0, "Mo": M, "Po": P, "Sfin": t.rows_to_fin(score)}

    def _level_sum(self, vfin: np.ndarray, l: int) -> np.ndarray:
        """Sums of finest-group values (last axis) over the groups of level ``l``."""
        t = self.tree
        v = vfin
        for j in range(self.D - 1, l, -1):
            v = t.up(v, j - 1)
        return v

    def _to_fin(self, v: np.ndarray, l: int) -> np.ndarray:
        """Level-l group values (last axis) expanded to the finest groups."""
        t = self.tree
        for j in range(l, self.D - 1):
            v = t.down(v, j)
        return v

    # ------------------------------------------------------------------ Laplace
    def laplace(self, beta: np.ndarray, sigma: np.ndarray, *, grad: bool = False,
                u0: list[np.ndarray] | None = None) -> tuple[float, np.ndarray | None, dict[str, Any]]:
        """Laplace log-likelihood and gradient; ``-inf`` where the density overflows (a trial step)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, g, st = self._laplace(beta, sigma, grad=grad, u0=u0)
        if not np.isfinite(value) or (g is not None and not np.all(np.isfinite(g))):
            return -np.inf, (None if g is None else np.zeros_like(g)), st
        return value, g, st

    def _laplace(self, beta: np.ndarray, sigma: np.ndarray, *, grad: bool = False,
                 u0: list[np.ndarray] | None = None) -> tuple[float, np.ndarray | None, dict[str, Any]]:
        """Laplace log-likelihood (lme4's logLik at nAGQ = 1) and optionally its exact gradient.

        The gradient is ``d/dtheta [pen(u*(theta), theta) - log|H(theta)|/2]``: the envelope
        theorem for the penalised part; for the log-determinant, its partial derivative in
        ``sigma`` (W fixed) plus ``sum_i a_i d eta*_i / d theta`` with ``a_i = -W'_i v_i / 2``
        (``v_i`` the conditional variance of row i's total random effect) and the implicit
        derivative of the mode, ``du*/dtheta = H_obs^-1 d(grad_u pen)/dtheta`` (one tree solve
        with the right-hand side ``Lambda Z' a``).
        """
        self.n_eval += 1
        t = self.tree
        beta = np.asarray(beta, dtype=float)
        sigma = np.asarray(sigma, dtype=float)
        st = self.mode(beta, sigma, u0 if u0 is not None else self._u)
        u = st["u"]
        eta = st["eta"]
        fam = self.fam
        if fam.canonical:
            wF = st["w"]
            dwF = None
            M, P = st["Mo"], st["Po"]
        else:
            wF, dwF = fam.fisher(eta)
            M, P = self._factor(t.rows_to_fin(wF), sigma)
        logdet = sum(float(np.log(p).sum()) for p in P)
        value = st["pen"] + fam.const - 0.5 * logdet
        st.update(M=M, P=P, logdet=logdet, value=value, beta=beta, sigma=sigma)
        if np.isfinite(value):
            self._u = u
        if not grad:
            return value, None, st
        if dwF is None:
            dwF = fam.dfisher(eta, wF)
        var_u, vanc, Vfin = self._condvar(M, P, sigma)
        a = -0.5 * dwF * t.fin_to_rows(Vfin)
        Mo, Po = st["Mo"], st["Po"]
        Afin = t.rows_to_fin(a)
        c = self._solve(Mo, Po, sigma, Afin, None)
        Cfin = self._total_fin(c, sigma)
        wo = st["w"]
        woC = wo * t.fin_to_rows(Cfin)
        g_beta = self.Xt @ (st["score"] + a - woC)
        Sfin = st["Sfin"]
        Bfin = Afin - t.rows_to_fin(woC)
        g_sigma = np.empty(self.D)
        for l in range(self.D):
            S_l = self._level_sum(Sfin, l)
            B_l = self._level_sum(Bfin, l)
            direct = -sigma[l] * float(np.sum((M[l] / P[l]) * (1.0 - M[l] * vanc[l] / P[l])))
            g_sigma[l] = _dot(u[l], S_l) + _dot(c[l], S_l) + _dot(u[l], B_l) + direct
        st.update(var_u=var_u)
        return value, np.r_[g_beta, g_sigma], st

    def approx_hessian(self, st: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Hessian of the Laplace log-likelihood in ``(beta, sigma)`` without the curvature of
        ``W`` in the log-determinant, and the derivative of the mode ``du*/dtheta``.

        The penalised part profiled over ``u`` has the exact Hessian
        ``-V'WV + R' H^-1 R`` with ``V = [X, u*_l(i)]`` (the derivatives of eta) and
        ``R = d(grad_u pen)/dtheta``; the log-determinant adds its second derivative in
        ``sigma`` with the weights held fixed (group-level finite differences).
        """
        t = self.tree
        p, D = self.p, self.D
        sigma = st["sigma"]
        u = st["u"]
        w = st["w"]
        k = p + D
        # V = [X, u*_l(i)]: the u columns are constant within finest groups, so every product
        # that involves them is a group-level sum; only X'WX and the group sums of W X touch rows
        Xw = self.Xt * w
        Wfin = t.rows_to_fin(w)
        Ufin = np.empty((D, len(Wfin)))
        for l in range(D):
            Ufin[l] = self._to_fin(u[l], l)
        Tfin = np.empty((k, len(Wfin)))
        Tfin[:p] = t.rows_to_fin(Xw)
        Tfin[p:] = Ufin * Wfin
        VtWV = np.empty((k, k))
        VtWV[:p, :p] = Xw @ self.Xt.T
        VtWV[:p, p:] = np.einsum("ig,jg->ij", Tfin[:p], Ufin)
        VtWV[p:, :p] = VtWV[:p, p:].T
        VtWV[p:, p:] = np.einsum("ig,jg->ij", Tfin[p:], Ufin)
        E = []
        for l in range(D):
            e = np.zeros((k, len(u[l])))
            e[p + l] = self._level_sum(st["Sfin"], l)
            E.append(e)
        delta = self._solve(st["Mo"], st["Po"], sigma, Tfin, E)  # = -du/dtheta
        H = -VtWV
        for l in range(D):
            R = sigma[l] * self._level_sum(Tfin, l) - E[l]
            H = H + np.einsum("ig,jg->ij", R, delta[l])
        H = 0.5 * (H + H.T)
        # log-determinant curvature in sigma (weights fixed)
        WF = st["M"][-1]
        H[p:, p:] += -0.5 * self._logdet_sigma_hessian(WF, sigma)
        dudt = [-d for d in delta]
        return H, dudt

    def _logdet_sigma_hessian(self, Wfin: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        def ld(s: np.ndarray) -> float:
            _, P = self._factor(Wfin, s)
            return sum(float(np.log(p).sum()) for p in P)

        return _fd_hess(ld, sigma, 1e-4 * np.maximum(np.abs(sigma), 0.05))

    # ------------------------------------------------------------------ AGQ
    def adapt(self, beta: np.ndarray, sigma: np.ndarray, q: tuple[int, ...]) -> dict[str, Any]:
        """Fixed quadrature grid adapted at ``(beta, sigma)``: node values of ``u`` per level.

        One level: the nodes are centred at the conditional mode and scaled by the PIRLS
        curvature, exactly lme4's adaptive rule for a single scalar term. Nested levels
        (Pinheiro & Chao 2006): given the nodes of its ancestors, a group's nodes are
        centred at the joint mode shifted by the Gaussian conditional mean
        ``u*_g - rho_g (S_anc - S*_anc)`` and scaled by ``1 / sqrt(P_g)``; with one point per
        level this is exactly the Laplace approximation. (Re-centring every team at its own
        conditional mode given each trust node was tried: on the national benchmark it did
        not reduce the number of points needed, which is set by the skewness of the team
        posteriors, and it cost more than it saved.)
        """
        t = self.tree
        _, _, st = self.laplace(beta, sigma)
        u, M, P = st["u"], st["M"], st["P"]
        nodes = [gauss_hermite(qq) for qq in q]
        U: list[np.ndarray] = []  # U[l]: (q_0*...*q_l, n_l)
        adj: list[np.ndarray] = []  # log phi(u) - log phi(z) - log(P)/2 at each node, same shape
        S_hat_anc = np.zeros(len(P[0]))  # sum of ancestors' b at the mode, per level-l group
        S_anc = np.zeros((1, len(P[0])))  # per ancestor node combination
        for l in range(self.D):
            if l > 0:
                S_hat_anc = t.down(S_hat_anc + sigma[l - 1] * u[l - 1], l - 1)
                prevU = t.down(U[l - 1], l - 1)
                S_anc = t.down(S_anc, l - 1) + sigma[l - 1] * prevU  # (Q_{l-1}, n_l)
            z, _ = nodes[l]
            sd = 1.0 / np.sqrt(P[l])
            rho = sigma[l] * M[l] / P[l]
            mean = u[l][None, :] - rho[None, :] * (S_anc - S_hat_anc[None, :])  # (Q_{l-1}, n_l)
            Ul = mean[:, None, :] + z[None, :, None] * sd[None, None, :]  # (Q_{l-1}, q_l, n_l)
            A = (-0.5 * Ul * Ul + 0.5 * (z * z)[None, :, None]) - 0.5 * np.log(P[l])[None, None, :]
            U.append(Ul.reshape(-1, Ul.shape[-1]))
            adj.append(A.reshape(-1, A.shape[-1]))
            if l < self.D - 1:
                S_anc = np.repeat(S_anc, len(z), axis=0)
        logw = [w for _, w in nodes]
        return {"U": U, "adj": adj, "logw": logw, "q": q, "beta": beta, "sigma": sigma, "laplace": st}

    def agq(self, beta: np.ndarray, sigma: np.ndarray, grid: dict[str, Any], *, grad: bool = False,
            chunk_elements: int = 300_000) -> tuple[float, np.ndarray | None]:
        """Log-likelihood by the fixed (adapted) quadrature rule ``grid``, and its gradient (``-inf`` on overflow)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, g = self._agq(beta, sigma, grid, grad=grad, chunk_elements=chunk_elements)
        if not np.isfinite(value) or (g is not None and not np.all(np.isfinite(g))):
            return -np.inf, (None if g is None else np.zeros_like(g))
        return value, g

    def _agq(self, beta: np.ndarray, sigma: np.ndarray, grid: dict[str, Any], *, grad: bool = False,
             chunk_elements: int = 300_000) -> tuple[float, np.ndarray | None]:
        self.n_eval += 1
        t = self.tree
        D = self.D
        beta = np.asarray(beta, dtype=float)
        sigma = np.asarray(sigma, dtype=float)
        q = grid["q"]
        U, adj, logw = grid["U"], grid["adj"], grid["logw"]
        Qs = [int(np.prod(q[: l + 1])) for l in range(D)]
        Q = Qs[-1]
        eta0 = self.eta0(beta)
        # totals (b units) at each finest node combination: (Q, n_fin)
        T = sigma[0] * U[0]
        for l in range(1, D):
            T = np.repeat(t.down(T, l - 1), q[l], axis=0) + sigma[l] * U[l]
        fam = self.fam
        total = 0.0
        g_beta = np.zeros(self.p)
        g_sigma = np.zeros(D)
        # chunks of top-level groups so that Q x rows stays bounded
        top_rows = np.bincount(t.row_pos[0], minlength=t.n_groups[0])
        bounds = _chunks(top_rows, max(1, chunk_elements // Q))
        fin_top = t.fin_anc[0]
        fin_cum = np.r_[0, np.cumsum(np.bincount(fin_top, minlength=t.n_groups[0]))]
        row_cum = np.r_[0, np.cumsum(top_rows)]
        # ancestors at each level of each finest group
        for a0, a1 in bounds:
            f0, f1 = fin_cum[a0], fin_cum[a1]
            r0, r1 = row_cum[a0], row_cum[a1]
            counts = t.row_counts[f0:f1]
            starts = t.row_starts[f0:f1] - r0
            eta = np.repeat(T[:, f0:f1], counts, axis=1)
            eta += eta0[None, r0:r1]
            logf, score = fam.eval_rule(eta, self.k[None, r0:r1], self.m[None, r0:r1], grad)
            Lf = np.add.reduceat(logf, starts, axis=1)  # (Q, nf)
            del logf
            # bottom-up nested log-sum-exp
            psi = Lf + adj[D - 1][:, f0:f1]
            levels_psi = [None] * D
            levels_psi[D - 1] = psi
            # position ranges of this chunk's groups at every level (outer first)
            ranges = [(a0, a1)] + self._chunk_group_ranges(a0, a1)
            for l in range(D - 1, -1, -1):
                ql = q[l]
                Qprev = Qs[l - 1] if l > 0 else 1
                ps = levels_psi[l].reshape(Qprev, ql, -1) + logw[l][None, :, None]
                mx = ps.max(axis=1, keepdims=True)
                mx = np.where(np.isfinite(mx), mx, 0.0)
                L = np.log(np.exp(ps - mx).sum(axis=1)) + mx[:, 0, :]  # (Qprev, n_l chunk)
                if l > 0:
                    g0, g1 = ranges[l - 1]  # the parents' range
                    cs = self.tree.child_starts[l - 1][g0:g1] - self.tree.child_starts[l - 1][g0]
                    up = np.add.reduceat(L, cs, axis=1)
                    levels_psi[l - 1] = up + adj[l - 1][:, g0:g1]
                else:
                    total += float(L.sum())
            if not grad:
                continue
            # posterior node weights, top-down
            pi = None
            for l in range(D):
                ql = q[l]
                Qprev = Qs[l - 1] if l > 0 else 1
                ps = levels_psi[l].reshape(Qprev, ql, -1) + logw[l][None, :, None]
                mx = ps.max(axis=1, keepdims=True)
                mx = np.where(np.isfinite(mx), mx, 0.0)
                e = np.exp(ps - mx)
                cond = e / e.sum(axis=1, keepdims=True)  # (Qprev, ql, n_l)
                if l == 0:
                    pi = cond.reshape(Qs[0], -1)
                else:
                    g0, g1 = ranges[l - 1]  # the parents' range
                    cc = self.tree.child_counts[l - 1][g0:g1]
                    parent_pi = np.repeat(pi, cc, axis=1)  # (Qprev, n_l)
                    pi = (parent_pi[:, None, :] * cond).reshape(Qs[l], -1)
            # pi: (Q, nf) joint posterior weights of the finest node combinations
            pir = np.repeat(pi, counts, axis=1)
            Es = (pir * score).sum(axis=0)
            g_beta += self.Xt[:, r0:r1] @ Es
            Sf = np.add.reduceat(score, starts, axis=1)  # (Q, nf)
            PS = pi * Sf
            for l in range(D):
                g_sigma[l] += float((PS * self._expand_nodes(U[l], l, a0, a1, q)).sum())
        return total + fam.const, (np.r_[g_beta, g_sigma] if grad else None)

    def _chunk_group_ranges(self, a0: int, a1: int) -> list[tuple[int, int]]:
        """For top groups [a0, a1): the position ranges of their descendants at levels 1..D-1."""
        t = self.tree
        out = []
        g0, g1 = a0, a1
        for l in range(self.D - 1):
            cs = np.r_[t.child_starts[l], t.n_groups[l + 1]]
            g0, g1 = int(cs[g0]), int(cs[g1])
            out.append((g0, g1))
        return out

    def _expand_nodes(self, Ul: np.ndarray, l: int, a0: int, a1: int, q: tuple[int, ...]) -> np.ndarray:
        """Level-l node values (Q_l, n_l) of the chunk expanded to (Q, n_fin chunk)."""
        t = self.tree
        ranges = [(a0, a1)] + self._chunk_group_ranges(a0, a1)
        g0, g1 = ranges[l]
        v = Ul[:, g0:g1]
        for j in range(l, self.D - 1):
            h0, h1 = ranges[j]
            v = np.repeat(v, t.child_counts[j][h0:h1], axis=1)  # to level j+1 groups
            v = np.repeat(v, q[j + 1], axis=0)  # each node of level j+1 under each combination
        return v


def _chunks(sizes: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Split consecutive items with ``sizes`` into runs whose sum stays within ``budget`` (>= 1 item)."""
    out = []
    start = 0
    acc = 0
    for i, s in enumerate(sizes):
        if i > start and acc + s > budget:
            out.append((start, i))
            start, acc = i, 0
        acc += int(s)
    out.append((start, len(sizes)))
    return out




# --------------------------------------------------------------------------- fitting
def _newton_direction(g: np.ndarray, H: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Ascent direction ``(-H)^-1 g`` with the eigenvalues of ``-H`` made positive (scale-free)."""
    B = -H * np.outer(scale, scale)
    lam, vec = np.linalg.eigh(0.5 * (B + B.T))
    top = float(np.max(np.abs(lam))) if lam.size else 1.0
    lam = np.maximum(np.abs(lam), 1e-10 * max(top, 1e-300))
    gs = g * scale
    ds = vec @ ((vec.T @ gs) / lam)
    return ds * scale, 0.5 * float(gs @ ds)


class _Fitter:
    """Maximum-likelihood estimation for one engine (Laplace, then optionally nested AGQ)."""

    def __init__(self, eng: GLMMEngine) -> None:
        self.eng = eng
        self.p, self.D = eng.p, eng.D
        self.scale: np.ndarray | None = None

    # Laplace ---------------------------------------------------------------
    def laplace_fit(self, theta0: np.ndarray, scale: np.ndarray, *, max_iter: int = 200,
                    tol: float = 1e-10) -> tuple[np.ndarray, float, np.ndarray, dict[str, Any], int, bool]:
        """Newton steps in ``(beta, log sigma)`` with the approximate Hessian; exact gradient.

        The Laplace log-likelihood is far closer to quadratic in ``log sigma`` than in
        ``sigma`` (in ``sigma`` it is convex for large values), so standard deviations above
        ``_LOG_FROM`` take log steps; smaller ones take plain steps, which reach zero (a
        singular fit) where a log parametrisation never could. The approximate Hessian
        (:meth:`GLMMEngine.approx_hessian`) lacks the curvature of the PIRLS weights inside
        the log-determinant; its sigma columns are corrected by differences of the exact
        gradient (``D`` extra evaluations), refreshed after large moves of sigma. The
        iteration ends when the predicted gain ``g' (-H)^-1 g / 2`` is below ``tol``.
        """
        eng, p, D = self.eng, self.p, self.D
        self.scale = scale
        theta = theta0.copy()
        v, g, st = eng.laplace(theta[:p], theta[p:], grad=True)
        ok = False
        it = 0
        H, dudt = eng.approx_hessian(st)
        C = None
        sigma_at_C = None
        full = False  # correct every column (not only sigma's) once convergence is slow
        last_dec = np.inf
        slow = False
        refreshed = 0
        for it in range(1, max_iter + 1):
            sig = theta[p:]
            stalled = slow and it - refreshed >= 2
            if C is None or stalled or np.any(np.abs(sig - sigma_at_C) > 0.2 * np.maximum(np.abs(sigma_at_C), 0.05)):
                C = self._correction(theta, g, H, st, dudt, full=full or stalled)
                full = full or stalled
                sigma_at_C = sig.copy()
                refreshed = it
            logc = np.abs(sig) >= _LOG_FROM
            J = np.r_[np.ones(p), np.where(logc, sig, 1.0)]
            g_psi = J * g
            H_psi = (H + C) * np.outer(J, J)
            H_psi[p:, p:] += np.diag(np.where(logc, sig * g[p:], 0.0))
            sc = np.r_[scale[:p], np.where(logc, 1.0, scale[p:])]
            d, dec = _newton_direction(g_psi, H_psi, sc)
            if not dec > tol:
                ok = True
                break
            # slow (linear) convergence: the weights' curvature in the log-determinant matters for
            # the fixed effects too (small groups, rare outcomes); correct all columns next time
            slow = it > 2 and dec > 0.1 * last_dec
            last_dec = dec
            # a flat direction gives a huge Newton step: shorten the whole step (keeping it an
            # ascent direction) to at most 1 in log sigma and 10 standard errors in beta
            size = max(float(np.max(np.abs(d[p:][logc]))) if logc.any() else 0.0,
                       float(np.max(np.abs(d[:p] / scale[:p]))) / 10.0 if p else 0.0)
            if size > 1.0:
                d = d / size
            slope = float(g_psi @ d)  # predicted gain per unit step (> 0)
            step = 1.0
            accepted = False
            for _h in range(50):
                t_new = theta.copy()
                t_new[:p] += step * d[:p]
                t_new[p:] = np.where(logc, sig * np.exp(step * d[p:]), sig + step * d[p:])
                dth = t_new - theta
                u_pred = [st["u"][l] + np.einsum("k,kg->g", dth, dudt[l]) for l in range(D)]
                v_new, g_new, st_new = eng.laplace(t_new[:p], t_new[p:], grad=True, u0=u_pred)
                # Armijo: a real gain, except where the predicted gain is below the rounding
                # level of the log-likelihood (then any non-loss is accepted)
                need = 1e-4 * step * slope if step * slope > 1e-11 * max(1.0, abs(v)) else -1e-13 * abs(v)
                if np.isfinite(v_new) and v_new - v >= need:
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                break
            gain = v_new - v
            theta, v, g, st = t_new, v_new, g_new, st_new
            H, dudt = eng.approx_hessian(st)
            if gain <= 1e-14 * abs(v) and dec < 1e-8:
                ok = True
                break
        return theta, v, g, st, it, ok

    def _correction(self, theta: np.ndarray, g: np.ndarray, H: np.ndarray, st: dict[str, Any],
                    dudt: list[np.ndarray], *, full: bool = False) -> np.ndarray:
        """Exact-minus-approximate Hessian in the sigma columns, or in every column with ``full``
        (forward differences of the exact gradient, symmetrised)."""
        eng, p, D = self.eng, self.p, self.D
        C = np.zeros_like(H)
        cols = range(p + D) if full else range(p, p + D)
        scale = np.r_[self.scale[:p], np.full(D, 0.05)] if self.scale is not None else np.full(p + D, 0.05)
        done = np.zeros(p + D, dtype=bool)
        for j in cols:
            h = 1e-4 * max(abs(theta[j]), scale[j])
            t_h = theta.copy()
            t_h[j] += h
            u_pred = [st["u"][lev] + h * dudt[lev][j] for lev in range(D)]
            _, g_h, _ = eng.laplace(t_h[:p], t_h[p:], grad=True, u0=u_pred)
            col = (g_h - g) / h - H[:, j]
            C[:, j] = col
            done[j] = True
        # symmetrise: average where both columns were differenced, mirror where only one was
        both = np.outer(done, done)
        C = np.where(both, 0.5 * (C + C.T), np.where(done[None, :], C, C.T))
        return C

    def hessian(self, vg: Any, theta: np.ndarray, scale: np.ndarray, *, central: bool = True,
                g0: np.ndarray | None = None, rel_step: float = 1e-4) -> np.ndarray:
        """Hessian from differences of the exact gradient; steps ``rel_step`` of each parameter's scale."""
        k = len(theta)
        steps = rel_step * np.maximum(np.abs(theta), scale)
        H = np.empty((k, k))
        if not central and g0 is None:
            g0 = vg(theta)[1]
        for j in range(k):
            e = np.zeros(k)
            e[j] = steps[j]
            if central:
                H[:, j] = (vg(theta + e)[1] - vg(theta - e)[1]) / (2.0 * steps[j])
            else:
                H[:, j] = (vg(theta + e)[1] - g0) / steps[j]
        return 0.5 * (H + H.T)

    # AGQ -------------------------------------------------------------------
    def agq_fit(self, theta: np.ndarray, H: np.ndarray, nagq: tuple[int, ...], scale: np.ndarray,
                *, max_rounds: int = 30) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, int, bool]:
        """Maximise the quadrature rule with nodes fixed, re-adapt at the new estimate, repeat.

        Quasi-Newton (BFGS) steps start from the Laplace Hessian. A round that takes no step
        (the rule adapted at the current estimate is already at its maximum) ends the
        iteration; its evaluation is the reported one. The Hessian for the standard errors
        is then taken by forward differences of the exact gradient of that rule.
        """
        eng, p = self.eng, self.p
        ok = False
        rounds = 0
        B = -H.copy()
        theta = np.r_[theta[:p], np.abs(theta[p:])]
        for rounds in range(1, max_rounds + 1):
            grid = eng.adapt(theta[:p], theta[p:], nagq)

            def vg(th: np.ndarray, grid: dict[str, Any] = grid) -> tuple[float, np.ndarray]:
                v, g = eng.agq(th[:p], th[p:], grid, grad=True)
                return v, g  # type: ignore[return-value]

            theta_new, v, g, B, n_steps, conv = _quasi_newton(vg, theta, B, scale)
            if n_steps == 0 and conv:
                ok = True
                break
            theta = np.r_[theta_new[:p], np.abs(theta_new[p:])]
        H = self.hessian(vg, theta, scale, central=False, g0=g)
        return theta, v, g, H, rounds, ok


def _quasi_newton(vg: Any, theta: np.ndarray, B: np.ndarray, scale: np.ndarray, *, max_iter: int = 100,
                  tol: float = 1e-10) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, int, bool]:
    """BFGS ascent from the approximation ``B`` of ``-Hessian``; returns the updated ``B`` too."""
    v, g = vg(theta)
    it = 0
    for it in range(max_iter):
        d, dec = _newton_direction(g, -B, scale)
        if not dec > tol:
            return theta, v, g, B, it, True
        size = float(np.max(np.abs(d / scale))) / 10.0  # at most 10 scale units per step
        if size > 1.0:
            d = d / size
        slope = float(g @ d)
        step = 1.0
        for _h in range(50):
            t_new = theta + step * d
            v_new, g_new = vg(t_new)
            need = 1e-4 * step * slope if step * slope > 1e-11 * max(1.0, abs(v)) else -1e-13 * abs(v)
            if np.isfinite(v_new) and v_new - v >= need:
                break
            step *= 0.5
        else:
            return theta, v, g, B, it, False
        s = t_new - theta
        y = g - g_new
        sy = float(s @ y)
        if sy > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            Bs = B @ s
            B = B - np.outer(Bs, Bs) / float(s @ Bs) + np.outer(y, y) / sy
        theta, v, g = t_new, v_new, g_new
    return theta, v, g, B, it, False


def _glm_start(eng: GLMMEngine) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-effects GLM (no random effects) by Newton's method: start values and X'WX."""
    fam = eng.fam
    if eng.family == "binomial":
        tot = float(eng.m.sum())
        pbar = float(eng.k.sum()) / tot if tot > 0 else 0.5
        pbar = min(max(pbar, 1e-4), 1 - 1e-4)
        lin = math.log(pbar / (1 - pbar)) if eng.link == "logit" else float(special.ndtri(pbar))
    else:
        expo = eng.m * (np.exp(eng.offset) if eng.offset is not None else 1.0)
        rate = float((eng.m * eng.k).sum()) / max(float(np.sum(expo)), 1e-300)
        lin = math.log(max(rate, 1e-8))
    target = np.full(eng.n, lin) - (eng.offset if eng.offset is not None else 0.0)
    beta = np.linalg.lstsq(eng.Xt.T, target, rcond=None)[0]
    info = np.eye(eng.p)
    # divergence (separation) judged per unit of each column (root mean square), so the bound is unit-free
    with np.errstate(over="ignore"):
        unit = np.sqrt(np.mean(eng.Xt * eng.Xt, axis=1))
    unit = np.where(np.isfinite(unit) & (unit > 0), unit, 1.0)
    for _ in range(100):
        lsum, score, w = fam.eval_sum(eng.eta0(beta))
        info = (eng.Xt * w) @ eng.Xt.T
        grad = eng.Xt @ score
        try:
            d = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            d = np.linalg.lstsq(info, grad, rcond=None)[0]
        if not float(grad @ d) > 1e-12 * max(1.0, abs(lsum)):
            break
        step = 1.0
        for _h in range(40):
            bn = beta + step * d
            vn = fam.eval_sum(eng.eta0(bn))[0]
            if np.isfinite(vn) and vn >= lsum:
                break
            step *= 0.5
        beta = bn
        if np.max(np.abs(beta) * unit) > 1e8:
            break
    return beta, info


def fit(eng: GLMMEngine, nagq: tuple[int, ...], *, sigma_start: float = 1.0, check: bool = True,
        start: np.ndarray | None = None) -> EngineFit:
    """Maximise the Laplace (``nagq`` all 1) or the nested AGQ log-likelihood of ``eng``.

    Trial steps may overflow the densities (a Poisson rate of exp(800)); such points have
    log-likelihood ``-inf`` and are rejected by the line searches, so floating-point
    warnings are silenced here and every accepted value is checked to be finite.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _fit(eng, nagq, sigma_start=sigma_start, check=check, start=start)


def _fit(eng: GLMMEngine, nagq: tuple[int, ...], *, sigma_start: float = 1.0, check: bool = True,
         start: np.ndarray | None = None) -> EngineFit:
    p, D = eng.p, eng.D
    sub = None
    if start is None and eng.n > 2 * _SUBSAMPLE_ROWS and eng.tree.n_groups[-1] >= 20 * max(1, D):
        sub = _subsample_start(eng, sigma_start)
    if sub is not None:
        theta0, sd = sub
    else:
        beta0, info = _glm_start(eng)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = 1.0 / np.sqrt(np.diag(info))
        sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
        theta0 = np.r_[beta0, np.full(D, sigma_start)] if start is None else np.asarray(start, dtype=float)
    scale = np.r_[sd, np.full(D, 0.05)]
    fitter = _Fitter(eng)
    theta, v, g, st, n_iter, ok = fitter.laplace_fit(theta0, scale)

    def lap_vg(th: np.ndarray) -> tuple[float, np.ndarray]:
        val, gr, _ = eng.laplace(th[:p], th[p:], grad=True)
        return val, gr  # type: ignore[return-value]

    theta_abs = np.r_[theta[:p], np.abs(theta[p:])]
    theta_abs = _zero_small_sigma(lambda th: lap_vg(th)[0], theta_abs, p, v)
    if not np.array_equal(theta_abs, theta):
        theta = theta_abs
        v, g, st = eng.laplace(theta[:p], theta[p:], grad=True)
    # central differences (error ~1e-8) where evaluations are cheap; forward differences with a
    # smaller step (error ~1e-6 relative in the standard errors) for large data
    if eng.n * (p + D) <= 400_000:
        H = fitter.hessian(lap_vg, theta, scale)
    else:
        H = fitter.hessian(lap_vg, theta, scale, central=False, g0=g, rel_step=1e-5)
    laplace_value = v
    message = "" if ok else "the Newton iterations stopped before the predicted gain fell below 1e-10"
    rounds = 0
    qcheck = float("nan")
    if any(q > 1 for q in nagq):
        theta, v, g, H, rounds, ok_agq = fitter.agq_fit(theta, H, nagq, scale)
        tiny = (theta[p:] > 0) & (theta[p:] < _SINGULAR_SD)
        if tiny.any():
            # a variance at the boundary: report exactly zero when that loses no log-likelihood
            # (the fixed-node rule is not even in sigma, so its optimum can sit at 1e-12)
            trial = theta.copy()
            trial[p:][tiny] = 0.0
            grid0 = eng.adapt(trial[:p], trial[p:], nagq)
            v0, g0 = eng.agq(trial[:p], trial[p:], grid0, grad=True)
            if v0 >= v - 1e-9:
                theta, v, g = trial, v0, g0  # type: ignore[assignment]
        ok = ok and ok_agq
        if not ok_agq:
            message = "the adaptive quadrature iterations did not settle"
        if check:
            grid2 = eng.adapt(theta[:p], theta[p:], tuple(2 * q - 1 for q in nagq))
            qcheck = eng.agq(theta[:p], theta[p:], grid2)[0] - v
    free = np.ones(p + D, dtype=bool)
    free[p:] = theta[p:] >= _SINGULAR_SD  # a variance at the boundary is held fixed (singular fit)
    dec = _decrement(g, H, free)
    cov = np.full((p + D, p + D), np.nan)
    pd_ok = True
    try:
        np.linalg.cholesky(-H[np.ix_(free, free)])
        cov[np.ix_(free, free)] = np.linalg.inv(-H[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        pd_ok = False
    cov_beta = cov[:p, :p].copy()
    if not pd_ok:
        try:
            cov_beta = np.linalg.inv(-H[:p, :p])
        except np.linalg.LinAlgError:
            cov_beta = np.full((p, p), np.nan)
    converged = bool(ok and pd_ok and np.isfinite(v) and dec < 1e-6)
    if not converged and not message:
        message = ("the Hessian of the log-likelihood is not negative definite at the estimates" if not pd_ok
                   else f"the predicted remaining gain in log-likelihood is {dec:.3g} (> 1e-6)")
    if any(q > 1 for q in nagq):
        _, _, st = eng.laplace(theta[:p], theta[p:])
    var_u, _, _ = eng._condvar(st["M"], st["P"], theta[p:])
    modes, csd = [], []
    for l in range(D):
        order = eng.tree.group_order[l]
        b = np.empty(len(order))
        s = np.empty(len(order))
        b[order] = theta[p + l] * st["u"][l]
        s[order] = theta[p + l] * np.sqrt(var_u[l])
        modes.append(b)
        csd.append(s)
    return EngineFit(beta=theta[:p], sigma=theta[p:], loglik=float(v), cov=cov, cov_beta=cov_beta,
                     converged=converged, message=message, modes=modes, cond_sd=csd, nagq=nagq,
                     n_evaluations=eng.n_eval, decrement=float(dec), gradient=g, hessian=H,
                     quadrature_check=qcheck, laplace_loglik=float(laplace_value),
                     extra={"agq_rounds": rounds, "newton_iterations": n_iter})




def _subsample_start(eng: GLMMEngine, sigma_start: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Start values (and the coefficients' scales) from a Laplace fit to a sample of whole teams.

    The first Newton steps from the default start are the long ones; taking them on
    about ``_SUBSAMPLE_ROWS`` rows (every k-th team, whole teams, in every trust) costs a
    fraction of a full evaluation each, and the trust variance still rests on all
    trusts. The full-data iterations then start within sampling error of the optimum.
    The scales (standard errors of a fixed-effects GLM, used to make the iteration scale
    free) are the subsample's divided by the square root of the sampling fraction. Only
    the start values change, never the answer. Returns None when the sample is too small.
    """
    t = eng.tree
    step = max(1, int(math.ceil(eng.n / _SUBSAMPLE_ROWS)))
    chosen = np.zeros(t.n_groups[-1], dtype=bool)
    chosen[::step] = True
    rows = chosen[t.row_pos[-1]]
    codes = [pos[rows] for pos in t.row_pos]
    if any(len(np.unique(c)) < 10 for c in codes):
        return None
    sub = GLMMEngine(eng.Xt[:, rows].T, eng.k[rows], eng.m[rows],
                     None if eng.offset is None else eng.offset[rows], codes, eng.family, eng.link)
    p = eng.p
    beta0, info = _glm_start(sub)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = 1.0 / np.sqrt(np.diag(info))
    if not np.all(np.isfinite(sd) & (sd > 0)):
        return None
    scale = np.r_[sd, np.full(eng.D, 0.05)]
    theta, v, *_ = _Fitter(sub).laplace_fit(np.r_[beta0, np.full(eng.D, sigma_start)], scale, tol=1e-3)
    if not np.all(np.isfinite(theta)) or not np.isfinite(v):
        return None
    return np.r_[theta[:p], np.abs(theta[p:])], sd * math.sqrt(sub.n / eng.n)


def _decrement(g: np.ndarray, H: np.ndarray, free: np.ndarray) -> float:
    try:
        return 0.5 * float(g[free] @ np.linalg.solve(-H[np.ix_(free, free)], g[free]))
    except np.linalg.LinAlgError:
        return float("nan")


def _zero_small_sigma(value: Any, theta: np.ndarray, p: int, v: float) -> np.ndarray:
    """Set standard deviations below 1e-4 to exactly zero when that loses no log-likelihood."""
    out = theta.copy()
    for j in range(p, len(theta)):
        if 0.0 < out[j] < 1e-4:
            trial = out.copy()
            trial[j] = 0.0
            if value(trial) >= v - 1e-9:
                out = trial
    return out


def _fd_hess(f: Any, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x`` with steps ``h`` (one per coordinate)."""
    k = len(x)
    H = np.empty((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H
