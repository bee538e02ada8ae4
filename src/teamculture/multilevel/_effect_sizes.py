"""Effect sizes of fitted mixed models: standardised coefficients and the local f² (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import DroppedDataWarning
from teamculture._core.validation import check_choice, check_frame, did_you_mean, few
from teamculture._core.warn import warn
from teamculture.results import COEF_COLUMNS

__all__ = ["standardized_coefficients", "local_f_squared"]

#: Columns of :func:`standardized_coefficients`: the coefficient schema, then the SDs used.
STD_COLUMNS: tuple[str, ...] = (*COEF_COLUMNS, "sd_x", "sd_y")


# --------------------------------------------------------------------------- multilevel
def _coefficients(result: Any) -> pd.DataFrame:
    """The coefficient table of a fitted model: ``coefficients`` (COEF_COLUMNS), else ``fixed_effects``."""
    table = getattr(result, "coefficients", None)
    if isinstance(table, pd.DataFrame):
        missing = [c for c in COEF_COLUMNS if c not in table.columns]
        if missing:
            raise TypeError(f"`result.coefficients` lacks the column(s) {few(missing)} of the coefficient schema.")
        return table.loc[:, list(COEF_COLUMNS)].astype(float)
    fe = getattr(result, "fixed_effects", None)
    if isinstance(fe, pd.Series):
        out = pd.DataFrame(np.nan, index=fe.index, columns=list(COEF_COLUMNS))
        out["estimate"] = fe.astype(float)
        return out
    raise TypeError(
        "`result` must be a fitted model with a `coefficients` table (teamculture.mixed and the outcome "
        f"models) or a `fixed_effects` Series; got {type(result).__name__}."
    )


def _variance_components(result: Any, name: str) -> pd.Series:
    vc = getattr(result, "variance_components", None)
    if not isinstance(vc, pd.Series):
        raise TypeError(f"`{name}` must have a `variance_components` pandas Series; got {type(vc).__name__}.")
    if "residual" not in vc.index:
        raise ValueError(f"`{name}.variance_components` must include 'residual'; has {list(vc.index)!r}.")
    v = vc.astype(float)
    variances = v[[not ("," in str(k)) for k in v.index]]  # covariances may be negative
    bad = variances[~(variances >= 0)]
    if len(bad):
        raise ValueError(f"`{name}.variance_components` must be >= 0; got {bad.to_dict()!r}.")
    return v


def standardized_coefficients(result: Any, data: pd.DataFrame | None = None, *,
                              outcome: str | None = None) -> pd.DataFrame:
    """Standardised fixed effects of a (multilevel) regression.

    Parameters
    ----------
    result : object
        A fitted model with a ``coefficients`` table in the package schema
        (:data:`teamculture.results.COEF_COLUMNS`: results of
        :func:`teamculture.mixed` and of the outcome models), or with a
        ``fixed_effects`` Series of estimates only (the other columns are
        then NaN).
    data : pandas.DataFrame, optional
        Where to take the standard deviations from. Default: the result's
        own ``design`` matrix (every fixed-effect column, including dummies
        and interactions) and ``response`` (the rows used in the fit). With
        ``data``, each term that is a numeric column of ``data`` is
        standardised (others, such as the intercept, get NaN); rows with a
        missing or non-finite value in the outcome or those columns are
        left out, with a :class:`~teamculture.errors.DroppedDataWarning`
        that counts them.
    outcome : str, optional
        Name of the outcome column in ``data``; required with ``data``.

    Returns
    -------
    pandas.DataFrame
        Indexed by term, the float columns ``estimate``, ``std_error``,
        ``statistic``, ``df``, ``pvalue``, ``ci_low``, ``ci_high`` of the
        *standardised* coefficients (estimate, standard error and interval
        scaled by ``sd_x / sd_y``; ``statistic``, ``df`` and ``pvalue``
        unchanged, since the scaling is a constant), then ``sd_x`` and
        ``sd_y``, the standard deviations used. NaN for the intercept and
        for terms without a standard deviation (constant columns).

    Notes
    -----
    :math:`\\beta^* = \\beta\\, s_x / s_y` with the total (observed) standard
    deviations (n − 1 denominator) of predictor and outcome over the rows
    used (Hox 2010, ch. 2); SEs scale the same way. In a multilevel model the
    total SD mixes within- and between-group variation; a group-level
    predictor's SD across rows weights groups by size.

    R: ``effectsize::standardize_parameters(fit, method = "basic")``

    References
    ----------
    .. [1] Hox, J. J. (2010). Multilevel Analysis: Techniques and Applications,
       2nd ed. Routledge.

    Examples
    --------
    >>> import pandas as pd
    >>> import teamculture as tc
    >>> from types import SimpleNamespace
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0]})
    >>> fit = SimpleNamespace(fixed_effects=pd.Series({"(Intercept)": 1.0, "x": 1.4}))
    >>> tc.standardized_coefficients(fit, df, outcome="y")["estimate"].round(6)
    term
    (Intercept)         NaN
    x              0.989949
    Name: estimate, dtype: float64
    """
    table = _coefficients(result)
    est = table["estimate"]
    if data is None:
        if outcome is not None:
            raise ValueError("`outcome` is used only with `data`; without `data` the model's own rows are used.")
        design = getattr(result, "design", None)
        response = getattr(result, "response", None)
        if not isinstance(design, pd.DataFrame) or not isinstance(response, pd.Series):
            raise TypeError(
                "without `data`, `result` must have `design` (DataFrame) and `response` (Series); "
                "pass `data` and `outcome` instead."
            )
        y = response.to_numpy(dtype=float)
        cols = {t: design[t].to_numpy(dtype=float) for t in est.index if t in design.columns}
    else:
        data = check_frame(data, "data")
        if not isinstance(outcome, str) or outcome not in data.columns:
            hint = did_you_mean(outcome, data.columns) if isinstance(outcome, str) else ""
            raise ValueError(f"`outcome` must name a column of `data`; got {outcome!r}.{hint}")
        if not pd.api.types.is_numeric_dtype(data[outcome]) or isinstance(data[outcome].dtype, pd.CategoricalDtype):
            raise TypeError(f"`outcome` column {outcome!r} must be numeric; it has dtype {data[outcome].dtype}.")
        terms = [t for t in est.index if t in data.columns and pd.api.types.is_numeric_dtype(data[t])
                 and not isinstance(data[t].dtype, pd.CategoricalDtype)]
        used = data[[outcome, *terms]].astype(float)
        finite = np.isfinite(used.to_numpy()).all(axis=1)
        if not finite.all():
            dropped = used.index[~finite]
            warn(
                f"standardized_coefficients: dropped {dropped.size} of {len(used)} row(s) of `data` with "
                f"missing or non-finite values in {[outcome, *terms]!r}: rows {few(dropped.tolist())}.",
                DroppedDataWarning,
            )
        used = used[finite]
        y = used[outcome].to_numpy()
        cols = {t: used[t].to_numpy() for t in terms}
    source = "`result.response`" if data is None else f"`outcome` column {outcome!r} of `data`"
    if y.size < 2:
        raise ValueError(f"{source} has {y.size} complete row(s); standardised coefficients need at least 2.")
    sd_y = float(np.std(y, ddof=1))
    if not sd_y > 0:
        raise ValueError(f"{source} is constant over the rows used; standardised coefficients are undefined.")
    sd_x = pd.Series(np.nan, index=est.index, dtype=float)
    for t, x in cols.items():
        s = float(np.std(x, ddof=1))
        sd_x[t] = s if s > 0 else np.nan  # a constant column (the intercept) has no scale
    factor = (sd_x / sd_y).to_numpy()
    out = pd.DataFrame(index=pd.Index(est.index, name="term"))
    for c in COEF_COLUMNS:
        v = table[c].to_numpy(dtype=float)
        if c in ("estimate", "std_error", "ci_low", "ci_high"):
            v = v * factor
        elif c in ("statistic", "pvalue", "df"):
            v = np.where(np.isfinite(factor), v, np.nan)
        out[c] = v
    out["sd_x"] = sd_x.to_numpy()
    out["sd_y"] = sd_y
    return out


def local_f_squared(full: Any, reduced: Any, *, variance: str = "residual") -> float:
    """Local effect size f² of the terms in ``full`` but not in ``reduced`` (Selya et al. 2012).

    Parameters
    ----------
    full, reduced : object
        Two fitted mixed models of the same outcome on the same rows, with a
        ``variance_components`` Series that includes ``"residual"`` (as
        :func:`teamculture.mixed` results have); ``full`` adds the terms of
        interest to ``reduced``.
    variance : {"residual", "total"}
        Which variance the proportions explained are computed from: the
        level-1 residual variance, or the total of all variance components.

    Returns
    -------
    float
        f², negative when adding the terms increased the variance (it can
        happen with random-effect variances; report it, do not truncate).

    Notes
    -----
    With :math:`R^2_M = (V_0 - V_M)/V_0` for a model M relative to a null
    model with variance :math:`V_0`,

    .. math:: f^2 = \\frac{R^2_{AB} - R^2_{A}}{1 - R^2_{AB}} = \\frac{V_A - V_{AB}}{V_{AB}},

    so the null model cancels. Cohen's benchmarks: 0.02 small, 0.15 medium,
    0.35 large. Selya et al. use the residual variance (PROC MIXED); the
    total variance counts changes at every level.

    R: no single function; ``(sigma(fitA)^2 - sigma(fitAB)^2) / sigma(fitAB)^2``
    on two ``lme4`` fits.

    References
    ----------
    .. [1] Selya, A. S., Rose, J. S., Dierker, L. C., Hedeker, D. &
       Mermelstein, R. J. (2012). A practical guide to calculating Cohen's f²,
       a measure of local effect size, from PROC MIXED. Frontiers in
       Psychology 3, 111.

    Examples
    --------
    >>> import pandas as pd
    >>> import teamculture as tc
    >>> from types import SimpleNamespace
    >>> a = SimpleNamespace(variance_components=pd.Series({"team": 0.10, "residual": 0.70}))
    >>> ab = SimpleNamespace(variance_components=pd.Series({"team": 0.08, "residual": 0.60}))
    >>> round(tc.local_f_squared(ab, a), 6)
    0.166667
    >>> round(tc.local_f_squared(ab, a, variance="total"), 6)
    0.176471
    """
    variance = check_choice("variance", variance, ("residual", "total"))
    v_ab = _variance_components(full, "full")
    v_a = _variance_components(reduced, "reduced")
    n_full, n_red = getattr(full, "n_obs", None), getattr(reduced, "n_obs", None)
    if n_full is not None and n_red is not None and int(n_full) != int(n_red):
        raise ValueError(f"`reduced` was fitted to {int(n_red)} rows and `full` to {int(n_full)}; f² compares "
                         "two models of the same rows.")
    r_full, r_red = getattr(full, "response", None), getattr(reduced, "response", None)
    if isinstance(r_full, pd.Series) and isinstance(r_red, pd.Series) and not r_full.equals(r_red):
        raise ValueError("`reduced` has another response (or other rows) than `full`; f² compares two models of "
                         "the same outcome on the same rows.")
    fe_full, fe_red = getattr(full, "fixed_effects", None), getattr(reduced, "fixed_effects", None)
    if isinstance(fe_full, pd.Series) and isinstance(fe_red, pd.Series):
        extra = [str(t) for t in fe_red.index if t not in set(fe_full.index)]
        if extra:
            raise ValueError(
                f"`reduced` has fixed effect(s) {few(extra)} that are not in `full`; `full` must add terms to "
                "`reduced` (were the two models swapped? call local_f_squared(full, reduced))."
            )
    if variance == "residual":
        va, vab = float(v_a["residual"]), float(v_ab["residual"])
    else:
        slopes = [str(k) for k in (*v_a.index, *v_ab.index) if "|" in str(k)]
        if slopes:
            raise ValueError(
                f"`variance`='total' needs random-intercept models; found random-slope components {few(slopes)} "
                "(their total variance depends on the predictor). Use variance='residual'."
            )
        va, vab = float(v_a.sum()), float(v_ab.sum())
    if vab <= 0:
        raise ValueError(f"`full`: its {variance} variance must be > 0; got {vab!r}.")
    return (va - vab) / vab
