"""Pin the public API (as scipy's test_public_api does) and keep ``import teamculture`` light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import teamculture

PUBLIC_NAMES = {
    "__version__",
    # submodules
    "errors", "simulate", "instruments", "scoring", "scale_reliability", "agreement", "nesting",
    "multilevel", "outcomes", "effects", "funnel", "power",
    # functions and classes
    "national_survey", "SimulatedSurvey",
    "Instrument", "load_instrument", "score", "score_groups",
    "cronbach_alpha", "omega", "reliability", "multilevel_reliability",
    "rwg", "rwg_j", "rwg_j_lindell", "awg", "ad_index", "null_variance", "rwg_sim", "rwg_j_sim",
    "ad_sim", "rgr_agree", "pseudo_group_means", "plot_pseudo_group_means",
    "icc1", "icc2", "icc", "waba", "design_effect", "aggregate",
    "mixed", "center",
}


def test_public_names_are_pinned():
    assert set(teamculture.__all__) == PUBLIC_NAMES
    assert len(teamculture.__all__) == len(set(teamculture.__all__))


def test_every_public_name_resolves():
    for name in teamculture.__all__:
        obj = getattr(teamculture, name)
        assert obj is not None, name
        if name in teamculture._SUBMODULES:
            assert obj is importlib.import_module(f"teamculture.{name}")


def test_unknown_attribute_raises_attribute_error():
    try:
        teamculture.not_a_function  # noqa: B018
    except AttributeError as exc:
        assert "not_a_function" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_light():
    code = (
        "import sys, teamculture, teamculture.simulate, teamculture.cli; "
        "heavy = [m for m in ('statsmodels', 'linearmodels', 'matplotlib', 'formulaic') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_functions_are_not_shadowed_by_submodules():
    # A submodule named like a public function would rebind the package attribute
    # to the module once imported (``import teamculture.x``); none may exist.
    code = (
        "import importlib, pkgutil, types, teamculture as tc\n"
        "for m in pkgutil.iter_modules(tc.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('teamculture.' + m.name)\n"
        "bad = [n for n in tc._LAZY if isinstance(getattr(tc, n), types.ModuleType)]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
