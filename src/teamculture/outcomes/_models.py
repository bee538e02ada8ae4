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
:func:`teamculture.effects.share_effect` to express it in deaths per year.

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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from teamculture._core.validation import check_choice, few
from teamculture.errors import ConvergenceWarning, DroppedDataWarning

__all__ = ["OutcomeFit", "mortality_glm", "smr_regression", "panel_regression"]

_COEF_COLUMNS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high")


@dataclass(frozen=True, eq=False)  # holds pandas objects: compare fields explicitly
class OutcomeFit:
    """A fitted trust-level outcome model.

    Attributes
    ----------
    model : str
        ``"poisson"``, ``"quasipoisson"``, ``"negbin"``, ``"ols"``, ``"wls"``,
        ``"within"``, ``"random"`` or ``"between"``.
    outcome : str
        What was modelled (e.g. ``"observed_deaths"`` or ``"100 * smr"``).
    link : str
        ``"log"`` when coefficients are log rate ratios, ``"identity"``
        otherwise (used by :meth:`effect`).
    coefficients : pandas.DataFrame
        Indexed by term (``"Intercept"`` first where there is one), columns
        ``estimate``, ``se``, ``statistic``, ``pvalue``, ``ci_low``,
        ``ci_high``.
    cov_type : str
        How the standard errors were computed.
    confidence_level : float
        Level of ``ci_low``/``ci_high``.
    distribution : str
        Reference distribution of ``statistic``: ``"normal"`` or ``"t"``.
    df_resid : float
        Residual degrees of freedom (the t degrees of freedom for ``"t"``).
    n_obs : int
        Rows used.
    n_dropped : int
        Rows dropped for missing values.
    n_groups : int
        Trusts in a panel, clusters for clustered SEs, else ``n_obs``.
    dispersion : float
        Scale used for the SEs: 1 for Poisson and negative binomial, the
        Pearson χ²/df for quasi-Poisson, the residual variance for linear
        models.
    alpha : float
        Negative binomial over-dispersion (Var = μ + α μ²; R's ``theta`` is
        1/α); NaN for other models.
    log_likelihood : float
        NaN where there is none (quasi-Poisson, panels).
    deviance : float
        GLM deviance; residual sum of squares for linear models.
    r_squared : float
        R² for linear models (for panels linearmodels' ``rsquared``: of the
        transformed model, as ``plm`` reports it); NaN for GLMs.
    smr_scale : float
        For SMR models: the value of an SMR of 1 on the outcome scale; NaN otherwise.
    fitted : pandas.Series
        Fitted values (expected deaths under the model for GLMs) indexed like
        the rows used.
    """

    model: str
    outcome: str
    link: str
    coefficients: pd.DataFrame
    cov_type: str
    confidence_level: float
    distribution: str
    df_resid: float
    n_obs: int
    n_dropped: int
    n_groups: int
    dispersion: float
    alpha: float
    log_likelihood: float
    deviance: float
    r_squared: float
    smr_scale: float
    fitted: pd.Series = field(repr=False)

    def confidence_interval(self, confidence_level: float = 0.95) -> pd.DataFrame:
        """Intervals at another level, from the same estimates and SEs.

        Returns a DataFrame indexed by term with ``ci_low`` and ``ci_high``.
        """
        level = float(confidence_level)
        if not 0 < level < 1:
            raise ValueError(f"`confidence_level` must lie in (0, 1); got {confidence_level!r}.")
        q = _quantile(level, self.distribution, self.df_resid)
        c = self.coefficients
        return pd.DataFrame(
            {"ci_low": c["estimate"] - q * c["se"], "ci_high": c["estimate"] + q * c["se"]}, index=c.index
        )

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

        Calls :func:`teamculture.effects.share_effect` with this fit's
        estimate, its confidence interval and link (the SMR scale for linear
        models of the SMR). See there for the arguments.
        """
        from teamculture.outcomes import share_effect

        if term not in self.coefficients.index:
            raise ValueError(f"`term` must be one of {list(self.coefficients.index)!r}; got {term!r}.")
        if self.link == "identity" and not math.isfinite(self.smr_scale):
            raise ValueError("this model's outcome is not an SMR, so its coefficient cannot be read as mortality.")
        row = self.coefficients.loc[term]
        kwargs: dict[str, Any] = {}
        if self.link == "identity":
            kwargs = {"smr_scale": self.smr_scale, "baseline_smr": baseline_smr}
        return share_effect(
            float(row["estimate"]), ci=(float(row["ci_low"]), float(row["ci_high"])), delta=delta,
            change=change, baseline_share=baseline_share, link=self.link, expected_deaths=expected_deaths,
            confidence_level=self.confidence_level, **kwargs,
        )

    def summary(self) -> str:
        """A plain-text table of the fit."""
        lvl = f"{100 * self.confidence_level:g}%"
        head = [
            f"{_TITLES.get(self.model, self.model)}: {self.outcome}",
            f"rows used {self.n_obs:,} (dropped {self.n_dropped:,}); SEs: {self.cov_type}"
            + (f" ({self.n_groups:,} clusters)" if "cluster" in self.cov_type else ""),
        ]
        extra = []
        if self.model == "quasipoisson":
            extra.append(f"dispersion (Pearson) {self.dispersion:.4g}")
        if self.model == "negbin":
            extra.append(f"alpha {self.alpha:.4g} (theta {1 / self.alpha:.4g})" if self.alpha > 0 else "alpha 0")
        if math.isfinite(self.log_likelihood):
            extra.append(f"log-likelihood {self.log_likelihood:.4f}")
        if math.isfinite(self.r_squared):
            extra.append(f"R-squared {self.r_squared:.4f}")
        if extra:
            head.append("; ".join(extra))
        stat = "z" if self.distribution == "normal" else "t"
        lines = [f"{'term':<22}{'estimate':>12}{'se':>11}{stat:>9}{'p':>11}{lvl + ' CI':>26}"]
        for term, r in self.coefficients.iterrows():
            lines.append(
                f"{str(term):<22}{r['estimate']:>12.5g}{r['se']:>11.4g}{r['statistic']:>9.3f}"
                f"{r['pvalue']:>11.3g}   [{r['ci_low']:>10.5g}, {r['ci_high']:>10.5g}]"
            )
        return "\n".join(head + lines)

    def __str__(self) -> str:
        return self.summary()


_TITLES = {
    "poisson": "Poisson GLM, log link, offset log(expected)",
    "quasipoisson": "Quasi-Poisson GLM, log link, offset log(expected)",
    "negbin": "Negative binomial (NB2) GLM, log link, offset log(expected)",
    "ols": "Linear model (OLS)",
    "wls": "Linear model (WLS, weights = expected deaths)",
    "within": "Panel within estimator (PanelOLS)",
    "random": "Panel random effects (RandomEffects)",
    "between": "Panel between estimator (BetweenOLS)",
}


def _quantile(level: float, distribution: str, df: float) -> float:
    a = (1 - level) / 2
    return float(stats.norm.isf(a) if distribution == "normal" else stats.t.isf(a, df))


def _coef_table(est, se, level: float, distribution: str, df: float) -> pd.DataFrame:
    est = pd.Series(est, dtype=float)
    se = pd.Series(se, dtype=float).reindex(est.index)
    stat = est / se
    if distribution == "normal":
        p = 2 * stats.norm.sf(np.abs(stat))
    else:
        p = 2 * stats.t.sf(np.abs(stat), df)
    q = _quantile(level, distribution, df)
    out = pd.DataFrame(
        {"estimate": est, "se": se, "statistic": stat, "pvalue": p, "ci_low": est - q * se, "ci_high": est + q * se},
        columns=list(_COEF_COLUMNS),
    )
    out.index = pd.Index([str(t) for t in est.index], name="term")
    return out


# --------------------------------------------------------------------------- shared validation
def _check_frame(data: Any, name: str = "data") -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame; got {type(data).__name__}.")
    if len(data) == 0:
        raise ValueError(f"`{name}` has no rows.")
    return data


def _check_columns(data: pd.DataFrame, name: str, cols: Sequence[str]) -> list[str]:
    if isinstance(cols, str):
        cols = [cols]
    cols = list(cols)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(
            f"`{name}` names column(s) {few(missing)} that are not in `data`; columns are {few(list(data.columns), 8)}."
        )
    nonnum = [c for c in cols if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c])]
    if nonnum:
        raise TypeError(f"`{name}` column(s) {few(nonnum)} must be numeric (not bool or text).")
    return cols


def _check_predictors(data: pd.DataFrame, predictors: Any) -> list[str]:
    if isinstance(predictors, str):
        predictors = [predictors]
    if not isinstance(predictors, Sequence) or len(predictors) == 0:
        raise ValueError("`predictors` must be a non-empty list of column names.")
    dup = sorted({p for p in predictors if list(predictors).count(p) > 1})
    if dup:
        raise ValueError(f"`predictors` repeats column(s) {few(dup)}.")
    return _check_columns(data, "predictors", predictors)


def _check_center(center: Any, predictors: list[str]) -> dict[str, float]:
    if center is None:
        return {}
    if not isinstance(center, Mapping):
        raise TypeError(f"`center` must be a mapping {{predictor: value}}; got {type(center).__name__}.")
    unknown = [k for k in center if k not in predictors]
    if unknown:
        raise ValueError(f"`center` has key(s) {few(unknown)} that are not in `predictors` {predictors!r}.")
    out = {}
    for k, v in center.items():
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"`center[{k!r}]` must be finite; got {v!r}.")
        out[k] = v
    return out


def _level(confidence_level: Any) -> float:
    try:
        v = float(confidence_level)
    except (TypeError, ValueError):
        raise TypeError(f"`confidence_level` must be a number in (0, 1); got {confidence_level!r}.") from None
    if not 0 < v < 1:
        raise ValueError(f"`confidence_level` must lie in (0, 1); got {confidence_level!r}.")
    return v


def _complete_rows(frame: pd.DataFrame, nan_policy: str, what: str, stacklevel: int = 3
                   ) -> tuple[pd.DataFrame, int]:
    """Drop (or refuse) rows with missing values; warn with the count (``stacklevel`` from here)."""
    ok = np.isfinite(frame.to_numpy(dtype=float)).all(axis=1)
    n_bad = int((~ok).sum())
    if n_bad:
        labels = frame.index[~ok].tolist()
        if nan_policy == "raise":
            raise ValueError(
                f"{n_bad} row(s) of `data` have missing or non-finite {what}: {few(labels)}; "
                "use nan_policy='omit' to drop them."
            )
        warnings.warn(
            f"dropped {n_bad} of {len(frame)} row(s) with missing or non-finite {what}: {few(labels)}.",
            DroppedDataWarning, stacklevel=stacklevel,
        )
    return frame.loc[ok], n_bad


def _design(frame: pd.DataFrame, predictors: list[str], center: dict[str, float], intercept: bool = True):
    X = frame[predictors].astype(float)
    for k, v in center.items():
        X[k] = X[k] - v
    if intercept:
        X.insert(0, "Intercept", 1.0)
    return X


def _rank_check(X: pd.DataFrame) -> None:
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        raise ValueError(
            f"`predictors` are collinear or constant (design rank {rank} < {X.shape[1]} columns "
            f"{list(X.columns)!r}); drop or combine columns."
        )
    if X.shape[0] <= X.shape[1]:
        raise ValueError(
            f"`data` has too few usable rows ({X.shape[0]}) for {X.shape[1]} coefficients; "
            "it needs more rows than coefficients."
        )


def _groups_for(data: pd.DataFrame, groups: Any, cov_type: str) -> np.ndarray | None:
    if cov_type != "cluster":
        if groups is not None:
            raise ValueError("`groups` is only used with cov_type='cluster'.")
        return None
    if groups is None:
        raise ValueError("cov_type='cluster' needs `groups`: a column name of `data` or an index level name.")
    if isinstance(groups, str):
        if groups in data.columns:
            g = data[groups]
        elif groups in (data.index.names or []):
            g = pd.Series(data.index.get_level_values(groups), index=data.index)
        else:
            raise ValueError(f"`groups` {groups!r} is neither a column nor an index level of `data`.")
    else:
        g = pd.Series(np.asarray(groups), index=data.index) if len(groups) == len(data) else None
        if g is None:
            raise ValueError(f"`groups` has length {len(groups)} but `data` has {len(data)} rows.")
    if g.isna().any():
        raise ValueError(f"`groups` has {int(g.isna().sum())} missing label(s); every row needs a cluster.")
    return pd.factorize(g, sort=True)[0]


# --------------------------------------------------------------------------- deaths models (shared)
def _check_deaths_columns(data: Any, predictors: Any, observed: Any, expected: Any
                          ) -> tuple[pd.DataFrame, list[str], str, str]:
    """``data``, ``predictors`` and the observed / expected deaths columns of the deaths models."""
    data = _check_frame(data)
    predictors = _check_predictors(data, predictors)
    (observed,) = _check_columns(data, "observed", [observed])
    (expected,) = _check_columns(data, "expected", [expected])
    return data, predictors, observed, expected


def _check_fit_options(data: pd.DataFrame, predictors: list[str], cov_type: Any, groups: Any, center: Any,
                       nan_policy: Any, confidence_level: Any
                       ) -> tuple[dict[str, float], float, np.ndarray | None]:
    """``cov_type``, ``nan_policy``, ``center``, ``confidence_level`` and the cluster codes."""
    check_choice("cov_type", cov_type, ["model", "robust", "cluster"])
    check_choice("nan_policy", nan_policy, ["omit", "raise"])
    center = _check_center(center, predictors)
    level = _level(confidence_level)
    codes = _groups_for(data, groups, cov_type)
    return center, level, codes


def _deaths_frame(data: pd.DataFrame, cols: list[str], codes: np.ndarray | None, nan_policy: str
                  ) -> tuple[pd.DataFrame, int]:
    """The float columns ``cols`` (plus ``_cluster`` codes) of the complete rows, and the count dropped.

    The dropped-rows warning points at the caller of the public function.
    """
    frame = data[cols].astype(float)
    if codes is not None:
        frame = frame.assign(_cluster=codes.astype(float))
    return _complete_rows(frame, nan_policy, f"values in {cols!r}", stacklevel=4)


def _check_expected(frame: pd.DataFrame, expected: str) -> None:
    bad_e = frame.index[frame[expected].to_numpy() <= 0].tolist()
    if bad_e:
        raise ValueError(f"`expected` must be > 0; {len(bad_e)} row(s) are not: {few(bad_e)}.")


def _n_groups(frame: pd.DataFrame, codes: np.ndarray | None, n: int) -> int:
    """Number of clusters among the rows used (``n`` without clusters)."""
    return int(len(np.unique(frame["_cluster"]))) if codes is not None else n


# --------------------------------------------------------------------------- mortality GLM
def _validate_glm(data, predictors, observed, expected, family, cov_type, groups, center, nan_policy,
                  confidence_level):
    data, predictors, observed, expected = _check_deaths_columns(data, predictors, observed, expected)
    overlap = [c for c in predictors if c in (observed, expected)]
    if overlap:
        raise ValueError(f"`predictors` must not include the outcome or offset column(s) {few(overlap)}.")
    check_choice("family", family, ["poisson", "quasipoisson", "negbin"])
    center, level, codes = _check_fit_options(data, predictors, cov_type, groups, center, nan_policy,
                                              confidence_level)
    return data, predictors, observed, expected, center, level, codes


def mortality_glm(
    data: pd.DataFrame,
    *,
    predictors: str | Sequence[str],
    observed: str = "observed_deaths",
    expected: str = "expected_deaths",
    family: str = "quasipoisson",
    cov_type: str = "model",
    groups: Any = None,
    center: Mapping[str, float] | None = None,
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
) -> OutcomeFit:
    """Fit deaths against trust characteristics with a log(expected deaths) offset.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per trust (or trust-year), labelled by its index.
    predictors : str or list of str
        Numeric columns to include (e.g. ``"real_team_pct"``, in percent).
    observed, expected : str
        Columns of observed deaths (non-negative counts) and expected deaths
        (> 0, from the case-mix model).
    family : {"quasipoisson", "poisson", "negbin"}
        ``"poisson"``: variance μ. ``"quasipoisson"``: variance φμ with φ the
        Pearson χ²/(n − p) (same estimates, SEs × √φ). ``"negbin"``: NB2,
        variance μ + αμ², α by maximum likelihood.
    cov_type : {"model", "robust", "cluster"}
        Model-based SEs; the sandwich (HC0) estimator; or cluster-robust by
        ``groups`` (with the G/(G−1)·(n−1)/(n−p) small-sample factor).
    groups : str or array_like, optional
        Cluster labels for ``cov_type="cluster"``: a column or index-level
        name, or one label per row (e.g. the trust in a trust-year table).
    center : dict, optional
        Values subtracted from predictors before fitting (e.g.
        ``{"real_team_pct": 40}``), so the intercept is the log SMR at that
        share; slopes are unchanged.
    nan_policy : {"omit", "raise"}
        Rows with a missing value in a used column are dropped (counted in
        ``n_dropped``, with a :class:`~teamculture.errors.DroppedDataWarning`)
        or raise.
    confidence_level : float, default 0.95
        Level of the Wald intervals.

    Returns
    -------
    OutcomeFit
        Coefficients are log rate ratios per unit of each predictor;
        ``fitted`` are the expected deaths under the model.

    Notes
    -----
    The model is :math:`\\log \\mu_k = \\log E_k + \\beta_0 + x_k^\\top\\beta`
    with :math:`O_k` Poisson (or NB2) with mean :math:`\\mu_k`, fitted by
    IRLS; :math:`\\exp(\\beta_0)` is the SMR at ``x = center``. For the
    negative binomial, α is estimated by maximum likelihood and the
    coefficients and SEs are those of the GLM with α fixed at its estimate,
    as ``MASS::glm.nb`` reports them. Quasi-Poisson and Poisson give the same
    estimates; only the SEs differ.

    R: ``glm(O ~ x, family = poisson, offset = log(E))``,
    ``family = quasipoisson``, ``MASS::glm.nb(O ~ x + offset(log(E)))``;
    robust: ``sandwich::vcovHC(fit, type = "HC0")``; cluster:
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
    >>> sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, seed=3)
    >>> fit = tc.mortality_glm(sim.trusts, predictors="real_team_pct",
    ...                                 family="quasipoisson", center={"real_team_pct": 40})
    >>> fit.coefficients.columns.tolist()
    ['estimate', 'se', 'statistic', 'pvalue', 'ci_low', 'ci_high']
    >>> b = fit.coefficients.loc["real_team_pct"]
    >>> bool(b["ci_low"] < sim.params.mortality_beta < b["ci_high"])
    True
    >>> print(fit.effect("real_team_pct", delta=5, expected_deaths=1212))  # doctest: +NORMALIZE_WHITESPACE
    +5 percentage points of staff -> -3.41% mortality (95% CI -3.71% to -3.11%) -> -41.3 deaths
    per year for a trust with 1,212 expected deaths (95% CI -44.9 to -37.7)
    """
    data, predictors, observed, expected, center, level, codes = _validate_glm(
        data, predictors, observed, expected, family, cov_type, groups, center, nan_policy, confidence_level
    )
    import statsmodels.api as sm

    frame, n_dropped = _deaths_frame(data, [observed, expected, *predictors], codes, nan_policy)
    y = frame[observed].to_numpy()
    e = frame[expected].to_numpy()
    bad_y = frame.index[(y < 0) | (y != np.round(y))].tolist()
    if bad_y:
        raise ValueError(f"`observed` must be non-negative whole counts; {len(bad_y)} row(s) are not: {few(bad_y)}.")
    _check_expected(frame, expected)
    X = _design(frame, predictors, center)
    _rank_check(X)
    offset = np.log(e)

    alpha = math.nan
    if family == "negbin":
        alpha = _negbin_alpha(y, X.to_numpy(), offset)
        fam = sm.families.NegativeBinomial(alpha=alpha) if alpha > 0 else sm.families.Poisson()
    else:
        fam = sm.families.Poisson()
    fit_kw: dict[str, Any] = {}
    if family == "quasipoisson":
        fit_kw["scale"] = "X2"
    model = sm.GLM(y, X, family=fam, offset=offset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter; we check below
        res = model.fit(tol=1e-12, maxiter=200, **fit_kw)
    # statsmodels' deviance criterion (absolute 1e-12) can miss by rounding; judge convergence by
    # the size of one more Newton step relative to the standard errors instead
    if _newton_step(X.to_numpy(), y, np.asarray(res.mu), fam) > 1e-6:
        warnings.warn("the GLM's IRLS did not converge in 200 iterations.", ConvergenceWarning, stacklevel=2)
    n = len(y)
    df_resid = float(n - X.shape[1])
    pearson = float(np.sum((y - res.mu) ** 2 / fam.variance(res.mu)))
    dispersion = pearson / df_resid if family == "quasipoisson" else 1.0
    bse = res.bse
    if cov_type != "model":
        clusters = frame["_cluster"].to_numpy().astype(np.intp) if cov_type == "cluster" else None
        cov = _glm_sandwich(X.to_numpy(), y, np.asarray(res.mu), fam, clusters)
        bse = pd.Series(np.sqrt(np.diag(cov)), index=X.columns)
    coefs = _coef_table(res.params, bse, level, "normal", df_resid)
    llf = math.nan if family == "quasipoisson" else float(res.llf)
    if family == "negbin":
        llf = _negbin_llf(y, res.mu, alpha)
    cov_name = {"model": "model-based", "robust": "robust (HC0 sandwich)", "cluster": "cluster-robust"}[cov_type]
    if family == "quasipoisson" and cov_type == "model":
        cov_name = "model-based, scaled by the Pearson dispersion"
    return OutcomeFit(
        model=family, outcome=observed, link="log", coefficients=coefs, cov_type=cov_name,
        confidence_level=level, distribution="normal", df_resid=df_resid, n_obs=n, n_dropped=n_dropped,
        n_groups=_n_groups(frame, codes, n),
        dispersion=dispersion, alpha=alpha, log_likelihood=llf, deviance=float(res.deviance),
        r_squared=math.nan, smr_scale=math.nan,
        fitted=pd.Series(np.asarray(res.mu), index=frame.index, name="fitted"),
    )


def _newton_step(X: np.ndarray, y: np.ndarray, mu: np.ndarray, fam: Any) -> float:
    """Largest |Fisher-scoring step| / SE at the current fit (0 at the exact optimum)."""
    var = fam.variance(mu)
    info = X.T @ (X * (mu**2 / var)[:, None])
    step = np.linalg.solve(info, X.T @ ((y - mu) * mu / var))
    return float(np.max(np.abs(step) / np.sqrt(np.diag(np.linalg.inv(info)))))


def _glm_sandwich(X: np.ndarray, y: np.ndarray, mu: np.ndarray, fam: Any, clusters: np.ndarray | None) -> np.ndarray:
    r"""Sandwich covariance of a log-link GLM with the expected-information bread (as R's sandwich).

    Bread :math:`(X^\top W X)^{-1}` with :math:`W = \mu^2/V(\mu)`; scores
    :math:`x_i (y_i - \mu_i)\mu_i / V(\mu_i)`. HC0 without clusters; with
    clusters the scores are summed within clusters and scaled by
    :math:`G/(G-1)\cdot(n-1)/(n-p)` (``sandwich::vcovCL(type = "HC1")``).
    """
    var = fam.variance(mu)
    w = mu**2 / var
    bread = np.linalg.inv(X.T @ (X * w[:, None]))
    scores = X * ((y - mu) * mu / var)[:, None]
    n, p = X.shape
    if clusters is None:
        meat = scores.T @ scores
    else:
        g = int(clusters.max()) + 1
        summed = np.zeros((g, p))
        np.add.at(summed, clusters, scores)
        meat = summed.T @ summed * (g / (g - 1)) * ((n - 1) / (n - p))
    return bread @ meat @ bread


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
        alpha, mu = new_alpha, new_mu
        if done:
            break
    else:
        warnings.warn("the negative binomial α did not converge in 100 rounds.", ConvergenceWarning, stacklevel=3)
    return float(alpha)


# --------------------------------------------------------------------------- SMR regression
def smr_regression(
    data: pd.DataFrame,
    *,
    predictors: str | Sequence[str],
    observed: str = "observed_deaths",
    expected: str = "expected_deaths",
    scale: float = 100.0,
    weights: str | None = None,
    cov_type: str = "model",
    groups: Any = None,
    center: Mapping[str, float] | None = None,
    nan_policy: str = "omit",
    confidence_level: float = 0.95,
) -> OutcomeFit:
    """Linear model of the SMR (scaled to 100 by default) on trust characteristics.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per trust, labelled by its index.
    predictors : str or list of str
        Numeric predictor columns.
    observed, expected : str
        Columns of observed and expected deaths; the outcome is
        ``scale * observed / expected``.
    scale : float, default 100
        The value of an SMR of 1 on the outcome scale (100 as for HSMR).
    weights : {None, "expected"}
        Ordinary least squares, or weighted by expected deaths (the SMR's
        sampling variance is about SMR/E).
    cov_type : {"model", "robust", "cluster"}
        Classical SEs, HC1 sandwich, or clustered by ``groups``.
    groups : str or array_like, optional
        Cluster labels for ``cov_type="cluster"``.
    center : dict, optional
        Values subtracted from predictors before fitting.
    nan_policy : {"omit", "raise"}
        What to do with rows with missing values.
    confidence_level : float, default 0.95
        Level of the t intervals.

    Returns
    -------
    OutcomeFit
        Coefficients are SMR points (on ``scale``) per unit of each
        predictor; ``link`` is ``"identity"``.

    Notes
    -----
    :math:`100\\,O_k/E_k = \\beta_0 + x_k^\\top\\beta + \\varepsilon_k`, fitted by
    (weighted) least squares, with t-based inference on n − p degrees of
    freedom. The Poisson/NB GLM of :func:`mortality_glm` is usually the
    better model for counts; this one matches published HSMR regressions
    (e.g. Jarman et al. 1999). R: ``lm(I(100 * O / E) ~ x, weights = E)``;
    robust: ``sandwich::vcovHC(fit, type = "HC1")``.

    References
    ----------
    .. [1] Jarman, B. et al. (1999). Explaining differences in English hospital
       death rates using routinely collected data. BMJ 318, 1515-1520.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, seed=3)
    >>> fit = tc.smr_regression(sim.trusts, predictors="real_team_pct", weights="expected")
    >>> fit.link, fit.smr_scale
    ('identity', 100.0)
    """
    data, predictors, observed, expected = _check_deaths_columns(data, predictors, observed, expected)
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise TypeError(f"`scale` must be a positive number; got {scale!r}.") from None
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"`scale` must be a positive number; got {scale!r}.")
    check_choice("weights", weights, [None, "expected"])
    center, level, codes = _check_fit_options(data, predictors, cov_type, groups, center, nan_policy,
                                              confidence_level)
    import statsmodels.api as sm

    frame, n_dropped = _deaths_frame(data, [observed, expected, *predictors], codes, nan_policy)
    _check_expected(frame, expected)
    y = scale * frame[observed].to_numpy() / frame[expected].to_numpy()
    X = _design(frame, predictors, center)
    _rank_check(X)
    if weights == "expected":
        model = sm.WLS(y, X, weights=frame[expected].to_numpy())
    else:
        model = sm.OLS(y, X)
    fit_kw: dict[str, Any] = {}
    if cov_type == "robust":
        fit_kw["cov_type"] = "HC1"
    elif cov_type == "cluster":
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": frame["_cluster"].to_numpy().astype(np.intp)}}
    res = model.fit(**fit_kw)
    df_resid = float(res.df_resid)
    dist_df = df_resid
    if cov_type == "cluster":
        dist_df = float(len(np.unique(frame["_cluster"])) - 1)
    coefs = _coef_table(res.params, res.bse, level, "t", dist_df)
    cov_name = {"model": "classical", "robust": "robust (HC1 sandwich)", "cluster": "cluster-robust"}[cov_type]
    return OutcomeFit(
        model="wls" if weights == "expected" else "ols", outcome=f"{scale:g} * {observed} / {expected}",
        link="identity", coefficients=coefs, cov_type=cov_name, confidence_level=level, distribution="t",
        df_resid=dist_df, n_obs=len(y), n_dropped=n_dropped,
        n_groups=_n_groups(frame, codes, len(y)),
        dispersion=float(res.scale), alpha=math.nan, log_likelihood=float(res.llf), deviance=float(res.ssr),
        r_squared=float(res.rsquared), smr_scale=scale,
        fitted=pd.Series(np.asarray(res.fittedvalues), index=frame.index, name="fitted"),
    )


# --------------------------------------------------------------------------- panels
def panel_regression(
    panel: pd.DataFrame,
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
    panel : pandas.DataFrame
        Indexed by a two-level MultiIndex (trust, year), as the simulator's
        ``panel`` table.
    predictors : str or list of str
        Numeric time-varying predictor columns.
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
        classical. Ignored for ``"between"`` except ``"robust"``.
    nan_policy : {"omit", "raise"}
        What to do with rows with missing values.
    confidence_level : float, default 0.95
        Level of the intervals (normal for clustered SEs, t otherwise, as
        linearmodels reports them).

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
    R: ``plm::plm(y ~ x, effect = "twoways", model = "within")``,
    ``model = "random"``, ``model = "between"``; clustered:
    ``plm::vcovHC(fit, cluster = "group")``.

    References
    ----------
    .. [1] Wooldridge, J. M. (2010). Econometric Analysis of Cross Section and
       Panel Data, 2nd ed. MIT Press.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, seed=3)
    >>> fit = tc.panel_regression(sim.panel, predictors="real_team_pct", outcome="smr",
    ...                                    log_outcome=True)
    >>> fit.model, fit.link, fit.n_groups, fit.n_obs
    ('within', 'log', 150, 750)
    """
    panel = _check_frame(panel, "panel")
    if not isinstance(panel.index, pd.MultiIndex) or panel.index.nlevels != 2:
        raise ValueError("`panel` must be indexed by a two-level MultiIndex (entity, time), e.g. (trust, year).")
    predictors = _check_predictors(panel, predictors)
    (outcome,) = _check_columns(panel, "outcome", [outcome])
    if outcome in predictors:
        raise ValueError(f"`outcome` {outcome!r} is also in `predictors`.")
    check_choice("estimator", estimator, ["within", "random", "between"])
    check_choice("cov_type", cov_type, ["clustered", "robust", "unadjusted"])
    check_choice("nan_policy", nan_policy, ["omit", "raise"])
    if not isinstance(log_outcome, bool):
        raise TypeError(f"`log_outcome` must be True or False; got {log_outcome!r}.")
    if time_effects is None:
        time_effects = estimator != "between"
    if not isinstance(time_effects, bool):
        raise TypeError(f"`time_effects` must be True, False or None; got {time_effects!r}.")
    if estimator == "between" and time_effects:
        raise ValueError("the between estimator averages over years; `time_effects` must be False or None.")
    if smr_scale is not None:
        smr_scale = float(smr_scale)
        if not (math.isfinite(smr_scale) and smr_scale > 0):
            raise ValueError(f"`smr_scale` must be a positive number; got {smr_scale!r}.")
        if log_outcome:
            raise ValueError("`smr_scale` applies to an untransformed SMR outcome; drop it with log_outcome=True.")
    level = _level(confidence_level)
    if panel.index.duplicated().any():
        dup = panel.index[panel.index.duplicated()].tolist()
        raise ValueError(f"`panel` has {len(dup)} duplicated (entity, time) row(s): {few(dup)}.")
    from linearmodels import BetweenOLS, PanelOLS, RandomEffects

    cols = [outcome, *predictors]
    frame = panel[cols].astype(float)
    frame, n_dropped = _complete_rows(frame, nan_policy, f"values in {cols!r}")
    y = frame[outcome]
    if log_outcome:
        bad = frame.index[~(y > 0)].tolist()
        if bad:
            raise ValueError(f"`outcome` must be > 0 for log_outcome=True; {len(bad)} row(s) are not: {few(bad)}.")
        y = np.log(y)
    times = frame.index.get_level_values(1)
    X = frame[predictors].copy()
    if estimator != "within":
        X.insert(0, "Intercept", 1.0)
    if estimator == "random" and time_effects:
        dummies = pd.get_dummies(pd.Categorical(times), prefix="year", drop_first=True, dtype=float)
        dummies.index = X.index
        X = pd.concat([X, dummies], axis=1)
    if estimator == "within":
        mod = PanelOLS(y, X, entity_effects=True, time_effects=time_effects)
    elif estimator == "random":
        mod = RandomEffects(y, X)
    else:
        mod = BetweenOLS(y, X)
    lm_cov = {"clustered": "clustered", "robust": "robust", "unadjusted": "unadjusted"}[cov_type]
    kw: dict[str, Any] = {"cov_type": lm_cov}
    if lm_cov == "clustered":
        if estimator == "between":
            kw = {"cov_type": "unadjusted"}
            lm_cov = "unadjusted"
        else:
            # Stata's xtreg, fe vce(cluster) small-sample factor G/(G-1) (n-1)/(n-k), with the
            # trust effects (nested in the clusters) not counted in k; R: plm type = "sss"
            kw.update(cluster_entity=True, group_debias=True, debiased=True)
            if estimator == "within":
                kw.update(auto_df=False, count_effects=False)
    res = mod.fit(**kw)
    n_entities = int(frame.index.get_level_values(0).nunique())
    keep = [c for c in res.params.index if c == "Intercept" or c in predictors]
    est, se = res.params[keep], res.std_errors[keep]
    if lm_cov == "clustered":
        dist, df = "normal", float(n_entities - 1)
    else:
        dist, df = "t", float(res.df_resid)
    coefs = _coef_table(est, se, level, dist, df)
    rsq = float(res.rsquared)
    cov_name = {"clustered": "clustered by entity", "robust": "robust (White)", "unadjusted": "classical"}[lm_cov]
    outcome_name = f"log({outcome})" if log_outcome else outcome
    return OutcomeFit(
        model=estimator, outcome=outcome_name, link="log" if log_outcome else "identity", coefficients=coefs,
        cov_type=cov_name, confidence_level=level, distribution=dist, df_resid=df, n_obs=int(res.nobs),
        n_dropped=n_dropped, n_groups=n_entities, dispersion=float(res.s2), alpha=math.nan,
        log_likelihood=math.nan, deviance=float(res.resid_ss), r_squared=rsq,
        smr_scale=math.nan if smr_scale is None else smr_scale,
        fitted=pd.Series(np.asarray(res.fitted_values).ravel(), index=res.fitted_values.index, name="fitted"),
    )
