"""Misuse suite of the mediation area (framework: tests/_misuse.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _misuse import Case, case_id, run_case
from numpy.testing import assert_allclose

from teamculture.errors import ConvergenceWarning, DroppedDataWarning, SmallGroupWarning
from teamculture.mediation import mediate
from teamculture.simulate import simulate_engagement

TRUSTS = simulate_engagement(n_trusts=60, rng=1).trusts
STAFF = simulate_engagement(n_trusts=25, staff_per_trust=30, rng=2).staff
BASE = dict(predictors="leadership", mediators="engagement", outcome="patient_satisfaction", n_resamples=50, rng=0)


def _call(data=TRUSTS, **kw):
    args = {**BASE, **kw}
    return lambda: mediate(data, **args)


def _with(**cols):
    d = TRUSTS.copy()
    for k, v in cols.items():
        d[k] = v(d) if callable(v) else v
    return d


def _missing():
    d = TRUSTS.copy()
    d.iloc[[2, 7], d.columns.get_loc("engagement")] = np.nan
    return d


def _staff_outcome_varies():
    d = STAFF.copy()
    d.loc[d.index[:5], "patient_satisfaction"] += 1.0
    return d


def _check_scaled(res):
    ref = mediate(TRUSTS, **BASE)
    idx = ("leadership", "indirect", "engagement")
    # leadership in units 1e8 times larger: the indirect effect per unit is 1e-8 times as large,
    # and the bootstrap resamples (same rng) are the same trusts, so the interval scales exactly
    assert_allclose(res.effects.loc[idx, ["estimate", "ci_low", "ci_high", "delta_std_error"]].to_numpy(dtype=float),
                    1e-8 * ref.effects.loc[idx, ["estimate", "ci_low", "ci_high", "delta_std_error"]]
                    .to_numpy(dtype=float), rtol=1e-8)


def _check_dropped(res):
    assert res.n_dropped == 2 and res.n_obs == 58


def _few_staff():
    sim = simulate_engagement(n_trusts=20, staff_per_trust=3, rng=4)
    return sim.staff


def _check_low_reliability(res):
    assert (res.reliability["icc2"] < 0.7).any()
    assert any("attenuated" in n for n in res.notes)


def _zero_deaths():
    return _with(observed_deaths=0.0)


def _sparse_deaths():
    d = TRUSTS.copy()
    rng = np.random.default_rng(0)
    d["expected_deaths"] = 0.05
    d["observed_deaths"] = (rng.random(len(d)) < 0.05).astype(float)
    d.iloc[0, d.columns.get_loc("observed_deaths")] = 1.0
    return d


def _check_failed_resamples(res):
    assert res.n_failed > 0 and res.draws.shape[0] == res.n_resamples - res.n_failed


CASES = [
    Case(mediate, lambda: mediate(TRUSTS.to_numpy(), predictors="leadership", mediators="engagement",
                                  outcome="patient_satisfaction"), "input", "data-array",
         raises=(TypeError, r"`data` must be a pandas DataFrame")),
    Case(mediate, _call(predictors="Leadership"), "input", "predictor-unknown",
         raises=(ValueError, r"`predictors` names column.*Did you mean 'leadership'")),
    Case(mediate, _call(mediators="leadership"), "input", "same-column-two-roles",
         raises=(ValueError, r"`mediators` and `predictors` both name column 'leadership'")),
    Case(mediate, _call(outcome=["patient_satisfaction"]), "input", "outcome-list",
         raises=(TypeError, r"`outcome` must be one column name")),
    Case(mediate, _call(data=_with(patient_satisfaction="high")), "j", "outcome-not-numeric",
         raises=(TypeError, r"`outcome` column 'patient_satisfaction' must be numeric")),
    Case(mediate, _call(data=_with(leadership=lambda d: d["leadership"].where(d.index != d.index[3], np.inf))),
         "d", "infinite-predictor", raises=(ValueError, r"`predictors` column 'leadership' has 1 infinite")),
    Case(mediate, _call(family="binomial"), "input", "family", raises=(ValueError, r"`family` must be one of")),
    Case(mediate, _call(expected="expected_deaths"), "input", "offset-with-gaussian",
         raises=(ValueError, r"`expected` is the offset")),
    Case(mediate, _call(outcome="absence_rate", family="poisson"), "input", "poisson-on-non-counts",
         raises=(ValueError, r"`outcome` 'absence_rate' must hold counts")),
    Case(mediate, _call(outcome="observed_deaths", family="poisson", expected="expected_deaths",
                        data=_with(expected_deaths=lambda d: d["expected_deaths"].where(d.index != d.index[0], 0.0))),
         "input", "expected-zero", raises=(ValueError, r"`expected` 'expected_deaths' must be > 0")),
    Case(mediate, _call(predictors=["leadership", "leadership_copy"],
                        data=_with(leadership_copy=lambda d: 2.0 * d["leadership"] + 1.0)), "b",
         "collinear-predictors", raises=(ValueError, r"`predictors`: the equation of 'engagement' is not identified")),
    Case(mediate, _call(covariates="size", data=_with(size=3.0)), "b", "constant-covariate",
         raises=(ValueError, r"`covariates`: the equation .* not identified: \['size'\]")),
    Case(mediate, _call(n_resamples=5), "input", "too-few-resamples",
         raises=(ValueError, r"`n_resamples` must be an integer >= 20")),
    Case(mediate, _call(rng=-1), "input", "rng-negative", raises=(ValueError, r"`rng` must be a non-negative")),
    Case(mediate, _call(rng="seed"), "input", "rng-type", raises=(TypeError, r"`rng` must be None")),
    Case(mediate, _call(method="monte_carlo", interval="bc"), "input", "bc-with-monte-carlo",
         raises=(ValueError, r"`interval`='bc' \(bias-corrected\) is a bootstrap interval")),
    Case(mediate, _call(method="sobel"), "input", "method", raises=(ValueError, r"`method` must be one of")),
    Case(mediate, _call(estimator="reml"), "input", "estimator", raises=(ValueError, r"`estimator` must be one of")),
    Case(mediate, _call(confidence_level=95), "input", "confidence-percent",
         raises=(ValueError, r"`confidence_level` must lie in \(0, 1\)")),
    Case(mediate, _call(data=_missing(), nan_policy="raise"), "missing", "missing-raise",
         raises=(ValueError, r"`data` has 2 row\(s\) with a missing value")),
    Case(mediate, _call(data=_missing()), "missing", "missing-omit",
         warns=(DroppedDataWarning, r"2 of 60 row\(s\)"), check=_check_dropped),
    Case(mediate, _call(data=TRUSTS.iloc[:3]), "f", "three-trusts",
         raises=(ValueError, r"`data` has 3 complete row\(s\)")),
    Case(mediate, _call(data=_with(leadership=lambda d: d["leadership"] * 1e8)), "d", "predictor-in-huge-units",
         check=_check_scaled),
    Case(mediate, _call(data=STAFF, by="trust"), "a", "staff-outcome-but-fine",
         check=lambda r: r.design == "multilevel" and r.n_groups == 25),
    Case(mediate, _call(data=_staff_outcome_varies(), by="trust"), "a", "outcome-varies-within-trust",
         raises=(ValueError, r"`outcome` column 'patient_satisfaction' varies within 1 trust")),
    Case(mediate, _call(data=STAFF.assign(region="r1"), by=["region", "trust", "team"]), "input", "by-three-levels",
         raises=(ValueError, r"`by` must name the trust column and optionally the team column")),
    Case(mediate, _call(between="corrected"), "input", "between-without-by",
         raises=(ValueError, r"`between` is for multilevel models")),
    Case(mediate, _call(data=STAFF, by="trust", between="latent"), "input", "between-choice",
         raises=(ValueError, r"`between` must be one of")),
    Case(mediate, _call(data=simulate_engagement(n_trusts=20, staff_per_trust=10, rng=4).staff, by="trust"), "b",
         "corrected-means-unidentified", raises=(ValueError, r"`by` \('trust'\): the corrected between paths could not")),
    Case(mediate, _call(data=STAFF, by="engagement"), "input", "by-is-a-model-column",
         raises=(ValueError, r"`by` and `mediators` both name column 'engagement'")),
    Case(mediate, _call(data=STAFF[STAFF["trust"].isin(["TR001", "TR002", "TR003", "TR004"])], by="trust"), "f",
         "four-trusts", raises=(ValueError, r"`by` \('trust'\) has 4 trust\(s\) with data")),
    Case(mediate, _call(data=simulate_engagement(n_trusts=20, staff_per_trust=3, rng=4).staff, by="trust"), "f",
         "most-resamples-singular", raises=(ValueError, r"`by`: \d+ of 50 bootstrap resamples failed")),
    Case(mediate, _call(data=_few_staff(), by="trust", between="observed"), "g", "unreliable-trust-means",
         warns=(SmallGroupWarning, r"reliability \(ICC\(2\)\) below 0.7"), check=_check_low_reliability),
    Case(mediate, _call(data=_zero_deaths(), outcome="observed_deaths", family="poisson",
                        expected="expected_deaths"), "c", "all-zero-counts",
         raises=(ValueError, r"`outcome` 'observed_deaths': the count model did not converge")),
    Case(mediate, _call(data=_sparse_deaths(), outcome="observed_deaths", family="poisson",
                        expected="expected_deaths", n_resamples=60), "c", "resamples-without-deaths",
         warns=(ConvergenceWarning, r"bootstrap resamples failed"), check=_check_failed_resamples),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)
