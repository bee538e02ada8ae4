"""Within-group agreement: the rwg family, awg, AD and the null variances.

Before a team score means anything, its members must agree. This module
computes the classic agreement indices for every group at once (vectorised
grouped sums, no Python loop over groups).

All index functions take the responses (a Series or 1-D array for one item,
a DataFrame or 2-D array of items) and the group labels (one per row, or a
DataFrame of label columns for nested groups, outer first), and return a
DataFrame indexed by the group labels with a fixed set of columns: the
index, the members it used (``n``), the members it could not use
(``n_missing``) and the variance or deviation behind it.

Missing responses
-----------------
``nan_policy="omit"`` (the default) drops every respondent with a missing
item first (complete cases), which reproduces R multilevel 2.7 (its
functions call ``na.exclude`` on the whole data frame) and ``ad.m`` in
every version. ``"pairwise"`` uses each item's own answers: an item's
variance in a group uses the members who answered it, which is what R
multilevel >= 2.8 does by default. ``"raise"`` refuses missing values.
Whatever is not used is counted in a
:class:`~teamculture.errors.DroppedDataWarning` and in the ``n_missing``
column; groups whose index is undefined (fewer than two members) get
``NaN`` and a :class:`~teamculture.errors.SmallGroupWarning` with their count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import DegenerateDataWarning, DroppedDataWarning
from teamculture._core.groups import GroupedItems
from teamculture._core.validation import Scale, check_choice, check_real, few
from teamculture._core.warn import warn
from teamculture.aggregation._common import Prepared, drop_rows, prepare, response_scale, warn_small_groups

__all__ = [
    "rwg",
    "rwg_j",
    "rwg_j_lindell",
    "awg",
    "ad_index",
    "null_variance",
    "NULL_DISTRIBUTIONS",
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
# response options for codes 1..A (uniform is computed exactly instead).
_LS2008: dict[str, dict[int, float]] = {
    "slight_skew": {5: 1.34, 6: 1.85, 7: 2.90, 8: 3.47, 9: 5.66, 10: 6.30, 11: 7.31},
    "moderate_skew": {5: 0.90, 6: 1.26, 7: 2.14, 8: 2.79, 9: 4.73, 10: 5.09, 11: 6.32},
    "heavy_skew": {5: 0.44, 6: 0.69, 7: 1.39, 8: 2.35, 9: 3.16, 10: 3.46, 11: 4.02},
    "triangular": {5: 1.32, 6: 1.45, 7: 2.10, 8: 2.81, 9: 3.00, 10: 2.89, 11: 3.32},
    "normal": {5: 1.04, 6: 1.25, 7: 1.40, 8: 1.73, 9: 1.58, 10: 1.45, 11: 1.40},
}

_POLICIES = ("omit", "pairwise", "raise")


# ----------------------------------------------------------------------------
# null variances
# ----------------------------------------------------------------------------
def _uniform_variance(s: Scale) -> float:
    """Variance of the discrete uniform distribution on the codes of ``s``."""
    step = s.step
    if step is not None:
        a = s.n_points
        return step * step * (a * a - 1) / 12.0
    c = np.asarray(s.codes)
    return float(np.mean((c - c.mean()) ** 2))


def _null_variance_of(s: Scale, null: str) -> float:
    """sigma^2_E of the named null on the scale ``s`` (``null`` already checked)."""
    if null == "uniform":
        return _uniform_variance(s)
    step = s.step
    if step is None:
        raise ValueError(
            f"`scale` has unequally spaced codes {s.describe()}; LeBreton & Senter's {null!r} null variances "
            "are tabled for equally spaced codes. Pass `null_variance=` with a value for your scale."
        )
    table = _LS2008[null]
    if s.n_points not in table:
        raise ValueError(
            f"`scale` must have one of {sorted(table)} points for null={null!r} (LeBreton & Senter's table); "
            f"got {s.n_points} ({s.describe()}). Pass `null_variance=` to use your own value."
        )
    return step * step * table[s.n_points]


def _validate_null_variance(scale: Any, null: Any) -> tuple[Scale, str]:
    return response_scale(scale), check_choice("null", null, NULL_DISTRIBUTIONS)


def null_variance(scale: Any, *, null: str = "uniform") -> float:
    """Variance expected when group members do not agree at all.

    Parameters
    ----------
    scale : tuple, sequence or ResponseScale
        The response scale: ``(low, high)`` integer bounds (``(1, 5)`` is a
        5-point scale), the list of valid codes, or a
        :class:`~teamculture.ResponseScale`.
    null : {"uniform", "slight_skew", "moderate_skew", "heavy_skew", "triangular", "normal"}
        Shape of the null response distribution.

    Returns
    -------
    float
        sigma^2_E.

    Notes
    -----
    Uniform null: the variance of the discrete uniform distribution on the
    codes; for A equally spaced codes with step s it is
    :math:`\\sigma^2_{EU} = s^2 (A^2 - 1)/12` (exact; LeBreton and Senter's
    table prints it rounded, e.g. 2.92 for six points). The other nulls are
    LeBreton and Senter's (2008) Table 2 as printed (two decimals, for 5 to
    11 points coded 1..A), times :math:`s^2` for a step s; they are refused
    for unequally spaced codes.

    R: none (``multilevel`` takes the value as ``ranvar``, e.g. ``rwg(x, grpid, ranvar = 1.34)``).

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
    >>> tc.null_variance((1, 5))
    2.0
    >>> tc.null_variance((1, 5), null="slight_skew")
    1.34
    >>> tc.null_variance([0, 2, 4, 6, 8])  # step 2: four times the 1..5 value
    8.0
    """
    s, null = _validate_null_variance(scale, null)
    return _null_variance_of(s, null)


def _resolve_null(null_var: Any, scale: Scale | None, null: str) -> float:
    """sigma^2_E from ``null_variance`` or from ``scale`` and ``null`` (validated)."""
    if null_var is not None:
        if null != "uniform":
            raise ValueError(
                f"Give either `null` (a named null distribution, here {null!r}) or `null_variance` "
                f"(your own value, here {null_var!r}), not both."
            )
        return check_real("null_variance", null_var, low=0.0, low_open=True)
    if scale is None:
        raise ValueError(
            "`scale` is required (the response scale, e.g. scale=(1, 5) for codes 1..5): the null variance "
            "derives from it. Alternatively pass `null_variance=` (then codes are not range-checked)."
        )
    return _null_variance_of(scale, null)


def _validate_index_options(scale: Any, null: Any, null_var: Any) -> tuple[Scale | None, str, float]:
    check_choice("null", null, NULL_DISTRIBUTIONS)
    s = None if scale is None else response_scale(scale)
    return s, null, _resolve_null(null_var, s, null)


# ----------------------------------------------------------------------------
# shared pieces (also used by aggregate)
# ----------------------------------------------------------------------------
def grouped_items(p: Prepared, nan_policy: str, what: str, name: str) -> GroupedItems:
    """Grouped sums of the responses under ``nan_policy``, with the drop warning."""
    missing = np.isnan(p.x)
    if nan_policy == "pairwise":
        n_cells = int(missing.sum())
        if n_cells:
            rows = int(missing.any(axis=1).sum())
            warn(f"{n_cells} missing value(s) of `{name}` (in {rows} of {p.x.shape[0]} row(s)) were not used for "
                 f"{what} (nan_policy='pairwise': each item uses the members who answered it).", DroppedDataWarning)
    else:  # omit (raise was resolved in prepare)
        drop_rows(missing.any(axis=1), "omit", name=name, what=what, index=p.index)
    return GroupedItems(p.x, p.codes, p.n_groups, complete_cases=nan_policy != "pairwise")


def mean_over_items(values: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over items where ``ok``; returns (mean, number of items used)."""
    n_items = ok.sum(axis=1)
    total = np.where(ok, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_items > 0, total / np.maximum(n_items, 1), np.nan)
    return mean, n_items


def item_variances(g: GroupedItems) -> tuple[np.ndarray, np.ndarray]:
    """(mean item variance over items with >= 2 responses, items used) per group."""
    ok = g.count >= 2
    return mean_over_items(np.where(ok, g.var, 0.0), ok)


def rwg_core(s2: np.ndarray, sigma2: float) -> np.ndarray:
    """Single-item rwg from the variance, truncated at sigma^2_E (NaN stays NaN)."""
    return 1.0 - np.minimum(s2, sigma2) / sigma2


def rwg_j_core(s2: np.ndarray, n_items: np.ndarray, sigma2: float) -> np.ndarray:
    """rwg(j) from the mean item variance and the number of items (NaN where no item)."""
    ratio = np.minimum(s2, sigma2) / sigma2
    num = n_items * (1.0 - ratio)
    # num + ratio = J - (J - 1) ratio >= 1 wherever s2 is defined (J >= 1); NaN propagates silently
    return num / (num + ratio)


def awg_items(g: GroupedItems, low: float, high: float) -> np.ndarray:
    """awg per group and item (NaN where undefined), shape (G, J)."""
    k = g.count
    total = g.sum
    two = k >= 2
    kk = np.where(two, k, 2.0)
    m = total / np.where(k > 0, k, 1.0)
    max_var = ((high + low) * m - m * m - high * low) * (kk / (kk - 1.0))
    # bounds compared on sums (exact for integer codes): M < [L(k-1)+H]/k etc.
    undefined = (total < low * (k - 1) + high) | (total > high * (k - 1) + low)
    at_end = (m == high) | (m == low)
    ok = two & ~undefined & ~at_end & (max_var > 0)
    a = np.full(k.shape, np.nan)
    a[ok] = 1.0 - 2.0 * g.var[ok] / max_var[ok]
    a[two & at_end] = 1.0
    return a


def ad_items(g: GroupedItems, location: str) -> np.ndarray:
    """AD per group and item (NaN with fewer than two responses), shape (G, J)."""
    c = g.count
    ok = c >= 2
    out = np.full(c.shape, np.nan)
    out[ok] = g.abs_dev(location)[ok] / c[ok]
    return out


def _table(p: Prepared, g: GroupedItems, first: str, value: np.ndarray, **extra: Any) -> pd.DataFrame:
    """A per-group result: ``first``, ``n``, ``n_missing`` then ``extra`` columns."""
    n = g.n_members.astype(np.int64)
    return pd.DataFrame({first: value, "n": n, "n_missing": p.sizes().astype(np.int64) - n, **extra},
                        index=p.labels)


def _prepare_items(items: Any, groups: Any, *, scale: Scale | None, raw_scale: Any, nan_policy: str,
                   invalid: str, what: str, name: str = "items", single: bool = False,
                   single_hint: str = "") -> tuple[Prepared, GroupedItems]:
    p = prepare(items, groups, name=name, what=what, nan_policy=nan_policy, allowed=_POLICIES if not single
                else ("omit", "raise"), scale=scale, raw_scale=raw_scale, invalid=invalid, single=single,
                single_hint=single_hint)
    return p, grouped_items(p, nan_policy, what, name)


# ----------------------------------------------------------------------------
# rwg family
# ----------------------------------------------------------------------------
def _validate_rwg(scale: Any, null_var: Any, null: Any) -> tuple[Scale | None, float]:
    s, _, sigma2 = _validate_index_options(scale, null, null_var)
    return s, sigma2


def rwg(x: Any, groups: Any, *, scale: Any = None, null_variance: float | None = None, null: str = "uniform",
        nan_policy: str = "omit", invalid: str = "raise") -> pd.DataFrame:
    """Single-item within-group agreement rwg for every group.

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        Responses to one item (``NaN`` = missing).
    groups : Series, array_like or DataFrame
        Group label of each respondent (one per row), or label columns for
        nested groups (outer first; e.g. ``staff[["trust", "team"]]``).
        Pandas labels are matched to ``x`` by index, never by position.
    scale : tuple, sequence or ResponseScale, optional
        The response scale (``(1, 5)``, a list of codes or a
        ResponseScale). Sets the null variance (see :func:`null_variance`)
        and the valid codes; required unless ``null_variance`` is given.
    null_variance : float, optional
        sigma^2_E to use instead of a named null distribution.
    null : str, default "uniform"
        Null distribution, see :func:`null_variance`.
    nan_policy : {"omit", "raise"}, default "omit"
        Missing responses: dropped and counted (``n_missing`` and a
        :class:`~teamculture.errors.DroppedDataWarning`), or an error. Rows
        with a missing group label are treated alike.
    invalid : {"raise", "missing"}, default "raise"
        Codes outside ``scale``: an error, or set missing and counted.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``rwg`` (float, NaN for groups with
        fewer than two responses), ``n`` (responses used), ``n_missing``
        (members not used) and ``variance`` (the observed sample variance
        s^2, before truncation).

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
    >>> tc.rwg([4, 4, 5, 3, 4, 1, 5, 3, 2, 4], ["a"] * 5 + ["b"] * 5, scale=(1, 5))
        rwg  n  n_missing  variance
    a  0.75  5          0       0.5
    b  0.00  5          0       2.5
    """
    s, sigma2 = _validate_rwg(scale, null_variance, null)
    p, g = _prepare_items(x, groups, scale=s, raw_scale=scale, nan_policy=nan_policy, invalid=invalid,
                          what="rwg", name="x", single=True, single_hint=" Use rwg_j for several items.")
    with np.errstate(over="ignore"):  # values without a scale may be huge: variance inf, rwg 0
        s2 = g.var[:, 0]
    warn_small_groups(p.labels, g.count[:, 0] < 2, "rwg")
    return _table(p, g, "rwg", rwg_core(s2, sigma2), variance=s2)


def _mean_item_variances(items: Any, groups: Any, *, scale: Any, null_var: Any, null: Any, nan_policy: str,
                         invalid: str, what: str) -> tuple[float, Prepared, GroupedItems, np.ndarray, np.ndarray]:
    """Shared front of rwg(j) and r*wg(j): (sigma^2_E, prepared data, sums, mean item variance, J)."""
    s, sigma2 = _validate_rwg(scale, null_var, null)
    p, g = _prepare_items(items, groups, scale=s, raw_scale=scale, nan_policy=nan_policy, invalid=invalid,
                          what=what)
    with np.errstate(over="ignore"):  # values without a scale may be huge: variance inf, rwg(j) 0
        s2, n_items = item_variances(g)
    warn_small_groups(p.labels, n_items == 0, what)
    return sigma2, p, g, s2, n_items


def rwg_j(items: Any, groups: Any, *, scale: Any = None, null_variance: float | None = None, null: str = "uniform",
          nan_policy: str = "omit", invalid: str = "raise") -> pd.DataFrame:
    """Multi-item within-group agreement rwg(j) for every group.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, J)
        Responses to J parallel items (``NaN`` = missing).
    groups : Series, array_like or DataFrame
        Group label of each respondent, or label columns for nested groups
        (outer first); matched to ``items`` by index.
    scale, null_variance, null, invalid
        As in :func:`rwg`.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        ``"omit"``: drop respondents with any missing item first (complete
        cases; R multilevel 2.7, whose ``rwg.j`` calls ``na.exclude``).
        ``"pairwise"``: each item's variance uses the members who answered
        it (R multilevel >= 2.8). ``"raise"``: refuse missing values.
        Unused responses are counted (``n_missing`` and a
        :class:`~teamculture.errors.DroppedDataWarning`).

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``rwg_j``, ``n`` (members with at
        least one used response), ``n_missing`` (members not used),
        ``n_items`` (items with at least two responses, the J used) and
        ``mean_variance`` (mean item variance before truncation).

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
    >>> staff = tc.national_survey("tiny", rng=1).staff
    >>> staff = staff.dropna(subset=["mot1", "mot2", "mot3"])  # complete cases: no DroppedDataWarning
    >>> out = tc.rwg_j(staff[["mot1", "mot2", "mot3"]], staff["team"], scale=(1, 5))
    >>> list(out.columns)
    ['rwg_j', 'n', 'n_missing', 'n_items', 'mean_variance']
    >>> bool(out["rwg_j"].between(0, 1).all())
    True
    """
    sigma2, p, g, s2, n_items = _mean_item_variances(
        items, groups, scale=scale, null_var=null_variance, null=null, nan_policy=nan_policy, invalid=invalid,
        what="rwg(j)")
    return _table(p, g, "rwg_j", rwg_j_core(s2, n_items, sigma2), n_items=n_items.astype(np.int64),
                  mean_variance=s2)


def rwg_j_lindell(items: Any, groups: Any, *, scale: Any = None, null_variance: float | None = None,
                  null: str = "uniform", nan_policy: str = "omit", invalid: str = "raise") -> pd.DataFrame:
    """Lindell's r*wg(j) for every group (no Spearman-Brown step-up, no truncation).

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, J)
        Responses to J items (``NaN`` = missing).
    groups : Series, array_like or DataFrame
        Group label of each respondent (nested: label columns, outer first).
    scale, null_variance, null, nan_policy, invalid
        As in :func:`rwg_j`.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``rwg_j_lindell``, ``n``,
        ``n_missing``, ``n_items``, ``mean_variance``.

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
    >>> tc.rwg_j_lindell(items, ["a"] * 5, scale=(1, 5))
       rwg_j_lindell  n  n_missing  n_items  mean_variance
    a           0.75  5          0        2            0.5
    """
    sigma2, p, g, s2, n_items = _mean_item_variances(
        items, groups, scale=scale, null_var=null_variance, null=null, nan_policy=nan_policy, invalid=invalid,
        what="r*wg(j)")
    return _table(p, g, "rwg_j_lindell", 1.0 - s2 / sigma2, n_items=n_items.astype(np.int64), mean_variance=s2)


# ----------------------------------------------------------------------------
# awg
# ----------------------------------------------------------------------------
def _validate_awg(scale: Any) -> Scale:
    if scale is None:
        raise ValueError("`scale` is required for awg (its bounds L and H enter the formula), e.g. scale=(1, 5).")
    return response_scale(scale)


def awg(items: Any, groups: Any, *, scale: Any, nan_policy: str = "omit", invalid: str = "raise") -> pd.DataFrame:
    """Brown and Hauenstein's awg agreement index for every group.

    Parameters
    ----------
    items : Series, DataFrame or array_like
        One item (shape (n,)) or J items (shape (n, J)); ``NaN`` = missing.
    groups : Series, array_like or DataFrame
        Group label of each respondent (nested: label columns, outer first).
    scale : tuple, sequence or ResponseScale
        The response scale; its lowest and highest codes are L and H.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        As in :func:`rwg_j`; ``"omit"`` reproduces R multilevel 2.7.
    invalid : {"raise", "missing"}, default "raise"
        Codes outside ``scale``: an error, or set missing and counted.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``awg`` (mean of the defined item
        awg values; NaN if none is defined), ``n`` (members with a used
        response), ``n_missing``, ``n_items`` (items with a defined awg)
        and ``mean_variance`` (mean item variance).

    Notes
    -----
    For one item with group mean M, variance s^2 and k responses,

    .. math::

        a_{wg} = 1 - \\frac{2 s^2}{[(H + L)M - M^2 - HL]\\,k/(k - 1)},

    the observed variance relative to the largest variance possible given
    the mean. It is undefined (NaN) when
    :math:`M < [L(k-1) + H]/k` or :math:`M > [H(k-1) + L]/k`, and 1 when
    M equals L or H. Groups of two or more whose awg is undefined on every
    item are counted and named in a
    :class:`~teamculture.errors.DegenerateDataWarning`. The multi-item awg(j) is the mean of the defined item
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
    >>> out = tc.awg([4, 4, 5, 3, 4], ["a"] * 5, scale=(1, 5))
    >>> round(float(out.loc["a", "awg"]), 6)
    0.733333
    """
    s = _validate_awg(scale)
    p, g = _prepare_items(items, groups, scale=s, raw_scale=scale, nan_policy=nan_policy, invalid=invalid,
                          what="awg")
    a = awg_items(g, s.low, s.high)
    ok = ~np.isnan(a)
    value, n_items = mean_over_items(np.where(ok, a, 0.0), ok)
    s2, _ = item_variances(g)
    small = g.count.max(axis=1) < 2
    warn_small_groups(p.labels, small, "awg")
    _warn_awg_undefined(p.labels, ~small & (n_items == 0))
    return _table(p, g, "awg", value, n_items=n_items.astype(np.int64), mean_variance=s2)


def _warn_awg_undefined(labels: pd.Index, undefined: np.ndarray) -> None:
    """DegenerateDataWarning naming the groups (of two or more) whose awg is undefined on every item."""
    if undefined.any():
        warn(
            f"awg is undefined (NaN) for {int(undefined.sum())} of {undefined.size} group(s) of two or more "
            f"members: on every item the group mean lies too near an end of the scale for the group size "
            f"(M < [L(k-1)+H]/k or M > [H(k-1)+L]/k; Brown & Hauenstein's rule, as R's multilevel::awg): "
            f"{few(list(labels[undefined]))}.",
            DegenerateDataWarning,
        )


# ----------------------------------------------------------------------------
# AD
# ----------------------------------------------------------------------------
def ad_cutoff(s: Scale | None) -> float:
    """Burke and Dunlap's practical cut-off c/6 (in scale units: step x c/6); NaN without a scale."""
    if s is None:
        return float("nan")
    if s.step is None:
        raise ValueError(
            f"`scale` has unequally spaced codes {s.describe()}; the c/6 practical cut-off of AD assumes equally "
            "spaced codes. Recode the responses, or pass scale=None (no cut-off and no range check)."
        )
    return s.step * s.n_points / 6.0


def _validate_ad_index(location: Any, scale: Any) -> tuple[str, Scale | None, float]:
    check_choice("location", location, ("mean", "median"))
    s = None if scale is None else response_scale(scale)
    return location, s, ad_cutoff(s)


def ad_index(items: Any, groups: Any, *, location: str = "mean", scale: Any = None, nan_policy: str = "omit",
             invalid: str = "raise") -> pd.DataFrame:
    """Average deviation index AD_M(J) (or AD_Md(J)) for every group.

    Parameters
    ----------
    items : Series, DataFrame or array_like
        One item (shape (n,)) or J items (shape (n, J)); ``NaN`` = missing.
    groups : Series, array_like or DataFrame
        Group label of each respondent (nested: label columns, outer first).
    location : {"mean", "median"}, default "mean"
        Deviations from the group mean (AD_M) or median (AD_Md).
    scale : tuple, sequence or ResponseScale, optional
        The response scale: gives the practical cut-off c/6 (c response
        options; step x c/6 for codes with another step) and the valid codes.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        As in :func:`rwg_j`. R's ``ad.m`` always drops incomplete respondents
        (``"omit"``).
    invalid : {"raise", "missing"}, default "raise"
        Codes outside ``scale``: an error, or set missing and counted.

    Returns
    -------
    DataFrame
        Indexed by group label, columns ``ad`` (NaN for groups with fewer than
        two members), ``n``, ``n_missing``, ``n_items`` (items with at least
        two responses), ``cutoff`` (c/6, NaN without ``scale``) and ``agree``
        (nullable boolean: ``ad <= cutoff``, missing when either is missing).

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
    >>> tc.ad_index([4, 4, 5, 3, 4], ["a"] * 5, scale=(1, 5))
        ad  n  n_missing  n_items    cutoff  agree
    a  0.4  5          0        1  0.833333   True
    """
    location, s, cutoff = _validate_ad_index(location, scale)
    p, g = _prepare_items(items, groups, scale=s, raw_scale=scale, nan_policy=nan_policy, invalid=invalid,
                          what="AD")
    with np.errstate(over="ignore"):  # values without a scale may be huge: AD inf
        item_ad = ad_items(g, location)
    ok = ~np.isnan(item_ad)
    value, n_items = mean_over_items(np.where(ok, item_ad, 0.0), ok)
    warn_small_groups(p.labels, n_items == 0, "AD")
    agree = pd.array(value <= cutoff, dtype="boolean")
    agree[np.isnan(value) | np.isnan(cutoff)] = pd.NA
    return _table(p, g, "ad", value, n_items=n_items.astype(np.int64), cutoff=np.full(len(value), cutoff),
                  agree=agree)
