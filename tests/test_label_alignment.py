"""Separately passed labelled arguments are matched by index label, never paired by position.

A property over every public function that takes more than one labelled argument: shuffling
the rows of the later arguments (with their index) gives exactly the same answer; arguments whose
labels differ from the first argument's are refused with an error naming both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import teamculture as tc


def _survey(seed: int, n_groups: int = 6, size: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * size
    team = np.repeat([f"t{i}" for i in range(n_groups)], size)
    trust = np.repeat([f"T{i // 2}" for i in range(n_groups)], size)
    shift = np.repeat(rng.integers(-1, 2, n_groups), size)
    items = np.clip(3 + shift[:, None] + rng.integers(-1, 2, (n, 3)), 1, 5).astype(float)
    y = rng.normal(size=n) + shift
    return pd.DataFrame({"trust": trust, "team": team, "q1": items[:, 0], "q2": items[:, 1], "q3": items[:, 2],
                         "y": y, "z": y + rng.normal(size=n), "observed": rng.poisson(30, n).astype(float),
                         "expected": rng.uniform(20, 40, n)},
                        index=pd.Index([f"s{i:03d}" for i in range(n)], name="staff"))


# name -> (call taking (first, later...) as labelled objects, how to split the survey into arguments)
CASES = {
    "rwg": (lambda x, g: tc.rwg(x, g, scale=(1, 5)), lambda d: (d["q1"], d["team"])),
    "rwg_j": (lambda x, g: tc.rwg_j(x, g, scale=(1, 5)), lambda d: (d[["q1", "q2", "q3"]], d["team"])),
    "rwg_j_lindell": (lambda x, g: tc.rwg_j_lindell(x, g, scale=(1, 5)), lambda d: (d[["q1", "q2", "q3"]], d["team"])),
    "awg": (lambda x, g: tc.awg(x, g, scale=(1, 5)), lambda d: (d[["q1", "q2", "q3"]], d["team"])),
    "ad_index": (lambda x, g: tc.ad_index(x, g, scale=(1, 5)), lambda d: (d[["q1", "q2"]], d["team"])),
    "rgr_agree": (lambda x, g: tc.rgr_agree(x, g, n_resamples=10, rng=1), lambda d: (d["q1"], d["team"])),
    "pseudo_group_means": (lambda x, g: tc.pseudo_group_means(x, g, n_resamples=10, rng=1),
                           lambda d: (d["y"], d["team"])),
    "icc1": (lambda x, g: tc.icc1(x, g), lambda d: (d["y"], d["team"])),
    "icc2": (lambda x, g: tc.icc2(x, g), lambda d: (d["y"], d["team"])),
    "icc": (lambda x, g: tc.icc(x, g), lambda d: (d["y"], d[["trust", "team"]])),
    "waba": (lambda x, y, g: tc.waba(x, y, g), lambda d: (d["y"], d["z"], d["team"])),
    "multilevel_reliability": (lambda x, g: tc.multilevel_reliability(x, g, scale=(1, 5)),
                               lambda d: (d[["q1", "q2", "q3"]], d["team"])),
    "smr": (lambda o, e: tc.smr(o, e), lambda d: (d["observed"], d["expected"])),
    "funnel_limits": (lambda o, e: tc.funnel_limits(o, e), lambda d: (d["observed"], d["expected"])),
    "glmm": (lambda d, o: tc.glmm("k ~ z + (1 | team)", d, family="poisson", offset=o),
             lambda d: (d.assign(k=d["observed"]), np.log(d["expected"]))),
}


def _same(a, b, *, names: bool = True) -> bool:
    from teamculture.results import Result

    if not names and isinstance(a, Result):
        # plain arrays carry no level names: compare the numbers of the main table
        fa, fb = a.to_frame(), b.to_frame()
        return a.n_obs == b.n_obs and np.array_equal(fa.select_dtypes("number").to_numpy(),
                                                     fb.select_dtypes("number").to_numpy(), equal_nan=True)
    if not names and isinstance(a, (pd.DataFrame, pd.Series)):
        return np.array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True)
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.equals(b)
    if isinstance(a, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


def _quiet(call, *args):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small groups etc.: the same warnings either way
        return call(*args)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8)
@given(seed=st.integers(0, 10_000), order_seed=st.integers(0, 10_000))
def test_shuffled_labelled_arguments_give_the_same_answer(name, seed, order_seed):
    call, split = CASES[name]
    args = split(_survey(seed))
    perm = np.random.default_rng(order_seed).permutation(len(args[0]))
    shuffled = (args[0], *[a.iloc[perm] for a in args[1:]])
    assert _same(_quiet(call, *args), _quiet(call, *shuffled)), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_positional_pairing_is_explicit(name):
    # plain arrays pair rows by position: the same answer as aligned Series in the same order
    call, split = CASES[name]
    args = split(_survey(5))
    plain = (args[0], *[a.to_numpy() for a in args[1:]])
    assert _same(_quiet(call, *args), _quiet(call, *plain), names=False), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_different_labels_are_refused(name):
    call, split = CASES[name]
    args = split(_survey(7))
    other = args[1].copy()
    other.index = [f"x{i}" for i in range(len(other))]
    with pytest.raises(ValueError, match=r"row labels"):
        call(args[0], other, *args[2:])
