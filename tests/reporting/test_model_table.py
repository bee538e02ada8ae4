"""The paper table: what it shows, in every format, and the model-table protocol.

Numbers in a table are the models' own (checked against R in tests/reporting/test_mixed_reporting.py and
tests/outcomes) formatted for print; AIC and BIC against tests/reference/reporting.json.
"""

from __future__ import annotations

import math
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc
from _reference import REFERENCE_DIR, load_json
from teamculture.errors import BoundaryWarning
from teamculture.reporting import ModelParts, ModelTable
from teamculture.results import COEF_COLUMNS, Summary, interval_frame

REF = load_json("reporting.json")
SLOPE = pd.read_csv(REFERENCE_DIR / "mixed_data" / "slope3.csv", dtype={"trust": str, "team": str})
TRUSTS = pd.read_csv(REFERENCE_DIR / "outcomes_data" / "trusts.csv", index_col="trust")


def _mixed(formula, data=SLOPE, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        return tc.mixed(formula, data, **kw)


M0 = _mixed("y ~ 1 + (1 | trust) + (1 | team)")
M1 = _mixed(REF["mixed"]["slope3_uncorr3"]["formula"].replace("(1 | trust) + (1 | team) + (0 + x | team)",
                                                              "(1 | trust) + (1 | team)"))
M2 = _mixed(REF["mixed"]["slope3_corr3"]["formula"])
QP = tc.mortality_glm(TRUSTS, predictors=["real_team_pct", "absence_rate"])
POIS = tc.mortality_glm(TRUSTS, predictors=["real_team_pct", "absence_rate"], family="poisson")
OLS = tc.smr_regression(TRUSTS, predictors=["real_team_pct", "absence_rate"])


def _cell(tab, row, model, stat=None):
    """A cell; by default the model's first column (where single values of the random part and fit go)."""
    return tab.table.loc[row, (model, stat or tab.table[model].columns[0])]


def test_fixed_effects_are_the_models_numbers_for_print():
    tab = tc.model_table([M0, M1, M2])
    for name, m in zip(tab.names, (M0, M1, M2)):
        for term, r in m.coefficients.iterrows():
            assert _cell(tab, ("Fixed effects", term), name) == f"{r['estimate']:.2f}"
            assert _cell(tab, ("Fixed effects", term), name, "95% CI") == \
                f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]".replace("-0.00", "0.00")
            p = r["pvalue"]
            assert _cell(tab, ("Fixed effects", term), name, "p") == ("<0.001" if p < 0.001 else f"{p:.3f}")
            # the numbers behind the table are exact
            got = tab.to_frame().loc[(name, "Fixed effects", term), list(COEF_COLUMNS)].to_numpy(dtype=float)
            assert_allclose(got, r[list(COEF_COLUMNS)].to_numpy(dtype=float), rtol=0)
    # a term a model does not have is blank
    assert _cell(tab, ("Fixed effects", "x"), "Model 1") == ""
    assert _cell(tab, ("Fixed effects", "x"), "Model 1", "p") == ""


def test_random_part_n_per_level_vpc_and_fit_rows():
    tab = tc.model_table({"null": M0, "x": M1, "slope": M2}, digits=3)
    vc = M2.var_corr()
    assert _cell(tab, ("Random effects", "σ²"), "slope") == f"{vc['vcov'].iloc[-1]:.3f}"
    assert _cell(tab, ("Random effects", "τ00 team"), "slope") == f"{M2.variance_components['team|Intercept']:.3f}"
    assert _cell(tab, ("Random effects", "τ11 team.x"), "slope") == f"{M2.variance_components['team|x']:.3f}"
    rho = vc.query("var2 == 'x'")["sdcor"].iloc[0]
    assert _cell(tab, ("Random effects", "ρ01 team"), "slope") == f"{rho:.3f}"
    assert _cell(tab, ("Random effects", "ρ01 team"), "null") == ""
    # VPCs of the random-intercept models; blank for the slope model (the partition depends on x)
    vpc = M1.icc()["vpc"]
    assert _cell(tab, ("Random effects", "VPC trust"), "x") == f"{vpc['trust']:.3f}"
    assert _cell(tab, ("Random effects", "VPC team"), "slope") == ""
    assert _cell(tab, ("Random effects", "N team"), "slope") == "40"
    assert _cell(tab, ("Random effects", "N trust"), "null") == "8"
    assert _cell(tab, ("Model fit", "Observations"), "x") == "549"
    r2 = M1.r_squared()
    assert _cell(tab, ("Model fit", "Marginal R²"), "x") == f"{r2.marginal:.3f}"
    assert _cell(tab, ("Model fit", "Conditional R²"), "x") == f"{r2.conditional:.3f}"
    assert _cell(tab, ("Model fit", "Estimation"), "x") == "REML"
    # AIC and BIC are lme4's (REML criterion for REML fits)
    ref = REF["mixed"]["slope3_corr3"]["reml"]
    values = tab.to_frame()
    assert_allclose(values.loc[("slope", "Model fit", "AIC"), "estimate"], ref["aic"], rtol=1e-8)
    assert_allclose(values.loc[("slope", "Model fit", "BIC"), "estimate"], ref["bic"], rtol=1e-8)
    assert _cell(tab, ("Model fit", "AIC"), "slope") == f"{ref['aic']:.3f}"
    assert any("REML criterion" in n and "refit by ML" in n for n in tab.notes)


def test_random_part_as_standard_deviations():
    tab = tc.model_table(M2, random="sd")
    vc = M2.var_corr()
    assert _cell(tab, ("Random effects", "σ"), "Model 1") == f"{vc['sdcor'].iloc[-1]:.2f}"
    assert _cell(tab, ("Random effects", "SD team.x"), "Model 1") == f"{math.sqrt(M2.variance_components['team|x']):.2f}"
    assert ("Random effects", "τ00 team") not in tab.table.index


def test_outcome_models_rate_ratios_and_blank_likelihood_rows():
    tab = tc.model_table({"quasi": QP, "poisson": POIS, "smr": OLS}, statistics=["estimate", "se", "ci", "p"],
                         digits=4)
    assert tab.exponentiated == (True, True, False)
    assert list(tab.table["quasi"].columns) == ["IRR", "SE", "95% CI", "p"]
    assert list(tab.table["smr"].columns) == ["Estimate", "SE", "95% CI", "p"]
    for name, fit in (("quasi", QP), ("poisson", POIS)):
        r = fit.coefficients.loc["real_team_pct"]
        assert _cell(tab, ("Fixed effects", "real_team_pct"), name, "IRR") == f"{math.exp(r['estimate']):.4f}"
        assert _cell(tab, ("Fixed effects", "real_team_pct"), name, "SE") == \
            f"{math.exp(r['estimate']) * r['std_error']:.4f}"  # delta method
        assert _cell(tab, ("Fixed effects", "real_team_pct"), name, "95% CI") == \
            f"[{math.exp(r['ci_low']):.4f}, {math.exp(r['ci_high']):.4f}]"
    # R: AIC(glm poisson) = 1990.51..., AIC(quasipoisson) = NA, AIC(lm) = 972.63...
    values = tab.to_frame()
    assert_allclose(values.loc[("poisson", "Model fit", "AIC"), "estimate"], REF["outcomes"]["poisson"]["aic"],
                    rtol=1e-10)
    assert_allclose(values.loc[("smr", "Model fit", "BIC"), "estimate"], REF["outcomes"]["ols"]["bic"], rtol=1e-10)
    assert _cell(tab, ("Model fit", "AIC"), "quasi") == ""
    assert ("quasi", "Model fit", "AIC") not in values.index
    assert _cell(tab, ("Model fit", "R²"), "smr") == f"{OLS.r_squared:.4f}"
    assert _cell(tab, ("Model fit", "R²"), "poisson") == ""
    assert ("Random effects", "σ²") not in tab.table.index  # no model has a random part
    assert any(n.startswith("IRR: exponentiated coefficients (quasi, poisson)") for n in tab.notes)
    # on the log scale when asked
    flat = tc.model_table(POIS, exponentiate=False)
    assert _cell(flat, ("Fixed effects", "real_team_pct"), "Model 1") == \
        f"{POIS.coefficients.loc['real_team_pct', 'estimate']:.2f}"


def test_no_cell_is_nan_and_every_format_renders():
    tab = tc.model_table([M0, M2, QP], title="Table 2. Engagement and mortality")
    cells = tab.table.to_numpy().ravel()
    assert all(isinstance(c, str) for c in cells)
    assert not any(c.lower() in ("nan", "na", "none") for c in cells)
    text = str(tab)
    assert text == tab.as_text() == str(tab.summary()) and text.startswith("Table 2.")
    assert "nan" not in text.lower().split()
    html = tab.as_html()
    assert html.startswith("<div") and "<caption" in html and "colspan='3'" in html and "nan" not in html.lower()
    latex = tab.as_latex(label="tab:engagement")
    for token in ("\\begin{table}", "\\caption{Table 2. Engagement and mortality}", "\\label{tab:engagement}",
                  "\\toprule", "\\midrule", "\\bottomrule", "\\cmidrule(lr){2-4}", "$\\tau_{00}$",
                  "$\\sigma^2$", "$<$0.001", "\\multicolumn{3}{c}{Model 1}"):
        assert token in latex, token
    assert "\\begin{table}" not in tab.as_latex(float_env=False)
    assert "σ" not in latex and "τ" not in latex  # unicode only through math mode
    md = tab.as_markdown()
    lines = md.splitlines()
    assert lines[2].startswith("| | Model 1: Estimate | Model 1: 95% CI | Model 1: p |")
    assert len({line.count("|") for line in lines if line.startswith("|")}) == 1  # a rectangular table
    s = tab.summary()
    assert isinstance(s, Summary) and s.as_latex() == tab.as_latex() and s.as_html() == tab.as_html()


def test_statistics_digits_labels_and_names():
    tab = tc.model_table(M1, statistics=["estimate", "statistic", "df"], digits=1,
                         labels={"Intercept": "(Intercept)", "x": "Real-team share"})
    r = M1.coefficients.loc["x"]
    assert list(tab.table.columns.get_level_values(1)) == ["Estimate", "Statistic", "df"]
    row = tab.table.loc[("Fixed effects", "Real-team share")]
    assert row.tolist() == [f"{r['estimate']:.1f}", f"{r['statistic']:.1f}", f"{r['df']:.1f}"]
    assert ("Fixed effects", "(Intercept)") in tab.table.index
    assert tab.names == ("Model 1",) and not tab.notes[0].startswith("p-values")  # no p column, no p note


def test_confidence_level_recomputes_intervals():
    tab = tc.model_table([M1, POIS], confidence_level=0.9)
    assert "90% CI" in tab.table.columns.get_level_values(1)
    want = interval_frame(M1.coefficients, 0.9)
    got = tab.confidence_interval().loc["Model 1"]
    assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-14)
    exp = tab.confidence_interval(0.5).loc["Model 2"]
    assert_allclose(exp.to_numpy(), np.exp(interval_frame(POIS.coefficients, 0.5).to_numpy()), rtol=1e-14)


def test_small_variances_keep_their_digits():
    tab = tc.model_table(M2, digits=2)
    # a slope variance of 0.18 prints as such; one of 1.2e-4 would print 0.00012 rather than 0.00
    from teamculture.reporting._table import _num

    assert _num(1.2345e-4, 2, keep_small=True) == "0.00012" and _num(1.2345e-4, 2) == "0.00"
    assert _num(-0.0001, 2) == "0.00" and _num(3e-9, 2, keep_small=True) == "3.0e-09"
    assert _cell(tab, ("Random effects", "τ11 team.x"), "Model 1") == f"{M2.variance_components['team|x']:.2f}"


def test_result_protocol_of_the_table():
    tab = tc.model_table([M0, M1])
    back = pickle.loads(pickle.dumps(tab))
    assert back == tab and isinstance(back, ModelTable)
    assert tc.model_table([M0, M2]) != tab
    assert tab.n_obs == 549 and tab.n_dropped == 0
    assert tc.model_table([M1, QP]).n_obs is None  # models of different data
    assert {"n_obs", "n_dropped", "n_groups", "table"} <= set(tab.to_dict())


# ---------------------------------------------------------------------------
# the protocol: a model class that is not the package's plugs in through model_parts()
# ---------------------------------------------------------------------------
class _LogisticFit:
    """A stand-in for a GLMM result (issue 11): a logit link and a random intercept."""

    def model_parts(self):
        coefs = pd.DataFrame({"estimate": [-1.0, 0.5], "std_error": [0.2, 0.1], "statistic": [-5.0, 5.0],
                              "df": [np.inf, np.inf], "pvalue": [5.7e-7, 5.7e-7], "ci_low": [-1.392, 0.304],
                              "ci_high": [-0.608, 0.696]}, index=["Intercept", "x"])
        random = pd.DataFrame({"grp": ["team"], "var1": ["(Intercept)"], "var2": [""], "vcov": [0.3],
                               "sdcor": [math.sqrt(0.3)]})
        return ModelParts(coefficients=coefs, link="logit", description="Logistic GLMM", random=random,
                          n_obs=1000, n_groups={"team": 50}, vpc={"team": 0.3 / (0.3 + math.pi**2 / 3)},
                          loglik=-600.0, aic=1206.0, bic=1220.7, n_params=3, method="ML (Laplace)", tests="z")


def test_a_new_model_class_plugs_in_through_model_parts():
    tab = tc.model_table({"GLMM": _LogisticFit(), "LMM": M1})
    assert list(tab.table["GLMM"].columns) == ["OR", "95% CI", "p"]
    assert _cell(tab, ("Fixed effects", "x"), "GLMM", "OR") == f"{math.exp(0.5):.2f}"
    assert _cell(tab, ("Fixed effects", "x"), "GLMM", "95% CI") == f"[{math.exp(0.304):.2f}, {math.exp(0.696):.2f}]"
    assert _cell(tab, ("Random effects", "τ00 team"), "GLMM") == "0.30"
    assert _cell(tab, ("Random effects", "σ²"), "GLMM") == ""  # no residual row in a logistic model
    assert _cell(tab, ("Model fit", "Estimation"), "GLMM") == "ML (Laplace)"
    assert any(re.match(r"p-values: .*z \(GLMM\)", n) for n in tab.notes)


def test_a_singular_fit_is_flagged_with_what_to_do():
    data = pd.read_csv(REFERENCE_DIR / "mixed_data" / "singular3.csv", dtype={"trust": str, "team": str})
    sing = _mixed("y ~ x + (1 | trust) + (1 | team)", data)
    assert sing.singular
    tab = tc.model_table({"A": M0, "Singular": sing}, random="sd")
    note = [n for n in tab.notes if n.startswith("Singular: singular fit")]
    assert len(note) == 1 and "simplify the random part" in note[0]
    assert not any(n.startswith("A: singular") for n in tab.notes)
    assert _cell(tab, ("Random effects", "SD trust"), "Singular") == "0.00"  # a zero variance prints as zero


# ---------------------------------------------------------------------------
# GLMMs (tc.glmm): read through the reporting area's adapter
# ---------------------------------------------------------------------------
_STAFF = tc.national_survey("tiny", rng=4).staff
_STAFF = _STAFF.assign(y=(_STAFF["out_stress"] == 2).astype(float))


def _glmm(formula, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        return tc.glmm(formula, _STAFF, **kw)


LOGIT = _glmm("y ~ tenure + (1 | trust/team)")
SLOPES = _glmm("y ~ tenure + (1 + tenure | team)")
PROBIT = _glmm("y ~ tenure + (1 | team)", link="probit")
COUNT = _glmm("y ~ tenure + (1 | trust/team)", family="poisson")


def test_glmm_odds_ratios_random_part_vpc_r2_and_criteria_are_the_fits():
    tab = tc.model_table({"Logit": LOGIT, "Poisson": COUNT})
    v = tab.to_frame()
    c = LOGIT.coefficients
    assert_allclose(v.loc[("Logit", "Fixed effects", "tenure"), ["estimate", "ci_low", "ci_high"]].to_numpy(float),
                    np.exp(c.loc["tenure", ["estimate", "ci_low", "ci_high"]].to_numpy(float)), rtol=1e-14)
    assert list(tab.table["Logit"].columns) == ["OR", "95% CI", "p"]
    assert list(tab.table["Poisson"].columns) == ["IRR", "95% CI", "p"]
    for g in ("trust", "trust:team"):
        assert v.loc[("Logit", "Random effects", f"τ00 {g}"), "estimate"] == LOGIT.variance_components[g]
        assert v.loc[("Logit", "Random effects", f"VPC {g}"), "estimate"] == LOGIT.icc().loc[g, "vpc"]
        assert v.loc[("Logit", "Random effects", f"N {g}"), "estimate"] == LOGIT.n_groups[g]
    r2 = LOGIT.r_squared()
    assert v.loc[("Logit", "Model fit", "Marginal R²"), "estimate"] == r2["marginal"]
    assert v.loc[("Logit", "Model fit", "Conditional R²"), "estimate"] == r2["conditional"]
    for row, want in (("Log-likelihood", LOGIT.loglik), ("AIC", LOGIT.aic), ("BIC", LOGIT.bic)):
        assert v.loc[("Logit", "Model fit", row), "estimate"] == want
    assert ("Random effects", "σ²") not in tab.table.index  # a GLMM has no residual variance on the link scale
    assert _cell(tab, ("Random effects", "VPC trust"), "Poisson") == ""  # no latent partition for Poisson
    assert _cell(tab, ("Model fit", "Estimation"), "Logit") == "ML, Laplace"
    assert any("latent scale (residual variance pi^2/3, logit link)" in n for n in tab.notes)
    assert any(n.startswith("Logit: singular fit") for n in tab.notes) == LOGIT.singular
    assert "nan" not in str(tab).lower().split()


def test_glmm_random_slopes_show_variances_and_the_correlation():
    tab = tc.model_table(SLOPES, random="variance")
    v = tab.to_frame().loc["Model 1"]
    vc = SLOPES.variance_components
    assert v.loc[("Random effects", "τ00 team"), "estimate"] == vc["team|(Intercept)"]
    assert v.loc[("Random effects", "τ11 team.tenure"), "estimate"] == vc["team|tenure"]
    corr = vc["team|(Intercept),tenure"] / np.sqrt(vc["team|(Intercept)"] * vc["team|tenure"])
    assert_allclose(v.loc[("Random effects", "ρ01 team"), "estimate"], corr, rtol=1e-14)
    assert_allclose(SLOPES.summary().tables[-1][1]["corr"].dropna().iloc[0], corr, rtol=1e-12)
    assert ("Random effects", "VPC team") not in tab.table.index  # depends on the slope variable


def test_glmm_probit_coefficients_are_not_exponentiated():
    tab = tc.model_table(PROBIT)
    assert list(tab.table["Model 1"].columns) == ["Estimate", "95% CI", "p"]
    assert tab.to_frame().loc[("Model 1", "Fixed effects", "tenure"), "estimate"] == PROBIT.coefficients.loc[
        "tenure", "estimate"]
    assert any("residual variance 1, probit link" in n for n in tab.notes)
    with pytest.raises(ValueError, match="identity or probit link"):
        tc.model_table(PROBIT, exponentiate=True)
