"""Reliability of multi-item scales: alpha, omega, item analysis, multilevel reliability.

Two layers, as elsewhere in teamculture: a NumPy core that works on a
covariance/correlation matrix (``_alpha_core``, ``_minres``, ``_oblimin``,
``_schmid_leiman``) and thin public functions that validate and label.

The public functions:

- :func:`cronbach_alpha` -- raw and standardised alpha, Guttman's lambda-6,
  average inter-item correlation, Feldt and Duhachek intervals and an item
  table (R: ``psych::alpha``).
- :func:`omega` -- McDonald's omega total and omega hierarchical from a
  Schmid--Leiman transformation of an oblimin-rotated minres solution
  (R: ``psych::omega``).
- :func:`multilevel_reliability` -- within- and between-group alpha and omega
  (Geldhof, Preacher & Zyphur 2014) from the ANOVA decomposition of the item
  covariance matrix.
- :func:`reliability` -- one row per subscale of an instrument.

Reverse keying always uses the *declared* response-scale bounds
(``low + high - x``). ``psych::alpha`` and ``psych::reverse.code`` reverse
with the minimum and maximum *observed* in the data, which silently changes
the scores when an extreme category happens not to be used; teamculture asks
for the bounds instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from teamculture._core.groups import factorize
from teamculture._core.validation import check_choice, check_int, check_probability, few
from teamculture.errors import BoundaryWarning, ConvergenceWarning, DroppedDataWarning

__all__ = [
    "AlphaResult",
    "OmegaResult",
    "MultilevelReliabilityResult",
    "cronbach_alpha",
    "omega",
    "multilevel_reliability",
    "instrument_reliability",
]

_NAN_POLICIES = ("omit", "pairwise", "raise")
_CI_METHODS = ("feldt", "duhachek")
_ITEM_COLUMNS = [
    "reversed",
    "n",
    "mean",
    "sd",
    "r_raw",
    "r_std",
    "r_cor",
    "r_drop",
    "alpha_if_deleted",
    "std_alpha_if_deleted",
    "lambda6_if_deleted",
    "average_r_if_deleted",
]


# ---------------------------------------------------------------------------
# NumPy core
# ---------------------------------------------------------------------------


def _smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations ``1 - 1/diag(R^-1)``, clipped to [0, 1]."""
    inv = np.linalg.pinv(r, hermitian=True)
    with np.errstate(divide="ignore"):
        smc = 1.0 - 1.0 / np.diag(inv)
    return np.clip(smc, 0.0, 1.0)


def _cov_to_cor(c: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(c))
    r = c / np.outer(d, d)
    np.fill_diagonal(r, 1.0)
    return r


def _alpha_core(c: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """Alpha family from a covariance ``c`` and correlation ``r`` matrix (k >= 2)."""
    k = c.shape[0]
    total = c.sum()
    trace = np.trace(c)
    sum_r = r.sum()
    raw = (1.0 - trace / total) * k / (k - 1)
    std = (1.0 - k / sum_r) * k / (k - 1)
    lambda6 = 1.0 - (k - _smc(r).sum()) / sum_r
    av_r = (sum_r - k) / (k * (k - 1))
    lower = r[np.tril_indices(k, -1)]
    # Duhachek & Iacobucci (2004), eq. for the asymptotic variance times n
    cc = c @ c
    q = (2.0 * k**2 / ((k - 1) ** 2 * total**3)) * (total * (np.trace(cc) + trace**2) - 2.0 * trace * cc.sum())
    return {
        "alpha": float(raw),
        "std_alpha": float(std),
        "lambda6": float(lambda6),
        "average_r": float(av_r),
        "median_r": float(np.median(lower)),
        "q": float(q),
    }


def _pairwise_sums(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise-complete sums by matrix products (data centred first for accuracy).

    Returns ``(n, sx, sxx, sxy)``-style arrays: ``n[i, j]`` respondents with
    both items, ``sx[i, j]`` the sum of item ``i`` over them, ``sxx[i, j]`` the
    sum of its squares over them and ``sxy[i, j]`` the sum of cross-products,
    plus the centring constants.
    """
    obs = ~np.isnan(x)
    m = obs.astype(float)
    center = np.nanmean(x, axis=0)
    x0 = np.where(obs, x - center, 0.0)
    n = m.T @ m
    sx = x0.T @ m
    sxx = (x0 * x0).T @ m
    sxy = x0.T @ x0
    return n, sx, sxx, sxy, center


def _pairwise_cov_cor(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise covariances (R ``cov(use = "pairwise")``), correlations (R ``cor``) and counts."""
    n, sx, sxx, sxy, _ = _pairwise_sums(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        cross = sxy - sx * sx.T / n
        cor = cross / np.sqrt((sxx - sx**2 / n) * (sxx.T - sx.T**2 / n))
        cov = cross / (n - 1)
    cov[n < 2] = np.nan
    cor[n < 2] = np.nan
    return cov, cor, n.astype(np.int64)


def _pairwise_corr_vec(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Pairwise-complete correlation of each column of ``x`` with the vector ``t`` (no NaN in ``t``)."""
    obs = ~np.isnan(x)
    m = obs.astype(float)
    x0 = np.where(obs, x - np.nanmean(x, axis=0), 0.0)
    t0 = t - t.mean()
    n = m.sum(axis=0)
    sx = x0.sum(axis=0)
    st = m.T @ t0
    sxt = x0.T @ t0
    sxx = (x0 * x0).sum(axis=0)
    stt = m.T @ (t0 * t0)
    return (sxt - sx * st / n) / np.sqrt((sxx - sx**2 / n) * (stt - st**2 / n))


# ---------------------------------------------------------------------------
# input handling shared by the public functions
# ---------------------------------------------------------------------------


def _as_item_frame(items: Any, name: str = "items") -> pd.DataFrame:
    if isinstance(items, pd.DataFrame):
        df = items
    elif isinstance(items, pd.Series):
        raise ValueError(f"`{name}` must have one column per item (at least two); got a Series.")
    else:
        arr = np.asarray(items)
        if arr.ndim != 2:
            raise ValueError(f"`{name}` must be two-dimensional (respondents x items); got shape {arr.shape}.")
        df = pd.DataFrame(arr)
    bad = [c for c in df.columns if not (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        raise TypeError(
            f"`{name}` must hold numeric item responses; {len(bad)} non-numeric column(s) {few(bad)}. "
            "Map text labels to codes first (teamculture.score accepts labels)."
        )
    if df.columns.has_duplicates:
        dup = df.columns[df.columns.duplicated()].tolist()
        raise ValueError(f"`{name}` has duplicated column names {few(dup)}; item names must be unique.")
    return df


def _parse_keys(keys: Any, columns: pd.Index) -> tuple[list[Any], np.ndarray]:
    """Return (selected columns, reversed flags) from the ``keys`` argument."""
    cols = list(columns)
    if keys is None:
        return cols, np.zeros(len(cols), dtype=bool)
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence | np.ndarray | pd.Series | pd.Index):
        raise TypeError(
            "`keys` must be None, a sequence of column names optionally prefixed with '-' "
            "(e.g. ['-A1', 'A2']), or a sequence of booleans / +1 / -1 with one entry per column; "
            f"got {type(keys).__name__}."
        )
    keys = list(keys)
    if not keys:
        raise ValueError("`keys` is empty; pass None to use every column unreversed.")
    if all(isinstance(k, str) for k in keys):
        names = [k[1:] if k.startswith("-") else k for k in keys]
        reverse = np.array([k.startswith("-") for k in keys], dtype=bool)
        str_cols = {str(c): c for c in cols}
        unknown = [k for k in names if k not in str_cols]
        if unknown:
            raise ValueError(
                f"`keys` names {len(unknown)} item(s) that are not columns of `items`: {few(unknown)}; "
                f"columns are {few([str(c) for c in cols], 8)}."
            )
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"`keys` names item(s) more than once: {few(dup)}.")
        return [str_cols[n] for n in names], reverse
    if len(keys) != len(cols):
        raise ValueError(
            f"`keys` given as flags must have one entry per column ({len(cols)}); got {len(keys)}."
        )
    if all(isinstance(k, (bool, np.bool_)) for k in keys):
        return cols, np.array(keys, dtype=bool)
    try:
        num = np.array(keys, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            "`keys` must be column names (str, '-' prefix to reverse), booleans (True = reverse-keyed) "
            f"or +1/-1; got a mixture {few(keys)}."
        ) from None
    bad = [k for k in keys if k not in (1, -1)]
    if bad:
        raise ValueError(f"numeric `keys` must be +1 or -1 (psych style); {len(bad)} other value(s) {few(bad)}.")
    return cols, num < 0


def _parse_bounds(bounds: Any, columns: list[Any], reverse: np.ndarray) -> np.ndarray | None:
    """Return an array (k, 2) of declared (low, high) bounds, or None when not given."""
    if bounds is None:
        if reverse.any():
            rev = [c for c, r in zip(columns, reverse) if r]
            raise ValueError(
                f"{int(reverse.sum())} item(s) {few(rev)} are reverse-keyed but `bounds` is None. "
                "Pass the declared response-scale bounds, e.g. bounds=(1, 5), so that items are "
                "reversed as low + high - x; teamculture never uses the observed min/max "
                "(psych's default), which depends on which answers happen to occur."
            )
        return None
    if isinstance(bounds, Mapping):
        missing = [c for c in columns if c not in bounds and str(c) not in bounds]
        if missing:
            raise ValueError(f"`bounds` has no entry for {len(missing)} item(s) {few(missing)}.")
        pairs = [bounds[c] if c in bounds else bounds[str(c)] for c in columns]
    else:
        pairs = [bounds] * len(columns)
    out = np.empty((len(columns), 2))
    for i, (c, p) in enumerate(zip(columns, pairs)):
        try:
            lo, hi = (float(v) for v in p)
        except (TypeError, ValueError):
            raise TypeError(
                f"`bounds` must be a (low, high) pair or a mapping item -> (low, high); got {p!r} for {c!r}."
            ) from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"`bounds` for item {c!r} must be finite with low < high; got {p!r}.")
        out[i] = lo, hi
    return out


def _prepare(
    items: Any, keys: Any, bounds: Any, nan_policy: str, *, min_items: int = 2
) -> tuple[np.ndarray, list[Any], np.ndarray, np.ndarray, int]:
    """Validate and return (x keyed float copy, names, reverse, row mask used, n_dropped)."""
    check_choice("nan_policy", nan_policy, _NAN_POLICIES)
    df = _as_item_frame(items)
    cols, reverse = _parse_keys(keys, df.columns)
    if len(cols) < min_items:
        raise ValueError(f"`items` must have at least {min_items} items (columns); got {len(cols)}.")
    b = _parse_bounds(bounds, cols, reverse)
    x = df[cols].to_numpy(dtype=float, na_value=np.nan, copy=True)
    if np.isinf(x).any():
        bad = [cols[j] for j in np.flatnonzero(np.isinf(x).any(axis=0))]
        raise ValueError(f"`items` contains infinite values in {len(bad)} column(s) {few(bad)}.")
    if b is not None:
        with np.errstate(invalid="ignore"):
            out = (x < b[:, 0]) | (x > b[:, 1])
        if out.any():
            j = int(np.flatnonzero(out.any(axis=0))[0])
            vals = np.unique(x[out[:, j], j]).tolist()
            raise ValueError(
                f"column {cols[j]!r} of `items` has {int(out[:, j].sum())} value(s) outside the declared "
                f"bounds [{b[j, 0]:g}, {b[j, 1]:g}]: {few(vals)} ({int(out.sum())} out-of-bounds values in all)."
            )
        x[:, reverse] = b[reverse, 0] + b[reverse, 1] - x[:, reverse]
    miss = np.isnan(x)
    if nan_policy == "raise" and miss.any():
        rows = np.flatnonzero(miss.any(axis=1))
        raise ValueError(
            f"`items` has missing values in {len(rows)} row(s) {few(rows.tolist())}; "
            "nan_policy='raise'. Use nan_policy='omit' (complete cases) or 'pairwise' (as psych)."
        )
    if nan_policy == "omit":
        used = ~miss.any(axis=1)
    else:
        used = ~miss.all(axis=1)
    n_dropped = int((~used).sum())
    if n_dropped:
        what = "with a missing item" if nan_policy == "omit" else "with no answered item"
        warnings.warn(
            f"{n_dropped} of {len(x)} respondents {what} were excluded (nan_policy={nan_policy!r}).",
            DroppedDataWarning,
            stacklevel=3,
        )
    return x[used], cols, reverse, used, n_dropped


def _covariance(x: np.ndarray, nan_policy: str, names: list[Any], *, pair_cor: bool = False) -> Any:
    """Covariance matrix under ``nan_policy`` (validated); with ``pair_cor`` also the
    correlation matrix (R ``cor(use = "pairwise")`` when pairwise with missing values)."""
    r_pair = None
    if nan_policy == "pairwise" and np.isnan(x).any():
        c, r_pair, npair = _pairwise_cov_cor(x)
        if (npair < 2).any():
            i, j = np.argwhere(npair < 2)[0]
            raise ValueError(
                f"items {names[i]!r} and {names[j]!r} have fewer than two respondents in common; "
                "their covariance is undefined."
            )
    else:
        if x.shape[0] < 2:
            raise ValueError(f"`items` needs at least two usable respondents; got {x.shape[0]}.")
        c = np.cov(x, rowvar=False, ddof=1)
    var = np.diag(c)
    if (var <= 0).any():
        bad = [names[j] for j in np.flatnonzero(var <= 0)]
        raise ValueError(
            f"{len(bad)} item(s) have zero variance {few(bad)}; reliability needs items that vary "
            "(remove them or check the data)."
        )
    if pair_cor:
        if r_pair is None:
            r_pair = _cov_to_cor(c)
        else:
            np.fill_diagonal(r_pair, 1.0)
        return c, r_pair
    return c


# ---------------------------------------------------------------------------
# Cronbach's alpha
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaResult:
    """Result of :func:`cronbach_alpha`.

    Attributes
    ----------
    alpha : float
        Raw (covariance-based) Cronbach's alpha.
    std_alpha : float
        Standardised alpha, from the correlation matrix.
    lambda6 : float
        Guttman's lambda-6, using squared multiple correlations.
    average_r : float
        Mean inter-item correlation.
    median_r : float
        Median inter-item correlation.
    ase : float
        Asymptotic standard error of raw alpha (Duhachek & Iacobucci 2004).
    mean, sd : float
        Mean and standard deviation of the respondents' item-mean scores
        (mean of the answered, keyed items).
    n_items : int
        Number of items.
    n_obs : int
        Respondents used (the ``n`` of the intervals).
    n_dropped : int
        Respondents excluded under ``nan_policy``.
    nan_policy : str
        How missing responses were handled.
    items : pandas.DataFrame
        One row per item (indexed by item name), columns ``reversed``, ``n``,
        ``mean``, ``sd`` (of the keyed item), ``r_raw`` (item--total
        correlation), ``r_std`` (the same from the correlation matrix),
        ``r_cor`` (corrected for item overlap and reliability), ``r_drop``
        (item--rest correlation), ``alpha_if_deleted``,
        ``std_alpha_if_deleted``, ``lambda6_if_deleted``,
        ``average_r_if_deleted`` (NaN when only two items).
    """

    alpha: float
    std_alpha: float
    lambda6: float
    average_r: float
    median_r: float
    ase: float
    mean: float
    sd: float
    n_items: int
    n_obs: int
    n_dropped: int
    nan_policy: str
    items: pd.DataFrame = field(repr=False)

    def confidence_interval(self, confidence_level: float = 0.95, method: str = "feldt") -> tuple[float, float]:
        """Confidence interval for raw alpha.

        Parameters
        ----------
        confidence_level : float, default 0.95
            In (0, 1).
        method : {"feldt", "duhachek"}
            ``"feldt"``: exact under the parallel-items normal model (Feldt,
            Woodruff & Salih 1987), ``1 - (1 - alpha) F`` with
            ``F ~ F(n - 1, (n - 1)(k - 1))``; ``"duhachek"``: Wald interval
            ``alpha -/+ z * ase`` with the asymptotic standard error of
            Duhachek & Iacobucci (2004), valid without parallel items.

        Returns
        -------
        (low, high) : tuple of float
        """
        level = check_probability("confidence_level", confidence_level, open_low=True, open_high=True)
        check_choice("method", method, _CI_METHODS)
        p = 1.0 - level
        if method == "feldt":
            df1 = self.n_obs - 1
            df2 = (self.n_obs - 1) * (self.n_items - 1)
            low = 1.0 - (1.0 - self.alpha) * stats.f.isf(p / 2, df1, df2)
            high = 1.0 - (1.0 - self.alpha) * stats.f.ppf(p / 2, df1, df2)
        else:
            z = stats.norm.isf(p / 2)
            low = self.alpha - z * self.ase
            high = self.alpha + z * self.ase
        return float(low), float(high)

    def summary(self) -> str:
        """A formatted report (totals, both intervals, item table)."""
        fl, fh = self.confidence_interval(method="feldt")
        dl, dh = self.confidence_interval(method="duhachek")
        lines = [
            f"Cronbach's alpha: {self.n_items} items, {self.n_obs} respondents "
            f"({self.n_dropped} dropped, nan_policy={self.nan_policy!r})",
            f"  raw alpha {self.alpha:.3f}   std alpha {self.std_alpha:.3f}   lambda-6 {self.lambda6:.3f}   "
            f"average r {self.average_r:.3f}   median r {self.median_r:.3f}",
            f"  95% CI Feldt    [{fl:.3f}, {fh:.3f}]",
            f"  95% CI Duhachek [{dl:.3f}, {dh:.3f}]   (ase {self.ase:.4f})",
            f"  score mean {self.mean:.3f}  sd {self.sd:.3f}",
            "",
            self.items.to_string(float_format=lambda v: f"{v:.3f}"),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def cronbach_alpha(
    items: Any,
    keys: Any = None,
    *,
    bounds: Any = None,
    nan_policy: str = "omit",
) -> AlphaResult:
    r"""Cronbach's alpha with lambda-6, intervals and an item analysis.

    R: ``psych::alpha`` (identical statistics; see Notes for the keying and
    missing-data differences).

    Parameters
    ----------
    items : DataFrame or array_like, shape (n_respondents, k)
        Numeric item responses, one column per item (k >= 2); ``NaN`` for
        missing. Not modified.
    keys : sequence, optional
        Which items to use and which are reverse-keyed. Either column names,
        reverse-keyed ones prefixed with ``"-"`` (``["-A1", "A2", "A3"]``;
        only the named columns are used, in that order), or one boolean per
        column (``True`` = reverse-keyed), or one ``+1``/``-1`` per column
        (psych style). Default: all columns, none reversed.
    bounds : (low, high) or mapping, optional
        Declared response-scale bounds, one pair for all items or a mapping
        item -> pair. Required when any item is reverse-keyed (reversed as
        ``low + high - x``). When given, responses outside the bounds raise
        ``ValueError``.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        ``"omit"``: complete cases only (listwise deletion; one consistent
        covariance matrix). ``"pairwise"``: pairwise-complete covariances, as
        ``psych::alpha(use = "pairwise")`` (the psych default), dropping only
        respondents with no answered item. ``"raise"``: missing values are an
        error. Excluded respondents are counted in ``n_dropped`` and reported
        with a :class:`~teamculture.errors.DroppedDataWarning`.

    Returns
    -------
    AlphaResult
        Frozen result; see :class:`AlphaResult`. ``confidence_interval()``
        gives Feldt and Duhachek intervals.

    Notes
    -----
    With item covariance matrix :math:`C` (k items), correlation matrix
    :math:`R`, :math:`V = \mathbf 1^\top C \mathbf 1`:

    .. math::

        \alpha = \frac{k}{k-1}\Bigl(1 - \frac{\operatorname{tr} C}{V}\Bigr),\quad
        \alpha_{std} = \frac{k}{k-1}\Bigl(1 - \frac{k}{\mathbf 1^\top R \mathbf 1}\Bigr)
        = \frac{k \bar r}{1 + (k-1)\bar r},\quad
        \lambda_6 = 1 - \frac{\sum_i (1 - \mathrm{smc}_i)}{\mathbf 1^\top R \mathbf 1},

    where :math:`\mathrm{smc}_i = 1 - 1/(R^{-1})_{ii}` and :math:`\bar r`
    is the mean off-diagonal correlation. The Duhachek & Iacobucci (2004)
    asymptotic variance is :math:`Q/n` with

    .. math::

        Q = \frac{2k^2}{(k-1)^2 V^3}\bigl[V(\operatorname{tr} C^2 + (\operatorname{tr} C)^2)
        - 2 \operatorname{tr} C \, \mathbf 1^\top C^2 \mathbf 1\bigr].

    The item table: ``r_raw`` is the correlation of the item with the
    respondents' mean score; ``r_std = (R\mathbf 1)_i / \sqrt{\mathbf 1^\top
    R\mathbf 1}``; ``r_cor`` is the same with the diagonal of :math:`R`
    replaced by the smc's; ``r_drop`` is the correlation of the item with the
    sum of the other items, from :math:`C`.

    Differences from psych: psych reverses items with the observed minimum
    and maximum over all items; teamculture uses the declared ``bounds``.
    psych's default missing-data handling corresponds to
    ``nan_policy="pairwise"``, and psych's interval ``n`` counts every row,
    including rows with no answers (teamculture drops and counts those).
    psych silently deletes zero-variance items; teamculture raises.

    References
    ----------
    .. [1] Cronbach, L. J. (1951). Coefficient alpha and the internal
       structure of tests. Psychometrika, 16, 297-334.
    .. [2] Guttman, L. (1945). A basis for analyzing test-retest reliability.
       Psychometrika, 10, 255-282.
    .. [3] Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical
       inference for coefficient alpha. Applied Psychological Measurement,
       11, 93-103.
    .. [4] Duhachek, A., & Iacobucci, D. (2004). Alpha's standard error (ASE):
       an accurate and precise confidence interval estimate. Journal of
       Applied Psychology, 89, 792-808.
    .. [5] Revelle, W. psych: Procedures for Psychological, Psychometric,
       and Personality Research (``alpha``).

    Examples
    --------
    >>> import teamculture as tc
    >>> survey = tc.national_survey("small", seed=1)
    >>> items = survey.staff[["cl1", "cl2", "cl3", "cl4"]].dropna()
    >>> res = tc.cronbach_alpha(items)
    >>> round(res.alpha, 3), round(res.std_alpha, 3), res.n_items, res.n_obs
    (0.868, 0.868, 4, 9191)
    >>> low, high = res.confidence_interval(method="feldt")
    >>> bool(low < res.alpha < high)
    True

    Reverse-keyed items need the declared scale bounds:

    >>> ps = survey.staff[[f"ps{i}" for i in range(1, 8)]].dropna()
    >>> res = tc.cronbach_alpha(ps, keys=["-ps1", "ps2", "-ps3", "ps4", "-ps5", "ps6", "ps7"],
    ...                         bounds=(1, 7))
    >>> res.items.loc[["ps1", "ps2"], ["reversed", "r_drop"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
          reversed  r_drop
    item
    ps1       True    0.81
    ps2      False    0.81
    """
    x, cols, reverse, _, n_dropped = _prepare(items, keys, bounds, nan_policy)
    c = _covariance(x, nan_policy, cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        # square roots of negative totals (items that correlate negatively) are NaN, as in psych
        return _alpha_result(x, c, cols, reverse, n_dropped, nan_policy)


def _alpha_result(
    x: np.ndarray, c: np.ndarray, cols: list[Any], reverse: np.ndarray, n_dropped: int, nan_policy: str
) -> AlphaResult:
    r = _cov_to_cor(c)
    k = len(cols)
    n = x.shape[0]
    core = _alpha_core(c, r)

    complete = not np.isnan(x).any()
    if complete:
        # closed forms from C for complete data: the item-mean score has variance
        # 1'C1 / k^2 and covariance (C1)_i / k with item i
        item_mean = x.mean(axis=0)
        item_sd = np.sqrt(np.diag(c))
        n_item = np.full(k, n, dtype=np.int64)
        total_mean = float(item_mean.mean())
        total_sd = float(np.sqrt(c.sum()) / k)
        r_raw = c.sum(axis=0) / np.sqrt(np.diag(c) * c.sum())
    else:
        with np.errstate(invalid="ignore"):
            total = np.nanmean(x, axis=1)
        item_mean = np.nanmean(x, axis=0)
        item_sd = np.nanstd(x, axis=0, ddof=1)
        n_item = (~np.isnan(x)).sum(axis=0).astype(np.int64)
        total_mean = float(total.mean())
        total_sd = float(total.std(ddof=1))
        r_raw = _pairwise_corr_vec(x, total)
    sum_r = r.sum()
    r_std = r.sum(axis=0) / np.sqrt(sum_r)
    rc = r.copy()
    np.fill_diagonal(rc, _smc(r))
    r_cor = rc.sum(axis=0) / np.sqrt(rc.sum())
    col_sum = c.sum(axis=0)
    diag = np.diag(c)
    r_drop = (col_sum - diag) / np.sqrt(diag * (c.sum() - 2 * col_sum + diag))
    drop = np.full((k, 4), np.nan)
    if k > 2:
        for i in range(k):
            keep = np.arange(k) != i
            d = _alpha_core(c[np.ix_(keep, keep)], r[np.ix_(keep, keep)])
            drop[i] = d["alpha"], d["std_alpha"], d["lambda6"], d["average_r"]
    table = pd.DataFrame(
        {
            "reversed": reverse.astype(bool),
            "n": n_item,
            "mean": item_mean,
            "sd": item_sd,
            "r_raw": r_raw,
            "r_std": r_std,
            "r_cor": r_cor,
            "r_drop": r_drop,
            "alpha_if_deleted": drop[:, 0],
            "std_alpha_if_deleted": drop[:, 1],
            "lambda6_if_deleted": drop[:, 2],
            "average_r_if_deleted": drop[:, 3],
        },
        index=pd.Index(cols, name="item"),
    )[_ITEM_COLUMNS]
    return AlphaResult(
        alpha=core["alpha"],
        std_alpha=core["std_alpha"],
        lambda6=core["lambda6"],
        average_r=core["average_r"],
        median_r=core["median_r"],
        ase=float(np.sqrt(core["q"] / n)) if core["q"] >= 0 else float("nan"),
        mean=total_mean,
        sd=total_sd,
        n_items=k,
        n_obs=int(n),
        n_dropped=n_dropped,
        nan_policy=nan_policy,
        items=table,
    )


# ---------------------------------------------------------------------------
# factor analysis core for omega: minres extraction, oblimin rotation, Schmid-Leiman
# ---------------------------------------------------------------------------


def _minres(s: np.ndarray, m: int, *, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Minimum-residual (unweighted least squares) factor extraction.

    Minimises the concentrated ULS criterion ``0.5 * sum_{i > m} lambda_i^2``
    over the uniquenesses ``psi`` (``lambda_i`` the eigenvalues of
    ``S - diag(psi)`` in decreasing order), whose gradient is
    ``-diag(E)`` with ``E`` the residual of the best rank-``m`` approximation;
    at an interior optimum the off-diagonal residuals are minimal (Harman's
    minres) and the diagonal residuals vanish. Returns (loadings k x m, psi,
    converged).
    """
    k = s.shape[0]

    def fun(psi: np.ndarray) -> tuple[float, np.ndarray]:
        w, v = np.linalg.eigh(s - np.diag(psi))
        w = w[::-1]
        v = v[:, ::-1]
        rest = w[m:]
        f = 0.5 * float(rest @ rest)
        grad = -(v[:, m:] ** 2) @ rest
        return f, grad

    start = np.diag(s) * (1.0 - _smc(_cov_to_cor(s)))
    start = np.clip(start, lower, upper)
    res = optimize.minimize(
        fun,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lower, upper)),
        options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 10_000, "maxcor": 30},
    )
    psi = res.x
    w, v = np.linalg.eigh(s - np.diag(psi))
    w = w[::-1][:m]
    v = v[:, ::-1][:, :m]
    loadings = v * np.sqrt(np.maximum(w, 0.0))
    # sign convention: each factor's loadings sum to a non-negative number
    sgn = np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)
    grad_ok = np.max(np.abs(fun(psi)[1][(psi > lower + 1e-12) & (psi < upper - 1e-12)]), initial=0.0) < 1e-7
    return loadings * sgn, psi, bool(res.success or grad_ok)


def _oblimin(a: np.ndarray, *, gamma: float = 0.0, eps: float = 1e-8, maxit: int = 5000) -> tuple[np.ndarray, np.ndarray, bool]:
    """Direct oblimin rotation by the gradient projection algorithm.

    Bernaards & Jennrich (2005): minimise the oblimin criterion
    ``Q(L) = 1/4 * sum(L^2 * ((I - gamma/p 11') L^2 N))`` with ``N = 11' - I``
    over oblique rotations ``L = A (T')^{-1}``, ``T`` with unit-length
    columns. Returns (pattern loadings, factor correlations ``T'T``,
    converged).
    """
    p, m = a.shape
    n_mat = np.ones((m, m)) - np.eye(m)

    def vgq(lam: np.ndarray) -> tuple[float, np.ndarray]:
        l2 = lam**2
        if gamma:
            l2c = l2 - gamma * l2.mean(axis=0)
        else:
            l2c = l2
        x = l2c @ n_mat
        return float(np.sum(l2 * x) / 4.0), lam * x

    t = np.eye(m)
    lam = a.copy()
    f, gq = vgq(lam)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    al = 1.0
    converged = False
    for _ in range(maxit):
        gp = g - t @ np.diag(np.sum(t * g, axis=0))
        s = float(np.sqrt(np.sum(gp**2)))
        if s < eps:
            converged = True
            break
        al *= 2.0
        accepted = False
        for _ in range(30):
            xm = t - al * gp
            tt = xm / np.sqrt(np.sum(xm**2, axis=0))
            lam_t = a @ np.linalg.inv(tt).T
            ft, gq_t = vgq(lam_t)
            if ft < f - 0.5 * s**2 * al:
                accepted = True
                break
            al /= 2.0
        if not accepted:
            # no descent possible at working precision: stationary point reached
            converged = s < 1e-6
            break
        t, lam, f, gq = tt, lam_t, ft, gq_t
        g = -(lam.T @ gq @ np.linalg.inv(t)).T
    if not converged:
        gp = g - t @ np.diag(np.sum(t * g, axis=0))
        converged = float(np.sqrt(np.sum(gp**2))) < 1e-6
    phi = t.T @ t
    return lam, phi, converged


def _schmid_leiman(r: np.ndarray, m: int) -> dict[str, Any]:
    """Schmid-Leiman solution of a correlation matrix with ``m`` group factors."""
    k = r.shape[0]
    orth, _psi, ok = _minres(r, m, lower=np.full(k, 0.005), upper=np.ones(k))
    h2 = np.sum(orth**2, axis=1)
    if m == 1:
        pattern = orth
        phi = np.ones((1, 1))
        g_of_factors = np.ones(1)
    else:
        pattern, phi, ok_rot = _oblimin(orth)
        ok = ok and ok_rot
        # order factors by the variance of their pattern loadings and make column sums positive
        order = np.argsort(-np.sum(pattern**2, axis=0), kind="stable")
        sgn = np.where(pattern[:, order].sum(axis=0) < 0, -1.0, 1.0)
        pattern = pattern[:, order] * sgn
        phi = phi[np.ix_(order, order)] * np.outer(sgn, sgn)
        if m == 2:
            # two group factors do not identify a second-order factor: equal loadings
            # sqrt(|phi_12|) (psych's option = "equal")
            root = np.sqrt(abs(phi[0, 1]))
            g_of_factors = np.array([root, np.sign(phi[0, 1]) * root])
        else:
            gl, _, ok_g = _minres(phi, 1, lower=np.full(m, 0.005), upper=np.ones(m))
            ok = ok and ok_g
            g_of_factors = gl[:, 0]
    g = pattern @ g_of_factors
    group = pattern * np.sqrt(np.clip(1.0 - g_of_factors**2, 0.0, None))
    return {"g": g, "group": group, "h2": h2, "u2": 1.0 - h2, "pattern": pattern, "phi": phi, "converged": ok}


@dataclass(frozen=True)
class OmegaResult:
    """Result of :func:`omega`.

    Attributes
    ----------
    omega_total : float
        McDonald's omega total, ``(1'R1 - sum u2) / 1'R1``.
    omega_hierarchical : float
        Omega hierarchical, ``(sum g)^2 / 1'R1``.
    omega_limit : float
        ``(sum g)^2 / (1'R1 - sum u2)``: omega hierarchical for a test of
        infinitely many items (psych's ``omega.lim``).
    alpha : float
        Standardised alpha of the (reflected) correlation matrix.
    n_factors : int
        Number of group factors extracted.
    loadings : pandas.DataFrame
        Schmid--Leiman solution, one row per item: ``g``, ``F1``..``Fm``
        (group factors, residualised), ``h2`` (communality), ``u2``
        (uniqueness), ``p2`` (``g^2 / h2``).
    factor_correlations : pandas.DataFrame
        Correlations of the oblique group factors (``m x m``).
    reflected : tuple
        Items reflected because their general-factor loading was negative.
    n_obs, n_dropped : int
        Respondents used and excluded.
    converged : bool
        Whether the extraction and rotation met their tolerances.
    """

    omega_total: float
    omega_hierarchical: float
    omega_limit: float
    alpha: float
    n_factors: int
    loadings: pd.DataFrame = field(repr=False)
    factor_correlations: pd.DataFrame = field(repr=False)
    reflected: tuple
    n_obs: int
    n_dropped: int
    converged: bool

    def summary(self) -> str:
        """A formatted report."""
        lines = [
            f"Omega: {len(self.loadings)} items, {self.n_factors} group factor(s), {self.n_obs} respondents "
            f"({self.n_dropped} dropped)",
            f"  omega total {self.omega_total:.3f}   omega hierarchical {self.omega_hierarchical:.3f}   "
            f"omega limit {self.omega_limit:.3f}   alpha {self.alpha:.3f}",
        ]
        if self.reflected:
            lines.append(f"  reflected (negative g loading): {', '.join(map(str, self.reflected))}")
        lines += ["", "Schmid-Leiman loadings:", self.loadings.to_string(float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def omega(
    items: Any,
    n_factors: int = 3,
    *,
    keys: Any = None,
    bounds: Any = None,
    nan_policy: str = "omit",
) -> OmegaResult:
    r"""McDonald's omega total and omega hierarchical (Schmid--Leiman).

    R: ``psych::omega(x, nfactors = n_factors, fm = "minres", rotate = "oblimin")``.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n_respondents, k)
        Numeric item responses (k >= 3); not modified.
    n_factors : int, default 3
        Number of group factors (psych's default is 3). With 1 the model is a
        single factor: ``omega_hierarchical`` then equals the one-factor
        omega (psych warns that it is "not meaningful"); with 2 the general
        factor is not identified and its loadings on the two group factors are
        set equal, ``sqrt(|phi_12|)`` (psych's ``option = "equal"``).
    keys, bounds, nan_policy
        As in :func:`cronbach_alpha`. ``nan_policy="pairwise"`` uses the
        pairwise-complete correlation matrix, each correlation computed from
        its pair's complete cases as R's ``cor(use = "pairwise")`` (psych's
        default for ``omega``; ``psych::alpha`` instead rescales pairwise
        covariances, which :func:`cronbach_alpha` follows).

    Returns
    -------
    OmegaResult

    Notes
    -----
    1. ``m`` factors are extracted from the item correlation matrix
       :math:`R` by minimum residuals (unweighted least squares, Harman
       1976), uniquenesses bounded to [0.005, 1] as in psych.
    2. The loadings are rotated obliquely by direct oblimin (quartimin,
       gamma = 0; gradient projection, Bernaards & Jennrich 2005), giving a
       pattern :math:`F` and factor correlations :math:`\Phi`.
    3. A general factor is extracted from :math:`\Phi` (one-factor minres;
       loadings :math:`\gamma`). Schmid & Leiman (1957): item loadings on
       the general factor :math:`g = F\gamma`, on the residualised group
       factors :math:`F_{ij}\sqrt{1-\gamma_j^2}`.
    4. Items with a negative general-factor loading are reflected. With
       :math:`h^2_i` the communalities of step 1 and :math:`u^2_i = 1 - h^2_i`:

    .. math::

        \omega_t = \frac{\mathbf 1^\top R\mathbf 1 - \sum_i u^2_i}{\mathbf 1^\top R\mathbf 1},
        \qquad
        \omega_h = \frac{(\sum_i g_i)^2}{\mathbf 1^\top R\mathbf 1}

    (McDonald 1999; Zinbarg et al. 2005), with the *observed* total
    variance in the denominator, as psych does.

    Accuracy against psych: teamculture solves the minres and rotation
    problems to tight tolerances (oblimin projected gradient < 1e-8); psych stops
    ``optim`` at its default tolerance and GPArotation at 1e-5, so psych's
    loadings and communalities differ from the optimum by up to ~1e-5 on
    the test data, and omega values agree to about 1e-7 (omega total) and
    2e-6 relative (omega hierarchical); the tests use tolerances 5-10 times
    larger. A different oblimin local optimum
    is possible on badly determined solutions (as in any software).

    References
    ----------
    .. [1] McDonald, R. P. (1999). Test theory: A unified treatment. Erlbaum.
    .. [2] Zinbarg, R. E., Revelle, W., Yovel, I., & Li, W. (2005).
       Cronbach's alpha, Revelle's beta, and McDonald's omega_h.
       Psychometrika, 70, 123-133.
    .. [3] Schmid, J., & Leiman, J. M. (1957). The development of
       hierarchical factor solutions. Psychometrika, 22, 53-61.
    .. [4] Bernaards, C. A., & Jennrich, R. I. (2005). Gradient projection
       algorithms and software for arbitrary rotation criteria in factor
       analysis. Educational and Psychological Measurement, 65, 676-696.

    Examples
    --------
    Nine items measuring a general factor and three group factors:

    >>> import numpy as np
    >>> import teamculture as tc
    >>> rng = np.random.default_rng(0)
    >>> g = rng.standard_normal((500, 1))
    >>> s = rng.standard_normal((500, 3))
    >>> x = 0.6 * g + 0.5 * np.repeat(s, 3, axis=1) + 0.6 * rng.standard_normal((500, 9))
    >>> res = tc.omega(x, n_factors=3)
    >>> round(res.omega_total, 3), round(res.omega_hierarchical, 3)
    (0.918, 0.749)
    >>> res.loadings.round(2).head(4)  # doctest: +NORMALIZE_WHITESPACE
             g    F1    F2    F3    h2    u2    p2
    item
    0     0.59  0.54  0.02 -0.02  0.64  0.36  0.54
    1     0.59  0.51  0.03 -0.01  0.61  0.39  0.57
    2     0.58  0.54 -0.04  0.04  0.63  0.37  0.53
    3     0.63  0.04  0.04  0.43  0.58  0.42  0.68
    """
    n_factors = check_int("n_factors", n_factors)
    x, cols, reverse, _, n_dropped = _prepare(items, keys, bounds, nan_policy, min_items=3)
    k = len(cols)
    if n_factors > k // 2 and n_factors > 1:
        raise ValueError(
            f"`n_factors` = {n_factors} is too many for {k} items; at most {max(1, k // 2)} "
            "(each group factor needs at least two items)."
        )
    # with pairwise deletion, as R cor(use = "pairwise"): each correlation from its pair's complete cases
    _c, r = _covariance(x, nan_policy, cols, pair_cor=True)
    sl = _schmid_leiman(r, n_factors)
    if not sl["converged"]:
        warnings.warn(
            "omega: the minres extraction or the oblimin rotation did not meet its tolerance; "
            "the solution may be inaccurate.",
            ConvergenceWarning,
            stacklevel=2,
        )
    key = np.where(sl["g"] < 0, -1.0, 1.0)
    rk = r * np.outer(key, key)
    g = sl["g"] * key
    group = sl["group"] * key[:, None]
    vt = rk.sum()
    sum_u2 = sl["u2"].sum()
    gsq = g.sum() ** 2
    names = [f"F{j + 1}" for j in range(n_factors)]
    table = pd.DataFrame(group, columns=names, index=pd.Index(cols, name="item"))
    table.insert(0, "g", g)
    table["h2"] = sl["h2"]
    table["u2"] = sl["u2"]
    table["p2"] = g**2 / sl["h2"]
    return OmegaResult(
        omega_total=float((vt - sum_u2) / vt),
        omega_hierarchical=float(gsq / vt),
        omega_limit=float(gsq / (vt - sum_u2)),
        alpha=float((vt - k) / vt * k / (k - 1)),
        n_factors=n_factors,
        loadings=table,
        factor_correlations=pd.DataFrame(sl["phi"], index=names, columns=names),
        reflected=tuple(c for c, s in zip(cols, key) if s < 0),
        n_obs=int(x.shape[0]),
        n_dropped=n_dropped,
        converged=bool(sl["converged"]),
    )


# ---------------------------------------------------------------------------
# multilevel reliability
# ---------------------------------------------------------------------------


def _one_factor_omega(s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Omega (Sum l)^2 / ((Sum l)^2 + Sum psi) of a one-factor minres fit to a covariance matrix."""
    d = np.diag(s)
    lam, psi, _ = _minres(s, 1, lower=np.zeros_like(d), upper=d.copy())
    lam = lam[:, 0]
    if lam.sum() < 0:
        lam = -lam
    common = lam.sum() ** 2
    return float(common / (common + psi.sum())), lam, psi


@dataclass(frozen=True)
class MultilevelReliabilityResult:
    """Result of :func:`multilevel_reliability`.

    Attributes
    ----------
    alpha_within, alpha_between : float
        Cronbach's alpha of the within-group and between-group covariance
        matrices (Geldhof et al. 2014). NaN at a level whose covariance
        matrix has a non-positive variance (a
        :class:`~teamculture.errors.BoundaryWarning` is emitted).
    omega_within, omega_between : float
        Omega from a one-factor minres fit to each level's covariance matrix,
        ``(sum l)^2 / ((sum l)^2 + sum psi)``.
    cov_within, cov_between : pandas.DataFrame
        Pooled within-group covariance matrix and method-of-moments
        between-group covariance matrix (items x items).
    items : pandas.DataFrame
        One row per item: ``var_within``, ``var_between``, ``icc1``,
        ``icc2``, ``loading_within``, ``loading_between``.
    n_obs, n_groups, n_dropped : int
        Respondents used, groups, respondents excluded.
    group_size_c : float
        The ANOVA "average group size" ``(N - sum n_j^2 / N) / (G - 1)``.
    """

    alpha_within: float
    alpha_between: float
    omega_within: float
    omega_between: float
    cov_within: pd.DataFrame = field(repr=False)
    cov_between: pd.DataFrame = field(repr=False)
    items: pd.DataFrame = field(repr=False)
    n_obs: int
    n_groups: int
    n_dropped: int
    group_size_c: float

    def summary(self) -> str:
        """A formatted report."""
        lines = [
            f"Multilevel reliability: {len(self.items)} items, {self.n_obs} respondents in {self.n_groups} groups "
            f"({self.n_dropped} dropped; ANOVA group size c = {self.group_size_c:.2f})",
            f"  within groups : alpha {self.alpha_within:.3f}   omega {self.omega_within:.3f}",
            f"  between groups: alpha {self.alpha_between:.3f}   omega {self.omega_between:.3f}",
            "",
            self.items.to_string(float_format=lambda v: f"{v:.3f}"),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def multilevel_reliability(
    items: Any,
    groups: Any,
    *,
    keys: Any = None,
    bounds: Any = None,
    nan_policy: str = "omit",
) -> MultilevelReliabilityResult:
    r"""Within- and between-group alpha and omega (Geldhof, Preacher & Zyphur 2014).

    R: the covariance decomposition is that of ``psych::statsBy`` (its
    ``rwg`` is the pooled within-group correlation matrix, ``ICC1``/``ICC2``
    the item ICCs); the level-specific coefficients are
    ``psych::alpha`` / ``psych::fa`` applied to each level's matrix.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n_respondents, k)
        Numeric item responses (k >= 2); not modified.
    groups : array_like or str
        Group label per respondent, or the name of a column of ``items``
        holding it (that column is then not an item).
    keys, bounds
        As in :func:`cronbach_alpha`.
    nan_policy : {"omit", "raise"}, default "omit"
        Respondents with a missing item are excluded (counted in
        ``n_dropped``, with a :class:`~teamculture.errors.DroppedDataWarning`);
        the decomposition needs complete responses.

    Returns
    -------
    MultilevelReliabilityResult

    Notes
    -----
    With :math:`N` respondents in :math:`G` groups of sizes :math:`n_j`,
    group means :math:`\bar y_j` and grand mean :math:`\bar y`, the ANOVA
    (method-of-moments) estimators are the pooled within-group covariance

    .. math::

        S_W = \frac{1}{N-G}\sum_j\sum_{i\in j}(y_{ij}-\bar y_j)(y_{ij}-\bar y_j)^\top,

    and, with :math:`MS_B = \frac{1}{G-1}\sum_j n_j(\bar y_j-\bar y)(\bar y_j-\bar y)^\top`
    and :math:`c = (N - \sum_j n_j^2/N)/(G-1)`, the between-group covariance
    :math:`\Sigma_B = (MS_B - S_W)/c` (Muthén 1994). Geldhof et al. apply
    the single-level formulas to each level: :math:`\alpha_W` and
    :math:`\alpha_B` are Cronbach's alpha of :math:`S_W` and
    :math:`\Sigma_B`; :math:`\omega_W`, :math:`\omega_B` are
    :math:`(\sum\lambda)^2 / ((\sum\lambda)^2 + \sum\psi)` from a
    one-factor unweighted-least-squares (minres) fit to each matrix. Geldhof
    et al. estimate the two matrices by multilevel CFA (maximum likelihood);
    the moment estimators used here are unbiased and closed-form, and agree
    closely with ML when groups are not tiny. Item ICCs:
    ``icc1 = var_between / (var_between + var_within)``,
    ``icc2 = (MS_B - S_W) / MS_B`` on the diagonal.

    References
    ----------
    .. [1] Geldhof, G. J., Preacher, K. J., & Zyphur, M. J. (2014).
       Reliability estimation in a multilevel confirmatory factor analysis
       framework. Psychological Methods, 19, 72-91.
    .. [2] Muthén, B. O. (1994). Multilevel covariance structure analysis.
       Sociological Methods & Research, 22, 376-398.

    Examples
    --------
    >>> import teamculture as tc
    >>> survey = tc.national_survey("small", seed=1)
    >>> staff = survey.staff.dropna(subset=["cl1", "cl2", "cl3", "cl4"])
    >>> res = tc.multilevel_reliability(staff[["cl1", "cl2", "cl3", "cl4"]], staff["team"])
    >>> res.n_groups, res.n_obs
    (500, 9191)
    >>> round(res.alpha_within, 3), round(res.alpha_between, 3)
    (0.82, 0.999)

    The simulator generates compassionate leadership from one team-level
    factor, so the team means are almost perfectly consistent; within teams
    the items are less so.
    """
    if nan_policy not in ("omit", "raise"):
        raise ValueError(
            f"`nan_policy` must be one of ['omit', 'raise'] for multilevel_reliability; got {nan_policy!r} "
            "(the covariance decomposition needs complete responses)."
        )
    df = _as_item_frame(items) if not isinstance(items, pd.DataFrame) else items
    if isinstance(groups, str):
        if not isinstance(df, pd.DataFrame) or groups not in df.columns:
            raise ValueError(f"`groups` = {groups!r} is not a column of `items`.")
        labels = df[groups].to_numpy()
        df = df.drop(columns=[groups])
    else:
        labels = groups.to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups)
    codes, _ = factorize(labels, len(df), name="groups")
    x, cols, _reverse, used, n_dropped = _prepare(df, keys, bounds, nan_policy)
    codes = codes[used]
    present, codes = np.unique(codes, return_inverse=True)
    n_groups = len(present)
    n = x.shape[0]
    k = len(cols)
    if n_groups < 2:
        raise ValueError(f"`groups` must have at least two groups with complete responses; got {n_groups}.")
    if n <= n_groups:
        raise ValueError(
            f"every group has a single respondent ({n} respondents, {n_groups} groups); "
            "within-group variation cannot be estimated."
        )
    sizes = np.bincount(codes, minlength=n_groups).astype(float)
    sums = np.zeros((n_groups, k))
    np.add.at(sums, codes, x)
    means = sums / sizes[:, None]
    dev_w = x - means[codes]
    s_w = dev_w.T @ dev_w / (n - n_groups)
    grand = x.mean(axis=0)
    dev_b = (means - grand) * np.sqrt(sizes)[:, None]
    ms_b = dev_b.T @ dev_b / (n_groups - 1)
    c = (n - (sizes**2).sum() / n) / (n_groups - 1)
    s_b = (ms_b - s_w) / c
    var_w = np.diag(s_w)
    var_b = np.diag(s_b)
    if (var_w <= 0).any():
        bad = [cols[j] for j in np.flatnonzero(var_w <= 0)]
        raise ValueError(f"{len(bad)} item(s) have no within-group variance {few(bad)}.")
    a_w = _alpha_core(s_w, _cov_to_cor(s_w))["alpha"]
    om_w, lam_w, _ = _one_factor_omega(s_w)
    if (var_b <= 0).any():
        bad = [cols[j] for j in np.flatnonzero(var_b <= 0)]
        warnings.warn(
            f"{len(bad)} item(s) {few(bad)} have a non-positive between-group variance estimate; "
            "between-group reliability is undefined (NaN).",
            BoundaryWarning,
            stacklevel=2,
        )
        a_b = om_b = float("nan")
        lam_b = np.full(k, np.nan)
    else:
        a_b = _alpha_core(s_b, _cov_to_cor(s_b))["alpha"]
        om_b, lam_b, _ = _one_factor_omega(s_b)
    index = pd.Index(cols, name="item")
    table = pd.DataFrame(
        {
            "var_within": var_w,
            "var_between": var_b,
            "icc1": var_b / (var_b + var_w),
            "icc2": np.divide(np.diag(ms_b) - var_w, np.diag(ms_b), out=np.full(k, np.nan), where=np.diag(ms_b) > 0),
            "loading_within": lam_w,
            "loading_between": lam_b,
        },
        index=index,
    )
    return MultilevelReliabilityResult(
        alpha_within=float(a_w),
        alpha_between=float(a_b),
        omega_within=float(om_w),
        omega_between=float(om_b),
        cov_within=pd.DataFrame(s_w, index=index, columns=index.copy()),
        cov_between=pd.DataFrame(s_b, index=index, columns=index.copy()),
        items=table,
        n_obs=int(n),
        n_groups=int(n_groups),
        n_dropped=n_dropped,
        group_size_c=float(c),
    )


# ---------------------------------------------------------------------------
# reliability of every subscale of an instrument
# ---------------------------------------------------------------------------

_RELIABILITY_COLUMNS = [
    "composite",
    "n_items",
    "n_obs",
    "n_dropped",
    "alpha",
    "ci_low",
    "ci_high",
    "std_alpha",
    "lambda6",
    "average_r",
    "omega_total",
]


def instrument_reliability(
    data: pd.DataFrame,
    instrument: Any,
    *,
    columns: Mapping[str, str] | None = None,
    survey_year: int | str | None = None,
    scale: Any = None,
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
    ci_method: str = "feldt",
    invalid: str = "raise",
) -> pd.DataFrame:
    r"""Reliability of every subscale (and composite) of an instrument.

    R: ``psych::scoreItems(keys, x, impute = "none")$alpha`` and
    ``psych::alpha`` / ``psych::omega(nfactors = 1)`` per subscale.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent, one column per item (numeric codes or the
        scale's text labels). Not modified.
    instrument : str, Instrument, dict or psych-style keys
        Anything :func:`teamculture.instruments.resolve` accepts: a catalogue
        id (``"nhs-engagement"``), an :class:`~teamculture.Instrument`, a
        definition dict, or keys ``{"agree": ["-A1", "A2"]}`` (then ``scale``
        is required).
    columns, survey_year, scale, invalid
        As in :func:`teamculture.score`: map data columns to item ids, give
        the response scale for psych-style keys, and say whether codes
        outside the scale raise (default) or count as missing. Codes meaning
        "does not apply"/"don't know" are missing.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        Per subscale, as in :func:`cronbach_alpha` (``"omit"``: respondents
        who answered every item of the subscale). One
        :class:`~teamculture.errors.DroppedDataWarning` summarises the
        exclusions.
    confidence_level : float, default 0.95
    ci_method : {"feldt", "duhachek"}, default "feldt"
        Interval for alpha (see :meth:`AlphaResult.confidence_interval`).

    Returns
    -------
    pandas.DataFrame
        Indexed by subscale name (then composites), columns ``composite``
        (bool), ``n_items``, ``n_obs``, ``n_dropped``, ``alpha``, ``ci_low``,
        ``ci_high``, ``std_alpha``, ``lambda6``, ``average_r`` and
        ``omega_total`` (one-factor omega total, as ``psych::omega(nfactors =
        1)``; NaN for fewer than three items). Statistics are NaN for a
        subscale with fewer than two items. Reverse-keyed items are reversed
        with the declared scale bounds.

    Notes
    -----
    Each row is :func:`cronbach_alpha` on the subscale's keyed items (and
    :func:`omega` with one factor); a composite's row uses all the items of
    its subscales. See those functions for the formulas.

    Examples
    --------
    >>> import teamculture as tc
    >>> survey = tc.national_survey("small", seed=1)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", tc.errors.DroppedDataWarning)
    ...     table = tc.instrument_reliability(survey.staff, "nhs-engagement")
    >>> table[["n_items", "n_obs", "alpha", "ci_low", "ci_high", "omega_total"]].round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
                 n_items  n_obs  alpha  ci_low  ci_high  omega_total
    subscale
    motivation         3   9395  0.873   0.868    0.877        0.873
    involvement        3   9403  0.877   0.873    0.882        0.877
    advocacy           3   9428  0.874   0.870    0.878        0.874
    engagement         9   8321  0.955   0.953    0.956        0.955
    """
    level = check_probability("confidence_level", confidence_level, open_low=True, open_high=True)
    check_choice("ci_method", ci_method, _CI_METHODS)
    check_choice("nan_policy", nan_policy, _NAN_POLICIES)
    from teamculture.instruments import resolve
    from teamculture.scoring import keyed_items

    inst = resolve(instrument, scale=scale)
    if inst.classification is not None or not inst.subscales:
        raise ValueError(
            f"`instrument` {inst.id!r} is a classification rule without subscales; reliability needs "
            "multi-item subscales."
        )
    frame_all = keyed_items(data, inst, columns=columns, survey_year=survey_year, invalid=invalid)
    keyed = {iid: frame_all[iid].to_numpy(dtype=float) for iid in frame_all.columns}
    sets: list[tuple[str, bool, list[str]]] = [(name, False, list(ids)) for name, ids in inst.subscales.items()]
    for name, subs in inst.composites.items():
        ids = [i for s in subs for i in inst.subscales[s]]
        sets.append((name, True, list(dict.fromkeys(ids))))
    rows = []
    dropped_total = 0
    for name, is_comp, ids in sets:
        row: dict[str, Any] = dict.fromkeys(_RELIABILITY_COLUMNS, np.nan)
        row.update(composite=is_comp, n_items=len(ids))
        mat = np.column_stack([keyed[i] for i in ids])
        if nan_policy == "raise" and np.isnan(mat).any():
            raise ValueError(
                f"subscale {name!r} has missing responses in {int(np.isnan(mat).any(axis=1).sum())} row(s); "
                "nan_policy='raise'."
            )
        used = ~np.isnan(mat).any(axis=1) if nan_policy == "omit" else ~np.isnan(mat).all(axis=1)
        row.update(n_obs=int(used.sum()), n_dropped=int((~used).sum()))
        dropped_total += row["n_dropped"]
        if len(ids) >= 2 and used.sum() >= 2:
            frame = pd.DataFrame(mat[used], columns=ids)
            res = cronbach_alpha(frame, nan_policy=nan_policy)
            lo, hi = res.confidence_interval(level, method=ci_method)
            row.update(alpha=res.alpha, ci_low=lo, ci_high=hi, std_alpha=res.std_alpha,
                       lambda6=res.lambda6, average_r=res.average_r)
            if len(ids) >= 3:
                row["omega_total"] = omega(frame, n_factors=1, nan_policy=nan_policy).omega_total
        rows.append((name, row))
    if dropped_total:
        detail = ", ".join(f"{name}: {row['n_dropped']}" for name, row in rows if row["n_dropped"])
        warnings.warn(
            f"respondents excluded per subscale (nan_policy={nan_policy!r}) out of {len(data)}: {detail}.",
            DroppedDataWarning,
            stacklevel=2,
        )
    table = pd.DataFrame([r for _, r in rows], index=pd.Index([n for n, _ in rows], name="subscale"))
    table = table[_RELIABILITY_COLUMNS].astype(
        {"composite": bool, "n_items": np.int64, "n_obs": np.int64, "n_dropped": np.int64}
    )
    return table
