"""Mediation and path analysis: the King's Fund engagement model.

:func:`mediate` fits the chain antecedents -> engagement (-> well-being) ->
outcome as a recursive path model, on trust data (single level) or on staff
nested in trusts with a trust-level outcome (multilevel, within and between
paths kept apart), with linear or count (Poisson / quasi-Poisson with an
expected-deaths offset) outcomes, and gives direct, indirect (a*b) and total
effects with bootstrap (resampling trusts) or Monte Carlo intervals; the
delta method is reported as a check.

- :func:`mediate`, :class:`MediationResult`, :data:`EFFECT_COLUMNS`.
"""

from __future__ import annotations

from teamculture.mediation._mediation import EFFECT_COLUMNS, MediationResult, mediate

__all__ = ["mediate", "MediationResult", "EFFECT_COLUMNS"]
