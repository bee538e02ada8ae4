"""Misuse suite of the profile area (framework: tests/_misuse.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _misuse import Case, case_id, run_case

from teamculture.errors import BoundaryWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture.profile import culture_profile, frameworks, get_framework, load_framework
from teamculture.profile._framework import FRAMEWORK_DIR
from teamculture.simulate import simulate_culture

_SIM = simulate_culture(n_trusts=8, teams_per_trust=3, staff_per_team=6, missing_rate=0.0, rng=3)
STAFF = _SIM.staff
ONE_YEAR = STAFF[STAFF["year"] == 2023].reset_index(drop=True)
FW = "nhs-culture-elements"

COLUMN_FW = {"id": "col", "name": "Columns", "version": "1", "status": "official", "citation": "test",
             "elements": [{"id": "x", "label": "X"}],
             "measures": [{"element": "x", "column": "score", "range": [0, 10], "reason": "a score"}]}


def _columns(values=None, units=6, teams=3, per=4, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = units * teams * per
    unit = np.repeat([f"u{i}" for i in range(units)], teams * per)
    team = np.repeat([f"t{i}" for i in range(units * teams)], per)
    score = np.clip(rng.normal(5, 2, n), 0, 10) if values is None else values
    return pd.DataFrame({"unit": unit, "team": team, "score": score})


def _bad_code():
    d = ONE_YEAR.copy()
    d.loc[[0, 5], "cl1"] = 7.0
    return d


def _missing_unit():
    d = ONE_YEAR.copy()
    d["trust"] = d["trust"].astype(object)
    d.loc[[1, 2], "trust"] = None
    return d


def _mixed_peer():
    d = ONE_YEAR.copy()
    d.loc[0, "peer_group"] = "other"
    return d


def _single_team():
    d = _columns()
    d["team"] = d["unit"] + "-only"
    return d


def _partial_items():
    return ONE_YEAR.drop(columns=["tci1"])


def _duplicate_columns():
    d = ONE_YEAR.copy()
    return pd.concat([d, d[["trust"]]], axis=1)


def _non_ascii():
    d = _columns()
    return d.rename(columns={"unit": "organisation – name", "team": "équipe"})


def _constant():
    return _columns(values=np.full(6 * 3 * 4, 5.0))


def _no_unit_effect():
    # every respondent drawn from one distribution: for this seed the unit means differ less than chance
    return _columns(seed=4)


def _check_negative_icc2(res):
    assert res.elements.loc["x", "icc2"] < 0
    assert (res.table["label"] == "as expected").all()


def _check_n_dropped(expected):
    def check(res):
        assert res.n_dropped == expected, res.n_dropped
    return check


def _check_invalid_missing(res):
    # two cl1 codes set missing: cl1 is one of four items, so both respondents still have a score
    assert res.n_obs == len(ONE_YEAR)
    assert res.table["n_respondents"].sum() == 6 * len(ONE_YEAR)


def _check_constant(res):
    t = res.table
    assert (t["std_error"] == 0).all() and t["statistic"].isna().all() and t["label"].isna().all()


def _check_non_ascii(res):
    assert res.by == ("organisation – name", "équipe")
    assert res.table.index.names == ["organisation – name", "element"]


CASES = [
    # ---- culture_profile
    Case(culture_profile, lambda: culture_profile(ONE_YEAR.to_numpy(), FW, by="trust"), "input", "data-array",
         raises=(TypeError, r"`data` must be a pandas DataFrame")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="Trust"), "input", "by-unknown",
         raises=(ValueError, r"`by` names column.*Did you mean 'trust'")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by=["trust", "team", "year"]), "input",
         "by-three-levels", raises=(ValueError, r"`by` must name the unit column")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, "nhs-culture-elemnts", by="trust"), "input",
         "framework-unknown", raises=(ValueError, r"`framework` .*Did you mean 'nhs-culture-elements'")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", benchmark=["TR01", "TR99"]), "input",
         "benchmark-unknown-unit", raises=(ValueError, r"`benchmark` lists 1 unit\(s\) not in")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", benchmark=["TR01", "TR02"]), "f",
         "benchmark-two-units", raises=(ValueError, r"`benchmark` must contain at least three units")),
    Case(culture_profile, lambda: culture_profile(_mixed_peer(), FW, by="trust", benchmark="peer_group"), "a",
         "peer-group-varies-within-unit", raises=(ValueError, r"`benchmark` column 'peer_group' must be constant")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", benchmark=3), "input",
         "benchmark-type", raises=(TypeError, r"`benchmark` must be None")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", rule="bonferroni"), "input", "rule",
         raises=(ValueError, r"`rule` must be one of")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", false_flag_rate=5), "input",
         "rate-percent", raises=(ValueError, r"`false_flag_rate` must lie in")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", rule="funnel", false_flag_rate=0.5),
         "input", "funnel-rate", raises=(ValueError, r"`false_flag_rate` 0.5 is a per-comparison probability")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", confidence_level=95), "input",
         "confidence-percent", raises=(ValueError, r"`confidence_level` must lie in \(0, 1\) \(a proportion")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", nan_policy="drop"), "input",
         "nan-policy", raises=(ValueError, r"`nan_policy` must be one of")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", min_measures=0), "input",
         "min-measures", raises=(ValueError, r"`min_measures` must be an integer >= 1")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR, FW, by="trust", columns=["cl1"]), "input",
         "columns-list", raises=(TypeError, r"`columns` must map data column names")),
    Case(culture_profile, lambda: culture_profile(STAFF, FW, by="trust", baseline=2022), "input",
         "baseline-without-year", raises=(ValueError, r"`baseline` needs `year`")),
    Case(culture_profile, lambda: culture_profile(STAFF, FW, by="trust", year="year", baseline=2019), "input",
         "baseline-not-a-year", raises=(ValueError, r"`baseline` 2019 is not a year")),
    Case(culture_profile, lambda: culture_profile(STAFF, FW, by=["trust", "year"], year="year"), "input",
         "year-in-by", raises=(ValueError, r"`year` \('year'\) is also in `by`")),
    Case(culture_profile, lambda: culture_profile(_bad_code(), FW, by="trust"), "e", "code-outside-scale",
         raises=(ValueError, r"`data` column 'cl1' .* 2 value\(s\) outside the response scale.*\[7\.0\]")),
    Case(culture_profile, lambda: culture_profile(_bad_code(), FW, by="trust", invalid="missing"), "e",
         "code-outside-scale-missing", warns=(DroppedDataWarning, r"2 item code\(s\) outside"),
         check=_check_invalid_missing),
    Case(culture_profile, lambda: culture_profile(_missing_unit(), FW, by="trust", nan_policy="raise"), "missing",
         "unit-label-missing-raise", raises=(ValueError, r"`by` has 2 row\(s\) with a missing value")),
    Case(culture_profile, lambda: culture_profile(_missing_unit(), FW, by="trust"), "missing",
         "unit-label-missing-omit", warns=(DroppedDataWarning, r"2 of \d+ row\(s\) with a missing value in `by`"),
         check=_check_n_dropped(2)),
    Case(culture_profile, lambda: culture_profile(_single_team(), COLUMN_FW, by=["unit", "team"]), "f",
         "one-team-per-unit", raises=(ValueError, r"`by`: every unit \('unit'\) has a single team")),
    Case(culture_profile, lambda: culture_profile(_constant(), COLUMN_FW, by=["unit", "team"]), "f",
         "constant-scores", warns=(DegenerateDataWarning, r"no variation"), check=_check_constant),
    Case(culture_profile, lambda: culture_profile(_no_unit_effect(), COLUMN_FW, by=["unit", "team"]), "g",
         "negative-icc2", warns=(BoundaryWarning, r"ICC\(2\) is negative for element\(s\) \['x'\]"),
         check=_check_negative_icc2),
    Case(culture_profile, lambda: culture_profile(_partial_items(), FW, by="trust"), "j", "items-partly-present",
         raises=(ValueError, r"`data` has some but not all items of measure 'tci-14:vision'.*'tci1'")),
    Case(culture_profile, lambda: culture_profile(_duplicate_columns(), FW, by="trust"), "j", "duplicate-columns",
         raises=(ValueError, r"`data` has duplicate column name")),
    Case(culture_profile, lambda: culture_profile(_non_ascii(), COLUMN_FW, by=["organisation – name", "équipe"]),
         "j", "non-ascii-columns", check=_check_non_ascii),
    Case(culture_profile, lambda: culture_profile(_columns().assign(score=lambda d: d["score"] * 2), COLUMN_FW,
                                                  by="unit"), "e", "column-outside-range",
         raises=(ValueError, r"`data` column 'score' \(measure 'score'\) has \d+ value\(s\) outside its declared")),
    Case(culture_profile, lambda: culture_profile(_columns().assign(score="high"), COLUMN_FW, by="unit"), "j",
         "column-not-numeric", raises=(TypeError, r"`data` column 'score' .* must be numeric")),
    Case(culture_profile, lambda: culture_profile(ONE_YEAR[["trust", "team"]], FW, by="trust"), "input",
         "no-measure-in-data", raises=(ValueError, r"`data` holds the items of none of the measures")),
    # ---- frameworks
    Case(frameworks, lambda: frameworks(status="draft"), "input", "status-unknown",
         raises=(ValueError, r"`status` must be None or one of")),
    Case(frameworks, lambda: frameworks(status="Reconstructed"), "input", "status-case",
         raises=(ValueError, r"`status` .*Did you mean 'reconstructed'")),
    Case(frameworks, lambda: frameworks(status="official"), "input", "status-empty-listing",
         check=lambda t: list(t.columns) == ["name", "version", "status", "n_elements", "n_measures", "citation"]
         and (t["status"] == "official").all()),
    # ---- get_framework
    Case(get_framework, lambda: get_framework(1), "input", "id-type", raises=(TypeError, r"`framework_id` must be")),
    Case(get_framework, lambda: get_framework("nhs-culture"), "input", "id-unknown",
         raises=(ValueError, r"`framework_id` 'nhs-culture' is not a built-in.*Did you mean")),
    Case(get_framework, lambda: get_framework(str(FRAMEWORK_DIR / "nhs-culture-elements.toml")), "input",
         "id-is-a-path", raises=(ValueError, r"`framework_id` .* Load your own with load_framework")),
    # ---- load_framework
    Case(load_framework, lambda: load_framework("no/such/file.toml"), "input", "not-a-file",
         raises=(ValueError, r"`source` 'no/such/file.toml' is not a file")),
    Case(load_framework, lambda: load_framework(42), "input", "source-type",
         raises=(TypeError, r"`source` must be a dict or the path")),
    Case(load_framework, lambda: load_framework({**COLUMN_FW, "measures": [{"element": "x", "column": "score",
                                                                            "range": [10, 0], "reason": "r"}]}),
         "input", "range-reversed", raises=(ValueError, r"`framework` measures\[0\].*low < high")),
    Case(load_framework, lambda: load_framework({**COLUMN_FW, "measures": [{"element": "x", "column": "score",
                                                                            "reason": "r"}]}),
         "input", "range-missing", raises=(ValueError, r"`framework` measures\[0\].*needs 'range")),
    Case(load_framework, lambda: load_framework({**COLUMN_FW, "status": "reconstructed"}), "input",
         "reconstructed-without-reason", raises=(ValueError, r"`framework` 'col': the key 'reason' is required")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


def test_invalid_toml_file_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("id = 'x'\nelements = [", encoding="utf-8")
    with pytest.raises(ValueError, match=r"`framework` file broken.toml: invalid TOML"):
        load_framework(p)
