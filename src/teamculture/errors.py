"""Exception and warning classes used throughout teamculture.

One small hierarchy, so that callers can filter everything the package emits
with a single class (``warnings.simplefilter("ignore", TeamcultureWarning)``)
or catch a specific condition.
"""

from __future__ import annotations

__all__ = [
    "TeamcultureError",
    "InstrumentError",
    "TeamcultureWarning",
    "ConvergenceWarning",
    "BoundaryWarning",
    "SmallGroupWarning",
    "DroppedDataWarning",
    "UnconfirmedRuleWarning",
]


class TeamcultureError(Exception):
    """Base class for errors raised by teamculture (besides ``ValueError``/``TypeError``)."""


class InstrumentError(TeamcultureError, ValueError):
    """A malformed instrument definition (catalogue entry or user-supplied)."""


class TeamcultureWarning(UserWarning):
    """Base class for warnings emitted by teamculture."""


class ConvergenceWarning(TeamcultureWarning):
    """An optimiser stopped without meeting its convergence criterion."""


class BoundaryWarning(TeamcultureWarning):
    """An estimate lies on the boundary of the parameter space (e.g. a zero variance)."""


class SmallGroupWarning(TeamcultureWarning):
    """Some groups are too small for the statistic requested (e.g. size one)."""


class DroppedDataWarning(TeamcultureWarning):
    """Rows or values were excluded from a computation; the count is in the message."""


class UnconfirmedRuleWarning(TeamcultureWarning):
    """A scoring rule was reconstructed from secondary sources, not the owner's guidance."""
