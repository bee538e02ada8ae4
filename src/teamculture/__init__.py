"""teamculture: quantitative research on organisational culture in health care.

Scoring of culture instruments, within-group agreement and aggregation
statistics, fast exact multilevel models for staff nested in teams nested in
trusts, trust-level outcome models and effect translation, funnel plots, and
a simulator of national staff-survey data with known truth.

Every user-facing function and result class is available here
(``tc.rwg_j``, ``tc.icc``, ``tc.mixed``, ``tc.funnel_limits``, ...) and in the
namespace of its research area:

- :mod:`teamculture.instruments`, :mod:`teamculture.scoring` -- instruments and scores;
- :mod:`teamculture.reliability` -- alpha, omega, multilevel reliability;
- :mod:`teamculture.aggregation` -- "may we aggregate?": agreement, ICCs, team tables;
- :mod:`teamculture.multilevel` -- mixed models;
- :mod:`teamculture.outcomes` -- mortality models, SMRs, funnel plots, deaths per year;
- :mod:`teamculture.profile` -- the five cultural elements as an organisation profile;
- :mod:`teamculture.mediation` -- the engagement model: paths and mediation;
- :mod:`teamculture.effect_sizes`, :mod:`teamculture.power`, :mod:`teamculture.simulate`;
- :mod:`teamculture.reporting` -- paper tables of fitted models, intervals for variance components;
- :mod:`teamculture.plotting` -- caterpillar, agreement, variance-partition and diagnostic plots;
- :mod:`teamculture.results` (the result protocol), :mod:`teamculture.errors`.

Names are resolved lazily so that ``import teamculture`` stays light:
statsmodels, linearmodels, formulaic and matplotlib are imported only by the
functions that need them.
"""

from __future__ import annotations

import importlib as _importlib

from teamculture._version import __version__

# public area namespaces, importable as attributes (``teamculture.outcomes``)
_SUBMODULES: tuple[str, ...] = (
    "errors",
    "results",
    "simulate",
    "instruments",
    "scoring",
    "reliability",
    "aggregation",
    "multilevel",
    "outcomes",
    "profile",
    "mediation",
    "effect_sizes",
    "power",
    "reporting",
    "plotting",
)

# public name -> the area namespace that exports it
_AREAS: dict[str, tuple[str, ...]] = {
    "simulate": ("national_survey", "SimulatedSurvey", "CultureSimulation", "EngagementSimulation"),
    "instruments": ("Instrument", "ResponseScale", "load_instrument"),
    "scoring": ("score", "score_groups", "keyed_items", "occupational_weights", "GroupScores"),
    "reliability": ("cronbach_alpha", "omega", "multilevel_reliability", "instrument_reliability",
                    "AlphaResult", "OmegaResult", "MultilevelReliabilityResult"),
    "aggregation": ("rwg", "rwg_j", "rwg_j_lindell", "awg", "ad_index", "null_variance", "rwg_sim",
                    "rwg_j_sim", "ad_sim", "NullSimulation", "rgr_agree", "RGRResult", "pseudo_group_means",
                    "plot_pseudo_group_means", "icc1", "icc2", "icc", "ICCResult", "design_effect", "waba",
                    "WABAResult", "aggregate", "AggregateResult"),
    "multilevel": ("mixed", "MixedResult", "center", "r_squared", "R2Result", "compare", "CompareResult",
                   "standardized_coefficients", "local_f_squared", "glmm", "GLMMResult", "GLMMCompareResult"),
    "outcomes": ("mortality_glm", "smr_regression", "panel_regression", "OutcomeFit", "smr", "funnel_limits",
                 "FunnelResult", "share_effect", "ShareEffect", "implied_coefficient", "implied_expected_deaths",
                 "se_from_pvalue"),
    "profile": ("culture_profile", "CultureProfile", "load_framework", "Framework"),
    "mediation": ("mediate", "MediationResult"),
    "effect_sizes": ("cohens_d", "hedges_g", "hedges_correction", "d_to_r", "r_to_d", "d_to_odds_ratio",
                     "odds_ratio_to_d", "fisher_z_interval"),
    "power": ("design_effect_three_level", "power_three_level", "minimum_detectable_effect",
              "sample_size_three_level", "PowerResult"),
    "results": ("Result", "Summary", "ConfidenceInterval"),
    "reporting": ("model_table", "ModelTable", "VarianceIntervals"),
    "plotting": ("plot_random_effects", "plot_agreement", "plot_variance_partition", "plot_diagnostics"),
}

_LAZY: dict[str, str] = {name: area for area, names in _AREAS.items() for name in names}

__all__ = ["__version__", *sorted(_LAZY), *_SUBMODULES]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(_importlib.import_module(f"teamculture.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = _importlib.import_module(f"teamculture.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'teamculture' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
