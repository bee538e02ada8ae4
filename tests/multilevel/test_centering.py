"""Tests for teamculture.center (CGM / CWC / between-cluster means)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture.errors import DroppedDataWarning
from teamculture.multilevel._centering import center


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "trust": ["A", "A", "A", "B", "B", "B", "B"],
        "team": ["1", "1", "2", "1", "1", "2", "2"],  # ids reused across trusts
        "x": [1.0, 2.0, np.nan, 4.0, 8.0, 3.0, 5.0],
        "real": [True, False, True, True, True, False, False],
    }, index=[10, 11, 12, 13, 14, 15, 16])


def test_grand_matches_closed_form(frame):
    out = center(frame, "x")
    x = frame["x"]
    assert_allclose(out.to_numpy(), (x - x.mean()).to_numpy(), rtol=1e-12, atol=1e-14)
    assert out.name == "x_cgm"
    assert out.index.equals(frame.index)
    assert np.isnan(out.loc[12])


def test_cluster_with_combined_key_matches_groupby(frame):
    out = center(frame, "x", by=["trust", "team"], kind="cluster")
    expected = frame["x"] - frame.groupby(["trust", "team"])["x"].transform("mean")
    assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-14)
    # team "1" of trust A and of trust B are different clusters
    assert_allclose(out.loc[[10, 11]].to_numpy(), [-0.5, 0.5], rtol=1e-12, atol=1e-14)
    assert_allclose(out.loc[[13, 14]].to_numpy(), [-2.0, 2.0], rtol=1e-12, atol=1e-14)


def test_between_of_all_missing_cluster_is_missing(frame):
    out = center(frame, "x", by=["trust", "team"], kind="between")
    # cluster (A, 2) has only a missing value
    assert np.isnan(out.loc[12])
    grand = frame["x"].mean()
    assert_allclose(out.loc[10], 1.5 - grand, rtol=1e-12)


def test_boolean_column_and_list_of_columns(frame):
    out = center(frame, ["x", "real"], by="trust", kind="cluster")
    assert list(out.columns) == ["x_cwc", "real_cwc"]
    real = frame["real"].astype(float)
    expected = real - real.groupby(frame["trust"]).transform("mean")
    assert_allclose(out["real_cwc"].to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-14)


def test_does_not_mutate(frame):
    before = frame.copy(deep=True)
    center(frame, ["x", "real"], by="team", kind="between")
    pd.testing.assert_frame_equal(frame, before)


def test_validation_messages(frame):
    with pytest.raises(ValueError, match="`kind` must be one of"):
        center(frame, "x", kind="group")
    with pytest.raises(ValueError, match="`by` is required"):
        center(frame, "x", kind="cluster")
    with pytest.raises(ValueError, match="`by` must be None"):
        center(frame, "x", by="team")
    with pytest.raises(ValueError, match=r"`columns` names column\(s\) \['nope'\] that are not in `data`"):
        center(frame, "nope")
    with pytest.raises(TypeError, match="numeric or boolean"):
        center(frame, "trust")
    with pytest.raises(TypeError, match="DataFrame"):
        center(frame["x"], "x")
    with pytest.raises(ValueError, match=r"1 missing value\(s\) at rows \[12\]"):
        center(frame, "x", nan_policy="raise")
    bad = frame.assign(team=[None, "1", "2", "1", "1", "2", "2"])
    with pytest.raises(ValueError, match=r"`by` has 1 row\(s\) with a missing value \(rows \[10\]\)"):
        center(bad, "real", by="team", kind="cluster", nan_policy="raise")
    with pytest.warns(DroppedDataWarning, match=r"1 of 7 row\(s\) with a missing value in `by`"):
        out = center(bad, "x", by="team", kind="cluster")
    assert np.isnan(out[10]) and not np.isnan(out[11])


@st.composite
def clustered(draw):
    n = draw(st.integers(2, 40))
    groups = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    xs = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n))
    return pd.DataFrame({"g": groups, "x": xs})


@given(clustered(), st.floats(-1e3, 1e3), st.randoms(use_true_random=False))
def test_centering_invariants(df, shift, rnd):
    cgm = center(df, "x")
    cwc = center(df, "x", by="g", kind="cluster")
    btw = center(df, "x", by="g", kind="between")
    scale = 1.0 + np.abs(df["x"]).max()
    # decomposition: within + between = grand
    assert_allclose((cwc + btw).to_numpy(), cgm.to_numpy(), rtol=0, atol=1e-9 * scale)
    # CWC sums to zero in every cluster; CGM sums to zero overall
    assert_allclose(cwc.groupby(df["g"]).sum().to_numpy(), 0.0, rtol=0, atol=1e-9 * scale * len(df))
    assert abs(cgm.sum()) <= 1e-9 * scale * len(df)
    # shifting x by a constant changes nothing
    shifted = df.assign(x=df["x"] + shift)
    assert_allclose(center(shifted, "x", by="g", kind="cluster").to_numpy(), cwc.to_numpy(),
                    rtol=0, atol=1e-9 * (scale + abs(shift)))
    # permuting rows permutes the output (aligned by index)
    order = list(range(len(df)))
    rnd.shuffle(order)
    perm = df.iloc[order]
    assert_allclose(center(perm, "x", by="g", kind="between").loc[df.index].to_numpy(),
                    btw.to_numpy(), rtol=0, atol=1e-9 * scale)
    # relabelling clusters changes nothing
    relab = df.assign(g=df["g"].map(lambda v: f"team-{7 - v}"))
    assert_allclose(center(relab, "x", by="g", kind="cluster").to_numpy(), cwc.to_numpy(),
                    rtol=0, atol=1e-12 * scale)
