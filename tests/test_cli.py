"""The ``teamculture`` command: version, help, and a smoke test of ``demo --small``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import teamculture
from teamculture.cli import main


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "teamculture", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


def test_version_and_help():
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"teamculture {teamculture.__version__}"
    out = run_cli("--help")
    assert out.returncode == 0 and "demo" in out.stdout
    out = run_cli("demo", "--help")
    assert out.returncode == 0 and "--small" in out.stdout and "--out" in out.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: teamculture" in capsys.readouterr().out


def test_unknown_option_is_an_error():
    out = run_cli("demo", "--bogus")
    assert out.returncode == 2
    assert "unrecognized arguments: --bogus" in out.stderr


def test_demo_small_runs_every_stage_and_writes_tables(tmp_path):
    out_dir = tmp_path / "out"
    res = run_cli("demo", "--small", "--seed", "5", "--out", str(out_dir))
    assert res.returncode == 0, res.stdout + res.stderr
    text = res.stdout
    assert "10,000 staff in 500 teams in 20 trusts" in text
    for title in (
        "Score the culture instruments",
        "Within-group agreement",
        "Three-level model",
        "Trust mortality",
    ):
        assert title in text
    assert "FAILED" not in text
    assert "not available yet" not in text
    assert (out_dir / "trusts.csv").is_file()
    assert len(list(out_dir.glob("*.csv"))) >= 2


@pytest.mark.parametrize("seed", [1])
def test_demo_is_reproducible(seed, tmp_path):
    a = run_cli("demo", "--small", "--seed", str(seed))
    b = run_cli("demo", "--small", "--seed", str(seed))
    assert a.returncode == b.returncode == 0
    # wall-clock timings ("in 0.02 s", "[  1.3 s]", "Done in ...") differ between runs; every
    # other character of the report must be identical
    timing = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)? ?(?:s|ms)\b")

    def strip(s):
        return [timing.sub("<t>", ln) for ln in s.splitlines() if "Done in" not in ln]

    assert strip(a.stdout) == strip(b.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["demo", "--seed", "abc"], "argument --seed: must be a non-negative integer; got 'abc'"),
        (["demo", "--seed", "-3"], "argument --seed: must be a non-negative integer; got '-3'"),
        (["demo", "--seed"], "argument --seed: expected one argument"),
        (["demo", "extra"], "unrecognized arguments: extra"),
        (["--nope"], "unrecognized arguments: --nope"),
    ],
)
def test_bad_arguments_get_a_usage_message_and_exit_code_2(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: teamculture") and message in err
    assert "Traceback" not in err


def test_unusable_out_folder_is_a_usage_error(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, message in ((a_file, "exists and is not a folder"), (a_file / "sub", "cannot create the folder")):
        with pytest.raises(SystemExit) as exc:
            main(["demo", "--small", "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage: teamculture demo") and "argument --out: " in err
        assert message in err and "Traceback" not in err


def test_bad_arguments_in_a_subprocess_print_no_traceback(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for args in (["demo", "--seed", "1.5"], ["demo", "--out", str(a_file / "x")], ["frobnicate"]):
        res = run_cli(*args)
        assert res.returncode == 2, args
        assert "usage:" in res.stderr and "Traceback" not in res.stderr and res.stdout == ""
