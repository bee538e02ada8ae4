"""Exception and warning classes used throughout teamculture.

One small hierarchy, so that callers can filter everything the package emits
with a single class (``warnings.simplefilter("ignore", TeamcultureWarning)``)
or catch a specific condition:

- errors: :class:`TeamcultureError` (base), :class:`InstrumentError`,
  :class:`NotNestedError` (both also ``ValueError``);
- warnings: :class:`TeamcultureWarning` (base, never emitted itself),
  :class:`ConvergenceWarning`, :class:`BoundaryWarning`,
  :class:`SmallGroupWarning`, :class:`DroppedDataWarning`,
  :class:`DegenerateDataWarning`, :class:`NestingWarning`.

Every warning points at the caller's line (the first frame outside
teamculture), whatever the depth of the call inside the package.
"""

from teamculture._core.errors import (
    BoundaryWarning,
    ConvergenceWarning,
    DegenerateDataWarning,
    DroppedDataWarning,
    InstrumentError,
    NestingWarning,
    NotNestedError,
    SmallGroupWarning,
    TeamcultureError,
    TeamcultureWarning,
)

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
