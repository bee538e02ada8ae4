"""The blocked pass of ``aggregate`` (rows sorted by group) gives the general code's numbers bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import teamculture as tc
from teamculture.aggregation import _aggregate, _fused


def _both(monkeypatch, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.errors.TeamcultureWarning)
        fast = tc.aggregate(*args, **kwargs)
        with monkeypatch.context() as m:
            m.setattr(_aggregate, "usable", lambda *a: None)
            general = tc.aggregate(*args, **kwargs)
    return fast, general


def _identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.index.equals(b.index)
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        assert x.dtype == y.dtype, c
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), (c, np.nanmax(np.abs(x - y)))
        else:
            assert np.array_equal(x, y), c


@pytest.mark.parametrize("n_items", [1, 3, 8, 9, 17, 40])
@pytest.mark.parametrize("nan_policy", ["omit", "pairwise"])
def test_blocked_pass_is_bit_identical_on_non_integer_codes(monkeypatch, n_items, nan_policy):
    # codes that are not integers: sums depend on the order of the additions, so any reordering shows
    rng = np.random.default_rng(n_items)
    codes = np.sort(rng.uniform(-3.0, 7.0, 7)).round(6)
    n = 40_000  # several blocks of whole teams
    team = np.sort(rng.integers(0, 2_500, n))
    x = codes[rng.integers(0, 7, (n, n_items))]
    x[rng.random((n, n_items)) < 0.03] = np.nan
    data = pd.DataFrame(x, columns=[f"i{j}" for j in range(n_items)]).assign(team=team.astype(str))
    data = data.sort_values("team", kind="stable").reset_index(drop=True)
    cols = [f"i{j}" for j in range(n_items)]
    assert _fused.usable(data[cols].to_numpy(), np.unique(data["team"], return_inverse=True)[1], 2_500) is not None
    fast, general = _both(monkeypatch, data, {"v": cols}, by="team", scale=list(codes), nan_policy=nan_policy)
    _identical(fast.table, general.table)
    assert fast.icc.equals(general.icc)


def test_blocked_pass_on_the_survey_with_nested_groups_and_an_instrument(monkeypatch):
    staff = tc.national_survey("small", rng=5).staff
    items = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3"]
    for args, kwargs in [((staff, {"eng": items, "m": items[:2]}), {"by": "team", "scale": (1, 5)}),
                         ((staff, {"eng": items}), {"by": ["trust", "team"], "scale": (1, 5)}),
                         ((staff, "nhs-engagement"), {"by": "team", "nan_policy": "pairwise"})]:
        fast, general = _both(monkeypatch, *args, **kwargs)
        _identical(fast.table, general.table)
        assert fast.icc.equals(general.icc)


def test_unsorted_rows_take_the_general_path():
    codes = np.array([0, 1, 0, 1])
    x = np.asfortranarray(np.ones((4, 2)))
    assert _fused.usable(x, codes, 2) is None
    assert _fused.usable(x, np.sort(codes), 2) is not None
    assert _fused.usable(np.ascontiguousarray(x), np.sort(codes), 2) is None  # C order: other row-sum order
    assert _fused.usable(x, np.array([0, 0, 2, 2]), 3) is None  # an empty group
