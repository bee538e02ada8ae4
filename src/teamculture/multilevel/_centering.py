"""Centering of predictors for multilevel models (CGM, CWC and cluster means).

:func:`center` is public as ``teamculture.center``. It is a pure-pandas
helper: it returns new objects and never modifies the caller's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.groups import Groups
from teamculture._core.missing import apply_nan_policy
from teamculture._core.errors import DegenerateDataWarning
from teamculture._core.validation import check_choice, check_columns, check_frame, check_nan_policy, few
from teamculture._core.warn import warn

__all__ = ["center"]

_KINDS = ("grand", "cluster", "between")
_SUFFIX = {"grand": "cgm", "cluster": "cwc", "between": "between"}


@dataclass(frozen=True)
class _CenterArgs:
    columns: list[Any]
    keys: list[Any]
    kind: str
    nan_policy: str


def _validate_center(data: Any, columns: Any, by: Any, kind: Any, nan_policy: Any) -> _CenterArgs:
    data = check_frame(data, "data")
    kind = check_choice("kind", kind, _KINDS)
    nan_policy = check_nan_policy(nan_policy)
    cols = check_columns(data, columns, "columns")
    for c in cols:
        s = data[c]
        if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)) \
                or isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_complex_dtype(s.dtype):
            raise TypeError(f"`columns`: column {c!r} must be numeric or boolean; it has dtype {s.dtype}.")
        x = s.to_numpy(dtype=float, na_value=np.nan)
        inf = np.isinf(x)
        if inf.any():
            raise ValueError(f"`columns`: column {c!r} has {int(inf.sum())} infinite value(s) at rows "
                             f"{few(data.index[inf].tolist())}; use NaN for a missing value.")
        if nan_policy == "raise" and np.isnan(x).any():
            na = np.isnan(x)
            raise ValueError(
                f"`columns`: column {c!r} has {int(na.sum())} missing value(s) at rows "
                f"{few(data.index[na].tolist())} and nan_policy='raise'."
            )
    if kind == "grand":
        if by is not None:
            raise ValueError("`by` must be None for kind='grand' (the grand mean has no clusters); "
                             f"got {by!r}. Use kind='cluster' or kind='between' for cluster means.")
        keys: list[Any] = []
    else:
        if by is None:
            raise ValueError(f"`by` is required for kind={kind!r}: a column name (e.g. 'team') "
                             "or a list of columns, outer first, whose combination is the cluster "
                             "(e.g. ['trust', 'team'] when team ids are reused across trusts).")
        keys = check_columns(data, by, "by")
        overlap = [k for k in keys if k in cols]
        if overlap:
            raise ValueError(f"`by` and `columns` share column(s) {few(overlap)}; a cluster label is not "
                             "centred.")
    return _CenterArgs(cols, keys, kind, nan_policy)


def center(
    data: pd.DataFrame,
    columns: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    kind: str = "grand",
    nan_policy: str = "omit",
) -> pd.Series | pd.DataFrame:
    """Center a predictor at the grand mean or within clusters.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per person. Not modified.
    columns : str or list of str
        The numeric (or boolean, taken as 0/1) column(s) to center.
    by : str or list of str, optional
        The cluster: a column name, or several columns, outer first, whose
        *combination* defines the cluster (``["trust", "team"]`` when team
        ids are reused across trusts). Required for ``kind="cluster"`` and
        ``"between"``; must be None for ``kind="grand"``.
    kind : {"grand", "cluster", "between"}, default "grand"
        ``"grand"``: centering at the grand mean (CGM), ``x - mean(x)``.
        ``"cluster"``: centering within cluster (CWC), ``x - mean_j(x)``.
        ``"between"``: the cluster mean of each row's cluster, centered at the
        grand mean, ``mean_j(x) - mean(x)`` — the level-2 companion of a CWC
        predictor (Enders & Tofighi 2007).
    nan_policy : {"omit", "raise"}, default "omit"
        ``"omit"``: means are taken over the non-missing values, and rows whose
        value is missing stay missing in the output (no row is dropped; a
        cluster with no observed value gives missing ``"between"`` values);
        rows with a missing cluster label in ``by`` get missing cluster-based
        values, counted in a :class:`~teamculture.errors.DroppedDataWarning`.
        ``"raise"``: raise ``ValueError`` if ``columns`` or ``by`` have
        missing values.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        A float Series (``columns`` a single name) or DataFrame (a list),
        with ``data``'s index. Names are ``<column>_cgm``, ``<column>_cwc``
        or ``<column>_between``.

    Notes
    -----
    With grand mean :math:`\\bar x = \\frac1N\\sum_i x_i` (over persons) and
    cluster mean :math:`\\bar x_j` of person *i*'s cluster *j*:

    .. math::

        x^{CGM}_i = x_i - \\bar x, \\qquad
        x^{CWC}_i = x_i - \\bar x_j, \\qquad
        x^{B}_i = \\bar x_j - \\bar x,

    so :math:`x^{CWC}_i + x^{B}_i = x^{CGM}_i` exactly. Entering
    :math:`x^{CWC}` and :math:`x^{B}` together separates the within-cluster
    effect from the between-cluster (contextual) effect; a CGM predictor
    alone estimates a blend of the two (Enders & Tofighi 2007). For three
    levels, ``x - team mean`` (CWC by team), ``team mean - trust mean``
    (``"between"`` by team minus ``"between"`` by trust) and
    ``trust mean - grand mean`` (``"between"`` by trust) add up to
    :math:`x^{CGM}`.

    Also ``misty::center(type = "CWC")``; in base R ``x - ave(x, cluster)``.

    R: ``datawizard::center(x, select, by = )``

    References
    ----------
    .. [1] Enders, C. K., & Tofighi, D. (2007). Centering predictor variables in
       cross-sectional multilevel models: a new look at an old issue.
       *Psychological Methods*, 12(2), 121-138.

    Examples
    --------
    >>> import pandas as pd
    >>> import teamculture as tc
    >>> df = pd.DataFrame({"team": ["a", "a", "b", "b"], "x": [1.0, 3.0, 5.0, 9.0]})
    >>> tc.center(df, "x").tolist()
    [-3.5, -1.5, 0.5, 4.5]
    >>> tc.center(df, "x", by="team", kind="cluster").tolist()
    [-1.0, 1.0, -2.0, 2.0]
    >>> tc.center(df, ["x"], by="team", kind="between").columns.tolist()
    ['x_between']
    >>> tc.center(df, "x", by="team", kind="between").tolist()
    [-2.5, -2.5, 2.5, 2.5]
    """
    args = _validate_center(data, columns, by, kind, nan_policy)
    out = {}
    codes = None
    n_groups = 0
    if args.keys:
        labels = data[args.keys] if len(args.keys) > 1 else data[args.keys[0]]
        groups, missing = Groups.from_labels(labels, len(data), name="by")
        keep, _ = apply_nan_policy(missing, args.nan_policy, name="by",
                                   what="cluster means (their centred values are NaN)",
                                   labels=np.asarray(data.index))
        codes = groups.finest
        n_groups = groups.n_groups[-1]
    for c in args.columns:
        x = data[c].to_numpy(dtype=float, na_value=np.nan)
        ok = ~np.isnan(x)
        if not ok.any():
            warn(f"center: column {c!r} of `columns` has no observed value; its centred values are all NaN.",
                 DegenerateDataWarning)
        grand = x[ok].mean() if ok.any() else np.nan
        if args.kind == "grand":
            res = x - grand
        else:
            inc = ok & (codes >= 0)
            sums = np.bincount(codes[inc], weights=x[inc], minlength=n_groups)
            counts = np.bincount(codes[inc], minlength=n_groups)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            row_mean = np.where(codes >= 0, means[np.maximum(codes, 0)], np.nan)
            res = x - row_mean if args.kind == "cluster" else row_mean - grand
        out[f"{c}_{_SUFFIX[args.kind]}"] = res
    frame = pd.DataFrame(out, index=data.index.copy())
    if isinstance(columns, str) or not isinstance(columns, (list, tuple, pd.Index)):
        return frame.iloc[:, 0]
    return frame
