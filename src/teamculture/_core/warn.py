"""Emit a teamculture warning attributed to the caller's code (automatic stack level)."""

from __future__ import annotations

import os
import sys
import warnings

from teamculture._core.errors import TeamcultureWarning

__all__ = ["warn"]

# the package directory: frames whose file lies under it are "inside teamculture"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _stack_level() -> int:
    """Stack level of the first frame outside the package, counted from ``warn``'s caller."""
    frame = sys._getframe(1)  # warn()
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[TeamcultureWarning]) -> None:
    """Emit ``message`` as ``category`` with the stack level of the first caller outside teamculture.

    Only the specific classes of :mod:`teamculture.errors` may be emitted (never
    the base class, never a plain ``UserWarning``), so that users can filter
    each condition.
    """
    if not (isinstance(category, type) and issubclass(category, TeamcultureWarning)) \
            or category is TeamcultureWarning:
        raise TypeError(f"warn: category must be a specific teamculture warning class; got {category!r}.")
    warnings.warn(message, category, stacklevel=_stack_level())
