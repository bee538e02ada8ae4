"""Exact engine for correlated random slopes of teams nested in trusts.

Fits ``y ~ x + (1 | trust) + (1 + x | team)`` (teams nested in trusts; the
same model as ``(1 | trust) + (1 + x | trust:team)``) by REML or ML, without
statsmodels and without any ``n x n`` matrix. More generally: two nested
grouping factors, each in exactly one random term, the finer factor's term
with ``q >= 2`` correlated columns (intercept and/or slopes) and the coarser
factor's term with ``q_t >= 1`` correlated columns (``(1 | trust)``,
``(1 + x | trust)``, ...). Used by :func:`teamculture.mixed` with
``engine == "nested-slopes"``.

**Model and criterion.** Within trust :math:`k` with teams :math:`j`, random-effects columns
:math:`Z_j` (``n_j x q``) of the team term and :math:`T_k` (``n_k x q_t``)
of the trust term, and lme4's relative Cholesky factors :math:`\\Lambda`
(``q x q``, team covariance / :math:`\\sigma^2 = \\Lambda\\Lambda^\\top`) and
:math:`\\Lambda_t` (trust), the marginal covariance is

.. math::

   V_k/\\sigma^2 = D_k + T_k\\Lambda_t\\Lambda_t^\\top T_k^\\top, \\qquad
   D_k = \\operatorname{blockdiag}_j (I + Z_j\\Lambda\\Lambda^\\top Z_j^\\top).

For the required case :math:`q_t = 1`, :math:`T_k = 1` and
:math:`\\Lambda_t\\Lambda_t^\\top = \\tau` is the trust variance ratio.
Two Woodbury steps give everything from per-team sums. With
:math:`W = [X, y, T]` (``d = p + 1 + q_t`` columns):

* per team, :math:`M_j = I_q + \\Lambda^\\top Z_j^\\top Z_j \\Lambda` and
  :math:`H_j = C_j^{-1}\\Lambda^\\top Z_j^\\top W_j` (:math:`C_j` the Cholesky
  factor of :math:`M_j`), so that
  :math:`S_k = W_k^\\top D_k^{-1} W_k = \\sum_j (W_j^\\top W_j - H_j^\\top H_j)`
  and :math:`\\log|D_k| = \\sum_j \\log|M_j|`;
* per trust, :math:`N_k = I_{q_t} + \\Lambda_t^\\top S_k^{TT}\\Lambda_t` and
  :math:`F_k = C_{N_k}^{-1}\\Lambda_t^\\top S_k^{T,[Xy]}`, so that
  :math:`[X y]^\\top V_k^{-1}[X y]\\,\\sigma^2 = S_k^{[Xy],[Xy]} - F_k^\\top F_k`
  and :math:`\\log|V_k/\\sigma^2| = \\log|D_k| + \\log|N_k|`.

Cost per criterion evaluation: :math:`O(J (q^3 + q^2 d + q d^2) + K
(q_t^3 + q_t d^2))` for :math:`J` teams and :math:`K` trusts (batched
numpy over small matrices), after one pass over the rows that forms
:math:`Z_j^\\top Z_j`, :math:`Z_j^\\top W_j` and :math:`W_j^\\top W_j`
(:func:`nested_slopes_suffstats`). The profiled criteria are lme4's: REML
:math:`\\log|V/\\sigma^2| + \\log|X^\\top V^{-1} X\\sigma^2| + (n - p)(1 +
\\log(2\\pi r/(n - p)))` and ML deviance :math:`\\log|V/\\sigma^2| + n(1 +
\\log(2\\pi r/n))`, :math:`r` the generalised residual sum of squares; they
are minimised over ``theta`` (the column-wise lower triangles of
:math:`\\Lambda_t` and :math:`\\Lambda`, lme4's ``theta``) by L-BFGS-B with
the Cholesky diagonals bounded below by 0 from several starts, the best
kept. A diagonal at 0 (a zero variance) is a legitimate estimate and sets
``singular`` (lme4's ``isSingular`` rule, tolerance 1e-4).

**BLUPs and conditional variances.** In the spherical scale :math:`b = \\Lambda u`, the posterior precision of a
trust's :math:`(u_t, u_1, \\dots, u_{m})` is an arrow matrix whose Schur
complement for :math:`u_t` is :math:`N_k`; hence
:math:`\\hat u_t = N_k^{-1}\\Lambda_t^\\top T^\\top D_k^{-1} r`,
:math:`\\hat u_j = M_j^{-1}\\Lambda^\\top Z_j^\\top(r_j - T_j\\Lambda_t\\hat u_t)`,
:math:`\\operatorname{Var}(u_t) = N_k^{-1}` and
:math:`\\operatorname{Var}(u_j) = M_j^{-1} + M_j^{-1}C_j^\\top N_k^{-1}C_j M_j^{-1}`
(:math:`C_j^\\top = \\Lambda^\\top Z_j^\\top T_j\\Lambda_t`), times
:math:`\\hat\\sigma^2` and mapped by :math:`\\Lambda`, :math:`\\Lambda_t`:
lme4's ``ranef(condVar = TRUE)`` (conditional on :math:`\\hat\\beta`).
Satterthwaite df: :func:`teamculture.multilevel._satterthwaite.satterthwaite_df`
(numerical derivatives in ``(theta, sigma)``, as lmerTest).

R: ``lmerTest::lmer(y ~ x + (1 | trust) + (1 + x | team), data)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from teamculture.multilevel._lmm_common import (
    SINGULAR_NOTE,
    BackendFit,
    SINGULAR_TOL,
    chol_labels,
    correlated_variances,
    covariate,
    deviance_at,
    diag_mask,
    fixed_effects_table,
    gls_estimates,
    lower_tri,
    profiled_criterion,
    term_columns,
)

__all__ = ["supports", "nested_slopes_suffstats", "NestedSlopesModel", "fit_nested_slopes"]


def supports(terms: Sequence[Any], order: Sequence[str] | None) -> bool:
    """Whether :func:`fit_nested_slopes` fits this random part (and the other engines cannot).

    Two grouping factors, nested (``order`` coarse to fine, from
    :func:`teamculture.mixed`), each in exactly one term, the finer one with
    at least two correlated columns.
    """
    if order is None or len(order) != 2 or len(terms) != 2:
        return False
    by_group = {t.group: t for t in terms}
    if set(by_group) != set(order):
        return False
    return len(term_columns(by_group[order[0]])) >= 1 and len(term_columns(by_group[order[1]])) >= 2


def _chol_small(M: np.ndarray) -> np.ndarray:
    """Cholesky factors of a stack of small SPD matrices laid out ``(q, q, J)``, vectorised over ``J``."""
    q = M.shape[0]
    C = np.zeros_like(M)
    for j in range(q):
        s = M[j, j] - sum(C[j, k] ** 2 for k in range(j))
        if not np.all(s > 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        C[j, j] = np.sqrt(s)
        for i in range(j + 1, q):
            C[i, j] = (M[i, j] - sum(C[i, k] * C[j, k] for k in range(j))) / C[j, j]
    return C


@dataclass(frozen=True)
class NestedSlopesStats:
    """Per-team and per-trust cross products (teams ordered by trust).

    Attributes
    ----------
    ZZ : numpy.ndarray
        ``(J, q, q)``: :math:`Z_j^\\top Z_j` per team.
    ZW : numpy.ndarray
        ``(J, q, d)``: :math:`Z_j^\\top [X, y, T]_j`.
    WW : numpy.ndarray
        ``(K, d, d)``: :math:`[X, y, T]_k^\\top [X, y, T]_k` per trust.
    team_start : numpy.ndarray
        ``(K,)``: index of each trust's first team (teams sorted by trust).
    team_order : numpy.ndarray
        ``(J,)``: original team code of each sorted team.
    nobs, p, q, q_t : int
        Rows, fixed effects, team-term and trust-term columns.
    """

    ZZ: np.ndarray
    ZW: np.ndarray
    WW: np.ndarray
    team_start: np.ndarray
    team_order: np.ndarray
    nobs: int
    p: int
    q: int
    q_t: int


def nested_slopes_suffstats(X: np.ndarray, y: np.ndarray, T: np.ndarray, Z: np.ndarray,
                            team: np.ndarray, trust: np.ndarray) -> NestedSlopesStats:
    """One pass over the rows: per-team and per-trust cross products.

    ``team`` / ``trust`` are integer codes ``0..J-1`` / ``0..K-1`` with each
    team inside one trust; ``T`` and ``Z`` are the trust- and team-term
    random-effects columns.
    """
    n, p = X.shape
    J = int(team.max()) + 1
    K = int(trust.max()) + 1
    parent = np.zeros(J, dtype=np.intp)
    parent[team] = trust
    # teams sorted by trust; recode
    team_order = np.argsort(parent, kind="stable")
    rank = np.empty(J, dtype=np.intp)
    rank[team_order] = np.arange(J)
    tcode = rank[team]
    W = np.column_stack([X, y, T])
    d, q = W.shape[1], Z.shape[1]

    def per(codes: np.ndarray, A: np.ndarray, B: np.ndarray, m: int) -> np.ndarray:
        prod = (A[:, :, None] * B[:, None, :]).reshape(n, -1)
        out = np.empty((m, prod.shape[1]))
        for c in range(prod.shape[1]):
            out[:, c] = np.bincount(codes, weights=prod[:, c], minlength=m)
        return out.reshape(m, A.shape[1], B.shape[1])

    ZZ = per(tcode, Z, Z, J)
    ZW = per(tcode, Z, W, J)
    WW = per(trust, W, W, K)
    sorted_parent = parent[team_order]
    team_start = np.searchsorted(sorted_parent, np.arange(K))
    return NestedSlopesStats(ZZ, ZW, WW, team_start, team_order, n, p, q, T.shape[1])


class NestedSlopesModel:
    """REML/ML criterion, estimates and BLUPs from :class:`NestedSlopesStats`."""

    def __init__(self, stats_: NestedSlopesStats) -> None:
        self.st = stats_
        self.n_t = stats_.q_t * (stats_.q_t + 1) // 2
        self.n_theta = self.n_t + stats_.q * (stats_.q + 1) // 2
        self.diag = np.array(diag_mask(stats_.q_t) + diag_mask(stats_.q))
        J, q, _ = stats_.ZW.shape
        d = stats_.ZW.shape[2]
        # teams on the last axis, so that the per-team algebra runs over long contiguous vectors
        self._ZZt = np.ascontiguousarray(stats_.ZZ.reshape(J, q * q).T)
        self._ZWt = np.ascontiguousarray(stats_.ZW.transpose(1, 2, 0)).reshape(q, d * J)
        self._iu = np.triu_indices(d)

    def _lams(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        return lower_tri(theta[: self.n_t], self.st.q_t), lower_tri(theta[self.n_t:], self.st.q)

    def _parts(self, theta: np.ndarray) -> dict[str, Any]:
        st = self.st
        Lt, L = self._lams(theta)
        J, q, d = st.ZW.shape
        # per team, vectorised over teams (last axis) with loops over the q (small)
        # terms: M_j = I + L' Z'Z L, its Cholesky factor C_j and H_j = C_j^-1 L' Z'W
        Mq = (np.kron(L, L).T @ self._ZZt).reshape(q, q, J) + np.eye(q)[:, :, None]
        C = _chol_small(Mq)
        G = (L.T @ self._ZWt).reshape(q, d, J)
        H = np.empty_like(G)
        for a in range(q):
            acc = G[a].copy()
            for b in range(a):
                acc -= C[a, b] * H[b]
            H[a] = acc / C[a, a]
        # sum over the teams of each trust of H_j' H_j (upper triangle, then mirrored)
        iu0, iu1 = self._iu
        P = H[0][iu0] * H[0][iu1]
        for a in range(1, q):
            P += H[a][iu0] * H[a][iu1]
        red = np.add.reduceat(P, st.team_start, axis=1)  # (pairs, K)
        HtH = np.zeros((len(st.WW), d, d))
        HtH[:, iu0, iu1] = red.T
        HtH[:, iu1, iu0] = red.T
        S = st.WW - HtH
        p1 = st.p + 1
        N = Lt.T @ S[:, p1:, p1:] @ Lt + np.eye(st.q_t)
        CN = np.linalg.cholesky(N)
        F = np.linalg.solve(CN, Lt.T @ S[:, p1:, :p1])  # (K, q_t, p1)
        Q = S[:, :p1, :p1].sum(axis=0) - np.einsum("kia,kib->ab", F, F)
        logdet = 2.0 * (sum(np.log(C[a, a]).sum() for a in range(q))
                        + np.log(np.diagonal(CN, axis1=1, axis2=2)).sum())
        M = np.moveaxis(Mq, -1, 0)
        return {"Lt": Lt, "L": L, "M": M, "S": S, "N": N, "Q": Q, "logdet": float(logdet)}

    def sums(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """``log|V/sigma^2|``, ``X'V^-1X sigma^2``, ``X'V^-1y sigma^2``, ``y'V^-1y sigma^2``."""
        pr = self._parts(theta)
        p, Q = self.st.p, pr["Q"]
        return pr["logdet"], Q[:p, :p], Q[:p, p], float(Q[p, p])

    def criterion(self, theta: np.ndarray, reml: bool) -> float:
        """lme4's profiled REML criterion (``reml``) or ML deviance at ``theta``."""
        try:
            return profiled_criterion(*self.sums(theta), self.st.nobs, self.st.p, reml)
        except (np.linalg.LinAlgError, linalg.LinAlgError):
            # only at absurd theta (a line search far out): a finite wall keeps finite differences finite
            return 1e100

    def estimates(self, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, float, np.ndarray]:
        """``beta``, ``sigma^2`` and ``Cov(beta)`` at ``theta``."""
        _, A, b, c = self.sums(theta)
        return gls_estimates(A, b, c, self.st.nobs, self.st.p, reml)

    def deviance_varpar(self, varpar: np.ndarray, reml: bool) -> float:
        """``-2 log L`` (REML or ML) at ``(theta, sigma)``, ``beta`` at its conditional estimate."""
        theta, sigma2 = varpar[:-1], float(varpar[-1]) ** 2
        return deviance_at(*self.sums(theta), sigma2, self.st.nobs, self.st.p, reml)

    def cov_beta_varpar(self, varpar: np.ndarray) -> np.ndarray:
        """``Cov(beta) = sigma^2 (X'V^-1X sigma^2)^-1`` at ``(theta, sigma)``."""
        _, A, _, _ = self.sums(varpar[:-1])
        return float(varpar[-1]) ** 2 * linalg.inv(A)

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray, sigma2: float
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """BLUPs and conditional covariances: trust ``(K, q_t)``, ``(K, q_t, q_t)``;
        team ``(J, q)``, ``(J, q, q)`` (teams in their original code order)."""
        st = self.st
        pr = self._parts(theta)
        Lt, L, M, S, N = pr["Lt"], pr["L"], pr["M"], pr["S"], pr["N"]
        p1 = st.p + 1
        w = np.r_[-np.asarray(beta, dtype=float), 1.0]
        Ninv = np.linalg.inv(N)
        ut = np.einsum("kab,kb->ka", Ninv, (Lt.T @ S[:, p1:, :p1]) @ w)  # (K, q_t)
        counts = np.diff(np.r_[st.team_start, len(st.ZZ)])
        parent = np.repeat(np.arange(len(st.WW)), counts)  # sorted teams -> trust
        tb = -(Lt @ ut[..., None])[..., 0]  # (K, q_t): -Lambda_t u_t
        vec = np.concatenate([np.broadcast_to(w, (len(st.ZZ), p1)), tb[parent]], axis=1)  # (J, d)
        Minv = np.linalg.inv(M)
        g = np.einsum("ab,jbd,jd->ja", L.T, st.ZW, vec)
        uj = np.einsum("jab,jb->ja", Minv, g)
        Ct = L.T @ st.ZW[:, :, p1:] @ Lt  # (J, q, q_t)
        MC = Minv @ Ct
        Vj = Minv + MC @ Ninv[parent] @ np.transpose(MC, (0, 2, 1))
        b_t = ut @ Lt.T
        cov_t = sigma2 * (Lt @ Ninv @ Lt.T)
        b_j = uj @ L.T
        cov_j = sigma2 * (L @ Vj @ L.T)
        back = np.empty_like(st.team_order)
        back[st.team_order] = np.arange(len(st.team_order))
        return b_t, cov_t, b_j[back], cov_j[back]

    def fit(self, reml: bool, starts: Sequence[np.ndarray] | None = None
            ) -> tuple[np.ndarray, float, bool, dict[str, float]]:
        """Minimise the criterion: L-BFGS-B from several starts, the best polished by a restart.

        Returns ``theta``, the criterion, whether the final run reported
        success (or could not improve) and the criterion of each run.
        """
        bounds = [(0.0, None) if dg else (None, None) for dg in self.diag]
        if starts is None:
            starts = [np.where(self.diag, s, 0.0) for s in (0.5, 1.0, 0.1, 2.0)]
        opts = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000}
        runs: dict[str, float] = {}
        best_x, best_f = None, np.inf
        for i, x0 in enumerate(starts):
            res = optimize.minimize(self.criterion, x0, args=(reml,), method="L-BFGS-B",
                                    bounds=bounds, options=opts)
            runs[f"start{i}"] = float(res.fun)
            if res.fun < best_f:
                best_x, best_f = np.asarray(res.x, dtype=float), float(res.fun)
        # polish from the best start
        fin = optimize.minimize(self.criterion, best_x, args=(reml,), method="L-BFGS-B",
                                bounds=bounds, options=opts)
        runs["polished"] = float(fin.fun)
        converged = bool(fin.success) or fin.fun >= best_f - 1e-10
        if fin.fun < best_f:
            best_x, best_f = np.asarray(fin.x, dtype=float), float(fin.fun)
        return best_x, best_f, converged, runs


def fit_nested_slopes(
    y: pd.Series,
    X: pd.DataFrame,
    terms: Sequence[Any],
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, pd.Index],
    frame: pd.DataFrame,
    *,
    order: Sequence[str],
    reml: bool = True,
) -> Any:
    """Fit ``(1 | trust) + (1 + x | team)``-type models exactly (see the module notes).

    Same inputs as :func:`teamculture.multilevel._statsmodels_backend.fit_statsmodels`
    plus ``order`` (the two grouping names, coarse to fine); returns its
    :class:`~teamculture.multilevel._lmm_common.BackendFit`.
    R: ``lmerTest::lmer(y ~ x + (1 | trust) + (1 + x | team))``.
    """
    from teamculture.multilevel._satterthwaite import satterthwaite_df

    top, fine = order
    by_group = {t.group: t for t in terms}
    top_terms, fine_terms = term_columns(by_group[top]), term_columns(by_group[fine])
    T = np.column_stack([covariate(c, X, frame) for c in top_terms])
    Z = np.column_stack([covariate(c, X, frame) for c in fine_terms])
    st = nested_slopes_suffstats(X.to_numpy(dtype=float), y.to_numpy(dtype=float), T, Z,
                                 np.asarray(codes[fine]), np.asarray(codes[top]))
    model = NestedSlopesModel(st)
    theta, crit, converged, runs = model.fit(bool(reml))
    beta, sigma2, cov = model.estimates(theta, bool(reml))
    names = [str(c) for c in X.columns]
    varpar = np.r_[theta, np.sqrt(sigma2)]
    df, _ = satterthwaite_df(lambda vp: model.deviance_varpar(vp, bool(reml)), model.cov_beta_varpar, varpar)

    # names as the statsmodels backend: "g" for a lone intercept, "g|term", "g|term1,term2"
    Lt, L = model._lams(theta)
    vc: dict[str, float] = {}
    theta_names: list[str] = []
    ranef: dict[str, pd.DataFrame] = {}
    b_t, cov_t, b_j, cov_j = model.conditional_modes(theta, beta, sigma2)
    per = {top: (top_terms, Lt, b_t, cov_t), fine: (fine_terms, L, b_j, cov_j)}
    for t in terms:
        g = t.group
        tn, Lg, blup, cv = per[g]
        theta_names.extend(f"{g}|{lab}:chol" for lab in chol_labels(tn))
        vc.update(correlated_variances(g, tn, sigma2 * Lg @ Lg.T))
        if tn == ["Intercept"]:
            ranef[g] = pd.DataFrame({"blup": blup[:, 0], "cond_var": cv[:, 0, 0]}, index=labels[g])
        else:
            cols = {tn[a]: blup[:, a] for a in range(len(tn))}
            cols.update({f"cond_var:{tn[a]}": cv[:, a, a] for a in range(len(tn))})
            ranef[g] = pd.DataFrame(cols, index=labels[g])
    vc["residual"] = sigma2
    # theta in formula order of the terms (the model stores trust first)
    theta_by_group = {top: theta[: model.n_t], fine: theta[model.n_t:]}
    theta_vals = np.concatenate([theta_by_group[t.group] for t in terms])
    notes = []
    singular = bool(np.any(theta[model.diag] < SINGULAR_TOL))
    if singular:
        notes.append(SINGULAR_NOTE)
    if not converged:
        notes.append("the optimiser did not confirm convergence")
    notes.append(f"exact nested random-slopes engine: L-BFGS-B from {len(runs) - 1} starts, best kept "
                 "and polished")
    return BackendFit(
        **fixed_effects_table(beta, cov, df, names),
        variance_components=pd.Series(vc, dtype=float, name="variance"),
        theta=pd.Series(theta_vals, index=theta_names, name="theta"),
        loglik=-0.5 * crit, deviance=crit, reml=bool(reml), random_effects=ranef,
        n_params=len(names) + model.n_theta + 1, singular=singular, converged=converged,
        optimizer="nested-slopes:L-BFGS-B", criteria=runs, notes=tuple(notes),
    )
