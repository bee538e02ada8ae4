"""The profile's calls into other areas of teamculture, all in one place and through public names.

Other areas' signatures are being migrated to the shared vocabulary; keeping
every cross-area call here means one file to update. Used:

- :func:`teamculture.instruments.get`, :func:`teamculture.instruments.available`,
  :func:`teamculture.load_instrument` (catalogue lookups and sub-instruments);
- :func:`teamculture.score` (respondent sub-scores and classifications), called
  with ``columns=`` and ``invalid="raise"`` on data whose numeric codes were
  checked here first;
- :func:`teamculture.icc2` (ICC(2) of an element at the unit level).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import DroppedDataWarning
from teamculture._core.validation import few
from teamculture._core.warn import warn

__all__ = ["get_instrument", "catalogue_ids", "measure_items", "measure_range", "score_measure", "icc2"]

_SUB_CACHE: dict[tuple[str, str], Any] = {}


def get_instrument(instrument_id: str) -> Any:
    """A catalogue instrument (``teamculture.instruments.get``)."""
    from teamculture.instruments import get

    return get(instrument_id)


def catalogue_ids() -> list[str]:
    """Ids of the instrument catalogue."""
    from teamculture.instruments import available

    return list(available().index)


def _needed_subscales(inst: Any, score: str) -> list[str]:
    return list(inst.composites[score]) if score in inst.composites else [score]


def measure_items(measure: Any) -> list[str]:
    """Item ids a measure needs (questionnaire order)."""
    inst = get_instrument(measure.instrument)
    if measure.kind == "category":
        rule = inst.classification
        return [rule.gate, *rule.criteria]
    used = {i for s in _needed_subscales(inst, measure.score) for i in inst.subscales[s]}
    return [i for i in inst.item_ids if i in used]


def measure_range(measure: Any) -> tuple[float, float]:
    """The declared range of a measure's respondent score (mapped to 0-100)."""
    if measure.kind == "column":
        return measure.range
    if measure.kind == "category":
        return (0.0, 100.0)
    inst = get_instrument(measure.instrument)
    rule = inst.scoring
    if rule.range is not None:
        lo, hi = float(rule.range[0]), float(rule.range[1])
    else:
        bounds = {(inst.scale_for(i).low, inst.scale_for(i).high) for i in measure_items(measure)}
        if len(bounds) != 1:  # pragma: no cover - no catalogue instrument mixes bounds within a sub-score
            raise ValueError(f"`framework` measure {measure.id!r}: its items have different scale bounds "
                             f"{sorted(bounds)}; a 0-100 mapping needs one range (map a column instead).")
        lo, hi = bounds.pop()
    if rule.method == "sum":
        k = len(measure_items(measure)) if measure.score not in inst.composites else None
        if k is None:  # pragma: no cover - composites of sum-scored instruments are not in the catalogue
            raise ValueError(f"`framework` measure {measure.id!r}: a composite of a sum-scored instrument has no "
                             "declared range.")
        lo, hi = lo * k, hi * k
    return (lo, hi)


def _sub_instrument(measure: Any) -> Any:
    """The instrument restricted to the items and sub-scores a measure needs (so other items may be absent)."""
    key = (measure.instrument, measure.score or "")
    if key in _SUB_CACHE:
        return _SUB_CACHE[key]
    from teamculture.instruments import load_instrument

    inst = get_instrument(measure.instrument)
    if measure.kind == "category":
        _SUB_CACHE[key] = inst
        return inst
    subs = _needed_subscales(inst, measure.score)
    items = set(measure_items(measure))
    d = inst.to_dict()
    d["items"] = [it for it in d["items"] if it["id"] in items]
    d["subscales"] = {k: v for k, v in d["subscales"].items() if k in subs}
    d["composites"] = {k: v for k, v in d["composites"].items() if k == measure.score}
    d["mappings"] = {y: {q: i for q, i in m.items() if i in items} for y, m in d["mappings"].items()}
    d["mappings"] = {y: m for y, m in d["mappings"].items() if m}
    used_scales = {it["scale"] for it in d["items"]}
    d["scales"] = {k: v for k, v in d["scales"].items() if k in used_scales}
    sub = load_instrument(d)
    _SUB_CACHE[key] = sub
    return sub


def item_columns(data: pd.DataFrame, measure: Any, columns: Mapping[str, str] | None) -> dict[str, str | None]:
    """item id -> the data column holding it (``None`` when absent)."""
    by_item: dict[str, str] = {}
    for col, iid in (columns or {}).items():
        if col in data.columns:
            by_item[iid] = col
    out: dict[str, str | None] = {}
    for iid in measure_items(measure):
        if iid in by_item:
            out[iid] = by_item[iid]
        elif iid in data.columns and iid not in (columns or {}).values():
            out[iid] = iid
        else:
            out[iid] = None
    return out


def score_measure(data: pd.DataFrame, measure: Any, *, columns: Mapping[str, str] | None,
                  invalid: str) -> tuple[np.ndarray, int]:
    """Respondent scores of one measure mapped to 0-100 (NaN = no score), and the invalid codes set missing.

    Numeric item codes outside the item's scale (its codes and declared
    missing codes) raise ``ValueError`` naming the column with
    ``invalid="raise"``, or are set missing and counted with
    ``invalid="missing"``; text answers are left to :func:`teamculture.score`.
    """
    if measure.kind == "column":
        x = _as_float_column(data, measure.column)
        lo, hi = measure.range
        outside = ~np.isnan(x) & ((x < lo) | (x > hi))
        n_bad = int(outside.sum())
        if n_bad:
            if invalid == "raise":
                raise ValueError(
                    f"`data` column {measure.column!r} (measure {measure.id!r}) has {n_bad} value(s) outside its "
                    f"declared range [{lo:g}, {hi:g}]: {few(np.unique(x[outside]).tolist())}. Fix the framework's "
                    "'range', or pass invalid='missing' to treat them as missing (they are then counted).")
            x = np.where(outside, np.nan, x)
        pomp = 100.0 * (x - lo) / (hi - lo)
        return (100.0 - pomp if measure.reverse else pomp), n_bad
    inst = _sub_instrument(measure)
    colmap = item_columns(data, measure, columns)
    frame = {}
    n_bad = 0
    for iid, col in colmap.items():
        s = data[col]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            x = s.to_numpy(dtype=float, na_value=np.nan)
            scale = inst.scale_for(iid)
            allowed = np.asarray(sorted(set(scale.codes) | set(getattr(scale, "missing_codes", ()) or ())))
            bad = ~np.isnan(x) & ~np.isin(x, allowed)
            k = int(bad.sum())
            if k:
                if invalid == "raise":
                    raise ValueError(
                        f"`data` column {col!r} (item {iid!r} of {inst.id!r}, measure {measure.id!r}) has {k} "
                        f"value(s) outside the response scale {few([float(c) for c in allowed])}: "
                        f"{few(np.unique(x[bad]).tolist())}. Recode them, or pass invalid='missing' to treat them "
                        "as missing (they are then counted).")
                x = np.where(bad, np.nan, x)
                n_bad += k
            frame[iid] = x
        else:
            frame[iid] = s.to_numpy()
    sub = pd.DataFrame(frame, index=data.index)
    from teamculture.scoring import score

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = score(sub, inst, invalid=invalid)
    for w in caught:  # text labels outside the scale with invalid="missing": say it from here, once
        if issubclass(w.category, DroppedDataWarning):
            warn(f"measure {measure.id!r}: {w.message}", DroppedDataWarning)
        else:  # pragma: no cover - score emits no other warnings today
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if measure.kind == "category":
        cat = scored.iloc[:, 0]
        values = np.where(cat.isna().to_numpy(), np.nan, 100.0 * (cat == measure.category).to_numpy(dtype=float))
        return (100.0 - values if measure.reverse else values), n_bad
    x = np.asarray(scored[measure.score], dtype=float)
    lo, hi = measure_range(measure)
    pomp = 100.0 * (x - lo) / (hi - lo)
    return (100.0 - pomp if measure.reverse else pomp), n_bad


def _as_float_column(data: pd.DataFrame, column: str) -> np.ndarray:
    s = data[column]
    if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype)):
        raise TypeError(f"`data` column {column!r} (a framework measure) must be numeric; got dtype {s.dtype}.")
    x = s.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(x).any():
        raise ValueError(f"`data` column {column!r} has {int(np.isinf(x).sum())} infinite value(s); use NaN for a "
                         "missing value.")
    return x


def icc2(y: np.ndarray, labels: np.ndarray) -> float:
    """ICC(2) of ``y`` at the level of ``labels`` (complete data; ``teamculture.icc2``).

    NaN when the unit means do not vary (ICC(2) = (MSB - MSW) / MSB is then
    undefined; ``teamculture.icc2`` divides by zero on such data today).
    """
    from teamculture.aggregation import icc2 as _icc2

    codes, uniques = pd.factorize(labels)
    means = np.bincount(codes, weights=y) / np.bincount(codes)
    if uniques.size < 2 or np.ptp(means) == 0:
        return float("nan")

    with warnings.catch_warnings():
        # a negative ICC(2) is reported by the profile itself, once, naming the elements
        warnings.simplefilter("ignore", UserWarning)
        value = _icc2(y, labels)
    return float(getattr(value, "estimate", value))
