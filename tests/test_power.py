"""Tests for teamculture.power: three-level design effects and power.

Oracles: R's ``power.t.test`` and ``pt``/``qt`` (committed fixture
``tests/reference/power_three_level.csv``), a dense covariance-matrix
computation of the estimators' variances written here, and a small Monte
Carlo simulation of the designs (a larger one is in
``benchmarks/bench_power.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture.power import (
    PowerResult,
    design_effect_three_level,
    minimum_detectable_effect,
    power_three_level,
    sample_size_three_level,
)


@pytest.fixture(scope="module")
def power_reference(reference_dir):
    path = reference_dir / "power_three_level.csv"
    with open(path) as fh:
        assert "generated, do not edit" in fh.readline()
    return pd.read_csv(path, comment="#")


def _design(row):
    return dict(
        n_trusts=int(row.n_trusts), teams_per_trust=int(row.teams_per_trust),
        staff_per_team=int(row.staff_per_team), icc_team=row.icc_team, icc_trust=row.icc_trust,
        alpha=row.alpha,
    )


def test_trust_level_power_matches_r_power_t_test(power_reference):
    for row in power_reference.itertuples():
        d = _design(row)
        res = power_three_level(row.effect, **d)
        assert_allclose(res.variance_factor, row.deff, rtol=1e-13)
        assert_allclose(res.power, row.power_trust, rtol=1e-9, atol=1e-12)
        one = power_three_level(row.effect, alternative="greater", **d)
        assert_allclose(one.power, row.power_trust_one_sided, rtol=1e-9, atol=1e-12)


def test_team_and_staff_level_power_match_r_noncentral_t(power_reference):
    for row in power_reference.itertuples():
        d = _design(row)
        assert_allclose(power_three_level(row.effect, predictor_level="team", **d).power, row.power_team,
                        rtol=1e-9, atol=1e-12)
        if d["staff_per_team"] > 1:
            assert_allclose(power_three_level(row.effect, predictor_level="staff", **d).power, row.power_staff,
                            rtol=1e-9, atol=1e-12)


def test_minimum_detectable_effect_matches_r(power_reference):
    # R solves with uniroot(tol = 1e-13) on delta: agreement to ~1e-9 relative
    for row in power_reference.iloc[::3].itertuples():
        mde = minimum_detectable_effect(**_design(row))
        assert_allclose(mde.effect, row.mde_trust, rtol=1e-8)
        assert_allclose(mde.power, 0.8, rtol=1e-10)


def test_number_of_trusts_matches_r(power_reference):
    # R returns trusts per arm unrounded; the smallest whole number of trusts is ceil(2 n)
    for row in power_reference.iloc[::5].itertuples():
        d = _design(row)
        d.pop("n_trusts")
        if row.n_per_arm_trust * 2 > 1e6:
            continue
        res = sample_size_three_level(row.effect, **d)
        assert res.n_trusts == max(3, math.ceil(2 * row.n_per_arm_trust - 1e-9))
        assert res.power >= 0.8


# ---------------------------------------------------------------------------
# the variance factors from a dense covariance matrix
# ---------------------------------------------------------------------------

def _dense_variance(k, j, n, r2, r3, x, absorb):
    """Variance of the OLS slope of y on x after absorbing `absorb` effects, Sigma dense."""
    trust = np.repeat(np.arange(k), j * n)
    team = np.repeat(np.arange(k * j), n)
    sigma = (np.equal.outer(trust, trust) * r3 + np.equal.outer(team, team) * r2
             + np.eye(k * j * n) * (1 - r2 - r3))
    if absorb == "none":
        xt = x - x.mean()
    else:
        g = trust if absorb == "trust" else team
        means = np.bincount(g, weights=x) / np.bincount(g)
        xt = x - means[g]
    return float(xt @ sigma @ xt) / float(xt @ xt) ** 2


@pytest.mark.parametrize("k,j,n,r2,r3", [(4, 3, 2, 0.1, 0.05), (6, 2, 5, 0.3, 0.2), (4, 4, 3, 0.0, 0.4)])
def test_variance_factors_equal_dense_covariance_computation(k, j, n, r2, r3):
    nn = k * j * n
    # trust level: half the trusts exposed
    x_trust = np.repeat((np.arange(k) % 2).astype(float), j * n)
    # team level: half the teams of every trust exposed
    x_team = np.repeat((np.arange(k * j) % 2).astype(float), n) if j % 2 == 0 else None
    # staff level: half the staff of every team exposed (n even) or a centred score
    x_staff = np.tile(np.arange(n) - (n - 1) / 2, k * j)
    common = dict(n_trusts=k, teams_per_trust=j, staff_per_team=n, icc_team=r2, icc_trust=r3)
    res = power_three_level(0.2, **common)
    assert_allclose(res.std_error**2, _dense_variance(k, j, n, r2, r3, x_trust, "none"), rtol=1e-12)
    if x_team is not None:
        res = power_three_level(0.2, predictor_level="team", **common)
        assert_allclose(res.std_error**2, _dense_variance(k, j, n, r2, r3, x_team, "trust"), rtol=1e-12)
    # a continuous staff-level predictor: V = its variance, effect per SD
    v = float(np.var(x_staff))
    res = power_three_level(0.2, predictor_level="staff", predictor="continuous", **common)
    dense = _dense_variance(k, j, n, r2, r3, x_staff, "team")  # per unit of x
    assert_allclose(res.std_error**2, dense * v, rtol=1e-12)
    assert_allclose(res.effective_n, nn / res.variance_factor, rtol=1e-15)


def test_design_effect_closed_form_and_two_level_reduction():
    assert_allclose(design_effect_three_level(10, 20, icc_team=0.1, icc_trust=0.02),
                    1 + 9 * 0.1 + 199 * 0.02, rtol=1e-15)
    # no trust variance: Kish's 1 + (m - 1) ICC; one staff member per team: teams act as staff
    assert_allclose(design_effect_three_level(12, 7, icc_team=0.15, icc_trust=0.0), 1 + 11 * 0.15, rtol=1e-15)
    assert_allclose(design_effect_three_level(1, 30, icc_team=0.2, icc_trust=0.1), 1 + 29 * 0.1, rtol=1e-15)
    trust = np.repeat(np.arange(1), 20 * 10)
    team = np.repeat(np.arange(20), 10)
    r2, r3 = 0.1, 0.02
    sigma = np.equal.outer(trust, trust) * r3 + np.equal.outer(team, team) * r2 + np.eye(200) * (1 - r2 - r3)
    var_mean = sigma.sum() / 200**2
    assert_allclose(design_effect_three_level(10, 20, icc_team=r2, icc_trust=r3), var_mean * 200, rtol=1e-12)


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------

def _simulate(rng, reps, k, j, n, r2, r3, effect, level):
    trust = np.repeat(np.arange(k), j * n)
    team = np.repeat(np.arange(k * j), n)
    if level == "trust":
        x = np.repeat((np.arange(k) % 2).astype(float), j * n)
    else:
        x = np.tile((np.arange(n) % 2).astype(float), k * j)
    y = (effect * x
         + rng.normal(0, math.sqrt(r3), (reps, k))[:, trust]
         + rng.normal(0, math.sqrt(r2), (reps, k * j))[:, team]
         + rng.normal(0, math.sqrt(1 - r2 - r3), (reps, k * j * n)))
    if level == "trust":
        means = np.stack([np.bincount(trust, weights=row) for row in y]) / (j * n)
        g = np.arange(k) % 2
        a, b = means[:, g == 1], means[:, g == 0]
        sp = ((a.var(axis=1, ddof=1) * (a.shape[1] - 1) + b.var(axis=1, ddof=1) * (b.shape[1] - 1))
              / (k - 2))
        t = (a.mean(axis=1) - b.mean(axis=1)) / np.sqrt(sp * (1 / a.shape[1] + 1 / b.shape[1]))
        df = k - 2
    else:  # within-team regression (team fixed effects)
        xt = x - (np.bincount(team, weights=x) / n)[team]
        team_means = np.stack([np.bincount(team, weights=row) for row in y]) / n
        yt = y - team_means[:, team]
        beta = yt @ xt / (xt @ xt)
        resid = yt - beta[:, None] * xt[None, :]
        df = k * j * n - k * j - 1
        t = beta / np.sqrt((resid**2).sum(axis=1) / df / (xt @ xt))
    from scipy import stats

    return float(np.mean(np.abs(t) > stats.t.isf(0.025, df)))


@pytest.mark.parametrize("level,effect", [("trust", 0.45), ("staff", 0.2)])
def test_power_agrees_with_monte_carlo(level, effect):
    k, j, n, r2, r3 = 12, 4, 6, 0.10, 0.05
    reps = 3000
    rate = _simulate(np.random.default_rng(20261126), reps, k, j, n, r2, r3, effect, level)
    predicted = power_three_level(effect, n_trusts=k, teams_per_trust=j, staff_per_team=n,
                                  icc_team=r2, icc_trust=r3, predictor_level=level).power
    assert 0.2 < predicted < 0.95  # an informative design
    assert abs(rate - predicted) < 4 * math.sqrt(predicted * (1 - predicted) / reps)


# ---------------------------------------------------------------------------
# solving
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("solve_for", ["n_trusts", "teams_per_trust", "staff_per_team"])
@pytest.mark.parametrize("level", ["trust", "staff"])
def test_sample_size_is_the_smallest_sufficient(solve_for, level):
    sizes = {"n_trusts": 30, "teams_per_trust": 6, "staff_per_team": 8}
    sizes[solve_for] = None
    effect = 0.4 if level == "trust" else 0.08
    res = sample_size_three_level(effect, solve_for=solve_for, icc_team=0.1, icc_trust=0.03,
                                  predictor_level=level, power=0.9, **sizes)
    assert res.power >= 0.9
    smaller = {"n_trusts": res.n_trusts, "teams_per_trust": res.teams_per_trust,
               "staff_per_team": res.staff_per_team}
    smaller[solve_for] -= 1
    try:
        below = power_three_level(effect, icc_team=0.1, icc_trust=0.03, predictor_level=level, **smaller).power
    except ValueError:  # too few degrees of freedom: not a valid design
        below = 0.0
    assert below < 0.9


def test_unreachable_power_raises_with_explanation():
    # 6 trusts cannot detect 0.3 SD at a trust level whatever the team size: SE >= sqrt(rho3/(K V))
    with pytest.raises(ValueError, match="no `teams_per_trust` up to"):
        sample_size_three_level(0.3, solve_for="teams_per_trust", n_trusts=6, staff_per_team=10,
                                icc_team=0.1, icc_trust=0.1)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

designs = st.fixed_dictionaries({
    "n_trusts": st.integers(3, 300),
    "teams_per_trust": st.integers(2, 40),
    "staff_per_team": st.integers(2, 40),
    "icc_team": st.floats(0.0, 0.45),
    "icc_trust": st.floats(0.0, 0.45),
    "predictor_level": st.sampled_from(["trust", "team", "staff"]),
})


@given(design=designs, e1=st.floats(0.0, 1.0), e2=st.floats(0.0, 1.0))
def test_power_monotone_in_effect_and_alpha_at_zero(design, e1, e2):
    lo, hi = sorted([e1, e2])
    p_lo = power_three_level(lo, **design).power
    p_hi = power_three_level(hi, **design).power
    assert p_lo <= p_hi + 1e-12
    assert_allclose(power_three_level(0.0, **design).power, 0.05, rtol=1e-9)
    assert_allclose(power_three_level(-hi, **design).power, p_hi, rtol=1e-9, atol=1e-14)


@given(design=designs, effect=st.floats(0.01, 0.8))
def test_power_monotone_in_number_of_trusts(design, effect):
    more = dict(design, n_trusts=design["n_trusts"] + 5)
    assert power_three_level(effect, **design).power <= power_three_level(effect, **more).power + 1e-12


@given(design=designs, effect=st.floats(0.01, 0.8))
def test_one_sided_symmetry_and_design_effect_bounds(design, effect):
    g = power_three_level(effect, alternative="greater", **design).power
    l_ = power_three_level(-effect, alternative="less", **design).power
    assert_allclose(g, l_, rtol=1e-10, atol=1e-14)
    deff = design_effect_three_level(design["staff_per_team"], design["teams_per_trust"],
                                     icc_team=design["icc_team"], icc_trust=design["icc_trust"])
    assert deff >= 1.0
    res = power_three_level(effect, **design)
    assert res.variance_factor <= deff + 1e-12  # a lower-level predictor is never worse off
    assert isinstance(res, PowerResult) and res.n_staff == (
        design["n_trusts"] * design["teams_per_trust"] * design["staff_per_team"])


@given(design=designs, target=st.floats(0.1, 0.99))
def test_mde_round_trip(design, target):
    mde = minimum_detectable_effect(power=target, **design)
    assert mde.effect > 0
    assert_allclose(power_three_level(mde.effect, **design).power, target, rtol=1e-9)


# ---------------------------------------------------------------------------
# validation and reporting
# ---------------------------------------------------------------------------

def test_validation_messages():
    base = dict(n_trusts=20, teams_per_trust=5, staff_per_team=8, icc_team=0.1, icc_trust=0.05)
    with pytest.raises(ValueError, match="`predictor_level`"):
        power_three_level(0.2, **dict(base, predictor_level="ward"))
    with pytest.raises(ValueError, match=r"`icc_team` \+ `icc_trust` must be < 1"):
        power_three_level(0.2, **dict(base, icc_team=0.6, icc_trust=0.5))
    with pytest.raises(ValueError, match=r"`icc_trust` must lie in \[0, 1\)"):
        power_three_level(0.2, **dict(base, icc_trust=-0.1))
    with pytest.raises(TypeError, match="`n_trusts` must be an integer"):
        power_three_level(0.2, **dict(base, n_trusts=2.5))
    with pytest.raises(ValueError, match="leaves 0 degrees of freedom.*at least 3 trusts"):
        power_three_level(0.2, **dict(base, n_trusts=2))
    with pytest.raises(ValueError, match=r"`alpha` must lie in \(0, 1\)"):
        power_three_level(0.2, **dict(base, alpha=0))
    with pytest.raises(ValueError, match=r"`share` must lie in \(0, 1\)"):
        power_three_level(0.2, **dict(base, share=1.0))
    with pytest.raises(ValueError, match="`power` must exceed `alpha`"):
        minimum_detectable_effect(power=0.01, **base)
    with pytest.raises(ValueError, match="leave it as None"):
        sample_size_three_level(0.2, **base)
    with pytest.raises(ValueError, match=r"`staff_per_team` must be given"):
        sample_size_three_level(0.2, n_trusts=None, teams_per_trust=5, icc_team=0.1, icc_trust=0.05)
    with pytest.raises(ValueError, match="wrong sign"):
        sample_size_three_level(-0.2, n_trusts=None, teams_per_trust=5, staff_per_team=8,
                                icc_team=0.1, icc_trust=0.05, alternative="greater")


def test_summary_mentions_the_design():
    res = power_three_level(0.3, n_trusts=40, teams_per_trust=10, staff_per_team=8, icc_team=0.11,
                            icc_trust=0.03)
    text = str(res)
    assert "40 trusts x 10 teams x 8 staff = 3,200 staff" in text
    assert f"{res.power:.3f}" in text
    assert res.to_dict()["df"] == 38
    assert res.n_obs is None and res.n_dropped == 0 and res.n_groups is None


def test_power_result_protocol():
    import pickle

    from teamculture.results import Summary

    res = power_three_level(0.3, n_trusts=40, teams_per_trust=10, staff_per_team=8, icc_team=0.11,
                            icc_trust=0.03)
    assert pickle.loads(pickle.dumps(res)) == res
    assert res != power_three_level(0.3, n_trusts=41, teams_per_trust=10, staff_per_team=8, icc_team=0.11,
                                    icc_trust=0.03)
    assert isinstance(res.summary(), Summary)
    assert res.to_frame().loc[0, "power"] == res.power
    with pytest.raises(TypeError, match="no confidence interval"):
        res.confidence_interval()
