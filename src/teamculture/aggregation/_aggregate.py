"""Aggregation of staff responses to teams or trusts, with the evidence for it.

:func:`aggregate` turns a staff-level table into one row per group: size,
mean and standard deviation of each variable or scale, the agreement
indices that justify using the mean (rwg/rwg(j), r*wg(j), awg, AD) and flags
for groups below chosen cut-offs, plus the ICC(1)/ICC(2) of each variable.
One set of grouped sums is built per variable and reused by every index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import BoundaryWarning, DegenerateDataWarning, DroppedDataWarning, SmallGroupWarning
from teamculture._core.groups import GroupedItems, Groups, oneway_anova
from teamculture._core.validation import (
    Scale,
    as_float_matrix,
    check_choice,
    check_columns,
    check_frame,
    check_in_scale,
    check_int,
    check_invalid,
    check_nan_policy,
    check_probability,
    few,
)
from teamculture._core.warn import warn
from teamculture.aggregation._agreement import (
    NULL_DISTRIBUTIONS,
    _null_variance_of,
    ad_items,
    awg_items,
    item_variances,
    mean_over_items,
    rwg_j_core,
)
from teamculture.aggregation._common import (
    drop_rows,
    response_scale,
    scale_missing_codes,
    warn_unused_categories,
)
from teamculture.aggregation._fused import fused_stats, usable
from teamculture.aggregation._icc import _icc1_of, _icc2_of
from teamculture.results import Result, Summary, result_class

__all__ = ["aggregate", "AggregateResult", "AGGREGATE_STATS"]

#: Columns produced for every variable or scale ``v`` (as ``f"{v}_{stat}"``).
AGGREGATE_STATS: tuple[str, ...] = (
    "n", "mean", "sd", "rwg", "rwg_lindell", "awg", "ad", "low_agreement", "small",
)

_VARIABLE_COLUMNS = ("icc1", "icc2", "k", "n_obs", "n_dropped")


@result_class
class AggregateResult(Result):
    """Group-level data with agreement diagnostics (from :func:`aggregate`).

    Attributes
    ----------
    table : DataFrame
        One row per group, indexed by the group labels (a MultiIndex for
        nested ``by``). Column ``n_members`` (rows of the group), then for
        each variable or scale ``v`` the columns ``v_n`` (members with a
        score), ``v_mean``, ``v_sd`` (sample sd of member scores), ``v_rwg``
        (rwg for one item, rwg(j) for a scale), ``v_rwg_lindell``
        (r*wg(j)), ``v_awg``, ``v_ad`` (AD_M), ``v_low_agreement``
        (``v_rwg`` below ``min_rwg`` or undefined) and ``v_small`` (``v_n``
        below ``min_size``).
    icc : DataFrame
        Indexed by variable or scale: ``icc1``, ``icc2``, ``k`` (mean group
        size), ``n_obs`` (members with a score) and ``n_dropped`` (labelled
        rows without a score), from the one-way ANOVA of member scores on
        group.
    by : str or list of str
        The grouping column(s).
    null_variance : Series
        sigma^2_E used for each variable or scale.
    min_size : int
        Groups with fewer scored members are flagged ``small``.
    min_rwg : float
        Groups with rwg below this are flagged ``low_agreement``.
    n_obs : int
        Rows with a group label.
    n_dropped : int
        Rows left out of at least one variable (missing label, or no usable
        response under ``nan_policy``).
    n_groups : int
        Groups (rows of ``table``).
    """

    table: pd.DataFrame
    icc: pd.DataFrame
    by: Any
    null_variance: pd.Series
    min_size: int
    min_rwg: float

    def to_frame(self) -> pd.DataFrame:
        """The group table (``table``)."""
        return self.table

    def summary(self) -> Summary:
        """Per variable: ICCs, the median rwg and the share of groups flagged."""
        t = self.table
        overview = self.icc.copy()
        for v in overview.index:
            overview.loc[v, "median_rwg"] = float(t[f"{v}_rwg"].median()) if t[f"{v}_rwg"].notna().any() \
                else float("nan")
            overview.loc[v, "share_low_agreement"] = float(t[f"{v}_low_agreement"].mean())
            overview.loc[v, "share_small"] = float(t[f"{v}_small"].mean())
            overview.loc[v, "n_awg_undefined"] = float(_awg_undefined(t, v).sum())
        notes = [f"awg is undefined (NaN) for {int(k):,} group(s) of two or more members in {v!r}: on every item "
                 "the group mean lies too near an end of the scale for the group size (M < [L(k-1)+H]/k or "
                 "M > [H(k-1)+L]/k; Brown & Hauenstein's rule, as R's multilevel::awg)."
                 for v, k in overview["n_awg_undefined"].items() if k > 0]
        return Summary(
            f"Aggregated to {len(t):,} groups by {self.by!r}",
            header=[("groups", self.n_groups), ("rows with a label", self.n_obs), ("rows dropped", self.n_dropped),
                    ("flag: rwg below", self.min_rwg), ("flag: members below", self.min_size)],
            tables=[("variables", overview)],
            notes=notes,
        )


def _awg_undefined(t: pd.DataFrame, v: str) -> np.ndarray:
    """Groups of two or more scored members whose awg of ``v`` is NaN (Brown & Hauenstein's bounds)."""
    return t[f"{v}_awg"].isna().to_numpy() & (t[f"{v}_n"].to_numpy() >= 2)


def _validate_aggregate(data: Any, columns: Any, by: Any, scale: Any, null: Any, nan_policy: Any, invalid: Any,
                        min_size: Any, min_rwg: Any
                        ) -> tuple[list[Any], dict[str, list[Any]], dict[str, Scale], dict[str, float], int, float,
                                   dict[str, Any]]:
    check_frame(data)
    by_list = check_columns(data, by, "by")
    if isinstance(columns, dict):
        if not columns:
            raise ValueError("`columns` must name at least one column (or map names to non-empty item lists).")
        spec = {str(k): check_columns(data, v, f"columns[{k!r}]") for k, v in columns.items()}
    else:
        spec = {str(c): [c] for c in check_columns(data, columns, "columns")}
    overlap = sorted({c for v in spec.values() for c in v if c in by_list}, key=str)
    if overlap:
        raise ValueError(f"`columns` uses the grouping column(s) {few(overlap)} of `by` as responses.")
    nonnum = sorted({c for v in spec.values() for c in v if not (pd.api.types.is_numeric_dtype(data[c])
                                                                 and not pd.api.types.is_complex_dtype(data[c]))},
                    key=str)
    if nonnum:
        raise TypeError(f"`columns` must be numeric; non-numeric column(s) {few(nonnum)} "
                        f"(dtype {', '.join(sorted({str(data[c].dtype) for c in nonnum}))}).")
    out_cols = ["n_members"] + [f"{v}_{s}" for v in spec for s in AGGREGATE_STATS]
    clash = sorted({c for c in out_cols if out_cols.count(c) > 1})
    if clash:
        raise ValueError(f"`columns`: the names {few(list(spec))} give clashing output columns {few(clash)}; rename "
                         "the variables (use a dict {name: [items]}).")
    if scale is None:
        raise ValueError("`scale` is required (the response scale, e.g. scale=(1, 5), or a dict with one scale per "
                         "entry of `columns`): it sets the null variance and the range of awg.")
    if isinstance(scale, dict):
        keys = {str(k): v for k, v in scale.items()}
        lacking = [k for k in spec if k not in keys]
        if lacking:
            raise ValueError(f"`scale` has no entry for {few(lacking)}; give one scale per entry of `columns` "
                             f"(keys {few(list(spec))}).")
        extra = [k for k in keys if k not in spec]
        if extra:
            raise ValueError(f"`scale` has entries {few(extra)} that are not in `columns` (keys {few(list(spec))}).")
        scales = {k: response_scale(keys[k], f"scale[{k!r}]") for k in spec}
        raw = {k: keys[k] for k in spec}
    else:
        s = response_scale(scale)
        scales = {k: s for k in spec}
        raw = {k: scale for k in spec}
    null = check_choice("null", null, NULL_DISTRIBUTIONS)
    sigma2 = {k: _null_variance_of(scales[k], null) for k in spec}
    check_nan_policy(nan_policy, ("omit", "pairwise", "raise"))
    check_invalid(invalid)
    ms = check_int("min_size", min_size, minimum=1)
    mr = check_probability("min_rwg", min_rwg)
    return by_list, spec, scales, sigma2, ms, mr, raw


def _scores(x: np.ndarray, complete_cases: bool) -> np.ndarray:
    """Respondent scores: mean of the items (complete cases), or of the answered items (pairwise)."""
    obs = ~np.isnan(x)
    n = obs.sum(axis=1)
    total = np.where(obs, x, 0.0).sum(axis=1)
    need = x.shape[1] if complete_cases else 1
    return np.where(n >= need, total / np.maximum(n, 1), np.nan)


def _instrument_variables(data: Any, columns: Any, by: Any, scale: Any, invalid: Any) -> tuple[Any, Any, Any, Any]:
    """``columns`` given as an instrument: its keyed subscale items as the variables, with their scales.

    Returns ``(data, columns, scale, invalid)`` for the ordinary path: a frame of the keyed items
    (reverse keying with the declared bounds, then the rule's rescaling) plus the ``by`` columns,
    ``{subscale: items}``, ``{subscale: keyed codes}``, and ``"raise"`` (codes were checked when
    keying). Anything else passes through unchanged.
    """
    from teamculture.instruments import Instrument, _catalogue_ids, _get

    if isinstance(columns, Instrument):
        inst = columns
    elif (isinstance(columns, str) and isinstance(data, pd.DataFrame) and columns not in data.columns
          and columns in _catalogue_ids()):
        inst = _get(columns, "columns")
    else:
        return data, columns, scale, invalid
    from teamculture.scoring import keyed_items

    if scale is not None:
        raise ValueError(f"`scale` must be None when `columns` is an instrument: {inst.id!r} declares the response "
                         "scale of every item.")
    if inst.classification is not None:
        raise ValueError(f"`columns`: instrument {inst.id!r} classifies respondents ({inst.classification.name}); "
                         "it has no scale scores to aggregate. Aggregate the category shares with score_groups.")
    data = check_frame(data, "data")
    by_list = check_columns(data, by, "by")
    keyed = keyed_items(data, inst, invalid=invalid)
    out = pd.DataFrame(index=data.index)
    variables: dict[str, list[str]] = {}
    scales: dict[str, list[float]] = {}
    rng = inst.scoring.range
    for name, ids in inst.subscales.items():
        codes = {inst.scale_for(i).codes for i in ids}
        if len(codes) > 1:
            raise ValueError(f"`columns`: the items of subscale {name!r} of {inst.id!r} use different response "
                             "scales; agreement indices need one scale per variable.")
        sc = inst.scale_for(ids[0])
        key = [f"{name}:{i}" for i in ids]
        block = keyed[list(ids)].to_numpy(dtype=float)
        kc = np.asarray(sc.codes, dtype=float)
        if rng is not None:  # the rule's range (e.g. NHS 0-10), as score() reports it
            a = (rng[1] - rng[0]) / (sc.high - sc.low)
            block = rng[0] + (block - sc.low) * a
            kc = rng[0] + (kc - sc.low) * a
        for k, col in enumerate(key):
            out[col] = block[:, k]
        variables[name] = key
        scales[name] = [float(c) for c in kc]
    for b in by_list:
        out[b] = data[b]
    return out, variables, scales, "raise"


def aggregate(data: pd.DataFrame, columns: Any, *, by: str | list[str], scale: Any = None, null: str = "uniform",
              nan_policy: str = "omit", invalid: str = "raise", min_size: int = 3,
              min_rwg: float = 0.70) -> AggregateResult:
    """Aggregate staff responses to groups with agreement diagnostics and flags.

    Parameters
    ----------
    data : DataFrame
        One row per respondent. Not modified.
    columns : str, list of str, dict, or Instrument
        Variables to aggregate: a column name, a list of names (each one a
        single item), or ``{"scale": [items...]}`` for multi-item scales.
        A respondent's scale score is the mean of the items. Or an
        instrument (an :class:`~teamculture.Instrument` or a catalogue id
        that is not a column of ``data``): one variable per subscale, its
        items keyed as :func:`teamculture.score` keys them (reverse-keyed
        with the declared bounds, rescaled to the rule's range such as the
        NHS 0-10), ``scale`` taken from the instrument. Item columns are
        named by the item ids (letter case ignored; rename your columns
        first, e.g. ``data.rename(columns={"q9f": "cl1"})``).
    by : str or list of str
        Grouping column(s); a list means nested groups, outer first (e.g.
        ``["trust", "team_in_trust"]``: local team numbers reused across
        trusts are different teams), and the index is a MultiIndex.
    scale : tuple, sequence, ResponseScale, or dict
        The response scale (``(1, 5)``, a list of codes or a ResponseScale),
        one for all or a dict with one per entry of ``columns``. Sets the
        null variance (rwg), the range (awg) and the valid codes. Required,
        except when ``columns`` is an instrument (then it must be omitted).
    null : str, default "uniform"
        Null distribution for rwg, see :func:`teamculture.null_variance`.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        Missing responses, per variable. ``"omit"``: respondents with a
        missing item of the variable are left out of all its columns
        (complete cases; the agreement indices are then R multilevel 2.7's).
        ``"pairwise"``: a respondent's score is the mean of the items they
        answered and each item's variance uses the members who answered it
        (R multilevel >= 2.8). ``"raise"``: refuse missing values. Rows
        with a missing ``by`` label are dropped (``"raise"``: refused).
        Counts in a :class:`~teamculture.errors.DroppedDataWarning` and in
        ``icc["n_dropped"]``.
    invalid : {"raise", "missing"}, default "raise"
        Codes outside ``scale``: an error naming the column, or set missing
        and counted.
    min_size : int, default 3
        Flag groups with fewer scored members.
    min_rwg : float, default 0.70
        Flag groups whose rwg/rwg(j) is below this (the conventional, and
        criticised, cut-off; LeBreton & Senter 2008 suggest reading the
        value against .30/.50/.70/.90 bands instead).

    Returns
    -------
    AggregateResult
        ``table`` (one row per group, also ``to_frame()``) and ``icc`` (one
        row per variable).

    Notes
    -----
    Per group and variable: n, mean and sd of member scores; rwg(j) and
    r*wg(j) of the items against sigma^2_E (:func:`teamculture.rwg_j`,
    :func:`teamculture.rwg_j_lindell`), awg(j) with the scale's range
    (:func:`teamculture.awg`) and AD_M(j) (:func:`teamculture.ad_index`);
    groups of one get NaN and are counted in a
    :class:`~teamculture.errors.SmallGroupWarning`. ICC(1)/ICC(2) are
    Bliese's ANOVA estimates (:func:`teamculture.icc1`) of the member
    scores (NaN, with a warning, when they are undefined).

    R: ``multilevel::rwg.j``, ``rwg.j.lindell``, ``awg``, ``ad.m``, ``ICC1``, ``ICC2``; ``aggregate(x, list(g), mean)``.

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.
    .. [2] LeBreton, J. M., & Senter, J. L. (2008). Organizational Research
       Methods, 11, 815-852.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", rng=1)
    >>> items = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3"]
    >>> agg = tc.aggregate(sv.staff.dropna(subset=items), {"engagement": items}, by="team", scale=(1, 5))
    >>> agg.table.shape
    (24, 10)
    >>> list(agg.icc.columns)
    ['icc1', 'icc2', 'k', 'n_obs', 'n_dropped']
    >>> answered = sv.staff.dropna(subset=list(tc.instruments.get("nhs-engagement").item_ids))
    >>> team = tc.aggregate(answered, "nhs-engagement", by="team")  # keyed 0-10 subscale scores
    >>> [c for c in team.table.columns if c.startswith("motivation")][:4]
    ['motivation_n', 'motivation_mean', 'motivation_sd', 'motivation_rwg']
    """
    data, columns, scale, invalid = _instrument_variables(data, columns, by, scale, invalid)
    by_list, spec, scales, sigma2, min_size, min_rwg, raw_scales = _validate_aggregate(
        data, columns, by, scale, null, nan_policy, invalid, min_size, min_rwg)
    labels_arg = data[by_list[0]] if len(by_list) == 1 else data[by_list]
    # the label columns as a frame (also for one): levels named after their columns, also a column named 0
    grouping, missing_label = Groups.from_labels(data[by_list], len(data), name="by")
    warn_unused_categories(labels_arg, name="by")
    keep, n_unlabelled = drop_rows(missing_label, "raise" if nan_policy == "raise" else "omit", name="by",
                                   what="the group table", index=data.index)
    if keep is not None:
        grouping = grouping.subset(keep)
        codes = grouping.finest[keep]
        rows = np.flatnonzero(keep)
    else:
        codes = grouping.finest
        rows = None
    if codes.size == 0:
        raise ValueError("`by` has no row with a label; nothing to aggregate.")
    labels = grouping.finest_labels
    G = len(labels)
    out: dict[str, Any] = {"n_members": np.bincount(codes, minlength=G).astype(np.int64)}
    var_rows: dict[str, dict[str, Any]] = {}
    unused = np.zeros(codes.size, dtype=bool)
    dropped: dict[str, int] = {}
    small_groups = np.zeros(G, dtype=bool)
    no_icc: dict[str, str] = {}
    for name, cols in spec.items():
        frame = data[cols] if rows is None else data[cols].iloc[rows]
        x, _ = as_float_matrix(frame, name="columns")
        s = scales[name]
        dk = scale_missing_codes(raw_scales[name])
        if dk:
            x = np.where(np.isin(x, np.asarray(dk)), np.nan, x)
        x, n_invalid = check_in_scale(x, s, name="columns", invalid=invalid, columns=cols)
        if n_invalid:
            warn(f"{n_invalid} value(s) of {name!r} outside the response scale {s.describe()} were set missing "
                 "(invalid='missing').", DroppedDataWarning)
        if nan_policy == "raise":
            drop_rows(np.isnan(x).any(axis=1), "raise", name="columns", what=f"{name!r}",
                      index=data.index if rows is None else data.index[rows])
        cc = nan_policy != "pairwise"
        starts = usable(x, codes, G)
        if starts is not None:  # rows sorted by group: one blocked pass, the same numbers
            g, score, n_s, s_mean, s_var = fused_stats(x, codes, starts, cc)
        else:
            g = GroupedItems(x, codes, G, complete_cases=cc)
            score = _scores(x, complete_cases=cc)
        has = ~np.isnan(score)
        unused |= ~has
        if nan_policy == "pairwise":
            n_cells = int(np.isnan(x).sum())
            if n_cells:
                dropped[name] = n_cells
        elif (~has).any():
            dropped[name] = int((~has).sum())
        if starts is None:
            sg = GroupedItems(score[:, None], codes, G, complete_cases=True)
            n_s, s_mean, s_var = sg.count[:, 0], sg.mean[:, 0], sg.var[:, 0]
        s2, n_items = item_variances(g)
        rwg_v = rwg_j_core(s2, n_items, sigma2[name])
        a = awg_items(g, s.low, s.high)
        ok_a = ~np.isnan(a)
        awg_v, _ = mean_over_items(np.where(ok_a, a, 0.0), ok_a)
        ad_i = ad_items(g, "mean")
        ok_d = ~np.isnan(ad_i)
        ad_v, _ = mean_over_items(np.where(ok_d, ad_i, 0.0), ok_d)
        out[f"{name}_n"] = n_s.astype(np.int64)
        out[f"{name}_mean"] = s_mean
        out[f"{name}_sd"] = np.sqrt(s_var)
        out[f"{name}_rwg"] = rwg_v
        out[f"{name}_rwg_lindell"] = 1.0 - s2 / sigma2[name]
        out[f"{name}_awg"] = awg_v
        out[f"{name}_ad"] = ad_v
        out[f"{name}_low_agreement"] = ~(rwg_v >= min_rwg)
        out[f"{name}_small"] = n_s < min_size
        small_groups |= n_items == 0
        i1 = i2 = k = float("nan")
        v, c = score[has], codes[has]
        present = int(np.count_nonzero(np.bincount(c, minlength=G)))  # groups with a score (O(n), no sort)
        if present < 2:
            no_icc[name] = f"{present} group(s) with a score"
        elif v.size - present < 1:
            no_icc[name] = "every group has one scored member"
        elif np.ptp(v) == 0:
            no_icc[name] = "the scores are constant"
        else:
            ow = oneway_anova(v, c, G, name="by")
            i1, i2, k = _icc1_of(ow.msb, ow.msw, ow.k_mean), _icc2_of(ow.msb, ow.msw), ow.k_mean
        var_rows[name] = {"icc1": i1, "icc2": i2, "k": k, "n_obs": int(has.sum()), "n_dropped": int((~has).sum())}
    _warn_aggregate(dropped, nan_policy, small_groups, labels, no_icc, var_rows)
    table = pd.DataFrame(out, index=labels)
    variables = pd.DataFrame.from_dict(var_rows, orient="index")[list(_VARIABLE_COLUMNS)]
    variables = variables.astype({"icc1": float, "icc2": float, "k": float, "n_obs": np.int64,
                                  "n_dropped": np.int64})
    return AggregateResult(
        table=table,
        icc=variables,
        by=by if isinstance(by, str) else list(by_list),
        null_variance=pd.Series(sigma2, dtype=float),
        min_size=min_size,
        min_rwg=min_rwg,
        n_obs=int(codes.size),
        n_dropped=int(n_unlabelled + unused.sum()),
        n_groups=int(G),
    )


def _warn_aggregate(dropped: dict[str, int], nan_policy: str, small_groups: np.ndarray, labels: pd.Index,
                    no_icc: dict[str, str], var_rows: dict[str, dict[str, Any]]) -> None:
    if dropped:
        detail = ", ".join(f"{k}: {v:,}" for k, v in dropped.items())
        if nan_policy == "pairwise":
            warn(f"Missing item responses were not used (nan_policy='pairwise': scores are means of the answered "
                 f"items, item variances use the members who answered): {detail} value(s).", DroppedDataWarning)
        else:
            warn(f"Respondents with a missing item were left out of that variable (nan_policy='omit': complete "
                 f"cases per variable): {detail} row(s).", DroppedDataWarning)
    if small_groups.any():
        warn(f"{int(small_groups.sum())} group(s) have fewer than two members with responses on some variable, so "
             f"its agreement indices are NaN: {few(list(labels[small_groups]))}.", SmallGroupWarning)
    if no_icc:
        detail = "; ".join(f"{k}: {v}" for k, v in no_icc.items())
        warn(f"ICC(1)/ICC(2) are undefined (NaN) for {detail}.", DegenerateDataWarning)
    neg = [k for k, r in var_rows.items() if r["icc1"] < 0]
    if neg:
        warn(f"ICC(1) is negative for {few(neg)}: the group means differ less than chance (MSB < MSW), so the "
             "implied between-group variance is below zero, outside its parameter space; read it as no detectable "
             "group effect.", BoundaryWarning)
