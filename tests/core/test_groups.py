"""The grouping core: alignment on the index, labels -> codes, nested levels, subsets, one-way ANOVA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from teamculture._core.groups import Groups, align, factorize, group_sum, oneway_anova, parent_map


# --------------------------------------------------------------------------- align
def test_align_reorders_same_labels():
    ref = pd.Index([10, 11, 12])
    obj = pd.Series(["c", "a", "b"], index=[12, 10, 11])
    out = align(obj, ref, name="groups", ref_name="x")
    assert out.tolist() == ["a", "b", "c"]
    assert out.index.equals(ref)


def test_align_passes_equal_index_and_plain_arrays_through():
    ref = pd.RangeIndex(3)
    s = pd.Series([1, 2, 3])
    assert align(s, ref, name="g", ref_name="x") is s
    arr = np.array([3, 2, 1])
    assert align(arr, ref, name="g", ref_name="x") is arr
    assert align(s, None, name="g", ref_name="x") is s


def test_align_refuses_different_labels_naming_both():
    with pytest.raises(ValueError, match=r"`groups` and `x` carry different row labels: 1 label\(s\) of `x` are "
                                         r"not in `groups` \(\[2\]\) and 1 of `groups` are not in `x` \(\[7\]\)"):
        align(pd.Series([1, 2, 3], index=[0, 1, 7]), pd.RangeIndex(3), name="groups", ref_name="x")


def test_align_refuses_duplicate_labels_in_another_order():
    with pytest.raises(ValueError, match="cannot be matched one to one .duplicate labels in `groups`"):
        align(pd.Series([1, 2, 3], index=[0, 0, 1]), pd.Index([0, 1, 0]), name="groups", ref_name="x")


def test_align_refuses_missing_labels_and_selects_from_a_superset():
    with pytest.raises(ValueError, match=r"1 label\(s\) of `x` are not in `groups` \(\[2\]\)"):
        align(pd.Series([1, 2]), pd.RangeIndex(3), name="groups", ref_name="x")
    # the full label column for a subset of rows (items.dropna()): selected by label
    out = align(pd.Series(["a", "b", "c", "d"]), pd.Index([3, 1]), name="groups", ref_name="items")
    assert out.tolist() == ["d", "b"]


# --------------------------------------------------------------------------- factorize
def test_factorize_sorts_and_keeps_category_order():
    codes, labels = factorize(["b", "a", "b", "c"], 4)
    assert codes.tolist() == [1, 0, 1, 2]
    assert labels.tolist() == ["a", "b", "c"]
    cat = pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"], ordered=True)
    codes, labels = factorize(cat, 3)
    assert codes.tolist() == [0, 1, 0]
    assert labels.tolist() == ["lo", "hi"]  # the empty level is not a group


def test_factorize_missing_labels():
    with pytest.raises(ValueError, match=r"`groups` has 1 missing label\(s\) at rows \[1\]"):
        factorize(["a", None, "b"], 3)
    codes, _ = factorize(["a", None, "b"], 3, missing="code")
    assert codes.tolist() == [0, -1, 1]


def test_factorize_unsortable_labels_and_shapes():
    with pytest.raises(ValueError, match=r"`groups` mixes label types \(int, str\): 1 and '1' would be different"):
        factorize(pd.Series([1, "1", 2], dtype=object), 3)
    with pytest.raises(ValueError, match="one-dimensional"):
        factorize(np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="has 2 labels but the data have 3 rows"):
        factorize(["a", "b"], 3)


# --------------------------------------------------------------------------- Groups
def test_groups_one_level_aligned_on_index():
    x_index = pd.Index(["r1", "r2", "r3", "r4"])
    g = pd.Series(["t2", "t1", "t1", "t2"], index=["r4", "r1", "r2", "r3"], name="team")
    groups, missing = Groups.from_labels(g, 4, index=x_index)
    assert not missing.any()
    assert groups.names == ("team",)
    assert groups.finest_labels.tolist() == ["t1", "t2"]
    assert groups.finest.tolist() == [0, 0, 1, 1]  # r1, r2 in t1; r3, r4 in t2


def test_groups_nested_levels_identify_inner_within_outer():
    frame = pd.DataFrame({"trust": ["A", "A", "B", "B", "B"], "team": [1, 2, 1, 1, 2]})
    groups, missing = Groups.from_labels(frame, 5)
    assert groups.n_levels == 2
    assert groups.n_groups == (2, 4)  # team 1 of trust A and team 1 of trust B are different teams
    assert groups.codes[1].tolist() == [0, 1, 2, 2, 3]
    assert list(groups.finest_labels) == [("A", 1), ("A", 2), ("B", 1), ("B", 2)]
    assert groups.finest_labels.names == ["trust", "team"]
    assert groups.parents[0].tolist() == [0, 0, 1, 1]
    assert_array_equal(groups.sizes(), [1, 1, 2, 1])


def test_groups_nested_from_a_2d_array_matches_the_frame():
    frame = pd.DataFrame({"trust": ["A", "A", "B", "B", "B"], "team": [1, 2, 1, 1, 2]})
    a, _ = Groups.from_labels(frame.to_numpy(), 5)
    b, _ = Groups.from_labels(frame, 5)
    assert_array_equal(a.codes[1], b.codes[1])
    assert a.names == ("level1", "level2")


def test_groups_missing_labels_and_subset():
    frame = pd.DataFrame({"trust": ["A", None, "B", "B"], "team": ["x", "y", "y", "z"]})
    groups, missing = Groups.from_labels(frame, 4)
    assert missing.tolist() == [False, True, False, False]
    sub = groups.subset(~missing & np.array([True, True, True, False]))
    assert sub.n_groups == (2, 2)
    assert list(sub.finest_labels) == [("A", "x"), ("B", "y")]
    assert sub.codes[1].tolist() == [0, -1, 1, -1]


def test_groups_too_many_levels_and_lengths():
    with pytest.raises(ValueError, match="at most 1 label column"):
        Groups.from_labels(pd.DataFrame({"a": [1, 2], "b": [1, 2]}), 2, max_levels=1)
    with pytest.raises(ValueError, match="`groups` has 2 labels but the data have 3 rows"):
        Groups.from_labels(["a", "b"], 3)


@given(st.lists(st.sampled_from("abcde"), min_size=2, max_size=40), st.randoms(use_true_random=False))
def test_groups_invariant_to_row_order(labels, random):
    """Shuffling the rows of labelled inputs (with their index) gives the same grouping."""
    s = pd.Series(labels, index=[f"r{i}" for i in range(len(labels))])
    order = list(range(len(labels)))
    random.shuffle(order)
    g1, _ = Groups.from_labels(s, len(s), index=s.index)
    g2, _ = Groups.from_labels(s.iloc[order], len(s), index=s.index)
    assert_array_equal(g1.finest, g2.finest)
    assert g1.finest_labels.equals(g2.finest_labels)


def test_parent_map():
    assert parent_map(np.array([0, 1, 1, 2]), np.array([0, 0, 0, 1]), 3).tolist() == [0, 0, 1]
    assert parent_map(np.array([0, 1, 1]), np.array([0, 0, 1]), 2) is None


# --------------------------------------------------------------------------- sums and ANOVA
def test_group_sum_matches_pandas():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 5, 200)
    v = rng.normal(size=(2, 200))
    expected = pd.DataFrame(v.T).groupby(codes).sum().to_numpy()
    assert_allclose(group_sum(codes, v, 5), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(group_sum(codes, v[0], 5), expected[:, 0], rtol=1e-12, atol=1e-12)


def test_oneway_anova_closed_form():
    # groups (1, 2, 3) and (5, 6, 7): MSB = 24, MSW = 1
    a = oneway_anova(np.array([1.0, 2, 3, 5, 6, 7]), np.array([0, 0, 0, 1, 1, 1]), 2)
    assert (a.msb, a.msw, a.n_groups, a.df_between, a.df_within) == (24.0, 1.0, 2, 1, 4)
    assert a.k_mean == 3.0 and a.k_adjusted == 3.0


def test_oneway_anova_refuses_degenerate_designs():
    with pytest.raises(ValueError, match="`team` must have at least two groups with data; got 1"):
        oneway_anova(np.array([1.0, 2.0]), np.array([0, 0]), 1, name="team")
    with pytest.raises(ValueError, match="every group has one member"):
        oneway_anova(np.array([1.0, 2.0]), np.array([0, 1]), 2)
