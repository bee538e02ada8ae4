"""Aggregation of staff responses to teams or trusts, with the evidence for it.

:func:`aggregate` turns a staff-level table into one row per group: size,
mean and standard deviation of each variable or scale, the agreement
indices that justify using the mean (rwg/rwg(j), r*wg(j), awg, AD) and flags
for groups below chosen cut-offs, plus the ICC(1)/ICC(2) of each variable.
One set of grouped sums is built per variable and reused by every index.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.groups import GroupedItems, factorize
from teamculture._core.validation import check_choice, check_int, few
from teamculture.aggregation._agreement import (
    NULL_DISTRIBUTIONS,
    _awg_items,
    _item_variances,
    _mean_over_items,
    _rwg_j_core,
    null_variance,
)
from teamculture.errors import DroppedDataWarning, SmallGroupWarning
from teamculture.aggregation._icc import _icc1_from, _icc2_from, _oneway

__all__ = ["aggregate", "AggregateResult", "AGGREGATE_STATS"]

#: Columns produced for every variable or scale ``v`` (as ``f"{v}_{stat}"``).
AGGREGATE_STATS: tuple[str, ...] = (
    "n", "mean", "sd", "rwg", "rwg_lindell", "awg", "ad", "low_agreement", "small",
)


@dataclass(frozen=True)
class AggregateResult:
    """Group-level data with agreement diagnostics (from :func:`aggregate`).

    Attributes
    ----------
    table : DataFrame
        One row per group, indexed by the group labels. Column ``n_members``
        (rows of the group), then for each variable or scale ``v`` the
        columns ``v_n`` (members with a score), ``v_mean``, ``v_sd``
        (sample sd of member scores), ``v_rwg`` (rwg for one item, rwg(j)
        for a scale), ``v_rwg_lindell`` (r*wg(j)), ``v_awg``, ``v_ad``
        (AD_M), ``v_low_agreement`` (``v_rwg`` below ``min_rwg`` or
        undefined) and ``v_small`` (``v_n`` below ``min_size``).
    icc : DataFrame
        Indexed by variable or scale: ``icc1``, ``icc2``, ``k`` (mean group
        size), ``n_obs`` (members with a score) from the one-way ANOVA of
        member scores on group.
    by : str or list of str
        The grouping column(s).
    null_variance : Series
        sigma^2_E used for each variable or scale.
    min_size : int
        Groups with fewer scored members are flagged ``small``.
    min_rwg : float
        Groups with rwg below this are flagged ``low_agreement``.
    """

    table: pd.DataFrame
    icc: pd.DataFrame
    by: Any
    null_variance: pd.Series
    min_size: int
    min_rwg: float
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """Formatted overview: per variable, median rwg, share flagged, ICCs."""
        t = self.table
        lines = [f"Aggregated to {len(t):,} groups by {self.by!r} "
                 f"(flags: rwg < {self.min_rwg:g}, n < {self.min_size})"]
        for v, row in self.icc.iterrows():
            lines.append(
                f"  {v}: median rwg {t[f'{v}_rwg'].median():.3f}, low agreement "
                f"{t[f'{v}_low_agreement'].mean():.1%}, small {t[f'{v}_small'].mean():.1%}, "
                f"ICC(1) {row['icc1']:.3f}, ICC(2) {row['icc2']:.3f}"
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = summary


def _validate(data: Any, by: Any, columns: Any, scale_points: Any, null: Any, min_size: Any,
              min_rwg: Any, listwise: Any) -> tuple[list[str], dict[str, list[Any]], dict[str, int]]:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame; got {type(data).__name__}.")
    by_list = [by] if not isinstance(by, (list, tuple)) else list(by)
    missing = [b for b in by_list if b not in data.columns]
    if missing or not by_list:
        raise ValueError(f"`by` must name column(s) of `data`; not found: {few(missing)}.")
    if isinstance(columns, str):
        spec = {columns: [columns]}
    elif isinstance(columns, dict):
        spec = {str(k): ([v] if isinstance(v, str) else list(v)) for k, v in columns.items()}
    else:
        spec = {str(c): [c] for c in columns}
    if not spec or any(len(v) == 0 for v in spec.values()):
        raise ValueError("`columns` must name at least one column (or map names to non-empty item lists).")
    absent = sorted({c for v in spec.values() for c in v if c not in data.columns}, key=str)
    if absent:
        raise ValueError(f"`columns` refers to column(s) not in `data`: {few(absent)}.")
    nonnum = sorted({c for v in spec.values() for c in v if not pd.api.types.is_numeric_dtype(data[c])}, key=str)
    if nonnum:
        raise TypeError(f"`columns` must be numeric; non-numeric column(s) {few(nonnum)}.")
    if isinstance(scale_points, dict):
        sp = {k: scale_points.get(k) for k in spec}
        lacking = [k for k, v in sp.items() if v is None]
        if lacking:
            raise ValueError(f"`scale_points` has no entry for {few(lacking)}.")
    else:
        sp = {k: scale_points for k in spec}
    sp = {k: check_int("scale_points", v, minimum=2) for k, v in sp.items()}
    check_choice("null", null, NULL_DISTRIBUTIONS)
    check_int("min_size", min_size, minimum=1)
    try:
        mr = float(min_rwg)
    except (TypeError, ValueError):
        raise TypeError(f"`min_rwg` must be a number in [0, 1]; got {min_rwg!r}.") from None
    if not 0 <= mr <= 1:
        raise ValueError(f"`min_rwg` must lie in [0, 1]; got {min_rwg!r}.")
    if not isinstance(listwise, (bool, np.bool_)):
        raise TypeError(f"`listwise` must be True or False; got {listwise!r}.")
    return by_list, spec, sp


def aggregate(data: pd.DataFrame, by: str | list[str], columns: Any, *, scale_points: int | dict[str, int],
              null: str = "uniform", listwise: bool = False, min_size: int = 3,
              min_rwg: float = 0.70) -> AggregateResult:
    """Aggregate staff responses to groups with agreement diagnostics and flags.

    Parameters
    ----------
    data : DataFrame
        One row per respondent. Not modified.
    by : str or list of str
        Grouping column(s); with several, groups are their combinations
        (e.g. ``["trust", "team_in_trust"]``) and the index is a MultiIndex.
    columns : str, list of str, or dict
        Variables to aggregate: a column name, a list of names (each one a
        single item), or ``{"scale": [items...]}`` for multi-item scales.
        A respondent's scale score is the mean of the items they answered.
    scale_points : int or dict
        Number of response options (codes 1..A), one for all or one per
        entry of ``columns``. Sets the null variance (rwg) and the range
        (awg).
    null : str, default "uniform"
        Null distribution for rwg, see :func:`teamculture.null_variance`.
    listwise : bool, default False
        Missing-item rule for the agreement indices, as in
        :func:`teamculture.rwg_j` (False: per item, R multilevel >= 2.8;
        True: complete cases, counted in a
        :class:`~teamculture.errors.DroppedDataWarning`).
    min_size : int, default 3
        Flag groups with fewer scored members.
    min_rwg : float, default 0.70
        Flag groups whose rwg/rwg(j) is below this (the conventional, and
        criticised, cut-off; LeBreton & Senter 2008 suggest reading the
        value against .30/.50/.70/.90 bands instead).

    Returns
    -------
    AggregateResult
        ``table`` (one row per group) and ``icc`` (one row per variable).

    Notes
    -----
    Per group and variable: n, mean and sd of member scores; rwg(j) and
    r*wg(j) of the items against sigma^2_E (:func:`teamculture.rwg_j`,
    :func:`teamculture.rwg_j_lindell`), awg(j) with range 1..A
    (:func:`teamculture.awg`) and AD_M(j) (:func:`teamculture.ad_index`);
    groups of one get NaN and are counted in a
    :class:`~teamculture.errors.SmallGroupWarning`. ICC(1)/ICC(2) are
    Bliese's ANOVA estimates (:func:`teamculture.icc1`) of the member
    scores.

    R: the columns of ``multilevel::rwg.j``, ``rwg.j.lindell``, ``awg``,
    ``ad.m``, ``ICC1``/``ICC2`` with ``aggregate(x, list(grp), mean)``.

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.
    .. [2] LeBreton, J. M., & Senter, J. L. (2008). Organizational Research
       Methods, 11, 815-852.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", seed=1)
    >>> agg = tc.aggregate(sv.staff, "team",
    ...                    {"engagement": ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3"]},
    ...                    scale_points=5)
    >>> agg.table.shape
    (24, 10)
    >>> list(agg.icc.columns)
    ['icc1', 'icc2', 'k', 'n_obs']
    """
    by_list, spec, sp = _validate(data, by, columns, scale_points, null, min_size, min_rwg, listwise)
    n = len(data)
    if len(by_list) == 1:
        codes, labels = factorize(data[by_list[0]], n, name="by")
    else:
        for b in by_list:
            if data[b].isna().any():
                raise ValueError(f"`by` column {b!r} has {int(data[b].isna().sum())} missing label(s).")
        codes_each = [factorize(data[b], n, name="by") for b in by_list]
        key = np.zeros(n, dtype=np.int64)
        for c, lab in codes_each:
            key = key * len(lab) + c
        kc, ku = pd.factorize(key, sort=True)
        codes = kc.astype(np.intp)
        parts = []
        rem = ku.astype(np.int64)
        for c, lab in reversed(codes_each):
            parts.append(lab[rem % len(lab)])
            rem = rem // len(lab)
        labels = pd.MultiIndex.from_arrays(list(reversed(parts)), names=by_list)
    G = len(labels)
    out: dict[str, Any] = {"n_members": np.bincount(codes, minlength=G).astype(np.int64)}
    icc_rows = {}
    sig = {}
    small_groups = np.zeros(G, dtype=bool)
    dropped: dict[str, int] = {}
    for name, cols in spec.items():
        x = data[cols].to_numpy(dtype=float, na_value=np.nan)
        g = GroupedItems(x, codes, G, complete_cases=bool(listwise))
        A = sp[name]
        s2E = null_variance(A, null)
        sig[name] = s2E
        s2, J = _item_variances(g)
        a = _awg_items(g, 1.0, float(A))
        ok_a = ~np.isnan(a)
        awg_v, _ = _mean_over_items(np.where(ok_a, a, 0.0), ok_a)
        ok = g.count >= 2
        with np.errstate(invalid="ignore", divide="ignore"):
            item_ad = g.abs_dev("mean") / g.count
            ad_v, _ = _mean_over_items(np.where(ok, item_ad, 0.0), ok)
            # respondent scores: mean of answered items (all rows, independent of listwise)
            if g.complete_cases:
                answered = ~np.isnan(x)
                score = np.where(answered, x, 0.0).sum(axis=1) / answered.sum(axis=1)
            else:
                score = g._x0.sum(axis=0) / g._observed.sum(axis=0)
        has = ~np.isnan(score)
        sg = GroupedItems(score[:, None], codes, G, complete_cases=False)
        n_s = sg.count[:, 0]
        rwg_v = _rwg_j_core(s2, J, s2E)
        out[f"{name}_n"] = n_s.astype(np.int64)
        out[f"{name}_mean"] = sg.mean[:, 0]
        out[f"{name}_sd"] = np.sqrt(sg.var[:, 0])
        out[f"{name}_rwg"] = rwg_v
        out[f"{name}_rwg_lindell"] = 1.0 - s2 / s2E
        out[f"{name}_awg"] = awg_v
        out[f"{name}_ad"] = ad_v
        out[f"{name}_low_agreement"] = ~(rwg_v >= min_rwg)
        out[f"{name}_small"] = n_s < min_size
        small_groups |= J == 0
        if g.n_dropped_rows:
            dropped[name] = g.n_dropped_rows
        try:
            ow = _oneway(score[has], codes[has], G)
            icc_rows[name] = {"icc1": _icc1_from(ow, ow.k_mean), "icc2": _icc2_from(ow),
                              "k": ow.k_mean, "n_obs": int(has.sum())}
        except ValueError:
            icc_rows[name] = {"icc1": np.nan, "icc2": np.nan, "k": np.nan, "n_obs": int(has.sum())}
    if dropped:
        detail = ", ".join(f"{k}: {v:,}" for k, v in dropped.items())
        warnings.warn(f"Respondents with a missing item were dropped (listwise) from the agreement "
                      f"indices ({detail}); means and sds use every answered item.",
                      DroppedDataWarning, stacklevel=2)
    if small_groups.any():
        warnings.warn(
            f"{int(small_groups.sum())} group(s) have fewer than two members with responses on some "
            f"variable, so its agreement indices are NaN: {few(list(labels[small_groups]))}.",
            SmallGroupWarning, stacklevel=2,
        )
    table = pd.DataFrame(out, index=labels)
    icc = pd.DataFrame.from_dict(icc_rows, orient="index")
    icc["n_obs"] = icc["n_obs"].astype(np.int64)
    return AggregateResult(
        table=table,
        icc=icc,
        by=by if isinstance(by, str) else list(by_list),
        null_variance=pd.Series(sig, dtype=float),
        min_size=int(min_size),
        min_rwg=float(min_rwg),
    )
