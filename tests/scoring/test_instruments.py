"""Tests for teamculture.instruments: the schema, the loader and the built-in catalogue."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import teamculture as tc
from teamculture.errors import InstrumentError
from teamculture.instruments import Instrument, available, get, load_instrument, resolve
from teamculture.instruments._schema import parse_instrument

REQUIRED_IDS = ["nhs-engagement", "nhs-compassionate-leadership", "real-team", "hsopsc-1", "hsopsc-2",
                "saq-sf", "tci-14", "psych-safety-7", "uwes-9", "t-tpq"]
ALL_IDS = list(available().index)


def test_available_lists_required_catalogue():
    cat = available()
    assert set(REQUIRED_IDS) <= set(cat.index)
    assert list(cat.columns) == ["name", "version", "status", "n_items", "n_subscales", "method", "licence",
                                 "citation"]
    assert set(cat["status"]) <= {"official", "reconstructed"}


@given(st.sampled_from(ALL_IDS))
def test_property_builtin_definitions_round_trip(iid):
    inst = get(iid)
    d = inst.to_dict()
    again = parse_instrument(d)
    assert again == inst
    assert parse_instrument(copy.deepcopy(again.to_dict())).to_dict() == d


@pytest.mark.parametrize("iid", ALL_IDS)
def test_builtin_status_and_provenance(iid):
    inst = get(iid)
    assert inst.citation and inst.licence
    if inst.status == "reconstructed":
        assert len(inst.unconfirmed) > 0
    else:
        assert inst.unconfirmed == ()
    if not inst.wording_allowed:
        assert all(it.wording is None for it in inst.items)


@pytest.mark.parametrize(
    ("iid", "n_items", "sizes"),
    [
        ("nhs-engagement", 9, [3, 3, 3]),
        ("nhs-compassionate-leadership", 4, [4]),
        ("hsopsc-1", 42, [4, 4, 3, 3, 4, 3, 3, 3, 4, 4, 4, 3]),
        ("hsopsc-2", 32, [3, 4, 3, 4, 3, 3, 4, 2, 3, 3]),
        ("saq-sf", 36, [6, 7, 5, 4, 5, 4]),
        ("tci-14", 14, [4, 4, 3, 3]),
        ("psych-safety-7", 7, [7]),
        ("uwes-9", 9, [3, 3, 3, 9]),
        ("t-tpq", 35, [7, 7, 7, 7, 7]),
    ],
)
def test_catalogue_structure(iid, n_items, sizes):
    inst = get(iid)
    assert len(inst.items) == n_items
    assert [len(v) for v in inst.subscales.values()] == sizes


def test_catalogue_keys_from_domain_facts():
    ps = get("psych-safety-7")
    assert [it.id for it in ps.items if it.reverse] == ["ps1", "ps3", "ps5"]
    assert ps.scale_for("ps2").codes == tuple(float(c) for c in range(1, 8))
    h1 = get("hsopsc-1")
    assert h1.keys()["nonpunitive_response"] == ["-A8", "-A12", "-A16"]
    assert h1.keys()["overall_perceptions"] == ["-A10", "A15", "-A17", "A18"]
    assert h1.scale_for("A1").missing_codes == (9.0,)
    assert h1.scale_for("C1").labels[-1] == "Always"
    assert sum(it.reverse for it in h1.items) == 18
    saq = get("saq-sf")
    assert [it.id for it in saq.items if it.reverse] == ["saq2", "saq11", "saq36"]
    assert saq.scoring.range == (0.0, 100.0) and saq.scoring.score_positive == 75.0
    in_scales = {i for ids in saq.subscales.values() for i in ids}
    assert {it.id for it in saq.items} - in_scales == {"saq14", "saq33", "saq34", "saq35", "saq36"}
    eng = get("nhs-engagement")
    assert eng.scoring.range == (0.0, 10.0)
    assert dict(eng.composites) == {"engagement": ("motivation", "involvement", "advocacy")}
    assert eng.scale_for("mot1").labels == ("Never", "Rarely", "Sometimes", "Often", "Always")
    assert get("nhs-compassionate-leadership").columns_for(2021) == {"q9f": "cl1", "q9g": "cl2", "q9h": "cl3",
                                                                    "q9i": "cl4"}
    assert get("uwes-9").scale_for("uwes1").low == 0.0


def test_instrument_accessors():
    inst = get("psych-safety-7")
    assert isinstance(inst, Instrument)
    assert inst.item("ps3").reverse is True
    with pytest.raises(KeyError, match="no item 'ps9'"):
        inst.item("ps9")
    assert inst.score_names == ("psych_safety",)
    assert get("real-team").score_names == ("team_type",)
    assert "status: reconstructed" in inst.summary()
    assert "unconfirmed:" in inst.summary()
    with pytest.raises(AttributeError):
        inst.id = "x"  # frozen
    assert hash(inst) == hash(parse_instrument(inst.to_dict()))
    assert len({inst, get("tci-14"), parse_instrument(inst.to_dict())}) == 2


def test_get_validation():
    with pytest.raises(ValueError, match="`instrument_id` 'nope' is not in the catalogue. Available: \\["):
        get("nope")
    with pytest.raises(ValueError, match="`instrument_id` 'nhs-engagment' is not in the catalogue. Did you mean 'nhs-engagement'"):
        get("nhs-engagment")
    with pytest.raises(ValueError, match="looks like a file name: read your own definition with teamculture.load_instrument"):
        get("my_scale.toml")
    with pytest.raises(TypeError, match=r"`instrument_id` must be a catalogue id \(str\)"):
        get(3)


def test_public_names():
    assert tc.Instrument is Instrument
    assert tc.load_instrument is load_instrument


# ---------------------------------------------------------------------------
# loading user definitions
# ---------------------------------------------------------------------------
def _minimal() -> dict:
    return {
        "id": "mine", "name": "Mine", "version": "1", "status": "official", "citation": "c", "licence": "l",
        "scales": {"a5": {"codes": [1, 2, 3, 4, 5], "labels": ["SD", "D", "N", "A", "SA"], "positive": [4, 5]}},
        "items": [{"id": "x1", "scale": "a5"}, {"id": "x2", "scale": "a5", "reverse": True}],
        "subscales": {"s": {"items": ["x1", "x2"]}},
    }


def test_load_from_toml_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'id = "mine"\nname = "Mine"\nversion = "1"\nstatus = "official"\ncitation = "c"\nlicence = "l"\n'
        '[scales.a5]\ncodes = [1, 2, 3, 4, 5]\nlabels = ["SD", "D", "N", "A", "SA"]\npositive = [4, 5]\n'
        '[[items]]\nid = "x1"\nscale = "a5"\n[[items]]\nid = "x2"\nscale = "a5"\nreverse = true\n'
        '[subscales.s]\nitems = ["x1", "x2"]\n'
    )
    assert load_instrument(path) == load_instrument(_minimal())
    assert load_instrument(str(path)).keys() == {"s": ["x1", "-x2"]}
    bad = tmp_path / "bad.toml"
    bad.write_text("id = \n")
    with pytest.raises(InstrumentError, match="invalid TOML"):
        load_instrument(bad)
    with pytest.raises(ValueError, match="is not a file"):
        load_instrument(tmp_path / "missing.toml")
    with pytest.raises(TypeError, match="`source` must be"):
        load_instrument(3)


def _mutate(path, value):
    def f(d):
        target = d
        for k in path[:-1]:
            target = target[k]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return d
    return f


_DELETE = object()


@pytest.mark.parametrize(
    ("mutation", "pattern"),
    [
        (_mutate(("name",), _DELETE), "missing required key 'name'"),
        (_mutate(("colour",), "red"), r"unknown key\(s\) \['colour'\]"),
        (_mutate(("status",), "draft"), r"'status' must be one of \['official', 'reconstructed'\]"),
        (_mutate(("status",), "reconstructed"), "must list what is 'unconfirmed'"),
        (_mutate(("unconfirmed",), ["x"]), "'official' definition cannot list unconfirmed"),
        (_mutate(("scales", "a5", "codes"), [1, 3, 2, 4, 5]), "strictly increasing"),
        (_mutate(("scales", "a5", "labels"), ["a", "b"]), "'labels' has 2 entries but 'codes' has 5"),
        (_mutate(("scales", "a5", "positive"), [6]), r"'positive' codes \[6.0\] are not valid"),
        (_mutate(("scales", "a5", "missing_codes"), [5]), "also valid codes"),
        (_mutate(("scales", "a5", "labels"), ["a", "A", "b", "c", "d"]), "labels must be distinct"),
        (_mutate(("items", 1, "scale"), "b7"), "unknown scale 'b7'"),
        (_mutate(("items", 1, "id"), "x1"), r"item ids must be unique; repeated \['x1'\]"),
        (_mutate(("items", 1, "reverse"), "yes"), "'reverse' must be bool"),
        (_mutate(("items", 0, "wording"), "I like it"), "licence does not allow shipping wording"),
        (_mutate(("subscales", "s", "items"), ["x1", "x9"]), r"unknown item id\(s\) \['x9'\]"),
        (_mutate(("subscales", "s", "min_items"), 3), "'min_items' must be between 1 and 2"),
        (_mutate(("subscales",), {}), "at least one subscale"),
        (_mutate(("composites",), {"c": {"subscales": ["t"]}}), r"unknown or no subscale\(s\) \['t'\]"),
        (_mutate(("scoring",), {"method": "median"}), r"'method' must be one of"),
        (_mutate(("scoring",), {"range": [10, 0]}), "low < high"),
        (_mutate(("scoring",), {"method": "classification"}), "go together"),
        (_mutate(("mappings",), {"2021": {"q1": "x7"}}), r"maps to unknown item id\(s\) \['x7'\]"),
        (_mutate(("mappings",), {"2021": {"q1": "x1", "q2": "x1"}}), "maps several question codes"),
        (_mutate(("id",), "1bad id"), "'id' must start with a letter"),
        (_mutate(("schema",), 2), "'schema' must be 1"),
    ],
)
def test_malformed_definitions_rejected(mutation, pattern):
    d = mutation(_minimal())
    with pytest.raises(InstrumentError, match=pattern):
        load_instrument(d)


def test_mixed_point_scales_need_range():
    d = _minimal()
    d["scales"]["b7"] = {"codes": list(range(1, 8)), "labels": [str(k) for k in range(1, 8)]}
    d["items"][1]["scale"] = "b7"
    with pytest.raises(InstrumentError, match="mixes response scales"):
        load_instrument(d)
    d["scoring"] = {"range": [0, 100]}
    assert load_instrument(d).scoring.range == (0.0, 100.0)


def test_wording_allowed_round_trip():
    d = _minimal()
    d["wording_allowed"] = True
    d["items"][0]["wording"] = "Public-domain wording."
    inst = load_instrument(d)
    assert inst.item("x1").wording == "Public-domain wording."
    assert parse_instrument(inst.to_dict()) == inst


def test_definition_not_mutated_and_instrument_independent():
    d = _minimal()
    before = copy.deepcopy(d)
    inst = load_instrument(d)
    assert d == before
    d["items"][0]["id"] = "changed"
    assert inst.item_ids == ("x1", "x2")


# ---------------------------------------------------------------------------
# resolve
# ---------------------------------------------------------------------------
def test_resolve_variants():
    inst = get("tci-14")
    assert resolve("tci-14") is inst
    assert resolve(inst) is inst
    assert resolve(inst.to_dict()) == inst
    k = resolve({"agree": ["-A1", "A2", "A3"]}, scale=(1, 5))
    assert k.keys() == {"agree": ["-A1", "A2", "A3"]}
    assert k.scale_for("A1").codes == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert k.status == "reconstructed"
    k2 = resolve({"s": ["a", "-b"]}, scale=[0, 0.5, 1])
    assert k2.scale_for("b").high == 1.0 and k2.scale_for("b").n_points == 3
    k3 = resolve({"s": ["a"]}, scale={"codes": [1, 2], "labels": ["yes", "no"]})
    assert k3.scale_for("a").labels == ("yes", "no")


@pytest.mark.parametrize(
    ("keys", "scale", "exc", "pattern"),
    [
        ({"s": ["a"]}, None, ValueError, "never taken from the observed data"),
        ({"s": ["a"]}, (5, 1), ValueError, r"`scale` as \(low, high\) must be two integers with low < high"),
        ({"s": ["a"]}, 5, TypeError, r"`scale` must be .* For a 5-point scale coded 1..5 pass scale=\(1, 5\)"),
        ({"s": ["a", "-a"]}, (1, 5), ValueError, "reverse item 'a' in one subscale but not another"),
        ({"s": "a"}, (1, 5), TypeError, "list of item ids"),
        ({"s": ["a", 3]}, (1, 5), TypeError, "item-id strings"),
        ({"s": ["a"], "t": ["-a"]}, (1, 5), ValueError, "reverse item 'a' in one subscale but not another"),
        ({}, (1, 5), ValueError, "keys are empty"),
    ],
)
def test_resolve_keys_validation(keys, scale, exc, pattern):
    with pytest.raises(exc, match=pattern):
        resolve(keys, scale=scale)


def test_resolve_type_error():
    with pytest.raises(TypeError, match="`instrument` must be a catalogue id"):
        resolve(pd.DataFrame())


# ---------------------------------------------------------------------------
# Hypothesis: random valid definitions round-trip through the schema
# ---------------------------------------------------------------------------
_ids = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


@st.composite
def _definitions(draw):
    n_pts = draw(st.integers(2, 7))
    start = draw(st.integers(0, 1))
    codes = list(range(start, start + n_pts))
    scale = {"codes": codes, "labels": [f"L{c}" for c in codes],
             "positive": draw(st.lists(st.sampled_from(codes), unique=True, min_size=1))}
    if draw(st.booleans()):
        scale["missing_codes"] = [9]
        scale["missing_labels"] = ["Does not apply"]
    item_ids = draw(st.lists(_ids, min_size=1, max_size=8, unique=True))
    items = [{"id": i, "label": f"label {i}", "scale": "sc", "reverse": draw(st.booleans())} for i in item_ids]
    subs = {}
    for k in range(draw(st.integers(1, 3))):
        members = draw(st.lists(st.sampled_from(item_ids), min_size=1, unique=True))
        subs[f"sub{k}"] = {"items": members, "min_items": draw(st.integers(1, len(members)))}
    status = draw(st.sampled_from(["official", "reconstructed"]))
    d = {"id": "gen", "name": "Generated", "version": "1", "status": status,
         "unconfirmed": ["something"] if status == "reconstructed" else [],
         "citation": "c", "licence": "l", "scales": {"sc": scale}, "items": items, "subscales": subs,
         "scoring": {"method": draw(st.sampled_from(["mean", "sum"])), "percent_positive": draw(st.booleans())}}
    if draw(st.booleans()):
        d["scoring"]["range"] = [0, 10]
    if len(subs) > 1 and draw(st.booleans()):
        d["composites"] = {"total": {"subscales": list(subs)}}
    if draw(st.booleans()):
        d["mappings"] = {"2020": {f"q{k}": i for k, i in enumerate(item_ids)}}
    return d


@given(_definitions())
def test_property_random_definitions_round_trip(d):
    inst = load_instrument(d)
    assert parse_instrument(inst.to_dict()) == inst
    keys = inst.keys()
    for name, entries in keys.items():
        assert [e.lstrip("-") for e in entries] == list(inst.subscales[name])
        assert all(e.startswith("-") == inst.item(e.lstrip("-")).reverse for e in entries)
