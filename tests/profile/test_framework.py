"""Culture frameworks: the built-in mapping is complete, reasoned and round-trips; loaders validate."""

from __future__ import annotations

import pickle

import pytest

from teamculture.instruments import get
from teamculture.profile import Framework, frameworks, get_framework, load_framework
from teamculture.profile._framework import FRAMEWORK_DIR

FIVE = {"vision_values", "goals_performance", "support_compassion", "learning_innovation", "teamwork"}


def test_builtin_framework_covers_the_five_elements_with_a_reason_per_line():
    fw = get_framework("nhs-culture-elements")
    assert fw.status == "reconstructed" and len(fw.reason) > 40
    assert FIVE <= set(fw.element_ids)
    assert "compassionate_leadership" in fw.element_ids
    for m in fw.measures:
        assert len(m.reason) > 30, m.id
        assert m.weight == 1.0 and not m.reverse
    # every element has a measure, collective leadership is declared unmeasured with a reason
    assert all(fw.measures_for(e) for e in fw.element_ids)
    assert [u.label for u in fw.unmeasured] == ["Collective leadership"]
    # the seed deck's interventions for each of the five elements
    assert all(fw.element(e).interventions for e in FIVE)


def test_builtin_measures_exist_in_the_catalogue():
    fw = get_framework("nhs-culture-elements")
    for m in fw.measures:
        inst = get(m.instrument)
        if m.kind == "subscale":
            assert m.score in list(inst.subscales) + list(inst.composites)
        else:
            assert m.category in inst.classification.categories


def test_listing_agrees_with_the_frameworks():
    tab = frameworks()
    assert list(tab.index) == sorted(p.stem for p in FRAMEWORK_DIR.glob("*.toml"))
    for fid, row in tab.iterrows():
        fw = get_framework(fid)
        assert (row["n_elements"], row["n_measures"], row["status"]) == (len(fw.elements), len(fw.measures),
                                                                          fw.status)
    assert list(frameworks(status="official").index) == list(tab.index[tab["status"] == "official"])


def test_round_trips_through_dict_and_file_and_pickle():
    fw = get_framework("nhs-culture-elements")
    assert load_framework(fw.to_dict()) == fw
    assert load_framework(FRAMEWORK_DIR / "nhs-culture-elements.toml") == fw
    assert pickle.loads(pickle.dumps(fw)) == fw
    assert isinstance(fw, Framework) and "reconstructed" in str(fw) and "nhs-culture-elements" in repr(fw)


def test_user_framework_with_a_column_measure():
    fw = load_framework({
        "id": "mine", "name": "Mine", "version": 2, "status": "official", "citation": "local",
        "elements": [{"id": "pressure", "label": "Work pressure"}],
        "measures": [{"element": "pressure", "column": "pressure_score", "range": [1, 5], "reverse": True,
                      "weight": 2, "reason": "lower pressure is better"}]})
    m = fw.measures[0]
    assert (m.kind, m.column, m.range, m.reverse, m.weight, m.id) == ("column", "pressure_score", (1.0, 5.0), True,
                                                                      2.0, "pressure_score")
    assert fw.version == "2" and fw.reason == ""


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("reason"), r"'reason' is required"),
    (lambda d: d["measures"][0].pop("reason"), r"measures\[0\].*'reason' is required"),
    (lambda d: d["measures"][0].update(element="teamwerk"), r"not declared.*Did you mean 'teamwork'"),
    (lambda d: d["measures"][0].update(instrument="tci-41"), r"not in the catalogue.*Did you mean 'tci-14'"),
    (lambda d: d["measures"][0].update(score="visoin"), r"no sub-score 'visoin'.*Did you mean 'vision'"),
    (lambda d: d["measures"][0].update(weight=0), r"'weight' must be a finite number > 0"),
    (lambda d: d["measures"][0].update(column="x"), r"exactly one of"),
    (lambda d: d["elements"].append(dict(d["elements"][0])), r"declared twice"),
    (lambda d: d.update(status="draft"), r"'status' must be one of"),
    (lambda d: d.update(schema=2), r"'schema' must be 1"),
    (lambda d: d.update(colour="red"), r"unknown key"),
    (lambda d: d["elements"].append({"id": "spare", "label": "Spare"}), r"have no measure"),
])
def test_malformed_definitions_are_refused_naming_the_part(change, message):
    d = {"id": "t", "name": "T", "version": "1", "status": "reconstructed", "reason": "test", "citation": "x",
         "elements": [{"id": "teamwork", "label": "Teamwork"}],
         "measures": [{"element": "teamwork", "instrument": "tci-14", "score": "vision", "reason": "test line"}]}
    change(d)
    with pytest.raises((ValueError, TypeError), match=message) as info:
        load_framework(d)
    assert "`framework`" in str(info.value)
