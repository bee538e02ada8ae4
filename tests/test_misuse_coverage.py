"""Every public function has misuse cases (tests/**/test_misuse*.py, framework in tests/_misuse.py)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

import teamculture

TESTS = Path(__file__).resolve().parent

#: Functions that take separately passed labelled arguments: each needs a case of kind "a".
LABELLED = {
    "rwg", "rwg_j", "rwg_j_lindell", "awg", "ad_index", "rgr_agree", "pseudo_group_means",
    "icc1", "icc2", "icc", "waba", "multilevel_reliability", "smr", "funnel_limits", "glmm",
}

#: Minimum number of cases per public function.
MIN_CASES = 3


def _cases() -> list:
    out = []
    for path in sorted(TESTS.rglob("test_misuse*.py")):
        spec = importlib.util.spec_from_file_location(f"_misuse_cases_{path.parent.name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out += list(getattr(module, "CASES", []))
    return out


def _public_functions() -> dict[str, object]:
    out = {}
    for area in teamculture._SUBMODULES:
        module = importlib.import_module(f"teamculture.{area}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                out[name] = obj
    return out


def test_every_public_function_has_misuse_cases():
    cases = _cases()
    counts: dict[str, int] = {}
    kinds: dict[str, set[str]] = {}
    for c in cases:
        counts[c.func.__name__] = counts.get(c.func.__name__, 0) + 1
        kinds.setdefault(c.func.__name__, set()).add(c.kind)
    functions = _public_functions()
    thin = {n: counts.get(n, 0) for n in functions if counts.get(n, 0) < MIN_CASES}
    assert not thin, f"functions with fewer than {MIN_CASES} misuse cases: {thin}"
    unaligned = sorted(n for n in LABELLED if "a" not in kinds.get(n, set()))
    assert not unaligned, f"labelled functions without an alignment (kind 'a') case: {unaligned}"
    unknown = sorted(set(counts) - set(functions))
    assert not unknown, f"cases for functions that are not public: {unknown}"
