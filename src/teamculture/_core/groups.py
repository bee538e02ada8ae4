"""Group membership and grouped sums (private core; imports nothing else from teamculture).

:class:`Groups` turns group labels into integer codes once, for one level
(staff in teams) or several nested levels (staff in teams in trusts, outer
first), after aligning pandas labels on the index of the data they describe.
:func:`align` is the one rule for separately passed labelled arguments: pandas
objects are matched by their index labels, never paired by position; plain
arrays are paired by position after a length check.

:class:`GroupedItems` holds a float response matrix (respondents x items),
integer group codes ``0..G-1`` and the missing-value mask, and computes the
per-group, per-item counts, means and sums of squared deviations once with
:func:`numpy.bincount`. Sums of squares are two-pass (deviations from the
group mean), which keeps closed-form results accurate to ~1e-14 relative even
for large groups. :func:`oneway_anova` gives the one-way ANOVA mean squares
that ICC(1), ICC(2) and the multilevel reliabilities share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import few

__all__ = [
    "align",
    "has_index",
    "factorize",
    "Groups",
    "parent_map",
    "group_sum",
    "GroupedItems",
    "OneWay",
    "oneway_anova",
]


# --------------------------------------------------------------------------- alignment
def has_index(obj: Any) -> bool:
    """Whether ``obj`` carries row labels (a pandas Series, DataFrame or Index-backed object)."""
    return isinstance(obj, (pd.Series, pd.DataFrame))


def align(obj: Any, index: pd.Index | None, *, name: str, ref_name: str) -> Any:
    """Match the rows of ``obj`` to ``index`` (the row labels of ``ref_name``) by label.

    - ``obj`` or the reference without row labels (numpy arrays, lists): returned
      as is; the caller checks the length (pairing by position is then explicit).
    - Equal indexes: returned as is.
    - Unique labels that include every label of ``index`` (the same rows in
      another order, or a superset such as the full column for
      ``items.dropna()``): ``obj`` selected and reordered to ``index``.
    - A label of ``index`` missing from ``obj``, or duplicate labels that differ
      in order: ``ValueError`` naming both arguments, never a silent positional
      pairing.
    """
    if index is None or not has_index(obj):
        return obj
    other = obj.index
    if other.equals(index):
        return obj
    if other.is_unique and index.is_unique:
        missing = index.difference(other, sort=False)
        if len(missing) == 0:
            return obj.reindex(index)
        extra = other.difference(index, sort=False)
        raise ValueError(
            f"`{name}` and `{ref_name}` carry different row labels: {len(missing)} label(s) of `{ref_name}` are not "
            f"in `{name}` ({few(list(missing))}) and {len(extra)} of `{name}` are not in `{ref_name}` "
            f"({few(list(extra))}). Rows are matched by label, never by position; align them first or pass plain "
            "arrays (.to_numpy()) to pair rows by position."
        )
    raise ValueError(
        f"`{name}` and `{ref_name}` carry row labels (pandas indexes) that cannot be matched one to one "
        f"(duplicate labels in {'`' + name + '`' if not other.is_unique else '`' + ref_name + '`'}). Make the "
        f"index unique (e.g. .reset_index(drop=True) on both before selecting) or pass plain arrays (.to_numpy()) "
        "to pair rows by position."
    )


# --------------------------------------------------------------------------- labels -> codes
def _label_values(labels: Any) -> Any:
    if isinstance(labels, (pd.Series, pd.Index, pd.Categorical)):
        return labels
    arr = np.asarray(labels)
    return pd.Series(arr) if arr.ndim == 1 else arr


def factorize(labels: Any, n: int | None = None, *, name: str = "groups",
              missing: str = "raise") -> tuple[np.ndarray, pd.Index]:
    """Labels -> (codes ``0..G-1``, sorted label Index).

    A missing label raises ``ValueError`` naming ``name`` and the rows, or
    with ``missing="code"`` gets code ``-1`` (for :class:`Groups`, whose
    callers apply their missing-data policy).

    Labels are sorted (categories keep their order; unused categories are
    dropped), so results are invariant to row order. Labels of types that
    cannot be sorted together raise ``ValueError``. Pandas string columns are
    not converted to object arrays, which would dominate the run time at
    national scale.
    """
    if isinstance(labels, pd.DataFrame) or np.ndim(labels) != 1:
        raise ValueError(f"`{name}` must be one-dimensional (one label per row); got shape {np.shape(labels)}.")
    s = _label_values(labels)
    if n is not None and len(s) != n:
        raise ValueError(f"`{name}` has {len(s)} labels but the data have {n} rows.")
    label_name = getattr(labels, "name", None)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.array if isinstance(s, pd.Series) else (s.values if isinstance(s, pd.Index) else s)
        # one shifted copy of the (small-integer) codes: missing (-1) -> 0, category k -> k + 1
        shifted = np.add(np.asarray(cat.codes), 1, dtype=np.intp)
        counts = np.bincount(shifted, minlength=len(cat.categories) + 1)
        used = counts[1:] > 0
        cats = cat.categories[used]
        if cat.ordered or cats.is_monotonic_increasing:
            rank = np.arange(len(cats))
        else:
            try:
                rank = np.argsort(np.argsort(np.asarray(cats), kind="stable"), kind="stable")
            except TypeError:
                raise ValueError(f"`{name}` has labels of types that cannot be sorted together: "
                                 f"{few(list(cats))}; convert them to one type (e.g. .astype(str)).") from None
        table = np.full(len(cat.categories) + 1, -1, dtype=np.intp)  # shifted code -> output code
        table[1:][used] = rank
        out = table[shifted]
        return _check_missing(out, name, missing), pd.Index(cats[np.argsort(rank)], name=label_name)
    if s.dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind.startswith("mixed"):
            types = sorted({type(v).__name__ for v in pd.unique(np.asarray(s, dtype=object)) if v is not None
                            and not (isinstance(v, float) and np.isnan(v))})
            if "str" in types and len(types) > 1:
                raise ValueError(
                    f"`{name}` mixes label types ({', '.join(types)}): 1 and '1' would be different groups. "
                    "Convert the labels to one type first (e.g. .astype(str))."
                )
    try:
        codes, uniques = pd.factorize(s, sort=True)
    except TypeError:
        raise ValueError(f"`{name}` has labels of types that cannot be sorted together: "
                         f"{few(pd.unique(np.asarray(s, dtype=object))[:5].tolist())}; convert them to one type "
                         "(e.g. .astype(str)).") from None
    return _check_missing(np.asarray(codes, dtype=np.intp), name, missing), pd.Index(uniques, name=label_name)


def _check_missing(codes: np.ndarray, name: str, missing: str) -> np.ndarray:
    if missing == "raise" and codes.size and codes.min() < 0:
        rows = np.flatnonzero(codes < 0)
        raise ValueError(
            f"`{name}` has {rows.size} missing label(s) at rows {few(rows.tolist())}; every row needs a group."
        )
    return codes


def parent_map(child: np.ndarray, parent: np.ndarray, n_child: int) -> np.ndarray | None:
    """Parent code of each child code, or ``None`` if some child lies in two parents."""
    pmap = np.empty(n_child, dtype=np.intp)
    pmap[child] = parent
    if not np.array_equal(pmap[child], parent):
        return None
    return pmap


def _level_columns(groups: Any, name: str) -> tuple[list[Any], list[str]]:
    """The label columns of ``groups`` (outer first) and their names."""
    if isinstance(groups, pd.DataFrame):
        if groups.shape[1] == 0:
            raise ValueError(f"`{name}` is a DataFrame without columns; pass one label column per level.")
        dup = groups.columns[groups.columns.duplicated()]
        if len(dup):
            raise ValueError(f"`{name}` has duplicate column name(s) {few(list(dup))}.")
        return [groups.iloc[:, j] for j in range(groups.shape[1])], [str(c) for c in groups.columns]
    if isinstance(groups, (list, tuple)) and len(groups) >= 2 and all(
            isinstance(g, (pd.Series, pd.Index, np.ndarray, pd.Categorical)) and np.ndim(g) == 1 for g in groups):
        names = [str(getattr(g, "name", None) or f"level{i + 1}") for i, g in enumerate(groups)]
        return list(groups), names
    if isinstance(groups, np.ndarray) and groups.ndim == 2:
        if groups.shape[1] == 0:
            raise ValueError(f"`{name}` is a 2-D array without columns; pass one label column per level.")
        return [groups[:, j] for j in range(groups.shape[1])], [f"level{j + 1}" for j in range(groups.shape[1])]
    return [groups], [str(getattr(groups, "name", None) or name)]


@dataclass(frozen=True, eq=False)
class Groups:
    """Group membership of ``n_obs`` rows at one or more nested levels (outer first).

    Attributes
    ----------
    codes : tuple of ndarray
        Integer codes ``0..G_l-1`` per level. A group of level ``l > 0`` is
        identified *within* its outer groups (lme4's ``outer/inner``), so
        inner labels reused across outer groups are distinct groups.
    labels : tuple of Index
        Labels of the groups of each level, in code order: a plain Index for
        the first level, a MultiIndex (outer labels, ..., own label) below.
    names : tuple of str
        Level names (column names, Series names, or ``name``).
    parents : tuple of ndarray
        ``parents[l - 1][g]`` is the code of the outer group of group ``g``
        of level ``l``.
    """

    codes: tuple[np.ndarray, ...]
    labels: tuple[pd.Index, ...]
    names: tuple[str, ...]
    parents: tuple[np.ndarray, ...]
    _own_codes: tuple[np.ndarray, ...] = field(repr=False, default=())
    _own_labels: tuple[pd.Index, ...] = field(repr=False, default=())

    # ------------------------------------------------------------------ build
    @classmethod
    def from_labels(cls, groups: Any, n: int | None = None, *, name: str = "groups",
                    index: pd.Index | None = None, ref_name: str = "x",
                    max_levels: int | None = None) -> tuple[Groups, np.ndarray]:
        """Codes from labels; returns ``(groups, missing)``.

        ``groups`` is one label per row (a Series, Index, Categorical, list or 1-D
        array) or several label columns for nested levels, outer first (a
        DataFrame, a 2-D array, or a list of 1-D label arrays).

        ``missing`` marks the rows with a missing label at any level (their
        codes are not used: drop them with :meth:`subset` after the caller's
        missing-data policy). Pandas labels are aligned on ``index`` (the row
        labels of ``ref_name``) with :func:`align`.
        """
        cols, names = _level_columns(groups, name)
        if max_levels is not None and len(cols) > max_levels:
            raise ValueError(
                f"`{name}` must have at most {max_levels} label column(s) (outer first); got {len(cols)}: {few(names)}."
            )
        if isinstance(groups, pd.DataFrame):
            groups = align(groups, index, name=name, ref_name=ref_name)
            cols = [groups.iloc[:, j] for j in range(groups.shape[1])]
        else:
            cols = [align(c, index, name=name, ref_name=ref_name) for c in cols]
        if len(names) != len(set(names)):
            names = [f"{nm}_{i}" if names.count(nm) > 1 else nm for i, nm in enumerate(names)]
        raw = []
        for c in cols:
            if n is not None and len(c) != n:
                raise ValueError(f"`{name}` has {len(c)} labels but the data have {n} rows.")
            raw.append(factorize(c, None, name=name, missing="code"))
        n_rows = len(raw[0][0])
        if any(len(r[0]) != n_rows for r in raw):
            raise ValueError(f"`{name}`: the label columns differ in length {few([len(r[0]) for r in raw])}.")
        missing = np.zeros(n_rows, dtype=bool)
        for c, _ in raw:
            missing |= c < 0
        built = cls._combine([c for c, _ in raw], [lab for _, lab in raw], names, ~missing)
        return built, missing

    @classmethod
    def _combine(cls, level_codes: list[np.ndarray], level_labels: list[pd.Index], names: Sequence[str],
                 keep: np.ndarray) -> Groups:
        """Nested codes from per-column codes, over the rows in ``keep`` (others get -1).

        A group of level ``l`` is the pair (its outer group, its own label), so its
        code sorts by outer group first: codes, labels and parents come from one
        ``factorize`` per level over integer keys (no Python loop over groups).
        """
        codes: list[np.ndarray] = []
        labels: list[pd.Index] = []
        parents: list[np.ndarray] = []
        all_rows = bool(keep.all())
        prev: np.ndarray | None = None  # compact codes of the previous level, over the kept rows
        for lev, (c, lab) in enumerate(zip(level_codes, level_labels)):
            ck = c if all_rows else c[keep]
            if prev is None:
                if all_rows:
                    # factorize() codes are compact and sorted (unused categories already dropped)
                    out, own = ck, np.arange(len(lab))
                else:
                    out, own = pd.factorize(ck, sort=True)
                full_labels = lab.take(own) if len(own) else lab[:0]
                labels.append(full_labels.rename(names[0]))
            else:
                width = len(lab) + 1
                out, uniq = pd.factorize(prev.astype(np.int64) * width + ck, sort=True)
                pcode = (uniq // width).astype(np.intp)
                own = uniq % width
                parents.append(pcode)
                outer = labels[-1].take(pcode)
                arrays = ([outer.get_level_values(i) for i in range(outer.nlevels)]
                          if isinstance(outer, pd.MultiIndex) else [outer])
                labels.append(pd.MultiIndex.from_arrays([*arrays, lab.take(own)], names=list(names[: lev + 1])))
            out = np.asarray(out, dtype=np.intp)
            if all_rows:
                full = out
            else:
                full = np.full(c.shape, -1, dtype=np.intp)
                full[keep] = out
            codes.append(full)
            prev = out
        return cls(tuple(codes), tuple(labels), tuple(names), tuple(parents), tuple(level_codes),
                   tuple(level_labels))

    # ------------------------------------------------------------------ use
    @property
    def n_levels(self) -> int:
        """Number of nested levels."""
        return len(self.codes)

    @property
    def n_obs(self) -> int:
        """Number of rows."""
        return len(self.codes[0])

    @property
    def n_groups(self) -> tuple[int, ...]:
        """Number of groups per level (outer first)."""
        return tuple(len(lab) for lab in self.labels)

    @property
    def column_labels(self) -> tuple[pd.Index, ...]:
        """The distinct labels found in each label column (outer first), before nesting.

        For a categorical column these are the categories some row uses: fewer
        than its categories means unused categories.
        """
        return self._own_labels

    @property
    def finest(self) -> np.ndarray:
        """Codes of the innermost level."""
        return self.codes[-1]

    @property
    def finest_labels(self) -> pd.Index:
        """Labels of the innermost level (a MultiIndex for nested groups)."""
        return self.labels[-1]

    def sizes(self, level: int = -1) -> np.ndarray:
        """Members per group of ``level`` (default: the innermost)."""
        c = self.codes[level]
        return np.bincount(c[c >= 0], minlength=len(self.labels[level]))

    def subset(self, keep: np.ndarray) -> Groups:
        """The groups of the rows in ``keep`` (a boolean mask); groups left empty are removed."""
        keep = np.asarray(keep, dtype=bool) & (self.codes[-1] >= 0)
        if keep.all():
            return self
        return Groups._combine(list(self._own_codes), list(self._own_labels), self.names, keep)


# --------------------------------------------------------------------------- one-way ANOVA
@dataclass(frozen=True)
class OneWay:
    """One-way ANOVA of a response on group codes (groups without members ignored)."""

    msb: float
    msw: float
    n_obs: int
    n_groups: int
    k_mean: float
    k_adjusted: float

    @property
    def df_between(self) -> int:
        """Between-group degrees of freedom, G - 1."""
        return self.n_groups - 1

    @property
    def df_within(self) -> int:
        """Within-group degrees of freedom, N - G."""
        return self.n_obs - self.n_groups


def oneway_anova(v: np.ndarray, codes: np.ndarray, n_groups: int, *, name: str = "groups") -> OneWay:
    """One-way ANOVA mean squares of ``v`` on ``codes``.

    Raises ``ValueError`` naming ``name`` when fewer than two groups have data
    or every group has one member (the within-group variance is then not
    estimable). Constant data give ``msb = msw = 0``; callers decide what that
    means for their statistic.
    """
    cnt = np.bincount(codes, minlength=n_groups).astype(float)
    present = cnt > 0
    G = int(present.sum())
    N = v.size
    if G < 2:
        raise ValueError(f"`{name}` must have at least two groups with data; got {G}.")
    if N - G < 1:
        raise ValueError(f"`{name}`: every group has one member, so the within-group variance is not estimable.")
    with np.errstate(invalid="ignore", divide="ignore"):
        gm = np.bincount(codes, weights=v, minlength=n_groups) / cnt
    grand = v.mean()
    dev = v - gm[codes]
    ssw = float(dev @ dev)
    ssb = float(np.sum(cnt[present] * (gm[present] - grand) ** 2))
    n2 = float(np.sum(cnt[present] ** 2))
    return OneWay(ssb / (G - 1), ssw / (N - G), N, G, N / G, (N - n2 / N) / (G - 1))


def group_sum(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums over ``codes`` of ``values`` shaped (n,) or (J, n); returns (G,) or (G, J)."""
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=n_groups)
    out = np.empty((n_groups, values.shape[0]))
    for j in range(values.shape[0]):
        out[:, j] = np.bincount(codes, weights=values[j], minlength=n_groups)
    return out


class GroupedItems:
    """Per-group, per-item summaries of a response matrix.

    Parameters
    ----------
    x : ndarray, shape (n, J)
        Float responses, ``NaN`` for missing. Not modified.
    codes : ndarray of intp, shape (n,)
        Group codes ``0..n_groups-1``.
    n_groups : int
        Number of groups.
    complete_cases : bool
        If true, respondents with any missing item are excluded from every
        item (``nan_policy='omit'``); otherwise each item uses its own
        responses (``nan_policy='pairwise'``).

    Notes
    -----
    Items are stored transposed, (J, n) C-contiguous, so that each
    ``bincount`` reads contiguous memory (5x faster than strided columns).
    """

    def __init__(self, x: np.ndarray, codes: np.ndarray, n_groups: int, *, complete_cases: bool) -> None:
        self.n_groups = n_groups
        xt = np.ascontiguousarray(x.T)  # no copy for F-ordered input (DataFrame values)
        observed = ~np.isnan(xt)
        if complete_cases:
            complete = observed.all(axis=0)
            self.n_dropped_rows = int((~complete).sum())
            observed &= complete[None, :]
        else:
            self.n_dropped_rows = 0
        self.complete_cases = complete_cases
        self._all_observed = bool(observed.all())
        self._observed = observed
        self._x0 = xt if self._all_observed else np.where(observed, xt, 0.0)
        self._codes = codes
        # rows already grouped together (survey files usually are sorted by team):
        # contiguous reductions with np.add.reduceat instead of scattered bincounts
        self._starts = None
        if codes.size and np.all(codes[1:] >= codes[:-1]):
            sizes = np.bincount(codes, minlength=n_groups)
            if np.all(sizes > 0):
                self._starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))

    def _gsum(self, values: np.ndarray) -> np.ndarray:
        """Group sums of (J, n) values as (G, J) (or (n,) as (G,))."""
        if self._starts is not None:
            return np.add.reduceat(values, self._starts, axis=-1).T
        return group_sum(self._codes, values, self.n_groups)

    @cached_property
    def count(self) -> np.ndarray:
        """Responses per group and item, shape (G, J)."""
        if self._all_observed:
            n = np.bincount(self._codes, minlength=self.n_groups).astype(float)
            return np.repeat(n[:, None], self._observed.shape[0], axis=1)
        return self._gsum(self._observed.astype(float))

    @cached_property
    def n_members(self) -> np.ndarray:
        """Members with at least one used response, per group, shape (G,)."""
        if self._all_observed:
            return np.bincount(self._codes, minlength=self.n_groups).astype(float)
        any_obs = self._observed.any(axis=0).astype(float)
        return np.bincount(self._codes, weights=any_obs, minlength=self.n_groups)

    @cached_property
    def sum(self) -> np.ndarray:
        """Group sums per item, shape (G, J)."""
        return self._gsum(self._x0)

    @cached_property
    def mean(self) -> np.ndarray:
        """Group means per item (NaN where no response), shape (G, J)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum / self.count

    @cached_property
    def _dev(self) -> np.ndarray:
        """Deviations of responses from their group mean (0 where missing), shape (J, n)."""
        m = np.take(np.ascontiguousarray(np.nan_to_num(self.mean, nan=0.0).T), self._codes, axis=1)
        np.subtract(self._x0, m, out=m)
        if not self._all_observed:
            m *= self._observed
        return m

    @cached_property
    def _scratch(self) -> np.ndarray:
        """A reusable (J, n) work array (fresh 50 MB allocations cost page faults)."""
        return np.empty_like(self._x0)

    @cached_property
    def ss(self) -> np.ndarray:
        """Sum of squared deviations from the group mean (two-pass), shape (G, J)."""
        return self._gsum(np.square(self._dev, out=self._scratch))

    @cached_property
    def var(self) -> np.ndarray:
        """Sample variances (n - 1 denominator); NaN with fewer than two responses."""
        c = self.count
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c >= 2, self.ss / (c - 1.0), np.nan)

    def abs_dev(self, center: str) -> np.ndarray:
        """Sum of absolute deviations from the group mean or median, shape (G, J)."""
        if center == "mean":
            return self._gsum(np.abs(self._dev, out=self._scratch))
        m = np.take(np.ascontiguousarray(np.nan_to_num(self.median, nan=0.0).T), self._codes, axis=1)
        np.subtract(self._x0, m, out=m)
        np.abs(m, out=m)
        if not self._all_observed:
            m *= self._observed
        return self._gsum(m)

    @cached_property
    def median(self) -> np.ndarray:
        """Group medians per item (NaN where no response), shape (G, J).

        Discrete responses (few distinct values) use a group-by-value count
        table, O(n + G*U); otherwise one sort per item.
        """
        G = self.n_groups
        n_items = self._x0.shape[0]
        out = np.full((G, n_items), np.nan)
        for j in range(n_items):
            obs = self._observed[j]
            c = self._codes[obs]
            uniq, vr = np.unique(self._x0[j, obs], return_inverse=True)
            U = uniq.size
            if U == 0:
                continue
            cnt = np.bincount(c, minlength=G)
            has = cnt > 0
            lo_k = (cnt - 1) // 2  # 0-based order statistics within the group
            hi_k = cnt // 2
            if G * U <= 20_000_000:
                table = np.bincount(c * U + vr, minlength=G * U).reshape(G, U)
                cum = np.cumsum(table, axis=1)
                lo = (cum <= lo_k[:, None]).sum(axis=1)
                hi = (cum <= hi_k[:, None]).sum(axis=1)
            else:
                key = np.sort(c.astype(np.int64) * U + vr)
                start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
                lo = key[np.minimum(start + lo_k, key.size - 1)] % U
                hi = key[np.minimum(start + hi_k, key.size - 1)] % U
            lo = np.minimum(lo, U - 1)
            hi = np.minimum(hi, U - 1)
            out[has, j] = 0.5 * (uniq[lo[has]] + uniq[hi[has]])
        return out
