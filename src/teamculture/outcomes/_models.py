"""Trust-level outcome models: mortality GLMs, SMR regressions and panels.

Three entry points, one result type (:class:`OutcomeFit`):

- :func:`mortality_glm` -- deaths with a log(expected deaths) offset:
  Poisson, quasi-Poisson or negative binomial (statsmodels GLM), with
  model-based, robust (sandwich) or cluster-robust standard errors;
- :func:`smr_regression` -- a linear model of the SMR (scaled to 100 by
  default), optionally weighted by expected deaths;
- :func:`panel_regression` -- trusts over survey years through linearmodels:
  within (PanelOLS with trust and year effects), random effects or between
  estimators, with standard errors clustered by trust.

Inputs are labelled trust-level DataFrames (one row per trust, or a
(trust, year) MultiIndex for panels), for example the simulator's
``trusts``/``panel`` tables or the output of the scoring step; results keep
the labels. :meth:`OutcomeFit.effect` hands a coefficient on a share to
:func:`teamculture.outcomes.share_effect` to express it in deaths per year.

statsmodels and linearmodels are imported inside the functions, so
``import teamculture`` stays light.

Why not plain Poisson? Trust mortality varies more than Poisson between
trusts with the same case mix (unmeasured quality, coding, catchment). With
about 1,200 expected deaths, Poisson noise alone has a relative SD of about
3 %, comparable to real between-trust variation, so Poisson standard errors
are too small and their intervals under-cover. Quasi-Poisson (Pearson
dispersion), the negative binomial and robust standard errors allow for
it; the coverage study in ``benchmarks/coverage_outcomes.py`` shows the
difference on simulated data.

Numerics are scale-free: the rank check judges each design column by its
direction, not its size (:func:`teamculture._core.validation.relative_rank`),
and the models are fitted to columns scaled to unit length, so a budget in
pounds (~5e8) or a rate times 1e-8 gives the same t statistics as the same
variable in other units.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning
from teamculture._core.groups import align, factorize
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    check_bool,
    check_choice,
    check_columns,
    check_confidence_level,
    check_frame,
    check_nan_policy,
    check_real,
    few,
    relative_rank,
)
from teamculture._core.warn import warn
from teamculture.results import Result, Summary, coef_table, interval_frame, result_class

__all__ = ["OutcomeFit", "mortality_glm", "smr_regression", "panel_regression"]

_INTERCEPT = "Intercept"
_COV_TYPES = ("unadjusted", "robust", "clustered")


# --------------------------------------------------------------------------- the result
@result_class
class OutcomeFit(Result):
    """A fitted trust-level outcome model.

    Attributes
    ----------
    model : str
        ``"poisson"``, ``"quasipoisson"``, ``"negbin"``, ``"ols"``, ``"wls"``,
        ``"within"``, ``"random"`` or ``"between"``.
    outcome : str
        What was modelled (e.g. ``"observed_deaths"`` or ``"100 * observed_deaths / expected_deaths"``).
    link : str
        ``"log"`` when coefficients are log rate ratios, ``"identity"``
        otherwise (used by :meth:`effect`).
    coefficients : pandas.DataFrame
        Indexed by term (``"Intercept"`` first where there is one), with the
        columns of every coefficient table (:data:`teamculture.results.COEF_COLUMNS`):
        ``estimate``, ``std_error``, ``statistic``, ``df``, ``pvalue``,
        ``ci_low``, ``ci_high``. ``df`` is the t degrees of freedom, ``inf``
        for z tests. A panel predictor absorbed by the fixed effects keeps its
        row, all NaN (see ``dropped_terms``).
    cov_type : str
        ``"unadjusted"`` (model-based), ``"robust"`` (sandwich) or
        ``"clustered"``.
    confidence_level : float
        Level of ``ci_low``/``ci_high``.
    use_t : bool
        Whether the tests and intervals use the t distribution (with the
        ``df`` of the table) rather than the normal.
    df_resid : float
        Residual degrees of freedom of the fit (rows minus estimated
        coefficients and, for panels, effects).
    dispersion : float
        Scale used for the SEs: 1 for Poisson and negative binomial, the
        Pearson χ²/df for quasi-Poisson, the residual variance for linear
        and panel models.
    nb_alpha : float
        Negative binomial over-dispersion (Var = μ + α μ²; R's ``theta`` is
        1/α); NaN for other models.
    log_likelihood : float
        NaN where there is none (quasi-Poisson, panels).
    deviance : float
        GLM deviance; residual sum of squares for linear and panel models.
    r_squared : float
        R² for linear models (for panels linearmodels' ``rsquared``: of the
        transformed model, as ``plm`` reports it); NaN for GLMs.
    smr_scale : float
        For SMR models: the value of an SMR of 1 on the outcome scale; NaN otherwise.
    converged : bool
        Whether the fit met its convergence criterion (False comes with a
        :class:`~teamculture.errors.ConvergenceWarning` and a note in
        :meth:`summary`).
    dropped_terms : tuple of str
        Predictors the model could not estimate and dropped with a
        :class:`~teamculture.errors.DegenerateDataWarning` (panel predictors
        absorbed by the trust or year effects); their rows are NaN.
    fitted : pandas.Series
        Fitted values (expected deaths under the model for GLMs) indexed like
        the rows used.
    n_obs : int
        Rows used.
    n_dropped : int
        Rows dropped for missing values.
    n_groups : int or None
        Trusts in a panel, clusters for clustered SEs, otherwise None.
    """

    model: str
    outcome: str
    link: str
    coefficients: pd.DataFrame
    cov_type: str
    confidence_level: float
    use_t: bool
    df_resid: float
    dispersion: float
    nb_alpha: float
    log_likelihood: float
    deviance: float
    r_squared: float
    smr_scale: float
    converged: bool
    dropped_terms: tuple[str, ...]
    fitted: pd.Series = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy; columns :data:`teamculture.results.COEF_COLUMNS`)."""
        return self.coefficients.copy()

    def model_parts(self) -> Any:
        """What :func:`teamculture.model_table` prints for this model (the model-table protocol).

        Returns
        -------
        teamculture.reporting.ModelParts
            Coefficients (exponentiated by the table for log links: rate
            ratios), R² of linear and panel models, log-likelihood, AIC and
            BIC where the model has a likelihood, trusts of a panel.
        """
        from teamculture.reporting._parts import ModelParts

        glm = self.model in ("poisson", "quasipoisson", "negbin")
        panel = self.model in ("within", "random", "between")
        method = {"poisson": "ML", "quasipoisson": "quasi-likelihood", "negbin": "ML", "ols": "OLS", "wls": "WLS"}
        notes = [] if self.converged else ["the fit did not converge"]
        if self.dropped_terms:
            notes.append(f"dropped (absorbed by the fixed effects): {', '.join(map(str, self.dropped_terms))}")
        return ModelParts(
            coefficients=self.coefficients, link=self.link, ratio_name="IRR" if glm else "Ratio",
            description=_TITLES.get(self.model, self.model), outcome=self.outcome,
            confidence_level=float(self.confidence_level),
            n_obs=int(self.n_obs), n_groups={"trusts": int(self.n_groups)} if panel and self.n_groups else {},
            r2=float(self.r_squared), loglik=float(self.log_likelihood), aic=self.aic, bic=self.bic,
            n_params=self.n_params, method=method.get(self.model, self.model),
            tests=("t" if self.use_t else "z") + (", " + _COV_TEXT[self.cov_type] + " SEs"
                                                   if self.cov_type != "unadjusted" else ""),
            converged=bool(self.converged), notes=tuple(notes),
        )

    @property
    def n_params(self) -> int:
        """Parameters counted by R's ``logLik`` df: the estimated coefficients, plus the negative binomial
        ``theta`` (``MASS::glm.nb``) or the residual variance (``lm``)."""
        p = int(self.coefficients["estimate"].notna().sum())
        return p + (1 if self.model in ("negbin", "ols", "wls") else 0)

    @property
    def aic(self) -> float:
        """Akaike's criterion ``-2 log_likelihood + 2 n_params``, as R's ``AIC()`` of the same fit.

        NaN where there is no likelihood: quasi-Poisson (R's ``AIC`` of a
        quasi family is ``NA`` too) and panel estimators.
        """
        return float(-2.0 * self.log_likelihood + 2.0 * self.n_params)

    @property
    def bic(self) -> float:
        """Schwarz's criterion ``-2 log_likelihood + log(n_obs) n_params``, as R's ``BIC()`` (NaN as :attr:`aic`)."""
        return float(-2.0 * self.log_likelihood + math.log(self.n_obs) * self.n_params)

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals at another level, from the same estimates, SEs and reference distribution.

        Parameters
        ----------
        confidence_level : float, optional
            Default: the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by term, columns ``ci_low`` and ``ci_high`` (t intervals
            with the table's ``df`` where ``use_t``, else normal).
        """
        if confidence_level is None:
            return self.coefficients[["ci_low", "ci_high"]].copy()
        level = check_confidence_level(confidence_level)
        return interval_frame(self.coefficients, level)

    def effect(
        self,
        term: str,
        *,
        delta: float = 5.0,
        change: str = "points",
        baseline_share: float | None = None,
        expected_deaths: float | None = None,
        baseline_smr: float | None = None,
    ) -> Any:
        """Translate the coefficient of ``term`` (a share in percent) into mortality and deaths.

        Calls :func:`teamculture.outcomes.share_effect` with this fit's
        estimate, its confidence interval (t or normal, as in the table) and
        link (the SMR scale for linear models of the SMR). See there for the
        arguments.
        """
        from teamculture.outcomes._translate import share_effect

        if term in self.dropped_terms:
            raise ValueError(f"`term` {term!r} was dropped from the model (absorbed by the fixed effects); "
                             "it has no estimate to translate.")
        check_choice("term", term, [t for t in self.coefficients.index if t != _INTERCEPT])
        if self.link == "identity" and not math.isfinite(self.smr_scale):
            raise ValueError("`term`: this model's outcome is not an SMR, so its coefficient cannot be read as "
                             "mortality (fit the SMR, or pass `smr_scale` to panel_regression).")
        row = self.coefficients.loc[term]
        kwargs: dict[str, Any] = {}
        if self.link == "identity":
            kwargs = {"smr_scale": self.smr_scale, "baseline_smr": baseline_smr}
        elif baseline_smr is not None:
            raise ValueError("`baseline_smr` applies to models of the SMR on an identity link; this fit has a log "
                             "link.")
        return share_effect(
            float(row["estimate"]), ci=(float(row["ci_low"]), float(row["ci_high"])), delta=delta,
            change=change, baseline_share=baseline_share, link=self.link, expected_deaths=expected_deaths,
            confidence_level=self.confidence_level, **kwargs,
        )

    def summary(self) -> Summary:
        """The fit as a :class:`~teamculture.results.Summary` (text, HTML, LaTeX, Markdown)."""
        header: list[tuple[str, Any]] = [
            ("outcome", self.outcome),
            ("rows used", self.n_obs),
            ("rows dropped", self.n_dropped),
            ("standard errors", _COV_TEXT[self.cov_type] + (
                f" ({self.n_groups} clusters)" if self.cov_type == "clustered" and self.n_groups else "")),
        ]
        if self.model in ("within", "random", "between"):
            header.append(("trusts", self.n_groups))
        if self.model == "quasipoisson":
            header.append(("dispersion (Pearson)", self.dispersion))
        if self.model == "negbin":
            header.append(("alpha (NB2)", self.nb_alpha))
            header.append(("theta = 1/alpha", 1.0 / self.nb_alpha if self.nb_alpha > 0 else math.inf))
        if math.isfinite(self.log_likelihood):
            header.append(("log-likelihood", self.log_likelihood))
            header.append(("AIC", self.aic))
            header.append(("BIC", self.bic))
        if math.isfinite(self.r_squared):
            header.append(("R-squared", self.r_squared))
        df = self.coefficients["df"].to_numpy(dtype=float)
        df_shown = format(float(df[np.isfinite(df)][0]), "g") if self.use_t and np.isfinite(df).any() else ""
        notes = [
            (f"t tests and {100 * self.confidence_level:g}% intervals on {df_shown} degrees of freedom"
             if self.use_t else f"z tests and {100 * self.confidence_level:g}% Wald intervals (normal)")
            + _CONVENTION.get((self.model, self.use_t), "")
        ]
        if self.dropped_terms:
            dropped = ", ".join(map(str, self.dropped_terms))
            notes.append(f"dropped (absorbed by the fixed effects, rows NaN): {dropped}")
        if not self.converged:
            notes.append("the fit did NOT converge; do not report these estimates")
        return Summary(_TITLES.get(self.model, self.model), header=header,
                       tables=[("Coefficients", self.coefficients)], notes=notes)


_TITLES = {
    "poisson": "Poisson GLM, log link, offset log(expected)",
    "quasipoisson": "Quasi-Poisson GLM, log link, offset log(expected)",
    "negbin": "Negative binomial (NB2) GLM, log link, offset log(expected)",
    "ols": "Linear model of the SMR (OLS)",
    "wls": "Linear model of the SMR (WLS, weights = expected deaths)",
    "within": "Panel within estimator (PanelOLS)",
    "random": "Panel random effects (RandomEffects)",
    "between": "Panel between estimator (BetweenOLS)",
}

_COV_TEXT = {"unadjusted": "model-based", "robust": "robust (sandwich)", "clustered": "cluster-robust"}

_CONVENTION = {
    ("quasipoisson", True): ", as R's summary.glm for quasi families",
    ("poisson", False): ", as R's summary.glm",
    ("negbin", False): ", as R's summary of MASS::glm.nb",
    ("ols", True): ", as R's summary.lm",
    ("wls", True): ", as R's summary.lm",
}


# --------------------------------------------------------------------------- shared validation
def _numeric(data: pd.DataFrame, cols: Sequence[Any], name: str, *, allow_bool: bool) -> None:
    """Every column in ``cols`` must be numeric (booleans only where ``allow_bool``)."""
    bad = []
    for c in cols:
        dt = data[c].dtype
        is_bool = pd.api.types.is_bool_dtype(dt)
        ok = (pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt)
              and (allow_bool or not is_bool)) or (allow_bool and is_bool)
        if not ok:
            bad.append((c, str(dt)))
    if bad:
        hint = (" Code categories as 0/1 columns first (e.g. pandas.get_dummies)." if name == "predictors"
                else " Convert it to numbers first.")
        raise TypeError(f"`{name}` column(s) {few([c for c, _ in bad])} must be numeric; got dtype "
                        f"{', '.join(sorted({d for _, d in bad}))}.{hint}")


def _check_predictors(data: pd.DataFrame, predictors: Any, reserved: Sequence[Any] = ()) -> list[Any]:
    if predictors is None or (isinstance(predictors, (list, tuple)) and len(predictors) == 0):
        raise ValueError("`predictors` must name at least one column of `data`; got none.")
    cols = check_columns(data, predictors, "predictors")
    if _INTERCEPT in cols:
        raise ValueError(f"`predictors` names a column {_INTERCEPT!r}, which is the name of the model's intercept; "
                         "rename the column.")
    overlap = [c for c in cols if c in reserved]
    if overlap:
        raise ValueError(f"`predictors` must not include the outcome or offset column(s) {few(overlap)}.")
    _numeric(data, cols, "predictors", allow_bool=True)
    return cols


def _check_center_at(center_at: Any, predictors: list[Any]) -> dict[Any, float]:
    if center_at is None:
        return {}
    if not isinstance(center_at, Mapping):
        raise TypeError(f"`center_at` must be a mapping {{predictor: value}}; got {type(center_at).__name__}.")
    unknown = [k for k in center_at if k not in predictors]
    if unknown:
        raise ValueError(f"`center_at` has key(s) {few(unknown)} that are not in `predictors` {few(predictors)}.")
    return {k: check_real(f"center_at[{k!r}]", v) for k, v in center_at.items()}


def _check_use_t(use_t: Any) -> bool | None:
    return None if use_t is None else check_bool("use_t", use_t)


def _clusters_for(data: pd.DataFrame, clusters: Any, cov_type: str) -> tuple[np.ndarray, pd.Index] | None:
    """Cluster codes (-1 for a missing label) for ``cov_type='clustered'``, aligned on ``data``'s index."""
    if cov_type != "clustered":
        if clusters is not None:
            raise ValueError(f"`clusters` is only used with cov_type='clustered'; got cov_type={cov_type!r}.")
        return None
    if clusters is None:
        raise ValueError("cov_type='clustered' needs `clusters`: a column or index-level name of `data`, or one "
                         "label per row (a Series aligned on the index of `data`).")
    if isinstance(clusters, (str, int)) and not isinstance(clusters, bool):
        if clusters in data.columns:
            labels: Any = data[clusters]
        elif clusters in [n for n in data.index.names if n is not None]:
            labels = pd.Series(data.index.get_level_values(clusters), index=data.index)
        else:
            names = list(data.columns) + [n for n in data.index.names if n is not None]
            raise ValueError(f"`clusters` {clusters!r} is neither a column nor an index level of `data`. "
                             f"Columns and index levels: {few(names, 12)}.")
    else:
        if isinstance(clusters, pd.DataFrame):
            raise ValueError("`clusters` must be one label per row (a column name or a Series), not a DataFrame.")
        labels = align(clusters, data.index, name="clusters", ref_name="data")
        if np.ndim(labels) != 1:
            raise ValueError(f"`clusters` must be one label per row; got shape {np.shape(labels)}.")
        if len(labels) != len(data):
            raise ValueError(f"`clusters` has {len(labels)} labels but `data` has {len(data)} rows.")
        if not isinstance(labels, pd.Series):
            labels = pd.Series(np.asarray(labels), index=data.index)
    codes, uniques = factorize(labels, None, name="clusters", missing="code")
    return codes, uniques


def _float_columns(data: pd.DataFrame, cols: Sequence[Any], names: Sequence[str]) -> np.ndarray:
    """``data[cols]`` as floats (NaN = missing); infinite values refused naming the parameter."""
    arr = data[list(cols)].to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(arr)
    if inf.any():
        j = int(np.flatnonzero(inf.any(axis=0))[0])
        rows = data.index[inf[:, j]].tolist()
        raise ValueError(f"`{names[j]}` column {cols[j]!r} has {len(rows)} infinite value(s) in rows {few(rows)}; "
                         "use NaN for a missing value.")
    return arr


def _complete(data: pd.DataFrame, arr: np.ndarray, names: Sequence[str], extra_missing: np.ndarray | None,
              nan_policy: str, what: str) -> tuple[np.ndarray | None, int]:
    """Rows with a missing value anywhere (and in ``extra_missing``) under ``nan_policy``."""
    col_missing = np.isnan(arr)
    missing = col_missing.any(axis=1)
    involved = [n for j, n in enumerate(names) if col_missing[:, j].any()]
    if extra_missing is not None:
        missing = missing | extra_missing
        if extra_missing.any():
            involved.append("clusters")
    name = "/".join(dict.fromkeys(involved)) or "data"
    return apply_nan_policy(missing, nan_policy, name=name, what=what, labels=np.asarray(data.index, dtype=object))


def _check_rank(X: np.ndarray, names: list[Any], what: str = "predictors") -> None:
    n, p = X.shape
    if n <= p:
        raise ValueError(f"`data` has too few usable rows ({n}) for {p} coefficients {few(names)}; it needs more "
                         "rows than coefficients.")
    _, dependent = relative_rank(X)
    if dependent.size:
        cols = [names[j] for j in dependent]
        constant = [names[j] for j in dependent if names[j] != _INTERCEPT and np.ptp(X[:, j]) == 0]
        kind = f" ({few(constant)} constant)" if constant else ""
        raise ValueError(
            f"`{what}` are collinear or constant: {few(cols)}{kind} are (numerically) combinations of the other "
            f"design columns {few([c for c in names if c not in cols], 8)} (judged relative to each column's "
            "scale). Drop or combine columns."
        )


def _warn_if_exact(resid_ss: float, total_ss: float, what: str) -> None:
    """A model that leaves no residual variation has zero standard errors: say so rather than print t = inf."""
    if not resid_ss > 1e-24 * total_ss or not total_ss > 0:
        warn(f"the model fits {what} exactly (no residual variation): the standard errors are 0 and the "
             "statistics and p-values are undefined (NaN or inf).", DegenerateDataWarning)


def _column_scale(X: np.ndarray) -> np.ndarray:
    """Column lengths (1 for an all-zero column): the design is fitted as ``X / scale``."""
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    return np.where(norms > 0, norms, 1.0)


def _standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Z = X C D^-1`` with centred, unit-length predictor columns, and ``M = C D^-1`` (so ``beta = M gamma``).

    ``X[:, 0]`` is the intercept. A budget in pounds (5e8 +- 5e3) is nearly parallel to the intercept;
    centring removes that, so the fit and its covariance keep their accuracy whatever the units.
    Coefficients and covariances of ``Z`` map back with ``beta = M gamma`` and ``M cov M'``.
    """
    p = X.shape[1]
    C = np.eye(p)
    C[0, 1:] = -X[:, 1:].mean(axis=0)
    Xc = X @ C
    d = _column_scale(Xc)
    return Xc / d, C / d


def _inverse_cross(Zw: np.ndarray) -> np.ndarray:
    """``(Zw' Zw)^-1`` from a QR decomposition of ``Zw`` (not from the normal equations)."""
    r = np.linalg.qr(Zw, mode="r")
    r_inv = np.linalg.solve(r, np.eye(r.shape[0]))
    return r_inv @ r_inv.T


@dataclass(frozen=True)
class _DeathsSpec:
    """What the deaths models (GLM and SMR regression) were asked for, validated."""

    data: pd.DataFrame
    predictors: list[Any]
    observed: Any
    expected: Any
    cov_type: str
    clusters: tuple[np.ndarray, pd.Index] | None
    center_at: dict[Any, float]
    use_t: bool | None
    nan_policy: str
    level: float


def _validate_deaths(data: Any, predictors: Any, observed: Any, expected: Any, cov_type: Any, clusters: Any,
                     center_at: Any, use_t: Any, nan_policy: Any, confidence_level: Any) -> _DeathsSpec:
    data = check_frame(data)
    if len(data) == 0:
        raise ValueError("`data` has no rows.")
    (observed,) = check_columns(data, observed, "observed")
    (expected,) = check_columns(data, expected, "expected")
    if observed == expected:
        raise ValueError(f"`observed` and `expected` name the same column {observed!r}.")
    _numeric(data, [observed], "observed", allow_bool=False)
    _numeric(data, [expected], "expected", allow_bool=False)
    predictors = _check_predictors(data, predictors, reserved=(observed, expected))
    check_choice("cov_type", cov_type, _COV_TYPES)
    nan_policy = check_nan_policy(nan_policy)
    level = check_confidence_level(confidence_level)
    center = _check_center_at(center_at, predictors)
    use_t = _check_use_t(use_t)
    codes = _clusters_for(data, clusters, cov_type)
    return _DeathsSpec(data, predictors, observed, expected, cov_type, codes, center, use_t, nan_policy, level)


@dataclass(frozen=True)
class _Rows:
    index: pd.Index
    y: np.ndarray  # observed
    e: np.ndarray  # expected
    X: np.ndarray  # design with the intercept first
    names: list[Any]
    clusters: np.ndarray | None  # codes 0..G-1 among the rows used
    n_clusters: int | None
    n_dropped: int


def _deaths_rows(spec: _DeathsSpec, what: str) -> _Rows:
    """The complete rows of the deaths models: outcome, offset, centred design, cluster codes."""
    cols = [spec.observed, spec.expected, *spec.predictors]
    names = ["observed", "expected"] + ["predictors"] * len(spec.predictors)
    arr = _float_columns(spec.data, cols, names)
    cl_missing = spec.clusters[0] < 0 if spec.clusters is not None else None
    keep, n_dropped = _complete(spec.data, arr, names, cl_missing, spec.nan_policy, what)
    index = spec.data.index
    codes = spec.clusters[0] if spec.clusters is not None else None
    if keep is not None:
        arr, index = arr[keep], index[keep]
        codes = codes[keep] if codes is not None else None
    if arr.shape[0] == 0:
        raise ValueError("`data` has no complete rows: every row has a missing value in `observed`, `expected`, "
                         "`predictors` or `clusters`.")
    y, e, x = arr[:, 0], arr[:, 1], arr[:, 2:].copy()
    bad_e = ~(e > 0)
    if bad_e.any():
        raise ValueError(f"`expected` must be > 0 (it is the denominator of the SMR and log(expected) the offset); "
                         f"{int(bad_e.sum())} row(s) are not: {few(index[bad_e].tolist())}. Drop these trusts "
                         "explicitly.")
    for j, p in enumerate(spec.predictors):
        if p in spec.center_at:
            x[:, j] -= spec.center_at[p]
    X = np.column_stack([np.ones(len(y)), x])
    n_clusters = None
    if codes is not None:
        codes = np.unique(codes, return_inverse=True)[1].astype(np.intp)
        n_clusters = int(codes.max()) + 1
        if n_clusters < 2:
            raise ValueError(f"`clusters` has {n_clusters} cluster among the {len(y)} rows used; cluster-robust "
                             "standard errors need at least 2 clusters (and many more to be reliable). Use "
                             "cov_type='robust' or 'unadjusted'.")
    return _Rows(index, y, e, X, [_INTERCEPT, *spec.predictors], codes, n_clusters, n_dropped)


def _test_df(use_t: bool, cov_type: str, df_resid: float, n_clusters: int | None) -> float:
    """t degrees of freedom (residual df; G - 1 with clustered SEs), ``inf`` for z tests."""
    if not use_t:
        return math.inf
    if cov_type == "clustered" and n_clusters is not None:
        return float(n_clusters - 1)
    return float(df_resid)


def _sandwich(Xs: np.ndarray, scores: np.ndarray, bread: np.ndarray, clusters: np.ndarray | None,
              n_clusters: int | None, small_sample: float) -> np.ndarray:
    """``bread @ meat @ bread`` with HC meat or cluster sums of the scores (times ``small_sample``)."""
    if clusters is None:
        meat = scores.T @ scores
    else:
        summed = np.zeros((n_clusters, scores.shape[1]))
        np.add.at(summed, clusters, scores)
        meat = summed.T @ summed
    return small_sample * (bread @ meat @ bread)


# --------------------------------------------------------------------------- mortality GLM
def _validate_mortality_glm(data, predictors, observed, expected, family, cov_type, clusters, center_at, use_t,
                            nan_policy, confidence_level) -> _DeathsSpec:
    check_choice("family", family, ["poisson", "quasipoisson", "negbin"])
    return _validate_deaths(data, predictors, observed, expected, cov_type, clusters, center_at, use_t, nan_policy,
                            confidence_level)


def mortality_glm(
    data: pd.DataFrame,
    *,
    predictors: str | Sequence[str],
    observed: str = "observed_deaths",
    expected: str = "expected_deaths",
    family: str = "quasipoisson",
    cov_type: str = "unadjusted",
    clusters: Any = None,
    center_at: Mapping[str, float] | None = None,
    use_t: bool | None = None,
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
) -> OutcomeFit:
    """Fit deaths against trust characteristics with a log(expected deaths) offset.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per trust (or trust-year), labelled by its index.
    predictors : str or list of str
        Numeric (or boolean) columns to include (e.g. ``"real_team_pct"``, in percent).
    observed, expected : str
        Columns of observed deaths (non-negative whole counts) and expected
        deaths (> 0, from the case-mix model).
    family : {"quasipoisson", "poisson", "negbin"}
        ``"poisson"``: variance μ. ``"quasipoisson"``: variance φμ with φ the
        Pearson χ²/(n − p) (same estimates, SEs × √φ). ``"negbin"``: NB2,
        variance μ + αμ², α by maximum likelihood.
    cov_type : {"unadjusted", "robust", "clustered"}
        Model-based SEs; the sandwich (HC0) estimator; or cluster-robust by
        ``clusters`` (with the G/(G−1)·(n−1)/(n−p) small-sample factor).
    clusters : str or pandas.Series, optional
        Cluster labels for ``cov_type="clustered"``: a column or index-level
        name of ``data``, or one label per row (a Series is matched to
        ``data`` by its index, never by position; an array pairs by
        position). Rows with a missing label are missing data.
    center_at : dict, optional
        Values subtracted from predictors before fitting (e.g.
        ``{"real_team_pct": 40}``), so the intercept is the log SMR at that
        share; slopes are unchanged.
    use_t : bool, optional
        Reference distribution of the tests and intervals. Default (None):
        R's convention -- t with the residual degrees of freedom for
        quasi-Poisson, as ``summary.glm`` (G − 1 df with clustered SEs), the
        normal for Poisson and the negative binomial. ``True``/``False``
        force t or z.
    nan_policy : {"omit", "raise"}
        Rows with a missing value in a used column (or a missing cluster
        label) are dropped (counted in ``n_dropped``, with a
        :class:`~teamculture.errors.DroppedDataWarning`) or raise.
    confidence_level : float, default 0.95
        Level of the Wald intervals (estimate ± quantile × SE, the quantile of
        the same distribution as the tests).

    Returns
    -------
    OutcomeFit
        Coefficients are log rate ratios per unit of each predictor;
        ``fitted`` are the expected deaths under the model.

    Notes
    -----
    The model is :math:`\\log \\mu_k = \\log E_k + \\beta_0 + x_k^\\top\\beta`
    with :math:`O_k` Poisson (or NB2) with mean :math:`\\mu_k`, fitted by
    IRLS; :math:`\\exp(\\beta_0)` is the SMR at ``x = center_at``. For the
    negative binomial, α is estimated by maximum likelihood and the
    coefficients and SEs are those of the GLM with α fixed at its estimate,
    as ``MASS::glm.nb`` reports them. Quasi-Poisson and Poisson give the same
    estimates; only the SEs differ.

    Tests and intervals follow R's ``summary.glm``: for quasi-Poisson the
    dispersion is estimated, so :math:`t = \\hat\\beta/\\mathrm{SE}` is
    referred to t with :math:`n - p` df and the interval is
    :math:`\\hat\\beta \\pm t_{n-p,\\,1-\\alpha/2}\\,\\mathrm{SE}`; Poisson and
    the negative binomial use z and the normal quantile, which is also what
    ``confint.default`` gives. (R's ``confint(fit)`` gives profile-likelihood
    intervals instead, which are not reported here.) With 20 trusts the
    difference matters: z = −7.55 is p = 4e-14, t(18) = −7.55 is p = 6e-7.

    Data problems raise errors naming the parameter: non-numeric columns,
    expected deaths <= 0, no deaths at all, collinear or constant predictors
    (judged relative to each column's scale), one cluster, no more rows than
    coefficients. Fitted rates that are numerically 0 (a predictor that
    separates trusts without deaths) give a
    :class:`~teamculture.errors.DegenerateDataWarning`: the estimates are
    then at infinity.

    R: ``glm(O ~ x, family = quasipoisson, offset = log(E))`` and
    ``summary(fit)``, ``family = poisson``,
    ``MASS::glm.nb(O ~ x + offset(log(E)))``; robust:
    ``sandwich::vcovHC(fit, type = "HC0")``; clustered:
    ``sandwich::vcovCL(fit, cluster = ~g, type = "HC1")``.

    References
    ----------
    .. [1] McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models,
       2nd ed. Chapman & Hall.
    .. [2] Venables, W. N. & Ripley, B. D. (2002). Modern Applied Statistics
       with S, 4th ed., §7.4. Springer.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, rng=3)
    >>> fit = tc.mortality_glm(sim.trusts, predictors="real_team_pct",
    ...                        family="quasipoisson", center_at={"real_team_pct": 40})
    >>> fit.coefficients.columns.tolist()
    ['estimate', 'std_error', 'statistic', 'df', 'pvalue', 'ci_low', 'ci_high']
    >>> fit.use_t, fit.coefficients.loc["real_team_pct", "df"]
    (True, np.float64(148.0))
    >>> b = fit.coefficients.loc["real_team_pct"]
    >>> bool(b["ci_low"] < sim.params.mortality_beta < b["ci_high"])
    True
    >>> print(fit.effect("real_team_pct", delta=5, expected_deaths=1212).statement)  # doctest: +NORMALIZE_WHITESPACE
    +5 percentage points of staff -> -3.41% mortality (95% CI -3.71% to -3.10%) -> -41.3 deaths
    per year for a trust with 1,212 expected deaths (95% CI -45.0 to -37.6)
    """
    spec = _validate_mortality_glm(data, predictors, observed, expected, family, cov_type, clusters, center_at,
                                   use_t, nan_policy, confidence_level)
    rows = _deaths_rows(spec, "the mortality model")
    y, e, X = rows.y, rows.e, rows.X
    bad_y = (y < 0) | (y != np.round(y))
    if bad_y.any():
        raise ValueError(f"`observed` must be non-negative whole counts; {int(bad_y.sum())} row(s) are not: "
                         f"{few(rows.index[bad_y].tolist())}.")
    if not (y > 0).any():
        raise ValueError(f"`observed` is 0 in all {len(y)} rows used; a mortality rate model needs at least one "
                         "death (the intercept would be minus infinity).")
    _check_rank(X, rows.names)
    n, p = X.shape
    Xs, M = _standardize(X)
    offset = np.log(e)

    import statsmodels.api as sm

    nb_alpha = math.nan
    if family == "negbin":
        nb_alpha = _negbin_alpha(y, Xs, offset)
        fam = sm.families.NegativeBinomial(alpha=nb_alpha) if nb_alpha > 0 else sm.families.Poisson()
    else:
        fam = sm.families.Poisson()
    # quasi-Poisson has the Poisson estimates; its dispersion scales the covariance below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter; we judge convergence below
        res = sm.GLM(y, Xs, family=fam, offset=offset).fit(tol=1e-12, maxiter=200)
    params_s = np.asarray(res.params, dtype=float)
    mu = np.asarray(res.mu, dtype=float)
    if not (np.all(np.isfinite(params_s)) and np.all(np.isfinite(mu))):
        raise ValueError("`observed`: the fit diverged (non-finite estimates); check for predictors that separate "
                         "trusts with and without deaths, or extreme values in `predictors`.")
    converged = _newton_step(Xs, y, mu, fam) <= 1e-6
    if not converged:
        warn("the GLM's IRLS did not converge in 200 iterations; the estimates are not reliable "
             "(converged=False).", ConvergenceWarning)
    tiny = mu < 1e-8 * e
    if tiny.any():
        warn(f"fitted rates are numerically 0 for {int(tiny.sum())} row(s) {few(rows.index[tiny].tolist())}: a "
             "predictor separates trusts without deaths, so some coefficients are at minus infinity and their "
             "estimates and standard errors are not meaningful.", DegenerateDataWarning)
    if family == "negbin" and nb_alpha == 0.0:
        warn("the negative binomial alpha is at its boundary 0 (no over-dispersion beyond Poisson; R's theta is "
             "infinite): the fit is the Poisson fit.", BoundaryWarning)
    df_resid = float(n - p)
    pearson = float(np.sum((y - mu) ** 2 / fam.variance(mu)))
    dispersion = pearson / df_resid if family == "quasipoisson" else 1.0
    if family == "quasipoisson":
        _warn_if_exact(pearson, float(np.sum((y - y.mean()) ** 2 / np.maximum(mu, 1e-300))),
                       "`observed` (a quasi-Poisson dispersion of 0)")
    var = fam.variance(mu)
    bread = _inverse_cross(Xs * np.sqrt(mu**2 / var)[:, None])  # (X'WX)^-1, the expected information
    if spec.cov_type == "unadjusted":
        cov_s = dispersion * bread
    else:
        scores = Xs * ((y - mu) * mu / var)[:, None]
        factor = 1.0
        if spec.cov_type == "clustered":
            g = rows.n_clusters
            factor = (g / (g - 1)) * ((n - 1) / (n - p))
        cov_s = _sandwich(Xs, scores, bread, rows.clusters, rows.n_clusters, factor)
    params = M @ params_s
    se = np.sqrt(np.diag(M @ cov_s @ M.T))
    use = (family == "quasipoisson") if spec.use_t is None else spec.use_t
    df = _test_df(use, spec.cov_type, df_resid, rows.n_clusters)
    coefs = coef_table(params, se, index=pd.Index(rows.names, name="term"), df=df,
                       confidence_level=spec.level)
    llf = math.nan if family == "quasipoisson" else float(res.llf)
    if family == "negbin":
        llf = _negbin_llf(y, mu, nb_alpha)
    return OutcomeFit(
        model=family, outcome=str(spec.observed), link="log", coefficients=coefs, cov_type=spec.cov_type,
        confidence_level=spec.level, use_t=bool(use), df_resid=df_resid, dispersion=dispersion, nb_alpha=nb_alpha,
        log_likelihood=llf, deviance=float(res.deviance), r_squared=math.nan, smr_scale=math.nan,
        converged=bool(converged), dropped_terms=(),
        fitted=pd.Series(mu, index=rows.index, name="fitted"),
        n_obs=n, n_dropped=rows.n_dropped, n_groups=rows.n_clusters,
    )


def _newton_step(X: np.ndarray, y: np.ndarray, mu: np.ndarray, fam: Any) -> float:
    """Largest |Fisher-scoring step| / SE at the current fit (0 at the exact optimum)."""
    var = fam.variance(mu)
    info = X.T @ (X * (mu**2 / var)[:, None])
    try:
        step = np.linalg.solve(info, X.T @ ((y - mu) * mu / var))
        sd = np.sqrt(np.diag(np.linalg.inv(info)))
    except np.linalg.LinAlgError:
        return math.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(step) / sd
    return float(np.max(ratio)) if np.all(np.isfinite(ratio)) else math.inf


def _negbin_llf(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    from scipy.special import gammaln

    if not alpha > 0:
        return float(np.sum(y * np.log(mu) - mu - gammaln(y + 1)))
    th = 1.0 / alpha
    return float(np.sum(gammaln(th + y) - gammaln(th) - gammaln(y + 1) + th * np.log(th / (th + mu))
                        + y * np.log(mu / (th + mu))))


def _negbin_alpha(y: np.ndarray, X: np.ndarray, offset: np.ndarray) -> float:
    """Maximum-likelihood NB2 α, alternating IRLS for β and a 1-D search for α (as glm.nb)."""
    import statsmodels.api as sm
    from scipy import optimize
    from scipy.special import digamma

    def beta_fit(fam, start=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.GLM(y, X, family=fam, offset=offset).fit(start_params=start, tol=1e-12, maxiter=200)

    res = beta_fit(sm.families.Poisson())
    mu = res.mu
    alpha = None
    settled = 0
    for _ in range(100):
        # ML for theta = 1/alpha given mu (score equation in log theta)
        def score(log_th):
            th = math.exp(log_th)
            return float(np.sum(digamma(th + y) - digamma(th) + np.log(th) + 1 - np.log(th + mu)
                                - (y + th) / (mu + th)))

        # theta in [e^-10, e^15]: beyond e^15 (alpha < 3e-7) the score is below rounding noise
        lo, hi = -10.0, 15.0
        if score(hi) > 0:  # likelihood still increasing at huge theta: no over-dispersion
            new_alpha = 0.0
        elif score(lo) < 0:
            new_alpha = math.exp(-lo)
        else:
            new_alpha = 1.0 / math.exp(optimize.brentq(score, lo, hi, xtol=1e-14, rtol=1e-14))
        fam = sm.families.NegativeBinomial(alpha=new_alpha) if new_alpha > 0 else sm.families.Poisson()
        res = beta_fit(fam, res.params)
        new_mu = res.mu
        done = alpha is not None and abs(new_alpha - alpha) <= 1e-10 * max(alpha, 1e-12) and np.allclose(
            new_mu, mu, rtol=1e-12, atol=0
        )
        # where the likelihood is flat in theta (little over-dispersion) alpha only settles to ~1e-7
        # relative; the fitted means (and so the coefficients) have converged when they stop moving
        settled = settled + 1 if alpha is not None and abs(new_alpha - alpha) <= 1e-6 * max(alpha, 1e-12) \
            and np.allclose(new_mu, mu, rtol=1e-10, atol=0) else 0
        alpha, mu = new_alpha, new_mu
        if done or settled >= 5:
            break
    else:
        warn("the negative binomial alpha did not converge in 100 rounds of alternating estimation.",
             ConvergenceWarning)
    if alpha == math.exp(10.0):
        warn("the negative binomial alpha reached its upper search bound e^10 (theta = e^-10): the counts are far "
             "more dispersed than a negative binomial with these predictors describes.", BoundaryWarning)
    return float(alpha)


# --------------------------------------------------------------------------- SMR regression
def _validate_smr_regression(data, predictors, observed, expected, smr_scale, weights, cov_type, clusters,
                             center_at, use_t, nan_policy, confidence_level) -> tuple[_DeathsSpec, float]:
    smr_scale = check_real("smr_scale", smr_scale, low=0.0, low_open=True)
    check_choice("weights", weights, [None, "expected"])
    spec = _validate_deaths(data, predictors, observed, expected, cov_type, clusters, center_at, use_t, nan_policy,
                            confidence_level)
    return spec, smr_scale


def smr_regression(
    data: pd.DataFrame,
    *,
    predictors: str | Sequence[str],
    observed: str = "observed_deaths",
    expected: str = "expected_deaths",
    smr_scale: float = 100.0,
    weights: str | None = None,
    cov_type: str = "unadjusted",
    clusters: Any = None,
    center_at: Mapping[str, float] | None = None,
    use_t: bool | None = None,
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
) -> OutcomeFit:
    """Linear model of the SMR (scaled to 100 by default) on trust characteristics.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per trust, labelled by its index.
    predictors : str or list of str
        Numeric (or boolean) predictor columns.
    observed, expected : str
        Columns of observed and expected deaths; the outcome is
        ``smr_scale * observed / expected``.
    smr_scale : float, default 100
        The value of an SMR of 1 on the outcome scale (100 as for HSMR).
    weights : {None, "expected"}
        Ordinary least squares, or weighted by expected deaths (the SMR's
        sampling variance is about SMR/E).
    cov_type : {"unadjusted", "robust", "clustered"}
        Classical SEs, HC1 sandwich, or clustered by ``clusters``.
    clusters : str or pandas.Series, optional
        Cluster labels for ``cov_type="clustered"`` (as in :func:`mortality_glm`).
    center_at : dict, optional
        Values subtracted from predictors before fitting.
    use_t : bool, optional
        Default (None): t with the residual degrees of freedom (G − 1 with
        clustered SEs), as R's ``summary.lm``; ``False`` for z.
    nan_policy : {"omit", "raise"}
        What to do with rows with missing values.
    confidence_level : float, default 0.95
        Level of the intervals.

    Returns
    -------
    OutcomeFit
        Coefficients are SMR points (on ``smr_scale``) per unit of each
        predictor; ``link`` is ``"identity"``.

    Notes
    -----
    :math:`S\\,O_k/E_k = \\beta_0 + x_k^\\top\\beta + \\varepsilon_k`, fitted by
    (weighted) least squares, with t-based inference on n − p degrees of
    freedom. The Poisson/NB GLM of :func:`mortality_glm` is usually the
    better model for counts; this one matches published HSMR regressions
    (e.g. Jarman et al. 1999). Expected deaths must be > 0 (an SMR with no
    expected deaths is infinite).

    R: ``lm(I(100 * O / E) ~ x, weights = E)`` and ``summary(fit)``;
    robust: ``sandwich::vcovHC(fit, type = "HC1")``.

    References
    ----------
    .. [1] Jarman, B. et al. (1999). Explaining differences in English hospital
       death rates using routinely collected data. BMJ 318, 1515-1520.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, rng=3)
    >>> fit = tc.smr_regression(sim.trusts, predictors="real_team_pct", weights="expected")
    >>> fit.link, fit.smr_scale, fit.use_t
    ('identity', 100.0, True)
    """
    spec, smr_scale = _validate_smr_regression(data, predictors, observed, expected, smr_scale, weights, cov_type,
                                               clusters, center_at, use_t, nan_policy, confidence_level)
    rows = _deaths_rows(spec, "the SMR regression")
    X = rows.X
    _check_rank(X, rows.names)
    n, p = X.shape
    y = smr_scale * rows.y / rows.e
    w = rows.e if weights == "expected" else np.ones(n)
    Xs, M = _standardize(X)
    # the outcome is fitted in units of its largest value (any smr_scale, no overflow); results scaled back
    y_unit = float(np.max(np.abs(y))) or 1.0
    y = y / y_unit
    sw = np.sqrt(w)
    Xw, yw = Xs * sw[:, None], y * sw
    q, r = np.linalg.qr(Xw)
    params_s = np.linalg.solve(r, q.T @ yw)
    resid = y - Xs @ params_s
    rss = float(np.sum(w * resid**2))
    df_resid = float(n - p)
    sigma2 = rss / df_resid
    r_inv = np.linalg.inv(r)
    bread = r_inv @ r_inv.T  # (Xw'Xw)^-1
    if spec.cov_type == "unadjusted":
        cov_s = sigma2 * bread
    else:
        scores = Xs * (w * resid)[:, None]
        if spec.cov_type == "robust":
            factor = n / (n - p)  # HC1
        else:
            g = rows.n_clusters
            factor = (g / (g - 1)) * ((n - 1) / (n - p))
        cov_s = _sandwich(Xs, scores, bread, rows.clusters, rows.n_clusters, factor)
    params = M @ params_s * y_unit
    se = np.sqrt(np.diag(M @ cov_s @ M.T)) * y_unit
    use = True if spec.use_t is None else spec.use_t
    df = _test_df(use, spec.cov_type, df_resid, rows.n_clusters)
    ybar = float(np.sum(w * y) / np.sum(w))
    tss = float(np.sum(w * (y - ybar) ** 2))
    _warn_if_exact(rss, tss, "the SMR")
    with np.errstate(divide="ignore", invalid="ignore"):
        coefs = coef_table(params, se, index=pd.Index(rows.names, name="term"), df=df, confidence_level=spec.level)
    r2 = 1.0 - rss / tss if tss > 0 else math.nan
    # Gaussian log-likelihood with the ML variance (R's logLik.lm, weights included), in the outcome's units
    with np.errstate(over="ignore"):  # an SMR scaled to 1e300 has a residual sum of squares of inf
        unit2 = float(np.float64(y_unit) ** 2)
    rss_units = rss * unit2
    with np.errstate(divide="ignore"):
        llf = 0.5 * (float(np.sum(np.log(w))) - n * (math.log(2 * math.pi) + 1 - math.log(n)
                                                     + float(np.log(rss) + 2 * math.log(y_unit))))
    return OutcomeFit(
        model="wls" if weights == "expected" else "ols",
        outcome=f"{smr_scale:g} * {spec.observed} / {spec.expected}", link="identity", coefficients=coefs,
        cov_type=spec.cov_type, confidence_level=spec.level, use_t=bool(use), df_resid=df_resid,
        dispersion=sigma2 * unit2, nb_alpha=math.nan, log_likelihood=llf, deviance=rss_units, r_squared=r2,
        smr_scale=smr_scale, converged=True, dropped_terms=(),
        fitted=pd.Series(Xs @ params_s * y_unit, index=rows.index, name="fitted"),
        n_obs=n, n_dropped=rows.n_dropped, n_groups=rows.n_clusters,
    )


# --------------------------------------------------------------------------- panels
def _group_demean(Z: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    out = np.empty_like(Z)
    for j in range(Z.shape[1]):
        means = np.bincount(codes, weights=Z[:, j], minlength=n_groups) / np.where(counts > 0, counts, 1.0)
        out[:, j] = Z[:, j] - means[codes]
    return out


def _within_transform(X: np.ndarray, ent: np.ndarray, n_ent: int, time: np.ndarray | None, n_time: int
                      ) -> np.ndarray:
    """Residuals of ``X`` on entity (and time) dummies, by alternating projections."""
    Z = X - X.mean(axis=0)
    norm0 = np.sqrt(np.einsum("ij,ij->j", Z, Z))
    for _ in range(10_000):
        prev = Z
        Z = _group_demean(Z, ent, n_ent)
        if time is None:
            return Z
        Z = _group_demean(Z, time, n_time)
        change = np.sqrt(np.einsum("ij,ij->j", Z - prev, Z - prev))
        if np.all(change <= 1e-14 * np.maximum(norm0, np.finfo(float).tiny)):
            break
    return Z


def _validate_panel_regression(data, predictors, outcome, log_outcome, smr_scale, estimator, time_effects, cov_type,
                               nan_policy, confidence_level):
    data = check_frame(data)
    if not isinstance(data.index, pd.MultiIndex) or data.index.nlevels != 2:
        raise ValueError("`data` must be indexed by a two-level MultiIndex (entity, time), e.g. (trust, year); "
                         f"got {type(data.index).__name__} with {data.index.nlevels} level(s). Use "
                         "data.set_index(['trust', 'year']).")
    if len(data) == 0:
        raise ValueError("`data` has no rows.")
    (outcome,) = check_columns(data, outcome, "outcome")
    _numeric(data, [outcome], "outcome", allow_bool=False)
    predictors = _check_predictors(data, predictors, reserved=(outcome,))
    check_choice("estimator", estimator, ["within", "random", "between"])
    check_choice("cov_type", cov_type, _COV_TYPES)
    nan_policy = check_nan_policy(nan_policy)
    log_outcome = check_bool("log_outcome", log_outcome)
    if time_effects is None:
        time_effects = estimator != "between"
    time_effects = check_bool("time_effects", time_effects)
    if estimator == "between" and time_effects:
        raise ValueError("the between estimator averages over years; `time_effects` must be False or None.")
    if smr_scale is not None:
        smr_scale = check_real("smr_scale", smr_scale, low=0.0, low_open=True)
        if log_outcome:
            raise ValueError("`smr_scale` applies to an untransformed SMR outcome; drop it with log_outcome=True.")
    level = check_confidence_level(confidence_level)
    for i, lev in enumerate(("entity", "time")):
        labels = data.index.get_level_values(i)
        if labels.isna().any():
            raise ValueError(f"`data` has {int(labels.isna().sum())} row(s) with a missing {lev} label in its index.")
    if data.index.duplicated().any():
        dup = data.index[data.index.duplicated()].tolist()
        raise ValueError(f"`data` has {len(dup)} duplicated (entity, time) row(s): {few(dup)}.")
    return data, predictors, outcome, log_outcome, smr_scale, time_effects, nan_policy, level


def panel_regression(
    data: pd.DataFrame,
    *,
    predictors: str | Sequence[str],
    outcome: str = "smr",
    log_outcome: bool = False,
    smr_scale: float | None = None,
    estimator: str = "within",
    time_effects: bool | None = None,
    cov_type: str = "clustered",
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
) -> OutcomeFit:
    """Panel regression of a trust outcome over survey years (linearmodels).

    Parameters
    ----------
    data : pandas.DataFrame
        Indexed by a two-level MultiIndex (trust, year), as the simulator's
        ``panel`` table.
    predictors : str or list of str
        Numeric (or boolean) predictor columns.
    outcome : str, default "smr"
        Outcome column.
    log_outcome : bool, default False
        Model ``log(outcome)``; coefficients are then approximately log rate
        ratios (``link="log"``). The outcome must be > 0.
    smr_scale : float, optional
        If the (untransformed) outcome is an SMR, the value of an SMR of 1 on
        its scale (1 for a ratio, 100 for HSMR); lets :meth:`OutcomeFit.effect`
        read the identity-link coefficient as mortality.
    estimator : {"within", "random", "between"}
        ``PanelOLS`` with trust fixed effects, ``RandomEffects`` (trust random
        intercepts, GLS), or ``BetweenOLS`` on trust means.
    time_effects : bool, optional
        Year effects (fixed for ``"within"``, year dummies for ``"random"``).
        Default True for those two; the between estimator has none.
    cov_type : {"clustered", "robust", "unadjusted"}
        SEs clustered by trust (default), heteroskedasticity-robust, or
        classical. For ``"between"`` (one row per trust) clustering by trust
        is the robust (HC1) estimator on the trust means.
    nan_policy : {"omit", "raise"}
        What to do with rows with missing values.
    confidence_level : float, default 0.95
        Level of the intervals (normal for clustered SEs, t with the residual
        df otherwise, as linearmodels reports them).

    Returns
    -------
    OutcomeFit
        Coefficients per unit of each predictor; ``n_groups`` is the number
        of trusts.

    Notes
    -----
    Within: :math:`y_{kt} = \\alpha_k + \\gamma_t + x_{kt}^\\top\\beta +
    \\varepsilon_{kt}`, estimated from changes within trusts, so it is free of
    stable trust confounders but uses only year-to-year variation in the
    share. Random effects: :math:`\\alpha_k \\sim N(0, \\sigma^2_\\alpha)`.
    Between: OLS of trust means. Clustered SEs use Stata's small-sample
    factor :math:`G/(G-1)\\cdot(n-1)/(n-k)` with the trust effects, which
    are nested in the clusters, not counted in k (linearmodels
    ``group_debias=True``, ``count_effects=False``).

    A predictor the trust (or year) effects absorb -- constant within every
    trust, such as teaching status, or (with year effects) the same for every
    trust in a year -- has no within estimate. It is dropped with a
    :class:`~teamculture.errors.DegenerateDataWarning`, listed in
    ``dropped_terms`` and kept in the table as a row of NaN (as R's ``lm``
    reports an aliased coefficient as ``NA``); use ``estimator="random"``
    or ``"between"`` to estimate it. Predictors collinear with each other
    (after removing the effects) or with the intercept raise an error.

    R: ``plm::plm(y ~ x, effect = "twoways", model = "within")``,
    ``model = "random"``, ``model = "between"``; clustered:
    ``plm::vcovHC(fit, cluster = "group", type = "sss")``; between,
    clustered: ``sandwich::vcovHC(lm(ybar ~ xbar), type = "HC1")``.

    References
    ----------
    .. [1] Wooldridge, J. M. (2010). Econometric Analysis of Cross Section and
       Panel Data, 2nd ed. MIT Press.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, rng=3)
    >>> fit = tc.panel_regression(sim.panel, predictors="real_team_pct", outcome="smr",
    ...                           log_outcome=True)
    >>> fit.model, fit.link, fit.n_groups, fit.n_obs
    ('within', 'log', 150, 750)
    """
    (data, predictors, outcome, log_outcome, smr_scale, time_effects, nan_policy,
     level) = _validate_panel_regression(data, predictors, outcome, log_outcome, smr_scale, estimator, time_effects,
                                         cov_type, nan_policy, confidence_level)
    cols = [outcome, *predictors]
    names = ["outcome"] + ["predictors"] * len(predictors)
    arr = _float_columns(data, cols, names)
    keep, n_dropped = _complete(data, arr, names, None, nan_policy, "the panel regression")
    index = data.index
    if keep is not None:
        arr, index = arr[keep], index[keep]
    if arr.shape[0] == 0:
        raise ValueError("`data` has no complete rows for `outcome` and `predictors`.")
    y, X = arr[:, 0], arr[:, 1:]
    if log_outcome:
        bad = ~(y > 0)
        if bad.any():
            raise ValueError(f"`outcome` must be > 0 for log_outcome=True; {int(bad.sum())} row(s) are not: "
                             f"{few(index[bad].tolist())}.")
        y = np.log(y)
    ent, ent_labels = factorize(index.get_level_values(0), None, name="data index (entity)")
    tim, tim_labels = factorize(index.get_level_values(1), None, name="data index (time)")
    n_ent, n_tim = len(ent_labels), len(tim_labels)
    n = len(y)
    if n_ent < 2:
        raise ValueError(f"`data` has {n_ent} trust (entity) among the rows used; a panel regression needs at "
                         "least 2.")

    # ---- absorbed and collinear predictors
    dropped: list[Any] = []
    if estimator == "within":
        Z = _within_transform(X, ent, n_ent, tim if time_effects else None, n_tim)
        total = np.sqrt(np.einsum("ij,ij->j", X - X.mean(axis=0), X - X.mean(axis=0)))
        within_norm = np.sqrt(np.einsum("ij,ij->j", Z, Z))
        absorbed = within_norm <= 1e-10 * total
        absorbed |= total == 0
        dropped = [predictors[j] for j in np.flatnonzero(absorbed)]
        if len(dropped) == len(predictors):
            effects = "trust and year effects" if time_effects else "trust effects"
            raise ValueError(
                f"`predictors` {few(predictors)}: every predictor is absorbed by the {effects} (constant within "
                "each trust" + (", or the same for every trust in a year" if time_effects else "") + "), so the "
                "within estimator cannot estimate any of them. Use estimator='random' or 'between'."
            )
        kept = [j for j in range(len(predictors)) if not absorbed[j]]
        _check_rank(Z[:, kept], [predictors[j] for j in kept], what="predictors (after removing the fixed effects)")
        df_resid = n - n_ent - (n_tim - 1 if time_effects else 0) - len(kept)
    else:
        kept = list(range(len(predictors)))
        if estimator == "random" and time_effects and n_tim > 1:
            # a predictor that is a function of the year only is absorbed by the year dummies
            Zt = _group_demean(X - X.mean(axis=0), tim, n_tim)
            total = np.sqrt(np.einsum("ij,ij->j", X - X.mean(axis=0), X - X.mean(axis=0)))
            year_only = (np.sqrt(np.einsum("ij,ij->j", Zt, Zt)) <= 1e-10 * total) & (total > 0)
            dropped = [predictors[j] for j in np.flatnonzero(year_only)]
            if len(dropped) == len(predictors):
                raise ValueError(f"`predictors` {few(predictors)}: every predictor varies only by year and is "
                                 "absorbed by the year effects; pass time_effects=False.")
            kept = [j for j in kept if not year_only[j]]
        design = X[:, kept]
        if estimator == "between":
            counts = np.bincount(ent, minlength=n_ent).astype(float)
            design = np.column_stack([np.bincount(ent, weights=design[:, j], minlength=n_ent) / counts
                                      for j in range(design.shape[1])])
        full = np.column_stack([np.ones(design.shape[0]), design])
        extra = 0
        if estimator == "random" and time_effects and n_tim > 1:
            dummies = (tim[:, None] == np.arange(1, n_tim)[None, :]).astype(float)
            full = np.column_stack([full, dummies])
            extra = n_tim - 1
        _check_rank(full, [_INTERCEPT, *[predictors[j] for j in kept]] + [f"year {tim_labels[t]}" for t in
                                                                           range(1, 1 + extra)])
        df_resid = full.shape[0] - full.shape[1]
    if df_resid <= 0:
        raise ValueError(f"`data` has too few rows ({n} trust-years, {n_ent} trusts) for the {estimator} "
                         "estimator with these predictors and effects: no residual degrees of freedom.")
    if dropped:
        effects = "trust and year effects" if (estimator == "within" and time_effects) else (
            "trust effects" if estimator == "within" else "year effects")
        warn(f"`predictors` {few(dropped)} absorbed by the {effects} (no variation left to estimate them from) "
             "were dropped from the model; their coefficient rows are NaN (dropped_terms).", DegenerateDataWarning)

    # ---- fit with linearmodels on internal names and integer (entity, time) codes
    from linearmodels import BetweenOLS, PanelOLS, RandomEffects

    internal = pd.MultiIndex.from_arrays([ent, tim], names=["entity", "time"])
    # predictors centred and scaled to unit length (the constant stays 1): linearmodels' own tolerances then
    # see the same design whatever the units (pounds ~5e8 or rates x 1e-8); beta = M gamma afterwards
    xnames = ["const"] + [f"x{j}" for j in kept]
    C = np.eye(len(xnames))
    C[0, 1:] = -X[:, kept].mean(axis=0)
    Xc = np.column_stack([np.ones(n), X[:, kept]]) @ C
    dscale = _column_scale(Xc)
    dscale[0] = 1.0
    M = C / dscale
    Xf = pd.DataFrame(Xc / dscale, index=internal, columns=xnames)
    if estimator == "within":
        Xf = Xf.drop(columns="const")  # the trust effects absorb it
    yf = pd.Series(y, index=internal, name="y")
    if estimator == "random" and time_effects and n_tim > 1:
        dummies = pd.DataFrame((tim[:, None] == np.arange(1, n_tim)[None, :]).astype(float), index=internal,
                               columns=[f"t{t}" for t in range(1, n_tim)])
        Xf = pd.concat([Xf, dummies], axis=1)
    if estimator == "within":
        mod = PanelOLS(yf, Xf, entity_effects=True, time_effects=time_effects)
    elif estimator == "random":
        mod = RandomEffects(yf, Xf)
    else:
        mod = BetweenOLS(yf, Xf)
    kw: dict[str, Any]
    if cov_type == "clustered":
        if estimator == "between":
            # one row per trust: clustering by trust is White's estimator with n/(n-k) (HC1)
            kw = {"cov_type": "robust", "debiased": True}
        else:
            # Stata's xtreg, fe vce(cluster) small-sample factor G/(G-1) (n-1)/(n-k), with the
            # trust effects (nested in the clusters) not counted in k; R: plm type = "sss"
            kw = {"cov_type": "clustered", "cluster_entity": True, "group_debias": True, "debiased": True}
            if estimator == "within":
                kw.update(auto_df=False, count_effects=False)
    else:
        kw = {"cov_type": cov_type}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mod.fit(**kw)
    except Exception as exc:  # pragma: no cover - the checks above should leave linearmodels nothing to refuse
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        raise ValueError(f"`predictors`: linearmodels could not fit the {estimator} estimator to `data` with these "
                         f"predictors ({type(exc).__name__}: {first.strip()})") from exc
    _warn_if_exact(float(res.resid_ss), float(np.sum((y - y.mean()) ** 2)), "`outcome`")
    names_fit = [k for k in xnames if k in res.params.index]
    gamma = res.params[names_fit].to_numpy(dtype=float)
    cov_gamma = res.cov.loc[names_fit, names_fit].to_numpy(dtype=float)
    Mk = M[np.ix_([xnames.index(k) for k in names_fit], [xnames.index(k) for k in names_fit])]
    beta = Mk @ gamma
    beta_se = np.sqrt(np.diag(Mk @ cov_gamma @ Mk.T))
    term_map = {"const": _INTERCEPT, **{f"x{j}": predictors[j] for j in kept}}
    terms = ([_INTERCEPT] if estimator != "within" else []) + list(predictors)
    est = pd.Series(np.nan, index=terms, dtype=float)
    se = pd.Series(np.nan, index=terms, dtype=float)
    for i, k in enumerate(names_fit):
        est[term_map[k]], se[term_map[k]] = float(beta[i]), float(beta_se[i])
    use_t = cov_type != "clustered"
    df = float(res.df_resid) if use_t else math.inf
    coefs = coef_table(est.to_numpy(), se.to_numpy(), index=pd.Index(terms, name="term"), df=df,
                       confidence_level=level)
    if dropped:
        coefs.loc[dropped, "df"] = np.nan  # a dropped term's row is NaN throughout
    # fitted values for every trust-year used (the between estimator's coefficients applied to each row)
    fitted = pd.Series(np.asarray(res.fitted_values).ravel(), index=res.fitted_values.index,
                       name="fitted").reindex(internal)
    fitted.index = index
    outcome_name = f"log({outcome})" if log_outcome else str(outcome)
    return OutcomeFit(
        model=estimator, outcome=outcome_name, link="log" if log_outcome else "identity", coefficients=coefs,
        cov_type=cov_type, confidence_level=level, use_t=use_t, df_resid=float(res.df_resid),
        dispersion=float(res.s2), nb_alpha=math.nan, log_likelihood=math.nan, deviance=float(res.resid_ss),
        r_squared=float(res.rsquared), smr_scale=math.nan if smr_scale is None else smr_scale, converged=True,
        dropped_terms=tuple(dropped), fitted=fitted, n_obs=int(res.nobs), n_dropped=n_dropped, n_groups=n_ent,
    )

