"""The shared validators: messages name the parameter, show the offending values, say what is allowed."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    as_float_matrix,
    as_float_vector,
    check_choice,
    check_columns,
    check_confidence_level,
    check_frame,
    check_in_scale,
    check_int,
    check_real,
    check_rng,
    check_scale,
    did_you_mean,
    few,
    relative_rank,
)
from teamculture._core.warn import warn
from teamculture.errors import DroppedDataWarning, TeamcultureWarning


def test_few_shows_a_count():
    assert few([1, 2, 3]) == "[1, 2, 3]"
    assert few(range(8), 2) == "[0, 1, ... (8 in all)]"
    assert few([np.int64(3), np.float64(1.5)]) == "[3, 1.5]"


def test_check_choice_with_hint():
    assert check_choice("method", "anova", ("anova", "reml")) == "anova"
    with pytest.raises(ValueError, match=r"`method` must be one of \['anova', 'reml'\]; got 'Anova'. Did you mean 'anova'\?"):
        check_choice("method", "Anova", ("anova", "reml"))
    with pytest.raises(ValueError, match="`method`"):
        check_choice("method", ["anova"], ("anova", "reml"))


@pytest.mark.parametrize(("value", "exc", "match"), [
    (True, TypeError, "must be an integer; got True"),
    (2.5, TypeError, "must be an integer; got 2.5"),
    ("3", TypeError, "must be an integer"),
    (0, ValueError, r"must be an integer >= 1; got 0"),
    (math.inf, TypeError, "must be an integer"),
])
def test_check_int_refuses(value, exc, match):
    with pytest.raises(exc, match=f"`n`.*{match}" if not match.startswith("must") else f"`n` {match}"):
        check_int("n", value)


def test_check_int_accepts_integral_values():
    assert check_int("n", np.int32(4)) == 4
    assert check_int("n", 5.0) == 5
    with pytest.raises(ValueError, match=r"`n` must be an integer in \[2, 3\]; got 4"):
        check_int("n", 4, minimum=2, maximum=3)


def test_check_real():
    assert check_real("x", np.float32(0.5)) == 0.5
    with pytest.raises(ValueError, match=r"`x` must be a finite number; got nan"):
        check_real("x", float("nan"))
    with pytest.raises(TypeError, match=r"`x` must be a real number; got True"):
        check_real("x", True)
    with pytest.raises(ValueError, match=r"`x` must lie in \(0, 1\]; got 0"):
        check_real("x", 0, low=0, high=1, low_open=True)
    assert check_real("x", math.inf, allow_inf=True) == math.inf


def test_check_confidence_level_hints_at_percentages():
    assert check_confidence_level(0.9) == 0.9
    with pytest.raises(ValueError, match=r"`confidence_level` must lie in \(0, 1\) \(a proportion: 0.95 for 95%\); got 95"):
        check_confidence_level(95)
    with pytest.raises(ValueError, match="`confidence_level`"):
        check_confidence_level(1.0)


def test_check_rng():
    g = np.random.default_rng(1)
    assert check_rng(g) is g
    assert check_rng(3).integers(1000) == np.random.default_rng(3).integers(1000)
    with pytest.raises(TypeError, match="`rng` must be None, a non-negative int seed or a numpy.random.Generator"):
        check_rng(np.random.RandomState(1))
    with pytest.raises(ValueError, match="`rng`"):
        check_rng(-1)


def test_frames_and_columns():
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ValueError, match=r"`data` has duplicate column name\(s\) \['a'\]"):
        check_frame(df)
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame; got list"):
        check_frame([1])
    ok = pd.DataFrame({"Engagement": [1.0], "team": ["a"]})
    assert check_columns(ok, "team", "by") == ["team"]
    with pytest.raises(ValueError, match=r"`by` names column\(s\) \['engagement'\] that are not in `data`. "
                                         r"Did you mean 'Engagement'\?"):
        check_columns(ok, "engagement", "by")


def test_as_float_matrix():
    x, cols = as_float_matrix(pd.DataFrame({"q1": [1, 2], "q2": [True, False]}), name="items")
    assert cols == ["q1", "q2"] and x.dtype == float
    with pytest.raises(TypeError, match=r"`items` must be numeric; 1 column\(s\) are not: \['q2'\]"):
        as_float_matrix(pd.DataFrame({"q1": [1, 2], "q2": ["a", "b"]}), name="items")
    with pytest.raises(ValueError, match=r"`items` has 1 infinite value\(s\) in rows \[1\]"):
        as_float_matrix([[1.0], [np.inf]], name="items")
    with pytest.raises(ValueError, match=r"`items` is empty"):
        as_float_matrix(np.zeros((0, 2)), name="items")
    with pytest.raises(TypeError, match=r"`x` must be numeric; got an array of dtype <U1"):
        as_float_vector(["a", "b"], name="x")
    with pytest.raises(ValueError, match=r"`x` must be a single variable"):
        as_float_vector(np.zeros((3, 2)), name="x")
    nullable = pd.Series([1, None, 3], dtype="Int64")
    assert np.isnan(as_float_vector(nullable, name="x")[1])


def test_scales():
    s = check_scale((1, 5))
    assert s.codes == (1.0, 2.0, 3.0, 4.0, 5.0) and s.n_points == 5 and s.step == 1.0 and s.describe() == "1..5"
    assert check_scale([0, 25, 50, 75, 100]).step == 25.0
    assert check_scale([1, 2, 4]).step is None
    with pytest.raises(TypeError, match=r"`scale` must be \(low, high\).*got the number 5. For a 5-point scale coded "
                                        r"1..5 pass scale=\(1, 5\)"):
        check_scale(5)
    with pytest.raises(ValueError, match=r"`scale` as \(low, high\) must be two integers with low < high"):
        check_scale((5, 1))
    with pytest.raises(ValueError, match="at least two distinct codes"):
        check_scale([3, 3])

    class Resp:  # anything with .codes, as instruments.ResponseScale
        codes = (1.0, 2.0, 3.0)

    assert check_scale(Resp()).codes == (1.0, 2.0, 3.0)


def test_check_in_scale():
    s = check_scale((1, 5))
    x = np.array([[1.0, 2.0], [np.nan, 6.0], [0.0, 3.0]])
    with pytest.raises(ValueError, match=r"`items` has 2 value\(s\) outside the response scale 1..5 in column\(s\) "
                                         r"\['q1', 'q2'\]: \[0.0, 6.0\]"):
        check_in_scale(x, s, name="items", columns=["q1", "q2"])
    out, n = check_in_scale(x, s, name="items", invalid="missing")
    assert n == 2 and np.isnan(out[1, 1]) and np.isnan(out[2, 0]) and out[0, 0] == 1.0
    assert not np.isnan(x[1, 1])  # the input is not modified
    same, n0 = check_in_scale(np.array([1.0, 5.0, np.nan]), s, name="x")
    assert n0 == 0
    _, n_frac = check_in_scale(np.array([1.5]), s, name="x", invalid="missing")
    assert n_frac == 1


def test_relative_rank_is_scale_free():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2))
    budget = np.c_[np.ones(50), x[:, 0] * 5e8, x[:, 1] * 1e-8]
    rank, dep = relative_rank(budget)
    assert rank == 3 and dep.size == 0
    # numpy's absolute-tolerance rank calls the 1e-8 column zero
    assert np.linalg.matrix_rank(budget) == 2
    rank, dep = relative_rank(np.c_[np.ones(50), x[:, 0], 2 * x[:, 0] + 1, np.zeros(50)])
    assert rank == 2
    assert_array_equal(dep, [2, 3])


def test_apply_nan_policy():
    keep, n = apply_nan_policy(np.array([False, False]), "omit", name="x", what="rwg")
    assert keep is None and n == 0
    with pytest.warns(DroppedDataWarning, match=r"1 of 3 row\(s\) with a missing value in `x` were dropped before "
                                                r"computing rwg \(nan_policy='omit'\); rows \[1\]"):
        keep, n = apply_nan_policy(np.array([False, True, False]), "omit", name="x", what="rwg")
    assert keep.tolist() == [True, False, True] and n == 1
    with pytest.raises(ValueError, match=r"`x` has 1 row\(s\) with a missing value \(rows \[1\]\) and "
                                         r"nan_policy='raise'"):
        apply_nan_policy(np.array([False, True]), "raise", name="x", what="rwg")


def test_warn_points_at_the_caller_and_refuses_the_base_class():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn("counted", DroppedDataWarning)
    assert caught[0].filename == __file__
    with pytest.raises(TypeError, match="specific teamculture warning class"):
        warn("x", TeamcultureWarning)
    with pytest.raises(TypeError, match="specific teamculture warning class"):
        warn("x", UserWarning)


def test_did_you_mean():
    assert did_you_mean("nhs_engagment", ["nhs-engagement", "real-team"]) == " Did you mean 'nhs-engagement'?"
    assert did_you_mean("zzz", ["abc"]) == ""
