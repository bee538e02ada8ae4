"""Random group resampling (Bliese & Halverson 2002): real groups against pseudo groups.

Members are shuffled across groups keeping the group sizes; statistics of the
real groups are compared with those of the pseudo groups. :func:`rgr_agree`
compares within-group variances (agreement beyond chance), and
:func:`pseudo_group_means` the spread of group means (the data of R's
``graph.ran.mean``), drawn by :func:`plot_pseudo_group_means`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from teamculture._core.errors import DegenerateDataWarning, SmallGroupWarning
from teamculture._core.groups import GroupedItems
from teamculture._core.threads import usable_cpus
from teamculture._core.validation import check_confidence_level, check_int, check_rng, few
from teamculture._core.warn import warn
from teamculture.aggregation._common import Prepared, drop_rows, extreme_scale, prepare
from teamculture.results import Result, Summary, result_class

__all__ = ["RGRResult", "rgr_agree", "pseudo_group_means", "plot_pseudo_group_means"]


@result_class
class RGRResult(Result):
    """Random group resampling of within-group variances (from :func:`rgr_agree`).

    Attributes
    ----------
    actual_mean_var : float
        Mean within-group variance of the real groups.
    random_mean_var, random_sd_var : float
        Mean and standard deviation of the pseudo groups' variances.
    statistic : float
        z = (actual - random mean) / (random sd / sqrt(n_groups)).
    pvalue : float
        One-sided P(Z <= z): small when real groups agree more than chance.
    n_random_groups : int
        Number of pseudo groups formed (``n_resamples`` times ``n_groups``).
    n_resamples : int
        Number of random reassignments.
    random_variances : ndarray
        The pseudo groups' variances.
    n_obs : int
        Members used (in groups of two or more).
    n_dropped : int
        Rows dropped for a missing value or label.
    n_groups : int
        Real groups with at least two members (those compared).
    """

    actual_mean_var: float
    random_mean_var: float
    random_sd_var: float
    statistic: float
    pvalue: float
    n_random_groups: int
    n_resamples: int
    random_variances: np.ndarray

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """Quantile(s) of the pseudo-group variances (R type 7)."""
        return np.quantile(self.random_variances, q)

    def to_frame(self) -> pd.DataFrame:
        """One row: real and pseudo-group variances, z and p."""
        return pd.DataFrame([{
            "actual_mean_var": self.actual_mean_var, "random_mean_var": self.random_mean_var,
            "random_sd_var": self.random_sd_var, "statistic": self.statistic, "pvalue": self.pvalue,
            "n_groups": self.n_groups, "n_random_groups": self.n_random_groups,
        }])

    def summary(self) -> Summary:
        """Real against pseudo-group variances, with the one-sided test."""
        return Summary(
            "Random group resampling (Bliese & Halverson 2002)",
            header=[("real groups", self.n_groups), ("members used", self.n_obs), ("rows dropped", self.n_dropped),
                    ("mean within-group variance", self.actual_mean_var),
                    ("pseudo groups", self.n_random_groups), ("pseudo-group variance: mean", self.random_mean_var),
                    ("pseudo-group variance: sd", self.random_sd_var), ("z", self.statistic),
                    ("one-sided p (real < pseudo)", self.pvalue)],
        )


def _single_variable(x: Any, groups: Any, *, nan_policy: str, what: str) -> tuple[Prepared, np.ndarray,
                                                                                    np.ndarray, int]:
    """(prepared data, non-missing values, their group codes, rows dropped)."""
    p = prepare(x, groups, name="x", what=what, nan_policy=nan_policy, single=True)
    v = p.x[:, 0]
    keep, n_drop = drop_rows(np.isnan(v), "omit", name="x", what=what, index=p.index)
    if keep is None:
        return p, v, p.codes, p.n_unlabelled
    return p, v[keep], p.codes[keep], p.n_unlabelled + n_drop


def _permuted_codes(rng: np.random.Generator, codes: np.ndarray, n_rep: int) -> np.ndarray:
    """n_rep random reassignments of members to groups of the actual sizes, shape (n_rep, n)."""
    keys = rng.random((n_rep, codes.size))
    return codes[np.argsort(keys, axis=1)]


def _pseudo_group_chunks(rng: np.random.Generator, codes: np.ndarray, n_groups: int, n_rep: int) -> Any:
    """Yield ``(start, stop, perm, flat)`` for replicates ``start:stop`` in memory-bounded chunks.

    ``perm`` holds the permuted group codes (shape (stop - start, n)); ``flat`` numbers each
    pseudo group uniquely across the chunk's replicates (replicate r, group k -> r * n_groups + k).
    """
    chunk = max(1, int(2_000_000 // max(codes.size, 1)))
    for start in range(0, n_rep, chunk):
        stop = min(n_rep, start + chunk)
        perm = _permuted_codes(rng, codes, stop - start)
        flat = (perm + n_groups * np.arange(stop - start)[:, None]).ravel()
        yield start, stop, perm, flat


_N_STREAMS = 2  # fixed, so that results depend on the seed only, never on the number of CPUs


def _child_generators(rng: np.random.Generator) -> list[np.random.Generator]:
    """``_N_STREAMS`` independent generators seeded from ``rng`` (which advances by one draw of 8 words)."""
    seed = np.random.SeedSequence(rng.integers(0, 2**63, size=8, dtype=np.uint64).tolist())
    return [np.random.Generator(np.random.PCG64(s)) for s in seed.spawn(_N_STREAMS)]


def _replicate_blocks(n_rep: int) -> list[range]:
    """Replicates owned by each stream: consecutive blocks, the first ones one longer when uneven."""
    q, r = divmod(n_rep, _N_STREAMS)
    bounds = np.cumsum([0] + [q + (i < r) for i in range(_N_STREAMS)])
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _variances_of_stream(gen: np.random.Generator, w: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                         den: np.ndarray, out: np.ndarray, reps: range) -> None:
    """Fill ``out[reps]``: each replicate shuffles ``w`` (this stream's own copy) in place and cuts it into runs."""
    sq = np.empty_like(w)
    for r in reps:
        gen.shuffle(w)  # releases the GIL for a 1-D float array
        s1 = np.add.reduceat(w, starts)
        np.multiply(w, w, out=sq)
        s2 = np.add.reduceat(sq, starts)
        row = out[r]
        np.multiply(s1, s1, out=row)
        row /= sizes
        np.subtract(s2, row, out=row)
        row /= den
        np.maximum(row, 0.0, out=row)  # rounding never makes a variance negative


def _pseudo_group_variances(rng: np.random.Generator, v: np.ndarray, sizes: np.ndarray, n_rep: int) -> np.ndarray:
    """Within-group variances of ``n_rep`` random partitions of ``v`` into groups of ``sizes``, shape (n_rep, G).

    Each replicate shuffles the values in place (a uniform random permutation of the previous, hence
    of the original order) and cuts them into consecutive runs of the group sizes: the same
    distribution as reassigning members to groups of the real sizes, in one pass over the values.
    The replicates are split into ``_N_STREAMS`` fixed consecutive blocks, each with its own child
    generator of ``rng`` and its own copy of the values, run on up to that many threads (numpy's
    shuffle releases the GIL): the result depends on the seed only, not on the scheduling.
    The variances come from the sums and sums of squares of the values centred at their mean
    (``v`` is already scaled to unit size by the caller).
    """
    w = v - v.mean()
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    den = sizes - 1.0
    sizes = sizes.astype(float)
    out = np.empty((n_rep, sizes.size))
    jobs = [(gen, w.copy(), starts, sizes, den, out, reps)
            for gen, reps in zip(_child_generators(rng), _replicate_blocks(n_rep))]
    n_threads = min(_N_STREAMS, usable_cpus())
    if n_threads > 1 and w.size * n_rep >= 2_000_000:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for f in [pool.submit(_variances_of_stream, *job) for job in jobs]:
                f.result()
    else:
        for job in jobs:
            _variances_of_stream(*job)
    return out


def _validate_rgr_agree(n_resamples: Any, rng: Any) -> tuple[int, np.random.Generator]:
    return check_int("n_resamples", n_resamples, minimum=2), check_rng(rng)


def rgr_agree(x: Any, groups: Any, *, n_resamples: int = 100, rng: Any = None,
              nan_policy: str = "omit") -> RGRResult:
    """Random group resampling: do real groups agree more than pseudo groups?

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        One variable.
    groups : Series, array_like or DataFrame
        Group label of each respondent (nested: label columns, outer first;
        the innermost groups are compared). Matched to ``x`` by index.
    n_resamples : int, default 100
        Number of random reassignments; each forms pseudo groups with the
        real group sizes, so ``n_resamples * n_groups`` pseudo groups in all.
    rng : int, numpy.random.Generator or None
        Random number generator or seed.
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing value or label: dropped and counted, or an error.

    Returns
    -------
    RGRResult

    Notes
    -----
    Members are shuffled across groups keeping the group sizes; the mean
    within-group variance of the real groups is compared with the
    distribution of pseudo-group variances:
    :math:`z = (\\bar s^2_{real} - \\bar s^2_{pseudo}) / (sd_{pseudo}/\\sqrt{G})`.
    Groups of one member have no variance and are left out of both (with a
    :class:`~teamculture.errors.SmallGroupWarning`). R forms ``nrangrps``
    pseudo groups rounded down to whole reassignments, so R's
    ``rgr.agree(x, grpid, nrangrps = n_resamples * G)`` is the same design.

    R: ``multilevel::rgr.agree(x, grpid, nrangrps)``.

    References
    ----------
    .. [1] Bliese, P. D., & Halverson, R. R. (2002). Using random group
       resampling in multilevel research. Leadership Quarterly, 13, 53-68.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", rng=1)
    >>> res = tc.rgr_agree(sv.staff["latent_engagement"], sv.staff["team"], n_resamples=50, rng=2)
    >>> bool(res.actual_mean_var < res.random_mean_var)
    True
    """
    nr, gen = _validate_rgr_agree(n_resamples, rng)
    p, v, codes, n_dropped = _single_variable(x, groups, nan_policy=nan_policy, what="random group resampling")
    G = p.n_groups
    cnt = np.bincount(codes, minlength=G)
    labels = p.labels
    if (cnt < 2).any():
        bad = labels[cnt < 2]
        warn(f"{len(bad)} of {G} group(s) have fewer than two members with a value and are left out of random "
             f"group resampling: {few(list(bad))}.", SmallGroupWarning)
        keep = cnt[codes] >= 2
        v, codes = v[keep], codes[keep]
        _, codes = np.unique(codes, return_inverse=True)
        cnt = np.bincount(codes)
        G = cnt.size
    if G < 2:
        raise ValueError(f"`groups` must have at least two groups with two or more members (with a value of `x`); "
                         f"got {G}.")
    scale = extreme_scale(v)  # z is scale-free; the variances are scaled back below
    v = v / scale
    real = GroupedItems(v[:, None], codes, G, complete_cases=False).var[:, 0]
    out = _pseudo_group_variances(gen, v, cnt, nr)
    rv = out.ravel()
    mean_r = float(rv.mean())
    sd_r = float(rv.std(ddof=1))
    actual = float(real.mean())
    if sd_r > 0:
        z = (actual - mean_r) / (sd_r / np.sqrt(G))
        s2 = scale * scale
        if s2 != 1.0:
            rv, mean_r, sd_r, actual = rv * s2, mean_r * s2, sd_r * s2, actual * s2
        pval = float(special.ndtr(z))
    else:
        warn("`x` is constant within every real and pseudo group (the pseudo-group variances do not vary), so the "
             "z statistic and its p-value are undefined (NaN).", DegenerateDataWarning)
        z = pval = float("nan")
    return RGRResult(actual_mean_var=actual, random_mean_var=mean_r, random_sd_var=sd_r, statistic=float(z),
                     pvalue=pval, n_random_groups=int(rv.size), n_resamples=nr, random_variances=rv,
                     n_obs=int(v.size), n_dropped=int(n_dropped), n_groups=int(G))


def _validate_pseudo_group_means(n_resamples: Any, confidence_level: Any, rng: Any
                                 ) -> tuple[int, float, np.random.Generator]:
    return (check_int("n_resamples", n_resamples, minimum=2), check_confidence_level(confidence_level),
            check_rng(rng))


def pseudo_group_means(x: Any, groups: Any, *, n_resamples: int = 100, confidence_level: float = 0.95,
                       rng: Any = None, nan_policy: str = "omit") -> pd.DataFrame:
    """Sorted group means next to sorted pseudo-group means (``graph.ran.mean`` data).

    Parameters
    ----------
    x : Series or array_like, shape (n,)
        One variable.
    groups : Series, array_like or DataFrame
        Group label of each respondent (nested: label columns, outer first).
        Matched to ``x`` by index.
    n_resamples : int, default 100
        Number of random reassignments of members to groups of the real
        sizes.
    confidence_level : float, default 0.95
        Central coverage of the pseudo-mean band.
    rng : int, numpy.random.Generator or None
        Random number generator or seed.
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing value or label: dropped and counted, or an error.

    Returns
    -------
    DataFrame
        Indexed by group label (sorted by group mean), columns ``n``,
        ``group_mean``, ``pseudo_mean`` (average over replicates of the
        pseudo-group mean at the same rank), ``ci_low``, ``ci_high``
        (percentiles of that rank's pseudo mean).

    Notes
    -----
    If real group means spread much more widely than pseudo-group means of
    the same sizes, group membership matters (Bliese & Halverson 2002).
    Plot with :func:`plot_pseudo_group_means`. Groups whose every value is
    missing have no mean and no row.

    R: ``multilevel::graph.ran.mean(x, grpid, nreps, limits, graph = FALSE)``.

    References
    ----------
    .. [1] Bliese, P. D., & Halverson, R. R. (2002). Leadership Quarterly, 13,
       53-68.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", rng=1)
    >>> pg = tc.pseudo_group_means(sv.staff["latent_engagement"], sv.staff["team"], rng=3)
    >>> list(pg.columns)
    ['n', 'group_mean', 'pseudo_mean', 'ci_low', 'ci_high']
    >>> bool(pg["group_mean"].std() > pg["pseudo_mean"].std())
    True
    """
    nr, cl, gen = _validate_pseudo_group_means(n_resamples, confidence_level, rng)
    p, v, codes, _ = _single_variable(x, groups, nan_policy=nan_policy, what="pseudo-group means")
    G = p.n_groups
    cnt = np.bincount(codes, minlength=G)
    present = cnt > 0
    Gp = int(present.sum())
    if Gp < 2:
        raise ValueError(f"`groups` must have at least two groups with a value of `x`; got {Gp}.")
    scale = extreme_scale(v)  # sums of values near 1e308 overflow; means are scaled back below
    v = v / scale
    means = np.bincount(codes, weights=v, minlength=G)[present] / cnt[present]
    codes_p = np.cumsum(present)[codes] - 1
    cnt_p = cnt[present]
    pseudo = np.empty((nr, Gp))
    for start, stop, perm, flat in _pseudo_group_chunks(gen, codes_p, Gp, nr):
        s = np.bincount(flat, weights=np.broadcast_to(v, perm.shape).ravel(), minlength=Gp * (stop - start))
        pseudo[start:stop] = s.reshape(stop - start, Gp) / cnt_p
    pseudo.sort(axis=1)
    if scale != 1.0:
        pseudo, means = pseudo * scale, means * scale
    order = np.argsort(means, kind="stable")
    tail = (1.0 - cl) / 2.0
    return pd.DataFrame(
        {
            "n": cnt_p[order].astype(np.int64),
            "group_mean": means[order],
            "pseudo_mean": pseudo.mean(axis=0),
            "ci_low": np.quantile(pseudo, tail, axis=0),
            "ci_high": np.quantile(pseudo, 1.0 - tail, axis=0),
        },
        index=p.labels[present][order],
    )


_PLOT_COLUMNS = ("group_mean", "pseudo_mean", "ci_low", "ci_high")


def _validate_plot_pseudo_group_means(table: Any, ax: Any) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`table` must be the DataFrame returned by pseudo_group_means; got {type(table).__name__}.")
    absent = [c for c in _PLOT_COLUMNS if c not in table.columns]
    if absent:
        raise ValueError(f"`table` must be the DataFrame returned by pseudo_group_means; it lacks column(s) "
                         f"{few(absent)}.")
    if len(table) == 0:
        raise ValueError("`table` has no rows: nothing to plot.")
    if ax is not None and not all(hasattr(ax, m) for m in ("fill_between", "plot", "set_xlabel")):
        raise TypeError(f"`ax` must be a matplotlib Axes or None; got {type(ax).__name__}.")


def plot_pseudo_group_means(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Plot real against pseudo-group means from :func:`pseudo_group_means`.

    Parameters
    ----------
    table : DataFrame
        The result of :func:`pseudo_group_means`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created otherwise.

    Returns
    -------
    matplotlib Axes

    Notes
    -----
    "Actual teams" and "pseudo teams" here are groups of the data and groups
    formed by shuffling members, not the Aston real/pseudo team categories.

    R: ``multilevel::graph.ran.mean(..., graph = TRUE)``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import teamculture as tc
    >>> from teamculture import plot_pseudo_group_means
    >>> sv = tc.national_survey("tiny", rng=1)
    >>> pg = tc.pseudo_group_means(sv.staff["latent_engagement"], sv.staff["team"], rng=3)
    >>> ax = plot_pseudo_group_means(pg)
    """
    _validate_plot_pseudo_group_means(table, ax)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    rank = np.arange(1, len(table) + 1)
    ax.fill_between(rank, table["ci_low"], table["ci_high"], color="0.85", label="shuffled groups (band)")
    ax.plot(rank, table["pseudo_mean"], color="0.4", lw=1.5, label="means of shuffled groups")
    ax.plot(rank, table["group_mean"], "o", ms=3, color="C0", label="actual group means")
    ax.set_xlabel("group rank")
    ax.set_ylabel("group mean")
    ax.legend(frameon=False)
    return ax
