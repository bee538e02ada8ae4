"""Simulated null ("no agreement") distributions of rwg, rwg(j) and AD.

A group answering at random still shows some agreement. These functions
draw many groups of a given size from the null (uniform responses on the
scale's codes; correlated items through a cut multivariate normal, as R's
``rwg.j.sim``) and keep the simulated index values, so that any quantile can
be read off (``critical_value`` is the conventional 5% one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from teamculture._core.validation import Scale, check_choice, check_int, check_rng, few
from teamculture.aggregation._agreement import _uniform_variance, ad_cutoff, rwg_core, rwg_j_core
from teamculture.aggregation._common import response_scale
from teamculture.results import Result, Summary, format_number, result_class

__all__ = ["NullSimulation", "rwg_sim", "rwg_j_sim", "ad_sim"]

# draws per chunk (group members x items x replicates): bounds memory, same numbers below it
_CHUNK_CELLS = 4_000_000


@result_class
class NullSimulation(Result):
    """Simulated null distribution of an agreement index (from :func:`rwg_sim`, :func:`rwg_j_sim`, :func:`ad_sim`).

    Attributes
    ----------
    index : str
        The agreement index simulated: ``"rwg"``, ``"rwg_j"`` or ``"ad"``.
    group_size : int
        Members per simulated group.
    scale : tuple of float
        The response codes the null draws from (uniformly).
    n_items : int
        Number of items J.
    item_corr : ndarray or None
        J x J correlation of the items under the null (None: independent).
    location : str or None
        ``"mean"`` or ``"median"`` for AD (None for rwg).
    n_resamples : int
        Number of simulated groups.
    values : ndarray, shape (n_resamples,)
        The simulated index values.
    critical_value : float
        The 95th percentile (rwg, rwg(j): observed values above it are
        significant at 5%) or the 5th percentile (AD: values below it).
    practical_cutoff : float
        Burke and Dunlap's c/6 for AD (step x c/6 for codes with another
        step), NaN for rwg.
    n_obs, n_dropped, n_groups
        ``None``, 0, ``None``: a simulation is not computed from data.
    """

    index: str
    group_size: int
    scale: tuple[float, ...]
    n_items: int
    item_corr: np.ndarray | None
    location: str | None
    n_resamples: int
    values: np.ndarray
    critical_value: float
    practical_cutoff: float

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """Quantile(s) of the simulated values (linear interpolation, R type 7)."""
        return np.quantile(self.values, q)

    def to_frame(self) -> pd.DataFrame:
        """One row: the design and the critical value."""
        return pd.DataFrame([{
            "index": self.index, "group_size": self.group_size, "n_points": len(self.scale),
            "n_items": self.n_items, "n_resamples": self.n_resamples,
            "critical_value": self.critical_value, "practical_cutoff": self.practical_cutoff,
        }])

    def summary(self) -> Summary:
        """The design, the critical value and a few quantiles of the null distribution."""
        which = "5th" if self.index == "ad" else "95th"
        corr = "independent" if self.item_corr is None else (
            f"correlated (mean r {format_number(float(self.item_corr[np.triu_indices(self.n_items, 1)].mean()))})"
            if self.n_items > 1 else "independent")
        header = [("index", self.index), ("group size", self.group_size),
                  ("scale", Scale(self.scale).describe()), ("items", self.n_items), ("items under the null", corr),
                  ("simulated groups", self.n_resamples), (f"critical value ({which} percentile)", self.critical_value)]
        if self.index == "ad":
            header += [("location", self.location), ("practical cut-off (c/6)", self.practical_cutoff)]
        q = [0.01, 0.05, 0.10, 0.50, 0.90, 0.95, 0.99]
        table = pd.DataFrame({"quantile": np.quantile(self.values, q)}, index=[f"{p:g}" for p in q])
        return Summary(f"Null distribution of {self.index}", header=header, tables=[("quantiles", table)])


def _validate_sim(group_size: Any, n_items: Any, scale: Any, n_resamples: Any, rng: Any,
                  item_corr: Any = None) -> tuple[int, int, Scale, int, np.random.Generator, np.ndarray | None]:
    gs = check_int("group_size", group_size, minimum=2)
    J = check_int("n_items", n_items, minimum=1)
    s = response_scale(scale)
    nr = check_int("n_resamples", n_resamples, minimum=2)
    gen = check_rng(rng)
    return gs, J, s, nr, gen, _check_corr(item_corr, J)


def _check_corr(item_corr: Any, n_items: int) -> np.ndarray | None:
    if item_corr is None:
        return None
    try:
        r = np.asarray(item_corr, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`item_corr` must be a number or a {n_items}x{n_items} correlation matrix; "
                        f"got {type(item_corr).__name__}.") from None
    if not np.isfinite(r).all():
        raise ValueError(f"`item_corr` must be finite; got {few(r.ravel().tolist())}.")
    if r.ndim == 0:
        rho = float(r)
        if not -1.0 < rho < 1.0:
            raise ValueError(f"`item_corr` must lie in (-1, 1) for a single correlation; got {rho!r}.")
        r = np.full((n_items, n_items), rho)
        np.fill_diagonal(r, 1.0)
    if r.shape != (n_items, n_items):
        raise ValueError(f"`item_corr` must be a number or a {n_items}x{n_items} matrix (n_items={n_items}); "
                         f"got shape {r.shape}.")
    if not np.allclose(r, r.T, rtol=0, atol=1e-12) or not np.allclose(np.diag(r), 1.0, rtol=0, atol=1e-12):
        raise ValueError("`item_corr` must be a symmetric correlation matrix with unit diagonal.")
    eig = np.linalg.eigvalsh(r)
    if eig.min() <= 1e-10:
        bound = -1 / max(n_items - 1, 1)
        raise ValueError(f"`item_corr` must be positive definite; its smallest eigenvalue is {eig.min():.3g} "
                         f"(for one correlation rho and {n_items} items, rho must exceed {bound:.3g}).")
    return r


def _draw_null(rng: np.random.Generator, n_rep: int, gs: int, J: int, codes: np.ndarray,
               corr: np.ndarray | None) -> np.ndarray:
    """Uniform null responses on ``codes``, shape (n_rep, gs, J); correlated via a cut normal."""
    A = codes.size
    if corr is None:
        k = rng.integers(0, A, size=(n_rep, gs, J))
    else:
        z = rng.standard_normal((n_rep, gs, J)) @ np.linalg.cholesky(corr).T
        k = np.minimum(np.floor(special.ndtr(z) * A), A - 1).astype(np.intp)
    return codes[k]


def _simulate(rng: np.random.Generator, n_rep: int, gs: int, J: int, s: Scale, corr: np.ndarray | None,
              stat: Any) -> np.ndarray:
    """``stat`` of ``n_rep`` simulated groups, drawn in memory-bounded chunks."""
    codes = np.asarray(s.codes, dtype=float)
    chunk = max(1, _CHUNK_CELLS // (gs * J))
    if n_rep <= chunk:
        return stat(_draw_null(rng, n_rep, gs, J, codes, corr))
    out = np.empty(n_rep)
    for start in range(0, n_rep, chunk):
        stop = min(n_rep, start + chunk)
        out[start:stop] = stat(_draw_null(rng, stop - start, gs, J, codes, corr))
    return out


def rwg_sim(group_size: int, scale: Any, *, n_resamples: int = 10_000, rng: Any = None) -> NullSimulation:
    """Null distribution and 95% critical value of single-item rwg by simulation.

    Parameters
    ----------
    group_size : int
        Members per group (>= 2).
    scale : tuple, sequence or ResponseScale
        The response scale (``(1, 5)``, a list of codes or a ResponseScale).
    n_resamples : int, default 10000
        Number of simulated groups.
    rng : int, numpy.random.Generator or None
        Random number generator or seed (None: fresh entropy).

    Returns
    -------
    NullSimulation
        ``critical_value`` is the 95th percentile of rwg.

    Notes
    -----
    Each simulated group answers uniformly at random on the codes; rwg uses
    the uniform null variance (:func:`null_variance`) with truncation, as
    :func:`rwg`.

    R: ``multilevel::rwg.sim(gsize, nresp, nrep)``.

    References
    ----------
    .. [1] Dunlap, W. P., Burke, M. J., & Smith-Crowe, K. (2003). Accurate
       tests of statistical significance for rwg and average deviation
       interrater agreement indexes. Journal of Applied Psychology, 88,
       356-362.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.rwg_sim(10, (1, 5), n_resamples=20_000, rng=1)
    >>> 0.45 < sim.critical_value < 0.60
    True
    """
    gs, _, s, nr, gen, _ = _validate_sim(group_size, 1, scale, n_resamples, rng)
    sigma2 = _uniform_variance(s)
    vals = _simulate(gen, nr, gs, 1, s, None, lambda x: rwg_core(x[:, :, 0].var(axis=1, ddof=1), sigma2))
    return NullSimulation(index="rwg", group_size=gs, scale=s.codes, n_items=1, item_corr=None, location=None,
                          n_resamples=nr, values=vals, critical_value=float(np.quantile(vals, 0.95)),
                          practical_cutoff=float("nan"), n_obs=None, n_dropped=0, n_groups=None)


def rwg_j_sim(group_size: int, n_items: int, scale: Any, *, item_corr: Any = None, n_resamples: int = 10_000,
              rng: Any = None) -> NullSimulation:
    """Null distribution and 95% critical value of rwg(j) by simulation.

    Parameters
    ----------
    group_size : int
        Members per group (>= 2).
    n_items : int
        Number of items J.
    scale : tuple, sequence or ResponseScale
        The response scale.
    item_corr : float or array_like, optional
        Correlation between items under the null (one number for all pairs
        or a J x J matrix). Responses are then drawn from a multivariate
        normal and cut at the normal quantiles i/A, so each item stays
        uniform on the A codes.
    n_resamples : int, default 10000
        Number of simulated groups.
    rng : int, numpy.random.Generator or None
        Random number generator or seed.

    Returns
    -------
    NullSimulation
        ``critical_value`` is the 95th percentile of rwg(j).

    Notes
    -----
    rwg(j) as in :func:`rwg_j` with the uniform null variance.

    R: ``multilevel::rwg.j.sim(gsize, nitems, nresp, itemcors, nrep)``.

    References
    ----------
    .. [1] Dunlap, W. P., Burke, M. J., & Smith-Crowe, K. (2003). Journal of
       Applied Psychology, 88, 356-362.

    Examples
    --------
    >>> import teamculture as tc
    >>> a = tc.rwg_j_sim(10, 3, (1, 5), n_resamples=5000, rng=1).critical_value
    >>> b = tc.rwg_j_sim(10, 3, (1, 5), item_corr=0.6, n_resamples=5000, rng=1).critical_value
    >>> bool(b > a)
    True
    """
    gs, J, s, nr, gen, corr = _validate_sim(group_size, n_items, scale, n_resamples, rng, item_corr)
    sigma2 = _uniform_variance(s)
    jj = np.float64(J)
    vals = _simulate(gen, nr, gs, J, s, corr,
                     lambda x: rwg_j_core(x.var(axis=1, ddof=1).mean(axis=1), jj, sigma2))
    return NullSimulation(index="rwg_j", group_size=gs, scale=s.codes, n_items=J, item_corr=corr, location=None,
                          n_resamples=nr, values=vals, critical_value=float(np.quantile(vals, 0.95)),
                          practical_cutoff=float("nan"), n_obs=None, n_dropped=0, n_groups=None)


def ad_sim(group_size: int, n_items: int, scale: Any, *, item_corr: Any = None, location: str = "mean",
           n_resamples: int = 10_000, rng: Any = None) -> NullSimulation:
    """Null distribution and 5% critical value of the AD index by simulation.

    Parameters
    ----------
    group_size : int
        Members per group (>= 2).
    n_items : int
        Number of items J.
    scale : tuple, sequence or ResponseScale
        The response scale (c codes, equally spaced).
    item_corr : float or array_like, optional
        Correlation between items under the null, as in :func:`rwg_j_sim`.
    location : {"mean", "median"}, default "mean"
        AD_M or AD_Md.
    n_resamples : int, default 10000
        Number of simulated groups.
    rng : int, numpy.random.Generator or None
        Random number generator or seed.

    Returns
    -------
    NullSimulation
        ``critical_value`` is the 5th percentile (AD values below it show
        agreement beyond chance); ``practical_cutoff`` is c/6.

    Notes
    -----
    AD as in :func:`ad_index` on groups answering uniformly at random. The
    argument order is R's (``gsize, nitems, nresp``).

    R: ``multilevel::ad.m.sim(gsize, nitems, nresp, itemcors, type, nrep)``.

    References
    ----------
    .. [1] Dunlap, W. P., Burke, M. J., & Smith-Crowe, K. (2003). Journal of
       Applied Psychology, 88, 356-362.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.ad_sim(10, 1, (1, 5), n_resamples=5000, rng=1)
    >>> bool(sim.critical_value < sim.quantile(0.5))
    True
    """
    check_choice("location", location, ("mean", "median"))
    gs, J, s, nr, gen, corr = _validate_sim(group_size, n_items, scale, n_resamples, rng, item_corr)
    cutoff = ad_cutoff(s)

    def stat(x: np.ndarray) -> np.ndarray:
        c = x.mean(axis=1, keepdims=True) if location == "mean" else np.median(x, axis=1, keepdims=True)
        return np.abs(x - c).mean(axis=1).mean(axis=1)

    vals = _simulate(gen, nr, gs, J, s, corr, stat)
    return NullSimulation(index="ad", group_size=gs, scale=s.codes, n_items=J, item_corr=corr, location=location,
                          n_resamples=nr, values=vals, critical_value=float(np.quantile(vals, 0.05)),
                          practical_cutoff=cutoff, n_obs=None, n_dropped=0, n_groups=None)
