"""One pass per block of teams for :func:`teamculture.aggregate` (same numbers as ``GroupedItems``).

``aggregate`` needs, per group and item, the count, sum, variance and mean absolute deviation of
the responses, and per respondent the scale score with its group count, mean and variance. Done
with :class:`~teamculture._core.groups.GroupedItems` that is a dozen passes over the whole
(items x respondents) array, each a 50 MB round trip at national scale. When the rows are sorted
by group (survey files usually are) the groups are contiguous runs, so the same operations can be
done block by block (blocks of whole groups, about 16,000 respondents each, that stay in cache;
two threads gained nothing measurable here, so there are none). Every group's sums are the same
contiguous ``reduceat`` segments as ``GroupedItems``' and every elementwise step is the same
operation, so the numbers are bit-identical; anything else (unsorted rows, empty groups, a
C-ordered matrix whose row sums numpy adds in another order) falls back to the general code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_BLOCK_ROWS = 16_384


class FusedItems:
    """Per group and item: ``count``, ``sum``, ``var`` and ``abs_dev("mean")``, as ``GroupedItems`` gives them."""

    def __init__(self, count: np.ndarray, total: np.ndarray, var: np.ndarray, sad: np.ndarray) -> None:
        self.count = count
        self.sum = total
        self.var = var
        self._sad = sad

    def abs_dev(self, center: str) -> np.ndarray:
        """Sum of absolute deviations from the group mean (the only centre ``aggregate`` uses)."""
        if center != "mean":  # pragma: no cover - aggregate asks for the mean only
            raise ValueError(center)
        return self._sad


def usable(x: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray | None:
    """Group start rows if the fused pass reproduces the general code exactly, else None.

    Needs rows sorted by group with no empty group (then ``GroupedItems`` also sums by ``reduceat``)
    and an F-ordered (n, J) float matrix (as DataFrame values are: numpy then adds each row's items
    one after the other, as the fused pass does).
    """
    if x.ndim != 2 or x.dtype != np.float64 or not x.flags.f_contiguous or codes.size == 0:
        return None
    if not np.all(codes[1:] >= codes[:-1]):
        return None
    sizes = np.bincount(codes, minlength=n_groups)
    if sizes.size != n_groups or not np.all(sizes > 0):
        return None
    return np.concatenate(([0], np.cumsum(sizes)[:-1]))


def _blocks(starts: np.ndarray, n: int) -> list[tuple[int, int, int, int]]:
    """(first group, end group, first row, end row) of consecutive blocks of whole groups."""
    out = []
    G = starts.size
    ga = 0
    while ga < G:
        ra = int(starts[ga])
        gb = int(np.searchsorted(starts, ra + _BLOCK_ROWS, side="left"))
        gb = max(gb, ga + 1)
        rb = int(starts[gb]) if gb < G else n
        out.append((ga, gb, ra, rb))
        ga = gb
    return out


def _block(xt: np.ndarray, codes: np.ndarray, starts: np.ndarray, complete_cases: bool, blk: tuple[int, int, int, int],
           res: dict[str, np.ndarray]) -> None:
    ga, gb, ra, rb = blk
    J = xt.shape[0]
    xc = xt[:, ra:rb]
    st = starts[ga:gb] - ra
    obs = ~np.isnan(xc)
    if complete_cases:
        comp = obs.all(axis=0)
        obs &= comp[None, :]
    x0 = np.where(obs, xc, 0.0)
    # respondent scores: mean of the items (complete cases) or of the answered items (pairwise)
    tot = x0.sum(axis=0)  # complete cases: incomplete rows are zero here and get NaN below
    if complete_cases:
        score = np.where(comp, tot / J, np.nan)
    else:
        k = obs.sum(axis=0)
        score = np.where(k >= 1, tot / np.maximum(k, 1), np.nan)
    res["score"][ra:rb] = score
    # items
    # (J, groups) here, handed out transposed: the (G, J) F-ordered layout GroupedItems gives (row sums
    # over items then add the items in the same order)
    cnt = np.add.reduceat(obs.astype(float), st, axis=1)
    s = np.add.reduceat(x0, st, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / cnt
    local = codes[ra:rb] - ga
    m = np.take(np.nan_to_num(mean, nan=0.0), local, axis=1)
    np.subtract(x0, m, out=m)
    m *= obs
    ss = np.add.reduceat(np.square(m), st, axis=1)
    np.abs(m, out=m)
    res["sad"][:, ga:gb] = np.add.reduceat(m, st, axis=1)
    res["count"][:, ga:gb] = cnt
    res["sum"][:, ga:gb] = s
    with np.errstate(invalid="ignore", divide="ignore"):
        res["var"][:, ga:gb] = np.where(cnt >= 2, ss / (cnt - 1.0), np.nan)
    # scores by group
    sobs = ~np.isnan(score)
    s0 = np.where(sobs, score, 0.0)
    sc = np.add.reduceat(sobs.astype(float), st)
    ssum = np.add.reduceat(s0, st)
    with np.errstate(invalid="ignore", divide="ignore"):
        smean = ssum / sc
    d = np.take(np.nan_to_num(smean, nan=0.0), local)
    np.subtract(s0, d, out=d)
    d *= sobs
    sss = np.add.reduceat(np.square(d), st)
    res["score_n"][ga:gb] = sc
    res["score_mean"][ga:gb] = smean
    with np.errstate(invalid="ignore", divide="ignore"):
        res["score_var"][ga:gb] = np.where(sc >= 2, sss / (sc - 1.0), np.nan)


def fused_stats(x: np.ndarray, codes: np.ndarray, starts: np.ndarray,
                complete_cases: bool) -> tuple[FusedItems, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(items, scores, score count, score mean, score variance per group) in one blocked pass.

    ``starts`` from :func:`usable`. Numbers identical to ``GroupedItems(x, ...)`` for the items,
    ``aggregate``'s score rule, and ``GroupedItems(score[:, None], ...)`` for the scores.
    """
    xt = x.T  # (J, n) C-contiguous view of the F-ordered matrix
    J, n = xt.shape
    G = starts.size
    res: dict[str, Any] = {
        "score": np.empty(n), "count": np.empty((J, G)), "sum": np.empty((J, G)), "var": np.empty((J, G)),
        "sad": np.empty((J, G)), "score_n": np.empty(G), "score_mean": np.empty(G), "score_var": np.empty(G),
    }
    for b in _blocks(starts, n):
        _block(xt, codes, starts, complete_cases, b, res)
    items = FusedItems(res["count"].T, res["sum"].T, res["var"].T, res["sad"].T)
    return items, res["score"], res["score_n"], res["score_mean"], res["score_var"]
