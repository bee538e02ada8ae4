"""Culture instruments as declarative, versioned definitions.

Each built-in instrument is one TOML file in ``instruments/catalogue/``,
validated by the schema in ``teamculture.instruments._schema`` when it is
loaded. :func:`available` lists the catalogue, :func:`get` returns one
:class:`Instrument`, :func:`load_instrument` reads a user's own definition
(a dict or a TOML file) and :func:`resolve` accepts any of these or
psych-style scoring keys.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_choice, check_scale, did_you_mean
from teamculture.errors import InstrumentError
from teamculture.instruments._schema import (
    Classification,
    Instrument,
    Item,
    ResponseScale,
    ScoringRule,
    STATUSES,
    parse_instrument,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "available",
    "get",
    "resolve",
    "load_instrument",
    "Instrument",
    "ResponseScale",
    "Item",
    "ScoringRule",
    "Classification",
    "Provenance",
]

CATALOGUE_DIR = Path(__file__).parent / "catalogue"


def _catalogue_ids() -> list[str]:
    return sorted(p.stem for p in CATALOGUE_DIR.glob("*.toml"))


@functools.lru_cache(maxsize=None)
def _load_builtin(instrument_id: str) -> Instrument:
    path = CATALOGUE_DIR / f"{instrument_id}.toml"
    inst = load_instrument(path)
    if inst.id != instrument_id:
        raise InstrumentError(f"catalogue file {path.name} defines id {inst.id!r}; expected {instrument_id!r}.")
    return inst


def available(*, status: str | None = None) -> pd.DataFrame:
    """List the built-in instrument catalogue.

    Parameters
    ----------
    status : {"official", "reconstructed"}, optional
        Only the instruments with this status: ``"official"`` (scoring rule
        confirmed from the owner's published guidance) or ``"reconstructed"``
        (built from secondary sources; what is unconfirmed is listed in
        ``Instrument.unconfirmed``). Default: all.

    Returns
    -------
    pandas.DataFrame
        One row per instrument, indexed by ``id``, with columns ``name``,
        ``version``, ``status`` ("official"/"reconstructed"), ``n_items``,
        ``n_subscales``, ``method`` (scoring method), ``licence`` and
        ``citation``.

    Notes
    -----
    R: none.

    Examples
    --------
    >>> import teamculture as tc
    >>> cat = tc.instruments.available()
    >>> cat.loc["psych-safety-7", "status"], int(cat.loc["psych-safety-7", "n_items"])
    ('reconstructed', 7)
    >>> "hsopsc-1" in cat.index
    True
    >>> tc.instruments.available(status="official").index.tolist()
    ['hsopsc-1']
    """
    if status is not None:
        check_choice("status", status, STATUSES)
    rows = []
    for iid in _catalogue_ids():
        inst = _load_builtin(iid)
        if status is not None and inst.status != status:
            continue
        rows.append({
            "id": inst.id, "name": inst.name, "version": inst.version, "status": inst.status,
            "n_items": len(inst.items), "n_subscales": len(inst.subscales),
            "method": inst.scoring.method, "licence": inst.licence, "citation": inst.citation,
        })
    cols = ["id", "name", "version", "status", "n_items", "n_subscales", "method", "licence", "citation"]
    return pd.DataFrame(rows, columns=cols).set_index("id")


def get(instrument_id: str, *, version: str | None = None) -> Instrument:
    """Return a built-in instrument by id.

    Parameters
    ----------
    instrument_id : str
        One of the ids listed by :func:`available` (e.g. ``"nhs-engagement"``,
        ``"hsopsc-1"``, ``"psych-safety-7"``). A wrong id gets a "did you
        mean" hint.
    version : str, optional
        Pin the definition's version (``Instrument.version``, e.g.
        ``"2021"``): the call is refused, listing the versions the catalogue
        holds, if the catalogue's definition has another version, so that a
        script written against one version never scores silently with
        another. Default: the catalogue's version.

    Returns
    -------
    Instrument
        The validated definition.

    Notes
    -----
    The catalogue holds one version per id (a revised questionnaire with
    other items is another id, e.g. ``hsopsc-1`` and ``hsopsc-2``).

    R: none.

    Examples
    --------
    >>> import teamculture as tc
    >>> inst = tc.instruments.get("psych-safety-7")
    >>> inst.keys()["psych_safety"]
    ['-ps1', 'ps2', '-ps3', 'ps4', '-ps5', 'ps6', 'ps7']
    >>> inst.scale_for("ps1").low, inst.scale_for("ps1").high
    (1.0, 7.0)
    >>> tc.instruments.get("nhs-engagement", version="2021").version
    '2021'
    """
    inst = _get(instrument_id, "instrument_id")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (str, int)):
            raise TypeError(f"`version` must be a version string such as {inst.version!r}; got "
                            f"{type(version).__name__}.")
        if str(version) != inst.version:
            raise ValueError(f"`version` {version!r} of instrument {inst.id!r} is not in the catalogue; known "
                             f"version(s): [{inst.version!r}].{did_you_mean(str(version), [inst.version])}")
    return inst


@dataclass(frozen=True)
class Provenance:
    """Where a set of scores came from: the instrument definition and how columns were matched.

    Carried by every :func:`teamculture.score` result (``scores.provenance``)
    and by :class:`teamculture.GroupScores` (``.provenance``), so that a
    table of scores says which definition, version and status produced it
    and which parts of the rule are unconfirmed.

    Parameters
    ----------
    instrument_id : str
        The instrument's id (``"keys"`` for psych-style keys).
    name : str
        Its name.
    version : str
        The definition's version.
    status : {"official", "reconstructed"}
        Whether the scoring rule is confirmed from the owner's guidance.
    unconfirmed : tuple of str
        What is unconfirmed in a reconstructed rule (empty when official).
    survey_year : str or None
        The question-code map used (``survey_year``), if any.
    columns : tuple of (str, str) pairs
        ``(item id, data column)`` for every item read.

    Notes
    -----
    R: none.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey("tiny", rng=1)
    >>> p = tc.score(sim.staff, "nhs-engagement").provenance
    >>> p.instrument_id, p.version, p.status
    ('nhs-engagement', '2021', 'reconstructed')
    >>> len(p.unconfirmed) > 0
    True
    """

    instrument_id: str
    name: str
    version: str
    status: str
    unconfirmed: tuple[str, ...]
    survey_year: str | None = None
    columns: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def _of(cls, inst: Instrument, survey_year: Any = None, colmap: Mapping[str, Any] | None = None) -> Provenance:
        return cls(instrument_id=inst.id, name=inst.name, version=inst.version, status=inst.status,
                   unconfirmed=tuple(inst.unconfirmed), survey_year=None if survey_year is None else str(survey_year),
                   columns=tuple((colmap or {}).items()))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (for JSON; ``teamculture score`` writes it next to the scores)."""
        return {"instrument_id": self.instrument_id, "name": self.name, "version": self.version,
                "status": self.status, "unconfirmed": list(self.unconfirmed), "survey_year": self.survey_year,
                "columns": {k: str(v) for k, v in self.columns}}


def _get(instrument_id: Any, name: str) -> Instrument:
    """A catalogue instrument; errors name the caller's parameter ``name``."""
    if not isinstance(instrument_id, str):
        raise TypeError(f"`{name}` must be a catalogue id (str); got {type(instrument_id).__name__}.")
    ids = _catalogue_ids()
    if instrument_id not in ids:
        hint = did_you_mean(instrument_id, ids)
        if not hint and instrument_id.lower().endswith(".toml"):
            hint = (" It looks like a file name: read your own definition with "
                    "teamculture.load_instrument(path) and pass the Instrument.")
        raise ValueError(f"`{name}` {instrument_id!r} is not in the catalogue.{hint} Available: {ids}.")
    return _load_builtin(instrument_id)


def load_instrument(source: Mapping[str, Any] | str | Path) -> Instrument:
    """Load an instrument definition from a dict or a TOML file.

    Parameters
    ----------
    source : dict or path
        A definition following the schema (see the user guide, "Your own
        instrument"), or the path of a TOML file holding one.

    Returns
    -------
    Instrument

    Raises
    ------
    teamculture.errors.InstrumentError
        If the definition is malformed; the message names the part at fault.

    Notes
    -----
    R: none.

    Examples
    --------
    >>> import teamculture as tc
    >>> inst = tc.load_instrument({
    ...     "id": "my-scale", "name": "My scale", "version": "1", "status": "reconstructed",
    ...     "unconfirmed": ["piloted locally only"], "citation": "Local", "licence": "ids only",
    ...     "scales": {"agree5": {"codes": [1, 2, 3, 4, 5],
    ...                           "labels": ["SD", "D", "N", "A", "SA"], "positive": [4, 5]}},
    ...     "items": [{"id": "a1", "scale": "agree5"},
    ...               {"id": "a2", "scale": "agree5", "reverse": True}],
    ...     "subscales": {"total": {"items": ["a1", "a2"]}},
    ... })
    >>> inst.keys()
    {'total': ['a1', '-a2']}
    """
    if isinstance(source, Mapping):
        return _parse(source, "source")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not a file"
            raise ValueError(f"`source` {str(source)!r} is {what}; pass a dict or the path of a TOML file.")
        with path.open("rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise InstrumentError(f"`source`: instrument file {path.name}: invalid TOML: {exc}") from None
        return _parse(data, "source")
    raise TypeError(f"`source` must be a dict or a path to a TOML file; got {type(source).__name__}.")


def _parse(definition: Mapping[str, Any], name: str) -> Instrument:
    """:func:`parse_instrument` with errors naming the caller's parameter."""
    try:
        return parse_instrument(definition)
    except InstrumentError as exc:
        raise InstrumentError(f"`{name}`: {exc}") from None


def _keys_definition(keys: Mapping[str, Any], scale: Any) -> dict[str, Any]:
    if scale is None:
        raise ValueError(
            "psych-style keys need the response scale: pass `scale=(low, high)` (declared bounds, "
            "e.g. (1, 5)), the list of valid codes or a ResponseScale; bounds are never taken from the "
            "observed data."
        )
    scale_def = dict(scale) if isinstance(scale, Mapping) else _scale_definition(scale)
    items: dict[str, bool] = {}
    subscales: dict[str, Any] = {}
    for name, entries in keys.items():
        if isinstance(entries, str) or not isinstance(entries, (Sequence, np.ndarray, pd.Index)) or not len(entries):
            raise TypeError(f"`instrument` keys must map a subscale name to a list of item ids; "
                            f"got {entries!r} for {name!r}.")
        ids = []
        for e in entries:
            if not isinstance(e, str) or not e.lstrip("-"):
                raise TypeError(f"`instrument` keys must be item-id strings ('-id' for reversed); got {e!r}.")
            rev = e.startswith("-")
            iid = e[1:] if rev else e
            if items.get(iid, rev) != rev:
                raise ValueError(f"`instrument` keys reverse item {iid!r} in one subscale but not another.")
            if iid in ids:
                raise ValueError(f"`instrument` keys list item {iid!r} twice in subscale {name!r}.")
            items[iid] = rev
            ids.append(iid)
        subscales[str(name)] = {"items": ids}
    return {
        "id": "keys", "name": "Scoring keys", "version": "user", "status": "reconstructed",
        "unconfirmed": ["user-supplied scoring keys; provenance not recorded"],
        "citation": "user-supplied", "licence": "user-supplied",
        "scales": {"scale": scale_def},
        "items": [{"id": i, "label": i, "scale": "scale", "reverse": r} for i, r in items.items()],
        "subscales": subscales,
    }


def _scale_definition(scale: Any) -> dict[str, Any]:
    """A schema scale table from ``(low, high)``, a code list or a ResponseScale."""
    if isinstance(scale, ResponseScale):
        return scale.to_dict()
    sc = check_scale(scale, "scale")
    codes = [int(c) if float(c).is_integer() else float(c) for c in sc.codes]
    return {"codes": codes, "labels": [str(c) for c in codes]}


def resolve(instrument: Any, *, scale: Any = None) -> Instrument:
    """Turn an instrument reference into an :class:`Instrument`.

    Parameters
    ----------
    instrument : str, Instrument, dict or psych-style keys
        A catalogue id, an :class:`Instrument`, a definition dict (see
        :func:`load_instrument`), or scoring keys in the style of R psych,
        ``{"subscale": ["-A1", "A2", ...]}`` ("-" marks a reversed item).
    scale : (low, high), sequence of codes or ResponseScale, optional
        The declared response scale, required with psych-style keys (every
        item on it) and refused otherwise (an instrument declares its own
        scales). Reverse keying uses these bounds, never the observed
        minimum and maximum.

    Returns
    -------
    Instrument

    Notes
    -----
    R: none (``psych::scoreItems`` takes the keys directly).

    Examples
    --------
    >>> import teamculture as tc
    >>> inst = tc.instruments.resolve({"agree": ["-A1", "A2", "A3"]}, scale=(1, 6))
    >>> inst.keys(), inst.scale_for("A1").high
    ({'agree': ['-A1', 'A2', 'A3']}, 6.0)
    """
    return _resolve(instrument, scale, "instrument")


def _resolve(instrument: Any, scale: Any, name: str) -> Instrument:
    is_keys = isinstance(instrument, Mapping) and not ("id" in instrument or "items" in instrument)
    if scale is not None and not is_keys:
        what = instrument.id if isinstance(instrument, Instrument) else instrument if isinstance(instrument, str) \
            else instrument.get("id", "<definition>") if isinstance(instrument, Mapping) else None
        if what is not None:
            raise ValueError(
                f"`scale` applies only to psych-style keys; `{name}` {what!r} declares its own response scales "
                "(see Instrument.scales). Drop `scale`, or pass keys ({'subscale': ['-A1', 'A2']}) to score "
                "items on another scale."
            )
    if isinstance(instrument, Instrument):
        return instrument
    if isinstance(instrument, str):
        return _get(instrument, name)
    if isinstance(instrument, Mapping):
        if not is_keys:
            return _parse(instrument, name)
        if not instrument:
            raise ValueError(f"`{name}` keys are empty; map each subscale name to its item ids.")
        try:
            return _parse(_keys_definition(instrument, scale), name)
        except InstrumentError as exc:
            raise InstrumentError(
                f"{exc} Keys name item ids (a letter first, then letters, digits, '.', '_', '-'); score columns "
                "with other names by mapping them with `columns` ({'Q 1': 'q1'})."
            ) from None
    raise TypeError(
        f"`{name}` must be a catalogue id (str), an Instrument, a definition dict or psych-style keys "
        f"(dict of subscale -> item ids); got {type(instrument).__name__}."
    )
