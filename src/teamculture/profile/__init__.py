"""Culture profiles: "to what extent are these cultural elements present and strong?".

A *framework* maps measures the package can score (instrument sub-scores,
the share of staff in real teams, compassionate leadership, or your own
columns) to cultural elements, declaratively and with a reason on every
line; :func:`culture_profile` scores each element for organisations (or
directorates or teams inside one), with intervals that respect staff nested
in teams, reliability, a benchmark comparison, a strength / as expected /
area to develop label with false flags controlled across elements and
units, change between survey years, a plot and an offline HTML report.

- :func:`culture_profile`, :class:`CultureProfile`, :data:`LABELS`;
- :func:`frameworks`, :func:`get_framework`, :func:`load_framework`,
  :class:`Framework` (built-in: ``"nhs-culture-elements"``, reconstructed).
"""

from __future__ import annotations

from teamculture.profile._framework import Element, Framework, Measure, frameworks, get_framework, load_framework
from teamculture.profile._profile import LABELS, PROFILE_COLUMNS, CultureProfile, culture_profile

__all__ = [
    "culture_profile",
    "CultureProfile",
    "LABELS",
    "PROFILE_COLUMNS",
    "frameworks",
    "get_framework",
    "load_framework",
    "Framework",
    "Element",
    "Measure",
]
