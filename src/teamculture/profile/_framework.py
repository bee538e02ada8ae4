"""Culture frameworks: declarative, versioned maps from scoreable measures to cultural elements.

A framework names the cultural elements to profile (the five elements of
West et al. 2013 and compassionate leadership in the built-in one) and, line
by line, the measures that stand for each element, with a stated reason. A
measure is one of

- an instrument sub-score: ``instrument = "tci-14"``, ``score = "vision"``
  (a subscale or composite of a catalogue instrument, mapped linearly from its
  declared range to 0-100);
- a category share: ``instrument = "real-team"``, ``category = "real"``
  (100 for respondents classified in the category, 0 for the other classified
  respondents);
- a column of the user's data holding a respondent-level score:
  ``column = "my_score"``, ``range = [0, 10]`` (its declared range, mapped to
  0-100).

Built-in frameworks are TOML files in ``profile/frameworks/``;
:func:`load_framework` reads a user's own (a dict or a TOML file) with the
same validation. Errors name the part of the definition at fault.

Schema (version 1)
------------------
Top level: ``schema = 1``, ``id``, ``name``, ``version``, ``status``
("official" or "reconstructed"), ``reason`` (required when reconstructed:
why, and what is the authors' judgement), ``citation``, optional ``url`` and
``description``. ``[[elements]]``: ``id``, ``label``, optional
``description`` and ``interventions`` (a list of strings). ``[[measures]]``:
``element``, one of the three measure forms above, ``reason`` (required),
optional ``weight`` (> 0, default 1), ``reverse`` (default false: higher is
better culture) and ``label``. ``[[unmeasured]]`` (optional): ``label`` and
``reason`` of elements a framework declares but cannot score.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from teamculture._core.validation import did_you_mean, few

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Element", "Measure", "Framework", "frameworks", "get_framework", "load_framework", "parse_framework"]

SCHEMA = 1
STATUSES = ("official", "reconstructed")
FRAMEWORK_DIR = Path(__file__).parent / "frameworks"

_TOP_KEYS = {"schema", "id", "name", "version", "status", "reason", "citation", "url", "description", "elements",
             "measures", "unmeasured"}
_ELEMENT_KEYS = {"id", "label", "description", "interventions"}
_MEASURE_KEYS = {"element", "instrument", "score", "category", "column", "range", "weight", "reverse", "reason",
                 "label", "id"}
_UNMEASURED_KEYS = {"label", "reason"}


# --------------------------------------------------------------------------- the definition
@dataclass(frozen=True)
class Element:
    """A cultural element of a framework.

    Attributes
    ----------
    id : str
        Identifier (e.g. ``"teamwork"``), the label of the element in results.
    label : str
        Display name ("Teamwork").
    description : str
        What the element means (the seed's wording in the built-in framework).
    interventions : tuple of str
        Pointers to interventions for the element (the programme's evidence
        library in the built-in framework).
    """

    id: str
    label: str
    description: str = ""
    interventions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measure:
    """One mapping line: a scoreable measure standing for an element.

    Attributes
    ----------
    id : str
        Unique within the framework (default ``"instrument:score"``,
        ``"instrument=category"`` or the column name).
    element : str
        The element it measures.
    kind : {"subscale", "category", "column"}
        An instrument sub-score, a category share, or a user column.
    instrument : str or None
        Catalogue id of the instrument (kinds "subscale" and "category").
    score : str or None
        Subscale or composite of the instrument (kind "subscale").
    category : str or None
        Category of the instrument's classification (kind "category").
    column : str or None
        Column of the data (kind "column").
    range : tuple of float or None
        Declared range of a column measure (mapped to 0-100).
    weight : float
        Weight of the measure in its element's score (> 0).
    reverse : bool
        True when lower values mean better culture (mapped as 100 - x).
    reason : str
        Why the measure stands for the element.
    label : str
        Display name.
    """

    id: str
    element: str
    kind: str
    instrument: str | None
    score: str | None
    category: str | None
    column: str | None
    range: tuple[float, float] | None
    weight: float
    reverse: bool
    reason: str
    label: str


@dataclass(frozen=True)
class Unmeasured:
    """An element the framework names but cannot score, with the reason."""

    label: str
    reason: str


@dataclass(frozen=True)
class Framework:
    """A validated, versioned culture framework (elements and their measures).

    Build one with :func:`get_framework` (built-in), :func:`load_framework`
    (a dict or a TOML file). Frozen and picklable.

    Attributes
    ----------
    id, name, version : str
        Identification.
    status : {"official", "reconstructed"}
        "reconstructed" when the mapping is not the owner's method.
    reason : str
        Why the framework is reconstructed (empty for official ones).
    citation, url, description : str
        Sources and a description.
    elements : tuple of Element
        The elements, in report order.
    measures : tuple of Measure
        The mapping lines.
    unmeasured : tuple of Unmeasured
        Elements named but not scored, with the reason.
    """

    id: str
    name: str
    version: str
    status: str
    reason: str
    citation: str
    url: str
    description: str
    elements: tuple[Element, ...]
    measures: tuple[Measure, ...]
    unmeasured: tuple[Unmeasured, ...] = ()

    @property
    def element_ids(self) -> tuple[str, ...]:
        """Element ids in report order."""
        return tuple(e.id for e in self.elements)

    def element(self, element_id: str) -> Element:
        """The element with this id."""
        for e in self.elements:
            if e.id == element_id:
                return e
        raise ValueError(f"`element_id` {element_id!r} is not an element of framework {self.id!r}; elements: "
                         f"{list(self.element_ids)}.{did_you_mean(element_id, self.element_ids)}")

    def measures_for(self, element_id: str) -> tuple[Measure, ...]:
        """The measures mapped to an element."""
        self.element(element_id)
        return tuple(m for m in self.measures if m.element == element_id)

    def to_frame(self) -> pd.DataFrame:
        """The mapping lines as a table (one row per measure, indexed by measure id)."""
        rows = [{"id": m.id, "element": m.element, "kind": m.kind, "instrument": m.instrument, "score": m.score,
                 "category": m.category, "column": m.column, "weight": m.weight, "reverse": m.reverse,
                 "reason": m.reason} for m in self.measures]
        return pd.DataFrame(rows).set_index("id")

    def to_dict(self) -> dict[str, Any]:
        """The framework as a schema dict (``load_framework(fw.to_dict())`` gives it back)."""
        out: dict[str, Any] = {
            "schema": SCHEMA, "id": self.id, "name": self.name, "version": self.version, "status": self.status,
            "reason": self.reason, "citation": self.citation, "url": self.url, "description": self.description,
            "elements": [{"id": e.id, "label": e.label, "description": e.description,
                          "interventions": list(e.interventions)} for e in self.elements],
            "measures": [],
            "unmeasured": [{"label": u.label, "reason": u.reason} for u in self.unmeasured],
        }
        for m in self.measures:
            d: dict[str, Any] = {"id": m.id, "element": m.element, "weight": m.weight, "reverse": m.reverse,
                                 "reason": m.reason, "label": m.label}
            if m.kind == "column":
                d.update(column=m.column, range=list(m.range))
            else:
                d["instrument"] = m.instrument
                d.update({"score": m.score} if m.kind == "subscale" else {"category": m.category})
            out["measures"].append(d)
        return out

    def summary(self) -> str:
        """A plain-text description: status, elements and the measures of each with their reasons."""
        lines = [f"{self.name} (id {self.id!r}, version {self.version}, {self.status})"]
        if self.status == "reconstructed":
            lines.append(f"reconstructed: {self.reason}")
        for e in self.elements:
            lines.append(f"- {e.label} [{e.id}]: {e.description}")
            for m in self.measures_for(e.id):
                lines.append(f"    {m.label} (weight {m.weight:g}{', reversed' if m.reverse else ''}): {m.reason}")
        for u in self.unmeasured:
            lines.append(f"- {u.label}: not measured. {u.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"Framework({self.id!r}, version {self.version!r}, {self.status}, {len(self.elements)} elements, "
                f"{len(self.measures)} measures)")


# --------------------------------------------------------------------------- parsing
def _err(where: str, msg: str, exc: type[Exception] = ValueError) -> Exception:
    return exc(f"`framework` {where}: {msg}")


def _str(d: Mapping[str, Any], key: str, where: str, *, required: bool = True, default: str = "") -> str:
    if key not in d:
        if required:
            raise _err(where, f"the key {key!r} is required.")
        return default
    v = d[key]
    if not isinstance(v, str) or (required and not v.strip()):
        raise _err(where, f"{key!r} must be a non-empty string; got {v!r}.", TypeError if not isinstance(v, str)
                   else ValueError)
    return v.strip()


def _unknown(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = [k for k in d if k not in allowed]
    if extra:
        hint = did_you_mean(str(extra[0]), allowed)
        raise _err(where, f"unknown key(s) {few(extra)}.{hint} Allowed: {sorted(allowed)}.")


def _table_list(d: Mapping[str, Any], key: str, where: str, *, required: bool) -> list[Mapping[str, Any]]:
    if key not in d:
        if required:
            raise _err(where, f"the key {key!r} (a list of tables, [[{key}]] in TOML) is required.")
        return []
    v = d[key]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, Mapping) for x in v):
        raise _err(where, f"{key!r} must be a list of tables ([[{key}]] in TOML); got {type(v).__name__}.",
                   TypeError)
    if required and not v:
        raise _err(where, f"{key!r} is empty; define at least one.")
    return list(v)


def _instrument(iid: str, where: str) -> Any:
    from teamculture.profile._uses import get_instrument

    try:
        return get_instrument(iid)
    except (ValueError, TypeError):
        from teamculture.profile._uses import catalogue_ids

        ids = catalogue_ids()
        raise _err(where, f"instrument {iid!r} is not in the catalogue.{did_you_mean(iid, ids)} Catalogue: "
                   f"{ids}. For your own instrument, score it and map the column (column = ..., range = [...])."
                   ) from None


def _parse_measure(d: Mapping[str, Any], i: int, element_ids: Sequence[str]) -> Measure:
    where = f"measures[{i}]"
    _unknown(d, _MEASURE_KEYS, where)
    element = _str(d, "element", where)
    if element not in element_ids:
        raise _err(where, f"element {element!r} is not declared in [[elements]] "
                   f"({list(element_ids)}).{did_you_mean(element, element_ids)}")
    where = f"measures[{i}] (element {element!r})"
    reason = _str(d, "reason", where)
    forms = [k for k in ("score", "category", "column") if k in d]
    if len(forms) != 1:
        raise _err(where, "give exactly one of 'score' (an instrument sub-score), 'category' (a category share "
                   f"of a classification instrument) or 'column' (a column of your data); got {forms or 'none'}.")
    kind = {"score": "subscale", "category": "category", "column": "column"}[forms[0]]
    instrument = score = category = column = None
    rng: tuple[float, float] | None = None
    if kind == "column":
        if "instrument" in d:
            raise _err(where, "a 'column' measure takes no 'instrument' (score the instrument with 'score').")
        column = _str(d, "column", where)
        r = d.get("range")
        if not isinstance(r, (list, tuple)) or len(r) != 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in r):
            raise _err(where, f"a 'column' measure needs 'range = [low, high]' (its declared range, finite "
                       f"numbers); got {r!r}.")
        if not r[0] < r[1]:
            raise _err(where, f"'range' must have low < high; got {list(r)!r}.")
        rng = (float(r[0]), float(r[1]))
        default_id = column
    else:
        if "range" in d:
            raise _err(where, "'range' is only for 'column' measures (an instrument's range is declared by it).")
        instrument = _str(d, "instrument", where)
        inst = _instrument(instrument, where)
        if kind == "subscale":
            score = _str(d, "score", where)
            names = list(inst.subscales) + list(inst.composites)
            if inst.classification is not None or score not in names:
                what = "is a classification (use 'category')" if inst.classification is not None else \
                    f"has no sub-score {score!r}.{did_you_mean(score, names)} Sub-scores: {names}"
                raise _err(where, f"instrument {instrument!r} {what}.")
            default_id = f"{instrument}:{score}"
        else:
            category = _str(d, "category", where)
            rule = inst.classification
            if rule is None:
                raise _err(where, f"instrument {instrument!r} has no classification; 'category' needs one "
                           "(use 'score' for a sub-score).")
            if category not in rule.categories:
                raise _err(where, f"{category!r} is not a category of {instrument!r} "
                           f"({list(rule.categories)}).{did_you_mean(category, rule.categories)}")
            default_id = f"{instrument}={category}"
    weight = d.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (math.isfinite(weight) and weight > 0):
        raise _err(where, f"'weight' must be a finite number > 0; got {weight!r}.")
    reverse = d.get("reverse", False)
    if not isinstance(reverse, bool):
        raise _err(where, f"'reverse' must be true or false; got {reverse!r}.", TypeError)
    mid = _str(d, "id", where, required=False, default=default_id) or default_id
    label = _str(d, "label", where, required=False, default=mid) or mid
    return Measure(id=mid, element=element, kind=kind, instrument=instrument, score=score, category=category,
                   column=column, range=rng, weight=float(weight), reverse=reverse, reason=reason, label=label)


def parse_framework(definition: Mapping[str, Any], *, source: str = "") -> Framework:
    """Validate a framework definition (a dict following the schema) and build a :class:`Framework`."""
    if not isinstance(definition, Mapping):
        raise TypeError(f"`framework` must be a dict following the framework schema; got "
                        f"{type(definition).__name__}.")
    top = f"({source})" if source else "(top level)"
    _unknown(definition, _TOP_KEYS, top)
    schema = definition.get("schema", SCHEMA)
    if schema != SCHEMA or isinstance(schema, bool):
        raise _err(top, f"'schema' must be {SCHEMA} (the only version this teamculture reads); got {schema!r}.")
    fid = _str(definition, "id", top)
    top = f"{fid!r}" + (f" ({source})" if source else "")
    name = _str(definition, "name", top)
    version = definition.get("version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip():
        raise _err(top, f"'version' is required (a string such as \"1\" or \"2024.1\"); got {version!r}.")
    status = _str(definition, "status", top)
    if status not in STATUSES:
        raise _err(top, f"'status' must be one of {list(STATUSES)}; got {status!r}.{did_you_mean(status, STATUSES)}")
    reason = _str(definition, "reason", top, required=status == "reconstructed")
    citation = _str(definition, "citation", top)
    url = _str(definition, "url", top, required=False)
    description = _str(definition, "description", top, required=False)

    elements: list[Element] = []
    for i, e in enumerate(_table_list(definition, "elements", top, required=True)):
        where = f"elements[{i}]"
        _unknown(e, _ELEMENT_KEYS, where)
        eid = _str(e, "id", where)
        if eid in [x.id for x in elements]:
            raise _err(where, f"element id {eid!r} is declared twice.")
        interventions = e.get("interventions", [])
        if not isinstance(interventions, (list, tuple)) or not all(isinstance(s, str) for s in interventions):
            raise _err(where, f"'interventions' must be a list of strings; got {interventions!r}.", TypeError)
        elements.append(Element(id=eid, label=_str(e, "label", where),
                                description=_str(e, "description", where, required=False),
                                interventions=tuple(interventions)))
    ids = [e.id for e in elements]
    measures = [_parse_measure(m, i, ids) for i, m in enumerate(_table_list(definition, "measures", top,
                                                                            required=True))]
    seen: set[str] = set()
    for i, m in enumerate(measures):
        key = f"{m.element}/{m.id}"
        if key in seen:
            raise _err(f"measures[{i}]", f"measure {m.id!r} is mapped to element {m.element!r} twice.")
        seen.add(key)
    bare = [e for e in ids if not any(m.element == e for m in measures)]
    if bare:
        raise _err(top, f"element(s) {few(bare)} have no measure; map at least one, or list the element under "
                   "[[unmeasured]] with the reason it cannot be scored.")
    unmeasured = []
    for i, u in enumerate(_table_list(definition, "unmeasured", top, required=False)):
        where = f"unmeasured[{i}]"
        _unknown(u, _UNMEASURED_KEYS, where)
        unmeasured.append(Unmeasured(label=_str(u, "label", where), reason=_str(u, "reason", where)))
    return Framework(id=fid, name=name, version=version.strip(), status=status, reason=reason, citation=citation,
                     url=url, description=description, elements=tuple(elements), measures=tuple(measures),
                     unmeasured=tuple(unmeasured))


# --------------------------------------------------------------------------- public loaders
def _builtin_ids() -> list[str]:
    return sorted(p.stem for p in FRAMEWORK_DIR.glob("*.toml"))


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"`framework` file {path.name}: invalid TOML: {exc}") from None


def load_framework(source: Mapping[str, Any] | str | Path) -> Framework:
    """Load a culture framework from a dict or a TOML file, with validation.

    Parameters
    ----------
    source : dict or path
        A definition following the framework schema (see
        :mod:`teamculture.profile` and the user guide, "Your own framework"),
        or the path of a TOML file holding one.

    Returns
    -------
    Framework
        The validated framework.

    Raises
    ------
    ValueError, TypeError
        If the definition is malformed; the message names ```framework```,
        the part at fault (``measures[2]``) and what is allowed.

    Notes
    -----
    Every mapping line needs a ``reason``; a framework with
    ``status = "reconstructed"`` needs a top-level ``reason`` too, so that a
    report can say why its mapping is not the owner's method. Instrument
    references are checked against the catalogue when the framework is
    loaded (instrument id, sub-score or category).

    R: none

    Examples
    --------
    >>> from teamculture import profile
    >>> fw = profile.load_framework({
    ...     "id": "local", "name": "Our two elements", "version": "1", "status": "reconstructed",
    ...     "reason": "chosen by our change team", "citation": "local",
    ...     "elements": [{"id": "teamwork", "label": "Teamwork"},
    ...                  {"id": "support", "label": "Support"}],
    ...     "measures": [
    ...         {"element": "teamwork", "instrument": "real-team", "category": "real",
    ...          "reason": "share of staff in real teams"},
    ...         {"element": "support", "instrument": "psych-safety-7", "score": "psych_safety",
    ...          "reason": "psychological safety"}]})
    >>> fw
    Framework('local', version '1', reconstructed, 2 elements, 2 measures)
    >>> [m.id for m in fw.measures]
    ['real-team=real', 'psych-safety-7:psych_safety']
    """
    if isinstance(source, Framework):
        return source
    if isinstance(source, Mapping):
        return parse_framework(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"`source` {str(source)!r} is not a file (pass a dict, or the path of a TOML file; "
                             f"built-in frameworks by id with get_framework: {_builtin_ids()}).")
        return parse_framework(_read_toml(path), source=path.name)
    raise TypeError(f"`source` must be a dict or the path of a TOML file; got {type(source).__name__}.")


def get_framework(framework_id: str) -> Framework:
    """Return a built-in culture framework by id.

    Parameters
    ----------
    framework_id : str
        One of the ids listed by :func:`frameworks` (``"nhs-culture-elements"``).

    Returns
    -------
    Framework
        The validated framework.

    Notes
    -----
    The built-in ``"nhs-culture-elements"`` is *reconstructed*: the NHS
    Culture and Leadership Programme's diagnostic items are not public, so
    measures the package can score are mapped to the five elements of West
    et al. (2013) and to compassionate leadership, each line with its reason.

    R: none

    Examples
    --------
    >>> from teamculture import profile
    >>> fw = profile.get_framework("nhs-culture-elements")
    >>> fw.status, fw.element_ids[:2]
    ('reconstructed', ('vision_values', 'goals_performance'))
    >>> [m.id for m in fw.measures_for("teamwork")]
    ['real-team=real', 'hsopsc-1:teamwork_within_units', 'hsopsc-1:teamwork_across_units']
    """
    if not isinstance(framework_id, str):
        raise TypeError(f"`framework_id` must be a str; got {type(framework_id).__name__}.")
    ids = _builtin_ids()
    if framework_id not in ids:
        raise ValueError(f"`framework_id` {framework_id!r} is not a built-in framework; available: {ids}."
                         f"{did_you_mean(framework_id, ids)} Load your own with load_framework.")
    return _load_builtin(framework_id)


_CACHE: dict[str, Framework] = {}


def _load_builtin(framework_id: str) -> Framework:
    if framework_id not in _CACHE:
        path = FRAMEWORK_DIR / f"{framework_id}.toml"
        fw = parse_framework(_read_toml(path), source=path.name)
        if fw.id != framework_id:
            raise ValueError(f"`framework` file {path.name} defines id {fw.id!r}; expected {framework_id!r}.")
        _CACHE[framework_id] = fw
    return _CACHE[framework_id]


def frameworks(*, status: str | None = None) -> pd.DataFrame:
    """List the built-in culture frameworks.

    Parameters
    ----------
    status : {"official", "reconstructed"}, optional
        Only the frameworks with this status (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per framework, indexed by ``id``, with columns ``name``,
        ``version``, ``status``, ``n_elements``, ``n_measures`` and
        ``citation``.

    Notes
    -----
    R: none

    Examples
    --------
    >>> from teamculture import profile
    >>> tab = profile.frameworks()
    >>> row = tab.loc["nhs-culture-elements"]
    >>> row["status"], int(row["n_elements"]), int(row["n_measures"])
    ('reconstructed', 6, 12)
    """
    if status is not None and (not isinstance(status, str) or status not in STATUSES):
        raise ValueError(f"`status` must be None or one of {list(STATUSES)}; got {status!r}."
                         f"{did_you_mean(status, STATUSES)}")
    rows = []
    for fid in _builtin_ids():
        fw = _load_builtin(fid)
        if status is not None and fw.status != status:
            continue
        rows.append({"id": fw.id, "name": fw.name, "version": fw.version, "status": fw.status,
                     "n_elements": len(fw.elements), "n_measures": len(fw.measures), "citation": fw.citation})
    cols = ["id", "name", "version", "status", "n_elements", "n_measures", "citation"]
    return pd.DataFrame(rows, columns=cols).set_index("id")


def resolve_framework(framework: Any) -> Framework:
    """A :class:`Framework` from a built-in id, a Framework, a dict or a TOML path."""
    if isinstance(framework, Framework):
        return framework
    if isinstance(framework, str) and not framework.lower().endswith(".toml"):
        ids = _builtin_ids()
        if framework not in ids:
            raise ValueError(f"`framework` {framework!r} is not a built-in framework ({ids})."
                             f"{did_you_mean(framework, ids)} Pass a Framework, a dict or the path of a TOML file "
                             "for your own.")
        return _load_builtin(framework)
    if isinstance(framework, (Mapping, str, Path)):
        try:
            return load_framework(framework)
        except ValueError as exc:
            if "`source`" in str(exc):
                raise ValueError(str(exc).replace("`source`", "`framework`")) from None
            raise
    raise TypeError(f"`framework` must be a built-in id (str), a Framework, a dict or the path of a TOML file; "
                    f"got {type(framework).__name__}.")
