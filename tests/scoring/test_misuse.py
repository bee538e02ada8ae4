"""Misuse suite of scoring and instruments: score, score_groups, keyed_items, occupational_weights,
available, get, resolve, load_instrument (framework: tests/_misuse.py), plus Hypothesis properties
for the labelled ``weights`` of score_groups.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _misuse import Case, case_id, run_case
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from teamculture.errors import DegenerateDataWarning, DroppedDataWarning, InstrumentError
from teamculture.instruments import available, get, load_instrument, resolve
from teamculture.scoring import keyed_items, occupational_weights, score, score_groups

KEYS = {"s": ["a", "-b", "c"]}
DF = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 3], "b": [5.0, 4, 3, 2, 1, 2], "c": [2.0, 2, 3, 4, 4, 3],
                   "team": list("xxyyzz"), "trust": list("PPPQQQ"), "w": [1.0, 2, 1, 1, 3, 1]},
                  index=[f"r{k}" for k in range(6)])
CL = pd.DataFrame({"q9f": [4.0, 5], "q9g": [4.0, 2], "q9h": [3.0, 5], "q9i": [4.0, 5]})
ORG = pd.DataFrame({"org": list("aaabbb"), "occ": list("nnmmmn")})


def _with(frame, row, col, value):
    out = frame.copy()
    out.loc[out.index[row], col] = value
    return out


def _weighted_means(weights):
    return score_groups(DF, KEYS, by="team", weights=weights, scale=(1, 5)).means


def _fail():
    raise AssertionError("unexpected value")


def _close(a, b):
    assert_allclose(a, b, rtol=1e-12)
    return True


CASES = [
    # ------------------------------------------------------------------ score
    Case(score, lambda: score(DF[["a", "b", "c"]].to_dict("records"), KEYS, scale=(1, 5)), "input",
         "records-are-rows", check=lambda r: pd.testing.assert_frame_equal(
             r, score(DF[["a", "b", "c"]].reset_index(drop=True), KEYS, scale=(1, 5)), check_exact=True)),
    Case(score, lambda: score([{"a": 1, "b": 2, "c": 3}, [1, 2, 3]], KEYS, scale=(1, 5)), "input",
         "records-with-a-non-dict", raises=(TypeError, r"1 of 2 record\(s\) are not dicts \(positions \[1\], e.g. list\)")),
    Case(score, lambda: score([{"a": 1, "b": [2, 3], "c": 3}], KEYS, scale=(1, 5)), "input", "records-with-a-list",
         raises=(TypeError, r"1 value\(s\) are containers, e.g. record 0, key 'b': list")),
    Case(score, lambda: score([], KEYS, scale=(1, 5)), "input", "records-empty",
         raises=(ValueError, r"`data` is an empty list of records")),
    Case(score, lambda: score([{1: 1, "b": 2}], KEYS, scale=(1, 5)), "input", "records-with-int-keys",
         raises=(TypeError, r"`data` records must have str keys .*\['int'\]")),
    Case(score, lambda: score(np.ones((3, 3)), KEYS, scale=(1, 5)), "input", "array-not-a-frame",
         raises=(TypeError, r"`data` must be a pandas DataFrame .*got ndarray")),
    Case(score, lambda: score(CL.assign(Q9F=CL["q9f"]), "nhs-compassionate-leadership", survey_year=2021), "j",
         "question-codes-ambiguous-by-case",
         raises=(ValueError, r"`data` has 2 columns that differ only in letter case from the question code of item "
                             r"'cl1' \(survey_year=2021\) 'q9f': \['q9f', 'Q9F'\]")),
    Case(score, lambda: score(DF.assign(A=DF["a"]), KEYS, scale=(1, 5)), "j", "item-columns-ambiguous-by-case",
         raises=(ValueError, r"differ only in letter case from item 'a': \['a', 'A'\]")),
    Case(score, lambda: score(CL.rename(columns={"q9f": "q9e"}), "nhs-compassionate-leadership", survey_year=2021),
         "input", "question-code-typo",
         raises=(ValueError, r"item 'cl1' expects column 'q9f' \(survey_year=2021\); did you mean 'q9e'")),
    Case(score, lambda: score(CL, "nhs-compassionate-leadership", columns={"Q9F": "cl1", "q9g": "cl2", "q9h": "cl3",
                                                                            "q9i": "cl4"}),
         "j", "columns-key-in-another-case", check=lambda r: _close(
             r.to_numpy(), score(CL, "nhs-compassionate-leadership", survey_year=2021).to_numpy())),
    Case(score, lambda: score(DF, "nhs-engagment"), "input", "instrument-typo",
         raises=(ValueError, r"`instrument` 'nhs-engagment' is not in the catalogue. Did you mean 'nhs-engagement'")),
    Case(score, lambda: score(DF, "psych-safety-7", scale=(1, 5)), "input", "scale-with-catalogue-instrument",
         raises=(ValueError, r"`scale` applies only to psych-style keys; `instrument` 'psych-safety-7' declares")),
    Case(score, lambda: score(CL.rename(columns=str.upper), "nhs-compassionate-leadership", survey_year=2021), "j",
         "question-codes-in-another-letter-case", check=lambda r: (
             _close(r.to_numpy(), score(CL, "nhs-compassionate-leadership", survey_year=2021).to_numpy()),
             r.provenance.columns == (("cl1", "Q9F"), ("cl2", "Q9G"), ("cl3", "Q9H"), ("cl4", "Q9I")) or _fail())),
    Case(score, lambda: score(CL, "nhs-compassionate-leadership", survey_year=2019), "input", "year-without-map",
         raises=(ValueError, r"`survey_year` 2019 has no question mapping .*available: \['2021'\]")),
    Case(score, lambda: score(CL, "nhs-compassionate-leadership", survey_year=2021.0), "input", "year-float",
         raises=(TypeError, r"`survey_year` must be a year \(int\)")),
    Case(score, lambda: score(CL, "nhs-compassionate-leadership",
                              columns={"q9f": "cl1", "q9g": "cl2", "q9h": "cl3", "q9x": "cl4"}), "j",
         "columns-names-a-missing-column",
         raises=(ValueError, r"`columns` names 1 column\(s\) that are not in `data`: \['q9x'\]. Did you mean")),
    Case(score, lambda: score(CL, "nhs-compassionate-leadership",
                              columns={"cl1": "q9f", "cl2": "q9g", "cl3": "q9h", "cl4": "q9i"}), "j",
         "columns-map-the-wrong-way", raises=(ValueError, r"`columns` maps item ids to data columns; .*swap")),
    Case(score, lambda: score(DF.set_axis(["a", "a", "c", "team", "trust", "w"], axis=1), KEYS, scale=(1, 5)), "j",
         "duplicate-column-names", raises=(ValueError, r"`data` has duplicate column name\(s\) \['a'\]")),
    Case(score, lambda: score(_with(DF, 1, "b", 6.0), KEYS, scale=(1, 5)), "e", "reversed-code-outside-scale",
         raises=(ValueError, r"`data` column 'b' \(item 'b'\) has 1 row\(s\) with invalid code\(s\) \[6\]")),
    Case(score, lambda: score(_with(DF, 1, "b", 6.0), KEYS, scale=(1, 5), invalid="missing"), "e",
         "code-outside-scale-set-missing-and-counted",
         warns=(DroppedDataWarning, r"1 code\(s\) outside the response scale were set to missing .*'b' \(column "
                                    r"'b'\): 1"),
         check=lambda s: _close(s.loc["r1", "s"], np.mean([2.0, 2.0]))),
    Case(score, lambda: score(DF.assign(a=["Agree", "Sort of"] * 3), KEYS, scale=(1, 5)), "j", "unknown-label",
         raises=(ValueError, r"`data` column 'a' has 6 row\(s\) with unknown label\(s\) \['Agree', 'Sort of'\]")),
    Case(score, lambda: score(DF, KEYS, scale=(1, 5), min_items=True), "input", "min-items-bool",
         raises=(ValueError, r"`min_items` for subscale 's' must be an integer in \[1, 3\]; got True")),
    Case(score, lambda: score(DF, KEYS, scale=(1, 5), invalid="drop"), "input", "invalid-choice",
         raises=(ValueError, r"`invalid` must be one of \['raise', 'missing'\]")),
    Case(score, lambda: score(DF.rename(columns={"a": "équipe"}), {"s": ["équipe", "c"]}, scale=(1, 5)), "j",
         "non-ascii-column-refused-as-item-id", raises=(InstrumentError, r"`instrument`: .*item ids must start")),
    # ------------------------------------------------------------------ score_groups
    Case(score_groups, lambda: _weighted_means(DF["w"].iloc[::-1]), "a", "weights-in-another-row-order-aligned",
         check=lambda m: m.equals(_weighted_means("w"))),
    Case(score_groups, lambda: _weighted_means(DF["w"].set_axis(range(6))), "a", "weights-with-other-labels-refused",
         raises=(ValueError, r"`weights` and `data` carry different row labels")),
    Case(score_groups, lambda: _weighted_means([1.0, 2.0]), "a", "weights-wrong-length",
         raises=(ValueError, r"`weights` must hold one number per row of `data` \(6\)")),
    Case(score_groups, lambda: score_groups(DF, KEYS, by=DF["team"].to_numpy(), scale=(1, 5)), "input",
         "by-as-labels-refused", raises=(TypeError, r"`by` must name column\(s\) of `data` .*data.assign")),
    Case(score_groups, lambda: score_groups(DF, KEYS, by=list("xxyyzz"), scale=(1, 5)), "input",
         "by-as-a-list-of-labels-refused", raises=(TypeError, r"`by` must name column\(s\) of `data` .*got a list of 6 "
                                                             r"values, one per row .*labels, not column names")),
    Case(score_groups, lambda: score_groups(DF, KEYS, by="Team", scale=(1, 5)), "input", "by-typo",
         raises=(ValueError, r"`by` names column\(s\) \['Team'\] that are not in `data`. Did you mean 'team'")),
    Case(score_groups, lambda: score_groups(_with(DF, 2, "team", None), KEYS, by="team", scale=(1, 5)), "missing",
         "missing-group-label", raises=(ValueError, r"`by` column\(s\) \['team'\] have missing labels in 1 row")),
    Case(score_groups, lambda: score_groups(DF, KEYS, by=["trust", "team"], scale=(1, 5)), "input",
         "nested-by-is-outer-first",
         check=lambda g: list(g.means.index.names) == ["trust", "team"] and g.n_groups.tolist() == [2, 3]
         and len(g.means) == 4),  # team 'y' spans trusts P and Q: two groups
    Case(score_groups, lambda: score_groups(DF.assign(w=[0.0, 0.0, 1, 1, 1, 1]), KEYS, by="team", weights="w",
                                            scale=(1, 5)), "f", "zero-weight-group",
         warns=(DegenerateDataWarning, r"1 group\(s\) of `by` have zero total `weights` \(\['x'\]\)"),
         check=lambda g: math.isnan(g.means.loc["x", "s"]) and not g.means.loc[["y", "z"]].isna().any().any()),
    Case(score_groups, lambda: score_groups(DF, KEYS, by="team", weights=DF[["w"]], scale=(1, 5)), "input",
         "weights-frame", raises=(TypeError, r"`weights` must be a column name of `data`")),
    Case(score_groups, lambda: score_groups(DF, KEYS, by="team", weights="trust", scale=(1, 5)), "input",
         "weights-not-numeric", raises=(TypeError, r"`weights` must be numeric")),
    Case(score_groups, lambda: score_groups(DF.iloc[:0], KEYS, by="team", scale=(1, 5)), "f", "no-rows",
         raises=(ValueError, r"`data` has no rows")),
    Case(score_groups, lambda: score_groups(DF, KEYS, by="team", denominator="teams", scale=(1, 5)), "input",
         "bad-denominator", raises=(ValueError, r"`denominator` must be one of \['all', 'classified', 'in_team'\]")),
    # ------------------------------------------------------------------ keyed_items
    Case(keyed_items, lambda: keyed_items(DF, "real-team"), "input", "classification-instrument",
         raises=(ValueError, r"`data` lacks the column\(s\) for 4 of the 4 item\(s\) of instrument 'real-team'")),
    Case(keyed_items, lambda: keyed_items(_with(DF, 0, "c", 0.5), KEYS, scale=(1, 5)), "e", "fractional-code",
         raises=(ValueError, r"`data` column 'c' \(item 'c'\) has 1 row\(s\) with invalid code\(s\) \[0.5\]")),
    Case(keyed_items, lambda: keyed_items(_with(DF, 0, "b", 9.0), KEYS, scale=(1, 5), invalid="missing"), "e",
         "code-set-missing-before-reversal",
         warns=(DroppedDataWarning, r"1 code\(s\) outside the response scale .*'b'"),
         check=lambda k: math.isnan(k.loc["r0", "b"]) and k.loc["r1", "b"] == 2.0),
    Case(keyed_items, lambda: keyed_items(DF[["a", "b", "c"]].to_numpy(), KEYS, scale=(1, 5)), "input", "array",
         raises=(TypeError, r"`data` must be a pandas DataFrame")),
    # ------------------------------------------------------------------ occupational_weights
    Case(occupational_weights, lambda: occupational_weights(ORG, by="organisation", occupation="occ"), "input",
         "by-missing-column", raises=(ValueError, r"`by` names column\(s\) \['organisation'\] that are not in `data`")),
    Case(occupational_weights, lambda: occupational_weights(ORG, by="org", occupation=ORG["occ"]), "input",
         "occupation-as-labels", raises=(TypeError, r"`occupation` must be one column name of `data`")),
    Case(occupational_weights, lambda: occupational_weights(ORG, by="org", occupation="occ",
                                                            benchmark={"nurse": 0.6, "medic": 0.4}), "input",
         "benchmark-shares-no-occupation",
         raises=(ValueError, r"`benchmark` names none of the occupations in `occupation` column 'occ'")),
    Case(occupational_weights, lambda: occupational_weights(ORG, by="org", occupation="occ",
                                                            benchmark={"n": -0.5, "m": 1.5}), "input",
         "benchmark-negative", raises=(ValueError, r"`benchmark` shares must be finite, >= 0")),
    Case(occupational_weights, lambda: occupational_weights(ORG, by="org", occupation="occ", benchmark={"n": 1.0}),
         "missing", "occupation-absent-from-benchmark-counted",
         warns=(DroppedDataWarning, r"1 occupation\(s\) of `occupation` have no share in `benchmark` \['m'\]; "
                                    r"their 3 of 6 respondent\(s\) get weight 0"),
         check=lambda w: (w[ORG["occ"] == "m"] == 0).all() and (w[ORG["occ"] == "n"] > 0).all()),
    Case(occupational_weights, lambda: occupational_weights(_with(ORG, 1, "occ", None), by="org", occupation="occ"),
         "missing", "missing-occupation-label",
         raises=(ValueError, r"`occupation` column\(s\) \['occ'\] have missing labels in 1 row")),
    # ------------------------------------------------------------------ instruments
    Case(available, lambda: available(status="oficial"), "input", "status-typo",
         raises=(ValueError, r"`status` must be one of \['official', 'reconstructed'\]; got 'oficial'. Did you mean "
                             r"'official'")),
    Case(available, lambda: available(status=1), "input", "status-not-a-string",
         raises=(ValueError, r"`status` must be one of \['official', 'reconstructed'\]; got 1")),
    Case(available, lambda: available(status="official"), "input", "status-filter",
         check=lambda t: (t["status"] == "official").all() and "hsopsc-1" in t.index),
    Case(get, lambda: get("psych_safety_7"), "input", "id-typo",
         raises=(ValueError, r"`instrument_id` 'psych_safety_7' is not in the catalogue. Did you mean 'psych-safety-7'")),
    Case(get, lambda: get(None), "input", "none", raises=(TypeError, r"`instrument_id` must be a catalogue id")),
    Case(get, lambda: get("nhs-engagement", version="2019"), "input", "unknown-version",
         raises=(ValueError, r"`version` '2019' of instrument 'nhs-engagement' is not in the catalogue; known "
                             r"version\(s\): \['2021'\]")),
    Case(get, lambda: get("hsopsc-1", version=1.0), "input", "version-float",
         raises=(TypeError, r"`version` must be a version string such as '1.0'; got float")),
    Case(get, lambda: get("hsopsc-1", version="2.0"), "input", "version-of-another-id",
         raises=(ValueError, r"`version` '2.0' of instrument 'hsopsc-1' is not in the catalogue")),
    Case(get, lambda: get("nhs-engagement", version=2021), "input", "version-as-int",
         check=lambda r: r.version == "2021" or _fail()),
    Case(get, lambda: get("team_survey.toml"), "input", "a-file-name",
         raises=(ValueError, r"`instrument_id` 'team_survey.toml' .*looks like a file name: .*load_instrument")),
    Case(resolve, lambda: resolve({"s": ["a", "-b"]}), "input", "keys-without-scale",
         raises=(ValueError, r"keys need the response scale: pass `scale=\(low, high\)`")),
    Case(resolve, lambda: resolve(get("tci-14"), scale=(1, 7)), "input", "scale-with-an-instrument",
         raises=(ValueError, r"`scale` applies only to psych-style keys; `instrument` 'tci-14'")),
    Case(resolve, lambda: resolve(42), "input", "int", raises=(TypeError, r"`instrument` must be a catalogue id")),
    Case(resolve, lambda: resolve({}), "input", "empty-keys", raises=(ValueError, r"`instrument` keys are empty")),
    Case(load_instrument, lambda: load_instrument("no/such/file.toml"), "input", "missing-file",
         raises=(ValueError, r"`source` 'no/such/file.toml' is not a file")),
    Case(load_instrument, lambda: load_instrument(3.5), "input", "number",
         raises=(TypeError, r"`source` must be a dict or a path to a TOML file; got float")),
    Case(load_instrument, lambda: load_instrument({"id": "mine", "name": "m"}), "input", "incomplete-definition",
         raises=(InstrumentError, r"`source`: instrument definition 'mine': missing required key 'version'")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


def test_load_instrument_refuses_a_folder_and_bad_toml(tmp_path):
    with pytest.raises(ValueError, match=r"`source` '.*' is a folder"):
        load_instrument(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("id = [unclosed")
    with pytest.raises(InstrumentError, match=r"`source`: instrument file bad.toml: invalid TOML"):
        load_instrument(bad)


# ---------------------------------------------------------------------------
# properties: labelled weights are matched by label, never by position
# ---------------------------------------------------------------------------
@st.composite
def _survey(draw):
    n = draw(st.integers(3, 25))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.integers(1, 6, size=(n, 3)).astype(float), columns=["a", "b", "c"],
                      index=pd.Index(rng.permutation(1000)[:n]))
    df["g"] = rng.choice(["t1", "t2", "t3"], size=n)
    w = pd.Series(rng.uniform(0.1, 3.0, size=n), index=df.index)
    return df, w


@settings(max_examples=30)
@given(_survey(), st.randoms(use_true_random=False))
def test_property_shuffled_weights_give_the_same_group_scores(case, rnd):
    df, w = case
    base = score_groups(df, KEYS, by="g", weights=w, scale=(1, 5))
    order = list(w.index)
    rnd.shuffle(order)
    assert score_groups(df, KEYS, by="g", weights=w.loc[order], scale=(1, 5)) == base
    assert score_groups(df.assign(w=w), KEYS, by="g", weights="w", scale=(1, 5)) == base


@settings(max_examples=30)
@given(_survey())
def test_property_misaligned_weights_are_refused(case):
    df, w = case
    with pytest.raises(ValueError, match=r"`weights` and `data` carry different row labels"):
        score_groups(df, KEYS, by="g", weights=w.set_axis(w.index + 5000), scale=(1, 5))


# ---------------------------------------------------------------------------
# red-team pass (changes/redteam-data.md): each case failed before its fix
# ---------------------------------------------------------------------------
def _records_of(frame):
    return frame.to_dict("records")


CASES += [
    # records (a list of dicts) are accepted wherever `data` is "as in score"
    Case(score_groups, lambda: score_groups(_records_of(DF), KEYS, by="team", scale=(1, 5)), "input",
         "records-are-rows", check=lambda r: pd.testing.assert_frame_equal(
             r.means, score_groups(DF.reset_index(drop=True), KEYS, by="team", scale=(1, 5)).means) or True),
    Case(keyed_items, lambda: keyed_items(_records_of(DF[["a", "b", "c"]]), KEYS, scale=(1, 5)), "input",
         "records-are-rows", check=lambda r: pd.testing.assert_frame_equal(
             r, keyed_items(DF[["a", "b", "c"]].reset_index(drop=True), KEYS, scale=(1, 5))) or True),
    # numbers written as text ("4.0", " 5 ") are numeric codes, as numbers are
    Case(score, lambda: score(DF[["a", "b", "c"]].astype(str), KEYS, scale=(1, 5)), "input", "numbers-as-text",
         check=lambda r: _close(r.to_numpy(), score(DF, KEYS, scale=(1, 5)).to_numpy())),
    Case(score, lambda: score(pd.DataFrame({"a": ["1", " 5 ", None], "b": ["2", "4", "3.0"], "c": [1, 2, 3]}),
                              KEYS, scale=(1, 5)), "input", "numbers-as-text-with-missing",
         check=lambda r: _close(r["s"].to_numpy(), [(1 + 4 + 1) / 3, (5 + 2 + 2) / 3, (3 + 3) / 2])),
    Case(score, lambda: score(pd.DataFrame({"a": ["1", "7", "2"], "b": [1, 2, 3], "c": [1, 2, 3]}), KEYS,
                              scale=(1, 5)), "e", "numbers-as-text-outside-the-scale",
         raises=(ValueError, r"`data` column 'a' \(item 'a'\) has 1 row\(s\) with invalid code\(s\) \[7\]")),
    # one column of `data` is never read for two items (it would count twice)
    Case(score, lambda: score(DF, {"s": ["a", "A"]}, scale=(1, 5)), "a", "two-items-one-column-by-case",
         raises=(ValueError, r"`instrument`: .*item ids must differ other than in letter case .*\['a', 'A'\]")),
    Case(score, lambda: score(DF, {"s": ["x", "b"]}, scale=(1, 5), columns={"b": "x"}), "a",
         "columns-maps-an-item-column-to-another-item",
         raises=(ValueError, r"`data` column 'b' would be read for 2 items \['x', 'b'\]")),
    Case(score, lambda: score(DF, {"s": ["x", "y"]}, scale=(1, 5), columns={"a": "x", "A": "y"}), "a",
         "columns-keys-naming-one-column",
         raises=(ValueError, r"`columns` keys \['a', 'A'\] name the same column 'a' of `data`")),
    # True in a column of numbers was scored as the code 1 (pandas' factorize treats True as 1)
    Case(score, lambda: score(pd.DataFrame({"a": [1, True, 3], "b": [2, 4, 5], "c": [1, 2, 3]}), KEYS, scale=(1, 5)),
         "input", "true-among-numbers", raises=(TypeError, r"`data` column 'a' holds 1 boolean value\(s\)")),
    # complex numbers lost their imaginary part with a numpy ComplexWarning
    Case(score, lambda: score(pd.DataFrame({"a": [1 + 0j, 2, 3], "b": [2, 4, 5], "c": [1, 2, 3]}), KEYS, scale=(1, 5)),
         "input", "complex-codes", raises=(TypeError, r"`data` column 'a' is complex")),
    # a group column named by a number (0) names the index: it was called 'by'
    Case(score_groups, lambda: score_groups(DF.rename(columns={"team": 0}), KEYS, by=0, scale=(1, 5)), "a",
         "int-column-name-names-the-index",
         check=lambda r: (r.means.index.name == "0" and r.by == ("0",)) or _fail()),
    # item ids that differ only in letter case would read one column (ids are matched regardless of case)
    Case(load_instrument, lambda: load_instrument(
        {**get("psych-safety-7").to_dict(),
         "items": [*get("psych-safety-7").to_dict()["items"], {**get("psych-safety-7").to_dict()["items"][0],
                                                              "id": "PS1"}]}), "input", "item-ids-differing-in-case",
         raises=(InstrumentError, r"`source`: .*item ids must differ other than in letter case .*\['ps1', 'PS1'\]")),
    # an empty subscale (or composite) name made a score column named ''
    Case(score, lambda: score(DF, {"": ["a", "b"]}, scale=(1, 5)), "input", "empty-subscale-name",
         raises=(InstrumentError, r"`instrument`: .*subscale '': names must be non-empty text")),
    Case(load_instrument, lambda: load_instrument(
        {**get("nhs-engagement").to_dict(), "composites": {" ": {"subscales": ["motivation"]}}}), "input",
         "blank-composite-name", raises=(InstrumentError, r"`source`: .*composite ' ': names must be non-empty text")),
    # occupational_weights: a benchmark with a repeated occupation is refused, naming it
    Case(occupational_weights, lambda: occupational_weights(
        ORG, by="org", occupation="occ", benchmark=pd.Series([0.5, 0.3, 0.2], index=["n", "m", "m"])), "input",
         "benchmark-repeats-an-occupation",
         raises=(ValueError, r"`benchmark` names 1 occupation\(s\) more than once: \['m'\]")),
]
