"""Path-model numbers against R: lavaan (ML estimates, SEs, `:=` delta SEs), lm, glm and sandwich.

Oracle: ``tests/reference/lavaan_mediation.R`` -> ``lavaan_mediation.json`` (data drawn in R and
stored with the results). lavaan estimates by numerical optimisation, so its numbers agree with the
closed-form least squares to about 1e-8: compared at rtol 1e-6. lm/glm/sandwich are closed forms or
converged to 1e-14: rtol 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _reference import load_json
from numpy.testing import assert_allclose

from teamculture.mediation import mediate

REF = load_json("lavaan_mediation.json")
LAVAAN_RTOL = 1e-6
#: absolute tolerance of estimates near zero (intercepts): lavaan stops its optimiser at ~4e-8
LAVAAN_ATOL = 2e-7


def _lav(model: str) -> dict[str, tuple[float, float]]:
    t = REF[model]["lavaan"]
    return {k: (e, s) for k, e, s in zip(t["names"], t["est"], t["se"])}


def _fit(model: str, **kw):
    return mediate(pd.DataFrame(REF[model]["data"]), estimator="ml", method="monte_carlo", n_resamples=50,
                   rng=0, **kw)


def _check_paths(res, lav, equations):
    for (eq, terms) in equations.items():
        for term in terms:
            row = res.paths.loc[("single", eq, term)]
            key = f"{eq}~1" if term == "Intercept" else f"{eq}~{term}"
            assert_allclose(row["estimate"], lav[key][0], rtol=LAVAAN_RTOL, atol=LAVAAN_ATOL, err_msg=key)
            assert_allclose(row["std_error"], lav[key][1], rtol=LAVAAN_RTOL, err_msg=key)


def test_single_mediator_matches_lavaan():
    res = _fit("A", predictors="x", mediators="m", outcome="y", covariates="z")
    lav = _lav("A")
    _check_paths(res, lav, {"m": ["Intercept", "x", "z"], "y": ["Intercept", "m", "x", "z"]})
    e = res.effects
    for (pred, eff, path), key in {("x", "indirect", "m"): "ind", ("x", "total", ""): "total"}.items():
        assert_allclose(e.loc[(pred, eff, path), "estimate"], lav[key][0], rtol=LAVAAN_RTOL)
        assert_allclose(e.loc[(pred, eff, path), "delta_std_error"], lav[key][1], rtol=LAVAAN_RTOL)
    # the direct effect is the path c
    assert_allclose(e.loc[("x", "direct", ""), "estimate"], lav["y~x"][0], rtol=LAVAAN_RTOL)


def test_parallel_mediators_match_lavaan():
    preds = ["leadership", "support", "pressure"]
    res = _fit("B", predictors=preds, mediators=["engagement", "valued"], outcome="satisfaction",
               covariates="size")
    lav = _lav("B")
    _check_paths(res, lav, {"engagement": ["Intercept", *preds, "size"], "valued": ["Intercept", *preds, "size"],
                            "satisfaction": ["Intercept", "engagement", "valued", *preds, "size"]})
    e = res.effects
    for x in preds:
        for m in ("engagement", "valued"):
            row = e.loc[(x, "indirect", m)]
            assert_allclose(row["estimate"], lav[f"ind_{x}_{m}"][0], rtol=LAVAAN_RTOL)
            assert_allclose(row["delta_std_error"], lav[f"ind_{x}_{m}"][1], rtol=LAVAAN_RTOL)
        assert_allclose(e.loc[(x, "total indirect", ""), "estimate"], lav[f"totind_{x}"][0], rtol=LAVAAN_RTOL)
        assert_allclose(e.loc[(x, "total indirect", ""), "delta_std_error"], lav[f"totind_{x}"][1],
                        rtol=LAVAAN_RTOL)
        assert_allclose(e.loc[(x, "total", ""), "estimate"], lav[f"total_{x}"][0], rtol=LAVAAN_RTOL)
        assert_allclose(e.loc[(x, "total", ""), "delta_std_error"], lav[f"total_{x}"][1], rtol=LAVAAN_RTOL)


def test_serial_chain_matches_lavaan():
    res = _fit("C", predictors=["x1", "x2"], mediators=[["engagement"], ["wellbeing"]], outcome="absence")
    lav = _lav("C")
    _check_paths(res, lav, {"engagement": ["Intercept", "x1", "x2"],
                            "wellbeing": ["Intercept", "engagement", "x1", "x2"],
                            "absence": ["Intercept", "wellbeing", "engagement", "x1", "x2"]})
    e = res.effects
    pairs = {("x1", "indirect", "engagement"): "ind_x1_engagement",
             ("x1", "indirect", "engagement -> wellbeing"): "ind_x1_engagement_wellbeing",
             ("x1", "indirect", "wellbeing"): "ind_x1_wellbeing",
             ("x2", "indirect", "engagement"): "ind_x2_engagement",
             ("x2", "indirect", "engagement -> wellbeing"): "ind_x2_engagement_wellbeing",
             ("x2", "indirect", "wellbeing"): "ind_x2_wellbeing",
             ("x1", "total indirect", ""): "totind_x1", ("x1", "total", ""): "total_x1"}
    for idx, key in pairs.items():
        assert_allclose(e.loc[idx, "estimate"], lav[key][0], rtol=LAVAAN_RTOL, err_msg=key)
        assert_allclose(e.loc[idx, "delta_std_error"], lav[key][1], rtol=LAVAAN_RTOL, err_msg=key)


def test_ols_standard_errors_match_lm():
    res = mediate(pd.DataFrame(REF["A"]["data"]), predictors="x", mediators="m", outcome="y", covariates="z",
                  method="monte_carlo", n_resamples=50, rng=0)
    for eq, key, order in (("m", "lm_m", ["Intercept", "x", "z"]), ("y", "lm_y", ["Intercept", "x", "z", "m"])):
        ref = REF["A"][key]
        got = res.paths.xs(("single", eq), level=("level", "equation")).loc[order]
        assert_allclose(got["estimate"], ref["est"], rtol=1e-9)
        assert_allclose(got["std_error"], ref["se"], rtol=1e-9)
        n = len(REF["A"]["data"]["x"])
        assert (got["df"] == n - len(order)).all()


@pytest.mark.parametrize("family", ["poisson", "quasipoisson"])
def test_count_outcome_matches_glm(family):
    d = pd.DataFrame(REF["D"]["data"])
    res = mediate(d, predictors="x", mediators="engagement", outcome="deaths", family=family, expected="expected",
                  method="monte_carlo", n_resamples=50, rng=0)
    ref = REF["D"][family]
    got = res.paths.xs(("single", "deaths"), level=("level", "equation")).loc[["Intercept", "x", "engagement"]]
    assert_allclose(got["estimate"], ref["est"], rtol=1e-9)
    assert_allclose(got["std_error"], ref["se"], rtol=1e-9)
    if family == "quasipoisson":
        assert_allclose(res.dispersion, REF["D"]["dispersion"], rtol=1e-9)
    # the indirect effect is the product of the two R coefficients
    a = REF["D"]["lm_m"]["est"][1]
    b = ref["est"][2]
    assert_allclose(res.effects.loc[("x", "indirect", "engagement"), "estimate"], a * b, rtol=1e-9)


def test_within_path_matches_fixed_effects_lm_with_cluster_robust_se():
    E = REF["E"]
    d = pd.DataFrame({"trust": E["trust"], "x1": E["x1"], "x2": E["x2"], "m": E["m"]})
    # a trust-level outcome (needed for the model; the within paths do not depend on it)
    codes = pd.factorize(d["trust"])[0]
    d["y"] = np.sin(codes).astype(float)
    # between="observed": in these data x1 and x2 are nearly collinear between trusts, so the corrected between
    # paths are (rightly) refused; the within paths do not depend on the between estimator
    res = mediate(d, predictors=["x1", "x2"], mediators="m", outcome="y", by="trust", between="observed",
                  method="monte_carlo", n_resamples=50, rng=0)
    got = res.paths.xs(("within", "m"), level=("level", "equation")).loc[["x1", "x2"]]
    assert_allclose(got["estimate"], E["est"], rtol=1e-9)
    assert_allclose(got["std_error"], E["se"], rtol=1e-9)
    assert (got["df"] == d["trust"].nunique() - 1).all()
