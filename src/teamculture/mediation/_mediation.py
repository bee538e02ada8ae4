"""Path and mediation analysis of the King's Fund engagement chain (single level and 1-1-2 multilevel).

The model is a recursive system of regressions, one per endogenous variable:
each mediator of stage ``s`` on the predictors, the covariates and the
mediators of earlier stages; the outcome on all of them. Indirect effects
are products of coefficients along each path; intervals by a bootstrap that
resamples the top level (trusts) or by the Monte Carlo method; delta-method
standard errors are reported as a check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from teamculture._core.errors import ConvergenceWarning, SmallGroupWarning
from teamculture._core.groups import Groups, oneway_anova
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    check_choice,
    check_columns,
    check_confidence_level,
    check_frame,
    check_int,
    check_nan_policy,
    check_rng,
    few,
    relative_rank,
)
from teamculture._core.warn import warn
from teamculture.mediation._between import corrected_theta, trust_moments
from teamculture.mediation._fit import Fit, NotConverged, Singular, cluster_crossproducts, fit_gaussian, \
    fit_poisson, fit_within
from teamculture.results import Result, Summary, coef_table, result_class

__all__ = ["mediate", "MediationResult", "EFFECT_COLUMNS"]

#: Columns of :attr:`MediationResult.effects`, always in this order.
EFFECT_COLUMNS: tuple[str, ...] = ("estimate", "std_error", "ci_low", "ci_high", "delta_std_error", "delta_ci_low",
                                   "delta_ci_high")
_FAMILIES = ("gaussian", "poisson", "quasipoisson")


# --------------------------------------------------------------------------- result
@result_class
class MediationResult(Result):
    """Paths, direct, indirect and total effects of a mediation (path) model.

    Attributes
    ----------
    effects : pandas.DataFrame
        Index ``(predictor, effect, path)`` with ``effect`` in "direct",
        "indirect" (one row per path, e.g. "engagement" or "engagement ->
        wellbeing"), "total indirect" and "total"; columns
        :data:`EFFECT_COLUMNS`: ``estimate``; ``std_error`` (SD of the
        resampled effects), ``ci_low``/``ci_high`` (bootstrap percentile or
        bias-corrected, or Monte Carlo); ``delta_std_error``,
        ``delta_ci_low``/``delta_ci_high`` (delta method, normal: a check,
        not the interval to report for an indirect effect). Multilevel:
        between-level (trust) effects.
    paths : pandas.DataFrame
        Every coefficient, index ``(level, equation, term)`` with ``level``
        "single", or "between"/"within" for multilevel models; columns
        ``estimate, std_error, statistic, df, pvalue, ci_low, ci_high``.
    draws : pandas.DataFrame
        The resampled effects (one row per successful resample, columns =
        the effects' index), kept so intervals can be recomputed.
    design : {"single-level", "multilevel"}
        Trust-level data, or staff nested in trusts (``by``) with a
        trust-level outcome.
    between : {"corrected", "observed"} or None
        Multilevel: between paths from trust means corrected for their
        sampling error (default), or from the observed means; None for a
        single-level model.
    outcome, family, estimator, method, interval : str
        The outcome, its family, the estimator of linear equations ("ols"
        or "ml"), "bootstrap" or "monte_carlo", and "percentile" or "bc".
    by : tuple of str or None
        The trust column (and team column) of a multilevel model.
    n_resamples, n_failed : int
        Resamples requested, and those that failed (singular design or a
        non-converged outcome model in a bootstrap sample; dropped).
    confidence_level : float
        Level of the intervals.
    dispersion : float
        Residual variance (gaussian) or dispersion (1 for Poisson, Pearson
        for quasi-Poisson) of the outcome equation.
    reliability : pandas.DataFrame or None
        Multilevel: for each staff-level variable, ``icc1``, the mean trust
        size ``k`` and ``icc2`` (the reliability of the trust means the
        between paths rest on).
    notes : tuple of str
        Conventions and warnings.
    """

    effects: pd.DataFrame
    paths: pd.DataFrame
    draws: pd.DataFrame
    design: str
    between: str | None
    outcome: str
    family: str
    estimator: str
    method: str
    interval: str
    by: tuple[str, ...] | None
    n_resamples: int
    n_failed: int
    confidence_level: float
    dispersion: float
    reliability: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The effects table (a copy)."""
        return self.effects.copy()

    def indirect(self) -> pd.DataFrame:
        """The rows of the effects table for indirect effects (specific and total)."""
        eff = self.effects.index.get_level_values("effect")
        return self.effects[np.isin(eff, ["indirect", "total indirect"])].copy()

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals of the effects from the stored resamples, at another level.

        Parameters
        ----------
        confidence_level : float, optional
            Default: the level the model was fitted at.

        Returns
        -------
        pandas.DataFrame
            ``ci_low``, ``ci_high`` indexed like ``effects``.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        low, high = _intervals(self.draws.to_numpy(), self.effects["estimate"].to_numpy(), level, self.interval)
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=self.effects.index)

    def summary(self) -> Summary:
        """Effects, paths and notes."""
        how = {"bootstrap": f"bootstrap ({self.interval}) resampling "
                            + ("trusts" if self.design == "multilevel" else "rows (trusts)"),
               "monte_carlo": "Monte Carlo (normal draws of the path coefficients)"}[self.method]
        header = [("design", self.design + (f" (staff in {' / '.join(self.by)}; trust-level outcome; "
                                             f"{self.between} trust means)" if self.by else "")),
                  ("outcome", f"{self.outcome} ({self.family}"
                              + (", log link: effects on the log-rate scale)" if self.family != "gaussian"
                                 else ")")),
                  ("estimator", self.estimator),
                  ("intervals", f"{how}; {self.n_resamples} draws, {self.n_failed} failed"),
                  ("confidence level", self.confidence_level),
                  ("observations", self.n_obs), ("dropped", self.n_dropped)]
        tables = [("effects", self.effects), ("paths", self.paths)]
        if self.reliability is not None:
            tables.append(("reliability of trust means", self.reliability))
        return Summary("Mediation (path) analysis", header=header, tables=tables, notes=list(self.notes))


# --------------------------------------------------------------------------- model structure
@dataclass(frozen=True)
class _Equation:
    response: str
    terms: tuple[str, ...]
    family: str  # gaussian / poisson / quasipoisson
    stage: int = 0


def _structure(predictors: list[str], stages: list[list[str]], outcome: str, covariates: list[str],
               family: str) -> list[_Equation]:
    eqs = []
    earlier: list[str] = []
    for s, stage in enumerate(stages):
        for m in stage:
            eqs.append(_Equation(m, tuple(predictors + covariates + earlier), "gaussian", s))
        earlier = earlier + stage
    eqs.append(_Equation(outcome, tuple(predictors + covariates + earlier), family, len(stages)))
    return eqs


def _paths_from(x: str, stages: list[list[str]]) -> list[list[str]]:
    """Every chain of mediators from ``x``: one mediator from each of a strictly increasing set of stages."""
    out: list[list[str]] = []

    def extend(chain: list[str], next_stage: int) -> None:
        for s in range(next_stage, len(stages)):
            for m in stages[s]:
                out.append(chain + [m])
                extend(chain + [m], s + 1)

    extend([], 0)
    return out


def _effect_spec(predictors: list[str], stages: list[list[str]], outcome: str,
                 index: dict[tuple[str, str], int]) -> tuple[list[tuple[str, str, str]], list[list[tuple[int, ...]]]]:
    """Effect labels and, for each, the products of coefficient indices it sums."""
    labels: list[tuple[str, str, str]] = []
    specs: list[list[tuple[int, ...]]] = []
    for x in predictors:
        direct = (index[(outcome, x)],)
        indirect = []
        for chain in _paths_from(x, stages):
            prod = [index[(chain[0], x)]]
            prod += [index[(b, a)] for a, b in zip(chain[:-1], chain[1:])]
            prod.append(index[(outcome, chain[-1])])
            indirect.append((" -> ".join(chain), tuple(prod)))
        labels.append((x, "direct", ""))
        specs.append([direct])
        for name, prod in indirect:
            labels.append((x, "indirect", name))
            specs.append([prod])
        labels.append((x, "total indirect", ""))
        specs.append([p for _, p in indirect])
        labels.append((x, "total", ""))
        specs.append([direct] + [p for _, p in indirect])
    return labels, specs


def _evaluate(theta: np.ndarray, specs: list[list[tuple[int, ...]]]) -> np.ndarray:
    """Effects from coefficient vectors ``theta`` (R, P) -> (R, n_effects)."""
    out = np.zeros((theta.shape[0], len(specs)))
    for j, spec in enumerate(specs):
        for prod in spec:
            out[:, j] += np.prod(theta[:, list(prod)], axis=1)
    return out


def _delta(theta: np.ndarray, V: np.ndarray, specs: list[list[tuple[int, ...]]]) -> np.ndarray:
    """Delta-method standard errors of the effects."""
    se = np.empty(len(specs))
    for j, spec in enumerate(specs):
        g = np.zeros(theta.size)
        for prod in spec:
            for i, k in enumerate(prod):
                g[k] += np.prod([theta[m] for jj, m in enumerate(prod) if jj != i])
        se[j] = math.sqrt(max(float(g @ V @ g), 0.0))
    return se


def _intervals(draws: np.ndarray, estimate: np.ndarray, level: float, interval: str) -> tuple[np.ndarray, np.ndarray]:
    a = (1.0 - level) / 2.0
    if draws.shape[0] == 0:
        nan = np.full(estimate.shape, np.nan)
        return nan, nan
    if interval == "percentile":
        return np.quantile(draws, a, axis=0), np.quantile(draws, 1.0 - a, axis=0)
    low = np.empty(estimate.size)
    high = np.empty(estimate.size)
    zq = stats.norm.isf(a)
    for j in range(estimate.size):
        d = draws[:, j]
        prop = (np.sum(d < estimate[j]) + 0.5 * np.sum(d == estimate[j])) / d.size
        prop = min(max(prop, 0.5 / d.size), 1.0 - 0.5 / d.size)
        z0 = stats.norm.ppf(prop)
        low[j] = np.quantile(d, stats.norm.cdf(2 * z0 - zq))
        high[j] = np.quantile(d, stats.norm.cdf(2 * z0 + zq))
    return low, high


# --------------------------------------------------------------------------- fitting a level
def _design(frame: dict[str, np.ndarray], eq: _Equation) -> np.ndarray:
    n = frame[eq.response].size
    return np.column_stack([np.ones(n)] + [frame[t] for t in eq.terms])


def _fit_equation(frame: dict[str, np.ndarray], eq: _Equation, w: np.ndarray | None, estimator: str,
                  offset: np.ndarray | None, cov: bool) -> Fit:
    X = _design(frame, eq)
    y = frame[eq.response]
    if eq.family == "gaussian":
        return fit_gaussian(X, y, w, estimator=estimator, cov=cov)
    off = np.zeros(y.size) if offset is None else offset
    return fit_poisson(X, y, off, w, quasi=eq.family == "quasipoisson", cov=cov)


def _fit_all(frame: dict[str, np.ndarray], eqs: list[_Equation], w: np.ndarray | None, estimator: str,
             offset: np.ndarray | None, cov: bool) -> list[Fit]:
    return [_fit_equation(frame, eq, w, estimator, offset, cov) for eq in eqs]


def _theta_index(eqs: list[_Equation]) -> tuple[dict[tuple[str, str], int], list[tuple[str, str]]]:
    index: dict[tuple[str, str], int] = {}
    names: list[tuple[str, str]] = []
    for eq in eqs:
        for term in ("Intercept",) + eq.terms:
            index[(eq.response, term)] = len(names)
            names.append((eq.response, term))
    return index, names


def _check_rank(frame: dict[str, np.ndarray], eqs: list[_Equation], roles: dict[str, str]) -> None:
    for eq in eqs:
        X = _design(frame, eq)
        rank, dep = relative_rank(X)
        if rank < X.shape[1]:
            cols = ["Intercept", *eq.terms]
            bad = [cols[j] for j in dep]
            params = sorted({roles.get(c, "data") for c in bad if c != "Intercept"} or {"data"})
            raise ValueError(
                f"`{params[0]}`: the equation of {eq.response!r} is not identified: {few(bad)} "
                f"{'is' if len(bad) == 1 else 'are'} constant or a linear combination of the other terms "
                f"({', '.join(cols)}). Drop or combine them.")


# --------------------------------------------------------------------------- validation
def _names(value: Any, name: str, *, allow_empty: bool = False) -> list[str]:
    if value is None:
        if allow_empty:
            return []
        raise TypeError(f"`{name}` is required (a column name or a list of column names).")
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, pd.Index)):
        out = list(value)
        if not out and not allow_empty:
            raise ValueError(f"`{name}` must name at least one column; got an empty list.")
        if not all(isinstance(v, str) for v in out):
            raise TypeError(f"`{name}` must be column names (str); got {few(out)}.")
        return out
    raise TypeError(f"`{name}` must be a column name or a list of column names; got {type(value).__name__}.")


def _stages(mediators: Any) -> list[list[str]]:
    if isinstance(mediators, str):
        return [[mediators]]
    if isinstance(mediators, (list, tuple)) and mediators and all(isinstance(s, (list, tuple)) for s in mediators):
        stages = [_names(list(s), "mediators") for s in mediators]
        return stages
    return [_names(mediators, "mediators")]


def _validate_mediate(data, predictors, mediators, outcome, covariates, by, between, family, expected, estimator,
                      method, interval, n_resamples, confidence_level, rng, nan_policy):
    data = check_frame(data)
    if len(data) == 0:
        raise ValueError("`data` has no rows.")
    preds = _names(predictors, "predictors")
    stages = _stages(mediators)
    if not isinstance(outcome, str):
        raise TypeError(f"`outcome` must be one column name (str); got {type(outcome).__name__}.")
    covs = _names(covariates, "covariates", allow_empty=True)
    roles: dict[str, str] = {}
    for role, cols in (("predictors", preds), ("mediators", [m for s in stages for m in s]),
                       ("outcome", [outcome]), ("covariates", covs)):
        if cols:
            check_columns(data, cols, role)
        for c in cols:
            if c in roles:
                raise ValueError(f"`{role}` and `{roles[c]}` both name column {c!r}; each variable has one role.")
            roles[c] = role
    check_choice("family", family, _FAMILIES)
    if expected is not None:
        if family == "gaussian":
            raise ValueError("`expected` is the offset (expected counts) of a count outcome; it needs "
                             "family='poisson' or 'quasipoisson'.")
        if not isinstance(expected, str):
            raise TypeError(f"`expected` must be a column name; got {type(expected).__name__}.")
        check_columns(data, expected, "expected")
        if expected in roles:
            raise ValueError(f"`expected` and `{roles[expected]}` both name column {expected!r}.")
        roles[expected] = "expected"
    for c, role in roles.items():
        s = data[c]
        if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)) \
                or pd.api.types.is_complex_dtype(s.dtype):
            raise TypeError(f"`{role}` column {c!r} must be numeric; got dtype {s.dtype}.")
        x = s.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(x).any():
            raise ValueError(f"`{role}` column {c!r} has {int(np.isinf(x).sum())} infinite value(s); use NaN for a "
                             "missing value.")
    check_choice("estimator", estimator, ("ols", "ml"))
    check_choice("method", method, ("bootstrap", "monte_carlo"))
    check_choice("interval", interval, ("percentile", "bc"))
    if interval == "bc" and method != "bootstrap":
        raise ValueError("`interval`='bc' (bias-corrected) is a bootstrap interval; the Monte Carlo method uses "
                         "percentiles of its draws (interval='percentile').")
    n_res = check_int("n_resamples", n_resamples, minimum=20)
    level = check_confidence_level(confidence_level)
    gen = check_rng(rng)
    check_nan_policy(nan_policy)
    by_cols: list[str] = []
    if by is not None:
        by_cols = check_columns(data, by, "by")
        if len(by_cols) > 2:
            raise ValueError(f"`by` must name the trust column and optionally the team column inside it (outer "
                             f"first): between paths use trust means, the bootstrap resamples trusts, teams enter the "
                             f"sampling error of the means; got {few(by_cols)}.")
        for c in by_cols:
            if c in roles:
                raise ValueError(f"`by` and `{roles[c]}` both name column {c!r}.")
    if between is not None:
        if by is None:
            raise ValueError("`between` is for multilevel models (staff-level data with `by`); trust-level data "
                             "have no sampling error of trust means to correct.")
        check_choice("between", between, ("corrected", "observed"))
    return preds, stages, outcome, covs, roles, expected, n_res, level, gen, by_cols


def _check_counts(y: np.ndarray, family: str, offset_col: str | None, off: np.ndarray | None, outcome: str) -> None:
    if family == "gaussian":
        return
    bad = (y < 0) | (y != np.round(y))
    if bad.any():
        raise ValueError(f"`outcome` {outcome!r} must hold counts (non-negative integers) for family={family!r}; "
                         f"{int(bad.sum())} value(s) are not: {few(np.unique(y[bad]).tolist())}.")
    if off is not None:
        nonpos = ~(off > 0)
        if nonpos.any():
            raise ValueError(f"`expected` {offset_col!r} must be > 0 (expected counts); {int(nonpos.sum())} value(s) "
                             f"are not: {few(np.unique(off[nonpos]).tolist())}.")


# --------------------------------------------------------------------------- the function
def mediate(
    data: pd.DataFrame,
    *,
    predictors: str | Sequence[str],
    mediators: str | Sequence[str] | Sequence[Sequence[str]],
    outcome: str,
    covariates: str | Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    between: str | None = None,
    family: str = "gaussian",
    expected: str | None = None,
    estimator: str = "ols",
    method: str = "bootstrap",
    interval: str = "percentile",
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    rng: Any = None,
    nan_policy: str = "omit",
) -> MediationResult:
    """Path and mediation analysis: direct, indirect (a*b) and total effects with resampling intervals.

    The King's Fund engagement chain -- leadership, supervisor support, team
    working, work pressure and feeling valued (predictors) -> engagement ->
    health and well-being (mediators) -> hospital performance (outcome) --
    fitted as a recursive path model on trust data, or on staff nested in
    trusts with a trust-level outcome, the within- and between-trust paths
    kept apart.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per trust (single level), or one row per staff member with
        the trust column ``by`` and trust-level columns (the outcome,
        ``expected``) repeated on the rows of each trust.
    predictors : str or list of str
        The antecedents whose effects are decomposed.
    mediators : str, list of str, or list of lists of str
        One mediator, parallel mediators (a list), or stages of a serial
        chain (a list of lists, earlier stages first):
        ``[["engagement"], ["wellbeing", "stress"]]``.
    outcome : str
        The outcome column.
    covariates : str or list of str, optional
        Controls entered in every equation (their effects are not decomposed).
    by : str or list of str, optional
        The trust column for staff-level data, optionally followed by the
        team column inside trusts (``["trust", "team"]``: teams then enter
        the sampling error of the trust means). Trust-level outcome required;
        staff-level predictors and mediators are split into trust means
        (between level: the paths an indirect effect on a trust outcome runs
        through) and deviations from them (within level: reported, never
        multiplied into an effect on a trust outcome).
    between : {"corrected", "observed"}, optional
        Multilevel only. ``"corrected"`` (the default with ``by``): between
        paths from trust means corrected for their sampling error, with
        jackknife standard errors; ``"observed"``: regressions on the observed
        trust means (attenuated towards zero by their unreliability).
    family : {"gaussian", "poisson", "quasipoisson"}, default "gaussian"
        Outcome model: linear, or log-linear for counts (deaths) with offset
        ``log(expected)``; quasi-Poisson scales the standard errors by the
        Pearson dispersion. Mediators are always linear.
    expected : str, optional
        Column of expected counts (expected deaths) for a count outcome.
    estimator : {"ols", "ml"}, default "ols"
        Linear equations: unbiased residual variance and ``t`` tests (R
        ``lm``), or maximum likelihood (residual variance / n, normal tests:
        lavaan's convention, to compare with ``lavaan::sem``).
    method : {"bootstrap", "monte_carlo"}, default "bootstrap"
        Intervals of the effects: a nonparametric bootstrap resampling the
        top level (trust rows, or trusts with all their staff), refitting
        every equation; or Monte Carlo draws of the coefficients from their
        estimated normal sampling distribution (equations independent).
    interval : {"percentile", "bc"}, default "percentile"
        Bootstrap percentile or bias-corrected percentile intervals.
    n_resamples : int, default 2000
        Bootstrap resamples or Monte Carlo draws (at least 20).
    confidence_level : float, default 0.95
        Level of every interval.
    rng : None, int or numpy.random.Generator, optional
        Random numbers for the resamples (an int seeds a new generator).
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing value in a model column (and, multilevel, the
        staff rows of trusts without an outcome) are dropped and counted
        with a :class:`~teamculture.errors.DroppedDataWarning`, or an error.

    Returns
    -------
    MediationResult
        ``effects`` (direct, each indirect path, total indirect, total),
        ``paths`` (every coefficient), ``draws``, ``summary()``.

    Notes
    -----
    *Equations.* For mediator :math:`M` of stage :math:`s`:
    :math:`M = \\alpha + a'X + \\gamma'Z + \\sum_{s'<s} d'M_{s'} + e`;
    outcome: :math:`g(E[Y]) = \\beta_0 + c'X + \\gamma'Z + b'M (+ \\log E)`,
    each fitted by least squares (or Poisson IRLS). The indirect effect of
    :math:`X_j` along a path :math:`X_j \\to M_1 \\to M_2 \\to Y` is the
    product :math:`a_{1j}\\, d_{21}\\, b_2`; the total indirect effect sums
    the paths; the total effect adds the direct effect :math:`c_j`. With a
    linear outcome the total equals the coefficient of :math:`X_j` in the
    reduced-form regression of :math:`Y` on :math:`X, Z`; with a log link,
    effects are on the log-rate scale (``exp`` gives rate ratios; for
    normal mediator residuals the decomposition also holds for the marginal
    log rate).

    *Intervals.* The sampling distribution of a product is skewed, so
    intervals come from the bootstrap (percentile, or bias-corrected:
    quantiles :math:`\\Phi(2z_0 \\pm z_{1-\\alpha/2})` with
    :math:`z_0 = \\Phi^{-1}(\\#\\{\\hat\\theta^* < \\hat\\theta\\}/B)`) or from
    Monte Carlo draws of the coefficients (MacKinnon, Lockwood & Williams
    2004); the delta-method (Sobel) standard error
    :math:`\\sqrt{g'Vg}` is reported as a check only. Bootstrap samples
    whose design is singular or whose outcome model does not converge are
    dropped and counted (``n_failed``, with a warning above 1%; above 10%
    the model is refused, since intervals from the rest would be
    conditional on a resample succeeding).

    *Multilevel (1-1-2).* Staff-level :math:`X_{ik}, M_{ik}` and trust-level
    :math:`Y_k`: the between equations use trust means
    :math:`\\bar X_k, \\bar M_k` (one row per trust, unweighted), so
    :math:`a_B b_B` is the indirect effect on the trust outcome; the within
    equations regress deviations :math:`M_{ik} - \\bar M_k` on
    :math:`X_{ik} - \\bar X_k` (pooled within-trust estimator, cluster-robust
    standard errors by trust, ``t`` on :math:`G - 1` df) and are reported
    only: a within-trust path cannot carry an effect to a trust-level
    outcome, and mixing :math:`a_W` with :math:`b_B` (or uncentred staff
    predictors) is the conflation Zhang, Zyphur & Preacher (2009) warn
    against. Observed trust means contain sampling error
    :math:`\\Omega_k = \\Sigma_W/n_k + \\Sigma_T \\sum_t n_t^2/n_k^2` (within-team
    and team covariance matrices, nested moment estimators pooled over
    trusts), which attenuates between paths by about their reliability
    (``reliability["icc2"]``). With ``between="corrected"`` the linear
    between equations are solved from the between-trust covariance matrix
    minus the mean :math:`\\Omega_k` (Fuller 1987), and a count outcome is
    fitted to regression-calibrated trust means; standard errors are by the
    jackknife over trusts, and the bootstrap resamples trusts and re-estimates
    :math:`\\Omega`. With few trusts or unreliable means the corrected
    covariance can be singular; the model is then refused (use
    ``between="observed"``). Latent-mean multilevel SEM (Preacher, Zyphur &
    Zhang 2010; ``lavaan::sem(..., cluster = "trust")``) is the likelihood
    version of the correction.

    R: ``lavaan::sem(model, data, se = "bootstrap")`` with ``:=`` defined
    indirect effects; ``mediation::mediate(model.m, model.y, treat, mediator)``.

    References
    ----------
    .. [1] West M, Dawson J (2012). Employee engagement and NHS performance.
       The King's Fund.
    .. [2] MacKinnon DP, Lockwood CM, Williams J (2004). Confidence limits for
       the indirect effect: distribution of the product and resampling
       methods. Multivariate Behavioral Research 39:99-128.
    .. [3] Zhang Z, Zyphur MJ, Preacher KJ (2009). Testing multilevel
       mediation using hierarchical linear models. Organizational Research
       Methods 12:695-719.
    .. [4] Preacher KJ, Zyphur MJ, Zhang Z (2010). A general multilevel SEM
       framework for assessing multilevel mediation. Psychological Methods
       15:209-233.
    .. [5] Fuller WA (1987). Measurement error models. Wiley.

    Examples
    --------
    >>> from teamculture.mediation import mediate
    >>> from teamculture.simulate import simulate_engagement
    >>> sim = simulate_engagement(n_trusts=120, rng=1)
    >>> res = mediate(sim.trusts, predictors="leadership", mediators="engagement",
    ...               outcome="patient_satisfaction", n_resamples=200, rng=2)
    >>> ind = res.effects.loc[("leadership", "indirect", "engagement")]
    >>> bool(ind["ci_low"] < ind["estimate"] < ind["ci_high"])
    True
    >>> list(res.effects.index.get_level_values("effect"))
    ['direct', 'indirect', 'total indirect', 'total']
    """
    preds, stages, outcome, covs, roles, expected, n_res, level, gen, by_cols = _validate_mediate(
        data, predictors, mediators, outcome, covariates, by, between, family, expected, estimator, method, interval,
        n_resamples, confidence_level, rng, nan_policy)
    eqs = _structure(preds, stages, outcome, covs, family)
    index, names = _theta_index(eqs)
    labels, specs = _effect_spec(preds, stages, outcome, index)
    model_cols = list(roles)
    if not by_cols:
        return _single_level(data, eqs, names, labels, specs, model_cols, roles, outcome, expected, family,
                             estimator, method, interval, n_res, level, gen, nan_policy)
    return _multilevel(data, by_cols, between or "corrected", preds, stages, covs, eqs, names, labels, specs,
                       model_cols, roles, outcome, expected, family, estimator, method, interval, n_res, level, gen,
                       nan_policy)


# --------------------------------------------------------------------------- shared pieces
def _point(frame: dict[str, np.ndarray], eqs: list[_Equation], estimator: str, offset: np.ndarray | None,
           outcome: str) -> list[Fit]:
    try:
        return _fit_all(frame, eqs, None, estimator, offset, cov=True)
    except Singular:  # pragma: no cover - the rank check runs first
        raise ValueError("`data`: a design matrix is singular; check for constant or collinear columns.") from None
    except NotConverged as exc:
        raise ValueError(f"`outcome` {outcome!r}: the count model did not converge ({exc}); check the counts and "
                         "`expected`.") from None


def _coef_paths(fits: list[Fit], eqs: list[_Equation], level_name: str, level: float) -> pd.DataFrame:
    frames = []
    for fit, eq in zip(fits, eqs):
        terms = ["Intercept", *eq.terms]
        idx = pd.MultiIndex.from_tuples([(level_name, eq.response, t) for t in terms],
                                        names=["level", "equation", "term"])
        frames.append(coef_table(fit.beta, np.sqrt(np.diag(fit.cov)), index=idx, df=fit.df,
                                 confidence_level=level))
    return pd.concat(frames)


def _mc_draws(theta: np.ndarray, V: np.ndarray, gen: np.random.Generator, n: int) -> np.ndarray:
    vals, vecs = np.linalg.eigh(V)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return theta + gen.standard_normal((n, theta.size)) @ root.T


def _bootstrap(refit, n_units: int, gen: np.random.Generator, n: int, n_theta: int) -> tuple[np.ndarray, int]:
    out = np.full((n, n_theta), np.nan)
    failed = 0
    p = np.full(n_units, 1.0 / n_units)
    for r in range(n):
        counts = gen.multinomial(n_units, p).astype(float)
        try:
            out[r] = refit(counts)
        except (Singular, NotConverged):
            failed += 1
    return out, failed


def _finish(theta: np.ndarray, V: np.ndarray, draws_theta: np.ndarray, failed: int, labels, specs, level: float,
            interval: str, method: str, failure_name: str = "data",
            failure_hint: str = "Use method='monte_carlo', or more units.") -> tuple[pd.DataFrame, pd.DataFrame]:
    est = _evaluate(theta[None, :], specs)[0]
    ok = np.all(np.isfinite(draws_theta), axis=1)
    draws = _evaluate(draws_theta[ok], specs)
    if method == "bootstrap" and failed:
        share = failed / draws_theta.shape[0]
        if share > 0.10:
            raise ValueError(
                f"`{failure_name}`: {failed} of {draws_theta.shape[0]} bootstrap resamples failed (a singular design, "
                "a count model without events or not converging in the resample); intervals from the rest would be "
                f"conditional on the resample succeeding. {failure_hint}")
        if share > 0.01:
            warn(f"{failed} of {draws_theta.shape[0]} bootstrap resamples failed (a singular design or a count model "
                 "that did not converge in the resample) and were dropped; intervals rest on the others "
                 "(result.n_failed).", ConvergenceWarning)
    idx = pd.MultiIndex.from_tuples(labels, names=["predictor", "effect", "path"])
    if draws.shape[0] < 2:
        raise ValueError("`n_resamples`: fewer than two resamples succeeded; the intervals cannot be formed "
                         "(too few units for a bootstrap?).")
    low, high = _intervals(draws, est, level, interval)
    dse = _delta(theta, V, specs)
    z = stats.norm.isf((1.0 - level) / 2.0)
    effects = pd.DataFrame({"estimate": est, "std_error": draws.std(axis=0, ddof=1), "ci_low": low, "ci_high": high,
                            "delta_std_error": dse, "delta_ci_low": est - z * dse, "delta_ci_high": est + z * dse},
                           index=idx)
    return effects[list(EFFECT_COLUMNS)], pd.DataFrame(draws, columns=idx)


def _split(theta: np.ndarray, fits: list[Fit]):
    """(fit, its slice of theta, start, stop) for each equation."""
    i = 0
    for f in fits:
        j = i + f.beta.size
        yield f, theta[i:j], i, j
        i = j


def _joint_cov(fits: list[Fit], eqs: list[_Equation], estimator: str) -> np.ndarray:
    """Covariance of all coefficients: each equation's own, plus the cross blocks of parallel mediators.

    Mediators of one stage have the same regressors and freely correlated
    residuals (the saturated model), so their coefficients covary:
    ``cov(b_m, b_l) = s_ml (X'X)^-1`` with ``s_ml`` the residual covariance
    (divisor ``n - p``, or ``n`` for ``estimator="ml"``), as in seemingly
    unrelated regressions with identical regressors. Across stages the
    blocks are zero (later equations condition on earlier variables).
    """
    sizes = [f.beta.size for f in fits]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    V = np.zeros((starts[-1], starts[-1]))
    for i, f in enumerate(fits):
        V[starts[i]:starts[i + 1], starts[i]:starts[i + 1]] = f.cov
    for i in range(len(fits)):
        for j in range(i + 1, len(fits)):
            if eqs[i].stage != eqs[j].stage or eqs[i].family != "gaussian" or eqs[j].family != "gaussian":
                continue
            fi, fj = fits[i], fits[j]
            n = fi.resid.size
            s_ij = float(fi.resid @ fj.resid) / (n if estimator == "ml" else n - sizes[i])
            block = s_ij * fi.xtx_inv
            V[starts[i]:starts[i + 1], starts[j]:starts[j + 1]] = block
            V[starts[j]:starts[j + 1], starts[i]:starts[i + 1]] = block.T
    return V


# --------------------------------------------------------------------------- single level
def _single_level(data, eqs, names, labels, specs, model_cols, roles, outcome, expected, family, estimator, method,
                  interval, n_res, level, gen, nan_policy) -> MediationResult:
    X = data[model_cols].to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(X).any(axis=1)
    keep, n_dropped = apply_nan_policy(missing, nan_policy, name="data", what="the mediation model")
    rows = np.ones(len(data), dtype=bool) if keep is None else keep
    frame = {c: X[rows, j] for j, c in enumerate(model_cols)}
    n = int(rows.sum())
    p_max = max(1 + len(eq.terms) for eq in eqs)
    if n < p_max + 2:
        raise ValueError(f"`data` has {n} complete row(s); the largest equation has {p_max} coefficients and needs "
                         f"at least {p_max + 2} rows.")
    _check_counts(frame[outcome], family, expected, frame.get(expected) if expected else None, outcome)
    offset = np.log(frame[expected]) if expected is not None else None
    _check_rank(frame, eqs, roles)
    fits = _point(frame, eqs, estimator, offset, outcome)
    theta = np.concatenate([f.beta for f in fits])
    V = _joint_cov(fits, eqs, estimator)

    if method == "bootstrap":
        def refit(counts):
            return np.concatenate([f.beta for f in _fit_all(frame, eqs, counts, estimator, offset, cov=False)])
        draws_theta, failed = _bootstrap(refit, n, gen, n_res, theta.size)
    else:
        draws_theta, failed = _mc_draws(theta, V, gen, n_res), 0
    effects, draws = _finish(theta, V, draws_theta, failed, labels, specs, level, interval, method)
    paths = _coef_paths(fits, eqs, "single", level)
    notes = _notes(family, estimator, method)
    return MediationResult(
        n_obs=n, n_dropped=n_dropped, n_groups=None, effects=effects, paths=paths, draws=draws,
        design="single-level", between=None, outcome=outcome, family=family, estimator=estimator, method=method,
        interval=interval, by=None, n_resamples=n_res, n_failed=failed, confidence_level=level,
        dispersion=float(fits[-1].dispersion), reliability=None, notes=tuple(notes))


def _notes(family: str, estimator: str, method: str) -> list[str]:
    notes = ["indirect effects are products of path coefficients; intervals from the "
             + ("bootstrap" if method == "bootstrap" else "Monte Carlo draws")
             + "; delta-method (Sobel) columns are a check only"]
    if family != "gaussian":
        notes.append("outcome on the log scale: effects are log rate ratios per unit of the predictor "
                     "(exp() for rate ratios)")
    if estimator == "ml":
        notes.append("linear equations by maximum likelihood (residual variance / n, normal tests), as lavaan")
    return notes


# --------------------------------------------------------------------------- multilevel (1-1-2)
def _multilevel(data, by_cols, between_method, preds, stages, covs, eqs, names, labels, specs, model_cols, roles,
                outcome, expected, family, estimator, method, interval, n_res, level, gen,
                nan_policy) -> MediationResult:
    by_col = by_cols[0]
    X = data[model_cols].to_numpy(dtype=float, na_value=np.nan)
    groups, label_missing = Groups.from_labels(data[by_cols] if len(by_cols) > 1 else data[by_col], name="by")
    missing = np.isnan(X).any(axis=1) | label_missing
    keep, n_dropped = apply_nan_policy(missing, nan_policy, name="data", what="the mediation model")
    rows = np.ones(len(data), dtype=bool) if keep is None else keep
    groups = groups.subset(rows)
    codes = groups.codes[0][rows]
    team_codes = groups.codes[1][rows] if len(by_cols) > 1 else None
    G = groups.n_groups[0]
    X = X[rows]
    if G < 5:
        raise ValueError(f"`by` ({by_col!r}) has {G} trust(s) with data; between-level paths need many trusts "
                         "(at least 5, and more than the largest equation's coefficients).")
    sizes = np.bincount(codes, minlength=G).astype(float)
    means = np.stack([np.bincount(codes, weights=X[:, j], minlength=G) for j in range(X.shape[1])], axis=1) \
        / sizes[:, None]
    dev = X - means[codes]
    spread = np.sqrt(np.sum(dev * dev, axis=0))
    scale = np.sqrt(np.sum((X - X.mean(axis=0)) ** 2, axis=0))
    varies = spread > 1e-9 * np.maximum(scale, np.finfo(float).tiny)
    staff_level = {c for c, v in zip(model_cols, varies) if v}
    for c in ([outcome] + ([expected] if expected else [])):
        if c in staff_level:
            j = model_cols.index(c)
            k = int(np.bincount(codes, weights=np.abs(dev[:, j]) > 1e-9 * max(scale[j], 1e-300), minlength=G)
                    .astype(bool).sum())
            raise ValueError(
                f"`{roles[c]}` column {c!r} varies within {k} trust(s) of `by` ({by_col!r}); a multilevel mediation "
                "here has a trust-level outcome (one value per trust, repeated on its staff rows). For a staff-level "
                "outcome, aggregate it to trust means first, or analyse one level at a time.")
    p_max = max(1 + len(eq.terms) for eq in eqs)
    if G < p_max + 2:
        raise ValueError(f"`by` ({by_col!r}) has {G} trusts; the largest between-level equation has {p_max} "
                         f"coefficients and needs at least {p_max + 2} trusts.")
    between = {c: means[:, j] for j, c in enumerate(model_cols)}
    _check_counts(between[outcome], family, expected, between.get(expected) if expected else None, outcome)
    offset = np.log(between[expected]) if expected is not None else None
    _check_rank(between, eqs, roles)
    fits = _point(between, eqs, estimator, offset, outcome)
    theta = np.concatenate([f.beta for f in fits])
    V = _joint_cov(fits, eqs, estimator)
    staff_cols = [c for c in model_cols if c in staff_level]
    if between_method == "corrected" and staff_cols:
        Vmat = np.column_stack([between[c] for c in model_cols])
        err = np.array([model_cols.index(c) for c in staff_cols], dtype=np.intp)
        moments = trust_moments(X[:, err], codes, G, team_codes)
        spec = [(model_cols.index(eq.response), [model_cols.index(t) for t in eq.terms], eq.family) for eq in eqs]

        def corrected(counts):
            return corrected_theta(Vmat, err, moments, counts, spec, offset)

        try:
            theta = corrected(np.ones(G))
        except Singular:
            raise ValueError(
                f"`by` ({by_col!r}): the between-trust covariance of the model variables corrected for the sampling "
                "error of trust means is not positive definite: the trust means are too unreliable to separate "
                "between-trust paths from sampling error (see ICC(2) below). Use more staff per trust, or "
                "between='observed' (attenuated paths).") from None
        except NotConverged as exc:
            raise ValueError(f"`outcome` {outcome!r}: the count model did not converge ({exc}).") from None
        jack = np.full((G, theta.size), np.nan)
        for k in range(G):
            counts = np.ones(G)
            counts[k] = 0.0
            try:
                jack[k] = corrected(counts)
            except (Singular, NotConverged):
                pass
        okj = np.all(np.isfinite(jack), axis=1)
        if okj.sum() < G - 1 or okj.sum() < 3:
            raise ValueError(f"`by` ({by_col!r}): the corrected between paths could not be computed without "
                             f"{int(G - okj.sum())} of the trusts (jackknife); the trust means are too unreliable. "
                             "Use between='observed' (attenuated paths).")
        dj = jack[okj] - jack[okj].mean(axis=0)
        V = (okj.sum() - 1.0) / okj.sum() * dj.T @ dj
        fits = [Fit(beta=b, cov=V[i:j, i:j], df=float(G - 1), dispersion=f.dispersion, n_obs=float(G))
                for f, b, i, j in _split(theta, fits)]

    # within level: staff-level endogenous variables on staff-level earlier variables (deviations)
    pos = {c: i for i, c in enumerate(staff_cols)}
    D = dev[:, [model_cols.index(c) for c in staff_cols]] if staff_cols else np.zeros((len(codes), 0))
    C = cluster_crossproducts(D, codes, G) if staff_cols else None
    within_eqs: list[_Equation] = []
    within_fits: list[Fit] = []
    for eq in eqs[:-1]:
        if eq.response not in staff_level:
            continue
        terms = tuple(t for t in eq.terms if t in staff_level)
        if not terms:
            continue
        try:
            fit = fit_within(C, pos[eq.response], [pos[t] for t in terms])
        except Singular:
            raise ValueError(f"`predictors`: the within-trust equation of {eq.response!r} is not identified: its "
                             f"staff-level terms {few(list(terms))} are collinear within trusts.") from None
        within_eqs.append(_Equation(eq.response, terms, "gaussian"))
        within_fits.append(fit)

    if method == "bootstrap":
        if between_method == "corrected" and staff_cols:
            refit = corrected
        else:
            def refit(counts):
                return np.concatenate([f.beta for f in _fit_all(between, eqs, counts, estimator, offset, cov=False)])
        draws_theta, failed = _bootstrap(refit, G, gen, n_res, theta.size)
    else:
        draws_theta, failed = _mc_draws(theta, V, gen, n_res), 0
    hint = ("The corrected between paths are unstable with these trusts: use more trusts or staff per trust, "
            "method='monte_carlo' (jackknife covariance), or between='observed' (attenuated paths)."
            if between_method == "corrected" and staff_cols else "Use method='monte_carlo', or more trusts.")
    effects, draws = _finish(theta, V, draws_theta, failed, labels, specs, level, interval, method,
                             failure_name="by", failure_hint=hint)
    paths = _coef_paths(fits, eqs, "between", level)
    if within_fits:
        frames = []
        for fit, eq in zip(within_fits, within_eqs):
            idx = pd.MultiIndex.from_tuples([("within", eq.response, t) for t in eq.terms],
                                            names=["level", "equation", "term"])
            frames.append(coef_table(fit.beta, np.sqrt(np.diag(fit.cov)), index=idx, df=fit.df,
                                     confidence_level=level))
        paths = pd.concat([paths] + frames)

    # reliability of the trust means of staff-level variables
    rel_rows = []
    for c in staff_cols:
        a = oneway_anova(X[:, model_cols.index(c)], codes, G, name="by")
        icc1 = (a.msb - a.msw) / (a.msb + (a.k_mean - 1.0) * a.msw) if a.msb > 0 else math.nan
        icc2 = (a.msb - a.msw) / a.msb if a.msb > 0 else math.nan
        rel_rows.append({"variable": c, "icc1": icc1, "k": a.k_mean, "icc2": icc2})
    reliability = pd.DataFrame(rel_rows, columns=["variable", "icc1", "k", "icc2"]).set_index("variable")
    notes = _notes(family, estimator, method)
    notes.insert(0, f"between level: one row per trust ({by_col}), staff-level variables as trust means; indirect "
                    "effects on the trust-level outcome run through between paths only")
    if within_fits:
        notes.insert(1, "within level: deviations from trust means, pooled within-trust estimator, cluster-robust "
                        "standard errors; reported, not part of any effect on the outcome")
    if between_method == "corrected":
        notes.insert(1, "between paths from trust means corrected for their sampling error (moments: between-trust "
                        "covariance minus the mean sampling covariance of the means"
                        + (f", teams ({by_cols[1]}) included" if len(by_cols) > 1 else "")
                        + "; a count outcome on regression-calibrated means); standard errors by the jackknife over "
                        "trusts")
    weak = [c for c in staff_cols if c != outcome and np.isfinite(reliability.loc[c, "icc2"])
            and reliability.loc[c, "icc2"] < 0.7] if between_method == "observed" else []
    if weak:
        notes.append(f"trust means of {', '.join(weak)} have reliability (ICC(2)) below 0.7: between paths from "
                     "them are attenuated towards zero by about that factor")
        warn(f"the trust means of {few(weak)} have reliability (ICC(2)) below 0.7 "
             f"({', '.join(format(reliability.loc[c, 'icc2'], '.2f') for c in weak)}): between-level paths from observed "
             "trust means are attenuated towards zero; see result.reliability.", SmallGroupWarning)
    n_groups = G
    return MediationResult(
        n_obs=int(rows.sum()), n_dropped=n_dropped, n_groups=n_groups, effects=effects, paths=paths, draws=draws,
        design="multilevel", between=between_method, outcome=outcome, family=family, estimator=estimator,
        method=method, interval=interval,
        by=tuple(by_cols), n_resamples=n_res, n_failed=failed, confidence_level=level,
        dispersion=float(fits[-1].dispersion), reliability=reliability, notes=tuple(notes))
