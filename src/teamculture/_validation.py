"""Private validation helpers shared by the public functions.

Every public function has its own small validator that calls these; messages
always name the parameter, show a few offending values with a count, and say
what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "few",
    "check_choice",
    "check_positive_int",
    "check_probability",
    "factorize_groups",
]


def few(values: Iterable[Any], k: int = 5) -> str:
    """Render up to ``k`` values and a count of the rest, for error messages."""
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:k])
    if len(vals) > k:
        shown += f", ... ({len(vals)} in all)"
    return "[" + shown + "]"


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)!r}; got {value!r}.")
    return value


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as ``int`` if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_probability(name: str, value: Any, *, open_low: bool = False, open_high: bool = False) -> float:
    """Return ``value`` as ``float`` if it lies in [0, 1] (optionally open at either end)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number in [0, 1]; got {value!r}.") from None
    lo_ok = v > 0 if open_low else v >= 0
    hi_ok = v < 1 if open_high else v <= 1
    if not (np.isfinite(v) and lo_ok and hi_ok):
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        raise ValueError(f"`{name}` must lie in {lo}, {hi}; got {value!r}.")
    return v


def factorize_groups(groups: Any, n: int, *, name: str = "groups"):
    """Map group labels to integer codes ``0..G-1``; returns ``(codes, labels)``.

    One implementation for the whole package (:func:`teamculture._grouped.factorize`):
    labels sorted (categories in their order), so results indexed by ``labels``
    are invariant to row order; missing labels raise ``ValueError`` naming
    ``name`` and the rows.
    """
    from teamculture._grouped import factorize

    return factorize(groups, n, name=name)
