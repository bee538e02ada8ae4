"""The API reference documents every public name, under its public path, and nothing private."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import teamculture

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api"


def _documented() -> set[str]:
    """Fully qualified names listed in the autosummary tables and autodata directives of docs/api."""
    out: set[str] = set()
    for page in DOCS.glob("*.rst"):
        module = "teamculture"
        in_table = False
        for line in page.read_text().splitlines():
            m = re.match(r"\.\. currentmodule:: (\S+)", line)
            if m:
                module = m.group(1)
                continue
            if line.startswith(".. autosummary::"):
                in_table = True
                continue
            m = re.match(r"\.\. autodata:: (\S+)", line)
            if m:
                out.add(m.group(1))
                continue
            if in_table:
                if line.startswith("   :") or not line.strip():
                    continue
                if line.startswith("   "):
                    out.add(f"{module}.{line.strip()}")
                else:
                    in_table = False
    return out


def test_every_public_name_is_in_the_api_reference():
    documented = _documented()
    missing = []
    for area in teamculture._SUBMODULES:
        module = importlib.import_module(f"teamculture.{area}")
        for name in module.__all__:
            if f"teamculture.{name}" in documented or f"teamculture.{area}.{name}" in documented:
                continue
            missing.append(f"teamculture.{area}.{name}")
    assert not missing, f"public names missing from docs/api: {missing}"


def test_the_api_reference_documents_no_private_path_or_unknown_name():
    for qualified in _documented():
        assert not any(part.startswith("_") for part in qualified.split(".")), qualified
        module, _, name = qualified.rpartition(".")
        assert hasattr(importlib.import_module(module), name), qualified
