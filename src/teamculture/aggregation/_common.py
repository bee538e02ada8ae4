"""The shared front end of the aggregation functions (private).

Every public function of :mod:`teamculture.aggregation` that takes responses
and group labels goes through :func:`prepare`:

1. the responses become a float matrix (:func:`~teamculture._core.validation.as_float_matrix`);
2. the labels become :class:`~teamculture._core.groups.Groups`, aligned on the
   responses' index (never paired by position when both carry row labels);
   unused categories of categorical labels are reported;
3. codes outside the declared ``scale`` are refused or set missing and counted
   (``invalid``); a ResponseScale's "don't know" codes are missing values;
4. rows with a missing label, and (for ``nan_policy="raise"``) rows with a
   missing response, are resolved under ``nan_policy`` with a count.

Whatever is dropped is counted in a :class:`~teamculture.errors.DroppedDataWarning`
and returned, so that results and per-group tables can carry it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import DroppedDataWarning, SmallGroupWarning
from teamculture._core.groups import Groups, has_index
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    Scale,
    as_float_matrix,
    check_in_scale,
    check_invalid,
    check_nan_policy,
    check_scale,
    few,
)
from teamculture._core.warn import warn

__all__ = [
    "Prepared", "prepare", "drop_rows", "reference_index", "warn_small_groups", "scale_missing_codes",
    "extreme_scale", "response_scale",
]


@dataclass(frozen=True, eq=False)
class Prepared:
    """Responses and group codes after validation, alignment and the label policy.

    Attributes
    ----------
    x : ndarray, shape (n, J)
        Float responses of the rows with a group label (codes outside the
        scale already set missing with ``invalid="missing"``).
    columns : list
        Column labels of the responses.
    codes : ndarray of intp, shape (n,)
        Innermost group code of each row of ``x``.
    level_codes : tuple of ndarray
        Group codes of each level (outer first) for the rows of ``x``.
    groups : Groups
        The grouping (over the rows passed in; rows without a label have code -1).
    labels : Index
        Labels of the innermost groups, in code order (a MultiIndex for nested groups).
    n_rows : int
        Rows passed in.
    n_unlabelled : int
        Rows dropped for a missing group label.
    n_invalid : int
        Values outside the scale set missing (``invalid="missing"``).
    index : Index or None
        Row labels of the kept rows, if the responses carried any.
    """

    x: np.ndarray
    columns: list[Any]
    codes: np.ndarray
    level_codes: tuple[np.ndarray, ...]
    groups: Groups
    labels: pd.Index
    n_rows: int
    n_unlabelled: int
    n_invalid: int
    index: pd.Index | None

    @property
    def n_groups(self) -> int:
        """Number of innermost groups."""
        return len(self.labels)

    def sizes(self) -> np.ndarray:
        """Rows (with a label) per innermost group."""
        return np.bincount(self.codes, minlength=self.n_groups)


def reference_index(*objs: Any) -> pd.Index | None:
    """The row labels of the first pandas object among ``objs`` (the reference for alignment)."""
    for obj in objs:
        if has_index(obj):
            return obj.index
    return None


#: Largest code magnitude accepted in a response scale (squares and sums stay far from overflow).
_MAX_CODE = 1e15


def response_scale(scale: Any, name: str = "scale") -> Scale:
    """:func:`~teamculture._core.validation.check_scale`, refusing codes too large to be response codes."""
    s = check_scale(scale, name)
    if max(abs(s.low), abs(s.high)) > _MAX_CODE:
        raise ValueError(f"`{name}` has codes as large as {max(abs(s.low), abs(s.high)):.3g}; response codes are "
                         f"expected within +-{_MAX_CODE:.0e}. Is it a response scale?")
    return s


def check_groups_arg(groups: Any, name: str = "groups") -> None:
    """Refuse a column name or a scalar where one label per row is expected."""
    if isinstance(groups, str):
        raise TypeError(
            f"`{name}` must hold one group label per row (a Series, array or DataFrame of label columns); got the "
            f"string {groups!r}. Pass the column itself, e.g. data[{groups!r}], or use "
            f"teamculture.aggregate(data, ..., by={groups!r}) for a table."
        )
    if groups is None or isinstance(groups, (numbers.Number, np.generic)):
        raise TypeError(
            f"`{name}` must hold one group label per row (a Series, array or DataFrame of label columns); "
            f"got {groups!r}."
        )


def _categorical_columns(groups: Any) -> list[tuple[str, Any]]:
    if isinstance(groups, pd.DataFrame):
        return [(str(c), groups.iloc[:, j]) for j, c in enumerate(groups.columns)]
    if isinstance(groups, (list, tuple)) and len(groups) >= 2 and all(
            isinstance(g, (pd.Series, pd.Index, pd.Categorical)) for g in groups):
        return [(str(getattr(g, "name", None) or f"level{i + 1}"), g) for i, g in enumerate(groups)]
    return [(str(getattr(groups, "name", None) or "groups"), groups)]


def warn_unused_categories(groups: Any, name: str = "groups", grouping: Groups | None = None) -> None:
    """Report categories of categorical labels that no row uses (they get no row in any result).

    With ``grouping`` (the :class:`Groups` built from ``groups``), a column whose
    every category was found is skipped without another pass over the rows.
    """
    parts = []
    for lev, (col_name, col) in enumerate(_categorical_columns(groups)):
        dtype = getattr(col, "dtype", None)
        if not isinstance(dtype, pd.CategoricalDtype):
            continue
        if grouping is not None and lev < len(grouping.column_labels) \
                and len(grouping.column_labels[lev]) == len(dtype.categories):
            continue
        cat = col.array if isinstance(col, pd.Series) else (col.values if isinstance(col, pd.Index) else col)
        codes = np.asarray(cat.codes)
        # missing labels (code -1) land in bin 0, which is dropped: no masked copy of the codes
        used = np.bincount(np.add(codes, 1, dtype=np.intp), minlength=len(cat.categories) + 1)[1:] > 0
        if not used.all():
            unused = list(cat.categories[~used])
            parts.append(f"{len(unused)} in {col_name!r} {few(unused)}")
    if parts:
        warn(
            f"`{name}` is categorical with categories that no row uses ({'; '.join(parts)}): groups without "
            "members have no row in the result. Drop them with .cat.remove_unused_categories() if that is "
            "intended.",
            SmallGroupWarning,
        )


def scale_missing_codes(scale: Any) -> tuple[float, ...]:
    """The "don't know"/"not applicable" codes of a ResponseScale (missing values), else ``()``."""
    codes = getattr(scale, "missing_codes", ())
    try:
        return tuple(float(c) for c in codes)
    except (TypeError, ValueError):
        return ()


def prepare(responses: Any, groups: Any, *, name: str, what: str, nan_policy: str,
            allowed: tuple[str, ...] = ("omit", "raise"), scale: Scale | None = None, raw_scale: Any = None,
            invalid: str = "raise", single: bool = False, max_levels: int | None = None,
            single_hint: str = "") -> Prepared:
    """Validate responses and labels and apply the label and invalid-code policies.

    Missing *responses* are only checked here for ``nan_policy="raise"``;
    ``"omit"`` and ``"pairwise"`` are resolved by each statistic (complete
    cases or per item), which also counts them.
    """
    check_nan_policy(nan_policy, allowed)
    check_invalid(invalid)
    check_groups_arg(groups)
    x, columns = as_float_matrix(responses, name=name)
    if single and x.shape[1] != 1:
        raise ValueError(
            f"`{name}` must be a single variable (a Series or 1-D array); got {x.shape[1]} columns "
            f"{few(columns)}.{single_hint}"
        )
    index = responses.index if has_index(responses) else None
    grouping, missing_label = Groups.from_labels(groups, x.shape[0], index=index, ref_name=name,
                                                 max_levels=max_levels)
    warn_unused_categories(groups, grouping=grouping)
    n_invalid = 0
    if scale is not None:
        dk = scale_missing_codes(raw_scale)
        if dk:
            is_dk = np.isin(x, np.asarray(dk))
            if is_dk.any():
                x = np.where(is_dk, np.nan, x)
        x, n_invalid = check_in_scale(x, scale, name=name, invalid=invalid, columns=columns)
        if n_invalid and nan_policy == "raise":
            raise ValueError(
                f"`{name}` has {n_invalid} value(s) outside the response scale {scale.describe()}; invalid='missing' "
                "would set them missing but nan_policy='raise' refuses missing values. Recode them, or pass "
                "nan_policy='omit'."
            )
        if n_invalid:
            warn(f"{n_invalid} value(s) of `{name}` outside the response scale {scale.describe()} were set missing "
                 f"(invalid='missing') before computing {what}.", DroppedDataWarning)
    if nan_policy == "raise":
        drop_rows(np.isnan(x).any(axis=1), "raise", name=name, what=what, index=index)
    keep, n_unlabelled = drop_rows(missing_label, "raise" if nan_policy == "raise" else "omit", name="groups",
                                   what=what, index=index)
    if keep is not None and not keep.any():
        raise ValueError(f"`groups` has no row with a label; {what} needs labelled rows.")
    if keep is not None:
        grouping = grouping.subset(keep)
        x = x[keep]
        index = None if index is None else index[keep]
        level_codes = tuple(c[keep] for c in grouping.codes)
    else:
        level_codes = grouping.codes
    labels = grouping.finest_labels
    if grouping.n_levels == 1 and not isinstance(groups, pd.DataFrame) and getattr(groups, "name", None) is None:
        labels = labels.rename(None)  # unnamed labels give an unnamed index, as pandas' groupby
    return Prepared(x=x, columns=columns, codes=level_codes[-1], level_codes=level_codes, groups=grouping,
                    labels=labels,
                    n_rows=int(missing_label.size), n_unlabelled=n_unlabelled, n_invalid=n_invalid, index=index)


def drop_rows(mask: np.ndarray, nan_policy: str, *, name: str, what: str,
              index: pd.Index | None = None) -> tuple[np.ndarray | None, int]:
    """:func:`~teamculture._core.missing.apply_nan_policy`, with row labels built only when rows are dropped."""
    # an Index supports what apply_nan_policy does with labels (take rows, tolist) without an object copy
    return apply_nan_policy(mask, nan_policy, name=name, what=what, labels=index)


def warn_small_groups(labels: pd.Index, undefined: np.ndarray, what: str) -> None:
    """SmallGroupWarning naming the groups whose statistic is NaN for lack of members."""
    undefined = np.asarray(undefined, dtype=bool)
    if undefined.any():
        warn(
            f"{int(undefined.sum())} of {undefined.size} group(s) have fewer than two members with responses, "
            f"so {what} is NaN for them: {few(list(labels[undefined]))}.",
            SmallGroupWarning,
        )


def extreme_scale(v: np.ndarray) -> float:
    """A power of two to divide ``v`` by when its magnitude is extreme (beyond 2**+-200), else 1.0.

    Squares and sums of values near 1e300 overflow, near 1e-300 underflow; the
    ICCs, correlations and z statistics are scale-free, so they are computed on
    ``v / s`` and variances multiplied back by ``s**2`` (``inf`` when they are
    not representable). Dividing by a power of two is exact, so ordinary data
    (which are not rescaled) and rescaled data give the same digits.
    """
    if not v.size:
        return 1.0
    m = max(abs(float(np.fmax.reduce(v, axis=None))), abs(float(np.fmin.reduce(v, axis=None))))
    if not (m > 0 and np.isfinite(m)):
        return 1.0
    e = int(np.frexp(m)[1])
    return float(np.ldexp(1.0, e)) if abs(e) > 200 else 1.0
