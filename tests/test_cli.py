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
