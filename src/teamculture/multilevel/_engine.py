"""Exact REML/ML for nested random intercepts from per-cluster sums.

Model (levels ``l = 1..L``, coarsest first, e.g. trust then team)::

    y = X beta + sum_l Z_l b_l + e,   b_l ~ N(0, sigma^2 gamma_l I),  e ~ N(0, sigma^2 I),

so ``V = sigma^2 M`` with ``M = I + sum_l gamma_l Z_l Z_l^T``. Because the
levels are nested, ``M`` is block diagonal by top-level cluster and each block
is a sum of rank-one terms on a tree; Sherman-Morrison applied from the finest
level up gives, for a cluster ``c`` with children ``h`` (the observations, for
the finest level)::

    q0_c = sum_h q_h,   m_c = sum_h q_h m_h / q0_c,   d_c = 1 + gamma_c q0_c,   q_c = q0_c / d_c,

with ``q = 1`` and ``m = w_i = (x_i, y_i)`` for an observation. Then, with
``r0_c = q0_c m_c`` (the ``q``-weighted sums of ``W = [X, y]``)::

    W^T M^{-1} W = W^T W - sum_c gamma_c r0_c r0_c^T / d_c,
    log|M| = sum_c log d_c,

the sums running over all clusters of all levels, and ``W^T W`` = the
within-finest-cluster scatter plus ``sum_j n_j m_j m_j^T``. Every term is a
function of the sufficient statistics of :mod:`._suffstats`; one evaluation
costs O(#clusters * p^2), independent of ``n``. The fixed effects and
``sigma^2`` are profiled out: with ``Psi = W^T M^{-1} W = C C^T`` (Cholesky,
``C_XX`` its leading ``p x p`` block, ``rss = C_yy^2``)::

    ML:    -2 l(theta)   = n (1 + log(2 pi rss / n)) + log|M|
    REML:  -2 l_R(theta) = (n - p)(1 + log(2 pi rss / (n - p))) + log|M| + 2 log|C_XX|

which are lme4's profiled deviance and REML criterion. The optimisation is
over ``theta_l = sqrt(gamma_l)`` (relative standard deviations, lme4's
``theta``): the criterion is even in each ``theta_l``, so a variance on the
boundary is an ordinary interior minimum at ``theta_l = 0`` in this
parameterisation and needs no special handling. The criterion is minimised
by damped Newton steps with its exact gradient and Hessian, obtained by
forward-mode differentiation of the recursion above (:meth:`NestedModel.psi_jet`),
from one-way ANOVA starting values (a Nelder-Mead search backs Newton up if it
stalls); components whose optimum is zero are set to exactly zero when that
does not worsen the criterion. The same exact derivatives give lmerTest's
Satterthwaite degrees of freedom (:meth:`NestedModel.varpar_derivatives`).
When ``X`` has an intercept the statistics are centred at the grand means (a
unit-determinant reparameterisation, undone for the reported estimates),
which keeps ``W^T W`` from cancelling catastrophically.

Conditional modes (BLUPs) and conditional variances come from one more
upward/downward pass on the tree (Gaussian belief propagation): with ``a``
the sum of the ancestors' effects, ``E[b_c | y] = gamma_c (r0_c - q0_c E[a]) / d_c``
and ``Var[b_c | y] = sigma^2 gamma_c / d_c + (gamma_c q0_c / d_c)^2 Var[a]``,
where ``r0_c`` is the ``q``-weighted residual sum of the children.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize

from teamculture.multilevel._lmm_common import RESIDUAL_FLOOR, within_rss
from teamculture.multilevel._suffstats import NestedSuffStats

__all__ = ["NestedModel", "NestedFit"]

_LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class NestedFit:
    """Estimates of a nested random-intercept model (arrays, no labels)."""

    theta: np.ndarray  # relative SDs, coarsest level first
    beta: np.ndarray
    sigma2: float
    cov_beta: np.ndarray
    criterion: float  # REML criterion or ML deviance (-2 log-likelihood)
    reml: bool
    converged: bool
    n_evals: int

    @property
    def variances(self) -> np.ndarray:
        """Variance of each random-intercept level (coarsest first)."""
        return self.theta**2 * self.sigma2


class NestedModel:
    """Profiled likelihood of a nested random-intercept model, and its fit.

    The second step of the nested engine (the first is
    :func:`~teamculture.multilevel.nested_suffstats`); :func:`teamculture.mixed`
    runs both. R: ``lme4::lmer(y ~ x + (1 | trust/team), REML = TRUE)``; the
    criterion is lme4's ``REMLcrit`` (ML: ``deviance``) and ``theta`` its
    ``getME(fit, "theta")``.

    Parameters
    ----------
    stats : NestedSuffStats
        From :func:`teamculture.multilevel.nested_suffstats`.

    Examples
    --------
    >>> import numpy as np
    >>> from teamculture.multilevel import NestedModel, nested_suffstats
    >>> rng = np.random.default_rng(1)
    >>> team = np.repeat(np.arange(30), 5)
    >>> y = rng.normal(size=30)[team] + rng.normal(size=150)
    >>> model = NestedModel(nested_suffstats(np.ones((150, 1)), y, [team]))
    >>> fit = model.fit(reml=True)
    >>> fit.converged, fit.theta.shape
    (True, (1,))
    >>> bool(fit.criterion == model.criterion(fit.theta, reml=True))
    True
    """

    def __init__(self, stats: NestedSuffStats) -> None:
        if not isinstance(stats, NestedSuffStats):
            raise TypeError(
                "`stats` must be a NestedSuffStats (from teamculture.multilevel.nested_suffstats); "
                f"got {type(stats).__name__}."
            )
        self.stats = stats
        self.n = stats.nobs
        self.p = stats.ncols
        self.L = stats.nlevels
        # reduceat start positions of each parent's children, per level
        self._starts = tuple(
            np.flatnonzero(np.r_[True, par[1:] != par[:-1]]) for par in stats.parents
        )
        self._meansT = np.ascontiguousarray(stats.means.T)  # (k, G_L)
        # children per parent (children are stored sorted by parent): np.repeat broadcasts parents
        self._nchild = tuple(np.diff(np.r_[st, len(par)]) for st, par in zip(self._starts, stats.parents))
        self.n_evals = 0

    # ----------------------------------------------------------- core algebra
    def psi(self, gamma: np.ndarray) -> tuple[np.ndarray, float]:
        """Return ``(W^T M^{-1} W, log|M|)`` for variance ratios ``gamma``."""
        return self.psi_jet(gamma, order=0)[0::3]  # type: ignore[return-value]

    def psi_jet(self, gamma: np.ndarray, order: int = 2) -> tuple:
        """``Psi = W^T M^{-1} W`` and ``log|M|`` with derivatives in ``gamma``.

        Computed without cancellation as a sum of positive semi-definite
        terms (see the module notes): the within-finest-cluster scatter, at
        each level the ``q``-weighted scatter of the children's means about
        their parent's mean, and at the top ``sum_c q_c m_c m_c^T``. Every
        per-cluster weight ``q`` and mean ``m`` carries its first and second
        partial derivatives with respect to each ``gamma_a`` (forward mode);
        those with respect to coarser levels are zero below them and are
        skipped. The weights use closed-form partials of ``q = q0/(1 + g q0)``
        (``dq/dq0 = u^2``, ``dq/dg = -q0^2 u^2``, ...), never differences of
        nearly equal numbers, so that the criterion stays accurate when the
        residual variance is tiny relative to the cluster variances (relative
        SDs of 10^6 and more).

        Returns
        -------
        psi, psi_a, psi_ab, logdet, logdet_a, logdet_ab
            Shapes ``(k, k)``, ``(L, k, k)``, ``(L, L, k, k)``, scalar,
            ``(L,)``, ``(L, L)`` (the derivative arrays are zero when
            ``order`` is lower).
        """
        L = self.L
        k = self.p + 1
        gamma = np.asarray(gamma, dtype=float)
        psi = self.stats.within.copy()
        psi_a = np.zeros((L, k, k))
        psi_ab = np.zeros((L, L, k, k))
        ld = 0.0
        ld_a = np.zeros(L)
        ld_ab = np.zeros((L, L))
        q0 = self.stats.counts
        m = self._meansT  # (k, G): contiguous per column
        # derivatives of q0 and m of the current level's clusters, by gamma index (dicts: sparse)
        q0_a: dict[int, np.ndarray] = {}
        q0_ab: dict[tuple[int, int], np.ndarray] = {}
        m_a: dict[int, np.ndarray] = {}
        m_ab: dict[tuple[int, int], np.ndarray] = {}
        zero = 0.0
        # the finest level (the many clusters): its means do not depend on gamma, so its part
        # sum_j q_j m_j m_j^T and the parents' sums need a few passes only
        fin = L - 1
        g = gamma[fin]
        d = 1.0 + g * q0
        u = 1.0 / d
        ld += float(np.log(d).sum())
        q = q0 * u
        psi += (m * q) @ m.T
        if order:
            u2 = u * u
            qa = -q0 * q0 * u2
            ld_a[fin] += float(np.sum(q0 * u))
            psi_a[fin] += (m * qa) @ m.T
            if order >= 2:
                qaa = 2.0 * q0**3 * u2 * u
                ld_ab[fin, fin] += float(-np.sum(q0 * q0 * u2))
                psi_ab[fin, fin] += (m * qaa) @ m.T
        if L == 1:
            self.n_evals += 1
            return psi, psi_a, psi_ab, ld, ld_a, ld_ab
        # parents: q0 = sum q, R = sum q m; then Psi -= sum_c R_c R_c^T / q0_c, which turns the
        # children's sum into their q-weighted scatter about the parent means (small arrays)
        st = self._starts[fin - 1]
        pq0 = np.add.reduceat(q, st)
        R = np.add.reduceat(m * q, st, axis=1)
        pm = R / pq0
        psi -= (pm * pq0) @ pm.T
        if order:
            q0_a = {fin: np.add.reduceat(qa, st)}
            Ra = np.add.reduceat(m * qa, st, axis=1)
            ma = (Ra - q0_a[fin] * pm) / pq0
            m_a = {fin: ma}
            # B = sum R R^T / q0 = sum q0 pm pm^T; dB = sum q0_a pm pm^T + q0 (ma pm^T + pm ma^T)
            s_ = (pm * pq0) @ ma.T
            psi_a[fin] -= (pm * q0_a[fin]) @ pm.T + s_ + s_.T
            if order >= 2:
                q0_ab = {(fin, fin): np.add.reduceat(qaa, st)}
                Raa = np.add.reduceat(m * qaa, st, axis=1)
                maa = (Raa - q0_ab[fin, fin] * pm - 2.0 * q0_a[fin] * ma) / pq0
                m_ab = {(fin, fin): maa}
                s1 = (pm * q0_a[fin]) @ ma.T
                s2 = (pm * pq0) @ maa.T
                B_aa = (pm * q0_ab[fin, fin]) @ pm.T + 2.0 * (s1 + s1.T) + s2 + s2.T + 2.0 * (ma * pq0) @ ma.T
                psi_ab[fin, fin] -= B_aa
        q0, m = pq0, pm
        for lev in range(L - 2, -1, -1):
            g = gamma[lev]
            act = list(range(lev, L)) if order else []
            gq = g * q0
            d = 1.0 + gq
            u = 1.0 / d
            u2 = u * u
            ld += float(np.log(d).sum())
            q = q0 * u
            # partials of q = q0 / (1 + g q0) and of log d
            qa: dict[int, np.ndarray] = {}
            qab: dict[tuple[int, int], np.ndarray] = {}
            for a in act:
                dq0a = q0_a.get(a, zero)
                qa[a] = u2 * dq0a - (q0 * q0 * u2 if a == lev else 0.0)
                ld_a[a] += float(np.sum((g * dq0a + (q0 if a == lev else 0.0)) * u))
            if order >= 2:
                u3 = u2 * u
                for ia, a in enumerate(act):
                    for b in act[: ia + 1]:
                        qa_, qb_ = q0_a.get(a, zero), q0_a.get(b, zero)
                        qab_ = q0_ab.get((a, b), zero)
                        val = u2 * qab_ - 2.0 * g * u3 * qa_ * qb_
                        if a == lev:
                            val = val - 2.0 * q0 * u3 * qb_
                        if b == lev:
                            val = val - 2.0 * q0 * u3 * qa_
                        if a == lev and b == lev:
                            val = val + 2.0 * q0**3 * u3
                        qab[a, b] = val
                        da = g * qa_ + (q0 if a == lev else 0.0)
                        db = g * qb_ + (q0 if b == lev else 0.0)
                        dab = g * qab_ + (qb_ if a == lev else 0.0) + (qa_ if b == lev else 0.0)
                        v = float(np.sum(dab * u - da * db * u2))
                        ld_ab[a, b] += v
                        if a != b:
                            ld_ab[b, a] += v
            if lev == 0:
                # top: sum_c q_c m_c m_c^T
                psi += (m * q) @ m.T
                for a in act:
                    t = (m * qa[a]) @ m.T
                    if a in m_a:
                        s = (m * q) @ m_a[a].T
                        t += s + s.T
                    psi_a[a] += t
                if order >= 2:
                    for ia, a in enumerate(act):
                        for b in act[: ia + 1]:
                            t = (m * qab[a, b]) @ m.T
                            if b in m_a:
                                s = (m * qa[a]) @ m_a[b].T
                                t += s + s.T
                            if a in m_a:
                                s = (m * qa[b]) @ m_a[a].T
                                t += s + s.T
                            if (a, b) in m_ab:
                                s = (m * q) @ m_ab[a, b].T
                                t += s + s.T
                            if a in m_a and b in m_a:
                                s = (m_a[a] * q) @ m_a[b].T
                                t += s + s.T
                            psi_ab[a, b] += t
                            if a != b:
                                psi_ab[b, a] += t
                break
            # move up: parents' q0 = sum of the children's q, m = q-weighted mean; the
            # q-weighted scatter of the children's means about it joins Psi
            st = self._starts[lev - 1]
            nchild = self._nchild[lev - 1]
            pq0 = np.add.reduceat(q, st)
            pm = np.add.reduceat(m * q, st, axis=1) / pq0
            e = m - np.repeat(pm, nchild, axis=1)
            psi += (e * q) @ e.T
            pq0_a: dict[int, np.ndarray] = {}
            pm_a: dict[int, np.ndarray] = {}
            ea: dict[int, np.ndarray] = {}
            for a in act:
                pq0_a[a] = np.add.reduceat(qa[a], st)
                num = e * qa[a]
                if a in m_a:
                    num += m_a[a] * q
                pm_a[a] = np.add.reduceat(num, st, axis=1) / pq0
                # d e / d gamma_a, and d Psi: sum q_a e e^T + q (m_a e^T + e m_a^T)
                # (the parent's m_a drops out because sum_h q_h e_h = 0)
                t = (e * qa[a]) @ e.T
                if a in m_a:
                    s = (m_a[a] * q) @ e.T
                    t += s + s.T
                psi_a[a] += t
                ea[a] = (m_a[a] if a in m_a else 0.0) - np.repeat(pm_a[a], nchild, axis=1)
            pq0_ab: dict[tuple[int, int], np.ndarray] = {}
            pm_ab: dict[tuple[int, int], np.ndarray] = {}
            if order >= 2:
                for ia, a in enumerate(act):
                    for b in act[: ia + 1]:
                        pq0_ab[a, b] = pq0_ab[b, a] = np.add.reduceat(qab[a, b], st)
                        num = e * qab[a, b] + ea[b] * qa[a] + ea[a] * qa[b]
                        if (a, b) in m_ab:
                            num += m_ab[a, b] * q
                        pm_ab[a, b] = pm_ab[b, a] = np.add.reduceat(num, st, axis=1) / pq0
                        # second derivative of sum q e e^T (sum_h q_h e_h = 0 and its derivatives
                        # remove the parent-mean second derivative)
                        t = (e * qab[a, b]) @ e.T
                        s = (ea[b] * qa[a]) @ e.T
                        t += s + s.T
                        s = (ea[a] * qa[b]) @ e.T
                        t += s + s.T
                        s = (ea[a] * q) @ ea[b].T
                        t += s + s.T
                        if (a, b) in m_ab:
                            s = (m_ab[a, b] * q) @ e.T
                            t += s + s.T
                        psi_ab[a, b] += t
                        if a != b:
                            psi_ab[b, a] += t
            q0, m = pq0, pm
            q0_a, q0_ab, m_a, m_ab = pq0_a, pq0_ab, pm_a, pm_ab
        self.n_evals += 1
        return psi, psi_a, psi_ab, ld, ld_a, ld_ab

    def _chol(self, gamma: np.ndarray) -> tuple[np.ndarray, float]:
        psi, logdet = self.psi(gamma)
        try:
            c = linalg.cholesky(psi, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return np.full_like(psi, np.nan), logdet
        return c, logdet

    def criterion(self, theta: np.ndarray, reml: bool) -> float:
        """Profiled REML criterion / ML deviance at relative SDs ``theta``."""
        gamma = self._check_theta(theta, "theta") ** 2
        c, logdet = self._chol(gamma)
        p, n = self.p, self.n
        rss = c[p, p] ** 2
        if not np.isfinite(rss) or rss <= 0:
            return np.inf
        if reml:
            nu = n - p
            ldx = 2.0 * float(np.log(np.diag(c)[:p]).sum())
            return nu * (1.0 + _LOG2PI + np.log(rss / nu)) + logdet + ldx
        return n * (1.0 + _LOG2PI + np.log(rss / n)) + logdet

    def _pieces(self, theta: np.ndarray) -> dict:
        """Derivatives (in ``gamma``) of ``log rss``, ``rss``, ``log|M|``, ``log|X'M^-1 X|``."""
        p = self.p
        gamma = np.asarray(theta, dtype=float) ** 2
        psi, psi_a, psi_ab, ld, ld_a, ld_ab = self.psi_jet(gamma, order=2)
        P = np.linalg.inv(psi)
        v = P[:, p]
        pyy = v[p]
        pa = -np.einsum("i,aij,j->a", v, psi_a, v)
        PA = psi_a @ v  # (L, k): Psi_a v
        pab = -np.einsum("i,abij,j->ab", v, psi_ab, v) + 2.0 * np.einsum("ai,ij,bj->ab", PA, P, PA)
        Ai = np.linalg.inv(psi[:p, :p])
        Aa = psi_a[:, :p, :p]
        AiAa = Ai @ Aa  # (L, p, p)
        la = np.einsum("aii->a", AiAa)
        lab = np.einsum("ij,abji->ab", Ai, psi_ab[:, :, :p, :p]) - np.einsum("aij,bji->ab", AiAa, AiAa)
        return {
            "gamma": gamma, "theta": np.asarray(theta, dtype=float),
            "rss": 1.0 / pyy, "rss_a": -pa / pyy**2,
            "rss_ab": -pab / pyy**2 + 2.0 * np.outer(pa, pa) / pyy**3,
            "lr_a": -pa / pyy, "lr_ab": -pab / pyy + np.outer(pa, pa) / pyy**2,
            "ld": ld, "ld_a": ld_a, "ld_ab": ld_ab,
            "logdetA": float(np.linalg.slogdet(psi[:p, :p])[1]), "la_a": la, "la_ab": lab,
            "Ai": Ai, "AiAa": AiAa,
        }

    @staticmethod
    def _to_theta(theta: np.ndarray, f_a: np.ndarray, f_ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chain rule from ``gamma = theta**2`` to ``theta``."""
        grad = 2.0 * theta * f_a
        hess = 4.0 * np.outer(theta, theta) * f_ab + 2.0 * np.diag(f_a)
        return grad, hess

    def criterion_jet(self, theta: np.ndarray, reml: bool) -> tuple[float, np.ndarray, np.ndarray]:
        """:meth:`criterion` with its exact gradient and Hessian in ``theta`` (one pass)."""
        pc = self._pieces(theta)
        nu = self.n - self.p if reml else self.n
        rss = pc["rss"]
        if not (np.isfinite(rss) and rss > 0):
            k = len(pc["theta"])
            return np.inf, np.full(k, np.nan), np.full((k, k), np.nan)
        f = nu * (1.0 + _LOG2PI + np.log(rss / nu)) + pc["ld"]
        f_a = nu * pc["lr_a"] + pc["ld_a"]
        f_ab = nu * pc["lr_ab"] + pc["ld_ab"]
        if reml:
            f += pc["logdetA"]
            f_a = f_a + pc["la_a"]
            f_ab = f_ab + pc["la_ab"]
        g, H = self._to_theta(pc["theta"], f_a, f_ab)
        return float(f), g, H

    def criterion_derivatives(self, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, np.ndarray]:
        """Exact gradient and Hessian of :meth:`criterion` in ``theta``."""
        return self.criterion_jet(theta, reml)[1:]

    def varpar_derivatives(self, varpar: np.ndarray, reml: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact Hessian of :meth:`deviance_varpar`, ``Cov(beta)`` and its Jacobian in ``varpar``.

        Returns ``(H, cov_beta, J)`` with ``J[:, :, k] = d Cov(beta) / d varpar_k``.
        """
        theta = np.asarray(varpar[:-1], dtype=float)
        sig = float(varpar[-1])
        s2 = sig * sig
        pc = self._pieces(theta)
        L, p = self.L, self.p
        nu = self.n - p if reml else self.n
        f_a = pc["ld_a"] + pc["rss_a"] / s2
        f_ab = pc["ld_ab"] + pc["rss_ab"] / s2
        if reml:
            f_a = f_a + pc["la_a"]
            f_ab = f_ab + pc["la_ab"]
        _, h_tt = self._to_theta(theta, f_a, f_ab)
        H = np.empty((L + 1, L + 1))
        H[:L, :L] = h_tt
        H[L, L] = 6.0 * pc["rss"] / s2**2 - 2.0 * nu / s2
        H[:L, L] = H[L, :L] = 2.0 * theta * (-2.0 * pc["rss_a"] / sig**3)
        Ai = pc["Ai"]
        cov = s2 * Ai
        J = np.empty((p, p, L + 1))
        for a in range(L):
            J[:, :, a] = -s2 * (pc["AiAa"][a] @ Ai) * 2.0 * theta[a]
        J[:, :, L] = 2.0 * sig * Ai
        T, _ = self._unshift()
        cov = T @ cov @ T.T
        J = np.einsum("ij,jkl,mk->iml", T, J, T)
        return H, cov, J

    def deviance_varpar(self, varpar: np.ndarray, reml: bool) -> float:
        """Deviance as a function of ``(theta, sigma)`` (lmerTest's ``devfun_vp``).

        ``log|M| + rss/sigma^2 + n log(2 pi sigma^2)``, plus, for REML,
        ``log|X^T M^{-1} X| - p log(2 pi sigma^2)``; ``rss`` at the
        generalised-least-squares ``beta(theta)``.
        """
        theta = np.asarray(varpar[:-1], dtype=float)
        sigma2 = float(varpar[-1]) ** 2
        c, logdet = self._chol(theta**2)
        p, n = self.p, self.n
        rss = c[p, p] ** 2
        dev = logdet + rss / sigma2 + n * np.log(2.0 * np.pi * sigma2)
        if reml:
            dev += 2.0 * float(np.log(np.diag(c)[:p]).sum()) - p * np.log(2.0 * np.pi * sigma2)
        return float(dev)

    def cov_beta_varpar(self, varpar: np.ndarray) -> np.ndarray:
        """``sigma^2 (X^T M^{-1} X)^{-1}`` at ``(theta, sigma)`` (lmerTest's ``get_covbeta``)."""
        theta = np.asarray(varpar[:-1], dtype=float)
        psi, _ = self.psi(theta**2)
        p = self.p
        inv = linalg.cho_solve(linalg.cho_factor(psi[:p, :p], lower=True), np.eye(p))
        T, _ = self._unshift()
        return float(varpar[-1]) ** 2 * (T @ inv @ T.T)

    def estimates(self, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, float, np.ndarray]:
        """``(beta, sigma2, cov_beta)`` at relative SDs ``theta``."""
        theta = np.asarray(theta, dtype=float)
        c, _ = self._chol(theta**2)
        p = self.p
        cxx = c[:p, :p]
        beta = linalg.solve_triangular(cxx.T, c[p, :p], lower=False)
        rss = c[p, p] ** 2
        sigma2 = rss / (self.n - p if reml else self.n)
        cinv = linalg.solve_triangular(cxx, np.eye(p), lower=True)
        cov = sigma2 * (cinv.T @ cinv)
        A, b = self._unshift()
        return A @ beta + b, float(sigma2), A @ cov @ A.T

    def _unshift(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, b)`` with ``beta_original = A beta_centred + b`` (identity when not centred)."""
        p = self.p
        A = np.eye(p)
        b = np.zeros(p)
        st = self.stats
        if st.shift is not None:
            c = st.const_col
            A[c, :] -= st.shift[:p] / st.const_value
            A[c, c] = 1.0
            b[c] = st.shift[p] / st.const_value
        return A, b

    # ------------------------------------------------------------ optimiser
    def start(self) -> np.ndarray:
        """Starting relative SDs from one-way ANOVAs of the response's cluster means.

        For each level, from the finest up: the variance of the cluster means
        minus what the residual and the finer levels contribute to it.
        """
        s = self.stats
        p = self.p
        n_fine = len(s.counts)
        sigma2 = s.within[p, p] / max(self.n - n_fine, 1)
        if not sigma2 > 0:
            return np.full(self.L, 0.5)
        tau2 = np.zeros(self.L)
        counts = s.counts
        sums = s.means[:, p] * counts
        # expected variance of a level's cluster mean from the levels below it
        below = sigma2 / counts
        for lev in range(self.L - 1, -1, -1):
            means = sums / counts
            if len(means) > 1:
                tau2[lev] = max(float(np.var(means, ddof=1) - np.mean(below)), 0.01 * sigma2)
            else:
                tau2[lev] = 0.1 * sigma2
            if lev > 0:
                st = self._starts[lev - 1]
                below = np.add.reduceat((below + tau2[lev]) * counts**2, st) / np.add.reduceat(counts, st) ** 2
                sums = np.add.reduceat(sums, st)
                counts = np.add.reduceat(counts, st)
        # no upper clip worth the name: a residual variance tiny relative to the cluster
        # variances means relative SDs of 1e5 and more, and Newton should start near them
        return np.sqrt(np.clip(tau2 / sigma2, 1e-4, 1e14))

    def residual_share(self) -> tuple[float, float]:
        """``(rss, tss)``: the residual sum of squares of ``y`` on ``X`` within the finest clusters,
        and the total sum of squares of ``y`` about its mean.

        ``rss / tss`` below ``1e-10`` means that ``y`` does not vary within the
        finest clusters beyond what ``X`` explains (a cluster-level response):
        the residual variance is zero and the likelihood has no maximum.
        """
        cached = self.__dict__.get("_residual_share")
        if cached is not None:
            return cached
        s = self.stats
        p = self.p
        W = s.within
        rss = within_rss(W[:p, :p], W[:p, p], float(W[p, p]))
        ym = s.means[:, p]
        n = s.counts
        ybar = float(np.sum(n * ym)) / float(np.sum(n))
        tss = max(float(W[p, p]), 0.0) + float(np.sum(n * (ym - ybar) ** 2))
        self._residual_share = (rss, tss)
        return rss, tss

    def _newton(self, x: np.ndarray, reml: bool, maxiter: int = 100) -> tuple[np.ndarray, float, bool]:
        """Damped Newton with exact derivatives; eigenvalues of an indefinite Hessian are flipped."""
        fx, g, H = self.criterion_jet(x, reml)
        for _ in range(maxiter):
            if not np.isfinite(fx):
                return x, fx, False
            w, U = np.linalg.eigh(H)
            scale = max(1.0, float(np.max(np.abs(w))))
            w = np.maximum(np.abs(w), 1e-10 * scale)
            step = -(U @ ((U.T @ g) / w))
            decrement = float(-g @ step)  # predicted decrease of the criterion
            tol = max(1e-12, 1e-14 * abs(fx))  # what the criterion's rounding allows
            if decrement < tol:
                return x, fx, True
            t = 1.0
            while True:
                xn = np.abs(x + t * step)
                fn, gn, Hn = self.criterion_jet(xn, reml)
                if fn <= fx - 1e-4 * t * decrement or (t < 1e-3 and fn <= fx):
                    break
                t *= 0.5
                if t < 1e-10:
                    return x, fx, decrement < 1e3 * tol
            x, fx, g, H = xn, fn, gn, Hn
        return x, fx, False

    def _check_theta(self, theta: Any, name: str) -> np.ndarray:
        """``theta`` as floats, one relative SD per level (a cheap check: runs per evaluation)."""
        t = np.asarray(theta, dtype=float)
        if t.shape != (self.L,):
            raise ValueError(
                f"`{name}` must hold one relative SD per random-intercept level ({self.L}); got shape {t.shape}."
            )
        return t

    def fit(self, reml: bool = True, start: np.ndarray | None = None) -> NestedFit:
        """Minimise the REML criterion (or ML deviance) over the relative SDs."""
        if not isinstance(reml, (bool, np.bool_)):
            raise TypeError(f"`reml` must be True (REML) or False (ML); got {reml!r}.")
        rss, tss = self.residual_share()
        if not rss > RESIDUAL_FLOOR * tss:
            raise ValueError(
                "`stats`: the response does not vary within the finest clusters beyond what the fixed "
                f"effects explain (residual share {rss / tss if tss > 0 else 0.0:.3g} of the total sum of squares); "
                "the residual variance is zero and the likelihood has no maximum. Model a cluster-level "
                "response with one row per cluster."
            )
        f = lambda t: self.criterion(t, reml)  # noqa: E731
        if start is None:
            x0 = self.start()
        else:
            x0 = self._check_theta(start, "start")
            if not np.isfinite(x0).all():
                raise ValueError(f"`start` must be finite; got {x0.tolist()!r}.")
        x, fx, converged = self._newton(x0, reml)
        fx = f(x)
        if not converged:
            res = optimize.minimize(f, x, method="Nelder-Mead",
                                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
            x2, f2, conv2 = self._newton(np.abs(res.x), reml)
            f2 = f(x2)
            # Newton can stall when the criterion is flat to rounding (relative SDs
            # in the hundreds); a simplex search that finds nothing better confirms it
            confirmed = bool(res.success) and f2 >= fx - 1e-9 * max(1.0, abs(fx))
            if f2 <= fx:
                x, fx = x2, f2
            converged = conv2 or confirmed
        # exact zeros on the boundary: the criterion is even in each theta,
        # so a zero variance shows as theta ~ 0 (a regular minimum)
        for k in range(self.L):
            if 0 < x[k] < 1e-4:
                xz = x.copy()
                xz[k] = 0.0
                fz = f(xz)
                if fz <= fx + 1e-10:
                    x, fx = xz, min(fz, fx)
        beta, sigma2, cov = self.estimates(x, reml)
        return NestedFit(theta=x, beta=beta, sigma2=sigma2, cov_beta=cov, criterion=float(fx),
                         reml=reml, converged=bool(converged and np.isfinite(fx)), n_evals=self.n_evals)

    # ------------------------------------------------------------ ranef
    def conditional_modes(self, fit: NestedFit) -> list[tuple[np.ndarray, np.ndarray]]:
        """BLUPs and conditional variances per level (clusters in stats order)."""
        s = self.stats
        gamma = fit.theta**2
        p = self.p
        # residual means of the finest clusters
        # residual means of the finest clusters, from the centred statistics
        A, b = self._unshift()
        beta_c = np.linalg.solve(A, fit.beta - b)
        emean = s.means[:, p] - s.means[:, :p] @ beta_c
        q0s: list[np.ndarray] = [None] * self.L  # type: ignore[list-item]
        r0s: list[np.ndarray] = [None] * self.L  # type: ignore[list-item]
        ds: list[np.ndarray] = [None] * self.L  # type: ignore[list-item]
        q0 = s.counts
        r0 = s.counts * emean
        for lev in range(self.L - 1, -1, -1):
            d = 1.0 + gamma[lev] * q0
            q0s[lev], r0s[lev], ds[lev] = q0, r0, d
            if lev > 0:
                starts = self._starts[lev - 1]
                q0 = np.add.reduceat(q0 / d, starts)
                r0 = np.add.reduceat(r0 / d, starts)
        out = []
        ea = np.zeros(len(q0s[0]))
        va = np.zeros(len(q0s[0]))
        for lev in range(self.L):
            g, q0, r0, d = gamma[lev], q0s[lev], r0s[lev], ds[lev]
            blup = g * (r0 - q0 * ea) / d
            k = g * q0 / d
            cvar = fit.sigma2 * g / d + k**2 * va
            out.append((blup, cvar))
            if lev + 1 < self.L:
                par = s.parents[lev]
                ea_c = (ea + g * r0) / d
                va_c = va / d**2 + fit.sigma2 * g / d
                ea, va = ea_c[par], va_c[par]
        return out
