"""The missing-data policy (private core): one rule, with counts, for every public function.

``nan_policy="omit"`` drops the affected rows and says how many in a
:class:`~teamculture.errors.DroppedDataWarning`; ``"raise"`` refuses them
with an error naming the parameter and the rows; ``"pairwise"`` (only where a
pairwise estimator exists) is resolved by the statistic itself. The count
goes on the result as ``n_dropped``.
"""

from __future__ import annotations

import numpy as np

from teamculture._core.errors import DroppedDataWarning
from teamculture._core.validation import few
from teamculture._core.warn import warn

__all__ = ["apply_nan_policy"]


def apply_nan_policy(missing: np.ndarray, nan_policy: str, *, name: str, what: str,
                     labels: np.ndarray | None = None) -> tuple[np.ndarray | None, int]:
    """Resolve rows with a missing value under ``nan_policy``; returns ``(keep, n_dropped)``.

    ``missing`` marks the rows with a missing value in ``name`` (a parameter
    name, or several joined with "/"); ``keep`` is ``None`` when nothing is
    missing. ``labels`` (optional) are the row labels shown in the error.
    """
    missing = np.asarray(missing, dtype=bool)
    k = int(missing.sum())
    if k == 0:
        return None, 0
    rows = np.flatnonzero(missing)
    shown = few((labels[rows] if labels is not None else rows).tolist())
    if nan_policy == "raise":
        raise ValueError(
            f"`{name}` has {k} row(s) with a missing value (rows {shown}) and nan_policy='raise'. "
            "Drop or impute them first, or pass nan_policy='omit' to drop them (they are then counted)."
        )
    warn(f"{k} of {missing.size} row(s) with a missing value in `{name}` were dropped before computing {what} "
         f"(nan_policy='omit'); rows {shown}.", DroppedDataWarning)
    return ~missing, k
