"""Within-group agreement: the rwg family, awg, AD and their null distributions.

Before a team score means anything, its members must agree. This module
computes the classic agreement indices for every group at once (vectorised
grouped sums, no Python loop over groups), simulated critical values under
the "no agreement" null, and random-group resampling.

All index functions take the responses (a Series or 1-D array for one item,
a DataFrame or 2-D array of items) and the group labels (one per row), and
return a DataFrame indexed by the group labels with a fixed set of columns:
the index, the group size it used and the variance or deviation behind it.

Missing responses
-----------------
The default (``listwise=False``) uses each item's own answers ("pairwise"):
an item's variance in a group uses the members who answered it, which is
what R multilevel >= 2.8 does by default. ``listwise=True`` first drops
every respondent with any missing item, which reproduces R multilevel 2.7
(its functions call ``na.exclude`` on the whole data frame) and ``ad.m`` in
every version. Dropped respondents are counted in a
:class:`~teamculture.errors.DroppedDataWarning`; groups whose index is
undefined (fewer than two members) get ``NaN`` and a
:class:`~teamculture.errors.SmallGroupWarning` with their count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from teamculture._core.groups import GroupedItems, factorize
from teamculture._core.validation import as_float_matrix
from teamculture._core.validation import (
    check_choice,
    check_int,
    check_probability,
    few,
)
from teamculture.errors import DroppedDataWarning, SmallGroupWarning

__all__ = [
    "rwg",
    "rwg_j",
    "rwg_j_lindell",
    "awg",
    "ad_index",
    "null_variance",
    "NULL_DISTRIBUTIONS",
    "rwg_sim",
    "rwg_j_sim",
    "ad_sim",
    "NullSimulation",
    "rgr_agree",
    "RGRResult",
    "pseudo_group_means",
    "plot_pseudo_group_means",
]

#: Null ("no agreement") distributions accepted by ``null=``.
NULL_DISTRIBUTIONS: tuple[str, ...] = (
    "uniform",
    "slight_skew",
    "moderate_skew",
    "heavy_skew",
    "triangular",
    "normal",
)

# LeBreton & Senter (2008), Table 2: expected error variances by number of
# response options (uniform is computed exactly as (A^2 - 1) / 12 instead).
_LS2008: dict[str, dict[int, float]] = {
    "slight_skew": {5: 1.34, 6: 1.85, 7: 2.90, 8: 3.47, 9: 5.66, 10: 6.30, 11: 7.31},
    "moderate_skew": {5: 0.90, 6: 1.26, 7: 2.14, 8: 2.79, 9: 4.73, 10: 5.09, 11: 6.32},
    "heavy_skew": {5: 0.44, 6: 0.69, 7: 1.39, 8: 2.35, 9: 3.16, 10: 3.46, 11: 4.02},
    "triangular": {5: 1.32, 6: 1.45, 7: 2.10, 8: 2.81, 9: 3.00, 10: 2.89, 11: 3.32},
    "normal": {5: 1.04, 6: 1.25, 7: 1.40, 8: 1.73, 9: 1.58, 10: 1.45, 11: 1.40},
}


# ----------------------------------------------------------------------------
# null variances
# ----------------------------------------------------------------------------
def null_variance(scale_points: int, null: str = "uniform") -> float:
    """Variance expected when group members do not agree at all.

    Parameters
    ----------
    scale_points : int
        Number of response options A (codes 1..A). Any A >= 2 for the uniform
        null; 5 to 11 for the others.
    null : {"uniform", "slight_skew", "moderate_skew", "heavy_skew", "triangular", "normal"}
        Shape of the null response distribution.

    Returns
    -------
    float
        sigma^2_E.

    Notes
    -----
    Uniform null: :math:`\\sigma^2_{EU} = (A^2 - 1)/12` (exact; LeBreton and
    Senter's table prints it rounded, e.g. 2.92 for six points). The other
    values are LeBreton and Senter's (2008) Table 2 as printed (two decimals).
    In R the value is passed as ``ranvar`` (``multilevel::rwg(x, grpid,
    ranvar = 1.34)``).

    References
    ----------
    .. [1] James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating
       within-group interrater reliability with and without response bias.
       Journal of Applied Psychology, 69, 85-98.
    .. [2] LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions
       about interrater reliability and interrater agreement. Organizational
       Research Methods, 11, 815-852.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.null_variance(5)
    2.0
    >>> tc.null_variance(5, "slight_skew")
    1.34
    """
    A = check_int("scale_points", scale_points, minimum=2)
    check_choice("null", null, NULL_DISTRIBUTIONS)
    if null == "uniform":
        return (A * A - 1) / 12.0
    table = _LS2008[null]
    if A not in table:
        raise ValueError(
            f"`scale_points` must be one of {sorted(table)} for null={null!r} "
            f"(LeBreton & Senter's table); got {A}. Pass `null_variance=` to use your own value."
        )
    return table[A]


def _resolve_null(null_var: Any, scale_points: Any, null: str) -> float:
    if null_var is not None:
        if scale_points is not None or null != "uniform":
            raise ValueError(
                "Give either `null_variance` or `scale_points` (with `null`), not both; "
                f"got null_variance={null_var!r}, scale_points={scale_points!r}, null={null!r}."
            )
        try:
            v = float(null_var)
        except (TypeError, ValueError):
            raise TypeError(f"`null_variance` must be a positive number; got {null_var!r}.") from None
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"`null_variance` must be a positive finite number; got {null_var!r}.")
        return v
    if scale_points is None:
        raise ValueError(
            "Give `scale_points` (number of response options, e.g. 5) or `null_variance`; "
            "the null variance cannot be guessed from the data."
        )
    return null_variance(scale_points, null)


# ----------------------------------------------------------------------------
# shared front end
# ----------------------------------------------------------------------------
@dataclass
class _Prepared:
    grouped: GroupedItems
    labels: pd.Index
    columns: list[Any]
    n_rows: int


def _prepare(items: Any, groups: Any, *, listwise: bool, single: bool = False,
             name: str = "items") -> _Prepared:
    if not isinstance(listwise, (bool, np.bool_)):
        raise TypeError(f"`listwise` must be True or False; got {listwise!r}.")
    x, columns = as_float_matrix(items, name=name)
    if single and x.shape[1] != 1:
        raise ValueError(
            f"`{name}` must be a single item (Series or 1-D array); got {x.shape[1]} columns "
            f"{few(columns)}. Use rwg_j for several items."
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"`{name}` is empty (shape {x.shape}).")
    inf = np.isinf(x)
    if inf.any():
        rows = np.flatnonzero(inf.any(axis=1))
        raise ValueError(f"`{name}` has {inf.sum()} infinite value(s) in rows {few(rows.tolist())}.")
    codes, labels = factorize(groups, x.shape[0])
    grouped = GroupedItems(x, codes, len(labels), complete_cases=bool(listwise))
    return _Prepared(grouped, labels, columns, x.shape[0])


def _warn_dropped(grouped: GroupedItems, what: str, stacklevel: int = 3) -> None:
    if grouped.n_dropped_rows:
        warnings.warn(
            f"{grouped.n_dropped_rows} respondent(s) with a missing item were dropped "
            f"(listwise) before computing {what}.",
            DroppedDataWarning,
            stacklevel=stacklevel,
        )


def _warn_small(labels: pd.Index, undefined: np.ndarray, what: str, stacklevel: int = 3) -> None:
    if undefined.any():
        bad = labels[undefined]
        warnings.warn(
            f"{int(undefined.sum())} group(s) have fewer than two members with responses, "
            f"so {what} is NaN for them: {few(list(bad))}.",
            SmallGroupWarning,
            stacklevel=stacklevel,
        )


def _mean_over_items(values: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over items where ``ok``; returns (mean, number of items used)."""
    n_items = ok.sum(axis=1)
    total = np.where(ok, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_items > 0, total / n_items, np.nan)
    return mean, n_items


def _item_variances(g: GroupedItems) -> tuple[np.ndarray, np.ndarray]:
    """(mean item variance over items with >= 2 responses, items used) per group."""
    ok = g.count >= 2
    return _mean_over_items(np.where(ok, g.var, 0.0), ok)


def _items_frame(name: str, value: np.ndarray, p: _Prepared, n_items: np.ndarray,
                 **extra: Any) -> pd.DataFrame:
    """Result of a multi-item index: ``name``, ``n``, ``n_items`` then ``extra`` columns."""
    return pd.DataFrame(
        {name: value, "n": p.grouped.n_members.astype(np.int64),
         "n_items": n_items.astype(np.int64), **extra},
        index=p.labels,
    )


# ----------------------------------------------------------------------------
# rwg family (NumPy core: functions of the mean item variance)
# ----------------------------------------------------------------------------
def _rwg_core(s2: np.ndarray, sigma2: float) -> np.ndarray:
    return 1.0 - np.minimum(s2, sigma2) / sigma2


def _rwg_j_core(s2: np.ndarray, n_items: np.ndarray, sigma2: float) -> np.ndarray:
    ratio = np.minimum(s2, sigma2) / sigma2
    num = n_items * (1.0 - ratio)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / (num + ratio)


def _mean_item_variances(items: Any, groups: Any, *, null_variance: Any, scale_points: Any,
                         null: str, listwise: bool, what: str
                         ) -> tuple[float, _Prepared, np.ndarray, np.ndarray]:
    """Shared front of rwg(j) and r*wg(j): (sigma^2_E, prepared data, mean item variance, J).

    Warnings are attributed to the caller of the public function (stacklevel 4).
    """
    sigma2 = _resolve_null(null_variance, scale_points, null)
    p = _prepare(items, groups, listwise=listwise)
    _warn_dropped(p.grouped, what, stacklevel=4)
    s2, J = _item_variances(p.grouped)
    _warn_small(p.labels, J == 0, what, stacklevel=4)
    return sigma2, p, s2, J


def rwg(x: Any, groups: Any, *, null_variance: float | None = None,
        scale_points: int | None = None, null: str = "uniform") -> pd.DataFrame:
    """Single-item within-group agreement rwg for every group.

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        Responses to one item (``NaN`` = missing; missing responses are not
        used and counted in a :class:`~teamculture.errors.DroppedDataWarning`).
    groups : array_like, shape (n,)
        Group label of each respondent.
    null_variance : float, optional
        sigma^2_E to use instead of a named null distribution.
    scale_points : int, optional
        Number of response options; required unless ``null_variance`` is
        given.
    null : str, default "uniform"
        Null distribution, see :func:`null_variance`.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``rwg`` (float, NaN for groups with
        fewer than two responses), ``n`` (responses used) and ``variance``
        (the observed sample variance s^2, before truncation).

    Notes
    -----
    :math:`r_{wg} = 1 - s^2/\\sigma^2_E`, with s^2 the sample variance
    (n - 1 denominator). As in James, Demaree and Wolf (1984) and R
    multilevel, s^2 is truncated at sigma^2_E, so rwg lies in [0, 1].

    R: ``multilevel::rwg(x, grpid, ranvar)``.

    References
    ----------
    .. [1] James, L. R., Demaree, R. G., & Wolf, G. (1984). Journal of Applied
       Psychology, 69, 85-98.
    .. [2] LeBreton, J. M., & Senter, J. L. (2008). Organizational Research
       Methods, 11, 815-852.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.rwg([4, 4, 5, 3, 4, 1, 5, 3, 2, 4], ["a"] * 5 + ["b"] * 5, scale_points=5)
        rwg  n  variance
    a  0.75  5       0.5
    b  0.00  5       2.5
    """
    sigma2 = _resolve_null(null_variance, scale_points, null)
    p = _prepare(x, groups, listwise=False, single=True, name="x")
    g = p.grouped
    n = g.count[:, 0]
    n_missing = int(p.n_rows - n.sum())
    if n_missing:
        warnings.warn(f"{n_missing} missing response(s) in `x` were not used.",
                      DroppedDataWarning, stacklevel=2)
    s2 = g.var[:, 0]
    _warn_small(p.labels, n < 2, "rwg")
    return pd.DataFrame(
        {"rwg": _rwg_core(s2, sigma2), "n": n.astype(np.int64), "variance": s2},
        index=p.labels,
    )


def rwg_j(items: Any, groups: Any, *, null_variance: float | None = None,
          scale_points: int | None = None, null: str = "uniform",
          listwise: bool = False) -> pd.DataFrame:
    """Multi-item within-group agreement rwg(j) for every group.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, J)
        Responses to J parallel items (``NaN`` = missing).
    groups : array_like, shape (n,)
        Group label of each respondent.
    null_variance, scale_points, null
        As in :func:`rwg`.
    listwise : bool, default False
        False (default): each item's variance uses the members who answered
        it (R multilevel >= 2.8). True: drop respondents with any missing item
        first (R multilevel 2.7, whose ``rwg.j`` calls ``na.exclude``).

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``rwg_j``, ``n`` (members with at
        least one used response), ``n_items`` (items with at least two
        responses, the J used) and ``mean_variance`` (mean item variance
        before truncation).

    Notes
    -----
    .. math::

        r_{wg(J)} = \\frac{J(1 - \\bar s^2/\\sigma^2_E)}
                         {J(1 - \\bar s^2/\\sigma^2_E) + \\bar s^2/\\sigma^2_E}

    with :math:`\\bar s^2` the mean of the item variances, truncated at
    sigma^2_E (James, Demaree & Wolf, 1984).

    R: ``multilevel::rwg.j(x, grpid, ranvar)``.

    References
    ----------
    .. [1] James, L. R., Demaree, R. G., & Wolf, G. (1984). Journal of Applied
       Psychology, 69, 85-98.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", seed=1)
    >>> items = sv.staff[["mot1", "mot2", "mot3"]]
    >>> out = tc.rwg_j(items, sv.staff["team"], scale_points=5)
    >>> list(out.columns)
    ['rwg_j', 'n', 'n_items', 'mean_variance']
    >>> bool(out["rwg_j"].between(0, 1).all())
    True
    """
    sigma2, p, s2, J = _mean_item_variances(
        items, groups, null_variance=null_variance, scale_points=scale_points, null=null,
        listwise=listwise, what="rwg(j)")
    return _items_frame("rwg_j", _rwg_j_core(s2, J, sigma2), p, J, mean_variance=s2)


def rwg_j_lindell(items: Any, groups: Any, *, null_variance: float | None = None,
                  scale_points: int | None = None, null: str = "uniform",
                  listwise: bool = False) -> pd.DataFrame:
    """Lindell's r*wg(j) for every group (no Spearman-Brown step-up, no truncation).

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, J)
        Responses to J items (``NaN`` = missing).
    groups : array_like, shape (n,)
        Group label of each respondent.
    null_variance, scale_points, null, listwise
        As in :func:`rwg_j`.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``rwg_j_lindell``, ``n``, ``n_items``,
        ``mean_variance``.

    Notes
    -----
    :math:`r^*_{wg(J)} = 1 - \\bar s^2/\\sigma^2_E`; it can be negative
    (disagreement beyond the null) and does not rise with the number of items.

    R: ``multilevel::rwg.j.lindell(x, grpid, ranvar)``.

    References
    ----------
    .. [1] Lindell, M. K., Brandt, C. J., & Whitney, D. J. (1999). A revised
       index of interrater agreement for multi-item ratings of a single
       target. Applied Psychological Measurement, 23, 127-135.

    Examples
    --------
    >>> import teamculture as tc
    >>> items = [[4, 4], [4, 5], [5, 4], [3, 3], [4, 4]]
    >>> tc.rwg_j_lindell(items, ["a"] * 5, scale_points=5)
       rwg_j_lindell  n  n_items  mean_variance
    a           0.75  5        2            0.5
    """
    sigma2, p, s2, J = _mean_item_variances(
        items, groups, null_variance=null_variance, scale_points=scale_points, null=null,
        listwise=listwise, what="r*wg(j)")
    return _items_frame("rwg_j_lindell", 1.0 - s2 / sigma2, p, J, mean_variance=s2)


# ----------------------------------------------------------------------------
# awg
# ----------------------------------------------------------------------------
def _awg_items(g: GroupedItems, low: float, high: float) -> np.ndarray:
    """awg per group and item (NaN where undefined), shape (G, J)."""
    k = g.count
    total = g.sum
    with np.errstate(invalid="ignore", divide="ignore"):
        m = total / k
        max_var = ((high + low) * m - m * m - high * low) * (k / (k - 1.0))
        a = 1.0 - 2.0 * g.var / max_var
    # bounds compared on sums (exact for integer codes): M < [L(k-1)+H]/k etc.
    undefined = (total < low * (k - 1) + high) | (total > high * (k - 1) + low)
    a = np.where(undefined, np.nan, a)
    a = np.where((m == high) | (m == low), 1.0, a)
    return np.where(k >= 2, a, np.nan)


def awg(items: Any, groups: Any, *, low: float, high: float,
        listwise: bool = False) -> pd.DataFrame:
    """Brown and Hauenstein's awg agreement index for every group.

    Parameters
    ----------
    items : Series, DataFrame or array_like
        One item (shape (n,)) or J items (shape (n, J)); ``NaN`` = missing.
    groups : array_like, shape (n,)
        Group label of each respondent.
    low, high : float
        Scale minimum L and maximum H (e.g. 1 and 5).
    listwise : bool, default False
        As in :func:`rwg_j`; True reproduces R multilevel 2.7.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``awg`` (mean of the defined item
        awg values; NaN if none is defined), ``n`` (members with a used
        response), ``n_items`` (items with a defined awg) and
        ``mean_variance`` (mean item variance).

    Notes
    -----
    For one item with group mean M, variance s^2 and k responses,

    .. math::

        a_{wg} = 1 - \\frac{2 s^2}{[(H + L)M - M^2 - HL]\\,k/(k - 1)},

    the observed variance relative to the largest variance possible given
    the mean. It is undefined (NaN) when
    :math:`M < [L(k-1) + H]/k` or :math:`M > [H(k-1) + L]/k`, and 1 when
    M equals L or H. The multi-item awg(j) is the mean of the defined item
    values. awg lies in [-1, 1].

    R: ``multilevel::awg(x, grpid, range = c(low, high))``.

    References
    ----------
    .. [1] Brown, R. D., & Hauenstein, N. M. A. (2005). Interrater agreement
       reconsidered: An alternative to the rwg indices. Organizational
       Research Methods, 8, 165-184.

    Examples
    --------
    >>> import teamculture as tc
    >>> out = tc.awg([4, 4, 5, 3, 4], ["a"] * 5, low=1, high=5)
    >>> round(float(out.loc["a", "awg"]), 6)
    0.733333
    """
    lo, hi = _check_range(low, high)
    p = _prepare(items, groups, listwise=listwise)
    g = p.grouped
    _warn_dropped(g, "awg")
    a = _awg_items(g, lo, hi)
    ok = ~np.isnan(a)
    value, n_items = _mean_over_items(np.where(ok, a, 0.0), ok)
    s2, _ = _item_variances(g)
    _warn_small(p.labels, g.count.max(axis=1) < 2, "awg")
    return _items_frame("awg", value, p, n_items, mean_variance=s2)


def _check_range(low: Any, high: Any) -> tuple[float, float]:
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        raise TypeError(f"`low` and `high` must be numbers; got {low!r}, {high!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"`low` must be finite and below `high`; got low={low!r}, high={high!r}.")
    return lo, hi


# ----------------------------------------------------------------------------
# AD
# ----------------------------------------------------------------------------
def ad_index(items: Any, groups: Any, *, center: str = "mean", scale_points: int | None = None,
             listwise: bool = False) -> pd.DataFrame:
    """Average deviation index AD_M(J) (or AD_Md(J)) for every group.

    Parameters
    ----------
    items : Series, DataFrame or array_like
        One item (shape (n,)) or J items (shape (n, J)); ``NaN`` = missing.
    groups : array_like, shape (n,)
        Group label of each respondent.
    center : {"mean", "median"}, default "mean"
        Deviations from the group mean (AD_M) or median (AD_Md).
    scale_points : int, optional
        Number of response options c; gives the practical cut-off c/6.
    listwise : bool, default False
        As in :func:`rwg_j`. R's ``ad.m`` always works listwise.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``ad`` (NaN for groups with fewer than
        two members), ``n``, ``n_items`` (items with at least two responses),
        ``cutoff`` (c/6, NaN without ``scale_points``) and ``agree`` (nullable
        boolean: ``ad <= cutoff``, missing when either is missing).

    Notes
    -----
    For item j, :math:`AD_j = \\frac{1}{n}\\sum_i |x_{ij} - \\bar x_j|`
    (mean absolute deviation, n denominator); AD(J) is the mean over items.
    Burke and Dunlap (2002) suggest AD <= c/6 as agreement in practice.
    Smaller is more agreement.

    R: ``multilevel::ad.m(x, grpid, type = "mean")``.

    References
    ----------
    .. [1] Burke, M. J., Finkelstein, L. M., & Dusig, M. S. (1999). On average
       deviation indices for estimating interrater agreement.
       Organizational Research Methods, 2, 49-68.
    .. [2] Burke, M. J., & Dunlap, W. P. (2002). Estimating interrater
       agreement with the average deviation index: A user's guide.
       Organizational Research Methods, 5, 159-172.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.ad_index([4, 4, 5, 3, 4], ["a"] * 5, scale_points=5)
        ad  n  n_items    cutoff  agree
    a  0.4  5        1  0.833333   True
    """
    check_choice("center", center, ("mean", "median"))
    cutoff = np.nan
    if scale_points is not None:
        cutoff = check_int("scale_points", scale_points, minimum=2) / 6.0
    p = _prepare(items, groups, listwise=listwise)
    g = p.grouped
    _warn_dropped(g, "AD")
    ok = g.count >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        item_ad = g.abs_dev(center) / g.count
    value, n_items = _mean_over_items(np.where(ok, item_ad, 0.0), ok)
    _warn_small(p.labels, n_items == 0, "AD")
    agree = pd.array(value <= cutoff, dtype="boolean")
    agree[np.isnan(value) | np.isnan(cutoff)] = pd.NA
    return _items_frame("ad", value, p, n_items, cutoff=np.full(len(value), cutoff), agree=agree)


# ----------------------------------------------------------------------------
# null simulations
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NullSimulation:
    """Simulated null distribution of an agreement index.

    Attributes
    ----------
    statistic : str
        ``"rwg"``, ``"rwg_j"`` or ``"ad"``.
    group_size, scale_points, n_items, n_rep : int
        Simulation design.
    values : ndarray, shape (n_rep,)
        The simulated index values.
    critical_value : float
        The 95th percentile (rwg, rwg(j): observed values above it are
        significant at 5%) or the 5th percentile (AD: values below it).
    practical_cutoff : float
        c/6 for AD, NaN for rwg.
    """

    statistic: str
    group_size: int
    scale_points: int
    n_items: int
    n_rep: int
    values: np.ndarray = field(repr=False)
    critical_value: float
    practical_cutoff: float

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """Quantile(s) of the simulated values (linear interpolation, R type 7)."""
        return np.quantile(self.values, q)

    def __str__(self) -> str:
        which = "5th" if self.statistic == "ad" else "95th"
        return (f"{self.statistic} under the null: group size {self.group_size}, "
                f"{self.scale_points} points, {self.n_items} item(s), {self.n_rep} replicates; "
                f"{which} percentile = {self.critical_value:.4f}")


def _check_sim(group_size: Any, scale_points: Any, n_rep: Any, n_items: Any = 1) -> tuple[int, int, int, int]:
    gs = check_int("group_size", group_size, minimum=2)
    A = check_int("scale_points", scale_points, minimum=2)
    nr = check_int("n_rep", n_rep, minimum=2)
    J = check_int("n_items", n_items, minimum=1)
    return gs, A, nr, J


def _check_corr(item_corr: Any, n_items: int) -> np.ndarray | None:
    if item_corr is None:
        return None
    r = np.asarray(item_corr, dtype=float)
    if r.ndim == 0:
        r = np.full((n_items, n_items), float(r))
        np.fill_diagonal(r, 1.0)
    if r.shape != (n_items, n_items):
        raise ValueError(f"`item_corr` must be a number or a {n_items}x{n_items} matrix; got shape {r.shape}.")
    if not np.allclose(r, r.T) or not np.allclose(np.diag(r), 1.0):
        raise ValueError("`item_corr` must be a symmetric correlation matrix with unit diagonal.")
    eig = np.linalg.eigvalsh(r)
    if eig.min() <= 0:
        raise ValueError(f"`item_corr` must be positive definite; smallest eigenvalue {eig.min():.3g}.")
    return r


def _draw_null(rng: np.random.Generator, n_rep: int, gs: int, J: int, A: int,
               corr: np.ndarray | None) -> np.ndarray:
    """Uniform null responses 1..A, shape (n_rep, gs, J); correlated via a cut normal."""
    if corr is None:
        return rng.integers(1, A + 1, size=(n_rep, gs, J)).astype(float)
    z = rng.standard_normal((n_rep, gs, J)) @ np.linalg.cholesky(corr).T
    u = special.ndtr(z)
    return np.minimum(np.floor(u * A), A - 1) + 1.0


def rwg_sim(group_size: int, scale_points: int, *, n_rep: int = 10_000,
            seed: Any = None) -> NullSimulation:
    """Null distribution and 95% critical value of single-item rwg by simulation.

    Parameters
    ----------
    group_size : int
        Members per group (>= 2).
    scale_points : int
        Number of response options A.
    n_rep : int, default 10000
        Number of simulated groups.
    seed : int or numpy Generator, optional
        Seed for reproducibility.

    Returns
    -------
    NullSimulation
        ``critical_value`` is the 95th percentile of rwg.

    Notes
    -----
    Each simulated group answers uniformly at random on 1..A; rwg uses the
    uniform null variance (A^2 - 1)/12 with truncation, as :func:`rwg`.

    R: ``multilevel::rwg.sim(gsize, nresp, nrep)``.

    References
    ----------
    .. [1] Dunlap, W. P., Burke, M. J., & Smith-Crowe, K. (2003). Accurate
       tests of statistical significance for rwg and average deviation
       interrater agreement indexes. Journal of Applied Psychology, 88,
       356-362.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.rwg_sim(10, 5, n_rep=20_000, seed=1)
    >>> 0.45 < sim.critical_value < 0.60
    True
    """
    gs, A, nr, _ = _check_sim(group_size, scale_points, n_rep)
    rng = np.random.default_rng(seed)
    x = _draw_null(rng, nr, gs, 1, A, None)[:, :, 0]
    sigma2 = (A * A - 1) / 12.0
    vals = _rwg_core(x.var(axis=1, ddof=1), sigma2)
    return NullSimulation("rwg", gs, A, 1, nr, vals, float(np.quantile(vals, 0.95)), np.nan)


def rwg_j_sim(group_size: int, n_items: int, scale_points: int, *, item_corr: Any = None,
              n_rep: int = 10_000, seed: Any = None) -> NullSimulation:
    """Null distribution and 95% critical value of rwg(j) by simulation.

    Parameters
    ----------
    group_size : int
        Members per group (>= 2).
    n_items : int
        Number of items J.
    scale_points : int
        Number of response options A.
    item_corr : float or array_like, optional
        Correlation between items under the null (one number for all pairs
        or a J x J matrix). Responses are then drawn from a multivariate
        normal and cut at the normal quantiles i/A, so each item stays
        uniform on 1..A.
    n_rep : int, default 10000
        Number of simulated groups.
    seed : int or numpy Generator, optional
        Seed for reproducibility.

    Returns
    -------
    NullSimulation
        ``critical_value`` is the 95th percentile of rwg(j).

    Notes
    -----
    rwg(j) as in :func:`rwg_j` with the uniform null variance.

    R: ``multilevel::rwg.j.sim(gsize, nitems, nresp, itemcors, nrep)``.

    References
    ----------
    .. [1] Dunlap, W. P., Burke, M. J., & Smith-Crowe, K. (2003). Journal of
       Applied Psychology, 88, 356-362.

    Examples
    --------
    >>> import teamculture as tc
    >>> a = tc.rwg_j_sim(10, 3, 5, n_rep=5000, seed=1).critical_value
    >>> b = tc.rwg_j_sim(10, 3, 5, item_corr=0.6, n_rep=5000, seed=1).critical_value
    >>> bool(b > a)
    True
    """
    gs, A, nr, J = _check_sim(group_size, scale_points, n_rep, n_items)
    corr = _check_corr(item_corr, J)
    rng = np.random.default_rng(seed)
    x = _draw_null(rng, nr, gs, J, A, corr)
    s2 = x.var(axis=1, ddof=1).mean(axis=1)
    vals = _rwg_j_core(s2, np.full(nr, float(J)), (A * A - 1) / 12.0)
    return NullSimulation("rwg_j", gs, A, J, nr, vals, float(np.quantile(vals, 0.95)), np.nan)


def ad_sim(group_size: int, scale_points: int, *, n_items: int = 1, item_corr: Any = None,
           center: str = "mean", n_rep: int = 10_000, seed: Any = None) -> NullSimulation:
    """Null distribution and 5% critical value of the AD index by simulation.

    Parameters
    ----------
    group_size : int
        Members per group (>= 2).
    scale_points : int
        Number of response options c.
    n_items : int, default 1
        Number of items J.
    item_corr : float or array_like, optional
        Correlation between items under the null, as in :func:`rwg_j_sim`.
    center : {"mean", "median"}, default "mean"
        AD_M or AD_Md.
    n_rep : int, default 10000
        Number of simulated groups.
    seed : int or numpy Generator, optional
        Seed for reproducibility.

    Returns
    -------
    NullSimulation
        ``critical_value`` is the 5th percentile (AD values below it show
        agreement beyond chance); ``practical_cutoff`` is c/6.

    Notes
    -----
    AD as in :func:`ad_index` on groups answering uniformly at random.

    R: ``multilevel::ad.m.sim(gsize, nitems, nresp, itemcors, type, nrep)``.

    References
    ----------
    .. [1] Dunlap, W. P., Burke, M. J., & Smith-Crowe, K. (2003). Journal of
       Applied Psychology, 88, 356-362.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.ad_sim(10, 5, n_rep=5000, seed=1)
    >>> bool(sim.critical_value < sim.quantile(0.5))
    True
    """
    gs, A, nr, J = _check_sim(group_size, scale_points, n_rep, n_items)
    check_choice("center", center, ("mean", "median"))
    corr = _check_corr(item_corr, J)
    rng = np.random.default_rng(seed)
    x = _draw_null(rng, nr, gs, J, A, corr)
    c = x.mean(axis=1, keepdims=True) if center == "mean" else np.median(x, axis=1, keepdims=True)
    vals = np.abs(x - c).mean(axis=1).mean(axis=1)
    return NullSimulation("ad", gs, A, J, nr, vals, float(np.quantile(vals, 0.05)), A / 6.0)


# ----------------------------------------------------------------------------
# random group resampling
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RGRResult:
    """Random group resampling of within-group variances.

    Attributes
    ----------
    n_random_groups : int
        Number of pseudo groups formed (``n_rep`` times the number of groups
        with at least two members).
    random_mean_var, random_sd_var : float
        Mean and standard deviation of the pseudo groups' variances.
    actual_mean_var : float
        Mean within-group variance of the real groups.
    n_groups : int
        Real groups with at least two members (those compared).
    statistic : float
        z = (actual - random mean) / (random sd / sqrt(n_groups)).
    pvalue : float
        One-sided P(Z <= z): small when real groups agree more than chance.
    random_variances : ndarray
        The pseudo groups' variances.
    """

    n_random_groups: int
    random_mean_var: float
    random_sd_var: float
    actual_mean_var: float
    n_groups: int
    statistic: float
    pvalue: float
    random_variances: np.ndarray = field(repr=False)

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """Quantile(s) of the pseudo-group variances (R type 7)."""
        return np.quantile(self.random_variances, q)

    def summary(self) -> str:
        """Formatted summary."""
        return (
            "Random group resampling (Bliese & Halverson 2002)\n"
            f"  real groups: {self.n_groups}, mean within-group variance {self.actual_mean_var:.4f}\n"
            f"  pseudo groups: {self.n_random_groups}, mean {self.random_mean_var:.4f}, "
            f"sd {self.random_sd_var:.4f}\n"
            f"  z = {self.statistic:.3f}, one-sided p = {self.pvalue:.3g}"
        )

    __str__ = summary


def _prepare_single(x: Any, groups: Any) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """(non-missing values, their group codes, group labels); dropped rows are warned about
    at the caller of the public function."""
    arr, _ = as_float_matrix(x, name="x")
    if arr.shape[1] != 1:
        raise ValueError(f"`x` must be a single variable; got {arr.shape[1]} columns.")
    v = arr[:, 0]
    codes, labels = factorize(groups, len(v))
    keep = ~np.isnan(v)
    n_drop = int((~keep).sum())
    if n_drop:
        warnings.warn(f"{n_drop} row(s) with missing `x` were dropped.", DroppedDataWarning, stacklevel=3)
    return v[keep], codes[keep], labels


def _permuted_codes(rng: np.random.Generator, codes: np.ndarray, n_rep: int) -> np.ndarray:
    """n_rep random reassignments of members to groups of the actual sizes, shape (n_rep, n)."""
    keys = rng.random((n_rep, codes.size))
    return codes[np.argsort(keys, axis=1)]


def _pseudo_group_chunks(rng: np.random.Generator, codes: np.ndarray, n_groups: int, n_rep: int
                         ) -> Any:
    """Yield ``(start, stop, perm, flat)`` for replicates ``start:stop`` in memory-bounded chunks.

    ``perm`` holds the permuted group codes (shape (stop - start, n)); ``flat`` numbers each
    pseudo group uniquely across the chunk's replicates (replicate r, group k -> r * n_groups + k).
    """
    chunk = max(1, int(2_000_000 // max(codes.size, 1)))
    for start in range(0, n_rep, chunk):
        stop = min(n_rep, start + chunk)
        perm = _permuted_codes(rng, codes, stop - start)
        flat = (perm + n_groups * np.arange(stop - start)[:, None]).ravel()
        yield start, stop, perm, flat


def rgr_agree(x: Any, groups: Any, *, n_rep: int = 100, seed: Any = None) -> RGRResult:
    """Random group resampling: do real groups agree more than pseudo groups?

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        One variable (``NaN`` rows are dropped and counted in a warning).
    groups : array_like, shape (n,)
        Group label of each respondent.
    n_rep : int, default 100
        Number of random reassignments; each forms pseudo groups with the
        real group sizes, so ``n_rep * n_groups`` pseudo groups in all.
    seed : int or numpy Generator, optional
        Seed for reproducibility.

    Returns
    -------
    RGRResult

    Notes
    -----
    Members are shuffled across groups keeping the group sizes; the mean
    within-group variance of the real groups is compared with the
    distribution of pseudo-group variances:
    :math:`z = (\\bar s^2_{real} - \\bar s^2_{pseudo}) / (sd_{pseudo}/\\sqrt{G})`.
    R forms ``nrangrps`` pseudo groups rounded down to whole reassignments,
    so R's ``rgr.agree(x, grpid, nrangrps = n_rep * G)`` is the same design.

    R: ``multilevel::rgr.agree(x, grpid, nrangrps)``.

    References
    ----------
    .. [1] Bliese, P. D., & Halverson, R. R. (2002). Using random group
       resampling in multilevel research. Leadership Quarterly, 13, 53-68.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", seed=1)
    >>> res = tc.rgr_agree(sv.staff["latent_engagement"], sv.staff["team"], n_rep=50, seed=2)
    >>> bool(res.actual_mean_var < res.random_mean_var)
    True
    """
    nr = check_int("n_rep", n_rep, minimum=2)
    v, codes, labels = _prepare_single(x, groups)
    G = len(labels)
    cnt = np.bincount(codes, minlength=G)
    if (cnt < 2).any():
        # groups of one have no variance; they are excluded from both real and pseudo groups
        bad = labels[cnt < 2]
        warnings.warn(f"{len(bad)} group(s) with fewer than two members excluded: {few(list(bad))}.",
                      SmallGroupWarning, stacklevel=2)
        keep = cnt[codes] >= 2
        v, codes = v[keep], codes[keep]
        _, codes = np.unique(codes, return_inverse=True)
        cnt = np.bincount(codes)
        G = cnt.size
    if G < 2:
        raise ValueError("`groups` must contain at least two groups with two or more members.")
    real = GroupedItems(v[:, None], codes, G, complete_cases=False).var[:, 0]
    rng = np.random.default_rng(seed)
    out = np.empty((nr, G))
    for start, stop, perm, flat in _pseudo_group_chunks(rng, codes, G, nr):
        vv = np.broadcast_to(v, perm.shape).ravel()
        size = G * (stop - start)
        out[start:stop] = GroupedItems(vv[:, None], flat, size, complete_cases=False).var[:, 0].reshape(stop - start, G)
    rv = out.ravel()
    mean_r = float(rv.mean())
    sd_r = float(rv.std(ddof=1))
    actual = float(real.mean())
    z = (actual - mean_r) / (sd_r / np.sqrt(G))
    return RGRResult(rv.size, mean_r, sd_r, actual, G, float(z), float(special.ndtr(z)), rv)


def pseudo_group_means(x: Any, groups: Any, *, n_rep: int = 100, confidence_level: float = 0.95,
                       seed: Any = None) -> pd.DataFrame:
    """Sorted group means next to sorted pseudo-group means (``graph.ran.mean`` data).

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        One variable (``NaN`` rows are dropped and counted in a warning).
    groups : array_like, shape (n,)
        Group label of each respondent.
    n_rep : int, default 100
        Number of random reassignments of members to groups of the real
        sizes.
    confidence_level : float, default 0.95
        Central coverage of the pseudo-mean band.
    seed : int or numpy Generator, optional
        Seed for reproducibility.

    Returns
    -------
    DataFrame
        Indexed by group label (sorted by group mean), columns ``n``,
        ``group_mean``, ``pseudo_mean`` (average over replicates of the
        pseudo-group mean at the same rank), ``ci_low``, ``ci_high``
        (percentiles of that rank's pseudo mean).

    Notes
    -----
    If real group means spread much more widely than pseudo-group means of
    the same sizes, group membership matters (Bliese & Halverson 2002).
    Plot with :func:`plot_pseudo_group_means`.

    R: ``multilevel::graph.ran.mean(x, grpid, nreps, limits, graph = FALSE)``.

    References
    ----------
    .. [1] Bliese, P. D., & Halverson, R. R. (2002). Leadership Quarterly, 13,
       53-68.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", seed=1)
    >>> pg = tc.pseudo_group_means(sv.staff["latent_engagement"], sv.staff["team"], seed=3)
    >>> list(pg.columns)
    ['n', 'group_mean', 'pseudo_mean', 'ci_low', 'ci_high']
    >>> bool(pg["group_mean"].std() > pg["pseudo_mean"].std())
    True
    """
    nr = check_int("n_rep", n_rep, minimum=2)
    cl = check_probability("confidence_level", confidence_level, open_low=True, open_high=True)
    v, codes, labels = _prepare_single(x, groups)
    G = len(labels)
    cnt = np.bincount(codes, minlength=G)
    present = cnt > 0
    means = np.bincount(codes, weights=v, minlength=G)[present] / cnt[present]
    codes_p = np.cumsum(present)[codes] - 1
    Gp = int(present.sum())
    cnt_p = cnt[present]
    rng = np.random.default_rng(seed)
    pseudo = np.empty((nr, Gp))
    for start, stop, perm, flat in _pseudo_group_chunks(rng, codes_p, Gp, nr):
        s = np.bincount(flat, weights=np.broadcast_to(v, perm.shape).ravel(), minlength=Gp * (stop - start))
        pseudo[start:stop] = s.reshape(stop - start, Gp) / cnt_p
    pseudo.sort(axis=1)
    order = np.argsort(means, kind="stable")
    alpha = 1 - cl
    return pd.DataFrame(
        {
            "n": cnt_p[order].astype(np.int64),
            "group_mean": means[order],
            "pseudo_mean": pseudo.mean(axis=0),
            "ci_low": np.quantile(pseudo, alpha / 2, axis=0),
            "ci_high": np.quantile(pseudo, 1 - alpha / 2, axis=0),
        },
        index=labels[present][order],
    )


def plot_pseudo_group_means(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Plot real against pseudo-group means from :func:`pseudo_group_means`.

    Parameters
    ----------
    table : DataFrame
        The result of :func:`pseudo_group_means`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created otherwise.

    Returns
    -------
    matplotlib Axes

    Notes
    -----
    R: ``multilevel::graph.ran.mean(..., graph = TRUE)``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import teamculture as tc
    >>> from teamculture import plot_pseudo_group_means
    >>> sv = tc.national_survey("tiny", seed=1)
    >>> pg = tc.pseudo_group_means(sv.staff["latent_engagement"], sv.staff["team"], seed=3)
    >>> ax = plot_pseudo_group_means(pg)
    """
    needed = ["group_mean", "pseudo_mean", "ci_low", "ci_high"]
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in needed):
        raise TypeError(f"`table` must be the DataFrame returned by pseudo_group_means (columns {needed}).")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    rank = np.arange(1, len(table) + 1)
    ax.fill_between(rank, table["ci_low"], table["ci_high"], color="0.85", label="pseudo groups (band)")
    ax.plot(rank, table["pseudo_mean"], color="0.4", lw=1.5, label="pseudo-group means")
    ax.plot(rank, table["group_mean"], "o", ms=3, color="C0", label="real group means")
    ax.set_xlabel("group rank")
    ax.set_ylabel("group mean")
    ax.legend(frameon=False)
    return ax
