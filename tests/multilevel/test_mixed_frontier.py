"""Uncorrelated random slopes and crossed random factors against lme4 + lmerTest (+ performance).

Oracles:

* ``tests/reference/lme4_frontier.json`` (``lme4_frontier.R``, data from
  ``make_frontier_data.py``): tightly converged lme4 fits (bobyqa at rhoend
  1e-12, then Nelder-Mead) by REML and ML of uncorrelated slopes, nested or not
  (``(1 + x || team)``, ``(1 | trust) + (1 | team) + (0 + x | team)`` also with
  trusts of very unequal size, ``(1 + x || trust) + (1 | team)``,
  ``(1 + x | trust) + (1 | team) + (0 + x | team)``), and crossed factors
  (teams x occupations with intercepts and slopes, trusts/teams x occupations,
  trusts x years with their interaction, reused team labels read as lme4 reads
  them, a singular crossed fit, and ``lme4::Penicillin``); lmerTest's
  Satterthwaite df, ``performance::r2_nakagawa`` and ``anova()`` comparisons.
  Penicillin (GPL data) is read through R at test time and never committed; the
  test is skipped without R.
* ``slope3_corr2`` and ``slope3_uncorr3`` of ``tests/reference/lme4_reference.json``
  (lme4 at its default tolerances, formerly the statsmodels backend's oracle).

Tolerances: criterion <= lme4's + 1e-6 and within 1e-6 of it; fixed effects and
their covariance rtol 1e-6 / 1e-5; variance components rtol 1e-5; Satterthwaite
df rtol 1e-5; BLUPs atol 1e-5, conditional variances rtol 1e-5; R² and LRT
statistics rtol 1e-6. Observed: criteria within 2e-11, df within 3e-6, the rest
within 1e-6.
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import _mixed_fixtures as fx
import teamculture as tc
from teamculture.errors import BoundaryWarning, ConvergenceWarning, NestingWarning

REFDIR = Path(__file__).resolve().parents[1] / "reference"
FRONTIER = json.loads((REFDIR / "lme4_frontier.json").read_text())
MODELS = FRONTIER["models"]
GROUPS = ("trust", "team", "occ", "year", "cat", "plate", "sample")


@lru_cache(maxsize=None)
def _penicillin() -> pd.DataFrame:
    if shutil.which("Rscript") is None:
        pytest.skip("R is not available: lme4::Penicillin is read through R at test time (never committed)")
    proc = subprocess.run(["Rscript", "-e", "write.csv(lme4::Penicillin, stdout(), row.names = FALSE)"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"lme4::Penicillin could not be read through R: {proc.stderr.strip()[-200:]}")
    return pd.read_csv(io.StringIO(proc.stdout), dtype={"plate": str, "sample": str})


@lru_cache(maxsize=None)
def _data(name: str) -> pd.DataFrame:
    if name == "Penicillin":
        return _penicillin()
    folder = "frontier_data" if (REFDIR / "frontier_data" / f"{name}.csv").exists() else "mixed_data"
    return pd.read_csv(REFDIR / folder / f"{name}.csv", dtype={g: str for g in GROUPS})


@lru_cache(maxsize=None)
def _fit(model_id: str, reml: bool):
    import warnings

    m = MODELS[model_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NestingWarning)  # asserted in its own tests below
        warnings.simplefilter("ignore", BoundaryWarning)
        return tc.mixed(m["formula"], _data(m["dataset"]), reml=reml)


def _term(t: str) -> str:
    return "Intercept" if t == "(Intercept)" else t


def _vc_expected(ref: dict) -> pd.Series:
    """lme4's VarCorr renamed to teamculture's index: per lme4 term (``team``, ``team.1``), a lone random
    intercept is ``g``, else ``g|term`` for variances and ``g|t1,t2`` for covariances."""
    by_term: dict[str, list[dict]] = {}
    for v in ref["varcorr"]:
        by_term.setdefault(v["grp"], []).append(v)
    out = {}
    for grp, rows in by_term.items():
        if grp == "Residual":
            out["residual"] = rows[0]["vcov"]
            continue
        g = grp.split(".")[0] if grp.split(".")[-1].isdigit() else grp
        terms = [r["var1"] for r in rows if r["var2"] is None]
        for r in rows:
            if terms == ["(Intercept)"]:
                out[g] = r["vcov"]
            elif r["var2"] is None:
                out[f"{g}|{_term(r['var1'])}"] = r["vcov"]
            else:
                out[f"{g}|{_term(r['var1'])},{_term(r['var2'])}"] = r["vcov"]
    return pd.Series(out, dtype=float)


CASES = [pytest.param(mid, method, marks=[pytest.mark.needs_r] if MODELS[mid]["dataset"] == "Penicillin" else [])
         for mid in MODELS for method in ("REML", "ML")]
ENGINES = {"uncorr2": "nested-slopes", "uncorr3": "nested-slopes", "uncorr3_unequal": "nested-slopes",
           "uncorr3_trust": "nested-slopes", "corrtrust_uncorrteam": "nested-slopes", "crossed2_team": "nested"}


@pytest.mark.parametrize(("model_id", "method"), CASES)
def test_matches_tightly_converged_lme4_and_lmertest(model_id, method):
    m = MODELS[model_id]
    ref = m[method]
    res = _fit(model_id, method == "REML")
    assert res.engine == ENGINES.get(model_id, "crossed")
    assert res.reml == (method == "REML") and res.converged
    assert res.deviance <= ref["crit"] + 1e-6
    assert_allclose(res.deviance, ref["crit"], rtol=0, atol=1e-6)
    assert_allclose(res.loglik, ref["loglik"], rtol=0, atol=5e-7)
    assert res.n_obs == ref["nobs"] and res.singular == ref["singular"]
    assert dict(res.n_groups) == ref["ngrps"]
    if model_id != "reused_crossed":  # R names cat's dummies "catb", formulaic "cat[T.b]"
        assert list(res.fixed_effects.index) == [_term(n) for n in ref["fixef_names"]]
    assert_allclose(res.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-6, atol=1e-9)
    assert_allclose(res.cov_params.to_numpy(), np.array(ref["vcov"]), rtol=1e-5, atol=1e-12)
    assert_allclose(res.coefficients["df"].to_numpy(), ref["satterthwaite_df"], rtol=1e-5)
    expected = _vc_expected(ref)
    assert sorted(res.variance_components.index) == sorted(expected.index)
    assert_allclose(res.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-10)
    assert res.n_params == len(ref["fixef"]) + len(ref["theta"]) + 1
    for g, rv in ref["ranef"].items():
        ours = res.random_effects[g]
        terms = [_term(t) for t in rv["terms"]]
        levels = rv["levels"]
        assert sorted(map(str, ours.index)) == sorted(levels)
        ours = ours.set_axis(ours.index.map(str)).reindex(levels)
        cv_ref = np.array(rv["condvar"]).reshape(len(levels), len(terms), len(terms))
        cv_ref = np.stack([np.diag(c) for c in cv_ref])
        if list(ours.columns) == ["blup", "cond_var"]:
            blup, cvar = ours[["blup"]].to_numpy(), ours[["cond_var"]].to_numpy()
        else:
            blup, cvar = ours[terms].to_numpy(), ours[[f"cond_var:{t}" for t in terms]].to_numpy()
        ref_blup = np.column_stack([rv["values"][t] for t in rv["terms"]])
        assert_allclose(blup, ref_blup, rtol=0, atol=1e-5)
        assert_allclose(cvar, cv_ref, rtol=1e-5, atol=1e-12)
    if ref["r2_nakagawa"] is not None:
        r2 = res.r_squared()
        assert_allclose([r2.conditional, r2.marginal],
                        [ref["r2_nakagawa"]["conditional"], ref["r2_nakagawa"]["marginal"]], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("comparison", FRONTIER["comparisons"], ids=lambda c: f"{c['full']}-{c['reduced']}")
def test_likelihood_ratio_tests_match_anova(comparison):
    full = _fit(comparison["full"], True)
    reduced = _fit(comparison["reduced"], True)
    res = full.compare(reduced)
    assert res.refitted == comparison["refit"]
    assert res.df == comparison["df"]
    assert_allclose(res.statistic, comparison["chisq"], rtol=1e-6)
    assert_allclose(res.pvalue_chi2, comparison["pvalue"], rtol=1e-5)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("model_id", ["slope3_corr2", "slope3_uncorr3"])
def test_default_lme4_fits_of_the_former_backend_models(model_id, method):
    ref = fx.lme4_reference()["models"][model_id]
    fit = tc.mixed(ref["formula"], fx.mixed_data("slope3"), reml=method == "REML")
    r = ref[method]
    crit = r["remlcrit"] if method == "REML" else r["deviance"]
    assert fit.engine == "nested-slopes" and fit.converged
    assert fit.deviance <= crit + 1e-6
    assert_allclose(fit.fixed_effects.to_numpy(), r["fixef"], rtol=1e-5)
    # lme4 at its default tolerances stops up to 3e-5 (relative) short in the flat slope directions
    expected = fx.varcorr_series(r).rename(lambda k: k.replace("(Intercept)", "Intercept"))
    if model_id == "slope3_uncorr3":
        expected = expected.rename({"team|Intercept": "team"})
    assert_allclose(fit.variance_components[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-4)
    assert_allclose(fit.coefficients["df"].to_numpy(), r["satterthwaite"]["df"], rtol=1e-4)
    assert fit.n_params == r["loglik_df"]


# --------------------------------------------------------------------------- lme4's reading of the factors
def test_reused_labels_are_crossed_as_in_lme4_with_a_nesting_warning():
    data = fx.mixed_data("reused3")
    ref = MODELS["reused_crossed"]["REML"]
    with pytest.warns(NestingWarning, match=r"'team' labels occur in more than one 'trust'.*crossed random effects, "
                                            r"as lme4 fits them.*\(1 \| trust/team\)"):
        fit = tc.mixed("y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", data)
    assert fit.engine == "crossed" and "crossed" in fit.nesting
    assert_allclose(fit.deviance, ref["crit"], rtol=0, atol=1e-6)
    nested = tc.mixed("y ~ x + cat + z + x:z + (1 | trust/team)", data)
    assert nested.engine == "nested" and abs(nested.deviance - fit.deviance) > 1.0  # a different model


def test_interaction_term_shows_crossing_is_meant_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = tc.mixed(MODELS["panel_ri"]["formula"], _data("panel"))
    assert fit.engine == "crossed"
    assert "not nested" in fit.nesting and "crossed" in fit.nesting


def test_crossed_summary_icc_pickle_refit():
    with pytest.warns(NestingWarning):
        fit = tc.mixed("y ~ x + (1 | team) + (1 | occ)", _data("crossed2"))
    text = str(fit.summary())
    assert "crossed" in text and "occ" in text and "team" in text
    vc = fit.variance_components
    icc = fit.icc()
    assert_allclose(icc["vpc"].to_numpy(), (vc / vc.sum()).to_numpy(), rtol=1e-12)
    assert_allclose(icc.loc[["team", "occ"], "icc"].to_numpy(), (vc / vc.sum())[["team", "occ"]].to_numpy())
    again = pickle.loads(pickle.dumps(fit))
    assert again == fit
    ml = fit.refit(reml=False)
    assert not ml.reml and ml.engine == "crossed"
    assert_allclose(ml.deviance, MODELS["crossed2_ri"]["ML"]["crit"], rtol=0, atol=1e-6)
    assert list(fit.to_frame().columns) == ["estimate", "std_error", "statistic", "df", "pvalue", "ci_low", "ci_high"]


def test_singular_crossed_fit_warns_and_reports_zero():
    with pytest.warns(BoundaryWarning, match=r"boundary \(singular\) fit"):
        with pytest.warns(NestingWarning):
            fit = tc.mixed(MODELS["crossed0_ri"]["formula"], _data("crossed0"))
    assert fit.singular and fit.variance_components["occ"] == 0.0
    assert fit.random_effects["occ"]["blup"].eq(0.0).all()
    assert "Singular fit" in str(fit.summary())


def test_non_convergence_is_never_silent(monkeypatch):
    from teamculture.multilevel import _blocked

    def stalled(self, x, reml, maxiter=200):
        return x, self.criterion(x, reml), False

    def no_better(fun, x0, **kw):  # every fallback run ends where it started
        from scipy.optimize import OptimizeResult

        return OptimizeResult(x=np.asarray(x0), fun=float(fun(x0)[0]), success=False)

    monkeypatch.setattr(_blocked.BlockedModel, "_newton", stalled)
    monkeypatch.setattr(_blocked.optimize, "minimize", no_better)
    with pytest.warns(ConvergenceWarning, match=r"did not converge .*nested-slopes engine"):
        fit = tc.mixed("y ~ x + (1 + x | team)", fx.mixed_data("slope3"))
    assert not fit.converged
    assert "NO: the estimates may not be the optimum" in str(fit.summary())
    assert any("did not confirm convergence" in n for n in fit.notes)


def test_uncorrelated_double_bar_equals_written_out_terms():
    data = fx.mixed_data("slope3")
    a = tc.mixed("y ~ x + (1 + x || team)", data)
    b = tc.mixed("y ~ x + (1 | team) + (0 + x | team)", data)
    c = tc.mixed("y ~ x + (x || team)", data)
    assert a.engine == b.engine == "nested-slopes"
    assert_allclose(a.deviance, b.deviance, rtol=1e-13)
    assert_allclose(c.deviance, b.deviance, rtol=1e-13)
    assert list(a.variance_components.index) == ["team", "team|x", "residual"]
    assert_allclose(a.deviance, MODELS["uncorr2"]["REML"]["crit"], rtol=0, atol=1e-6)
