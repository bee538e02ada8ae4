"""Properties of the national staff-survey simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture import simulate
from teamculture.simulate import (
    ENGAGEMENT_ITEMS,
    LEADERSHIP_ITEMS,
    PSYCH_SAFETY_ITEMS,
    REAL_TEAM_ITEMS,
    SimulationParameters,
    national_survey,
)


@st.composite
def sizes(draw):
    n_trusts = draw(st.integers(1, 6))
    n_teams = draw(st.integers(n_trusts, 30))
    n_staff = draw(st.integers(2 * n_teams, 2 * n_teams + 200))
    return n_trusts, n_teams, n_staff


@given(sizes(), st.integers(0, 2**32 - 1))
def test_same_seed_same_data_and_sizes_as_requested(sz, seed):
    n_trusts, n_teams, n_staff = sz
    a = national_survey(n_trusts=n_trusts, n_teams=n_teams, n_staff=n_staff, rng=seed, n_years=2)
    b = national_survey(n_trusts=n_trusts, n_teams=n_teams, n_staff=n_staff, rng=seed, n_years=2)
    pd.testing.assert_frame_equal(a.staff, b.staff)
    pd.testing.assert_frame_equal(a.trusts, b.trusts)
    pd.testing.assert_frame_equal(a.panel, b.panel)
    assert a.sizes == {"trusts": n_trusts, "teams": n_teams, "staff": n_staff}
    assert a.staff["trust"].nunique() == n_trusts
    assert a.staff["team"].nunique() == n_teams
    # every team has at least min_team_size members, every trust at least one team
    assert a.teams["n_staff"].min() >= a.params.min_team_size
    assert a.trusts["n_teams"].min() >= 1
    assert a.teams["n_staff"].sum() == n_staff


def test_different_seeds_differ():
    a = national_survey("tiny", rng=1)
    b = national_survey("tiny", rng=2)
    assert not a.staff["latent_engagement"].equals(b.staff["latent_engagement"])


@given(sizes(), st.integers(0, 2**32 - 1))
def test_every_team_in_exactly_one_trust(sz, seed):
    n_trusts, n_teams, n_staff = sz
    sim = national_survey(n_trusts=n_trusts, n_teams=n_teams, n_staff=n_staff, rng=seed, n_years=1)
    trusts_per_team = sim.staff.groupby("team", observed=True)["trust"].nunique()
    assert (trusts_per_team == 1).all()
    # the team table agrees with the staff rows
    first_trust = sim.staff.groupby("team", observed=True)["trust"].first().astype(str)
    assert (first_trust.sort_index() == sim.teams["trust"].astype(str).sort_index()).all()
    counts = sim.staff.groupby("team", observed=True).size().sort_index()
    assert (counts.to_numpy() == sim.teams["n_staff"].sort_index().to_numpy()).all()
    # team_in_trust is a local number, 1..n_teams in each trust
    local = sim.teams.groupby("trust", observed=True)["team_in_trust"].agg(["min", "max", "size"])
    assert (local["min"] == 1).all() and (local["max"] == local["size"]).all()


@given(sizes(), st.integers(0, 2**32 - 1))
def test_responses_inside_their_scales(sz, seed):
    n_trusts, n_teams, n_staff = sz
    sim = national_survey(n_trusts=n_trusts, n_teams=n_teams, n_staff=n_staff, rng=seed, n_years=1)
    s = sim.staff
    for cols, allowed in (
        (ENGAGEMENT_ITEMS + LEADERSHIP_ITEMS, {1, 2, 3, 4, 5}),
        (PSYCH_SAFETY_ITEMS, set(range(1, 8))),
        (REAL_TEAM_ITEMS, {1, 2}),
    ):
        values = s[list(cols)].to_numpy().ravel()
        observed = set(np.unique(values[~np.isnan(values)]).astype(int).tolist())
        assert observed <= allowed
    assert not s["rt_team"].isna().any()
    # follow-ups are missing exactly when the respondent is not in a team
    skipped = s[["rt_objectives", "rt_close", "rt_review"]].isna()
    assert (skipped.all(axis=1) == (s["rt_team"] == 2)).all()
    assert (skipped.any(axis=1) == skipped.all(axis=1)).all()


@given(sizes(), st.integers(0, 2**32 - 1))
def test_trust_real_team_share_equals_share_from_staff_rows(sz, seed):
    n_trusts, n_teams, n_staff = sz
    sim = national_survey(n_trusts=n_trusts, n_teams=n_teams, n_staff=n_staff, rng=seed, n_years=3)
    s = sim.staff
    yes = s[list(REAL_TEAM_ITEMS)].eq(1).all(axis=1)  # all four answers "yes" (NaN is not yes)
    share = 100 * yes.groupby(s["trust"], observed=True).mean()
    assert_allclose(sim.trusts["real_team_pct"].to_numpy(), share.sort_index().to_numpy(), rtol=1e-12)
    # the classification column follows the Aston rule from the answers
    expected = np.where(s["rt_team"] == 2, "none", np.where(yes, "real", "pseudo"))
    assert (s["team_type"].astype(str).to_numpy() == expected).all()
    # the panel's last year is the cross-section
    last = sim.panel.xs(sim.survey_year, level="year")
    assert_allclose(last["real_team_pct"].to_numpy(), sim.trusts["real_team_pct"].to_numpy(), rtol=0)
    assert (last["observed_deaths"].to_numpy() == sim.trusts["observed_deaths"].to_numpy()).all()


def test_latent_engagement_follows_the_documented_model():
    sim = national_survey("small", rng=3)
    s, p = sim.staff, sim.params
    real = (s["team_type"] == "real").to_numpy()
    u = sim.trusts["true_effect"].reindex(s["trust"].astype(str)).to_numpy()
    v = sim.teams["true_effect"].reindex(s["team"].astype(str)).to_numpy()
    fixed = p.intercept + p.beta_real_team * real + p.beta_tenure * (s["tenure"].to_numpy() - 8)
    resid = s["latent_engagement"].to_numpy() - fixed - u - v
    # the staff-level residuals are N(0, sigma2): check mean and variance with generous
    # but failing-capable bounds (10,000 draws: se(mean) = 0.0077, se(var) ~= 0.0085)
    assert abs(resid.mean()) < 0.04
    assert abs(resid.var() - p.sigma2) < 0.045


def test_missing_rate_roughly_as_requested():
    sim = national_survey("small", rng=4, missing_rate=0.10, block_skip_rate=0.0)
    miss = sim.staff[list(ENGAGEMENT_ITEMS)].isna().to_numpy().mean()
    assert abs(miss - 0.10) < 0.01  # 90,000 Bernoulli draws: se = 0.001


def test_mortality_slope_is_the_headline_by_default():
    p = SimulationParameters()
    assert_allclose(p.mortality_beta, np.log(1 - 0.033) / 5, rtol=1e-15)
    # 5 points more staff in real teams -> 3.3% lower mortality
    assert_allclose(np.exp(5 * p.mortality_beta), 0.967, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": "huge"}, "`size` must be one of"),
        ({"n_trusts": 0}, "`n_trusts` must be an integer >= 1"),
        ({"n_trusts": 10, "n_teams": 5}, r"`n_teams` \(5\) must be at least `n_trusts` \(10\)"),
        ({"n_teams": 10, "n_staff": 15, "n_trusts": 2}, "`n_staff` \\(15\\) must be at least"),
        ({"size": "tiny", "missing_rate": 1.5}, r"`missing_rate` must lie in \[0, 1\]; got 1.5"),
        ({"size": "tiny", "tau2_team": -1.0}, r"`tau2_team` must lie in \[0, inf\)"),
        ({"size": "tiny", "rng": -1}, "`rng` must be a non-negative integer seed"),
        ({"size": "Tiny"}, r"`size` must be one of .*Did you mean 'tiny'"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        national_survey(**kwargs)


def test_unknown_parameter_and_bad_types():
    with pytest.raises(TypeError, match="`not_a_parameter` is neither an argument of national_survey nor a field"):
        national_survey("tiny", not_a_parameter=1)
    with pytest.raises(TypeError, match="`tau2_tem` is neither .* Did you mean 'tau2_team'"):
        national_survey("tiny", tau2_tem=0.1)
    with pytest.raises(TypeError, match="`tau2_team` must be a real number; got 'big'"):
        national_survey("tiny", tau2_team="big")
    with pytest.raises(TypeError, match="`rng` must be None, a non-negative int seed or a numpy.random.Generator"):
        national_survey("tiny", rng="seed")
    with pytest.raises(TypeError, match=r"`seed` is now `rng`"):
        national_survey("tiny", seed=1)
    with pytest.raises(TypeError, match="`n_staff` must be an integer"):
        national_survey("tiny", n_staff=10.5)
    with pytest.raises(TypeError, match="`params` must be a SimulationParameters"):
        national_survey("tiny", params={"tau2_team": 0.1})


def test_presets_are_documented_sizes():
    assert simulate.PRESETS["national"] == (250, 25_000, 700_000)
    sim = national_survey("tiny", rng=0)
    assert sim.sizes == dict(zip(("trusts", "teams", "staff"), simulate.PRESETS["tiny"]))


def test_rng_forms():
    a = national_survey("tiny", rng=3)
    b = national_survey("tiny", rng=np.random.default_rng(3))
    pd.testing.assert_frame_equal(a.staff, b.staff)
    assert a.seed == 3 and b.seed is None
    gen = np.random.default_rng(5)
    first, second = national_survey("tiny", rng=gen), national_survey("tiny", rng=gen)
    assert not first.staff["latent_engagement"].equals(second.staff["latent_engagement"])  # the Generator advances


def test_simulated_survey_follows_the_result_protocol():
    import pickle

    from teamculture.results import Result

    sim = national_survey("tiny", rng=1)
    assert isinstance(sim, Result)
    assert sim.n_obs == len(sim.staff) == 300 and sim.n_dropped == 0
    assert sim.n_groups.to_dict() == {"trusts": 4, "teams": 24}
    again = pickle.loads(pickle.dumps(sim))
    assert again == sim and again is not sim
    assert sim != national_survey("tiny", rng=2)
    text = str(sim.summary())
    assert "mortality_beta" in text and "300" in text
    assert sim.to_frame() is sim.staff
