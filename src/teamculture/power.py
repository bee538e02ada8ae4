"""Design effects and statistical power for staff in teams in trusts.

Three-level balanced designs: ``K`` trusts, ``J`` teams per trust, ``n`` staff
per team, an outcome with intraclass correlations ``icc_team`` (``rho_2``,
share of the total variance between teams within trusts) and ``icc_trust``
(``rho_3``, between trusts). :func:`design_effect_three_level` gives the
variance inflation of a trust-level comparison, :func:`power_three_level` the
power of the test of a predictor measured at the trust, team or staff level,
:func:`minimum_detectable_effect` the smallest standardised effect detectable
with a given power and :func:`sample_size_three_level` the number of trusts,
teams per trust or staff per team needed.
"""

from __future__ import annotations

import math
from typing import Any

from scipy import optimize, special

from teamculture._core.validation import check_choice, check_int, check_real
from teamculture.results import Result, Summary, result_class

__all__ = [
    "design_effect_three_level",
    "power_three_level",
    "minimum_detectable_effect",
    "sample_size_three_level",
    "PowerResult",
]

_LEVELS = ["trust", "team", "staff"]
_ALTERNATIVES = ["two-sided", "greater", "less"]
_MAX_SIZE = 10_000_000


@result_class
class PowerResult(Result):
    """Power of the test of a standardised effect in a three-level design.

    Attributes
    ----------
    effect : float
        Standardised effect: for a binary predictor the mean difference in
        units of the total outcome SD (Cohen's d); for a continuous predictor
        the change in outcome SDs per SD of the predictor.
    power : float
        Probability of rejecting the null hypothesis of no effect.
    alpha : float
        Significance level.
    alternative : str
        ``"two-sided"``, ``"greater"`` or ``"less"``.
    predictor_level : str
        Level at which the predictor varies: ``"trust"``, ``"team"`` or ``"staff"``.
    n_trusts, teams_per_trust, staff_per_team : int
        The design (balanced).
    icc_team, icc_trust : float
        Intraclass correlations between teams within trusts and between trusts.
    predictor_variance : float
        ``share * (1 - share)`` for a binary predictor, 1 for a standardised
        continuous one.
    variance_factor : float
        Variance of the effect estimate relative to a simple random sample of
        the same number of staff (the design effect for this level).
    effective_n : float
        ``n_staff / variance_factor``.
    std_error : float
        Standard error of the standardised effect estimate.
    noncentrality : float
        ``effect / std_error``.
    df : int
        Degrees of freedom of the t test.
    n_obs, n_dropped, n_groups
        ``None``, 0, ``None``: a design, not a computation from data
        (``n_staff`` is the design's number of staff).
    """

    effect: float
    power: float
    alpha: float
    alternative: str
    predictor_level: str
    n_trusts: int
    teams_per_trust: int
    staff_per_team: int
    icc_team: float
    icc_trust: float
    predictor_variance: float
    variance_factor: float
    effective_n: float
    std_error: float
    noncentrality: float
    df: int

    @property
    def n_staff(self) -> int:
        """Total number of staff, ``K * J * n``."""
        return self.n_trusts * self.teams_per_trust * self.staff_per_team

    def summary(self) -> Summary:
        """The design and its power as a :class:`~teamculture.results.Summary`."""
        header = [
            ("power", self.power),
            ("effect (SD units)", self.effect),
            ("alpha", self.alpha),
            ("alternative", self.alternative),
            ("predictor level", self.predictor_level),
            ("design", f"{self.n_trusts} trusts x {self.teams_per_trust} teams x {self.staff_per_team} staff "
                       f"= {self.n_staff:,} staff"),
            ("ICC team, ICC trust", f"{self.icc_team:g}, {self.icc_trust:g}"),
            ("variance factor (design effect)", self.variance_factor),
            ("effective n", self.effective_n),
            ("std_error", self.std_error),
            ("noncentrality", self.noncentrality),
            ("df", self.df),
        ]
        return Summary(f"Power for a {self.predictor_level}-level predictor: {self.power:.3f}", header=header)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def _iccs(icc_team: Any, icc_trust: Any) -> tuple[float, float]:
    r2 = check_real("icc_team", icc_team, low=0.0, high=1.0, high_open=True)
    r3 = check_real("icc_trust", icc_trust, low=0.0, high=1.0, high_open=True)
    if r2 + r3 >= 1.0:
        raise ValueError(
            f"`icc_team` + `icc_trust` must be < 1 (the rest is within-team variance); "
            f"got {r2!r} + {r3!r} = {r2 + r3!r}."
        )
    return r2, r3


def _common(predictor_level, alpha, alternative, predictor, share, icc_team, icc_trust):
    check_choice("predictor_level", predictor_level, _LEVELS)
    check_choice("alternative", alternative, _ALTERNATIVES)
    check_choice("predictor", predictor, ["binary", "continuous"])
    a = check_real("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    p = check_real("share", share, low=0.0, high=1.0, low_open=True, high_open=True)
    r2, r3 = _iccs(icc_team, icc_trust)
    v = p * (1.0 - p) if predictor == "binary" else 1.0
    return a, v, r2, r3


def _design(n_trusts, teams_per_trust, staff_per_team, level):
    k = check_int("n_trusts", n_trusts, minimum=1)
    j = check_int("teams_per_trust", teams_per_trust, minimum=1)
    m = check_int("staff_per_team", staff_per_team, minimum=1)
    df = _df(level, k, j, m)
    if df < 1:
        need = {"trust": "at least 3 trusts",
                "team": "at least 2 teams per trust and K(J-1) >= 2",
                "staff": "more staff than teams plus one (N - KJ - 1 >= 1)"}[level]
        raise ValueError(
            f"`n_trusts`, `teams_per_trust`, `staff_per_team`: the design {k} trusts x {j} teams x {m} staff leaves "
            f"{df} degrees of freedom for a {level}-level predictor; it needs {need}."
        )
    return k, j, m


def _validate_power_three_level(effect, n_trusts, teams_per_trust, staff_per_team, icc_team, icc_trust,
                                predictor_level, alpha, alternative, predictor, share):
    alpha, v, r2, r3 = _common(predictor_level, alpha, alternative, predictor, share, icc_team, icc_trust)
    k, j, m = _design(n_trusts, teams_per_trust, staff_per_team, predictor_level)
    return _effect(effect), k, j, m, r2, r3, alpha, v


# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------

def _variance_factor(level: str, j: float, m: float, r2: float, r3: float) -> float:
    if level == "trust":
        return 1.0 + (m - 1.0) * r2 + (m * j - 1.0) * r3
    if level == "team":
        return 1.0 - r3 + (m - 1.0) * r2
    return 1.0 - r2 - r3


def _df(level: str, k: int, j: int, m: int) -> int:
    if level == "trust":
        return k - 2
    if level == "team":
        return k * (j - 1) - 1
    return k * j * m - k * j - 1


def _upper_tail(c: float, df: float, lam: float) -> float:
    """P(T > c) for T noncentral t(df, lam); guards NaN in tails below ~1e-100."""
    # P(T > c) = P(-T < -c) with -T ~ t(df, -lam): the CDF evaluated directly in the tail
    p = float(special.nctdtr(df, -lam, -c))
    if not math.isfinite(p):
        p = 0.0 if lam < c else 1.0  # only the far tail underflows
    return p


def _t_isf(q: float, df: float) -> float:
    """Upper-tail quantile of the central t distribution."""
    return -float(special.stdtrit(df, q))


def _power_from(lam: float, df: float, alpha: float, alternative: str) -> float:
    if alternative == "two-sided":
        c = _t_isf(alpha / 2, df)
        return _upper_tail(c, df, lam) + _upper_tail(c, df, -lam)  # P(T > c) + P(T < -c)
    c = _t_isf(alpha, df)
    if alternative == "greater":
        return _upper_tail(c, df, lam)
    return _upper_tail(c, df, -lam)


def _result(effect, k, j, m, r2, r3, level, alpha, alternative, v) -> PowerResult:
    vf = _variance_factor(level, j, m, r2, r3)
    n = k * j * m
    se = math.sqrt(vf / (n * v))
    lam = effect / se
    df = _df(level, k, j, m)
    return PowerResult(
        effect=float(effect), power=_power_from(lam, df, alpha, alternative), alpha=alpha,
        alternative=alternative, predictor_level=level, n_trusts=k, teams_per_trust=j, staff_per_team=m,
        icc_team=r2, icc_trust=r3, predictor_variance=v, variance_factor=vf, effective_n=n / vf,
        std_error=se, noncentrality=lam, df=df, n_obs=None, n_dropped=0, n_groups=None,
    )


def _validate_design_effect_three_level(staff_per_team, teams_per_trust, icc_team, icc_trust):
    m = check_real("staff_per_team", staff_per_team, low=1.0)
    j = check_real("teams_per_trust", teams_per_trust, low=1.0)
    r2, r3 = _iccs(icc_team, icc_trust)
    return m, j, r2, r3


def design_effect_three_level(staff_per_team: Any, teams_per_trust: Any, *, icc_team: Any, icc_trust: Any) -> float:
    """Design effect of a three-level sample (staff in teams in trusts).

    Parameters
    ----------
    staff_per_team : float
        Staff per team ``n`` (>= 1; an average for unbalanced designs gives an
        approximation).
    teams_per_trust : float
        Teams per trust ``J`` (>= 1).
    icc_team : float
        ``rho_2``: share of the total outcome variance between teams within trusts.
    icc_trust : float
        ``rho_3``: share of the total outcome variance between trusts.

    Returns
    -------
    float
        The factor by which clustering inflates the variance of a mean, or of
        the effect of a trust-level predictor, relative to a simple random
        sample of the same number of staff.

    Notes
    -----
    With total variance ``sigma^2 = sigma_e^2 + tau_team^2 + tau_trust^2``, the
    variance of the mean of one trust's ``nJ`` staff is
    ``(sigma_e^2 + n tau_team^2 + nJ tau_trust^2) / (nJ)``, so

    .. math::

        \\mathrm{DEFF} = 1 + (n - 1)\\rho_2 + (nJ - 1)\\rho_3 ,

    which reduces to Kish's ``1 + (m - 1) ICC`` for two levels. The effective
    sample size is ``N / DEFF``.

    R: no base function; the variance factor in ``PowerUpR::mdes.cra3``.

    References
    ----------
    .. [1] Hedges LV, Rhoads C (2010). Statistical Power Analysis in Education
       Research (NCSER 2010-3006). US Department of Education.
    .. [2] Konstantopoulos S (2008). The power of the test for treatment
       effects in three-level cluster randomized designs. Journal of Research
       on Educational Effectiveness 1:66-88.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.design_effect_three_level(10, 20, icc_team=0.08 / 0.70, icc_trust=0.02 / 0.70)
    7.714...
    """
    m, j, r2, r3 = _validate_design_effect_three_level(staff_per_team, teams_per_trust, icc_team, icc_trust)
    return _variance_factor("trust", j, m, r2, r3)


def power_three_level(
    effect: Any,
    *,
    n_trusts: Any,
    teams_per_trust: Any,
    staff_per_team: Any,
    icc_team: Any,
    icc_trust: Any,
    predictor_level: str = "trust",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    predictor: str = "binary",
    share: float = 0.5,
) -> PowerResult:
    """Power of the t test of a predictor in a balanced three-level design.

    Parameters
    ----------
    effect : float
        Standardised effect: for a binary predictor the difference in means in
        units of the total outcome SD; for a continuous predictor the change
        in outcome SDs per SD of the predictor.
    n_trusts, teams_per_trust, staff_per_team : int
        ``K`` trusts, ``J`` teams per trust, ``n`` staff per team.
    icc_team, icc_trust : float
        ``rho_2`` and ``rho_3``: shares of the total variance between teams
        within trusts and between trusts.
    predictor_level : {"trust", "team", "staff"}, default "trust"
        Where the predictor varies: between trusts (e.g. a trust policy, the
        trust's share of staff in real teams), between teams within trusts
        (trusts as fixed blocks), or between staff within teams.
    alpha : float, default 0.05
        Significance level.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Alternative hypothesis.
    predictor : {"binary", "continuous"}, default "binary"
        A binary predictor with ``share`` of units at 1, or a standardised
        continuous predictor.
    share : float, default 0.5
        Proportion of units with the binary predictor equal to 1 (ignored for
        continuous predictors).

    Returns
    -------
    PowerResult
        Power, standard error, noncentrality, degrees of freedom and the
        design's variance factor.

    Notes
    -----
    In units of the total outcome variance, with ``N = KJn`` staff and
    ``V = share (1 - share)`` (binary) or ``V = 1`` (continuous), the effect
    estimate has variance ``F / (N V)``, where the variance factor ``F`` and
    the degrees of freedom are

    ======= ================================================= ==============
    level   ``F``                                             df
    ======= ================================================= ==============
    trust   ``1 + (n - 1) rho_2 + (nJ - 1) rho_3``            ``K - 2``
    team    ``1 - rho_3 + (n - 1) rho_2``                     ``K(J-1) - 1``
    staff   ``1 - rho_2 - rho_3``                             ``N - KJ - 1``
    ======= ================================================= ==============

    (team level: trust effects removed by blocking; staff level: team and
    trust effects removed, the effect assumed constant across teams).
    The test statistic is noncentral t with noncentrality
    ``lambda = effect / sqrt(F / (N V))``; the two-sided power is
    ``P(T > t_{1-alpha/2}) + P(T < -t_{1-alpha/2})``.

    For a binary trust-level predictor with ``share = 0.5`` this equals R's
    ``power.t.test(n = K/2, delta = effect, sd = sqrt(F / (J n)), strict = TRUE)``.

    R: ``PowerUpR::power.cra3r3`` (trust level), ``power.bcra3f2`` (team),
    ``power.bira3c1`` (staff), without covariates; ``stats::power.t.test`` as
    above.

    References
    ----------
    .. [1] Konstantopoulos S (2008). The power of the test for treatment
       effects in three-level cluster randomized designs. Journal of Research
       on Educational Effectiveness 1:66-88.
    .. [2] Konstantopoulos S (2008). The power of the test for treatment
       effects in three-level block randomized designs. Journal of Research
       on Educational Effectiveness 1:265-288.
    .. [3] Hedges LV, Rhoads C (2010). Statistical Power Analysis in Education
       Research (NCSER 2010-3006). US Department of Education.

    Examples
    --------
    >>> import teamculture as tc
    >>> res = tc.power_three_level(0.3, n_trusts=40, teams_per_trust=10, staff_per_team=8,
    ...                                  icc_team=0.11, icc_trust=0.03)
    >>> round(res.power, 3), res.df
    (0.982, 38)
    >>> round(tc.power_three_level(0.1, n_trusts=40, teams_per_trust=10, staff_per_team=8,
    ...       icc_team=0.11, icc_trust=0.03, predictor_level="staff").power, 3)
    0.862
    """
    eff, k, j, m, r2, r3, alpha, v = _validate_power_three_level(
        effect, n_trusts, teams_per_trust, staff_per_team, icc_team, icc_trust, predictor_level, alpha, alternative,
        predictor, share)
    return _result(eff, k, j, m, r2, r3, predictor_level, alpha, alternative, v)


def _target_power(power: Any, alpha: float) -> float:
    target = check_real("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    if target <= alpha:
        raise ValueError(f"`power` must exceed `alpha` ({alpha!r}); got {power!r}.")
    return target


def _effect(effect: Any) -> float:
    return check_real("effect", effect)


def minimum_detectable_effect(
    *,
    n_trusts: Any,
    teams_per_trust: Any,
    staff_per_team: Any,
    icc_team: Any,
    icc_trust: Any,
    power: float = 0.8,
    predictor_level: str = "trust",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    predictor: str = "binary",
    share: float = 0.5,
) -> PowerResult:
    """Smallest standardised effect detectable with the given power.

    Parameters
    ----------
    n_trusts, teams_per_trust, staff_per_team : int
        ``K`` trusts, ``J`` teams per trust, ``n`` staff per team.
    icc_team, icc_trust : float
        ``rho_2`` and ``rho_3``: shares of the total variance between teams
        within trusts and between trusts.
    power : float, default 0.8
        The target power, in (alpha, 1).
    predictor_level : {"trust", "team", "staff"}, default "trust"
        Where the predictor varies (see :func:`power_three_level`).
    alpha : float, default 0.05
        Significance level.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Alternative hypothesis.
    predictor : {"binary", "continuous"}, default "binary"
        A binary predictor with ``share`` of units at 1, or a standardised
        continuous predictor.
    share : float, default 0.5
        Proportion of units with the binary predictor equal to 1 (ignored for
        continuous predictors).

    Returns
    -------
    PowerResult
        With ``effect`` the minimum detectable effect (positive; negative for
        ``alternative="less"``) and ``power`` equal to the target.

    Notes
    -----
    Solves ``power(effect) = power`` exactly for the noncentral t (Brent's
    method), rather than the common approximation
    ``MDE = (t_{1-alpha/2} + t_{power}) SE``, which it approaches for large df.

    R: ``PowerUpR::mdes.cra3`` (trust level); ``stats::power.t.test(n = K/2,
    sd = sqrt(F / (J n)), power = 0.8, strict = TRUE)$delta``.

    Examples
    --------
    >>> import teamculture as tc
    >>> mde = tc.minimum_detectable_effect(n_trusts=40, teams_per_trust=10, staff_per_team=8,
    ...                                          icc_team=0.11, icc_trust=0.03)
    >>> round(mde.effect, 4)
    0.2068
    """
    level = predictor_level
    alpha, v, r2, r3 = _common(level, alpha, alternative, predictor, share, icc_team, icc_trust)
    k, j, m = _design(n_trusts, teams_per_trust, staff_per_team, level)
    target = _target_power(power, alpha)
    sign = -1.0 if alternative == "less" else 1.0
    se = _result(1.0, k, j, m, r2, r3, level, alpha, alternative, v).std_error

    def gap(lam: float) -> float:
        return _power_from(sign * lam, _df(level, k, j, m), alpha, alternative) - target

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2.0
    lam = optimize.brentq(gap, 0.0, hi, xtol=1e-14, rtol=1e-14, maxiter=500)
    return _result(sign * lam * se, k, j, m, r2, r3, level, alpha, alternative, v)


def sample_size_three_level(
    effect: Any,
    *,
    solve_for: str = "n_trusts",
    n_trusts: Any = None,
    teams_per_trust: Any = None,
    staff_per_team: Any = None,
    icc_team: Any,
    icc_trust: Any,
    power: float = 0.8,
    predictor_level: str = "trust",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    predictor: str = "binary",
    share: float = 0.5,
) -> PowerResult:
    """Smallest number of trusts, teams per trust or staff per team for a target power.

    Parameters
    ----------
    effect : float
        Standardised effect to detect (see :func:`power_three_level`).
    solve_for : {"n_trusts", "teams_per_trust", "staff_per_team"}, default "n_trusts"
        The size to solve for; the other two must be given.
    n_trusts, teams_per_trust, staff_per_team : int, optional
        The fixed sizes.
    icc_team, icc_trust, predictor_level, alpha, alternative, predictor, share
        As in :func:`power_three_level`.
    power : float, default 0.8
        Target power.

    Returns
    -------
    PowerResult
        For the smallest whole size whose power reaches the target (its
        achieved ``power`` is >= the target).

    Raises
    ------
    ValueError
        When no size reaches the target: for a trust-level predictor more
        teams or staff cannot make up for too few trusts, because the
        variance of the effect never falls below ``rho_3 / (K V)``.

    Notes
    -----
    Power increases with each size, so the answer is found by doubling and
    then bisection on whole numbers.

    R: ``stats::power.t.test(delta = effect, sd = sqrt(F / (J n)), power = 0.8,
    strict = TRUE)$n`` gives trusts per arm (not rounded) for a binary
    trust-level predictor with ``share = 0.5``.

    Examples
    --------
    >>> import teamculture as tc
    >>> res = tc.sample_size_three_level(0.3, n_trusts=None, teams_per_trust=10, staff_per_team=8,
    ...                                        icc_team=0.11, icc_trust=0.03)
    >>> res.n_trusts, round(res.power, 3)
    (21, 0.818)
    """
    check_choice("solve_for", solve_for, ["n_trusts", "teams_per_trust", "staff_per_team"])
    level = predictor_level
    alpha, v, r2, r3 = _common(level, alpha, alternative, predictor, share, icc_team, icc_trust)
    target = _target_power(power, alpha)
    eff = _effect(effect)
    if eff == 0:
        raise ValueError("`effect` must be non-zero to solve for a sample size.")
    if (alternative == "greater" and eff < 0) or (alternative == "less" and eff > 0):
        raise ValueError(f"`effect` {eff!r} has the wrong sign for alternative={alternative!r}.")
    sizes = {"n_trusts": n_trusts, "teams_per_trust": teams_per_trust, "staff_per_team": staff_per_team}
    if sizes[solve_for] is not None:
        raise ValueError(f"`{solve_for}` is being solved for; leave it as None.")
    missing = [name for name in sizes if name != solve_for and sizes[name] is None]
    if missing:
        raise ValueError(f"{', '.join(f'`{m}`' for m in missing)} must be given when solving for `{solve_for}`.")
    fixed = {name: check_int(name, val, minimum=1) for name, val in sizes.items() if name != solve_for}

    def result(size: int) -> PowerResult | None:
        d = dict(fixed, **{solve_for: size})
        k, j, m = d["n_trusts"], d["teams_per_trust"], d["staff_per_team"]
        if _df(level, k, j, m) < 1:
            return None
        return _result(eff, k, j, m, r2, r3, level, alpha, alternative, v)

    def ok(size: int) -> bool:
        r = result(size)
        return r is not None and r.power >= target

    hi = 1
    while not ok(hi):
        if hi >= _MAX_SIZE:
            best = result(_MAX_SIZE)
            best_power = best.power if best is not None else float("nan")
            raise ValueError(
                f"no `{solve_for}` up to {_MAX_SIZE:,} reaches power {target:g} for effect {eff:g} "
                f"(power at {_MAX_SIZE:,} is {best_power:.4f}); increase the other sizes "
                "(for a trust-level predictor: the number of trusts)."
            )
        hi = min(2 * hi, _MAX_SIZE)
    lo = hi // 2  # not ok (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return result(hi)  # type: ignore[return-value]  # ok(hi) holds, so not None
