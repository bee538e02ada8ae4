"""Standardised mortality ratios and funnel plots for comparing trusts.

:func:`smr` gives standardised ratios ``O/E`` with exact (Garwood) or Byar
confidence intervals. :func:`funnel_limits` computes funnel-plot control
limits at 95% and 99.8% around a target, for indirectly standardised ratios
(``O/E``: SMR, HSMR, SHMI) and for proportions, with over-dispersion handled
either by an additive random effect (``tau2``) or a multiplicative factor
(``phi``), in the NHS Digital SHMI variant (log scale, 10% truncation) or the
CQC/Spiegelhalter variant (square-root scale, 10% winsorisation). The result
flags each unit and draws the funnel plot (matplotlib, the ``teamculture[plot]``
extra).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from teamculture._core.errors import DegenerateDataWarning
from teamculture._core.groups import align, has_index
from teamculture._core.validation import (
    as_float_vector,
    check_bool,
    check_choice,
    check_confidence_level,
    check_real,
    few,
)
from teamculture._core.warn import warn
from teamculture.results import Result, Summary, result_class

__all__ = ["smr", "funnel_limits", "FunnelResult", "FLAG_CATEGORIES"]

#: Ordered categories of :attr:`FunnelResult.table` ``flag`` column.
#: "alert" = outside the 95% limits only, "alarm" = outside the 99.8% limits.
FLAG_CATEGORIES: tuple[str, ...] = ("low_alarm", "low_alert", "in_control", "high_alert", "high_alarm")

_LEVELS: tuple[tuple[str, float], ...] = (("95", 0.95), ("998", 0.998))
_TABLE_COLUMNS: tuple[str, ...] = (
    "observed", "expected", "ratio", "z", "z_adjusted",
    "lower_95", "upper_95", "lower_998", "upper_998", "trimmed", "flag",
)


# ---------------------------------------------------------------------------
# input handling shared by the public functions
# ---------------------------------------------------------------------------

def _as_vector(values: Any, name: str) -> np.ndarray:
    """``values`` as a float 1-d copy (a scalar is one unit); booleans and text refused naming ``name``."""
    if values is None:
        raise TypeError(f"`{name}` must be numbers (a Series, list or array); got None.")
    if isinstance(values, pd.DataFrame):
        raise ValueError(f"`{name}` must be one value per unit (a Series or 1-d array); got a DataFrame with "
                         f"{values.shape[1]} column(s).")
    if np.ndim(values) == 0 and not isinstance(values, (pd.Series, pd.Index)):
        values = [values]
    raw = values.dtype if isinstance(values, (pd.Series, pd.Index, np.ndarray)) else np.asarray(values).dtype
    if raw == bool:
        raise TypeError(f"`{name}` must be numeric counts; got booleans.")
    arr = as_float_vector(values, name=name, allow_inf=True)
    return np.array(arr, dtype=float, copy=True)  # never a view of the caller's data


def _default_index(obj: Any) -> bool:
    """Whether a pandas object's index is the default 0..n-1 (carries no unit labels)."""
    idx = obj.index
    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1


def _bad(mask: np.ndarray, labels: pd.Index, values: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    return few([(labels[i], values[i].item()) for i in idx])


def _pair(observed: Any, expected: Any, labels: Any, expected_name: str) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Observed and expected paired by label (pandas) or position (arrays), and the unit labels."""
    if has_index(observed) and has_index(expected):
        expected = align(expected, observed.index, name=expected_name, ref_name="observed")
    o = _as_vector(observed, "observed")
    e = _as_vector(expected, expected_name)
    if len(o) != len(e):
        raise ValueError(f"`observed` has {len(o)} values but `{expected_name}` has {len(e)}; they must pair up.")
    carriers = [(n, v) for n, v in (("observed", observed), (expected_name, expected))
                if has_index(v) and not _default_index(v)]
    if labels is not None:
        if isinstance(labels, (str, bytes)) or np.ndim(labels) != 1:
            raise ValueError(f"`labels` must be one label per unit (a list or 1-d array); got {labels!r:.60}.")
        lab = pd.Index(labels)
        if len(lab) != len(o):
            raise ValueError(f"`labels` has {len(lab)} entries but there are {len(o)} units.")
        for n, v in carriers:
            if not lab.equals(v.index):
                raise ValueError(
                    f"`labels` and the index of `{n}` disagree; `{n}` already carries unit labels (its index), "
                    "which are never replaced by position. Drop `labels`, or pass plain arrays (.to_numpy()) "
                    "with `labels`."
                )
    elif carriers:
        lab = carriers[0][1].index
    else:
        lab = pd.RangeIndex(len(o))
    if lab.has_duplicates:
        source = "`labels`" if labels is not None else f"the index of `{carriers[0][0]}`"
        dup = lab[lab.duplicated()].unique().tolist()
        raise ValueError(f"unit labels ({source}) must be unique; {len(dup)} duplicated: {few(dup)}.")
    return o, e, lab


def _units(observed: Any, expected: Any, labels: Any, *, expected_name: str = "expected",
           integer_observed: bool = False, proportion: bool = False,
           zero_expected: bool = False) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Validate paired counts; return float copies and the unit labels."""
    o, e, lab = _pair(observed, expected, labels, expected_name)
    bad = ~np.isfinite(o) | (o < 0)
    if bad.any():
        raise ValueError(
            f"`observed` must be finite and >= 0; {bad.sum()} unit(s) are not: (label, value) "
            f"{_bad(bad, lab, o)}. Drop or correct these units explicitly."
        )
    if integer_observed:
        frac = o != np.round(o)
        if frac.any():
            raise ValueError(
                f"`observed` must be whole counts for exact Poisson intervals; {frac.sum()} unit(s) "
                f"are not: (label, value) {_bad(frac, lab, o)}. Use method='byar' for non-integer counts."
            )
    bad = ~np.isfinite(e) | ((e < 0) if zero_expected else (e <= 0))
    if bad.any():
        need = ">= 0" if zero_expected else "> 0"
        raise ValueError(
            f"`{expected_name}` must be finite and {need}; {bad.sum()} unit(s) are not: (label, value) "
            f"{_bad(bad, lab, e)}. Drop or correct these units explicitly."
        )
    if proportion:
        over = o > e
        if over.any():
            raise ValueError(
                f"`observed` events cannot exceed `{expected_name}`; {over.sum()} unit(s) do: "
                f"(label, events) {_bad(over, lab, o)}."
            )
    return o, e, lab


# ---------------------------------------------------------------------------
# SMR with exact (Garwood) and Byar intervals
# ---------------------------------------------------------------------------

def _garwood(o: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson limits for the count ``o`` (chi-squared / gamma quantiles)."""
    pos = o > 0
    low = np.zeros_like(o)
    # chi2.ppf(q, 2 O) / 2 == gamma.ppf(q, O); the gamma form is exact for large O too
    low[pos] = stats.gamma.ppf(alpha / 2, o[pos])
    high = stats.gamma.isf(alpha / 2, o + 1.0)
    return low, high


def _byar(o: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson limits."""
    z = stats.norm.isf(alpha / 2)
    pos = o > 0
    low = np.zeros_like(o)
    op = o[pos]
    low[pos] = op * (1.0 - 1.0 / (9.0 * op) - z / (3.0 * np.sqrt(op))) ** 3
    o1 = o + 1.0
    high = o1 * (1.0 - 1.0 / (9.0 * o1) + z / (3.0 * np.sqrt(o1))) ** 3
    return np.maximum(low, 0.0), high


def _validate_smr(observed, expected, method, confidence_level, labels):
    check_choice("method", method, ["exact", "byar"])
    level = check_confidence_level(confidence_level)
    o, e, lab = _units(observed, expected, labels, integer_observed=(method == "exact"), zero_expected=True)
    return o, e, lab, level


def smr(observed: Any, expected: Any, *, method: str = "exact", confidence_level: float = 0.95,
        labels: Any = None) -> pd.DataFrame:
    """Standardised mortality ratios ``O/E`` with confidence intervals.

    Parameters
    ----------
    observed : array_like or pandas.Series
        Observed counts ``O`` (deaths), one per unit; whole numbers >= 0 for
        ``method="exact"``.
    expected : array_like or pandas.Series
        Expected counts ``E`` >= 0 from the case-mix model. Two Series are
        matched by their index (reordered when the same labels come in
        another order, refused when the labels differ); arrays pair by
        position. A unit with ``E = 0`` has an infinite SMR (NaN with no
        deaths), reported as such with a
        :class:`~teamculture.errors.DegenerateDataWarning`.
    method : {"exact", "byar"}, default "exact"
        ``"exact"``: Garwood's exact Poisson interval; ``"byar"``: Byar's
        closed-form approximation to it.
    confidence_level : float, default 0.95
        Two-sided coverage of the interval.
    labels : array_like, optional
        Unit labels for the index of the result, for plain arrays. Defaults
        to the index of ``observed`` (or ``expected``) when it is a Series,
        else ``0..n-1``; labels that disagree with a Series' index are refused.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit label, columns ``observed``, ``expected``, ``smr``
        (``O/E``), ``ci_low``, ``ci_high`` (float).

    Notes
    -----
    With ``alpha = 1 - confidence_level``, the exact (Garwood) interval for the
    Poisson mean of ``O`` is

    .. math::

        \\left[\\tfrac12\\chi^2_{2O,\\,\\alpha/2},\\;
        \\tfrac12\\chi^2_{2(O+1),\\,1-\\alpha/2}\\right]

    (lower limit 0 when ``O = 0``), and Byar's approximation is

    .. math::

        O_L = O\\left(1 - \\frac{1}{9O} - \\frac{z}{3\\sqrt{O}}\\right)^3,\\quad
        O_U = (O+1)\\left(1 - \\frac{1}{9(O+1)} + \\frac{z}{3\\sqrt{O+1}}\\right)^3

    with ``z`` the ``1 - alpha/2`` normal quantile (``O_L = 0`` when ``O = 0``,
    and when the bracket is negative, as for ``O = 1`` at high confidence levels).
    Both are divided by ``E``, which is treated as known. The exact interval
    is what R's ``poisson.test(O, E)$conf.int`` returns.

    R: ``stats::poisson.test(O, E)$conf.int`` (exact).

    References
    ----------
    .. [1] Garwood F (1936). Fiducial limits for the Poisson distribution.
       Biometrika 28:437-442.
    .. [2] Breslow NE, Day NE (1987). Statistical Methods in Cancer Research,
       vol. II: The Design and Analysis of Cohort Studies. IARC, Lyon (Byar's
       approximation, p. 69).

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.smr([30, 0], [25.0, 4.0], labels=["A", "B"])
       observed  expected  smr    ci_low   ci_high
    A      30.0      25.0  1.2  0.809...  1.713...
    B       0.0       4.0  0.0  0.000...  0.922...
    >>> tc.smr(30, 25.0, method="byar")["ci_low"].iloc[0]
    np.float64(0.809...)
    """
    o, e, lab, level = _validate_smr(observed, expected, method, confidence_level, labels)
    alpha = 1.0 - level
    low, high = (_garwood if method == "exact" else _byar)(o, alpha)
    zero = e == 0
    if zero.any():
        warn(f"`expected` is 0 for {int(zero.sum())} unit(s) {few(lab[zero].tolist())}: their SMR is inf (NaN "
             "with no deaths either) and their interval unbounded.", DegenerateDataWarning)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio, lo, hi = o / e, low / e, high / e
    lo[zero & (o == 0)] = 0.0  # the lower limit of a ratio with no deaths is 0 whatever E
    return pd.DataFrame({"observed": o, "expected": e, "smr": ratio, "ci_low": lo, "ci_high": hi}, index=lab)


# ---------------------------------------------------------------------------
# funnel limits
# ---------------------------------------------------------------------------

def _transform(data_type: str, method: str):
    """Return (forward g, inverse g^-1 with clipping, s(E)) for the variant."""
    if data_type == "proportion":
        def fwd(p):
            return np.arcsin(np.sqrt(p))

        def inv(y):
            return np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2

        def se(n):
            return 1.0 / (2.0 * np.sqrt(n))
    elif method == "shmi":
        def fwd(r):
            with np.errstate(divide="ignore"):
                return np.log(r)

        inv = np.exp

        def se(e):
            return 1.0 / np.sqrt(e)
    else:
        fwd = np.sqrt

        def inv(y):
            return np.maximum(y, 0.0) ** 2

        def se(e):
            return 1.0 / (2.0 * np.sqrt(e))
    return fwd, inv, se


def _trim(z: np.ndarray, method: str, trim: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (z used for phi, mask of units used, trimmed flag)."""
    n = len(z)
    if not trim:
        return z, np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if method == "shmi":
        # average ranks 1..n; drop units in the bottom or top decile group,
        # floor(rank * 10 / (n + 1)) in {0, 9}; compared in exact integer
        # arithmetic on 2*rank (average ranks are multiples of 1/2).
        r2 = np.rint(2.0 * stats.rankdata(z, method="average")).astype(np.int64)
        group = (r2 * 10) // (2 * (n + 1))
        trimmed = (group == 0) | (group >= 9)
        return z[~trimmed], ~trimmed, trimmed
    lo, hi = np.quantile(z, [0.1, 0.9])  # type 7, R's default
    zw = np.clip(z, lo, hi)
    trimmed = (z < lo) | (z > hi)
    return zw, np.ones(n, dtype=bool), trimmed


def _dispersion(z_used: np.ndarray, w_used: np.ndarray) -> tuple[float, float]:
    n = len(z_used)
    phi = float(np.mean(z_used**2))
    sw = float(np.sum(w_used))
    denom = sw - float(np.sum(w_used**2)) / sw
    num = n * phi - (n - 1)
    tau2 = max(0.0, num / denom) if denom > 0 else 0.0
    return phi, tau2


def _validate_funnel(observed, expected, labels, data_type, method, overdispersion, target, trim, exact):
    check_choice("data_type", data_type, ["ratio", "proportion"])
    trim = check_bool("trim", trim)
    exact = check_bool("exact", exact)
    check_choice("method", method, ["shmi", "cqc"])
    check_choice("overdispersion", overdispersion, ["additive", "multiplicative", None])
    o, e, lab = _units(observed, expected, labels, proportion=(data_type == "proportion"))
    if len(o) < 2:
        raise ValueError(
            f"`observed` and `expected` must have at least 2 units (funnel limits estimate over-dispersion); "
            f"got {len(o)}."
        )
    if target is not None:
        if data_type == "ratio":
            raise ValueError(
                "`target` applies to data_type='proportion' only; ratios O/E are compared with 1 "
                "(rescale `expected` if your case-mix model is not calibrated)."
            )
        target = check_real("target", target, low=0.0, high=1.0, low_open=True, high_open=True)
    if exact and overdispersion is None and data_type == "proportion":
        frac = e != np.round(e)
        if frac.any():
            raise ValueError(
                f"`expected`: exact binomial limits need whole-number denominators; {int(frac.sum())} unit(s) are "
                f"not: (label, value) {_bad(frac, lab, e)}. Pass exact=False for the normal approximation."
            )
    return o, e, lab, target, trim, exact


def _limit_sd(data_type: str, method: str, overdispersion: str | None, phi: float, tau2: float,
              e: np.ndarray) -> np.ndarray:
    """Standard deviation on the transformed scale used for the limits at ``e``."""
    s = _transform(data_type, method)[2](e)
    if overdispersion == "additive":
        return np.sqrt(s**2 + tau2)
    if overdispersion == "multiplicative":
        return s * math.sqrt(max(phi, 1.0))
    return s


def _exact_limits(expected: np.ndarray, p: float, data_type: str, target: float) -> np.ndarray:
    """Interpolated exact Poisson (binomial) quantile limits on the ratio (proportion) scale.

    Spiegelhalter (2005, appendix A.1): with ``r`` the ``p``-quantile of the
    count under the target (the smallest ``r`` with ``F(r) >= p``; Poisson
    with mean ``E`` for ratios, binomial ``(n, target)`` for proportions),

        a = (F(r) - p) / (F(r) - F(r - 1)),   limit = (r - a) / E   (or / n),

    which moves continuously from ``(r - 1)/E`` to ``r/E`` as ``p`` goes from
    ``F(r - 1)`` to ``F(r)``, so the funnel is smooth although counts are
    whole numbers. A limit below 0 (``r = 0``: the count 0 is not unusual) is 0.
    """
    if data_type == "ratio":
        dist = stats.poisson(expected)
    else:
        dist = stats.binom(expected, target)
    r = dist.ppf(p)
    # ppf by floating point may land one count off where F(r) is within rounding of p: settle it exactly
    f_r = dist.cdf(r)
    low = f_r < p
    r = np.where(low, r + 1.0, r)
    f_r = np.where(low, dist.cdf(r), f_r)
    f_r1 = dist.cdf(r - 1.0)
    back = f_r1 >= p
    r = np.where(back, r - 1.0, r)
    f_r, f_r1 = np.where(back, f_r1, f_r), np.where(back, dist.cdf(r - 1.0), f_r1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(f_r > f_r1, (f_r - p) / (f_r - f_r1), 0.0)
    return np.maximum(r - a, 0.0) / expected


def _limits_at(e: np.ndarray, data_type: str, method: str, overdispersion: str | None, phi: float, tau2: float,
               target: float, exact: bool) -> dict[str, np.ndarray]:
    """``lower_95``, ``upper_95``, ``lower_998``, ``upper_998`` on the ratio (proportion) scale at ``e``."""
    out: dict[str, np.ndarray] = {}
    if exact:
        for tag, level in _LEVELS:
            out[f"lower_{tag}"] = _exact_limits(e, (1.0 - level) / 2.0, data_type, target)
            out[f"upper_{tag}"] = _exact_limits(e, (1.0 + level) / 2.0, data_type, target)
        return out
    fwd, inv, _ = _transform(data_type, method)
    theta0 = float(fwd(target))
    sd = _limit_sd(data_type, method, overdispersion, phi, tau2, e)
    for tag, level in _LEVELS:
        zc = stats.norm.isf((1.0 - level) / 2)
        out[f"lower_{tag}"] = inv(theta0 - zc * sd)
        out[f"upper_{tag}"] = inv(theta0 + zc * sd)
    return out


@result_class
class FunnelResult(Result):
    """Funnel-plot limits, over-dispersion estimates and per-unit flags.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per unit, indexed by unit label, with columns ``observed``,
        ``expected`` (for proportions: events and denominators), ``ratio``
        (``observed / expected``: the SMR, or the proportion), ``z`` (the
        unadjusted z-score on the transformed scale), ``z_adjusted`` (the
        z-score allowing for the over-dispersion in use), ``lower_95``,
        ``upper_95``, ``lower_998``, ``upper_998`` (limits on the ratio scale
        for the unit's ``expected``), ``trimmed`` (bool: truncated or
        winsorised in the over-dispersion estimate) and ``flag`` (ordered
        categorical, :data:`FLAG_CATEGORIES`).
    data_type : str
        ``"ratio"`` or ``"proportion"``.
    method : str
        ``"shmi"`` (log scale, truncation) or ``"cqc"`` (square-root scale,
        winsorisation); proportions always use the arcsine-square-root scale.
    overdispersion : str or None
        ``"additive"``, ``"multiplicative"`` or ``None`` (Poisson/binomial limits).
    target : float
        The target on the ratio (or proportion) scale.
    phi : float
        Estimated over-dispersion factor (mean squared trimmed z-score),
        reported whatever ``overdispersion`` is.
    tau2 : float
        Estimated additive between-unit variance on the transformed scale
        (>= 0), reported whatever ``overdispersion`` is.
    n_trimmed : int
        Number of units truncated (SHMI) or winsorised (CQC) in the estimate.
    trim : bool
        Whether the over-dispersion estimate trimmed the extreme z-scores.
    exact : bool
        Whether limits without over-dispersion are exact Poisson (binomial)
        quantiles (``overdispersion=None`` and ``exact=True``); else they
        are normal approximations on the variant's scale.
    n_obs : int
        Number of units.
    n_dropped : int
        Always 0: units with missing or invalid counts are refused, not dropped.
    n_groups : None
        No grouping.
    """

    table: pd.DataFrame
    data_type: str
    method: str
    overdispersion: str | None
    target: float
    phi: float
    tau2: float
    n_trimmed: int
    trim: bool
    exact: bool = False

    @property
    def _exact(self) -> bool:
        return bool(self.exact) and self.overdispersion is None

    # -- limits on a grid ---------------------------------------------------------
    def _sd(self, e: np.ndarray) -> np.ndarray:
        return _limit_sd(self.data_type, self.method, self.overdispersion, self.phi, self.tau2, e)

    def limits(self, expected: Any = None) -> pd.DataFrame:
        """Control limits on the ratio scale for a grid of expected counts.

        Parameters
        ----------
        expected : array_like, optional
            Expected counts (denominators for proportions) at which to
            evaluate the limits; default 200 points spaced evenly on a log
            scale from half the smallest to 1.1 times the largest unit.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``expected``, columns ``target``, ``lower_95``,
            ``upper_95``, ``lower_998``, ``upper_998`` -- ready to draw.
        """
        if expected is None:
            e_units = self.table["expected"].to_numpy()
            grid = np.geomspace(0.5 * e_units.min(), 1.1 * e_units.max(), 200)
        else:
            grid = _as_vector(expected, "expected")
            bad = ~np.isfinite(grid) | (grid <= 0)
            if bad.any():
                raise ValueError(
                    f"`expected` must be finite and > 0; {bad.sum()} value(s) are not: "
                    f"{few(grid[bad].tolist())}."
                )
        if self._exact and self.data_type == "proportion":
            if expected is None:
                grid = np.unique(np.round(grid))
                grid = grid[grid >= 1]
            elif np.any(grid != np.round(grid)):
                raise ValueError("`expected`: exact binomial limits need whole-number denominators; got "
                                 f"{few(grid[grid != np.round(grid)].tolist())}.")
        out = {"target": np.full(len(grid), self.target)}
        out.update(_limits_at(grid, self.data_type, self.method, self.overdispersion, self.phi, self.tau2,
                              self.target, self._exact))
        return pd.DataFrame(out, index=pd.Index(grid, name="expected"))

    # -- reporting -------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The per-unit table (a copy): values, limits, ``trimmed`` and ``flag``."""
        return self.table.copy()

    def summary(self) -> Summary:
        """The variant, the over-dispersion estimates and the number of units per flag."""
        counts = self.table["flag"].value_counts().reindex(list(FLAG_CATEGORIES), fill_value=0)
        scale = {"ratio": {"shmi": "log", "cqc": "square-root"}[self.method],
                 "proportion": "arcsine-square-root"}[self.data_type]
        trimming = ("no trimming" if not self.trim
                    else "10% truncation" if self.method == "shmi" else "10% winsorisation")
        header = [
            ("units", self.n_obs),
            ("data", f"{self.data_type}s, target {self.target:.4g}"),
            ("method", f"{self.method} ({scale} scale, {trimming}; {self.n_trimmed} unit(s) trimmed)"),
            ("phi", self.phi),
            ("tau2", self.tau2),
            ("limits use", self._limits_text()),
        ]
        flags = pd.DataFrame({"units": counts.to_numpy(dtype=int)}, index=pd.Index(list(FLAG_CATEGORIES), name="flag"))
        notes = []
        small = int((self.table["expected"] < 20).sum()) if self.data_type == "ratio" else 0
        if small and not self._exact:
            notes.append(f"{small} unit(s) have fewer than 20 expected deaths, where normal-theory limits are poor; "
                         "funnel_limits(..., overdispersion=None) gives exact Poisson limits for small units")
        return Summary(f"Funnel limits for {self.n_obs} units", header=header, tables=[("flags", flags)],
                       notes=notes)

    def _limits_text(self) -> str:
        if self._exact:
            dist = "Poisson" if self.data_type == "ratio" else "binomial"
            return f"no over-dispersion: exact {dist} quantiles, interpolated (Spiegelhalter 2005, appendix)"
        return f"{self.overdispersion or 'no'} over-dispersion (normal approximation on the {self._scale()} scale)"

    def _scale(self) -> str:
        return {"ratio": {"shmi": "log", "cqc": "square-root"}[self.method],
                "proportion": "arcsine-square-root"}[self.data_type]

    def _title(self) -> str:
        od = {"additive": "additive over-dispersion (tau2)", "multiplicative": "multiplicative over-dispersion (phi)",
              None: "no over-dispersion"}[self.overdispersion]
        if self._exact:
            dist = "Poisson" if self.data_type == "ratio" else "binomial"
            return f"Funnel plot\nexact {dist} limits, no over-dispersion"
        if self.overdispersion is None:
            trimming = ""
        elif not self.trim:
            trimming = ", no trimming"
        else:
            trimming = ", 10% truncation" if self.method == "shmi" else ", 10% winsorisation"
        # two lines: the full description does not fit the width of a figure on one
        return f"Funnel plot, {self.method.upper()} method\n{od}{trimming}"

    def plot(self, ax: Any = None, *, label_outliers: bool = True, log_x: bool = False) -> Any:
        """Draw the funnel plot: units coloured by flag (with a legend), target and 95%/99.8% limits.

        The title names the method, the over-dispersion (or exact limits)
        and the trimming used; with ``log_x`` the axis is labelled with
        plain numbers at 1, 2 and 5 times powers of ten.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is created when omitted.
        label_outliers : bool, default True
            Write the labels of units outside the 99.8% limits.
        log_x : bool, default False
            Use a logarithmic x axis.

        Returns
        -------
        matplotlib.axes.Axes
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - matplotlib is in the test extra
            raise ImportError(
                "FunnelResult.plot() needs matplotlib; install it with "
                "`pip install 'teamculture[plot]'`."
            ) from exc
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        grid = self.limits()
        x = grid.index.to_numpy()
        ax.plot(x, grid["target"], color="0.3", lw=1, label="target")
        ax.plot(x, grid["lower_95"], color="tab:blue", lw=1, ls="--", label="95% limits")
        ax.plot(x, grid["upper_95"], color="tab:blue", lw=1, ls="--")
        ax.plot(x, grid["lower_998"], color="tab:red", lw=1, label="99.8% limits")
        ax.plot(x, grid["upper_998"], color="tab:red", lw=1)
        t = self.table
        groups = [("in_control", "0.45", "within the 95% limits"),
                  ("alert", "tab:blue", "outside 95% (alert)"),
                  ("alarm", "tab:red", "outside 99.8% (alarm)")]
        for key, colour, text in groups:
            sel = t["flag"] == "in_control" if key == "in_control" else t["flag"].isin([f"low_{key}", f"high_{key}"])
            n = int(sel.sum())
            if n:
                ax.scatter(t.loc[sel, "expected"], t.loc[sel, "ratio"], s=14, c=colour, zorder=3,
                           label=f"{text}: {n}")
        if label_outliers:
            out = t[t["flag"].isin(["low_alarm", "high_alarm"])]
            for label, row in out.iterrows():
                ax.annotate(str(label), (row["expected"], row["ratio"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        if log_x:
            ax.set_xscale("log")
            # plain numbers at 1, 2, 5 x 10^k; no labels on the minor ticks (they overprint)
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("expected deaths" if self.data_type == "ratio" else "denominator")
        ax.set_ylabel("observed / expected" if self.data_type == "ratio" else "proportion")
        ax.set_title(self._title(), fontsize=10)
        ax.legend(loc="best", fontsize=8, frameon=False)
        return ax


def funnel_limits(
    observed: Any,
    expected: Any,
    *,
    labels: Any = None,
    data_type: str = "ratio",
    method: str = "shmi",
    overdispersion: str | None = "additive",
    target: float | None = None,
    trim: bool = True,
    exact: bool = True,
) -> FunnelResult:
    """Funnel-plot control limits with over-dispersion, and a flag for each unit.

    Parameters
    ----------
    observed : array_like or pandas.Series
        Observed counts per unit (deaths; events for proportions), >= 0.
    expected : array_like or pandas.Series
        For ``data_type="ratio"``: expected counts ``E > 0`` from the case-mix
        model. For ``data_type="proportion"``: the denominators (cases) ``n > 0``.
        Two Series are matched by their index (reordered when the same labels
        come in another order, refused when the labels differ); arrays pair
        by position.
    labels : array_like, optional
        Unit labels (the index of ``table``) for plain arrays. Defaults to the
        index of ``observed`` (or ``expected``) when it is a Series, else
        ``0..n-1``; labels that disagree with a Series' index are refused.
    data_type : {"ratio", "proportion"}, default "ratio"
        Indirectly standardised ratios ``O/E`` (SMR, HSMR, SHMI) compared with
        1, or proportions ``events / n`` compared with ``target``.
    method : {"shmi", "cqc"}, default "shmi"
        ``"shmi"`` (NHS Digital): ratios on the log scale; the top and bottom
        10% of z-scores are truncated before estimating over-dispersion.
        ``"cqc"`` (Care Quality Commission, Spiegelhalter 2005): ratios on the
        square-root scale; z-scores are winsorised at their 10th and 90th
        percentiles. Proportions always use the arcsine-square-root scale;
        ``method`` then chooses truncation or winsorisation.
    overdispersion : {"additive", "multiplicative", None}, default "additive"
        How the limits allow for over-dispersion: an additive between-unit
        variance ``tau2`` (random effects), a multiplicative factor ``phi``
        (applied only when ``phi > 1``), or none (pure Poisson/binomial limits).
        ``phi`` and ``tau2`` are estimated and reported in every case.
    target : float, optional
        Target proportion for ``data_type="proportion"``; default the pooled
        proportion ``sum(events) / sum(n)``. Ratios always have target 1.
    trim : bool, default True
        Truncate (SHMI) or winsorise (CQC) the 10% most extreme z-scores at
        each end before estimating ``phi`` and ``tau2``, as the published
        methods do. ``False`` uses every unit as it is (the plain
        DerSimonian-Laird moment estimator of ``tau2``); trimming makes the
        estimates robust to outlying units but biases them downwards when
        the true differences between units are normally distributed.
    exact : bool, default True
        Limits without over-dispersion (``overdispersion=None``) from the
        Poisson distribution of the deaths themselves (binomial for
        proportions), interpolated between whole counts as Spiegelhalter
        (2005, appendix A.1): right for small units (wards, teams, small
        hospitals), where the normal approximation is poor. ``False`` gives
        the normal approximation on the variant's scale. Limits with
        over-dispersion are always the published normal-theory SHMI/CQC
        limits (trust level), whatever ``exact`` says.

    Returns
    -------
    FunnelResult
        ``table`` (per-unit values, limits and flags), ``phi``, ``tau2``,
        ``limits(expected_grid)`` for drawing, ``plot()`` and ``summary()``.

    Notes
    -----
    Each unit gets a transformed indicator ``Y_i``, a standard error ``s_i``
    and a z-score ``z_i = (Y_i - theta_0) / s_i`` against the transformed
    target ``theta_0``:

    ============ ================================ ================== ==============
    variant      ``Y_i``                          ``s_i``            ``theta_0``
    ============ ================================ ================== ==============
    ratio, shmi  ``ln(O_i / E_i)``                ``1 / sqrt(E_i)``  0
    ratio, cqc   ``sqrt(O_i / E_i)``              ``1/(2 sqrt E_i)`` 1
    proportion   ``asin(sqrt(O_i / n_i))``        ``1/(2 sqrt n_i)`` ``asin(sqrt(p_0))``
    ============ ================================ ================== ==============

    *Trimming.* SHMI: rank the z-scores (average ranks for ties) and drop the
    units with ``floor(rank * 10 / (n + 1))`` equal to 0 or 9. CQC: set z-scores
    below their 10th percentile to that percentile and those above the 90th
    to the 90th (percentiles by linear interpolation, R's default type 7).

    *Over-dispersion.* With ``n`` the number of units kept and ``w_i = 1/s_i^2``
    (sums over the kept units),

    .. math::

        \\hat\\phi = \\frac1n\\sum z_i^2, \\qquad
        \\hat\\tau^2 = \\max\\left(0,\\;
        \\frac{n\\hat\\phi - (n-1)}{\\sum w_i - \\sum w_i^2 / \\sum w_i}\\right).

    *Limits* at level ``1 - alpha`` for a unit with standard error ``s`` are
    ``theta_0 +/- z_{alpha/2} sqrt(s^2 + tau^2)`` (additive),
    ``theta_0 +/- z_{alpha/2} sqrt(max(phi, 1)) s`` (multiplicative) or
    ``theta_0 +/- z_{alpha/2} s`` (none), transformed back to the ratio scale
    (``exp``; squaring, with the lower limit floored at 0; ``sin^2``). Levels
    are 95% (z = 1.959964) and 99.8% (z = 3.090232). The adjusted z-score is
    ``(Y_i - theta_0) / sqrt(s_i^2 + tau^2)``, ``z_i / sqrt(max(phi, 1))`` or
    ``z_i``; units beyond +/-1.96 are "alerts" and beyond +/-3.09 "alarms".

    *Exact limits* (``overdispersion=None``, ``exact=True``, the default
    for limits without over-dispersion): at level ``1 - alpha`` the limits
    for a unit with expectation ``E`` are the ``alpha/2`` and ``1 - alpha/2``
    quantiles of the count itself, interpolated between whole counts
    (Spiegelhalter 2005, appendix A.1): with ``r_p`` the smallest count
    with ``F(r_p) >= p`` under Poisson(``E``) (binomial(``n``, ``p_0``) for
    proportions),

    .. math::

        a = \\frac{F(r_p) - p}{F(r_p) - F(r_p - 1)}, \\qquad
        \\text{limit} = \\frac{r_p - a}{E}

    (0 when negative: with ``r_p = 0`` no count is too low). At ``E = 5`` the
    lower 95% limit is 0.108 where the normal approximation gives 0.416
    (log scale) or 0.320 (square-root scale). Flags then compare each ratio
    with its limits; ``z`` and ``z_adjusted`` stay the normal-theory scores.
    FunnelPlotR instead inverts Garwood's interval for the count; the two
    constructions differ by less than one death.

    On the log scale a unit with ``O = 0`` has ``z = -inf``; if it is not
    truncated the over-dispersion cannot be estimated: a ``ValueError`` when
    the limits need it (use ``method="cqc"``), NaN ``phi`` and ``tau2`` with a
    :class:`~teamculture.errors.DegenerateDataWarning` when they do not
    (``overdispersion=None``).

    R: ``FunnelPlotR::funnel_plot(data_type = "SR", sr_method = "SHMI"|"CQC",
    multiplier = ..., draw_adjusted = TRUE)`` (MIT-licensed; not used to
    write this code).

    References
    ----------
    .. [1] Spiegelhalter DJ (2005). Funnel plots for comparing institutional
       performance. Statistics in Medicine 24:1185-1202.
    .. [2] Spiegelhalter DJ (2005). Handling over-dispersion of performance
       indicators. Quality and Safety in Health Care 14:347-351.
    .. [3] NHS Digital (2023). Summary Hospital-level Mortality Indicator
       (SHMI): methodology -- banding with a random-effects model after 10%
       truncation.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey("small", rng=3)
    >>> res = tc.funnel_limits(sim.trusts["observed_deaths"], sim.trusts["expected_deaths"])
    >>> res.table.columns.tolist()
    ['observed', 'expected', 'ratio', 'z', 'z_adjusted', 'lower_95', 'upper_95', 'lower_998', 'upper_998', 'trimmed', 'flag']
    >>> res.n_obs, res.n_trimmed
    (20, 4)
    >>> res.tau2 >= 0
    True
    >>> res.limits([100.0, 1000.0]).columns.tolist()
    ['target', 'lower_95', 'upper_95', 'lower_998', 'upper_998']
    """
    o, e, lab, target, trim, exact = _validate_funnel(observed, expected, labels, data_type, method,
                                                      overdispersion, target, trim, exact)
    fwd, inv, se = _transform(data_type, method)
    ratio = o / e
    if data_type == "proportion":
        tgt = float(o.sum() / e.sum()) if target is None else target
        if not (0.0 < tgt < 1.0):
            raise ValueError(
                f"the pooled proportion is {tgt!r}; limits need a target in (0, 1) -- pass `target`."
            )
    else:
        tgt = 1.0
    theta0 = float(fwd(tgt))
    y = fwd(ratio)
    s = se(e)
    z = (y - theta0) / s
    z_used, used, trimmed = _trim(z, method, trim)
    if not np.all(np.isfinite(z_used)) and overdispersion is None:
        bad = used & ~np.isfinite(z)
        warn(f"`observed` is 0 for {int(bad.sum())} unit(s) kept in the over-dispersion estimate "
             f"{few(lab[bad].tolist())}; ln(0) is undefined on the log scale of method='shmi', so phi and tau2 "
             "are NaN. The limits (no over-dispersion) do not use them; method='cqc' estimates them.",
             DegenerateDataWarning)
        phi, tau2 = math.nan, math.nan
    elif not np.all(np.isfinite(z_used)):
        bad = used & ~np.isfinite(z)
        raise ValueError(
            f"`observed` is 0 for {bad.sum()} unit(s) kept in the over-dispersion estimate "
            f"{few(lab[bad].tolist())}; ln(0) is undefined on the log scale of method='shmi'. "
            "Use method='cqc' (square-root scale) or drop these units explicitly."
        )
    else:
        phi, tau2 = _dispersion(z_used, (1.0 / s**2)[used])

    sd = _limit_sd(data_type, method, overdispersion, phi, tau2, e)
    z_adj = (y - theta0) / sd
    cols: dict[str, Any] = {"observed": o, "expected": e, "ratio": ratio, "z": z, "z_adjusted": z_adj}
    use_exact = exact and overdispersion is None
    cols.update(_limits_at(e, data_type, method, overdispersion, phi, tau2, tgt, use_exact))
    cols["trimmed"] = trimmed
    code = np.full(len(o), 2)
    if use_exact:  # the flags are where the unit lies against the limits drawn
        code[ratio > cols["upper_95"]] = 3
        code[ratio > cols["upper_998"]] = 4
        code[ratio < cols["lower_95"]] = 1
        code[ratio < cols["lower_998"]] = 0
    else:
        z95, z998 = stats.norm.isf(0.025), stats.norm.isf(0.001)
        code[z_adj > z95] = 3
        code[z_adj > z998] = 4
        code[z_adj < -z95] = 1
        code[z_adj < -z998] = 0
    cols["flag"] = pd.Categorical.from_codes(code, categories=list(FLAG_CATEGORIES), ordered=True)
    return FunnelResult(
        table=pd.DataFrame(cols, index=lab), data_type=data_type, method=method,
        overdispersion=overdispersion, target=tgt, phi=phi, tau2=tau2, n_obs=len(o), n_dropped=0, n_groups=None,
        n_trimmed=int(trimmed.sum()), trim=trim, exact=bool(exact),
    )
