"""Non-independence: ICC(1), ICC(2), three-level VPCs, design effects, WABA.

Staff in the same team answer alike. This module measures how much: the
one-way ANOVA intraclass correlations of Bliese (2000) as in R multilevel,
variance partition coefficients for staff in teams in trusts (unbalanced
nested ANOVA or REML through :func:`teamculture.mixed`), the reliability of
group means, design effects and effective sample sizes, two-stage bootstrap
intervals, and within-and-between analysis (WABA).

All functions take a response (Series or 1-D array) and group labels (one
per row). Rows with a missing response are dropped and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.groups import factorize
from teamculture._core.validation import as_float_matrix
from teamculture._core.validation import check_choice, check_int, check_probability, few
from teamculture.errors import DroppedDataWarning

__all__ = ["icc1", "icc2", "icc", "ICCResult", "design_effect", "waba", "WABAResult"]


# ----------------------------------------------------------------------------
# NumPy core
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _OneWay:
    msb: float
    msw: float
    n_obs: int
    n_groups: int
    k_mean: float
    k_adjusted: float


def _oneway(v: np.ndarray, codes: np.ndarray, n_groups: int) -> _OneWay:
    """One-way ANOVA mean squares of ``v`` on ``codes`` (empty groups ignored)."""
    cnt = np.bincount(codes, minlength=n_groups).astype(float)
    present = cnt > 0
    G = int(present.sum())
    N = v.size
    if G < 2:
        raise ValueError(f"`groups` must have at least two groups with data; got {G}.")
    if N - G < 1:
        raise ValueError("Every group has one member: the within-group variance is not estimable.")
    with np.errstate(invalid="ignore", divide="ignore"):
        gm = np.bincount(codes, weights=v, minlength=n_groups) / cnt
    grand = v.mean()
    dev = v - gm[codes]
    ssw = float(dev @ dev)
    ssb = float(np.sum(cnt[present] * (gm[present] - grand) ** 2))
    n2 = float(np.sum(cnt[present] ** 2))
    return _OneWay(ssb / (G - 1), ssw / (N - G), N, G, N / G, (N - n2 / N) / (G - 1))


def _icc1_from(a: _OneWay, k: float) -> float:
    return (a.msb - a.msw) / (a.msb + (k - 1.0) * a.msw)


def _icc2_from(a: _OneWay) -> float:
    return (a.msb - a.msw) / a.msb


def _nested_anova(v: np.ndarray, outer: np.ndarray, inner: np.ndarray) -> dict[str, float]:
    """Unbalanced two-stage nested ANOVA (inner groups within outer groups).

    ``inner`` codes are unique across outer groups. Returns the variance
    components from the expected mean squares (may be negative) and the
    mean squares.
    """
    N = v.size
    a_cnt = np.bincount(outer).astype(float)
    b_cnt = np.bincount(inner).astype(float)
    a_present = a_cnt > 0
    b_present = b_cnt > 0
    a = int(a_present.sum())
    b = int(b_present.sum())
    if a < 2:
        raise ValueError(f"`groups` must have at least two outer groups with data; got {a}.")
    if b - a < 1:
        raise ValueError("Every outer group has a single inner group: the inner variance is not estimable.")
    if N - b < 1:
        raise ValueError("Every inner group has one member: the residual variance is not estimable.")
    # outer group of each inner group
    inner_outer = np.zeros(b_cnt.size, dtype=np.intp)
    inner_outer[inner] = outer
    with np.errstate(invalid="ignore", divide="ignore"):
        m_b = np.bincount(inner, weights=v, minlength=b_cnt.size) / b_cnt
        m_a = np.bincount(outer, weights=v, minlength=a_cnt.size) / a_cnt
    grand = v.mean()
    d = v - m_b[inner]
    ss_w = float(d @ d)
    ss_b = float(np.sum(b_cnt[b_present] * (m_b[b_present] - m_a[inner_outer[b_present]]) ** 2))
    ss_a = float(np.sum(a_cnt[a_present] * (m_a[a_present] - grand) ** 2))
    ms_a, ms_b, ms_w = ss_a / (a - 1), ss_b / (b - a), ss_w / (N - b)
    s_ij2_over_ni = float(np.sum(b_cnt[b_present] ** 2 / a_cnt[inner_outer[b_present]]))
    s_ij2 = float(np.sum(b_cnt ** 2))
    s_i2 = float(np.sum(a_cnt ** 2))
    c1 = (N - s_ij2_over_ni) / (b - a)
    c2 = (s_ij2_over_ni - s_ij2 / N) / (a - 1)
    c3 = (N - s_i2 / N) / (a - 1)
    tau_b = (ms_b - ms_w) / c1
    tau_a = (ms_a - ms_w - c2 * tau_b) / c3
    return {"tau_outer": tau_a, "tau_inner": tau_b, "sigma2": ms_w, "ms_outer": ms_a,
            "ms_inner": ms_b, "ms_within": ms_w, "c1": c1, "c2": c2, "c3": c3,
            "n_outer": a, "n_inner": b}


# ----------------------------------------------------------------------------
# front end helpers
# ----------------------------------------------------------------------------
def _response(y: Any, name: str = "y") -> tuple[np.ndarray, list[Any]]:
    x, cols = as_float_matrix(y, name=name)
    if x.shape[0] == 0:
        raise ValueError(f"`{name}` is empty.")
    if np.isinf(x).any():
        raise ValueError(f"`{name}` has {int(np.isinf(x).sum())} infinite value(s).")
    return x, cols


def _dropped_warning(n_drop: int, what: str) -> None:
    if n_drop:
        warnings.warn(f"{n_drop} row(s) with a missing value were dropped before computing {what}.",
                      DroppedDataWarning, stacklevel=3)


def _per_column(y: Any, groups: Any, what: str, fn) -> Any:
    x, cols = _response(y)
    codes, labels = factorize(groups, x.shape[0])
    out = []
    drops = 0
    for j in range(x.shape[1]):
        keep = ~np.isnan(x[:, j])
        drops += int((~keep).sum())
        out.append(fn(_oneway(x[keep, j], codes[keep], len(labels))))
    _dropped_warning(drops, what)
    if isinstance(y, pd.DataFrame):
        return pd.Series(out, index=pd.Index(cols), name=what)
    return out[0]


def icc1(y: Any, groups: Any, *, k: str = "mean") -> float | pd.Series:
    """ICC(1) from a one-way ANOVA: the share of variance due to group membership.

    Parameters
    ----------
    y : Series, array_like or DataFrame
        Response(s); a DataFrame gives one ICC(1) per column. Rows with a
        missing response are dropped (per column) and counted in a
        :class:`~teamculture.errors.DroppedDataWarning`.
    groups : array_like, shape (n,)
        Group label of each row.
    k : {"mean", "adjusted"}, default "mean"
        Group size in the formula: ``"mean"`` is N/G, as R multilevel's
        ``ICC1``; ``"adjusted"`` is the ANOVA literature's
        :math:`k_0 = (N - \\sum n_g^2/N)/(G - 1)`, which makes the estimator
        unbiased-ish for unbalanced groups (the two agree when groups are
        equal). The default follows R so numbers can be checked against it.

    Returns
    -------
    float or Series
        ICC(1) (may be negative when groups differ less than chance).

    Notes
    -----
    .. math:: ICC(1) = \\frac{MSB - MSW}{MSB + (k - 1) MSW}

    R: ``multilevel::ICC1(aov(y ~ as.factor(grp)))``.

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. In K. J. Klein & S. W. J. Kozlowski (Eds.),
       Multilevel theory, research, and methods in organizations
       (pp. 349-381). Jossey-Bass.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.icc1([1, 2, 3, 5, 6, 7], ["a", "a", "a", "b", "b", "b"])  # MSB 24, MSW 1: 23/26
    0.8846153846153846
    """
    check_choice("k", k, ("mean", "adjusted"))
    return _per_column(y, groups, "icc1",
                       lambda a: _icc1_from(a, a.k_mean if k == "mean" else a.k_adjusted))


def icc2(y: Any, groups: Any) -> float | pd.Series:
    """ICC(2) from a one-way ANOVA: the reliability of the group means.

    Parameters
    ----------
    y : Series, array_like or DataFrame
        Response(s); a DataFrame gives one ICC(2) per column. Missing rows
        are dropped and counted as in :func:`icc1`.
    groups : array_like, shape (n,)
        Group label of each row.

    Returns
    -------
    float or Series

    Notes
    -----
    .. math:: ICC(2) = \\frac{MSB - MSW}{MSB}

    which equals the Spearman-Brown step-up of ICC(1) (with ``k="mean"``)
    at the mean group size k: :math:`k\\,ICC(1)/(1 + (k - 1) ICC(1))`.

    R: ``multilevel::ICC2(aov(y ~ as.factor(grp)))``.

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.icc2([1, 2, 3, 5, 6, 7], ["a", "a", "a", "b", "b", "b"])  # 23/24
    0.9583333333333334
    """
    return _per_column(y, groups, "icc2", _icc2_from)


def design_effect(icc: Any, mean_group_size: Any) -> float | np.ndarray:
    """Kish's design effect of a cluster sample: 1 + (m - 1) ICC.

    Parameters
    ----------
    icc : float or array_like
        Intraclass correlation ICC(1).
    mean_group_size : float or array_like
        Mean number of respondents per group, m (>= 1).

    Returns
    -------
    float or ndarray
        The factor by which clustering inflates the variance of a mean;
        the effective sample size is N / design effect.

    Notes
    -----
    :math:`\\text{deff} = 1 + (\\bar m - 1)\\,ICC(1)`. R has no function
    for it in multilevel; in R write ``1 + (m - 1) * ICC1(aov(...))``.

    References
    ----------
    .. [1] Kish, L. (1965). Survey sampling. Wiley.

    Examples
    --------
    >>> import teamculture as tc
    >>> tc.design_effect(0.1, 28)
    3.7
    """
    r = np.asarray(icc, dtype=float)
    m = np.asarray(mean_group_size, dtype=float)
    if np.any(~np.isfinite(m)) or np.any(m < 1):
        raise ValueError(f"`mean_group_size` must be finite and >= 1; got {mean_group_size!r}.")
    if np.any(np.abs(r[np.isfinite(r)]) > 1):
        raise ValueError(f"`icc` must lie in [-1, 1]; got {icc!r}.")
    out = 1.0 + (m - 1.0) * r
    return float(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------
# icc(): full result, two or three levels
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ICCResult:
    """Intraclass correlations of staff nested in groups (from :func:`icc`).

    Attributes
    ----------
    method : str
        ``"anova"`` or ``"reml"``.
    levels : tuple of str
        Names of the grouping levels, outermost first (e.g. ``("trust",
        "team")``).
    variance_components : Series
        Estimated variances indexed by level name then ``"residual"``.
        ANOVA estimates may be negative.
    vpc : Series
        Variance partition coefficient of each level: its variance over the
        total (negative components kept as estimated).
    icc1 : float
        Correlation between two members of the same innermost group:
        the sum of all group-level variances over the total.
    icc2 : float
        Reliability of the innermost group means at group size ``k``:
        :math:`k\\,ICC1/(1 + (k - 1)ICC1)` (for the two-level ANOVA with
        ``k="mean"`` this equals :math:`(MSB - MSW)/MSB`).
    k : float
        Innermost group size used (mean N/G or the adjusted k0).
    design_effect : float
        :math:`1 + (k - 1)\\,ICC1` with k the mean innermost group size.
    effective_n : float
        ``n_obs / design_effect``.
    n_obs : int
        Rows used.
    n_dropped : int
        Rows dropped for a missing response.
    n_groups : Series
        Number of groups at each level.
    mean_squares : Series
        ANOVA mean squares (empty for REML).
    intervals : DataFrame
        Indexed by ``icc1``, ``icc2`` and ``vpc_<level>``; columns
        ``estimate``, ``ci_low``, ``ci_high`` (bootstrap percentile
        intervals, see :func:`icc`; NaN when ``n_boot=0``).
    n_boot : int
        Bootstrap replicates (0: none).
    confidence_level : float
        Coverage of ``intervals``.
    """

    method: str
    levels: tuple[str, ...]
    variance_components: pd.Series
    vpc: pd.Series
    icc1: float
    icc2: float
    k: float
    design_effect: float
    effective_n: float
    n_obs: int
    n_dropped: int
    n_groups: pd.Series
    mean_squares: pd.Series = field(repr=False)
    intervals: pd.DataFrame = field(repr=False)
    n_boot: int = 0
    confidence_level: float = 0.95

    def confidence_interval(self, which: str = "icc1") -> tuple[float, float]:
        """``(low, high)`` bootstrap interval for ``which`` (a row of ``intervals``)."""
        check_choice("which", which, list(self.intervals.index))
        row = self.intervals.loc[which]
        return float(row["ci_low"]), float(row["ci_high"])

    def summary(self) -> str:
        """Formatted summary."""
        lines = [f"Intraclass correlations ({self.method.upper()}), levels: {' > '.join(self.levels)}",
                 f"  observations {self.n_obs:,} (dropped {self.n_dropped:,}); groups: "
                 + ", ".join(f"{k} {int(v):,}" for k, v in self.n_groups.items())]
        for name, val in self.variance_components.items():
            vpc = self.vpc.get(name, np.nan)
            lines.append(f"  {name:<12} variance {val:10.5f}   VPC {vpc:7.4f}" if name != "residual"
                         else f"  {name:<12} variance {val:10.5f}")
        lines.append(f"  ICC(1) {self.icc1:.4f}   ICC(2) {self.icc2:.4f} at k = {self.k:.2f}")
        lines.append(f"  design effect {self.design_effect:.3f}, effective n {self.effective_n:,.1f}")
        if self.n_boot:
            lines.append(f"  {self.confidence_level:.0%} bootstrap intervals ({self.n_boot} replicates):")
            for name, row in self.intervals.iterrows():
                lines.append(f"    {name:<14} {row['estimate']:.4f}  [{row['ci_low']:.4f}, {row['ci_high']:.4f}]")
        return "\n".join(lines)

    __str__ = summary


def _group_levels(groups: Any, n: int) -> tuple[list[np.ndarray], list[pd.Index], list[str]]:
    """Codes, labels and names of one or two grouping levels (outer first, inner nested)."""
    if isinstance(groups, pd.DataFrame):
        cols = [groups[c] for c in groups.columns]
        names = [str(c) for c in groups.columns]
    elif isinstance(groups, (list, tuple)) and len(groups) in (2,) and all(np.ndim(g) == 1 for g in groups) \
            and len(groups[0]) == n:
        cols = list(groups)
        names = [str(getattr(g, "name", None) or f"level{i + 1}") for i, g in enumerate(cols)]
    else:
        cols = [groups]
        names = [str(getattr(groups, "name", None) or "group")]
    if len(cols) not in (1, 2):
        raise ValueError(f"`groups` must be one label column or two (outer, inner); got {len(cols)} columns.")
    if len(cols) == 2 and names[0] == names[1]:
        names = [names[0], names[1] + "_inner"]
    codes, labels = [], []
    for c, nm in zip(cols, names):
        cc, lab = factorize(c, n, name="groups")
        codes.append(cc)
        labels.append(lab)
    if len(cols) == 2:
        # inner groups are identified within their outer group (lme4's outer/inner),
        # so local labels reused across outer groups are not merged
        pair = codes[0].astype(np.int64) * (len(labels[1]) + 1) + codes[1]
        inner, _ = pd.factorize(pair, sort=True)
        codes[1] = inner.astype(np.intp)
    return codes, labels, names


def _icc_anova(v: np.ndarray, codes: list[np.ndarray], k_rule: str) -> dict[str, Any]:
    if len(codes) == 1:
        a = _oneway(v, codes[0], int(codes[0].max()) + 1)
        k = a.k_mean if k_rule == "mean" else a.k_adjusted
        i1 = _icc1_from(a, k)
        # variance components implied by the same k
        tau = (a.msb - a.msw) / k
        return {"tau": [tau], "sigma2": a.msw, "icc1": i1, "k": k, "k_mean": a.k_mean,
                "icc2": k * i1 / (1 + (k - 1) * i1), "ms": {"between": a.msb, "within": a.msw},
                "n_groups": [a.n_groups]}
    r = _nested_anova(v, codes[0], codes[1])
    N = v.size
    k_mean = N / r["n_inner"]
    k = k_mean if k_rule == "mean" else r["c1"]
    total = r["tau_outer"] + r["tau_inner"] + r["sigma2"]
    i1 = (r["tau_outer"] + r["tau_inner"]) / total
    return {"tau": [r["tau_outer"], r["tau_inner"]], "sigma2": r["sigma2"], "icc1": i1, "k": k,
            "k_mean": k_mean, "icc2": k * i1 / (1 + (k - 1) * i1),
            "ms": {"outer": r["ms_outer"], "inner": r["ms_inner"], "within": r["ms_within"]},
            "n_groups": [r["n_outer"], r["n_inner"]]}


def _icc_reml(v: np.ndarray, codes: list[np.ndarray], k_rule: str) -> dict[str, Any]:
    from teamculture.multilevel import mixed  # lazy: heavy, and built by another module

    names = [f"g{i}" for i in range(len(codes))]
    data = pd.DataFrame({"y": v, **{nm: c for nm, c in zip(names, codes)}})
    formula = "y ~ 1 + (1 | " + "/".join(names) + ")"
    fit = mixed(formula, data, reml=True)
    vc = fit.variance_components
    keys = [":".join(names[: i + 1]) for i in range(len(names))]
    tau = [float(vc[key]) for key in keys]
    sigma2 = float(vc["residual"])
    inner = codes[-1]
    cnt = np.bincount(inner)
    cnt = cnt[cnt > 0].astype(float)
    N = v.size
    k_mean = N / cnt.size
    k = k_mean if k_rule == "mean" else (N - np.sum(cnt ** 2) / N) / (cnt.size - 1)
    i1 = sum(tau) / (sum(tau) + sigma2)
    n_groups = [int(np.unique(c).size) for c in codes]
    return {"tau": tau, "sigma2": sigma2, "icc1": i1, "k": k, "k_mean": k_mean,
            "icc2": k * i1 / (1 + (k - 1) * i1), "ms": {}, "n_groups": n_groups}


def _cluster_indices(rng: np.random.Generator, codes: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One bootstrap sample: outermost groups drawn with replacement, members kept.

    Returns the row indices and the group codes of the sample (a group drawn
    twice becomes two groups).
    """
    top = codes[0]
    order = np.argsort(top, kind="stable")
    cnt = np.bincount(top)
    start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
    chosen = rng.integers(0, cnt.size, cnt.size)
    sizes = cnt[chosen]
    rows = order[np.repeat(start[chosen], sizes) + _ranges(sizes)]
    draw = np.repeat(np.arange(chosen.size), sizes)
    new_codes = [draw]
    if len(codes) == 2:
        inner = codes[1][rows].astype(np.int64) + draw.astype(np.int64) * (int(codes[1].max()) + 1)
        new_codes.append(pd.factorize(inner)[0].astype(np.intp))
    return rows, new_codes


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s)`` for each s in ``sizes``."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if ends.size else 0) - np.repeat(ends - sizes, sizes)


def icc(y: Any, groups: Any, *, method: str = "anova", k: str = "mean", n_boot: int = 0,
        confidence_level: float = 0.95, seed: Any = None) -> ICCResult:
    """Intraclass correlations, VPCs, group-mean reliability and design effect.

    Parameters
    ----------
    y : Series or array_like, shape (n,)
        Response. Rows with a missing response are dropped and counted.
    groups : array_like, or DataFrame / list of two label columns
        One label per row for two levels (staff in teams), or two columns
        ``[outer, inner]`` for three levels (staff in teams in trusts), e.g.
        ``staff[["trust", "team"]]``. Inner groups are identified within
        their outer group (lme4's ``(1 | trust/team)``), so local team
        numbers reused across trusts are safe.
    method : {"anova", "reml"}, default "anova"
        ``"anova"``: one-way ANOVA (two levels, Bliese's ICC(1)) or the
        unbalanced two-stage nested ANOVA (three levels), closed form.
        ``"reml"``: variance components from :func:`teamculture.mixed`
        (``y ~ 1 + (1 | outer/inner)``).
    k : {"mean", "adjusted"}, default "mean"
        Group size in ICC(1) (two-level ANOVA) and in the Spearman-Brown
        reliability ``icc2``: mean size N/G (R multilevel) or the adjusted
        k0 (see :func:`icc1`; for three levels the adjusted size is the
        coefficient c1 of the team variance below).
    n_boot : int, default 0
        Bootstrap replicates for percentile intervals (ANOVA only).
    confidence_level : float, default 0.95
        Coverage of the intervals.
    seed : int or numpy Generator, optional
        Seed for the bootstrap.

    Returns
    -------
    ICCResult

    Notes
    -----
    Two levels (ANOVA, Bliese 2000): ICC(1) = (MSB - MSW)/(MSB + (k - 1)MSW);
    the group variance implied is tau = (MSB - MSW)/k and sigma^2 = MSW.

    Three levels (ANOVA): sums of squares between outer groups (A), between
    inner groups within outer groups (B) and within inner groups (W), with
    expected mean squares E[MS_W] = sigma^2,
    E[MS_B] = sigma^2 + c1 tau_B, E[MS_A] = sigma^2 + c2 tau_B + c3 tau_A,

    .. math::

        c_1 = \\frac{N - \\sum_{ij} n_{ij}^2/n_i}{b - a},\\quad
        c_2 = \\frac{\\sum_{ij} n_{ij}^2/n_i - \\sum_{ij} n_{ij}^2/N}{a - 1},\\quad
        c_3 = \\frac{N - \\sum_i n_i^2/N}{a - 1},

    solved for the components (Searle, Casella & McCulloch 1992, sec. 5.2);
    for balanced data these equal the REML estimates when positive.
    VPC of a level = its variance / total; ICC1 (two members of one inner
    group) = (tau_A + tau_B)/total; ICC2 = k ICC1/(1 + (k - 1) ICC1);
    design effect = 1 + (k_mean - 1) ICC1 (Kish), effective n = N/deff.

    Intervals: the two-stage bootstrap in the form Davison and Hinkley
    (1997, sec. 3.8) recommend, groups with replacement at the first stage
    and members *without* replacement at the second (each drawn group keeps
    its members; for three levels the outer groups are drawn, keeping their
    inner groups), then the ANOVA estimates are recomputed and the
    percentile interval reported. Resampling members with replacement as
    well would duplicate respondents inside a group and inflate the ICC
    (Field & Welsh 2007). With few outer groups (e.g. 20 trusts) the
    intervals are rough.

    R: ``multilevel::ICC1``/``ICC2`` (two-level ANOVA);
    ``multilevel::mult.icc`` (two-level REML via nlme);
    ``lme4::VarCorr(lmer(y ~ 1 + (1 | trust/team)))`` (three-level REML).

    References
    ----------
    .. [1] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.
    .. [2] Searle, S. R., Casella, G., & McCulloch, C. E. (1992). Variance
       components. Wiley.
    .. [3] Davison, A. C., & Hinkley, D. V. (1997). Bootstrap methods and
       their application. Cambridge University Press.
    .. [4] Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data.
       JRSS B, 69, 369-390.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("small", seed=3)
    >>> res = tc.icc(sv.staff["latent_engagement"], sv.staff[["trust", "team"]])
    >>> res.levels
    ('trust', 'team')
    >>> [round(float(v), 2) for v in res.vpc]
    [0.04, 0.1]
    """
    check_choice("method", method, ("anova", "reml"))
    check_choice("k", k, ("mean", "adjusted"))
    nb = check_int("n_boot", n_boot, minimum=0)
    cl = check_probability("confidence_level", confidence_level, open_low=True, open_high=True)
    if nb and method != "anova":
        raise ValueError("`n_boot` > 0 (bootstrap intervals) is available for method='anova' only.")
    x, _ = _response(y)
    if x.shape[1] != 1:
        raise ValueError(f"`y` must be a single variable; got {x.shape[1]} columns.")
    codes, _labels, names = _group_levels(groups, x.shape[0])
    v = x[:, 0]
    keep = ~np.isnan(v)
    n_drop = int((~keep).sum())
    if n_drop:
        warnings.warn(f"{n_drop} row(s) with a missing response were dropped.", DroppedDataWarning, stacklevel=2)
        v = v[keep]
        codes = [c[keep] for c in codes]
    # compact codes (groups without data disappear)
    codes = [pd.factorize(c, sort=True)[0].astype(np.intp) for c in codes]
    est = _icc_anova(v, codes, k) if method == "anova" else _icc_reml(v, codes, k)
    total = sum(est["tau"]) + est["sigma2"]
    vc = pd.Series([*est["tau"], est["sigma2"]], index=[*names, "residual"], dtype=float)
    vpc = pd.Series(np.asarray(est["tau"]) / total, index=names, dtype=float)
    deff = 1.0 + (est["k_mean"] - 1.0) * est["icc1"]
    rows = ["icc1", "icc2", *[f"vpc_{nm}" for nm in names]]
    point = [est["icc1"], est["icc2"], *vpc.to_list()]
    low = np.full(len(rows), np.nan)
    high = np.full(len(rows), np.nan)
    if nb:
        rng = np.random.default_rng(seed)
        boot = np.empty((nb, len(rows)))
        for b in range(nb):
            idx, new_codes = _cluster_indices(rng, codes)
            try:
                e = _icc_anova(v[idx], new_codes, k)
                t = sum(e["tau"]) + e["sigma2"]
                boot[b] = [e["icc1"], e["icc2"], *(np.asarray(e["tau"]) / t)]
            except ValueError:
                boot[b] = np.nan
        alpha = 1.0 - cl
        low = np.nanquantile(boot, alpha / 2, axis=0)
        high = np.nanquantile(boot, 1 - alpha / 2, axis=0)
    intervals = pd.DataFrame({"estimate": point, "ci_low": low, "ci_high": high}, index=pd.Index(rows))
    return ICCResult(
        method=method,
        levels=tuple(names),
        variance_components=vc,
        vpc=vpc,
        icc1=float(est["icc1"]),
        icc2=float(est["icc2"]),
        k=float(est["k"]),
        design_effect=float(deff),
        effective_n=float(v.size / deff),
        n_obs=int(v.size),
        n_dropped=n_drop,
        n_groups=pd.Series(est["n_groups"], index=names, dtype=np.int64),
        mean_squares=pd.Series(est["ms"], dtype=float),
        intervals=intervals,
        n_boot=nb,
        confidence_level=cl,
    )


# ----------------------------------------------------------------------------
# WABA
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WABAResult:
    """Within-and-between analysis of two variables (from :func:`waba`).

    Attributes
    ----------
    raw_corr : float
        Correlation of x and y over individuals.
    eta_between_x, eta_between_y : float
        Correlation of each variable with its group means (assigned to
        members).
    corr_between : float
        Correlation of the group means (member-weighted).
    eta_within_x, eta_within_y : float
        Correlation of each variable with its within-group deviations.
    corr_within : float
        Correlation of the within-group deviations.
    icc2_x, icc2_y : float
        ICC(2) of x and y (ANOVA).
    corr_between_disattenuated : float
        :math:`r_W + (r_B - r_W)/\\sqrt{ICC2_x\\,ICC2_y}`.
    n_obs, n_groups, n_dropped : int
        Rows used, groups, rows dropped (missing x or y).
    """

    raw_corr: float
    eta_between_x: float
    eta_between_y: float
    corr_between: float
    eta_within_x: float
    eta_within_y: float
    corr_within: float
    icc2_x: float
    icc2_y: float
    corr_between_disattenuated: float
    n_obs: int
    n_groups: int
    n_dropped: int

    def summary(self) -> str:
        """Formatted covariance theorem."""
        return (
            "WABA covariance theorem: r_xy = etaBx*etaBy*rB + etaWx*etaWy*rW\n"
            f"  {self.raw_corr:.4f} = {self.eta_between_x:.4f}*{self.eta_between_y:.4f}*{self.corr_between:.4f}"
            f" + {self.eta_within_x:.4f}*{self.eta_within_y:.4f}*{self.corr_within:.4f}\n"
            f"  disattenuated between-group r = {self.corr_between_disattenuated:.4f}"
            f" (ICC2 x {self.icc2_x:.3f}, y {self.icc2_y:.3f})\n"
            f"  n = {self.n_obs:,} in {self.n_groups:,} groups (dropped {self.n_dropped:,})"
        )

    __str__ = summary


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


def waba(x: Any, y: Any, groups: Any) -> WABAResult:
    """Within-and-between analysis (WABA) of the correlation of x and y.

    Parameters
    ----------
    x, y : Series or array_like, shape (n,)
        The two variables. Rows with either missing are dropped and counted.
    groups : array_like, shape (n,)
        Group label of each row.

    Returns
    -------
    WABAResult

    Notes
    -----
    The covariance theorem of Dansereau et al. decomposes the raw
    correlation into between- and within-group parts:

    .. math:: r_{xy} = \\eta_{Bx}\\eta_{By} r_B + \\eta_{Wx}\\eta_{Wy} r_W

    where B uses the group means assigned to members and W the deviations
    from them. The between-group correlation corrected for the unreliability
    of group means is :math:`r_W + (r_B - r_W)/\\sqrt{ICC2_x ICC2_y}`.

    R: ``multilevel::waba(x, y, grpid)``.

    References
    ----------
    .. [1] Dansereau, F., Alutto, J. A., & Yammarino, F. J. (1984). Theory
       testing in organizational behavior: The varient approach.
       Prentice-Hall.
    .. [2] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", seed=1)
    >>> w = tc.waba(sv.staff["latent_engagement"], sv.staff["tenure"], sv.staff["team"])
    >>> parts = w.eta_between_x * w.eta_between_y * w.corr_between + \\
    ...     w.eta_within_x * w.eta_within_y * w.corr_within
    >>> bool(abs(parts - w.raw_corr) < 1e-12)
    True
    """
    xv, _ = _response(x, "x")
    yv, _ = _response(y, "y")
    if xv.shape[1] != 1 or yv.shape[1] != 1:
        raise ValueError("`x` and `y` must each be a single variable.")
    if xv.shape[0] != yv.shape[0]:
        raise ValueError(f"`x` and `y` must have the same length; got {xv.shape[0]} and {yv.shape[0]}.")
    codes, _labels = factorize(groups, xv.shape[0])
    xv, yv = xv[:, 0], yv[:, 0]
    keep = ~(np.isnan(xv) | np.isnan(yv))
    n_drop = int((~keep).sum())
    if n_drop:
        warnings.warn(f"{n_drop} row(s) with missing x or y were dropped.", DroppedDataWarning, stacklevel=2)
    xv, yv = xv[keep], yv[keep]
    codes = pd.factorize(codes[keep], sort=True)[0].astype(np.intp)
    G = int(codes.max()) + 1 if codes.size else 0
    if G < 2:
        raise ValueError(f"`groups` must have at least two groups with data; got {G}.")
    cnt = np.bincount(codes, minlength=G)
    bx = (np.bincount(codes, weights=xv, minlength=G) / cnt)[codes]
    by = (np.bincount(codes, weights=yv, minlength=G) / cnt)[codes]
    wx, wy = xv - bx, yv - by
    ax = _oneway(xv, codes, G)
    ay = _oneway(yv, codes, G)
    i2x, i2y = _icc2_from(ax), _icc2_from(ay)
    rB, rW = _corr(bx, by), _corr(wx, wy)
    with np.errstate(invalid="ignore"):
        dis = rW + (rB - rW) / np.sqrt(i2x * i2y)
    return WABAResult(
        raw_corr=_corr(xv, yv),
        eta_between_x=_corr(xv, bx),
        eta_between_y=_corr(yv, by),
        corr_between=rB,
        eta_within_x=_corr(xv, wx),
        eta_within_y=_corr(yv, wy),
        corr_within=rW,
        icc2_x=float(i2x),
        icc2_y=float(i2y),
        corr_between_disattenuated=float(dis),
        n_obs=int(xv.size),
        n_groups=G,
        n_dropped=n_drop,
    )
