"""Docstrings of every public function follow numpydoc order and name their R equivalent.

Sections appear in numpydoc order (Parameters, Returns, ..., Notes, References, Examples); every
public function documents each of its parameters, has an executed Examples section, and its Notes
end with one paragraph ``R: pkg::fun(args)`` (or ``R: none``) so R users can check the numbers.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

import teamculture

ORDER = ["Parameters", "Returns", "Yields", "Raises", "Warns", "See Also", "Notes", "References", "Examples"]


def _functions():
    seen = {}
    for area in teamculture._SUBMODULES:
        module = importlib.import_module(f"teamculture.{area}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                seen.setdefault(name, obj)
    return sorted(seen.items())


def _sections(doc: str) -> dict[str, str]:
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, list[str]] = {}
    current = None
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip()) \
                and len(lines[i + 1].strip()) == len(lines[i].strip()):
            current = lines[i].strip()
            out[current] = []
            i += 2
            continue
        if current is not None:
            out[current].append(lines[i])
        i += 1
    return {k: "\n".join(v).strip() for k, v in out.items()}


FUNCTIONS = _functions()


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_numpydoc_sections_in_order(name, func):
    sections = _sections(func.__doc__ or "")
    known = [s for s in sections if s in ORDER]
    assert known == sorted(known, key=ORDER.index), f"{name}: sections out of order: {list(sections)}"
    unknown = [s for s in sections if s not in ORDER]
    assert not unknown, f"{name}: unknown sections {unknown}"
    assert "Examples" in sections and ">>>" in sections["Examples"], f"{name}: no executed example"


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_every_parameter_is_documented(name, func):
    params = [p for p in inspect.signature(func).parameters if p not in ("self", "cls")]
    text = _sections(func.__doc__ or "").get("Parameters", "")
    documented = set()
    for line in text.splitlines():
        m = re.match(r"^(\*{0,2}[A-Za-z_][\w, *]*?)\s*(:|$)", line)
        if m and not line.startswith(" "):
            documented |= {p.strip().lstrip("*") for p in m.group(1).split(",")}
    missing = [p for p in params if p not in documented]
    assert not missing, f"{name}: parameters not documented: {missing}"


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_notes_end_with_the_r_equivalent(name, func):
    notes = _sections(func.__doc__ or "").get("Notes", "")
    assert notes, f"{name}: no Notes section"
    last = re.split(r"\n\s*\n", notes.strip())[-1].strip()
    assert re.match(r"R: ", last), f"{name}: the last paragraph of Notes must be 'R: pkg::fun(args)' or 'R: none'"
