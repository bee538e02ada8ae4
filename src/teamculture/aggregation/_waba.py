"""Within-and-between analysis (WABA) of the correlation of two staff-level variables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import BoundaryWarning, DegenerateDataWarning
from teamculture._core.groups import align, oneway_anova
from teamculture._core.validation import as_float_vector, check_nan_policy
from teamculture._core.warn import warn
from teamculture.aggregation._common import drop_rows, extreme_scale, prepare, reference_index
from teamculture.aggregation._icc import _icc2_of
from teamculture.results import Result, Summary, result_class

__all__ = ["waba", "WABAResult"]


@result_class
class WABAResult(Result):
    """Within-and-between analysis of two variables (from :func:`waba`).

    Attributes
    ----------
    raw_corr : float
        Correlation of x and y over individuals.
    eta_between_x, eta_between_y : float
        Correlation of each variable with its group means (assigned to
        members).
    corr_between : float
        Correlation of the group means (member-weighted).
    eta_within_x, eta_within_y : float
        Correlation of each variable with its within-group deviations.
    corr_within : float
        Correlation of the within-group deviations.
    icc2_x, icc2_y : float
        ICC(2) of x and y (ANOVA).
    corr_between_disattenuated : float
        :math:`r_W + (r_B - r_W)/\\sqrt{ICC2_x\\,ICC2_y}` (NaN when an ICC(2)
        is not positive; flagged when outside [-1, 1]).
    n_obs : int
        Rows used.
    n_dropped : int
        Rows dropped (missing x, y or label).
    n_groups : int
        Groups.
    """

    raw_corr: float
    eta_between_x: float
    eta_between_y: float
    corr_between: float
    eta_within_x: float
    eta_within_y: float
    corr_within: float
    icc2_x: float
    icc2_y: float
    corr_between_disattenuated: float

    def to_frame(self) -> pd.DataFrame:
        """The covariance theorem: rows ``between``, ``within``; eta of x and y, the correlation, the part of r_xy."""
        return pd.DataFrame(
            {"eta_x": [self.eta_between_x, self.eta_within_x], "eta_y": [self.eta_between_y, self.eta_within_y],
             "corr": [self.corr_between, self.corr_within],
             "component": [self.eta_between_x * self.eta_between_y * self.corr_between,
                           self.eta_within_x * self.eta_within_y * self.corr_within]},
            index=pd.Index(["between", "within"]), dtype=float)

    def summary(self) -> Summary:
        """The covariance theorem r_xy = etaBx etaBy rB + etaWx etaWy rW, and the disattenuated rB."""
        return Summary(
            "WABA covariance theorem: r_xy = etaBx*etaBy*rB + etaWx*etaWy*rW",
            header=[("raw correlation r_xy", self.raw_corr), ("observations", self.n_obs),
                    ("groups", self.n_groups), ("dropped", self.n_dropped), ("ICC(2) of x", self.icc2_x),
                    ("ICC(2) of y", self.icc2_y),
                    ("disattenuated between-group r", self.corr_between_disattenuated)],
            tables=[("", self.to_frame())],
        )


@dataclass(frozen=True)
class _Parts:
    """One variable split into group means (assigned to members) and within-group deviations."""

    between: np.ndarray
    within: np.ndarray
    constant: bool
    no_between: bool
    no_within: bool
    eta_between: float
    eta_within: float

    @property
    def problems(self) -> list[str]:
        if self.constant:
            return ["is constant"]
        return (["has equal group means"] if self.no_between else []) + (
            ["is constant within every group"] if self.no_within else [])


def _parts(v: np.ndarray, codes: np.ndarray, n_groups: int) -> _Parts:
    """Between and within parts; a part is "without variance" below 1e-12 of the values' size (rounding)."""
    cnt = np.bincount(codes, minlength=n_groups)
    b = (np.bincount(codes, weights=v, minlength=n_groups) / np.maximum(cnt, 1))[codes]
    w = v - b
    constant = bool(np.ptp(v) == 0)
    tol = 1e-12 * float(np.max(np.abs(v))) if v.size else 0.0
    no_between = constant or bool(np.ptp(b) <= tol)
    no_within = constant or bool(np.max(np.abs(w)) <= tol)
    nan = float("nan")
    eta_b = nan if constant else (0.0 if no_between else _corr(v, b))
    eta_w = nan if constant else (0.0 if no_within else _corr(v, w))
    return _Parts(b, w, constant, no_between, no_within, eta_b, eta_w)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN (no warning) when either has no variance."""
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float((a @ b) / den) if den > 0 else float("nan")


def _validate_waba(x: Any, y: Any, nan_policy: Any) -> tuple[np.ndarray, Any]:
    check_nan_policy(nan_policy)
    index = reference_index(x, y)
    yy = align(y, index, name="y", ref_name="x") if isinstance(x, (pd.Series, pd.DataFrame)) else y
    yv = as_float_vector(yy, name="y")
    return yv, index


def waba(x: Any, y: Any, groups: Any, *, nan_policy: str = "omit") -> WABAResult:
    """Within-and-between analysis (WABA) of the correlation of x and y.

    Parameters
    ----------
    x, y : Series or array_like, shape (n,)
        The two variables. Pandas inputs are matched by index (``y`` and
        ``groups`` to ``x``), never by position.
    groups : Series, array_like or DataFrame
        Group label of each row (nested label columns: the innermost groups).
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with x, y or the label missing: dropped and counted, or an error.

    Returns
    -------
    WABAResult

    Notes
    -----
    The covariance theorem of Dansereau et al. decomposes the raw
    correlation into between- and within-group parts:

    .. math:: r_{xy} = \\eta_{Bx}\\eta_{By} r_B + \\eta_{Wx}\\eta_{Wy} r_W

    where B uses the group means assigned to members and W the deviations
    from them. The between-group correlation corrected for the unreliability
    of group means is :math:`r_W + (r_B - r_W)/\\sqrt{ICC2_x ICC2_y}`; it is
    NaN when an ICC(2) is not positive and may fall outside [-1, 1] (both
    flagged with a :class:`~teamculture.errors.BoundaryWarning`). A variable
    without between- or within-group variance makes the correlations that
    need it NaN (with a :class:`~teamculture.errors.DegenerateDataWarning`).

    R: ``multilevel::waba(x, y, grpid)``.

    References
    ----------
    .. [1] Dansereau, F., Alutto, J. A., & Yammarino, F. J. (1984). Theory
       testing in organizational behavior: The varient approach.
       Prentice-Hall.
    .. [2] Bliese, P. D. (2000). Within-group agreement, non-independence,
       and reliability. Jossey-Bass.

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", rng=1)
    >>> w = tc.waba(sv.staff["latent_engagement"], sv.staff["tenure"], sv.staff["team"])
    >>> parts = w.eta_between_x * w.eta_between_y * w.corr_between + \\
    ...     w.eta_within_x * w.eta_within_y * w.corr_within
    >>> bool(abs(parts - w.raw_corr) < 1e-12)
    True
    """
    yv, index = _validate_waba(x, y, nan_policy)
    if not isinstance(x, (pd.Series, pd.DataFrame)):
        # x carries no row labels: pair x and y by position, and the labels by y's index if it has one
        p = prepare(x, groups if index is None else align(groups, index, name="groups", ref_name="y"), name="x",
                    what="WABA", nan_policy=nan_policy, single=True)
    else:
        p = prepare(x, groups, name="x", what="WABA", nan_policy=nan_policy, single=True)
    if yv.size != p.n_rows:
        raise ValueError(f"`x` and `y` must have the same length; got {p.n_rows} and {yv.size}.")
    if p.n_unlabelled:
        yv = yv[p.groups.finest >= 0]
    if nan_policy == "raise":
        drop_rows(np.isnan(yv), "raise", name="y", what="WABA")
    xv = p.x[:, 0]
    keep, n_missing = drop_rows(np.isnan(xv) | np.isnan(yv), "omit", name="x/y", what="WABA", index=p.index)
    codes = p.codes
    if keep is not None:
        xv, yv, codes = xv[keep], yv[keep], codes[keep]
    codes = pd.factorize(codes, sort=True)[0].astype(np.intp)
    xv, yv = xv / extreme_scale(xv), yv / extreme_scale(yv)  # correlations and ICC(2) are scale-free
    G = int(codes.max()) + 1 if codes.size else 0
    ax = oneway_anova(xv, codes, G, name="groups")
    ay = oneway_anova(yv, codes, G, name="groups")
    px, py = _parts(xv, codes, G), _parts(yv, codes, G)
    problems = [f"`{nm}` {msg}" for nm, part in (("x", px), ("y", py)) for msg in part.problems]
    if problems:
        warn(f"{'; '.join(problems)}: the WABA correlations that need that variance are undefined (NaN); an eta of "
             "a part without variance is 0.", DegenerateDataWarning)
    i2x = _icc2_of(ax.msb, ax.msw) if not px.constant else float("nan")
    i2y = _icc2_of(ay.msb, ay.msw) if not py.constant else float("nan")
    rB = float("nan") if px.no_between or py.no_between else _corr(px.between, py.between)
    rW = float("nan") if px.no_within or py.no_within else _corr(px.within, py.within)
    if i2x > 0 and i2y > 0 and np.isfinite(rB) and np.isfinite(rW):
        dis = float(rW + (rB - rW) / np.sqrt(i2x * i2y))
        if abs(dis) > 1.0 + 1e-12:  # beyond rounding
            warn(f"The disattenuated between-group correlation is {dis:.4g}, outside [-1, 1] (unreliable group means: "
                 f"ICC(2) of x {i2x:.3g}, of y {i2y:.3g}); it is reported as computed.", BoundaryWarning)
    else:
        dis = float("nan")
        low = [(nm, i2) for nm, i2 in (("x", i2x), ("y", i2y)) if i2 <= 0]
        if low:
            which = " and ".join(nm for nm, _ in low)
            values = ", ".join(f"{i2:.4g}" for _, i2 in low)
            warn(f"ICC(2) of {which} is not positive ({values}): "
                 "the group means are no more reliable than chance, so the disattenuated between-group correlation "
                 "is undefined (NaN).", BoundaryWarning)
    return WABAResult(
        raw_corr=float("nan") if px.constant or py.constant else _corr(xv, yv),
        eta_between_x=px.eta_between,
        eta_between_y=py.eta_between,
        corr_between=rB,
        eta_within_x=px.eta_within,
        eta_within_y=py.eta_within,
        corr_within=rW,
        icc2_x=float(i2x),
        icc2_y=float(i2y),
        corr_between_disattenuated=dis,
        n_obs=int(xv.size),
        n_dropped=int(p.n_unlabelled + n_missing),
        n_groups=G,
    )
