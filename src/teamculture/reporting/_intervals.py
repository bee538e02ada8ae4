"""The result of :meth:`teamculture.MixedResult.variance_intervals` and
:meth:`teamculture.GLMMResult.variance_intervals` (private; public as
:class:`teamculture.reporting.VarianceIntervals`)."""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_confidence_level
from teamculture.results import Result, Summary, result_class

__all__ = ["VarianceIntervals"]


def percentile_limits(draws: np.ndarray, names: tuple[str, ...], confidence_level: float) -> pd.DataFrame:
    """Percentile intervals (``numpy.quantile``, R's type 7) of each column of ``draws``, ignoring NaN rows."""
    tail = (1.0 - confidence_level) / 2.0
    low, high = [], []
    for j in range(draws.shape[1]):
        col = draws[:, j]
        col = col[np.isfinite(col)]
        low.append(float(np.quantile(col, tail)) if col.size else math.nan)
        high.append(float(np.quantile(col, 1.0 - tail)) if col.size else math.nan)
    return pd.DataFrame({"ci_low": low, "ci_high": high}, index=pd.Index(names), dtype=float)


@result_class
class VarianceIntervals(Result):
    """Confidence intervals for the variance parameters of a mixed model.

    From :meth:`teamculture.MixedResult.variance_intervals`: profile-likelihood
    or parametric-bootstrap intervals for the standard deviations of the
    random effects and the residual, and for the correlations of random
    slopes, as lme4's ``confint(fit, parm = "theta_")``; and from
    :meth:`teamculture.GLMMResult.variance_intervals`: profile-likelihood
    intervals of a GLMM's random-effect SDs and correlations (its Laplace or
    adaptive-quadrature log-likelihood profiled; no residual row).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per parameter, indexed by the names of the model's
        ``variance_components`` (``"trust"``, ``"trust:team"``,
        ``"team|Intercept"``, ``"team|x"``, ``"team|Intercept,x"`` for a
        correlation, ``"residual"``). Float columns:

        ``estimate``, ``ci_low``, ``ci_high``
            The standard deviation (or correlation) of the fit and its
            interval (lme4's scale: ``.sig01``, ..., ``.sigma``).
        ``variance``, ``variance_ci_low``, ``variance_ci_high``
            The variance (covariance for a correlation row) and, for standard
            deviations, the interval squared (a monotone transformation of an
            interval is the interval of the transformed parameter); NaN for
            correlation rows, whose covariance interval is not a transform.
    parameters : pandas.Series
        ``"sd"`` or ``"cor"`` per row.
    ml_estimate : pandas.Series
        The ML estimates at the centre of the profile (a REML fit is
        profiled through its ML refit, as lme4 does); empty for a bootstrap.
    method : str
        ``"profile"`` or ``"bootstrap"``.
    reml : bool
        Whether the model was fitted by REML (bootstrap refits use the same
        method).
    confidence_level : float
        Level of the intervals in ``table``.
    n_resamples : int
        Bootstrap replicates (0 for a profile).
    draws : numpy.ndarray, shape (n_resamples, n_parameters)
        The bootstrap draws of every parameter, columns in the order of
        ``table`` (rows of failed refits are NaN); :meth:`confidence_interval`
        recomputes percentile intervals from them at any level.
    n_failed : int
        Bootstrap refits that failed or did not converge (left out).
    n_singular : int
        Bootstrap refits with a variance at zero (kept: they are part of the
        sampling distribution).
    formula : str
        The model's formula.
    n_obs, n_dropped, n_groups
        Those of the model.
    """

    table: pd.DataFrame
    parameters: pd.Series
    ml_estimate: pd.Series
    method: str
    reml: bool
    confidence_level: float
    n_resamples: int
    draws: np.ndarray
    n_failed: int
    n_singular: int
    formula: str
    _fit: Any = field(default=None, repr=False, compare=False)

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals of the SDs and correlations at ``confidence_level`` (columns ``ci_low``, ``ci_high``).

        ``None`` returns those of ``table``; another level profiles the model
        again (profile) or reads other percentiles of ``draws`` (bootstrap).
        """
        if confidence_level is None:
            return self.table[["ci_low", "ci_high"]].copy()
        level = check_confidence_level(confidence_level)
        if self.method == "bootstrap":
            return percentile_limits(self.draws, tuple(self.table.index), level)
        if self._fit is None:
            raise ValueError("`confidence_level`: this result was built without its model; call "
                             "fit.variance_intervals(confidence_level=...) instead.")
        return self._fit.variance_intervals(confidence_level=level).table[["ci_low", "ci_high"]]

    def to_frame(self) -> pd.DataFrame:
        """The interval table (a copy of ``table``)."""
        return self.table.copy()

    def summary(self) -> Summary:
        """The intervals on the SD scale (as lme4 prints them) and squared to variances."""
        glmm = hasattr(self._fit, "nagq")  # a GLMMResult: its own approximate likelihood, no REML
        if self.method == "profile" and glmm:
            how = f"profile likelihood ({self._fit.method} log-likelihood of the GLMM)"
        else:
            how = ("profile likelihood (ML deviance" + (", profiled through the ML refit of this REML fit" if self.reml
                                                        else "") + ")") if self.method == "profile" else (
            f"parametric bootstrap, {self.n_resamples} refits by {'REML' if self.reml else 'ML'}, percentiles")
        header = [("Formula", self.formula), ("Method", how), ("Level", f"{self.confidence_level:.0%}"),
                  ("Observations", self.n_obs)]
        shown = pd.DataFrame({
            "parameter": ["Std.Dev." if k == "sd" else "Corr" for k in self.parameters],
            "estimate": self.table["estimate"], "ci_low": self.table["ci_low"], "ci_high": self.table["ci_high"],
            "variance": self.table["variance"],
            "variance_ci_low": self.table["variance_ci_low"].map(lambda v: "" if math.isnan(v) else v),
            "variance_ci_high": self.table["variance_ci_high"].map(lambda v: "" if math.isnan(v) else v),
        }, index=self.table.index)
        notes = []
        if self.method == "profile" and self.reml:
            notes.append("as lme4's confint(method = 'profile'), the interval comes from the ML profile; its centre "
                         "is the ML estimate (ml_estimate), slightly smaller than the REML estimate shown")
        at_zero = [n for n, k in self.parameters.items() if k == "sd" and self.table.loc[n, "ci_low"] == 0]
        if at_zero:
            notes.append(f"lower limit 0 for {', '.join(map(str, at_zero))}: the data are compatible with no "
                         "variance at that level")
        if self.method == "bootstrap":
            if self.n_failed:
                notes.append(f"{self.n_failed} refits failed and were left out")
            if self.n_singular:
                notes.append(f"{self.n_singular} of {self.n_resamples} refits were singular (a variance at zero)")
        return Summary("Confidence intervals for the variance parameters", header=header,
                       tables=[("", shown)], notes=notes)
