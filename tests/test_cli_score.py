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
