"""Generalised linear mixed models for yes/no and count outcomes: :func:`glmm` and :class:`GLMMResult`.

Staff-level yes/no outcomes (witnessed an error, injured, stressed, harassed,
intending to leave) and counts (days of sickness absence) of staff nested in
teams nested in trusts, with lme4's formula syntax:
``glmm("injured ~ team_type + tenure + (1 | trust/team)", staff)``.

The arithmetic is in :mod:`teamculture.multilevel._glmm_engine` (Laplace and
nested adaptive Gauss-Hermite quadrature on arrays); the formula and data
handling in :mod:`teamculture.multilevel._glmm_data`.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from teamculture._core.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning
from teamculture._core.validation import (
    check_choice,
    check_confidence_level,
    check_frame,
    check_int,
    check_nan_policy,
    few,
)
from teamculture._core.warn import warn
from teamculture.multilevel._formula import _parse_formula
from teamculture.multilevel._glmm_data import GLMMData, prepare
from teamculture.multilevel._glmm_engine import EngineFit, GLMMEngine, fit
from teamculture.results import COEF_COLUMNS, Result, Summary, coef_table, interval_frame, result_class

__all__ = ["glmm", "GLMMResult", "GLMMCompareResult"]

_LINKS = {"binomial": ("logit", "probit"), "poisson": ("log",)}
#: Variance of the standard logistic and normal distributions (latent-scale residual variance).
_LATENT_VARIANCE = {"logit": math.pi**2 / 3.0, "probit": 1.0}
_Z75 = float(stats.norm.ppf(0.75))
#: Quadrature log-likelihoods at q and 2q-1 points that differ by more than this are "still moving".
QUADRATURE_TOLERANCE = 1e-6
#: A random-effect standard deviation below this (on the link scale) is a singular fit (lme4's isSingular).
SINGULAR_TOLERANCE = 1e-4


# =========================================================================== result classes
@result_class
class GLMMResult(Result):
    """A fitted generalised linear mixed model (from :func:`teamculture.multilevel.glmm`).

    Attributes
    ----------
    formula : str
        The model formula as given.
    family, link : str
        ``"binomial"`` (``"logit"`` or ``"probit"``) or ``"poisson"`` (``"log"``).
    method : str
        ``"Laplace"`` or ``"adaptive Gauss-Hermite quadrature"``.
    nagq : tuple of int
        Quadrature points per grouping level, outer first (all 1 for Laplace).
    coefficients : pandas.DataFrame
        Fixed effects on the link scale, columns
        :data:`~teamculture.results.COEF_COLUMNS` (Wald z tests, ``df = inf``),
        at ``confidence_level``. An infinite estimate (separation) is reported
        as ``inf``/``-inf`` with ``std_error = inf``.
    cov_params : pandas.DataFrame
        Covariance matrix of the fixed effects.
    variance_components : pandas.Series
        Random-intercept variances on the link (latent) scale, indexed by the
        grouping factors as written in the formula with nesting expanded
        (``"trust"``, ``"trust:team"``).
    loglik : float
        Maximised log-likelihood (Laplace approximation or quadrature),
        including the binomial/Poisson normalising constants: lme4's
        ``logLik`` for ``nAGQ = 1``.
    deviance : float
        ``-2 * loglik``.
    aic, bic : float
        ``-2 loglik + 2 k`` and ``-2 loglik + k log(n_obs)``, ``k`` =
        ``n_params`` (lme4's ``AIC``/``BIC``).
    n_params : int
        Fixed effects plus variance components.
    random_effects : dict of str to pandas.DataFrame
        Conditional modes of the random intercepts per grouping factor,
        indexed by the group labels (a MultiIndex for ``a:b`` groupings), with
        columns ``condval`` and ``condsd`` (the conditional standard deviation
        from the Laplace factorisation), as
        ``as.data.frame(lme4::ranef(fit, condVar = TRUE))``.
    converged : bool
        Whether the optimiser confirmed the maximum (predicted remaining gain
        in log-likelihood below 1e-6 and a negative definite Hessian).
    singular : bool
        Whether a random-effect standard deviation is below 1e-4 (lme4's
        ``isSingular``).
    quadrature_check : float
        For adaptive quadrature: the log-likelihood at the estimates with
        ``2q - 1`` points per level minus the reported one (``q`` points);
        ``NaN`` for Laplace.
    nesting : str
        How the grouping factors were interpreted.
    notes : tuple of str
        Messages about the fit, shown by ``summary()``.
    confidence_level : float
        Level of the intervals in ``coefficients``.
    """

    formula: str
    family: str
    link: str
    method: str
    nagq: tuple[int, ...]
    coefficients: pd.DataFrame
    cov_params: pd.DataFrame
    variance_components: pd.Series
    loglik: float
    deviance: float
    aic: float
    bic: float
    n_params: int
    random_effects: dict[str, pd.DataFrame]
    converged: bool
    singular: bool
    quadrature_check: float
    nesting: str
    notes: tuple[str, ...]
    confidence_level: float = 0.95
    _cov_theta: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    _frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    _design: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    _k: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)
    _m: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)
    _offset: Any = field(default=None, repr=False, compare=False)
    _codes: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)
    _level_order: tuple[str, ...] = field(default=(), repr=False)
    _spec: Any = field(default=None, repr=False, compare=False)
    _infinite: tuple[str, ...] = field(default=(), repr=False)
    _Z: Any = field(default=None, repr=False, compare=False)  # random-slopes design (n, r), else None
    _Sigma: Any = field(default=None, repr=False, compare=False)  # random-slopes covariance (r, r)
    _slope_theta: Any = field(default=None, repr=False, compare=False)  # lme4's theta of the slopes term

    # ------------------------------------------------------------------ protocol
    def to_frame(self) -> pd.DataFrame:
        """The fixed-effects table (:data:`~teamculture.results.COEF_COLUMNS`)."""
        return self.coefficients.copy()

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Wald (z) intervals of the fixed effects on the link scale.

        Parameters
        ----------
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Columns ``ci_low``, ``ci_high``, indexed by coefficient.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        return _intervals(self.coefficients, level)

    def summary(self) -> Summary:
        """A printable summary: fit statistics, fixed effects, variance components, notes."""
        groups = "; ".join(f"{g}: {int(n):,}" for g, n in self.n_groups.items())
        header: list[tuple[str, Any]] = [
            ("formula", self.formula),
            ("family", f"{self.family} ({self.link} link)"),
            ("method", self.method + ("" if self.method == "Laplace" else
                                      f" ({', '.join(str(q) for q in self.nagq)} points per level)")),
            ("observations", self.n_obs),
            ("dropped (missing)", self.n_dropped),
            ("groups", groups),
            ("log-likelihood", self.loglik),
            ("AIC", self.aic),
            ("BIC", self.bic),
            ("converged", self.converged),
            ("singular", self.singular),
        ]
        if self.method != "Laplace":
            header.append((f"loglik change at {', '.join(str(2 * q - 1) for q in self.nagq)} points",
                           self.quadrature_check))
        v = self.variance_components.astype(float)
        if self._Z is None:
            vc = pd.DataFrame({"variance": v, "std_dev": np.sqrt(v)})
            vc_caption = "Random intercepts (variance on the link scale)"
        else:  # random slopes: variances, and covariances with their correlations
            is_cov = np.array(["," in str(k) for k in v.index])
            sd = pd.Series(np.where(is_cov, np.nan, np.sqrt(np.clip(v.to_numpy(), 0.0, None))), index=v.index)
            corr = pd.Series(np.nan, index=v.index)
            for k in v.index[is_cov]:
                g, terms = str(k).split("|", 1)
                a, b = terms.split(",", 1)
                corr[k] = v[k] / (sd[f"{g}|{a}"] * sd[f"{g}|{b}"])
            vc = pd.DataFrame({"variance": v, "std_dev": sd, "corr": corr})
            vc_caption = "Random effects (variances, covariances and correlations on the link scale)"
        notes = list(self.notes)
        if not self.converged:
            notes.append("the optimiser did not converge: the estimates may not be the maximum")
        return Summary("Generalized linear mixed model", header=header,
                       tables=[(f"Fixed effects ({self.link} scale; Wald z, {self.confidence_level:.0%} CI)",
                                self.coefficients),
                               (vc_caption, vc)],
                       notes=notes)

    # ------------------------------------------------------------------ ratios
    def odds_ratios(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Odds ratios ``exp(beta)`` with Wald intervals (logit link only).

        Parameters
        ----------
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient, columns ``estimate``, ``ci_low``,
            ``ci_high``, ``pvalue`` (the intercept row is the baseline odds).
        """
        if self.link != "logit":
            raise ValueError(f"`odds_ratios` needs the logit link; this model uses the {self.link} link"
                             + (" (use rate_ratios())." if self.link == "log" else "."))
        return self._exp_table(confidence_level)

    def rate_ratios(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Rate ratios ``exp(beta)`` with Wald intervals (Poisson, log link only).

        Parameters
        ----------
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient, columns ``estimate``, ``ci_low``,
            ``ci_high``, ``pvalue`` (the intercept row is the baseline rate).
        """
        if self.link != "log":
            raise ValueError(f"`rate_ratios` needs the log link (Poisson); this model uses the {self.link} link"
                             + (" (use odds_ratios())." if self.link == "logit" else "."))
        return self._exp_table(confidence_level)

    def _exp_table(self, confidence_level: float | None) -> pd.DataFrame:
        ci = self.confidence_interval(confidence_level)
        with np.errstate(over="ignore", invalid="ignore"):
            return pd.DataFrame({"estimate": np.exp(self.coefficients["estimate"]), "ci_low": np.exp(ci["ci_low"]),
                                 "ci_high": np.exp(ci["ci_high"]), "pvalue": self.coefficients["pvalue"]})

    # ------------------------------------------------------------------ contrasts
    def contrasts(self, term: str, *, pairs: Any = None, confidence_level: float | None = None) -> pd.DataFrame:
        """Differences between the categories of a categorical predictor, with Wald intervals.

        Parameters
        ----------
        term : str
            The categorical predictor as written in the formula
            (``"team_type"`` or ``"C(team_type)"``).
        pairs : list of (str, str), optional
            ``(level, other)`` pairs, each giving ``level`` versus ``other``;
            default every pair, later levels versus earlier ones.
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed ``"level vs other"``, columns
            :data:`~teamculture.results.COEF_COLUMNS` on the link scale (log
            odds ratio, log rate ratio or probit difference) and ``ratio``,
            ``ratio_ci_low``, ``ratio_ci_high`` (odds or rate ratio; NaN for
            the probit link).
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        var, levels, _ = self._term(term, "contrasts")
        pairs = _check_pairs(pairs, levels, "contrasts")
        beta = self.coefficients["estimate"].to_numpy()
        cov = self.cov_params.to_numpy()
        est, se, names = [], [], []
        for a, b in pairs:
            L = self._contrast_vector(var, a, b, term)
            infinite = [c for c, v in zip(self.coefficients.index, L) if v != 0 and c in self._infinite]
            if infinite:
                raise ValueError(f"`term`: the contrast {a!r} vs {b!r} involves coefficient(s) {few(infinite)} "
                                 "whose estimates are infinite (separation); it is not estimable.")
            est.append(float(L @ beta))
            se.append(float(np.sqrt(max(L @ cov @ L, 0.0))))
            names.append(f"{a} vs {b}")
        table = coef_table(est, se, index=pd.Index(names, name="contrast"), confidence_level=level)
        if self.link in ("logit", "log"):
            table["ratio"] = np.exp(table["estimate"])
            table["ratio_ci_low"] = np.exp(table["ci_low"])
            table["ratio_ci_high"] = np.exp(table["ci_high"])
        else:
            table["ratio"] = table["ratio_ci_low"] = table["ratio_ci_high"] = np.nan
        return table

    def _term(self, term: Any, method: str) -> tuple[str, list[Any], str]:
        """``(data column, levels, encoder key)`` of a categorical term of the fixed part."""
        if not isinstance(term, str):
            raise TypeError(f"`term` must be the name of a categorical predictor; got {type(term).__name__}.")
        spec = self._spec
        found = []
        for key, (kind, state) in spec.encoder_state.items():
            if str(getattr(kind, "value", kind)) != "categorical":
                continue
            variables = {v for v in self._frame.columns if v == key or f"({v}" in key or f"{v})" in key
                         or f"({v}," in key}
            if term == key or term in variables:
                found.append((key, state, variables))
        if not found:
            cats = [k for k, (kind, _) in spec.encoder_state.items()
                    if str(getattr(kind, "value", kind)) == "categorical"]
            raise ValueError(f"`term` {term!r} is not a categorical predictor of the model; categorical "
                             f"predictors: {few(cats)}.")
        key, state, variables = found[0]
        if len(variables) != 1:
            raise ValueError(f"`term` {term!r} is built from several columns {few(sorted(variables))}; "
                             f"`{method}` needs one categorical column.")
        return next(iter(variables)), list(state["categories"]), key

    def _set_level(self, var: str, level: Any, rows: Any = slice(None)) -> pd.DataFrame:
        frame = self._frame.iloc[rows].copy()
        col = frame[var]
        if isinstance(col.dtype, pd.CategoricalDtype):
            frame[var] = pd.Categorical([level] * len(frame), categories=col.cat.categories,
                                        ordered=col.cat.ordered)
        else:
            frame[var] = pd.Series([level] * len(frame), index=frame.index, dtype=col.dtype)
        return frame

    def _design_at(self, var: str, level: Any, rows: Any = slice(None)) -> np.ndarray:
        mm = self._spec.get_model_matrix(self._set_level(var, level, rows))
        X = pd.DataFrame(np.asarray(mm, dtype=float), columns=[str(c) for c in mm.columns])
        return X[list(self.coefficients.index)].to_numpy()

    def _contrast_vector(self, var: str, a: Any, b: Any, term: str) -> np.ndarray:
        n = len(self._frame)
        rows = np.unique(np.linspace(0, n - 1, min(n, 200)).astype(int))
        D = self._design_at(var, a, rows) - self._design_at(var, b, rows)
        if not np.allclose(D, D[0], rtol=0.0, atol=1e-12):
            raise ValueError(
                f"`term` {term!r} interacts with other predictors, so the difference between {a!r} and {b!r} "
                "depends on them; use predicted_probabilities()/risk_differences() (averaged over the data) "
                "or a model without the interaction."
            )
        return D[0]

    # ------------------------------------------------------------------ variance partition
    def icc(self) -> pd.DataFrame:
        """Latent-scale variance partition coefficients and intra-class correlations.

        Returns
        -------
        pandas.DataFrame
            Indexed by the grouping factors (outer first) and ``"residual"``,
            columns ``variance`` (the residual row: :math:`\\pi^2/3` for the
            logit link, 1 for probit), ``vpc`` (share of the total latent
            variance) and ``icc`` (correlation of the latent responses of two
            staff who share this level's group, hence every coarser one: the
            sum of the VPCs from the outermost level down to this one; NaN for
            the residual).

        Notes
        -----
        Snijders & Bosker's latent-variable method (Goldstein, Browne &
        Rasbash 2002): ``VPC_trust = s2_trust / (s2_trust + s2_team +
        pi^2/3)``. Binomial family only (the Poisson latent scale has no
        fixed residual variance).
        """
        if self._Z is not None:
            raise ValueError("`icc`: with random slopes the variance partition depends on the covariate values; "
                             "it is defined here for random-intercept models.")
        if self.family != "binomial":
            raise ValueError("`icc` is defined here for the binomial family (latent residual variance pi^2/3 or 1); "
                             f"this model is {self.family}. See r_squared() for the Nakagawa decomposition.")
        order = list(self._level_order)
        var = self.variance_components.reindex(order).astype(float)
        resid = _LATENT_VARIANCE[self.link]
        total = float(var.sum()) + resid
        vpc = pd.concat([var, pd.Series({"residual": resid})]) / total
        icc = vpc.cumsum()
        icc["residual"] = np.nan
        return pd.DataFrame({"variance": pd.concat([var, pd.Series({"residual": resid})]), "vpc": vpc, "icc": icc})

    def median_odds_ratio(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Median odds ratio (logit) or median rate ratio (log link) of each grouping level.

        Parameters
        ----------
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by grouping factor, columns ``estimate``, ``ci_low``,
            ``ci_high``. Intervals from the Wald interval of ``log sigma``
            (NaN when the variance is estimated at zero).

        Notes
        -----
        ``MOR = exp(sqrt(2 s2) * Phi^-1(0.75))`` (Larsen & Merlo 2005): the
        median of the odds ratio between the higher-risk and the lower-risk
        of two randomly chosen groups of this level (e.g. two teams of the
        same trust for ``trust:team``).
        """
        if self.link not in ("logit", "log"):
            raise ValueError(f"`median_odds_ratio` needs the logit (or log) link; this model uses {self.link}.")
        if self._Z is not None:
            raise ValueError("`median_odds_ratio`: with random slopes the between-group variance depends on the "
                             "covariate values; it is defined here for random-intercept models.")
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        z = float(stats.norm.isf((1 - level) / 2))
        rows = {}
        for g in self.variance_components.index:
            s = math.sqrt(float(self.variance_components[g]))
            se = self._sigma_se(g)
            if s >= SINGULAR_TOLERANCE and np.isfinite(se):
                with np.errstate(over="ignore"):
                    lo, hi = float(s * np.exp(-z * se / s)), float(s * np.exp(z * se / s))
            else:  # a variance at (or within 1e-4 SD of) zero: no Wald interval on the log scale
                lo = hi = np.nan
            f = math.sqrt(2.0) * _Z75
            with np.errstate(over="ignore"):
                rows[g] = (math.exp(f * s), float(np.exp(f * lo)), float(np.exp(f * hi)))
        return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high"])

    def variance_intervals(self, *, confidence_level: float = 0.95, method: str = "profile") -> Any:
        """Profile-likelihood intervals for the standard deviations (and correlations) of the random effects.

        Parameters
        ----------
        confidence_level : float, default 0.95
            Coverage of the intervals, in (0, 1).
        method : {"profile"}, default "profile"
            Profile likelihood (the only method for GLMMs).

        Returns
        -------
        VarianceIntervals
            ``table`` indexed by the names of ``variance_components`` with
            the standard deviations on the link scale (correlations for the
            ``"g|a,b"`` rows of a random-slopes model), their intervals, and
            the intervals squared to variances; ``ml_estimate`` holds the
            centre of the profile. See
            :class:`teamculture.reporting.VarianceIntervals`.

        Notes
        -----
        For each parameter the log-likelihood the model was fitted with
        (Laplace, or the adaptive quadrature with its nodes re-adapted at
        every point) is maximised over the fixed effects and the other
        variance parameters with that parameter held fixed; the signed root
        :math:`\\zeta(v) = \\operatorname{sign}(v - \\hat v)\\sqrt{2(\\ell(\\hat
        v) - \\ell_p(v))}` is inverted at :math:`\\pm z_{(1+c)/2}` by a root
        finder. lme4 interpolates a spline through a grid of profile points,
        so its limits differ from these exact ones in the third or fourth
        digit. A lower limit the profile does not reach before zero is 0 (a
        correlation's -1 or 1), as lme4 reports it; a standard deviation
        estimated at zero (a singular fit, with its
        :class:`~teamculture.errors.BoundaryWarning` at fit time) has lower
        limit 0. An upper limit the profile does not reach by a standard
        deviation of 30 on the link scale (or twice the estimate) is ``inf``,
        and a limit whose profile cannot be evaluated is ``NaN``, each with a
        :class:`~teamculture.errors.DegenerateDataWarning` saying which.
        Models with an infinite fixed effect (separation), and random-slopes
        terms of three or more correlated effects (whose correlations on the
        boundary cannot be profiled reliably here), are refused.

        R: lme4::confint(fit, method = "profile")

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from teamculture.multilevel import glmm
        >>> rng = np.random.default_rng(1)
        >>> team = np.repeat(np.arange(60), 8)
        >>> eta = -0.5 + rng.normal(0, 0.8, 60)[team]
        >>> df = pd.DataFrame({"y": rng.random(team.size) < 1 / (1 + np.exp(-eta)), "team": team})
        >>> ci = glmm("y ~ 1 + (1 | team)", df).variance_intervals()
        >>> ci.table[["estimate", "ci_low", "ci_high"]].round(2)
              estimate  ci_low  ci_high
        team      0.55    0.21     0.87
        """
        from teamculture.multilevel._glmm_profile import glmm_variance_intervals

        return glmm_variance_intervals(self, confidence_level=confidence_level, method=method)

    def _sigma_se(self, g: str) -> float:
        key = f"sd:{g}"
        if key not in self._cov_theta.index:
            return float("nan")
        v = float(self._cov_theta.loc[key, key])
        return math.sqrt(v) if v >= 0 else float("nan")

    def r_squared(self) -> pd.Series:
        """Nakagawa's marginal and conditional R² on the latent scale.

        Returns
        -------
        pandas.Series
            ``marginal`` (fixed effects) and ``conditional`` (fixed plus random),
            and the variances they rest on: ``var_fixed`` (variance of the
            fixed-effect linear predictor, denominator n - 1), ``var_random``
            (sum of the variance components) and ``var_distribution``
            (:math:`\\pi^2/3` logit, 1 probit; for Poisson
            ``log(1 + 1/mu)`` with ``mu = exp(intercept of the null model)``,
            as ``insight::get_variance``, which refits the model with the
            fixed part ``1``).

        Notes
        -----
        Nakagawa, Johnson & Schielzeth (2017).
        """
        X = self._design.to_numpy()
        beta = self.coefficients["estimate"].to_numpy()
        if self._infinite:
            raise ValueError("`r_squared` is undefined: some fixed effects are infinite (separation).")
        var_f = float(np.var(X @ beta, ddof=1))
        if self._Z is not None:  # mean of z_i' Sigma z_i over the rows (Johnson 2014)
            var_r = float(np.mean(np.einsum("na,ab,nb->n", self._Z, self._Sigma, self._Z)))
        else:
            var_r = float(self.variance_components.sum())
        if self.family == "binomial":
            var_d = _LATENT_VARIANCE[self.link]
        elif self._Z is not None:
            raise ValueError("`r_squared` for a Poisson model with random slopes needs a null model with the same "
                             "slopes, which is not implemented.")
        else:
            eng = GLMMEngine(np.ones((len(self._k), 1)), self._k, self._m, self._offset, list(self._codes),
                             self.family, self.link)
            null = fit(eng, tuple(1 for _ in self._codes))
            var_d = math.log1p(1.0 / math.exp(float(null.beta[0])))
        total = var_f + var_r + var_d
        return pd.Series({"marginal": var_f / total, "conditional": (var_f + var_r) / total, "var_fixed": var_f,
                          "var_random": var_r, "var_distribution": var_d})

    # ------------------------------------------------------------------ population-averaged predictions
    def predicted_probabilities(self, term: str, *, confidence_level: float | None = None) -> pd.DataFrame:
        """Population-averaged probabilities (binomial) or means (Poisson) for each category of a predictor.

        Parameters
        ----------
        term : str
            A categorical predictor of the model (``"team_type"``).
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by category, columns ``estimate``, ``std_error``,
            ``ci_low``, ``ci_high`` (delta method, normal intervals).

        Notes
        -----
        For each category ``a`` every row's predictor is set to ``a`` (the
        other covariates as observed), and the mean response is integrated
        over the random intercepts, whose sum is ``N(0, tau^2)`` with ``tau^2``
        the sum of the variance components:
        ``p_a = mean_i E[g^-1(x_i(a)' beta + offset_i + b)]`` (Gauss-Hermite with
        64 points; probit and log in closed form). This is a marginal
        (population-averaged) quantity, not the conditional ``b = 0``
        prediction. Standard errors by the delta method from the covariance
        of the fixed effects and the standard deviations.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        var, levels, _ = self._term(term, "predicted_probabilities")
        means, grads = self._marginal_means(var, levels)
        cov = self._cov_for_gradients()
        se = np.array([math.sqrt(max(float(g @ cov @ g), 0.0)) for g in grads])
        z = float(stats.norm.isf((1 - level) / 2))
        means = np.asarray(means)
        return pd.DataFrame({"estimate": means, "std_error": se, "ci_low": means - z * se,
                             "ci_high": means + z * se}, index=pd.Index(levels, name=var))

    def risk_differences(self, term: str, *, pairs: Any = None, confidence_level: float | None = None
                         ) -> pd.DataFrame:
        """Differences of population-averaged probabilities (or means) between categories.

        Parameters
        ----------
        term : str
            A categorical predictor of the model (``"team_type"``).
        pairs : list of (str, str), optional
            ``(level, other)`` pairs; default every pair, later levels versus
            earlier ones.
        confidence_level : float, optional
            Coverage in (0, 1); default the level of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed ``"level vs other"``, columns
            :data:`~teamculture.results.COEF_COLUMNS` (z tests of a zero
            difference; delta method).

        Notes
        -----
        See :meth:`predicted_probabilities` for the averaging.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        var, levels, _ = self._term(term, "risk_differences")
        pairs = _check_pairs(pairs, levels, "risk_differences")
        used = sorted({x for pr in pairs for x in pr}, key=levels.index)
        means, grads = self._marginal_means(var, used)
        pos = {lv: i for i, lv in enumerate(used)}
        cov = self._cov_for_gradients()
        est, se, names = [], [], []
        for a, b in pairs:
            g = grads[pos[a]] - grads[pos[b]]
            est.append(means[pos[a]] - means[pos[b]])
            se.append(math.sqrt(max(float(g @ cov @ g), 0.0)))
            names.append(f"{a} vs {b}")
        return coef_table(est, se, index=pd.Index(names, name="contrast"), confidence_level=level)

    def _cov_for_gradients(self) -> np.ndarray:
        cov = self._cov_theta.to_numpy().copy()
        bad = ~np.isfinite(np.diag(cov))
        if bad.any():  # a variance at zero: treated as known
            cov[bad, :] = 0.0
            cov[:, bad] = 0.0
        p = len(self.coefficients)
        if not np.all(np.isfinite(cov[:p, :p])):
            cov[:p, :p] = np.nan_to_num(self.cov_params.to_numpy(), nan=0.0)
        return np.nan_to_num(cov, nan=0.0)

    def _marginal_means(self, var: str, levels: list[Any]) -> tuple[list[float], list[np.ndarray]]:
        if self._infinite:
            raise ValueError("`term`: population-averaged predictions are undefined when fixed effects are "
                             "infinite (separation).")
        beta = self.coefficients["estimate"].to_numpy()
        off = 0.0 if self._offset is None else self._offset
        if self._Z is not None:
            return self._marginal_means_slopes(var, levels, beta, off)
        sig = np.sqrt(self.variance_components.reindex(list(self._level_order)).to_numpy(dtype=float))
        tau = float(np.sqrt(np.sum(sig**2)))
        means, grads = [], []
        for lv in levels:
            X = self._design_at(var, lv)
            eta = X @ beta + off
            mean, d_eta, d_tau = _population_mean(eta, tau, self.link)
            n = len(eta)
            g_beta = X.T @ d_eta / n
            with np.errstate(invalid="ignore", divide="ignore"):
                g_sig = np.where(tau > 0, d_tau * sig / tau, 0.0)
            means.append(mean)
            grads.append(np.r_[g_beta, g_sig])
        return means, grads

    def _marginal_means_slopes(self, var: str, levels: list[Any], beta: np.ndarray, off: Any
                               ) -> tuple[list[float], list[np.ndarray]]:
        """Random slopes: each row's random part is N(0, z_i' Sigma z_i); theta derivatives numerically."""
        from teamculture.multilevel._glmm_slopes import column_scale, theta_scale, theta_to_L

        theta = self._theta_values()
        r = self._Z.shape[1]
        unit = theta_scale(column_scale(self._Z))  # the size of each theta element per unit of its covariate

        def taus(th: np.ndarray) -> np.ndarray:
            L = theta_to_L(th, r)
            return np.sqrt(np.einsum("na,ab,nb->n", self._Z, L @ L.T, self._Z))

        means, grads = [], []
        for lv in levels:
            X = self._design_at(var, lv)
            eta = X @ beta + off
            mean, d_eta, _ = _population_mean(eta, taus(theta), self.link)
            g_theta = np.empty(theta.size)
            for j in range(theta.size):
                h = 1e-6 * max(abs(theta[j]), 0.1 * unit[j])
                e = np.zeros(theta.size)
                e[j] = h
                g_theta[j] = (_population_mean(eta, taus(theta + e), self.link)[0]
                              - _population_mean(eta, taus(theta - e), self.link)[0]) / (2 * h)
            means.append(mean)
            grads.append(np.r_[X.T @ d_eta / len(eta), g_theta])
        return means, grads

    def _theta_values(self) -> np.ndarray:
        return np.asarray(self._slope_theta, dtype=float)

    # ------------------------------------------------------------------ comparison
    def compare(self, other: GLMMResult) -> GLMMCompareResult:
        """Likelihood-ratio test of this model against a nested one fitted to the same rows.

        Parameters
        ----------
        other : GLMMResult
            The other model (either may be the larger one).

        Returns
        -------
        GLMMCompareResult
            The statistic ``2 (loglik_full - loglik_reduced)``, its degrees of
            freedom and p-value. When the reduced model drops one random term,
            the p-value uses the 50:50 mixture of :math:`\\chi^2_{df-1}` and
            :math:`\\chi^2_{df}` (Self & Liang 1987: the variance lies on the
            boundary under the null); otherwise :math:`\\chi^2_{df}`.
        """
        return _compare(self, other)


@result_class
class GLMMCompareResult(Result):
    """Likelihood-ratio test of two nested GLMMs (from :meth:`GLMMResult.compare`).

    Attributes
    ----------
    statistic : float
        ``2 * (loglik_full - loglik_reduced)`` (0 when negative).
    df : int
        Difference in the number of parameters.
    pvalue : float
        From the reference distribution in ``method``.
    pvalue_chi2 : float
        From the plain :math:`\\chi^2_{df}` (what R's ``anova`` prints).
    method : str
        The reference distribution.
    loglik_full, loglik_reduced : float
    n_params_full, n_params_reduced : int
    formula_full, formula_reduced : str
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
    formula_full: str
    formula_reduced: str

    def to_frame(self) -> pd.DataFrame:
        """One row: statistic, df, pvalue, pvalue_chi2, the two log-likelihoods."""
        return pd.DataFrame([{"statistic": self.statistic, "df": float(self.df), "pvalue": self.pvalue,
                              "pvalue_chi2": self.pvalue_chi2, "loglik_full": self.loglik_full,
                              "loglik_reduced": self.loglik_reduced}], index=["LRT"])

    def summary(self) -> Summary:
        """Header lines: the two models, the statistic and p-value."""
        return Summary("Likelihood-ratio test (GLMM)", header=[
            ("full", f"{self.formula_full} ({self.n_params_full} parameters)"),
            ("reduced", f"{self.formula_reduced} ({self.n_params_reduced} parameters)"),
            ("log-likelihoods", f"{self.loglik_full:.6g} vs {self.loglik_reduced:.6g}"),
            ("statistic", self.statistic), ("df", self.df), ("p-value", self.pvalue),
            ("p-value (plain chi2)", self.pvalue_chi2), ("reference", self.method)],
            tables=[("", self.to_frame())])


# =========================================================================== helpers
def _intervals(table: pd.DataFrame, level: float) -> pd.DataFrame:
    with np.errstate(invalid="ignore"):  # inf - inf for infinite estimates, set below
        out = interval_frame(table, level)
    est = table["estimate"].to_numpy()
    pos, neg = np.isposinf(est), np.isneginf(est)
    out.loc[pos, "ci_low"], out.loc[pos, "ci_high"] = np.nan, np.inf
    out.loc[neg, "ci_low"], out.loc[neg, "ci_high"] = -np.inf, np.nan
    return out


def _check_pairs(pairs: Any, levels: list[Any], method: str) -> list[tuple[Any, Any]]:
    if pairs is None:
        return [(levels[j], levels[i]) for i in range(len(levels)) for j in range(i + 1, len(levels))]
    if isinstance(pairs, tuple) and len(pairs) == 2 and not isinstance(pairs[0], (tuple, list)):
        pairs = [pairs]
    if not isinstance(pairs, (list, tuple)) or not pairs:
        raise TypeError(f"`pairs` must be a list of (level, other) pairs; got {pairs!r}.")
    out = []
    for pr in pairs:
        if not isinstance(pr, (list, tuple)) or len(pr) != 2:
            raise TypeError(f"`pairs` must be a list of (level, other) pairs; got the element {pr!r}.")
        bad = [x for x in pr if x not in levels]
        if bad:
            raise ValueError(f"`pairs` names level(s) {few(bad)} that are not levels of the term; levels: "
                             f"{few(levels)}.")
        if pr[0] == pr[1]:
            raise ValueError(f"`pairs`: {pr!r} compares a level with itself.")
        out.append((pr[0], pr[1]))
    return out


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(64)
_GH_W = _GH_W / _GH_W.sum()


def _population_mean(eta: np.ndarray, tau: Any, link: str) -> tuple[float, np.ndarray, float]:
    """``mean_i E[g^-1(eta_i + tau_i Z)]``, its derivative in each ``eta_i`` (/n not applied) and in a common
    ``tau`` (``tau`` is a scalar, or one value per row for random slopes)."""
    n = len(eta)
    tau_rows = np.broadcast_to(np.asarray(tau, dtype=float), eta.shape)
    if link == "log":
        mu = np.exp(eta + 0.5 * tau_rows * tau_rows)
        return float(mu.mean()), mu, float(np.mean(tau_rows * mu))
    if link == "probit":
        s = np.sqrt(1.0 + tau_rows * tau_rows)
        mu = special.ndtr(eta / s)
        dens = stats.norm.pdf(eta / s)
        return float(mu.mean()), dens / s, float(np.mean(-dens * eta * tau_rows / s**3))
    total = 0.0
    d_eta = np.zeros(n)
    d_tau = 0.0
    for start in range(0, n, 50_000):
        sl = slice(start, start + 50_000)
        e = eta[sl, None] + tau_rows[sl, None] * _GH_X[None, :]
        mu = special.expit(e)
        dm = mu * (1.0 - mu)
        total += float((mu @ _GH_W).sum())
        d_eta[sl] = dm @ _GH_W
        d_tau += float((dm @ (_GH_W * _GH_X)).sum())
    return total / n, d_eta, d_tau / n


def _compare(a: GLMMResult, b: GLMMResult) -> GLMMCompareResult:
    if not isinstance(b, GLMMResult):
        raise TypeError(f"`other` must be a GLMMResult (from glmm()); got {type(b).__name__}.")
    if (a.family, a.link) != (b.family, b.link):
        raise ValueError(f"`other` has family {b.family}/{b.link}, this model {a.family}/{a.link}; a "
                         "likelihood-ratio test needs the same family and link.")
    if a.method != b.method:
        raise ValueError(f"`other` was fitted by {b.method} (nagq={b.nagq}), this model by {a.method} "
                         f"(nagq={a.nagq}); their log-likelihoods are different approximations. Refit both "
                         "the same way.")
    if a.method != "Laplace" and not (abs(a.quadrature_check) <= QUADRATURE_TOLERANCE
                                      and abs(b.quadrature_check) <= QUADRATURE_TOLERANCE):
        raise ValueError("`other`: the quadrature of one of the models has not converged (quadrature_check > "
                         f"{QUADRATURE_TOLERANCE:g}), so the log-likelihoods are not comparable; increase nagq.")
    same_rows = a.n_obs == b.n_obs and a._frame.index.equals(b._frame.index) and np.array_equal(a._k, b._k) \
        and np.array_equal(a._m, b._m)
    if not same_rows:
        raise ValueError(f"`other` was fitted to different rows or a different response ({b.n_obs} vs {a.n_obs} "
                         "rows); a likelihood-ratio test needs the same observations (drop missing values "
                         "before fitting both).")
    full, red = (a, b) if a.n_params >= b.n_params else (b, a)
    df = full.n_params - red.n_params
    if df == 0:
        raise ValueError("`other` has as many parameters as this model: the models are not nested.")
    fixed_ok = set(red.coefficients.index) <= set(full.coefficients.index)
    vc_ok = set(red.variance_components.index) <= set(full.variance_components.index)
    if not (fixed_ok and vc_ok):
        raise ValueError("`other` is not nested in this model: the smaller model must use a subset of the larger "
                         "model's fixed-effect columns and random terms.")
    stat = max(0.0, 2.0 * (full.loglik - red.loglik))
    p_chi2 = float(stats.chi2.sf(stat, df))
    dropped_vc = len(full.variance_components) - len(red.variance_components)
    if dropped_vc == 1:
        lower = (1.0 if stat <= 0 else 0.0) if df == 1 else float(stats.chi2.sf(stat, df - 1))
        p = 0.5 * lower + 0.5 * p_chi2
        method = f"50:50 mixture of chi2({df - 1}) and chi2({df}) (a variance on the boundary)"
    else:
        p = p_chi2
        method = f"chi2({df})" + (" (conservative: several variances on the boundary)" if dropped_vc > 1 else "")
    return GLMMCompareResult(n_obs=full.n_obs, n_dropped=full.n_dropped, n_groups=full.n_groups, statistic=stat,
                             df=int(df), pvalue=float(p), pvalue_chi2=p_chi2, method=method,
                             loglik_full=full.loglik, loglik_reduced=red.loglik, n_params_full=full.n_params,
                             n_params_reduced=red.n_params, formula_full=full.formula,
                             formula_reduced=red.formula)


# =========================================================================== separation
def _separation(X: np.ndarray, k: np.ndarray, m: np.ndarray, family: str, candidates: np.ndarray
                ) -> np.ndarray:
    """Signs (+1/-1) of coefficients whose maximum-likelihood estimate is infinite; 0 elsewhere.

    Directions ``d`` that never lower the likelihood of any row (Konis 2007): for
    binomial rows with only successes ``x'd >= 0``, with only failures
    ``x'd <= 0``, with both ``x'd = 0``; for Poisson rows with zero counts
    ``x'd <= 0`` and positive counts ``x'd = 0``. Coefficient ``j`` is
    infinite when some such direction has ``d_j != 0`` (one linear programme
    per candidate coefficient and sign).
    """
    p = X.shape[1]
    use = m > 0
    X, k, m = X[use], k[use], m[use]
    scale = np.sqrt(np.einsum("ij,ij->j", X, X))
    scale[scale == 0] = 1.0
    Xs = X / scale
    if family == "binomial":
        up = k >= m
        down = k <= 0
    else:
        up = np.zeros(len(k), dtype=bool)
        down = k <= 0
    eq = ~(up | down)
    A_ub = np.vstack([-Xs[up], Xs[down]]) if (up.any() or down.any()) else np.zeros((0, p))
    b_ub = np.zeros(A_ub.shape[0])
    A_eq = Xs[eq] if eq.any() else None
    b_eq = np.zeros(int(eq.sum())) if eq.any() else None
    out = np.zeros(p)
    for j in candidates:
        for sign in (1.0, -1.0):
            c = np.zeros(p)
            c[j] = -sign
            try:
                res = optimize.linprog(c, A_ub=A_ub if A_ub.shape[0] else None, b_ub=b_ub if A_ub.shape[0] else None,
                                       A_eq=A_eq, b_eq=b_eq, bounds=[(-1.0, 1.0)] * p, method="highs")
            except ValueError:
                continue
            if res.status == 0 and -res.fun > 1e-7:
                out[j] = sign
                break
    return out


# =========================================================================== the front end
def _validate_glmm(formula: Any, data: Any, family: Any, link: Any, nagq: Any, nan_policy: Any
                   ) -> tuple[Any, str, str, Any]:
    parsed = _parse_formula(formula, allow_offset=True)
    check_frame(data, "data")
    family = check_choice("family", family.lower() if isinstance(family, str) else family, ("binomial", "poisson"))
    if link is None:
        link = _LINKS[family][0]
    else:
        link = check_choice("link", link.lower() if isinstance(link, str) else link, _LINKS[family])
    check_nan_policy(nan_policy)
    D = len(parsed.random)
    if isinstance(nagq, (list, tuple)):
        if len(nagq) != D:
            raise ValueError(f"`nagq` must give one number of points per grouping level ({D}, outer first); got "
                             f"{len(nagq)}: {nagq!r}.")
        q = tuple(check_int("nagq", v, minimum=1, maximum=101) for v in nagq)
    else:
        q = (check_int("nagq", nagq, minimum=1, maximum=101),) * D
    if any(v > 1 for v in q) and any(v == 1 for v in q):
        raise ValueError(f"`nagq` = {nagq!r} mixes 1 (Laplace) with quadrature points; give every level >= 2 "
                         "points, or 1 for the Laplace approximation.")
    return parsed, family, link, q


def glmm(formula: str, data: pd.DataFrame, *, family: str = "binomial", link: str | None = None,
         nagq: int | tuple[int, ...] = 1, weights: Any = None, offset: Any = None,
         nan_policy: str = "omit") -> GLMMResult:
    """Fit a generalised linear mixed model with nested random intercepts (lme4's ``glmer``).

    Parameters
    ----------
    formula : str
        lme4 syntax: ``"injured ~ team_type + tenure + (1 | trust/team)"``.
        The response is a 0/1 column (``True``/``False`` allowed),
        ``cbind(successes, failures)``, or counts for ``family="poisson"``;
        arithmetic on columns is allowed (``cbind(k, n - k)``). The fixed
        part uses formulaic (``C(x)``, interactions, ``np.log(x)``);
        ``offset(expr)`` adds an offset as in R. Random intercepts ``(1 | g)``,
        nested ``(1 | a/b)`` = ``(1 | a) + (1 | a:b)`` at any depth (the
        grouping factors must be nested; crossed factors are refused); or
        correlated random intercepts and slopes for one grouping factor,
        ``(1 + x | g)`` (Laplace only).
    data : pandas.DataFrame
        One row per person (or per binomial cell).
    family : {"binomial", "poisson"}, default "binomial"
        Response distribution.
    link : str, optional
        ``"logit"`` (default) or ``"probit"`` for binomial; ``"log"`` for Poisson.
    nagq : int or tuple of int, default 1
        Quadrature points per grouping level (outer first); 1 = Laplace
        approximation (lme4's ``nAGQ = 1``), >= 2 = nested adaptive
        Gauss-Hermite quadrature. See Notes for choosing it.
    weights : str or array_like, optional
        A column name or one value per row (a Series is aligned on ``data``'s
        index). As lme4: for binomial, the numbers of trials when the
        response is a proportion; for Poisson, prior weights multiplying each
        row's log-likelihood.
    offset : str or array_like, optional
        A column name or one value per row (Series aligned by index), added to
        the linear predictor (e.g. log exposure); adds to any ``offset()``
        term of the formula.
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing model variable are dropped and counted
        (``n_dropped``, a :class:`~teamculture.errors.DroppedDataWarning`), or
        refused.

    Returns
    -------
    GLMMResult
        Coefficients with z tests, variance components, conditional modes,
        log-likelihood, AIC/BIC; odds ratios, contrasts, ICCs, MORs, R²,
        population-averaged probabilities, likelihood-ratio tests.

    Notes
    -----
    The model is :math:`g(E[y_i \\mid b]) = x_i^\\top\\beta + o_i + \\sum_l
    b_{l, g_l(i)}` with :math:`b_{l,g} \\sim N(0, \\sigma_l^2)` for each nested
    level ``l``. The marginal likelihood is a product over the outermost
    groups of nested one-dimensional integrals.

    **Laplace** (``nagq=1``): as lme4's ``glmer`` (``nAGQ = 1``), with the
    PIRLS (expected-information) weights in the log-determinant. Because the
    random effects are nested, the Hessian of the conditional mode problem is
    a tree ("arrowhead" for two levels) that is eliminated level by level in
    O(rows) per evaluation; the gradient in :math:`(\\beta, \\sigma)` is exact.
    Laplace is biased towards zero variances for binary outcomes in small
    groups and rare outcomes.

    **Adaptive quadrature** (``nagq=q > 1``): each integral is centred and
    scaled with the joint conditional mode and the nested factorisation of
    its Hessian (Pinheiro & Chao 2006), ``q`` points per level; the cost is
    rows x q^levels density evaluations. lme4 offers this only for one
    scalar random effect. **Choosing q**: after the fit the log-likelihood
    is recomputed at the estimates with ``2q - 1`` points per level; the
    difference is ``quadrature_check``, and if it exceeds 1e-6 a
    :class:`~teamculture.errors.ConvergenceWarning` says so: increase
    ``nagq`` until it does not. Large team variances with tiny teams need
    more points (7 points can be 0.3 off in log-likelihood, 25 ~1e-4).

    **Random slopes** ``(1 + x | g)``: the random effects of a group,
    :math:`b_g \\sim N(0, \\Sigma)`, enter through ``z_i = (1, x_i)``; groups
    are independent, so the conditional modes are a batched Newton iteration
    with ``r x r`` blocks, and the Laplace log-likelihood (lme4's, with
    :math:`\\Sigma = \\Lambda\\Lambda^\\top` parametrised by lme4's ``theta``)
    is maximised by L-BFGS-B on its central differences and Newton polishing;
    ``variance_components`` then holds ``"g|term"`` variances and
    ``"g|term1,term2"`` covariances, and ``icc()``/``median_odds_ratio()``
    are not defined (the partition depends on ``x``). A categorical slope is
    coded as lme4 codes it (``(c | g)``: ``(Intercept)`` and ``c[T.b]``).
    Inside the fit every covariate is measured in units of its root mean
    square, so the start, the optimiser and the singular rule (a diagonal of
    the Cholesky factor below 1e-4, lme4's ``isSingular``, which lme4 applies
    in the covariate's own units) do not depend on the unit of ``x``; all
    estimates are reported in the caller's units.

    **Estimation**: Newton steps with an analytic Hessian of the profiled
    penalised likelihood and the exact gradient, standard deviations in log
    scale away from zero; a variance may be estimated at exactly zero
    (``singular``, with a :class:`~teamculture.errors.BoundaryWarning`).
    Standard errors from the inverse of the finite-difference Hessian of the
    log-likelihood in :math:`(\\beta, \\sigma)` (as lme4's default
    ``vcov``); with a zero variance, that variance is held fixed. Wald z
    tests (``df = inf``). Fixed effects whose maximum-likelihood estimate is
    infinite (complete or quasi-complete separation; found by linear
    programming) are reported as ``inf``/``-inf`` with a
    :class:`~teamculture.errors.DegenerateDataWarning`.

    R: lme4::glmer(y ~ x + (1 | trust/team), data, family = binomial, nAGQ = 1)

    References
    ----------
    .. [1] Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015). Fitting
       linear mixed-effects models using lme4. Journal of Statistical
       Software 67(1).
    .. [2] Pinheiro, J. C. & Chao, E. C. (2006). Efficient Laplacian and
       adaptive Gaussian quadrature algorithms for multilevel generalized
       linear mixed models. Journal of Computational and Graphical
       Statistics 15(1), 58-81.
    .. [3] Larsen, K. & Merlo, J. (2005). Appropriate assessment of
       neighborhood effects on individual health: integrating random and
       fixed effects in multilevel logistic regression. American Journal of
       Epidemiology 161, 81-88.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from teamculture.multilevel import glmm
    >>> rng = np.random.default_rng(1)
    >>> team = np.repeat(np.arange(150), 8)
    >>> trust = team // 10
    >>> x = rng.normal(size=team.size)
    >>> eta = -1 + 0.5 * x + rng.normal(0, 0.6, 15)[trust] + rng.normal(0, 0.7, 150)[team]
    >>> df = pd.DataFrame({"y": rng.random(team.size) < 1 / (1 + np.exp(-eta)), "x": x,
    ...                    "trust": trust, "team": team})
    >>> fit = glmm("y ~ x + (1 | trust/team)", df)
    >>> fit.n_groups.tolist(), fit.converged
    ([15, 150], True)
    >>> fit.odds_ratios()[["estimate", "ci_low", "ci_high"]].round(2)
               estimate  ci_low  ci_high
    Intercept      0.35    0.27     0.45
    x              1.48    1.28     1.71
    """
    parsed, family, link, q = _validate_glmm(formula, data, family, link, nagq, nan_policy)
    prepared = prepare(parsed, data, family, weights, offset, nan_policy)
    return _fit(parsed, prepared, family, link, q)


def _fit(parsed: Any, d: GLMMData, family: str, link: str, q: tuple[int, ...]) -> GLMMResult:
    if d.Z is not None:
        return _fit_slopes(parsed, d, family, link, q)
    X = d.X
    eng = GLMMEngine(X.to_numpy(), d.k, d.m, d.offset, d.codes, family, link)
    res: EngineFit = fit(eng, q)
    names = list(X.columns)
    p = len(names)
    order = d.level_names
    notes = list(d.notes)
    beta = res.beta.copy()
    se = np.sqrt(np.clip(np.diag(res.cov_beta), 0.0, None))
    infinite: list[str] = []
    # separation: only examined when an estimate is implausibly large (scale free) or the Hessian is singular
    xs = X.to_numpy()
    sd_x = xs.std(axis=0)
    sd_x[sd_x == 0] = 1.0
    size = np.abs(beta) * sd_x
    suspicious = np.flatnonzero((size > 8.0) | ~np.isfinite(se) | (se * sd_x > 5.0))
    if suspicious.size:
        signs = _separation(xs, d.k, d.m, family, suspicious)
        for j in np.flatnonzero(signs):
            beta[j] = signs[j] * np.inf
            se[j] = np.inf
            infinite.append(names[j])
        if infinite:
            msg = (f"separation: the maximum-likelihood estimate of {few(infinite)} is infinite (a direction of the "
                   "fixed effects separates the outcomes), reported as inf/-inf; the other estimates are those of "
                   "the limit. Remove or merge the categories concerned, or use penalised (e.g. Firth) methods")
            notes.append(msg)
            warn(f"glmm: {msg}.", DegenerateDataWarning)
    with np.errstate(invalid="ignore"):  # inf - inf for infinite estimates, fixed just below
        table = coef_table(beta, se, index=pd.Index(names), confidence_level=0.95)
    if infinite:
        inf = table.index.isin(infinite)
        table.loc[inf, ["statistic", "pvalue"]] = np.nan
        ci = _intervals(table, 0.95)
        table.loc[inf, "ci_low"] = ci.loc[inf, "ci_low"]
        table.loc[inf, "ci_high"] = ci.loc[inf, "ci_high"]
    table = table[list(COEF_COLUMNS)]
    sig = res.sigma
    vc = pd.Series({g: float(sig[order.index(g)] ** 2) for g in parsed.group_names}, name="variance")
    singular = bool(np.any(sig < SINGULAR_TOLERANCE))
    if singular:
        zero = [order[i] for i in range(len(order)) if sig[i] < SINGULAR_TOLERANCE]
        msg = (f"singular fit: the variance of {few(zero)} is estimated at (or within 1e-4 SD of) zero; its "
               "standard error is not reported and it is held fixed in the standard errors of the fixed effects")
        notes.append(msg)
        warn(f"glmm: {msg}.", BoundaryWarning)
    if not res.converged:
        msg = f"convergence not confirmed: {res.message}"
        notes.append(msg)
        warn(f"glmm: {msg}. Treat the estimates with caution.", ConvergenceWarning)
    method = "Laplace" if all(v == 1 for v in q) else "adaptive Gauss-Hermite quadrature"
    if method != "Laplace":
        diff = res.quadrature_check
        if not abs(diff) <= QUADRATURE_TOLERANCE:
            msg = (f"the quadrature has not converged: with {', '.join(str(2 * v - 1) for v in q)} points per level "
                   f"the log-likelihood at the estimates changes by {diff:.3g} (> {QUADRATURE_TOLERANCE:g}); "
                   "increase nagq")
            notes.append(msg)
            warn(f"glmm: {msg}.", ConvergenceWarning)
    if d.nesting:
        notes.append(d.nesting)
    ranef = {}
    for lev, g in enumerate(order):
        ranef[g] = pd.DataFrame({"condval": res.modes[lev], "condsd": res.cond_sd[lev]}, index=d.labels[g])
    ranef = {g: ranef[g] for g in parsed.group_names}
    theta_names = names + [f"sd:{g}" for g in order]
    cov_theta = pd.DataFrame(res.cov, index=theta_names, columns=theta_names)
    n_obs = len(d.k)
    k_par = p + len(order)
    ll = float(res.loglik)
    n_groups = pd.Series({g: len(d.labels[g]) for g in parsed.group_names}, name="n_groups", dtype=np.int64)
    return GLMMResult(
        n_obs=n_obs, n_dropped=int(d.n_dropped), n_groups=n_groups, formula=parsed.formula, family=family,
        link=link, method=method, nagq=tuple(q), coefficients=table,
        cov_params=pd.DataFrame(res.cov_beta, index=names, columns=names), variance_components=vc, loglik=ll,
        deviance=-2.0 * ll, aic=-2.0 * ll + 2 * k_par, bic=-2.0 * ll + k_par * math.log(n_obs), n_params=k_par,
        random_effects=ranef, converged=bool(res.converged), singular=singular,
        quadrature_check=float(res.quadrature_check), nesting=d.nesting, notes=tuple(notes),
        _cov_theta=cov_theta, _frame=d.frame, _design=X, _k=d.k, _m=d.m, _offset=d.offset,
        _codes=tuple(d.codes), _level_order=tuple(order), _spec=d.model_spec, _infinite=tuple(infinite),
    )


def _fit_slopes(parsed: Any, d: GLMMData, family: str, link: str, q: tuple[int, ...]) -> GLMMResult:
    from teamculture.multilevel._glmm_slopes import diag_positions, fit_slopes_scaled

    if any(v > 1 for v in q):
        raise ValueError("`nagq`: adaptive quadrature is implemented for nested random intercepts; a model with "
                         "random slopes is fitted by the Laplace approximation (nagq=1).")
    term = parsed.random[0]
    g = term.group
    X = d.X
    names = list(X.columns)
    p = len(names)
    # each column of X and Z in units of its root mean square inside the engine (start, steps, the boundary rule
    # and the optimiser unit-free); estimates, variances, modes and covariances come back in the caller's units
    res = fit_slopes_scaled(X.to_numpy(), d.Z, d.k, d.m, d.offset, d.codes[0], family, link)
    r = d.Z.shape[1]
    zn = d.z_names
    notes = list(d.notes)
    se = np.sqrt(np.clip(np.diag(res.cov_beta), 0.0, None)) if np.all(np.isfinite(res.cov_beta)) else \
        np.full(p, np.nan)
    table = coef_table(res.beta, se, index=pd.Index(names), confidence_level=0.95)[list(COEF_COLUMNS)]
    vc: dict[str, float] = {}
    for a in range(r):
        vc[f"{g}|{zn[a]}"] = float(res.Sigma[a, a])
    for a in range(r):
        for b in range(a + 1, r):
            vc[f"{g}|{zn[a]},{zn[b]}"] = float(res.Sigma[a, b])
    variance_components = pd.Series(vc, name="variance")
    dpos = diag_positions(r)
    singular = bool(np.any(res.theta_internal[dpos] < SINGULAR_TOLERANCE))
    if singular:
        msg = (f"singular fit: the random-effects covariance of {g!r} is singular (a standard deviation of the "
               "Cholesky factor within 1e-4 of zero, lme4's isSingular, with each slope covariate in units of its "
               "root mean square)")
        notes.append(msg)
        warn(f"glmm: {msg}.", BoundaryWarning)
    if not res.converged:
        msg = f"convergence not confirmed: {res.message}"
        notes.append(msg)
        warn(f"glmm: {msg}. Treat the estimates with caution.", ConvergenceWarning)
    ranef = pd.DataFrame({**{f"condval:{zn[a]}": res.modes[:, a] for a in range(r)},
                          **{f"condsd:{zn[a]}": res.cond_sd[:, a] for a in range(r)}}, index=d.labels[g])
    nt = len(res.theta)
    theta_names = names + [f"theta:{j + 1}" for j in range(nt)]
    n_obs = len(d.k)
    k_par = p + nt
    ll = float(res.loglik)
    return GLMMResult(
        n_obs=n_obs, n_dropped=int(d.n_dropped), n_groups=pd.Series({g: len(d.labels[g])}, name="n_groups",
                                                                    dtype=np.int64),
        formula=parsed.formula, family=family, link=link, method="Laplace", nagq=(1,), coefficients=table,
        cov_params=pd.DataFrame(res.cov_beta, index=names, columns=names), variance_components=variance_components,
        loglik=ll, deviance=-2.0 * ll, aic=-2.0 * ll + 2 * k_par, bic=-2.0 * ll + k_par * math.log(n_obs),
        n_params=k_par, random_effects={g: ranef}, converged=bool(res.converged), singular=singular,
        quadrature_check=float("nan"), nesting="", notes=tuple(notes),
        _cov_theta=pd.DataFrame(res.cov, index=theta_names, columns=theta_names), _frame=d.frame, _design=X,
        _k=d.k, _m=d.m, _offset=d.offset, _codes=tuple(d.codes), _level_order=(g,), _spec=d.model_spec,
        _infinite=(), _Z=d.Z, _Sigma=res.Sigma, _slope_theta=res.theta,
    )
