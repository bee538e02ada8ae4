"""Keyed scoring of culture instruments: respondent and group scores.

:func:`score` turns raw responses into per-respondent subscale scores (or a
category, for classification instruments such as the Aston real-team rule);
:func:`score_groups` aggregates them to teams or trusts: means, respondent
counts, item and composite percent positive (AHRQ SOPS rule), optional
weights (e.g. :func:`occupational_weights`) and category shares with an
explicit denominator.

The engine works on NumPy arrays, one item column at a time: the codes are
validated against the declared response scale (a few reductions when all are
in range), missing and "does not apply" answers are zero-filled with a mask
of answered items, and a subscale score is the sum of its items' codes under
each item's affine keying (reverse keying with the declared bounds, then
rescaling) divided by the number answered. :func:`score` processes rows in
cache-sized blocks. Group sums go through the shared core
(the private ``Groups`` and ``group_sum`` of ``teamculture._core.groups``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.groups import Groups, align, group_sum
from teamculture._core.threads import usable_cpus as _usable_cpus
from teamculture._core.validation import check_choice, check_columns, check_frame, check_invalid, did_you_mean, few
from teamculture._core.warn import warn
from teamculture.errors import DegenerateDataWarning, DroppedDataWarning
from teamculture.instruments import Instrument, Provenance
from teamculture.instruments import _resolve as _resolve_instrument
from teamculture.instruments._schema import ResponseScale, _norm
from teamculture.results import Result, Summary, result_class

__all__ = ["score", "score_groups", "keyed_items", "GroupScores", "occupational_weights", "ScoreTable"]

_DENOMINATORS = ("all", "classified", "in_team")


# ---------------------------------------------------------------------------
# NumPy core
# ---------------------------------------------------------------------------
def _column_codes(col: pd.Series, scale: ResponseScale, column: str) -> np.ndarray:
    """Numeric codes of one column (text labels mapped through the scale's labels)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        raise TypeError(f"`data` column {column!r} is boolean; expected numeric codes or text labels.")
    if isinstance(col.dtype, np.dtype) and col.dtype.kind == "c":
        raise TypeError(f"`data` column {column!r} is complex ({col.dtype}); expected real numeric codes or text labels.")
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
        return col.to_numpy()  # integer codes as they are (no float copy); no missing values possible
    if pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(col.dtype, pd.CategoricalDtype):
        return col.to_numpy(dtype=float, na_value=np.nan)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    # factorize merges True with 1 and False with 0: where a unique could hide a boolean, count them (one pass over
    # the column only then: columns of text labels are not scanned)
    if col.dtype == object and any(not isinstance(u, str) and (isinstance(u, (bool, np.bool_)) or u in (0, 1))
                                   for u in uniques):
        n_bool = sum(1 for v in col.array if isinstance(v, (bool, np.bool_)))
        if n_bool:
            raise TypeError(f"`data` column {column!r} holds {n_bool} boolean value(s) (True/False) among its answers; "
                            "expected numeric codes or text labels.")
    lookup = scale.code_for_label()
    mapped = np.empty(len(uniques) + 1)
    unknown: list[Any] = []
    for k, u in enumerate(uniques):
        if isinstance(u, str):
            key = _norm(u)
            if key in lookup:
                mapped[k] = lookup[key]
                continue
            number = _text_number(u)
            if number is not None:  # a number written as text ("4", "4.0"): a numeric code, checked as such
                mapped[k] = number
                continue
            unknown.append(u)
            mapped[k] = np.nan
        elif isinstance(u, (int, float, np.integer, np.floating)) and not isinstance(u, bool):
            mapped[k] = float(u)
        else:
            unknown.append(u)
            mapped[k] = np.nan
    if unknown:
        nrows = int(np.isin(codes, [k for k, u in enumerate(uniques) if u in unknown]).sum())
        raise ValueError(
            f"`data` column {column!r} has {nrows} row(s) with unknown label(s) {few(unknown)}; "
            f"allowed labels for scale {scale.name!r}: {list(scale.labels) + list(scale.missing_labels)} "
            "(case and spacing ignored) or numeric codes."
        )
    mapped[-1] = np.nan
    return mapped[codes]


def _text_number(text: str) -> float | None:
    """The finite number written in ``text`` ("4", " 4.0 ", "1e0"), or None (labels, "nan", "inf")."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _valid_mask(x: np.ndarray, codes: Sequence[float]) -> np.ndarray:
    """Values equal to one of ``codes``."""
    m = x == codes[0]
    tmp = np.empty(len(x), dtype=bool)
    for c in codes[1:]:
        np.equal(x, c, out=tmp)
        m |= tmp
    return m


def _consecutive(codes: Sequence[float]) -> bool:
    return all(float(c).is_integer() for c in codes) and all(b - a == 1 for a, b in zip(codes, codes[1:]))


def _code_tolerance(codes: Sequence[float]) -> float:
    """Values this close to a code are that code (the core's ``check_in_scale`` tolerance)."""
    return 1e-9 * max(1.0, max(abs(float(c)) for c in codes))


def _snap(x: np.ndarray, codes: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(the nearest code, mask of values within the tolerance of it); NaN is never a code."""
    c = np.asarray(codes, dtype=float)
    tol = _code_tolerance(codes)
    with np.errstate(invalid="ignore"):
        if _consecutive(codes):
            near = np.clip(np.rint(x), c[0], c[-1])
        else:
            pos = np.clip(np.searchsorted(c, x), 1, c.size - 1) if c.size > 1 else np.zeros(x.shape, dtype=np.intp)
            lo, hi = c[pos - 1] if c.size > 1 else c[pos], c[pos]
            near = np.where(np.abs(x - lo) <= np.abs(x - hi), lo, hi)
        ok = np.abs(x - near) <= tol
    return near, ok


def _check_codes(x: np.ndarray, scale: ResponseScale) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes with 0 where not valid, valid mask, mask of invalid codes or None if there are none).

    A value within 1e-9 (relative to the largest code) of a code is that code
    (as the core's ``check_in_scale`` accepts it) and is scored as the code.
    Missing answers, "does not apply" codes and invalid codes are outside the
    valid mask; their entries are set to 0 so that subscale sums need no
    masking. ``x`` is never written to.
    """
    x = np.asarray(x, dtype=float)
    # signalling NaNs (R's NA_real_ has that bit pattern) must not raise or warn "invalid value"
    with np.errstate(invalid="ignore"):
        if len(x) and _consecutive(scale.codes):
            # fast path: all values NaN or integers within [low, high] (a few reductions)
            nan = np.isnan(x)
            n_nan = int(np.count_nonzero(nan))
            if n_nan == len(x):
                return np.zeros(len(x)), ~nan, None
            mn, mx = np.fmin.reduce(x), np.fmax.reduce(x)
            # a signalling NaN can make fmin/fmax return NaN (then the exact path decides)
            if scale.low <= mn and mx <= scale.high and np.count_nonzero(np.rint(x) != x) == n_nan:
                return np.where(nan, 0.0, x), ~nan, None
        near, ok = _snap(x, scale.codes)
        bad = ~ok & ~np.isnan(x)
        if scale.missing_codes:
            bad &= ~_snap(x, scale.missing_codes)[1]
    return np.where(ok, near, 0.0), ok, bad


def _raise_invalid(col: str, iid: str, scale: ResponseScale, x: np.ndarray, bad: np.ndarray) -> None:
    vals = np.unique(x[bad])
    raise ValueError(
        f"`data` column {col!r} (item {iid!r}) has {int(np.count_nonzero(bad))} row(s) with invalid code(s) "
        f"{few([_num(v) for v in vals])}; scale {scale.name!r} allows "
        f"{[_num(c) for c in scale.codes]}"
        + (f" and missing code(s) {[_num(c) for c in scale.missing_codes]}" if scale.missing_codes else "")
        + "; pass invalid='missing' to count them as missing."
    )


def _read_item(data: pd.DataFrame, col: str, iid: str, scale: ResponseScale, invalid: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes of one item (0 where not valid), the valid mask and the number of invalid codes.

    Invalid codes raise (``invalid="raise"``) or are counted.
    """
    x = _column_codes(data[col], scale, col)
    x0, ok, bad = _check_codes(x, scale)
    nbad = 0 if bad is None else int(np.count_nonzero(bad))
    if nbad and invalid == "raise":
        _raise_invalid(col, iid, scale, x, bad)
    return x0, ok, nbad


def _read_items(
    data: pd.DataFrame, inst: Instrument, colmap: Mapping[str, str], invalid: str
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, int]]:
    """item id -> (codes, valid mask); and item -> number of invalid codes set to missing."""
    items: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    n_invalid: dict[str, int] = {}
    for iid, col in colmap.items():
        x, ok, nbad = _read_item(data, col, iid, inst.scale_for(iid), invalid)
        items[iid] = (x, ok)
        if nbad:
            n_invalid[iid] = nbad
    return items, n_invalid


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _affine(inst: Instrument, iid: str) -> tuple[float, float]:
    """(a, b) with keyed and rescaled value = a * code + b (reverse keying with the declared bounds)."""
    sc = inst.scale_for(iid)
    a, b = 1.0, 0.0
    if inst.item(iid).reverse:
        a, b = -1.0, sc.low + sc.high
    rng = inst.scoring.range
    if rng is not None:
        f = (rng[1] - rng[0]) / (sc.high - sc.low)
        a, b = a * f, (b - sc.low) * f + rng[0]
    return a, b


def _subscale_scores(
    items: Mapping[str, tuple[np.ndarray, np.ndarray]], inst: Instrument, ids: Sequence[str], min_items: int,
    method: str, n: int,
) -> np.ndarray:
    """Mean (or prorated sum) of the answered keyed items; NaN below ``min_items`` answered.

    Sums are accumulated per distinct affine keying (a, b), so each item costs
    one add of its zero-filled codes and one add of its mask:
    sum_j (a_j x_j + b_j) = sum_k a_k S_k + b_k C_k.
    """
    acc: dict[tuple[float, float], list[np.ndarray]] = {}
    count_dtype = np.uint8 if len(ids) < 255 else np.int64
    for iid in ids:
        x0, ok = items[iid]
        key = _affine(inst, iid)
        if key not in acc:
            acc[key] = [np.zeros(n), np.zeros(n, dtype=count_dtype)]
        s, c = acc[key]
        s += x0
        c += ok
    total = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    for (a, b), (s, c) in acc.items():
        total += a * s + b * c if (a, b) != (1.0, 0.0) else s
        count += c
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[count < min_items] = np.nan
    if method == "sum":
        mean *= len(ids)
    return mean


def _positive_mask(inst: Instrument, iid: str, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Valid answers whose *keyed* code is positive."""
    sc = inst.scale_for(iid)
    raw = [sc.low + sc.high - p for p in sc.positive] if inst.item(iid).reverse else list(sc.positive)
    return _valid_mask(x, raw) & ok


def _classify(items: Mapping[str, tuple[np.ndarray, np.ndarray]], inst: Instrument, n: int) -> np.ndarray:
    """Category codes 0, 1, 2 (met / not met / gate not met) or -1 (unclassified)."""
    rule = inst.classification  # only called for classification instruments
    g, g_ok = items[rule.gate]
    g_met = _positive_mask(inst, rule.gate, g, g_ok)
    out = np.full(n, -1, dtype=np.int8)
    out[g_ok & ~g_met] = 2
    any_fail = np.zeros(n, dtype=bool)
    all_met = np.ones(n, dtype=bool)
    for c in rule.criteria:
        x, ok = items[c]
        met = _positive_mask(inst, c, x, ok)
        any_fail |= ok & ~met
        all_met &= met
    out[g_met & any_fail] = 1
    out[g_met & ~any_fail & all_met] = 0
    return out


# ---------------------------------------------------------------------------
# validation and column mapping
# ---------------------------------------------------------------------------
def _needed_items(inst: Instrument) -> list[str]:
    if inst.classification is not None:
        rule = inst.classification
        return [rule.gate, *rule.criteria]
    used = {i for ids in inst.subscales.values() for i in ids}
    return [i for i in inst.item_ids if i in used]


def _near_miss(name: Any, columns: pd.Index) -> Any:
    """A column of ``columns`` equal to ``name`` up to letter case, spaces and '_'/'-'/'.'."""
    if not isinstance(name, str):
        return None

    def key(s: Any) -> str:
        return "".join(ch for ch in str(s).casefold() if ch.isalnum())

    target = key(name)
    hits = [c for c in columns if isinstance(c, str) and key(c) == target]
    return hits[0] if len(hits) == 1 else None


def _folded(columns: pd.Index) -> dict[str, list[Any]]:
    """Letter-case-folded name -> the str columns with that folded name (one pass over the columns)."""
    out: dict[str, list[Any]] = {}
    for c in columns.tolist():
        if isinstance(c, str):
            out.setdefault(c.casefold(), []).append(c)
    return out


def _case_matches(name: Any, columns: pd.Index, folded: Mapping[str, list[Any]] | None = None) -> list[Any]:
    """The columns equal to ``name`` up to letter case (``name`` itself first if present)."""
    if not isinstance(name, str):
        return [name] if name in columns else []
    hits = (_folded(columns) if folded is None else folded).get(name.casefold(), [])
    return sorted(hits, key=lambda c: c != name)


def _ambiguous(name: Any, hits: Sequence[Any], what: str) -> ValueError:
    return ValueError(
        f"`data` has {len(hits)} columns that differ only in letter case from {what} {name!r}: {few(list(hits))}. "
        "Question codes are matched regardless of letter case, so these cannot be told apart: drop or rename all "
        "but one of them (or map the one you mean with `columns`, {'exact name': 'item_id'})."
    )


def _check_columns_arg(data: pd.DataFrame, inst: Instrument, columns: Any) -> dict[Any, str]:
    if not isinstance(columns, Mapping):
        raise TypeError(
            f"`columns` must be a dict mapping data column names to item ids ({{'q9f': 'cl1'}}); "
            f"got {type(columns).__name__}."
        )
    bad = [v for v in columns.values() if v not in inst.item_ids]
    if bad:
        keys_are_items = all(k in inst.item_ids for k in columns)
        values_are_columns = all(v in data.columns for v in columns.values())
        if keys_are_items and values_are_columns:
            k, v = next(iter(columns.items()))
            raise ValueError(
                f"`columns` maps item ids to data columns; it must map data columns to item ids "
                f"({{{v!r}: {k!r}, ...}}): swap keys and values."
            )
        raise ValueError(
            f"`columns` maps to {len(bad)} unknown item id(s) {few(bad)}.{did_you_mean(bad[0], inst.item_ids)} "
            f"Items of {inst.id!r}: {few(inst.item_ids, 12)}."
        )
    folded = _folded(data.columns)
    absent = [k for k in columns if not _case_matches(k, data.columns, folded)]
    if absent:
        near = _near_miss(absent[0], data.columns)
        hint = f" Did you mean {near!r}?" if near is not None else did_you_mean(absent[0], data.columns)
        raise ValueError(
            f"`columns` names {len(absent)} column(s) that are not in `data`: {few(absent)}.{hint} "
            f"Columns of `data` ({data.shape[1]}): {few(list(data.columns), 12)}."
        )
    targets = list(columns.values())
    dup = sorted({v for v in targets if targets.count(v) > 1})
    if dup:
        cols = [k for k, v in columns.items() if v == dup[0]]
        raise ValueError(f"`columns` maps {len(cols)} columns {few(cols)} to the same item {dup[0]!r}.")
    out: dict[Any, str] = {}
    keys_of: dict[Any, list[Any]] = {}
    for k, v in columns.items():
        if k in data.columns:  # a name you wrote out exactly is the column you mean
            col = k
        else:
            hits = _case_matches(k, data.columns, folded)
            if len(hits) > 1:
                raise _ambiguous(k, hits, "the `columns` key")
            col = hits[0]
        out[col] = v
        keys_of.setdefault(col, []).append(k)
    same = {col: keys for col, keys in keys_of.items() if len(keys) > 1}
    if same:
        col, keys = next(iter(same.items()))
        raise ValueError(
            f"`columns` keys {few(keys)} name the same column {col!r} of `data` (names are matched regardless of "
            "letter case); map each column once."
        )
    return out


def _free(columns: pd.Index, claimed: set[str]) -> list[Any]:
    """The columns no item claims (the candidates of a "did you mean" hint)."""
    return [c for c in columns.tolist() if str(c).casefold() not in claimed]


def _column_map(data: pd.DataFrame, inst: Instrument, columns: Any, survey_year: Any) -> dict[str, Any]:
    """item id -> data column; errors name the item, the column expected and any near miss in ``data``."""
    expected: dict[str, tuple[Any, str]] = {}  # item -> (column, where the rule came from)
    if survey_year is not None:
        if isinstance(survey_year, (bool, np.bool_)) or not isinstance(survey_year, (int, np.integer, str)):
            raise TypeError(f"`survey_year` must be a year (int) or a questionnaire version (str); got "
                            f"{type(survey_year).__name__} {survey_year!r}.")
        for col, iid in inst.columns_for(survey_year).items():
            expected[iid] = (col, f"survey_year={survey_year!r}")
    if columns is not None:
        for col, iid in _check_columns_arg(data, inst, columns).items():
            expected[iid] = (col, "columns")
    needed = _needed_items(inst)
    out: dict[str, Any] = {}
    problems: list[str] = []
    # "did you mean" hints come from the columns no other item claims
    claimed = {str(expected[i][0] if i in expected else i).casefold() for i in needed}
    folded = _folded(data.columns)
    for iid in needed:
        if iid in expected:
            col, where = expected[iid]
            if where == "columns":  # already resolved to a column of `data`
                out[iid] = col
                continue
            hits = _case_matches(col, data.columns, folded)
            if len(hits) > 1:
                raise _ambiguous(col, hits, f"the question code of item {iid!r} ({where})")
            if hits:
                out[iid] = hits[0]
                continue
            near = _near_miss(col, data.columns)
            hint = f"; `data` has {near!r}" if near is not None else did_you_mean(col, _free(data.columns, claimed)).rstrip("?")
            problems.append(f"item {iid!r} expects column {col!r} ({where}){hint.replace(' Did you mean', '; did you mean')}")
            continue
        hits = _case_matches(iid, data.columns, folded)
        if len(hits) > 1:
            raise _ambiguous(iid, hits, "item")
        if hits:
            out[iid] = hits[0]
        else:
            near = _near_miss(iid, data.columns)
            hint = f"; `data` has {near!r}" if near is not None else did_you_mean(iid, _free(data.columns, claimed)).rstrip("?")
            problems.append(f"item {iid!r} (no column {iid!r}){hint.replace(' Did you mean', '; did you mean')}")
    if not problems:
        readers: dict[Any, list[str]] = {}
        for iid, col in out.items():
            readers.setdefault(col, []).append(iid)
        shared = {col: ids for col, ids in readers.items() if len(ids) > 1}
        if shared:
            col, ids = next(iter(shared.items()))
            raise ValueError(
                f"`data` column {col!r} would be read for {len(ids)} items {few(ids)} of instrument {inst.id!r} "
                f"({len(shared)} column(s) in all), counting one answer several times. Item ids are matched to "
                "columns regardless of letter case: give each item its own column with `columns` "
                "({'your_column': 'item_id'}), or rename the items."
            )
    if problems:
        maps = f" Question-code maps of {inst.id!r}: survey_year in {sorted(inst.mappings)}." if inst.mappings else ""
        raise ValueError(
            f"`data` lacks the column(s) for {len(problems)} of the {len(needed)} item(s) of instrument {inst.id!r}: "
            + "; ".join(problems[:5]) + (f"; ... ({len(problems)} in all)" if len(problems) > 5 else "")
            + ". Column names are matched regardless of letter case: rename them, or map your column names with "
            "`columns` ({'your_column': 'item_id'}) or `survey_year`." + maps
        )
    return out


def _min_items(inst: Instrument, min_items: Any) -> dict[str, int]:
    if min_items is None:
        return dict(inst.min_items)
    if isinstance(min_items, Mapping):
        unknown = [k for k in min_items if k not in inst.subscales]
        if unknown:
            raise ValueError(f"`min_items` names unknown subscale(s) {few(unknown)}; subscales: {list(inst.subscales)}."
                             + did_you_mean(unknown[0], inst.subscales))
        out = dict(inst.min_items)
        out.update(min_items)
    else:
        out = {k: min_items for k in inst.subscales}
    for k, m in out.items():
        size = len(inst.subscales[k])
        if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)) or not 1 <= m <= size:
            raise ValueError(f"`min_items` for subscale {k!r} must be an integer in [1, {size}]; got {m!r}.")
        out[k] = int(m)
    return out


def _check_data(data: Any) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        hint = (" Build one with pd.DataFrame(records) from a list of dicts, or pd.DataFrame(array, columns=[...])."
                if isinstance(data, (list, tuple, dict, np.ndarray, pd.Series)) else "")
        raise TypeError(
            f"`data` must be a pandas DataFrame with one row per respondent and one column per item; "
            f"got {type(data).__name__}.{hint}"
        )
    return check_frame(data, "data")


class ScoreTable(pd.DataFrame):
    """The scores :func:`score` returns: a DataFrame that carries its ``provenance``.

    Everything a DataFrame does works unchanged; a table derived from it
    (a selection, ``round``, arithmetic, ``groupby``) is a plain DataFrame
    without the provenance, since it may no longer be the instrument's
    scores.

    Attributes
    ----------
    provenance : Provenance
        Instrument id, name, version, status, the unconfirmed parts of the
        rule, the ``survey_year`` map and the ``(item, column)`` pairs read.

    Notes
    -----
    The provenance is an attribute of the object (pickled with it), never
    in ``DataFrame.attrs``.

    R: none.

    Examples
    --------
    >>> import teamculture as tc
    >>> df = pd.DataFrame({"A1": [1, 5], "A2": [4, 2]})
    >>> s = tc.score(df, {"agree": ["-A1", "A2"]}, scale=(1, 5))
    >>> type(s).__name__, s.provenance.instrument_id, s.provenance.columns
    ('ScoreTable', 'keys', (('A1', 'A1'), ('A2', 'A2')))
    """

    _metadata = ["provenance"]
    provenance: Provenance | None = None

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame


def _records(data: Any) -> Any:
    """A list (or tuple) of dicts as a DataFrame (one record per respondent); anything else unchanged."""
    if not isinstance(data, (list, tuple)):
        return data
    if not data:
        raise ValueError("`data` is an empty list of records; pass one dict per respondent ({'item': code, ...}).")
    bad = [i for i, r in enumerate(data) if not isinstance(r, Mapping)]
    if bad:
        raise TypeError(
            f"`data` as a list must hold one dict per respondent; {len(bad)} of {len(data)} record(s) are not "
            f"dicts (positions {few(bad)}, e.g. {type(data[bad[0]]).__name__}). For an array, build "
            "pd.DataFrame(array, columns=[...])."
        )
    keys = [k for r in data for k in r]
    odd = sorted({type(k).__name__ for k in keys if not isinstance(k, str)})
    if odd:
        raise TypeError(f"`data` records must have str keys (column names); got keys of type {odd}.")
    nested = [(i, k) for i, r in enumerate(data) for k, v in r.items()
              if isinstance(v, (list, tuple, dict, set, np.ndarray, pd.Series))]
    if nested:
        i, k = nested[0]
        raise TypeError(
            f"`data` records must hold one answer (a code or a label) per key; {len(nested)} value(s) are "
            f"containers, e.g. record {i}, key {k!r}: {type(data[i][k]).__name__}."
        )
    return pd.DataFrame.from_records(list(data))


@dataclass(frozen=True)
class _ScoreSpec:
    """What :func:`score`, :func:`score_groups` and :func:`keyed_items` validated."""

    inst: Instrument
    colmap: dict[str, Any]
    mins: dict[str, int]
    invalid: str


def _validate_score(data: Any, instrument: Any, columns: Any, survey_year: Any, min_items: Any,
                    invalid: Any, scale: Any) -> _ScoreSpec:
    data = _check_data(data)
    inst = _resolve_instrument(instrument, scale, "instrument")
    invalid = check_invalid(invalid)
    colmap = _column_map(data, inst, columns, survey_year)
    mins = _min_items(inst, min_items) if inst.classification is None else {}
    return _ScoreSpec(inst, colmap, mins, invalid)


def _warn_invalid(n_invalid: Mapping[str, int], colmap: Mapping[str, Any]) -> None:
    """One counted DroppedDataWarning for the codes set to missing under ``invalid="missing"``."""
    if not n_invalid:
        return
    total = sum(n_invalid.values())
    detail = ", ".join(f"{iid!r} (column {colmap[iid]!r}): {k}" for iid, k in n_invalid.items())
    warn(f"{total} code(s) outside the response scale were set to missing (invalid='missing') in `data`: {detail}.",
         DroppedDataWarning)


#: largest number of rows per block in :func:`score` (the blocks of item columns and the accumulators
#: stay in the CPU cache). On the 2-core benchmark machine 2**17 rows per block (1 MB per column)
#: was as fast as 2**15 on one thread and fastest on two (700,000 x 100 items, load 0.4-0.8: two
#: threads 0.088-0.098 s at 2**17 against 0.119-0.128 s at 2**16 and 0.106-0.123 s at 2**18; one
#: thread 0.141-0.157 s at 2**17, 0.147-0.167 s at 2**15), see benchmarks/bench_scoring.py.
_CHUNK = 1 << 17


@dataclass(frozen=True)
class _KeyGroup:
    """Items of one subscale sharing their keying ``a * code + b`` (and the fast-path constants).

    The fast path (:func:`_fast_block`) adds the items' codes into one float
    accumulator that starts at ``offset``, a missing answer counting as
    ``fill`` (a power of two above any sum of codes). Every partial sum then
    lies in ``[2**k, 2**(k + 1))``, where each integer has its lowest
    ``52 - k`` mantissa bits zero (``mask``).
    """

    a: float
    b: float
    items: tuple[str, ...]
    scales: tuple[ResponseScale, ...]
    fill: float
    offset: float
    mask: int
    fast: bool  # non-negative, consecutive integer codes: the fast path applies
    fill_bits: int = 0  # bit pattern of ``fill`` as an int64
    low_bits: tuple[int, ...] = ()  # bit patterns of the items' lowest codes


def _key_groups(inst: Instrument, ids: Sequence[str]) -> list[_KeyGroup]:
    """A subscale's items grouped by their keying (a, b), in first-seen order, with the fast-path constants."""
    members: dict[tuple[float, float], list[str]] = {}
    for iid in ids:
        members.setdefault(_affine(inst, iid), []).append(iid)
    out = []
    for (a, b), items in members.items():
        scales = tuple(inst.scale_for(i) for i in items)
        J = len(items)
        top = max(sc.high for sc in scales)
        fast = all(_consecutive(sc.codes) and sc.low >= 0 for sc in scales)
        fill, k = 1.0, 1
        if fast:
            fill = 2.0 ** int(np.ceil(np.log2(J * top + 1.0)))  # > any sum of answered codes
            k = int(np.ceil(np.log2(J * fill + 1.0)))  # partial sums in [0, J * fill]
            fast = k <= 45
        out.append(_KeyGroup(a=a, b=b, items=tuple(items), scales=scales, fill=fill, offset=2.0 ** k,
                             mask=(1 << (52 - k)) - 1 if fast else 0, fast=fast,
                             fill_bits=int(np.array(fill).view(np.int64)),
                             low_bits=tuple(int(np.array(sc.low).view(np.int64)) for sc in scales)))
    return out


def _below_top(x: np.ndarray, sc: ResponseScale) -> np.ndarray | None:
    """``x`` (or a copy with the scale's "does not apply" codes as NaN) if no value exceeds the top code; else None."""
    # (signalling NaNs: the caller, _score_blocks, ignores "invalid value" floating-point errors)
    hi = np.fmax.reduce(x)
    if hi <= sc.high:
        return x
    if np.isnan(hi):  # every value missing, or a signalling NaN upset fmax: the exact path decides
        return x if bool(np.isnan(x).all()) else None
    if sc.missing_codes:
        dk = np.isin(x, sc.missing_codes)
        if dk.any():
            x = np.where(dk, np.nan, x)
            hi = np.fmax.reduce(x)
            if hi <= sc.high or (np.isnan(hi) and bool(np.isnan(x).all())):
                return x
    return None


def _fast_block(xs: Sequence[np.ndarray], g: _KeyGroup, T: np.ndarray, t: np.ndarray) -> bool:
    """Fast path for one key group over a block of rows; False means "use the exact path".

    For each item, in one float addition per value: ``T += min(x, fill)``
    with NaN as ``fill`` (an integer ``minimum`` on the bit patterns: NaN's
    bits exceed every positive float's). Checks, all reductions: no code above
    the scale's top (NaN-ignoring max), none below its bottom (integer min of
    the filled bits: negative numbers, -0.0 and negative NaNs fail too), and
    after each item ``OR(bits(T)) & mask == 0``, which proves that the codes
    added so far are integers (values within ~1e-14 of an integer round to
    it, as the core's 1e-9 tolerance accepts them). On success ``T`` holds
    ``offset + sum of answered codes + fill * missing answers``.
    """
    ti = t.view(np.int64)
    first = True
    for x, sc, low_bits in zip(xs, g.scales, g.low_bits):
        if not np.fmax.reduce(x) <= sc.high:  # (NaN: all missing, or a signalling NaN upset fmax)
            x = _below_top(x, sc)
            if x is None:
                return False
        if x.dtype.kind == "f":
            np.minimum(x.view(np.int64), g.fill_bits, out=ti)
            if np.minimum.reduce(ti) < low_bits:
                return False
        else:  # integer codes: no missing values
            if x.min() < sc.low:
                return False
            t[:] = x
        if first:  # T = offset + t (no separate pass to set T to the offset)
            np.add(t, g.offset, out=T)
            first = False
        else:
            np.add(T, t, out=T)
        if int(np.bitwise_or.reduce(T.view(np.uint64))) & g.mask:
            return False
    return True


def _decode_block(T: np.ndarray, C: np.ndarray, t: np.ndarray, g: _KeyGroup) -> None:
    """Turn a fast block's accumulator ``T`` into keyed sums ``a * S + b * C`` (in ``T``) and counts ``C``.

    ``T = offset + S + fill * M`` with ``0 <= S < fill``, ``fill`` and ``offset``
    powers of two and ``offset >= fill`` (exact integers): ``q = floor(T / fill)
    = offset / fill + M``, ``S = T - fill * q``, and ``C = J - M`` answered
    items. ``t`` is scratch.
    """
    np.multiply(T, 1.0 / g.fill, out=t)
    np.floor(t, out=t)  # q
    np.subtract(len(g.items) + g.offset / g.fill, t, out=C)
    np.multiply(t, g.fill, out=t)
    np.subtract(T, t, out=T)  # S
    if g.a != 1.0:
        np.multiply(T, g.a, out=T)
    if g.b != 0.0:
        np.multiply(C, g.b, out=t)
        np.add(T, t, out=T)


def _exact_block(xs: Sequence[np.ndarray], g: _KeyGroup, cols: Sequence[Any], full: Sequence[np.ndarray],
                 invalid: str, n_invalid: dict[str, int], T: np.ndarray, C: np.ndarray) -> None:
    """Keyed sums (into ``T``) and answer counts (into ``C``) by the exact path.

    Every code is compared with the scale's codes; invalid codes raise (naming
    the column and counting them over the whole column) or are counted in
    ``n_invalid``.
    """
    T.fill(0.0)
    C.fill(0.0)
    for x, iid, sc, col, whole in zip(xs, g.items, g.scales, cols, full):
        x0, ok, bad = _check_codes(x, sc)
        if bad is not None:
            nbad = int(np.count_nonzero(bad))
            if nbad:
                if invalid == "raise":
                    _raise_invalid(col, iid, sc, np.asarray(whole, dtype=float), _check_codes(whole, sc)[2])
                n_invalid[iid] = n_invalid.get(iid, 0) + nbad
        T += x0
        C += ok
    if (g.a, g.b) != (1.0, 0.0):
        T[:] = g.a * T + g.b * C


#: most threads for :func:`score` on large data (blocks of rows are independent; numpy releases the
#: GIL inside its loops). Two, or fewer if the process may use fewer CPUs, and never more threads than
#: blocks. Threads pay only with large blocks: a numpy call on 2**15 rows takes a few microseconds,
#: and two threads handing the GIL back and forth at that rate were slower than one (0.233 s vs
#: 0.200 s); with blocks of 2**17 rows two threads take 0.09-0.10 s against one thread's 0.14-0.16 s.
#: More than two were not measured (the benchmark machine has two cores). The numbers do not depend
#: on the number of threads (tests/scoring/test_fast_path.py).
_THREADS = 2


def _blocks(n: int) -> tuple[int, int]:
    """(rows per block, threads) for ``n`` rows: at most :data:`_CHUNK` rows per block, the blocks as
    equal as possible and, with threads, a multiple of their number (each thread gets as many rows)."""
    nblocks = max(1, -(-n // _CHUNK))
    workers = max(1, min(_THREADS, _usable_cpus(), nblocks))
    nblocks = -(-nblocks // workers) * workers
    return max(1, -(-n // nblocks)), workers


def _score_blocks(starts: Sequence[int], chunk: int, n: int, raw: Mapping[str, np.ndarray], plans: Sequence[Any],
                  inst: Instrument, colmap: Mapping[str, Any], mins: Mapping[str, int], invalid: str,
                  out: np.ndarray) -> dict[str, int]:
    """Score the blocks of ``chunk`` rows starting at ``starts`` into ``out``; returns the invalid codes counted."""
    # signalling NaNs (R's NA_real_ bit pattern) must not warn "invalid value" (errstate is per thread)
    with np.errstate(invalid="ignore"):
        return _score_blocks_unchecked(starts, chunk, n, raw, plans, inst, colmap, mins, invalid, out)


def _score_blocks_unchecked(starts: Sequence[int], chunk: int, n: int, raw: Mapping[str, np.ndarray], plans: Sequence[Any],
                            inst: Instrument, colmap: Mapping[str, Any], mins: Mapping[str, int], invalid: str,
                            out: np.ndarray) -> dict[str, int]:
    """The body of :func:`_score_blocks`."""
    n_invalid: dict[str, int] = {}
    method = inst.scoring.method
    size = min(n, chunk)
    T1, T2, C1, C2, t = (np.empty(size) for _ in range(5))
    for start in starts:
        stop = min(n, start + chunk)
        m = stop - start
        for row, name, ids, groups in plans:
            for k, g in enumerate(groups):
                T, C = (T1[:m], C1[:m]) if k == 0 else (T2[:m], C2[:m])
                xs = [raw[i][start:stop] for i in g.items]
                if g.fast and _fast_block(xs, g, T, t[:m]):
                    _decode_block(T, C, t[:m], g)
                else:
                    _exact_block(xs, g, [colmap[i] for i in g.items], [raw[i] for i in g.items], invalid,
                                 n_invalid, T, C)
                if k > 0:
                    T1[:m] += T
                    C1[:m] += C
            res = out[row, start:stop]
            with np.errstate(invalid="ignore", divide="ignore"):
                np.divide(T1[:m], C1[:m], out=res)  # 0 / 0 = NaN where nothing was answered
            if mins[name] > 1:
                res[C1[:m] < mins[name]] = np.nan
            if method == "sum":
                res *= len(ids)
    return n_invalid


def _scores_fast(
    data: pd.DataFrame, inst: Instrument, colmap: dict[str, Any], mins: dict[str, int], invalid: str
) -> tuple[np.ndarray, dict[str, int]]:
    """Scores of a scale instrument as an array (score, respondent): subscales, then composites.

    Rows are processed in cache-sized blocks. Per subscale, items sharing
    their keying (a, b) are summed together: the fast path
    (:func:`_fast_block`, :func:`_decode_block`) where the block passes its
    checks, the exact path (:func:`_exact_block`) otherwise; the tests compare
    both on random data with missing, invalid and "does not apply" codes.
    The keyed sum of a group is ``a * S + b * C`` (S the sum of the answered
    codes, C their number), i.e. ``sum_j (a x_j + b)`` over the answered items,
    and the score ``sum over groups / sum of C`` (times the number of items
    for "sum" scoring).
    """
    n = len(data)
    raw = {iid: _column_codes(data[col], inst.scale_for(iid), col) for iid, col in colmap.items()}
    names = inst.score_names
    out = np.empty((len(names), n))
    plans = [(row, name, ids, _key_groups(inst, ids)) for row, (name, ids) in enumerate(inst.subscales.items())]
    chunk, workers = _blocks(n)
    starts = list(range(0, n, chunk))
    if workers <= 1:
        n_invalid = _score_blocks(starts, chunk, n, raw, plans, inst, colmap, mins, invalid, out)
    else:
        # numpy releases the GIL inside its loops: blocks of rows are scored in parallel, each thread writing
        # its own rows of ``out``; the numbers do not depend on the number of threads
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = [pool.submit(_score_blocks, starts[w::workers], chunk, n, raw, plans, inst, colmap, mins, invalid, out)
                     for w in range(workers)]
            counted = [f.result() for f in parts]
        n_invalid = {}
        for c in counted:
            for iid, k in c.items():
                n_invalid[iid] = n_invalid.get(iid, 0) + k
    k = len(inst.subscales)
    for row, subs in enumerate(inst.composites.values(), start=k):
        res = out[row]
        res[:] = out[names.index(subs[0])]
        for sname in subs[1:]:
            res += out[names.index(sname)]
        res /= len(subs)
    return out, {i: n_invalid[i] for i in colmap if i in n_invalid}


def _scores(
    data: pd.DataFrame, inst: Instrument, colmap: dict[str, Any], mins: dict[str, int], invalid: str,
    keep_items: bool = True,
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]], dict[str, int]]:
    n = len(data)
    items: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if inst.classification is None and not keep_items:
        arr, n_invalid = _scores_fast(data, inst, colmap, mins, invalid)
        # one (respondent x score) block, not copied: the columns are views of ``arr``
        return pd.DataFrame(arr.T, index=data.index, columns=pd.Index(list(inst.score_names)), copy=False), \
            items, n_invalid
    else:
        items, n_invalid = _read_items(data, inst, colmap, invalid)
        if inst.classification is not None:
            rule = inst.classification
            cat = pd.Categorical.from_codes(_classify(items, inst, n), categories=list(rule.categories))
            return pd.DataFrame({rule.name: cat}, index=data.index), items, n_invalid
        cols = {name: _subscale_scores(items, inst, ids, mins[name], inst.scoring.method, n)
                for name, ids in inst.subscales.items()}
    for name, subs in inst.composites.items():
        comp = cols[subs[0]].copy()
        for sname in subs[1:]:
            comp += cols[sname]
        cols[name] = comp / len(subs)
    return pd.DataFrame(cols, index=data.index), items, n_invalid


def score(
    data: pd.DataFrame,
    instrument: Any,
    *,
    columns: Mapping[Any, str] | None = None,
    survey_year: int | str | None = None,
    min_items: int | Mapping[str, int] | None = None,
    invalid: str = "raise",
    scale: Any = None,
) -> pd.DataFrame:
    """Score each respondent on an instrument's subscales.

    Parameters
    ----------
    data : pandas.DataFrame or list of dict
        One row per respondent and one column per item, holding numeric codes
        (also written as text, ``"4"``) or the scale's text labels ("Strongly
        agree"; case and spacing are ignored), or records (one dict per respondent, ``{"q9f": 4, ...}``;
        a key absent from a record is a missing answer). Not modified. (An
        array: wrap it in ``pd.DataFrame`` first.)
    instrument : str, Instrument, dict or psych-style keys
        A catalogue id (see :func:`teamculture.instruments.available`), an
        :class:`~teamculture.Instrument`, a definition dict, or keys such as
        ``{"agree": ["-A1", "A2"]}`` (then ``scale`` is required).
    columns : dict, optional
        Maps your column names to item ids (``{"q9f": "cl1"}``). Columns
        named like the item ids are used directly. Names and question
        codes are matched regardless of letter case (``Q9F`` is ``q9f``);
        columns of ``data`` that differ only in letter case are refused as
        ambiguous. An error names the item, the column it expected and a
        close column of ``data`` ("did you mean").
    survey_year : int or str, optional
        Use the instrument's question-code mapping for this survey year
        (e.g. 2021: ``q9f`` -> ``cl1``).
    min_items : int or dict, optional
        Minimum number of answered items for a subscale score (one number for
        all subscales, or per subscale); default: the definition's.
    invalid : {"raise", "missing"}, default "raise"
        Codes outside the declared scale raise ``ValueError`` naming the
        column, a few bad values and the row count; with ``"missing"`` they
        become missing and a
        :class:`~teamculture.errors.DroppedDataWarning` counts them per item.
    scale : (low, high), sequence of codes or ResponseScale, optional
        The declared response scale for psych-style keys (refused with a
        catalogue instrument, which declares its own).

    Returns
    -------
    ScoreTable
        A DataFrame aligned to ``data.index`` (records: 0, 1, ...): one float
        column per subscale then per composite (``Instrument.score_names``),
        or, for classification instruments, one categorical column (e.g.
        ``team_type`` with categories real/pseudo/none; unclassifiable
        respondents are missing). ``result.provenance``
        (:class:`~teamculture.instruments.Provenance`) names the instrument
        id, version, status, unconfirmed rules and the columns read. Nothing
        is stored in ``DataFrame.attrs``; missing scores are
        ``result.isna().sum()`` and invalid codes set to missing are counted
        in the warning.

    Notes
    -----
    With keyed codes :math:`x_{ij}` (reverse-keyed items replaced by
    :math:`L + H - x_{ij}`, where :math:`L, H` are the *declared* scale
    bounds, never the observed ones), optionally rescaled to the rule's range
    :math:`[a, b]` as :math:`a + (x - L)(b - a)/(H - L)` (NHS Staff Survey
    0-10: 0, 2.5, 5, 7.5, 10; SAQ 0-100), the subscale score of respondent
    :math:`i` is the mean over the answered items :math:`A_i` of the
    subscale,

    .. math:: s_i = \\frac{1}{|A_i|} \\sum_{j \\in A_i} x_{ij}
              \\quad\\text{if } |A_i| \\ge m, \\text{ else missing},

    with :math:`m` the minimum-items rule; "sum" scoring reports
    :math:`k\\, s_i` (the sum, prorated when items are missing). No
    imputation. A composite is the mean of its subscale scores (missing if
    any is). Codes declared "not applicable"/"don't know" count as missing.

    Most catalogue rules are *reconstructed* from secondary sources
    (``Instrument.status``; what is unconfirmed is listed in
    ``Instrument.unconfirmed`` and on the catalogue pages); check them
    before publishing scores.

    ``psych::scoreItems`` gives the same means with ``impute = "none"``,
    ``min = L, max = H`` and ``min_items = 1`` (psych's defaults,
    ``impute = "median"`` and bounds from the observed data, differ).

    R: ``psych::scoreItems(keys, items, totals = FALSE, impute = "none", min = L, max = H)$scores``

    References
    ----------
    .. [1] Revelle W. psych: Procedures for Psychological, Psychometric, and
       Personality Research. R package, ``scoreItems``.
    .. [2] NHS England. NHS Staff Survey technical guide (theme scores on 0-10).

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey("tiny", rng=1)
    >>> s = tc.score(sim.staff, "nhs-engagement")
    >>> list(s.columns)
    ['motivation', 'involvement', 'advocacy', 'engagement']
    >>> bool(s["engagement"].between(0, 10).all())
    True
    >>> t = tc.score(sim.staff, "real-team")
    >>> bool((t["team_type"] == sim.staff["team_type"]).all())
    True
    >>> df = pd.DataFrame({"A1": [1, 5, 4], "A2": [4, 2, None]})
    >>> tc.score(df, {"agree": ["-A1", "A2"]}, scale=(1, 5))
       agree
    0    4.5
    1    1.5
    2    2.0
    >>> answers = pd.DataFrame({
    ...     "q9f": ["Agree", "Strongly agree"], "q9g": ["agree", "Disagree"],
    ...     "q9h": ["Neither agree nor disagree", None], "q9i": ["Agree", "Strongly agree"]})
    >>> tc.score(answers, "nhs-compassionate-leadership", survey_year=2021).round(3)
       compassionate_leadership
    0                     6.875
    1                     7.500
    >>> tc.score([{"Q9F": 4, "q9g": 4, "q9h": 3, "q9i": 4}], "nhs-compassionate-leadership",
    ...          survey_year=2021).provenance.columns[0]
    ('cl1', 'Q9F')
    """
    data = _records(data)
    spec = _validate_score(data, instrument, columns, survey_year, min_items, invalid, scale)
    out, _, n_invalid = _scores(data, spec.inst, spec.colmap, spec.mins, spec.invalid, keep_items=False)
    _warn_invalid(n_invalid, spec.colmap)
    table = ScoreTable(out, copy=False)
    table.provenance = Provenance._of(spec.inst, survey_year, spec.colmap)
    return table


def keyed_items(
    data: pd.DataFrame,
    instrument: Any,
    *,
    columns: Mapping[Any, str] | None = None,
    survey_year: int | str | None = None,
    invalid: str = "raise",
    scale: Any = None,
) -> pd.DataFrame:
    """Validated, reverse-keyed item responses (the input to reliability analysis).

    Parameters
    ----------
    data, instrument, columns, survey_year, invalid, scale
        As in :func:`score`.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``data.index``, one float column per item the instrument
        scores (item ids, questionnaire order): reverse-keyed items replaced by
        ``low + high - code`` with the declared bounds, missing answers and
        "does not apply" codes as NaN, no rescaling. Invalid codes set to
        missing (``invalid="missing"``) are counted in a
        :class:`~teamculture.errors.DroppedDataWarning`.

    Notes
    -----
    R: ``psych::reverse.code(keys, items, mini = low, maxi = high)``.

    Examples
    --------
    >>> import teamculture as tc
    >>> df = pd.DataFrame({"ps1": [1, 7], "ps2": [2, None], "ps3": [None, 3], "ps4": [4, 4],
    ...                    "ps5": [5, 5], "ps6": [6, 6], "ps7": [7, 7]})
    >>> tc.scoring.keyed_items(df, "psych-safety-7")[["ps1", "ps2", "ps3"]]
       ps1  ps2  ps3
    0  7.0  2.0  NaN
    1  1.0  NaN  5.0
    """
    data = _records(data)
    spec = _validate_score(data, instrument, columns, survey_year, None, invalid, scale)
    inst = spec.inst
    if inst.classification is not None:
        raise ValueError(f"`instrument` {inst.id!r} is a classification rule; keyed items need scale items.")
    items, n_invalid = _read_items(data, inst, spec.colmap, spec.invalid)
    cols = {}
    for iid in [i for i in inst.item_ids if i in items]:
        x0, ok = items[iid]
        sc = inst.scale_for(iid)
        v = np.where(ok, x0, np.nan)
        cols[iid] = sc.low + sc.high - v if inst.item(iid).reverse else v
    _warn_invalid(n_invalid, spec.colmap)
    return pd.DataFrame(cols, index=data.index)


# ---------------------------------------------------------------------------
# group scores
# ---------------------------------------------------------------------------
@result_class
class GroupScores(Result):
    """Scores aggregated to groups (teams, trusts...); returned by :func:`score_groups`.

    Every table is indexed by the group labels (sorted; a MultiIndex, outer
    level first, when ``by`` names several nested columns); its columns
    depend only on the instrument.

    Attributes
    ----------
    means : pandas.DataFrame
        (Weighted) mean of the respondent scores, one column per subscale and
        composite (no columns for classification instruments).
    counts : pandas.DataFrame
        Respondents with a score, same columns as ``means``.
    n_respondents : pandas.Series
        Rows per group.
    item_percent_positive : pandas.DataFrame
        Per item with defined positive codes: % of valid responses that are
        positive (keyed codes in the scale's ``positive`` codes).
    percent_positive : pandas.DataFrame
        Composite percent positive per subscale (AHRQ SOPS rule: mean of the
        items' percent positive); columns only if the instrument's rule
        defines percent positive.
    score_percent_positive : pandas.DataFrame
        % of respondents with a score at least ``scoring.score_positive``
        (SAQ: 75), per subscale; columns only if that threshold is defined.
    category_counts : pandas.DataFrame
        For classification instruments: respondents per category and
        ``unclassified`` (no columns otherwise).
    category_percent : pandas.DataFrame
        Category shares in % with the stated ``denominator``.
    denominator : str
        ``"all"`` (all respondents of the group), ``"classified"`` or
        ``"in_team"`` (the first two categories only).
    weighted : bool
        Whether respondent weights were applied.
    by : tuple of str
        The grouping column(s), outer first.
    n_invalid : dict
        Item -> invalid codes set to missing (``invalid="missing"``).
    instrument : Instrument
        The instrument scored.
    n_obs : int
        Respondents (rows of ``data``).
    n_dropped : int
        Codes outside the response scale set to missing (the sum of
        ``n_invalid``); no respondent is dropped.
    n_groups : int or pandas.Series
        Number of groups; for nested ``by``, a Series with the number per
        level.
    """

    means: pd.DataFrame
    counts: pd.DataFrame
    n_respondents: pd.Series
    item_percent_positive: pd.DataFrame
    percent_positive: pd.DataFrame
    score_percent_positive: pd.DataFrame
    category_counts: pd.DataFrame
    category_percent: pd.DataFrame
    denominator: str
    weighted: bool
    by: tuple[str, ...]
    n_invalid: dict = field(default_factory=dict)
    instrument: Instrument

    @property
    def provenance(self) -> Provenance:
        """The instrument's id, name, version, status and unconfirmed rules (:class:`~teamculture.instruments.Provenance`)."""
        return Provenance._of(self.instrument)

    def to_frame(self) -> pd.DataFrame:
        """One row per group: ``n_respondents`` then the group means (or the category shares in %)."""
        main = self.category_percent if self.instrument.classification is not None else self.means
        return pd.concat([self.n_respondents, main], axis=1)

    def summary(self) -> Summary:
        """Groups, respondents and the distribution of the group scores over groups."""
        inst = self.instrument
        n_groups = self.n_groups if isinstance(self.n_groups, int) else \
            ", ".join(f"{int(v):,} {k}" for k, v in self.n_groups.items())
        header: list[tuple[str, Any]] = [
            ("instrument", f"{inst.name} [{inst.id} {inst.version}], {inst.status}"),
            ("grouped by", ", ".join(self.by)),
            ("groups", n_groups if isinstance(n_groups, str) else int(n_groups)),
            ("respondents", int(self.n_obs)),
            ("weighted", self.weighted),
        ]
        if inst.classification is not None:
            header.append(("denominator", self.denominator))
            main = self.category_percent
            caption = "Category share (%) over groups"
        else:
            main = self.means
            caption = "Group means over groups"
        if self.n_dropped:
            header.append(("invalid codes set missing", int(self.n_dropped)))
        table = pd.DataFrame({"mean": main.mean(), "sd": main.std(), "min": main.min(), "max": main.max(),
                              "groups": main.notna().sum().astype(np.int64)})
        notes = []
        if inst.status == "reconstructed":
            notes.append(f"the scoring rule of {inst.id!r} is reconstructed from secondary sources; "
                         f"{len(inst.unconfirmed)} point(s) are unconfirmed (instrument.unconfirmed).")
        empty = int((main.isna().all(axis=1)).sum()) if main.shape[1] else 0
        if empty:
            notes.append(f"{empty} group(s) have no score (no respondent met the minimum-items rule, "
                         "or zero total weight).")
        return Summary("Group scores", header=header, tables=[(caption, table)], notes=notes)


def _groups_from_by(data: pd.DataFrame, by: Any, name: str = "by") -> Groups:
    """Groups from column name(s) of ``data``; a list is nested keys, outer first."""
    if isinstance(by, (pd.Series, pd.Index, np.ndarray, pd.DataFrame, pd.Categorical)):
        raise TypeError(
            f"`{name}` must name column(s) of `data` (a list = nested keys, outer first); got a "
            f"{type(by).__name__} of labels. Add the labels as a column first, e.g. data.assign(group=labels), "
            f"and pass {name}='group'."
        )
    if isinstance(by, (list, tuple)) and by and not all(isinstance(c, (str, int, np.integer)) for c in by):
        raise TypeError(f"`{name}` must be a column name or a list of column names of `data`; got a list holding "
                        f"{few([type(c).__name__ for c in by])}.")
    if isinstance(by, (list, tuple)) and len(by) == len(data) > 1 and not all(c in data.columns for c in by):
        raise TypeError(
            f"`{name}` must name column(s) of `data` (a list = nested keys, outer first); got a list of {len(by)} "
            f"values, one per row ({few(by, 3)}): labels, not column names. Add them as a column first, e.g. "
            f"data.assign(group=labels), and pass {name}='group'."
        )
    cols = check_columns(data, by, name)
    # a frame of label columns (also for one): each level is named after its column, also a column named 0
    groups, missing = Groups.from_labels(data[cols], name=name)
    if missing.any():
        rows = data.index[missing]
        bad = [c for c in cols if data[c].isna().any()]
        raise ValueError(
            f"`{name}` column(s) {few(bad)} have missing labels in {int(missing.sum())} row(s) (rows "
            f"{few(rows.tolist())}); every respondent needs a group: drop or label those rows first."
        )
    return groups


def _weights(data: pd.DataFrame, weights: Any) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, (str, int, np.integer)) and not isinstance(weights, (bool, np.bool_)):
        col = check_columns(data, weights, "weights")[0]
        w = data[col]
    elif isinstance(weights, pd.DataFrame):
        raise TypeError("`weights` must be a column name of `data`, a Series aligned on its index or one number "
                        "per row; got a DataFrame.")
    else:
        w = align(weights, data.index, name="weights", ref_name="data")
    if isinstance(w, pd.Series) and not (pd.api.types.is_numeric_dtype(w.dtype)
                                         and not pd.api.types.is_bool_dtype(w.dtype)):
        raise TypeError(f"`weights` must be numeric; got dtype {w.dtype}.")
    try:
        arr = np.asarray(w.to_numpy(dtype=float, na_value=np.nan) if isinstance(w, pd.Series) else w, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`weights` must be numbers; got {few(list(np.ravel(np.asarray(w, dtype=object)))[:3])}.") \
            from None
    if arr.ndim != 1 or len(arr) != len(data):
        raise ValueError(f"`weights` must hold one number per row of `data` ({len(data)}); got shape {arr.shape}.")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise ValueError(
            f"`weights` must be finite and >= 0; {int(bad.sum())} bad value(s) {few(np.unique(arr[bad]).tolist())}."
        )
    return arr


def _gsum(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Group sums of the columns of ``values`` (n, m) as (G, m), through the core ``group_sum``."""
    return group_sum(codes, np.ascontiguousarray(values.T), n_groups)


def score_groups(
    data: pd.DataFrame,
    instrument: Any,
    *,
    by: str | Sequence[str],
    columns: Mapping[Any, str] | None = None,
    survey_year: int | str | None = None,
    min_items: int | Mapping[str, int] | None = None,
    invalid: str = "raise",
    weights: Any = None,
    denominator: str = "all",
    scale: Any = None,
) -> GroupScores:
    """Aggregate instrument scores to groups (teams, trusts, ...).

    Parameters
    ----------
    data, instrument, columns, survey_year, min_items, invalid, scale
        As in :func:`score`.
    by : str or list of str
        Column name(s) of ``data`` holding the group labels. A list means
        nested keys, outer first (``["trust", "team"]``: teams within trusts,
        so a team label reused in two trusts is two groups); the tables are
        then indexed by a MultiIndex. No missing labels.
    weights : str, pandas.Series or array_like, optional
        Respondent weights: a column name of ``data``, a Series aligned on
        ``data``'s index (matched by label, never by position; different
        labels are refused), or one number >= 0 per row; e.g. from
        :func:`occupational_weights`. Applied to means, percent positive and
        category shares; counts stay unweighted.
    denominator : {"all", "classified", "in_team"}, default "all"
        For classification instruments, the base of ``category_percent``:
        all respondents of the group (unclassifiable ones included),
        classified respondents, or respondents in the first two categories
        (those in a team; the third category's share is then missing).

    Returns
    -------
    GroupScores

    Notes
    -----
    Group mean of a score: :math:`\\bar s_g = \\sum_{i \\in g} w_i s_i /
    \\sum_{i \\in g} w_i` over respondents with a score (:math:`w_i = 1`
    unweighted). Item percent positive (AHRQ SOPS): :math:`100 \\times`
    (weighted) share of valid responses whose keyed code is positive (Agree /
    Strongly agree, Most of the time / Always; for negatively worded items
    Disagree / Strongly disagree, Never / Rarely); "does not apply" codes
    and missing answers are excluded. Composite percent positive: the mean of
    its items' percent positive, over items with at least one valid response.
    A group whose respondents all have weight 0 gets NaN, with a
    :class:`~teamculture.errors.DegenerateDataWarning`.

    Percent positive follows AHRQ's SOPS data-entry and analysis tool.

    R: ``aggregate(scores, list(group), mean, na.rm = TRUE)`` on the ``psych::scoreItems`` scores

    References
    ----------
    .. [1] Sorra J, et al. AHRQ Hospital Survey on Patient Safety Culture:
       User's Guide. AHRQ (composite-level percent positive).

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey("tiny", rng=1)
    >>> g = tc.score_groups(sim.staff, "real-team", by="trust")
    >>> g.category_percent.columns.tolist()
    ['real', 'pseudo', 'none']
    >>> np.allclose(g.category_percent["real"], sim.trusts["real_team_pct"])
    True
    >>> e = tc.score_groups(sim.staff, "nhs-engagement", by="team")
    >>> e.means.shape, int(e.n_respondents.sum())
    ((24, 4), 300)
    >>> nested = tc.score_groups(sim.staff, "nhs-engagement", by=["trust", "team_in_trust"])
    >>> nested.means.index.names, nested.n_groups.tolist()
    (FrozenList(['trust', 'team_in_trust']), [4, 24])
    """
    data = _records(data)
    spec = _validate_score(data, instrument, columns, survey_year, min_items, invalid, scale)
    denominator = check_choice("denominator", denominator, _DENOMINATORS)
    if len(data) == 0:
        raise ValueError("`data` has no rows; there is nothing to aggregate.")
    groups = _groups_from_by(data, by)
    w = _weights(data, weights)
    inst, colmap = spec.inst, spec.colmap
    scores, items, n_invalid = _scores(data, inst, colmap, spec.mins, spec.invalid)
    _warn_invalid(n_invalid, colmap)
    gcodes = groups.finest
    labels = groups.finest_labels
    G = len(labels)
    wv = np.ones(len(data)) if w is None else w
    n_resp = pd.Series(np.bincount(gcodes, minlength=G), index=labels, name="n_respondents")
    if w is not None:
        zero = (group_sum(gcodes, wv, G) == 0) & (n_resp.to_numpy() > 0)
        if zero.any():
            warn(f"{int(zero.sum())} group(s) of `by` have zero total `weights` ({few(labels[zero].tolist())}); "
                 "their weighted scores are NaN.", DegenerateDataWarning)

    def frame(arr: np.ndarray, cols: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame(arr, index=labels, columns=pd.Index(list(cols)))

    empty = frame(np.empty((G, 0)), [])
    means, counts = empty, empty
    category_counts, category_percent = empty, empty
    if inst.classification is None:
        s = scores.to_numpy(dtype=float)
        has = ~np.isnan(s)
        num = _gsum(gcodes, np.where(has, s * wv[:, None], 0.0), G)
        den = _gsum(gcodes, has * wv[:, None], G)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = frame(num / den, scores.columns)
        counts = frame(_gsum(gcodes, has.astype(float), G).astype(np.int64), scores.columns)
    else:
        cats = list(inst.classification.categories)
        cc = scores.iloc[:, 0].cat.codes.to_numpy()
        onehot = np.column_stack([cc == k for k in range(3)] + [cc == -1]).astype(float)
        category_counts = frame(_gsum(gcodes, onehot, G).astype(np.int64), [*cats, "unclassified"])
        wsum = _gsum(gcodes, onehot * wv[:, None], G)
        if denominator == "all":
            den = wsum.sum(axis=1)
        elif denominator == "classified":
            den = wsum[:, :3].sum(axis=1)
        else:
            den = wsum[:, :2].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = 100.0 * wsum[:, :3] / den[:, None]
        if denominator == "in_team":
            pct[:, 2] = np.nan
        category_percent = frame(pct, cats)

    # item percent positive on the keyed codes
    pos_items = [i for i in colmap if inst.scale_for(i).positive]
    if pos_items:
        num = np.empty((G, len(pos_items)))
        den = np.empty((G, len(pos_items)))
        for t, iid in enumerate(pos_items):
            x, ok = items[iid]
            positive = _positive_mask(inst, iid, x, ok)
            num[:, t] = group_sum(gcodes, positive * wv if w is not None else positive.astype(float), G)
            den[:, t] = group_sum(gcodes, ok * wv if w is not None else ok.astype(float), G)
        with np.errstate(invalid="ignore", divide="ignore"):
            item_pp = frame(100.0 * num / den, pos_items)
    else:
        item_pp = empty
    if inst.scoring.percent_positive and inst.classification is None:
        comp = {}
        for name, ids in inst.subscales.items():
            block = item_pp[list(ids)].to_numpy()
            nn = (~np.isnan(block)).sum(axis=1)
            comp[name] = np.where(nn > 0, np.where(np.isnan(block), 0.0, block).sum(axis=1) / np.maximum(nn, 1),
                                  np.nan)
        percent_positive = pd.DataFrame(comp, index=labels)
    else:
        percent_positive = empty
    thr = inst.scoring.score_positive
    if thr is not None and inst.classification is None:
        sub = scores[list(inst.subscales)].to_numpy(dtype=float)
        has = ~np.isnan(sub)
        with np.errstate(invalid="ignore"):
            above = has & (sub >= thr)
        num = _gsum(gcodes, above * wv[:, None], G)
        den = _gsum(gcodes, has * wv[:, None], G)
        with np.errstate(invalid="ignore", divide="ignore"):
            score_pp = frame(100.0 * num / den, list(inst.subscales))
    else:
        score_pp = empty
    n_groups: Any = G if groups.n_levels == 1 else pd.Series(groups.n_groups, index=list(groups.names),
                                                              name="n_groups")
    return GroupScores(
        means=means, counts=counts, n_respondents=n_resp, item_percent_positive=item_pp,
        percent_positive=percent_positive, score_percent_positive=score_pp,
        category_counts=category_counts, category_percent=category_percent,
        denominator=denominator, weighted=w is not None, by=tuple(groups.names), n_invalid=dict(n_invalid),
        instrument=inst, n_obs=len(data), n_dropped=int(sum(n_invalid.values())), n_groups=n_groups,
    )


def occupational_weights(
    data: pd.DataFrame, *, by: str | Sequence[str], occupation: str,
    benchmark: Mapping[Any, float] | pd.Series | None = None,
) -> pd.Series:
    """Respondent weights that give every group the benchmark's staff mix.

    Parameters
    ----------
    data : pandas.DataFrame
        The respondents.
    by : str or list of str
        Column name(s) of ``data`` holding the organisation (group) labels
        (a list = nested keys, outer first).
    occupation : str
        Column name of ``data`` holding each respondent's occupational group.
    benchmark : dict or pandas.Series, optional
        Occupational shares of the benchmarking group, keyed by the labels of
        ``occupation`` (normalised to sum to one). Default: the shares among
        all rows of ``data``.

    Returns
    -------
    pandas.Series
        Weight per respondent, aligned to ``data.index``.

    Notes
    -----
    :math:`w_i = p^{B}_{o(i)} / p^{g(i)}_{o(i)}`, the occupation's share in
    the benchmark over its share in the respondent's organisation, so that
    weighted organisation means have the benchmark's occupational mix (the NHS
    Staff Survey weighting; the exact formula used by NHS England is
    unconfirmed). Occupations present in a group but absent from the
    benchmark (or with share 0) get weight 0, with a
    :class:`~teamculture.errors.DroppedDataWarning` counting those respondents;
    a benchmark that names none of the occupations in ``data`` is refused.

    R: none (``ave()`` of the two shares)

    Examples
    --------
    >>> import teamculture as tc
    >>> df = pd.DataFrame({"org": ["a", "a", "a", "b"], "occ": ["n", "n", "m", "m"]})
    >>> tc.scoring.occupational_weights(df, by="org", occupation="occ", benchmark={"n": 0.5, "m": 0.5}).tolist()
    [0.75, 0.75, 1.5, 0.5]
    """
    data = _check_data(data)
    if len(data) == 0:
        raise ValueError("`data` has no rows.")
    groups = _groups_from_by(data, by)
    if not isinstance(occupation, (str, int, np.integer)) or isinstance(occupation, (bool, np.bool_)):
        raise TypeError(f"`occupation` must be one column name of `data`; got {type(occupation).__name__}.")
    occ = _groups_from_by(data, occupation, "occupation")
    gcodes, G = groups.finest, len(groups.finest_labels)
    ocodes, olabels = occ.finest, occ.finest_labels
    O = len(olabels)
    cell = np.bincount(gcodes * O + ocodes, minlength=G * O).reshape(G, O)
    share_g = cell / cell.sum(axis=1, keepdims=True)
    if benchmark is None:
        bench = np.bincount(ocodes, minlength=O) / len(data)
    else:
        if not isinstance(benchmark, (Mapping, pd.Series)):
            raise TypeError(f"`benchmark` must be a dict or Series of shares keyed by occupation; got "
                            f"{type(benchmark).__name__}.")
        try:
            b = pd.Series(dict(benchmark) if isinstance(benchmark, Mapping) else benchmark, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"`benchmark` shares must be numbers; got {few(list(dict(benchmark).values()))}.") \
                from None
        if b.index.has_duplicates:
            dup = b.index[b.index.duplicated()].unique().tolist()
            raise ValueError(f"`benchmark` names {len(dup)} occupation(s) more than once: {few(dup)}; give one share "
                             "per occupation.")
        if len(b) == 0 or (b < 0).any() or not np.isfinite(b.to_numpy()).all() or b.sum() <= 0:
            raise ValueError(f"`benchmark` shares must be finite, >= 0 and not all 0; got {few(b.tolist())}.")
        if not b.index.isin(olabels).any():
            raise ValueError(
                f"`benchmark` names none of the occupations in `occupation` column {occupation!r}: benchmark "
                f"{few(b.index.tolist())}, data {few(olabels.tolist())}. The labels must match exactly "
                "(type and spelling)."
            )
        b = b / b.sum()
        bench = b.reindex(olabels).fillna(0.0).to_numpy()
        absent = np.flatnonzero(bench == 0.0)
        if absent.size:
            n_zero = int(np.isin(ocodes, absent).sum())
            warn(
                f"{absent.size} occupation(s) of `occupation` have no share in `benchmark` "
                f"{few([olabels[k] for k in absent])}; their {n_zero} of {len(data)} respondent(s) get weight 0 "
                "(left out of weighted results).",
                DroppedDataWarning,
            )
    w = bench[ocodes] / share_g[gcodes, ocodes]
    return pd.Series(w, index=data.index, name="weight")
