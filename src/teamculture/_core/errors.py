"""The exception and warning hierarchy (defined here, published as :mod:`teamculture.errors`).

One small hierarchy, so that callers can filter everything the package emits
with a single class (``warnings.simplefilter("ignore", TeamcultureWarning)``)
or catch a specific condition. Errors about a caller's argument are
``ValueError``/``TypeError`` (the subclasses below are both, so ``except
ValueError`` keeps working); warnings are always one of the specific classes.
"""

from __future__ import annotations

__all__ = [
    "TeamcultureError",
    "InstrumentError",
    "NotNestedError",
    "TeamcultureWarning",
    "ConvergenceWarning",
    "BoundaryWarning",
    "SmallGroupWarning",
    "DroppedDataWarning",
    "DegenerateDataWarning",
    "NestingWarning",
]


class TeamcultureError(Exception):
    """Base class of the errors specific to teamculture (each is also a ``ValueError``)."""


class InstrumentError(TeamcultureError, ValueError):
    """A malformed instrument definition (catalogue entry or user-supplied)."""


class NotNestedError(TeamcultureError, ValueError):
    """Grouping factors that were declared nested are not (an inner group spans outer groups)."""


class TeamcultureWarning(UserWarning):
    """Base class of the warnings emitted by teamculture (never emitted itself)."""


class ConvergenceWarning(TeamcultureWarning):
    """An optimiser stopped without meeting its convergence criterion; the result says ``converged=False``."""


class BoundaryWarning(TeamcultureWarning):
    """An estimate lies on or beyond the boundary of its parameter space.

    Examples: a zero variance component (a singular fit), a variance the data
    cannot identify reported at the boundary, a reliability above 1.
    """


class SmallGroupWarning(TeamcultureWarning):
    """Some groups are too small for the statistic requested (e.g. size one); their values are NaN."""


class DroppedDataWarning(TeamcultureWarning):
    """Rows or values were excluded from a computation; the count is in the message and on the result."""


class DegenerateDataWarning(TeamcultureWarning):
    """The data cannot define the statistic (e.g. no variance at all); the value is NaN or a limit."""


class NestingWarning(TeamcultureWarning):
    """Grouping factors were read in a way the caller should check.

    Example: ``(1 | trust) + (1 | team)`` with team labels that occur in
    several trusts is fitted, as lme4 fits it, with crossed factors; if the
    labels are local numbers (team 1 in every trust) the nested form
    ``(1 | trust/team)`` is the model meant.
    """


for _cls in (TeamcultureError, InstrumentError, NotNestedError, TeamcultureWarning, ConvergenceWarning,
             BoundaryWarning, SmallGroupWarning, DroppedDataWarning, DegenerateDataWarning, NestingWarning):
    _cls.__module__ = "teamculture.errors"  # the public home (docs, reprs, pickling)
del _cls
