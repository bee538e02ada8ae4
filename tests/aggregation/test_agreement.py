"""Tests of the agreement indices (teamculture.aggregation): oracles (R multilevel), closed forms, properties."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import DegenerateDataWarning, DroppedDataWarning, SmallGroupWarning


def table(ref, name):
    """An R result as a DataFrame indexed by group id, numbers as floats (NA -> NaN)."""
    d = dict(ref[name])
    gid = d.pop("grpid")
    return pd.DataFrame({k: [float("nan") if s == "NA" else float(s) for s in v] for k, v in d.items()},
                        index=pd.Index(gid))


def quiet(fn, *args, **kwargs):
    """Call fn ignoring only the package's own data warnings (checked elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedDataWarning)
        warnings.simplefilter("ignore", SmallGroupWarning)
        warnings.filterwarnings("ignore", message="awg is undefined", category=DegenerateDataWarning)
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------
# hand-checked example of the domain note (closed forms)
# ---------------------------------------------------------------------------
def test_hand_checked_example():
    x = [4, 4, 5, 3, 4]
    g = ["a"] * 5
    out = tc.rwg(x, g, scale=(1, 5))
    assert_allclose(out.loc["a", "variance"], 0.5, rtol=1e-12)
    assert_allclose(out.loc["a", "rwg"], 0.75, rtol=1e-12)
    assert_allclose(tc.rwg(x, g, scale=(1, 5), null="slight_skew").loc["a", "rwg"], 1 - 0.5 / 1.34, rtol=1e-12)
    assert round(tc.rwg(x, g, scale=(1, 5), null="slight_skew").loc["a", "rwg"], 3) == 0.627
    assert_allclose(tc.ad_index(x, g).loc["a", "ad"], 0.4, rtol=1e-12)
    assert_allclose(tc.awg(x, g, scale=(1, 5)).loc["a", "awg"], 1 - 1 / 3.75, rtol=1e-12)
    three = np.column_stack([x, [3, 3, 4, 2, 3], [2, 3, 2, 2, 1]])
    out = tc.rwg_j(three, g, scale=(1, 5))
    assert_allclose(out.loc["a", "mean_variance"], 0.5, rtol=1e-12)
    assert_allclose(out.loc["a", "rwg_j"], 2.25 / 2.50, rtol=1e-12)
    assert out.loc["a", "n_items"] == 3


def test_null_variance_table():
    assert tc.null_variance((1, 5)) == 2.0
    assert_allclose(tc.null_variance((1, 6)), 35 / 12, rtol=1e-15)
    assert tc.null_variance((1, 7), null="heavy_skew") == 1.39
    assert tc.null_variance((1, 11), null="normal") == 1.40
    # printed uniform column of LeBreton & Senter agrees with (A^2 - 1)/12 to two decimals
    for a, printed in {5: 2.00, 6: 2.92, 7: 4.00, 8: 5.25, 9: 6.67, 10: 8.25, 11: 10.00}.items():
        assert round(tc.null_variance((1, a)), 2) == printed


def test_null_variance_derives_from_the_codes():
    # the null variance is a property of the codes: a shifted scale gives the same value, a step s
    # multiplies it by s^2, and the uniform null is the variance of the discrete uniform on the codes
    assert tc.null_variance((0, 4)) == tc.null_variance((1, 5)) == tc.null_variance([1, 2, 3, 4, 5])
    assert_allclose(tc.null_variance([0, 2, 4, 6, 8]), 4 * 2.0, rtol=1e-15)
    assert_allclose(tc.null_variance([0, 2, 4, 6, 8], null="slight_skew"), 4 * 1.34, rtol=1e-15)
    uneven = [1, 2, 4, 8]
    assert_allclose(tc.null_variance(uneven), np.var(uneven), rtol=1e-15)
    with pytest.raises(ValueError, match="unequally spaced"):
        tc.null_variance(uneven, null="slight_skew")


# ---------------------------------------------------------------------------
# R multilevel 2.7 (complete cases: nan_policy="omit", the default) oracles
# ---------------------------------------------------------------------------
def _aligned(ours, r):
    return ours.loc[r.index]


def test_rwg_matches_r(agreement_ref, agreement_items):
    for name, kw in [("rwg_i1", {"scale": (1, 5)}), ("rwg_i1_slight", {"null_variance": 1.34}),
                     ("rwg_i1_slight", {"scale": (1, 5), "null": "slight_skew"})]:
        r = table(agreement_ref, name)
        with pytest.warns(DroppedDataWarning, match="missing"), pytest.warns(SmallGroupWarning, match="solo"):
            ours = _aligned(tc.rwg(agreement_items["i1"], agreement_items["grp"], **kw), r)
        assert_allclose(ours["rwg"], r["rwg"], rtol=1e-8, atol=1e-14)
        assert_allclose(ours["n"], r["gsize"], rtol=0)


def test_rwg_j_complete_cases_matches_r(agreement_ref, agreement_items):
    r = table(agreement_ref, "rwg_j")
    n_incomplete = int(agreement_items[["i1", "i2", "i3"]].isna().any(axis=1).sum())
    with pytest.warns(DroppedDataWarning, match=f"^{n_incomplete} of .*nan_policy='omit'"), \
            pytest.warns(SmallGroupWarning, match="solo"):
        ours = _aligned(tc.rwg_j(agreement_items[["i1", "i2", "i3"]], agreement_items["grp"], scale=(1, 5)), r)
    assert_allclose(ours["rwg_j"], r["rwg.j"], rtol=1e-8, atol=1e-14)
    assert_allclose(ours["n"], r["gsize"], rtol=0)


def _rwg_j_complete_cases(items):
    return quiet(tc.rwg_j, items[["i1", "i2", "i3"]], items["grp"], scale=(1, 5), nan_policy="omit")


def test_rwg_j_seven_points_matches_r(agreement_ref, agreement_items):
    r = table(agreement_ref, "rwg_j_p7")
    with pytest.warns(SmallGroupWarning, match="solo"):
        ours = _aligned(tc.rwg_j(agreement_items[["p1", "p2"]], agreement_items["grp"], scale=(1, 7)), r)
    assert_allclose(ours["rwg_j"], r["rwg.j"], rtol=1e-8, atol=1e-14)


def test_rwg_j_lindell_matches_r(agreement_ref, agreement_items):
    r = table(agreement_ref, "rwg_j_lindell")
    ours = _aligned(quiet(tc.rwg_j_lindell, agreement_items[["i1", "i2", "i3"]], agreement_items["grp"], scale=(1, 5),
                          nan_policy="omit"), r)
    assert_allclose(ours["rwg_j_lindell"], r["rwg.lindell"], rtol=1e-8, atol=1e-14)
    assert (r["rwg.lindell"] < 0).any()  # the fixture exercises the untruncated branch


def test_awg_matches_r(agreement_ref, agreement_items):
    r = table(agreement_ref, "awg_items")
    ours = _aligned(quiet(tc.awg, agreement_items[["i1", "i2", "i3"]], agreement_items["grp"],
                          scale=(1, 5), nan_policy="omit"), r)
    assert_allclose(ours["awg"], r["a.wg"], rtol=1e-8, atol=1e-14)
    assert_allclose(ours["n"], r["nraters"], rtol=0)
    r1 = table(agreement_ref, "awg_i1")
    ours1 = _aligned(quiet(tc.awg, agreement_items["i1"], agreement_items["grp"], scale=(1, 5)), r1)
    assert_allclose(ours1["awg"], r1["a.wg"], rtol=1e-8, atol=1e-14)
    assert_allclose(ours1["mean_variance"], r1["grp.var"], rtol=1e-8, atol=1e-14)
    # the hand-made groups hit both special rules
    assert ours1.loc["top", "awg"] == 1.0
    assert ours1.loc["edge", "awg"] == pytest.approx(-1.0, abs=1e-12)


def test_ad_matches_r(agreement_ref, agreement_items):
    for name, center in [("ad_items_mean", "mean"), ("ad_items_median", "median")]:
        r = table(agreement_ref, name)
        ours = _aligned(quiet(tc.ad_index, agreement_items[["i1", "i2", "i3"]], agreement_items["grp"], location=center,
                              nan_policy="omit"), r)
        assert_allclose(ours["ad"], r["AD.M"], rtol=1e-8, atol=1e-14)
        assert_allclose(ours["n"], r["gsize"], rtol=0)
    r = table(agreement_ref, "ad_i1_mean")
    ours = _aligned(quiet(tc.ad_index, agreement_items["i1"], agreement_items["grp"]), r)
    assert_allclose(ours["ad"], r["AD.M"], rtol=1e-8, atol=1e-14)


def test_pairwise_matches_r_per_item_variances(agreement_ref, agreement_items):
    r = table(agreement_ref, "pairwise")
    with pytest.warns(SmallGroupWarning, match="solo"), pytest.warns(DroppedDataWarning, match="pairwise"):
        ours = _aligned(tc.rwg_j(agreement_items[["i1", "i2", "i3"]], agreement_items["grp"], scale=(1, 5),
                                 nan_policy="pairwise"), r)
    lind = _aligned(quiet(tc.rwg_j_lindell, agreement_items[["i1", "i2", "i3"]], agreement_items["grp"],
                          scale=(1, 5), nan_policy="pairwise"), r)
    assert_allclose(ours["n_items"], r["J"], rtol=0)
    assert_allclose(ours["mean_variance"], r["S"], rtol=1e-8, atol=1e-14)
    assert_allclose(ours["rwg_j"], r["rwg.j"], rtol=1e-8, atol=1e-14)
    assert_allclose(lind["rwg_j_lindell"], r["lindell"], rtol=1e-8, atol=1e-14)
    # pairwise and complete cases really differ on this fixture
    lw = _rwg_j_complete_cases(agreement_items).loc[r.index]
    assert not np.allclose(lw["rwg_j"].fillna(-9), ours["rwg_j"].fillna(-9))


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------
def test_groups_of_one_are_nan_and_counted():
    with pytest.warns(SmallGroupWarning, match=r"^1 of 2 group\(s\).*'b'"):
        out = tc.rwg([1, 2, 3], ["a", "a", "b"], scale=(1, 5))
    assert np.isnan(out.loc["b", "rwg"]) and out.loc["b", "n"] == 1
    assert out.loc["a", "rwg"] == pytest.approx(1 - 0.5 / 2)


def test_truncation_and_columns():
    out = tc.rwg_j([[1, 5], [5, 1], [1, 5], [5, 1]], ["g"] * 4, scale=(1, 5))
    assert list(out.columns) == ["rwg_j", "n", "n_missing", "n_items", "mean_variance"]
    assert out.loc["g", "rwg_j"] == 0.0
    assert out.loc["g", "mean_variance"] > 2.0  # reported before truncation
    lind = tc.rwg_j_lindell([[1, 5], [5, 1], [1, 5], [5, 1]], ["g"] * 4, scale=(1, 5))
    assert lind.loc["g", "rwg_j_lindell"] < 0


def test_ad_cutoff_column():
    out = tc.ad_index([1, 5, 3, 3, 3, 3], list("aabbbb"), scale=(1, 5))
    assert list(out.columns) == ["ad", "n", "n_missing", "n_items", "cutoff", "agree"]
    assert_allclose(out["cutoff"], 5 / 6, rtol=1e-15)
    assert out["agree"].tolist() == [False, True]
    no_cut = tc.ad_index([1, 5, 3, 3], list("aabb"))
    assert no_cut["cutoff"].isna().all() and no_cut["agree"].isna().all()


def test_index_uses_user_labels_and_name():
    g = pd.Series(["t2", "t1", "t2", "t1"], name="team")
    out = tc.rwg([1, 2, 2, 2], g, scale=(1, 5))
    assert list(out.index) == ["t1", "t2"] and out.index.name == "team"


def test_categorical_labels_same_as_strings():
    rng = np.random.default_rng(0)
    g = rng.choice(["z", "a", "m"], 60)
    x = rng.integers(1, 6, (60, 3)).astype(float)
    a = tc.rwg_j(x, g, scale=(1, 5))
    # the unused category "q" is reported (no group without members is dropped silently)
    with pytest.warns(SmallGroupWarning, match=r"categories that no row uses \(1 in .*\['q'\]\)"):
        b = tc.rwg_j(x, pd.Series(g).astype(pd.CategoricalDtype(["z", "m", "a", "q"])), scale=(1, 5))
    pd.testing.assert_frame_equal(a, b, check_index_type=False, check_names=False)


def test_does_not_mutate_inputs(agreement_items):
    before = agreement_items.copy(deep=True)
    g = agreement_items["grp"].copy()
    quiet(tc.rwg_j, agreement_items[["i1", "i2", "i3"]], agreement_items["grp"], scale=(1, 5), nan_policy="omit")
    quiet(tc.ad_index, agreement_items[["i1", "i2", "i3"]], agreement_items["grp"], location="median")
    quiet(tc.awg, agreement_items[["i1", "i2"]], agreement_items["grp"], scale=(1, 5))
    arr = agreement_items[["p1", "p2"]].to_numpy()
    arr_before = arr.copy()
    quiet(tc.rwg_j_lindell, arr, agreement_items["grp"].to_numpy(), scale=(1, 7))
    pd.testing.assert_frame_equal(agreement_items, before)
    pd.testing.assert_series_equal(agreement_items["grp"], g)
    np.testing.assert_array_equal(arr, arr_before)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: tc.rwg([1, 2], ["a", "a"]), ValueError, "`scale` is required"),
        (lambda: tc.rwg([1, 2], ["a", "a"], scale=(1, 5), null="skewed"), ValueError, "`null`"),
        (lambda: tc.rwg([1, 2], ["a", "a"], scale=(1, 4), null="normal"), ValueError, "5, 6, 7"),
        (lambda: tc.rwg([1, 2], ["a", "a"], scale=(1, 5), null="normal", null_variance=2), ValueError, "not both"),
        (lambda: tc.rwg([1, 2], ["a", "a"], null_variance=-1), ValueError, "null_variance"),
        (lambda: tc.rwg([1, 2], ["a"], scale=(1, 5)), ValueError, "has 1 labels but the data have 2 rows"),
        (lambda: tc.rwg([1, 2], ["a", None], scale=(1, 5), nan_policy="raise"), ValueError, "`groups` has 1 row"),
        (lambda: tc.rwg([[1, 2], [2, 3]], ["a", "a"], scale=(1, 5)), ValueError, "rwg_j"),
        (lambda: tc.rwg_j(pd.DataFrame({"q": ["x", "y"]}), ["a", "a"], scale=(1, 5)), TypeError, "'q'"),
        (lambda: tc.rwg_j([[1.0], [np.inf]], ["a", "a"], scale=(1, 5)), ValueError, "infinite"),
        (lambda: tc.rwg_j([[1], [2]], ["a", "a"], scale=(1, 5), nan_policy="listwise"), ValueError, "nan_policy"),
        (lambda: tc.awg([1, 2], ["a", "a"], scale=(5, 1)), ValueError, "low < high"),
        (lambda: tc.ad_index([1, 2], ["a", "a"], location="mode"), ValueError, "location"),
        (lambda: tc.rwg_sim(1, (1, 5)), ValueError, "group_size"),
        (lambda: tc.rwg_j_sim(5, 2, (1, 5), item_corr=[[1, 2], [2, 1]]), ValueError, "item_corr"),
        (lambda: tc.rgr_agree([1, 2, 3, 4], ["a", "a", "b", "b"], n_resamples=1), ValueError, "n_resamples"),
    ],
)
def test_validation(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_complete_case_drop_is_counted():
    x = np.array([[1, 2], [np.nan, 3], [2, 2], [3, 3]])
    with pytest.warns(DroppedDataWarning, match="^1 of 4 row"):
        out = tc.rwg_j(x, ["a"] * 4, scale=(1, 5))
    assert out.loc["a", "n"] == 3 and out.loc["a", "n_missing"] == 1
    with pytest.warns(DroppedDataWarning, match="^1 missing value"):
        pw = tc.rwg_j(x, ["a"] * 4, scale=(1, 5), nan_policy="pairwise")
    assert pw.loc["a", "n"] == 4 and pw.loc["a", "n_missing"] == 0


# ---------------------------------------------------------------------------
# simulated null distributions, resampling
# ---------------------------------------------------------------------------
def test_rwg_sim_is_seeded_and_in_range():
    a = tc.rwg_sim(10, (1, 5), n_resamples=2000, rng=4)
    b = tc.rwg_sim(10, (1, 5), n_resamples=2000, rng=4)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.min() >= 0 and a.values.max() <= 1
    assert a.critical_value == np.quantile(a.values, 0.95)
    assert "95th percentile" in str(a) and a == b


def test_rwg_sim_matches_exact_null_quantile():
    # exact null distribution of s^2 for n = 3 on a 3-point uniform scale by enumeration
    grid = np.array(np.meshgrid(*[np.arange(1, 4)] * 3)).reshape(3, -1).T
    exact = 1 - np.minimum(grid.var(axis=1, ddof=1), 2 / 3) / (2 / 3)
    sim = tc.rwg_sim(3, (1, 3), n_resamples=200_000, rng=1)
    # P(rwg = value) for every support point, 200k draws: sd of a proportion < 0.0012
    for v in np.unique(exact):
        assert abs(np.mean(sim.values == v) - np.mean(exact == v)) < 0.006


def test_correlated_null_keeps_uniform_margins():
    from teamculture.aggregation._nulls import _draw_null

    x = _draw_null(np.random.default_rng(2), 20000, 2, 3, np.arange(1.0, 6.0), np.full((3, 3), 0.5) + 0.5 * np.eye(3))
    freq = np.array([(x[..., 0] == k).mean() for k in range(1, 6)])
    assert_allclose(freq, 0.2, atol=0.01)
    assert np.corrcoef(x[:, 0, 0], x[:, 0, 1])[0, 1] > 0.3


def test_ad_sim_critical_is_lower_tail():
    sim = tc.ad_sim(10, 3, (1, 5), item_corr=0.3, n_resamples=3000, rng=5)
    assert sim.critical_value == np.quantile(sim.values, 0.05)
    assert sim.practical_cutoff == pytest.approx(5 / 6)
    med = tc.ad_sim(10, 1, (1, 5), location="median", n_resamples=3000, rng=5)
    assert med.index == "ad" and med.location == "median" and med.values.min() >= 0


def test_rgr_agree_detects_groups_and_null():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 8)
    x = rng.normal(0, 1, 40)[g] * 1.5 + rng.normal(0, 1, g.size)
    res = tc.rgr_agree(x, g, n_resamples=50, rng=1)
    assert res.n_random_groups == 50 * 40 and res.n_groups == 40
    assert res.statistic < -3 and res.pvalue < 0.01
    z = (res.actual_mean_var - res.random_mean_var) / (res.random_sd_var / np.sqrt(40))
    assert_allclose(res.statistic, z, rtol=1e-12)
    # real variances equal the per-group variances
    assert_allclose(res.actual_mean_var, pd.Series(x).groupby(g).var().mean(), rtol=1e-12)
    null = tc.rgr_agree(rng.normal(size=g.size), g, n_resamples=50, rng=1)
    assert abs(null.statistic) < 4
    assert "z " in str(res.summary()) and res.n_obs == g.size and res.n_dropped == 0


def test_pseudo_group_means_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from teamculture import plot_pseudo_group_means

    rng = np.random.default_rng(3)
    g = np.repeat([f"g{i}" for i in range(30)], 6)
    x = rng.normal(0, 1, 30).repeat(6) + rng.normal(0, 1, g.size)
    pg = tc.pseudo_group_means(x, g, n_resamples=40, rng=2)
    assert pg["group_mean"].is_monotonic_increasing and pg["pseudo_mean"].is_monotonic_increasing
    assert (pg["ci_low"] <= pg["pseudo_mean"]).all() and (pg["pseudo_mean"] <= pg["ci_high"]).all()
    assert_allclose(pg["group_mean"].to_numpy(), pd.Series(x).groupby(g).mean().sort_values().to_numpy(),
                    rtol=1e-12)
    # pseudo means average to the grand mean
    assert_allclose(pg["pseudo_mean"].mean(), x.mean(), rtol=1e-10)
    ax = plot_pseudo_group_means(pg)
    assert len(ax.lines) == 2
    plt.close("all")


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------
@st.composite
def grouped_items(draw, max_items=4, with_nan=True):
    n_groups = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 7), min_size=n_groups, max_size=n_groups))
    J = draw(st.integers(1, max_items))
    n = sum(sizes)
    vals = draw(st.lists(st.integers(1, 5), min_size=n * J, max_size=n * J))
    x = np.array(vals, dtype=float).reshape(n, J)
    if with_nan:
        mask = draw(st.lists(st.booleans(), min_size=n * J, max_size=n * J))
        x[np.array(mask).reshape(n, J) & (np.arange(n * J).reshape(n, J) % 3 == 0)] = np.nan
    g = np.repeat([f"g{i}" for i in range(n_groups)], sizes)
    return x, g


def _slow(x, g, complete_cases):
    """Obvious per-group loop: rwg_j, lindell, awg, AD mean/median."""
    rows = {}
    for lab in sorted(set(g)):
        q = x[g == lab]
        if complete_cases:
            q = q[~np.isnan(q).any(axis=1)]
        v, a, adm, admd = [], [], [], []
        for col in q.T:
            c = col[~np.isnan(col)]
            k = c.size
            if k < 2:
                continue
            s2 = c.var(ddof=1)
            v.append(s2)
            m = c.mean()
            adm.append(np.mean(np.abs(c - m)))
            admd.append(np.mean(np.abs(c - np.median(c))))
            if m in (1, 5):
                a.append(1.0)
            elif (1 * (k - 1) + 5) / k <= m <= (5 * (k - 1) + 1) / k:
                a.append(1 - 2 * s2 / ((6 * m - m * m - 5) * k / (k - 1)))
        J = len(v)
        S = np.mean(v) if J else np.nan
        St = min(S, 2.0)
        rows[lab] = {
            "rwg_j": J * (1 - St / 2) / (J * (1 - St / 2) + St / 2) if J else np.nan,
            "lindell": 1 - S / 2,
            "awg": np.mean(a) if a else np.nan,
            "ad": np.mean(adm) if J else np.nan,
            "admd": np.mean(admd) if J else np.nan,
        }
    return pd.DataFrame(rows).T


@given(grouped_items(), st.sampled_from(["omit", "pairwise"]))
def test_property_equals_slow_loop(data, nan_policy):
    x, g = data
    slow = _slow(x, g, nan_policy == "omit")
    kw = {"nan_policy": nan_policy}
    assert_allclose(quiet(tc.rwg_j, x, g, scale=(1, 5), **kw)["rwg_j"], slow["rwg_j"].astype(float),
                    rtol=1e-10, atol=1e-12)
    assert_allclose(quiet(tc.rwg_j_lindell, x, g, scale=(1, 5), **kw)["rwg_j_lindell"],
                    slow["lindell"].astype(float), rtol=1e-10, atol=1e-12)
    assert_allclose(quiet(tc.awg, x, g, scale=(1, 5), **kw)["awg"], slow["awg"].astype(float),
                    rtol=1e-10, atol=1e-12)
    assert_allclose(quiet(tc.ad_index, x, g, **kw)["ad"], slow["ad"].astype(float), rtol=1e-10, atol=1e-12)
    assert_allclose(quiet(tc.ad_index, x, g, location="median", **kw)["ad"], slow["admd"].astype(float),
                    rtol=1e-10, atol=1e-12)


@given(grouped_items(), st.randoms(use_true_random=False))
def test_property_invariant_to_row_order_and_relabelling(data, rnd):
    x, g = data
    perm = np.arange(len(g))
    rnd.shuffle(perm)
    relabel = {lab: f"new_{i}" for i, lab in enumerate(sorted(set(g), reverse=True))}
    g2 = np.array([relabel[v] for v in g[perm]])
    for fn, kw in [(tc.rwg_j, {"scale": (1, 5)}), (tc.awg, {"scale": (1, 5)}), (tc.ad_index, {})]:
        a = quiet(fn, x, g, **kw)
        b = quiet(fn, x[perm], g2, **kw)
        b.index = [next(k for k, v in relabel.items() if v == lab) for lab in b.index]
        pd.testing.assert_frame_equal(a, b.loc[a.index], check_names=False, rtol=1e-12, atol=1e-13)


@given(st.integers(1, 5), st.integers(2, 9), st.integers(1, 3))
def test_property_unanimous_groups_have_rwg_one(value, size, J):
    x = np.full((size, J), float(value))
    assert tc.rwg_j(x, ["g"] * size, scale=(1, 5)).loc["g", "rwg_j"] == 1.0
    assert tc.rwg(x[:, 0], ["g"] * size, scale=(1, 5)).loc["g", "rwg"] == 1.0
    a = quiet(tc.awg, x, ["g"] * size, scale=(1, 5)).loc["g", "awg"]
    # awg is 1 at the scale ends; elsewhere it is 1 where defined (a mean near an end
    # with few members makes it undefined, Brown & Hauenstein 2005)
    assert a == 1.0 if value in (1, 5) else (np.isnan(a) or a == 1.0)
    assert tc.ad_index(x, ["g"] * size).loc["g", "ad"] == 0.0


@given(grouped_items(with_nan=False))
def test_property_awg_in_range(data):
    x, g = data
    a = quiet(tc.awg, x, g, scale=(1, 5))["awg"].dropna()
    assert ((a >= -1 - 1e-12) & (a <= 1 + 1e-12)).all()


@given(st.floats(0.01, 1.99), st.integers(1, 20))
def test_property_rwg_j_rises_with_items(s2, J):
    from teamculture.aggregation._agreement import rwg_j_core as _rwg_j_core

    lo = _rwg_j_core(np.array([s2]), np.array([float(J)]), 2.0)[0]
    hi = _rwg_j_core(np.array([s2]), np.array([float(J + 1)]), 2.0)[0]
    assert hi > lo


def test_rwg_j_rises_when_an_item_is_repeated():
    x = np.array([[2.0], [3.0], [4.0]])
    one = tc.rwg_j(x, ["g"] * 3, scale=(1, 5)).loc["g", "rwg_j"]
    two = tc.rwg_j(np.hstack([x, x]), ["g"] * 3, scale=(1, 5)).loc["g", "rwg_j"]
    assert two > one


def test_array_and_pandas_routes_agree(agreement_items):
    cols = ["i1", "i2", "i3"]
    a = quiet(tc.rwg_j, agreement_items[cols], agreement_items["grp"], scale=(1, 5))
    b = quiet(tc.rwg_j, agreement_items[cols].to_numpy(), agreement_items["grp"].tolist(), scale=(1, 5))
    pd.testing.assert_frame_equal(a, b, check_names=False)
    c = quiet(tc.ad_index, agreement_items[cols], agreement_items["grp"], location="median")
    d = quiet(tc.ad_index, agreement_items[cols].to_numpy(), agreement_items["grp"].to_numpy(), location="median")
    pd.testing.assert_frame_equal(c, d, check_names=False)


def test_rwg_j_sim_and_ad_sim_match_exact_null_distributions():
    import itertools

    # rwg(j): 2 members x 2 independent items on a 3-point scale (81 equally likely outcomes)
    vals_j, vals_ad = [], []
    for resp in itertools.product(range(1, 4), repeat=4):
        x = np.array(resp, dtype=float).reshape(2, 2)
        s2 = min(x.var(axis=0, ddof=1).mean(), 2 / 3)
        vals_j.append(2 * (1 - s2 / (2 / 3)) / (2 * (1 - s2 / (2 / 3)) + s2 / (2 / 3)))
    for resp in itertools.product(range(1, 4), repeat=3):
        x = np.array(resp, dtype=float)
        vals_ad.append(np.mean(np.abs(x - x.mean())))
    sim_j = tc.rwg_j_sim(2, 2, (1, 3), n_resamples=100_000, rng=2)
    sim_ad = tc.ad_sim(3, 1, (1, 3), n_resamples=100_000, rng=2)
    for exact, sim in [(np.array(vals_j), sim_j.values), (np.array(vals_ad), sim_ad.values)]:
        for v in np.unique(np.round(exact, 12)):
            p_exact = np.mean(np.isclose(exact, v))
            p_sim = np.mean(np.isclose(sim, v))
            # 100k draws: sd of a proportion <= 0.0016; allow 4 sd
            assert abs(p_sim - p_exact) < 0.0064, (v, p_sim, p_exact)


def test_null_simulations_agree_with_r_multilevel_in_distribution(reference_dir):
    # R's rwg.sim / rwg.j.sim / ad.m.sim draws (tests/reference/agreement_sim.R) against ours.
    # Both are Monte Carlo and the statistics are discrete, so we compare the empirical CDFs at
    # support points: proportions whose difference has a known binomial standard error; allow
    # 4 standard errors. (The correlated and independent rwg(j) nulls differ by ~0.07 in the
    # 90th-95th percentiles, far beyond this.)
    ref = json.loads((reference_dir / "agreement_sim.json").read_text())["results"]
    n_ours = 100_000
    for key in ("rwg", "rwg_j_indep", "rwg_j_corr", "ad"):
        r = ref[key]
        gs, A, J, rho = r["group_size"], r["scale_points"], r["n_items"], r["item_corr"]
        if key == "rwg":
            sim = tc.rwg_sim(gs, (1, A), n_resamples=n_ours, rng=7)
        elif key == "ad":
            sim = tc.ad_sim(gs, J, (1, A), n_resamples=n_ours, rng=7)
        else:
            sim = tc.rwg_j_sim(gs, J, (1, A), item_corr=rho or None, n_resamples=n_ours, rng=7)
        at = np.array(r["cdf_at"], dtype=float)
        p_r = np.array(r["cdf"], dtype=float)
        p_ours = (sim.values[:, None] <= at + 1e-9).mean(axis=0)
        se = np.sqrt(p_r * (1 - p_r) / r["nrep"] + p_r * (1 - p_r) / n_ours)
        assert np.all(np.abs(p_ours - p_r) <= 4 * se), (key, p_ours, p_r)
        zero_r = float(r["share_zero"])
        if zero_r > 0:
            se0 = np.sqrt(zero_r * (1 - zero_r) * (1 / r["nrep"] + 1 / n_ours))
            assert abs(np.mean(sim.values == 0) - zero_r) <= 4 * se0, key


def test_correlated_null_is_distinguishable_from_independent(reference_dir):
    # the comparison above has power: the independent null fails against R's correlated one
    r = json.loads((reference_dir / "agreement_sim.json").read_text())["results"]["rwg_j_corr"]
    sim = tc.rwg_j_sim(10, 5, (1, 5), n_resamples=100_000, rng=7)
    at = np.array(r["cdf_at"], dtype=float)
    p_r = np.array(r["cdf"], dtype=float)
    p_ours = (sim.values[:, None] <= at + 1e-9).mean(axis=0)
    se = np.sqrt(p_r * (1 - p_r) * (1 / r["nrep"] + 1 / 100_000))
    assert np.any(np.abs(p_ours - p_r) > 4 * se)


def test_rgr_pseudo_group_variances_are_groupby_variances_of_the_shuffled_values():
    from teamculture.aggregation._resampling import _pseudo_group_variances

    rng = np.random.default_rng(11)
    v = rng.normal(3.0, 2.0, 60)
    sizes = np.array([2, 5, 13, 40])
    got = _pseudo_group_variances(np.random.default_rng(4), v, sizes, 5)
    # the same shuffles, done by hand: each stream (a child generator) shuffles its own copy for its
    # block of replicates; consecutive runs of the shuffled values are the pseudo groups
    from teamculture.aggregation._resampling import _child_generators, _replicate_blocks

    labels = np.repeat(np.arange(sizes.size), sizes)
    blocks = _replicate_blocks(5)
    assert [list(b) for b in blocks] == [[0, 1, 2], [3, 4]]
    for twin, reps in zip(_child_generators(np.random.default_rng(4)), blocks):
        w = v - v.mean()
        for r in reps:
            twin.shuffle(w)
            assert_allclose(got[r], pd.Series(w).groupby(labels).var().to_numpy(), rtol=1e-12, atol=1e-14)


def test_rgr_threads_do_not_change_the_result(monkeypatch):
    # the same seed gives the same pseudo-group variances on one thread and on two
    from teamculture.aggregation import _resampling

    rng = np.random.default_rng(13)
    v = rng.normal(size=50_000)
    sizes = np.full(5_000, 10)
    monkeypatch.setattr(_resampling, "usable_cpus", lambda: 2)  # two threads even on a one-CPU machine
    two = _resampling._pseudo_group_variances(np.random.default_rng(2), v, sizes, 41)
    monkeypatch.setattr(_resampling, "usable_cpus", lambda: 1)
    one = _resampling._pseudo_group_variances(np.random.default_rng(2), v, sizes, 41)
    assert np.array_equal(one, two)
    assert not np.array_equal(two[0], two[21])  # the streams differ


def test_rgr_pseudo_group_variance_is_unbiased_for_the_pooled_variance():
    # a random subset's sample variance has expectation sum((v - mean)^2) / (N - 1) (finite population)
    from teamculture.aggregation._resampling import _pseudo_group_variances

    rng = np.random.default_rng(12)
    v = rng.exponential(1.0, 300)
    sizes = np.full(30, 10)
    out = _pseudo_group_variances(np.random.default_rng(1), v, sizes, 4000)
    se = out.mean(axis=1).std(ddof=1) / np.sqrt(out.shape[0])
    assert abs(out.mean() - v.var(ddof=1)) < 4 * se


def test_awg_undefined_groups_warn_with_count_and_names():
    # scale 1..5, k = 2: awg is defined only for a mean of exactly 3 (or at an end of the scale);
    # "low" (1, 2: M = 1.5 < [L(k-1)+H]/k = 3) and "high" (4, 5) are undefined, "mid" (2, 4) and "end" (5, 5) not
    x = pd.Series([1, 2, 4, 5, 2, 4, 5, 5], index=[10, 11, 12, 13, 14, 15, 16, 17])
    g = pd.Series(["low", "low", "high", "high", "mid", "mid", "end", "end"], index=x.index)
    with pytest.warns(DegenerateDataWarning, match=r"awg is undefined \(NaN\) for 2 of 4 group\(s\)") as rec:
        out = tc.awg(x, g, scale=(1, 5))
    assert "'high'" in str(rec[0].message) and "'low'" in str(rec[0].message)
    assert np.isnan(out.loc["low", "awg"]) and np.isnan(out.loc["high", "awg"])
    # mid: M = 3, s^2 = 2, largest variance given M: ((H + L)M - M^2 - HL) k / (k - 1) = 8
    assert out.loc["mid", "awg"] == pytest.approx(0.5, abs=1e-15)
    assert out.loc["end", "awg"] == 1.0
    assert out["n_items"].to_dict() == {"low": 0, "high": 0, "mid": 1, "end": 1}
