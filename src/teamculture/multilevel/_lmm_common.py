"""Pieces shared by the multilevel engines.

The block-elimination engine (:mod:`teamculture.multilevel._blocked`) fits
lme4's profiled criteria, parametrises a correlated term by the column-wise
lower triangle of its relative Cholesky factor (lme4's ``theta``) and reports
the fixed effects, variance components and singularity in the vocabulary of
:class:`~teamculture.multilevel.MixedResult`; the front end uses the
identifiability helpers. This module holds those pieces once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from teamculture._core.validation import few
from teamculture.results import coef_table

#: lme4's ``isSingular`` tolerance on Cholesky diagonals / relative SDs.
SINGULAR_TOL = 1e-4


# --------------------------------------------------------------------------- terms
def term_columns(term: Any) -> list[str]:
    """Random-effects column names of a parsed term: ``"Intercept"`` (if any), then its slopes."""
    return (["Intercept"] if term.intercept else []) + [str(s) for s in term.slopes]


def covariate(name: str, X: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Values of a random-effects column: ones, a design column or a numeric column of ``frame``.

    :func:`teamculture.mixed` passes the evaluated slope columns (named as
    formulaic names them, like the design) as ``frame``.
    """
    if name == "Intercept":
        return np.ones(len(X))
    if name in X.columns:
        return X[name].to_numpy(dtype=float)
    if name in frame.columns and pd.api.types.is_numeric_dtype(frame[name]):
        return frame[name].to_numpy(dtype=float)
    raise ValueError(
        f"`formula`: random-slope term {name!r} must be a numeric column of the data or a column "
        "of the fixed-effects design."
    )


# --------------------------------------------------------------------------- theta
def chol_labels(terms: Sequence[str]) -> list[str]:
    """Label of each Cholesky element, in ``lower_tri`` order: ``"x"`` on the diagonal, ``"x,z"`` below."""
    q = len(terms)
    return [terms[b] if a == b else f"{terms[a]},{terms[b]}" for a in range(q) for b in range(a, q)]


def correlated_variances(group: str, terms: Sequence[str], cov: np.ndarray) -> dict[str, float]:
    """Variance components of one correlated term from its covariance matrix.

    ``"g"`` for a lone random intercept, else ``"g|term"`` for each variance
    then ``"g|term1,term2"`` for each covariance.
    """
    if list(terms) == ["Intercept"]:
        return {group: float(cov[0, 0])}
    q = len(terms)
    out = {f"{group}|{terms[a]}": float(cov[a, a]) for a in range(q)}
    for a in range(q):
        for b in range(a + 1, q):
            out[f"{group}|{terms[a]},{terms[b]}"] = float(cov[a, b])
    return out


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class BackendFit:
    """Estimates of the block-elimination engine (nested-slopes, crossed) in ``MixedResult``'s vocabulary.

    Attributes
    ----------
    fixed_effects : pandas.Series
        Fixed-effect estimates.
    coefficients : pandas.DataFrame
        The coefficient table (:data:`teamculture.results.COEF_COLUMNS`;
        Satterthwaite df, 95% intervals).
    cov_params : pandas.DataFrame
        Covariance of the fixed effects.
    variance_components : pandas.Series
        ``"g"`` for a random intercept of ``g`` alone, ``"g|term"`` for the
        variance of a term with slopes, ``"g|term1,term2"`` for a covariance,
        then ``"residual"``.
    theta : pandas.Series
        lme4's ``theta``, indexed by parameter name.
    loglik, deviance : float
        Maximised (REML) log-likelihood on lme4's scale and ``-2 * loglik``.
    reml : bool
        Whether the criterion is REML.
    random_effects : dict of str to pandas.DataFrame
        Per grouping factor, indexed by group label: ``blup`` / ``cond_var``
        for a lone random intercept, else one column per term and
        ``cond_var:<term>``.
    n_params : int
        Fixed effects + ``theta`` + 1 (residual).
    singular : bool
        Some Cholesky diagonal / relative SD below 1e-4 (lme4's rule).
    converged : bool
        The final optimiser run reported success (or could not improve).
    optimizer : str
        The run whose solution was best before polishing.
    criteria : dict of str to float
        The exact criterion at each run's solution (NaN if it failed).
    notes : tuple of str
        Messages (optimiser runs, singularity).
    """

    fixed_effects: pd.Series
    coefficients: pd.DataFrame
    cov_params: pd.DataFrame
    variance_components: pd.Series
    theta: pd.Series
    loglik: float
    deviance: float
    reml: bool
    random_effects: dict[str, pd.DataFrame]
    n_params: int
    singular: bool
    converged: bool
    optimizer: str
    criteria: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def fixed_effects_table(beta: np.ndarray, cov: np.ndarray, df: np.ndarray, names: list[str]
                        ) -> dict[str, Any]:
    """``BackendFit`` fields of the fixed effects: estimates, covariance and the coefficient table."""
    fe = pd.Series(beta, index=names, name="fixed_effects", dtype=float)
    se = np.sqrt(np.diag(cov))
    return {"fixed_effects": fe, "cov_params": pd.DataFrame(cov, index=names, columns=names),
            "coefficients": coef_table(beta, se, index=pd.Index(names), df=df)}


# --------------------------------------------------------------------------- identifiability
#: Residual variance within groups below this share of the response's total
#: variance (residual SD below 1e-5 of the response's SD) is zero to rounding:
#: the sufficient statistics cannot resolve it and the likelihood has no maximum.
RESIDUAL_FLOOR = 1e-10


def within_rss(Sxx: np.ndarray, sxy: np.ndarray, syy: float) -> float:
    """Residual sum of squares of a regression from its (within-group) scatter, scale-free.

    Columns are scaled to unit scatter (columns with none, such as an
    intercept after removing group means, are left out) and the normal
    equations solved with a relative cutoff, so neither a column in pounds
    (~1e8) nor one in tiny units changes the answer.
    """
    d = np.sqrt(np.clip(np.diag(Sxx), 0.0, None))
    top = float(d.max()) if d.size else 0.0
    keep = d > 1e-12 * top if top > 0 else np.zeros(d.shape, dtype=bool)
    if not keep.any():
        return max(float(syy), 0.0)
    dk = d[keep]
    C = Sxx[np.ix_(keep, keep)] / np.outer(dk, dk)
    b = sxy[keep] / dk
    w, U = np.linalg.eigh(C)
    pos = w > 1e-12 * max(float(w.max()), 1e-300)
    coef = U[:, pos] @ ((U[:, pos].T @ b) / w[pos])
    return max(float(syy) - float(b @ coef), 0.0)


def within_group_rss(X: np.ndarray, y: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[float, float]:
    """``(rss, tss)``: residual SS of ``y`` on ``X`` within the groups ``codes``, and its total SS."""
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    W = np.column_stack([X, y])
    means = np.stack([np.bincount(codes, weights=W[:, j], minlength=n_groups) for j in range(W.shape[1])],
                     axis=1) / np.maximum(counts, 1.0)[:, None]
    dev = W - means[codes]
    S = dev.T @ dev
    p = X.shape[1]
    yc = y - y.mean()
    return within_rss(S[:p, :p], S[:p, p], float(S[p, p])), float(yc @ yc)


def check_design_names(X: pd.DataFrame, frame: pd.DataFrame, response: str, used: set[str] | None = None) -> None:
    """Refuse fixed-effects design columns that could not be told apart (``mixed`` and ``glmm``).

    Two design columns of one name (a column of ``data`` named like a term
    formulaic creates, such as ``Intercept``), and a numeric column of
    ``frame`` used as a term whose values are not the design column of its
    name (formulaic keeps one of two terms with the same name: a column
    ``x:z`` next to the interaction ``x:z``, or one named like a category's
    dummy, would be dropped without a word). ``used`` are the columns of
    ``frame`` the fixed part names (None: all).
    """
    dup = X.columns[X.columns.duplicated()].unique().tolist()
    if dup:
        raise ValueError(
            f"`formula`: the fixed-effects design has two columns named {few(dup)} (a column of `data` named "
            "like a term formulaic creates, such as the intercept 'Intercept'); their estimates could not be told "
            "apart. Rename the column of `data`."
        )
    for c in X.columns:
        if c in frame.columns and c != response and (used is None or c in used) \
                and pd.api.types.is_numeric_dtype(frame[c].dtype) \
                and not pd.api.types.is_bool_dtype(frame[c].dtype):
            if not np.array_equal(X[c].to_numpy(), frame[c].to_numpy(dtype=np.float64, na_value=np.nan),
                                  equal_nan=True):
                raise ValueError(
                    f"`formula`: the column {c!r} of `data` has the name of another term of the formula (such as "
                    "the interaction of two columns, or a category's dummy); formulaic would keep only one of them. "
                    "Rename the column of `data`."
                )
