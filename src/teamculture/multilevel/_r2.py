"""Explained variance of linear mixed models: Nakagawa-Schielzeth and Rights-Sterba.

``r_squared(result)`` is what :meth:`MixedResult.r_squared` calls. It uses
the result's ``design``, ``fixed_effects``, ``variance_components`` and
``group_labels``. Variance-component names follow ``MixedResult``: a plain
grouping name (``"trust:team"``) is a random intercept; ``"g|term"`` is the
variance of a term of grouping ``g`` and ``"g|term1,term2"`` a covariance;
``"residual"`` the residual variance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.groups import factorize, group_sum, parent_map
from teamculture.results import Result, Summary, result_class

__all__ = ["R2Result", "r_squared"]

_INTERCEPT = ("Intercept", "(Intercept)", "1")
_NEEDED = ("design", "fixed_effects", "variance_components", "group_labels")


@result_class
class R2Result(Result):
    """Explained variance of a linear mixed model (from :func:`teamculture.r_squared`).

    Attributes
    ----------
    marginal : float
        Nakagawa-Schielzeth marginal R²: share of the total variance explained
        by the fixed effects.
    conditional : float
        Nakagawa-Schielzeth conditional R²: share explained by the fixed and
        random effects together.
    var_fixed : float
        Variance of the fixed-effects predictions :math:`X\\hat\\beta`
        (denominator n - 1).
    var_random : float
        Random-effects variance averaged over the rows,
        :math:`\\frac1n\\sum_i\\sum_g z_{gi}^\\top\\Sigma_g z_{gi}` (the sum of
        the variance components for random intercepts).
    var_residual : float
        Residual variance.
    decomposition : pandas.DataFrame
        Rights-Sterba decomposition of the total variance by source; index
        ``source`` (``"fixed: within <g>"``, ``"fixed: between <g>"`` ...,
        ``"random intercept: <g>"``, ``"random slope: <g>"`` when a grouping
        has random slopes, ``"residual"``), float columns ``variance`` and
        ``share`` (shares sum to 1).
    nested : bool
        Whether the grouping factors are nested, so the fixed part could be
        split into within- and between-cluster parts (otherwise one
        ``"fixed"`` row).
    n_obs, n_dropped, n_groups
        Those of the model (rows used, rows dropped, groups per factor).
    """

    marginal: float
    conditional: float
    var_fixed: float
    var_random: float
    var_residual: float
    decomposition: pd.DataFrame
    nested: bool

    def to_frame(self) -> pd.DataFrame:
        """The Rights-Sterba decomposition (columns ``variance``, ``share``)."""
        return self.decomposition.copy()

    def summary(self) -> Summary:
        """R² and the decomposition by source, as a :class:`~teamculture.results.Summary`."""
        return Summary(
            "R-squared of a linear mixed model",
            header=[("Marginal R² (Nakagawa & Schielzeth 2013)", self.marginal),
                    ("Conditional R²", self.conditional),
                    ("Observations", self.n_obs)],
            tables=[("Variance decomposition by source (Rights & Sterba 2019)", self.decomposition)],
        )


def _validate_r_squared(result: Any) -> None:
    missing = [a for a in _NEEDED if not hasattr(result, a)]
    if missing:
        raise TypeError(
            f"`result` must be a fitted mixed model (teamculture.mixed result); "
            f"{type(result).__name__} lacks {missing}."
        )
    design = result.design
    fe = result.fixed_effects
    if not isinstance(design, pd.DataFrame) or not isinstance(fe, pd.Series):
        raise TypeError("`result.design` must be a DataFrame and `result.fixed_effects` a Series; got "
                        f"{type(design).__name__} and {type(fe).__name__}.")
    if list(map(str, design.columns)) != list(map(str, fe.index)):
        raise ValueError("`result`: the design columns do not match the fixed effects "
                         f"({list(design.columns)[:5]} vs {list(fe.index)[:5]}).")
    if not isinstance(result.group_labels, pd.DataFrame) or len(result.group_labels) != len(design):
        raise ValueError("`result`: group_labels must be a DataFrame with one row per row of the design.")
    if len(design) < 2:
        raise ValueError(f"`result` rests on {len(design)} row(s); R² needs at least 2.")
    vc = result.variance_components
    if not isinstance(vc, pd.Series) or "residual" not in vc.index:
        raise ValueError("`result.variance_components` must be a Series with a 'residual' entry.")


def _cluster_mean(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Row-wise cluster means of ``values`` (n,) or (n, k) (sums by core :func:`group_sum`)."""
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    if values.ndim == 1:
        return (group_sum(codes, values, n_groups) / counts)[codes]
    return (group_sum(codes, values.T, n_groups) / counts[:, None])[codes]


def _chain(codes: dict[str, tuple[np.ndarray, int]]) -> list[str] | None:
    """Grouping names ordered coarse to fine if nested (core :func:`parent_map`), else None."""
    order = sorted(codes, key=lambda g: (codes[g][1], len(g)))
    for coarse, fine in zip(order[:-1], order[1:]):
        if parent_map(codes[fine][0], codes[coarse][0], codes[fine][1]) is None:
            return None
    return order


def _random_structure(vc: pd.Series) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per grouping factor: its terms and their covariance matrix."""
    entries: dict[str, dict[tuple[str, ...], float]] = {}
    for key, value in vc.items():
        key = str(key)
        if key == "residual":
            continue
        group, sep, term = key.partition("|")
        terms = tuple(t.strip() for t in term.split(",")) if sep else ("Intercept",)
        terms = tuple("Intercept" if t in _INTERCEPT else t for t in terms)
        entries.setdefault(group, {})[terms] = float(value)
    out = {}
    for group, d in entries.items():
        names: list[str] = []
        for terms in d:
            for t in terms:
                if t not in names:
                    names.append(t)
        if "Intercept" in names:
            names.remove("Intercept")
            names.insert(0, "Intercept")
        sigma = np.zeros((len(names), len(names)))
        for terms, value in d.items():
            i = names.index(terms[0])
            j = names.index(terms[-1])
            sigma[i, j] = sigma[j, i] = value
        out[group] = (names, sigma)
    return out


def r_squared(result: Any) -> R2Result:
    """Nakagawa-Schielzeth R² and the Rights-Sterba decomposition of a mixed model.

    Parameters
    ----------
    result : MixedResult
        A fitted model from :func:`teamculture.mixed`.

    Returns
    -------
    R2Result
        ``marginal`` and ``conditional`` R² and a ``decomposition`` table.

    Notes
    -----
    **Nakagawa & Schielzeth (2013)**, with Johnson's (2014) extension to random
    slopes. With :math:`\\sigma^2_f = \\operatorname{var}(X\\hat\\beta)`
    (denominator :math:`n-1`), :math:`\\sigma^2_r = \\frac1n\\sum_i\\sum_g
    z_{gi}^\\top \\hat\\Sigma_g z_{gi}` (:math:`z_{gi}` the random-effects
    covariates of row *i* for grouping *g*; for random intercepts
    :math:`\\sigma^2_r = \\sum_g \\hat\\tau^2_g`) and residual variance
    :math:`\\hat\\sigma^2`:

    .. math::

        R^2_{m} = \\frac{\\sigma^2_f}{\\sigma^2_f + \\sigma^2_r + \\hat\\sigma^2}, \\qquad
        R^2_{c} = \\frac{\\sigma^2_f + \\sigma^2_r}{\\sigma^2_f + \\sigma^2_r + \\hat\\sigma^2}.

    **Rights & Sterba (2019)** split the same total by source. With nested
    groupings :math:`g_1 \\supset \\dots \\supset g_L` (coarse to fine) and
    :math:`m_l` the row-wise mean of :math:`\\hat y_f = X\\hat\\beta` over the
    row's :math:`g_l` cluster (:math:`m_0` the grand mean), the fixed part is
    :math:`\\hat y_f - m_0 = (\\hat y_f - m_L) + \\sum_l (m_l - m_{l-1})`;
    the pieces are orthogonal, so their mean squares (scaled by
    :math:`n/(n-1)`) add up to :math:`\\sigma^2_f` exactly: "fixed: within
    :math:`g_L`" and "fixed: between :math:`g_l`" (between :math:`g_l`
    clusters within :math:`g_{l-1}`). With predictors centered within
    clusters these are R&S's :math:`f_1` and :math:`f_2`; with uncentered
    predictors they are the within/between parts of the fitted fixed part.
    Each grouping's random variance splits likewise, with :math:`\\bar z_{gi}`
    the cluster mean of :math:`z_{gi}`, into "random intercept"
    :math:`\\frac1n\\sum_i \\bar z_{gi}^\\top\\hat\\Sigma_g\\bar z_{gi}`
    (:math:`\\hat\\tau^2_g` for random intercepts; R&S's *m*) and
    "random slope" :math:`\\frac1n\\sum_i (z_{gi}-\\bar z_{gi})^\\top
    \\hat\\Sigma_g (z_{gi}-\\bar z_{gi})` (R&S's *v*). Shares are each
    source over the total, so they sum to 1; the fixed shares add up to
    :math:`R^2_m`, fixed plus random to :math:`R^2_c`. If the groupings are
    not nested the fixed part is one row.

    ``performance::r2_nakagawa`` declines singular fits, where we use the
    zero variance as estimated; ``r2mlm::r2mlm(fit)`` gives the
    Rights-Sterba decomposition of two-level models.

    R: ``performance::r2_nakagawa(fit)``

    References
    ----------
    .. [1] Nakagawa, S., & Schielzeth, H. (2013). A general and simple method for
       obtaining R² from generalized linear mixed-effects models. *Methods in
       Ecology and Evolution*, 4, 133-142.
    .. [2] Johnson, P. C. D. (2014). Extension of Nakagawa & Schielzeth's R²GLMM
       to random slopes models. *Methods in Ecology and Evolution*, 5, 944-946.
    .. [3] Rights, J. D., & Sterba, S. K. (2019). Quantifying explained variance
       in multilevel models: an integrative framework for defining R-squared
       measures. *Psychological Methods*, 24(3), 309-338.

    Examples
    --------
    >>> import teamculture as tc
    >>> s = tc.national_survey("small", rng=3)
    >>> staff = s.staff.assign(real=(s.staff["team_type"] == "real").astype(float))
    >>> fit = tc.mixed("latent_engagement ~ real + tenure + (1 | trust/team)", staff)
    >>> r2 = fit.r_squared()
    >>> round(r2.marginal, 3), round(r2.conditional, 3)
    (0.034, 0.161)
    >>> round(float(r2.decomposition["share"].sum()), 12)
    1.0
    """
    _validate_r_squared(result)
    design = result.design
    X = design.to_numpy(dtype=float)
    n = X.shape[0]
    beta = result.fixed_effects.to_numpy(dtype=float)
    # constant columns (the intercept) shift every prediction alike: leave them out, so that their rounding does
    # not show as a variance (an intercept-only model has a fixed variance of exactly 0)
    varying = (X != X[:1]).any(axis=0) if n else np.zeros(X.shape[1], dtype=bool)
    yhat = X[:, varying] @ beta[varying]
    var_fixed = float(np.var(yhat, ddof=1))
    scale = n / (n - 1.0)
    vc = result.variance_components
    resid = float(vc["residual"])
    structure = _random_structure(vc)
    labels = result.group_labels
    codes = {}
    for c in labels.columns:
        cc, lab = factorize(labels[c], name=f"result.group_labels[{c!r}]")
        codes[str(c)] = (cc, len(lab))
    unknown = [g for g in structure if g not in codes]
    if unknown:
        raise ValueError(f"`result`: variance components for grouping(s) {unknown} have no "
                         f"group labels (available: {list(codes)}).")
    chain = _chain(codes) if codes else None

    rows: dict[str, float] = {}
    if chain:
        means = [np.full(n, yhat.mean())] + [_cluster_mean(yhat, *codes[g]) for g in chain]
        rows[f"fixed: within {chain[-1]}"] = scale * float(np.mean((yhat - means[-1]) ** 2))
        for level in range(len(chain) - 1, -1, -1):
            g = chain[level]
            label = f"fixed: between {g}" if level == 0 else f"fixed: between {g} within {chain[level - 1]}"
            rows[label] = scale * float(np.mean((means[level + 1] - means[level]) ** 2))
    else:
        rows["fixed"] = var_fixed
    col_index = {("Intercept" if str(c) in _INTERCEPT else str(c)): k for k, c in enumerate(design.columns)}
    var_random = 0.0
    for g in (chain if chain else list(structure)):
        if g not in structure:
            continue
        names, sigma = structure[g]
        missing = [t for t in names if t != "Intercept" and t not in col_index]
        if missing:
            raise ValueError(f"`result`: random-slope term(s) {missing} of grouping {g!r} are not "
                             "columns of the fixed design; include them as fixed effects.")
        Z = np.column_stack([np.ones(n) if t == "Intercept" else X[:, col_index[t]] for t in names])
        Zbar = _cluster_mean(Z, *codes[g])
        dev = Z - Zbar
        between = float(np.mean(np.einsum("ij,jk,ik->i", Zbar, sigma, Zbar)))
        within = float(np.mean(np.einsum("ij,jk,ik->i", dev, sigma, dev)))
        rows[f"random intercept: {g}"] = between
        if len(names) > 1 or names[0] != "Intercept":
            rows[f"random slope: {g}"] = within
        var_random += between + within
    rows["residual"] = resid
    total = var_fixed + var_random + resid
    variance = pd.Series(rows, dtype=float)
    decomposition = pd.DataFrame({"variance": variance, "share": variance / total})
    decomposition.index.name = "source"
    return R2Result(
        n_obs=int(n), n_dropped=int(getattr(result, "n_dropped", 0) or 0),
        n_groups=getattr(result, "n_groups", None),
        marginal=var_fixed / total,
        conditional=(var_fixed + var_random) / total,
        var_fixed=var_fixed,
        var_random=var_random,
        var_residual=resid,
        decomposition=decomposition,
        nested=chain is not None,
    )
