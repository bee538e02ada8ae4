"""``aggregate(data, instrument, by=...)``: keyed subscale scores against the raw-item route and score()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _misuse import Case, case_id, run_case
from numpy.testing import assert_allclose

import teamculture as tc


@pytest.fixture(scope="module")
def staff():
    st = tc.national_survey("tiny", rng=4).staff
    items = list(tc.instruments.get("nhs-engagement").item_ids) + list(tc.instruments.get("psych-safety-7").item_ids)
    return st.dropna(subset=items)


def test_nhs_engagement_keyed_0_10_against_raw_items_and_score(staff):
    inst = tc.instruments.get("nhs-engagement")
    got = tc.aggregate(staff, "nhs-engagement", by="team")
    means = tc.score(staff, inst).groupby(staff["team"]).mean()
    for name, ids in inst.subscales.items():
        raw = tc.aggregate(staff, {name: list(ids)}, by="team", scale=(1, 5)).table
        t = got.table
        # rwg(j), r*wg(j), awg are invariant under the 1-5 -> 0-10 map; AD and SD scale by 2.5
        for stat in ("rwg", "rwg_lindell", "awg"):
            assert_allclose(t[f"{name}_{stat}"], raw[f"{name}_{stat}"], rtol=1e-12, equal_nan=True)
        assert_allclose(t[f"{name}_ad"], 2.5 * raw[f"{name}_ad"], rtol=1e-12, equal_nan=True)
        assert_allclose(t[f"{name}_sd"], 2.5 * raw[f"{name}_sd"], rtol=1e-12, equal_nan=True)
        # the group mean of the keyed score is the mean of score()'s subscale scores
        assert_allclose(t[f"{name}_mean"], means.loc[t.index, name], rtol=1e-12)
        assert (t[f"{name}_n"] == raw[f"{name}_n"]).all()
    assert_allclose(got.icc.loc["motivation", ["icc1", "icc2"]].to_numpy(dtype=float),
                    tc.aggregate(staff, {"motivation": ["mot1", "mot2", "mot3"]}, by="team",
                                 scale=(1, 5)).icc.loc["motivation", ["icc1", "icc2"]].to_numpy(dtype=float),
                    rtol=1e-12)


def test_reverse_keyed_items_are_keyed(staff):
    inst = tc.instruments.get("psych-safety-7")
    got = tc.aggregate(staff, inst, by="team").table
    means = tc.score(staff, inst).groupby(staff["team"]).mean()
    assert_allclose(got["psych_safety_mean"], means.loc[got.index, "psych_safety"], rtol=1e-12)
    raw = tc.aggregate(staff, {"psych_safety": list(inst.item_ids)}, by="team", scale=(1, 7)).table
    # reversing an item (8 - x) changes no variance: rwg(j) is the raw items'
    assert_allclose(got["psych_safety_rwg"], raw["psych_safety_rwg"], rtol=1e-12, equal_nan=True)
    assert not np.allclose(got["psych_safety_mean"], raw["psych_safety_mean"])


def test_a_column_named_like_a_catalogue_id_is_a_column():
    df = pd.DataFrame({"tci-14": [1, 2, 3, 2, 3, 4], "team": list("aaabbb")})
    out = tc.aggregate(df, "tci-14", by="team", scale=(1, 5)).table
    assert_allclose(out["tci-14_mean"], [2.0, 3.0])


ST = tc.national_survey("tiny", rng=4).staff
CASES = [
    Case(tc.aggregate, lambda: tc.aggregate(ST, "nhs-engagement", by="team", scale=(1, 5)), "input",
         "scale-with-an-instrument",
         raises=(ValueError, r"`scale` must be None when `columns` is an instrument: 'nhs-engagement' declares")),
    Case(tc.aggregate, lambda: tc.aggregate(ST, "real-team", by="team"), "input", "classification-instrument",
         raises=(ValueError, r"instrument 'real-team' classifies respondents .* no scale scores")),
    Case(tc.aggregate, lambda: tc.aggregate(ST.drop(columns=["mot2"]), "nhs-engagement", by="team"), "input",
         "item-column-missing", raises=(ValueError, r"lacks the column\(s\) for 1 of the 9 item\(s\) .*item 'mot2'")),
    Case(tc.aggregate, lambda: tc.aggregate(ST, "nhs-engagement", by="teams"), "input", "by-typo",
         raises=(ValueError, r"`by`.*'teams'.*Did you mean 'team'")),
    Case(tc.aggregate, lambda: tc.aggregate(ST, "nhs-engagment", by="team", scale=(1, 5)), "input",
         "instrument-id-typo-is-a-column-typo", raises=(ValueError, r"nhs-engagment")),
    Case(tc.aggregate, lambda: tc.aggregate(ST.assign(mot1=ST["mot1"].where(ST.index != 0, 7)), "nhs-engagement",
                                            by="team"), "e", "code-outside-the-scale",
         raises=(ValueError, r"column 'mot1' \(item 'mot1'\) has 1 row\(s\)")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)
