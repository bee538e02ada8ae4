"""The result of :func:`teamculture.mixed` (private; public as :class:`teamculture.multilevel.MixedResult`)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_bool, check_confidence_level
from teamculture.results import Result, Summary, interval_frame, result_class

#: What a singular (boundary) fit means and what to do about it (after lme4's ``?isSingular``).
SINGULAR_ADVICE = (
    "a singular (boundary) fit: a random-effects variance is estimated at zero, or a correlation at -1 or +1, "
    "so the data cannot tell that part of the random-effects structure apart from the rest. The other "
    "estimates are still the optimum, but the model is more complex than these data support. Either keep it "
    "(when the structure was fixed in advance, e.g. in a protocol) and report the boundary estimate as such, "
    "or simplify the random part: drop the term whose variance is zero, or let random slopes be uncorrelated "
    "((1 | team) + (0 + x | team)); compare() tests a variance against zero with the boundary correction. "
    "Penalised or Bayesian fits (R: blme, brms) keep estimates off the boundary (see lme4's ?isSingular)"
)

__all__ = ["MixedResult"]


@result_class
class MixedResult(Result):
    """A fitted linear mixed model (from :func:`teamculture.mixed`).

    Attributes
    ----------
    formula : str
        The model formula as given.
    coefficients : pandas.DataFrame
        The fixed-effects table, indexed by the design-matrix column names,
        with the float columns of :data:`teamculture.results.COEF_COLUMNS`:
        ``estimate``, ``std_error`` (square roots of the diagonal of
        ``cov_params``), ``statistic`` (t), ``df`` (Satterthwaite, as
        lmerTest), ``pvalue`` (two-sided, t with ``df``), ``ci_low``,
        ``ci_high`` (at ``confidence_level``). :meth:`to_frame` returns it.
    fixed_effects : pandas.Series
        The estimates alone (``coefficients["estimate"]``; lme4's ``fixef``).
    cov_params : pandas.DataFrame
        Estimated covariance matrix of the fixed effects,
        :math:`\\hat\\sigma^2 (X^\\top M^{-1} X)^{-1}` (lme4's ``vcov``).
    variance_components : pandas.Series
        Estimated variances, indexed by the grouping-factor names as written
        in the formula with nesting expanded (``"trust"``, ``"trust:team"``),
        then ``"residual"``. For random slopes the index is
        ``"group|term"`` for each variance and ``"group|term1,term2"`` for
        covariances.
    loglik : float
        The maximised log-likelihood; for REML fits the REML log-likelihood
        (lme4's ``logLik``).
    deviance : float
        ``-2 * loglik``: lme4's ``REMLcrit`` for REML fits, its ``deviance``
        for ML fits.
    reml : bool
        Whether the fit is REML (else ML).
    n_params : int
        Number of estimated parameters: fixed effects plus variance
        parameters (including the residual variance).
    random_effects : dict of str to pandas.DataFrame
        Conditional modes (BLUPs) per grouping factor, indexed by the group
        labels (lme4-style ``"a:b"`` strings for ``a:b`` groupings, as
        ``ranef()``'s row names). Columns ``blup`` and ``cond_var``
        (conditional variance given the data and the estimated parameters,
        as lme4's ``ranef(condVar = TRUE)``) for random intercepts; for
        random slopes one column per term named after the term and one
        ``cond_var:<term>`` column per term.
    design : pandas.DataFrame
        The fixed-effects design matrix of the rows used (indexed like the data).
    response : pandas.Series
        The response of the rows used.
    group_labels : pandas.DataFrame
        The grouping factors of the rows used, one categorical column per
        grouping factor as written (``"trust"``, ``"trust:team"``), aligned
        with ``design``.
    engine : str
        ``"nested"`` (exact engine for nested random intercepts from
        per-cluster sums), ``"nested-slopes"`` (exact block-elimination
        engine: random slopes, correlated or not, of one grouping factor or
        of nested ones) or ``"crossed"`` (the same engine with crossed
        grouping factors).
    singular : bool
        True when an estimated random-effects standard deviation relative to
        the residual standard deviation (or a relative Cholesky diagonal) is
        below 1e-4 (lme4's ``isSingular`` rule; scale free). A
        :class:`~teamculture.errors.BoundaryWarning` says so at fit time.
    converged : bool
        Whether the optimiser met its convergence criteria; ``False`` comes
        with a :class:`~teamculture.errors.ConvergenceWarning` and a line
        in :meth:`summary`.
    nesting : str
        How the grouping factors were interpreted (nested, with team labels
        unique or reused across the coarser factor, or crossed).
    theta : pandas.Series
        Relative standard deviations of the random effects (standard
        deviation divided by the residual standard deviation), lme4's
        ``getME(fit, "theta")``.
    notes : tuple of str
        Messages about the fit (dropped rows, boundary estimates, nesting).
    confidence_level : float
        Level of the intervals in ``coefficients``.
    n_obs, n_dropped : int
        Rows used, and rows dropped for missing values (``nan_policy="omit"``).
    n_groups : pandas.Series
        Number of groups per grouping factor.
    """

    formula: str
    coefficients: pd.DataFrame
    fixed_effects: pd.Series
    cov_params: pd.DataFrame
    variance_components: pd.Series
    loglik: float
    deviance: float
    reml: bool
    n_params: int
    random_effects: dict[str, pd.DataFrame]
    design: pd.DataFrame
    response: pd.Series
    group_labels: pd.DataFrame
    engine: str
    singular: bool
    converged: bool
    nesting: str = ""
    theta: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    notes: tuple[str, ...] = ()
    confidence_level: float = 0.95
    _refit_state: Any = field(default=None, repr=False, compare=False)
    _nested_order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    # ------------------------------------------------------------------ stats
    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Satterthwaite-t confidence intervals for the fixed effects.

        Parameters
        ----------
        confidence_level : float, optional
            Coverage of the intervals, in (0, 1); default the level of
            ``coefficients`` (0.95).

        Returns
        -------
        pandas.DataFrame
            Indexed by fixed-effect name, float columns ``ci_low``, ``ci_high``:
            ``estimate -/+ t_{df, (1 + level)/2} * std_error`` with each effect's
            Satterthwaite ``df``.

        Notes
        -----
        R: ``confint(lmerTest::contest(fit, diag(p), joint = FALSE, confint = TRUE))``.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        return interval_frame(self.coefficients, level)

    def icc(self) -> pd.DataFrame:
        """Variance partition coefficients and intra-class correlations.

        Returns
        -------
        pandas.DataFrame
            Indexed by the variance components (grouping factors, then
            ``"residual"``), float columns:

            ``variance``
                The estimated variance.
            ``vpc``
                Its share of the total variance.
            ``icc``
                Correlation of two observations that share this grouping
                factor's group (and hence, for nested factors, every coarser
                one) but nothing finer: the cumulative sum of ``vpc`` from the
                coarsest level down to this one for nested models, the
                level's own ``vpc`` for crossed factors; ``NaN`` for the
                residual row.

        Notes
        -----
        For ``(1 | trust/team)``, with variances :math:`\\tau^2_k`,
        :math:`\\tau^2_j`, :math:`\\sigma^2` and total :math:`T`:
        VPC(trust) = :math:`\\tau^2_k/T`, ICC(team) =
        :math:`(\\tau^2_k + \\tau^2_j)/T` (two staff in the same team),
        ICC(trust) = :math:`\\tau^2_k/T` (two staff of the same trust in
        different teams). With random slopes the VPC depends on the
        covariate, so this method is only defined for random intercepts.

        R: ``performance::icc(fit, by_group = TRUE)`` gives the VPCs.
        """
        vc = self.variance_components
        if any("|" in str(k) for k in vc.index):
            raise ValueError(
                "`self`: icc() needs a random-intercept model: with random slopes the variance "
                "partition depends on the covariate values."
            )
        total = float(vc.sum())
        vpc = vc / total
        icc = pd.Series(np.nan, index=vc.index, dtype=float)
        if self._nested_order:
            cum = 0.0
            for name in self._nested_order:
                cum += float(vpc[name])
                icc[name] = cum
        else:
            for name in vc.index:
                if name != "residual":
                    icc[name] = float(vpc[name])
        return pd.DataFrame({"variance": vc.astype(float), "vpc": vpc.astype(float), "icc": icc})

    def refit(self, reml: bool | None = None) -> MixedResult:
        """Refit the same model to the same rows, by REML (``True``) or ML (``False``).

        Parameters
        ----------
        reml : bool, optional
            Default: the method of this fit (which returns this result).

        Returns
        -------
        MixedResult
        """
        if reml is None:
            return self
        reml = check_bool("reml", reml)
        if reml == self.reml:
            return self
        if self._refit_state is None:
            raise ValueError("`self` cannot be refitted: it was built without its model frame.")
        return self._refit_state.refit(self, reml)

    def r_squared(self) -> Any:
        """Nakagawa-Schielzeth and Rights-Sterba R² (see :func:`teamculture.r_squared`)."""
        from teamculture.multilevel._r2 import r_squared

        return r_squared(self)

    def compare(self, other: MixedResult) -> Any:
        """Likelihood-ratio test of this model against ``other`` (see :func:`teamculture.compare`)."""
        from teamculture.multilevel._compare import compare

        return compare(self, other)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 loglik + 2 n_params``, as lme4's ``AIC(fit)``.

        For a REML fit this uses the REML log-likelihood (lme4's ``AIC`` of a
        REML fit does too): compare REML AICs only between models with the
        same fixed effects, and refit by ML (``refit(reml=False)``) to compare
        fixed effects.
        """
        return float(-2.0 * self.loglik + 2.0 * self.n_params)

    @property
    def bic(self) -> float:
        """Schwarz's criterion, ``-2 loglik + log(n_obs) n_params``, as lme4's ``BIC(fit)`` (REML caveat of :attr:`aic`)."""
        return float(-2.0 * self.loglik + np.log(self.n_obs) * self.n_params)

    def _term_values(self, term: str) -> np.ndarray:
        from teamculture.multilevel._profile import _term_values

        return _term_values(self, term)

    @property
    def fitted(self) -> pd.Series:
        """Conditional fitted values ``X beta + Z b`` (fixed effects plus BLUPs), as lme4's ``fitted(fit)``.

        Indexed like the rows used (``response.index``).
        """
        y = self.design.to_numpy(dtype=float) @ self.fixed_effects.to_numpy(dtype=float)
        for g, re in self.random_effects.items():
            labels = self.group_labels[g]
            cat = labels.cat if isinstance(labels.dtype, pd.CategoricalDtype) else pd.Categorical(labels)
            pos = re.index.get_indexer(cat.categories)
            codes = np.asarray(cat.codes)
            for col in re.columns:
                if str(col).startswith("cond_var"):
                    continue
                b = re[col].to_numpy(dtype=float)[pos][codes]
                y = y + b * (1.0 if col == "blup" else self._term_values(str(col)))
        return pd.Series(y, index=self.response.index, name="fitted")

    @property
    def residuals(self) -> pd.Series:
        """Conditional residuals ``y - fitted``, as lme4's ``residuals(fit)`` (type "response")."""
        return (self.response.astype(float) - self.fitted).rename("residuals")

    def var_corr(self) -> pd.DataFrame:
        """The random-effects variances, standard deviations and correlations, as lme4's ``VarCorr``.

        Returns
        -------
        pandas.DataFrame
            One row per variance and per covariance, in the layout of R's
            ``as.data.frame(VarCorr(fit))``: ``grp`` (grouping factor;
            ``"Residual"`` last; a second uncorrelated term of the same
            factor is ``"team.1"``, as lme4 names it), ``var1``, ``var2``
            (``"(Intercept)"`` or the slope term; ``var2`` is empty except on
            covariance rows), ``vcov`` (variance or covariance, float),
            ``sdcor`` (standard deviation, or correlation on covariance
            rows, float).

        Notes
        -----
        Nested factors keep the package's names (``"trust:team"``; lme4
        writes ``"team:trust"``).

        R: ``as.data.frame(lme4::VarCorr(fit))``
        """
        from teamculture.multilevel._profile import structure

        st = structure(self)
        vc = self.variance_components
        rows: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for b in st.blocks:
            n_seen = seen.get(b.group, 0)
            seen[b.group] = n_seen + 1
            grp = b.group if n_seen == 0 else f"{b.group}.{n_seen}"
            keys = [b.group] if b.terms == ("Intercept",) and b.group in vc.index else [f"{b.group}|{t}" for t in b.terms]
            names = ["(Intercept)" if t == "Intercept" else t for t in b.terms]
            var = [float(vc[k]) for k in keys]
            for name, v in zip(names, var):
                rows.append({"grp": grp, "var1": name, "var2": "", "vcov": v, "sdcor": float(np.sqrt(max(v, 0.0)))})
            for a in range(1, b.k):
                for c in range(a):
                    key = f"{b.group}|{b.terms[c]},{b.terms[a]}"
                    if key not in vc.index:
                        key = f"{b.group}|{b.terms[a]},{b.terms[c]}"
                    cov = float(vc[key])
                    den = np.sqrt(var[a] * var[c]) if var[a] > 0 and var[c] > 0 else np.nan
                    rows.append({"grp": grp, "var1": names[c], "var2": names[a], "vcov": cov,
                                 "sdcor": float(cov / den) if np.isfinite(den) else np.nan})
        sigma2 = float(vc["residual"])
        rows.append({"grp": "Residual", "var1": "", "var2": "", "vcov": sigma2, "sdcor": float(np.sqrt(sigma2))})
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def variance_intervals(self, *, method: str = "profile", confidence_level: float = 0.95,
                           n_resamples: int = 1000, rng: Any = None) -> Any:
        """Confidence intervals for the random-effects SDs, correlations and the residual SD.

        Parameters
        ----------
        method : {"profile", "bootstrap"}, default "profile"
            ``"profile"``: profile likelihood, as lme4's ``confint(fit,
            method = "profile")``; ``"bootstrap"``: parametric bootstrap
            (new random effects and residuals drawn from the fit, the model
            refitted by its own method), percentile intervals, as
            ``confint(fit, method = "boot")``.
        confidence_level : float, default 0.95
            Coverage of the intervals.
        n_resamples : int, default 1000
            Bootstrap refits (at least 20; ignored by the profile).
        rng : int, numpy.random.Generator or None
            Random number generator or seed for the bootstrap.

        Returns
        -------
        VarianceIntervals
            ``table`` with the SDs (correlations) and their intervals, and
            the intervals squared to the variance scale; see
            :class:`teamculture.reporting.VarianceIntervals`.

        Notes
        -----
        Profile: for each parameter the ML deviance is minimised over all the
        others with it held fixed (fixed effects profiled out exactly), and
        the signed root :math:`\\zeta = \\operatorname{sign}(v - \\hat v)
        \\sqrt{d(v) - d(\\hat v)}` is inverted at :math:`\\pm z_{(1+c)/2}`
        by a root finder. As in lme4, a REML fit is profiled through its ML
        refit (the interval's centre is the ML estimate), and a limit the
        profile does not reach before zero is reported as 0 (a correlation's
        as -1 or 1). lme4 interpolates a spline through a grid of profile
        points, so its limits differ from these exact ones in the third or
        fourth digit, most where the profile bends (a lower limit near zero).
        Bootstrap: lme4's ``bootMer(type = "parametric", use.u = FALSE)``;
        refits that fail are left out and counted (a
        :class:`~teamculture.errors.DegenerateDataWarning`), singular refits
        are kept. The draws are kept, so intervals at another level need no
        refit.

        R: ``confint(fit, parm = "theta_", method = "profile")`` (or ``method = "boot"``)

        Examples
        --------
        >>> import teamculture as tc
        >>> sv = tc.national_survey("tiny", rng=4)
        >>> fit = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", sv.staff)
        >>> ci = fit.variance_intervals()
        >>> ci.table.columns.tolist()
        ['estimate', 'ci_low', 'ci_high', 'variance', 'variance_ci_low', 'variance_ci_high']
        >>> bool((ci.table["ci_low"] <= ci.table["ci_high"]).all())
        True
        """
        from teamculture.multilevel._profile import variance_intervals

        return variance_intervals(self, method=method, confidence_level=confidence_level, n_resamples=n_resamples,
                                  rng=rng)

    def model_parts(self) -> Any:
        """What :func:`teamculture.model_table` prints for this model (the model-table protocol).

        Returns
        -------
        teamculture.reporting.ModelParts
            Fixed effects (Satterthwaite t tests), the random part
            (:meth:`var_corr`), groups per factor, VPCs (random-intercept
            models), Nakagawa R², log-likelihood, AIC and BIC.
        """
        import warnings

        from teamculture.reporting._parts import ModelParts

        try:
            vpc = {str(k): float(v) for k, v in self.icc()["vpc"].items() if k != "residual"}
        except ValueError:  # random slopes: the partition depends on the covariate
            vpc = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r2 = self.r_squared()
            r2m, r2c = float(r2.marginal), float(r2.conditional)
        except (ValueError, TypeError):
            r2m = r2c = float("nan")
        notes = []
        if not self.converged:
            notes.append("the optimiser did not converge")
        if self.singular:
            notes.append("singular fit: a random-effects variance at zero (or a correlation at +-1); the data cannot "
                         "separate that part of the random structure, so report it as a boundary estimate or "
                         "simplify the random part (the model's summary() says how)")
        return ModelParts(
            coefficients=self.coefficients, link="identity", description="Linear mixed model",
            outcome=str(self.response.name), confidence_level=float(self.confidence_level), random=self.var_corr(),
            n_obs=int(self.n_obs), n_groups={str(k): int(v) for k, v in self.n_groups.items()}, vpc=vpc,
            r2_marginal=r2m, r2_conditional=r2c, loglik=float(self.loglik), aic=self.aic, bic=self.bic,
            n_params=int(self.n_params), method="REML" if self.reml else "ML", tests="t (Satterthwaite df)",
            converged=bool(self.converged), singular=bool(self.singular), notes=tuple(notes),
        )

    # ------------------------------------------------------------- formatting
    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy of ``coefficients``)."""
        return self.coefficients.copy()

    def _variance_table(self) -> pd.DataFrame:
        """lme4's ``VarCorr`` print: variances and SDs, correlations on the rows of the later terms."""
        vc = self.var_corr()
        rows: list[dict[str, Any]] = []
        last = None
        for _, r in vc[vc["var2"] == ""].iterrows():
            corr = vc[(vc["grp"] == r["grp"]) & (vc["var2"] == r["var1"]) & (vc["var2"] != "")]
            text = " ".join("NA" if not np.isfinite(c) else f"{c:.3f}" for c in corr["sdcor"])
            rows.append({"Groups": r["grp"] if r["grp"] != last else "", "Name": r["var1"], "Variance": r["vcov"],
                         "Std.Dev.": r["sdcor"], "Corr": text})
            last = r["grp"]
        return pd.DataFrame(rows).set_index("Groups")

    def summary(self) -> Summary:
        """The lme4/lmerTest-style summary (:class:`~teamculture.results.Summary`).

        A header (formula, method, engine, observations, groups, criterion,
        convergence, singularity, how the grouping factors were read), the
        random-effects table (variances, SDs and correlations, as lme4's
        ``VarCorr``), the coefficient table, and notes.
        """
        crit = "REML criterion" if self.reml else "Deviance"
        groups = ", ".join(f"{k}: {int(v):,}" for k, v in self.n_groups.items())
        header: list[tuple[str, Any]] = [
            ("Formula", self.formula),
            ("Method", "REML" if self.reml else "ML"),
            ("Engine", self.engine),
            ("Observations", f"{self.n_obs:,} used, {self.n_dropped:,} dropped (missing values)"),
            ("Groups", groups),
            ("Log-likelihood", f"{self.loglik:.4f}"),
            (crit, f"{self.deviance:.4f}"),
            ("AIC, BIC", f"{self.aic:.4f}, {self.bic:.4f}" + (" (REML: compare only models with the same fixed "
                                                              "effects)" if self.reml else "")),
            ("Converged", "yes" if self.converged else "NO: the estimates may not be the optimum"),
            ("Singular fit", "yes (a variance at its boundary, zero; see the notes)" if self.singular else "no"),
        ]
        if self.nesting:
            header.append(("Grouping", self.nesting))
        level = f"{self.confidence_level:.0%}"
        return Summary(
            "Linear mixed model (teamculture.mixed)",
            header=header,
            tables=[("Random effects", self._variance_table()),
                    (f"Fixed effects (Satterthwaite df, {level} intervals)", self.coefficients)],
            notes=tuple(self.notes) + ((SINGULAR_ADVICE,) if self.singular else ()),
        )

    def __repr__(self) -> str:
        crit = "REML criterion" if self.reml else "deviance"
        return (f"MixedResult(formula={self.formula!r}, engine={self.engine!r}, n_obs={self.n_obs}, "
                f"{crit}={self.deviance:.6f}, converged={self.converged}, singular={self.singular})")
