"""Non-independence: ICC(1), ICC(2), three-level VPCs and design effects.

Staff in the same team answer alike. This module measures how much: the
one-way ANOVA intraclass correlations of Bliese (2000) as in R multilevel,
variance partition coefficients for staff in teams in trusts (unbalanced
nested ANOVA, or REML through the exact nested engine of
:mod:`teamculture.multilevel`), the reliability of group means, design
effects and effective sample sizes, and two-stage bootstrap intervals.

All functions take a response and group labels (one per row, matched by
index; a DataFrame of label columns for nested groups, outer first). Rows
with a missing response or label are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture._core.groups import oneway_anova
from teamculture._core.validation import check_choice, check_confidence_level, check_int, check_rng, few
from teamculture._core.warn import warn
from teamculture.aggregation._common import drop_rows, extreme_scale, prepare
from teamculture.results import Result, Summary, result_class

__all__ = ["icc1", "icc2", "icc", "ICCResult", "design_effect"]

_K_RULES = ("mean", "adjusted")


# ----------------------------------------------------------------------------
# NumPy core
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Components:
    """Variance components and the ICCs derived from them (one fit)."""

    tau: tuple[float, ...]  # group-level variances, outer first
    sigma2: float
    icc1: float
    icc2: float
    k: float
    k_mean: float
    mean_squares: dict[str, float] = field(default_factory=dict)
    converged: bool = True
    df: tuple[float, ...] = ()  # (between, within) of the one-way ANOVA

    @property
    def total(self) -> float:
        return float(sum(self.tau) + self.sigma2)

    def vpc(self) -> np.ndarray:
        t = self.total
        return np.asarray(self.tau) / t if t > 0 else np.full(len(self.tau), np.nan)

    def row(self) -> list[float]:
        """icc1, icc2, then the VPC of each level (the bootstrap's statistics)."""
        return [self.icc1, self.icc2, *self.vpc().tolist()]


def _ratio(num: float, den: float) -> float:
    """``num / den`` as IEEE floats (inf for a zero denominator, NaN for 0/0), without warnings."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))


def _icc1_of(msb: float, msw: float, k: float) -> float:
    return _ratio(msb - msw, msb + (k - 1.0) * msw)


def _icc2_of(msb: float, msw: float) -> float:
    return _ratio(msb - msw, msb)


def _spearman_brown(i1: float, k: float) -> float:
    return _ratio(k * i1, 1.0 + (k - 1.0) * i1)


def _inner_k(codes: np.ndarray, n_groups: int, k_rule: str) -> tuple[float, float]:
    """(k used, mean k) of the innermost groups: mean size N/G or the adjusted k0."""
    cnt = np.bincount(codes, minlength=n_groups).astype(float)
    cnt = cnt[cnt > 0]
    N = float(cnt.sum())
    k_mean = N / cnt.size
    if k_rule == "mean" or cnt.size < 2:
        return k_mean, k_mean
    return (N - float(np.sum(cnt ** 2)) / N) / (cnt.size - 1), k_mean


@dataclass(frozen=True)
class _NestedAnova:
    """Unbalanced two-stage nested ANOVA: components, mean squares and EMS coefficients."""

    tau_outer: float
    tau_inner: float
    sigma2: float
    ms_outer: float
    ms_inner: float
    ms_within: float
    c1: float
    c2: float
    c3: float
    n_outer: int
    n_inner: int


def _nested_anova(v: np.ndarray, outer: np.ndarray, inner: np.ndarray) -> _NestedAnova:
    """Unbalanced two-stage nested ANOVA (inner groups within outer groups).

    ``inner`` codes are unique across outer groups. The variance components
    come from the expected mean squares (they may be negative). The caller
    has checked that both variances are identifiable.
    """
    N = v.size
    a_cnt = np.bincount(outer).astype(float)
    b_cnt = np.bincount(inner).astype(float)
    a_present = a_cnt > 0
    b_present = b_cnt > 0
    a = int(a_present.sum())
    b = int(b_present.sum())
    inner_outer = np.zeros(b_cnt.size, dtype=np.intp)
    inner_outer[inner] = outer
    m_b = np.bincount(inner, weights=v, minlength=b_cnt.size) / np.where(b_present, b_cnt, 1.0)
    m_a = np.bincount(outer, weights=v, minlength=a_cnt.size) / np.where(a_present, a_cnt, 1.0)
    grand = v.mean()
    d = v - m_b[inner]
    ss_w = float(d @ d)
    ss_b = float(np.sum(b_cnt[b_present] * (m_b[b_present] - m_a[inner_outer[b_present]]) ** 2))
    ss_a = float(np.sum(a_cnt[a_present] * (m_a[a_present] - grand) ** 2))
    ms_a, ms_b, ms_w = ss_a / (a - 1), ss_b / (b - a), ss_w / (N - b)
    s_ij2_over_ni = float(np.sum(b_cnt[b_present] ** 2 / a_cnt[inner_outer[b_present]]))
    s_ij2 = float(np.sum(b_cnt ** 2))
    s_i2 = float(np.sum(a_cnt ** 2))
    c1 = (N - s_ij2_over_ni) / (b - a)
    c2 = (s_ij2_over_ni - s_ij2 / N) / (a - 1)
    c3 = (N - s_i2 / N) / (a - 1)
    tau_b = (ms_b - ms_w) / c1
    tau_a = (ms_a - ms_w - c2 * tau_b) / c3
    return _NestedAnova(tau_a, tau_b, ms_w, ms_a, ms_b, ms_w, c1, c2, c3, a, b)


def _identifiable(v: np.ndarray, codes: list[np.ndarray], names: list[str]) -> str | None:
    """Why the components cannot be estimated from these groups, or ``None``."""
    sizes = [int(np.unique(c).size) for c in codes]
    if sizes[0] < 2:
        return (f"`groups` must have at least two groups at the level {names[0]!r} (with a value of `x`); got "
                f"{sizes[0]}: a variance between groups cannot be estimated from one group")
    for lev in range(1, len(codes)):
        if sizes[lev] <= sizes[lev - 1]:
            return (f"`groups`: every {names[lev - 1]!r} group holds a single {names[lev]!r} group, so the two "
                    f"variances cannot be told apart (pass the levels outer first, e.g. [trust, team], and a level "
                    "only once)")
    if v.size - sizes[-1] < 1:
        return (f"`groups`: every {names[-1]!r} group has one member (with a value of `x`), so the within-group "
                "variance cannot be estimated")
    return None


def _anova_components(v: np.ndarray, codes: list[np.ndarray], k_rule: str) -> _Components:
    """ANOVA components of one or two levels (identifiability and constancy checked by the caller)."""
    if len(codes) == 1:
        c = codes[0]
        G = int(c.max()) + 1
        a = oneway_anova(v, c, G)
        k = a.k_mean if k_rule == "mean" else a.k_adjusted
        i1 = _icc1_of(a.msb, a.msw, k)
        return _Components(tau=(_ratio(a.msb - a.msw, k),), sigma2=a.msw, icc1=i1, icc2=_spearman_brown(i1, k),
                           k=k, k_mean=a.k_mean, mean_squares={"between": a.msb, "within": a.msw},
                           df=(float(a.df_between), float(a.df_within)))
    r = _nested_anova(v, codes[0], codes[1])
    k_mean = v.size / r.n_inner
    k = k_mean if k_rule == "mean" else r.c1
    total = r.tau_outer + r.tau_inner + r.sigma2
    i1 = _ratio(r.tau_outer + r.tau_inner, total)
    return _Components(tau=(r.tau_outer, r.tau_inner), sigma2=r.sigma2, icc1=i1, icc2=_spearman_brown(i1, k),
                       k=k, k_mean=k_mean,
                       mean_squares={"outer": r.ms_outer, "inner": r.ms_inner, "within": r.ms_within})


def _reml_components(v: np.ndarray, codes: list[np.ndarray], k_rule: str) -> _Components:
    """REML components from the exact nested engine (array route: sums, then the profiled fit)."""
    from teamculture.multilevel import NestedModel, nested_suffstats  # lazy: a heavier area

    fit = NestedModel(nested_suffstats(np.ones((v.size, 1)), v, codes)).fit(reml=True)
    tau = tuple(float(t) for t in fit.variances)
    sigma2 = float(fit.sigma2)
    i1 = _ratio(sum(tau), sum(tau) + sigma2)
    k, k_mean = _inner_k(codes[-1], int(codes[-1].max()) + 1, k_rule)
    return _Components(tau=tau, sigma2=sigma2, icc1=i1, icc2=_spearman_brown(i1, k), k=k, k_mean=k_mean,
                       converged=bool(fit.converged))


def _compact(codes: list[np.ndarray]) -> list[np.ndarray]:
    """Codes renumbered 0..G-1 per level in sorted order (groups without rows disappear)."""
    return [pd.factorize(c, sort=True)[0].astype(np.intp) for c in codes]


# ----------------------------------------------------------------------------
# icc1, icc2
# ----------------------------------------------------------------------------
def _warn_negative(what: str, cols: list[Any], values: list[float], single: bool) -> None:
    bad = [(c, v) for c, v in zip(cols, values) if v < 0]
    if not bad:
        return
    where = "" if single else f" for column(s) {few([c for c, _ in bad])}"
    shown = ", ".join(f"{v:.4g}" for _, v in bad[:5])
    warn(f"{what} is negative{where} ({shown}): the group means differ less than chance (MSB < MSW), so the "
         "implied between-group variance is below zero, outside its parameter space. Read it as no detectable "
         f"group effect (R multilevel reports the same negative value).", BoundaryWarning)


def _per_column(x: Any, groups: Any, *, what: str, nan_policy: str, k_rule: str | None) -> float | pd.Series:
    p = prepare(x, groups, name="x", what=what, nan_policy=nan_policy)
    miss = np.isnan(p.x)
    if p.x.shape[1] == 1:
        drop_rows(miss[:, 0], "omit", name="x", what=what, index=p.index)
    elif miss.any():
        counts = miss.sum(axis=0)
        detail = ", ".join(f"{c!r}: {int(n)}" for c, n in zip(p.columns, counts) if n)
        warn(f"{int(counts.sum())} missing value(s) of `x` were dropped before computing {what}, each column "
             f"using its own rows (nan_policy='omit'): {detail}.", DroppedDataWarning)
    out: list[float] = []
    constant = []
    for j in range(p.x.shape[1]):
        if miss[:, j].any():
            keep = ~miss[:, j]
            v, codes = p.x[keep, j], p.codes[keep]
        else:  # no copies of complete columns
            v, codes = p.x[:, j], p.codes
        s = extreme_scale(v)  # scale-free: exact, and only for values beyond 2**+-200
        if s != 1.0:
            v = v / s
        a = oneway_anova(v, codes, p.n_groups, name="groups")
        if np.ptp(v) == 0:
            constant.append(p.columns[j])
            out.append(float("nan"))
        elif k_rule is None:
            out.append(_icc2_of(a.msb, a.msw))
        else:
            out.append(_icc1_of(a.msb, a.msw, a.k_mean if k_rule == "mean" else a.k_adjusted))
    single = not (isinstance(x, pd.DataFrame) or np.ndim(x) == 2)
    if constant:
        where = "" if single else f" column(s) {few(constant)}"
        warn(f"`x`{where} is constant (no variance within or between groups), so {what} is undefined (NaN).",
             DegenerateDataWarning)
    _warn_negative("ICC(1)" if k_rule is not None else "ICC(2)", p.columns, out, single)
    if not single:
        return pd.Series(out, index=pd.Index(p.columns), name=what, dtype=float)
    return out[0]


def _validate_icc1(k: Any) -> str:
    return check_choice("k", k, _K_RULES)


def icc1(x: Any, groups: Any, *, k: str = "mean", nan_policy: str = "omit") -> float | pd.Series:
    """ICC(1) from a one-way ANOVA: the share of variance due to group membership.

    Parameters
    ----------
    x : Series, array_like or DataFrame
        Response(s); a DataFrame gives one ICC(1) per column, each computed
        on the rows where that column has a value (as separate calls would).
    groups : Series, array_like or DataFrame
        Group label of each row, matched to ``x`` by index (nested label
        columns: the innermost groups are used).
    k : {"mean", "adjusted"}, default "mean"
        Group size in the formula: ``"mean"`` is N/G, as R multilevel's
        ``ICC1``; ``"adjusted"`` is the ANOVA literature's
        :math:`k_0 = (N - \\sum n_g^2/N)/(G - 1)`, which makes the estimator
        unbiased-ish for unbalanced groups (the two agree when groups are
        equal). The default follows R so numbers can be checked against it.
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing value or label: dropped and counted in a
        :class:`~teamculture.errors.DroppedDataWarning`, or an error.

    Returns
    -------
    float or Series
        ICC(1): a float for one variable, a Series indexed by column for a
        DataFrame. Negative when groups differ less than chance (flagged
        with a :class:`~teamculture.errors.BoundaryWarning`); NaN for a
        constant variable (with a :class:`~teamculture.errors.DegenerateDataWarning`).

    Notes
    -----
    .. math:: ICC(1) = \\frac{MSB - MSW}{MSB + (k - 1) MSW}

    :func:`icc` gives the same ICC(1) with its F test (MSB/MSW on G - 1 and
    N - G degrees of freedom) and an analytic confidence interval.

    R: ``multilevel::ICC1(aov(y ~ as.factor(grp)))``.

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. In K. J. Klein & S. W. J. Kozlowski (Eds.),
       Multilevel theory, research, and methods in organizations
       (pp. 349-381). Jossey-Bass.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.icc1([1, 2, 3, 5, 6, 7], ["a", "a", "a", "b", "b", "b"])  # MSB 24, MSW 1: 23/26
    0.8846153846153846
    """
    k = _validate_icc1(k)
    return _per_column(x, groups, what="icc1", nan_policy=nan_policy, k_rule=k)


def icc2(x: Any, groups: Any, *, nan_policy: str = "omit") -> float | pd.Series:
    """ICC(2) from a one-way ANOVA: the reliability of the group means.

    Parameters
    ----------
    x : Series, array_like or DataFrame
        Response(s); a DataFrame gives one ICC(2) per column (each on its
        own non-missing rows).
    groups : Series, array_like or DataFrame
        Group label of each row, matched to ``x`` by index.
    nan_policy : {"omit", "raise"}, default "omit"
        As in :func:`icc1`.

    Returns
    -------
    float or Series
        ICC(2): a float for one variable, a Series for a DataFrame.
        Negative (flagged with a :class:`~teamculture.errors.BoundaryWarning`)
        when MSB < MSW, ``-inf`` when the group means are all equal.

    Notes
    -----
    .. math:: ICC(2) = \\frac{MSB - MSW}{MSB}

    which equals the Spearman-Brown step-up of ICC(1) (with ``k="mean"``)
    at the mean group size k: :math:`k\\,ICC(1)/(1 + (k - 1) ICC(1))`.

    R: ``multilevel::ICC2(aov(y ~ as.factor(grp)))``.

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.icc2([1, 2, 3, 5, 6, 7], ["a", "a", "a", "b", "b", "b"])  # 23/24
    0.9583333333333334
    """
    return _per_column(x, groups, what="icc2", nan_policy=nan_policy, k_rule=None)


# ----------------------------------------------------------------------------
# design effect
# ----------------------------------------------------------------------------
def _as_float_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a number or an array of numbers; got {value!r}.")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number or an array of numbers; got {type(value).__name__}.") from None
    return arr


def _validate_design_effect(icc: Any, mean_group_size: Any) -> tuple[np.ndarray, np.ndarray]:
    r = _as_float_array(icc, "icc")
    m = _as_float_array(mean_group_size, "mean_group_size")
    bad_m = np.atleast_1d(~np.isfinite(m) | (m < 1))
    if bad_m.any():
        raise ValueError(f"`mean_group_size` must be finite and >= 1 (members per group); got "
                         f"{few(np.atleast_1d(m)[bad_m].tolist())}.")
    with np.errstate(invalid="ignore"):
        bad_r = np.atleast_1d(np.isinf(r) | (np.abs(r) > 1))
    if bad_r.any():
        raise ValueError(f"`icc` must lie in [-1, 1]; got {few(np.atleast_1d(r)[bad_r].tolist())}.")
    try:
        r, m = np.broadcast_arrays(r, m)
    except ValueError:
        raise ValueError(f"`icc` (shape {r.shape}) and `mean_group_size` (shape {m.shape}) must have the same shape "
                         "or broadcast.") from None
    with np.errstate(invalid="ignore"):
        bad = np.atleast_1d(1.0 + (m - 1.0) * r <= 0)
    if bad.any():
        raise ValueError(
            f"`icc` is at or below -1/(m - 1) for groups of size m at position(s) {few(np.flatnonzero(bad).tolist())}: "
            "no intraclass correlation of groups that size is that negative (the design effect would be <= 0)."
        )
    return r, m


def design_effect(icc: Any, mean_group_size: Any) -> float | np.ndarray:
    """Kish's design effect of a cluster sample: 1 + (m - 1) ICC.

    Parameters
    ----------
    icc : float or array_like
        Intraclass correlation ICC(1), in [-1, 1] (NaN gives NaN).
    mean_group_size : float or array_like
        Mean number of respondents per group, m (>= 1).

    Returns
    -------
    float or ndarray
        The factor by which clustering inflates the variance of a mean;
        the effective sample size is N / design effect.

    Notes
    -----
    :math:`\\text{deff} = 1 + (\\bar m - 1)\\,ICC(1)`. An ICC below
    :math:`-1/(m - 1)` is impossible for groups of size m and is refused.

    R: none (in R write ``1 + (m - 1) * ICC1(aov(...))``).

    References
    ----------
    .. [1] Kish, L. (1965). Survey sampling. Wiley.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.design_effect(0.1, 28)
    3.7
    """
    r, m = _validate_design_effect(icc, mean_group_size)
    out = 1.0 + (m - 1.0) * r
    return float(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------
# icc(): full result, two or three levels
# ----------------------------------------------------------------------------
@result_class
class ICCResult(Result):
    """Intraclass correlations of staff nested in groups (from :func:`icc`).

    Attributes
    ----------
    method : str
        ``"anova"`` or ``"reml"``.
    levels : tuple of str
        Names of the grouping levels, outermost first (e.g. ``("trust",
        "team")``).
    variance_components : Series
        Estimated variances indexed by level name then ``"residual"``.
        ANOVA estimates may be negative (flagged with a
        :class:`~teamculture.errors.BoundaryWarning`).
    vpc : Series
        Variance partition coefficient of each level: its variance over the
        total (negative components kept as estimated).
    icc1 : float
        Correlation between two members of the same innermost group:
        the sum of all group-level variances over the total.
    icc2 : float
        Reliability of the innermost group means at group size ``k``:
        :math:`k\\,ICC1/(1 + (k - 1)ICC1)` (for the two-level ANOVA with
        ``k="mean"`` this equals :math:`(MSB - MSW)/MSB`).
    k : float
        Innermost group size used (mean N/G or the adjusted k0).
    design_effect : float
        :math:`1 + (\\bar m - 1)\\,ICC1` with :math:`\\bar m` the mean
        innermost group size.
    effective_n : float
        ``n_obs / design_effect`` (NaN when the design effect is not positive).
    mean_squares : Series
        ANOVA mean squares (empty for REML).
    converged : bool
        Whether the REML optimiser confirmed convergence (always True for ANOVA).
    n_resamples : int
        Bootstrap replicates (0: none).
    confidence_level : float
        Coverage of the intervals of :meth:`to_frame`.
    statistic : float
        Two levels, ANOVA: the F statistic MSB/MSW of the one-way ANOVA,
        which tests ICC(1) = 0 (Bliese 2000; R's ``summary(aov(y ~ group))``).
        NaN for three levels and for REML.
    df_between, df_within : float
        Its degrees of freedom, G - 1 and N - G (NaN where ``statistic`` is).
    pvalue : float
        ``P(F > statistic)`` (one-sided: groups more alike than chance).
    bootstrap_distribution : ndarray, shape (n_resamples, 2 + levels)
        The bootstrap replicates of icc1, icc2 and each VPC (rows of a
        failed replicate are NaN); :meth:`confidence_interval` recomputes
        percentile intervals from them at any level.
    n_obs : int
        Rows used.
    n_dropped : int
        Rows dropped for a missing response or label.
    n_groups : Series
        Number of groups at each level.
    """

    method: str
    levels: tuple[str, ...]
    variance_components: pd.Series
    vpc: pd.Series
    icc1: float
    icc2: float
    k: float
    design_effect: float
    effective_n: float
    mean_squares: pd.Series
    converged: bool
    n_resamples: int
    confidence_level: float
    bootstrap_distribution: np.ndarray
    statistic: float = float("nan")
    df_between: float = float("nan")
    df_within: float = float("nan")
    pvalue: float = float("nan")

    def _rows(self) -> list[str]:
        return ["icc1", "icc2", *[f"vpc_{lev}" for lev in self.levels]]

    def _analytic(self) -> bool:
        return self.method == "anova" and len(self.levels) == 1 and not np.isnan(self.statistic)

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals of icc1, icc2 and each VPC (columns ``ci_low``, ``ci_high``).

        With a bootstrap (``n_resamples > 0`` in :func:`icc`): percentile
        intervals, recomputed from ``bootstrap_distribution`` at any
        level. Without one, for two levels by ANOVA: the exact F-based
        intervals of the one-way random-effects model (McGraw & Wong 1996,
        case 1; Shrout & Fleiss 1979, ICC(1, 1) and ICC(1, k)), with
        :math:`F_L = F / F_{1-a/2}(df_1, df_2)` and
        :math:`F_U = F \\cdot F_{1-a/2}(df_2, df_1)`:
        ICC(1) in :math:`[(F_L - 1)/(F_L + k - 1), (F_U - 1)/(F_U + k - 1)]`,
        ICC(2) in :math:`[1 - 1/F_L, 1 - 1/F_U]` (R's ``psych::ICC`` rows
        ICC1 and ICC1k for balanced groups; for unbalanced groups ``k`` is
        the group size used by the estimate). ``confidence_level=None``
        uses the level of the fit.
        """
        cl = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        if self.n_resamples == 0:
            if not self._analytic():
                raise ValueError("This ICCResult has no bootstrap draws (`n_resamples`=0), and analytic F-based "
                                 "intervals exist for two levels by ANOVA only; refit with "
                                 "icc(..., n_resamples=1000) for intervals.")
            return self._f_interval(cl)
        tail = (1.0 - cl) / 2.0
        low, high = [], []
        for j in range(self.bootstrap_distribution.shape[1]):
            col = self.bootstrap_distribution[:, j]
            col = col[np.isfinite(col)]
            if col.size:
                low.append(float(np.quantile(col, tail)))
                high.append(float(np.quantile(col, 1.0 - tail)))
            else:
                low.append(float("nan"))
                high.append(float("nan"))
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=pd.Index(self._rows()))

    def _f_interval(self, cl: float) -> pd.DataFrame:
        from scipy import stats

        a = 1.0 - cl
        F, d1, d2, k = self.statistic, self.df_between, self.df_within, self.k
        if F == np.inf:  # no variance within groups: ICC(1) = ICC(2) = 1 exactly
            return pd.DataFrame({"ci_low": [1.0] * 3, "ci_high": [1.0] * 3}, index=pd.Index(self._rows()))
        fl = _ratio(F, float(stats.f.isf(a / 2.0, d1, d2)))
        fu = F * float(stats.f.isf(a / 2.0, d2, d1))
        i1 = (_ratio(fl - 1.0, fl + k - 1.0), _ratio(fu - 1.0, fu + k - 1.0))
        i2 = (1.0 - _ratio(1.0, fl), 1.0 - _ratio(1.0, fu))
        rows = [i1, i2, i1]
        return pd.DataFrame({"ci_low": [r[0] for r in rows], "ci_high": [r[1] for r in rows]},
                            index=pd.Index(self._rows()), dtype=float)

    def to_frame(self) -> pd.DataFrame:
        """Estimates with their intervals: rows icc1, icc2, vpc_<level>; columns estimate, ci_low, ci_high.

        Bootstrap percentile intervals when there are draws, else the F-based
        intervals for two levels by ANOVA (see :meth:`confidence_interval`),
        else NaN.
        """
        est = [self.icc1, self.icc2, *self.vpc.to_list()]
        if self.n_resamples or self._analytic():
            ci = self.confidence_interval()
            low, high = ci["ci_low"].to_numpy(), ci["ci_high"].to_numpy()
        else:
            low = high = np.full(len(est), np.nan)
        return pd.DataFrame({"estimate": est, "ci_low": low, "ci_high": high}, index=pd.Index(self._rows()),
                            dtype=float)

    def summary(self) -> Summary:
        """Variance components, VPCs, ICCs, design effect, the F test and intervals (bootstrap or F-based)."""
        header = [("method", self.method.upper()), ("levels", " > ".join(self.levels)),
                  ("observations", self.n_obs), ("dropped", self.n_dropped)]
        header += [(f"groups: {lev}", int(n)) for lev, n in self.n_groups.items()]
        header += [("ICC(1)", self.icc1), (f"ICC(2) at k = {self.k:.2f}", self.icc2),
                   ("design effect", self.design_effect), ("effective n", self.effective_n)]
        if not np.isnan(self.statistic):
            header.append(("F test of ICC(1) = 0",
                           f"F({self.df_between:g}, {self.df_within:g}) = {self.statistic:.4g}, "
                           f"p = {self.pvalue:.4g}"))
        comp = pd.DataFrame({"variance": self.variance_components,
                             "vpc": self.vpc.reindex(self.variance_components.index)})
        tables = [("variance components", comp)]
        if self.n_resamples:
            tables.append((f"{self.confidence_level:.0%} bootstrap intervals ({self.n_resamples} replicates)",
                           self.to_frame()))
        elif self._analytic():
            tables.append((f"{self.confidence_level:.0%} F-based intervals (McGraw & Wong 1996, case 1)",
                           self.to_frame()))
        notes = []
        if not self.converged:
            notes.append("the REML optimiser did not confirm convergence; the estimates may be off")
        negative = [lev for lev, v in self.variance_components.items() if v < 0]
        if negative:
            notes.append(f"negative ANOVA variance estimate(s) for {', '.join(map(str, negative))}: outside the "
                         "parameter space; read as zero")
        return Summary(f"Intraclass correlations ({self.method.upper()})", header=header, tables=tables,
                       notes=notes)


def _cluster_indices(rng: np.random.Generator, codes: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One bootstrap sample: outermost groups drawn with replacement, members kept.

    Returns the row indices and the group codes of the sample (a group drawn
    twice becomes two groups).
    """
    top = codes[0]
    order = np.argsort(top, kind="stable")
    cnt = np.bincount(top)
    start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
    chosen = rng.integers(0, cnt.size, cnt.size)
    sizes = cnt[chosen]
    rows = order[np.repeat(start[chosen], sizes) + _ranges(sizes)]
    draw = np.repeat(np.arange(chosen.size), sizes)
    new_codes = [draw]
    if len(codes) == 2:
        inner = codes[1][rows].astype(np.int64) + draw.astype(np.int64) * (int(codes[1].max()) + 1)
        new_codes.append(pd.factorize(inner)[0].astype(np.intp))
    return rows, new_codes


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s)`` for each s in ``sizes``."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if ends.size else 0) - np.repeat(ends - sizes, sizes)


def _bootstrap(rng: np.random.Generator, v: np.ndarray, codes: list[np.ndarray], k_rule: str, n_resamples: int,
               names: list[str]) -> np.ndarray:
    boot = np.full((n_resamples, 2 + len(codes)), np.nan)
    for b in range(n_resamples):
        idx, new_codes = _cluster_indices(rng, codes)
        vb = v[idx]
        if _identifiable(vb, new_codes, names) is not None or np.ptp(vb) == 0:
            continue
        boot[b] = _anova_components(vb, new_codes, k_rule).row()
    failed = int(np.isnan(boot).any(axis=1).sum())
    if failed:
        warn(f"{failed} of {n_resamples} bootstrap replicate(s) could not be computed (a resample with too few "
             "distinct groups or no variance); the intervals use the other replicates.", DegenerateDataWarning)
    return boot


def _validate_icc(method: Any, k: Any, n_resamples: Any, confidence_level: Any, rng: Any
                  ) -> tuple[str, str, int, float, np.random.Generator]:
    method = check_choice("method", method, ("anova", "reml"))
    k = check_choice("k", k, _K_RULES)
    nr = check_int("n_resamples", n_resamples, minimum=0)
    if nr == 1:  # a percentile interval of one replicate has zero width and need not contain the estimate
        raise ValueError("`n_resamples` must be 0 (no bootstrap) or at least 2; got 1 (percentile intervals need "
                         "several replicates; 1000 or more is usual).")
    cl = check_confidence_level(confidence_level)
    gen = check_rng(rng)
    if nr and method != "anova":
        raise ValueError("`n_resamples` > 0 (bootstrap intervals) is available for method='anova' only "
                         "(refitting REML per replicate is not implemented).")
    return method, k, nr, cl, gen


def icc(x: Any, groups: Any, *, method: str = "anova", k: str = "mean", n_resamples: int = 0,
        confidence_level: float = 0.95, rng: Any = None, nan_policy: str = "omit") -> ICCResult:
    """Intraclass correlations, VPCs, group-mean reliability and design effect.

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        Response.
    groups : Series, array_like, or DataFrame / list of label columns
        One label per row for two levels (staff in teams), or columns
        ``[outer, inner]`` for three levels (staff in teams in trusts), e.g.
        ``staff[["trust", "team"]]``. Inner groups are identified within
        their outer group (lme4's ``(1 | trust/team)``), so local team
        numbers reused across trusts are safe. Matched to ``x`` by index.
        ``method="reml"`` takes any number of nested levels.
    method : {"anova", "reml"}, default "anova"
        ``"anova"``: one-way ANOVA (two levels, Bliese's ICC(1)) or the
        unbalanced two-stage nested ANOVA (three levels), closed form.
        ``"reml"``: variance components of ``y ~ 1 + (1 | outer/inner)`` by
        REML (the exact nested engine of :mod:`teamculture.multilevel`, the
        same numbers as :func:`teamculture.mixed`).
    k : {"mean", "adjusted"}, default "mean"
        Group size in ICC(1) (two-level ANOVA) and in the Spearman-Brown
        reliability ``icc2``: mean size N/G (R multilevel) or the adjusted
        k0 (see :func:`icc1`; for three levels the adjusted size is the
        coefficient c1 of the team variance below).
    n_resamples : int, default 0
        Bootstrap replicates for percentile intervals (ANOVA only; at least
        three outermost groups): 0 (none) or at least 2.
    confidence_level : float, default 0.95
        Coverage of the intervals.
    rng : int, numpy.random.Generator or None
        Random number generator or seed for the bootstrap.
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing response or label: dropped and counted, or an error.

    Returns
    -------
    ICCResult

    Notes
    -----
    Two levels (ANOVA, Bliese 2000): ICC(1) = (MSB - MSW)/(MSB + (k - 1)MSW);
    the group variance implied is tau = (MSB - MSW)/k and sigma^2 = MSW.

    Three levels (ANOVA): sums of squares between outer groups (A), between
    inner groups within outer groups (B) and within inner groups (W), with
    expected mean squares E[MS_W] = sigma^2,
    E[MS_B] = sigma^2 + c1 tau_B, E[MS_A] = sigma^2 + c2 tau_B + c3 tau_A,

    .. math::

        c_1 = \\frac{N - \\sum_{ij} n_{ij}^2/n_i}{b - a},\\quad
        c_2 = \\frac{\\sum_{ij} n_{ij}^2/n_i - \\sum_{ij} n_{ij}^2/N}{a - 1},\\quad
        c_3 = \\frac{N - \\sum_i n_i^2/N}{a - 1},

    solved for the components (Searle, Casella & McCulloch 1992, sec. 5.2);
    for balanced data these equal the REML estimates when positive. A
    negative ANOVA component is reported as estimated and flagged with a
    :class:`~teamculture.errors.BoundaryWarning`; a REML component at zero
    likewise. VPC of a level = its variance / total; ICC1 (two members of one
    inner group) = sum of the group variances / total; ICC2 = k ICC1/(1 +
    (k - 1) ICC1); design effect = 1 + (k_mean - 1) ICC1 (Kish), effective
    n = N/deff. One outermost group, a level whose every group holds a single
    group of the next level, or groups of one member make a variance
    unidentifiable and raise an error.

    F test and analytic intervals (two levels, ANOVA): ``statistic`` =
    MSB/MSW on (G - 1, N - G) degrees of freedom tests ICC(1) = 0, the test
    Bliese (2000) reports (R: ``summary(aov(y ~ factor(group)))``); without a
    bootstrap, :meth:`ICCResult.confidence_interval` gives the exact F-based
    intervals of the one-way random-effects model (McGraw & Wong 1996, case
    1; Shrout & Fleiss 1979): with :math:`F_L = F/F_{1-a/2}(G-1, N-G)` and
    :math:`F_U = F\\,F_{1-a/2}(N-G, G-1)`, ICC(1) lies in
    :math:`[(F_L-1)/(F_L+k-1),\\,(F_U-1)/(F_U+k-1)]` and ICC(2) in
    :math:`[1-1/F_L,\\,1-1/F_U]` (R's ``psych::ICC`` rows ICC1 and ICC1k for
    equal groups; for unequal groups the F distribution is approximate and
    ``k`` is the group size of the estimate, ``k="adjusted"`` being the
    usual choice).

    Intervals: the two-stage bootstrap in the form Davison and Hinkley
    (1997, sec. 3.8) recommend, groups with replacement at the first stage
    and members *without* replacement at the second (each drawn group keeps
    its members; for three levels the outer groups are drawn, keeping their
    inner groups), then the ANOVA estimates are recomputed and the
    percentile interval reported. Resampling members with replacement as
    well would duplicate respondents inside a group and inflate the ICC
    (Field & Welsh 2007). With few outer groups (e.g. 20 trusts) the
    intervals are rough; fewer than three are refused.

    R: ``multilevel::ICC1``/``ICC2`` (ANOVA), ``lme4::VarCorr(lmer(y ~ 1 + (1 | trust/team)))`` (REML).

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.
    .. [2] Searle, S. R., Casella, G., & McCulloch, C. E. (1992). Variance
       components. Wiley.
    .. [3] Davison, A. C., & Hinkley, D. V. (1997). Bootstrap methods and
       their application. Cambridge University Press.
    .. [4] Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data.
       JRSS B, 69, 369-390.
    .. [5] McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some
       intraclass correlation coefficients. Psychological Methods, 1, 30-46.
    .. [6] Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations:
       uses in assessing rater reliability. Psychological Bulletin, 86, 420-428.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("small", rng=3)
    >>> res = tc.icc(sv.staff["latent_engagement"], sv.staff[["trust", "team"]])
    >>> res.levels
    ('trust', 'team')
    >>> [round(float(v), 2) for v in res.vpc]
    [0.04, 0.1]
    >>> two = tc.icc(sv.staff["latent_engagement"], sv.staff["team"])  # staff in teams: the F test
    >>> two.df_between, two.df_within, bool(two.pvalue < 0.001)
    (499.0, 9500.0, True)
    >>> lo, hi = two.confidence_interval().loc["icc1"]  # F-based, no bootstrap needed
    >>> bool(lo < two.icc1 < hi)
    True
    """
    method, k, nr, cl, gen = _validate_icc(method, k, n_resamples, confidence_level, rng)
    n_levels = groups.shape[1] if isinstance(groups, pd.DataFrame) else (
        len(groups) if isinstance(groups, (list, tuple)) and all(np.ndim(c) == 1 and len(c) > 0 and
                                                                 not np.isscalar(c) for c in groups) else 1)
    if method == "anova" and n_levels > 2:
        raise ValueError(f"`groups` has {n_levels} label columns; method='anova' takes one or two levels (outer, "
                         "inner). Use method='reml' for deeper nesting.")
    p = prepare(x, groups, name="x", what="ICCs", nan_policy=nan_policy, single=True,
                max_levels=2 if method == "anova" else None,
                single_hint=" Call icc once per variable (icc1/icc2 take a DataFrame).")
    names = list(p.groups.names)
    v = p.x[:, 0]
    keep, n_missing = drop_rows(np.isnan(v), "omit", name="x", what="ICCs", index=p.index)
    codes = list(p.level_codes)
    if keep is not None:
        v = v[keep]
        codes = _compact([c[keep] for c in codes])
    scale = extreme_scale(v)  # ICCs are scale-free; variances are scaled back below
    v = v / scale
    why = _identifiable(v, codes, names)
    if why is not None:
        raise ValueError(why + ".")
    if nr and int(codes[0].max()) + 1 < 3:
        raise ValueError(f"`n_resamples` > 0 needs at least three {names[0]!r} groups for a cluster bootstrap "
                         f"(resampling {int(codes[0].max()) + 1} groups gives no usable interval); got "
                         f"{int(codes[0].max()) + 1}.")
    n_groups = pd.Series([int(c.max()) + 1 for c in codes], index=names, dtype=np.int64)
    L = len(codes)
    boot = np.empty((0, 2 + L))
    if np.ptp(v) == 0:
        warn("`x` is constant (no variance within or between groups), so the ICCs and VPCs are undefined (NaN).",
             DegenerateDataWarning)
        nan = float("nan")
        comp = _Components(tau=(nan,) * L, sigma2=nan, icc1=nan, icc2=nan, k=nan,
                           k_mean=_inner_k(codes[-1], int(codes[-1].max()) + 1, "mean")[1])
    elif method == "anova":
        comp = _anova_components(v, codes, k)
        if nr:
            boot = _bootstrap(gen, v, codes, k, nr, names)
    else:
        comp = _reml_components(v, codes, k)
    _flag_components(comp, names, method)
    f_test = _f_test(comp) if method == "anova" and L == 1 else (float("nan"),) * 4
    s2 = scale * scale
    deff = 1.0 + (comp.k_mean - 1.0) * comp.icc1
    return ICCResult(
        method=method,
        levels=tuple(names),
        variance_components=pd.Series([*comp.tau, comp.sigma2], index=[*names, "residual"], dtype=float) * s2,
        vpc=pd.Series(comp.vpc(), index=names, dtype=float),
        icc1=float(comp.icc1),
        icc2=float(comp.icc2),
        k=float(comp.k),
        design_effect=float(deff),
        effective_n=float(v.size / deff) if deff > 0 else float("nan"),
        mean_squares=pd.Series(comp.mean_squares, dtype=float) * s2,
        converged=comp.converged,
        n_resamples=nr,
        confidence_level=cl,
        bootstrap_distribution=boot,
        statistic=f_test[0],
        df_between=f_test[1],
        df_within=f_test[2],
        pvalue=f_test[3],
        n_obs=int(v.size),
        n_dropped=int(p.n_unlabelled + n_missing),
        n_groups=n_groups,
    )


def _f_test(comp: _Components) -> tuple[float, float, float, float]:
    """F = MSB/MSW of the one-way ANOVA with its df and p-value (``sf``, never ``1 - cdf``)."""
    from scipy import stats

    ms = comp.mean_squares
    if "between" not in ms or not comp.df or not np.isfinite(ms["between"]):
        return (float("nan"),) * 4
    d1, d2 = comp.df
    F = _ratio(ms["between"], ms["within"])
    p = float(stats.f.sf(F, d1, d2)) if np.isfinite(F) else (0.0 if F == np.inf else float("nan"))
    return float(F), d1, d2, p


def _flag_components(comp: _Components, names: list[str], method: str) -> None:
    if not comp.converged:
        warn("The REML optimiser did not confirm convergence for the ICCs (converged=False); the variance "
             "components may be off.", ConvergenceWarning)
    tau = np.asarray(comp.tau)
    if method == "anova":
        neg = [f"{n!r} ({t:.4g})" for n, t in zip(names, tau) if t < 0]
        if neg:
            warn(f"The ANOVA estimate of the variance of {', '.join(neg)} is negative, outside its parameter space "
                 "(the groups differ less than chance); the VPC and ICCs are reported as estimated. Read it as "
                 "zero, or use method='reml', which keeps variances >= 0.", BoundaryWarning)
    else:
        zero = [repr(n) for n, t in zip(names, tau) if t <= 0]
        if zero:
            warn(f"The REML estimate of the variance of {', '.join(zero)} is zero, on the boundary of its parameter "
                 "space (a singular fit): the data show no variance between those groups beyond chance.",
                 BoundaryWarning)
