"""GLMMResult.variance_intervals (profile likelihood) against lme4's profile of glmer fits.

Generator: ``tests/reference/glmm_profile.R`` (``glmm_profile.json``; the data are those of
``tests/reference/make_glmm_data.py``). Data sets: ``three_level`` (binomial, staff in teams in
trusts), ``slopes`` (binomial, correlated random intercept and slope), ``poisson`` (counts with an
exposure offset, two levels), ``zero_trust`` (a singular fit: trust SD at zero) and ``agq_single``
(one scalar term fitted with 25 quadrature points).

Tolerances:

- Limits against ``confint(profile(fit))``: lme4 interpolates a spline through about 20 profile
  points per parameter, each from its own optimiser run, and inverts the spline; we invert the
  exact profile with a root finder. Measured differences were up to 8e-4 relative (three_level,
  trust SD), so ``rtol = 2e-3`` (``atol = 5e-4`` for a correlation's limit near 0).
- The profile itself at lme4's profile points: lme4's profiled deviance at a point comes from a
  bobyqa run with default tolerances; ours is never worse than lme4's by more than 1e-6 (we find
  the same or a higher profiled log-likelihood), and the two agree within 0.02 in deviance units
  (lme4's optimiser slack, measured up to 0.016); for the AGQ fit (one-dimensional inner problem)
  the signed roots agree to 1e-5.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from _glmm_helpers import data, fit
from _reference import load_json
from teamculture.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning
from teamculture.multilevel import glmm
from teamculture.multilevel._glmm_profile import profile_zeta
from teamculture.reporting import VarianceIntervals

PROFILE_REF = load_json("glmm_profile.json")
SETS = ["three_level", "slopes", "poisson", "zero_trust", "agq_single"]
_FITS: dict[str, object] = {}
_CIS: dict[str, object] = {}


def model(name: str):
    if name not in _FITS:
        if name == "agq_single":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the quadrature check of 25 points is not 1e-6 here (asserted elsewhere)
                _FITS[name] = glmm("y ~ x + (1 | team)", data(name), nagq=25)
        else:
            _FITS[name] = fit(name)
    return _FITS[name]


def intervals(name: str):
    if name not in _CIS:
        _CIS[name] = model(name).variance_intervals()
    return _CIS[name]


def our_name(r_name: str, names: list[str]) -> str:
    """lme4's ``sd_(Intercept)|team:trust`` / ``cor_x.(Intercept)|team`` -> our variance-component name."""
    kind, rest = r_name.split("_", 1)
    terms, group = rest.rsplit("|", 1)
    for n in names:
        if kind == "sd" and "|" not in n and frozenset(n.split(":")) == frozenset(group.split(":")):
            return n
        if kind == "sd" and n == f"{group}|{terms}":
            return n
        if kind == "cor":
            a, b = terms.split(".", 1)
            if n in (f"{group}|{a},{b}", f"{group}|{b},{a}"):
                return n
    raise KeyError(r_name)


@pytest.mark.parametrize("name", SETS)
def test_profile_limits_equal_lme4_confint(name):
    ref = PROFILE_REF[name]
    res = intervals(name)
    table = res.table
    assert len(table) == len(ref["parameters"])
    for i, rn in enumerate(ref["parameters"]):
        row = table.loc[our_name(rn, list(table.index))]
        atol = 5e-4 if rn.startswith("cor_") else 0.0
        assert_allclose(row["ci_low"], ref["ci95_low"][i], rtol=2e-3, atol=atol, err_msg=f"{name} {rn} low")
        assert_allclose(row["ci_high"], ref["ci95_high"][i], rtol=2e-3, atol=atol, err_msg=f"{name} {rn} high")
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    sd = (res.parameters == "sd").to_numpy()
    assert_allclose(table["variance_ci_low"].to_numpy()[sd], table["ci_low"].to_numpy()[sd] ** 2, rtol=1e-15)
    assert np.isnan(table["variance_ci_high"].to_numpy()[~sd]).all()
    assert res.method == "profile" and res.confidence_level == 0.95 and res.n_obs == ref["n_obs"]


def test_profile_limits_at_another_level_equal_lme4():
    ref = PROFILE_REF["poisson"]
    res = intervals("poisson")
    ci = res.confidence_interval(0.80)  # profiles again at 80%
    for i, rn in enumerate(ref["parameters"]):
        n = our_name(rn, list(ci.index))
        assert_allclose(ci.loc[n, "ci_low"], ref["ci80_low"][i], rtol=2e-3)
        assert_allclose(ci.loc[n, "ci_high"], ref["ci80_high"][i], rtol=2e-3)
    # the same as asking the model directly, and narrower than the 95% intervals
    direct = model("poisson").variance_intervals(confidence_level=0.8).table
    assert_allclose(direct[["ci_low", "ci_high"]].to_numpy(), ci.to_numpy(), rtol=1e-8)
    assert (ci["ci_low"] > res.table["ci_low"]).all() and (ci["ci_high"] < res.table["ci_high"]).all()


@pytest.mark.parametrize("name", ["three_level", "slopes", "agq_single"])
def test_profile_at_lme4s_profile_points(name):
    ref = PROFILE_REF[name]
    f = model(name)
    names = list(intervals(name).table.index)
    for rn in ref["parameters"]:
        pts = ref["points"][rn]
        value = np.array(pts["value"], dtype=float)
        zeta = np.array(pts["zeta"], dtype=float)
        keep = (np.abs(zeta) > 0.5) & (np.abs(zeta) < 3.0)  # the part that sets 80-99% limits
        if name == "slopes":
            keep &= np.arange(len(zeta)) % 2 == 0  # every other point: each costs a full refit
        ours = profile_zeta(f, our_name(rn, names), value[keep])
        assert np.all(np.sign(ours) == np.sign(zeta[keep]))
        # never a worse profiled maximum than lme4's optimiser found, and within its slack
        assert np.all(ours**2 <= zeta[keep] ** 2 + 2e-6), rn
        assert_allclose(ours**2, zeta[keep] ** 2, atol=0.02, rtol=0, err_msg=rn)
        if name == "agq_single":
            assert_allclose(ours, zeta[keep], atol=1e-5, rtol=0)


def test_singular_fit_lower_limit_zero():
    with pytest.warns(BoundaryWarning, match="singular fit"):
        f = glmm("y ~ x + team_type + (1 | trust/team)", data("zero_trust"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fit said it; the intervals add no warning (MixedResult's convention)
        res = f.variance_intervals()
    assert res.table.loc["trust", "estimate"] == 0.0 and res.table.loc["trust", "ci_low"] == 0.0
    assert res.table.loc["trust", "ci_high"] > 0.1
    assert "lower limit 0 for trust" in str(res.summary())


def test_upper_limit_not_reached_is_inf_with_a_warning():
    # 3 teams, nearly separated: the likelihood hardly bounds the team SD from above
    df = pd.DataFrame({"y": [1] * 10 + [0] * 10 + [1] * 5 + [0] * 5, "team": np.repeat([0, 1, 2], 10)})
    f = glmm("y ~ 1 + (1 | team)", df)
    with pytest.warns(DegenerateDataWarning, match=r"team \(upper limit: the profile reaches only .* of the "
                                                   r"cut-off 1.96 by a standard deviation of 30"):
        res = f.variance_intervals()
    assert res.table.loc["team", "ci_high"] == np.inf and res.table.loc["team", "variance_ci_high"] == np.inf
    assert 0 < res.table.loc["team", "ci_low"] < res.table.loc["team", "estimate"]


def test_lower_limit_not_reached_before_zero_is_zero():
    # a small team SD with few teams: the profile at SD 0 is still above the 95% cut-off
    rng = np.random.default_rng(5)
    team = np.repeat(np.arange(12), 15)
    eta = -0.3 + rng.normal(0, 0.35, 12)[team]
    df = pd.DataFrame({"y": rng.random(team.size) < 1 / (1 + np.exp(-eta)), "team": team})
    f = glmm("y ~ 1 + (1 | team)", df)
    assert f.variance_components["team"] > 0
    res = f.variance_intervals()
    assert res.table.loc["team", "ci_low"] == 0.0
    # the profile at zero is inside the cut-off, i.e. the lower limit really is the boundary
    z0 = profile_zeta(f, "team", [0.0])[0]
    assert -1.96 < z0 < 0


def test_result_protocol_pickle_and_equality():
    res = intervals("poisson")
    back = pickle.loads(pickle.dumps(res))
    assert back == res
    assert isinstance(res, VarianceIntervals)
    assert list(res.to_frame().columns) == ["estimate", "ci_low", "ci_high", "variance", "variance_ci_low",
                                            "variance_ci_high"]
    assert res.to_frame().dtypes.eq(float).all()
    text = str(res.summary())
    assert "Confidence intervals for the variance parameters" in text and "trust:team" in text
    assert res.confidence_interval().equals(res.table[["ci_low", "ci_high"]])
    assert_allclose(res.ml_estimate.to_numpy(), res.table["estimate"].to_numpy(), rtol=1e-5)


def test_profile_centre_above_the_fit_is_reported():
    # a fit that was stopped short: the profile finds the better maximum and says so
    import dataclasses

    f = model("poisson")
    worse = dataclasses.replace(f, loglik=f.loglik - 0.01)
    with pytest.warns(ConvergenceWarning, match="the profile found a log-likelihood 0.01 above the fit's"):
        worse.variance_intervals()


def test_profile_does_not_mutate_the_result():
    f = model("three_level")
    before = (f.coefficients.copy(), f.variance_components.copy(), f._design.copy(), f._k.copy())
    intervals("three_level")
    f.variance_intervals(confidence_level=0.5)
    assert f.coefficients.equals(before[0]) and f.variance_components.equals(before[1])
    assert f._design.equals(before[2]) and np.array_equal(f._k, before[3])


def test_single_random_slope_limits_invert_the_profile():
    # (0 + x | team): one SD of a slope (no lme4 record here): the limits are where zeta = -/+ z
    f = glmm("y ~ x + (0 + x | team)", data("slopes"))
    res = f.variance_intervals(confidence_level=0.9)
    lo, hi = res.table.loc["team|x", ["ci_low", "ci_high"]]
    assert 0 < lo < res.table.loc["team|x", "estimate"] < hi
    assert_allclose(profile_zeta(f, "team|x", [lo, hi]), [-1.6448536269514722, 1.6448536269514722], atol=1e-5)


def test_three_correlated_effects_are_refused():
    d = data("slopes")
    d = d.assign(z=np.random.default_rng(0).normal(size=len(d)).round(4))
    with pytest.warns(BoundaryWarning):
        f = glmm("y ~ x + z + (1 + x + z | team)", d)
    with pytest.raises(ValueError, match=r"`self`: profile intervals are implemented for random-slopes terms of at "
                                         r"most two correlated effects.*has 3"):
        f.variance_intervals()


def test_nested_quadrature_profile_is_close_to_laplace_and_inverts_its_own_profile():
    # two levels with adaptive quadrature (no R tool does this): the limits are where the AGQ profile crosses
    # -/+ z, and they sit near the Laplace ones on data where Laplace is adequate
    d = data("three_level")
    d = d[d["trust"].isin(sorted(d["trust"].unique())[:12])]
    lap = glmm("y ~ x + (1 | trust/team)", d).variance_intervals().table
    with pytest.warns(ConvergenceWarning, match="quadrature has not converged"):
        f = glmm("y ~ x + (1 | trust/team)", d, nagq=5)
    agq = f.variance_intervals().table
    assert_allclose(agq[["ci_low", "ci_high"]].to_numpy(), lap[["ci_low", "ci_high"]].to_numpy(), atol=0.05)
    hi = agq.loc["trust:team", "ci_high"]
    assert_allclose(profile_zeta(f, "trust:team", [hi]), [1.959963984540054], atol=1e-5)
