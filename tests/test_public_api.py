"""Pin the public API (as scipy's test_public_api does), keep ``import teamculture`` light, no import cycles."""

from __future__ import annotations

import ast
import re
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import teamculture

SRC = Path(teamculture.__file__).resolve().parent

AREAS = {
    "simulate": {"national_survey", "SimulatedSurvey", "SimulationParameters", "PRESETS", "staff_outcomes",
                 "outcome_truth", "OutcomeModel", "DEFAULT_OUTCOMES", "simulate_culture", "CultureSimulation",
                 "simulate_engagement", "EngagementSimulation", "ELEMENTS", "ANTECEDENTS"},
    "instruments": {"available", "get", "resolve", "load_instrument", "Instrument", "ResponseScale", "Item",
                    "ScoringRule", "Classification", "Provenance"},
    "scoring": {"score", "score_groups", "keyed_items", "GroupScores", "occupational_weights", "ScoreTable"},
    "reliability": {"cronbach_alpha", "omega", "multilevel_reliability", "instrument_reliability", "AlphaResult",
                    "OmegaResult", "MultilevelReliabilityResult"},
    "aggregation": {"rwg", "rwg_j", "rwg_j_lindell", "awg", "ad_index", "null_variance", "NULL_DISTRIBUTIONS",
                    "rwg_sim", "rwg_j_sim", "ad_sim", "NullSimulation", "rgr_agree", "RGRResult",
                    "pseudo_group_means", "plot_pseudo_group_means", "icc1", "icc2", "icc", "ICCResult",
                    "design_effect", "waba", "WABAResult", "aggregate", "AggregateResult", "AGGREGATE_STATS"},
    "multilevel": {"mixed", "MixedResult", "center", "r_squared", "R2Result", "compare", "CompareResult",
                   "standardized_coefficients", "local_f_squared", "parse_formula", "ParsedFormula", "RandomTerm",
                   "nested_suffstats", "NestedSuffStats", "NestedModel", "NestedFit",
                   "glmm", "GLMMResult", "GLMMCompareResult"},
    "outcomes": {"mortality_glm", "smr_regression", "panel_regression", "OutcomeFit", "smr", "funnel_limits",
                 "FunnelResult", "FLAG_CATEGORIES", "share_effect", "ShareEffect", "implied_coefficient",
                 "implied_expected_deaths", "se_from_pvalue"},
    "profile": {"culture_profile", "CultureProfile", "LABELS", "PROFILE_COLUMNS", "frameworks", "get_framework",
                "load_framework", "Framework", "Element", "Measure"},
    "mediation": {"mediate", "MediationResult", "EFFECT_COLUMNS"},
    "effect_sizes": {"cohens_d", "hedges_g", "hedges_correction", "d_to_r", "r_to_d", "d_to_odds_ratio",
                     "odds_ratio_to_d", "fisher_z_interval"},
    "power": {"design_effect_three_level", "power_three_level", "minimum_detectable_effect",
              "sample_size_three_level", "PowerResult"},
    "plotting": {"plot_random_effects", "plot_agreement", "plot_variance_partition", "plot_diagnostics"},
    "errors": {"TeamcultureError", "InstrumentError", "NotNestedError", "TeamcultureWarning", "ConvergenceWarning",
               "BoundaryWarning", "SmallGroupWarning", "DroppedDataWarning", "DegenerateDataWarning",
               "NestingWarning"},
    "results": {"Result", "Summary", "ConfidenceInterval", "COEF_COLUMNS", "SimulatedSurvey", "GroupScores",
                "AlphaResult", "OmegaResult", "MultilevelReliabilityResult", "NullSimulation", "RGRResult",
                "ICCResult", "WABAResult", "AggregateResult", "MixedResult", "R2Result", "CompareResult",
                "OutcomeFit", "FunnelResult", "ShareEffect", "PowerResult", "CultureProfile", "MediationResult",
                "GLMMResult", "GLMMCompareResult", "CultureSimulation", "EngagementSimulation", "ModelTable",
                "VarianceIntervals"},
    "reporting": {"model_table", "ModelTable", "ModelParts", "VarianceIntervals"},
}

TOP_LEVEL = {
    "__version__", *AREAS,
    "national_survey", "SimulatedSurvey", "CultureSimulation", "EngagementSimulation",
    "Instrument", "ResponseScale", "load_instrument",
    "score", "score_groups", "keyed_items", "occupational_weights", "GroupScores",
    "cronbach_alpha", "omega", "multilevel_reliability", "instrument_reliability", "AlphaResult", "OmegaResult",
    "MultilevelReliabilityResult",
    "rwg", "rwg_j", "rwg_j_lindell", "awg", "ad_index", "null_variance", "rwg_sim", "rwg_j_sim", "ad_sim",
    "NullSimulation", "rgr_agree", "RGRResult", "pseudo_group_means", "plot_pseudo_group_means", "icc1", "icc2",
    "icc", "ICCResult", "design_effect", "waba", "WABAResult", "aggregate", "AggregateResult",
    "mixed", "MixedResult", "center", "r_squared", "R2Result", "compare", "CompareResult",
    "standardized_coefficients", "local_f_squared", "glmm", "GLMMResult", "GLMMCompareResult",
    "mortality_glm", "smr_regression", "panel_regression", "OutcomeFit", "smr", "funnel_limits", "FunnelResult",
    "share_effect", "ShareEffect", "implied_coefficient", "implied_expected_deaths", "se_from_pvalue",
    "cohens_d", "hedges_g", "hedges_correction", "d_to_r", "r_to_d", "d_to_odds_ratio", "odds_ratio_to_d",
    "fisher_z_interval",
    "design_effect_three_level", "power_three_level", "minimum_detectable_effect", "sample_size_three_level",
    "PowerResult",
    "Result", "Summary", "ConfidenceInterval",
    "plot_random_effects", "plot_agreement", "plot_variance_partition", "plot_diagnostics",
    "culture_profile", "CultureProfile", "load_framework", "Framework", "mediate", "MediationResult",
    "model_table", "ModelTable", "VarianceIntervals",
}


def test_public_names_are_pinned():
    assert set(teamculture.__all__) == TOP_LEVEL
    assert len(teamculture.__all__) == len(set(teamculture.__all__))


@pytest.mark.parametrize("area", sorted(AREAS))
def test_area_namespaces_are_pinned(area):
    module = importlib.import_module(f"teamculture.{area}")
    assert set(module.__all__) == AREAS[area]
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_top_level_names_are_the_area_objects():
    for name in teamculture.__all__:
        obj = getattr(teamculture, name)
        if name in teamculture._SUBMODULES:
            assert obj is importlib.import_module(f"teamculture.{name}")
        elif name != "__version__":
            area = importlib.import_module(f"teamculture.{teamculture._LAZY[name]}")
            assert obj is getattr(area, name)


def test_public_objects_live_under_public_names():
    # a class or function documented as teamculture.<area>.<name> must not claim a private home in
    # its __module__ only through the lazy map: every public class reports a public module or a
    # private implementation module of that area (never another area's)
    for name in teamculture.__all__:
        if name in teamculture._SUBMODULES or name == "__version__":
            continue
        obj = getattr(teamculture, name)
        module = getattr(obj, "__module__", None)
        if module is None:
            continue
        area = teamculture._LAZY[name]
        assert module.startswith(f"teamculture.{area}") or module == "teamculture.results" \
            or (area == "results" and module.startswith("teamculture.")), (name, module)


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="not_a_function"):
        teamculture.not_a_function  # noqa: B018


def test_dir_lists_only_public_names():
    assert set(dir(teamculture)) == set(teamculture.__all__)


def test_import_is_light():
    code = (
        "import sys, teamculture, teamculture.simulate, teamculture.cli, teamculture.results; "
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
        "for m in pkgutil.walk_packages(tc.__path__, 'teamculture.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "bad = [n for n in tc._LAZY if isinstance(getattr(tc, n), types.ModuleType)]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(teamculture.__path__, "teamculture.")
                  if not m.name.endswith("__main__"))


def test_each_module_imports_alone():
    # as scipy's test_import_cycles: each module imported first, into an interpreter where no other
    # teamculture module is loaded (one process; third-party modules stay cached between imports)
    code = (
        "import importlib, sys\n"
        f"mods = {_all_modules()!r}\n"
        "for m in mods:\n"
        "    for k in [k for k in sys.modules if k == 'teamculture' or k.startswith('teamculture.')]:\n"
        "        del sys.modules[k]\n"
        "    importlib.import_module(m)\n"
        "print(len(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(_all_modules()) > 30


def _imports_of(path: Path) -> set[str]:
    """Every ``teamculture...`` module a source file imports (at any depth of the file)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("teamculture"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("teamculture")}
    return out


def test_core_imports_nothing_else_from_the_package():
    for path in sorted((SRC / "_core").glob("*.py")):
        bad = {m for m in _imports_of(path) if not m.startswith("teamculture._core")}
        assert not bad, (path.name, bad)


def test_no_import_cycles_between_modules():
    # module-level and deferred imports alike: the graph of teamculture modules must be acyclic,
    # except a package importing its own private modules (re-exports)
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        graph[name] = {m for m in _imports_of(path) if m != name}

    def resolve(m: str) -> str:
        while m not in graph and "." in m:
            m = m.rsplit(".", 1)[0]
        return m

    edges = {a: {resolve(b) for b in bs} - {a} for a, bs in graph.items()}
    # a package's __init__ re-exporting its own modules is not a cycle: drop edges parent -> child
    edges = {a: {b for b in bs if not b.startswith(a + ".")} for a, bs in edges.items()}
    # public namespaces import their children; children import siblings through the namespace only
    # when they are in another area, so treat an import of a package as an import of its __init__
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_every_warning_and_error_class_is_used():
    # one hierarchy, all of it used: each specific class is emitted or raised somewhere in the package
    import teamculture.errors as errors

    sources = "\n".join(p.read_text() for p in SRC.rglob("*.py")
                        if p.name != "errors.py")
    for name in errors.__all__:
        if name in ("TeamcultureError", "TeamcultureWarning"):  # the bases, for filtering and catching
            continue
        if name.endswith("Warning"):
            # the class is the last argument of a warn(...) call: "..., Name)" or "...,\n Name,\n)"
            assert re.search(rf"(warn\(|,)\s*{name}\s*,?\s*\)", sources), f"{name} is never emitted"
        else:
            assert re.search(rf"raise {name}\(", sources), f"{name} is never raised"
