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
  covariance matrix (group sums and one-way ANOVA from the shared core).
- :func:`instrument_reliability` -- one row per subscale of an instrument.

Reverse keying always uses the *declared* response scale (``scale``:
``low + high - x``). ``psych::alpha`` and ``psych::reverse.code`` reverse
with the minimum and maximum *observed* in the data, which silently changes
the scores when an extreme category happens not to be used; teamculture asks
for the scale instead, and refuses (or, with ``invalid="missing"``, sets
missing and counts) codes outside it, which would otherwise be reversed to
wrong values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from teamculture._core.groups import Groups, group_sum, oneway_anova
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    Scale,
    as_float_matrix,
    check_choice,
    check_confidence_level,
    check_in_scale,
    check_int,
    check_invalid,
    check_nan_policy,
    check_scale,
    did_you_mean,
    few,
)
from teamculture._core.warn import warn
from teamculture.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture.results import ConfidenceInterval, Result, Summary, result_class

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
    """Squared multiple correlations ``1 - 1/diag(R^-1)``, clipped to [0, 1].

    A singular ``R`` (an item that is a linear combination of others, e.g.
    duplicated items) has no inverse; each smc is then the R^2 of the
    least-squares regression of the item on the others, ``r_i' R_{-i}^+ r_i``
    (1 for an item the others predict exactly).
    """
    w = np.linalg.eigvalsh(r)
    if w[0] > 1e-12 * max(w[-1], 0.0):
        inv = np.linalg.pinv(r, hermitian=True)
        with np.errstate(divide="ignore"):
            smc = 1.0 - 1.0 / np.diag(inv)
    else:
        k = r.shape[0]
        smc = np.empty(k)
        for i in range(k):
            rest = np.arange(k) != i
            ri = r[rest, i]
            smc[i] = ri @ np.linalg.pinv(r[np.ix_(rest, rest)], hermitian=True) @ ri
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


def _item_matrix(items: Any) -> tuple[np.ndarray, list[Any], pd.Index | None]:
    """(float responses (may share the caller's buffer: never written), column labels, row index)."""
    if isinstance(items, pd.Series):
        raise ValueError(f"`items` must have one column per item (at least two); got a Series ({items.name!r}).")
    arr, cols = as_float_matrix(items, name="items")
    return arr, cols, items.index if isinstance(items, pd.DataFrame) else None


def _item_index(cols: list[Any]) -> pd.Index:
    """The item labels as a flat Index named "item" (tuples from MultiIndex columns stay tuples)."""
    return pd.Index(cols, name="item", tupleize_cols=False)


def _parse_keys(keys: Any, cols: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the columns used, reversed flags) from the ``keys`` argument."""
    k = len(cols)
    if keys is None:
        return np.arange(k), np.zeros(k, dtype=bool)
    if isinstance(keys, (str, bytes)) or not isinstance(keys, (Sequence, np.ndarray, pd.Series, pd.Index)):
        raise TypeError(
            "`keys` must be None, a sequence of column names optionally prefixed with '-' "
            "(e.g. ['-A1', 'A2']), or a sequence of booleans / +1 / -1 with one entry per column; "
            f"got {type(keys).__name__}."
        )
    keys = list(keys)
    if not keys:
        raise ValueError("`keys` is empty; pass None to use every column unreversed.")
    if all(isinstance(key, str) for key in keys):
        names = [key[1:] if key.startswith("-") else key for key in keys]
        reverse = np.array([key.startswith("-") for key in keys], dtype=bool)
        pos = {str(c): j for j, c in enumerate(cols)}
        unknown = [nm for nm in names if nm not in pos]
        if unknown:
            raise ValueError(
                f"`keys` names {len(unknown)} item(s) that are not columns of `items`: {few(unknown)}."
                f"{did_you_mean(unknown[0], pos)} Columns are {few([str(c) for c in cols], 8)}."
            )
        if len(set(names)) != len(names):
            dup = sorted({nm for nm in names if names.count(nm) > 1})
            raise ValueError(f"`keys` names item(s) more than once: {few(dup)}.")
        return np.array([pos[nm] for nm in names], dtype=np.intp), reverse
    if len(keys) != k:
        raise ValueError(f"`keys` given as flags must have one entry per column ({k}); got {len(keys)}.")
    if all(isinstance(key, (bool, np.bool_)) for key in keys):
        return np.arange(k), np.array(keys, dtype=bool)
    try:
        num = np.array(keys, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            "`keys` must be column names (str, '-' prefix to reverse), booleans (True = reverse-keyed) "
            f"or +1/-1; got a mixture {few(keys)}."
        ) from None
    bad = [key for key in keys if key not in (1, -1)]
    if bad:
        raise ValueError(f"numeric `keys` must be +1 or -1 (psych style); {len(bad)} other value(s) {few(bad)}.")
    return np.arange(k), num < 0


def _parse_scale(scale: Any, names: list[Any], reverse: np.ndarray) -> list[Scale] | None:
    """One declared response scale per item used (or None when no scale was given)."""
    if scale is None:
        if reverse.any():
            rev = [c for c, r in zip(names, reverse) if r]
            raise ValueError(
                f"`keys` reverse-key {int(reverse.sum())} item(s) {few(rev)} but `scale` is None. "
                "Pass the declared response scale, e.g. scale=(1, 5), so that items are reversed as "
                "low + high - x; teamculture never uses the observed min/max (psych's default), which "
                "depends on which answers happen to occur."
            )
        return None
    if isinstance(scale, Mapping):
        lookup = {str(k): v for k, v in scale.items()}
        missing = [c for c in names if str(c) not in lookup]
        if missing:
            raise ValueError(f"`scale` given per item has no entry for {len(missing)} item(s) {few(missing)}.")
        extra = sorted(set(lookup) - {str(c) for c in names})
        if extra:
            raise ValueError(f"`scale` given per item names {len(extra)} item(s) that are not used: {few(extra)}.")
        return [check_scale(lookup[str(c)], f"scale[{str(c)!r}]") for c in names]
    sc = check_scale(scale, "scale")
    return [sc] * len(names)


@dataclass(frozen=True)
class _Items:
    """Validated, keyed responses of the rows used (shared by the reliability functions)."""

    x: np.ndarray
    names: list[Any]
    reverse: np.ndarray
    keep: np.ndarray | None
    n_dropped: int
    n_invalid: int


def _prepare(items: Any, keys: Any, scale: Any, nan_policy: Any, invalid: Any, *, what: str,
             policies: Sequence[str] = _NAN_POLICIES, min_items: int = 2,
             groups_missing: Any = None, matrix: Any = None) -> _Items:
    """Validate, check codes against the scale, reverse-key and apply the missing-data policy.

    ``groups_missing`` (multilevel) marks rows with a missing group label;
    they are dropped together with rows with a missing item.
    """
    nan_policy = check_nan_policy(nan_policy, policies)
    invalid = check_invalid(invalid)
    arr, cols, index = _item_matrix(items) if matrix is None else matrix
    sel, reverse = _parse_keys(keys, cols)
    names = [cols[j] for j in sel]
    if len(names) < min_items:
        raise ValueError(f"`items` must have at least {min_items} items (columns); got {len(names)}"
                         + (" (selected by `keys`)." if keys is not None else "."))
    scales = _parse_scale(scale, names, reverse)
    # a copy (never the caller's buffer), column-major: the reductions over respondents that follow
    # run 5-25x faster on contiguous item columns than on rows of a few items
    x = np.asfortranarray(np.asarray(arr)[:, sel])
    n_invalid = 0
    if scales is not None:
        for sc in dict.fromkeys(scales):
            idx = [j for j, s in enumerate(scales) if s == sc]
            sub, nbad = check_in_scale(x[:, idx], sc, name="items", invalid=invalid, columns=[names[j] for j in idx])
            if nbad:
                x[:, idx] = sub
                n_invalid += nbad
        if n_invalid:
            warn(f"{n_invalid} value(s) of `items` outside the declared response scale were set to missing "
                 "(invalid='missing').", DroppedDataWarning)
        if reverse.any():
            lo = np.array([s.low for s in scales])
            hi = np.array([s.high for s in scales])
            x[:, reverse] = lo[reverse] + hi[reverse] - x[:, reverse]
    miss = np.isnan(x)
    unanswered = np.flatnonzero(miss.all(axis=0))
    if unanswered.size:
        bad = [names[j] for j in unanswered]
        raise ValueError(f"`items` has {len(bad)} item(s) without any answer: {few(bad)}; remove them.")
    labels = None if index is None else np.asarray(index)
    if nan_policy == "pairwise":
        empty = miss.all(axis=1)
        n_dropped = int(empty.sum())
        keep = None
        if n_dropped:
            rows = labels[empty] if labels is not None else np.flatnonzero(empty)
            warn(f"{n_dropped} of {len(x)} respondent(s) with no answered item in `items` were dropped before "
                 f"computing {what} (nan_policy='pairwise'); rows {few(rows.tolist())}.", DroppedDataWarning)
            keep = ~empty
    else:
        row_missing = miss.any(axis=1)
        name = "items"
        if groups_missing is not None and groups_missing.any():
            row_missing = row_missing | groups_missing
            name = "items/groups"
        keep, n_dropped = apply_nan_policy(row_missing, nan_policy, name=name, what=what, labels=labels)
    return _Items(x if keep is None else np.asfortranarray(x[keep]), names, reverse, keep, n_dropped, n_invalid)


def _covariance(x: np.ndarray, nan_policy: str, names: list[Any], *, pair_cor: bool = False) -> Any:
    """Covariance matrix under ``nan_policy`` (validated); with ``pair_cor`` also the
    correlation matrix (R ``cor(use = "pairwise")`` when pairwise with missing values).

    Degenerate data raise ``ValueError`` naming `items`: fewer than two
    respondents, an item without variance, a pair of items without two common
    respondents (pairwise).
    """
    n_missing = np.count_nonzero(np.isnan(x), axis=0)
    n_item = x.shape[0] - n_missing
    if x.shape[0] < 2 or (n_item < 2).any():
        short = [names[j] for j in np.flatnonzero(n_item < 2)]
        raise ValueError(
            f"`items` has too few usable respondents: {x.shape[0]} row(s) left after removing missing data"
            + (f", item(s) {few(short)} with fewer than two answers" if short and x.shape[0] >= 2 else "")
            + "; alpha needs at least two respondents per item."
        )
    lo = np.fmin.reduce(x, axis=0)  # NaN-ignoring: no masked copies of the responses
    hi = np.fmax.reduce(x, axis=0)
    const = np.flatnonzero(lo == hi)
    if const.size:
        bad = [names[j] for j in const]
        raise ValueError(
            f"`items` has {len(bad)} item(s) with no variance (every respondent used gave the same answer): "
            f"{few(bad)}. Reliability needs items that vary: remove them (psych drops them with a warning)."
        )
    r_pair = None
    if nan_policy == "pairwise" and n_missing.any():
        c, r_pair, npair = _pairwise_cov_cor(x)
        if (npair < 2).any():
            i, j = np.argwhere(npair < 2)[0]
            raise ValueError(
                f"`items`: items {names[i]!r} and {names[j]!r} have fewer than two respondents in common; their "
                "covariance is undefined (nan_policy='pairwise'). Use nan_policy='omit' or drop one of them."
            )
        if np.isnan(r_pair).any():
            i, j = np.argwhere(np.isnan(r_pair))[0]
            raise ValueError(
                f"`items`: the correlation of items {names[i]!r} and {names[j]!r} is undefined on their common "
                "respondents (one of them does not vary there; nan_policy='pairwise'). Use nan_policy='omit'."
            )
    else:
        c = np.cov(x, rowvar=False, ddof=1)
    if pair_cor:
        if r_pair is None:
            r_pair = _cov_to_cor(c)
        else:
            np.fill_diagonal(r_pair, 1.0)
        return c, r_pair
    return c


def _is_psd(m: np.ndarray) -> tuple[bool, float, float]:
    """Whether a symmetric matrix is positive semi-definite (relative to its largest eigenvalue)."""
    w = np.linalg.eigvalsh(m)
    top = float(np.max(np.abs(w)))
    return bool(w[0] >= -1e-10 * top), float(w[0]), float(w[-1])


# ---------------------------------------------------------------------------
# Cronbach's alpha
# ---------------------------------------------------------------------------


def _fmt(v: float, d: int = 3) -> str:
    return "NA" if not np.isfinite(v) else f"{v:.{d}f}"


@result_class
class AlphaResult(Result):
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
    std_error : float
        Asymptotic standard error of raw alpha (Duhachek & Iacobucci 2004;
        psych's ``ase``).
    mean, sd : float
        Mean and standard deviation of the respondents' item-mean scores
        (mean of the answered, keyed items).
    n_items : int
        Number of items.
    nan_policy : str
        How missing responses were handled.
    n_invalid : int
        Codes outside the declared ``scale`` set to missing
        (``invalid="missing"``).
    notes : tuple of str
        Conditions to know about (estimates outside their parameter space,
        items that correlate negatively with the rest); printed by
        ``summary()``.
    items : pandas.DataFrame
        One row per item (indexed by item name), columns ``reversed``, ``n``,
        ``mean``, ``sd`` (of the keyed item), ``r_raw`` (item--total
        correlation), ``r_std`` (the same from the correlation matrix),
        ``r_cor`` (corrected for item overlap and reliability), ``r_drop``
        (item--rest correlation), ``alpha_if_deleted``,
        ``std_alpha_if_deleted``, ``lambda6_if_deleted``,
        ``average_r_if_deleted`` (NaN when only two items).
    n_obs : int
        Respondents used (the ``n`` of the intervals).
    n_dropped : int
        Respondents excluded under ``nan_policy``.
    n_groups : None
        Always None (no groups).
    """

    alpha: float
    std_alpha: float
    lambda6: float
    average_r: float
    median_r: float
    std_error: float
    mean: float
    sd: float
    n_items: int
    nan_policy: str
    n_invalid: int = 0
    notes: tuple[str, ...] = ()
    items: pd.DataFrame = field(repr=False)

    def confidence_interval(self, confidence_level: float | None = None, *,
                            ci_method: str | None = None) -> ConfidenceInterval:
        """Confidence interval for raw alpha.

        Parameters
        ----------
        confidence_level : float, optional
            In (0, 1); default 0.95.
        ci_method : {"feldt", "duhachek"}, optional
            ``"feldt"`` (default): exact under the parallel-items normal model
            (Feldt, Woodruff & Salih 1987), ``1 - (1 - alpha) F`` with
            ``F ~ F(n - 1, (n - 1)(k - 1))``; ``"duhachek"``: Wald interval
            ``alpha -/+ z * std_error`` with the asymptotic standard error of
            Duhachek & Iacobucci (2004), valid without parallel items.

        Returns
        -------
        ConfidenceInterval
            ``(low, high)``.
        """
        level = 0.95 if confidence_level is None else check_confidence_level(confidence_level)
        method = "feldt" if ci_method is None else check_choice("ci_method", ci_method, _CI_METHODS)
        p = 1.0 - level
        if method == "feldt":
            df1 = self.n_obs - 1
            df2 = (self.n_obs - 1) * (self.n_items - 1)
            low = 1.0 - (1.0 - self.alpha) * stats.f.isf(p / 2, df1, df2)
            high = 1.0 - (1.0 - self.alpha) * stats.f.ppf(p / 2, df1, df2)
        else:
            z = stats.norm.isf(p / 2)
            low = self.alpha - z * self.std_error
            high = self.alpha + z * self.std_error
        return ConfidenceInterval(float(low), float(high))

    def to_frame(self) -> pd.DataFrame:
        """One row: alpha with its Feldt 95% interval, the other coefficients and the counts."""
        lo, hi = self.confidence_interval()
        return pd.DataFrame([{
            "alpha": self.alpha, "ci_low": lo, "ci_high": hi, "std_error": self.std_error,
            "std_alpha": self.std_alpha, "lambda6": self.lambda6, "average_r": self.average_r,
            "median_r": self.median_r, "mean": self.mean, "sd": self.sd, "n_items": self.n_items,
            "n_obs": self.n_obs, "n_dropped": self.n_dropped,
        }])

    def summary(self) -> Summary:
        """Coefficients, both 95% intervals and the item analysis."""
        fl, fh = self.confidence_interval(ci_method="feldt")
        dl, dh = self.confidence_interval(ci_method="duhachek")
        header = [
            ("items", self.n_items), ("respondents used", self.n_obs), ("respondents dropped", self.n_dropped),
            ("nan_policy", self.nan_policy),
        ]
        if self.n_invalid:
            header.append(("codes outside the scale set missing", self.n_invalid))
        coef = pd.DataFrame(
            {"estimate": [self.alpha, self.std_alpha, self.lambda6, self.average_r, self.median_r],
             "std_error": [self.std_error, np.nan, np.nan, np.nan, np.nan],
             "ci_low (Feldt)": [fl, np.nan, np.nan, np.nan, np.nan],
             "ci_high (Feldt)": [fh, np.nan, np.nan, np.nan, np.nan],
             "ci_low (Duhachek)": [dl, np.nan, np.nan, np.nan, np.nan],
             "ci_high (Duhachek)": [dh, np.nan, np.nan, np.nan, np.nan]},
            index=["raw alpha", "std alpha", "lambda-6", "average r", "median r"])
        notes = [*self.notes, f"score (item mean): mean {_fmt(self.mean)}, sd {_fmt(self.sd)}; 95% intervals."]
        return Summary("Cronbach's alpha", header=header,
                       tables=[("Coefficients", coef), ("Items", self.items)], notes=notes)


def cronbach_alpha(
    items: Any,
    *,
    keys: Any = None,
    scale: Any = None,
    nan_policy: str = "omit",
    invalid: str = "raise",
) -> AlphaResult:
    r"""Cronbach's alpha with lambda-6, intervals and an item analysis.

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
    scale : (low, high), sequence of codes, ResponseScale or mapping, optional
        The declared response scale: ``(1, 5)`` means the codes 1..5; a
        mapping item -> scale gives one per item. Required when any item is
        reverse-keyed (reversed as ``low + high - x``). When given, every
        response must be one of its codes (see ``invalid``).
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
        ``"omit"``: complete cases only (listwise deletion; one consistent
        covariance matrix). ``"pairwise"``: pairwise-complete covariances, as
        ``psych::alpha(use = "pairwise")`` (the psych default), dropping only
        respondents with no answered item. ``"raise"``: missing values are an
        error. Excluded respondents are counted in ``n_dropped`` and reported
        with a :class:`~teamculture.errors.DroppedDataWarning`.
    invalid : {"raise", "missing"}, default "raise"
        Responses that are not codes of ``scale``: ``"raise"`` names the
        column(s) and codes; ``"missing"`` sets them missing (then
        ``nan_policy`` applies) and counts them in ``n_invalid`` and a
        :class:`~teamculture.errors.DroppedDataWarning`. A code outside the
        scale would otherwise be reversed to a wrong keyed value.

    Returns
    -------
    AlphaResult
        Frozen result; ``confidence_interval(confidence_level,
        ci_method=...)`` gives Feldt and Duhachek intervals.

    Notes
    -----
    With item covariance matrix :math:`C` (k items), correlation matrix
    :math:`R`, :math:`V = \mathbf 1^\top C \mathbf 1`:

    .. math::

        \alpha = \frac{k}{k-1}\Bigl(1 - \frac{\operatorname{tr} C}{V}\Bigr),\quad
        \alpha_{std} = \frac{k}{k-1}\Bigl(1 - \frac{k}{\mathbf 1^\top R \mathbf 1}\Bigr)
        = \frac{k \bar r}{1 + (k-1)\bar r},\quad
        \lambda_6 = 1 - \frac{\sum_i (1 - \mathrm{smc}_i)}{\mathbf 1^\top R \mathbf 1},

    where :math:`\mathrm{smc}_i = 1 - 1/(R^{-1})_{ii}` (for a singular
    :math:`R`, the :math:`R^2` of item :math:`i` on the others) and
    :math:`\bar r` is the mean off-diagonal correlation. The Duhachek &
    Iacobucci (2004) asymptotic variance is :math:`Q/n` with

    .. math::

        Q = \frac{2k^2}{(k-1)^2 V^3}\bigl[V(\operatorname{tr} C^2 + (\operatorname{tr} C)^2)
        - 2 \operatorname{tr} C \, \mathbf 1^\top C^2 \mathbf 1\bigr].

    The item table: ``r_raw`` is the correlation of the item with the
    respondents' mean score; ``r_std = (R\mathbf 1)_i / \sqrt{\mathbf 1^\top
    R\mathbf 1}``; ``r_cor`` is the same with the diagonal of :math:`R`
    replaced by the smc's; ``r_drop`` is the correlation of the item with the
    sum of the other items, from :math:`C`.

    Alpha cannot exceed 1 for a positive semi-definite :math:`C`; pairwise
    covariances need not be one, and an alpha above 1 is then flagged with a
    :class:`~teamculture.errors.BoundaryWarning` and a note. Items that
    correlate negatively with the rest (a reverse-keyed item not keyed?) are
    named in a note of :meth:`~AlphaResult.summary`; a negative alpha (a
    negative mean covariance, below the lower bound of a reliability) is
    flagged with a :class:`~teamculture.errors.BoundaryWarning` and a note. Degenerate data (fewer
    than two respondents, an item without variance, a sum score without
    variance) raise ``ValueError``.

    Differences from psych: psych reverses items with the observed minimum
    and maximum over all items; teamculture uses the declared ``scale``.
    psych's default missing-data handling corresponds to
    ``nan_policy="pairwise"``, and psych's interval ``n`` counts every row,
    including rows with no answers (teamculture drops and counts those).
    psych silently deletes zero-variance items; teamculture raises.

    R: ``psych::alpha(x, keys, use = "pairwise")``

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
    >>> survey = tc.national_survey("small", rng=1)
    >>> items = survey.staff[["cl1", "cl2", "cl3", "cl4"]].dropna()
    >>> res = tc.cronbach_alpha(items, scale=(1, 5))
    >>> round(res.alpha, 3), round(res.std_alpha, 3), res.n_items, res.n_obs
    (0.868, 0.868, 4, 9191)
    >>> low, high = res.confidence_interval(0.95, ci_method="feldt")
    >>> bool(low < res.alpha < high)
    True

    Reverse-keyed items need the declared response scale:

    >>> ps = survey.staff[[f"ps{i}" for i in range(1, 8)]].dropna()
    >>> res = tc.cronbach_alpha(ps, keys=["-ps1", "ps2", "-ps3", "ps4", "-ps5", "ps6", "ps7"],
    ...                         scale=(1, 7))
    >>> res.items.loc[["ps1", "ps2"], ["reversed", "r_drop"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
          reversed  r_drop
    item
    ps1       True    0.81
    ps2      False    0.81
    """
    prep = _prepare(items, keys, scale, nan_policy, invalid, what="Cronbach's alpha")
    c = _covariance(prep.x, nan_policy, prep.names)
    return _alpha_result(prep.x, c, prep.names, prep.reverse, prep.n_dropped, nan_policy, prep.n_invalid)


def _alpha_result(
    x: np.ndarray, c: np.ndarray, cols: list[Any], reverse: np.ndarray, n_dropped: int, nan_policy: str,
    n_invalid: int = 0,
) -> AlphaResult:
    k = len(cols)
    n = x.shape[0]
    total_var = c.sum()
    if not total_var > 1e-12 * np.trace(c):
        raise ValueError(
            f"the sum score of `items` has no variance (the items cancel out: total variance {total_var:.3g}); "
            "alpha is undefined. Are reverse-keyed items missing their '-' in `keys`?"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        # square roots of negative totals (items that correlate negatively) are NaN, as in psych
        r = _cov_to_cor(c)
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
            obs = ~np.isnan(x)
            x0 = np.where(obs, x, 0.0)
            total = x0.sum(axis=1) / obs.sum(axis=1)  # every kept row has an answer
            n_item = obs.sum(axis=0).astype(np.int64)
            item_mean = x0.sum(axis=0) / n_item
            dev = np.where(obs, x - item_mean, 0.0)
            item_sd = np.sqrt((dev * dev).sum(axis=0) / (n_item - 1))
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
        ase = float(np.sqrt(core["q"] / n)) if core["q"] >= 0 else float("nan")
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
        index=_item_index(cols),
    )[_ITEM_COLUMNS]
    notes = []
    over = [(nm, v) for nm, v in (("raw alpha", core["alpha"]), ("std alpha", core["std_alpha"]),
                                  ("lambda-6", core["lambda6"])) if v > 1.0 + 1e-12]
    if over:
        msg = (", ".join(f"{nm} = {v:.4f}" for nm, v in over) + " exceed(s) 1, the upper bound of a reliability: "
               f"the item covariance matrix of `items` is not positive semi-definite (nan_policy={nan_policy!r}"
               + (", pairwise covariances from different respondents" if nan_policy == "pairwise" else "")
               + "). Treat the estimate as unreliable; nan_policy='omit' gives a proper matrix.")
        warn(msg, BoundaryWarning)
        notes.append(msg)
    neg = [cols[j] for j in np.flatnonzero(r_drop < 0)]
    if core["alpha"] < 0:  # below the parameter space of a reliability (negative mean covariance)
        msg = (f"alpha = {core['alpha']:.4f} is below 0, the lower bound of a reliability: the items of `items` "
               "covary negatively on average"
               + (f"; item(s) {few(neg)} correlate negatively with the rest" if neg else "")
               + " (reverse-keyed items not keyed? prefix them with '-' in `keys` and give `scale`). Read it as no "
               "internal consistency, not as a value to report.")
        warn(msg, BoundaryWarning)
        notes.append(msg)
    elif neg:
        notes.append(f"item(s) {few(neg)} correlate negatively with the rest of the scale: reverse-keyed items "
                     "not keyed? (prefix them with '-' in `keys` and give `scale`).")
    return AlphaResult(
        alpha=core["alpha"],
        std_alpha=core["std_alpha"],
        lambda6=core["lambda6"],
        average_r=core["average_r"],
        median_r=core["median_r"],
        std_error=ase,
        mean=total_mean,
        sd=total_sd,
        n_items=k,
        nan_policy=nan_policy,
        n_invalid=n_invalid,
        notes=tuple(notes),
        items=table,
        n_obs=int(n),
        n_dropped=n_dropped,
        n_groups=None,
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


#: lower bound of the uniquenesses in the minres extraction of omega (psych's bound)
_U2_LOWER = 0.005


def _schmid_leiman(r: np.ndarray, m: int) -> dict[str, Any]:
    """Schmid-Leiman solution of a correlation matrix with ``m`` group factors."""
    k = r.shape[0]
    orth, psi, ok = _minres(r, m, lower=np.full(k, _U2_LOWER), upper=np.ones(k))
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
            gl, _, ok_g = _minres(phi, 1, lower=np.full(m, _U2_LOWER), upper=np.ones(m))
            ok = ok and ok_g
            g_of_factors = gl[:, 0]
    g = pattern @ g_of_factors
    group = pattern * np.sqrt(np.clip(1.0 - g_of_factors**2, 0.0, None))
    return {"g": g, "group": group, "h2": h2, "u2": 1.0 - h2, "psi": psi, "pattern": pattern, "phi": phi,
            "converged": ok}



@result_class
class OmegaResult(Result):
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
    converged : bool
        Whether the extraction and rotation met their tolerances (a
        :class:`~teamculture.errors.ConvergenceWarning` otherwise).
    nan_policy : str
        How missing responses were handled.
    n_invalid : int
        Codes outside the declared ``scale`` set to missing.
    notes : tuple of str
        Conditions to know about (non-convergence, Heywood cases); printed by
        ``summary()``.
    n_obs, n_dropped : int
        Respondents used and excluded.
    n_groups : None
        Always None.
    """

    omega_total: float
    omega_hierarchical: float
    omega_limit: float
    alpha: float
    n_factors: int
    loadings: pd.DataFrame = field(repr=False)
    factor_correlations: pd.DataFrame = field(repr=False)
    reflected: tuple
    converged: bool
    nan_policy: str = "omit"
    n_invalid: int = 0
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row: omega total, hierarchical and limit, alpha and the counts."""
        return pd.DataFrame([{
            "omega_total": self.omega_total, "omega_hierarchical": self.omega_hierarchical,
            "omega_limit": self.omega_limit, "alpha": self.alpha, "n_factors": self.n_factors,
            "n_items": len(self.loadings), "n_obs": self.n_obs, "n_dropped": self.n_dropped,
        }])

    def summary(self) -> Summary:
        """Coefficients and the Schmid--Leiman loadings."""
        header = [
            ("items", len(self.loadings)), ("group factors", self.n_factors), ("respondents used", self.n_obs),
            ("respondents dropped", self.n_dropped), ("nan_policy", self.nan_policy), ("converged", self.converged),
            ("omega total", self.omega_total), ("omega hierarchical", self.omega_hierarchical),
            ("omega limit", self.omega_limit), ("alpha (standardised)", self.alpha),
        ]
        notes = list(self.notes)
        if self.reflected:
            notes.append(f"reflected (negative general-factor loading): {', '.join(map(str, self.reflected))}.")
        return Summary("McDonald's omega (Schmid-Leiman)", header=header,
                       tables=[("Schmid-Leiman loadings", self.loadings)], notes=notes)


def omega(
    items: Any,
    *,
    n_factors: int = 3,
    keys: Any = None,
    scale: Any = None,
    nan_policy: str = "omit",
    invalid: str = "raise",
) -> OmegaResult:
    r"""McDonald's omega total and omega hierarchical (Schmid--Leiman).

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
    keys, scale, invalid
        As in :func:`cronbach_alpha`.
    nan_policy : {"omit", "pairwise", "raise"}, default "omit"
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

    An item whose uniqueness reaches the lower bound 0.005 (a Heywood
    case: the solution is on the boundary of its parameter space) is flagged
    with a :class:`~teamculture.errors.BoundaryWarning` and a note; a
    solution that did not meet its tolerances with a
    :class:`~teamculture.errors.ConvergenceWarning`, ``converged=False``
    and a note. teamculture solves the minres and rotation problems to tight
    tolerances (oblimin projected gradient < 1e-8); psych stops earlier, so
    its omega values agree with ours to about 1e-7 (omega total) and 2e-6
    relative (omega hierarchical) on the test data.

    R: ``psych::omega(x, nfactors = n_factors, fm = "minres", rotate = "oblimin")``

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
    prep = _prepare(items, keys, scale, nan_policy, invalid, what="omega", min_items=3)
    x, cols = prep.x, prep.names
    k = len(cols)
    if n_factors > k // 2 and n_factors > 1:
        raise ValueError(
            f"`n_factors` = {n_factors} is too many for {k} items; at most {max(1, k // 2)} "
            "(each group factor needs at least two items)."
        )
    # with pairwise deletion, as R cor(use = "pairwise"): each correlation from its pair's complete cases
    _c, r = _covariance(x, nan_policy, cols, pair_cor=True)
    sl = _schmid_leiman(r, n_factors)
    notes = []
    if not sl["converged"]:
        msg = ("omega: the minres extraction or the oblimin rotation of `items` did not meet its tolerance; "
               "the solution may be inaccurate (converged=False).")
        warn(msg, ConvergenceWarning)
        notes.append(msg)
    heywood = [cols[j] for j in np.flatnonzero(sl["psi"] <= _U2_LOWER * (1 + 1e-6))]
    if heywood:
        msg = (f"Heywood case: item(s) {few(heywood)} of `items` reached the lower bound of the uniqueness "
               f"({_U2_LOWER}; communality {1 - _U2_LOWER}): the factor solution is on the boundary of its "
               f"parameter space and omega may be overstated (too many factors, `n_factors` = {n_factors}?).")
        warn(msg, BoundaryWarning)
        notes.append(msg)
    key = np.where(sl["g"] < 0, -1.0, 1.0)
    rk = r * np.outer(key, key)
    g = sl["g"] * key
    group = sl["group"] * key[:, None]
    vt = rk.sum()
    sum_u2 = sl["u2"].sum()
    gsq = g.sum() ** 2
    names = [f"F{j + 1}" for j in range(n_factors)]
    table = pd.DataFrame(group, columns=names, index=_item_index(cols))
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
        converged=bool(sl["converged"]),
        nan_policy=nan_policy,
        n_invalid=prep.n_invalid,
        notes=tuple(notes),
        n_obs=int(x.shape[0]),
        n_dropped=prep.n_dropped,
        n_groups=None,
    )


# ---------------------------------------------------------------------------
# multilevel reliability
# ---------------------------------------------------------------------------


def _one_factor_omega(s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Omega (Sum l)^2 / ((Sum l)^2 + Sum psi) of a one-factor minres fit to a covariance matrix.

    The fit runs on ``s`` divided by its mean variance (the ULS solution
    scales exactly: loadings by the square root, uniquenesses linearly), so
    that the optimiser's tolerances do not depend on the units of the items.
    """
    unit = float(np.mean(np.diag(s)))
    d = np.diag(s) / unit
    lam, psi, _ = _minres(s / unit, 1, lower=np.zeros_like(d), upper=d.copy())
    lam = lam[:, 0] * np.sqrt(unit)
    psi = psi * unit
    if lam.sum() < 0:
        lam = -lam
    common = lam.sum() ** 2
    return float(common / (common + psi.sum())), lam, psi


@result_class
class MultilevelReliabilityResult(Result):
    """Result of :func:`multilevel_reliability`.

    Attributes
    ----------
    alpha_within, alpha_between : float
        Cronbach's alpha of the within-group and between-group covariance
        matrices (Geldhof et al. 2014). The between-group values are NaN when
        an item's between-group variance estimate is not positive.
    omega_within, omega_between : float
        Omega from a one-factor minres fit to each level's covariance matrix,
        ``(sum l)^2 / ((sum l)^2 + sum psi)``.
    between_admissible : bool
        Whether the between-group coefficients are defined (every item has a
        positive between-group variance) and lie in their parameter space
        (at most 1). When false they are NaN or flagged, with a
        :class:`~teamculture.errors.BoundaryWarning` and a note: do not
        report them as reliabilities.
    between_psd : bool
        Whether the between-group covariance matrix is positive
        semi-definite. A matrix just beyond that boundary (a between-group
        structure of lower rank, e.g. one factor, estimated with noise) is
        common and its coefficients can still be in range; a note says so.
    cov_within, cov_between : pandas.DataFrame
        Pooled within-group covariance matrix and method-of-moments
        between-group covariance matrix (items x items).
    items : pandas.DataFrame
        One row per item: ``var_within``, ``var_between``, ``icc1``,
        ``icc2``, ``loading_within``, ``loading_between``.
    group_size_c : float
        The ANOVA "average group size" ``(N - sum n_j^2 / N) / (G - 1)``.
    n_invalid : int
        Codes outside the declared ``scale`` set to missing.
    notes : tuple of str
        Conditions to know about; printed by ``summary()``.
    n_obs, n_groups, n_dropped : int
        Respondents used, groups, respondents excluded (missing item or
        group label).
    """

    alpha_within: float
    alpha_between: float
    omega_within: float
    omega_between: float
    between_admissible: bool
    between_psd: bool
    cov_within: pd.DataFrame = field(repr=False)
    cov_between: pd.DataFrame = field(repr=False)
    items: pd.DataFrame = field(repr=False)
    group_size_c: float
    n_invalid: int = 0
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Alpha and omega within and between groups (rows ``within``, ``between``)."""
        return pd.DataFrame({"alpha": [self.alpha_within, self.alpha_between],
                             "omega": [self.omega_within, self.omega_between]},
                            index=pd.Index(["within", "between"], name="level"))

    def summary(self) -> Summary:
        """Coefficients by level and the item table."""
        header = [("items", len(self.items)), ("respondents used", self.n_obs), ("groups", self.n_groups),
                  ("respondents dropped", self.n_dropped), ("ANOVA group size c", self.group_size_c),
                  ("between level admissible", self.between_admissible),
                  ("between covariance PSD", self.between_psd)]
        return Summary("Multilevel reliability (Geldhof et al. 2014)", header=header,
                       tables=[("Coefficients", self.to_frame()), ("Items", self.items)], notes=list(self.notes))


def multilevel_reliability(
    items: Any,
    groups: Any,
    *,
    keys: Any = None,
    scale: Any = None,
    nan_policy: str = "omit",
    invalid: str = "raise",
) -> MultilevelReliabilityResult:
    r"""Within- and between-group alpha and omega (Geldhof, Preacher & Zyphur 2014).

    Parameters
    ----------
    items : DataFrame or array_like, shape (n_respondents, k)
        Numeric item responses (k >= 2); not modified.
    groups : array_like or pandas.Series
        Group label per respondent. A Series is matched to a DataFrame of
        ``items`` by index label (the same labels in another order are
        reordered; different labels are refused); arrays are paired by
        position.
    keys, scale, invalid
        As in :func:`cronbach_alpha`.
    nan_policy : {"omit", "raise"}, default "omit"
        Respondents with a missing item or group label are excluded (counted
        in ``n_dropped``, with a
        :class:`~teamculture.errors.DroppedDataWarning`) or refused; the
        decomposition needs complete responses.

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

    :math:`\Sigma_B` is a difference of two estimates and, with few groups
    or little between-group variance, need not be a covariance matrix: a
    non-positive variance gives NaN between-group coefficients; a matrix
    that is not positive semi-definite gives values outside the parameter
    space (an alpha above 1). Both are flagged with a
    :class:`~teamculture.errors.BoundaryWarning`,
    ``between_admissible=False`` and a note in ``summary()``. A matrix
    just beyond the positive semi-definite boundary whose coefficients stay
    in range (typical of a one-factor between-group structure) gets
    ``between_psd=False`` and a note, without a warning. One group, or
    groups of one member only, raise ``ValueError``.

    In R, ``psych::statsBy`` gives the decomposition (its ``rwg`` is the
    pooled within-group correlation matrix, ``ICC1``/``ICC2`` the item
    ICCs); ``psych::alpha`` and ``psych::fa`` on each level's matrix give
    the coefficients.

    R: ``psych::statsBy(x, group)``

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
    >>> survey = tc.national_survey("small", rng=1)
    >>> staff = survey.staff.dropna(subset=["cl1", "cl2", "cl3", "cl4"])
    >>> res = tc.multilevel_reliability(staff[["cl1", "cl2", "cl3", "cl4"]], staff["team"], scale=(1, 5))
    >>> res.n_groups, res.n_obs
    (500, 9191)
    >>> round(res.alpha_within, 3), round(res.alpha_between, 3), res.between_admissible
    (0.82, 0.999, True)

    The simulator generates compassionate leadership from one team-level
    factor, so the team means are almost perfectly consistent; within teams
    the items are less so.
    """
    check_nan_policy(nan_policy, ("omit", "raise"))
    if isinstance(groups, str):
        raise TypeError(
            f"`groups` must be the group labels, one per row of `items` (a Series or array); got the string "
            f"{groups!r}. Pass the column itself, e.g. multilevel_reliability(data[item_columns], data[{groups!r}])."
        )
    if np.ndim(groups) == 0:
        raise TypeError(f"`groups` must be the group labels, one per row of `items` (a Series or array); got "
                        f"{type(groups).__name__} {groups!r}.")
    matrix = _item_matrix(items)
    groups_all, g_missing = Groups.from_labels(groups, matrix[0].shape[0], name="groups", index=matrix[2],
                                               ref_name="items", max_levels=1)
    prep = _prepare(items, keys, scale, nan_policy, invalid, what="multilevel reliability",
                    policies=("omit", "raise"), groups_missing=g_missing, matrix=matrix)
    g = groups_all if prep.keep is None else groups_all.subset(prep.keep)
    x, cols = prep.x, prep.names
    codes = g.finest if prep.keep is None else g.finest[prep.keep]
    n_groups = g.n_groups[0]
    n, k = x.shape
    # core one-way ANOVA (of the first item): refuses one group and groups of one member, naming
    # `groups`, and gives the ANOVA group size c; the item matrices below are its multivariate form
    c = oneway_anova(x[:, 0], codes, n_groups, name="groups").k_adjusted
    sizes = np.bincount(codes, minlength=n_groups).astype(float)
    means = group_sum(codes, np.ascontiguousarray(x.T), n_groups) / sizes[:, None]
    dev_w = x - means[codes]
    s_w = dev_w.T @ dev_w / (n - n_groups)
    dev_b = (means - x.mean(axis=0)) * np.sqrt(sizes)[:, None]
    ms_b = dev_b.T @ dev_b / (n_groups - 1)
    s_b = (ms_b - s_w) / c
    var_w = np.diag(s_w)
    var_b = np.diag(s_b)
    flat = var_w <= 1e-12 * np.maximum(np.diag(ms_b), 0.0) + 0.0
    if flat.any():
        bad = [cols[j] for j in np.flatnonzero(flat)]
        raise ValueError(f"`items` has {len(bad)} item(s) with no variance within `groups` {few(bad)}; "
                         "within-group reliability is undefined: remove them.")
    a_w = _alpha_core(s_w, _cov_to_cor(s_w))["alpha"]
    om_w, lam_w, _ = _one_factor_omega(s_w)
    notes: list[str] = []
    admissible = True
    if (var_b <= 0).any():
        bad = [cols[j] for j in np.flatnonzero(var_b <= 0)]
        msg = (f"{len(bad)} item(s) {few(bad)} of `items` have a non-positive between-group variance estimate "
               "(the group means vary no more than expected by chance); the between-group reliabilities are "
               "undefined (NaN).")
        warn(msg, BoundaryWarning)
        notes.append(msg)
        admissible = False
        a_b = om_b = float("nan")
        lam_b = np.full(k, np.nan)
        psd = False
    else:
        a_b = _alpha_core(s_b, _cov_to_cor(s_b))["alpha"]
        om_b, lam_b, _ = _one_factor_omega(s_b)
        psd, w_min, w_max = _is_psd(s_b)
        over = [(nm, v) for nm, v in (("alpha_between", a_b), ("omega_between", om_b)) if v > 1.0 + 1e-12]
        if over:
            admissible = False
            msg = (", ".join(f"{nm} = {v:.4f}" for nm, v in over) + " exceed(s) 1, the upper bound of a reliability: "
                   "the between-group covariance matrix of `items` (a difference of two moment estimates) is not "
                   f"positive semi-definite (eigenvalues from {w_min:.3g} to {w_max:.3g}), and {n_groups} groups do "
                   "not carry enough between-group information. The value is outside its parameter space: do not "
                   "report it as a reliability.")
            warn(msg, BoundaryWarning)
            notes.append(msg)
        elif not psd:
            notes.append(
                f"the between-group covariance matrix is not positive semi-definite (smallest eigenvalue "
                f"{w_min:.3g}, {abs(w_min) / w_max:.2%} of the largest): it lies just beyond the boundary, as a "
                "between-group structure of lower rank (e.g. a single between-group factor) gives with sampling "
                "noise; the between-group coefficients are within their range and near their limit."
            )
    below = [(nm, v) for nm, v in (("alpha_within", a_w), ("alpha_between", a_b)) if v < 0]
    if below:  # a negative mean covariance at that level: outside the parameter space of a reliability
        msg = (", ".join(f"{nm} = {v:.4f}" for nm, v in below)
               + (" is" if len(below) == 1 else " are") + " below 0, the lower bound of a reliability: the items of "
               "`items` covary negatively on average at that level (reverse-keyed items not keyed? prefix them "
               "with '-' in `keys` and give `scale`). Read it as no internal consistency, not as a value to report.")
        warn(msg, BoundaryWarning)
        notes.append(msg)
    index_items = _item_index(cols)
    ms_b_diag = np.diag(ms_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        icc2 = np.where(ms_b_diag > 0, (ms_b_diag - var_w) / ms_b_diag, np.nan)
    table = pd.DataFrame(
        {
            "var_within": var_w,
            "var_between": var_b,
            "icc1": var_b / (var_b + var_w),
            "icc2": icc2,
            "loading_within": lam_w,
            "loading_between": lam_b,
        },
        index=index_items,
    )
    return MultilevelReliabilityResult(
        alpha_within=float(a_w),
        alpha_between=float(a_b),
        omega_within=float(om_w),
        omega_between=float(om_b),
        between_admissible=admissible,
        between_psd=psd,
        cov_within=pd.DataFrame(s_w, index=index_items, columns=index_items.copy()),
        cov_between=pd.DataFrame(s_b, index=index_items, columns=index_items.copy()),
        items=table,
        group_size_c=float(c),
        n_invalid=prep.n_invalid,
        notes=tuple(notes),
        n_obs=int(n),
        n_groups=int(n_groups),
        n_dropped=prep.n_dropped,
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


@dataclass(frozen=True)
class _ReliabilitySpec:
    confidence_level: float
    ci_method: str
    nan_policy: str


def _validate_instrument_reliability(confidence_level: Any, ci_method: Any, nan_policy: Any) -> _ReliabilitySpec:
    return _ReliabilitySpec(check_confidence_level(confidence_level), check_choice("ci_method", ci_method, _CI_METHODS),
                            check_nan_policy(nan_policy, _NAN_POLICIES))


def instrument_reliability(
    data: pd.DataFrame,
    instrument: Any,
    *,
    columns: Mapping[Any, str] | None = None,
    survey_year: int | str | None = None,
    scale: Any = None,
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
    ci_method: str = "feldt",
    invalid: str = "raise",
) -> pd.DataFrame:
    r"""Reliability of every subscale (and composite) of an instrument.

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
        Level of the interval for alpha.
    ci_method : {"feldt", "duhachek"}, default "feldt"
        Interval for alpha (see :meth:`AlphaResult.confidence_interval`).

    Returns
    -------
    pandas.DataFrame
        Indexed by subscale name (then composites), columns ``composite``
        (bool), ``n_items``, ``n_obs``, ``n_dropped``, ``alpha``, ``ci_low``,
        ``ci_high``, ``std_alpha``, ``lambda6``, ``average_r`` and
        ``omega_total`` (one-factor omega total, as ``psych::omega(nfactors =
        1)``; NaN for fewer than three items). Reverse-keyed items are
        reversed with the declared scale bounds.

    Notes
    -----
    Each row is :func:`cronbach_alpha` on the subscale's keyed items (and
    :func:`omega` with one factor); a composite's row uses all the items of
    its subscales. See those functions for the formulas. A subscale whose
    statistics the data cannot define (one item, fewer than two respondents,
    an item without variance) gets a row of NaN and a
    :class:`~teamculture.errors.DegenerateDataWarning` naming it and the
    reason.

    R: ``psych::scoreItems(keys, x, impute = "none")$alpha``

    Examples
    --------
    >>> import teamculture as tc
    >>> survey = tc.national_survey("small", rng=1)
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
    spec = _validate_instrument_reliability(confidence_level, ci_method, nan_policy)
    from teamculture.instruments import _resolve
    from teamculture.scoring import keyed_items

    inst = _resolve(instrument, scale, "instrument")
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
    degenerate: list[str] = []
    boundary: list[str] = []
    for name, is_comp, ids in sets:
        row: dict[str, Any] = dict.fromkeys(_RELIABILITY_COLUMNS, np.nan)
        row.update(composite=is_comp, n_items=len(ids))
        mat = np.column_stack([keyed[i] for i in ids])
        miss = np.isnan(mat)
        if spec.nan_policy == "raise" and miss.any():
            raise ValueError(
                f"`data` has missing responses to subscale {name!r} in {int(miss.any(axis=1).sum())} row(s) and "
                "`nan_policy`='raise'; drop or impute them, or pass nan_policy='omit' or 'pairwise'."
            )
        used = ~miss.any(axis=1) if spec.nan_policy == "omit" else ~miss.all(axis=1)
        row.update(n_obs=int(used.sum()), n_dropped=int((~used).sum()))
        if len(ids) < 2:
            degenerate.append(f"{name!r} (one item)")
        else:
            frame = pd.DataFrame(mat[used], columns=ids)
            # boundary warnings of a subscale are collected and said once, naming the subscale (not `items`)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    res = cronbach_alpha(frame, nan_policy=spec.nan_policy)
                except ValueError as exc:
                    degenerate.append(f"{name!r} ({str(exc).split(';')[0].replace('`items`', 'its items')})")
                else:
                    lo, hi = res.confidence_interval(spec.confidence_level, ci_method=spec.ci_method)
                    row.update(alpha=res.alpha, ci_low=lo, ci_high=hi, std_alpha=res.std_alpha,
                               lambda6=res.lambda6, average_r=res.average_r)
                    if len(ids) >= 3:
                        row["omega_total"] = omega(frame, n_factors=1, nan_policy=spec.nan_policy).omega_total
            for w in caught:
                if issubclass(w.category, BoundaryWarning):
                    text = str(w.message).replace("the items of `items`", "its items").replace("`items`", "its items")
                    text = text.replace(" (reverse-keyed items not keyed? prefix them with '-' in `keys` and give "
                                        "`scale`)", "")
                    boundary.append(f"{name!r}: {text.rstrip('.')}")
                else:
                    warn(str(w.message), w.category)
        rows.append((name, row))
    dropped = [(name, row["n_dropped"]) for name, row in rows if row["n_dropped"]]
    if dropped:
        detail = ", ".join(f"{name}: {k}" for name, k in dropped)
        warn(f"respondents excluded per subscale of `data` (nan_policy={spec.nan_policy!r}) out of {len(data)}: "
             f"{detail}.", DroppedDataWarning)
    if boundary:
        n_sub = len({b.split(":")[0] for b in boundary})
        warn(f"the reliability of {n_sub} subscale(s) of `instrument` {inst.id!r} is outside its parameter "
             f"space: {'; '.join(boundary)}. Below 0: reverse-keyed items not marked as reversed in `instrument`?",
             BoundaryWarning)
    if degenerate:
        warn(f"reliability is undefined (NaN) for {len(degenerate)} subscale(s) of `instrument` "
             f"{inst.id!r}: {'; '.join(degenerate)}.", DegenerateDataWarning)
    table = pd.DataFrame([r for _, r in rows], index=pd.Index([n for n, _ in rows], name="subscale"))
    return table[_RELIABILITY_COLUMNS].astype(
        {"composite": bool, "n_items": np.int64, "n_obs": np.int64, "n_dropped": np.int64}
    )
