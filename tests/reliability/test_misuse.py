"""Misuse suite of the reliability area: cronbach_alpha, omega, multilevel_reliability, instrument_reliability.

Each case is a careless or hostile call with its asserted outcome (framework: tests/_misuse.py),
plus Hypothesis properties for the labelled arguments of multilevel_reliability.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from _misuse import Case, case_id, run_case
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import BoundaryWarning, DegenerateDataWarning, DroppedDataWarning, InstrumentError
from teamculture.reliability import cronbach_alpha, instrument_reliability, multilevel_reliability, omega

# six respondents, four items on 1..5 (item d reverse-worded)
X = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 3], "b": [2.0, 2, 3, 5, 4, 3], "c": [1.0, 3, 3, 4, 5, 2],
                  "d": [5.0, 4, 3, 2, 1, 3]})
KEYS = ["a", "b", "c", "-d"]
# twelve respondents in four teams, three items
ML = pd.DataFrame({"i1": [3.0, 4, 3, 3, 3, 3, 4, 3, 3, 4, 4, 4], "i2": [3.0, 3, 3, 2, 3, 3, 4, 4, 5, 3, 4, 3],
                   "i3": [4.0, 4, 4, 2, 2, 3, 3, 4, 4, 3, 4, 2]}, index=[f"r{k}" for k in range(12)])
TEAM = pd.Series(list("aaabbbcccddd"), index=ML.index, name="team")
# pairwise deletion whose covariance matrix is not positive semi-definite (found by search; alpha > 1)
NAN = np.nan
PAIRWISE_BAD = pd.DataFrame({
    "a": [NAN, 1.0, NAN, NAN, 5.0, NAN, 5.0, NAN, 1.0, 4.0, NAN, 4.0],
    "b": [NAN, 1.0, NAN, 3.0, NAN, 4.0, 5.0, 2.0, 2.0, NAN, 3.0, 4.0],
    "c": [4.0, 2.0, 3.0, 4.0, 4.0, 5.0, NAN, 5.0, 2.0, 3.0, 5.0, NAN]})
KEYS3 = {"s1": ["A1", "A2", "-A3"], "s2": ["A4", "A5"], "one": ["A6"]}


def _likert(n=40, k=6, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(n)
    z = f[:, None] * 0.8 + rng.standard_normal((n, k))
    return pd.DataFrame(np.clip(np.round(3 + z), 1, 5), columns=[f"A{j + 1}" for j in range(k)])


def _ml_same_order():
    return multilevel_reliability(ML, TEAM)


def _ml_shuffled():
    return multilevel_reliability(ML, TEAM.sample(frac=1.0, random_state=3))


def _alpha_closed_form(x) -> float:
    """Cronbach's alpha from its definition: k/(k-1) (1 - sum of item variances / variance of the total)."""
    x = np.asarray(x, dtype=float)
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def _ml_alphas_closed_form(x, labels) -> tuple[float, float]:
    """alpha_within and alpha_between from the one-way MANOVA covariance matrices (Geldhof et al. 2014)."""
    x, labels = np.asarray(x, dtype=float), np.asarray(labels)
    groups = list(dict.fromkeys(labels))
    n, k, g = len(x), x.shape[1], len(groups)
    grand = x.mean(axis=0)
    ssw, ssb, sizes = np.zeros((k, k)), np.zeros((k, k)), []
    for lab in groups:
        xj = x[labels == lab]
        d = xj - xj.mean(axis=0)
        ssw += d.T @ d
        m = (xj.mean(axis=0) - grand)[:, None]
        ssb += len(xj) * (m @ m.T)
        sizes.append(len(xj))
    sw = ssw / (n - g)
    c = (n - (np.asarray(sizes) ** 2).sum() / n) / (g - 1)
    sb = (ssb / (g - 1) - sw) / c
    return tuple(k / (k - 1) * (1 - np.trace(s) / s.sum()) for s in (sw, sb))


def _with(frame, row, col, value):
    out = frame.copy()
    out.loc[out.index[row], col] = value
    return out


def _tiny_survey_motivation():
    sim = tc.national_survey("tiny", rng=1)
    d = sim.staff.dropna(subset=["mot1", "mot2", "mot3"])
    return multilevel_reliability(d[["mot1", "mot2", "mot3"]], d["team"], scale=(1, 5))


def _small_survey_leadership():
    d = tc.national_survey("small", rng=1).staff.dropna(subset=["cl1", "cl2", "cl3", "cl4"])
    return multilevel_reliability(d[["cl1", "cl2", "cl3", "cl4"]], d["team"], scale=(1, 5))


def _close(a, b, rtol=1e-10):
    assert_allclose(a, b, rtol=rtol)
    return True


def _quiet_reliability():
    """The reference for the letter-case case: the same data with the original column names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        return instrument_reliability(_likert(), KEYS3, scale=(1, 5))


CASES = [
    # ------------------------------------------------------------------ cronbach_alpha
    Case(cronbach_alpha, lambda: cronbach_alpha(_with(X, 2, "b", 7.0), keys=KEYS, scale=(1, 5)), "e",
         "code-outside-scale-refused",
         raises=(ValueError, r"`items` has 1 value\(s\) outside the response scale 1..5 in column\(s\) \['b'\]: \[7\.0\]")),
    Case(cronbach_alpha, lambda: cronbach_alpha(_with(X, 0, "d", 0.0), keys=KEYS, scale=(1, 5)), "e",
         "reversed-item-code-outside-scale-refused",
         raises=(ValueError, r"`items` has 1 value\(s\) outside the response scale 1..5 in column\(s\) \['d'\]: \[0\.0\]")),
    Case(cronbach_alpha,
         lambda: cronbach_alpha(_with(_likert(), 3, "A2", 9.0), scale=(1, 5), invalid="missing"), "e",
         "code-outside-scale-set-missing-and-counted",
         warns=(DroppedDataWarning, r"1 value\(s\) of `items` outside the declared response scale were set to "
                                    r"missing"),
         check=lambda r: r.n_invalid == 1 and r.n_dropped == 1 and _close(
             r.alpha, cronbach_alpha(_likert().drop(index=3)).alpha)),
    Case(cronbach_alpha, lambda: cronbach_alpha(X.assign(b=3.0)), "f", "constant-item",
         raises=(ValueError, r"`items` has 1 item\(s\) with no variance .*\['b'\]")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X[["a"]]), "f", "single-item",
         raises=(ValueError, r"`items` must have at least 2 items \(columns\); got 1")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X.iloc[:1]), "f", "one-respondent",
         raises=(ValueError, r"`items` has too few usable respondents: 1 row\(s\)")),
    Case(cronbach_alpha, lambda: cronbach_alpha(pd.DataFrame({"x": X["a"], "y": 6 - X["a"]})), "f",
         "items-cancel-out", raises=(ValueError, r"the sum score of `items` has no variance.*`keys`")),
    Case(cronbach_alpha, lambda: cronbach_alpha(np.column_stack([X["a"]] * 3)), "f", "identical-items-alpha-one",
         check=lambda r: _close([r.alpha, r.std_alpha, r.lambda6], [1.0, 1.0, 1.0], rtol=1e-12)),
    Case(cronbach_alpha, lambda: cronbach_alpha(PAIRWISE_BAD, nan_policy="pairwise"), "g",
         "pairwise-alpha-above-one-flagged",
         warns=(BoundaryWarning, r"raw alpha = 1.0079.* exceed\(s\) 1.*not positive semi-definite"),
         check=lambda r: r.alpha > 1 and any("exceed" in n for n in r.notes) and "exceed" in str(r.summary())),
    Case(cronbach_alpha, lambda: cronbach_alpha(X[["a", "b", "c"]] * 1e-8), "d", "tiny-units-same-alpha",
         check=lambda r: _close(r.alpha, cronbach_alpha(X[["a", "b", "c"]]).alpha)),
    Case(cronbach_alpha, lambda: cronbach_alpha(X[["a", "b", "c"]] * 5e8), "d", "huge-units-same-alpha",
         check=lambda r: _close(r.alpha, cronbach_alpha(X[["a", "b", "c"]]).alpha)),
    Case(cronbach_alpha, lambda: cronbach_alpha(_with(X, 1, "a", np.nan), nan_policy="raise"), "missing",
         "nan-policy-raise",
         raises=(ValueError, r"`items` has 1 row\(s\) with a missing value \(rows \[1\]\) and nan_policy='raise'")),
    Case(cronbach_alpha, lambda: cronbach_alpha(_with(X, 1, "a", np.nan)), "missing", "nan-policy-omit-counted",
         warns=(DroppedDataWarning, r"1 of 6 row\(s\) with a missing value in `items` were dropped"),
         check=lambda r: r.n_dropped == 1 and r.n_obs == 5),
    Case(cronbach_alpha, lambda: cronbach_alpha(X, keys="a"), "input", "keys-string",
         raises=(TypeError, r"`keys` must be None, a sequence of column names")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X, keys=["-a", "b"]), "input", "reverse-without-scale",
         raises=(ValueError, r"`keys` reverse-key 1 item\(s\) \['a'\] but `scale` is None")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X, scale=5), "input", "scale-bare-number",
         raises=(TypeError, r"`scale` must be .*pass scale=\(1, 5\)")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X, nan_policy="listwise"), "input", "bad-nan-policy",
         raises=(ValueError, r"`nan_policy` must be one of \['omit', 'pairwise', 'raise'\]; got 'listwise'")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X, keys=["a", "bb"]), "input", "keys-typo",
         raises=(ValueError, r"`keys` names 1 item\(s\) that are not columns of `items`: \['bb'\]. Did you mean")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X.assign(b=list("xyzxyz"))), "j", "non-numeric-column",
         raises=(TypeError, r"`items` must be numeric; 1 column\(s\) are not: \['b'\]")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X.set_axis(["a", "a", "c", "d"], axis=1)), "j", "duplicate-columns",
         raises=(ValueError, r"`items` has duplicate column name\(s\) \['a'\]")),
    Case(cronbach_alpha, lambda: cronbach_alpha(_with(X, 0, "c", np.inf)), "j", "infinite-value",
         raises=(ValueError, r"`items` has 1 infinite value\(s\)")),
    Case(cronbach_alpha, lambda: cronbach_alpha(X.rename(columns={"a": "équipe", "b": "チーム"})), "j",
         "non-ascii-names", warns=(BoundaryWarning, r"alpha = -0.3699 is below 0"),
         check=lambda r: list(r.items.index[:2]) == ["équipe", "チーム"]),
    Case(cronbach_alpha, lambda: cronbach_alpha(pd.Series([1.0, 2, 3], name="a")), "input", "series",
         raises=(ValueError, r"`items` must have one column per item")),
    # ------------------------------------------------------------------ omega
    Case(omega, lambda: omega(_likert(), n_factors=2.5), "input", "n-factors-float",
         raises=(TypeError, r"`n_factors` must be an integer; got 2.5")),
    Case(omega, lambda: omega(_likert(), n_factors=4), "input", "too-many-factors",
         raises=(ValueError, r"`n_factors` = 4 is too many for 6 items; at most 3")),
    Case(omega, lambda: omega(_likert(), n_factors=0), "input", "zero-factors",
         raises=(ValueError, r"`n_factors` must be an integer >= 1; got 0")),
    Case(omega, lambda: omega(X[["a", "b"]], n_factors=1), "f", "two-items",
         raises=(ValueError, r"`items` must have at least 3 items \(columns\); got 2")),
    Case(omega, lambda: omega(_likert().assign(A3=2.0), n_factors=1), "f", "constant-item",
         raises=(ValueError, r"`items` has 1 item\(s\) with no variance .*\['A3'\]")),
    Case(omega, lambda: omega(_with(_likert(), 0, "A1", 6.0), n_factors=1, scale=(1, 5)), "e", "code-outside-scale",
         raises=(ValueError, r"`items` has 1 value\(s\) outside the response scale 1..5 in column\(s\) \['A1'\]")),
    Case(omega, lambda: omega(pd.DataFrame({"x": X["a"], "y": X["a"] + [0, 0, 0, 0, 0, 0.1], "z": X["c"]}),
                              n_factors=1), "g", "heywood-flagged",
         warns=(BoundaryWarning, r"Heywood case: item\(s\) \['x'.*reached the lower bound of the uniqueness"),
         check=lambda r: any("Heywood" in n for n in r.notes) and "Heywood" in str(r.summary())),
    Case(omega, lambda: omega(_likert() * 1e-8, n_factors=1), "d", "tiny-units-same-omega",
         check=lambda r: _close(r.omega_total, omega(_likert(), n_factors=1).omega_total, rtol=1e-7)),
    Case(omega, lambda: omega(_with(_likert(), 0, "A1", np.nan), n_factors=1, nan_policy="raise"), "missing",
         "nan-policy-raise", raises=(ValueError, r"`items` has 1 row\(s\) with a missing value")),
    # ------------------------------------------------------------------ multilevel_reliability
    Case(multilevel_reliability, _ml_shuffled, "a", "groups-in-another-row-order-are-aligned",
         check=lambda r: r == _ml_same_order()),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, TEAM.set_axis([f"x{k}" for k in range(12)])),
         "a", "groups-with-other-labels-refused",
         raises=(ValueError, r"`groups` and `items` carry different row labels")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, TEAM.iloc[:-1]), "a", "groups-shorter",
         raises=(ValueError, r"`groups` and `items` carry different row labels: 1 label\(s\) of `items` are "
                             r"not in `groups` \(\['r11'\]\)")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML.to_numpy(), list("aaabbbcccdd")), "a",
         "array-groups-wrong-length", raises=(ValueError, r"`groups` has 11 labels but the data have 12 rows")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML.assign(team=TEAM), "team"), "input",
         "groups-as-column-name", raises=(TypeError, r"`groups` must be the group labels, one per row of `items`")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, pd.DataFrame({"t": TEAM, "u": TEAM})),
         "input", "nested-groups-refused", raises=(ValueError, r"`groups` must have at most 1 label column")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, ["a"] * 12), "f", "one-group",
         raises=(ValueError, r"`groups` must have at least two groups with data; got 1")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, list(range(12))), "f", "singleton-groups",
         raises=(ValueError, r"`groups`: every group has one member")),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML.assign(i2=TEAM.map({"a": 1.0, "b": 2.0,
                                                                                          "c": 3.0, "d": 4.0})),
                                                                TEAM), "f", "item-constant-within-groups",
         raises=(ValueError, r"`items` has 1 item\(s\) with no variance within `groups` \['i2'\]")),
    Case(multilevel_reliability, _tiny_survey_motivation, "g", "between-alpha-above-one-flagged",
         warns=(BoundaryWarning, r"alpha_between = 1.0068 exceed\(s\) 1, the upper bound of a reliability: the "
                                 r"between-group covariance matrix of `items` .* is not positive semi-definite"),
         check=lambda r: r.alpha_between > 1 and not r.between_admissible and not r.between_psd
         and "outside its parameter space" in str(r.summary())),
    Case(multilevel_reliability, _small_survey_leadership, "g", "rank-one-between-matrix-noted-not-warned",
         check=lambda r: not r.between_psd and r.between_admissible and r.alpha_between <= 1
         and "just beyond the boundary" in str(r.summary())),
    Case(multilevel_reliability,
         lambda: multilevel_reliability(np.array([[1.0, 2, 3], [3, 2, 1], [2, 1, 2], [2, 3, 2], [1, 1, 3], [3, 3, 1]]),
                                        list("aabbcc")), "g", "negative-between-variance",
         warns=(BoundaryWarning, r"non-positive between-group variance"),
         check=lambda r: math.isnan(r.alpha_between) and not r.between_admissible),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, TEAM.where(TEAM != "d")), "missing",
         "missing-group-labels-dropped-and-counted",
         warns=(DroppedDataWarning, r"3 of 12 row\(s\) with a missing value in `items/groups` were dropped"),
         check=lambda r: r.n_dropped == 3 and r.n_groups == 3),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML * 1e-8, TEAM), "d", "tiny-units-same-omegas",
         check=lambda r: _close([r.omega_within, r.omega_between],
                                [_ml_same_order().omega_within, _ml_same_order().omega_between], rtol=1e-7)),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML * 5e8, TEAM), "d", "huge-units-same-omegas",
         check=lambda r: _close([r.omega_within, r.omega_between],
                                [_ml_same_order().omega_within, _ml_same_order().omega_between], rtol=1e-7)),
    Case(multilevel_reliability, lambda: multilevel_reliability(ML, TEAM, nan_policy="pairwise"), "input",
         "pairwise-refused", raises=(ValueError, r"`nan_policy` must be one of \['omit', 'raise'\]")),
    Case(multilevel_reliability, lambda: multilevel_reliability(_with(ML, 4, "i3", 8.0), TEAM, scale=(1, 5)), "e",
         "code-outside-scale", raises=(ValueError, r"`items` has 1 value\(s\) outside the response scale 1..5")),
    # ------------------------------------------------------------------ instrument_reliability
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), KEYS3, scale=(1, 5), ci_method="exact"),
         "input", "bad-ci-method", raises=(ValueError, r"`ci_method` must be one of \['feldt', 'duhachek'\]")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), KEYS3, scale=(1, 5), confidence_level=95),
         "input", "confidence-level-percent", raises=(ValueError, r"`confidence_level` must lie in \(0, 1\) "
                                                                  r"\(a proportion: 0.95 for 95%\)")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), KEYS3), "input", "keys-without-scale",
         raises=(ValueError, r"psych-style keys need the response scale: pass `scale=\(low, high\)`")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), "nhs-engagment"), "input",
         "instrument-typo", raises=(ValueError, r"`instrument` 'nhs-engagment' is not in the catalogue. "
                                                r"Did you mean 'nhs-engagement'")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), "nhs-engagement", scale=(1, 5)), "input",
         "scale-with-catalogue-instrument", raises=(ValueError, r"`scale` applies only to psych-style keys")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), {"id": "x"}), "input",
         "malformed-definition", raises=(InstrumentError, r"`instrument`: instrument definition 'x'")),
    Case(instrument_reliability, lambda: instrument_reliability(_with(_likert(), 0, "A1", 0.0), KEYS3, scale=(1, 5)),
         "e", "code-outside-scale", raises=(ValueError, r"`data` column 'A1' \(item 'A1'\) has 1 row\(s\) with "
                                                        r"invalid code\(s\) \[0\]")),
    Case(instrument_reliability,
         lambda: instrument_reliability(_with(_likert(), 0, "A1", 0.0), {"s1": ["A1", "A2", "-A3"]}, scale=(1, 5),
                                        invalid="missing"),
         "e", "code-outside-scale-set-missing",
         warns=(DroppedDataWarning, r"1 code\(s\) outside the response scale were set to missing .*'A1'"),
         check=lambda t: t.loc["s1", "n_dropped"] == 1 and t.loc["s1", "n_obs"] == 39),
    Case(instrument_reliability, lambda: instrument_reliability(_likert().assign(A5=3.0), KEYS3, scale=(1, 5)), "f",
         "degenerate-subscales-nan-with-reason",
         warns=(DegenerateDataWarning, r"reliability is undefined \(NaN\) for 2 subscale\(s\) .*'s2' \(its items "
                                       r"has 1 item\(s\) with no variance.*'one' \(one item\)"),
         check=lambda t: t.loc[["s2", "one"], "alpha"].isna().all() and np.isfinite(t.loc["s1", "alpha"])),
    Case(instrument_reliability, lambda: instrument_reliability(_with(_likert(), 2, "A2", np.nan), KEYS3,
                                                                 scale=(1, 5), nan_policy="raise"), "missing",
         "nan-policy-raise", raises=(ValueError, r"`data` has missing responses to subscale 's1' in 1 row\(s\) "
                                                r"and `nan_policy`='raise'")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert().rename(columns={"A1": "a1"}), KEYS3,
                                                                 scale=(1, 5)), "j", "column-letter-case",
         warns=(DegenerateDataWarning, r"reliability is undefined \(NaN\) for 1 subscale"),
         check=lambda r: pd.testing.assert_frame_equal(r, _quiet_reliability(), check_exact=True)),
    Case(instrument_reliability, lambda: instrument_reliability(_likert().assign(a1=_likert()["A1"]), KEYS3,
                                                                 scale=(1, 5)), "j", "columns-ambiguous-by-case",
         raises=(ValueError, r"`data` has 2 columns that differ only in letter case from item 'A1': \['A1', 'a1'\]")),
    Case(instrument_reliability, lambda: instrument_reliability(_likert(), "real-team"), "input",
         "classification-instrument", raises=(ValueError, r"`instrument` 'real-team' is a classification rule")),
    # red team (changes/redteam-data.md): a negative alpha (a reverse-worded item not keyed) was reported silently
    Case(multilevel_reliability, lambda: multilevel_reliability(ML.assign(i3=6 - ML["i3"]), TEAM), "g",
         "negative-alpha-flagged",
         warns=(BoundaryWarning, r"alpha_within = -1.0000, alpha_between = -0.8636 (is|are) below 0, the lower bound "
                                 r"of a reliability"),
         # the numbers in the message: alpha_within -1.0000 and alpha_between -0.8636 by their definition
         check=lambda r: (np.allclose((r.alpha_within, r.alpha_between),
                                      _ml_alphas_closed_form(ML.assign(i3=6 - ML["i3"]), TEAM), rtol=1e-12)
                          and np.allclose((r.alpha_within, r.alpha_between), (-1.0, -0.8636), atol=5e-5)
                          and any("below 0" in n for n in r.notes))
         or pytest.fail(f"{r.alpha_within}, {r.alpha_between}, {r.notes}")),
    Case(instrument_reliability, lambda: instrument_reliability(
        _likert().assign(A3=lambda t: 6 - t["A3"], A5=lambda t: 6 - t["A5"]), {"s1": ["A3", "A2"], "s2": ["A4", "A5"]},
        scale=(1, 5)), "g", "negative-alpha-flagged-per-subscale",
         warns=(BoundaryWarning, r"the reliability of 2 subscale\(s\) of `instrument` 'keys' is outside its parameter "
                                 r"space: 's1': alpha = -[0-9.]+ is below 0.*; 's2': alpha = -[0-9.]+ is below 0.*"
                                 r"reverse-keyed items not marked as reversed in `instrument`"),
         check=lambda r: (r["alpha"] < 0).all() or pytest.fail(str(r))),
    Case(cronbach_alpha, lambda: cronbach_alpha(X), "g", "negative-alpha-flagged",
         warns=(BoundaryWarning, r"alpha = -0.3699 is below 0, the lower bound of a reliability: the items of "
                                 r"`items` covary negatively on average; item\(s\) \['d'\] correlate "
                                 r"negatively with the rest"),
         # -0.3699: alpha of the unkeyed items by its definition (-0.369942196531792)
         check=lambda r: (np.isclose(r.alpha, _alpha_closed_form(X), rtol=1e-12)
                          and np.isclose(r.alpha, -0.3699, atol=5e-5) and any("below 0" in n for n in r.notes))
         or pytest.fail(str(r.alpha))),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


# ---------------------------------------------------------------------------
# properties: labelled groups are matched by label, never by position
# ---------------------------------------------------------------------------
@st.composite
def _grouped(draw):
    n_groups = draw(st.integers(2, 5))
    sizes = draw(st.lists(st.integers(2, 5), min_size=n_groups, max_size=n_groups))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = np.repeat([f"g{j}" for j in range(n_groups)], sizes)
    x = rng.standard_normal((len(labels), 3)) + rng.standard_normal((n_groups, 3)).repeat(sizes, axis=0)
    index = pd.Index([f"r{k}" for k in range(len(labels))])
    return pd.DataFrame(x, columns=["p", "q", "r"], index=index), pd.Series(labels, index=index)


def _quiet(call):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)  # tiny samples: between-group estimates at the boundary
        return call()


@settings(max_examples=25)
@given(_grouped(), st.randoms(use_true_random=False))
def test_property_shuffled_or_relabelled_groups_give_the_same_answer(case, rnd):
    items, groups = case
    base = _quiet(lambda: multilevel_reliability(items, groups))
    order = list(items.index)
    rnd.shuffle(order)
    shuffled = _quiet(lambda: multilevel_reliability(items, groups.loc[order]))  # labels in another row order
    assert shuffled == base
    relabel = {g: f"team {k}" for k, g in enumerate(sorted(groups.unique(), reverse=True))}
    relabelled = _quiet(lambda: multilevel_reliability(items.loc[order], groups.map(relabel)))
    for name in ("alpha_within", "alpha_between"):  # closed forms
        assert_allclose(getattr(relabelled, name), getattr(base, name), rtol=1e-9, equal_nan=True)
    for name in ("omega_within", "omega_between"):  # iterative minres fits: solver tolerance
        assert_allclose(getattr(relabelled, name), getattr(base, name), rtol=1e-6, equal_nan=True)


@settings(max_examples=25)
@given(_grouped())
def test_property_misaligned_groups_are_refused(case):
    items, groups = case
    other = groups.set_axis([f"s{k}" for k in range(len(groups))])
    with pytest.raises(ValueError, match=r"`groups` and `items` carry different row labels"):
        multilevel_reliability(items, other)
