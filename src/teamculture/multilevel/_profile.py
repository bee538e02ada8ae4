"""Intervals for the variance parameters of a linear mixed model (private; see :meth:`MixedResult.variance_intervals`).

Two methods, as lme4's ``confint.merMod``:

- **profile likelihood** (``confint(fit, method = "profile")``): the
  parameters are lme4's standard deviations and correlations of the random
  effects and the residual standard deviation ``sigma``. For each one, the
  ML deviance is minimised over all the others with it held fixed (the fixed
  effects are profiled out exactly); the signed root ``zeta(v) = sign(v -
  v_hat) sqrt(dev(v) - dev_min)`` is inverted at ``+/- z_{(1 + level)/2}``.
  As lme4 does, a REML fit is refitted by ML first: the profile is that of
  the ML deviance (lme4's ``devfun2`` calls ``refitML``). A lower limit that
  the profile never reaches before zero is reported as 0 (a correlation's
  limits as -1 or 1), as lme4 reports them. Limits are found by Brent's
  root finder on the exact profile, where lme4 interpolates a spline through
  a grid of profile points; the two agree to the accuracy of that spline.
- **parametric bootstrap** (``confint(fit, method = "boot")``, lme4's
  ``bootMer(type = "parametric", use.u = FALSE)``): new random effects and
  residuals are drawn from the fitted model, the model is refitted by the
  method of the fit (REML or ML), and percentile intervals are read from the
  draws (kept on the result, so intervals at another level need no refit).

The deviance as a function of the variance parameters ``(sd, cor, sigma)``
comes from the public :class:`~teamculture.multilevel.NestedModel` for nested
random intercepts (O(#clusters) per evaluation), and otherwise from a sparse
penalised least-squares evaluation of lme4's formulation written here (the
random-effects design ``Z`` with a relative covariance factor ``Lambda`` per
term; ``log|Lambda' Z' Z Lambda + I| + r^2/sigma^2 + n log(2 pi sigma^2)``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse, stats
from scipy.sparse import linalg as splinalg

from teamculture._core.errors import DegenerateDataWarning
from teamculture._core.validation import check_choice, check_confidence_level, check_int, check_rng
from teamculture._core.warn import warn

__all__ = ["variance_intervals", "profile_limits"]

_LOG2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- structure
@dataclass(frozen=True)
class _Block:
    """One random-effects term: a grouping factor and its (correlated) columns."""

    group: str
    terms: tuple[str, ...]
    codes: np.ndarray
    n_groups: int
    Z: np.ndarray  # (n, k) covariate values of the terms

    @property
    def k(self) -> int:
        return len(self.terms)


@dataclass(frozen=True)
class _Structure:
    """Parameters in the order of the result's rows: per block its SDs then correlations; sigma last."""

    blocks: tuple[_Block, ...]
    names: tuple[str, ...]  # variance_components index names, "residual" last
    kinds: tuple[str, ...]  # "sd" or "cor"
    X: np.ndarray
    y: np.ndarray

    @property
    def n_params(self) -> int:
        return len(self.names)

    def split(self, v: np.ndarray) -> tuple[list[np.ndarray], float]:
        """Per block the covariance matrix of its terms; and sigma."""
        covs = []
        i = 0
        for b in self.blocks:
            k = b.k
            sd = v[i:i + k]
            R = np.eye(k)
            pos = i + k
            for a in range(1, k):
                for c in range(a):
                    R[a, c] = R[c, a] = v[pos]
                    pos += 1
            covs.append(R * np.outer(sd, sd))
            i = pos
        return covs, float(v[-1])


def _term_values(result: Any, term: str) -> np.ndarray:
    if term in ("Intercept", "(Intercept)"):
        return np.ones(len(result.response))
    if term in result.design.columns:
        return result.design[term].to_numpy(dtype=float)
    state = getattr(result, "_refit_state", None)
    covs = getattr(state, "covariates", None)
    if isinstance(covs, pd.DataFrame) and term in covs.columns:
        return covs[term].to_numpy(dtype=float)
    raise ValueError(f"`self`: the values of the random-slope term {term!r} are not kept on this result (it is not "
                     "a column of the fixed-effects design); refit with the term among the fixed effects.")


def structure(result: Any) -> _Structure:
    """The random-effects terms of a fitted :class:`MixedResult`, read from its variance components."""
    vc = result.variance_components
    per_group: dict[str, list[str]] = {}
    links: dict[str, list[tuple[str, str]]] = {}
    intercept_only: list[str] = []
    for name in map(str, vc.index):
        if name == "residual":
            continue
        group, sep, rest = name.rpartition("|")
        if not sep:
            intercept_only.append(name)
        elif "," in rest:
            a, _, b = rest.partition(",")
            links.setdefault(group, []).append((a, b))
        else:
            per_group.setdefault(group, []).append(rest)
    labels = result.group_labels
    blocks: list[_Block] = []
    names: list[str] = []
    kinds: list[str] = []

    def codes_of(group: str) -> tuple[np.ndarray, int]:
        col = labels[group]
        cat = col.cat if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
        codes = np.asarray(cat.codes, dtype=np.intp)
        return codes, len(cat.categories)

    for g in intercept_only:
        codes, G = codes_of(g)
        blocks.append(_Block(g, ("Intercept",), codes, G, np.ones((len(codes), 1))))
        names.append(g)
        kinds.append("sd")
    for g, terms in per_group.items():
        # connected components of the terms linked by a covariance
        parent = {t: t for t in terms}

        def find(t: str) -> str:
            while parent[t] != t:
                t = parent[t]
            return t

        for a, b in links.get(g, []):
            if a in parent and b in parent:
                parent[find(a)] = find(b)
        comps: dict[str, list[str]] = {}
        for t in terms:
            comps.setdefault(find(t), []).append(t)
        codes, G = codes_of(g)
        for comp in comps.values():
            Z = np.column_stack([_term_values(result, t) for t in comp])
            blocks.append(_Block(g, tuple(comp), codes, G, Z))
            names += [f"{g}|{t}" for t in comp]
            kinds += ["sd"] * len(comp)
            for a in range(1, len(comp)):
                for c in range(a):
                    key = f"{g}|{comp[c]},{comp[a]}"
                    if key not in vc.index:
                        key = f"{g}|{comp[a]},{comp[c]}"
                    names.append(key)
                    kinds.append("cor")
    names.append("residual")
    kinds.append("sd")
    X = result.design.to_numpy(dtype=float)
    y = result.response.to_numpy(dtype=float)
    return _Structure(tuple(blocks), tuple(names), tuple(kinds), X, y)


def estimates(result: Any, st: _Structure) -> np.ndarray:
    """The fit's SDs and correlations in the order of ``st.names``."""
    vc = result.variance_components
    out = []
    for name, kind in zip(st.names, st.kinds):
        if kind == "sd":
            out.append(math.sqrt(max(float(vc[name]), 0.0)))
        else:
            g, _, pair = name.rpartition("|")
            a, _, b = pair.partition(",")
            va, vb = float(vc[f"{g}|{a}"]), float(vc[f"{g}|{b}"])
            out.append(float(vc[name]) / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0)
    return np.clip(np.asarray(out, dtype=float), [-1.0 if k == "cor" else 0.0 for k in st.kinds], None)


# --------------------------------------------------------------------------- deviance
def _psd_factor(S: np.ndarray) -> np.ndarray:
    """A factor ``F`` with ``F F' = S`` for a positive semi-definite ``S`` (the deviance only needs ``F F'``)."""
    if S.shape == (1, 1):
        return np.sqrt(np.maximum(S, 0.0))
    w, V = np.linalg.eigh((S + S.T) / 2.0)
    return V * np.sqrt(np.clip(w, 0.0, None))


class _SparseDeviance:
    """lme4's profiled ML deviance at ``(sd, cor, sigma)`` by penalised least squares.

    ``Z' Z``, ``Z' X``, ``Z' y``, ``X' X``, ``X' y`` and ``y' y`` are formed once;
    each evaluation applies the block-diagonal relative covariance factor
    ``Lambda`` (one ``k x k`` factor per term, repeated over its groups) and
    factors ``A = Lambda' Z' Z Lambda + I``: densely (blockwise products and a
    Cholesky factor) when ``A`` is small, else as a sparse matrix (SuperLU in
    symmetric mode; ``A`` is symmetric positive definite with eigenvalues >= 1).
    """

    DENSE_MAX = 1500

    def __init__(self, st: _Structure) -> None:
        X, y = st.X, st.y
        n, p = X.shape
        const = [j for j in range(p) if np.all(X[:, j] == X[0, j]) and X[0, j] != 0]
        if const:  # centring the other columns and y is a unit-determinant reparameterisation
            Xc = X - np.where(np.arange(p) == const[0], 0.0, X.mean(axis=0))
            yc = y - y.mean()
        else:
            Xc, yc = X, y
        rows, cols, vals = [], [], []
        off = 0
        self.sizes: list[tuple[int, int, int]] = []  # (offset, groups, terms)
        for b in st.blocks:
            for j in range(b.k):
                rows.append(np.arange(n))
                cols.append(off + b.codes * b.k + j)
                vals.append(b.Z[:, j])
            self.sizes.append((off, b.n_groups, b.k))
            off += b.n_groups * b.k
        self.q = off
        Z = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, off))
        ZtZ = (Z.T @ Z).tocsc()
        self.dense = off <= self.DENSE_MAX
        self.ZtZ = ZtZ.toarray() if self.dense else ZtZ
        self.ZtX = np.asarray(Z.T @ Xc)
        self.Zty = np.asarray(Z.T @ yc).ravel()
        self.XtX = Xc.T @ Xc
        self.Xty = Xc.T @ yc
        self.yty = float(yc @ yc)
        self.n, self.p = n, p
        self.st = st
        if not self.dense:
            # the fixed pattern of the block-diagonal Lambda (rows and columns of each k x k block)
            r_idx, c_idx = [], []
            for o, G, k in self.sizes:
                base = o + np.repeat(np.arange(G) * k, k * k)
                r_idx.append(base + np.tile(np.repeat(np.arange(k), k), G))
                c_idx.append(base + np.tile(np.tile(np.arange(k), k), G))
            self._lam_rows = np.concatenate(r_idx)
            self._lam_cols = np.concatenate(c_idx)
            self.eye = sparse.identity(off, format="csc")

    def _right(self, W: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
        """``W Lambda`` for a dense ``W`` with ``q`` columns."""
        out = np.empty_like(W)
        for (o, G, k), F in zip(self.sizes, factors):
            blk = W[:, o:o + G * k]
            if k == 1:
                out[:, o:o + G] = blk * F[0, 0]
            else:
                out[:, o:o + G * k] = (blk.reshape(W.shape[0], G, k) @ F).reshape(W.shape[0], G * k)
        return out

    def pieces(self, covs: list[np.ndarray], sigma: float) -> tuple[float, float, float]:
        """``(log|A|, r^2, log|R_X|^2)`` at relative covariances ``covs / sigma^2``."""
        factors = [_psd_factor(C / sigma**2) for C in covs]
        LZX = self._right(self.ZtX.T, factors).T
        LZy = self._right(self.Zty[None, :], factors)[0]
        if self.dense:
            ML = self._right(self.ZtZ, factors)
            A = self._right(ML.T.copy(), factors)
            A[np.diag_indices_from(A)] += 1.0
            cf = linalg.cho_factor(A, lower=True, check_finite=False)
            logdet = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
            B = linalg.cho_solve(cf, LZX, check_finite=False)
            c = linalg.cho_solve(cf, LZy, check_finite=False)
        else:
            data = np.concatenate([np.tile(F.ravel(), G) for (_, G, _), F in zip(self.sizes, factors)])
            lam = sparse.csc_matrix((data, (self._lam_rows, self._lam_cols)), shape=(self.q, self.q))
            A = (lam.T @ self.ZtZ @ lam + self.eye).tocsc()
            lu = splinalg.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                               options={"SymmetricMode": True})
            logdet = float(np.sum(np.log(np.abs(lu.U.diagonal()))))
            B = lu.solve(np.asarray(LZX))
            c = lu.solve(np.asarray(LZy))
        M = self.XtX - LZX.T @ B
        b = self.Xty - LZX.T @ c
        cx = linalg.cho_factor(M, lower=True, check_finite=False)
        beta = linalg.cho_solve(cx, b, check_finite=False)
        r2 = self.yty - float(LZy @ c) - float(b @ beta)
        ldx = 2.0 * float(np.sum(np.log(np.diag(cx[0]))))
        return logdet, r2, ldx

    def __call__(self, v: np.ndarray) -> float:
        covs, sigma = self.st.split(v)
        if not sigma > 0:
            return math.inf
        try:
            logdet, r2, _ = self.pieces(covs, sigma)
        except (linalg.LinAlgError, RuntimeError, ValueError):
            return math.inf
        return logdet + max(r2, 0.0) / sigma**2 + self.n * (_LOG2PI + 2.0 * math.log(sigma))


class _NestedDeviance:
    """The same deviance for nested random intercepts, from the public :class:`NestedModel` (O(#clusters))."""

    def __init__(self, st: _Structure, order: tuple[str, ...]) -> None:
        from teamculture.multilevel import NestedModel, nested_suffstats

        by_name = {b.group: b for b in st.blocks}
        self.perm = [st.names.index(g) for g in order]
        self.model = NestedModel(nested_suffstats(st.X, st.y, [by_name[g].codes for g in order]))

    def __call__(self, v: np.ndarray) -> float:
        sigma = float(v[-1])
        if not sigma > 0:
            return math.inf
        theta = np.asarray(v, dtype=float)[self.perm] / sigma
        with np.errstate(all="ignore"):
            dev = self.model.deviance_varpar(np.r_[theta, sigma], reml=False)
        return float(dev) if np.isfinite(dev) else math.inf


def deviance_function(result: Any, st: _Structure) -> Any:
    order = tuple(getattr(result, "_nested_order", ()) or ())
    if result.engine == "nested" and order and all(b.k == 1 for b in st.blocks) \
            and set(order) == {b.group for b in st.blocks}:
        return _NestedDeviance(st, order)
    return _SparseDeviance(st)


# --------------------------------------------------------------------------- profile
class _Profiler:
    """Minimise the ML deviance over all parameters but one; invert the signed root."""

    def __init__(self, dev: Any, st: _Structure, start: np.ndarray) -> None:
        self.dev = dev
        self.kinds = st.kinds
        self.lower = np.array([-1.0 if k == "cor" else 0.0 for k in st.kinds])
        self.lower[-1] = 1e-10 * max(start[-1], 1e-300)
        self.upper = np.array([1.0 if k == "cor" else np.inf for k in st.kinds])
        sig = float(start[-1])
        # the floor of a slope SD's scale is 0.05 sigma per unit of its covariate (root mean square), so that
        # steps and tolerances do not depend on the covariate's unit
        unit = np.ones(len(st.kinds))
        i = 0
        for b in st.blocks:
            for c in range(b.k):
                rms = float(np.sqrt(np.mean(b.Z[:, c] ** 2)))
                unit[i + c] = 1.0 / rms if np.isfinite(rms) and rms > 0 else 1.0
            i += b.k + b.k * (b.k - 1) // 2
        self.scale = np.array([1.0 if k == "cor" else max(float(s), 0.05 * sig * u)
                               for k, s, u in zip(st.kinds, start, unit)])
        self.opt, self.dev_min = self._minimise(np.clip(start, self.lower, self.upper), free=None)
        self._cache: dict[tuple[int, float], np.ndarray] = {}

    def _minimise(self, x0: np.ndarray, free: np.ndarray | None) -> tuple[np.ndarray, float]:
        idx = np.arange(len(x0)) if free is None else np.flatnonzero(free)
        base = x0.copy()
        sc = self.scale[idx]

        def f(u: np.ndarray) -> float:
            v = base.copy()
            v[idx] = u * sc
            return self.dev(v)

        bounds = list(zip(self.lower[idx] / sc, np.where(np.isfinite(self.upper[idx]), self.upper[idx] / sc, None)))
        u0 = np.clip(x0[idx] / sc, [b[0] for b in bounds], [np.inf if b[1] is None else b[1] for b in bounds])
        best_u, best_f = u0, f(u0)
        for _ in range(2):  # one restart from the optimum when the first run still improved markedly
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = optimize.minimize(f, best_u, method="L-BFGS-B", bounds=bounds,
                                        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 1000, "eps": 1e-8})
            improved = best_f - float(res.fun)
            if res.fun < best_f:
                best_u, best_f = res.x, float(res.fun)
            if improved < 1e-6:
                break
        v = base.copy()
        v[idx] = best_u * sc
        return v, best_f

    def g(self, j: int, value: float) -> float:
        """Profiled deviance minus the minimum at parameter ``j`` held at ``value``."""
        x0 = self.opt.copy()
        near = min((k for k in self._cache if k[0] == j), key=lambda k: abs(k[1] - value), default=None)
        if near is not None:
            x0 = self._cache[near].copy()
        x0[j] = value
        free = np.ones(len(x0), dtype=bool)
        free[j] = False
        v, d = self._minimise(x0, free)
        self._cache[(j, float(value))] = v
        return d - self.dev_min

    def zeta(self, j: int, value: float) -> float:
        """Signed square root of the profiled deviance difference (lme4's ``.zeta``)."""
        g = self.g(j, value)
        return math.copysign(math.sqrt(max(g, 0.0)), value - self.opt[j])

    def limits(self, j: int, z: float) -> tuple[float, float]:
        return self._side(j, z, -1), self._side(j, z, +1)

    def _side(self, j: int, z: float, sign: int) -> float:
        """Where ``|zeta|`` reaches ``z`` on one side of the optimum (or the boundary, if it never does).

        zeta is close to linear in the parameter, so the bracket is found by
        extrapolating it linearly from the last point, and the root by Brent's
        method on zeta itself (a few profile evaluations per limit).
        """
        est = float(self.opt[j])
        bound = float(self.lower[j] if sign < 0 else self.upper[j])
        h = 0.5 * self.scale[j] if self.kinds[j] != "cor" else 0.2
        inner, z_inner = est, 0.0
        for _ in range(100):
            cand = est + sign * h
            if (sign < 0 and cand <= bound) or (sign > 0 and cand >= bound):
                cand = bound
            zc = abs(self.zeta(j, cand))
            if zc >= z:
                lo, hi = sorted((inner, cand))
                return float(optimize.brentq(lambda t: abs(self.zeta(j, t)) - z, lo, hi,
                                             xtol=1e-10 * max(abs(est), self.scale[j]), rtol=1e-12, maxiter=100))
            if cand == bound:
                return bound  # never reached before the boundary: lme4 reports the boundary
            # extrapolate zeta linearly through the last two points, overshooting a little
            slope = (zc - z_inner) / abs(cand - inner) if cand != inner else 0.0
            step = (z - zc) / slope * 1.3 if slope > 0 else abs(cand - est)
            inner, z_inner = cand, zc
            h = abs(cand - est) + min(max(step, 0.05 * abs(cand - est)), 4.0 * abs(cand - est) + self.scale[j])
        return float("nan")  # pragma: no cover - the deviance grows without bound in sd and sigma


def _ml(result: Any) -> Any:
    """The ML fit of the same model (lme4 profiles the ML deviance); its fit-time warnings were the user's
    already (a singular REML fit is singular by ML too), so they are not repeated."""
    if not result.reml:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return result.refit(reml=False)


def profile_limits(result: Any, confidence_level: float) -> tuple[pd.DataFrame, pd.Series]:
    """Profile-likelihood limits (``ci_low``, ``ci_high``) of every SD/correlation, and the ML centre."""
    st = structure(result)
    ml = _ml(result)
    dev = deviance_function(result, st)
    prof = _Profiler(dev, st, estimates(ml, st))
    z = float(stats.norm.isf((1.0 - confidence_level) / 2.0))
    low, high = [], []
    for j in range(st.n_params):
        a, b = prof.limits(j, z)
        low.append(a)
        high.append(b)
    idx = pd.Index(st.names)
    return (pd.DataFrame({"ci_low": low, "ci_high": high}, index=idx, dtype=float),
            pd.Series(prof.opt, index=idx, name="ml_estimate", dtype=float))


def profile_zeta(result: Any, name: str, values: Any) -> np.ndarray:
    """Signed root of the profiled ML deviance of parameter ``name`` at ``values`` (lme4's ``.zeta``)."""
    st = structure(result)
    ml = _ml(result)
    prof = _Profiler(deviance_function(result, st), st, estimates(ml, st))
    j = st.names.index(name)
    return np.array([prof.zeta(j, float(v)) for v in np.atleast_1d(values)])


# --------------------------------------------------------------------------- bootstrap
def _simulate(rng: np.random.Generator, st: _Structure, beta: np.ndarray, v: np.ndarray) -> np.ndarray:
    covs, sigma = st.split(v)
    y = st.X @ beta
    for b, C in zip(st.blocks, covs):
        F = _psd_factor(C)
        u = rng.standard_normal((b.n_groups, b.k)) @ F.T
        y = y + np.einsum("ij,ij->i", b.Z, u[b.codes])
    return y + sigma * rng.standard_normal(len(y))


def _refit_frame(result: Any, st: _Structure) -> tuple[str, pd.DataFrame]:
    """A formula and frame that refit the same model to a new response through :func:`teamculture.mixed`."""
    X = result.design
    frame = pd.DataFrame({f"x{j}": X.iloc[:, j].to_numpy(dtype=float) for j in range(X.shape[1])})
    fixed = " + ".join(frame.columns)
    terms = []
    gnames: dict[str, str] = {}
    snames: dict[str, str] = {}
    for b in st.blocks:
        if b.group not in gnames:
            gnames[b.group] = f"g{len(gnames)}"
            frame[gnames[b.group]] = np.asarray(result.group_labels[b.group].astype(str))
        parts = []
        for t in b.terms:
            if t in ("Intercept", "(Intercept)"):
                parts.append("1")
            else:
                if t not in snames:
                    snames[t] = f"s{len(snames)}"
                    frame[snames[t]] = _term_values(result, t)
                parts.append(snames[t])
        if "1" not in parts:
            parts.insert(0, "0")
        terms.append(f"({' + '.join(parts)} | {gnames[b.group]})")
    return f"y__ ~ 0 + {fixed} + {' + '.join(terms)}", frame


def bootstrap_draws(result: Any, n_resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """Parametric-bootstrap draws of every SD/correlation: ``(draws, n_failed, n_singular)``."""
    st = structure(result)
    v_hat = estimates(result, st)
    beta = result.fixed_effects.to_numpy(dtype=float)
    draws = np.full((n_resamples, st.n_params), np.nan)
    failed = singular = 0
    nested = result.engine == "nested" and all(b.k == 1 for b in st.blocks) and bool(
        getattr(result, "_nested_order", ()))
    if nested:
        from teamculture.multilevel import NestedModel, nested_suffstats

        order = list(result._nested_order)
        codes = [next(b for b in st.blocks if b.group == g).codes for g in order]
        pos = [st.names.index(g) for g in order]
    else:
        from teamculture.multilevel import mixed

        formula, frame = _refit_frame(result, st)
    for r in range(n_resamples):
        y = _simulate(rng, st, beta, v_hat)
        try:
            with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
                warnings.simplefilter("always")
                if nested:
                    fit = NestedModel(nested_suffstats(st.X, y, codes)).fit(reml=bool(result.reml))
                    row = np.empty(st.n_params)
                    row[pos] = np.sqrt(fit.variances)
                    row[-1] = math.sqrt(fit.sigma2)
                    is_singular = bool(np.any(fit.theta < 1e-4))
                    ok = bool(fit.converged)
                else:
                    refit = mixed(formula, frame.assign(y__=y), reml=bool(result.reml))
                    refit_vc = refit.variance_components.rename(index=_inverse_names(st, refit))
                    row = estimates(_Shim(refit_vc), st)
                    is_singular, ok = bool(refit.singular), bool(refit.converged)
            del caught
        except ValueError:
            failed += 1
            continue
        if not ok or not np.all(np.isfinite(row)):
            failed += 1
            continue
        draws[r] = row
        singular += int(is_singular)
    return draws, failed, singular


@dataclass(frozen=True)
class _Shim:
    variance_components: pd.Series


def _inverse_names(st: _Structure, refit: Any) -> dict[str, str]:
    """Names of the refit's variance components (g0, s0, ...) back to the original ones."""
    groups: dict[str, str] = {}
    slopes: dict[str, str] = {}
    for b in st.blocks:
        groups.setdefault(b.group, f"g{len(groups)}")
        for t in b.terms:
            if t not in ("Intercept", "(Intercept)"):
                slopes.setdefault(t, f"s{len(slopes)}")
    back_g = {v: k for k, v in groups.items()}
    back_s = {v: k for k, v in slopes.items()}
    out = {}
    for name in map(str, refit.variance_components.index):
        if name == "residual":
            continue
        g, sep, rest = name.rpartition("|")
        if not sep:
            out[name] = back_g.get(name, name)
            continue
        terms = [back_s.get(t, t) for t in rest.split(",")]
        out[name] = f"{back_g.get(g, g)}|{','.join(terms)}"
    return out


# --------------------------------------------------------------------------- front
def _validate(method: Any, confidence_level: Any, n_resamples: Any, rng: Any) -> tuple[str, float, int, Any]:
    method = check_choice("method", method, ("profile", "bootstrap"))
    level = check_confidence_level(confidence_level)
    nr = check_int("n_resamples", n_resamples, minimum=1)
    gen = check_rng(rng)
    if method == "bootstrap" and nr < 20:
        raise ValueError(f"`n_resamples` must be at least 20 for bootstrap percentile intervals (1000 or more for "
                         f"reporting); got {nr}.")
    return method, level, nr, gen


def variance_intervals(result: Any, *, method: str, confidence_level: float, n_resamples: int, rng: Any) -> Any:
    from teamculture.reporting._intervals import VarianceIntervals, percentile_limits

    method, level, nr, gen = _validate(method, confidence_level, n_resamples, rng)
    st = structure(result)
    est = estimates(result, st)
    vc = result.variance_components
    if method == "profile":
        ci, centre = profile_limits(result, level)
        draws = np.empty((0, st.n_params))
        failed = singular = 0
        nr = 0
    else:
        draws, failed, singular = bootstrap_draws(result, nr, gen)
        usable = nr - failed
        if usable < 20:
            raise ValueError(f"`n_resamples`: only {usable} of {nr} bootstrap refits succeeded; the model cannot be "
                             "refitted reliably to data simulated from it (too few groups for its random effects).")
        if failed:
            warn(f"{failed} of {nr} bootstrap refits failed or did not converge; the intervals use the other "
                 f"{usable}.", DegenerateDataWarning)
        ci = percentile_limits(draws, st.names, level)
        centre = None
    names = pd.Index(st.names)
    variance = vc.reindex(list(st.names)).astype(float).to_numpy()
    is_sd = np.array([k == "sd" for k in st.kinds])
    low, high = ci["ci_low"].to_numpy(dtype=float), ci["ci_high"].to_numpy(dtype=float)
    table = pd.DataFrame({
        "estimate": est, "ci_low": low, "ci_high": high, "variance": variance,
        "variance_ci_low": np.where(is_sd, low**2, np.nan), "variance_ci_high": np.where(is_sd, high**2, np.nan),
    }, index=names, dtype=float)
    return VarianceIntervals(
        table=table, parameters=pd.Series(st.kinds, index=names, name="parameter", dtype=object),
        ml_estimate=centre.rename("ml_estimate") if method == "profile" else pd.Series(dtype=float, name="ml_estimate"),
        method=method, reml=bool(result.reml), confidence_level=level, n_resamples=nr, draws=draws,
        n_failed=int(failed), n_singular=int(singular), formula=str(result.formula),
        n_obs=result.n_obs, n_dropped=result.n_dropped, n_groups=result.n_groups, _fit=result,
    )
