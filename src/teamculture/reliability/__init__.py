"""Reliability of scale scores: Cronbach's alpha, McDonald's omega, multilevel reliability.

:func:`~teamculture.cronbach_alpha` (with Feldt and Duhachek intervals and item analysis),
:func:`~teamculture.omega` (Schmid-Leiman omega hierarchical and total, as R psych),
:func:`~teamculture.multilevel_reliability` (within- and between-team reliability of a
scale, Geldhof et al. 2014) and :func:`~teamculture.instrument_reliability` (every
subscale of a catalogue instrument at once). Reverse keying always uses the
declared bounds of the response scale, never the observed minimum and maximum.
"""

from teamculture.reliability._reliability import (
    AlphaResult,
    MultilevelReliabilityResult,
    OmegaResult,
    cronbach_alpha,
    instrument_reliability,
    multilevel_reliability,
    omega,
)

__all__ = [
    "cronbach_alpha", "omega", "multilevel_reliability", "instrument_reliability",
    "AlphaResult", "OmegaResult", "MultilevelReliabilityResult",
]
