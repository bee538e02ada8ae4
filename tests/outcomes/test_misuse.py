"""Misuse suite of the outcomes area: trust models, SMRs and funnels, the deaths translation, effect sizes.

Each case is a careless or hostile call with its asserted outcome (framework: ``tests/_misuse.py``).
The data are the committed reference tables (``tests/reference/outcomes_data``): 20 trusts for the
cross-section, 150 trusts over 5 years for the panel.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from _misuse import Case, case_id, run_case
from teamculture import effect_sizes as es
from teamculture import outcomes as oc
from teamculture.errors import DegenerateDataWarning, DroppedDataWarning

DATA = Path(__file__).resolve().parents[1] / "reference" / "outcomes_data"
T20 = pd.read_csv(DATA / "trusts20.csv", index_col="trust")
PANEL = pd.read_csv(DATA / "panel.csv", index_col=["trust", "year"])
PANEL = PANEL.assign(smr=PANEL["observed_deaths"] / PANEL["expected_deaths"])
X = "real_team_pct"
O, E = T20["observed_deaths"], T20["expected_deaths"]


def _glm(data=T20, **kw):
    kw.setdefault("predictors", X)
    return oc.mortality_glm(data, **kw)


def _lin(data=T20, **kw):
    kw.setdefault("predictors", X)
    return oc.smr_regression(data, **kw)


def _panel(data=PANEL, **kw):
    kw.setdefault("predictors", X)
    kw.setdefault("log_outcome", True)
    return oc.panel_regression(data, **kw)


def _with(data, **changes):
    out = data.copy()
    for (row, col), value in changes.get("cells", {}).items():
        out.loc[row, col] = value
    return out


def _same_coefs(ref_fit, cols=("estimate", "std_error", "statistic", "pvalue")):
    def check(fit):
        assert_allclose(fit.coefficients[list(cols)].to_numpy(), ref_fit.coefficients[list(cols)].to_numpy(),
                        rtol=1e-9, atol=0)
    return check


_CLUSTERS = pd.Series(np.repeat(["A", "B", "C", "D"], 5), index=T20.index)
_BASE_CL = _glm(cov_type="clustered", clusters=_CLUSTERS, family="poisson")
_BASE = _glm()
_BASE_LIN = _lin()
_TWO = _glm(predictors=[X, "absence_rate"])
_TWO_LIN = _lin(predictors=[X, "absence_rate"])
_POUNDS = T20.assign(absence_rate=5e8 + T20["absence_rate"] * 1e6)
_POUNDS_BASE = _glm(T20.assign(absence_rate=T20["absence_rate"] * 1e6), predictors=[X, "absence_rate"])
_MISSING = _with(T20, cells={("TR003", X): np.nan, ("TR007", "expected_deaths"): np.nan})
_TRUST_LEVEL = PANEL.assign(teaching=np.repeat(np.arange(150) % 2, 5).astype(float))
_WITHIN = _panel()
_NOISE = np.random.default_rng(0).normal(0, 5e3, len(PANEL))
_O_LAB = pd.Series([120.0, 80.0, 300.0, 45.0, 200.0], index=list("ABCDE"))
_E_LAB = pd.Series([100.0, 90.0, 310.0, 50.0, 180.0], index=list("ABCDE"))
_FUNNEL_BASE = oc.funnel_limits(O, E)


def _dup_columns():
    d = T20.copy()
    d.columns = [X, X, "expected_deaths", "observed_deaths"]
    return d


CASES = [
    # ------------------------------------------------------------------ mortality_glm
    Case(oc.mortality_glm, lambda: _glm(cov_type="clustered", clusters=_CLUSTERS.iloc[::-1], family="poisson"),
         "a", "cluster-series-in-another-order-is-matched-by-label", check=_same_coefs(_BASE_CL)),
    Case(oc.mortality_glm, lambda: _glm(cov_type="clustered", clusters=_CLUSTERS.set_axis(range(20)),
                                        family="poisson"),
         "a", "cluster-series-with-other-labels-refused", raises=(ValueError, "`clusters` and `data` carry different")),
    Case(oc.mortality_glm, lambda: _glm(predictors=[X, "absence_rate"], data=T20.assign(
        absence_rate=T20["absence_rate"] * 1e-8)), "d", "predictor-times-1e-8",
         check=lambda f: assert_allclose(f.coefficients["statistic"], _TWO.coefficients["statistic"], rtol=1e-8)),
    Case(oc.mortality_glm, lambda: _glm(_POUNDS, predictors=[X, "absence_rate"]), "d", "budget-in-pounds-5e8",
         check=lambda f: assert_allclose(f.coefficients.loc["absence_rate", "statistic"],
                                         _POUNDS_BASE.coefficients.loc["absence_rate", "statistic"], rtol=1e-7)),
    Case(oc.mortality_glm, lambda: _glm(cov_type="clustered", clusters=pd.Series("one", index=T20.index)), "f",
         "one-cluster", raises=(ValueError, r"`clusters` has 1 cluster")),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(c=7.0), predictors=[X, "c"]), "f", "constant-predictor",
         raises=(ValueError, r"`predictors` are collinear or constant: \['c'\] \(\['c'\] constant\)")),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(x2=2 * T20[X] + 1), predictors=[X, "x2"]), "b",
         "collinear-predictors", raises=(ValueError, r"`predictors` are collinear.*\['x2'\]")),
    Case(oc.mortality_glm, lambda: _glm(_with(T20, cells={("TR004", "expected_deaths"): 0.0})), "f",
         "zero-expected-deaths", raises=(ValueError, r"`expected` must be > 0.*TR004")),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(observed_deaths=0)), "f", "no-deaths-at-all",
         raises=(ValueError, r"`observed` is 0 in all 20 rows")),
    Case(oc.mortality_glm, lambda: _glm(T20.iloc[:2]), "f", "too-few-rows",
         raises=(ValueError, r"`data` has too few usable rows \(2\) for 2 coefficients")),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(flag=(np.arange(20) < 5).astype(float),
                                                   observed_deaths=np.where(np.arange(20) < 5, 0,
                                                                            T20["observed_deaths"])),
                                        predictors=[X, "flag"], family="poisson"), "f",
         "predictor-separates-trusts-without-deaths", warns=(DegenerateDataWarning, "numerically 0 for 5 row"),
         check=lambda f: f.coefficients.loc["flag", "estimate"] < -20),
    Case(oc.mortality_glm, lambda: _glm(_dup_columns()), "j", "duplicate-column-names",
         raises=(ValueError, r"`data` has duplicate column name\(s\) \['real_team_pct'\]")),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(observed_deaths=T20["observed_deaths"].astype(str))), "j",
         "text-outcome", raises=(TypeError, r"`observed` column\(s\) \['observed_deaths'\] must be numeric")),
    Case(oc.mortality_glm, lambda: _glm(T20.rename(columns={X: "équipes réelles (%)"}),
                                        predictors="équipes réelles (%)"), "j", "non-ascii-column-name",
         check=lambda f: assert_allclose(f.coefficients.to_numpy(), _BASE.coefficients.to_numpy(), rtol=1e-12)),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(Intercept=T20[X]), predictors="Intercept"), "j",
         "predictor-named-intercept", raises=(ValueError, "`predictors` names a column 'Intercept'")),
    Case(oc.mortality_glm, lambda: _glm(T20.assign(type="acute"), predictors=[X, "type"]), "j",
         "text-predictor", raises=(TypeError, r"`predictors` column\(s\) \['type'\] must be numeric.*get_dummies")),
    Case(oc.mortality_glm, lambda: _glm(), "k", "quasipoisson-t-on-residual-df-as-summary-glm",
         check=lambda f: (f.use_t and (f.coefficients["df"] == 18).all()) or pytest.fail("not t(18)")),
    Case(oc.mortality_glm, lambda: _glm(family="negbin"), "k", "negbin-z-as-glm-nb",
         check=lambda f: (not f.use_t and np.isinf(f.coefficients["df"]).all()) or pytest.fail("not z")),
    Case(oc.mortality_glm, lambda: _glm(_MISSING), "missing", "missing-values-dropped-and-counted",
         warns=(DroppedDataWarning, r"2 of 20 row\(s\) with a missing value in `expected/predictors`"),
         check=lambda f: (f.n_obs, f.n_dropped) == (18, 2) or pytest.fail(str((f.n_obs, f.n_dropped)))),
    Case(oc.mortality_glm, lambda: _glm(_MISSING, nan_policy="raise"), "missing", "nan-policy-raise",
         raises=(ValueError, r"`expected/predictors` has 2 row\(s\).*'TR003'")),
    Case(oc.mortality_glm, lambda: _glm(_with(T20, cells={("TR002", X): np.inf})), "d", "infinite-predictor",
         raises=(ValueError, r"`predictors` column 'real_team_pct' has 1 infinite value")),
    Case(oc.mortality_glm, lambda: _glm(family="binomial"), "input", "unknown-family", raises=(ValueError, "`family`")),
    Case(oc.mortality_glm, lambda: _glm(cov_type="cluster", clusters=_CLUSTERS), "input", "old-cov-type-name",
         raises=(ValueError, r"`cov_type` must be one of .*Did you mean 'clustered'")),
    Case(oc.mortality_glm, lambda: _glm(clusters=_CLUSTERS), "input", "clusters-without-clustered",
         raises=(ValueError, "`clusters` is only used with cov_type='clustered'")),
    Case(oc.mortality_glm, lambda: _glm(center_at={"absence": 4.0}), "input", "center-at-unknown-key",
         raises=(ValueError, "`center_at` has key")),
    Case(oc.mortality_glm, lambda: _glm(use_t=1), "input", "use-t-not-bool", raises=(TypeError, "`use_t`")),

    # ------------------------------------------------------------------ smr_regression
    Case(oc.smr_regression, lambda: _lin(cov_type="clustered", clusters=_CLUSTERS.sample(frac=1, random_state=1)),
         "a", "cluster-series-shuffled",
         check=_same_coefs(_lin(cov_type="clustered", clusters=_CLUSTERS))),
    Case(oc.smr_regression, lambda: _lin(cov_type="clustered", clusters=_CLUSTERS.iloc[:10]), "a",
         "cluster-series-missing-rows", raises=(ValueError, "`clusters` and `data`")),
    Case(oc.smr_regression, lambda: _lin(T20.assign(absence_rate=T20["absence_rate"] * 1e-8),
                                         predictors=[X, "absence_rate"]), "d", "predictor-times-1e-8",
         check=lambda f: assert_allclose(f.coefficients["statistic"], _TWO_LIN.coefficients["statistic"],
                                         rtol=1e-8)),
    Case(oc.smr_regression, lambda: _lin(T20.assign(c=0.0), predictors=[X, "c"]), "f", "all-zero-predictor",
         raises=(ValueError, r"`predictors` are collinear or constant: \['c'\]")),
    Case(oc.smr_regression, lambda: _lin(_with(T20, cells={("TR001", "expected_deaths"): 0.0})), "f",
         "zero-expected-deaths", raises=(ValueError, r"`expected` must be > 0.*TR001")),
    Case(oc.smr_regression, lambda: _lin(), "k", "t-on-residual-df-as-summary-lm",
         check=lambda f: (f.use_t and (f.coefficients["df"] == 18).all()) or pytest.fail("not t(18)")),
    Case(oc.smr_regression, lambda: _lin(_MISSING), "missing", "missing-counted",
         warns=(DroppedDataWarning, "2 of 20"), check=lambda f: f.n_dropped == 2 or pytest.fail("n_dropped")),
    Case(oc.smr_regression, lambda: _lin(smr_scale=1e300), "d", "huge-smr-scale",
         check=lambda f: assert_allclose(f.coefficients["statistic"], _BASE_LIN.coefficients["statistic"], rtol=1e-9)),
    Case(oc.smr_regression, lambda: _lin(T20.assign(observed_deaths=T20["expected_deaths"] * (1 + T20[X] / 1000))),
         "f", "exact-fit", warns=(DegenerateDataWarning, "fits the SMR exactly"),
         check=lambda f: assert_allclose(f.coefficients.loc[X, "estimate"], 0.1, rtol=1e-9)),
    Case(oc.smr_regression, lambda: _lin(smr_scale=0), "input", "zero-smr-scale",
         raises=(ValueError, r"`smr_scale` must lie in \(0, inf\)")),
    Case(oc.smr_regression, lambda: _lin(weights="E"), "input", "unknown-weights", raises=(ValueError, "`weights`")),
    Case(oc.smr_regression, lambda: _lin(observed="expected_deaths"), "input", "observed-equals-expected",
         raises=(ValueError, "`observed` and `expected` name the same column")),

    # ------------------------------------------------------------------ panel_regression
    Case(oc.panel_regression, lambda: _panel(_TRUST_LEVEL, predictors=[X, "teaching"]), "h",
         "trust-level-predictor-absorbed",
         warns=(DegenerateDataWarning, r"`predictors` \['teaching'\] absorbed by the trust and year effects"),
         check=lambda f: (f.dropped_terms == ("teaching",) and f.coefficients.loc["teaching"].isna().all()
                          and math.isclose(f.coefficients.loc[X, "estimate"],
                                           _WITHIN.coefficients.loc[X, "estimate"], rel_tol=1e-10))
         or pytest.fail(str(f.coefficients))),
    Case(oc.panel_regression, lambda: _panel(PANEL.assign(c=1.0), predictors=[X, "c"], time_effects=False), "h",
         "constant-predictor-absorbed-by-trust-effects", warns=(DegenerateDataWarning, r"\['c'\] absorbed"),
         check=lambda f: f.dropped_terms == ("c",) or pytest.fail(str(f.dropped_terms))),
    Case(oc.panel_regression, lambda: _panel(_TRUST_LEVEL, predictors="teaching"), "h", "only-absorbed-predictors",
         raises=(ValueError, r"`predictors` \['teaching'\]: every predictor is absorbed")),
    Case(oc.panel_regression, lambda: _panel(PANEL.assign(c=1.0), predictors=[X, "c"], estimator="random"), "b",
         "constant-predictor-in-random-effects", raises=(ValueError, r"`predictors` are collinear or constant")),
    Case(oc.panel_regression, lambda: _panel(PANEL.assign(budget=5e8 + _NOISE), predictors=[X, "budget"]), "d",
         "budget-in-pounds", check=lambda f: assert_allclose(
             f.coefficients.loc["budget", "statistic"],
             _panel(PANEL.assign(budget=_NOISE / 1e3), predictors=[X, "budget"]).coefficients.loc["budget", "statistic"],
             rtol=1e-8)),
    Case(oc.panel_regression, lambda: _panel(PANEL.reset_index(level="year")), "j", "single-index",
         raises=(ValueError, "`data` must be indexed by a two-level MultiIndex")),
    Case(oc.panel_regression, lambda: _panel(pd.concat([PANEL, PANEL.iloc[:2]])), "j", "duplicated-trust-years",
         raises=(ValueError, r"`data` has 2 duplicated \(entity, time\) row")),
    Case(oc.panel_regression, lambda: _panel(PANEL.assign(smr=PANEL["smr"].astype(str))), "j", "text-outcome",
         raises=(TypeError, r"`outcome` column\(s\) \['smr'\] must be numeric")),
    Case(oc.panel_regression, lambda: _panel(PANEL.loc[["TR001"]]), "f", "one-trust",
         raises=(ValueError, "`data` has 1 trust")),
    Case(oc.panel_regression, lambda: _panel(_with(PANEL, cells={(("TR001", 2019), "smr"): 0.0})), "f",
         "log-of-zero", raises=(ValueError, r"`outcome` must be > 0 for log_outcome=True")),
    Case(oc.panel_regression, lambda: _panel(_with(PANEL, cells={(("TR002", 2020), X): np.nan})), "missing",
         "missing-counted", warns=(DroppedDataWarning, "1 of 750"),
         check=lambda f: (f.n_dropped, f.n_obs) == (1, 749) or pytest.fail("counts")),
    Case(oc.panel_regression, lambda: _panel(PANEL.assign(smr=1.0)), "f", "constant-outcome",
         warns=(DegenerateDataWarning, "fits `outcome` exactly"),
         check=lambda f: (f.coefficients.loc[X, "std_error"] == 0) or pytest.fail(str(f.coefficients))),
    Case(oc.panel_regression, lambda: _panel(estimator="pooled"), "input", "unknown-estimator",
         raises=(ValueError, "`estimator`")),
    Case(oc.panel_regression, lambda: _panel(cov_type="cluster"), "input", "old-cov-type-name",
         raises=(ValueError, "`cov_type`")),

    # ------------------------------------------------------------------ smr
    Case(oc.smr, lambda: oc.smr(_O_LAB, _E_LAB.iloc[::-1]), "a", "expected-in-another-order-matched-by-label",
         check=lambda out: pd.testing.assert_frame_equal(out, oc.smr(_O_LAB, _E_LAB))),
    Case(oc.smr, lambda: oc.smr(_O_LAB, _E_LAB.set_axis(list("ABCDX"))), "a", "different-labels-refused",
         raises=(ValueError, "`expected` and `observed` carry different row labels")),
    Case(oc.smr, lambda: oc.smr(_O_LAB, _E_LAB.to_numpy(), labels=list("EDCBA")), "a",
         "labels-contradicting-the-index-refused", raises=(ValueError, "`labels` and the index of `observed`")),
    Case(oc.smr, lambda: oc.smr([3, 2], [2.0, 0.0]), "d", "zero-expected-is-inf",
         warns=(DegenerateDataWarning, "`expected` is 0 for 1 unit"),
         check=lambda out: (out["smr"].iloc[1] == np.inf) or pytest.fail("not inf")),
    Case(oc.smr, lambda: oc.smr([2.5], [1.0]), "input", "fractional-count-exact",
         raises=(ValueError, "`observed` must be whole counts")),
    Case(oc.smr, lambda: oc.smr(["a", "b"], [1.0, 2.0]), "j", "text-observed",
         raises=(TypeError, "`observed` must be numeric")),
    Case(oc.smr, lambda: oc.smr(T20[["observed_deaths", "expected_deaths"]], E), "j", "dataframe-observed",
         raises=(ValueError, "`observed` must be one value per unit")),
    Case(oc.smr, lambda: oc.smr(None, [1.0]), "input", "none-observed", raises=(TypeError, "`observed` must be numbers")),
    Case(oc.smr, lambda: oc.smr([1, 2], [1.0, 2.0], confidence_level=95), "input", "percent-level",
         raises=(ValueError, r"`confidence_level` must lie in \(0, 1\) \(a proportion: 0.95")),

    # ------------------------------------------------------------------ funnel_limits
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E.sample(frac=1, random_state=3)), "a",
         "expected-shuffled-matched-by-label", check=lambda r: r == _FUNNEL_BASE or pytest.fail("differs")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E.reset_index(drop=True)), "a",
         "labelled-vs-positional-index-refused", raises=(ValueError, "`expected` and `observed` carry different")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E.to_numpy(), labels=O.index[::-1]), "a",
         "labels-contradicting-the-index-refused", raises=(ValueError, "`labels` and the index of `observed`")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits([5], [4.0]), "f", "one-unit",
         raises=(ValueError, "`observed` and `expected` must have at least 2 units")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits([0.0, 50, 60, 55, 45], [40.0, 50, 55, 52, 48]), "f",
         "zero-deaths-on-the-log-scale", raises=(ValueError, r"`observed` is 0 for 1 unit.*method='cqc'")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits([0, 0, 0], [10.0, 20.0, 30.0], data_type="proportion"), "f",
         "pooled-proportion-zero", raises=(ValueError, "pass `target`")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E * 1e9, method="cqc"), "d", "huge-expected",
         check=lambda r: np.isfinite(r.table[["lower_95", "upper_95"]].to_numpy()).all() or pytest.fail("inf")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E, target=0.5), "input", "target-for-ratios",
         raises=(ValueError, "`target` applies to data_type='proportion'")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E, trim="yes"), "input", "trim-not-bool",
         raises=(TypeError, "`trim` must be True or False")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits(O, E, exact="yes"), "input", "exact-not-bool",
         raises=(TypeError, "`exact` must be True or False")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits([1, 2, 3], [10.5, 20.0, 30.0], data_type="proportion",
                                                    overdispersion=None), "input", "exact-binomial-fractional-n",
         raises=(ValueError, "`expected`: exact binomial limits need whole-number denominators.*exact=False")),
    Case(oc.funnel_limits, lambda: oc.funnel_limits([0.0, 50, 60, 55, 45], [40.0, 50, 55, 52, 48],
                                                    overdispersion=None), "f", "zero-deaths-exact-limits",
         warns=(DegenerateDataWarning, "phi and tau2 are NaN"),
         check=lambda r: (np.isnan(r.phi) and r.table["flag"].iloc[0] == "low_alarm") or pytest.fail(str(r))),

    # ------------------------------------------------------------------ share_effect and the reverse steps
    Case(oc.share_effect, lambda: oc.share_effect(1000.0, se=1.0, delta=5, expected_deaths=10), "d",
         "overflowing-rate-ratio-is-inf",
         check=lambda e: (math.isinf(e.rate_ratio) and math.isinf(e.deaths)) or pytest.fail("not inf")),
    Case(oc.share_effect, lambda: oc.share_effect(-0.0069, se=0.0016, df=18), "k", "t-interval-with-df",
         check=lambda e: assert_allclose(e.confidence_interval().loc["coefficient", "ci_low"],
                                         -0.0069 - 2.10092204024096 * 0.0016, rtol=1e-12)),
    Case(oc.share_effect, lambda: oc.share_effect(0.1, se=0.1, ci=(0.0, 0.2)), "input", "se-and-ci",
         raises=(ValueError, "either `se` or `ci`")),
    Case(oc.share_effect, lambda: oc.share_effect(0.1, ci=(0.2, 0.3)), "input", "ci-excludes-coef",
         raises=(ValueError, "`ci` must satisfy low <= coef <= high")),
    Case(oc.share_effect, lambda: oc.share_effect(0.1, se=0.1, change="relative"), "input",
         "relative-without-baseline", raises=(ValueError, "`baseline_share`")),
    Case(oc.share_effect, lambda: oc.share_effect(np.nan, se=0.1), "input", "nan-coef",
         raises=(ValueError, "`coef` must be a finite number")),
    Case(oc.implied_coefficient, lambda: oc.implied_coefficient(-100, per=5), "input", "minus-100-percent-log",
         raises=(ValueError, "`percent_change` must be > -100")),
    Case(oc.implied_coefficient, lambda: oc.implied_coefficient(-3.3, per=0), "input", "zero-change",
         raises=(ValueError, "`per` must describe a non-zero change")),
    Case(oc.implied_coefficient, lambda: oc.implied_coefficient(-3.3, per=5, change="relative"), "input",
         "relative-without-baseline", raises=(ValueError, "`baseline_share`")),
    Case(oc.implied_coefficient, lambda: oc.implied_coefficient(-3.3, per=5, link="logit"), "input",
         "unknown-link", raises=(ValueError, "`link`")),
    Case(oc.implied_expected_deaths, lambda: oc.implied_expected_deaths(-3.3, 40), "input", "sign-mismatch",
         raises=(ValueError, "`deaths` must be non-zero with the sign of `percent_change`")),
    Case(oc.implied_expected_deaths, lambda: oc.implied_expected_deaths(0, -40), "input", "zero-percent",
         raises=(ValueError, "`percent_change` must be non-zero")),
    Case(oc.implied_expected_deaths, lambda: oc.implied_expected_deaths("3.3%", -40), "input", "text-percent",
         raises=(TypeError, "`percent_change` must be a real number")),
    Case(oc.se_from_pvalue, lambda: oc.se_from_pvalue(-0.006935789316111539, 0.0003499618764386025, df=18), "k",
         "t-pvalue-with-df-gives-r-se",
         check=lambda se: assert_allclose(se, 0.0015784138407591737, rtol=1e-9)),
    Case(oc.se_from_pvalue, lambda: oc.se_from_pvalue(0.1, 0.0), "input", "p-zero",
         raises=(ValueError, r"`pvalue` must lie in \(0, 1\)")),
    Case(oc.se_from_pvalue, lambda: oc.se_from_pvalue(0.0, 0.05), "input", "zero-estimate",
         raises=(ValueError, "`estimate` must be non-zero")),
    Case(oc.se_from_pvalue, lambda: oc.se_from_pvalue(0.1, 0.05, df=0), "input", "zero-df",
         raises=(ValueError, r"`df` must lie in \(0, inf\)")),

    # ------------------------------------------------------------------ effect sizes
    Case(es.cohens_d, lambda: es.cohens_d([1.0, 2.0, np.nan, 4.0], [2.0, 3.0, 5.0]), "missing",
         "nan-omitted-and-counted", warns=(DroppedDataWarning, r"1 of 4 row\(s\) with a missing value in `x`"),
         check=lambda d: assert_allclose(d, es.cohens_d([1.0, 2.0, 4.0], [2.0, 3.0, 5.0]), rtol=1e-15)),
    Case(es.cohens_d, lambda: es.cohens_d([1.0, np.nan, 4.0], [2.0, 3.0], nan_policy="raise"), "missing",
         "nan-policy-raise", raises=(ValueError, "`x` has 1 row")),
    Case(es.cohens_d, lambda: es.cohens_d([0.1] * 3, [0.2] * 3), "f", "constant-samples-infinite-d",
         warns=(DegenerateDataWarning, "infinite"), check=lambda d: d == -math.inf or pytest.fail(str(d))),
    Case(es.cohens_d, lambda: es.cohens_d([1e-9, 2e-9, 3e-9], [3e-9, 4e-9]), "d", "tiny-scale",
         check=lambda d: assert_allclose(d, es.cohens_d([1, 2, 3], [3, 4]), rtol=1e-12)),
    Case(es.cohens_d, lambda: es.cohens_d(["a", "b"], [1.0, 2.0]), "j", "text-sample",
         raises=(TypeError, "`x` must be numeric")),
    Case(es.cohens_d, lambda: es.cohens_d([1.0, np.inf, 2.0], [1.0, 2.0]), "d", "infinite-value",
         raises=(ValueError, "`x` has 1 infinite value")),
    Case(es.hedges_g, lambda: es.hedges_g([1.0, 2.0, 3.0, np.nan], [2.0, 3.0, 4.0, 6.0]), "missing",
         "nan-omitted", warns=(DroppedDataWarning, "`x`"),
         check=lambda g: assert_allclose(g, es.hedges_g([1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 6.0]), rtol=1e-15)),
    Case(es.hedges_g, lambda: es.hedges_g([1.0], [2.0, 3.0]), "f", "one-value",
         raises=(ValueError, "`x` needs at least 2 non-missing values")),
    Case(es.hedges_g, lambda: es.hedges_g([5.0, 5.0], [5.0, 5.0]), "f", "constant-and-equal",
         warns=(DegenerateDataWarning, "NaN"), check=lambda g: math.isnan(g) or pytest.fail(str(g))),
    Case(es.hedges_g, lambda: es.hedges_g(3.0, [1.0, 2.0]), "input", "scalar-sample",
         raises=(ValueError, "`x` must be a sample")),
    Case(es.hedges_correction, lambda: es.hedges_correction(1), "input", "df-one",
         raises=(ValueError, r"`df` must be finite and > 1")),
    Case(es.hedges_correction, lambda: es.hedges_correction([10.0, np.nan]), "input", "nan-df",
         raises=(ValueError, r"`df` must be finite and > 1")),
    Case(es.hedges_correction, lambda: es.hedges_correction("10"), "input", "text-df",
         raises=(TypeError, "`df` must be numeric")),
    Case(es.d_to_r, lambda: es.d_to_r(np.array([np.inf, -np.inf, 1e200])), "d", "infinite-d-is-r-one",
         check=lambda r: assert_allclose(r, [1.0, -1.0, 1.0], rtol=1e-15)),
    Case(es.d_to_r, lambda: es.d_to_r(0.5, n1=10), "input", "one-group-size",
         raises=(ValueError, "give both `n1` and `n2`")),
    Case(es.d_to_r, lambda: es.d_to_r(0.5, n1=0, n2=10), "input", "zero-group-size",
         raises=(ValueError, "`n1` and `n2` must be finite group sizes")),
    Case(es.r_to_d, lambda: es.r_to_d(1.0), "input", "r-one", raises=(ValueError, "`r` must lie strictly between")),
    Case(es.r_to_d, lambda: es.r_to_d("0.3"), "input", "text-r", raises=(TypeError, "`r` must be numeric")),
    Case(es.r_to_d, lambda: es.r_to_d(0.9999999999), "d", "r-near-one-finite",
         check=lambda d: (np.isfinite(d) and d > 1e4) or pytest.fail(str(d))),
    Case(es.d_to_odds_ratio, lambda: es.d_to_odds_ratio(1000.0), "d", "overflow-is-inf",
         check=lambda o: o == np.inf or pytest.fail(str(o))),
    Case(es.d_to_odds_ratio, lambda: es.d_to_odds_ratio(0.5, log="yes"), "input", "log-not-bool",
         raises=(TypeError, "`log` must be True or False")),
    Case(es.d_to_odds_ratio, lambda: es.d_to_odds_ratio(None), "input", "none-d",
         raises=(TypeError, "`d` must be numeric")),
    Case(es.odds_ratio_to_d, lambda: es.odds_ratio_to_d(0.0), "input", "zero-odds-ratio",
         raises=(ValueError, "`odds_ratio` must be > 0")),
    Case(es.odds_ratio_to_d, lambda: es.odds_ratio_to_d(np.inf), "d", "infinite-odds-ratio",
         check=lambda d: d == np.inf or pytest.fail(str(d))),
    Case(es.odds_ratio_to_d, lambda: es.odds_ratio_to_d(2.0, log=1), "input", "log-not-bool",
         raises=(TypeError, "`log` must be True or False")),
    Case(es.fisher_z_interval, lambda: es.fisher_z_interval(1.0, 10), "input", "r-one",
         raises=(ValueError, r"`r` must lie in \(-1, 1\)")),
    Case(es.fisher_z_interval, lambda: es.fisher_z_interval(0.3, 3), "input", "n-three",
         raises=(ValueError, "`n` must be an integer >= 4")),
    Case(es.fisher_z_interval, lambda: es.fisher_z_interval(0.3, 50, confidence_level=95), "input",
         "percent-level", raises=(ValueError, "`confidence_level`")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


# --------------------------------------------------------------------------- properties: labels, not positions
@given(seed=st.integers(0, 2**32 - 1))
def test_glm_rows_and_cluster_labels_shuffled_give_the_same_fit(seed):
    perm = np.random.default_rng(seed).permutation(len(T20))
    shuffled = T20.iloc[perm]
    fit = oc.mortality_glm(shuffled, predictors=X, family="poisson", cov_type="clustered",
                           clusters=_CLUSTERS.iloc[np.random.default_rng(seed + 1).permutation(20)])
    assert_allclose(fit.coefficients.to_numpy(), _BASE_CL.coefficients.to_numpy(), rtol=1e-9, atol=1e-15)


@given(seed=st.integers(0, 2**32 - 1), relabel=st.booleans())
def test_smr_and_funnel_relabelled_inputs_give_the_same_answer(seed, relabel):
    perm = np.random.default_rng(seed).permutation(len(O))
    o, e = O, E.iloc[perm]
    if relabel:  # other labels, the same on both arguments
        names = {k: f"unit-{i}" for i, k in enumerate(O.index)}
        o, e = o.rename(index=names), e.rename(index=names)
    out = oc.smr(o, e)
    assert_allclose(out.to_numpy(), oc.smr(O, E).to_numpy(), rtol=0)
    res = oc.funnel_limits(o, e)
    assert_allclose(res.table.drop(columns=["flag"]).to_numpy(dtype=float),
                    _FUNNEL_BASE.table.drop(columns=["flag"]).to_numpy(dtype=float), rtol=1e-13)
    assert (res.table["flag"].to_numpy() == _FUNNEL_BASE.table["flag"].to_numpy()).all()
