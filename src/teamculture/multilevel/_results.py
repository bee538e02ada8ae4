"""The result of :func:`teamculture.mixed` (private; public as :class:`teamculture.multilevel.MixedResult`)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_bool, check_confidence_level
from teamculture.results import Result, Summary, interval_frame, result_class

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

    # ------------------------------------------------------------- formatting
    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy of ``coefficients``)."""
        return self.coefficients.copy()

    def _variance_table(self) -> pd.DataFrame:
        """lme4's ``VarCorr`` print: variances and SDs, correlations on the rows of the later terms."""
        vc = self.variance_components
        rows: list[dict[str, Any]] = []
        groups: dict[str, list[str]] = {}
        for name in map(str, vc.index):
            group, sep, terms = name.rpartition("|")
            if name == "residual":
                continue
            if not sep:
                groups.setdefault(name, []).append("(Intercept)")
            elif "," not in terms:
                groups.setdefault(group, []).append(terms)
        for group, terms in groups.items():
            for i, term in enumerate(terms):
                key = group if term == "(Intercept)" and f"{group}|Intercept" not in vc.index else (
                    f"{group}|{term}")
                var = float(vc[key])
                corr = []
                for other in terms[:i]:
                    cov = vc.get(f"{group}|{other},{term}", vc.get(f"{group}|{term},{other}"))
                    v_other = float(vc[f"{group}|{other}"]) if f"{group}|{other}" in vc.index else np.nan
                    if cov is None or not (var > 0 and v_other > 0):
                        corr.append("NA" if cov is not None else "")
                    else:
                        corr.append(f"{float(cov) / np.sqrt(var * v_other):.3f}")
                label = "(Intercept)" if term == "Intercept" else term
                rows.append({"Groups": group if i == 0 else "", "Name": label, "Variance": var,
                             "Std.Dev.": float(np.sqrt(max(var, 0.0))), "Corr": " ".join(c for c in corr if c)})
        sigma2 = float(vc["residual"])
        rows.append({"Groups": "Residual", "Name": "", "Variance": sigma2, "Std.Dev.": float(np.sqrt(sigma2)),
                     "Corr": ""})
        table = pd.DataFrame(rows)
        return table.set_index("Groups")

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
            notes=self.notes,
        )

    def __repr__(self) -> str:
        crit = "REML criterion" if self.reml else "deviance"
        return (f"MixedResult(formula={self.formula!r}, engine={self.engine!r}, n_obs={self.n_obs}, "
                f"{crit}={self.deviance:.6f}, converged={self.converged}, singular={self.singular})")
