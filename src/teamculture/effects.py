"""Effect translation and effect-size conversions.

Two kinds of tools live here.

*From a coefficient to deaths per year.* :func:`share_effect` turns a
coefficient on a share of staff (for example the percentage of staff working
in real teams) into the statement a trust board reads: "Δ percentage points of
staff → x % change in mortality (CI) → y deaths per year for a trust with E
expected deaths (CI)". :func:`implied_coefficient` goes the other way, from a
published "x % per y points" to the coefficient it implies, and
:func:`implied_expected_deaths` and :func:`se_from_pvalue` recover the other
numbers hidden in a headline. Both directions make the caller say whether the
change in the share is in percentage points or relative, and which link the
coefficient is on (log rate ratio, or identity on an SMR scaled to 100).

*Generic conversions.* Cohen's d and Hedges' g, d ↔ r, d ↔ odds ratio,
Fisher-z intervals for a correlation, standardised coefficients and the local
effect size f² (Selya et al. 2012) for multilevel models.

The worked example of the source material: "5 % more staff working in real
teams is associated with a 3.3 % drop in mortality; for an average acute
hospital around 40 deaths per year". Read as 5 percentage points on a log
link, the slope is ``ln(1 - 0.033) / 5 = -0.00671`` per point, and 40 deaths
imply ``40 / 0.033 = 1,212`` expected deaths a year:

>>> import teamculture as tc
>>> beta = tc.effects.implied_coefficient(-3.3, per=5)
>>> round(beta, 5)
-0.00671
>>> round(tc.effects.implied_expected_deaths(-3.3, -40))
1212
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from teamculture._validation import few
from teamculture.errors import DroppedDataWarning

__all__ = [
    "ShareEffect",
    "share_effect",
    "implied_coefficient",
    "implied_expected_deaths",
    "se_from_pvalue",
    "cohens_d",
    "hedges_g",
    "hedges_correction",
    "d_to_r",
    "r_to_d",
    "d_to_odds_ratio",
    "odds_ratio_to_d",
    "fisher_z_interval",
    "standardized_coefficients",
    "local_f_squared",
]

_CHANGES = ("points", "relative")
_LINKS = ("log", "identity")


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


# --------------------------------------------------------------------------- share effect
@dataclass(frozen=True)
class ShareEffect:
    """A coefficient on a share translated into mortality and deaths per year.

    Attributes
    ----------
    coefficient : float
        The coefficient per percentage point of the share (log rate ratio for
        ``link="log"``; SMR points on ``smr_scale`` for ``link="identity"``).
    se : float
        Its standard error (NaN when the interval was given instead).
    coefficient_ci_low, coefficient_ci_high : float
        Confidence interval of the coefficient.
    delta_points : float
        The change in the share, in percentage points.
    link : str
        ``"log"`` or ``"identity"``.
    confidence_level : float
        Level of the intervals.
    rate_ratio, rate_ratio_ci_low, rate_ratio_ci_high : float
        Mortality after the change relative to before (1 = no change).
    percent_change, percent_change_ci_low, percent_change_ci_high : float
        ``100 * (rate_ratio - 1)``: the percentage change in mortality.
    expected_deaths : float
        Expected deaths per year E of the trust the deaths refer to (NaN if
        not given).
    deaths, deaths_ci_low, deaths_ci_high : float
        Change in deaths per year for that trust (negative: fewer deaths);
        NaN when ``expected_deaths`` was not given.
    """

    coefficient: float
    se: float
    coefficient_ci_low: float
    coefficient_ci_high: float
    delta_points: float
    link: str
    confidence_level: float
    rate_ratio: float
    rate_ratio_ci_low: float
    rate_ratio_ci_high: float
    percent_change: float
    percent_change_ci_low: float
    percent_change_ci_high: float
    expected_deaths: float
    deaths: float
    deaths_ci_low: float
    deaths_ci_high: float

    def to_frame(self) -> pd.DataFrame:
        """The three quantities as rows (coefficient, percent change, deaths) with ``estimate``, ``ci_low``, ``ci_high``."""
        return pd.DataFrame(
            {
                "estimate": [self.coefficient, self.percent_change, self.deaths],
                "ci_low": [self.coefficient_ci_low, self.percent_change_ci_low, self.deaths_ci_low],
                "ci_high": [self.coefficient_ci_high, self.percent_change_ci_high, self.deaths_ci_high],
            },
            index=pd.Index(["coefficient", "percent_change", "deaths_per_year"], name="quantity"),
        )

    def summary(self) -> str:
        """One sentence with the translation and its intervals."""
        lvl = f"{100 * self.confidence_level:g}% CI"
        sign = "+" if self.delta_points >= 0 else ""
        text = (
            f"{sign}{self.delta_points:.3g} percentage points of staff -> "
            f"{self.percent_change:+.2f}% mortality ({lvl} {self.percent_change_ci_low:+.2f}% to "
            f"{self.percent_change_ci_high:+.2f}%)"
        )
        if math.isfinite(self.expected_deaths):
            text += (
                f" -> {self.deaths:+.1f} deaths per year for a trust with {self.expected_deaths:,.0f} "
                f"expected deaths ({lvl} {self.deaths_ci_low:+.1f} to {self.deaths_ci_high:+.1f})"
            )
        return text

    def __str__(self) -> str:
        return self.summary()


def _validate_share_effect(coef, se, ci, delta, change, baseline_share, link, expected_deaths,
                           smr_scale, baseline_smr, confidence_level):
    coef = _finite("coef", coef)
    if se is not None and ci is not None:
        raise ValueError("give either `se` or `ci`, not both.")
    if se is None and ci is None:
        raise ValueError("an interval needs `se` (standard error of `coef`) or `ci` (low, high); got neither.")
    if se is not None:
        se = _finite("se", se)
        if se < 0:
            raise ValueError(f"`se` must be >= 0; got {se!r}.")
    if ci is not None:
        try:
            lo, hi = (float(v) for v in ci)
        except (TypeError, ValueError):
            raise TypeError(f"`ci` must be a pair (low, high) of numbers; got {ci!r}.") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= coef <= hi):
            raise ValueError(f"`ci` must be finite with low <= coef <= high; got {ci!r} for coef {coef!r}.")
        ci = (lo, hi)
    delta = _finite("delta", delta)
    change = _choice("change", change, _CHANGES)
    link = _choice("link", link, _LINKS)
    if baseline_share is not None:
        baseline_share = _finite("baseline_share", baseline_share)
        if not 0 <= baseline_share <= 100:
            raise ValueError(f"`baseline_share` is a percentage and must lie in [0, 100]; got {baseline_share!r}.")
    if expected_deaths is not None:
        expected_deaths = _positive("expected_deaths", expected_deaths)
    smr_scale = _positive("smr_scale", smr_scale)
    baseline_smr = smr_scale if baseline_smr is None else _positive("baseline_smr", baseline_smr)
    confidence_level = _level(confidence_level)
    return (coef, se, ci, delta, change, baseline_share, link, expected_deaths, smr_scale, baseline_smr,
            confidence_level)


def share_effect(
    coef: float,
    *,
    se: float | None = None,
    ci: tuple[float, float] | None = None,
    delta: float = 5.0,
    change: str = "points",
    baseline_share: float | None = None,
    link: str = "log",
    expected_deaths: float | None = None,
    smr_scale: float = 100.0,
    baseline_smr: float | None = None,
    confidence_level: float = 0.95,
) -> ShareEffect:
    """Translate a coefficient on a share into % change in mortality and deaths per year.

    Parameters
    ----------
    coef : float
        Coefficient per **percentage point** of the share (e.g. real-team
        share 0-100). On the log link it is a log rate ratio (Poisson /
        negative binomial model with a log(expected deaths) offset); on the
        identity link it is the change in an SMR expressed on ``smr_scale``
        (HSMR: 100 = as expected).
    se : float, optional
        Standard error of ``coef``; the interval is ``coef ± z se``.
    ci : (float, float), optional
        Confidence interval of ``coef`` instead of ``se`` (for example a
        profile-likelihood or robust interval); its ends are transformed.
    delta : float, default 5
        The change in the share. Its meaning is set by ``change``.
    change : {"points", "relative"}
        ``"points"``: ``delta`` is in percentage points (40 % → 45 % is 5
        points). ``"relative"``: ``delta`` is a relative change in percent of
        ``baseline_share`` (40 % → 42 % is a 5 % relative change), which needs
        ``baseline_share``.
    baseline_share : float, optional
        The share (percent) a relative change applies to.
    link : {"log", "identity"}
        Scale of ``coef`` (see above).
    expected_deaths : float, optional
        Expected deaths per year E of the trust to express the change in
        deaths for.
    smr_scale : float, default 100
        For ``link="identity"``: the value of an SMR of 1 on the coefficient's
        scale (100 for HSMR/SHMI-style indices, 1 for a plain ratio).
    baseline_smr : float, optional
        For ``link="identity"``: the trust's SMR (on ``smr_scale``) the
        percentage change is relative to; default ``smr_scale`` (as expected).
    confidence_level : float, default 0.95
        Level of the intervals.

    Returns
    -------
    ShareEffect
        Rate ratio, percentage change and change in deaths per year with
        their confidence intervals; ``summary()`` gives a sentence.

    Notes
    -----
    With Δ the change in percentage points (``delta``, or
    ``baseline_share * delta / 100`` for a relative change) and
    :math:`[\\beta_L, \\beta_U]` the interval of the coefficient
    (:math:`\\hat\\beta \\pm z_{1-\\alpha/2}\\,\\mathrm{SE}` or ``ci``):

    - log link: :math:`RR = \\exp(\\beta\\Delta)`, percent change
      :math:`100(RR - 1)`, deaths per year :math:`E(RR - 1)`;
    - identity link on an SMR scaled to :math:`S` (``smr_scale``) with
      baseline :math:`B` (``baseline_smr``): the SMR changes by
      :math:`\\beta\\Delta` scale points, percent change
      :math:`100\\beta\\Delta/B`, deaths per year :math:`E\\beta\\Delta/S`.

    Each transformation is monotone, so the interval is the transformed
    interval of the coefficient (its ends swap when Δ < 0). The deaths are
    for a trust whose expected deaths stay E; they are an association
    read through the model, not a causal effect. R: there is no single
    function; ``exp(coef * delta)`` on a ``glm(..., offset = log(E))`` fit.

    References
    ----------
    .. [1] Lyubovnikova, J., West, M. A., Dawson, J. F. & Carter, M. R. (2015).
       24-carat or fool's gold? Team working in the NHS. European Journal of
       Work and Organizational Psychology 24(6), 929-950.
    .. [2] Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional
       performance. Statistics in Medicine 24, 1185-1202.

    Examples
    --------
    The headline: 5 points more staff in real teams, 3.3 % lower mortality
    (p = .006), about 40 deaths for a trust with 1,212 expected deaths:

    >>> import teamculture as tc
    >>> beta = tc.effects.implied_coefficient(-3.3, per=5)
    >>> se = tc.effects.se_from_pvalue(beta, 0.006)
    >>> eff = tc.effects.share_effect(beta, se=se, delta=5, expected_deaths=1212)
    >>> round(eff.percent_change, 2), round(eff.deaths, 1)
    (-3.3, -40.0)
    >>> print(eff)  # doctest: +NORMALIZE_WHITESPACE
    +5 percentage points of staff -> -3.30% mortality (95% CI -5.59% to -0.96%) -> -40.0 deaths per
    year for a trust with 1,212 expected deaths (95% CI -67.7 to -11.6)

    The same coefficient read against a relative change of 5 % of a 40 %
    share (2 points) is a much smaller effect:

    >>> round(tc.effects.share_effect(beta, se=se, delta=5, change="relative",
    ...                               baseline_share=40).percent_change, 2)
    -1.33
    """
    (coef, se, ci, delta, change, baseline_share, link, expected_deaths, smr_scale, baseline_smr,
     level) = _validate_share_effect(coef, se, ci, delta, change, baseline_share, link, expected_deaths,
                                     smr_scale, baseline_smr, confidence_level)
    dpts = _points(delta, change, baseline_share)
    if ci is None:
        z = stats.norm.isf((1 - level) / 2)
        lo, hi = coef - z * se, coef + z * se
        se_out = se
    else:
        lo, hi = ci
        se_out = math.nan

    def pct(b: float) -> float:
        if link == "log":
            return 100.0 * math.expm1(b * dpts)
        return 100.0 * b * dpts / baseline_smr

    def deaths(b: float) -> float:
        if expected_deaths is None:
            return math.nan
        if link == "log":
            return expected_deaths * math.expm1(b * dpts)
        return expected_deaths * b * dpts / smr_scale

    p_lo, p_hi = sorted((pct(lo), pct(hi)))
    d_lo, d_hi = sorted((deaths(lo), deaths(hi)))
    p_est = pct(coef)
    return ShareEffect(
        coefficient=coef, se=se_out, coefficient_ci_low=lo, coefficient_ci_high=hi,
        delta_points=dpts, link=link, confidence_level=level,
        rate_ratio=1 + p_est / 100, rate_ratio_ci_low=1 + p_lo / 100, rate_ratio_ci_high=1 + p_hi / 100,
        percent_change=p_est, percent_change_ci_low=p_lo, percent_change_ci_high=p_hi,
        expected_deaths=math.nan if expected_deaths is None else expected_deaths,
        deaths=deaths(coef), deaths_ci_low=d_lo, deaths_ci_high=d_hi,
    )


def implied_coefficient(
    percent_change: float,
    *,
    per: float,
    change: str = "points",
    baseline_share: float | None = None,
    link: str = "log",
    smr_scale: float = 100.0,
    baseline_smr: float | None = None,
) -> float:
    """The coefficient per percentage point implied by a published "x % per y points".

    Parameters
    ----------
    percent_change : float
        Published change in mortality in percent (negative for a drop: a
        "3.3 % drop" is ``-3.3``). Must exceed -100.
    per : float
        The change in the share it refers to; meaning set by ``change``.
    change : {"points", "relative"}
        ``per`` in percentage points, or as a relative change (percent) of
        ``baseline_share``.
    baseline_share : float, optional
        The share (percent) a relative change applies to.
    link : {"log", "identity"}
        Scale of the coefficient to return (see :func:`share_effect`).
    smr_scale : float, default 100
        For ``link="identity"``: value of an SMR of 1 on the coefficient's scale.
    baseline_smr : float, optional
        For ``link="identity"``: the SMR the percentage is relative to;
        default ``smr_scale``.

    Returns
    -------
    float
        Coefficient per percentage point; :func:`share_effect` with the same
        arguments gives back ``percent_change``.

    Notes
    -----
    Log link: :math:`\\beta = \\ln(1 + x/100)/\\Delta`. Identity link:
    :math:`\\beta = (x/100)B/\\Delta` SMR points per percentage point, with Δ
    the change in percentage points. R: ``log(1 + x/100) / delta``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.effects.implied_coefficient(-3.3, per=5), 6)
    -0.006711
    >>> round(tc.effects.implied_coefficient(-3.3, per=5, link="identity"), 4)  # HSMR points
    -0.66
    >>> round(tc.effects.implied_coefficient(-3.3, per=5, change="relative", baseline_share=40), 6)
    -0.016778
    """
    x = _finite("percent_change", percent_change)
    per = _finite("per", per)
    change = _choice("change", change, _CHANGES)
    link = _choice("link", link, _LINKS)
    if baseline_share is not None:
        baseline_share = _finite("baseline_share", baseline_share)
        if not 0 < baseline_share <= 100:
            raise ValueError(f"`baseline_share` must lie in (0, 100]; got {baseline_share!r}.")
    smr_scale = _positive("smr_scale", smr_scale)
    baseline_smr = smr_scale if baseline_smr is None else _positive("baseline_smr", baseline_smr)
    dpts = _points(per, change, baseline_share)
    if dpts == 0:
        raise ValueError("`per` must describe a non-zero change in the share; got 0 percentage points.")
    if link == "log":
        if x <= -100:
            raise ValueError(f"`percent_change` must be > -100 on the log link; got {x!r}.")
        return math.log1p(x / 100) / dpts
    return x / 100 * baseline_smr / dpts


def implied_expected_deaths(percent_change: float, deaths: float) -> float:
    """Expected deaths per year E implied by "x % change ≈ d deaths per year".

    Parameters
    ----------
    percent_change : float
        Change in mortality in percent (non-zero).
    deaths : float
        The change in deaths per year it was said to represent, with the same
        sign (a drop of 40 deaths is ``-40``; a sign mismatch raises).

    Returns
    -------
    float
        :math:`E = d / (x/100)`.

    Notes
    -----
    Deaths per year are :math:`E(RR - 1) = E x/100` for a trust with E
    expected deaths, so :math:`E = 100 d / x`. R: ``100 * d / x``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.effects.implied_expected_deaths(-3.3, -40), 1)
    1212.1
    """
    x = _finite("percent_change", percent_change)
    d = _finite("deaths", deaths)
    if x == 0:
        raise ValueError("`percent_change` must be non-zero.")
    if d == 0 or (d > 0) != (x > 0):
        raise ValueError(
            f"`deaths` must be non-zero with the sign of `percent_change`; got deaths={d!r}, "
            f"percent_change={x!r}."
        )
    return 100.0 * d / x


def se_from_pvalue(estimate: float, pvalue: float) -> float:
    """Standard error implied by an estimate and its two-sided Wald p-value.

    Parameters
    ----------
    estimate : float
        The estimate (non-zero).
    pvalue : float
        Two-sided p-value of the Wald z test of ``estimate = 0``, in (0, 1).

    Returns
    -------
    float
        :math:`|\\hat\\beta| / z_{1-p/2}`.

    Notes
    -----
    Published p-values are rounded, so the recovered SE is approximate
    (p = .006 stands for anything in [.0055, .0065)). R:
    ``abs(b) / qnorm(p / 2, lower.tail = FALSE)``.

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.effects.se_from_pvalue(1.96, 0.05), 4)
    1.0
    """
    b = _finite("estimate", estimate)
    p = _finite("pvalue", pvalue)
    if not 0 < p < 1:
        raise ValueError(f"`pvalue` must lie in (0, 1); got {pvalue!r}.")
    if b == 0:
        raise ValueError("`estimate` must be non-zero to recover a standard error from a p-value.")
    return float(abs(b) / stats.norm.isf(p / 2))


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
    >>> round(tc.effects.cohens_d([1, 2, 3, 4], [2, 3, 4, 5, 6]), 6)
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
    >>> round(tc.effects.hedges_correction(10), 6)
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
    >>> round(tc.effects.hedges_g([1, 2, 3, 4], [2, 3, 4, 5, 6]), 6)
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
    >>> round(tc.effects.d_to_r(0.5), 6)
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
    >>> round(tc.effects.r_to_d(0.242535625), 6)
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
    >>> round(tc.effects.d_to_odds_ratio(0.5), 6)
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
    >>> round(tc.effects.odds_ratio_to_d(2.0), 6)
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
    >>> lo, hi = tc.effects.fisher_z_interval(0.3, 50)
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


# --------------------------------------------------------------------------- multilevel
def _fixed_estimates(result: Any) -> tuple[pd.Series, pd.Series]:
    """Estimates and SEs from a duck-typed mixed-model result's ``fixed_effects``."""
    fe = getattr(result, "fixed_effects", None)
    if fe is None:
        raise TypeError(f"`result` must have a `fixed_effects` attribute; got {type(result).__name__}.")
    if isinstance(fe, pd.Series):
        est = fe.astype(float)
        bse = getattr(result, "bse", None)
        se = bse.astype(float).reindex(fe.index) if isinstance(bse, pd.Series) else pd.Series(np.nan, index=fe.index)
    elif isinstance(fe, pd.DataFrame):
        if "estimate" not in fe.columns:
            raise TypeError(
                f"`result.fixed_effects` needs an 'estimate' column; columns are {few(list(fe.columns))}."
            )
        est = fe["estimate"].astype(float)
        se = fe["se"].astype(float) if "se" in fe.columns else pd.Series(np.nan, index=fe.index)
    else:
        raise TypeError(
            f"`result.fixed_effects` must be a pandas Series or DataFrame; got {type(fe).__name__}."
        )
    return est, se


def _variance_components(result: Any, name: str) -> pd.Series:
    vc = getattr(result, "variance_components", None)
    if not isinstance(vc, pd.Series):
        raise TypeError(f"`{name}` must have a `variance_components` pandas Series; got {type(vc).__name__}.")
    if "residual" not in vc.index:
        raise ValueError(f"`{name}.variance_components` must include 'residual'; has {list(vc.index)!r}.")
    v = vc.astype(float)
    variances = v[[not ("," in str(k)) for k in v.index]]  # covariances may be negative
    bad = variances[~(variances >= 0)]
    if len(bad):
        raise ValueError(f"`{name}.variance_components` must be >= 0; got {bad.to_dict()!r}.")
    return v


def standardized_coefficients(result: Any, data: pd.DataFrame | None = None, *,
                              outcome: str | None = None) -> pd.DataFrame:
    """Standardised fixed effects of a (multilevel) regression.

    Parameters
    ----------
    result : object
        A fitted model with ``fixed_effects``: a Series of estimates indexed
        by term (SEs are taken from a ``bse`` Series when present), or a
        DataFrame with ``estimate`` (and optionally ``se``) columns. Results
        of :func:`teamculture.mixed` work directly.
    data : pandas.DataFrame, optional
        Where to take the standard deviations from. Default: the result's
        own ``design`` matrix (every fixed-effect column, including dummies
        and interactions) and ``response`` (the rows used in the fit). With
        ``data``, each term that is a numeric column of ``data`` is
        standardised (others, such as the intercept, get NaN); rows with a
        missing or non-finite value in the outcome or those columns are
        left out, with a :class:`~teamculture.errors.DroppedDataWarning`
        that counts them.
    outcome : str, optional
        Name of the outcome column in ``data``; required with ``data``.

    Returns
    -------
    pandas.DataFrame
        Indexed by term, columns ``estimate``, ``se``, ``sd_x``, ``sd_y``,
        ``std_estimate``, ``std_se``; NaN for the intercept and for terms
        without a standard deviation (constant columns).

    Notes
    -----
    :math:`\\beta^* = \\beta\\, s_x / s_y` with the total (observed) standard
    deviations (n − 1 denominator) of predictor and outcome over the rows
    used (Hox 2010, ch. 2); SEs scale the same way. In a multilevel model the
    total SD mixes within- and between-group variation; a group-level
    predictor's SD across rows weights groups by size. R:
    ``effectsize::standardize_parameters(fit, method = "basic")``.

    References
    ----------
    .. [1] Hox, J. J. (2010). Multilevel Analysis: Techniques and Applications,
       2nd ed. Routledge.

    Examples
    --------
    >>> import pandas as pd
    >>> import teamculture as tc
    >>> from types import SimpleNamespace
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0]})
    >>> fit = SimpleNamespace(fixed_effects=pd.Series({"(Intercept)": 1.0, "x": 1.4}))
    >>> tc.effects.standardized_coefficients(fit, df, outcome="y")["std_estimate"].round(6)
    term
    (Intercept)         NaN
    x              0.989949
    Name: std_estimate, dtype: float64
    """
    est, se = _fixed_estimates(result)
    if data is None:
        if outcome is not None:
            raise ValueError("`outcome` is used only with `data`.")
        design = getattr(result, "design", None)
        response = getattr(result, "response", None)
        if not isinstance(design, pd.DataFrame) or not isinstance(response, pd.Series):
            raise TypeError(
                "without `data`, `result` must have `design` (DataFrame) and `response` (Series); "
                "pass `data` and `outcome` instead."
            )
        y = response.to_numpy(dtype=float)
        cols = {t: design[t].to_numpy(dtype=float) for t in est.index if t in design.columns}
    else:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"`data` must be a pandas DataFrame; got {type(data).__name__}.")
        if not isinstance(outcome, str) or outcome not in data.columns:
            raise ValueError(f"`outcome` must name a column of `data`; got {outcome!r}.")
        if not pd.api.types.is_numeric_dtype(data[outcome]):
            raise TypeError(f"`outcome` column {outcome!r} must be numeric.")
        terms = [t for t in est.index if t in data.columns and pd.api.types.is_numeric_dtype(data[t])]
        used = data[[outcome, *terms]].astype(float)
        finite = np.isfinite(used.to_numpy()).all(axis=1)
        if not finite.all():
            dropped = used.index[~finite]
            warnings.warn(
                f"standardized_coefficients: dropped {dropped.size} of {len(used)} row(s) of `data` with "
                f"missing or non-finite values in {[outcome, *terms]!r}: rows {few(dropped.tolist())}.",
                DroppedDataWarning, stacklevel=2,
            )
        used = used[finite]
        y = used[outcome].to_numpy()
        cols = {t: used[t].to_numpy() for t in terms}
    source = "`result.response`" if data is None else f"`outcome` column {outcome!r} of `data`"
    if y.size < 2:
        raise ValueError(f"{source} has {y.size} complete row(s); standardised coefficients need at least 2.")
    sd_y = float(np.std(y, ddof=1))
    if not sd_y > 0:
        raise ValueError(f"{source} is constant over the rows used; standardised coefficients are undefined.")
    sd_x = pd.Series(np.nan, index=est.index, dtype=float)
    for t, x in cols.items():
        s = float(np.std(x, ddof=1))
        sd_x[t] = s if s > 0 else np.nan  # a constant column (the intercept) has no scale
    return pd.DataFrame(
        {
            "estimate": est.to_numpy(),
            "se": se.to_numpy(),
            "sd_x": sd_x.to_numpy(),
            "sd_y": sd_y,
            "std_estimate": (est * sd_x / sd_y).to_numpy(),
            "std_se": (se * sd_x / sd_y).to_numpy(),
        },
        index=pd.Index(est.index, name="term"),
    )


def local_f_squared(full: Any, reduced: Any, *, variance: str = "residual") -> float:
    """Local effect size f² of the terms in ``full`` but not in ``reduced`` (Selya et al. 2012).

    Parameters
    ----------
    full, reduced : object
        Two fitted mixed models of the same outcome on the same rows, with a
        ``variance_components`` Series that includes ``"residual"`` (as
        :func:`teamculture.mixed` results have); ``full`` adds the terms of
        interest to ``reduced``.
    variance : {"residual", "total"}
        Which variance the proportions explained are computed from: the
        level-1 residual variance, or the total of all variance components.

    Returns
    -------
    float
        f², negative when adding the terms increased the variance (it can
        happen with random-effect variances; report it, do not truncate).

    Notes
    -----
    With :math:`R^2_M = (V_0 - V_M)/V_0` for a model M relative to a null
    model with variance :math:`V_0`,

    .. math:: f^2 = \\frac{R^2_{AB} - R^2_{A}}{1 - R^2_{AB}} = \\frac{V_A - V_{AB}}{V_{AB}},

    so the null model cancels. Cohen's benchmarks: 0.02 small, 0.15 medium,
    0.35 large. Selya et al. use the residual variance (PROC MIXED); the
    total variance counts changes at every level. R: no single function;
    ``(sigma(fitA)^2 - sigma(fitAB)^2) / sigma(fitAB)^2`` on two ``lme4``
    fits.

    References
    ----------
    .. [1] Selya, A. S., Rose, J. S., Dierker, L. C., Hedeker, D. &
       Mermelstein, R. J. (2012). A practical guide to calculating Cohen's f²,
       a measure of local effect size, from PROC MIXED. Frontiers in
       Psychology 3, 111.

    Examples
    --------
    >>> import pandas as pd
    >>> import teamculture as tc
    >>> from types import SimpleNamespace
    >>> a = SimpleNamespace(variance_components=pd.Series({"team": 0.10, "residual": 0.70}))
    >>> ab = SimpleNamespace(variance_components=pd.Series({"team": 0.08, "residual": 0.60}))
    >>> round(tc.effects.local_f_squared(ab, a), 6)
    0.166667
    >>> round(tc.effects.local_f_squared(ab, a, variance="total"), 6)
    0.176471
    """
    variance = _choice("variance", variance, ("residual", "total"))
    v_ab = _variance_components(full, "full")
    v_a = _variance_components(reduced, "reduced")
    if variance == "residual":
        va, vab = float(v_a["residual"]), float(v_ab["residual"])
    else:
        slopes = [str(k) for k in (*v_a.index, *v_ab.index) if "|" in str(k)]
        if slopes:
            raise ValueError(
                f"variance='total' needs random-intercept models; found random-slope components {few(slopes)} "
                "(their total variance depends on the predictor). Use variance='residual'."
            )
        va, vab = float(v_a.sum()), float(v_ab.sum())
    if vab <= 0:
        raise ValueError(f"the {variance} variance of `full` must be > 0; got {vab!r}.")
    return (va - vab) / vab
