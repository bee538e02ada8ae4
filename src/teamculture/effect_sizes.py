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
def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be a real number; got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number; got {value!r}.") from None
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return v


def _positive(name: str, value: Any) -> float:
    v = _finite(name, value)
    if v <= 0:
        raise ValueError(f"`{name}` must be > 0; got {value!r}.")
    return v


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)!r}; got {value!r}.")
    return value


def _level(value: Any) -> float:
    v = _finite("confidence_level", value)
    if not 0 < v < 1:
        raise ValueError(f"`confidence_level` must lie in (0, 1); got {value!r}.")
    return v


def _points(delta: float, change: str, baseline_share: float | None) -> float:
    """Change in the share in percentage points."""
    if change == "points":
        return delta
    if baseline_share is None:
        raise ValueError(
            "`baseline_share` (the share, in percent, the relative change applies to) is required "
            "when `change='relative'`; got None."
        )
    return baseline_share * delta / 100.0


# --------------------------------------------------------------------------- conversions
def _array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be numeric; got {type(value).__name__}.") from None
    return arr


def _out(arr: np.ndarray) -> Any:
    return float(arr) if arr.ndim == 0 else arr


def _two_samples(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xs = _array("x", x).ravel()
    ys = _array("y", y).ravel()
    for name, a in (("x", xs), ("y", ys)):
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise ValueError(
                f"`{name}` has {bad.size} non-finite value(s) at positions {bad[:5].tolist()}; "
                "drop missing values first."
            )
        if a.size < 2:
            raise ValueError(f"`{name}` needs at least 2 values; got {a.size}.")
    return xs, ys


def cohens_d(x: Any, y: Any) -> float:
    """Cohen's d for two independent samples (pooled standard deviation).

    Parameters
    ----------
    x, y : array_like
        The two samples (finite values, at least two each).

    Returns
    -------
    float
        :math:`d = (\\bar x - \\bar y)/s_p`.

    Notes
    -----
    :math:`s_p^2 = ((n_1 - 1)s_1^2 + (n_2 - 1)s_2^2)/(n_1 + n_2 - 2)`.
    R: ``effectsize::cohens_d(x, y)``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.cohens_d([1, 2, 3, 4], [2, 3, 4, 5, 6]), 6)
    -1.024695
    """
    xs, ys = _two_samples(x, y)
    n1, n2 = xs.size, ys.size
    sp2 = ((n1 - 1) * xs.var(ddof=1) + (n2 - 1) * ys.var(ddof=1)) / (n1 + n2 - 2)
    if sp2 <= 0:
        raise ValueError("`x` and `y` have zero pooled variance; d is undefined.")
    return float((xs.mean() - ys.mean()) / math.sqrt(sp2))


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
    R: as used by ``effectsize::hedges_g``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.hedges_correction(10), 6)
    0.922746
    """
    d = _array("df", df)
    if np.any(~np.isfinite(d)) or np.any(d <= 1):
        raise ValueError(f"`df` must be finite and > 1; got {d.ravel()[:5].tolist()}.")
    return _out(np.exp(special.gammaln(d / 2) - 0.5 * np.log(d / 2) - special.gammaln((d - 1) / 2)))


def hedges_g(x: Any, y: Any) -> float:
    """Hedges' g: Cohen's d with the small-sample bias correction.

    Parameters
    ----------
    x, y : array_like
        The two samples.

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
    xs, ys = _two_samples(x, y)
    return float(hedges_correction(xs.size + ys.size - 2) * cohens_d(xs, ys))


def _group_h(n1: Any, n2: Any) -> Any:
    if (n1 is None) != (n2 is None):
        raise ValueError("give both `n1` and `n2` (group sizes) or neither (equal groups).")
    if n1 is None:
        return 4.0
    a, b = _array("n1", n1), _array("n2", n2)
    if np.any(~(a >= 1)) or np.any(~(b >= 1)) or np.any(a + b < 3):
        raise ValueError("`n1` and `n2` must be group sizes >= 1 with n1 + n2 >= 3.")
    m = a + b - 2
    return m / a + m / b


def d_to_r(d: Any, n1: Any = None, n2: Any = None) -> Any:
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
    With the sizes this is exact for the sample point-biserial correlation:
    :math:`t = d/\\sqrt{1/n_1 + 1/n_2}` and :math:`r = t/\\sqrt{t^2 + m}`.
    Borenstein et al. use :math:`h = (n_1 + n_2)^2/(n_1 n_2)`, which differs
    by O(1/n). R: ``effectsize::d_to_r(d, n1, n2)``.

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
    return _out(dd / np.sqrt(dd**2 + _group_h(n1, n2)))


def r_to_d(r: Any, n1: Any = None, n2: Any = None) -> Any:
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
    if np.any(~(np.abs(rr) < 1)):
        raise ValueError("`r` must lie strictly between -1 and 1.")
    return _out(rr * np.sqrt(_group_h(n1, n2)) / np.sqrt(1 - rr**2))


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
    lor = _array("d", d) * math.pi / math.sqrt(3)
    return _out(lor if log else np.exp(lor))


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
    o = _array("odds_ratio", odds_ratio)
    if not log:
        if np.any(~(o > 0)):
            raise ValueError("`odds_ratio` must be > 0 (pass `log=True` for a log odds ratio).")
        o = np.log(o)
    return _out(o * math.sqrt(3) / math.pi)


def fisher_z_interval(r: float, n: int, *, confidence_level: float = 0.95) -> tuple[float, float]:
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
    (float, float)
        ``(low, high)``.

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
    rr = _finite("r", r)
    if not -1 < rr < 1:
        raise ValueError(f"`r` must lie strictly between -1 and 1; got {r!r}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"`n` must be an integer > 3; got {n!r}.")
    if n <= 3:
        raise ValueError(f"`n` must be an integer > 3; got {n!r}.")
    level = _level(confidence_level)
    z = stats.norm.isf((1 - level) / 2)
    zr = math.atanh(rr)
    half = z / math.sqrt(n - 3)
    return (math.tanh(zr - half), math.tanh(zr + half))


