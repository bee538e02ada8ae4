"""One vocabulary: introspect every public signature against the API rules of CONVENTIONS.md.

The rules (one name per concept):

- call shapes: array style ``f(x | items, groups, *, ...)`` (responses first, one label per row
  second) or table style ``f(data, ..., *, by=...)``; every option is keyword-only;
- grouping: ``groups`` = labels, always the second parameter; ``by`` = column name(s), only in
  table-style functions (first parameter ``data``) and keyword-only; ``clusters`` = clusters for
  standard errors only;
- missing data: ``nan_policy`` with default ``"omit"``; invalid codes ``invalid`` with default
  ``"raise"``; never ``listwise``;
- response scale: ``scale`` only (never ``bounds``, ``scale_points``, ``low``/``high``); the SMR
  multiplier is ``smr_scale``;
- inference: ``confidence_level=0.95``; ``alpha`` only as a significance level (power);
- resampling: ``n_resamples`` and ``rng``; never ``seed``, ``n_rep``, ``n_boot``;
- result classes derive from :class:`teamculture.results.Result` and carry ``n_obs``,
  ``n_dropped``, ``n_groups``; coefficient tables use :data:`teamculture.results.COEF_COLUMNS`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

import teamculture
from teamculture.results import Result

AREAS = [m for m in teamculture._SUBMODULES if m not in ("errors", "results")]

BANNED = {
    "seed": "rng",
    "n_rep": "n_resamples",
    "n_boot": "n_resamples",
    "listwise": "nan_policy",
    "bounds": "scale",
    "scale_points": "scale",
    "low": "scale",
    "high": "scale",
    "level": "confidence_level",
    "conf_level": "confidence_level",
    "column": "columns",
}

# the first parameters of the array style (responses) and of the table style
RESPONSES = {"x", "items"}
TABLE = {"data"}

# `alpha` is a significance level only where power is computed
ALPHA_OK = {"power_three_level", "minimum_detectable_effect", "sample_size_three_level"}

# positional parameters with a default that are data, not options (R's argument order)
POSITIONAL_DEFAULTS_OK: dict[str, set[str]] = {
    "national_survey": {"size"},
    "standardized_coefficients": {"data"},
}


def _public_functions() -> list[tuple[str, object]]:
    seen: dict[str, object] = {}
    for area in AREAS:
        module = importlib.import_module(f"teamculture.{area}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and name not in seen:
                seen[name] = obj
    return sorted(seen.items())


def _public_result_classes() -> list[tuple[str, type]]:
    out: dict[str, type] = {}
    for name in importlib.import_module("teamculture.results").__all__:
        obj = getattr(importlib.import_module("teamculture.results"), name)
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj is not Result:
            out[name] = obj
    return sorted(out.items())


FUNCTIONS = _public_functions()
RESULTS = _public_result_classes()


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_no_banned_parameter_names(name, func):
    params = inspect.signature(func).parameters
    bad = {p: BANNED[p] for p in params if p in BANNED}
    assert not bad, f"{name}: rename {bad}"


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_options_are_keyword_only(name, func):
    allowed = POSITIONAL_DEFAULTS_OK.get(name, set())
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty:
            assert p.name in allowed, f"{name}: option `{p.name}` must be keyword-only"
        assert p.kind is not p.VAR_POSITIONAL, f"{name}: *{p.name} is not allowed"


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_grouping_vocabulary(name, func):
    params = list(inspect.signature(func).parameters.values())
    names = [p.name for p in params]
    if "groups" in names:
        i = names.index("groups")
        assert names[0] in RESPONSES, f"{name}: array style starts with x or items"
        assert i == 1 or (name == "waba" and i == 2), f"{name}: `groups` must follow the responses"
        assert params[i].default is params[i].empty, f"{name}: `groups` is required"
    if "by" in names:
        assert names[0] in TABLE, f"{name}: `by` belongs to the table style (first parameter `data`)"
        assert params[names.index("by")].kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: `by` keyword-only"


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_defaults_of_shared_options(name, func):
    params = inspect.signature(func).parameters
    if "nan_policy" in params:
        assert params["nan_policy"].default == "omit", name
        assert params["nan_policy"].kind is inspect.Parameter.KEYWORD_ONLY
    if "invalid" in params:
        assert params["invalid"].default == "raise", name
    if "confidence_level" in params:
        assert params["confidence_level"].default == 0.95, name
    if "rng" in params:
        assert params["rng"].default is None, name
    if "alpha" in params:
        assert name in ALPHA_OK, f"{name}: `alpha` is only a significance level (power)"
        assert params["alpha"].default == 0.05
    if "n_resamples" in params:
        assert "rng" in params, f"{name}: resampling takes `rng` too"


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_functions_with_responses_have_a_missing_data_policy(name, func):
    params = list(inspect.signature(func).parameters)
    if params and params[0] in RESPONSES | TABLE and name not in {"score", "keyed_items", "score_groups",
                                                                       "occupational_weights",
                                                                       "standardized_coefficients"}:
        assert "nan_policy" in params, f"{name}: takes data but has no `nan_policy`"


def test_scale_means_the_response_scale():
    # `scale` is the response scale; the SMR multiplier is `smr_scale`
    for name, func in FUNCTIONS:
        module = func.__module__
        if "scale" in inspect.signature(func).parameters:
            assert module.startswith(("teamculture.scoring", "teamculture.reliability", "teamculture.aggregation",
                                      "teamculture.instruments")), f"{name} ({module}): `scale`"


@pytest.mark.parametrize(("name", "cls"), RESULTS, ids=[n for n, _ in RESULTS])
def test_result_classes_follow_the_protocol(name, cls):
    assert issubclass(cls, Result), f"{name} must derive from teamculture.results.Result"
    fields = {f.name for f in dataclasses.fields(cls)}
    assert {"n_obs", "n_dropped", "n_groups"} <= fields, name
    banned = {"nobs", "nobs_dropped", "ngroups", "bse", "se", "tvalues", "conf_int"}
    assert not (fields & banned), f"{name}: {fields & banned}"
    assert not hasattr(cls, "conf_int"), f"{name}: use confidence_interval()"
    params = cls.__dataclass_params__
    assert params.frozen, name
    sig = inspect.signature(cls.confidence_interval)
    assert list(sig.parameters)[:2] == ["self", "confidence_level"], name
    assert sig.parameters["confidence_level"].default is None, name
