"""The instrument definition schema: dataclasses, parsing and validation.

An instrument definition is plain data (a dict, usually read from a TOML
file). :func:`parse_instrument` checks it against the schema and returns an
:class:`Instrument`; :meth:`Instrument.to_dict` gives the dict back, so that
``parse_instrument(inst.to_dict()) == inst`` for every valid definition.

Schema (version 1)
------------------
Top level: ``id``, ``name``, ``version``, ``status`` ("official" or
"reconstructed"), ``unconfirmed`` (list of str; must be non-empty exactly when
the status is "reconstructed"), ``citation``, ``url``, ``licence``,
``wording_allowed`` (bool), ``description``; tables ``scales``, ``items``
(array of tables), ``subscales``, ``composites``, ``scoring``,
``classification`` and ``mappings``; see the "Instrument definitions" section
of the user guide for an annotated example.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from teamculture._core.validation import few
from teamculture.errors import InstrumentError

__all__ = [
    "FrozenMap",
    "ResponseScale",
    "Item",
    "ScoringRule",
    "Classification",
    "Instrument",
    "parse_instrument",
    "SCHEMA_VERSION",
    "STATUSES",
    "METHODS",
]

SCHEMA_VERSION = 1
STATUSES = ("official", "reconstructed")
#: scoring methods: item mean, (prorated) item sum, or a categorical classification
METHODS = ("mean", "sum", "classification")

_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_TOP_KEYS = {
    "schema", "id", "name", "version", "status", "unconfirmed", "citation", "url", "licence",
    "wording_allowed", "description", "scales", "items", "subscales", "composites", "scoring",
    "classification", "mappings",
}
_SCALE_KEYS = {"codes", "labels", "missing_codes", "missing_labels", "positive"}
_ITEM_KEYS = {"id", "label", "scale", "reverse", "wording"}
_SUBSCALE_KEYS = {"items", "min_items"}
_COMPOSITE_KEYS = {"subscales"}
_SCORING_KEYS = {"method", "range", "min_items", "percent_positive", "score_positive"}
_CLASS_KEYS = {"name", "gate", "criteria", "categories"}


class FrozenMap(Mapping):
    """A read-only, hashable, picklable mapping (the mapping fields of an :class:`Instrument`).

    Behaves as a ``dict`` for reading (``m[key]``, ``len``, iteration, ``==``
    with any mapping) and has no method that changes it. Unlike
    :class:`types.MappingProxyType` it can be pickled, so instruments (and
    results holding one) can be sent to worker processes.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[Any, Any] | Any = ()) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._data,))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _freeze(d: Mapping[str, Any]) -> FrozenMap:
    return FrozenMap(d)


@dataclass(frozen=True)
class ResponseScale:
    """A response scale: valid numeric codes, their labels, missing codes.

    Attributes
    ----------
    name : str
        The scale's name within its instrument (e.g. ``"agree5"``).
    codes : tuple of float
        The valid response codes, in increasing order (e.g. 1..5).
    labels : tuple of str
        One label per code ("Strongly disagree", ...).
    missing_codes : tuple of float
        Codes that mean "not applicable"/"don't know"; treated as missing.
    missing_labels : tuple of str
        Labels of the missing codes.
    positive : tuple of float
        Codes counted as a *positive* response (percent positive), on the
        keyed scale: for a reverse-keyed item the rule applies to
        ``low + high - code``.
    """

    name: str
    codes: tuple[float, ...]
    labels: tuple[str, ...]
    missing_codes: tuple[float, ...] = ()
    missing_labels: tuple[str, ...] = ()
    positive: tuple[float, ...] = ()

    @property
    def low(self) -> float:
        """The lowest valid code (the declared bound used for reverse keying)."""
        return self.codes[0]

    @property
    def high(self) -> float:
        """The highest valid code."""
        return self.codes[-1]

    @property
    def n_points(self) -> int:
        """Number of valid response options."""
        return len(self.codes)

    def reverse(self, values: Any) -> np.ndarray:
        """Reverse-key ``values`` with the declared bounds: ``low + high - x``."""
        return self.low + self.high - np.asarray(values, dtype=float)

    def code_for_label(self) -> dict[str, float]:
        """Map normalised labels (lower case, stripped) to codes; missing labels map to NaN."""
        out = {_norm(lab): c for lab, c in zip(self.labels, self.codes)}
        out.update({_norm(lab): math.nan for lab in self.missing_labels})
        return out

    def to_dict(self) -> dict[str, Any]:
        """The scale as a schema dict."""
        return {
            "codes": [_num_out(c) for c in self.codes],
            "labels": list(self.labels),
            "missing_codes": [_num_out(c) for c in self.missing_codes],
            "missing_labels": list(self.missing_labels),
            "positive": [_num_out(c) for c in self.positive],
        }


@dataclass(frozen=True)
class Item:
    """One item of an instrument.

    Attributes
    ----------
    id : str
        Abstract item id (stable across survey years).
    label : str
        Short label (not the questionnaire wording).
    scale : str
        Name of the item's :class:`ResponseScale` in the instrument.
    reverse : bool
        Whether the item is reverse-keyed (negatively worded).
    wording : str or None
        The questionnaire wording, shipped only where the licence allows.
    """

    id: str
    label: str
    scale: str
    reverse: bool = False
    wording: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as a schema dict."""
        d: dict[str, Any] = {"id": self.id, "label": self.label, "scale": self.scale, "reverse": self.reverse}
        if self.wording is not None:
            d["wording"] = self.wording
        return d


@dataclass(frozen=True)
class ScoringRule:
    """How subscale scores are formed.

    Attributes
    ----------
    method : {"mean", "sum", "classification"}
        ``"mean"``: mean of the answered (keyed) items; ``"sum"``: that mean
        times the number of items (the plain sum when all are answered,
        prorated otherwise); ``"classification"``: a categorical rule
        (see :class:`Classification`).
    range : tuple of float or None
        If given, keyed item codes are mapped linearly from the scale's
        ``[low, high]`` onto this range before averaging (NHS Staff Survey
        0-10, SAQ 0-100).
    min_items : int
        Default minimum number of answered items for a subscale score.
    percent_positive : bool
        Whether item and composite percent positive (AHRQ SOPS rule) are
        meaningful for this instrument.
    score_positive : float or None
        A respondent counts as positive on a subscale when the score is at
        least this value (SAQ: 75); None if not defined.
    """

    method: str = "mean"
    range: tuple[float, float] | None = None
    min_items: int = 1
    percent_positive: bool = False
    score_positive: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rule as a schema dict."""
        d: dict[str, Any] = {
            "method": self.method,
            "min_items": self.min_items,
            "percent_positive": self.percent_positive,
        }
        if self.range is not None:
            d["range"] = [_num_out(v) for v in self.range]
        if self.score_positive is not None:
            d["score_positive"] = _num_out(self.score_positive)
        return d


@dataclass(frozen=True)
class Classification:
    """A gate-and-criteria classification rule (the Aston real-team rule).

    A respondent whose ``gate`` answer is not positive is in the last
    category (e.g. "none"); one whose gate answer and every criterion are
    positive is in the first ("real"); one with a positive gate and at least
    one non-positive criterion is in the second ("pseudo"). A missing gate, or
    missing criteria with none of the answered ones non-positive, leaves the
    respondent unclassified (missing). "Positive" means the code is in the
    item scale's ``positive`` codes.

    Attributes
    ----------
    name : str
        Name of the output column (e.g. ``"team_type"``).
    gate : str
        Item id of the gate question ("Do you work in a team?").
    criteria : tuple of str
        Item ids of the criteria.
    categories : tuple of str
        Three category names: all criteria met, some not met, gate not met.
    """

    name: str
    gate: str
    criteria: tuple[str, ...]
    categories: tuple[str, str, str]

    def to_dict(self) -> dict[str, Any]:
        """The rule as a schema dict."""
        return {
            "name": self.name,
            "gate": self.gate,
            "criteria": list(self.criteria),
            "categories": list(self.categories),
        }


@dataclass(frozen=True)
class Instrument:
    """A validated, versioned instrument definition.

    Build one with :func:`teamculture.instruments.get` (built-in catalogue),
    :func:`teamculture.load_instrument` (a dict or a TOML file) or
    :func:`teamculture.instruments.resolve` (any of these or psych-style keys).

    Attributes
    ----------
    id, name, version : str
        Identification.
    status : {"official", "reconstructed"}
        ``"official"``: the scoring rule is confirmed from the owner's
        published guidance; ``"reconstructed"``: built from secondary sources,
        with the unconfirmed parts listed in ``unconfirmed``.
    unconfirmed : tuple of str
        What is not confirmed (empty for official definitions).
    citation, url, licence, description : str
        Provenance: reference, DOI/URL, licence of the item wording.
    wording_allowed : bool
        Whether the licence allows shipping item wording.
    scales : Mapping[str, ResponseScale]
        Response scales by name.
    items : tuple of Item
        The items, in questionnaire order.
    subscales : Mapping[str, tuple of str]
        Subscale (composite) name -> item ids.
    min_items : Mapping[str, int]
        Minimum answered items per subscale.
    composites : Mapping[str, tuple of str]
        Higher-order scores: name -> subscale names (score = mean of the
        subscale scores, all required).
    scoring : ScoringRule
        How scores are formed.
    classification : Classification or None
        The classification rule for ``method="classification"``.
    mappings : Mapping[str, Mapping[str, str]]
        Survey year (or questionnaire version) -> question code -> item id.
    """

    id: str
    name: str
    version: str
    status: str
    unconfirmed: tuple[str, ...]
    citation: str
    licence: str
    scales: Mapping[str, ResponseScale]
    items: tuple[Item, ...]
    subscales: Mapping[str, tuple[str, ...]]
    min_items: Mapping[str, int] = field(default_factory=FrozenMap)
    composites: Mapping[str, tuple[str, ...]] = field(default_factory=FrozenMap)
    scoring: ScoringRule = field(default_factory=ScoringRule)
    classification: Classification | None = None
    mappings: Mapping[str, Mapping[str, str]] = field(default_factory=FrozenMap)
    url: str = ""
    description: str = ""
    wording_allowed: bool = False

    def __hash__(self) -> int:  # the mapping fields are unhashable; equal instruments share these
        return hash((self.id, self.version, self.item_ids))

    # -- lookups -----------------------------------------------------------
    @property
    def item_ids(self) -> tuple[str, ...]:
        """Item ids in questionnaire order."""
        return tuple(it.id for it in self.items)

    def item(self, item_id: str) -> Item:
        """The :class:`Item` with id ``item_id``."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(f"instrument {self.id!r} has no item {item_id!r}; items are {few(self.item_ids)}.")

    def scale_for(self, item_id: str) -> ResponseScale:
        """The :class:`ResponseScale` of item ``item_id``."""
        return self.scales[self.item(item_id).scale]

    def keys(self) -> dict[str, list[str]]:
        """psych-style scoring keys: subscale -> item ids, ``"-id"`` for reversed items."""
        rev = {it.id: it.reverse for it in self.items}
        return {name: [("-" + i) if rev[i] else i for i in ids] for name, ids in self.subscales.items()}

    def columns_for(self, year: str | int) -> dict[str, str]:
        """Question code -> item id for survey year (or questionnaire version) ``year``."""
        key = str(year)
        if key not in self.mappings:
            raise ValueError(
                f"`survey_year` {year!r} has no question mapping in instrument {self.id!r}; "
                f"available: {sorted(self.mappings)!r}."
            )
        return dict(self.mappings[key])

    @property
    def score_names(self) -> tuple[str, ...]:
        """Names of the score columns :func:`teamculture.score` returns."""
        if self.classification is not None:
            return (self.classification.name,)
        return tuple(self.subscales) + tuple(self.composites)

    # -- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The definition as a schema dict (``parse_instrument`` inverts it)."""
        d: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "unconfirmed": list(self.unconfirmed),
            "citation": self.citation,
            "url": self.url,
            "licence": self.licence,
            "wording_allowed": self.wording_allowed,
            "description": self.description,
            "scales": {k: s.to_dict() for k, s in self.scales.items()},
            "items": [it.to_dict() for it in self.items],
            "subscales": {
                k: {"items": list(v), "min_items": self.min_items[k]} for k, v in self.subscales.items()
            },
            "composites": {k: {"subscales": list(v)} for k, v in self.composites.items()},
            "scoring": self.scoring.to_dict(),
            "mappings": {y: dict(m) for y, m in self.mappings.items()},
        }
        if self.classification is not None:
            d["classification"] = self.classification.to_dict()
        return d

    def __repr__(self) -> str:
        return (
            f"Instrument(id={self.id!r}, version={self.version!r}, status={self.status!r}, "
            f"{len(self.items)} items, {len(self.subscales)} subscales)"
        )

    def summary(self) -> str:
        """A plain-text description: provenance, scales, keys, scoring rule."""
        lines = [f"{self.name} [{self.id} {self.version}] status: {self.status}"]
        for u in self.unconfirmed:
            lines.append(f"  unconfirmed: {u}")
        lines.append(f"  citation: {self.citation}")
        lines.append(f"  licence: {self.licence}")
        for name, s in self.scales.items():
            miss = f"; missing {list(map(_num_out, s.missing_codes))}" if s.missing_codes else ""
            lines.append(f"  scale {name}: {_num_out(s.low)}..{_num_out(s.high)} ({s.labels[0]} .. {s.labels[-1]}){miss}")
        for name, keys in self.keys().items():
            lines.append(f"  {name} (min {self.min_items[name]}): {' '.join(keys)}")
        for name, subs in self.composites.items():
            lines.append(f"  {name} = mean of {', '.join(subs)}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------
def _norm(label: str) -> str:
    return " ".join(str(label).split()).casefold()


def _num_out(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _err(where: str, msg: str) -> InstrumentError:
    return InstrumentError(f"instrument definition {where}: {msg}")


def _req(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise _err(where, f"missing required key {key!r}.")
    v = d[key]
    if not isinstance(v, typ) or (typ is not bool and isinstance(v, bool) and bool not in _as_tuple(typ)):
        names = "/".join(t.__name__ for t in _as_tuple(typ))
        raise _err(where, f"{key!r} must be {names}; got {type(v).__name__} {v!r}.")
    return v


def _as_tuple(t: Any) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _opt(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str, default: Any) -> Any:
    if key not in d:
        return default
    return _req(d, key, typ, where)


def _unknown(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise _err(where, f"unknown key(s) {few(extra)}; allowed: {sorted(allowed)}.")


def _numbers(v: Any, key: str, where: str) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)):
        raise _err(where, f"{key!r} must be a list of numbers; got {v!r}.")
    bad = [x for x in v if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)]
    if bad:
        raise _err(where, f"{key!r} must hold finite numbers; bad values {few(bad)}.")
    return tuple(float(x) for x in v)


def _strings(v: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise _err(where, f"{key!r} must be a list of strings; got {v!r}.")
    return tuple(v)


def _parse_scale(name: str, d: Any) -> ResponseScale:
    where = f"scale {name!r}"
    if not isinstance(d, Mapping):
        raise _err(where, f"must be a table; got {type(d).__name__}.")
    _unknown(d, _SCALE_KEYS, where)
    codes = _numbers(_req(d, "codes", (list, tuple), where), "codes", where)
    if len(codes) < 2:
        raise _err(where, f"'codes' needs at least two codes; got {list(codes)}.")
    if any(b <= a for a, b in zip(codes, codes[1:])):
        raise _err(where, f"'codes' must be strictly increasing; got {list(codes)}.")
    labels = _strings(_req(d, "labels", (list, tuple), where), "labels", where)
    if len(labels) != len(codes):
        raise _err(where, f"'labels' has {len(labels)} entries but 'codes' has {len(codes)}.")
    missing = _numbers(d.get("missing_codes", []), "missing_codes", where)
    clash = sorted(set(missing) & set(codes))
    if clash:
        raise _err(where, f"'missing_codes' {few(clash)} are also valid codes.")
    missing_labels = _strings(d.get("missing_labels", []), "missing_labels", where)
    if missing_labels and len(missing_labels) != len(missing):
        raise _err(where, f"'missing_labels' has {len(missing_labels)} entries but 'missing_codes' has {len(missing)}.")
    norm = [_norm(x) for x in labels + missing_labels]
    dup = sorted({x for x in norm if norm.count(x) > 1})
    if dup:
        raise _err(where, f"labels must be distinct (ignoring case); repeated {few(dup)}.")
    positive = _numbers(d.get("positive", []), "positive", where)
    bad = [p for p in positive if p not in codes]
    if bad:
        raise _err(where, f"'positive' codes {few(bad)} are not valid codes {list(codes)}.")
    return ResponseScale(name, codes, labels, missing, missing_labels, tuple(sorted(positive)))


def parse_instrument(definition: Mapping[str, Any]) -> Instrument:
    """Validate a definition dict and build an :class:`Instrument`.

    Raises :class:`teamculture.errors.InstrumentError` (a ``ValueError``)
    naming the offending part of the definition.
    """
    if not isinstance(definition, Mapping):
        raise TypeError(f"`definition` must be a mapping; got {type(definition).__name__}.")
    d = definition
    iid = d.get("id", "<no id>")
    top = f"{iid!r}"
    _unknown(d, _TOP_KEYS, top)
    schema = _opt(d, "schema", int, top, SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise _err(top, f"'schema' must be {SCHEMA_VERSION}; got {schema!r}.")
    iid = _req(d, "id", str, top)
    if not _ID_RE.match(iid):
        raise _err(top, "'id' must start with a letter and hold only letters, digits, '.', '_', '-'.")
    name = _req(d, "name", str, top)
    version = _req(d, "version", (str, int), top)
    status = _req(d, "status", str, top)
    if status not in STATUSES:
        raise _err(top, f"'status' must be one of {list(STATUSES)}; got {status!r}.")
    unconfirmed = _strings(d.get("unconfirmed", []), "unconfirmed", top)
    if status == "reconstructed" and not unconfirmed:
        raise _err(top, "a 'reconstructed' definition must list what is 'unconfirmed'.")
    if status == "official" and unconfirmed:
        raise _err(top, f"an 'official' definition cannot list unconfirmed parts; got {few(unconfirmed)}.")
    citation = _req(d, "citation", str, top)
    licence = _req(d, "licence", str, top)
    url = _opt(d, "url", str, top, "")
    description = _opt(d, "description", str, top, "")
    wording_allowed = _opt(d, "wording_allowed", bool, top, False)

    scales_d = _req(d, "scales", Mapping, top)
    if not scales_d:
        raise _err(top, "'scales' must define at least one response scale.")
    scales = {str(k): _parse_scale(str(k), v) for k, v in scales_d.items()}

    items_l = _req(d, "items", (list, tuple), top)
    if not items_l:
        raise _err(top, "'items' must list at least one item.")
    items: list[Item] = []
    for k, it in enumerate(items_l):
        where = f"{top} item #{k + 1}"
        if not isinstance(it, Mapping):
            raise _err(where, f"must be a table; got {type(it).__name__}.")
        _unknown(it, _ITEM_KEYS, where)
        item_id = _req(it, "id", str, where)
        where = f"{top} item {item_id!r}"
        if not _ID_RE.match(item_id):
            raise _err(where, "item ids must start with a letter and hold only letters, digits, '.', '_', '-'.")
        scale = _req(it, "scale", str, where)
        if scale not in scales:
            raise _err(where, f"unknown scale {scale!r}; scales are {sorted(scales)}.")
        wording = _opt(it, "wording", str, where, None)
        if wording is not None and not wording_allowed:
            raise _err(where, "has 'wording' but the definition's licence does not allow shipping wording "
                              "(set 'wording_allowed = true' only if it does).")
        items.append(Item(item_id, _opt(it, "label", str, where, item_id), scale,
                          _opt(it, "reverse", bool, where, False), wording))
    ids = [it.id for it in items]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise _err(top, f"item ids must be unique; repeated {few(dup)}.")
    folded: dict[str, list[str]] = {}
    for i in ids:
        folded.setdefault(i.casefold(), []).append(i)
    clash = [v for v in folded.values() if len(v) > 1]
    if clash:
        raise _err(top, f"item ids must differ other than in letter case (data columns are matched to them "
                        f"regardless of case, so one column would be read for both); {len(clash)} clash(es), e.g. "
                        f"{few(clash[0])}.")

    scoring_d = _opt(d, "scoring", Mapping, top, {})
    _unknown(scoring_d, _SCORING_KEYS, f"{top} scoring")
    method = _opt(scoring_d, "method", str, f"{top} scoring", "mean")
    if method not in METHODS:
        raise _err(f"{top} scoring", f"'method' must be one of {list(METHODS)}; got {method!r}.")
    rng = scoring_d.get("range")
    if rng is not None:
        rng = _numbers(rng, "range", f"{top} scoring")
        if len(rng) != 2 or not rng[0] < rng[1]:
            raise _err(f"{top} scoring", f"'range' must be [low, high] with low < high; got {list(rng)}.")
    default_min = _opt(scoring_d, "min_items", int, f"{top} scoring", 1)
    if default_min < 1:
        raise _err(f"{top} scoring", f"'min_items' must be >= 1; got {default_min}.")
    score_positive = scoring_d.get("score_positive")
    if score_positive is not None:
        score_positive = _numbers([score_positive], "score_positive", f"{top} scoring")[0]
    rule = ScoringRule(method, rng, default_min,
                       _opt(scoring_d, "percent_positive", bool, f"{top} scoring", False), score_positive)
    if rule.percent_positive:
        nopos = sorted({it.scale for it in items if not scales[it.scale].positive})
        if nopos:
            raise _err(f"{top} scoring", f"'percent_positive' needs 'positive' codes on scale(s) {few(nopos)}.")

    subs_d = _opt(d, "subscales", Mapping, top, {})
    subscales: dict[str, tuple[str, ...]] = {}
    min_items: dict[str, int] = {}
    for sname, sd in subs_d.items():
        where = f"{top} subscale {sname!r}"
        if not str(sname).strip():
            raise _err(where, "names must be non-empty text (they name the score columns).")
        if not isinstance(sd, Mapping):
            raise _err(where, f"must be a table; got {type(sd).__name__}.")
        _unknown(sd, _SUBSCALE_KEYS, where)
        sitems = _strings(_req(sd, "items", (list, tuple), where), "items", where)
        if not sitems:
            raise _err(where, "'items' must not be empty.")
        unknown = [i for i in sitems if i not in ids]
        if unknown:
            raise _err(where, f"unknown item id(s) {few(unknown)}.")
        if len(set(sitems)) != len(sitems):
            raise _err(where, "lists an item twice.")
        m = _opt(sd, "min_items", int, where, min(default_min, len(sitems)))
        if not 1 <= m <= len(sitems):
            raise _err(where, f"'min_items' must be between 1 and {len(sitems)}; got {m}.")
        subscales[str(sname)] = sitems
        min_items[str(sname)] = m
    if method != "classification" and not subscales:
        raise _err(top, "'subscales' must define at least one subscale.")
    if method != "classification":
        for sname, sitems in subscales.items():
            pts = {scales[items[ids.index(i)].scale].n_points for i in sitems}
            if rng is None and len(pts) > 1:
                raise _err(f"{top} subscale {sname!r}",
                           "mixes response scales with different numbers of points; "
                           "give scoring.range so items are rescaled to a common range.")

    comp_d = _opt(d, "composites", Mapping, top, {})
    composites: dict[str, tuple[str, ...]] = {}
    for cname, cd in comp_d.items():
        where = f"{top} composite {cname!r}"
        if not str(cname).strip():
            raise _err(where, "names must be non-empty text (they name the score columns).")
        if not isinstance(cd, Mapping):
            raise _err(where, f"must be a table; got {type(cd).__name__}.")
        _unknown(cd, _COMPOSITE_KEYS, where)
        csubs = _strings(_req(cd, "subscales", (list, tuple), where), "subscales", where)
        unknown = [s for s in csubs if s not in subscales]
        if unknown or not csubs:
            raise _err(where, f"unknown or no subscale(s) {few(unknown)}; subscales are {sorted(subscales)}.")
        if cname in subscales:
            raise _err(where, "has the same name as a subscale.")
        composites[str(cname)] = csubs

    classification = None
    if "classification" in d:
        cd = _req(d, "classification", Mapping, top)
        where = f"{top} classification"
        _unknown(cd, _CLASS_KEYS, where)
        gate = _req(cd, "gate", str, where)
        criteria = _strings(_req(cd, "criteria", (list, tuple), where), "criteria", where)
        cats = _strings(_req(cd, "categories", (list, tuple), where), "categories", where)
        if len(cats) != 3 or len(set(cats)) != 3:
            raise _err(where, f"'categories' must be three distinct names; got {list(cats)}.")
        unknown = [i for i in (gate, *criteria) if i not in ids]
        if unknown:
            raise _err(where, f"unknown item id(s) {few(unknown)}.")
        for i in (gate, *criteria):
            if not scales[items[ids.index(i)].scale].positive:
                raise _err(where, f"item {i!r} needs a scale with 'positive' codes (what counts as met).")
        classification = Classification(_req(cd, "name", str, where), gate, criteria, (cats[0], cats[1], cats[2]))
    if (method == "classification") != (classification is not None):
        raise _err(top, "scoring.method 'classification' and a [classification] table go together.")

    maps_d = _opt(d, "mappings", Mapping, top, {})
    mappings: dict[str, Mapping[str, str]] = {}
    for year, md in maps_d.items():
        where = f"{top} mapping {year!r}"
        if not isinstance(md, Mapping):
            raise _err(where, f"must be a table of question code = item id; got {type(md).__name__}.")
        bad = [v for v in md.values() if v not in ids]
        if bad:
            raise _err(where, f"maps to unknown item id(s) {few(bad)}.")
        targets = list(md.values())
        dup = sorted({v for v in targets if targets.count(v) > 1})
        if dup:
            raise _err(where, f"maps several question codes to item(s) {few(dup)}.")
        mappings[str(year)] = _freeze({str(k): str(v) for k, v in md.items()})

    return Instrument(
        id=iid, name=name, version=str(version), status=status, unconfirmed=unconfirmed,
        citation=citation, licence=licence, scales=_freeze(scales), items=tuple(items),
        subscales=_freeze(subscales), min_items=_freeze(min_items), composites=_freeze(composites),
        scoring=rule, classification=classification, mappings=_freeze(mappings), url=url,
        description=description, wording_allowed=wording_allowed,
    )
