"""The result of :func:`teamculture.mixed`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["MixedResult", "MixedSummary"]


@dataclass(frozen=True, eq=False, repr=False)
class MixedResult:
    """A fitted linear mixed model (from :func:`teamculture.mixed`).

    Attributes
    ----------
    formula : str
        The model formula as given.
    fixed_effects : pandas.Series
        Estimated fixed effects, indexed by the design-matrix column names.
    bse : pandas.Series
        Their standard errors (square roots of the diagonal of ``cov_params``).
    cov_params : pandas.DataFrame
        Estimated covariance matrix of the fixed effects,
        :math:`\\hat\\sigma^2 (X^\\top M^{-1} X)^{-1}` (lme4's ``vcov``).
    df : pandas.Series
        Satterthwaite denominator degrees of freedom of each fixed effect
        (lmerTest's ``summary`` column ``df``).
    tvalues : pandas.Series
        ``fixed_effects / bse``.
    pvalues : pandas.Series
        Two-sided p-values from the t distribution with ``df`` degrees of freedom.
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
    nobs : int
        Number of observations used.
    nobs_dropped : int
        Rows dropped because a model variable was missing.
    ngroups : pandas.Series
        Number of groups per grouping factor.
    n_params : int
        Number of estimated parameters: fixed effects plus variance
        parameters (including the residual variance).
    random_effects : dict of str to pandas.DataFrame
        Conditional modes (BLUPs) per grouping factor, indexed by the group
        labels (a ``MultiIndex`` with one level per factor for ``a:b``
        groupings). Columns ``blup`` and ``cond_var`` (conditional variance
        given the data and the estimated parameters, as lme4's
        ``ranef(condVar = TRUE)``) for random intercepts; for random slopes
        one ``blup`` column per term named after the term and one
        ``cond_var`` column per term, ``cond_var:<term>``.
    design : pandas.DataFrame
        The fixed-effects design matrix of the rows used (indexed like the data).
    response : pandas.Series
        The response of the rows used.
    group_labels : pandas.DataFrame
        The grouping columns of the rows used, one column per grouping
        factor as written (``"trust"``, ``"trust:team"``), aligned with ``design``.
    engine : str
        ``"nested"`` (exact engine for nested random intercepts),
        ``"nested-slopes"`` (exact engine for correlated team slopes nested
        in trusts) or ``"statsmodels"`` (MixedLM backend for other structures).
    singular : bool
        True when an estimated random-effects standard deviation relative to
        the residual standard deviation is below 1e-4 (lme4's ``isSingular``
        rule; scale free).
    converged : bool
        Whether the optimiser met its convergence criteria.
    nesting : str
        How the grouping factors were interpreted (nested, with team labels
        unique or reused across the coarser factor, or crossed).
    theta : pandas.Series
        Relative standard deviations of the random effects (standard
        deviation divided by the residual standard deviation), lme4's
        ``getME(fit, "theta")`` for random intercepts.
    notes : tuple of str
        Messages about the fit (dropped rows, boundary estimates, nesting).
    """

    formula: str
    fixed_effects: pd.Series
    bse: pd.Series
    cov_params: pd.DataFrame
    df: pd.Series
    tvalues: pd.Series
    pvalues: pd.Series
    variance_components: pd.Series
    loglik: float
    deviance: float
    reml: bool
    nobs: int
    nobs_dropped: int
    ngroups: pd.Series
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
    _refit: Callable[[bool], MixedResult] | None = field(default=None, repr=False, compare=False)
    _nested_order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    # ------------------------------------------------------------------ stats
    def conf_int(self, confidence_level: float = 0.95) -> pd.DataFrame:
        """Satterthwaite-t confidence intervals for the fixed effects.

        Parameters
        ----------
        confidence_level : float, default 0.95
            Coverage of the intervals, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Indexed by fixed-effect name, float columns ``ci_low``, ``ci_high``:
            ``estimate -/+ t_{df, (1 + level)/2} * bse`` with each effect's
            Satterthwaite ``df`` (R: ``lmerTest`` ``confint(contest(...))``).
        """
        from teamculture._core.validation import check_probability

        level = check_probability("confidence_level", confidence_level, open_low=True, open_high=True)
        q = stats.t.ppf(0.5 + level / 2.0, self.df.to_numpy(dtype=float))
        half = q * self.bse.to_numpy(dtype=float)
        est = self.fixed_effects.to_numpy(dtype=float)
        return pd.DataFrame({"ci_low": est - half, "ci_high": est + half}, index=self.fixed_effects.index)

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
                "icc() needs a random-intercept model: with random slopes the variance "
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
        """Refit the same model to the same rows, by REML (``True``) or ML (``False``)."""
        if reml is None:
            reml = self.reml
        if not isinstance(reml, (bool, np.bool_)):
            raise TypeError(f"`reml` must be True or False; got {reml!r}.")
        if bool(reml) == self.reml:
            return self
        if self._refit is None:
            raise ValueError("this result cannot be refitted (it was built without its data).")
        return self._refit(bool(reml))

    def r_squared(self) -> Any:
        """Nakagawa-Schielzeth and Rights-Sterba R² (see :mod:`teamculture.multilevel`)."""
        from teamculture.multilevel._r2 import r_squared

        return r_squared(self)

    def compare(self, other: MixedResult) -> Any:
        """Likelihood-ratio test of this model against ``other`` (see :mod:`teamculture.multilevel`)."""
        from teamculture.multilevel._compare import compare

        return compare(self, other)

    # ------------------------------------------------------------- formatting
    def to_frame(self) -> pd.DataFrame:
        """The fixed-effects table.

        Returns
        -------
        pandas.DataFrame
            Indexed by fixed-effect name; float columns ``estimate``,
            ``std_error``, ``df``, ``t``, ``pvalue``, ``ci_low``, ``ci_high``
            (95% Satterthwaite intervals).
        """
        ci = self.conf_int()
        return pd.DataFrame({
            "estimate": self.fixed_effects.astype(float),
            "std_error": self.bse.astype(float),
            "df": self.df.astype(float),
            "t": self.tvalues.astype(float),
            "pvalue": self.pvalues.astype(float),
            "ci_low": ci["ci_low"],
            "ci_high": ci["ci_high"],
        })

    def summary(self) -> MixedSummary:
        """A formatted summary (text via ``str``, ``.as_html()``, ``.as_latex()``)."""
        return MixedSummary(self)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        crit = "REML criterion" if self.reml else "deviance"
        return (f"MixedResult(formula={self.formula!r}, engine={self.engine!r}, nobs={self.nobs}, "
                f"{crit}={self.deviance:.6f}, converged={self.converged}, singular={self.singular})")

    def _repr_html_(self) -> str:
        return self.summary().as_html()


class MixedSummary:
    """Formatted summary of a :class:`MixedResult`."""

    def __init__(self, result: MixedResult) -> None:
        self.result = result

    def _header(self) -> list[tuple[str, str]]:
        r = self.result
        crit = "REML criterion" if r.reml else "Deviance"
        groups = ", ".join(f"{k}: {int(v):,}" for k, v in r.ngroups.items())
        rows = [
            ("Formula", r.formula),
            ("Method", "REML" if r.reml else "ML"),
            ("Engine", r.engine),
            ("Observations", f"{r.nobs:,} used, {r.nobs_dropped:,} dropped (missing values)"),
            ("Groups", groups),
            ("Log-likelihood", f"{r.loglik:.4f}"),
            (crit, f"{r.deviance:.4f}"),
            ("Converged", "yes" if r.converged else "NO"),
            ("Singular fit", "yes" if r.singular else "no"),
        ]
        if r.nesting:
            rows.append(("Grouping", r.nesting))
        return rows

    def _variance_table(self) -> pd.DataFrame:
        """Variances with their SDs; covariance rows ("g|a,b") show the correlation instead, as lme4."""
        vc = self.result.variance_components
        values = vc.to_numpy(dtype=float)
        sd = np.sqrt(np.clip(values, 0, None))
        corr = np.full(len(vc), np.nan)
        for i, name in enumerate(map(str, vc.index)):
            group, _, terms = name.rpartition("|")
            if group and "," in terms:
                a, b = terms.split(",", 1)
                va, vb = vc.get(f"{group}|{a}", np.nan), vc.get(f"{group}|{b}", np.nan)
                corr[i] = values[i] / np.sqrt(va * vb) if va > 0 and vb > 0 else np.nan
                sd[i] = np.nan
        return pd.DataFrame({"Variance": values, "Std.Dev.": sd, "Corr": corr}, index=vc.index)

    def _fixed_table(self) -> pd.DataFrame:
        t = self.result.to_frame()
        t.columns = ["Estimate", "Std.Error", "df", "t", "P>|t|", "[0.025", "0.975]"]
        return t

    def __str__(self) -> str:
        lines = ["Linear mixed model (teamculture.mixed)"]
        width = max(len(k) for k, _ in self._header())
        lines += [f"{k:<{width}}  {v}" for k, v in self._header()]
        lines += ["", "Random effects:", self._variance_table().to_string(float_format=lambda x: f"{x:.6g}")]
        lines += ["", "Fixed effects (Satterthwaite df):",
                  self._fixed_table().to_string(float_format=lambda x: f"{x:.6g}")]
        lines += [f"Note: {n}" for n in self.result.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def as_html(self) -> str:
        """The summary as an HTML fragment."""
        import html

        head = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self._header())
        notes = "".join(f"<p>Note: {html.escape(n)}</p>" for n in self.result.notes)
        return (
            "<div><h4>Linear mixed model</h4>"
            f"<table>{head}</table><h5>Random effects</h5>"
            + self._variance_table().to_html(float_format=lambda x: f"{x:.6g}")
            + "<h5>Fixed effects (Satterthwaite df)</h5>"
            + self._fixed_table().to_html(float_format=lambda x: f"{x:.6g}")
            + notes + "</div>"
        )

    def as_latex(self) -> str:
        """The variance and fixed-effects tables as LaTeX ``tabular`` environments."""

        def tab(df: pd.DataFrame) -> str:
            def esc(s: str) -> str:
                for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                             ("#", r"\#"), ("$", r"\$"), ("|", r"$|$"), ("[", "{[}"), ("]", "{]}")):
                    s = s.replace(a, b)
                return s

            cols = "l" + "r" * df.shape[1]
            out = [f"\\begin{{tabular}}{{{cols}}}", "\\hline",
                   " & ".join([""] + [esc(str(c)) for c in df.columns]) + r" \\", "\\hline"]
            for idx, row in df.iterrows():
                out.append(" & ".join([esc(str(idx))] + [f"{float(v):.6g}" for v in row]) + r" \\")
            out += ["\\hline", "\\end{tabular}"]
            return "\n".join(out)

        r = self.result
        crit = "REML criterion" if r.reml else "Deviance"
        return (
            f"% {r.formula}; n = {r.nobs}; {crit} = {r.deviance:.4f}\n"
            + tab(self._variance_table()) + "\n\n" + tab(self._fixed_table())
        )
