"""Shared validators (private): every public function's own validator is built from these.

Messages always name the parameter, show a few offending values with a count,
and say what is allowed. Nothing here imports from the rest of the package.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "few",
    "did_you_mean",
    "check_choice",
    "check_bool",
    "check_int",
    "check_real",
    "check_probability",
    "check_confidence_level",
    "check_rng",
    "check_nan_policy",
    "check_invalid",
    "check_frame",
    "check_columns",
    "as_float_matrix",
    "as_float_vector",
    "Scale",
    "check_scale",
    "check_in_scale",
    "relative_rank",
]


# --------------------------------------------------------------------------- messages
def few(values: Iterable[Any], k: int = 5) -> str:
    """Render up to ``k`` values and a count of the rest, for error messages."""
    vals = list(values)
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in vals[:k])
    if len(vals) > k:
        shown += f", ... ({len(vals)} in all)"
    return "[" + shown + "]"


def did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    """`` Did you mean 'x'?`` for the closest choice (case-insensitive), or ``""``."""
    if not isinstance(value, str):
        return ""
    pool = {str(c).lower(): str(c) for c in choices}
    match = difflib.get_close_matches(value.lower(), list(pool), n=1, cutoff=0.6)
    return f" Did you mean {pool[match[0]]!r}?" if match else ""


# --------------------------------------------------------------------------- scalars
def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; else ``ValueError`` naming ``name``."""
    try:
        ok = isinstance(value, (str, bool, numbers.Number, type(None))) and value in allowed
    except TypeError:  # pragma: no cover - unhashable comparisons
        ok = False
    if not ok:
        raise ValueError(f"`{name}` must be one of {list(allowed)!r}; got {value!r}.{did_you_mean(value, allowed)}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as ``bool`` if it is ``True``/``False`` (numpy booleans included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {value!r}.")
    return bool(value)


def check_int(name: str, value: Any, *, minimum: int | None = 1, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer in ``[minimum, maximum]``.

    Integral floats (``5.0``) are accepted; booleans and fractional values are not.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if isinstance(value, (int, np.integer)):  # noqa: SIM114
        v = int(value)
    elif isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        v = int(value)
    else:
        raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        if maximum is None:
            allowed = f">= {minimum}"
        elif minimum is None:
            allowed = f"<= {maximum}"
        else:
            allowed = f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be an integer {allowed}; got {value!r}.")
    return v


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """Return ``value`` as ``float`` if it is a real number within the bounds (NaN never allowed)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"`{name}` must be a real number; got {value!r}.")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"`{name}` must be a finite number; got {value!r}.")
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (")" if high_open or high is None else "]")
        raise ValueError(f"`{name}` must lie in {interval}; got {value!r}.")
    return v


def check_probability(name: str, value: Any, *, open_low: bool = False, open_high: bool = False) -> float:
    """Return ``value`` as ``float`` if it lies in [0, 1] (optionally open at either end)."""
    return check_real(name, value, low=0.0, high=1.0, low_open=open_low, high_open=open_high)


def check_confidence_level(value: Any, name: str = "confidence_level") -> float:
    """Return a confidence level as ``float`` in the open interval (0, 1).

    A percentage (95) is refused with a hint, not silently divided by 100.
    """
    v = check_real(name, value)
    if not 0.0 < v < 1.0:
        hint = f" (a proportion: {v / 100:g} for {v:g}%)" if 1.0 < v < 100.0 else ""
        raise ValueError(f"`{name}` must lie in (0, 1){hint}; got {value!r}.")
    return v


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """``rng`` (None, a non-negative int or a ``numpy.random.Generator``) as a Generator.

    As ``scipy.stats.bootstrap``: a Generator is used as is (its state advances),
    an int seeds a new one, None draws fresh entropy.
    """
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"`{name}` must be a non-negative integer seed; got {rng!r}.")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"`{name}` must be None, a non-negative int seed or a numpy.random.Generator; got {type(rng).__name__} "
        f"{rng!r}."
    )


def check_nan_policy(value: Any, allowed: Sequence[str] = ("omit", "raise"), name: str = "nan_policy") -> str:
    """Return the missing-data policy if it is one of ``allowed``."""
    return check_choice(name, value, tuple(allowed))


def check_invalid(value: Any, name: str = "invalid") -> str:
    """What to do with codes outside the response scale: ``"raise"`` or ``"missing"``."""
    return check_choice(name, value, ("raise", "missing"))


# --------------------------------------------------------------------------- frames and arrays
def check_frame(data: Any, name: str = "data") -> pd.DataFrame:
    """``data`` must be a DataFrame with unique column names (not copied)."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame; got {type(data).__name__}.")
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        raise ValueError(
            f"`{name}` has duplicate column name(s) {few(list(dict.fromkeys(dup)))}; a column must be named once "
            "(rename them, e.g. data.columns = [...])."
        )
    return data


def check_columns(data: pd.DataFrame, columns: Any, name: str, *, data_name: str = "data") -> list[Any]:
    """``columns`` (one name or a list) must name columns of ``data``; returns a list.

    An unknown name gets a "did you mean" hint (case-insensitive).
    """
    if isinstance(columns, (str, int)) or np.isscalar(columns):
        cols = [columns]
    elif isinstance(columns, (list, tuple, pd.Index)):
        cols = list(columns)
    else:
        raise TypeError(f"`{name}` must be a column name or a list of column names; got {type(columns).__name__}.")
    if not cols:
        raise ValueError(f"`{name}` must name at least one column of `{data_name}`; got none.")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        hint = did_you_mean(missing[0], data.columns)
        raise ValueError(
            f"`{name}` names column(s) {few(missing)} that are not in `{data_name}`.{hint} "
            f"Columns of `{data_name}` ({data.shape[1]}): {few(list(data.columns), 12)}."
        )
    dup = [c for c in dict.fromkeys(cols) if cols.count(c) > 1]
    if dup:
        raise ValueError(f"`{name}` names column(s) {few(dup)} more than once.")
    return cols


def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)) \
        and not pd.api.types.is_complex_dtype(s.dtype)


def as_float_matrix(data: Any, *, name: str, allow_inf: bool = False) -> tuple[np.ndarray, list[Any]]:
    """Return ``(float (n, J) array, column labels)``; may share the caller's buffer (read only).

    Accepts a Series, DataFrame or 1-/2-D array_like of numbers; raises
    ``TypeError`` naming non-numeric columns, ``ValueError`` for duplicate
    column names, an empty input or (unless ``allow_inf``) infinite values.
    """
    if isinstance(data, pd.Series):
        data = data.to_frame(name=0 if data.name is None else data.name)
    if isinstance(data, pd.DataFrame):
        check_frame(data, name)
        bad = [c for c in data.columns if not _is_numeric(data[c])]
        if bad:
            kinds = sorted({str(data[c].dtype) for c in bad})
            raise TypeError(
                f"`{name}` must be numeric; {len(bad)} column(s) are not: {few(bad)} (dtype {', '.join(kinds)}). "
                "Map text answers to codes first (teamculture.score does this for catalogue instruments)."
            )
        arr = np.asarray(data.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        cols = list(data.columns)
    else:
        try:
            raw = np.asarray(data)
        except Exception:  # noqa: BLE001 - ragged input and the like
            raise TypeError(f"`{name}` must be numeric array_like; got {type(data).__name__}.") from None
        if raw.dtype.kind in "cSUOMmV" and raw.dtype.kind != "O":
            raise TypeError(f"`{name}` must be numeric; got an array of dtype {raw.dtype}.")
        try:
            arr = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}` must be numeric array_like; got values such as {few(raw.ravel()[:3])}.") from None
        if arr.ndim == 0:
            raise ValueError(f"`{name}` must be one- or two-dimensional; got a scalar {data!r}.")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"`{name}` must be one- or two-dimensional; got shape {arr.shape}.")
        cols = list(range(arr.shape[1]))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}).")
    if not allow_inf and arr.size and (np.fmax.reduce(arr, axis=None) == np.inf
                                       or np.fmin.reduce(arr, axis=None) == -np.inf):
        inf = np.isinf(arr)
        if inf.any():
            rows = np.flatnonzero(inf.any(axis=1))
            raise ValueError(
                f"`{name}` has {int(inf.sum())} infinite value(s) in rows {few(rows.tolist())}; "
                "use NaN for a missing value."
            )
    return arr, cols


def as_float_vector(data: Any, *, name: str, allow_inf: bool = False) -> np.ndarray:
    """One numeric variable as a float (n,) array (see :func:`as_float_matrix`)."""
    arr, cols = as_float_matrix(data, name=name, allow_inf=allow_inf)
    if arr.shape[1] != 1:
        raise ValueError(f"`{name}` must be a single variable (Series or 1-D array); got {arr.shape[1]} columns "
                         f"{few(cols)}.")
    return arr[:, 0]


# --------------------------------------------------------------------------- response scales
@dataclass(frozen=True)
class Scale:
    """A declared response scale: its valid codes (sorted), bounds and number of points."""

    codes: tuple[float, ...]

    @property
    def low(self) -> float:
        """The lowest valid code."""
        return self.codes[0]

    @property
    def high(self) -> float:
        """The highest valid code."""
        return self.codes[-1]

    @property
    def n_points(self) -> int:
        """Number of response options."""
        return len(self.codes)

    @property
    def step(self) -> float | None:
        """The spacing of equally spaced codes, else ``None``."""
        d = np.diff(self.codes)
        if d.size and np.allclose(d, d[0], rtol=1e-9, atol=0.0):
            return float(d[0])
        return None

    def describe(self) -> str:
        """``1..5`` for consecutive integers, else the code list."""
        if self.step == 1.0 and float(self.low).is_integer():
            return f"{self.low:g}..{self.high:g}"
        return "{" + ", ".join(f"{c:g}" for c in self.codes) + "}"


def check_scale(scale: Any, name: str = "scale") -> Scale:
    """A response scale from ``(low, high)`` integer bounds, a list of codes, or an object with ``codes``.

    ``(1, 5)`` means the codes 1, 2, 3, 4, 5. A bare number is refused (it is
    ambiguous: ``5`` could be 1..5 or 0..4).
    """
    codes_attr = getattr(scale, "codes", None)
    if codes_attr is not None and not isinstance(scale, (pd.Series, pd.Index, np.ndarray, pd.Categorical)):
        values = list(codes_attr)
    elif isinstance(scale, (numbers.Number, np.number)) and not isinstance(scale, (bool, np.bool_)):
        raise TypeError(
            f"`{name}` must be (low, high) bounds, a list of the valid codes or a ResponseScale; got the number "
            f"{scale!r}. For a {scale!r}-point scale coded 1..{scale!r} pass {name}=(1, {scale!r})."
        )
    elif isinstance(scale, tuple) and len(scale) == 2:
        lo, hi = (check_real(f"{name}[{i}]", v) for i, v in enumerate(scale))
        if not (float(lo).is_integer() and float(hi).is_integer()) or hi <= lo:
            raise ValueError(
                f"`{name}` as (low, high) must be two integers with low < high (the codes low..high); got {scale!r}. "
                "Pass the list of codes for a scale that is not consecutive integers."
            )
        if hi - lo > 10_000:
            raise ValueError(f"`{name}` = {scale!r} spans more than 10,000 codes; is it a response scale?")
        values = list(np.arange(lo, hi + 1.0))
    elif isinstance(scale, (list, tuple, np.ndarray, pd.Series, pd.Index, range)):
        values = list(scale)
    else:
        raise TypeError(
            f"`{name}` must be (low, high) bounds, a list of the valid codes or a ResponseScale; "
            f"got {type(scale).__name__} {scale!r}."
        )
    try:
        arr = np.asarray([check_real(f"{name} code", v) for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"`{name}` codes must be finite numbers; got {few(values)}.") from None
    arr = np.unique(arr)
    if arr.size < 2:
        raise ValueError(f"`{name}` must have at least two distinct codes; got {few(values)}.")
    return Scale(tuple(float(v) for v in arr))


def _surely_in_scale(x: np.ndarray, scale: Scale) -> bool:
    """Fast sufficient test that every non-missing value is a code of an equally spaced ``scale``.

    Two NaN-ignoring reductions and one integrality pass (no temporary masks);
    ``False`` only means "check properly".
    """
    step = scale.step
    if step is None or x.size == 0:
        return False
    lo = np.fmin.reduce(x, axis=None)
    hi = np.fmax.reduce(x, axis=None)
    if np.isnan(lo):
        return True  # every value missing
    if lo < scale.low or hi > scale.high:
        return False
    flat = x.ravel(order="K")  # a view for contiguous input
    unit = step == 1.0 and float(scale.low).is_integer()
    buf = np.empty(min(flat.size, 1 << 16))
    for start in range(0, flat.size, buf.size):  # in cache-sized chunks: no array-sized temporaries
        part = flat[start:start + buf.size]
        out = buf[:part.size]
        if unit:
            np.floor(part, out=out)
            np.subtract(part, out, out=out)  # in [0, 1); NaN where missing
        else:
            np.subtract(part, scale.low, out=out)
            np.divide(out, step, out=out)
            np.subtract(out, np.floor(out), out=out)
        if np.fmax.reduce(out) != 0.0 and not np.isnan(np.fmax.reduce(out)):
            return False
    return True


def _off_scale(x: np.ndarray, scale: Scale) -> np.ndarray:
    """Mask of non-missing values that are not codes of ``scale`` (relative tolerance 1e-9)."""
    codes = np.asarray(scale.codes)
    tol = 1e-9 * max(1.0, float(np.max(np.abs(codes))))
    step = scale.step
    with np.errstate(invalid="ignore"):
        if step is not None:
            k = x - scale.low
            if step != 1.0:
                k /= step
            r = np.round(k)
            bad = (r < 0) | (r > codes.size - 1)
            np.subtract(k, r, out=r)
            np.abs(r, out=r)
            bad |= r > tol / step
        else:
            pos = np.clip(np.searchsorted(codes, x), 1, codes.size - 1)
            nearest = np.where(np.abs(x - codes[pos - 1]) <= np.abs(x - codes[pos]), codes[pos - 1], codes[pos])
            bad = ~(np.abs(x - nearest) <= tol)
    bad &= ~np.isnan(x)
    return bad


def check_in_scale(x: np.ndarray, scale: Scale, *, name: str, invalid: str = "raise",
                   columns: Sequence[Any] | None = None) -> tuple[np.ndarray, int]:
    """Responses must be codes of ``scale`` (NaN = missing).

    ``invalid="raise"``: ``ValueError`` naming ``name``, the column(s), the
    offending values and their count, and the fix. ``invalid="missing"``:
    a copy with those values set to NaN, and their count (the caller warns).
    Returns ``(x, n_invalid)``; ``x`` is the input itself when nothing is invalid.
    Valid data on an equally spaced scale take a fast path (two reductions).
    """
    if _surely_in_scale(x, scale):
        return x, 0
    bad = _off_scale(x, scale)
    n_bad = int(bad.sum())
    if not n_bad:
        return x, 0
    if invalid == "missing":
        out = np.array(x, dtype=float, copy=True)
        out[bad] = np.nan
        return out, n_bad
    where = ""
    if columns is not None and x.ndim == 2:
        cols = [columns[j] for j in np.flatnonzero(bad.any(axis=0))]
        where = f" in column(s) {few(cols)}"
    values = np.unique(x[bad])
    raise ValueError(
        f"`{name}` has {n_bad} value(s) outside the response scale {scale.describe()}{where}: {few(values.tolist())}. "
        "Check `scale` (did you pass a score or another instrument's items?), recode them, or pass "
        "invalid='missing' to treat them as missing (they are then counted)."
    )


# --------------------------------------------------------------------------- numerics
def relative_rank(X: np.ndarray, *, tol: float | None = None) -> tuple[int, np.ndarray]:
    """Numerical rank of ``X`` after scaling each column to unit length (scale-free).

    A column of pounds (~5e8) or of 1e-8 units is judged by its direction, not
    its size: column ``j`` is dependent when the part of it orthogonal to the
    earlier columns is shorter than ``tol`` (the sine of its angle to their
    span; from one QR decomposition). Returns ``(rank, dependent)`` with the
    indices of the dependent columns; all-zero columns are dependent.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if p == 0:
        return 0, np.zeros(0, dtype=np.intp)
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    zero = ~(norms > 0) | ~np.isfinite(norms)
    Z = X / np.where(zero, 1.0, norms)
    Z[:, zero] = 0.0
    if tol is None:
        tol = max(1e-10, 10 * max(n, p) * np.finfo(float).eps)
    r = np.abs(np.diag(np.linalg.qr(Z, mode="r"))) if n >= p else np.r_[
        np.abs(np.diag(np.linalg.qr(Z, mode="r"))), np.zeros(p - n)]
    dependent = np.flatnonzero(zero | (r <= tol)).astype(np.intp)
    return p - dependent.size, dependent
