"""Correlated team slopes nested in trusts: the ``"nested-slopes"`` fits of the block-elimination engine.

Oracles:

* ``tests/reference/lme4_nested_slopes.json`` (``lme4_nested_slopes.R``):
  lme4 + lmerTest fits refitted with tight optimiser tolerances (bobyqa
  rhoend 1e-12, then Nelder-Mead). Tolerances: criterion within 1e-6 of
  lme4's (and so <= lme4's + 1e-6); fixed effects, variance components and
  standard errors rtol 1e-5; Satterthwaite df rtol 1e-4 (numerical
  derivatives on both sides); BLUPs atol 1e-5 and conditional variances rtol
  1e-5. Observed: criteria within 3e-12, everything else within 2e-6.
* ``slope3_corr3`` of ``tests/reference/lme4_reference.json`` (lme4's
  default tolerances), its LRT against ``slope3_ri3`` and its Nakagawa R².
  lme4's default fit stops short in flat directions (ML trust variance
  2.3e-5 relative from the optimum, criterion 3e-9 above ours), so there
  variance components are compared at rtol 1e-4.
* The dense ``n x n`` oracle of the engine itself is in ``test_mixed_blocked.py``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

REFDIR = Path(__file__).resolve().parents[1] / "reference"
TIGHT = json.loads((REFDIR / "lme4_nested_slopes.json").read_text())["models"]
DEFAULT = json.loads((REFDIR / "lme4_reference.json").read_text())


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFDIR / "mixed_data" / f"{name}.csv", dtype={"trust": str, "team": str, "cat": str})


@lru_cache(maxsize=None)
def _fit(formula: str, dataset: str, reml: bool):
    import _mixed_fixtures as fx

    return fx.mixed_fit(formula, _data(dataset), reml=reml)


def _vc_expected(ref: dict) -> pd.Series:
    """lme4's VarCorr rows renamed to teamculture's index ("g", "g|term", "g|t1,t2", "residual")."""
    def term(t: str) -> str:
        return "Intercept" if t == "(Intercept)" else t

    out = {}
    for v in ref["varcorr"]:
        g = v["grp"]
        if g == "Residual":
            out["residual"] = v["vcov"]
        elif len(ref["ranef"][g]["terms"]) == 1:
            out[g] = v["vcov"]
        elif v["var2"] is None:
            out[f"{g}|{term(v['var1'])}"] = v["vcov"]
        else:
            out[f"{g}|{term(v['var1'])},{term(v['var2'])}"] = v["vcov"]
    return pd.Series(out, dtype=float)


CASES = [(mid, method) for mid in TIGHT for method in ("REML", "ML")]


@pytest.mark.parametrize(("model_id", "method"), CASES)
def test_matches_tightly_converged_lme4(model_id, method):
    m = TIGHT[model_id]
    ref = m[method]
    res = _fit(m["formula"], m["dataset"], method == "REML")
    assert res.engine == "nested-slopes"
    assert res.reml == (method == "REML") and res.converged
    assert res.deviance <= ref["crit"] + 1e-6
    assert_allclose(res.deviance, ref["crit"], rtol=0, atol=1e-6)
    assert_allclose(res.loglik, ref["loglik"], rtol=0, atol=5e-7)
    assert res.n_obs == ref["nobs"]
    assert res.singular == ref["singular"]
    assert dict(res.n_groups) == ref["ngrps"]
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    assert_allclose(res.cov_params.to_numpy(), np.array(ref["vcov"]), rtol=1e-5)
    assert_allclose(res.coefficients["std_error"].to_numpy(), np.sqrt(np.diag(ref["vcov"])), rtol=1e-5)
    assert_allclose(res.coefficients["df"].to_numpy(), ref["satterthwaite_df"], rtol=1e-4)
    expected = _vc_expected(ref)
    assert sorted(res.variance_components.index) == sorted(expected.index)
    assert_allclose(res.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-9)
    n_theta = len(ref["theta"])
    assert res.n_params == len(ref["fixef"]) + n_theta + 1 and len(res.theta) == n_theta
    for g, rv in ref["ranef"].items():
        ours = res.random_effects[g]
        terms = ["Intercept" if t == "(Intercept)" else t for t in rv["terms"]]
        levels = rv["levels"]
        assert sorted(map(str, ours.index)) == sorted(levels)
        ours = ours.set_axis(ours.index.map(str)).reindex(levels)
        cv_ref = np.array(rv["condvar"]).reshape(len(levels), len(terms), len(terms))
        cv_ref = np.stack([np.diag(c) for c in cv_ref])
        if len(terms) == 1:
            blup, cvar = ours[["blup"]].to_numpy(), ours[["cond_var"]].to_numpy()
        else:
            blup, cvar = ours[terms].to_numpy(), ours[[f"cond_var:{t}" for t in terms]].to_numpy()
        ref_blup = np.column_stack([rv["values"][t] for t in rv["terms"]])
        assert_allclose(blup, ref_blup, rtol=0, atol=1e-5)
        assert_allclose(cvar, cv_ref, rtol=1e-5, atol=1e-12)  # exact zeros at a zero variance


def test_colon_form_is_the_same_model_named_as_written():
    m = TIGHT["slope3_corr3"]
    a = _fit(m["formula"], "slope3", True)
    b = _fit(TIGHT["slope3_corr3_colon"]["formula"], "slope3", True)
    assert list(b.variance_components.index) == [
        "trust", "trust:team|Intercept", "trust:team|x", "trust:team|Intercept,x", "residual"]
    assert list(a.variance_components.index) == ["trust", "team|Intercept", "team|x", "team|Intercept,x", "residual"]
    assert_allclose(b.deviance, a.deviance, rtol=1e-12)
    assert_allclose(b.variance_components.to_numpy(), a.variance_components.to_numpy(), rtol=1e-6)
    assert list(b.random_effects["trust:team"].columns) == ["Intercept", "x", "cond_var:Intercept", "cond_var:x"]
    assert list(a.random_effects["trust"].columns) == ["blup", "cond_var"]


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_default_lme4_fit_is_not_better(method):
    m = DEFAULT["models"]["slope3_corr3"]
    ref = m[method]
    res = _fit(m["formula"], m["dataset"], method == "REML")
    crit = ref["remlcrit"] if method == "REML" else ref["deviance"]
    assert res.deviance <= crit + 1e-6
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    expected = _vc_expected({**ref, "ranef": {"trust": {"terms": ["(Intercept)"]},
                                              "team": {"terms": ["(Intercept)", "x"]}}})
    assert_allclose(res.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-4)


def test_interface_refit_compare_r2_and_summary():
    m = DEFAULT["models"]["slope3_corr3"]
    data = _data("slope3")
    before = data.copy()
    import teamculture as tc

    fit = tc.mixed(m["formula"], data)
    pd.testing.assert_frame_equal(data, before)
    ml = fit.refit(reml=False)
    assert ml.engine == "nested-slopes" and not ml.reml
    assert_allclose(ml.deviance, _fit(m["formula"], "slope3", False).deviance, rtol=1e-10)
    reduced = tc.mixed("y ~ x + (1 | trust) + (1 | team)", data)
    cmp_ref = next(c for c in DEFAULT["comparisons"]
                   if c["full"] == "slope3_corr3" and c["reduced"] == "slope3_ri3" and not c["refit"])
    res = fit.compare(reduced)
    assert res.df == cmp_ref["df"]
    assert_allclose(res.statistic, cmp_ref["chisq"], rtol=1e-6)
    r2_ref = m["REML"]["r2_nakagawa"]
    r2 = fit.r_squared()
    assert_allclose([r2.marginal, r2.conditional], [r2_ref["marginal"], r2_ref["conditional"]], rtol=1e-4)
    ci = fit.confidence_interval()
    assert list(ci.columns) == ["ci_low", "ci_high"] and bool((ci["ci_low"] < fit.fixed_effects).all())
    text = str(fit.summary())
    assert "nested-slopes" in text and "Corr" in text and "(Intercept)" in text
    with pytest.raises(ValueError, match="random-intercept model"):
        fit.icc()
