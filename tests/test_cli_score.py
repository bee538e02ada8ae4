"""``teamculture score``: per-respondent and per-group scores of a CSV, provenance, and bad arguments."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.cli import main


@pytest.fixture(scope="module")
def staff():
    return tc.national_survey("tiny", rng=3).staff.head(120).reset_index(drop=True)


@pytest.fixture
def csv(staff, tmp_path):
    path = tmp_path / "export.csv"
    staff.to_csv(path, index=False)
    return path


def test_per_respondent_scores_and_provenance(csv, staff, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score", "nhs-engagement", str(csv), "-o", str(out), "--id", "staff_id"]) == 0
    got = pd.read_csv(out)
    want = tc.score(staff, "nhs-engagement")
    assert list(got.columns) == ["staff_id", *want.columns]
    assert (got["staff_id"] == staff["staff_id"]).all()
    assert_allclose(got[list(want.columns)].to_numpy(), want.to_numpy(), rtol=1e-15)
    prov = json.loads((tmp_path / "scores.provenance.json").read_text())
    assert prov["instrument_id"] == "nhs-engagement" and prov["version"] == "2021"
    assert prov["status"] == "reconstructed" and prov["unconfirmed"] == list(want.provenance.unconfirmed)
    assert prov["columns"]["mot1"] == "mot1"
    err = capsys.readouterr().err
    assert "120 respondent(s) scored on nhs-engagement version 2021 (reconstructed; 4 unconfirmed" in err


def test_by_group_equals_score_groups(csv, staff, capsys):
    assert main(["score", "nhs-engagement", str(csv), "--by", "trust", "team"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=[0, 1])
    want = tc.score_groups(staff, "nhs-engagement", by=["trust", "team"]).to_frame()
    assert got.index.tolist() == want.index.tolist() and list(got.columns) == list(want.columns)
    assert_allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float), rtol=1e-15)


def test_question_codes_in_another_case_with_survey_year(tmp_path, capsys):
    path = tmp_path / "cl.csv"
    pd.DataFrame({"Q9F": [4, 5], "q9G": [4, 2], "Q9h": [3, 5], "q9i": [4, 5]}).to_csv(path, index=False)
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    want = tc.score(pd.DataFrame({"q9f": [4, 5], "q9g": [4, 2], "q9h": [3, 5], "q9i": [4, 5]}),
                    "nhs-compassionate-leadership", survey_year=2021)
    assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-15)


def test_invalid_codes_missing_are_counted_on_stderr(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"q9f": [4, 9], "q9g": [4, 2], "q9h": [3, 5], "q9i": [4, 5]}).to_csv(path, index=False)
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021"]) == 2
    assert "invalid code(s)" in capsys.readouterr().err
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021",
                 "--invalid", "missing"]) == 0
    cap = capsys.readouterr()
    assert "warning: 1 code(s) outside the response scale were set to missing" in cap.err
    got = pd.read_csv(io.StringIO(cap.out))
    assert got.shape == (2, 1) and np.isfinite(got.to_numpy()).all()


def test_instrument_definition_file(csv, staff, tmp_path, capsys):
    definition = tmp_path / "mine.json"
    definition.write_text(json.dumps(tc.instruments.get("psych-safety-7").to_dict()))
    assert main(["score", str(definition), str(csv)]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert_allclose(got.to_numpy(), tc.score(staff, "psych-safety-7").to_numpy(), rtol=1e-15)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "nhs-engagment", "{csv}"], "Did you mean 'nhs-engagement'"),
        (["score", "nhs-engagement", "{dir}/nope.csv"], "argument DATA.csv: no such file"),
        (["score", "nhs-engagement", "{csv}", "--by", "team", "--id", "staff_id"], "argument --id: a respondent id"),
        (["score", "nhs-engagement", "{csv}", "--id", "respondent"], "argument --id: no column 'respondent'"),
        (["score", "nhs-engagement", "{csv}", "--by", "teams"], "Did you mean 'team'"),
        (["score", "nhs-engagement", "{csv}", "-o", "{dir}/no/such/folder/s.csv"], "does not exist"),
        (["score", "nhs-engagement", "{csv}", "--invalid", "drop"], "invalid choice: 'drop'"),
        (["score", "nhs-engagement", "{csv}", "-o", "{dir}"], "is a folder; give a file name"),
        (["score", "nhs-engagement", "{dir}/empty.csv"], "cannot read"),
        (["score", "nhs-engagement"], "the following arguments are required: DATA.csv"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(args, message, csv, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    args = [a.format(csv=csv, dir=tmp_path) for a in args]
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


# --------------------------------------------------------------------------- --columns (as tc.score(columns=...))
@pytest.fixture
def export(tmp_path):
    path = tmp_path / "export.csv"
    pd.DataFrame({"Team": ["a", "a", "b"], "A 1": [4, 5, 3], "A2": [4, 2, 3], "A3": [3, 5, 1],
                  "A4": [4, 5, 2]}).to_csv(path, index=False)
    return path


CL_MAP = {"A 1": "cl1", "A2": "cl2", "A3": "cl3", "A4": "cl4"}


def _want(path):
    return tc.score(pd.read_csv(path), "nhs-compassionate-leadership", columns=CL_MAP)


def test_columns_option_maps_column_to_item_as_score_does(export, tmp_path, capsys):
    out = tmp_path / "s.csv"
    args = ["score", "nhs-compassionate-leadership", str(export), "-o", str(out), "--columns",
            "A 1=cl1", "a2=cl2", "A3=cl3", "A4=cl4"]
    assert main(args) == 0
    assert_allclose(pd.read_csv(out).to_numpy(), _want(export).to_numpy(), rtol=1e-15)
    prov = json.loads((tmp_path / "s.provenance.json").read_text())
    assert prov["columns"] == {"cl1": "A 1", "cl2": "A2", "cl3": "A3", "cl4": "A4"}
    assert main(["score", "nhs-compassionate-leadership", str(export), "--by", "Team", "--columns",
                 *[f"{c}={i}" for c, i in CL_MAP.items()]]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=0)
    want = tc.score_groups(pd.read_csv(export), "nhs-compassionate-leadership", by="Team", columns=CL_MAP).to_frame()
    assert_allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float), rtol=1e-15)


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_columns_file(export, tmp_path, capsys, suffix):
    mapping = tmp_path / f"map{suffix}"
    if suffix == ".json":
        mapping.write_text(json.dumps(CL_MAP))
    else:
        pd.DataFrame({"column": list(CL_MAP), "item": list(CL_MAP.values())}).to_csv(mapping, index=False)
    assert main(["score", "nhs-compassionate-leadership", str(export), "--columns-file", str(mapping)]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert_allclose(got.to_numpy(), _want(export).to_numpy(), rtol=1e-15)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--columns", "A2"], r"argument --columns: entries must be COLUMN=ITEM; got 1 without '=': ['A2']"),
        (["--columns", "A2=", "=cl1"], r"argument --columns: entries must be COLUMN=ITEM with both sides "
                                       r"non-empty; got 2: ['A2=', '=cl1']"),
        (["--columns", "A 1=cl9", "A2=cl2"], r"argument --columns: 1 unknown item id(s) of "
                                             r"'nhs-compassionate-leadership' in ['A 1=cl9']"),
        (["--columns", "A9=cl1", "Q=cl2"], r"argument --columns: 2 column(s) not in"),
        (["--columns", "A2=cl1", "A2=cl2"], r"argument --columns: column(s) mapped more than once: ['A2=cl1', "
                                            r"'A2=cl2']"),
        (["--columns", "A2=cl1", "A3=cl1"], r"argument --columns: item(s) mapped from more than one column: "
                                            r"['A2=cl1', 'A3=cl1']"),
        (["--columns", "cl1=A 1", "cl2=A2"], r"argument --columns: entries are COLUMN=ITEM (as "
                                             r"teamculture.score(columns=...)); these look swapped"),
        (["--columns-file", "{dir}/nope.json"], "argument --columns-file: no such file"),
        (["--columns-file", "{dir}/bad.json"], "argument --columns-file: "),
        (["--columns-file", "{dir}/list.json"], "argument --columns-file: a JSON file must hold one object"),
        (["--columns-file", "{dir}/three.csv"], "argument --columns-file: a CSV file must have two columns"),
        (["--columns-file", "{dir}/map.txt"], "argument --columns-file: expected a .json or .csv file"),
        (["--columns", "A2=cl2", "--columns-file", "{dir}/one.json"],
         "argument --columns: column(s) mapped more than once: ['A2=cl2', 'A2=cl3']"),
    ],
)
def test_bad_column_maps_exit_2_naming_the_option(extra, message, export, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text('["A2", "cl2"]')
    (tmp_path / "one.json").write_text('{"A2": "cl3"}')
    (tmp_path / "three.csv").write_text("column,item,x\nA2,cl2,1\n")
    (tmp_path / "map.txt").write_text("A2=cl2\n")
    args = ["score", "nhs-compassionate-leadership", str(export), *[a.format(dir=tmp_path) for a in extra]]
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err


def test_duplicate_csv_header_refused(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("q9f,q9g,q9h,q9i,q9f\n4,4,3,4,1\n")
    try:
        code = main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "argument DATA.csv: the header names 1 column(s) more than once: ['q9f']" in err


def test_semicolon_file_gets_a_hint(tmp_path, capsys):
    path = tmp_path / "semi.csv"
    path.write_text("q9f;q9g;q9h;q9i\n4;4;3;4\n")
    try:
        code = main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "argument DATA.csv: read as one column 'q9f;q9g;q9h;q9i'" in err and "';'" in err


def test_missing_items_error_names_the_command_line_options(export, capsys):
    assert main(["score", "nhs-compassionate-leadership", str(export), "--columns", "A2=cl2"]) == 2
    err = capsys.readouterr().err
    assert "item 'cl1' (no column 'cl1')" in err and "(here: --columns COLUMN=ITEM ... or --columns-file MAP)" in err


def test_output_onto_the_input_file_is_refused(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("q9f,q9g,q9h,q9i\n4,4,3,4\n")
    before = path.read_text()
    for out in (str(path), str(tmp_path / "." / "in.csv")):
        try:
            code = main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021", "-o", out])
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and "argument -o/--output: is the input file" in err
    assert path.read_text() == before


def test_id_and_group_labels_are_kept_as_written(tmp_path, capsys):
    path = tmp_path / "ids.csv"
    path.write_text("id,team,q9f,q9g,q9h,q9i\n007,01,4,4,3,4\n7,1,5,2,5,5\n0070,1,3,3,3,3\n")
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021", "--id", "id"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"id": str})
    assert got["id"].tolist() == ["007", "7", "0070"]
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021", "--by", "team"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"team": str})
    assert got["team"].tolist() == ["01", "1"] and got["n_respondents"].tolist() == [1, 2]


def test_integer_group_labels_stay_numbers(tmp_path, capsys):
    path = tmp_path / "num.csv"
    path.write_text("team,q9f,q9g,q9h,q9i\n10,4,4,3,4\n2,5,2,5,5\n2,3,3,3,3\n")
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021", "--by", "team"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert got["team"].tolist() == [2, 10]  # numeric order, as score_groups on the numbers


def test_trailing_commas_on_data_rows_are_not_an_index(tmp_path, capsys):
    # every data row ends in ',': pandas took the first column as the row index and shifted the others
    path = tmp_path / "trail.csv"
    path.write_text("q9f,q9g,q9h,q9i\n4,4,3,4,\n5,2,5,5,\n")
    assert main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    want = tc.score(pd.DataFrame({"q9f": [4, 5], "q9g": [4, 2], "q9h": [3, 5], "q9i": [4, 5]}),
                    "nhs-compassionate-leadership", survey_year=2021)
    assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-15)


def test_rows_with_more_values_than_the_header_are_refused(tmp_path, capsys):
    path = tmp_path / "ragged.csv"
    path.write_text("q9f,q9g,q9h,q9i\n4,4,3,4,4\n5,2,5,5,5\n")
    try:
        code = main(["score", "nhs-compassionate-leadership", str(path), "--survey-year", "2021"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "argument DATA.csv: 2 row(s) have more values than the header's 4 column names" in err


def test_columns_differing_in_case_can_both_be_mapped_by_their_exact_names(tmp_path, capsys):
    path = tmp_path / "case.csv"
    path.write_text("A,a,B,C\n4,4,3,4\n5,2,5,5\n")
    args = ["score", "nhs-compassionate-leadership", str(path), "--columns", "A=cl1", "a=cl2", "B=cl3", "C=cl4"]
    assert main(args) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    want = tc.score(pd.read_csv(path), "nhs-compassionate-leadership",
                    columns={"A": "cl1", "a": "cl2", "B": "cl3", "C": "cl4"})
    assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-15)
