"""Grouped sums for the agreement and nesting statistics (private).

:class:`GroupedItems` holds a float response matrix (respondents x items),
integer group codes ``0..G-1`` and the missing-value mask, and computes the
per-group, per-item counts, means and sums of squared deviations once with
:func:`numpy.bincount`. Every agreement index is a cheap function of these
arrays, so :func:`teamculture.aggregate` builds one object and reuses it.

Sums of squares are two-pass (deviations from the group mean), which keeps
closed-form results accurate to ~1e-14 relative even for large groups.
"""

from __future__ import annotations

from functools import cached_property

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GroupedItems", "group_sum", "as_float_matrix"]


def as_float_matrix(data: Any, *, name: str) -> tuple[np.ndarray, list[Any]]:
    """Return ``(float (n, J) array, column labels)``; may share the caller's buffer (read only).

    Accepts a Series, DataFrame or 1-/2-D array_like; raises ``TypeError``
    naming the non-numeric columns.
    """
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        bad = [c for c in data.columns
               if not (pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]))]
        if bad:
            from teamculture._validation import few

            raise TypeError(f"`{name}` must be numeric; non-numeric column(s) {few(bad)}.")
        arr = np.asarray(data.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        return arr, list(data.columns)
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be numeric array_like; got {type(data).__name__}.") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be one- or two-dimensional; got shape {arr.shape}.")
    return arr, list(range(arr.shape[1]))


def factorize(groups: Any, n: int, *, name: str = "groups") -> tuple[np.ndarray, pd.Index]:
    """Group labels -> (codes 0..G-1, sorted label Index), fast for str and categorical labels.

    Labels are sorted (categories keep their order), so results are invariant
    to row order; missing labels raise ``ValueError``. Pandas string columns
    are not converted to object arrays, which would dominate the run time at
    national scale.
    """
    if isinstance(groups, pd.DataFrame) or np.ndim(groups) != 1:
        raise ValueError(f"`{name}` must be one-dimensional (one label per row); got shape {np.shape(groups)}.")
    s = groups if isinstance(groups, (pd.Series, pd.Index)) else pd.Series(np.asarray(groups))
    if len(s) != n:
        raise ValueError(f"`{name}` has length {len(s)} but the data have {n} rows.")
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.array if isinstance(s, pd.Series) else s.values
        codes = np.asarray(cat.codes, dtype=np.intp)
        bad = codes < 0
        if not bad.any():
            used = np.bincount(codes, minlength=len(cat.categories)) > 0
            remap = np.cumsum(used) - 1
            cats = cat.categories[used]
            if cat.ordered or cats.is_monotonic_increasing:
                order = np.arange(len(cats))
            else:
                order = np.argsort(np.argsort(np.asarray(cats)))
            labels = cats[np.argsort(order)]
            return order[remap[codes]].astype(np.intp), pd.Index(labels, name=getattr(groups, "name", None))
    else:
        codes, uniques = pd.factorize(s, sort=True)
        codes = np.asarray(codes, dtype=np.intp)
        bad = codes < 0
        if not bad.any():
            return codes, pd.Index(uniques, name=getattr(groups, "name", None))
    from teamculture._validation import few

    rows = np.flatnonzero(bad)
    raise ValueError(
        f"`{name}` has {bad.sum()} missing label(s) at rows {few(rows.tolist())}; every row needs a group."
    )


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
    listwise : bool
        If true, respondents with any missing item are excluded from every
        item (complete cases); otherwise each item uses its own responses.

    Notes
    -----
    Items are stored transposed, (J, n) C-contiguous, so that each
    ``bincount`` reads contiguous memory (5x faster than strided columns).
    """

    def __init__(self, x: np.ndarray, codes: np.ndarray, n_groups: int, *, listwise: bool) -> None:
        self.n_groups = n_groups
        xt = np.ascontiguousarray(x.T)  # no copy for F-ordered input (DataFrame values)
        observed = ~np.isnan(xt)
        if listwise:
            complete = observed.all(axis=0)
            self.n_dropped_rows = int((~complete).sum())
            observed &= complete[None, :]
        else:
            self.n_dropped_rows = 0
        self.listwise = listwise
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
