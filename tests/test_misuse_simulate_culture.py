"""Misuse suite and properties of the culture-profile and engagement-chain simulators.

Framework: tests/_misuse.py. ``simulate_culture`` and ``simulate_engagement`` are public in
:mod:`teamculture.simulate`; their numbers for a given ``rng`` are pinned indirectly by the
profile and mediation tests, the user guide's doctests and the R oracles built on them.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from _misuse import Case, case_id, run_case
from hypothesis import given, settings
from hypothesis import strategies as st

import teamculture as tc
from teamculture.simulate import ANTECEDENTS, ELEMENTS, simulate_culture, simulate_engagement

_SMALL = {"teams_per_trust": 2, "staff_per_team": 4}


def _culture(**kw):
    return lambda: simulate_culture(**{**_SMALL, **kw})


CASES = [
    # ---------------------------------------------------------------- simulate_culture: years
    Case(simulate_culture, _culture(years=2023), "input", "years-bare-int",
         raises=(TypeError, r"`years` must be a sequence of integer years, e\.g\. \(2022, 2023\); got int 2023")),
    Case(simulate_culture, _culture(years="2023"), "input", "years-text",
         raises=(TypeError, r"`years` must be a sequence of integer years.*got str '2023'")),
    Case(simulate_culture, _culture(years=(2022, 2022)), "input", "years-repeated",
         raises=(ValueError, r"`years` must be unique; repeated: \[2022\]")),
    Case(simulate_culture, _culture(years=(2022.5, 2023)), "input", "years-fractional",
         raises=(TypeError, r"`years` must be an integer; got 2022\.5")),
    Case(simulate_culture, _culture(years=(True, 2023)), "input", "years-boolean",
         raises=(TypeError, r"`years` must be an integer; got True")),
    # the change is into the last year: a decreasing order would put it into the earlier year
    Case(simulate_culture, _culture(years=(2023, 2022)), "input", "years-decreasing",
         raises=(ValueError, r"`years` must be in increasing order .*got \[2023, 2022\]")),
    Case(simulate_culture, _culture(years=()), "input", "years-empty",
         raises=(ValueError, r"`years` must name at least one survey year")),
    Case(simulate_culture, _culture(years=np.array([2021, 2023]), rng=1), "input", "years-numpy-array",
         check=lambda s: s.params["years"] == (2021, 2023) and set(s.staff["year"]) == {2021, 2023}),
    # ---------------------------------------------------------------- trust_labels
    Case(simulate_culture, _culture(trust_labels=["a", "b", "a", "c"]), "input", "labels-repeated",
         raises=(ValueError, r"`trust_labels` must be unique; repeated: \['a'\]")),
    Case(simulate_culture, _culture(trust_labels=["a", np.nan, "c", None]), "input", "labels-missing",
         raises=(ValueError, r"`trust_labels` must not be missing; 2 missing, at positions \[1, 3\]")),
    Case(simulate_culture, _culture(trust_labels="ABC"), "input", "labels-one-string",
         raises=(TypeError, r"`trust_labels` must be an ordered sequence of trust names .*got str 'ABC'")),
    # a set has no order: the trusts' draws would depend on hashing
    Case(simulate_culture, _culture(trust_labels={"a", "b", "c"}), "input", "labels-set",
         raises=(TypeError, r"`trust_labels` must be an ordered sequence of trust names .*got set")),
    Case(simulate_culture, _culture(trust_labels=[1.5, 2.5, 3.5]), "input", "labels-floats",
         raises=(TypeError, r"`trust_labels` must be strings or integers; got \[1\.5, 2\.5, 3\.5\]")),
    Case(simulate_culture, _culture(trust_labels=np.array([["a", "b"], ["c", "d"]])), "input", "labels-2d",
         raises=(ValueError, r"`trust_labels` must be one-dimensional; got an array of shape \(2, 2\)")),
    Case(simulate_culture, _culture(trust_labels=["a", "b"]), "input", "labels-too-few",
         raises=(ValueError, r"`trust_labels` must name at least 3 trusts; got 2")),
    # n_trusts and trust_labels disagree: refused, never one silently ignored
    Case(simulate_culture, _culture(n_trusts=10, trust_labels=["a", "b", "c"]), "input", "labels-vs-n-trusts",
         raises=(ValueError, r"`n_trusts` \(10\) differs from the number of `trust_labels` \(3\)")),
    Case(simulate_culture, _culture(trust_labels=pd.Index(["RX1", "RX2", "RX3"]), rng=2), "input", "labels-from-index",
         check=lambda s: list(s.truth.index.levels[0]) == ["RX1", "RX2", "RX3"]
         and set(s.staff["trust"]) == {"RX1", "RX2", "RX3"} and s.params["n_trusts"] == 3),
    # ---------------------------------------------------------------- counts and ranges
    Case(simulate_culture, _culture(n_trusts=3, n_changed=19), "input", "more-changes-than-trust-elements",
         raises=(ValueError, r"`n_changed` \(19\) exceeds the number of trust-elements \(3 trusts x 6 elements "
                             r"= 18\)")),
    Case(simulate_culture, _culture(n_trusts=3, n_strong=10, n_weak=6), "input", "too-many-shifts",
         raises=(ValueError, r"`n_strong` \+ `n_weak` \(10 \+ 6 = 16\) exceed the 15 trust-elements")),
    Case(simulate_culture, _culture(n_trusts=3, n_strong=10, n_weak=5, n_changed=18, rng=3), "input",
         "every-trust-element-marked",
         check=lambda s: (s.truth["status"] != "ordinary").sum() == 15 and (s.truth["change"] != 0).all()),
    Case(simulate_culture, _culture(p_in_team=1.2), "input", "probability-above-one",
         raises=(ValueError, r"`p_in_team` must lie in \[0, 1\]; got 1\.2")),
    Case(simulate_culture, _culture(missing_rate=float("nan")), "input", "missing-rate-nan",
         raises=(ValueError, r"`missing_rate` must be a finite number; got nan")),
    Case(simulate_culture, _culture(n_trusts=True), "input", "n-trusts-boolean",
         raises=(TypeError, r"`n_trusts` must be an integer; got True")),
    Case(simulate_culture, lambda: simulate_culture(teams_per_trust=True, staff_per_team=4), "input",
         "teams-boolean", raises=(TypeError, r"`teams_per_trust` must be an integer; got True")),
    Case(simulate_culture, _culture(staff_per_team=1), "input", "team-of-one",
         raises=(ValueError, r"`staff_per_team` must be an integer >= 2; got 1")),
    Case(simulate_culture, _culture(shift=float("inf")), "input", "infinite-shift",
         raises=(ValueError, r"`shift` must be a finite number; got inf")),
    Case(simulate_culture, _culture(loading=-1.0), "input", "negative-loading",
         raises=(ValueError, r"`loading` must lie in \[0, inf\); got -1\.0")),
    Case(simulate_culture, _culture(element_corr=1.0), "input", "elements-perfectly-correlated",
         raises=(ValueError, r"`element_corr` must lie in \[0, 0\.95\]; got 1\.0")),
    Case(simulate_culture, _culture(tau_trust=1e308, rng=1), "d", "latent-overflow",
         raises=(ValueError, r"`tau_trust`, `tau_team`, `shift` or `change` is too large")),
    Case(simulate_culture, _culture(real_team_slope=1e6, rng=1), "d", "huge-real-team-slope",
         check=lambda s: set(s.staff["rt_team"].unique()) <= {1.0, 2.0}),
    Case(simulate_culture, _culture(rng="1"), "input", "seed-as-text",
         raises=(TypeError, r"`rng` must be None, a non-negative int seed or a numpy.random.Generator; got str")),
    Case(simulate_culture, _culture(n_strong=0, n_weak=0, n_changed=0, tau_trust=0.0, tau_team=0.0, rng=4), "f",
         "no-culture-differences",
         check=lambda s: (s.truth["effect"] == 0.0).all() and (s.truth["status"] == "ordinary").all()),
    # ---------------------------------------------------------------- simulate_engagement
    Case(simulate_engagement, lambda: simulate_engagement(n_trusts=4), "input", "too-few-trusts",
         raises=(ValueError, r"`n_trusts` must be an integer >= 5; got 4")),
    Case(simulate_engagement, lambda: simulate_engagement(effect_scale=float("nan")), "input", "effect-scale-nan",
         raises=(ValueError, r"`effect_scale` must be a finite number; got nan")),
    Case(simulate_engagement, lambda: simulate_engagement(effect_scale=1e3, rng=1), "d", "deaths-overflow",
         raises=(ValueError, r"`effect_scale`, `mortality_sd` or the residual SDs are too large: expected "
                             r"deaths reach inf")),
    Case(simulate_engagement, lambda: simulate_engagement(mortality_sd=1e3, rng=1), "d", "mortality-sd-overflow",
         raises=(ValueError, r"`effect_scale`, `mortality_sd`")),
    Case(simulate_engagement, lambda: simulate_engagement(staff_per_trust=1), "input", "one-staff-per-trust",
         raises=(ValueError, r"`staff_per_trust` must be an integer >= 2; got 1")),
    Case(simulate_engagement, lambda: simulate_engagement(staff_per_trust=True), "input", "staff-boolean",
         raises=(TypeError, r"`staff_per_trust` must be an integer; got True")),
    Case(simulate_engagement, lambda: simulate_engagement(staff_per_trust=20.5), "input", "staff-fractional",
         raises=(TypeError, r"`staff_per_trust` must be an integer; got 20\.5")),
    Case(simulate_engagement, lambda: simulate_engagement(rho_x=-0.1), "input", "negative-correlation",
         raises=(ValueError, r"`rho_x` must lie in \[0, 0\.95\]; got -0\.1")),
    Case(simulate_engagement, lambda: simulate_engagement(sd_m=-0.1), "input", "negative-sd",
         raises=(ValueError, r"`sd_m` must lie in \[0, inf\); got -0\.1")),
    Case(simulate_engagement, lambda: simulate_engagement(a_within="0.5", staff_per_trust=10), "input",
         "a-within-text", raises=(TypeError, r"`a_within` must be a real number; got '0\.5'")),
    Case(simulate_engagement, lambda: simulate_engagement(teams_per_trust=0, staff_per_trust=10), "input",
         "no-teams", raises=(ValueError, r"`teams_per_trust` must be an integer >= 1; got 0")),
    Case(simulate_engagement, lambda: simulate_engagement(within_var=float("inf"), staff_per_trust=10), "input",
         "infinite-within-variance", raises=(ValueError, r"`within_var` must be a finite number; got inf")),
    Case(simulate_engagement, lambda: simulate_engagement(effect_scale=0.0, rng=1), "f", "null-chain",
         check=lambda s: (s.paths["value"] == 0.0).all() and (s.indirect["value"] == 0.0).all()),
    Case(simulate_engagement, lambda: simulate_engagement(n_trusts=6, staff_per_trust=3, teams_per_trust=1,
                                                          rng=2), "f", "one-team-per-trust",
         check=lambda s: int(s.n_groups["teams"]) == 6 and s.staff.groupby("trust")["team"].nunique().eq(1).all()),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


def test_old_parameter_name_scale_is_gone():
    # `scale` is the response scale everywhere in the package; the path multiplier is `effect_scale`
    with pytest.raises(TypeError, match="scale"):
        simulate_engagement(scale=0.0)


# ---------------------------------------------------------------------------- properties
@settings(max_examples=10, deadline=None)
@given(k=st.integers(3, 6), j=st.integers(1, 3), m=st.integers(2, 5),
       years=st.lists(st.integers(2015, 2030), min_size=1, max_size=3, unique=True),
       n_strong=st.integers(0, 3), n_weak=st.integers(0, 3), n_changed=st.integers(0, 4),
       seed=st.integers(0, 2**32))
def test_culture_sizes_as_requested_and_same_rng_same_data(k, j, m, years, n_strong, n_weak, n_changed, seed):
    years = tuple(sorted(years))
    kw = dict(n_trusts=k, teams_per_trust=j, staff_per_team=m, years=years, n_strong=n_strong, n_weak=n_weak,
              n_changed=n_changed)
    a = simulate_culture(**kw, rng=seed)
    assert a == simulate_culture(**kw, rng=seed)
    b = simulate_culture(**kw, rng=np.random.default_rng(seed))
    assert a.staff.equals(b.staff) and a.truth.equals(b.truth) and b.seed is None
    assert a.n_groups.to_dict() == {"trusts": k, "teams": k * j} and a.n_obs == len(a.staff) and a.n_dropped == 0
    assert a.staff["trust"].nunique() == k and a.staff["team"].nunique() == k * j
    assert tuple(sorted(a.staff["year"].unique())) == years
    # every team has at least two respondents every year
    assert a.staff.groupby(["year", "team"]).size().min() >= 2
    assert a.truth.shape[0] == k * len(ELEMENTS)
    counts = a.truth["status"].value_counts()
    assert counts.get("strong", 0) == n_strong and counts.get("weak", 0) == n_weak
    assert int((a.truth["change"] != 0).sum()) == n_changed
    assert (a.truth.xs("compassionate_leadership", level="element")["status"] == "ordinary").all()
    assert a.seed == seed


@settings(max_examples=10, deadline=None)
@given(k=st.integers(5, 12), staff=st.one_of(st.none(), st.integers(2, 12)), teams=st.integers(1, 4),
       effect_scale=st.floats(-2.0, 2.0), seed=st.integers(0, 2**32))
def test_engagement_sizes_as_requested_and_same_rng_same_data(k, staff, teams, effect_scale, seed):
    kw = dict(n_trusts=k, staff_per_trust=staff, teams_per_trust=teams, effect_scale=effect_scale)
    a = simulate_engagement(**kw, rng=seed)
    assert a == simulate_engagement(**kw, rng=seed)
    assert len(a.trusts) == k and a.trusts.index.is_unique
    if staff is None:
        assert a.staff is None and a.n_obs == k and a.n_groups is None
        assert set(ANTECEDENTS) <= set(a.trusts.columns)
    else:
        assert a.n_obs == len(a.staff) and set(a.staff["trust"]) <= set(a.trusts.index)
        assert a.staff.groupby("trust").size().min() >= 2
        assert int(a.n_groups["teams"]) == a.staff["team"].nunique() <= k * teams
    # the truth is the product of the paths, each scaled: a * b (two paths) or a * d * b (three)
    base = simulate_engagement(n_trusts=k, staff_per_trust=staff, rng=seed)
    n_paths = np.where(a.indirect.index.get_level_values("path") == "engagement -> wellbeing", 3, 2)
    assert np.allclose(a.indirect["value"], effect_scale**n_paths * base.indirect["value"], atol=1e-15)
    assert np.allclose(a.paths["value"], effect_scale * base.paths["value"], atol=1e-15)


def test_results_pickle_and_live_under_public_names():
    c = simulate_culture(n_trusts=4, teams_per_trust=2, staff_per_team=3, rng=1)
    e = simulate_engagement(n_trusts=6, staff_per_trust=4, rng=1)
    for r in (c, e):
        assert pickle.loads(pickle.dumps(r)) == r
        assert type(r).__module__ == "teamculture.simulate"
    assert tc.results.CultureSimulation is tc.CultureSimulation is type(c)
    assert tc.results.EngagementSimulation is tc.EngagementSimulation is type(e)
    assert c.to_frame() is c.staff and e.to_frame() is e.staff
    assert simulate_engagement(n_trusts=6, rng=1).to_frame().shape[0] == 6
    assert "Strong, weak and changed trust-elements" in str(c) and "True indirect effects" in str(e)
    assert e.params["effect_scale"] == 1.0 and "scale" not in e.params


def test_a_survey_s_trusts_join_the_culture_data():
    survey = tc.national_survey("tiny", rng=1)
    sim = simulate_culture(trust_labels=survey.trusts.index, teams_per_trust=2, staff_per_team=3, rng=2)
    assert set(sim.staff["trust"]) == set(survey.trusts.index)
    assert sim.params["n_trusts"] == len(survey.trusts)
