"""teamculture: quantitative research on organisational culture in health care.

Scoring of culture instruments, within-group agreement and aggregation
statistics, fast exact multilevel models for staff nested in teams nested in
trusts, trust-level outcome models and effect translation, funnel plots, and
a simulator of national staff-survey data with known truth.

The public API is listed in ``__all__``. Names are resolved lazily so that
``import teamculture`` stays light: statsmodels, linearmodels and matplotlib
are imported only by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

from teamculture._version import __version__

# public name -> module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    # --- foundation -------------------------------------------------------
    "national_survey": "simulate",
    "SimulatedSurvey": "simulate",
    # --- instruments, scoring, reliability (issue: scoring) ---------------
    "Instrument": "instruments",
    "load_instrument": "instruments",
    "score": "scoring",
    "score_groups": "scoring",
    "cronbach_alpha": "scale_reliability",
    "omega": "scale_reliability",
    "reliability": "scale_reliability",
    "multilevel_reliability": "scale_reliability",
    # --- agreement and non-independence (issue: agreement) ----------------
    "rwg": "agreement",
    "rwg_j": "agreement",
    "rwg_j_lindell": "agreement",
    "awg": "agreement",
    "ad_index": "agreement",
    "null_variance": "agreement",
    "rwg_sim": "agreement",
    "rwg_j_sim": "agreement",
    "ad_sim": "agreement",
    "rgr_agree": "agreement",
    "pseudo_group_means": "agreement",
    "plot_pseudo_group_means": "agreement",
    "icc1": "nesting",
    "icc2": "nesting",
    "icc": "nesting",
    "waba": "nesting",
    "design_effect": "nesting",
    "aggregate": "_aggregate",
    # --- multilevel models (issue: multilevel) ----------------------------
    "mixed": "multilevel",
    "center": "multilevel",
}

# public submodules, importable as attributes (``teamculture.funnel``).
_SUBMODULES: tuple[str, ...] = (
    "errors",
    "simulate",
    "instruments",
    "scoring",
    "scale_reliability",
    "agreement",
    "nesting",
    "multilevel",
    "outcomes",
    "effects",
    "funnel",
    "power",
)

__all__ = ["__version__", *sorted(_LAZY), *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"teamculture.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"teamculture.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'teamculture' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
