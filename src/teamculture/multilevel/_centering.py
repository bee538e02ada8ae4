"""Centering of predictors for multilevel models (CGM, CWC and cluster means).

:func:`center` is public as ``teamculture.center``. It is a pure-pandas
helper: it returns new objects and never modifies the caller's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_choice, few

__all__ = ["center"]

_KINDS = ("grand", "cluster", "between")
_SUFFIX = {"grand": "cgm", "cluster": "cwc", "between": "between"}
_NAN_POLICIES = ("omit", "raise")


def _validate_center(data: Any, column: Any, by: Any, kind: Any, nan_policy: Any
                     ) -> tuple[list[str], list[str]]:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame; got {type(data).__name__}.")
    check_choice("kind", kind, _KINDS)
    check_choice("nan_policy", nan_policy, _NAN_POLICIES)
    columns = [column] if isinstance(column, str) else column
    if not isinstance(columns, Sequence) or isinstance(columns, str) or len(columns) == 0:
        raise TypeError(f"`column` must be a column name or a non-empty list of names; got {column!r}.")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"`column` names {len(missing)} column(s) not in `data`: {few(missing)}; "
            f"available: {few(list(data.columns), 8)}."
        )
    for c in columns:
        s = data[c]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            raise TypeError(
                f"`column` {c!r} must be numeric or boolean; it has dtype {s.dtype}."
            )
    if kind == "grand":
        if by is not None:
            raise ValueError("`by` must be None for kind='grand' (the grand mean has no clusters); "
                             f"got {by!r}. Use kind='cluster' or kind='between' for cluster means.")
        keys: list[str] = []
    else:
        if by is None:
            raise ValueError(f"`by` is required for kind={kind!r}: a column name (e.g. 'team') "
                             "or a list of columns whose combination is the cluster "
                             "(e.g. ['trust', 'team'] when team ids are reused across trusts).")
        keys = [by] if isinstance(by, str) else list(by)
        bad = [k for k in keys if k not in data.columns]
        if bad:
            raise ValueError(f"`by` names {len(bad)} column(s) not in `data`: {few(bad)}; "
                             f"available: {few(list(data.columns), 8)}.")
        for k in keys:
            na = data[k].isna().to_numpy()
            if na.any():
                raise ValueError(
                    f"`by` column {k!r} has {int(na.sum())} missing label(s) at rows "
                    f"{few(data.index[na].tolist())}; every row needs a cluster label."
                )
    if nan_policy == "raise":
        for c in columns:
            na = data[c].isna().to_numpy()
            if na.any():
                raise ValueError(
                    f"`column` {c!r} has {int(na.sum())} missing value(s) at rows "
                    f"{few(data.index[na].tolist())} and nan_policy='raise'."
                )
    return list(columns), keys


def center(
    data: pd.DataFrame,
    column: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    kind: str = "grand",
    nan_policy: str = "omit",
) -> pd.Series | pd.DataFrame:
    """Center a predictor at the grand mean or within clusters.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per person. Not modified.
    column : str or list of str
        The numeric (or boolean, taken as 0/1) column(s) to center.
    by : str or list of str, optional
        The cluster: a column name, or several columns whose *combination*
        defines the cluster (``["trust", "team"]`` when team ids are reused
        across trusts). Required for ``kind="cluster"`` and ``"between"``;
        must be None for ``kind="grand"``.
    kind : {"grand", "cluster", "between"}, default "grand"
        ``"grand"``: centering at the grand mean (CGM), ``x - mean(x)``.
        ``"cluster"``: centering within cluster (CWC), ``x - mean_j(x)``.
        ``"between"``: the cluster mean of each row's cluster, centered at the
        grand mean, ``mean_j(x) - mean(x)`` — the level-2 companion of a CWC
        predictor (Enders & Tofighi 2007).
    nan_policy : {"omit", "raise"}, default "omit"
        ``"omit"``: means are taken over the non-missing values, and rows whose
        value is missing stay missing in the output (no row is dropped; a
        cluster with no observed value gives missing ``"between"`` values).
        ``"raise"``: raise ``ValueError`` if ``column`` has missing values.
        Missing cluster labels in ``by`` always raise.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        A float Series (one column) or DataFrame (several), with ``data``'s
        index. Names are ``<column>_cgm``, ``<column>_cwc`` or
        ``<column>_between``.

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

    R equivalent: ``datawizard::center(x, select, by = )`` /
    ``x - ave(x, cluster)`` (base R); ``misty::center(type = "CWC")``.

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
    >>> tc.center(df, "x", by="team", kind="between").tolist()
    [-2.5, -2.5, 2.5, 2.5]
    """
    columns, keys = _validate_center(data, column, by, kind, nan_policy)
    out = {}
    if keys:
        codes = data.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
        n_groups = int(codes.max()) + 1 if len(codes) else 0
    for c in columns:
        x = data[c].to_numpy(dtype=float, na_value=np.nan)
        ok = ~np.isnan(x)
        grand = x[ok].mean() if ok.any() else np.nan
        if kind == "grand":
            res = x - grand
        else:
            sums = np.bincount(codes[ok], weights=x[ok], minlength=n_groups)
            counts = np.bincount(codes[ok], minlength=n_groups)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            res = x - means[codes] if kind == "cluster" else means[codes] - grand
        out[f"{c}_{_SUFFIX[kind]}"] = res
    frame = pd.DataFrame(out, index=data.index.copy())
    if isinstance(column, str):
        return frame.iloc[:, 0]
    return frame
