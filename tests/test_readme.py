"""The README's quick start is exactly two one-line shell commands, and CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quick_start_has_exactly_two_one_line_commands():
    blocks = quick_start_commands()
    assert len(blocks) == 2
    assert all(len(lines) == 1 for lines in blocks)
    install_and_demo, install_and_test = (lines[0] for lines in blocks)
    assert install_and_demo.endswith("teamculture demo")
    assert '".[test]"' in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci and "sphinx" in ci and "-W" in ci and "doctest" in ci


def test_readme_tour_runs(capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "Linear mixed model" in out and "deaths per year" in out and "Funnel limits" in out
    # the tour's objects are the documented types, not placeholders
    assert namespace["fit"].engine == "nested"
    assert namespace["gfit"].converged and namespace["gfit"].family == "binomial"
    assert list(namespace["eng"].columns)[-1] == "engagement"
