"""The scoring engine's two paths (fast blocks of rows and the exact path) against a slow obvious loop.

``score`` works in blocks of rows: a block whose codes pass a few reductions is summed by the fast
path (one float addition per value, integrality proved from the bit patterns of an offset
accumulator); any other block goes through the exact path, which compares every value with the
scale's codes. These tests feed both paths hostile values (codes below and above the scale,
fractions, values within 1e-12 of a code, "does not apply" codes, -0.0, NaNs with a payload or a
sign, infinities, integer columns), in blocks of a few rows so that one call mixes the two paths,
and compare the numbers with a slow loop written from the definition.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import teamculture as tc
import teamculture.scoring as scoring_mod
from teamculture.errors import DroppedDataWarning

PAYLOAD_NAN = np.array([0x7FF00000000007A2], dtype=np.uint64).view(np.float64)[0]  # R's NA_real_
NEGATIVE_NAN = -np.abs(np.float64("nan"))


@contextlib.contextmanager
def _engine(chunk: int, threads: int, fast: bool = True):
    saved = scoring_mod._CHUNK, scoring_mod._THREADS, scoring_mod._key_groups, scoring_mod._usable_cpus
    scoring_mod._CHUNK, scoring_mod._THREADS = chunk, threads
    scoring_mod._usable_cpus = lambda: threads  # the threaded path runs even on a one-CPU machine
    if not fast:
        original = saved[2]

        def exact_only(inst, ids):
            return [g.__class__(**{**g.__dict__, "fast": False}) for g in original(inst, ids)]

        scoring_mod._key_groups = exact_only
    try:
        yield
    finally:
        scoring_mod._CHUNK, scoring_mod._THREADS, scoring_mod._key_groups, scoring_mod._usable_cpus = saved


def _definition(lo, hi, missing, reverse, split, rescale, min_items):
    items = [{"id": f"i{k}", "scale": "s", "reverse": r} for k, r in enumerate(reverse)]
    scale = {"codes": list(range(lo, hi + 1)), "labels": [f"c{c}" for c in range(lo, hi + 1)]}
    if missing is not None:
        scale["missing_codes"] = [missing]
        scale["missing_labels"] = ["does not apply"]
    ids = [it["id"] for it in items]
    subs = {"a": {"items": ids[:split], "min_items": min(min_items, split)}}
    if split < len(ids):
        subs["b"] = {"items": ids[split:], "min_items": min(min_items, len(ids) - split)}
    scoring = {"method": "mean"}
    if rescale:
        scoring["range"] = [0, 10]
    return {"id": "t", "name": "t", "version": "1", "status": "reconstructed", "unconfirmed": ["test"],
            "citation": "test", "licence": "test", "scales": {"s": scale}, "items": items, "subscales": subs,
            "scoring": scoring}


def _slow(df, definition):
    """Scores and the number of invalid codes, one value at a time, from the definition."""
    sc = definition["scales"]["s"]
    codes = sc["codes"]
    lo, hi = codes[0], codes[-1]
    tol = 1e-9 * max(1.0, max(abs(c) for c in codes))
    dk = sc.get("missing_codes", [])
    rev = {it["id"]: it["reverse"] for it in definition["items"]}
    rng = definition["scoring"].get("range")
    n_invalid = 0
    keyed = {}
    for col in df.columns:
        vals = []
        for v in df[col].tolist():
            v = float(v)
            code = next((c for c in codes if abs(v - c) <= tol), None) if not math.isnan(v) else None
            if code is None:
                if not math.isnan(v) and not any(abs(v - d) <= tol for d in dk):
                    n_invalid += 1
                vals.append(math.nan)
                continue
            k = lo + hi - code if rev[col] else code
            if rng is not None:
                k = rng[0] + (k - lo) * (rng[1] - rng[0]) / (hi - lo)
            vals.append(k)
        keyed[col] = vals
    out = {}
    for name, sub in definition["subscales"].items():
        col = []
        for r in range(len(df)):
            answered = [keyed[i][r] for i in sub["items"] if not math.isnan(keyed[i][r])]
            col.append(sum(answered) / len(answered) if len(answered) >= sub["min_items"] else math.nan)
        out[name] = col
    return pd.DataFrame(out, index=df.index), n_invalid


_HOSTILE = [np.nan, PAYLOAD_NAN, NEGATIVE_NAN, np.inf, -np.inf, -0.0, 0.5, 2.5, 1e-12, 7.0, 100.0, -3.0]


@st.composite
def _case(draw):
    lo = draw(st.sampled_from([-2, 0, 1]))
    hi = lo + draw(st.integers(1, 6))
    missing = draw(st.sampled_from([None, hi + 4]))
    p = draw(st.integers(1, 6))
    n = draw(st.integers(1, 30))
    reverse = draw(st.lists(st.booleans(), min_size=p, max_size=p))
    split = draw(st.integers(1, p))
    rescale = draw(st.booleans())
    min_items = draw(st.integers(1, 3))
    valid = st.integers(lo, hi).map(float)
    near = st.tuples(st.integers(lo, hi), st.sampled_from([1e-12, -1e-12, 3e-10])).map(lambda t: t[0] + t[1])
    extra = [float(missing)] if missing is not None else []
    odd = st.sampled_from(_HOSTILE + extra + [float(lo - 1), float(hi + 1), lo + 0.25])
    weights = draw(st.sampled_from([(1.0, 0.0, 0.0), (0.8, 0.2, 0.0), (0.6, 0.2, 0.2)]))
    cell = st.one_of(valid, st.just(np.nan), near, odd) if weights[2] else st.one_of(valid, st.just(np.nan))
    if weights[0] == 1.0:
        cell = valid
    cols = {}
    for k in range(p):
        x = np.array(draw(st.lists(cell, min_size=n, max_size=n)), dtype=float)
        if draw(st.booleans()) and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
            x = x.astype(np.int64)  # an integer column (as read_csv gives without missing values)
        cols[f"i{k}"] = x
    chunk = draw(st.sampled_from([1, 2, 3, 7, 64]))
    threads = draw(st.sampled_from([1, 2]))
    return pd.DataFrame(cols), _definition(lo, hi, missing, reverse, split, rescale, min_items), chunk, threads


def _counted(records) -> int:
    found = [int(re.match(r"(\d+) code", str(w.message)).group(1)) for w in records
             if issubclass(w.category, DroppedDataWarning)]
    return sum(found)


@given(_case())
def test_fast_and_exact_paths_equal_slow_loop(case):
    df, definition, chunk, threads = case
    before = df.copy()
    desired, n_bad = _slow(df, definition)
    inst = tc.load_instrument(definition)
    results = []
    for fast in (True, False):
        with _engine(chunk, threads, fast), warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            got = tc.score(df, inst, invalid="missing")
        assert _counted(rec) == n_bad
        results.append(got)
        assert_allclose(got.to_numpy(), desired.to_numpy(), rtol=1e-12, atol=1e-12)
        assert_array_equal(got.isna().to_numpy(), desired.isna().to_numpy())
        if n_bad:
            with _engine(chunk, threads, fast), pytest.raises(ValueError, match=r"invalid code\(s\)"):
                tc.score(df, inst)
    # the two paths give the same numbers, bit for bit
    pd.testing.assert_frame_equal(results[0], results[1], check_exact=True)
    pd.testing.assert_frame_equal(df, before)  # input never mutated


def test_fast_path_is_taken_on_clean_data_and_equals_exact_bit_for_bit():
    rng = np.random.default_rng(5)
    inst = tc.instruments.get("hsopsc-1")
    x = rng.integers(1, 6, size=(5000, len(inst.items))).astype(float)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.05] = 9.0  # "does not apply"
    df = pd.DataFrame(x, columns=list(inst.item_ids))
    calls = {"fast": 0, "exact": 0}
    fast_block, exact_block = scoring_mod._fast_block, scoring_mod._exact_block

    def count_fast(*a):
        ok = fast_block(*a)
        calls["fast" if ok else "exact"] += 1
        return ok

    scoring_mod._fast_block = count_fast
    try:
        with _engine(512, 1):
            fast = tc.score(df, inst)
    finally:
        scoring_mod._fast_block = fast_block
    assert calls["fast"] > 0 and calls["exact"] == 0
    with _engine(512, 1, fast=False):
        exact = tc.score(df, inst)
    pd.testing.assert_frame_equal(fast, exact, check_exact=True)
    assert exact_block is scoring_mod._exact_block


@pytest.mark.parametrize("value", [3 + 4e-16, 3 - 4e-16, 3 + 1e-10, 5 + 1e-12])
def test_values_within_tolerance_of_a_code_are_that_code_on_both_paths(value):
    df = pd.DataFrame({"a": [value, 2.0, 4.0], "b": [1.0, 2.0, 3.0]})
    expect = pd.DataFrame({"s": [(round(value) + 1) / 2, 2.0, 3.5]})
    for fast in (True, False):
        with _engine(2, 1, fast):
            got = tc.score(df, {"s": ["a", "b"]}, scale=(1, 5))
        pd.testing.assert_frame_equal(got, expect, check_exact=True)


@pytest.mark.parametrize("value", [3 + 1e-7, 2.5, 0.0, 6.0, -1.0, np.inf])
def test_values_off_the_codes_are_invalid_on_both_paths(value):
    df = pd.DataFrame({"a": [value, 2.0, 4.0], "b": [1.0, 2.0, 3.0]})
    for fast in (True, False):
        with _engine(2, 1, fast), pytest.raises(ValueError, match=r"column 'a' \(item 'a'\) has 1 row\(s\)"):
            tc.score(df, {"s": ["a", "b"]}, scale=(1, 5))


def test_nan_with_a_payload_or_a_sign_is_missing():
    df = pd.DataFrame({"a": [PAYLOAD_NAN, NEGATIVE_NAN, 4.0], "b": [1.0, 2.0, 3.0]})
    for fast in (True, False):
        with _engine(1024, 1, fast):
            got = tc.score(df, {"s": ["a", "b"]}, scale=(1, 5))
        assert_array_equal(got["s"].to_numpy(), [1.0, 2.0, 3.5])


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 5000), chunk=st.integers(1, 600), threads=st.integers(1, 4), cpus=st.integers(1, 4))
def test_blocks_cover_every_row_once_in_equal_blocks(n, chunk, threads, cpus):
    saved = scoring_mod._CHUNK, scoring_mod._THREADS, scoring_mod._usable_cpus
    scoring_mod._CHUNK, scoring_mod._THREADS = chunk, threads
    scoring_mod._usable_cpus = lambda: cpus
    try:
        size, workers = scoring_mod._blocks(n)
    finally:
        scoring_mod._CHUNK, scoring_mod._THREADS, scoring_mod._usable_cpus = saved
    starts = list(range(0, n, size))
    assert 1 <= size <= chunk
    assert 1 <= workers <= min(threads, cpus)
    assert workers == 1 or len(starts) >= workers  # no idle thread
    covered = np.concatenate([np.arange(a, min(n, a + size)) for a in starts])
    np.testing.assert_array_equal(covered, np.arange(n))
    # the threads' shares (every workers-th block) differ by at most one block
    shares = [sum(min(n, a + size) - a for a in starts[w::workers]) for w in range(workers)]
    assert max(shares) - min(shares) <= size
