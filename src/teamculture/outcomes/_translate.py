"""From a coefficient on a share of staff to deaths per year (private; see :mod:`teamculture.outcomes`).

:func:`share_effect` turns a coefficient on a share of staff (for example the
percentage of staff working in real teams) into the statement a trust board
reads: "Δ percentage points of staff → x % change in mortality (CI) → y deaths
per year for a trust with E expected deaths (CI)". :func:`implied_coefficient`
goes the other way, from a published "x % per y points" to the coefficient it
implies, and :func:`implied_expected_deaths` and :func:`se_from_pvalue` recover
the other numbers hidden in a headline. Both directions make the caller say
whether the change in the share is in percentage points or relative, and which
link the coefficient is on (log rate ratio, or identity on an SMR scaled to 100).

The worked example of the source material: "5 % more staff working in real
teams is associated with a 3.3 % drop in mortality; for an average acute
hospital around 40 deaths per year". Read as 5 percentage points on a log
link, the slope is ``ln(1 - 0.033) / 5 = -0.00671`` per point, and 40 deaths
imply ``40 / 0.033 = 1,212`` expected deaths a year:

>>> import teamculture as tc
>>> beta = tc.implied_coefficient(-3.3, per=5)
>>> round(beta, 5)
-0.00671
>>> round(tc.implied_expected_deaths(-3.3, -40))
1212
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats


__all__ = ["ShareEffect", "share_effect", "implied_coefficient", "implied_expected_deaths", "se_from_pvalue"]

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
    >>> beta = tc.implied_coefficient(-3.3, per=5)
    >>> se = tc.se_from_pvalue(beta, 0.006)
    >>> eff = tc.share_effect(beta, se=se, delta=5, expected_deaths=1212)
    >>> round(eff.percent_change, 2), round(eff.deaths, 1)
    (-3.3, -40.0)
    >>> print(eff)  # doctest: +NORMALIZE_WHITESPACE
    +5 percentage points of staff -> -3.30% mortality (95% CI -5.59% to -0.96%) -> -40.0 deaths per
    year for a trust with 1,212 expected deaths (95% CI -67.7 to -11.6)

    The same coefficient read against a relative change of 5 % of a 40 %
    share (2 points) is a much smaller effect:

    >>> round(tc.share_effect(beta, se=se, delta=5, change="relative",
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
    >>> round(tc.implied_coefficient(-3.3, per=5), 6)
    -0.006711
    >>> round(tc.implied_coefficient(-3.3, per=5, link="identity"), 4)  # HSMR points
    -0.66
    >>> round(tc.implied_coefficient(-3.3, per=5, change="relative", baseline_share=40), 6)
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
    >>> round(tc.implied_expected_deaths(-3.3, -40), 1)
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
    >>> round(tc.se_from_pvalue(1.96, 0.05), 4)
    1.0
    """
    b = _finite("estimate", estimate)
    p = _finite("pvalue", pvalue)
    if not 0 < p < 1:
        raise ValueError(f"`pvalue` must lie in (0, 1); got {pvalue!r}.")
    if b == 0:
        raise ValueError("`estimate` must be non-zero to recover a standard error from a p-value.")
    return float(abs(b) / stats.norm.isf(p / 2))


