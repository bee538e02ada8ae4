"""Data to per-cluster sums: the only pass over the rows of a nested model.

For nested random intercepts every quantity the REML/ML likelihood needs
(:math:`X^\\top V^{-1} X`, :math:`X^\\top V^{-1} y`, :math:`y^\\top V^{-1} y`,
:math:`\\log|V|`) is a function of these statistics only (see
:mod:`teamculture.multilevel._engine`):

* ``within``: the pooled within-cluster scatter matrix of ``W = [X, y]`` at
  the finest level, :math:`\\sum_i (w_i - \\bar w_{j(i)})(w_i - \\bar w_{j(i)})^\\top`;
* ``counts`` and ``means``: size and mean of ``W`` of each finest cluster
  (centred at the grand means when ``X`` has an intercept, see ``shift``);
* ``parents``: for each level below the top, the index of each cluster's
  parent cluster one level up.

Any dataframe engine can compute them with one grouped aggregation (group
counts, group sums of ``W`` and of the products ``w w^T``, best after
subtracting the grand means; the within scatter is then
``sum(w w^T) - sum_j n_j mean_j mean_j^T``), which is how a model can be
fitted to data that do not fit in memory: aggregate per team in the
database, fit from the sums (``tests/test_mixed_engine.py`` does this with a
pandas ``groupby``).
:func:`nested_suffstats` is the pandas/NumPy implementation; it uses
``np.bincount`` and one sort of the clusters and never forms per-cluster
design matrices (no per-row gather either: the within-cluster scatter is the
total scatter about the grand mean minus the between-cluster scatter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from teamculture._core.groups import parent_map
from teamculture._core.validation import few
from teamculture.errors import NotNestedError

__all__ = ["NestedSuffStats", "nested_suffstats"]


@dataclass(frozen=True)
class NestedSuffStats:
    """Sufficient statistics of a nested random-intercept model.

    Levels are ordered from the coarsest (e.g. trust) to the finest (team).
    Clusters within each level are sorted by their parent, so that each
    ``parents[l]`` is non-decreasing.

    Attributes
    ----------
    nobs : int
        Number of observations.
    ncols : int
        Number of fixed-effect columns ``p`` (``W`` has ``p + 1`` columns,
        the response last).
    within : numpy.ndarray
        ``(p + 1, p + 1)`` pooled within-finest-cluster scatter of ``W``.
    counts : numpy.ndarray
        ``(G_L,)`` sizes of the finest clusters.
    means : numpy.ndarray
        ``(G_L, p + 1)`` means of ``W`` in the finest clusters.
    parents : tuple of numpy.ndarray
        ``parents[l - 1]`` (for ``l = 1..L-1``) maps each cluster of level
        ``l`` to its parent's index in level ``l - 1``.
    orders : tuple of numpy.ndarray
        ``orders[l][i]`` is the input code of the cluster stored at position
        ``i`` of level ``l`` (to label results).
    shift : numpy.ndarray or None
        When ``X`` has a constant column (an intercept), the grand means
        that were subtracted from the other columns and from ``y`` (zero for
        the constant column), else ``None``. Centring is a
        reparameterisation with unit determinant: it leaves the likelihood
        unchanged and avoids cancellation when columns have large means.
    const_col : int
        Index of the constant column (``-1`` if none).
    const_value : float
        Value of the constant column.
    """

    nobs: int
    ncols: int
    within: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    parents: tuple[np.ndarray, ...]
    orders: tuple[np.ndarray, ...]
    shift: np.ndarray | None = None
    const_col: int = -1
    const_value: float = 1.0

    @property
    def nlevels(self) -> int:
        """Number of random-intercept levels."""
        return len(self.orders)

    @property
    def ngroups(self) -> tuple[int, ...]:
        """Number of clusters per level, coarsest first."""
        return tuple(len(o) for o in self.orders)


def _validate_suffstats(X: Any, y: Any, codes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[int]]:
    """Check the inputs of :func:`nested_suffstats`; return float arrays, ``intp`` codes and level sizes.

    Vectorised (a few passes over the rows): it runs on every national-scale fit.
    """
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`X` must be a numeric (n, p) design matrix; got {type(X).__name__}.") from None
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"`X` must be a two-dimensional (n, p) design matrix with n >= 1; got shape {X.shape}.")
    n = X.shape[0]
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`y` must be a numeric response; got values such as {few(np.ravel(y)[:3].tolist())}.") \
            from None
    if y.shape != (n,):
        raise ValueError(f"`y` must be one-dimensional with one value per row of `X` ({n}); got shape {y.shape}.")
    for name, arr in (("X", X), ("y", y)):
        if np.isfinite(arr.sum()):  # cheap test first: a sum is finite when every value is (bar overflow)
            continue
        bad = ~np.isfinite(arr) if arr.ndim == 1 else ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise ValueError(
                f"`{name}` must be finite; {int(bad.sum())} row(s) are not: {few(np.flatnonzero(bad).tolist())}. "
                "Drop incomplete rows before computing the statistics."
            )
    if isinstance(codes, np.ndarray) and codes.ndim == 1:
        raise TypeError("`codes` must be a sequence of code arrays, one per level (coarsest first); "
                        "got a single array: wrap it in a list.")
    if len(codes) == 0:
        raise ValueError("`codes` must hold the cluster codes of at least one level; got none.")
    out: list[np.ndarray] = []
    sizes: list[int] = []
    for lev, c in enumerate(codes):
        c = np.asarray(c)
        if c.shape != (n,):
            raise ValueError(f"`codes[{lev}]` must have one code per row of `X` ({n}); got shape {c.shape}.")
        if not np.issubdtype(c.dtype, np.integer):
            if not np.issubdtype(c.dtype, np.number) or np.issubdtype(c.dtype, np.complexfloating):
                raise TypeError(f"`codes[{lev}]` must hold integer codes 0..G-1; got dtype {c.dtype}.")
            bad = ~np.isfinite(c) | (c != np.round(c))
            if bad.any():
                raise ValueError(
                    f"`codes[{lev}]` must hold integer codes 0..G-1; {int(bad.sum())} value(s) are not: "
                    f"{few(c[bad].tolist())}."
                )
        ci = c.astype(np.intp, copy=False)
        if ci.min() < 0:
            neg = np.unique(ci[ci < 0])
            raise ValueError(f"`codes[{lev}]` must be >= 0; {neg.size} negative code(s) {few(neg.tolist())}.")
        occupied = np.bincount(ci)
        empty = np.flatnonzero(occupied == 0)
        if empty.size:
            raise ValueError(
                f"`codes[{lev}]` must use every code 0..{occupied.size - 1}; {empty.size} code(s) never occur: "
                f"{few(empty.tolist())}. Re-code the level (e.g. with pandas.factorize)."
            )
        out.append(ci)
        sizes.append(int(occupied.size))
    return X, y, out, sizes


def nested_suffstats(X: np.ndarray, y: np.ndarray, codes: Sequence[np.ndarray]) -> NestedSuffStats:
    """Compute the sufficient statistics of a nested random-intercept model.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, p)`` fixed-effects design matrix.
    y : numpy.ndarray
        ``(n,)`` response.
    codes : sequence of numpy.ndarray
        Integer cluster codes ``0..G_l-1`` per level, coarsest level first;
        every code must occur, and each cluster of a level must lie within
        one cluster of the level above.

    Returns
    -------
    NestedSuffStats

    Raises
    ------
    teamculture.errors.NotNestedError
        If a cluster of some level spans several clusters of the level above.
    ValueError
        If shapes disagree, ``X`` or ``y`` has a missing or non-finite value,
        or a level's codes are negative, fractional or skip a code.

    Notes
    -----
    One pass over the rows (a few ``bincount`` reductions per column pair);
    the sums are the sufficient statistics of every nested random-intercept
    model with the same ``X``, so any dataframe engine can compute them and
    :class:`NestedModel` fits from them alone.

    R: none (``lme4::lFormula`` builds the full sparse model matrices instead).

    Examples
    --------
    >>> import numpy as np
    >>> from teamculture.multilevel._suffstats import nested_suffstats
    >>> X = np.ones((5, 1)); y = np.array([1.0, 2.0, 3.0, 5.0, 7.0])
    >>> s = nested_suffstats(X, y, [np.array([0, 0, 0, 1, 1])])
    >>> s.counts, s.means[:, 1] + s.shift[1]
    (array([3., 2.]), array([2., 6.]))
    >>> float(s.within[1, 1])
    4.0
    """
    X, y, codes, sizes = _validate_suffstats(X, y, codes)
    n, p = X.shape
    # parent maps in input codes, checked for nesting
    pmaps: list[np.ndarray] = []
    for lev in range(1, len(codes)):
        pm = parent_map(codes[lev], codes[lev - 1], sizes[lev])
        if pm is None:
            pairs = np.unique(np.stack([codes[lev], codes[lev - 1]]), axis=1)
            n_par = np.bincount(pairs[0], minlength=sizes[lev])
            bad = np.flatnonzero(n_par > 1)
            raise NotNestedError(
                f"`codes[{lev}]` is not nested in `codes[{lev - 1}]`: {bad.size} cluster(s) of level {lev} "
                f"lie in more than one cluster of level {lev - 1}: codes {few(bad.tolist())}. Give each "
                "cluster a code unique within the whole level (e.g. factorize the (parent, child) pairs)."
            )
        pmaps.append(pm)
    # order clusters of each level by their parent's position (stable)
    orders = [np.arange(sizes[0], dtype=np.intp)]
    ranks = [orders[0]]
    parents: list[np.ndarray] = []
    for lev in range(1, len(codes)):
        par_new = ranks[lev - 1][pmaps[lev - 1]]
        order = np.argsort(par_new, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        orders.append(order)
        ranks.append(rank)
        parents.append(par_new[order])
    fine = ranks[-1][codes[-1]]
    g = sizes[-1]
    counts = np.bincount(fine, minlength=g).astype(np.float64)
    # W^T as a (p + 1, n) C-contiguous array: fast column-wise bincounts
    WT = np.empty((p + 1, n))
    WT[:p] = X.T
    WT[p] = y
    sums = np.stack([np.bincount(fine, weights=WT[k], minlength=g) for k in range(p + 1)], axis=1)
    means = sums / counts[:, None]
    # within scatter = sum (w - mean_j)(w - mean_j)^T, computed after removing the grand
    # mean (so that large column means do not cancel) as total minus between scatter
    grand = sums.sum(axis=0) / n
    WT -= grand[:, None]
    dm = means - grand
    within = WT @ WT.T - (dm.T * counts) @ dm
    within = 0.5 * (within + within.T)
    const = [j for j in range(p) if X[0, j] != 0 and np.all(X[:, j] == X[0, j])]
    shift = None
    if const:
        shift = grand.copy()
        shift[const[0]] = 0.0
        means = means - shift
    return NestedSuffStats(
        nobs=n, ncols=p, within=within, counts=counts, means=means,
        parents=tuple(parents), orders=tuple(orders), shift=shift,
        const_col=const[0] if const else -1, const_value=float(X[0, const[0]]) if const else 1.0,
    )
