"""Likelihood-ratio comparison of two nested mixed models.

``compare(a, b)`` is what :meth:`MixedResult.compare` calls. It works on any
two objects with the :class:`~teamculture.multilevel.MixedResult`
attributes ``loglik``, ``reml``, ``fixed_effects``, ``variance_components``,
``n_params``, ``n_obs``, ``response``, ``formula`` and the method
``refit(reml=...)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from teamculture._core.groups import factorize, parent_map
from teamculture.results import Result, Summary, result_class

__all__ = ["CompareResult", "compare", "mixture_pvalue"]

_NEEDED = ("loglik", "reml", "fixed_effects", "variance_components", "n_params", "n_obs", "formula")


@result_class
class CompareResult(Result):
    """Likelihood-ratio test of a reduced model against a fuller one (from :func:`teamculture.compare`).

    Attributes
    ----------
    statistic : float
        ``2 * (loglik_full - loglik_reduced)``, set to 0 when negative (as
        lme4's ``anova``).
    df : int
        Difference in the number of parameters.
    pvalue : float
        p-value from the reference distribution named in ``method``.
    pvalue_chi2 : float
        p-value from the plain :math:`\\chi^2_{df}` distribution (what R's
        ``anova()`` prints); equal to ``pvalue`` unless a boundary mixture is used.
    method : str
        The reference distribution and criterion used.
    loglik_full, loglik_reduced : float
        Log-likelihoods of the two models as compared (REML or ML).
    n_params_full, n_params_reduced : int
        Numbers of estimated parameters.
    reml : bool
        Whether the REML criterion was compared (else ML).
    refitted : bool
        Whether one or both models were refitted with ML for the comparison.
    formula_full, formula_reduced : str
        The two model formulas.
    n_obs, n_dropped, n_groups
        Those of the fuller model (both models use the same rows).
    """

    statistic: float
    df: int
    pvalue: float
    pvalue_chi2: float
    method: str
    loglik_full: float
    loglik_reduced: float
    n_params_full: int
    n_params_reduced: int
    reml: bool
    refitted: bool
    formula_full: str
    formula_reduced: str

    def to_frame(self) -> pd.DataFrame:
        """The test as one row (R's ``anova`` table, second row): statistic, df, p-values, log-likelihoods."""
        return pd.DataFrame([{
            "statistic": self.statistic, "df": float(self.df), "pvalue": self.pvalue,
            "pvalue_chi2": self.pvalue_chi2, "loglik_full": self.loglik_full,
            "loglik_reduced": self.loglik_reduced, "n_params_full": float(self.n_params_full),
            "n_params_reduced": float(self.n_params_reduced)}], index=pd.Index(["full vs reduced"]))

    def summary(self) -> Summary:
        """The test as a :class:`~teamculture.results.Summary`."""
        crit = "REML" if self.reml else "ML"
        models = pd.DataFrame(
            {"formula": [self.formula_full, self.formula_reduced],
             "parameters": [self.n_params_full, self.n_params_reduced],
             f"{crit} log-likelihood": [self.loglik_full, self.loglik_reduced]},
            index=["full", "reduced"])
        return Summary(
            "Likelihood-ratio test",
            header=[("Statistic", self.statistic), ("df", self.df), ("p-value", self.pvalue),
                    ("Plain chi2 p-value", self.pvalue_chi2), ("Method", self.method)],
            tables=[("Models", models)],
        )


def mixture_pvalue(statistic: float, df: int) -> float:
    """p-value of the 50:50 mixture of :math:`\\chi^2_{df-1}` and :math:`\\chi^2_{df}`.

    :math:`p = \\tfrac12 P(\\chi^2_{df-1} \\ge T) + \\tfrac12 P(\\chi^2_{df} \\ge T)`,
    with :math:`\\chi^2_0` a point mass at zero (so for ``df = 1`` and
    :math:`T > 0`, :math:`p = \\tfrac12 P(\\chi^2_1 \\ge T)`; for :math:`T = 0`, p = 1).
    """
    t = float(statistic)
    upper = float(stats.chi2.sf(t, df))
    lower = (1.0 if t <= 0 else 0.0) if df == 1 else float(stats.chi2.sf(t, df - 1))
    return 0.5 * lower + 0.5 * upper


def _group_of(name: Any) -> str:
    return str(name).split("|", 1)[0]


def _n_variances(vc_index: Any) -> int:
    """Number of variance (not covariance) parameters among the random effects."""
    return sum(1 for k in vc_index if str(k) != "residual" and "," not in str(k))


def _same_partition(a: pd.Series, b: pd.Series) -> bool:
    """Whether two label columns group the rows identically (core :func:`factorize`/:func:`parent_map`)."""
    if len(a) != len(b):
        return False
    ca, la = factorize(a, name="group_labels")
    cb, lb = factorize(b, name="group_labels")
    return len(la) == len(lb) and parent_map(ca, cb, len(la)) is not None


def _unmatched_groupings(full: Any, reduced: Any) -> list[str]:
    """Groupings of ``reduced`` with no counterpart in ``full``.

    A grouping matches one of the same name, or — when both results carry
    ``group_labels`` — one that partitions the rows identically (``team`` with
    unique labels is the same grouping as ``trust:team``).
    """
    names_full = {_group_of(k) for k in full.variance_components.index} - {"residual"}
    names_red = {_group_of(k) for k in reduced.variance_components.index} - {"residual"}
    lab_full = getattr(full, "group_labels", None)
    lab_red = getattr(reduced, "group_labels", None)
    out = []
    for g in sorted(names_red - names_full):
        if (isinstance(lab_full, pd.DataFrame) and isinstance(lab_red, pd.DataFrame) and g in lab_red.columns
                and any(_same_partition(lab_red[g], lab_full[h])
                        for h in names_full if h in lab_full.columns)):
            continue
        out.append(g)
    return out


def _in_column_space(full: Any, reduced: Any) -> bool:
    """Whether every fixed-design column of ``reduced`` is a linear combination of ``full``'s.

    E.g. ``real`` lies in the span of ``real_cwc``, ``real_between`` and the
    intercept. False when the designs are not available.
    """
    xf, xr = getattr(full, "design", None), getattr(reduced, "design", None)
    if xf is None or xr is None or len(xf) != len(xr):
        return False
    A = np.asarray(xf, dtype=float)
    B = np.asarray(xr, dtype=float)
    # scale-free: columns of both designs at unit length (pounds and 1e-8 units alike)
    na = np.linalg.norm(A, axis=0)
    A = A[:, na > 0] / na[na > 0]
    nb = np.linalg.norm(B, axis=0)
    B = B / np.where(nb > 0, nb, 1.0)
    coef, *_ = np.linalg.lstsq(A, B, rcond=1e-12)
    resid = B - A @ coef
    return bool(np.all(np.linalg.norm(resid, axis=0) <= 1e-8))


def _validate_compare(a: Any, b: Any) -> None:
    for name, obj in (("a", a), ("b", b)):
        missing = [attr for attr in _NEEDED if not hasattr(obj, attr)]
        if missing:
            raise TypeError(
                f"`{name}` must be a fitted mixed model (teamculture.mixed result); "
                f"{type(obj).__name__} lacks {missing}."
            )
    if int(a.n_obs) != int(b.n_obs):
        raise ValueError(
            f"`b` was fitted to {int(b.n_obs)} rows and `a` to {int(a.n_obs)}; a likelihood-ratio "
            "test needs the same rows (drop missing values of all variables of both models before fitting)."
        )
    ra, rb = getattr(a, "response", None), getattr(b, "response", None)
    if ra is not None and rb is not None:
        ya, yb = np.asarray(ra, dtype=float), np.asarray(rb, dtype=float)
        if ya.shape != yb.shape or not np.array_equal(ya, yb):
            raise ValueError("`b` has a different response (or rows) than `a`; a likelihood-ratio "
                             "test needs the same response on the same rows.")
        ia, ib = getattr(ra, "index", None), getattr(rb, "index", None)
        if ia is not None and ib is not None and not ia.equals(ib):
            raise ValueError("`b` was fitted to other rows than `a` (their row labels differ); a "
                             "likelihood-ratio test needs the same rows.")
    for name, obj in (("a", a), ("b", b)):
        if not math.isfinite(float(obj.loglik)):
            raise ValueError(f"`{name}` has a non-finite log-likelihood ({obj.loglik!r}); nothing to compare.")
        if getattr(obj, "converged", True) is False:
            from teamculture._core.warn import warn
            from teamculture.errors import ConvergenceWarning

            warn(f"compare: `{name}` did not converge, so its log-likelihood may not be the maximum and the "
                 "test may be wrong.", ConvergenceWarning)
    if int(a.n_params) == int(b.n_params):
        raise ValueError(
            f"`a` and `b` both have {int(a.n_params)} parameters; a likelihood-ratio test "
            "needs one model nested in the other (fewer parameters)."
        )


def compare(a: Any, b: Any) -> CompareResult:
    """Likelihood-ratio test between two nested linear mixed models.

    Parameters
    ----------
    a, b : MixedResult
        Two fits to the same rows, one nested in the other (either order).

    Returns
    -------
    CompareResult
        Statistic, degrees of freedom, p-value and the method used.

    Notes
    -----
    The statistic is :math:`T = 2(\\ell_{full} - \\ell_{reduced})` (set to 0
    if negative), on ``df`` = difference in parameter counts.

    *Criterion.* When the fixed effects are the same, the REML
    log-likelihoods of REML fits are compared. When the fixed effects differ,
    REML likelihoods are not comparable, so REML fits are refitted by ML
    (``refit(reml=False)``) first and ``method`` says so — as R's
    ``anova()`` does by default.

    *Reference distribution.* When the models have the same fixed effects and
    the fuller one adds exactly one random effect (one variance, plus its
    ``df - 1`` covariances with existing random effects of that grouping
    factor), the variance is tested on the boundary of its space and
    :math:`T` follows the 50:50 mixture of :math:`\\chi^2_{df-1}` and
    :math:`\\chi^2_{df}` (Self & Liang 1987; Stram & Lee 1994); for one
    variance component, :math:`\\tfrac12\\chi^2_0 + \\tfrac12\\chi^2_1`, i.e.
    half the naive p-value. In general, adding one random effect to a model
    with :math:`q` correlated random effects gives the mixture of
    :math:`\\chi^2_q` and :math:`\\chi^2_{q+1}`. Otherwise (only fixed
    effects differ, or several variances are added at once, where the null is
    a chi-bar-square mixture with weights that depend on the information
    matrix) the plain :math:`\\chi^2_{df}` is used; for added variances it is
    conservative. The plain :math:`\\chi^2_{df}` p-value is always reported as
    ``pvalue_chi2``.

    R's ``anova(full, reduced)`` refits with ML; the mixture p-value is
    ``0.5 * pchisq(T, df - 1, lower.tail = FALSE) + 0.5 * pchisq(T, df, lower.tail = FALSE)``.

    R: ``anova(full, reduced, refit = FALSE)``

    References
    ----------
    .. [1] Self, S. G., & Liang, K.-Y. (1987). Asymptotic properties of maximum
       likelihood estimators and likelihood ratio tests under nonstandard
       conditions. *Journal of the American Statistical Association*, 82, 605-610.
    .. [2] Stram, D. O., & Lee, J. W. (1994). Variance components testing in the
       longitudinal mixed effects model. *Biometrics*, 50, 1171-1177.

    Examples
    --------
    >>> import teamculture as tc
    >>> s = tc.national_survey("small", rng=3)
    >>> full = tc.mixed("latent_engagement ~ tenure + (1 | trust) + (1 | team)", s.staff)
    >>> reduced = tc.mixed("latent_engagement ~ tenure + (1 | team)", s.staff)
    >>> test = full.compare(reduced)
    >>> test.df, test.reml, test.refitted
    (1, True, False)
    >>> bool(test.pvalue < 0.05), bool(test.pvalue <= test.pvalue_chi2)
    (True, True)
    """
    _validate_compare(a, b)
    full, reduced = (a, b) if int(a.n_params) > int(b.n_params) else (b, a)
    fe_full = [str(n) for n in full.fixed_effects.index]
    fe_red = [str(n) for n in reduced.fixed_effects.index]
    same_fixed = sorted(fe_full) == sorted(fe_red)
    if not set(fe_red) <= set(fe_full):
        if not _in_column_space(full, reduced):
            raise ValueError(
                f"`b`: the models are not nested: fixed effect(s) {sorted(set(fe_red) - set(fe_full))} of "
                "the smaller model are not in the larger one (nor linear combinations of its columns)."
            )
    unmatched = _unmatched_groupings(full, reduced)
    if unmatched:
        raise ValueError(
            f"`b`: the models are not nested: random-effect grouping(s) {unmatched} of "
            "the smaller model are not in the larger one."
        )
    notes = []
    refitted = False
    use_reml = bool(full.reml) and bool(reduced.reml) and same_fixed
    if not use_reml and (full.reml or reduced.reml):
        why = "fixed effects differ" if not same_fixed else "one fit is ML"
        full = full.refit(reml=False) if full.reml else full
        reduced = reduced.refit(reml=False) if reduced.reml else reduced
        refitted = True
        notes.append(f"models refitted with ML ({why})")
    crit = "REML" if use_reml else "ML"
    ll_full, ll_red = float(full.loglik), float(reduced.loglik)
    statistic = max(0.0, 2.0 * (ll_full - ll_red))
    df = int(full.n_params) - int(reduced.n_params)
    p_chi2 = float(stats.chi2.sf(statistic, df))
    added_variances = _n_variances(full.variance_components.index) - _n_variances(
        reduced.variance_components.index)
    if same_fixed and added_variances == 1:
        pvalue = mixture_pvalue(statistic, df)
        lo = "chi2(0)" if df == 1 else f"chi2({df - 1})"
        method = (f"{crit} likelihood-ratio test, one variance component on the boundary: "
                  f"50:50 mixture of {lo} and chi2({df}) (Self & Liang 1987)")
    else:
        pvalue = p_chi2
        method = f"{crit} likelihood-ratio test, chi2({df})"
        if added_variances > 1:
            method += " (conservative: several variance components tested on the boundary)"
    if notes:
        method += "; " + "; ".join(notes)
    return CompareResult(
        n_obs=int(full.n_obs), n_dropped=int(getattr(full, "n_dropped", 0) or 0),
        n_groups=getattr(full, "n_groups", None),
        statistic=statistic, df=df, pvalue=pvalue, pvalue_chi2=p_chi2, method=method,
        loglik_full=ll_full, loglik_reduced=ll_red,
        n_params_full=int(full.n_params), n_params_reduced=int(reduced.n_params),
        reml=use_reml, refitted=refitted,
        formula_full=str(full.formula), formula_reduced=str(reduced.formula),
    )
