"""Tests for teamculture.aggregate (group-level data with agreement diagnostics)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import DegenerateDataWarning, DroppedDataWarning, SmallGroupWarning

ENG = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]


@pytest.fixture(scope="module")
def staff():
    return tc.national_survey("tiny", rng=5).staff


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallGroupWarning)
        warnings.simplefilter("ignore", DroppedDataWarning)
        warnings.filterwarnings("ignore", message="awg is undefined", category=DegenerateDataWarning)
        return fn(*a, **k)


def test_columns_are_fixed(staff):
    agg = _quiet(tc.aggregate, staff, {"eng": ENG, "cl": ["cl1", "cl2"]}, by="team", scale=(1, 5))
    stats = ["n", "mean", "sd", "rwg", "rwg_lindell", "awg", "ad", "low_agreement", "small"]
    assert list(agg.table.columns) == ["n_members"] + [f"{v}_{s}" for v in ("eng", "cl") for s in stats]
    assert list(agg.icc.index) == ["eng", "cl"]
    assert list(agg.icc.columns) == ["icc1", "icc2", "k", "n_obs", "n_dropped"]
    assert agg.table.index.name == "team"
    assert agg.table["eng_rwg"].dtype == float and agg.table["eng_small"].dtype == bool
    assert agg.to_frame() is agg.table and agg.n_groups == len(agg.table) and agg.n_obs == len(staff)


@pytest.mark.parametrize("nan_policy", ["omit", "pairwise"])
def test_equals_the_individual_functions(staff, nan_policy):
    agg = _quiet(tc.aggregate, staff, {"eng": ENG}, by="team", scale=(1, 5), nan_policy=nan_policy).table
    items, g = staff[ENG], staff["team"]
    kw = {"scale": (1, 5), "nan_policy": nan_policy}
    assert_allclose(agg["eng_rwg"], _quiet(tc.rwg_j, items, g, **kw)["rwg_j"], rtol=1e-12)
    assert_allclose(agg["eng_rwg_lindell"], _quiet(tc.rwg_j_lindell, items, g, **kw)["rwg_j_lindell"], rtol=1e-12)
    assert_allclose(agg["eng_awg"], _quiet(tc.awg, items, g, **kw)["awg"], rtol=1e-12)
    assert_allclose(agg["eng_ad"], _quiet(tc.ad_index, items, g, **kw)["ad"], rtol=1e-12)
    # scores: the mean of the items (complete cases) or of the answered items (pairwise)
    score = items.mean(axis=1) if nan_policy == "pairwise" else items.mean(axis=1, skipna=False)
    by = score.groupby(g, observed=True)
    assert_allclose(agg["eng_mean"], by.mean(), rtol=1e-12)
    assert_allclose(agg["eng_sd"], by.std(ddof=1), rtol=1e-12)
    assert_allclose(agg["eng_n"], by.count(), rtol=0)
    assert_allclose(agg["n_members"], g.value_counts().sort_index(), rtol=0)


def test_icc_of_scores(staff):
    agg = _quiet(tc.aggregate, staff, {"eng": ENG}, by="team", scale=(1, 5))
    score = staff[ENG].mean(axis=1, skipna=False)
    i1 = _quiet(tc.icc1, score, staff["team"])
    assert_allclose(agg.icc.loc["eng", "icc1"], i1, rtol=1e-12)
    assert_allclose(agg.icc.loc["eng", "icc2"], _quiet(tc.icc2, score, staff["team"]), rtol=1e-12)
    assert agg.icc.loc["eng", "n_obs"] == score.notna().sum()
    assert agg.icc.loc["eng", "n_dropped"] == score.isna().sum() == agg.n_dropped


def test_two_by_columns_keep_local_team_numbers_apart(staff):
    a = _quiet(tc.aggregate, staff, {"eng": ENG}, by=["trust", "team_in_trust"], scale=(1, 5))
    b = _quiet(tc.aggregate, staff, {"eng": ENG}, by="team", scale=(1, 5))
    assert a.table.index.names == ["trust", "team_in_trust"]
    assert len(a.table) == len(b.table) == staff["team"].nunique()
    # same groups, so the same sorted statistics
    assert_allclose(np.sort(a.table["eng_rwg"]), np.sort(b.table["eng_rwg"]), rtol=1e-12)
    key = staff.groupby(["trust", "team_in_trust"], observed=True)["team"].first()
    assert_allclose(a.table["eng_mean"].to_numpy(), b.table.loc[key.loc[a.table.index], "eng_mean"].to_numpy(),
                    rtol=1e-12)


def test_flags_follow_cutoffs(staff):
    agg = _quiet(tc.aggregate, staff, ["cl1"], by="team", scale=(1, 5), min_size=12, min_rwg=0.5)
    t = agg.table
    assert (t["cl1_small"] == (t["cl1_n"] < 12)).all()
    assert (t["cl1_low_agreement"] == ~(t["cl1_rwg"] >= 0.5)).all()
    text = str(agg.summary())
    assert "share_low_agreement" in text and "rwg below" in text


def test_single_item_rwg_equals_rwg(staff):
    agg = _quiet(tc.aggregate, staff, "ps2", by="team", scale=(1, 7))
    r = _quiet(tc.rwg, staff["ps2"], staff["team"], scale=(1, 7))
    assert_allclose(agg.table["ps2_rwg"], r["rwg"], rtol=1e-12)
    assert agg.null_variance["ps2"] == 4.0


def test_scale_per_variable(staff):
    agg = _quiet(tc.aggregate, staff, {"eng": ENG, "ps": ["ps2"]}, by="team", scale={"eng": (1, 5), "ps": (1, 7)})
    assert agg.null_variance.to_dict() == {"eng": 2.0, "ps": 4.0}
    with pytest.raises(ValueError, match=r"`scale` has no entry for \['ps'\]"):
        tc.aggregate(staff, {"eng": ENG, "ps": ["ps2"]}, by="team", scale={"eng": (1, 5)})


def test_groups_of_one_warn_and_are_nan():
    df = pd.DataFrame({"g": ["a", "a", "b"], "q": [1.0, 2.0, 3.0]})
    with pytest.warns(SmallGroupWarning, match=r"1 group\(s\).*'b'"):
        agg = tc.aggregate(df, "q", by="g", scale=(1, 5))
    assert np.isnan(agg.table.loc["b", "q_rwg"]) and agg.table.loc["b", "q_low_agreement"]


def test_complete_case_drops_are_counted(staff):
    n_incomplete = int(staff[ENG].isna().any(axis=1).sum())
    assert n_incomplete > 0
    with pytest.warns(DroppedDataWarning, match=f"eng: {n_incomplete} row"):
        agg = tc.aggregate(staff, {"eng": ENG}, by="team", scale=(1, 5))
    assert agg.n_dropped == n_incomplete
    n_cells = int(staff[ENG].isna().sum().sum())
    with pytest.warns(DroppedDataWarning, match=f"eng: {n_cells} value"):
        tc.aggregate(staff, {"eng": ENG}, by="team", scale=(1, 5), nan_policy="pairwise")


def test_does_not_mutate(staff):
    before = staff.copy(deep=True)
    _quiet(tc.aggregate, staff, {"eng": ENG}, by=["trust", "team_in_trust"], scale=(1, 5))
    pd.testing.assert_frame_equal(staff, before)


def test_result_pickles_and_compares(staff):
    a = _quiet(tc.aggregate, staff, {"eng": ENG}, by="team", scale=(1, 5))
    b = pickle.loads(pickle.dumps(a))
    assert a == b and not hasattr(a, "notes")


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"by": "nope"}, ValueError, "`by` names column.*'nope'"),
        ({"columns": ["zzz"]}, ValueError, "`columns` names column.*'zzz'"),
        ({"columns": ["occupation"]}, TypeError, "`columns` must be numeric.*'occupation'"),
        ({"scale": {"other": (1, 5)}}, ValueError, "no entry"),
        ({"scale": 5}, TypeError, r"scale=\(1, 5\)"),
        ({"min_rwg": 1.5}, ValueError, "min_rwg"),
        ({"min_size": 0}, ValueError, "min_size"),
        ({"null": "skew"}, ValueError, "`null`"),
        ({"nan_policy": "listwise"}, ValueError, "nan_policy"),
        ({"columns": {}}, ValueError, "at least one"),
    ],
)
def test_validation(staff, kwargs, exc, match):
    args = {"by": "team", "columns": ["mot1"], "scale": (1, 5), **kwargs}
    with pytest.raises(exc, match=match):
        tc.aggregate(staff, args.pop("columns"), **args)


def test_data_must_be_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        tc.aggregate(np.zeros((3, 2)), ["q"], by="g", scale=(1, 5))


@pytest.mark.parametrize("nan_policy", ["omit", "pairwise"])
def test_respondent_without_answers_has_no_score(nan_policy):
    df = pd.DataFrame({"g": ["a", "a", "a", "b", "b"], "p": [1, np.nan, 2, 3, 3], "q": [2, np.nan, 2, 4, 5]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedDataWarning)
        t = tc.aggregate(df, {"s": ["p", "q"]}, by="g", scale=(1, 5), nan_policy=nan_policy).table
    assert t["s_n"].tolist() == [2, 2] and t["n_members"].tolist() == [3, 2]
    assert_allclose(t["s_mean"], [1.75, 3.75], rtol=1e-15)


def test_summary_counts_groups_with_undefined_awg():
    data = pd.DataFrame({"x": [1, 2, 4, 5, 2, 4, 5, 5], "team": ["low", "low", "high", "high", "mid", "mid", "end", "end"]})
    agg = tc.aggregate(data, ["x"], by="team", scale=(1, 5))
    assert agg.table["x_awg"].isna().to_dict() == {"end": False, "high": True, "low": True, "mid": False}
    s = agg.summary()
    assert s.tables[0][1].loc["x", "n_awg_undefined"] == 2
    assert any("awg is undefined (NaN) for 2 group(s)" in n for n in s.notes)
