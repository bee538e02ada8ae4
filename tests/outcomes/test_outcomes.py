"""Tests for teamculture.outcomes.

Oracles: ``tests/reference/outcomes.R`` (R ``glm`` Poisson / quasi-Poisson,
``MASS::glm.nb``, ``lm``, ``sandwich`` HC0/HC1/cluster, ``plm`` within /
random / between with Stata-type clustered SEs) on the committed CSVs written
by ``make_outcomes_data.py``. Tolerances: IRLS fits converge to the same
optimum in both programs, agreeing to ~1e-12; we compare at rtol 1e-8 (1e-7
for the negative binomial, which alternates between θ and β), and linear
models at 1e-10. Parameter recovery against the simulator's known β is a
smoke check on two seeds; the coverage study over many seeds is
``benchmarks/coverage_outcomes.py``.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture import outcomes as oc
from teamculture.errors import BoundaryWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture.results import COEF_COLUMNS, Summary
from teamculture.simulate import national_survey

COLS = list(COEF_COLUMNS)
PREDS = ["real_team_pct", "absence_rate"]
CENTER = {"real_team_pct": 40.0}


@pytest.fixture(scope="module")
def ref(reference_dir):
    return json.loads((reference_dir / "outcomes.json").read_text())["fits"]


@pytest.fixture(scope="module")
def trusts(reference_dir):
    return pd.read_csv(reference_dir / "outcomes_data" / "trusts.csv", index_col="trust")


@pytest.fixture(scope="module")
def panel(reference_dir):
    p = pd.read_csv(reference_dir / "outcomes_data" / "panel.csv", index_col=["trust", "year"])
    return p.assign(smr=p["observed_deaths"] / p["expected_deaths"])


def _check(fit, r, se_key="se", rtol=1e-8):
    assert list(fit.coefficients.index) == r["coef_names"] or len(fit.coefficients) == len(r["coef_names"])
    assert_allclose(fit.coefficients["estimate"], np.atleast_1d(r["coef"]), rtol=rtol, atol=0)
    assert_allclose(fit.coefficients["std_error"], np.atleast_1d(r[se_key]), rtol=rtol, atol=0)
    assert fit.n_obs == r["nobs"]


# --------------------------------------------------------------------------- R oracles
def test_reference_header(reference_dir):
    header = json.loads((reference_dir / "outcomes.json").read_text())["header"]
    assert "generated, do not edit" in header and "MASS" in header and "plm" in header


@pytest.mark.parametrize("cov", ["unadjusted", "robust"])
def test_poisson_matches_glm(ref, trusts, cov):
    fit = oc.mortality_glm(trusts, predictors=PREDS, family="poisson", cov_type=cov, center_at=CENTER)
    _check(fit, ref["poisson"], "se" if cov == "unadjusted" else "se_hc0")
    assert_allclose(fit.log_likelihood, ref["poisson"]["loglik"], rtol=1e-10, atol=0)
    assert_allclose(fit.deviance, ref["poisson"]["deviance"], rtol=1e-10, atol=0)
    assert fit.dispersion == 1.0 and math.isnan(fit.nb_alpha)


@pytest.mark.parametrize("cov", ["unadjusted", "robust"])
def test_quasipoisson_matches_glm(ref, trusts, cov):
    fit = oc.mortality_glm(trusts, predictors=PREDS, family="quasipoisson", cov_type=cov, center_at=CENTER)
    _check(fit, ref["quasipoisson"], "se" if cov == "unadjusted" else "se_hc0")
    assert_allclose(fit.dispersion, ref["quasipoisson"]["dispersion"], rtol=1e-10, atol=0)
    assert math.isnan(fit.log_likelihood)


@pytest.mark.parametrize("cov", ["unadjusted", "robust"])
def test_negbin_matches_glm_nb(ref, trusts, cov):
    r = ref["negbin"]
    fit = oc.mortality_glm(trusts, predictors=PREDS, family="negbin", cov_type=cov, center_at=CENTER)
    _check(fit, r, "se" if cov == "unadjusted" else "se_hc0", rtol=1e-7)
    assert_allclose(1 / fit.nb_alpha, r["theta"], rtol=1e-7, atol=0)
    assert_allclose(fit.log_likelihood, r["loglik"], rtol=1e-10, atol=0)
    assert_allclose(fit.deviance, r["deviance"], rtol=1e-7, atol=0)


def test_cluster_robust_poisson_matches_vcovcl(ref, panel):
    fit = oc.mortality_glm(panel, predictors="real_team_pct", family="poisson", cov_type="clustered",
                           clusters="trust", center_at=CENTER)
    _check(fit, ref["panel_poisson_cluster"], "se_cluster")
    assert fit.n_groups == 150
    # the same clusters given as labels, one per row
    fit2 = oc.mortality_glm(panel, predictors="real_team_pct", family="poisson", cov_type="clustered",
                            clusters=panel.index.get_level_values("trust").to_numpy(), center_at=CENTER)
    assert_allclose(fit2.coefficients["std_error"], fit.coefficients["std_error"], rtol=1e-13, atol=0)
    # a Series of labels is matched by the index, whatever its row order
    labels = pd.Series(panel.index.get_level_values("trust"), index=panel.index).iloc[::-1]
    fit3 = oc.mortality_glm(panel, predictors="real_team_pct", family="poisson", cov_type="clustered",
                            clusters=labels, center_at=CENTER)
    assert_allclose(fit3.coefficients["std_error"], fit.coefficients["std_error"], rtol=1e-13, atol=0)
    # Poisson: z tests unless asked
    assert not fit.use_t and np.isinf(fit.coefficients["df"]).all()


@pytest.mark.parametrize(("weights", "key"), [(None, "ols"), ("expected", "wls")])
@pytest.mark.parametrize("cov", ["unadjusted", "robust"])
def test_smr_regression_matches_lm(ref, trusts, weights, key, cov):
    r = ref[key]
    fit = oc.smr_regression(trusts, predictors=PREDS, weights=weights, cov_type=cov, center_at=CENTER)
    _check(fit, r, "se" if cov == "unadjusted" else "se_hc1", rtol=1e-10)
    assert_allclose(fit.r_squared, r["r_squared"], rtol=1e-10, atol=0)
    assert_allclose(fit.dispersion, r["sigma2"], rtol=1e-10, atol=0)
    assert_allclose(fit.log_likelihood, r["loglik"], rtol=1e-10, atol=0)
    assert fit.model == key and fit.link == "identity" and fit.smr_scale == 100.0


@pytest.mark.parametrize("cov", ["unadjusted", "clustered"])
def test_panel_within_matches_plm(ref, panel, cov):
    r = ref["panel_within"]
    fit = oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True, cov_type=cov)
    _check(fit, r, "se" if cov == "unadjusted" else "se_cluster", rtol=1e-10)
    assert_allclose(fit.r_squared, r["r_squared"], rtol=1e-10, atol=0)
    assert fit.n_groups == 150 and fit.link == "log"


@pytest.mark.parametrize("cov", ["unadjusted", "clustered"])
def test_panel_random_matches_plm(ref, panel, cov):
    r = ref["panel_random"]
    fit = oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True, estimator="random", cov_type=cov)
    key = "se" if cov == "unadjusted" else "se_cluster"
    assert list(fit.coefficients.index) == ["Intercept", "real_team_pct"]
    assert_allclose(fit.coefficients["estimate"], r["coef"][:2], rtol=1e-8, atol=0)
    assert_allclose(fit.coefficients["std_error"], r[key][:2], rtol=1e-8, atol=0)


def test_panel_between_matches_plm(ref, panel):
    fit = oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True, estimator="between",
                              cov_type="unadjusted")
    _check(fit, ref["panel_between"], rtol=1e-10)
    # clustered by trust with one row per trust: HC1 on the trust means (sandwich::vcovHC)
    fit = oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True, estimator="between")
    _check(fit, ref["panel_between"], "se_hc1_means", rtol=1e-10)
    assert fit.cov_type == "clustered" and not fit.use_t


# --------------------------------------------------------------------------- closed forms, structure
def test_between_equals_ols_on_trust_means(panel):
    means = panel.groupby(level="trust")[["real_team_pct", "smr"]].mean()
    fit = oc.panel_regression(panel, predictors="real_team_pct", estimator="between", cov_type="unadjusted")
    x = np.column_stack([np.ones(len(means)), means["real_team_pct"]])
    beta = np.linalg.lstsq(x, means["smr"].to_numpy(), rcond=None)[0]
    assert_allclose(fit.coefficients["estimate"], beta, rtol=1e-10, atol=0)


def test_quasipoisson_se_is_poisson_se_times_sqrt_dispersion(trusts):
    p = oc.mortality_glm(trusts, predictors=PREDS, family="poisson")
    q = oc.mortality_glm(trusts, predictors=PREDS, family="quasipoisson")
    assert_allclose(q.coefficients["estimate"], p.coefficients["estimate"], rtol=1e-12, atol=0)
    assert_allclose(q.coefficients["std_error"], p.coefficients["std_error"] * math.sqrt(q.dispersion), rtol=1e-10,
                    atol=0)
    mu = p.fitted.to_numpy()
    pearson = np.sum((trusts["observed_deaths"].to_numpy() - mu) ** 2 / mu)
    assert_allclose(q.dispersion, pearson / (len(trusts) - 3), rtol=1e-10, atol=0)


def test_result_structure_and_labels(trusts):
    for fit in (
        oc.mortality_glm(trusts, predictors="real_team_pct"),
        oc.mortality_glm(trusts, predictors="real_team_pct", family="negbin"),
        oc.smr_regression(trusts, predictors="real_team_pct"),
    ):
        assert list(fit.coefficients.columns) == COLS
        assert list(fit.coefficients.index) == ["Intercept", "real_team_pct"]
        assert fit.fitted.index.equals(trusts.index)
        assert all(fit.coefficients[c].dtype == np.float64 for c in COLS)
        assert isinstance(fit.summary(), Summary)
        assert "real_team_pct" in str(fit.summary()) and str(fit) == str(fit.summary())
        assert fit.to_frame().equals(fit.coefficients)
        ci = fit.confidence_interval(fit.confidence_level)
        assert_allclose(ci.to_numpy(), fit.coefficients[["ci_low", "ci_high"]].to_numpy(), rtol=1e-12, atol=0)
        c = fit.coefficients
        assert (c["ci_low"] <= c["estimate"]).all() and (c["estimate"] <= c["ci_high"]).all()


def test_glm_fitted_are_expected_deaths(trusts):
    fit = oc.mortality_glm(trusts, predictors="real_team_pct", family="poisson")
    b = fit.coefficients["estimate"]
    mu = trusts["expected_deaths"] * np.exp(b["Intercept"] + b["real_team_pct"] * trusts["real_team_pct"])
    assert_allclose(fit.fitted, mu, rtol=1e-12, atol=0)
    # Poisson score equation with an intercept: total fitted deaths = total observed
    assert_allclose(fit.fitted.sum(), trusts["observed_deaths"].sum(), rtol=1e-10, atol=0)


def test_center_changes_only_intercept(trusts):
    a = oc.mortality_glm(trusts, predictors="real_team_pct")
    b = oc.mortality_glm(trusts, predictors="real_team_pct", center_at=CENTER)
    assert_allclose(a.coefficients.loc["real_team_pct"], b.coefficients.loc["real_team_pct"], rtol=1e-9, atol=0)
    ea, eb = a.coefficients["estimate"], b.coefficients["estimate"]
    assert_allclose(eb["Intercept"], ea["Intercept"] + 40 * ea["real_team_pct"], rtol=1e-9, atol=0)


def test_effect_uses_fit_interval(trusts):
    from teamculture.outcomes import share_effect

    fit = oc.mortality_glm(trusts, predictors="real_team_pct", family="quasipoisson")
    eff = fit.effect("real_team_pct", delta=5, expected_deaths=1212)
    row = fit.coefficients.loc["real_team_pct"]
    want = share_effect(row["estimate"], ci=(row["ci_low"], row["ci_high"]), delta=5, expected_deaths=1212)
    assert eff == want
    lin = oc.smr_regression(trusts, predictors="real_team_pct")
    e2 = lin.effect("real_team_pct", delta=5, expected_deaths=1000)
    assert_allclose(e2.deaths, 1000 * lin.coefficients.loc["real_team_pct", "estimate"] * 5 / 100, rtol=1e-12, atol=0)


def test_missing_rows_dropped_counted_and_warned(trusts):
    data = trusts.copy()
    data.iloc[[2, 5], data.columns.get_loc("real_team_pct")] = np.nan
    before = data.copy()
    with pytest.warns(DroppedDataWarning, match=r"2 of 150 row\(s\) with a missing value in `predictors`"):
        fit = oc.mortality_glm(data, predictors="real_team_pct")
    assert fit.n_obs == 148 and fit.n_dropped == 2
    assert not fit.fitted.index.isin(trusts.index[[2, 5]]).any()
    pd.testing.assert_frame_equal(data, before)  # caller's data untouched
    with pytest.raises(ValueError, match="`predictors` has 2 row.*TR003"):
        oc.mortality_glm(data, predictors="real_team_pct", nan_policy="raise")
    with pytest.warns(DroppedDataWarning, match="2 of 150"):
        lin = oc.smr_regression(data, predictors="real_team_pct")
    assert lin.n_dropped == 2


def test_no_mutation_of_panel(panel):
    before = panel.copy()
    oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True, estimator="random")
    pd.testing.assert_frame_equal(panel, before)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"predictors": "nope"}, ValueError, "`predictors`"),
        ({"predictors": []}, ValueError, "`predictors`"),
        ({"predictors": "real_team_pct", "family": "binomial"}, ValueError, "`family`"),
        ({"predictors": "real_team_pct", "cov_type": "HC3"}, ValueError, "`cov_type`"),
        ({"predictors": "real_team_pct", "cov_type": "cluster"}, ValueError, "`cov_type`.*clustered"),
        ({"predictors": "real_team_pct", "cov_type": "clustered"}, ValueError, "`clusters`"),
        ({"predictors": "real_team_pct", "clusters": "trust"}, ValueError, "`clusters`"),
        ({"predictors": "real_team_pct", "center_at": {"absence_rate": 4}}, ValueError, "`center_at`"),
        ({"predictors": "real_team_pct", "confidence_level": 1.5}, ValueError, "`confidence_level`"),
        ({"predictors": "real_team_pct", "use_t": "yes"}, TypeError, "`use_t`"),
        ({"predictors": ["real_team_pct", "real_team_pct"]}, ValueError, r"`predictors` names column\(s\) \['real_team_pct'\] more than once"),
        ({"predictors": "observed_deaths"}, ValueError, r"`predictors` must not include the outcome or offset column\(s\) \['observed_deaths'\]"),
        ({"predictors": "label"}, TypeError, r"`predictors` column\(s\) \['label'\] must be numeric"),
    ],
)
def test_glm_validation(trusts, kwargs, exc, match):
    data = trusts.assign(label="x")
    with pytest.raises(exc, match=match):
        oc.mortality_glm(data, **kwargs)


def test_glm_validation_values(trusts):
    bad = trusts.copy()
    bad.iloc[0, bad.columns.get_loc("observed_deaths")] = -1
    with pytest.raises(ValueError, match="`observed`.*TR001"):
        oc.mortality_glm(bad, predictors="real_team_pct")
    bad = trusts.copy()
    bad.iloc[3, bad.columns.get_loc("expected_deaths")] = 0
    with pytest.raises(ValueError, match="`expected`.*TR004"):
        oc.mortality_glm(bad, predictors="real_team_pct")
    with pytest.raises(ValueError, match=r"`predictors` are collinear or constant: \['c'\] \(\['c'\] constant\)"):
        oc.mortality_glm(trusts.assign(c=1.0), predictors=["real_team_pct", "c"])
    with pytest.raises(TypeError, match="`data`"):
        oc.mortality_glm(trusts.to_numpy(), predictors="real_team_pct")
    with pytest.raises(ValueError, match=r"`data` has too few usable rows \(3\) for 3 coefficients"):
        oc.mortality_glm(trusts.iloc[:3], predictors=["real_team_pct", "absence_rate"])


def test_panel_validation(panel, trusts):
    with pytest.raises(ValueError, match=r"`data` must be indexed by a two-level MultiIndex"):
        oc.panel_regression(trusts, predictors="real_team_pct")
    with pytest.raises(ValueError, match="`time_effects`"):
        oc.panel_regression(panel, predictors="real_team_pct", estimator="between", time_effects=True)
    with pytest.raises(ValueError, match="`estimator`"):
        oc.panel_regression(panel, predictors="real_team_pct", estimator="pooled")
    zero = panel.copy()
    zero.iloc[0, zero.columns.get_loc("smr")] = 0.0
    with pytest.raises(ValueError, match=r"`outcome` must be > 0 for log_outcome=True; 1 row\(s\) are not: \[\('TR001', 2019\)\]"):
        oc.panel_regression(zero, predictors="real_team_pct", log_outcome=True)
    with pytest.raises(ValueError, match=r"`data` has 1 duplicated \(entity, time\) row\(s\): \[\('TR001', 2019\)\]"):
        oc.panel_regression(pd.concat([panel, panel.iloc[:1]]), predictors="real_team_pct")


def test_effect_validation(trusts, panel):
    fit = oc.mortality_glm(trusts, predictors="real_team_pct")
    with pytest.raises(ValueError, match="`term`"):
        fit.effect("absence_rate")
    lin = oc.panel_regression(panel, predictors="real_team_pct", outcome="expected_deaths")
    with pytest.raises(ValueError, match="not an SMR"):
        lin.effect("real_team_pct")


# --------------------------------------------------------------------------- recovery of the known beta
@pytest.mark.parametrize("seed", [101, 202])
def test_recovers_simulator_beta(seed):
    """Smoke check on two fixed seeds that the 95% intervals contain the true β.

    A single seed can miss 5% of the time by design; these two seeds are not
    chosen for passing (they are the first two tried). Coverage over many
    seeds is measured in benchmarks/coverage_outcomes.py.
    """
    sim = national_survey(n_trusts=250, n_teams=1000, n_staff=10_000, rng=seed)
    beta = sim.params.mortality_beta
    for family, cov in (("quasipoisson", "unadjusted"), ("negbin", "unadjusted"), ("poisson", "robust")):
        fit = oc.mortality_glm(sim.trusts, predictors="real_team_pct", family=family, cov_type=cov,
                               center_at={"real_team_pct": sim.params.share_center})
        row = fit.coefficients.loc["real_team_pct"]
        assert row["ci_low"] < beta < row["ci_high"], (family, cov, row.to_dict())
    # the simulator's trust-level over-dispersion shows in the Pearson dispersion
    q = oc.mortality_glm(sim.trusts, predictors="real_team_pct", family="quasipoisson")
    assert q.dispersion > 1.5
    # the within-trust panel estimate recovers the same slope
    pw = oc.panel_regression(sim.panel, predictors="real_team_pct", outcome="smr", log_outcome=True)
    row = pw.coefficients.loc["real_team_pct"]
    assert row["ci_low"] < beta < row["ci_high"]


# --------------------------------------------------------------------------- properties
@st.composite
def _small_trusts(draw):
    n = draw(st.integers(8, 30))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    share = rng.uniform(10, 80, n)
    e = rng.uniform(50, 3000, n)
    beta = draw(st.floats(-0.02, 0.02))
    o = rng.poisson(e * np.exp(beta * (share - 40) + rng.normal(0, 0.05, n)))
    idx = pd.Index([f"T{i:02d}" for i in range(n)], name="trust")
    return pd.DataFrame({"real_team_pct": share, "expected_deaths": e, "observed_deaths": o}, index=idx)


@given(data=_small_trusts(), family=st.sampled_from(["poisson", "quasipoisson", "negbin"]),
       perm_seed=st.integers(0, 1000))
def test_invariant_to_row_order(data, family, perm_seed):
    perm = np.random.default_rng(perm_seed).permutation(len(data))
    with warnings.catch_warnings():
        # little simulated over-dispersion: the NB alpha may sit at its boundary 0 (warned, tested elsewhere)
        warnings.simplefilter("ignore", BoundaryWarning)
        a = oc.mortality_glm(data, predictors="real_team_pct", family=family)
        b = oc.mortality_glm(data.iloc[perm], predictors="real_team_pct", family=family)
    assert_allclose(b.coefficients.to_numpy(), a.coefficients.to_numpy(), rtol=1e-6, atol=1e-10)
    assert_allclose(b.fitted.loc[a.fitted.index], a.fitted, rtol=1e-6, atol=0)


@given(data=_small_trusts(), scale=st.floats(0.1, 10))
def test_rescaling_predictor_rescales_coefficient(data, scale):
    a = oc.mortality_glm(data, predictors="real_team_pct", family="quasipoisson")
    b = oc.mortality_glm(data.assign(real_team_pct=data["real_team_pct"] * scale), predictors="real_team_pct",
                         family="quasipoisson")
    assert_allclose(b.coefficients.loc["real_team_pct", ["estimate", "std_error"]] * scale,
                    a.coefficients.loc["real_team_pct", ["estimate", "std_error"]], rtol=1e-7, atol=1e-13)
    assert_allclose(b.coefficients.loc["real_team_pct", "pvalue"], a.coefficients.loc["real_team_pct", "pvalue"],
                    rtol=1e-6, atol=1e-300)


# --------------------------------------------------------------------------- demo stage
def test_demo_stage_reports_against_truth(small_survey, tmp_path):
    import io

    from teamculture._demo import DemoContext
    from teamculture._demo import outcomes as stage

    stream = io.StringIO()
    ctx = DemoContext(survey=small_survey, out=tmp_path, stream=stream)
    stage.run(ctx)
    text = stream.getvalue()
    # the simulator's true slope, log(1 - 0.033) / 5 (3.3% lower mortality per 5 points)
    truth = small_survey.params.mortality_beta
    assert_allclose(truth, math.log(1 - 0.033) / 5, rtol=1e-15)
    assert f"truth {truth:.5f}" in text
    assert "deaths per year" in text
    fit = ctx.results["mortality_fit"]
    assert fit.model == "quasipoisson" and fit.n_obs == len(small_survey.trusts)
    assert (tmp_path / "trust_outcomes.csv").exists()
    assert (tmp_path / "outcomes_mortality.png").exists()


def test_panel_missing_rows_dropped_and_counted(panel):
    data = panel.copy()
    data.iloc[[0, 7, 11], data.columns.get_loc("real_team_pct")] = np.nan
    for est in ("within", "random", "between"):
        with pytest.warns(DroppedDataWarning, match="3 of 750"):
            fit = oc.panel_regression(data, predictors="real_team_pct", log_outcome=True, estimator=est)
        assert fit.n_dropped == 3
        assert fit.n_obs == (747 if est != "between" else 150)
    # the within estimate on the unbalanced panel equals the fit to the complete rows
    with pytest.warns(DroppedDataWarning, match="3 of 750"):
        a = oc.panel_regression(data, predictors="real_team_pct", log_outcome=True)
    b = oc.panel_regression(data.dropna(), predictors="real_team_pct", log_outcome=True)
    assert_allclose(a.coefficients.to_numpy(), b.coefficients.to_numpy(), rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- R's tests: t for quasi families, z otherwise
@pytest.fixture(scope="module")
def trusts20(reference_dir):
    return pd.read_csv(reference_dir / "outcomes_data" / "trusts20.csv", index_col="trust")


def _check_tests(fit, r, rtol=1e-8):
    c = fit.coefficients
    assert_allclose(c["statistic"], r["statistic"], rtol=rtol, atol=0)
    assert_allclose(c["pvalue"], r["pvalue"], rtol=1e-6, atol=0)  # p-values: relative, through the tails
    assert_allclose(c["ci_low"], r["ci_low"], rtol=rtol, atol=0)
    assert_allclose(c["ci_high"], r["ci_high"], rtol=rtol, atol=0)
    if r["df"] is None:
        assert not fit.use_t and np.isinf(c["df"]).all()
    else:
        assert fit.use_t and (c["df"] == r["df"]).all()


def test_quasipoisson_uses_t_with_residual_df_as_summary_glm(ref, trusts, trusts20):
    """summary(glm(..., quasipoisson)): t value, Pr(>|t|) on n - p df; intervals coef -/+ qt * se."""
    fit = oc.mortality_glm(trusts, predictors=PREDS, center_at=CENTER)
    _check_tests(fit, ref["quasipoisson"])
    small = oc.mortality_glm(trusts20, predictors="real_team_pct")
    r = ref["quasipoisson_t20"]
    _check(small, r)
    _check_tests(small, r)
    assert small.coefficients["df"].iloc[0] == 18
    # the newcomer's trap: the normal reference distribution understates p by a factor of 30 here
    z = oc.mortality_glm(trusts20, predictors="real_team_pct", use_t=False)
    assert z.coefficients.loc["real_team_pct", "pvalue"] < small.coefficients.loc["real_team_pct", "pvalue"] / 30
    # use_t=False gives R's confint.default (z) intervals
    assert_allclose(z.coefficients["ci_low"], r["ci_default_low"], rtol=1e-8, atol=0)
    assert_allclose(z.coefficients["ci_high"], r["ci_default_high"], rtol=1e-8, atol=0)
    assert "t tests" in str(small.summary()) and "summary.glm" in str(small.summary())


@pytest.mark.parametrize(("family", "rtol"), [("poisson", 1e-8), ("negbin", 1e-7)])
def test_poisson_and_negbin_use_z_as_summary_glm(ref, trusts, family, rtol):
    fit = oc.mortality_glm(trusts, predictors=PREDS, family=family, center_at=CENTER)
    _check_tests(fit, ref[family], rtol=rtol)
    forced = oc.mortality_glm(trusts, predictors=PREDS, family=family, center_at=CENTER, use_t=True)
    assert forced.use_t and (forced.coefficients["df"] == 147).all()
    assert (forced.coefficients["pvalue"] > fit.coefficients["pvalue"]).all()


@pytest.mark.parametrize(("weights", "key"), [(None, "ols"), ("expected", "wls")])
def test_smr_regression_tests_match_summary_lm(ref, trusts, weights, key):
    fit = oc.smr_regression(trusts, predictors=PREDS, weights=weights, center_at=CENTER)
    _check_tests(fit, ref[key], rtol=1e-10)


def test_confidence_interval_at_another_level(trusts20):
    from scipy import stats

    fit = oc.mortality_glm(trusts20, predictors="real_team_pct")
    assert fit.confidence_interval().equals(fit.coefficients[["ci_low", "ci_high"]])
    ci = fit.confidence_interval(0.9)
    c = fit.coefficients
    q = stats.t.isf(0.05, 18)
    assert_allclose(ci["ci_low"], c["estimate"] - q * c["std_error"], rtol=1e-13, atol=0)
    refit = oc.mortality_glm(trusts20, predictors="real_team_pct", confidence_level=0.9)
    assert_allclose(ci.to_numpy(), refit.coefficients[["ci_low", "ci_high"]].to_numpy(), rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="`confidence_level`"):
        fit.confidence_interval(95)


def test_results_pickle_and_compare(trusts, panel):
    import pickle

    for fit in (oc.mortality_glm(trusts, predictors="real_team_pct", family="negbin"),
                oc.smr_regression(trusts, predictors="real_team_pct"),
                oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True)):
        again = pickle.loads(pickle.dumps(fit))
        assert again == fit and again is not fit
        assert fit.to_dict()["coefficients"]["real_team_pct"]["std_error"] == \
            fit.coefficients.loc["real_team_pct", "std_error"]
    a = oc.mortality_glm(trusts, predictors="real_team_pct")
    assert a != oc.mortality_glm(trusts, predictors="real_team_pct", use_t=False)


# --------------------------------------------------------------------------- scale-free numerics
@pytest.mark.parametrize("factor", [5e8, 1e-8, 1e12, 1e-12])
def test_rescaled_predictors_give_the_same_tests(trusts, factor):
    """A budget in pounds (~5e8) or a rate times 1e-8 is no reason to call a design rank deficient."""
    data = trusts.assign(x=trusts["absence_rate"] * factor)
    for fit_fn in (lambda d: oc.mortality_glm(d, predictors=["real_team_pct", "x"], center_at=CENTER),
                   lambda d: oc.smr_regression(d, predictors=["real_team_pct", "x"], center_at=CENTER)):
        base = fit_fn(trusts.assign(x=trusts["absence_rate"]))
        fit = fit_fn(data)
        assert_allclose(fit.coefficients.loc["x", "estimate"] * factor, base.coefficients.loc["x", "estimate"],
                        rtol=1e-9, atol=0)
        assert_allclose(fit.coefficients["statistic"], base.coefficients["statistic"], rtol=1e-8, atol=0)


def test_pounds_with_a_large_mean_are_not_rank_deficient(trusts):
    rng = np.random.default_rng(1)
    data = trusts.assign(budget=5e8 + rng.normal(0, 2e6, len(trusts)))
    fit = oc.mortality_glm(data, predictors=["real_team_pct", "budget"])
    base = oc.mortality_glm(data.assign(budget=(data["budget"] - 5e8) / 1e6), predictors=["real_team_pct", "budget"])
    assert_allclose(fit.coefficients.loc["budget", "statistic"], base.coefficients.loc["budget", "statistic"],
                    rtol=1e-9, atol=0)
    lin = oc.smr_regression(data, predictors=["real_team_pct", "budget"])
    lin_base = oc.smr_regression(data.assign(budget=(data["budget"] - 5e8) / 1e6), predictors=["real_team_pct", "budget"])
    assert_allclose(lin.coefficients.loc["budget", "statistic"], lin_base.coefficients.loc["budget", "statistic"],
                    rtol=1e-9, atol=0)


# --------------------------------------------------------------------------- panels: absorbed predictors
def test_within_drops_predictors_absorbed_by_the_trust_effects(panel):
    """Constant within every trust: no within estimate (it was once a 'slope' with p = 2e-16)."""
    rng = np.random.default_rng(0)
    trust_level = pd.Series(rng.normal(size=150), index=panel.index.get_level_values(0).unique())
    data = panel.assign(teaching=trust_level.reindex(panel.index.get_level_values(0)).to_numpy(), const=1.0)
    with pytest.warns(DegenerateDataWarning, match=r"`predictors` \['teaching', 'const'\] absorbed by the trust and "
                                                  r"year effects"):
        fit = oc.panel_regression(data, predictors=["real_team_pct", "teaching", "const"], log_outcome=True)
    assert fit.dropped_terms == ("teaching", "const")
    assert list(fit.coefficients.index) == ["real_team_pct", "teaching", "const"]
    assert fit.coefficients.loc[["teaching", "const"]].isna().all().all()
    base = oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True)
    assert_allclose(fit.coefficients.loc["real_team_pct"].to_numpy(), base.coefficients.loc["real_team_pct"].to_numpy(),
                    rtol=1e-10, atol=0)
    assert "dropped" in str(fit.summary())
    with pytest.raises(ValueError, match="`term`.*dropped"):
        fit.effect("teaching")
    # the random-effects estimator does estimate a trust-level predictor
    re = oc.panel_regression(data, predictors=["real_team_pct", "teaching"], log_outcome=True, estimator="random")
    assert np.isfinite(re.coefficients.loc["teaching", "estimate"]) and re.dropped_terms == ()


def test_within_with_year_effects_drops_year_only_predictors(panel):
    data = panel.assign(year_trend=panel.index.get_level_values(1).astype(float))
    with pytest.warns(DegenerateDataWarning, match=r"\['year_trend'\]"):
        fit = oc.panel_regression(data, predictors=["real_team_pct", "year_trend"], log_outcome=True)
    assert fit.dropped_terms == ("year_trend",)
    # without year effects the trend is identified
    no_year = oc.panel_regression(data, predictors=["real_team_pct", "year_trend"], log_outcome=True,
                                  time_effects=False)
    assert no_year.dropped_terms == () and np.isfinite(no_year.coefficients.loc["year_trend", "estimate"])
    with pytest.raises(ValueError, match="`predictors`.*every predictor is absorbed"):
        oc.panel_regression(data, predictors=["year_trend"], log_outcome=True)


def test_panel_with_string_time_labels_and_unicode_names(panel):
    data = panel.rename(columns={"real_team_pct": "équipes réelles %"})
    data.index = data.index.set_levels(data.index.levels[1].astype(str) + "/xx", level=1)
    fit = oc.panel_regression(data, predictors="équipes réelles %", log_outcome=True)
    base = oc.panel_regression(panel, predictors="real_team_pct", log_outcome=True)
    assert_allclose(fit.coefficients.to_numpy(), base.coefficients.to_numpy(), rtol=1e-12, atol=0)
    assert fit.fitted.index.equals(data.index)


@pytest.mark.parametrize("estimator", ["within", "random", "between"])
def test_panel_predictor_in_pounds(panel, estimator):
    """linearmodels' own absorbed check once called a budget of 5e8 +- 5e3 absorbed; the design is standardised."""
    b = np.random.default_rng(0).normal(0, 5e3, len(panel))
    fit = oc.panel_regression(panel.assign(budget=5e8 + b), predictors=["real_team_pct", "budget"], log_outcome=True,
                              estimator=estimator)
    base = oc.panel_regression(panel.assign(budget=b / 1e3), predictors=["real_team_pct", "budget"], log_outcome=True,
                               estimator=estimator)
    assert_allclose(fit.coefficients.loc["budget", "statistic"], base.coefficients.loc["budget", "statistic"],
                    rtol=1e-8, atol=0)
    assert_allclose(fit.coefficients.loc["budget", "estimate"] * 1e3, base.coefficients.loc["budget", "estimate"],
                    rtol=1e-8, atol=0)
