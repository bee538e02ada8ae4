"""Misuse suite of "may we aggregate?": careless and hostile calls, each with its asserted outcome.

Every public function of :mod:`teamculture.aggregation` gets tabled cases (``CASES``, run by
``tests/_misuse.py``) for the classes of silent wrong answer that can occur in it, plus Hypothesis
properties: shuffled or relabelled inputs give the same answer, misaligned labels are refused.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _misuse import Case, case_id, run_case
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import (
    BoundaryWarning,
    DegenerateDataWarning,
    DroppedDataWarning,
    SmallGroupWarning,
    TeamcultureWarning,
)
from teamculture.instruments import ResponseScale

# --------------------------------------------------------------------------- data
_RNG = np.random.default_rng(20240601)
N_TEAMS, SIZE = 8, 6
N = N_TEAMS * SIZE
TEAM = pd.Series(np.repeat([f"t{i}" for i in range(N_TEAMS)], SIZE), name="team")
TRUST = pd.Series(np.repeat(["A", "B", "C", "D"], 2 * SIZE), name="trust")
TEAM_LOCAL = pd.Series(np.tile(np.repeat(["x", "y"], SIZE), 4), name="team")  # reused across trusts
NESTED = pd.concat([TRUST, TEAM_LOCAL], axis=1)
Y = pd.Series(np.repeat(_RNG.normal(size=N_TEAMS), SIZE) * 1.5 + _RNG.normal(size=N), name="y")
Z = pd.Series(0.3 * Y.to_numpy() + np.repeat(_RNG.normal(size=N_TEAMS), SIZE) + _RNG.normal(size=N), name="z")
#: a variable whose weak team effect follows Y's: unreliable team means, disattenuated r_B beyond 1
W = pd.Series(0.3 * Y.groupby(TEAM).transform("mean").to_numpy() + np.random.default_rng(3).normal(size=N), name="w")
#: three 5-point items (codes 1..5) with a team effect, complete
ITEMS = pd.DataFrame(np.clip(np.round(3 + np.repeat(_RNG.normal(size=N_TEAMS), SIZE)[:, None]
                                       + _RNG.normal(size=(N, 3))), 1, 5), columns=["q1", "q2", "q3"])
ITEM = ITEMS["q1"]
SCORE_0_10 = pd.Series(_RNG.integers(0, 11, N).astype(float), name="score")  # a 0-10 score, not 1..5 codes
ITEMS_7 = pd.DataFrame(_RNG.integers(1, 8, (N, 2)).astype(float), columns=["p1", "p2"])  # a 7-point instrument
DATA = pd.concat([ITEMS, Y, Z, TRUST, TEAM_LOCAL.rename("team_in_trust"), TEAM], axis=1)
DK_SCALE = ResponseScale(name="agree5", codes=(1.0, 2.0, 3.0, 4.0, 5.0), labels=("sd", "d", "n", "a", "sa"),
                         missing_codes=(9.0,), missing_labels=("does not apply",))
PG = tc.pseudo_group_means(Y, TEAM, n_resamples=10, rng=1)


def shuffled(obj, seed=3):
    """The same rows in another order (the index travels with them)."""
    return obj.sample(frac=1, random_state=seed)


def relabelled(obj, offset=1000):
    """The same values under other row labels."""
    return obj.set_axis(obj.index + offset, axis=0)


def with_nan(obj, rows, col=None):
    out = obj.copy()
    if isinstance(out, pd.DataFrame):
        out.iloc[rows, 0 if col is None else col] = np.nan
    else:
        out.iloc[rows] = np.nan
    return out


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TeamcultureWarning)
        return fn(*args, **kwargs)


def same_frame(expected):
    def check(result):
        pd.testing.assert_frame_equal(result, expected(), check_exact=False, rtol=1e-12, check_index_type=False)
    return check


def close(expected, rtol=1e-12):
    def check(result):
        assert_allclose(result, expected() if callable(expected) else expected, rtol=rtol, atol=0)
    return check


def is_nan(attr=None):
    def check(result):
        value = result if attr is None else getattr(result, attr)
        assert np.all(np.isnan(np.asarray(value, dtype=float))), value
    return check


DIFFERENT_LABELS = r"`groups` and `(x|items)` carry different row labels"

# --------------------------------------------------------------------------- cases
CASES = [
    # ---- rwg --------------------------------------------------------------------------------------------
    Case(tc.rwg, lambda: tc.rwg(ITEM, shuffled(TEAM), scale=(1, 5)), "a", "labels-in-another-order-aligned",
         check=same_frame(lambda: tc.rwg(ITEM, TEAM, scale=(1, 5)))),
    Case(tc.rwg, lambda: tc.rwg(ITEM, relabelled(TEAM), scale=(1, 5)), "a", "other-row-labels-refused",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.rwg, lambda: tc.rwg(SCORE_0_10, TEAM, scale=(1, 5)), "e", "0-10-score-on-a-5-point-scale",
         raises=(ValueError, r"`x` has \d+ value\(s\) outside the response scale 1\.\.5")),
    Case(tc.rwg, lambda: tc.rwg(SCORE_0_10, TEAM, scale=(1, 5), invalid="missing"), "e", "invalid-set-missing",
         warns=(DroppedDataWarning, r"\d+ value\(s\) of `x` outside the response scale 1\.\.5 were set missing"),
         check=same_frame(lambda: quiet(tc.rwg, SCORE_0_10.where(SCORE_0_10.between(1, 5)), TEAM, scale=(1, 5)))),
    Case(tc.rwg, lambda: tc.rwg(ITEM.iloc[:13], TEAM.iloc[:13], scale=(1, 5)), "f", "group-of-one-is-nan",
         warns=(SmallGroupWarning, r"1 of 3 group\(s\).*'t2'"),
         check=lambda r: np.isnan(r.loc["t2", "rwg"]) and r.loc["t2", "n"] == 1 or pytest.fail(str(r))),
    Case(tc.rwg, lambda: tc.rwg(ITEM, TEAM, scale=5), "input", "bare-number-scale",
         raises=(TypeError, r"`scale`.*scale=\(1, 5\)")),
    Case(tc.rwg, lambda: tc.rwg(ITEM, "team", scale=(1, 5)), "input", "column-name-as-groups",
         raises=(TypeError, r"`groups`.*data\['team'\]")),
    Case(tc.rwg, lambda: tc.rwg(with_nan(ITEM, [0]), TEAM, scale=(1, 5), nan_policy="raise"), "missing",
         "raise-on-missing", raises=(ValueError, r"`x` has 1 row\(s\) with a missing value")),
    Case(tc.rwg, lambda: tc.rwg(ITEM, with_nan(TEAM.astype(object), [0, 1]), scale=(1, 5)), "missing",
         "missing-labels-counted", warns=(DroppedDataWarning, r"^2 of 48 row\(s\) with a missing value in `groups`"),
         check=same_frame(lambda: tc.rwg(ITEM.iloc[2:], TEAM.iloc[2:], scale=(1, 5)))),
    Case(tc.rwg, lambda: tc.rwg([4, 4, 5, 3, 4], ["a"] * 5, scale=(1, 5), null="slight_skew"), "k",
         "lebreton-senter-slight-skew", check=lambda r: assert_allclose(r.loc["a", "rwg"], 1 - 0.5 / 1.34, rtol=1e-15)),
    # ---- rwg_j ------------------------------------------------------------------------------------------
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, shuffled(TEAM), scale=(1, 5)), "a", "labels-in-another-order-aligned",
         check=same_frame(lambda: tc.rwg_j(ITEMS, TEAM, scale=(1, 5)))),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, relabelled(NESTED), scale=(1, 5)), "a", "nested-labels-other-rows",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, shuffled(NESTED), scale=(1, 5)), "a", "nested-labels-aligned",
         check=lambda r: (r.index.names == ["trust", "team"] and len(r) == N_TEAMS
                          and np.allclose(r["rwg_j"].to_numpy(), tc.rwg_j(ITEMS, TEAM, scale=(1, 5))["rwg_j"]))
         or pytest.fail(str(r))),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS_7, TEAM, scale=(1, 5)), "e", "7-point-items-on-a-5-point-scale",
         raises=(ValueError, r"`items` has \d+ value\(s\) outside the response scale 1\.\.5 in column\(s\)")),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS.replace(5.0, 9.0), TEAM, scale=DK_SCALE), "e",
         "does-not-apply-code-is-missing", warns=(DroppedDataWarning, r"row\(s\) with a missing value in `items`"),
         check=same_frame(lambda: quiet(tc.rwg_j, ITEMS.replace(5.0, np.nan), TEAM, scale=(1, 5)))),
    Case(tc.rwg_j, lambda: tc.rwg_j(with_nan(ITEMS, [0, 7]), TEAM, scale=(1, 5), nan_policy="pairwise"), "missing",
         "pairwise-counted", warns=(DroppedDataWarning, r"^2 missing value\(s\) of `items`.*pairwise"),
         check=lambda r: (r.loc["t0", "n"] == 6 and r.loc["t0", "n_missing"] == 0) or pytest.fail(str(r))),
    Case(tc.rwg_j, lambda: tc.rwg_j(with_nan(ITEMS, [0, 7]), TEAM, scale=(1, 5)), "missing",
         "complete-cases-counted", warns=(DroppedDataWarning, r"^2 of 48 row\(s\).*nan_policy='omit'"),
         check=lambda r: r["n_missing"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0] or pytest.fail(str(r))),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, TEAM.astype(pd.CategoricalDtype([*sorted(set(TEAM)), "t99"])),
                                    scale=(1, 5)), "d", "empty-categorical-level-reported",
         warns=(SmallGroupWarning, r"categories that no row uses \(1 in 'team' \['t99'\]\)"),
         check=same_frame(lambda: tc.rwg_j(ITEMS, TEAM, scale=(1, 5)))),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, TEAM, scale=(1, 5), nan_policy="listwise"), "input", "listwise-is-gone",
         raises=(ValueError, r"`nan_policy` must be one of \['omit', 'pairwise', 'raise'\]")),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, TEAM, scale=(1, 5), null="slight_skew", null_variance=1.0), "input",
         "null-and-null-variance", raises=(ValueError, r"either `null`.*or `null_variance`")),
    Case(tc.rwg_j, lambda: tc.rwg_j(ITEMS, TEAM), "input", "no-scale", raises=(ValueError, r"`scale` is required")),
    # ---- rwg_j_lindell ----------------------------------------------------------------------------------
    Case(tc.rwg_j_lindell, lambda: tc.rwg_j_lindell(ITEMS, shuffled(TEAM), scale=(1, 5)), "a",
         "labels-in-another-order-aligned", check=same_frame(lambda: tc.rwg_j_lindell(ITEMS, TEAM, scale=(1, 5)))),
    Case(tc.rwg_j_lindell, lambda: tc.rwg_j_lindell(ITEMS, relabelled(TEAM), scale=(1, 5)), "a",
         "other-row-labels-refused", raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.rwg_j_lindell, lambda: tc.rwg_j_lindell(ITEMS_7, TEAM, scale=(1, 5)), "e", "7-point-on-5-point",
         raises=(ValueError, r"`items` has \d+ value\(s\) outside the response scale 1\.\.5")),
    Case(tc.rwg_j_lindell, lambda: tc.rwg_j_lindell(np.full((N, 3), 3.0), TEAM.to_numpy(), scale=(1, 5)), "f",
         "constant-responses-agree-fully", check=lambda r: (r["rwg_j_lindell"] == 1.0).all() or pytest.fail(str(r))),
    Case(tc.rwg_j_lindell, lambda: tc.rwg_j_lindell(ITEMS, TEAM, scale=[1, 2, 3, 5, 8], null="normal"), "input",
         "table-null-on-unequal-codes", raises=(ValueError, r"`scale` has unequally spaced codes")),
    # ---- awg --------------------------------------------------------------------------------------------
    Case(tc.awg, lambda: tc.awg(ITEMS, shuffled(TEAM), scale=(1, 5)), "a", "labels-in-another-order-aligned",
         check=same_frame(lambda: tc.awg(ITEMS, TEAM, scale=(1, 5)))),
    Case(tc.awg, lambda: tc.awg(ITEMS, relabelled(TEAM), scale=(1, 5)), "a", "other-row-labels-refused",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.awg, lambda: tc.awg(SCORE_0_10, TEAM, scale=(1, 5)), "e", "0-10-score-on-a-5-point-scale",
         raises=(ValueError, r"`items` has \d+ value\(s\) outside the response scale 1\.\.5")),
    Case(tc.awg, lambda: tc.awg(ITEMS, TEAM, scale=None), "input", "scale-none",
         raises=(ValueError, r"`scale` is required for awg")),
    Case(tc.awg, lambda: tc.awg(ITEMS, TEAM, scale=(5, 1)), "input", "reversed-bounds",
         raises=(ValueError, r"`scale` as \(low, high\) must be two integers with low < high")),
    Case(tc.awg, lambda: tc.awg([5, 5, 5, 1], ["a", "a", "a", "b"], scale=(1, 5)), "f", "scale-end-and-solo",
         warns=(SmallGroupWarning, r"1 of 2 group\(s\).*'b'"),
         check=lambda r: (r.loc["a", "awg"] == 1.0 and np.isnan(r.loc["b", "awg"])) or pytest.fail(str(r))),
    # ---- ad_index ---------------------------------------------------------------------------------------
    Case(tc.ad_index, lambda: tc.ad_index(ITEMS, shuffled(TEAM), scale=(1, 5)), "a", "labels-in-another-order-aligned",
         check=same_frame(lambda: tc.ad_index(ITEMS, TEAM, scale=(1, 5)))),
    Case(tc.ad_index, lambda: tc.ad_index(ITEMS, relabelled(TEAM)), "a", "other-row-labels-refused",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.ad_index, lambda: tc.ad_index(ITEMS_7, TEAM, scale=(1, 5)), "e", "7-point-on-5-point",
         raises=(ValueError, r"`items` has \d+ value\(s\) outside the response scale 1\.\.5")),
    Case(tc.ad_index, lambda: tc.ad_index(ITEMS, TEAM, location="mode"), "input", "location-choice",
         raises=(ValueError, r"`location` must be one of \['mean', 'median'\]")),
    Case(tc.ad_index, lambda: tc.ad_index(ITEMS, TEAM, scale=[1, 2, 4, 8]), "input", "cutoff-needs-equal-spacing",
         raises=(ValueError, r"`scale` has unequally spaced codes")),
    Case(tc.ad_index, lambda: tc.ad_index(ITEMS * 2 - 2, TEAM, scale=[0, 2, 4, 6, 8]), "k", "cutoff-in-scale-units",
         check=lambda r: assert_allclose(r["cutoff"], 2 * 5 / 6, rtol=1e-15)),
    # ---- null_variance ----------------------------------------------------------------------------------
    Case(tc.null_variance, lambda: tc.null_variance(5), "input", "bare-number",
         raises=(TypeError, r"`scale`.*scale=\(1, 5\)")),
    Case(tc.null_variance, lambda: tc.null_variance((1, 5), null="skewed"), "input", "unknown-null",
         raises=(ValueError, r"`null` must be one of")),
    Case(tc.null_variance, lambda: tc.null_variance((1, 4), null="normal"), "input", "outside-the-table",
         raises=(ValueError, r"`scale` must have one of \[5, 6, 7, 8, 9, 10, 11\] points")),
    Case(tc.null_variance, lambda: tc.null_variance((0, 4)), "k", "codes-not-count",
         check=lambda v: assert_allclose(v, 2.0, rtol=0)),
    # ---- simulated nulls --------------------------------------------------------------------------------
    Case(tc.rwg_sim, lambda: tc.rwg_sim(1, (1, 5)), "input", "group-of-one",
         raises=(ValueError, r"`group_size` must be an integer >= 2")),
    Case(tc.rwg_sim, lambda: tc.rwg_sim(10, 5), "input", "bare-number-scale",
         raises=(TypeError, r"`scale`.*scale=\(1, 5\)")),
    Case(tc.rwg_sim, lambda: tc.rwg_sim(10, (1, 5), n_resamples=1), "input", "one-resample",
         raises=(ValueError, r"`n_resamples` must be an integer >= 2")),
    Case(tc.rwg_sim, lambda: tc.rwg_sim(10, (1, 5), rng="seed"), "input", "rng-type",
         raises=(TypeError, r"`rng` must be None, a non-negative int seed or a numpy.random.Generator")),
    Case(tc.rwg_j_sim, lambda: tc.rwg_j_sim(10, 3, (1, 5), item_corr=-0.9), "input", "correlation-not-pd",
         raises=(ValueError, r"`item_corr` must be positive definite")),
    Case(tc.rwg_j_sim, lambda: tc.rwg_j_sim(10, 3, (1, 5), item_corr=np.eye(2)), "input", "correlation-shape",
         raises=(ValueError, r"`item_corr` must be a number or a 3x3 matrix")),
    Case(tc.rwg_j_sim, lambda: tc.rwg_j_sim(10, 0, (1, 5)), "input", "no-items",
         raises=(ValueError, r"`n_items` must be an integer >= 1")),
    Case(tc.rwg_j_sim, lambda: tc.rwg_j_sim(10, 2, (1, 5), n_resamples=2.5), "input", "fractional-resamples",
         raises=(TypeError, r"`n_resamples` must be an integer")),
    Case(tc.ad_sim, lambda: tc.ad_sim(10, 3, (1, 5), location="mode"), "input", "location-choice",
         raises=(ValueError, r"`location` must be one of")),
    Case(tc.ad_sim, lambda: tc.ad_sim(10, 3, [1, 2, 4, 8]), "input", "cutoff-needs-equal-spacing",
         raises=(ValueError, r"`scale` has unequally spaced codes")),
    Case(tc.ad_sim, lambda: tc.ad_sim(10, 3, (1, 5), item_corr=[[1, 0.5], [0.5, 1]]), "input", "correlation-shape",
         raises=(ValueError, r"`item_corr` must be a number or a 3x3 matrix")),
    Case(tc.ad_sim, lambda: tc.ad_sim(10, 1, [0, 2, 4, 6, 8], n_resamples=200, rng=1), "k", "cutoff-in-scale-units",
         check=lambda s: assert_allclose(s.practical_cutoff, 2 * 5 / 6, rtol=1e-15)),
    # ---- rgr_agree, pseudo_group_means, plot --------------------------------------------------------------
    Case(tc.rgr_agree, lambda: tc.rgr_agree(Y, shuffled(TEAM), n_resamples=20, rng=1), "a",
         "labels-in-another-order-aligned",
         check=lambda r: r == tc.rgr_agree(Y, TEAM, n_resamples=20, rng=1) or pytest.fail(str(r))),
    Case(tc.rgr_agree, lambda: tc.rgr_agree(Y, relabelled(TEAM), n_resamples=20, rng=1), "a",
         "other-row-labels-refused", raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.rgr_agree, lambda: tc.rgr_agree(np.ones(N), TEAM, n_resamples=20, rng=1), "f", "constant-x",
         warns=(DegenerateDataWarning, r"`x` is constant"), check=is_nan("statistic")),
    Case(tc.rgr_agree, lambda: tc.rgr_agree(Y, np.zeros(N), n_resamples=20, rng=1), "f", "one-group",
         raises=(ValueError, r"`groups` must have at least two groups with two or more members")),
    Case(tc.rgr_agree, lambda: tc.rgr_agree(Y.iloc[:13], TEAM.iloc[:13], n_resamples=20, rng=1), "f", "solo-group",
         warns=(SmallGroupWarning, r"1 of 3 group\(s\).*left out"),
         check=lambda r: (r.n_groups == 2 and r.n_obs == 12) or pytest.fail(str(r))),
    Case(tc.rgr_agree, lambda: tc.rgr_agree(Y, TEAM, n_resamples=1), "input", "one-resample",
         raises=(ValueError, r"`n_resamples` must be an integer >= 2")),
    Case(tc.pseudo_group_means, lambda: tc.pseudo_group_means(Y, shuffled(TEAM), n_resamples=10, rng=1), "a",
         "labels-in-another-order-aligned", check=same_frame(lambda: PG)),
    Case(tc.pseudo_group_means, lambda: tc.pseudo_group_means(Y, relabelled(TEAM), rng=1), "a",
         "other-row-labels-refused", raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.pseudo_group_means, lambda: tc.pseudo_group_means(Y, np.zeros(N), rng=1), "f", "one-group",
         raises=(ValueError, r"`groups` must have at least two groups")),
    Case(tc.pseudo_group_means, lambda: tc.pseudo_group_means(Y, TEAM, confidence_level=95), "input", "percent",
         raises=(ValueError, r"`confidence_level` must lie in \(0, 1\) \(a proportion: 0.95 for 95%\)")),
    Case(tc.plot_pseudo_group_means, lambda: tc.plot_pseudo_group_means(Y), "input", "not-a-frame",
         raises=(TypeError, r"`table` must be the DataFrame returned by pseudo_group_means")),
    Case(tc.plot_pseudo_group_means, lambda: tc.plot_pseudo_group_means(PG.drop(columns="ci_low")), "input",
         "missing-column", raises=(ValueError, r"`table`.*lacks column\(s\) \['ci_low'\]")),
    Case(tc.plot_pseudo_group_means, lambda: tc.plot_pseudo_group_means(PG.iloc[:0]), "input", "empty",
         raises=(ValueError, r"`table` has no rows")),
    Case(tc.plot_pseudo_group_means, lambda: tc.plot_pseudo_group_means(PG, ax="left"), "input", "ax-type",
         raises=(TypeError, r"`ax` must be a matplotlib Axes")),
    # ---- icc1, icc2 ---------------------------------------------------------------------------------------
    # the example: team labels in another row order gave -0.02 instead of 0.67
    Case(tc.icc1, lambda: tc.icc1(Y, shuffled(TEAM)), "a", "labels-in-another-order-aligned",
         check=close(lambda: tc.icc1(Y, TEAM))),
    Case(tc.icc1, lambda: tc.icc1(Y, relabelled(TEAM)), "a", "other-row-labels-refused",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.icc1, lambda: tc.icc1(np.full(N, 3.0), TEAM), "f", "constant",
         warns=(DegenerateDataWarning, r"`x` is constant"), check=is_nan()),
    Case(tc.icc1, lambda: tc.icc1(Y, np.zeros(N)), "f", "one-group",
         raises=(ValueError, r"`groups` must have at least two groups with data; got 1")),
    Case(tc.icc1, lambda: tc.icc1(Y, np.arange(N)), "f", "every-group-of-one",
         raises=(ValueError, r"`groups`: every group has one member")),
    Case(tc.icc1, lambda: tc.icc1(np.tile(np.arange(SIZE, dtype=float), N_TEAMS), TEAM), "g", "negative-flagged",
         warns=(BoundaryWarning, r"ICC\(1\) is negative"), check=close(-1 / (SIZE - 1), rtol=1e-12)),
    Case(tc.icc1, lambda: tc.icc1(Y * 1e-300, TEAM), "d", "tiny-values-scale-free",
         check=close(lambda: tc.icc1(Y, TEAM))),
    Case(tc.icc1, lambda: tc.icc1(Y * 1e300, TEAM), "d", "huge-values-scale-free",
         check=close(lambda: tc.icc1(Y, TEAM))),
    Case(tc.icc1, lambda: tc.icc1(Y, TEAM, k="harmonic"), "input", "k-choice",
         raises=(ValueError, r"`k` must be one of \['mean', 'adjusted'\]")),
    Case(tc.icc1, lambda: tc.icc1(with_nan(Y, [3]), TEAM, nan_policy="raise"), "missing", "raise-on-missing",
         raises=(ValueError, r"`x` has 1 row\(s\) with a missing value")),
    Case(tc.icc2, lambda: tc.icc2(Y, shuffled(TEAM)), "a", "labels-in-another-order-aligned",
         check=close(lambda: tc.icc2(Y, TEAM))),
    Case(tc.icc2, lambda: tc.icc2(pd.DataFrame({"y": Y, "z": Z}), relabelled(TEAM)), "a", "frame-other-row-labels",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.icc2, lambda: tc.icc2(np.tile(np.arange(SIZE, dtype=float), N_TEAMS), TEAM), "g", "equal-means-minus-inf",
         warns=(BoundaryWarning, r"ICC\(2\) is negative \(-inf\)"),
         check=lambda v: v == -np.inf or pytest.fail(str(v))),
    Case(tc.icc2, lambda: tc.icc2(pd.DataFrame({"y": Y, "c": 1.0}), TEAM), "f", "constant-column",
         warns=(DegenerateDataWarning, r"`x` column\(s\) \['c'\] is constant"),
         check=lambda s: (np.isnan(s["c"]) and s["y"] == tc.icc2(Y, TEAM)) or pytest.fail(str(s))),
    Case(tc.icc2, lambda: tc.icc2(Y, TEAM, nan_policy="pairwise"), "input", "no-pairwise",
         raises=(ValueError, r"`nan_policy` must be one of \['omit', 'raise'\]")),
    # ---- icc ----------------------------------------------------------------------------------------------
    Case(tc.icc, lambda: tc.icc(Y, shuffled(NESTED)), "a", "nested-labels-aligned",
         check=lambda r: r == tc.icc(Y, NESTED) or pytest.fail(str(r))),
    Case(tc.icc, lambda: tc.icc(Y, relabelled(TEAM)), "a", "other-row-labels-refused",
         raises=(ValueError, DIFFERENT_LABELS)),
    Case(tc.icc, lambda: tc.icc(Y, pd.concat([pd.Series("A", index=TEAM.index, name="trust"), TEAM], axis=1)), "b",
         "one-outer-group",
         raises=(ValueError, r"`groups` must have at least two groups at the level 'trust'")),
    Case(tc.icc, lambda: tc.icc(Y, pd.concat([TEAM, TRUST], axis=1), method="reml"), "b", "levels-inner-first",
         raises=(ValueError, r"`groups`: every 'team' group holds a single 'trust' group")),
    Case(tc.icc, lambda: tc.icc(Y, pd.concat([TEAM, TEAM.rename("team2")], axis=1)), "b", "same-factor-twice",
         raises=(ValueError, r"`groups`: every 'team' group holds a single 'team2' group")),
    Case(tc.icc, lambda: tc.icc(Y, np.zeros(N), method="reml"), "b", "reml-one-group",
         raises=(ValueError, r"`groups` must have at least two groups")),
    Case(tc.icc, lambda: tc.icc(Y, np.arange(N), method="reml"), "b", "reml-groups-of-one",
         raises=(ValueError, r"`groups`: every 'groups' group has one member")),
    Case(tc.icc, lambda: tc.icc(np.full(N, 2.0), TEAM), "f", "constant",
         warns=(DegenerateDataWarning, r"`x` is constant"), check=is_nan("icc1")),
    Case(tc.icc, lambda: tc.icc(Y.iloc[:12], TEAM.iloc[:12], n_resamples=100), "f", "bootstrap-of-two-groups",
         raises=(ValueError, r"`n_resamples` > 0 needs at least three 'team' groups")),
    Case(tc.icc, lambda: tc.icc(np.tile(np.arange(SIZE, dtype=float), N_TEAMS), TEAM, method="reml"), "g",
         "reml-zero-variance", warns=(BoundaryWarning, r"REML estimate of the variance of 'team' is zero"),
         check=lambda r: r.vpc["team"] == 0.0 or pytest.fail(str(r))),
    Case(tc.icc, lambda: tc.icc(np.tile(np.arange(SIZE, dtype=float), N_TEAMS), TEAM), "g", "anova-negative",
         warns=(BoundaryWarning, r"ANOVA estimate of the variance of 'team' \(-?[\d.]+\) is negative"),
         check=lambda r: r.vpc["team"] < 0 or pytest.fail(str(r))),
    Case(tc.icc, lambda: tc.icc(Y * 1e300, NESTED), "d", "huge-values-scale-free",
         check=lambda r: assert_allclose([r.icc1, *r.vpc], [tc.icc(Y, NESTED).icc1, *tc.icc(Y, NESTED).vpc],
                                         rtol=1e-12)),
    Case(tc.icc, lambda: tc.icc(Y, TEAM, method="ml"), "input", "method-choice",
         raises=(ValueError, r"`method` must be one of \['anova', 'reml'\]")),
    Case(tc.icc, lambda: tc.icc(Y, TEAM, method="reml", n_resamples=50), "input", "reml-bootstrap",
         raises=(ValueError, r"`n_resamples` > 0 .* method='anova' only")),
    Case(tc.icc, lambda: tc.icc(Y, pd.concat([TRUST, TEAM, TEAM.rename("sub")], axis=1)), "input", "anova-3-levels",
         raises=(ValueError, r"`groups` has 3 label columns.*method='reml'")),
    Case(tc.icc, lambda: tc.icc(with_nan(Y, [0, 1, 2]), TEAM), "missing", "dropped-counted",
         warns=(DroppedDataWarning, r"^3 of 48 row\(s\) with a missing value in `x`"),
         check=lambda r: (r.n_dropped == 3 and r.n_obs == N - 3) or pytest.fail(str(r))),
    # ---- design_effect ------------------------------------------------------------------------------------
    Case(tc.design_effect, lambda: tc.design_effect("0.1", 20), "input", "string-icc",
         raises=(TypeError, r"`icc` must be a number")),
    Case(tc.design_effect, lambda: tc.design_effect(1.5, 20), "input", "icc-above-one",
         raises=(ValueError, r"`icc` must lie in \[-1, 1\]")),
    Case(tc.design_effect, lambda: tc.design_effect(0.1, 0.5), "input", "group-size-below-one",
         raises=(ValueError, r"`mean_group_size` must be finite and >= 1")),
    Case(tc.design_effect, lambda: tc.design_effect(-0.2, 20), "g", "impossible-negative-icc",
         raises=(ValueError, r"`icc` is at or below -1/\(m - 1\)")),
    Case(tc.design_effect, lambda: tc.design_effect([0.1, 0.2], [5, 6, 7]), "input", "shapes",
         raises=(ValueError, r"`icc` \(shape \(2,\)\) and `mean_group_size` \(shape \(3,\)\)")),
    # ---- waba ---------------------------------------------------------------------------------------------
    Case(tc.waba, lambda: tc.waba(Y, shuffled(Z), TEAM), "a", "y-in-another-order-aligned",
         check=lambda r: r == tc.waba(Y, Z, TEAM) or pytest.fail(str(r))),
    Case(tc.waba, lambda: tc.waba(Y, Z, shuffled(TEAM)), "a", "groups-in-another-order-aligned",
         check=lambda r: r == tc.waba(Y, Z, TEAM) or pytest.fail(str(r))),
    # x without row labels is paired with y by position; the labels follow y's index
    Case(tc.waba, lambda: tc.waba(Y.loc[shuffled(Z).index].to_numpy(), shuffled(Z), shuffled(TEAM, seed=9)), "a",
         "array-x-groups-follow-y", check=lambda r: pd.testing.assert_frame_equal(
             r.to_frame(), tc.waba(Y, Z, TEAM).to_frame(), check_exact=False, rtol=1e-12)),
    Case(tc.waba, lambda: tc.waba(Y, relabelled(Z), TEAM), "a", "y-other-row-labels-refused",
         raises=(ValueError, r"`y` and `x` carry different row labels")),
    Case(tc.waba, lambda: tc.waba(np.ones(N), Z.to_numpy(), TEAM.to_numpy()), "f", "constant-x",
         warns=(DegenerateDataWarning, r"`x` is constant"), check=is_nan("raw_corr")),
    Case(tc.waba, lambda: tc.waba(pd.Series(np.repeat(np.arange(N_TEAMS) * 0.1, SIZE)), Z, TEAM), "f",
         "group-level-x", warns=(DegenerateDataWarning, r"`x` is constant within every group"),
         check=lambda r: (r.eta_within_x == 0.0 and r.eta_between_x == 1.0 and np.isnan(r.corr_within))
         or pytest.fail(str(r))),
    Case(tc.waba, lambda: tc.waba(Y, W, TEAM), "g", "disattenuated-beyond-one",
         warns=(BoundaryWarning, r"outside \[-1, 1\]"), check=lambda r: abs(r.corr_between_disattenuated) > 1),
    Case(tc.waba, lambda: tc.waba(Y, Z, np.zeros(N)), "f", "one-group",
         raises=(ValueError, r"`groups` must have at least two groups")),
    Case(tc.waba, lambda: tc.waba(Y, with_nan(Z, [4]), TEAM), "missing", "dropped-counted",
         warns=(DroppedDataWarning, r"^1 of 48 row\(s\) with a missing value in `x/y`"),
         check=lambda r: r.n_dropped == 1 or pytest.fail(str(r))),
    # ---- aggregate ----------------------------------------------------------------------------------------
    Case(tc.aggregate, lambda: tc.aggregate(DATA.assign(q1=SCORE_0_10), {"s": ["q1", "q2"]}, by="team",
                                            scale=(1, 5)), "e", "codes-outside-scale",
         raises=(ValueError, r"`columns` has \d+ value\(s\) outside the response scale 1\.\.5 in column\(s\) "
                             r"\['q1'\]")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA.assign(q1=SCORE_0_10), ["q1"], by="team", scale=(1, 5),
                                            invalid="missing"), "e", "invalid-set-missing-counted",
         warns=(DroppedDataWarning, r"outside the response scale 1\.\.5 were set missing"),
         check=lambda r: r.icc.loc["q1", "n_dropped"] == int((~SCORE_0_10.between(1, 5)).sum())
         or pytest.fail(str(r.icc))),
    Case(tc.aggregate, lambda: tc.aggregate(DATA, ["q1"], by=["trust", "team_in_trust"], scale=(1, 5)), "a",
         "nested-by-keeps-reused-labels-apart",
         check=lambda r: (len(r.table) == N_TEAMS and r.table.index.names == ["trust", "team_in_trust"])
         or pytest.fail(str(r.table))),
    Case(tc.aggregate, lambda: tc.aggregate(DATA, ["q1"], by="tean", scale=(1, 5)), "input", "by-typo",
         raises=(ValueError, r"`by` names column\(s\) \['tean'\].*Did you mean 'team'\?")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA, {"a": ["q1"], "b": ["q2"]}, by="team", scale={"a": (1, 5)}),
         "input", "scale-dict-incomplete", raises=(ValueError, r"`scale` has no entry for \['b'\]")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA, ["q1", "team"], by="team", scale=(1, 5)), "input",
         "by-as-response", raises=(ValueError, r"`columns` uses the grouping column")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA.assign(team=with_nan(TEAM.astype(object), [0])), ["q1"],
                                            by="team", scale=(1, 5), nan_policy="raise"), "missing",
         "missing-label-raise", raises=(ValueError, r"`by` has 1 row\(s\) with a missing value")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA.assign(team="one"), ["q1"], by="team", scale=(1, 5)), "f",
         "one-group-icc-undefined", warns=(DegenerateDataWarning, r"ICC\(1\)/ICC\(2\) are undefined .*q1: 1 group"),
         check=lambda r: np.isnan(r.icc.loc["q1", "icc1"]) or pytest.fail(str(r.icc))),
    Case(tc.aggregate, lambda: tc.aggregate(DATA.assign(team=TEAM.astype(pd.CategoricalDtype([*sorted(set(TEAM)),
                                                                                              "t99"]))),
                                            ["q1"], by="team", scale=(1, 5)), "d", "empty-category-reported",
         warns=(SmallGroupWarning, r"`by` is categorical with categories that no row uses.*'t99'"),
         check=lambda r: len(r.table) == N_TEAMS or pytest.fail(str(r.table))),
    Case(tc.aggregate, lambda: tc.aggregate(DATA.set_axis([*DATA.columns[:-1], "q1"], axis=1), ["q2"], by="trust",
                                            scale=(1, 5)), "j", "duplicate-column-names",
         raises=(ValueError, r"`data` has duplicate column name\(s\) \['q1'\]")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA, ["trust"], by="team", scale=(1, 5)), "j", "text-column",
         raises=(TypeError, r"`columns` must be numeric; non-numeric column\(s\) \['trust'\]")),
    Case(tc.aggregate, lambda: tc.aggregate(DATA.rename(columns={"q1": "énergie"}), ["énergie"], by="team",
                                            scale=(1, 5)), "j", "non-ascii-names",
         check=lambda r: "énergie_rwg" in r.table.columns or pytest.fail(str(r.table.columns))),
    # red team (changes/redteam-data.md): a group column named 0 named the index 'by'
    Case(tc.aggregate, lambda: tc.aggregate(DATA.rename(columns={"team": 0}), ["q1"], by=0, scale=(1, 5)), "a",
         "int-column-name-names-the-index",
         check=lambda r: r.table.index.name == "0" or pytest.fail(str(r.table.index.name))),
    # red team (changes/redteam-data.md): one bootstrap replicate gave a zero-width "interval" without the estimate
    Case(tc.icc, lambda: tc.icc(Y, TEAM, n_resamples=1, rng=1), "input", "one-bootstrap-replicate",
         raises=(ValueError, r"`n_resamples` must be 0 \(no bootstrap\) or at least 2; got 1")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


# --------------------------------------------------------------------------- properties
LABELLED = {
    "rwg": (lambda x, g: tc.rwg(x.iloc[:, 0], g, scale=(1, 5))),
    "rwg_j": (lambda x, g: tc.rwg_j(x, g, scale=(1, 5))),
    "rwg_j_lindell": (lambda x, g: tc.rwg_j_lindell(x, g, scale=(1, 5))),
    "awg": (lambda x, g: tc.awg(x, g, scale=(1, 5))),
    "ad_index": (lambda x, g: tc.ad_index(x, g, scale=(1, 5), location="median")),
    "pseudo_group_means": (lambda x, g: tc.pseudo_group_means(x.iloc[:, 0], g, n_resamples=5, rng=1)),
}
SCALAR = {
    "icc1": (lambda x, g: tc.icc1(x.iloc[:, 0], g)),
    "icc2": (lambda x, g: tc.icc2(x.iloc[:, 0], g)),
    "icc": (lambda x, g: tc.icc(x.iloc[:, 0], g).icc1),
    "rgr_agree": (lambda x, g: tc.rgr_agree(x.iloc[:, 0], g, n_resamples=5, rng=1).actual_mean_var),
    "waba": (lambda x, g: tc.waba(x.iloc[:, 0], x.iloc[:, 1], g).corr_between),
}


def _deterministic_pgm(x, g):
    """The real-group part of pseudo_group_means (sizes and means), indexed by group."""
    return tc.pseudo_group_means(x.iloc[:, 0], g, n_resamples=5, rng=1)[["n", "group_mean"]].sort_index()


@st.composite
def labelled_data(draw):
    n_groups = draw(st.integers(2, 5))
    sizes = draw(st.lists(st.integers(2, 6), min_size=n_groups, max_size=n_groups))
    n = sum(sizes)
    vals = draw(st.lists(st.integers(1, 5), min_size=n * 2, max_size=n * 2))
    x = pd.DataFrame(np.array(vals, dtype=float).reshape(n, 2), columns=["a", "b"])
    labels = draw(st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=n_groups, max_size=n_groups,
                           unique=True))
    g = pd.Series(np.repeat(labels, sizes), name="team")
    perm = draw(st.permutations(range(n)))
    return x, g, np.asarray(perm)


@pytest.mark.parametrize("name", sorted(LABELLED) + sorted(SCALAR))
@given(data=labelled_data())
def test_property_shuffled_labels_give_the_same_answer(name, data):
    x, g, perm = data
    fn = {**LABELLED, **SCALAR}[name]
    expected = quiet(fn, x, g)
    if name == "pseudo_group_means":  # the pseudo groups are random draws over the rows in their order
        fn = _deterministic_pgm
        expected = quiet(fn, x, g)
    # the labels in another row order (pandas aligns them) and the whole data set in another order
    got_labels = quiet(fn, x, g.iloc[perm])
    got_rows = quiet(fn, x.iloc[perm], g.iloc[perm])
    for got in (got_labels, got_rows):
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-10, atol=1e-12)
        else:
            assert_allclose(got, expected, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", sorted(LABELLED) + sorted(SCALAR))
@given(data=labelled_data())
def test_property_relabelled_groups_give_the_same_answer(name, data):
    x, g, _ = data
    fn = {**LABELLED, **SCALAR}[name]
    mapping = {lab: f"new-{i}" for i, lab in enumerate(sorted(set(g), reverse=True))}
    if name == "pseudo_group_means":
        fn = _deterministic_pgm
    expected = quiet(fn, x, g)
    got = quiet(fn, x, g.map(mapping))
    if isinstance(expected, pd.DataFrame):
        got.index = got.index.map({v: k for k, v in mapping.items()})
        pd.testing.assert_frame_equal(got.loc[expected.index], expected, check_exact=False, rtol=1e-10,
                                      atol=1e-12, check_names=False)
    else:
        assert_allclose(got, expected, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", sorted(LABELLED) + sorted(SCALAR))
@given(data=labelled_data(), offset=st.integers(1, 10_000))
def test_property_misaligned_labels_are_refused(name, data, offset):
    x, g, _ = data
    fn = {**LABELLED, **SCALAR}[name]
    with pytest.raises(ValueError, match="carry different row labels"):
        quiet(fn, x, g.set_axis(g.index + offset))
