"""Tests for teamculture.scoring: oracles (R psych::scoreItems, the AHRQ rule,
the simulator's truth), validation, and Hypothesis properties."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import teamculture as tc
from teamculture.errors import DroppedDataWarning
from teamculture.instruments import get, resolve
from teamculture.scoring import GroupScores, occupational_weights

REF = Path(__file__).resolve().parents[1] / "reference"


def _read_ref(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"psych_scoreitems_{name}.csv", comment="#")


def _read_data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "scoring_data" / f"{name}.csv")


KEYS_RANDOM = {"a": ["i1", "-i2", "i3", "i4"], "b": ["i5", "i6", "-i7"], "c": ["-i8", "i9", "i10", "-i11", "i12"]}


# ---------------------------------------------------------------------------
# oracles: R psych::scoreItems(impute = "none") (closed form: rtol 1e-12)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "scale"), [("random", (1, 5)), ("random_0_6", (0, 6))])
def test_keys_match_psych_scoreitems(case, scale):
    data = _read_data("random_items")
    desired = _read_ref(case)
    actual = tc.score(data, KEYS_RANDOM, scale=scale)
    assert list(actual.columns) == list(desired.columns)
    assert_array_equal(actual.isna().to_numpy(), desired.isna().to_numpy())
    assert_allclose(actual.to_numpy(), desired.to_numpy(), rtol=1e-12, atol=0)


def test_keyed_items_match_psych_reverse_code():
    data = _read_data("random_items")
    desired = _read_ref("reverse_code")
    before = data.copy()
    actual = tc.scoring.keyed_items(data, KEYS_RANDOM, scale=(1, 5))
    assert list(actual.columns) == list(desired.columns)
    assert_allclose(actual.to_numpy(), desired.to_numpy(), rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(data, before)
    with pytest.raises(ValueError, match="classification rule"):
        tc.scoring.keyed_items(pd.DataFrame({c: [1] for c in ["rt_team", "rt_objectives", "rt_close",
                                                                "rt_review"]}), "real-team")


def test_psych_safety_matches_psych_scoreitems():
    data = _read_data("sim_items")
    desired = _read_ref("psych_safety")
    actual = tc.score(data, "psych-safety-7")
    assert_allclose(actual["psych_safety"].to_numpy(), desired["psych_safety"].to_numpy(), rtol=1e-12, atol=0)


def test_engagement_0_10_is_rescaled_psych_mean():
    """NHS 0-10: (psych mean on 1..5 - 1) x 2.5 per sub-score; engagement = mean of sub-scores."""
    data = _read_data("sim_items")
    desired = _read_ref("engagement")
    actual = tc.score(data, "nhs-engagement")
    for c in ("motivation", "involvement", "advocacy"):
        assert_allclose(actual[c].to_numpy(), (desired[c].to_numpy() - 1) * 2.5, rtol=1e-12, atol=1e-12)
    eng = (desired.to_numpy() - 1).mean(axis=1) * 2.5
    assert_allclose(actual["engagement"].to_numpy(), eng, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# oracle: the simulator's truth (real-team classification, trust shares)
# ---------------------------------------------------------------------------
def test_real_team_reproduces_simulator(small_survey):
    staff = small_survey.staff
    t = tc.score(staff, "real-team")
    assert t.index.equals(staff.index)
    assert list(t["team_type"].cat.categories) == ["real", "pseudo", "none"]
    assert_array_equal(t["team_type"].astype(str).to_numpy(), staff["team_type"].astype(str).to_numpy())


def test_real_team_trust_share_matches_simulator(small_survey):
    g = tc.score_groups(small_survey.staff, "real-team", by="trust", denominator="all")
    assert g.category_percent.index.equals(small_survey.trusts.index)
    assert_allclose(g.category_percent["real"].to_numpy(), small_survey.trusts["real_team_pct"].to_numpy(),
                    rtol=1e-12, atol=0)
    assert_array_equal(g.category_counts.sum(axis=1).to_numpy(), small_survey.trusts["n_staff"].to_numpy())


def test_real_team_denominators():
    df = pd.DataFrame({
        "g": ["x"] * 6,
        "rt_team": [1, 1, 1, 2, np.nan, 1],
        "rt_objectives": [1, 1, 2, np.nan, np.nan, 1],
        "rt_close": [1, 2, 2, np.nan, np.nan, np.nan],
        "rt_review": [1, 1, 2, np.nan, np.nan, 1],
    })
    t = tc.score(df, "real-team")["team_type"]
    assert t.astype(object).tolist()[:4] == ["real", "pseudo", "pseudo", "none"]
    assert t.isna().tolist() == [False, False, False, False, True, True]  # missing gate; undetermined criteria
    res = {d: tc.score_groups(df, "real-team", by="g", denominator=d).category_percent.loc["x"]
           for d in ("all", "classified", "in_team")}
    assert_allclose(res["all"].to_numpy(), np.array([1, 2, 1]) / 6 * 100, rtol=1e-12)
    assert_allclose(res["classified"].to_numpy(), np.array([1, 2, 1]) / 4 * 100, rtol=1e-12)
    assert_allclose(res["in_team"].to_numpy()[:2], np.array([1, 2]) / 3 * 100, rtol=1e-12)
    assert math.isnan(res["in_team"]["none"])
    counts = tc.score_groups(df, "real-team", by="g").category_counts.loc["x"]
    assert counts.to_dict() == {"real": 1, "pseudo": 2, "none": 1, "unclassified": 2}


def test_real_team_agreement_threshold():
    df = pd.DataFrame({"rt_team": [1, 1, 1, 2], "rt_objectives": [5, 4, 3, np.nan],
                       "rt_close": [4, 5, 5, np.nan], "rt_review": [4, 4, 5, np.nan]})
    t = tc.score(df, "real-team-agreement")["team_type"].astype(object).tolist()
    assert t == ["real", "real", "pseudo", "none"]


# ---------------------------------------------------------------------------
# oracle: AHRQ composite percent positive computed directly
# ---------------------------------------------------------------------------
def _hsopsc_data(seed: int, n: int = 400) -> pd.DataFrame:
    inst = get("hsopsc-1")
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, size=(n, len(inst.items))).astype(float)
    u = rng.random(x.shape)
    x[u < 0.08] = 9.0
    x[u > 0.93] = np.nan
    df = pd.DataFrame(x, columns=list(inst.item_ids))
    df.insert(0, "unit", rng.choice(["ward 3", "ED", "ICU", "theatres"], size=n))
    return df


def test_hsopsc_percent_positive_matches_direct_ahrq_rule():
    df = _hsopsc_data(7)
    inst = get("hsopsc-1")
    g = tc.score_groups(df, "hsopsc-1", by="unit")
    for unit in ["ED", "ICU", "theatres", "ward 3"]:
        rows = df[df["unit"] == unit]
        item_pct = {}
        for it in inst.items:
            valid = [v for v in rows[it.id] if v in (1, 2, 3, 4, 5)]  # 9 and missing excluded
            pos = [v for v in valid if (v <= 2 if it.reverse else v >= 4)]
            item_pct[it.id] = 100.0 * len(pos) / len(valid)
            assert_allclose(g.item_percent_positive.loc[unit, it.id], item_pct[it.id], rtol=1e-12)
        for comp, ids in inst.subscales.items():
            direct = sum(item_pct[i] for i in ids) / len(ids)
            assert_allclose(g.percent_positive.loc[unit, comp], direct, rtol=1e-12)
    assert list(g.percent_positive.columns) == list(inst.subscales)
    assert len(g.percent_positive.columns) == 12


def test_saq_score_percent_positive():
    inst = get("saq-sf")
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.integers(1, 6, size=(200, 36)).astype(float), columns=list(inst.item_ids))
    df["unit"] = np.repeat(["a", "b"], 100)
    s = tc.score(df, "saq-sf")
    tw = df[[f"saq{i}" for i in range(1, 7)]].copy()
    tw["saq2"] = 6 - tw["saq2"]
    assert_allclose(s["teamwork_climate"].to_numpy(), (tw.mean(axis=1).to_numpy() - 1) * 25, rtol=1e-12)
    g = tc.score_groups(df, "saq-sf", by="unit")
    direct = 100 * (s["teamwork_climate"][df["unit"] == "a"] >= 75).mean()
    assert_allclose(g.score_percent_positive.loc["a", "teamwork_climate"], direct, rtol=1e-12)
    assert g.percent_positive.shape == (2, 0)


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------
def test_score_aligned_to_index_and_columns(small_survey):
    staff = small_survey.staff.iloc[::7].copy()
    staff.index = staff.index * 10 + 3
    s = tc.score(staff, "nhs-engagement")
    assert s.index.equals(staff.index)
    assert list(s.columns) == ["motivation", "involvement", "advocacy", "engagement"]
    assert s.attrs == {}  # metadata is never stored in DataFrame.attrs


def test_engagement_tracks_latent_truth(small_survey):
    s = tc.score(small_survey.staff, "nhs-engagement")
    ok = s["engagement"].notna()
    r = np.corrcoef(s["engagement"][ok], small_survey.staff["latent_engagement"][ok])[0, 1]
    assert r > 0.9


def test_text_labels_equal_codes():
    inst = get("nhs-engagement")
    rng = np.random.default_rng(0)
    codes = pd.DataFrame(rng.integers(1, 6, size=(50, 9)).astype(float), columns=list(inst.item_ids))
    codes.iloc[3, 2] = np.nan
    labels = codes.copy().astype(object)
    for iid in inst.item_ids:
        sc = inst.scale_for(iid)
        m = dict(zip(sc.codes, sc.labels))
        labels[iid] = [None if pd.isna(v) else m[v].upper() if k % 2 else m[v] for k, v in enumerate(codes[iid])]
    pd.testing.assert_frame_equal(tc.score(labels, inst), tc.score(codes, inst))


def test_columns_and_survey_year_mapping():
    df = pd.DataFrame({"q9f": [4, 5], "q9g": [4, 1], "q9h": [3, 2], "my_q9i": [5, np.nan]})
    a = tc.score(df, "nhs-compassionate-leadership", survey_year=2021, columns={"my_q9i": "cl4"})
    b = tc.score(df.set_axis(["cl1", "cl2", "cl3", "cl4"], axis=1), "nhs-compassionate-leadership")
    pd.testing.assert_frame_equal(a, b)
    assert_allclose(b["compassionate_leadership"].to_numpy(), [(7.5 + 7.5 + 5 + 10) / 4, (10 + 0 + 2.5) / 3])


def test_min_items_rule():
    df = pd.DataFrame({"a": [1, 2, np.nan, np.nan], "b": [3, np.nan, np.nan, 5], "c": [5, np.nan, np.nan, np.nan]})
    keys = {"s": ["a", "b", "c"]}
    assert_allclose(tc.score(df, keys, scale=(1, 5))["s"].to_numpy(), [3, 2, np.nan, 5])
    assert_allclose(tc.score(df, keys, scale=(1, 5), min_items=2)["s"].to_numpy(), [3, np.nan, np.nan, np.nan])
    assert_allclose(tc.score(df, keys, scale=(1, 5), min_items={"s": 3})["s"].to_numpy(), [3, np.nan, np.nan, np.nan])


def test_sum_method_prorates():
    d = tc.load_instrument({
        "id": "s", "name": "s", "version": "1", "status": "reconstructed", "unconfirmed": ["test"],
        "citation": "t", "licence": "t", "scales": {"f": {"codes": [0, 1, 2, 3], "labels": ["0", "1", "2", "3"]}},
        "items": [{"id": "x", "scale": "f"}, {"id": "y", "scale": "f", "reverse": True}],
        "subscales": {"total": {"items": ["x", "y"]}}, "scoring": {"method": "sum"},
    })
    df = pd.DataFrame({"x": [1, 2], "y": [0, np.nan]})
    assert_allclose(tc.score(df, d)["total"].to_numpy(), [1 + 3, 2 * 2])


def test_missing_codes_count_as_missing():
    df = pd.DataFrame({i: [9, 4] for i in ["A1", "A3", "A4", "A11"]})
    inst = get("hsopsc-1")
    sub = tc.load_instrument({**inst.to_dict(), "subscales": {"t": {"items": ["A1", "A3", "A4", "A11"]}}})
    s = tc.score(df, sub)
    assert math.isnan(s["t"].iloc[0]) and s["t"].iloc[1] == 4


def test_weighted_group_means():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.integers(1, 6, size=(60, 3)).astype(float), columns=["a", "b", "c"])
    df.loc[5, ["a", "b", "c"]] = np.nan
    df["g"] = rng.choice(["p", "q", "r"], size=60)
    df["w"] = rng.uniform(0.2, 3, size=60)
    keys = {"s": ["a", "-b", "c"]}
    s = tc.score(df, keys, scale=(1, 5))["s"]
    g = tc.score_groups(df, keys, by="g", weights="w", scale=(1, 5))
    assert g.weighted
    for lab in ["p", "q", "r"]:
        m = (df["g"] == lab) & s.notna()
        assert_allclose(g.means.loc[lab, "s"], np.average(s[m], weights=df["w"][m]), rtol=1e-12)
        assert g.counts.loc[lab, "s"] == m.sum()
        assert g.n_respondents[lab] == (df["g"] == lab).sum()


def test_occupational_weights_reproduce_benchmark_mix():
    df = pd.DataFrame({"org": list("aaaabbbccc"), "occ": list("nnmxnmmnxx")})
    bench = {"n": 0.5, "m": 0.3, "x": 0.2}
    w = occupational_weights(df, by="org", occupation="occ", benchmark=bench)
    assert w.index.equals(df.index)
    for org in "abc":
        sub = df["org"] == org
        present = set(df.loc[sub, "occ"])
        tot = w[sub].sum()
        for occ in present:
            share = w[sub & (df["occ"] == occ)].sum() / tot
            assert_allclose(share, bench[occ] / sum(bench[o] for o in present), rtol=1e-12)


def test_occupational_weights_absent_occupation_warns_and_bad_columns_raise():
    df = pd.DataFrame({"org": list("aaaabbbccc"), "occ": list("nnmxnmmnxx")})
    before = df.copy()
    with pytest.warns(DroppedDataWarning, match=r"1 occupation\(s\) .* \['x'\]; their 3 of 10 respondent\(s\) get weight 0"):
        w = occupational_weights(df, by="org", occupation="occ", benchmark={"n": 0.5, "m": 0.3})
    pd.testing.assert_frame_equal(df, before)
    assert (w[df["occ"] == "x"] == 0).all() and (w[df["occ"] != "x"] > 0).all()
    with pytest.raises(ValueError, match=r"`by` names column\(s\) \['zz'\] that are not in `data`"):
        occupational_weights(df, by="zz", occupation="occ")
    with pytest.raises(ValueError, match=r"`occupation` names column\(s\) \['job'\] that are not in `data`"):
        occupational_weights(df, by="org", occupation="job")


def test_group_index_is_user_labels(small_survey):
    g = tc.score_groups(small_survey.staff, "nhs-engagement", by="team")
    assert isinstance(g, GroupScores)
    assert list(g.means.index) == sorted(small_survey.staff["team"].astype(str).unique())
    assert list(g.means.columns) == ["motivation", "involvement", "advocacy", "engagement"]
    assert g.category_percent.shape == (len(g.means), 0)
    assert "groups" in str(g.summary())
    assert g.n_obs == len(small_survey.staff) and g.n_groups == len(g.means) and g.by == ("team",)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def test_invalid_codes_raise_with_column_values_and_count():
    df = pd.DataFrame({"mot1": [1, 6, 7, 6, 2], "mot2": [1] * 5, "mot3": [1] * 5,
                       **{i: [3] * 5 for i in ["inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]}})
    with pytest.raises(ValueError, match=r"column 'mot1'.*3 row\(s\).*\[6, 7\].*allows \[1, 2, 3, 4, 5\]"):
        tc.score(df, "nhs-engagement")


def test_invalid_codes_to_missing_are_counted():
    df = pd.DataFrame({"a": [1, 6, 0.5], "b": [2, 2, 2]})
    before = df.copy()
    with pytest.warns(DroppedDataWarning, match=r"2 code\(s\) outside the response scale were set to missing "
                                                r"\(invalid='missing'\) in `data`: 'a' \(column 'a'\): 2"):
        s = tc.score(df, {"s": ["a", "b"]}, scale=(1, 5), invalid="missing")
    assert_allclose(s["s"].to_numpy(), [1.5, 2, 2])
    pd.testing.assert_frame_equal(df, before)
    with pytest.warns(DroppedDataWarning, match=r"2 code\(s\) outside the response scale .* 'a' \(column 'a'\): 2"):
        g = tc.score_groups(df.assign(g=0), {"s": ["a", "b"]}, by="g", scale=(1, 5), invalid="missing")
    assert g.n_invalid == {"a": 2} and g.n_dropped == 2


def test_unknown_label_raises():
    df = pd.DataFrame({"cl1": ["Agree", "Sort of"], "cl2": [1, 2], "cl3": [1, 2], "cl4": [1, 2]})
    with pytest.raises(ValueError, match=r"column 'cl1' has 1 row\(s\) with unknown label\(s\) \['Sort of'\]"):
        tc.score(df, "nhs-compassionate-leadership")


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"data": np.ones((3, 4))}, TypeError, "`data` must be a pandas DataFrame"),
        ({"instrument": 3}, TypeError, "`instrument` must be"),
        ({"instrument": "no-such"}, ValueError, "not in the catalogue"),
        ({"invalid": "drop"}, ValueError, "`invalid` must be one of"),
        ({"min_items": 5}, ValueError, r"`min_items` for subscale 'compassionate_leadership'.*\[1, 4\]"),
        ({"min_items": {"nope": 1}}, ValueError, "unknown subscale"),
        ({"columns": {"x": "nope"}}, ValueError, "unknown item id"),
        ({"survey_year": 1999}, ValueError, "`survey_year` 1999 has no question mapping"),
    ],
)
def test_score_validation(kwargs, exc, pattern):
    df = pd.DataFrame({f"cl{k}": [1.0, 2.0] for k in range(1, 5)})
    args = {"data": df, "instrument": "nhs-compassionate-leadership", **kwargs}
    with pytest.raises(exc, match=pattern):
        tc.score(args.pop("data"), args.pop("instrument"), **args)


def test_missing_columns_and_keys_without_scale():
    with pytest.raises(ValueError, match=r"lacks the column\(s\) for 2 of the 4 item\(s\).*item 'cl3' \(no column 'cl3'\); "
                                         r"item 'cl4'"):
        tc.score(pd.DataFrame({"cl1": [1], "cl2": [1]}), "nhs-compassionate-leadership")
    with pytest.raises(ValueError, match="need the response scale"):
        tc.score(pd.DataFrame({"a": [1]}), {"s": ["a"]})


def test_score_groups_validation():
    df = pd.DataFrame({"a": [1.0, 2.0], "g": ["x", None]})
    with pytest.raises(ValueError, match=r"`by` column\(s\) \['g'\] have missing labels in 1 row\(s\)"):
        tc.score_groups(df, {"s": ["a"]}, by="g", scale=(1, 5))
    with pytest.raises(ValueError, match=r"`by` names column\(s\) \['G'\] that are not in `data`. Did you mean 'g'"):
        tc.score_groups(df, {"s": ["a"]}, by="G", scale=(1, 5))
    with pytest.raises(ValueError, match=r"`weights` must be finite and >= 0; 1 bad"):
        tc.score_groups(df.assign(g="x"), {"s": ["a"]}, by="g", weights=[1, -1], scale=(1, 5))
    with pytest.raises(ValueError, match="`denominator` must be one of"):
        tc.score_groups(df.assign(g="x"), {"s": ["a"]}, by="g", denominator="teams", scale=(1, 5))
    with pytest.raises(TypeError, match=r"`by` must name column\(s\) of `data`"):
        tc.score_groups(df, {"s": ["a"]}, by=np.array(["x", "y"]), scale=(1, 5))


# ---------------------------------------------------------------------------
# Hypothesis properties
# ---------------------------------------------------------------------------
@st.composite
def _responses(draw, max_items=6, max_rows=25):
    p = draw(st.integers(2, max_items))
    n = draw(st.integers(1, max_rows))
    lo = draw(st.integers(0, 1))
    hi = lo + draw(st.integers(1, 6))
    cells = st.one_of(st.integers(lo, hi).map(float), st.just(np.nan))
    x = np.array(draw(st.lists(st.lists(cells, min_size=p, max_size=p), min_size=n, max_size=n)))
    rev = draw(st.lists(st.booleans(), min_size=p, max_size=p))
    split = draw(st.integers(1, p))
    ids = [f"i{k}" for k in range(p)]
    keys = {"s1": [("-" if r else "") + i for i, r in zip(ids[:split], rev)]}
    if split < p:
        keys["s2"] = [("-" if r else "") + i for i, r in zip(ids[split:], rev[split:])]
    return pd.DataFrame(x, columns=ids), keys, (lo, hi)


def _slow_scores(df, keys, lo, hi, min_items=1):
    out = {}
    for name, entries in keys.items():
        vals = []
        for _, row in df.iterrows():
            answered = []
            for e in entries:
                v = row[e.lstrip("-")]
                if not math.isnan(v):
                    answered.append(lo + hi - v if e.startswith("-") else v)
            vals.append(sum(answered) / len(answered) if len(answered) >= min(min_items, len(entries)) and answered else math.nan)
        out[name] = vals
    return pd.DataFrame(out, index=df.index)


@given(_responses(), st.integers(1, 3))
def test_property_equals_slow_loop(case, min_items):
    df, keys, (lo, hi) = case
    before = df.copy()
    mins = {k: min(min_items, len(v)) for k, v in keys.items()}
    fast = tc.score(df, keys, scale=(lo, hi), min_items=mins)
    assert_allclose(fast.to_numpy(), _slow_scores(df, keys, lo, hi, min_items).to_numpy(), rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(df, before)  # input never mutated


@given(_responses(), st.randoms(use_true_random=False))
def test_property_invariant_to_row_and_column_order(case, rnd):
    df, keys, scale = case
    base = tc.score(df, keys, scale=scale)
    cols = list(df.columns)
    rnd.shuffle(cols)
    rows = list(range(len(df)))
    rnd.shuffle(rows)
    perm = df.iloc[rows][cols]
    pd.testing.assert_frame_equal(tc.score(perm, keys, scale=scale), base.iloc[rows])


@given(_responses())
def test_property_reverse_twice_is_identity(case):
    df, keys, (lo, hi) = case
    inst = resolve(keys, scale=(lo, hi))
    for it in inst.items:
        sc = inst.scale_for(it.id)
        assert_array_equal(sc.reverse(sc.reverse(df[it.id])), df[it.id].to_numpy())
    # reversing every item's data and flipping every key gives the same scores
    flipped = {k: [e[1:] if e.startswith("-") else "-" + e for e in v] for k, v in keys.items()}
    pd.testing.assert_frame_equal(tc.score(lo + hi - df, flipped, scale=(lo, hi)), tc.score(df, keys, scale=(lo, hi)))


@given(_responses())
def test_property_min_items_monotone(case):
    df, keys, scale = case
    k = min(len(v) for v in keys.values())
    prev = None
    for m in range(1, k + 1):
        has = tc.score(df, keys, scale=scale, min_items=m).notna().to_numpy()
        if prev is not None:
            assert not (has & ~prev).any()  # raising the minimum never adds a score
        prev = has


@given(_responses(), st.integers(1, 4))
def test_property_percent_positive_in_range(case, n_groups):
    df, keys, (lo, hi) = case
    definition = resolve(keys, scale=(lo, hi)).to_dict()
    definition["scales"]["scale"]["positive"] = [hi]
    definition["scoring"]["percent_positive"] = True
    inst = tc.load_instrument(definition)
    g = tc.score_groups(df.assign(grp=np.arange(len(df)) % n_groups), inst, by="grp")
    for table in (g.item_percent_positive, g.percent_positive):
        v = table.to_numpy()
        v = v[~np.isnan(v)]
        assert ((v >= 0) & (v <= 100)).all()


# ---------------------------------------------------------------------------
# demo stage
# ---------------------------------------------------------------------------
def test_demo_stage_stores_scores_for_later_stages():
    import io

    from teamculture._demo import DemoContext
    from teamculture._demo import scoring as stage

    sim = tc.simulate.national_survey("tiny", rng=4)
    ctx = DemoContext(survey=sim, stream=io.StringIO())
    stage.run(ctx)
    staff, teams, trusts = (ctx.results[k] for k in ("staff_scores", "team_scores", "trust_scores"))
    assert staff.index.equals(sim.staff.index)
    assert list(staff.columns) == ["motivation", "involvement", "advocacy", "engagement",
                                   "compassionate_leadership", "team_type"]
    assert list(teams.index) == list(sim.teams.index)
    assert_allclose(trusts["real_team_pct"].to_numpy(), sim.trusts["real_team_pct"].to_numpy(), rtol=1e-12)
    assert_array_equal(trusts["n_respondents"].to_numpy(), sim.trusts["n_staff"].to_numpy())
    report = ctx.stream.getvalue()
    assert "classified as simulated: yes" in report


def test_row_blocks_give_identical_scores(monkeypatch):
    """score() works in blocks of rows for large data; force small blocks and compare."""
    import teamculture.scoring as scoring_mod

    df = _hsopsc_data(11, n=230)
    df.loc[5, "A1"] = 7.0  # invalid code
    with pytest.warns(DroppedDataWarning, match=r"1 code\(s\) outside the response scale .*'A1' \(column 'A1'\): 1\."):
        whole = tc.score(df, "hsopsc-1", invalid="missing")
    monkeypatch.setattr(scoring_mod, "_CHUNK", 16)
    with pytest.warns(DroppedDataWarning, match=r"1 code\(s\) outside the response scale .*'A1' \(column 'A1'\): 1\."):
        blocks = tc.score(df, "hsopsc-1", invalid="missing")
    pd.testing.assert_frame_equal(blocks, whole)
    df.loc[200, "A1"] = 8.0
    with pytest.raises(ValueError, match=r"column 'A1' \(item 'A1'\) has 2 row\(s\) with invalid code\(s\) \[7, 8\]"):
        tc.score(df, "hsopsc-1")


@given(_responses(), st.integers(1, 4), st.randoms(use_true_random=False))
def test_property_group_means_equal_groupby_and_ignore_row_order(case, n_groups, rnd):
    df, keys, scale = case
    labels = np.array([f"g{k % n_groups}" for k in range(len(df))])
    g = tc.score_groups(df.assign(grp=labels), keys, by="grp", scale=scale)
    s = tc.score(df, keys, scale=scale)
    direct = s.groupby(labels).mean()  # pandas skips missing scores
    assert_allclose(g.means.to_numpy(), direct.reindex(g.means.index).to_numpy(), rtol=1e-12, atol=1e-12)
    assert_array_equal(g.counts.to_numpy(), s.notna().groupby(labels).sum().reindex(g.counts.index).to_numpy())
    rows = list(range(len(df)))
    rnd.shuffle(rows)
    gp = tc.score_groups(df.assign(grp=labels).iloc[rows], keys, by="grp", scale=scale)
    pd.testing.assert_frame_equal(gp.means, g.means)
    pd.testing.assert_series_equal(gp.n_respondents, g.n_respondents)


def test_group_scores_and_instruments_pickle_and_compare():
    import pickle

    from teamculture.results import Result

    sim = tc.national_survey("tiny", rng=2)
    for iid in ("nhs-engagement", "real-team", "hsopsc-1"):
        inst = get(iid)
        again = pickle.loads(pickle.dumps(inst))
        assert again == inst and hash(again) == hash(inst)
        with pytest.raises(TypeError):
            inst.scales["x"] = None  # read-only mapping
    g = tc.score_groups(sim.staff, "nhs-engagement", by=["trust", "team"])
    assert isinstance(g, Result)
    again = pickle.loads(pickle.dumps(g))
    assert again == g and again.instrument == g.instrument
    assert g.n_groups.to_dict() == {"trust": 4, "team": 24} and g.by == ("trust", "team")
    text = str(g.summary())
    assert "reconstructed from secondary sources" in text and "Group means over groups" in text
    frame = g.to_frame()
    assert list(frame.columns) == ["n_respondents", "motivation", "involvement", "advocacy", "engagement"]
    assert frame.index.equals(g.means.index)
    rt = tc.score_groups(sim.staff, "real-team", by="trust")
    assert list(rt.to_frame().columns) == ["n_respondents", "real", "pseudo", "none"]
    assert rt != tc.score_groups(sim.staff, "real-team", by="trust", denominator="classified")
