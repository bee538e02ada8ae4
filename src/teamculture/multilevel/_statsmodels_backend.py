"""Random slopes and other structures through statsmodels MixedLM, with guards.

The exact nested engine covers nested random intercepts. Other structures go
through this backend:

* one grouping factor with correlated random effects, ``(1 + x | team)``;
* a coarsest grouping factor with any correlated term, plus finer grouping
  factors nested in it whose terms have one column each (a random intercept
  ``(1 | team)`` or an uncorrelated slope ``(0 + x | team)``), e.g.
  ``(1 | trust) + (1 | team) + (0 + x | team)``; a factor may appear in
  several terms (uncorrelated effects).

Correlated slopes of a *finer* factor under a coarser random intercept,
``(1 | trust) + (1 + x | team)``, cannot be written for MixedLM (its variance
components are independent within the top-level groups); :func:`teamculture.mixed`
fits them with the exact ``nested-slopes`` engine
(:mod:`teamculture.multilevel._nested_slopes`) and never sends them here
(called directly, this backend raises a ``ValueError`` for them). Crossed
factors are not supported by either.

Guards against MixedLM's traps
------------------------------
* The top-level random-effects design ``exog_re`` is always passed
  explicitly (the intercept is kept if and only if the formula has it), so
  MixedLM cannot drop the top-level intercept, and finer factors are passed
  as ``exog_vc`` variance components.
* Several optimisers, best likelihood kept: MixedLM (``lbfgs`` by default;
  any of ``lbfgs``, ``bfgs``, ``cg``, ``powell``, ``nm`` on request) and
  scipy's L-BFGS-B, Powell and Nelder-Mead on this module's exact criterion
  (below) from a default start. Every solution is scored with the exact
  criterion, the best is kept and polished by L-BFGS-B. ``optimizer`` names
  the winning run, ``criteria`` lists all of them. (MixedLM's own optimisers
  are slow here — seconds each on 10^4 rows — and some stop at clearly worse
  optima: on a 10^4-row slope model ``bfgs`` ended 225 criterion units above
  the optimum, which is why no single optimiser is trusted.)

Exact criterion
---------------
With :math:`V = \\sigma^2(I + W\\Lambda\\Lambda^\\top W^\\top)` block diagonal
over the top-level groups (``W`` holds the random-effects columns of one
group: top-level terms, then one column per finer-group level per
variance component), and :math:`M = \\Lambda^\\top W^\\top W\\Lambda + I`,
every quantity is a sum over groups of small matrices:
:math:`\\log|V/\\sigma^2| = \\sum \\log|M_g|`,
:math:`X^\\top V^{-1}X\\,\\sigma^2 = \\sum X_g^\\top X_g - (\\Lambda^\\top W_g^\\top X_g)^\\top
M_g^{-1}(\\Lambda^\\top W_g^\\top X_g)`, likewise for ``y``. The profiled
criteria are lme4's: ML deviance :math:`\\log|M| + n(1 + \\log(2\\pi r/n))`
and REML criterion :math:`\\log|M| + \\log|X^\\top V^{-1}X\\sigma^2| + (n-p)(1 +
\\log(2\\pi r/(n-p)))`, with :math:`r` the generalised residual sum of squares.
``theta`` is lme4's: the column-wise lower triangle of the Cholesky factor of
the top-level term's covariance divided by :math:`\\sigma^2`, then the
relative standard deviation of each variance component. BLUPs are
:math:`\\Lambda M^{-1}\\Lambda^\\top W^\\top(y - X\\hat\\beta)` and their
conditional covariance :math:`\\hat\\sigma^2\\Lambda M^{-1}\\Lambda^\\top`
(lme4's ``ranef(condVar = TRUE)``). Satterthwaite df use
:func:`teamculture.multilevel._satterthwaite.satterthwaite_df` with the
deviance in ``(theta, sigma)``.

Interface with :func:`teamculture.mixed`
----------------------------------------
:func:`fit_statsmodels` takes the response, the fixed design, the parsed
random terms, per-grouping integer codes and labels, and the data frame
(for slope covariates), and returns a :class:`BackendFit` whose fields map
one to one onto :class:`~teamculture.multilevel.MixedResult`
(``fixed_effects``, ``coefficients``, ``cov_params``, ``variance_components``,
``loglik``, ``deviance``, ``theta``, ``random_effects``, ``n_params``,
``singular``, ``converged``) plus ``optimizer``, ``criteria`` and ``notes``.
"""

from __future__ import annotations

import warnings
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

__all__ = ["fit_statsmodels", "METHODS", "EXACT_METHODS"]

#: MixedLM optimisers run by default (``MixedLM.fit(method=...)``); each costs
#: seconds on 10^4 rows, so one by default; pass more through ``methods``.
METHODS: tuple[str, ...] = ("lbfgs",)
#: scipy optimisers run on the exact criterion from a default start.
EXACT_METHODS: tuple[str, ...] = ("L-BFGS-B", "Powell", "Nelder-Mead")


# --------------------------------------------------------------------------- structure
@dataclass
class _Component:
    """One single-column variance component of a finer grouping factor."""

    group: str
    term: str  # "Intercept" or the slope covariate
    codes: np.ndarray
    values: np.ndarray  # the column's covariate (ones for an intercept)


@dataclass
class _Structure:
    top: str
    top_terms: list[str]  # "Intercept" and/or slope names, correlated
    top_codes: np.ndarray
    top_values: np.ndarray  # (n, q_re)
    components: list[_Component]
    keys: list[tuple[str, str, str]]  # (group, term, kind) per theta / variance, for naming


def _structure(terms: Sequence[Any], codes: Mapping[str, np.ndarray], X: pd.DataFrame,
               frame: pd.DataFrame) -> _Structure:
    by_group: dict[str, list[Any]] = {}
    for t in terms:
        by_group.setdefault(t.group, []).append(t)
    sizes = {g: int(codes[g].max()) + 1 for g in by_group}
    order = sorted(by_group, key=lambda g: (sizes[g], len(g)))
    top = order[0]
    for g in order[1:]:
        parent = np.full(sizes[g], -1, dtype=np.intp)
        parent[codes[g]] = codes[top]
        if np.any(parent[codes[g]] != codes[top]):
            raise ValueError(
                f"`formula`: grouping factors {top!r} and {g!r} are not nested (a {g!r} group spans "
                f"several {top!r} groups); crossed random effects are not supported by the "
                "statsmodels backend."
            )
    top_terms_list = by_group[top]
    first = top_terms_list[0]
    top_terms = term_columns(first)
    components: list[_Component] = []
    keys: list[tuple[str, str, str]] = []
    keys.extend((top, lab, "chol") for lab in chol_labels(top_terms))
    extra = [(top, t) for t in top_terms_list[1:]] + [(g, t) for g in order[1:] for t in by_group[g]]
    for g, t in extra:
        cols = term_columns(t)
        if len(cols) != 1:
            raise ValueError(
                f"`formula`: the term {t} has correlated random effects of {g!r}, which is not the "
                f"coarsest grouping factor ({top!r}); statsmodels MixedLM cannot fit correlated "
                f"effects below the top level. Use uncorrelated terms, e.g. (1 | {g}) + "
                f"(0 + {cols[-1]} | {g}), or fit with lme4."
            )
        components.append(_Component(g, cols[0], codes[g], covariate(cols[0], X, frame)))
        keys.append((g, cols[0], "sd"))
    top_values = np.column_stack([covariate(c, X, frame) for c in top_terms]) if top_terms else np.zeros((len(X), 0))
    return _Structure(top, top_terms, codes[top], top_values, components, keys)


# --------------------------------------------------------------------------- exact criterion
class _Blocks:
    """Per-top-group cross products for the exact criterion, stacked for batched algebra.

    Groups are padded to the largest number of random-effects columns ``q``
    with zero columns of ``W`` (their ``M`` block is the identity, which adds
    nothing to determinants or solves).
    """

    def __init__(self, s: _Structure, X: np.ndarray, y: np.ndarray) -> None:
        self.s = s
        self.n, self.p = X.shape
        self.q_re = s.top_values.shape[1]
        self.n_chol = self.q_re * (self.q_re + 1) // 2
        order = np.argsort(s.top_codes, kind="stable")
        bounds = np.flatnonzero(np.diff(s.top_codes[order])) + 1
        self.groups = []
        for rows in np.split(order, bounds):
            cols = [s.top_values[rows]]
            comp_of_col = []
            levels = []
            for k, comp in enumerate(s.components):
                lev, inv = np.unique(comp.codes[rows], return_inverse=True)
                Zc = np.zeros((len(rows), len(lev)))
                Zc[np.arange(len(rows)), inv] = comp.values[rows]
                cols.append(Zc)
                comp_of_col.append(np.full(len(lev), k))
                levels.append(lev)
            W = np.hstack(cols)
            comp = np.concatenate(comp_of_col) if comp_of_col else np.zeros(0, dtype=int)
            self.groups.append({"rows": rows, "W": W, "comp": comp, "levels": levels,
                                "Xg": X[rows], "yg": y[rows]})
        G = len(self.groups)
        self.q = max(g["W"].shape[1] for g in self.groups)
        q, p = self.q, self.p
        self.WtW = np.zeros((G, q, q))
        self.WtX = np.zeros((G, q, p))
        self.Wty = np.zeros((G, q))
        # which theta scales each padded column (-1: padding, theta 0)
        self.col_theta = np.full((G, q - self.q_re), -1, dtype=np.intp)
        for i, g in enumerate(self.groups):
            W = g["W"]
            k = W.shape[1]
            self.WtW[i, :k, :k] = W.T @ W
            self.WtX[i, :k] = W.T @ g["Xg"]
            self.Wty[i, :k] = W.T @ g["yg"]
            self.col_theta[i, : k - self.q_re] = self.n_chol + g["comp"]
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self.yty = float(y @ y)
        self.eye = np.eye(q)

    def lam(self, theta: np.ndarray) -> np.ndarray:
        """Stacked relative Cholesky factors ``Lambda`` of all groups, ``(G, q, q)``."""
        G, q = self.WtW.shape[0], self.q
        L = np.zeros((G, q, q))
        L[:, : self.q_re, : self.q_re] = lower_tri(theta, self.q_re)
        th = np.append(np.asarray(theta, dtype=float), 0.0)  # index -1 -> padding -> 0
        d = np.arange(self.q_re, q)
        L[:, d, d] = th[self.col_theta]
        return L

    def _factor(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        L = self.lam(theta)
        Lt = np.transpose(L, (0, 2, 1))
        M = Lt @ self.WtW @ L + self.eye
        return L, np.linalg.cholesky(M)

    def sums(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        L, C = self._factor(theta)
        Lt = np.transpose(L, (0, 2, 1))
        LX = Lt @ self.WtX  # (G, q, p)
        Ly = np.einsum("gji,gj->gi", L, self.Wty)  # L^T W^T y
        # solve C z = rhs (lower triangular, batched) and use |z|^2 forms
        zX = np.linalg.solve(C, LX)
        zy = np.linalg.solve(C, Ly[..., None])[..., 0]
        logdet = 2.0 * float(np.log(np.diagonal(C, axis1=1, axis2=2)).sum())
        A = self.XtX - np.einsum("gqi,gqj->ij", zX, zX)
        b = self.Xty - np.einsum("gqi,gq->i", zX, zy)
        c = self.yty - float(np.einsum("gq,gq->", zy, zy))
        return logdet, A, b, c

    def profiled(self, theta: np.ndarray, reml: bool) -> float:
        return profiled_criterion(*self.sums(theta), self.n, self.p, reml)

    def estimates(self, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, float, np.ndarray]:
        _, A, b, c = self.sums(theta)
        return gls_estimates(A, b, c, self.n, self.p, reml)

    def deviance_varpar(self, varpar: np.ndarray, reml: bool) -> float:
        theta, sigma2 = varpar[:-1], float(varpar[-1]) ** 2
        return deviance_at(*self.sums(theta), sigma2, self.n, self.p, reml)

    def cov_beta_varpar(self, varpar: np.ndarray) -> np.ndarray:
        _, A, _, _ = self.sums(varpar[:-1])
        return float(varpar[-1]) ** 2 * linalg.inv(A)

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray, sigma2: float
                          ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per group: BLUPs ``Lambda M^-1 Lambda^T W^T r`` and ``sigma^2 Lambda M^-1 Lambda^T``."""
        L, C = self._factor(theta)
        Lt = np.transpose(L, (0, 2, 1))
        r = self.Wty - self.WtX @ beta
        Minv = np.linalg.inv(C @ np.transpose(C, (0, 2, 1)))
        blup = np.einsum("gij,gjk,gk->gi", L, Minv, np.einsum("gij,gj->gi", Lt, r))
        cov = sigma2 * (L @ Minv @ Lt)
        out = []
        for i, g in enumerate(self.groups):
            k = g["W"].shape[1]
            out.append((blup[i, :k], cov[i, :k, :k]))
        return out


# --------------------------------------------------------------------------- statsmodels
def _statsmodels_candidates(s: _Structure, X: np.ndarray, y: np.ndarray, reml: bool,
                            methods: Sequence[str]) -> tuple[dict[str, np.ndarray | None], list[str]]:
    """theta (lme4 scale) found by each MixedLM optimiser (None if it failed)."""
    from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

    groups = s.top_codes
    labels = np.unique(groups)
    rows_of = {g: np.flatnonzero(groups == g) for g in labels}
    names, colnames, mats = [], [], []
    for k, comp in enumerate(s.components):
        names.append(f"vc{k}")
        cn, mt = [], []
        for g in labels:
            rows = rows_of[g]
            lev, inv = np.unique(comp.codes[rows], return_inverse=True)
            Z = np.zeros((len(rows), len(lev)))
            Z[np.arange(len(rows)), inv] = comp.values[rows]
            cn.append([f"vc{k}[{v}]" for v in lev])
            mt.append(Z)
        colnames.append(cn)
        mats.append(mt)
    exog_vc = VCSpec(names, colnames, mats) if names else None
    exog_re = s.top_values if s.top_values.shape[1] else None
    messages: list[str] = []
    out: dict[str, np.ndarray | None] = {}
    for method in methods:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = MixedLM(y, X, groups, exog_re=exog_re, exog_vc=exog_vc)
                res = model.fit(reml=reml, method=method)
            po = res.params_object
            theta = []
            if s.top_values.shape[1]:
                cov = np.atleast_2d(np.asarray(po.cov_re, dtype=float))
                w, U = np.linalg.eigh((cov + cov.T) / 2)
                cov = (U * np.clip(w, 0, None)) @ U.T + 1e-14 * np.eye(len(cov))
                Lc = np.linalg.cholesky(cov)
                for a in range(len(Lc)):
                    theta.extend(Lc[a:, a])
            theta.extend(np.sqrt(np.clip(np.asarray(po.vcomp, dtype=float), 0, None)))
            out[method] = np.asarray(theta, dtype=float)
            kinds = sorted({type(w.message).__name__ for w in caught})
            if kinds:
                messages.append(f"MixedLM {method}: {len(caught)} warning(s) ({', '.join(kinds)})")
        except Exception as exc:  # an optimiser failing is information, not fatal
            out[method] = None
            messages.append(f"MixedLM {method} failed: {type(exc).__name__}: {exc}")
    return out, messages


def _theta_names(s: _Structure) -> list[str]:
    names = []
    for group, term, kind in s.keys:
        names.append(f"{group}|{term}" + (":chol" if kind == "chol" else ":sd"))
    return names


def _variance_components(s: _Structure, theta: np.ndarray, sigma2: float) -> pd.Series:
    q = len(s.top_terms)
    out: dict[str, float] = {}
    if q:
        L = lower_tri(theta, q)
        out.update(correlated_variances(s.top, s.top_terms, sigma2 * L @ L.T))
    n_chol = q * (q + 1) // 2
    for k, comp in enumerate(s.components):
        key = comp.group if comp.term == "Intercept" else f"{comp.group}|{comp.term}"
        if key in out:  # e.g. (1 | g) twice
            key = f"{key}.{k}"
        out[key] = sigma2 * float(theta[n_chol + k]) ** 2
    out["residual"] = sigma2
    return pd.Series(out, dtype=float, name="variance")


def _random_effects(s: _Structure, blocks: _Blocks, modes: list, labels: Mapping[str, pd.Index]
                    ) -> dict[str, pd.DataFrame]:
    per_group: dict[str, dict[str, dict[int, tuple[float, float]]]] = {}
    q = blocks.q_re
    for g, (blup, cov) in zip(blocks.groups, modes):
        top_code = int(s.top_codes[g["rows"][0]])
        for a, term in enumerate(s.top_terms):
            per_group.setdefault(s.top, {}).setdefault(term, {})[top_code] = (blup[a], cov[a, a])
        pos = q
        for k, comp in enumerate(s.components):
            for lev in g["levels"][k]:
                per_group.setdefault(comp.group, {}).setdefault(comp.term, {})[int(lev)] = (
                    blup[pos], cov[pos, pos])
                pos += 1
    out = {}
    for group, terms in per_group.items():
        idx = labels[group]
        cols: dict[str, np.ndarray] = {}
        lone = list(terms) == ["Intercept"]
        for term, vals in terms.items():
            b = np.full(len(idx), np.nan)
            v = np.full(len(idx), np.nan)
            for code, (bb, vv) in vals.items():
                b[code], v[code] = bb, vv
            cols["blup" if lone else term] = b
            cols["cond_var" if lone else f"cond_var:{term}"] = v
        if not lone:
            cols = {**{t: cols[t] for t in terms}, **{f"cond_var:{t}": cols[f"cond_var:{t}"] for t in terms}}
        out[group] = pd.DataFrame(cols, index=idx)
    return out


def fit_statsmodels(
    y: pd.Series,
    X: pd.DataFrame,
    terms: Sequence[Any],
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, pd.Index],
    frame: pd.DataFrame,
    *,
    reml: bool = True,
    methods: Sequence[str] = METHODS,
    exact_methods: Sequence[str] = EXACT_METHODS,
) -> BackendFit:
    """Fit a linear mixed model with random slopes through statsmodels MixedLM, guarded.

    Parameters
    ----------
    y : pandas.Series
        Response of the complete rows.
    X : pandas.DataFrame
        Fixed-effects design of the same rows (full column rank).
    terms : sequence of RandomTerm
        Parsed random terms (``group``, ``intercept``, ``slopes``).
    codes : mapping of str to numpy.ndarray
        Integer codes ``0..G-1`` per grouping name (``term.group``).
    labels : mapping of str to pandas.Index
        Group labels per grouping name (``labels[g][codes[g]]`` is each row's group).
    frame : pandas.DataFrame
        The complete rows, for slope covariates that are not design columns.
    reml : bool, default True
        REML (else ML).
    methods : sequence of str, default ``("lbfgs",)``
        MixedLM optimisers to run (``MixedLM.fit(method=...)``): any of
        ``"lbfgs"``, ``"bfgs"``, ``"cg"``, ``"powell"``, ``"nm"``.
    exact_methods : sequence of str, default ``("L-BFGS-B", "Powell", "Nelder-Mead")``
        scipy optimisers run on the exact criterion from a default start
        (diagonal ``theta`` 0.5, off-diagonal 0).

    Returns
    -------
    BackendFit

    Notes
    -----
    See the module docstring for the supported structures, the guards and
    the exact criterion. R: ``lmerTest::lmer(y ~ x + (1 + x | team))``.
    """
    s = _structure(terms, codes, X, frame)
    Xa = X.to_numpy(dtype=float)
    ya = y.to_numpy(dtype=float)
    blocks = _Blocks(s, Xa, ya)
    n_theta = blocks.n_chol + len(s.components)
    sm_candidates, notes = _statsmodels_candidates(s, Xa, ya, bool(reml), methods)
    candidates = {f"statsmodels:{k}": v for k, v in sm_candidates.items()}
    # diagonal Cholesky elements and SDs >= 0, off-diagonal Cholesky elements free
    diag = diag_mask(blocks.q_re) + [True] * len(s.components)
    bounds = [(0.0, None) if d else (None, None) for d in diag]
    start = np.where(np.asarray(diag), 0.5, 0.0)

    def crit_fn(t: np.ndarray) -> float:
        return blocks.profiled(t, bool(reml))

    for method in exact_methods:
        opts = {"L-BFGS-B": {"ftol": 1e-13, "gtol": 1e-8, "maxiter": 1000},
                "Powell": {"xtol": 1e-8, "ftol": 1e-12, "maxiter": 200 * n_theta},
                "Nelder-Mead": {"xatol": 1e-8, "fatol": 1e-10, "maxiter": 400 * n_theta}}.get(method, {})
        try:
            res = optimize.minimize(crit_fn, start, method=method, bounds=bounds, options=opts)
            candidates[f"exact:{method}"] = np.asarray(res.x, dtype=float)
        except Exception as exc:  # an optimiser failing is information, not fatal
            candidates[f"exact:{method}"] = None
            notes.append(f"exact {method} failed: {type(exc).__name__}: {exc}")
    criteria: dict[str, float] = {}
    best_name, best_theta, best_val = "", None, np.inf
    for name, theta in candidates.items():
        if theta is None or len(theta) != n_theta:
            criteria[name] = float("nan")
            continue
        val = crit_fn(theta)
        criteria[name] = float(val)
        if val < best_val:
            best_name, best_theta, best_val = name, theta, val
    if best_theta is None:
        raise ValueError("`formula`: the random-effects model could not be fitted: every optimiser failed ("
                         + "; ".join(notes) + ").")
    # polish the best solution on the exact criterion
    opt = optimize.minimize(crit_fn, best_theta, method="L-BFGS-B",
                            bounds=bounds, options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000})
    criteria["polished"] = float(opt.fun)
    theta = np.asarray(opt.x, dtype=float) if opt.fun <= best_val else best_theta
    converged = bool(opt.success) or opt.fun >= best_val - 1e-10
    crit = float(min(opt.fun, best_val))
    beta, sigma2, cov = blocks.estimates(theta, bool(reml))
    names = [str(c) for c in X.columns]
    varpar = np.r_[theta, np.sqrt(sigma2)]
    from teamculture.multilevel._satterthwaite import satterthwaite_df

    df, _ = satterthwaite_df(lambda vp: blocks.deviance_varpar(vp, bool(reml)), blocks.cov_beta_varpar, varpar)
    theta_s = pd.Series(theta, index=_theta_names(s), name="theta")
    singular = bool(np.any(theta[np.asarray(diag)] < SINGULAR_TOL))
    if singular:
        notes.append(SINGULAR_NOTE)
    notes.append(f"statsmodels MixedLM backend: best of {len(candidates)} optimiser runs "
                 f"({', '.join(candidates)}) was {best_name!r}, then polished on the exact criterion")
    modes = blocks.conditional_modes(theta, beta, sigma2)
    return BackendFit(
        **fixed_effects_table(beta, cov, df, names),
        variance_components=_variance_components(s, theta, sigma2), theta=theta_s,
        loglik=-0.5 * crit, deviance=crit, reml=bool(reml),
        random_effects=_random_effects(s, blocks, modes, labels),
        n_params=len(names) + n_theta + 1, singular=singular, converged=converged,
        optimizer=best_name, criteria=criteria, notes=tuple(notes),
    )
