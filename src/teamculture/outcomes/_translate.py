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
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from teamculture._core.validation import check_choice, check_confidence_level, check_real
from teamculture.results import ConfidenceInterval, Result, Summary, result_class

__all__ = ["ShareEffect", "share_effect", "implied_coefficient", "implied_expected_deaths", "se_from_pvalue"]

_CHANGES = ("points", "relative")
_LINKS = ("log", "identity")
_QUANTITIES = ("coefficient", "rate_ratio", "percent_change", "deaths_per_year")


# --------------------------------------------------------------------------- helpers
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


def _quantile(confidence_level: float, df: float) -> float:
    a = (1.0 - confidence_level) / 2.0
    return float(stats.norm.isf(a) if math.isinf(df) else stats.t.isf(a, df))


def _translate(b: Any, link: str, dpts: float, baseline_smr: float, smr_scale: float,
               expected_deaths: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate ratio, percent change and deaths per year for coefficient(s) ``b`` (overflow gives inf)."""
    b = np.asarray(b, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        if link == "log":
            rel = np.expm1(b * dpts)  # exact near 0; inf (not an OverflowError) for a huge effect
        else:
            rel = b * dpts / baseline_smr
        deaths = np.full(b.shape, np.nan)
        if expected_deaths is not None:
            deaths = expected_deaths * (np.expm1(b * dpts) if link == "log" else b * dpts / smr_scale)
        return 1.0 + rel, 100.0 * rel, deaths


# --------------------------------------------------------------------------- share effect
@result_class
class ShareEffect(Result):
    """A coefficient on a share translated into mortality and deaths per year.

    The estimates are fields; their intervals come from
    :meth:`confidence_interval` (a table with one row per quantity) and
    :meth:`to_frame` (estimates and intervals together).

    Attributes
    ----------
    coefficient : float
        The coefficient per percentage point of the share (log rate ratio for
        ``link="log"``; SMR points on ``smr_scale`` for ``link="identity"``).
    std_error : float
        Its standard error (NaN when the interval was given instead).
    df : float
        Degrees of freedom of the t quantile used for the interval from
        ``std_error`` (``inf``: normal).
    delta_points : float
        The change in the share, in percentage points.
    link : str
        ``"log"`` or ``"identity"``.
    smr_scale, baseline_smr : float
        For ``link="identity"``: the value of an SMR of 1 on the coefficient's
        scale and the SMR the percentage change is relative to.
    confidence_level : float
        Level of the intervals.
    rate_ratio : float
        Mortality after the change relative to before (1 = no change; ``inf``
        when the change overflows).
    percent_change : float
        ``100 * (rate_ratio - 1)``: the percentage change in mortality.
    expected_deaths : float
        Expected deaths per year E of the trust the deaths refer to (NaN if
        not given).
    deaths : float
        Change in deaths per year for that trust (negative: fewer deaths);
        NaN when ``expected_deaths`` was not given.
    n_obs, n_dropped, n_groups
        ``None``, 0, ``None``: a translation of a published or fitted
        coefficient, not a computation from rows of data.
    """

    coefficient: float
    std_error: float
    df: float
    delta_points: float
    link: str
    smr_scale: float
    baseline_smr: float
    confidence_level: float
    rate_ratio: float
    percent_change: float
    expected_deaths: float
    deaths: float
    _coefficient_ci: tuple[float, float]

    def _rows(self, low: float, high: float) -> pd.DataFrame:
        dpts = self.delta_points
        e = None if math.isnan(self.expected_deaths) else self.expected_deaths
        rr, pct, deaths = _translate([low, high], self.link, dpts, self.baseline_smr, self.smr_scale, e)
        out = pd.DataFrame(
            {"ci_low": [low, *(min(v) for v in (rr, pct, deaths))],
             "ci_high": [high, *(max(v) for v in (rr, pct, deaths))]},
            index=pd.Index(list(_QUANTITIES), name="quantity"),
        )
        return out

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals of the coefficient, rate ratio, percentage change and deaths per year.

        Parameters
        ----------
        confidence_level : float, optional
            Default: the level of the result. Another level needs the
            standard error (a result made from a published interval has only
            that interval).

        Returns
        -------
        pandas.DataFrame
            Rows ``coefficient``, ``rate_ratio``, ``percent_change``,
            ``deaths_per_year``; columns ``ci_low``, ``ci_high`` (each the
            transformed interval of the coefficient; the ends swap when the
            change is negative).
        """
        if confidence_level is None or check_confidence_level(confidence_level) == self.confidence_level:
            return self._rows(*self._coefficient_ci)
        level = float(confidence_level)
        if not math.isfinite(self.std_error):
            raise ValueError(
                f"`confidence_level`: this effect was computed from an interval at {100 * self.confidence_level:g}% "
                "without a standard error, so other levels cannot be computed; pass `se` to share_effect."
            )
        q = _quantile(level, self.df)
        return self._rows(self.coefficient - q * self.std_error, self.coefficient + q * self.std_error)

    def to_frame(self) -> pd.DataFrame:
        """Estimates and intervals: the rows of :meth:`confidence_interval`, with an ``estimate`` column."""
        ci = self.confidence_interval()
        est = [self.coefficient, self.rate_ratio, self.percent_change, self.deaths]
        return pd.concat([pd.Series(est, index=ci.index, name="estimate", dtype=float), ci], axis=1)

    def summary(self) -> Summary:
        """One sentence with the translation and its intervals, and the table of :meth:`to_frame`."""
        return Summary("Effect of a change in the share of staff", header=[("effect", self.statement)],
                       tables=[("", self.to_frame())])

    @property
    def statement(self) -> str:
        """The translation as one sentence a trust board reads, with its intervals."""
        ci = self.confidence_interval()
        lvl = f"{100 * self.confidence_level:g}% CI"
        sign = "+" if self.delta_points >= 0 else ""
        p_lo, p_hi = ci.loc["percent_change"]
        text = (
            f"{sign}{self.delta_points:.3g} percentage points of staff -> "
            f"{self.percent_change:+.2f}% mortality ({lvl} {p_lo:+.2f}% to {p_hi:+.2f}%)"
        )
        if math.isfinite(self.expected_deaths):
            d_lo, d_hi = ci.loc["deaths_per_year"]
            text += (
                f" -> {self.deaths:+.1f} deaths per year for a trust with {self.expected_deaths:,.0f} "
                f"expected deaths ({lvl} {d_lo:+.1f} to {d_hi:+.1f})"
            )
        return text


def _validate_share_effect(coef, se, ci, df, delta, change, baseline_share, link, expected_deaths,
                           smr_scale, baseline_smr, confidence_level) -> dict[str, Any]:
    coef = check_real("coef", coef)
    if se is not None and ci is not None:
        raise ValueError("give either `se` or `ci`, not both.")
    if se is None and ci is None:
        raise ValueError("an interval needs `se` (standard error of `coef`) or `ci` (low, high); got neither.")
    if se is not None:
        se = check_real("se", se, low=0.0)
    if ci is not None:
        if isinstance(ci, (str, bytes)) or not hasattr(ci, "__len__") or len(ci) != 2:
            raise TypeError(f"`ci` must be a pair (low, high) of numbers; got {ci!r}.")
        lo, hi = check_real("ci[0]", ci[0]), check_real("ci[1]", ci[1])
        if not lo <= coef <= hi:
            raise ValueError(f"`ci` must satisfy low <= coef <= high; got {ci!r} for coef {coef!r}.")
        ci = (lo, hi)
        if df is not None:
            raise ValueError("`df` applies to an interval made from `se`; a given `ci` is used as it is.")
    df = math.inf if df is None else check_real("df", df, low=0.0, low_open=True, allow_inf=True)
    delta = check_real("delta", delta)
    check_choice("change", change, _CHANGES)
    check_choice("link", link, _LINKS)
    if baseline_share is not None:
        baseline_share = check_real("baseline_share", baseline_share, low=0.0, high=100.0)
    if expected_deaths is not None:
        expected_deaths = check_real("expected_deaths", expected_deaths, low=0.0, low_open=True)
    smr_scale = check_real("smr_scale", smr_scale, low=0.0, low_open=True)
    baseline_smr = smr_scale if baseline_smr is None else check_real("baseline_smr", baseline_smr, low=0.0,
                                                                     low_open=True)
    level = check_confidence_level(confidence_level)
    return dict(coef=coef, se=se, ci=ci, df=df, delta=delta, change=change, baseline_share=baseline_share,
                link=link, expected_deaths=expected_deaths, smr_scale=smr_scale, baseline_smr=baseline_smr,
                level=level)


def share_effect(
    coef: float,
    *,
    se: float | None = None,
    ci: tuple[float, float] | None = None,
    df: float | None = None,
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
        Standard error of ``coef``; the interval is ``coef ± q se`` with ``q``
        the normal quantile, or the t quantile with ``df`` degrees of freedom.
    ci : (float, float), optional
        Confidence interval of ``coef`` instead of ``se`` (for example a
        profile-likelihood or robust interval); its ends are transformed.
    df : float, optional
        Degrees of freedom of a t-based ``se`` (e.g. the residual df of a
        quasi-Poisson fit, as R's ``summary.glm`` uses); default normal.
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
        Rate ratio, percentage change and change in deaths per year;
        ``confidence_interval()`` gives their intervals, ``print()`` a sentence.

    Notes
    -----
    With Δ the change in percentage points (``delta``, or
    ``baseline_share * delta / 100`` for a relative change) and
    :math:`[\\beta_L, \\beta_U]` the interval of the coefficient
    (:math:`\\hat\\beta \\pm q\\,\\mathrm{SE}` or ``ci``):

    - log link: :math:`RR = \\exp(\\beta\\Delta)`, percent change
      :math:`100(RR - 1)`, deaths per year :math:`E(RR - 1)`;
    - identity link on an SMR scaled to :math:`S` (``smr_scale``) with
      baseline :math:`B` (``baseline_smr``): the SMR changes by
      :math:`\\beta\\Delta` scale points, percent change
      :math:`100\\beta\\Delta/B`, deaths per year :math:`E\\beta\\Delta/S`.

    Each transformation is monotone, so the interval is the transformed
    interval of the coefficient (its ends swap when Δ < 0). A change too
    large for floating point is reported as ``inf``, not as an error. The
    deaths are for a trust whose expected deaths stay E; they are an
    association read through the model, not a causal effect.

    R: none (``exp(coef * delta)`` on a ``glm(..., offset = log(E))`` fit).

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
    >>> print(eff.statement)  # doctest: +NORMALIZE_WHITESPACE
    +5 percentage points of staff -> -3.30% mortality (95% CI -5.59% to -0.96%) -> -40.0 deaths per
    year for a trust with 1,212 expected deaths (95% CI -67.7 to -11.6)
    >>> eff.confidence_interval().loc["deaths_per_year"].round(1).tolist()
    [-67.7, -11.6]

    The same coefficient read against a relative change of 5 % of a 40 %
    share (2 points) is a much smaller effect:

    >>> round(tc.share_effect(beta, se=se, delta=5, change="relative",
    ...                       baseline_share=40).percent_change, 2)
    -1.33
    """
    v = _validate_share_effect(coef, se, ci, df, delta, change, baseline_share, link, expected_deaths, smr_scale,
                               baseline_smr, confidence_level)
    dpts = _points(v["delta"], v["change"], v["baseline_share"])
    if dpts == 0:
        raise ValueError(f"`delta` must describe a non-zero change in the share; got 0 percentage points (delta="
                         f"{v['delta']!r}, change={v['change']!r}, baseline_share={v['baseline_share']!r}).")
    b = v["coef"]
    if v["ci"] is None:
        q = _quantile(v["level"], v["df"])
        lo, hi = b - q * v["se"], b + q * v["se"]
        se_out = v["se"]
    else:
        lo, hi = v["ci"]
        se_out = math.nan
    rr, pct, deaths = _translate(b, v["link"], dpts, v["baseline_smr"], v["smr_scale"], v["expected_deaths"])
    return ShareEffect(
        coefficient=b, std_error=se_out, df=v["df"], delta_points=dpts, link=v["link"], smr_scale=v["smr_scale"],
        baseline_smr=v["baseline_smr"], confidence_level=v["level"], rate_ratio=float(rr), percent_change=float(pct),
        expected_deaths=math.nan if v["expected_deaths"] is None else v["expected_deaths"], deaths=float(deaths),
        _coefficient_ci=(float(lo), float(hi)), n_obs=None, n_dropped=0, n_groups=None,
    )


def _validate_implied_coefficient(percent_change, per, change, baseline_share, link, smr_scale, baseline_smr):
    x = check_real("percent_change", percent_change)
    per = check_real("per", per)
    check_choice("change", change, _CHANGES)
    check_choice("link", link, _LINKS)
    if baseline_share is not None:
        baseline_share = check_real("baseline_share", baseline_share, low=0.0, high=100.0, low_open=True)
    smr_scale = check_real("smr_scale", smr_scale, low=0.0, low_open=True)
    baseline_smr = smr_scale if baseline_smr is None else check_real("baseline_smr", baseline_smr, low=0.0,
                                                                     low_open=True)
    return x, per, change, baseline_share, link, smr_scale, baseline_smr


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
    the change in percentage points.

    R: none (``log(1 + x/100) / delta``).

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
    x, per, change, baseline_share, link, smr_scale, baseline_smr = _validate_implied_coefficient(
        percent_change, per, change, baseline_share, link, smr_scale, baseline_smr)
    dpts = _points(per, change, baseline_share)
    if dpts == 0:
        raise ValueError("`per` must describe a non-zero change in the share; got 0 percentage points.")
    if link == "log":
        if x <= -100:
            raise ValueError(f"`percent_change` must be > -100 on the log link; got {x!r}.")
        return math.log1p(x / 100) / dpts
    return x / 100 * baseline_smr / dpts


def _validate_implied_expected_deaths(percent_change, deaths):
    return check_real("percent_change", percent_change), check_real("deaths", deaths)


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
    expected deaths, so :math:`E = 100 d / x`.

    R: none (``100 * d / x``).

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.implied_expected_deaths(-3.3, -40), 1)
    1212.1
    """
    x, d = _validate_implied_expected_deaths(percent_change, deaths)
    if x == 0:
        raise ValueError("`percent_change` must be non-zero.")
    if d == 0 or (d > 0) != (x > 0):
        raise ValueError(
            f"`deaths` must be non-zero with the sign of `percent_change`; got deaths={d!r}, "
            f"percent_change={x!r}."
        )
    return 100.0 * d / x


def _validate_se_from_pvalue(estimate, pvalue, df):
    b = check_real("estimate", estimate)
    p = check_real("pvalue", pvalue)
    if not 0 < p < 1:
        raise ValueError(f"`pvalue` must lie in (0, 1) (a two-sided p-value; 0 and 1 imply an infinite or zero "
                         f"test statistic); got {pvalue!r}.")
    if b == 0:
        raise ValueError("`estimate` must be non-zero to recover a standard error from a p-value.")
    df = math.inf if df is None else check_real("df", df, low=0.0, low_open=True, allow_inf=True)
    return b, p, df


def se_from_pvalue(estimate: float, pvalue: float, *, df: float | None = None) -> float:
    """Standard error implied by an estimate and its two-sided Wald p-value.

    Parameters
    ----------
    estimate : float
        The estimate (non-zero).
    pvalue : float
        Two-sided p-value of the Wald test of ``estimate = 0``, in (0, 1).
    df : float, optional
        Degrees of freedom when the p-value came from a t test (linear models;
        quasi-Poisson and quasi-binomial GLMs as R's ``summary.glm`` reports
        them, with the residual df). Default: a z test.

    Returns
    -------
    float
        :math:`|\\hat\\beta| / q_{1-p/2}`, with :math:`q` the normal quantile, or
        the t quantile with ``df`` degrees of freedom.

    Notes
    -----
    Published p-values are rounded, so the recovered SE is approximate
    (p = .006 stands for anything in [.0055, .0065)). A t-based p-value read
    as z gives the wrong SE: with 18 df, p = .006 means an SE 12% smaller
    than the z reading (0.00215 rather than 0.00244 for the headline's
    -0.0067). Pass the same ``df`` to :func:`share_effect` so the
    interval uses the t quantile too.

    R: ``abs(b) / qt(p / 2, df, lower.tail = FALSE)`` (``qnorm`` without ``df``).

    Examples
    --------
    >>> import teamculture as tc
    >>> round(tc.se_from_pvalue(1.96, 0.05), 4)
    1.0
    >>> round(tc.se_from_pvalue(-0.0067, 0.006, df=18), 6)
    0.002152
    """
    b, p, df = _validate_se_from_pvalue(estimate, pvalue, df)
    q = stats.norm.isf(p / 2) if math.isinf(df) else stats.t.isf(p / 2, df)
    return float(abs(b) / q)
