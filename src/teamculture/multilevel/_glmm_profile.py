"""Profile-likelihood intervals for the variance parameters of a GLMM (private; see
:meth:`teamculture.multilevel.GLMMResult.variance_intervals`).

As lme4's ``confint(glmer_fit, method = "profile", parm = "theta_")``: the
parameters are the standard deviations of the random effects on the link scale
(and, for correlated random slopes, their correlations). For each one, the
log-likelihood the fit maximised (Laplace, or the nested adaptive quadrature
with its grid re-adapted at every point) is maximised over the fixed effects
and the other variance parameters with it held fixed; the signed root
``zeta(v) = sign(v - v_hat) sqrt(2 (loglik_max - loglik_prof(v)))`` is inverted
at ``+/- z_{(1 + level)/2}`` by Brent's root finder on the exact profile (lme4
interpolates a spline through a grid of profile points).

Limits: a lower limit the profile does not reach before zero is 0 (a
correlation's: -1 or 1), as lme4 reports it. An upper limit the profile does
not reach within the search range (standard deviation ``_SD_CAP`` on the link
scale, far beyond any meaningful between-group spread) is ``inf`` with a
:class:`~teamculture.errors.DegenerateDataWarning`; a profile point whose
optimisation fails gives ``NaN`` with the same warning.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from teamculture._core.errors import ConvergenceWarning, DegenerateDataWarning
from teamculture._core.validation import check_choice, check_confidence_level
from teamculture._core.warn import warn

__all__ = ["glmm_variance_intervals"]

#: Largest standard deviation (link scale) the upper-limit search goes to: an odds ratio of
#: exp(2 * 0.674 * 30) between two groups' medians is beyond any data set's information.
_SD_CAP = 30.0


# --------------------------------------------------------------------------- objectives
class _Intercepts:
    """Nested random intercepts: parameters are the SDs per level (engine order, outer first)."""

    def __init__(self, result: Any) -> None:
        from teamculture.multilevel._glmm_engine import GLMMEngine

        X = result._design.to_numpy(dtype=float)
        self.eng = GLMMEngine(X, result._k, result._m, result._offset, list(result._codes), result.family,
                              result.link)
        self.p = X.shape[1]
        self.nagq = tuple(result.nagq)
        self.agq = any(q > 1 for q in self.nagq)
        order = list(result._level_order)
        self.names = tuple(str(g) for g in result.variance_components.index)
        self.pos = [order.index(g) for g in self.names]  # our parameter j -> engine sigma index
        self.kinds = ("sd",) * len(self.names)
        sig = np.sqrt(np.clip(result.variance_components.astype(float).to_numpy(), 0.0, None))
        sigma = np.empty(len(order))
        sigma[self.pos] = sig
        self.start = np.r_[result.coefficients["estimate"].to_numpy(dtype=float), sigma]
        se = result.coefficients["std_error"].to_numpy(dtype=float)
        self.scale = np.r_[np.where(np.isfinite(se) & (se > 0), se, 1.0), np.full(len(order), 0.1)]
        self.lower = np.r_[np.full(self.p, -np.inf), np.zeros(len(order))]
        self.upper = np.full(self.p + len(order), np.inf)

    def index(self, j: int) -> int:
        return self.p + self.pos[j]

    def loglik(self, x: np.ndarray) -> float:
        p = self.p
        if self.agq:
            grid = self.eng.adapt(x[:p], x[p:], self.nagq)
            return float(self.eng.agq(x[:p], x[p:], grid)[0])
        return float(self.eng.laplace(x[:p], x[p:])[0])

    def maximise(self, x0: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float]:
        """Maximise over the coordinates in ``free`` (the rest held at ``x0``)."""
        p = self.p
        if not self.agq:
            def vg(x: np.ndarray) -> tuple[float, np.ndarray]:
                v, g, _ = self.eng.laplace(x[:p], x[p:], grad=True)
                return float(v), g
            return _lbfgs(vg, x0, free, self.scale, self.lower, self.upper)
        # quadrature: maximise the rule with its nodes adapted at the current point, re-adapt, repeat
        x, best = x0.copy(), -np.inf
        for _ in range(20):
            grid = self.eng.adapt(x[:p], x[p:], self.nagq)

            def vg(xx: np.ndarray, grid: dict[str, Any] = grid) -> tuple[float, np.ndarray]:
                v, g = self.eng.agq(xx[:p], xx[p:], grid, grad=True)
                return float(v), g  # type: ignore[return-value]

            x_new, _ = _lbfgs(vg, x, free, self.scale, self.lower, self.upper)
            value = self.loglik(x_new)
            if not np.isfinite(value):
                break
            moved = float(np.max(np.abs(x_new - x) / self.scale))
            x, gain, best = x_new, value - best, value
            if moved < 1e-7 or abs(gain) < 1e-10:
                break
        return x, best


class _Slopes:
    """Correlated random effects of one factor: parameters (SDs, then correlations), lme4's ``sdcor``."""

    def __init__(self, result: Any) -> None:
        from teamculture.multilevel._glmm_slopes import SlopeEngine

        X = result._design.to_numpy(dtype=float)
        g = str(result._level_order[0])
        self.eng = SlopeEngine(X, result._Z, result._k, result._m, result._offset, result._codes[0],
                               result.family, result.link)
        self.p = X.shape[1]
        self.r = r = result._Z.shape[1]
        vc = result.variance_components.astype(float)
        terms = [str(k).split("|", 1)[1] for k in vc.index if "," not in str(k)]
        names = [f"{g}|{t}" for t in terms]
        kinds = ["sd"] * r
        self.pairs: list[tuple[int, int]] = []
        for a in range(r):
            for b in range(a + 1, r):
                names.append(f"{g}|{terms[a]},{terms[b]}")
                kinds.append("cor")
                self.pairs.append((a, b))
        self.names, self.kinds = tuple(names), tuple(kinds)
        S = np.asarray(result._Sigma, dtype=float)
        sd = np.sqrt(np.clip(np.diag(S), 0.0, None))
        cor = [S[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else 0.0 for a, b in self.pairs]
        self.start = np.r_[result.coefficients["estimate"].to_numpy(dtype=float), sd, np.clip(cor, -1.0, 1.0)]
        se = result.coefficients["std_error"].to_numpy(dtype=float)
        self.scale = np.r_[np.where(np.isfinite(se) & (se > 0), se, 1.0), np.full(len(names), 0.1)]
        self.lower = np.r_[np.full(self.p, -np.inf), np.zeros(r), -np.ones(len(self.pairs))]
        self.upper = np.r_[np.full(self.p + r, np.inf), np.ones(len(self.pairs))]

    def index(self, j: int) -> int:
        return self.p + j

    def factor(self, v: np.ndarray) -> np.ndarray | None:
        """A factor ``L`` with ``L L' = Sigma`` of the SDs and correlations ``v`` (None if not a correlation matrix)."""
        r = self.r
        if not np.all(np.isfinite(v)):
            return None
        if r == 1:
            C = np.ones((1, 1))
        elif r == 2:  # closed form, valid on the whole closed interval [-1, 1]
            c = float(v[2])
            C = np.array([[1.0, 0.0], [c, math.sqrt(max(1.0 - c * c, 0.0))]])
        else:  # positive semi-definite square root (singular correlation matrices allowed)
            R = np.eye(r)
            for (a, b), c in zip(self.pairs, v[r:]):
                R[a, b] = R[b, a] = c
            lam, vec = np.linalg.eigh(R)
            if lam[0] < -1e-10:
                return None
            C = vec * np.sqrt(np.clip(lam, 0.0, None))
        return v[:r, None] * C

    def loglik(self, x: np.ndarray) -> float:
        L = self.factor(x[self.p:])
        if L is None:
            return -np.inf
        return float(self.eng.laplace_factor(x[:self.p], L)[0])

    def maximise(self, x0: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float]:
        def vg(x: np.ndarray) -> tuple[float, np.ndarray]:
            v = self.loglik(x)
            g = np.zeros_like(x)
            for j in np.flatnonzero(free):
                h = 1e-6 * max(abs(x[j]), self.scale[j])
                lo, hi = x.copy(), x.copy()
                lo[j] = max(x[j] - h, self.lower[j])
                hi[j] = min(x[j] + h, self.upper[j])
                g[j] = (self.loglik(hi) - self.loglik(lo)) / (hi[j] - lo[j])
            return v, g
        return _lbfgs(vg, x0, free, self.scale, self.lower, self.upper)


def _lbfgs(vg: Any, x0: np.ndarray, free: np.ndarray, scale: np.ndarray, lower: np.ndarray, upper: np.ndarray
           ) -> tuple[np.ndarray, float]:
    """Maximise ``vg`` (value, gradient) over the ``free`` coordinates by L-BFGS-B in scaled units."""
    idx = np.flatnonzero(free)
    sc = scale[idx]
    base = np.clip(x0, lower, upper)

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        x = base.copy()
        x[idx] = z * sc
        with np.errstate(all="ignore"):
            v, g = vg(x)
        if not np.isfinite(v):
            return 1e300, np.zeros_like(z)
        return -v, -np.asarray(g)[idx] * sc

    bounds = [(None if not np.isfinite(lo) else lo / s, None if not np.isfinite(hi) else hi / s)
              for lo, hi, s in zip(lower[idx], upper[idx], sc)]
    z = base[idx] / sc
    best = f(z)[0]
    for _ in range(3):  # restart while a run still improves markedly (L-BFGS-B's memory is reset)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = optimize.minimize(f, z, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 500, "maxls": 50})
        gain = best - float(res.fun)
        if res.fun <= best:
            z, best = res.x, float(res.fun)
        if gain < 1e-9:
            break
    x = base.copy()
    x[idx] = z * sc
    return x, -best


def _objective(result: Any) -> Any:
    return _Slopes(result) if result._Z is not None else _Intercepts(result)


# --------------------------------------------------------------------------- the profile
class _Profile:
    """Signed root of the profiled log-likelihood of each variance parameter, and its inversion."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        free = np.ones(len(obj.start), dtype=bool)
        self.opt, self.ll_max = obj.maximise(obj.start, free)
        self.failed: list[str] = []
        self._cache: dict[int, list[tuple[float, np.ndarray]]] = {}

    def profiled(self, j: int, value: float) -> float:
        """Twice the drop in log-likelihood with parameter ``j`` held at ``value`` (>= 0)."""
        k = self.obj.index(j)
        x0 = self.opt.copy()
        near = self._cache.get(j, [])
        if near:
            x0 = min(near, key=lambda t: abs(t[0] - value))[1].copy()
        x0[k] = value
        free = np.ones(len(x0), dtype=bool)
        free[k] = False
        x, ll = self.obj.maximise(x0, free)
        if not np.isfinite(ll):
            return math.nan
        self._cache.setdefault(j, []).append((float(value), x))
        if ll > self.ll_max + 1e-9 * max(1.0, abs(self.ll_max)):
            # the profile found a better point than the fit: the centre moves there
            self.ll_max, self.opt = ll, x.copy()
        return max(2.0 * (self.ll_max - ll), 0.0)

    def zeta(self, j: int, value: float) -> float:
        d = self.profiled(j, value)
        return math.copysign(math.sqrt(d), value - self.opt[self.obj.index(j)]) if np.isfinite(d) else math.nan

    def side(self, j: int, z: float, sign: int) -> float:
        obj = self.obj
        k = obj.index(j)
        kind = obj.kinds[j]
        est = float(self.opt[k])
        bound = float(obj.lower[k] if sign < 0 else obj.upper[k])
        if sign > 0 and not np.isfinite(bound):
            bound = max(_SD_CAP, 2.0 * est)
        if (sign < 0 and est <= bound) or (sign > 0 and est >= bound):
            return bound  # the estimate is on the boundary (lme4: lower limit 0)
        h = 0.2 if kind == "cor" else 0.5 * max(est, obj.scale[k])
        inner, z_inner = est, 0.0
        for _ in range(60):
            cand = est + sign * h
            if (sign < 0 and cand <= bound) or (sign > 0 and cand >= bound):
                cand = bound
            zc = abs(self.zeta(j, cand))
            if not np.isfinite(zc):
                self.failed.append(f"{obj.names[j]} ({'lower' if sign < 0 else 'upper'} limit: the profile could "
                                   f"not be evaluated at {cand:.4g})")
                return math.nan
            if zc >= z:
                lo, hi = sorted((inner, cand))
                try:
                    return float(optimize.brentq(lambda t: abs(self.zeta(j, t)) - z, lo, hi,
                                                 xtol=1e-8 * max(abs(est), obj.scale[k]), rtol=1e-10, maxiter=100))
                except (ValueError, RuntimeError):  # pragma: no cover - a profile that bends back
                    self.failed.append(f"{obj.names[j]} (the profile is not monotone between {lo:.4g} and "
                                       f"{hi:.4g})")
                    return math.nan
            if cand == bound:
                if sign < 0 or kind == "cor":
                    return bound  # lme4 reports the boundary
                self.failed.append(f"{obj.names[j]} (upper limit: the profile reaches only {zc:.3g} of the "
                                   f"cut-off {z:.3g} by a standard deviation of {bound:g}; the data hardly bound it "
                                   "from above)")
                return math.inf
            slope = (zc - z_inner) / abs(cand - inner) if cand != inner else 0.0
            step = (z - zc) / slope * 1.3 if slope > 0 else abs(cand - est)
            inner, z_inner = cand, zc
            dist = abs(cand - est)
            h = dist + min(max(step, 0.05 * dist), 4.0 * dist + obj.scale[k])
        self.failed.append(f"{obj.names[j]} (the search for the {'lower' if sign < 0 else 'upper'} limit did not "
                           "settle)")  # pragma: no cover
        return math.nan  # pragma: no cover


def profile_zeta(result: Any, name: str, values: Any) -> np.ndarray:
    """Signed root of the profiled log-likelihood of parameter ``name`` at ``values`` (lme4's ``.zeta``)."""
    prof = _Profile(_objective(result))
    j = prof.obj.names.index(name)
    return np.array([prof.zeta(j, float(v)) for v in np.atleast_1d(values)])


def _validate(result: Any, confidence_level: Any, method: Any) -> float:
    check_choice("method", method, ("profile",))
    level = check_confidence_level(confidence_level)
    if result._codes == () or result._design.empty:
        raise ValueError("`self`: this GLMMResult was built without its data (e.g. restored from a pickle); refit "
                         "the model to profile its likelihood.")
    if result._infinite:
        raise ValueError(f"`self`: the fixed effects {list(result._infinite)} are infinite (separation); the "
                         "likelihood has no maximum to profile. Remove or merge the categories concerned first.")
    if result._Z is not None and result._Z.shape[1] > 2:
        raise ValueError(f"`self`: profile intervals are implemented for random-slopes terms of at most two "
                         f"correlated effects, e.g. (1 + x | g); this model's term has {result._Z.shape[1]} "
                         f"({', '.join(map(str, result.variance_components.index[:result._Z.shape[1]]))}). With "
                         "three or more, the correlations of a fit on the boundary cannot be profiled reliably here; "
                         "use lme4::confint(fit, method = 'profile') or a bootstrap in R.")
    return level


def glmm_variance_intervals(result: Any, *, confidence_level: Any, method: Any) -> Any:
    from teamculture.reporting._intervals import VarianceIntervals

    level = _validate(result, confidence_level, method)
    obj = _objective(result)
    with np.errstate(all="ignore"):
        prof = _Profile(obj)
        z = float(stats.norm.isf((1.0 - level) / 2.0))
        low = [prof.side(j, z, -1) for j in range(len(obj.names))]
        high = [prof.side(j, z, +1) for j in range(len(obj.names))]
    gain = prof.ll_max - float(result.loglik)
    if gain > 1e-6:
        warn(f"variance_intervals: the profile found a log-likelihood {gain:.3g} above the fit's, so the fit was "
             "not at the maximum; the intervals are centred at the better point (ml_estimate), not at the "
             "reported estimates.", ConvergenceWarning)
    if prof.failed:
        warn("variance_intervals: " + "; ".join(prof.failed) + ". Those limits are reported as inf (not reached) or "
             "NaN (not computable).", DegenerateDataWarning)
    names = pd.Index(obj.names)
    est = np.array([prof.opt[obj.index(j)] for j in range(len(obj.names))])
    fit_est = np.array([obj.start[obj.index(j)] for j in range(len(obj.names))])
    is_sd = np.array([k == "sd" for k in obj.kinds])
    vc = result.variance_components.astype(float)
    if result._Z is None:
        variance = vc.reindex(list(obj.names)).to_numpy()
    else:  # a correlation row carries the covariance, as MixedResult's
        variance = np.array([float(vc[n]) for n in obj.names])
    low_a, high_a = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    table = pd.DataFrame({
        "estimate": fit_est, "ci_low": low_a, "ci_high": high_a, "variance": variance,
        "variance_ci_low": np.where(is_sd, low_a**2, np.nan), "variance_ci_high": np.where(is_sd, high_a**2, np.nan),
    }, index=names, dtype=float)
    return VarianceIntervals(
        table=table, parameters=pd.Series(obj.kinds, index=names, name="parameter", dtype=object),
        ml_estimate=pd.Series(est, index=names, name="ml_estimate", dtype=float), method="profile", reml=False,
        confidence_level=level, n_resamples=0, draws=np.empty((0, len(obj.names))), n_failed=0, n_singular=0,
        formula=str(result.formula), n_obs=result.n_obs, n_dropped=result.n_dropped, n_groups=result.n_groups,
        _fit=result,
    )
