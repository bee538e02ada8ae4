"""Pieces shared by the exact nested-slopes engine and the statsmodels backend.

Both fit lme4's profiled criteria from the same four sums at ``theta``:
``log|V/sigma^2|``, ``A = X'V^-1X sigma^2``, ``b = X'V^-1y sigma^2`` and
``c = y'V^-1y sigma^2`` (see :mod:`teamculture.multilevel._nested_slopes` and
:mod:`teamculture.multilevel._statsmodels_backend`), parametrise a correlated
term by the column-wise lower triangle of its relative Cholesky factor
(lme4's ``theta``) and report the fixed effects, variance components and
singularity in the same vocabulary. This module holds those pieces once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

#: lme4's ``isSingular`` tolerance on Cholesky diagonals / relative SDs.
SINGULAR_TOL = 1e-4
SINGULAR_NOTE = ("singular fit: a random-effects standard deviation (or Cholesky diagonal) is "
                 "estimated at, or within 1e-4 relative SD of, zero")


# --------------------------------------------------------------------------- terms
def term_columns(term: Any) -> list[str]:
    """Random-effects column names of a parsed term: ``"Intercept"`` (if any), then its slopes."""
    return (["Intercept"] if term.intercept else []) + [str(s) for s in term.slopes]


def covariate(name: str, X: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Values of a random-effects column: ones, a design column or a numeric data column."""
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
def lower_tri(vals: np.ndarray, q: int) -> np.ndarray:
    """Lower-triangular ``q x q`` matrix from its column-wise lower triangle (lme4's order)."""
    L = np.zeros((q, q))
    idx = 0
    for a in range(q):
        for b in range(a, q):
            L[b, a] = vals[idx]
            idx += 1
    return L


def diag_mask(q: int) -> list[bool]:
    """Which elements of a column-wise lower triangle of a ``q x q`` matrix are diagonal."""
    return [a == b for a in range(q) for b in range(a, q)]


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


# --------------------------------------------------------------------------- criteria
def profiled_criterion(logdet: float, A: np.ndarray, b: np.ndarray, c: float, n: int, p: int,
                       reml: bool) -> float:
    """lme4's profiled REML criterion (``reml``) or ML deviance from the sums at ``theta``."""
    cf = linalg.cho_factor(A, lower=True)
    beta = linalg.cho_solve(cf, b)
    rss = max(c - float(b @ beta), 1e-300)
    if reml:
        return logdet + 2.0 * float(np.log(np.diag(cf[0])).sum()) + (n - p) * (
            1.0 + np.log(2.0 * np.pi * rss / (n - p)))
    return logdet + n * (1.0 + np.log(2.0 * np.pi * rss / n))


def gls_estimates(A: np.ndarray, b: np.ndarray, c: float, n: int, p: int, reml: bool
                  ) -> tuple[np.ndarray, float, np.ndarray]:
    """``beta``, ``sigma^2`` (REML: ``n - p`` denominator) and ``Cov(beta)`` from the sums."""
    Ainv = linalg.inv(A)
    beta = Ainv @ b
    rss = c - float(b @ beta)
    sigma2 = rss / (n - p if reml else n)
    return beta, sigma2, sigma2 * Ainv


def deviance_at(logdet: float, A: np.ndarray, b: np.ndarray, c: float, sigma2: float, n: int,
                p: int, reml: bool) -> float:
    """``-2 log L`` (REML or ML) at ``sigma^2``, ``beta`` at its conditional estimate."""
    cf = linalg.cho_factor(A, lower=True)
    beta = linalg.cho_solve(cf, b)
    rss = c - float(b @ beta)
    dev = logdet + rss / sigma2 + n * np.log(2.0 * np.pi * sigma2)
    if reml:
        dev += 2.0 * float(np.log(np.diag(cf[0])).sum()) - p * np.log(2.0 * np.pi * sigma2)
    return float(dev)


# --------------------------------------------------------------------------- results
def fixed_effects_table(beta: np.ndarray, cov: np.ndarray, df: np.ndarray, names: list[str]
                        ) -> dict[str, Any]:
    """``BackendFit`` fields of the fixed effects: estimates, SEs, covariance, df, t, two-sided p."""
    fe = pd.Series(beta, index=names, name="fixed_effects")
    bse = pd.Series(np.sqrt(np.diag(cov)), index=names, name="bse")
    tval = (fe / bse).rename("tvalues")
    pval = pd.Series(2.0 * stats.t.sf(np.abs(tval.to_numpy()), df), index=names, name="pvalues")
    return {"fixed_effects": fe, "bse": bse, "cov_params": pd.DataFrame(cov, index=names, columns=names),
            "df": pd.Series(df, index=names, name="df"), "tvalues": tval, "pvalues": pval}
