"""Effect-size conversions: Cohen's d and Hedges' g, d <-> r, d <-> odds ratio, Fisher-z intervals.

Standardised coefficients and the local f² of multilevel models live in
:mod:`teamculture.multilevel`; the translation of a coefficient into deaths per
year lives in :mod:`teamculture.outcomes`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from teamculture._core.errors import DegenerateDataWarning
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    as_float_vector,
    check_bool,
    check_confidence_level,
    check_int,
    check_nan_policy,
    check_real,
)
from teamculture._core.warn import warn
from teamculture.results import ConfidenceInterval

__all__ = [
    "cohens_d",
    "hedges_g",
    "hedges_correction",
    "d_to_r",
    "r_to_d",
    "d_to_odds_ratio",
    "odds_ratio_to_d",
    "fisher_z_interval",
]


# --------------------------------------------------------------------------- helpers
def _array(name: str, value: Any) -> np.ndarray:
    """A float array (any shape, NaN propagates) or ``TypeError`` naming ``name``."""
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"`{name}` must be numeric; got {value!r}.")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be numeric; got {type(value).__name__} {value!r:.60}.") from None
    return arr


def _out(arr: np.ndarray) -> Any:
    return float(arr) if arr.ndim == 0 else arr


def _sample(name: str, values: Any, nan_policy: str) -> np.ndarray:
    """One sample as a 1-d float array without its missing values (counted under ``nan_policy``)."""
    if np.ndim(values) == 0:
        raise ValueError(f"`{name}` must be a sample (a list, array or Series of values); got the scalar {values!r}.")
    arr = as_float_vector(values, name=name).ravel()
    keep, _ = apply_nan_policy(np.isnan(arr), nan_policy, name=name, what="the effect size")
    if keep is not None:
        arr = arr[keep]
    if arr.size < 2:
        raise ValueError(f"`{name}` needs at least 2 non-missing values; got {arr.size}.")
    return arr


def _two_samples(x: Any, y: Any, nan_policy: Any) -> tuple[np.ndarray, np.ndarray]:
    nan_policy = check_nan_policy(nan_policy)
    return _sample("x", x, nan_policy), _sample("y", y, nan_policy)


def _pooled_d(xs: np.ndarray, ys: np.ndarray) -> float:
    n1, n2 = xs.size, ys.size
    sp2 = ((n1 - 1) * xs.var(ddof=1) + (n2 - 1) * ys.var(ddof=1)) / (n1 + n2 - 2)
    diff = float(xs.mean() - ys.mean())
    # zero pooled SD judged relative to the size of the values (0.1 + 0.1 + 0.1 is not exactly 0.3)
    size = max(float(np.max(np.abs(xs))), float(np.max(np.abs(ys))))
    if math.sqrt(sp2) <= 64 * np.finfo(float).eps * size or sp2 == 0:
        if abs(diff) <= 64 * np.finfo(float).eps * size:
            warn("`x` and `y` are constant and equal: Cohen's d is 0/0, returned as NaN.", DegenerateDataWarning)
            return math.nan
        warn("`x` and `y` are each constant (zero pooled standard deviation) with different means: Cohen's d is "
             "infinite.", DegenerateDataWarning)
        return math.copysign(math.inf, diff)
    return diff / math.sqrt(sp2)


# --------------------------------------------------------------------------- conversions
def cohens_d(x: Any, y: Any, *, nan_policy: str = "omit") -> float:
    """Cohen's d for two independent samples (pooled standard deviation).

    Parameters
    ----------
    x, y : array_like
        The two samples (at least two non-missing values each; infinite
        values are refused). They are independent samples, so they are not
        paired or aligned in any way.
    nan_policy : {"omit", "raise"}, default "omit"
        Missing values (NaN) are dropped from their sample with a
        :class:`~teamculture.errors.DroppedDataWarning` that counts them, or
        refused.

    Returns
    -------
    float
        :math:`d = (\\bar x - \\bar y)/s_p`.

    Notes
    -----
    :math:`s_p^2 = ((n_1 - 1)s_1^2 + (n_2 - 1)s_2^2)/(n_1 + n_2 - 2)`.
    When both samples are constant (:math:`s_p = 0`, judged relative to the
    size of the values), d is ``±inf`` if the means differ and NaN if they
    do not, with a :class:`~teamculture.errors.DegenerateDataWarning`.

    R: ``effectsize::cohens_d(x, y)``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.cohens_d([1, 2, 3, 4], [2, 3, 4, 5, 6]), 6)
    -1.024695
    """
    xs, ys = _two_samples(x, y, nan_policy)
    return _pooled_d(xs, ys)


def _validate_hedges_correction(df: Any) -> np.ndarray:
    d = _array("df", df)
    bad = ~(d > 1) | np.isinf(d)
    if np.any(bad):
        raise ValueError(f"`df` must be finite and > 1 (n1 + n2 - 2 for two groups); got "
                         f"{d[bad].ravel()[:5].tolist()}.")
    return d


def hedges_correction(df: Any) -> Any:
    """Hedges' small-sample correction factor J(df) (exact gamma form).

    Parameters
    ----------
    df : float or array_like
        Degrees of freedom, ``n1 + n2 - 2`` for two groups (> 1).

    Returns
    -------
    float or numpy.ndarray
        :math:`J = \\Gamma(df/2) / (\\sqrt{df/2}\\,\\Gamma((df-1)/2))`.

    Notes
    -----
    The familiar approximation is :math:`1 - 3/(4\\,df - 1)`.

    R: the correction inside ``effectsize::hedges_g(x, y)``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.hedges_correction(10), 6)
    0.922746
    """
    d = _validate_hedges_correction(df)
    return _out(np.exp(special.gammaln(d / 2) - 0.5 * np.log(d / 2) - special.gammaln((d - 1) / 2)))


def hedges_g(x: Any, y: Any, *, nan_policy: str = "omit") -> float:
    """Hedges' g: Cohen's d with the small-sample bias correction.

    Parameters
    ----------
    x, y : array_like
        The two samples (as in :func:`cohens_d`).
    nan_policy : {"omit", "raise"}, default "omit"
        Missing values are dropped (counted in a warning) or refused.

    Returns
    -------
    float
        :math:`g = J(n_1 + n_2 - 2)\\,d`, see :func:`hedges_correction`.

    Notes
    -----
    R: ``effectsize::hedges_g(x, y)``.

    References
    ----------
    .. [1] Hedges, L. V. (1981). Distribution theory for Glass's estimator of
       effect size and related estimators. Journal of Educational Statistics
       6(2), 107-128.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.hedges_g([1, 2, 3, 4], [2, 3, 4, 5, 6]), 6)
    -0.910137
    """
    xs, ys = _two_samples(x, y, nan_policy)
    return float(hedges_correction(xs.size + ys.size - 2) * _pooled_d(xs, ys))


def _group_h(n1: Any, n2: Any) -> Any:
    if (n1 is None) != (n2 is None):
        raise ValueError("give both `n1` and `n2` (group sizes) or neither (equal groups).")
    if n1 is None:
        return 4.0
    a, b = _array("n1", n1), _array("n2", n2)
    if np.any(~(a >= 1)) or np.any(~(b >= 1)) or np.any(np.isinf(a)) or np.any(np.isinf(b)) or np.any(a + b < 3):
        raise ValueError("`n1` and `n2` must be finite group sizes >= 1 with n1 + n2 >= 3.")
    m = a + b - 2
    return m / a + m / b


def d_to_r(d: Any, *, n1: Any = None, n2: Any = None) -> Any:
    """Convert a standardised mean difference d to a (point-biserial) correlation r.

    Parameters
    ----------
    d : float or array_like
        Cohen's d.
    n1, n2 : float or array_like, optional
        Group sizes; equal groups when omitted.

    Returns
    -------
    float or numpy.ndarray
        :math:`r = d/\\sqrt{d^2 + h}` with
        :math:`h = m/n_1 + m/n_2`, :math:`m = n_1 + n_2 - 2`, or
        :math:`h = 4` (large equal groups) when the sizes are omitted.

    Notes
    -----
    An infinite d gives r = ±1; NaN propagates.
    With the sizes this is exact for the sample point-biserial correlation:
    :math:`t = d/\\sqrt{1/n_1 + 1/n_2}` and :math:`r = t/\\sqrt{t^2 + m}`.
    Borenstein et al. use :math:`h = (n_1 + n_2)^2/(n_1 n_2)`, which differs
    by O(1/n).

    R: ``effectsize::d_to_r(d, n1, n2)``.

    References
    ----------
    .. [1] Borenstein, M., Hedges, L. V., Higgins, J. P. T. & Rothstein, H. R.
       (2009). Introduction to Meta-Analysis, ch. 7. Wiley.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.d_to_r(0.5), 6)
    0.242536
    """
    dd = _array("d", d)
    h = _group_h(n1, n2)
    with np.errstate(invalid="ignore", over="ignore"):
        # d / sqrt(d^2 + h) without overflow; the limit +-1 for an infinite d
        r = np.where(np.isinf(dd), np.sign(dd), dd / np.hypot(dd, np.sqrt(h)))
    return _out(r)


def r_to_d(r: Any, *, n1: Any = None, n2: Any = None) -> Any:
    """Convert a (point-biserial) correlation r to a standardised mean difference d.

    Parameters
    ----------
    r : float or array_like
        Correlation in (-1, 1).
    n1, n2 : float or array_like, optional
        Group sizes; equal groups when omitted.

    Returns
    -------
    float or numpy.ndarray
        :math:`d = r\\sqrt{h}/\\sqrt{1 - r^2}`; the inverse of :func:`d_to_r`.

    Notes
    -----
    R: ``effectsize::r_to_d(r)`` (equal groups).

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.r_to_d(0.242535625), 6)
    0.5
    """
    rr = _array("r", r)
    bad = np.abs(rr) >= 1
    if np.any(bad):
        raise ValueError(f"`r` must lie strictly between -1 and 1 (|r| = 1 is an infinite d); got "
                         f"{rr[bad].ravel()[:5].tolist()}.")
    return _out(rr * np.sqrt(_group_h(n1, n2)) / np.sqrt((1 - rr) * (1 + rr)))


def d_to_odds_ratio(d: Any, *, log: bool = False) -> Any:
    """Convert Cohen's d to an odds ratio (logistic-distribution method).

    Parameters
    ----------
    d : float or array_like
        Cohen's d.
    log : bool, default False
        Return the log odds ratio.

    Returns
    -------
    float or numpy.ndarray
        :math:`\\ln OR = d\\pi/\\sqrt 3`.

    Notes
    -----
    R: ``effectsize::d_to_oddsratio(d)``.

    References
    ----------
    .. [1] Chinn, S. (2000). A simple method for converting an odds ratio to
       effect size for use in meta-analysis. Statistics in Medicine 19, 3127-3131.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.d_to_odds_ratio(0.5), 6)
    2.476632
    """
    log = check_bool("log", log)
    lor = _array("d", d) * math.pi / math.sqrt(3)
    if log:
        return _out(lor)
    with np.errstate(over="ignore"):
        return _out(np.exp(lor))  # inf for |d| > ~390, not an error


def odds_ratio_to_d(odds_ratio: Any, *, log: bool = False) -> Any:
    """Convert an odds ratio to Cohen's d (logistic-distribution method).

    Parameters
    ----------
    odds_ratio : float or array_like
        Odds ratio (> 0), or log odds ratio when ``log=True``.
    log : bool, default False
        Whether ``odds_ratio`` is on the log scale.

    Returns
    -------
    float or numpy.ndarray
        :math:`d = \\ln(OR)\\sqrt 3/\\pi`; the inverse of :func:`d_to_odds_ratio`.

    Notes
    -----
    R: ``effectsize::oddsratio_to_d(OR, log = FALSE)``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.odds_ratio_to_d(2.0), 6)
    0.382152
    """
    log = check_bool("log", log)
    o = _array("odds_ratio", odds_ratio)
    if not log:
        bad = o <= 0
        if np.any(bad):
            raise ValueError(f"`odds_ratio` must be > 0 (pass `log=True` for a log odds ratio); got "
                             f"{o[bad].ravel()[:5].tolist()}.")
        with np.errstate(divide="ignore"):
            o = np.log(o)
    return _out(o * math.sqrt(3) / math.pi)


def fisher_z_interval(r: float, n: int, *, confidence_level: float = 0.95) -> ConfidenceInterval:
    """Confidence interval for a Pearson correlation via Fisher's z.

    Parameters
    ----------
    r : float
        Sample correlation in (-1, 1).
    n : int
        Sample size (> 3).
    confidence_level : float, default 0.95
        Level of the interval.

    Returns
    -------
    teamculture.results.ConfidenceInterval
        ``(low, high)`` (a named tuple).

    Notes
    -----
    :math:`\\tanh(\\operatorname{atanh}(r) \\pm z_{1-\\alpha/2}/\\sqrt{n - 3})`.

    R: ``cor.test(x, y)$conf.int``.

    References
    ----------
    .. [1] Fisher, R. A. (1921). On the "probable error" of a coefficient of
       correlation deduced from a small sample. Metron 1, 3-32.

    Examples
    --------
    >>> import teamculture as tc
    >>> lo, hi = tc.fisher_z_interval(0.3, 50)
    >>> round(lo, 4), round(hi, 4)
    (0.0236, 0.5338)
    """
    rr = check_real("r", r, low=-1.0, high=1.0, low_open=True, high_open=True)
    n = check_int("n", n, minimum=4)
    level = check_confidence_level(confidence_level)
    z = stats.norm.isf((1 - level) / 2)
    zr = math.atanh(rr)
    half = z / math.sqrt(n - 3)
    return ConfidenceInterval(math.tanh(zr - half), math.tanh(zr + half))


