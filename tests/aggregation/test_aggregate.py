"""Tests for teamculture.aggregate (group-level data with agreement diagnostics)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import DroppedDataWarning, SmallGroupWarning

ENG = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]


@pytest.fixture(scope="module")
def staff():
    return tc.national_survey("tiny", seed=5).staff


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallGroupWarning)
        warnings.simplefilter("ignore", DroppedDataWarning)
        return fn(*a, **k)


def test_columns_are_fixed(staff):
    agg = tc.aggregate(staff, "team", {"eng": ENG, "cl": ["cl1", "cl2"]}, scale_points=5)
    stats = ["n", "mean", "sd", "rwg", "rwg_lindell", "awg", "ad", "low_agreement", "small"]
    assert list(agg.table.columns) == ["n_members"] + [f"{v}_{s}" for v in ("eng", "cl") for s in stats]
    assert list(agg.icc.index) == ["eng", "cl"]
    assert agg.table.index.name == "team"
    assert agg.table["eng_rwg"].dtype == float and agg.table["eng_small"].dtype == bool


@pytest.mark.parametrize("listwise", [False, True])
def test_equals_the_individual_functions(staff, listwise):
    agg = _quiet(tc.aggregate, staff, "team", {"eng": ENG}, scale_points=5, listwise=listwise).table
    items, g = staff[ENG], staff["team"]
    assert_allclose(agg["eng_rwg"], _quiet(tc.rwg_j, items, g, scale_points=5, listwise=listwise)["rwg_j"],
                    rtol=1e-12)
    assert_allclose(agg["eng_rwg_lindell"],
                    _quiet(tc.rwg_j_lindell, items, g, scale_points=5, listwise=listwise)["rwg_j_lindell"],
                    rtol=1e-12)
    assert_allclose(agg["eng_awg"], _quiet(tc.awg, items, g, low=1, high=5, listwise=listwise)["awg"],
                    rtol=1e-12)
    assert_allclose(agg["eng_ad"], _quiet(tc.ad_index, items, g, listwise=listwise)["ad"], rtol=1e-12)
    score = items.mean(axis=1)  # mean of answered items
    by = score.groupby(g, observed=True)
    assert_allclose(agg["eng_mean"], by.mean(), rtol=1e-12)
    assert_allclose(agg["eng_sd"], by.std(ddof=1), rtol=1e-12)
    assert_allclose(agg["eng_n"], by.count(), rtol=0)
    assert_allclose(agg["n_members"], g.value_counts().sort_index(), rtol=0)


def test_icc_of_scores(staff):
    agg = tc.aggregate(staff, "team", {"eng": ENG}, scale_points=5)
    score = staff[ENG].mean(axis=1)
    assert_allclose(agg.icc.loc["eng", "icc1"], tc.icc1(score, staff["team"]), rtol=1e-12)
    assert_allclose(agg.icc.loc["eng", "icc2"], tc.icc2(score, staff["team"]), rtol=1e-12)


def test_two_by_columns_keep_local_team_numbers_apart(staff):
    a = tc.aggregate(staff, ["trust", "team_in_trust"], {"eng": ENG}, scale_points=5)
    b = tc.aggregate(staff, "team", {"eng": ENG}, scale_points=5)
    assert a.table.index.names == ["trust", "team_in_trust"]
    assert len(a.table) == len(b.table) == staff["team"].nunique()
    # same groups, so the same sorted statistics
    assert_allclose(np.sort(a.table["eng_rwg"]), np.sort(b.table["eng_rwg"]), rtol=1e-12)
    key = staff.groupby(["trust", "team_in_trust"], observed=True)["team"].first()
    assert_allclose(a.table["eng_mean"].to_numpy(), b.table.loc[key.loc[a.table.index], "eng_mean"].to_numpy(),
                    rtol=1e-12)


def test_flags_follow_cutoffs(staff):
    agg = tc.aggregate(staff, "team", ["cl1"], scale_points=5, min_size=12, min_rwg=0.5)
    t = agg.table
    assert (t["cl1_small"] == (t["cl1_n"] < 12)).all()
    assert (t["cl1_low_agreement"] == ~(t["cl1_rwg"] >= 0.5)).all()
    assert "low agreement" in agg.summary()


def test_single_item_rwg_equals_rwg(staff):
    agg = tc.aggregate(staff, "team", "ps2", scale_points=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = tc.rwg(staff["ps2"], staff["team"], scale_points=7)
    assert_allclose(agg.table["ps2_rwg"], r["rwg"], rtol=1e-12)
    assert agg.null_variance["ps2"] == 4.0


def test_groups_of_one_warn_and_are_nan():
    df = pd.DataFrame({"g": ["a", "a", "b"], "q": [1.0, 2.0, 3.0]})
    with pytest.warns(SmallGroupWarning, match=r"1 group\(s\).*'b'"):
        agg = tc.aggregate(df, "g", "q", scale_points=5)
    assert np.isnan(agg.table.loc["b", "q_rwg"]) and agg.table.loc["b", "q_low_agreement"]


def test_listwise_drops_are_counted(staff):
    n_incomplete = int(staff[ENG].isna().any(axis=1).sum())
    assert n_incomplete > 0
    with pytest.warns(DroppedDataWarning, match=f"eng: {n_incomplete}"):
        tc.aggregate(staff, "team", {"eng": ENG}, scale_points=5, listwise=True)


def test_does_not_mutate(staff):
    before = staff.copy(deep=True)
    _quiet(tc.aggregate, staff, ["trust", "team_in_trust"], {"eng": ENG}, scale_points=5, listwise=True)
    pd.testing.assert_frame_equal(staff, before)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"by": "nope"}, ValueError, "'nope'"),
        ({"columns": ["zzz"]}, ValueError, "'zzz'"),
        ({"columns": ["occupation"]}, TypeError, "'occupation'"),
        ({"scale_points": {"other": 5}}, ValueError, "no entry"),
        ({"scale_points": 1}, ValueError, "scale_points"),
        ({"min_rwg": 1.5}, ValueError, "min_rwg"),
        ({"min_size": 0}, ValueError, "min_size"),
        ({"null": "skew"}, ValueError, "`null`"),
        ({"listwise": 1}, TypeError, "listwise"),
        ({"columns": {}}, ValueError, "at least one"),
    ],
)
def test_validation(staff, kwargs, exc, match):
    args = {"by": "team", "columns": ["mot1"], "scale_points": 5, **kwargs}
    with pytest.raises(exc, match=match):
        tc.aggregate(staff, args.pop("by"), args.pop("columns"), **args)


def test_data_must_be_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        tc.aggregate(np.zeros((3, 2)), "g", ["q"], scale_points=5)


@pytest.mark.parametrize("listwise", [False, True])
def test_respondent_without_answers_has_no_score(listwise):
    df = pd.DataFrame({"g": ["a", "a", "a", "b", "b"], "p": [1, np.nan, 2, 3, 3], "q": [2, np.nan, 2, 4, 5]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedDataWarning)
        t = tc.aggregate(df, "g", {"s": ["p", "q"]}, scale_points=5, listwise=listwise).table
    assert t["s_n"].tolist() == [2, 2] and t["n_members"].tolist() == [3, 2]
    assert_allclose(t["s_mean"], [1.75, 3.75], rtol=1e-15)
