"""Tests for teamculture.funnel: SMR intervals and funnel-plot limits.

Oracles: R's ``poisson.test`` and Byar's formula evaluated in R (committed
fixture ``tests/reference/smr_poisson.csv``), exact Poisson identities via
scipy.stats.poisson, and an independent, deliberately slow loop-based
implementation of the published funnel-plot formulas
(/work/shared/domain/mortality.md; Spiegelhalter 2005) written here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from teamculture.outcomes import _funnel as funnel
from teamculture.outcomes import FLAG_CATEGORIES, funnel_limits, smr

# two-sided 95% and 99.8% normal quantiles (R: qnorm(0.975), qnorm(0.999))
Z95 = float(stats.norm.isf(0.025))
Z998 = float(stats.norm.isf(0.001))


# ---------------------------------------------------------------------------
# SMR intervals
# ---------------------------------------------------------------------------

def _read_reference(path):
    with open(path) as fh:
        header = fh.readline()
    assert header.startswith("#") and "generated, do not edit" in header
    return pd.read_csv(path, comment="#")


@pytest.fixture(scope="module")
def smr_reference(reference_dir):
    return _read_reference(reference_dir / "smr_poisson.csv")


def test_smr_exact_matches_r_poisson_test(smr_reference):
    ref = smr_reference
    for level, rows in ref.groupby("conf_level"):
        out = smr(rows["observed"].to_numpy(), rows["expected"].to_numpy(), confidence_level=level)
        assert_allclose(out["ci_low"].to_numpy(), rows["exact_low"].to_numpy(), rtol=1e-10, atol=0)
        assert_allclose(out["ci_high"].to_numpy(), rows["exact_high"].to_numpy(), rtol=1e-10, atol=0)
        assert_allclose(out["smr"].to_numpy(), (rows["observed"] / rows["expected"]).to_numpy(), rtol=1e-15)


def test_smr_byar_matches_formula_evaluated_in_r(smr_reference):
    ref = smr_reference
    for level, rows in ref.groupby("conf_level"):
        out = smr(rows["observed"].to_numpy(), rows["expected"].to_numpy(), method="byar",
                  confidence_level=level)
        # for O = 1 at high levels the bracket in Byar's lower limit is negative; the
        # documented rule floors the (impossible) negative limit at 0
        desired_low = np.maximum(rows["byar_low"].to_numpy(), 0.0)
        assert_allclose(out["ci_low"].to_numpy(), desired_low, rtol=1e-10, atol=1e-300)
        assert_allclose(out["ci_high"].to_numpy(), rows["byar_high"].to_numpy(), rtol=1e-10, atol=0)


@pytest.mark.parametrize("level", [0.8, 0.95, 0.998])
def test_garwood_limits_satisfy_exact_poisson_tail_identities(level):
    # upper limit U: P(X <= O | U) = alpha/2; lower limit L: P(X >= O | L) = alpha/2
    o = np.array([1, 2, 5, 13, 40, 250, 3000], dtype=float)
    e = np.full(len(o), 7.0)
    out = smr(o, e, confidence_level=level)
    alpha = 1 - level
    upper = out["ci_high"].to_numpy() * e
    lower = out["ci_low"].to_numpy() * e
    assert_allclose(stats.poisson.cdf(o, upper), alpha / 2, rtol=1e-8)
    assert_allclose(stats.poisson.sf(o - 1, lower), alpha / 2, rtol=1e-8)
    # and the chi-squared form of Garwood's interval
    assert_allclose(lower, stats.chi2.ppf(alpha / 2, 2 * o) / 2, rtol=1e-8)
    assert_allclose(upper, stats.chi2.ppf(1 - alpha / 2, 2 * (o + 1)) / 2, rtol=1e-8)


def test_smr_zero_deaths_has_zero_lower_limit():
    out = smr([0], [3.0])
    assert out["ci_low"].iloc[0] == 0.0
    assert_allclose(out["ci_high"].iloc[0], -math.log(0.025) / 3.0, rtol=1e-12)  # P(X=0|U)=e^-U
    byar = smr([0], [3.0], method="byar")
    assert byar["ci_low"].iloc[0] == 0.0


def test_byar_close_to_exact_for_large_counts():
    o = np.array([100, 400, 2000, 10000], dtype=float)
    exact = smr(o, o)
    byar = smr(o, o, method="byar")
    assert_allclose(byar[["ci_low", "ci_high"]].to_numpy(), exact[["ci_low", "ci_high"]].to_numpy(), rtol=2e-4)


def test_smr_labels_from_series_and_argument():
    o = pd.Series([10, 20], index=pd.Index(["TR1", "TR2"], name="trust"))
    e = pd.Series([12.0, 18.0], index=o.index)
    out = smr(o, e)
    assert out.index.equals(o.index)
    assert list(out.columns) == ["observed", "expected", "smr", "ci_low", "ci_high"]
    out2 = smr([10, 20], [12.0, 18.0], labels=["a", "b"])
    assert list(out2.index) == ["a", "b"]
    assert_allclose(out2["ci_low"].to_numpy(), out["ci_low"].to_numpy(), rtol=0)


@given(
    o=st.integers(0, 5000),
    e=st.floats(0.05, 5000),
    level=st.floats(0.5, 0.999),
    method=st.sampled_from(["exact", "byar"]),
)
def test_smr_interval_contains_estimate(o, e, level, method):
    out = smr([o], [e], method=method, confidence_level=level).iloc[0]
    assert 0.0 <= out["ci_low"] <= out["smr"] <= out["ci_high"]


@given(o=st.integers(1, 3000), e=st.floats(0.5, 3000))
def test_smr_interval_nested_in_level(o, e):
    narrow = smr([o], [e], confidence_level=0.9).iloc[0]
    wide = smr([o], [e], confidence_level=0.99).iloc[0]
    assert wide["ci_low"] <= narrow["ci_low"] and narrow["ci_high"] <= wide["ci_high"]


def test_smr_validation_messages():
    with pytest.raises(ValueError, match="`method`"):
        smr([1], [1.0], method="wald")
    with pytest.raises(ValueError, match=r"`observed` must be whole counts.*\(0, 2\.5\)"):
        smr([2.5], [1.0])
    with pytest.raises(ValueError, match=r"`observed` must be finite and >= 0; 2 unit"):
        smr([-1, np.nan, 3], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"`expected` must be finite and >= 0"):
        smr([1, 2], [-1.0, 1.0])
    with pytest.raises(ValueError, match=r"`observed` has 2 values but `expected` has 1; they must pair up"):
        smr([1, 2], [1.0])
    with pytest.raises(ValueError, match="`confidence_level`"):
        smr([1], [1.0], confidence_level=1.0)
    with pytest.raises(TypeError, match="`observed` must be numeric"):
        smr(["a"], [1.0])
    with pytest.raises(ValueError, match=r"`expected` and `observed` carry different row labels"):
        smr(pd.Series([1, 2], index=["a", "b"]), pd.Series([1.0, 2.0], index=["b", "c"]))
    with pytest.raises(ValueError, match=r"`labels` and the index of `observed` disagree"):
        smr(pd.Series([1, 2], index=["a", "b"]), [1.0, 2.0], labels=["b", "a"])
    with pytest.raises(ValueError, match=r"unit labels \(`labels`\) must be unique; 1 duplicated: \['x'\]"):
        smr([1, 2], [1.0, 2.0], labels=["x", "x"])
    with pytest.raises(ValueError, match=r"unit labels \(the index of `observed`\) must be unique; 1 duplicated"):
        smr(pd.Series([1, 2], index=["a", "a"]), [1.0, 2.0])
    # Byar does not need whole counts
    assert smr([2.5], [1.0], method="byar")["smr"].iloc[0] == 2.5


# ---------------------------------------------------------------------------
# an independent, loop-based implementation of the published funnel formulas
# ---------------------------------------------------------------------------

def _slow_average_ranks(z):
    n = len(z)
    ranks = []
    for i in range(n):
        below = sum(1 for j in range(n) if z[j] < z[i])
        ties = sum(1 for j in range(n) if z[j] == z[i])
        ranks.append(below + (ties + 1) / 2.0)  # average of below+1 .. below+ties
    return ranks


def _slow_percentile(values, p):
    x = sorted(values)
    h = (len(x) - 1) * p
    lo = math.floor(h)
    if lo + 1 >= len(x):
        return x[-1]
    return x[lo] + (h - lo) * (x[lo + 1] - x[lo])


def slow_funnel(o, e, method, overdispersion, data_type="ratio", target=None, trim=True):
    """Per-unit limits and phi/tau2 following the domain note line by line."""
    n = len(o)
    if data_type == "proportion":
        p0 = sum(o) / sum(e) if target is None else target
        theta0 = math.asin(math.sqrt(p0))
        y = [math.asin(math.sqrt(o[i] / e[i])) for i in range(n)]
        s = [1 / (2 * math.sqrt(e[i])) for i in range(n)]
    elif method == "shmi":
        p0 = 1.0
        theta0 = 0.0
        y = [math.log(o[i] / e[i]) for i in range(n)]
        s = [1 / math.sqrt(e[i]) for i in range(n)]
    else:
        p0 = 1.0
        theta0 = 1.0
        y = [math.sqrt(o[i] / e[i]) for i in range(n)]
        s = [1 / (2 * math.sqrt(e[i])) for i in range(n)]
    z = [(y[i] - theta0) / s[i] for i in range(n)]
    if not trim:
        keep = list(range(n))
        zk = list(z)
    elif method == "shmi":
        ranks = _slow_average_ranks(z)
        keep = [i for i in range(n) if math.floor(ranks[i] * 10 / (n + 1)) not in (0, 9)]
        zk = [z[i] for i in keep]
    else:
        q10, q90 = _slow_percentile(z, 0.1), _slow_percentile(z, 0.9)
        keep = list(range(n))
        zk = [min(max(z[i], q10), q90) for i in keep]
    m = len(keep)
    phi = sum(v * v for v in zk) / m
    w = [1 / s[i] ** 2 for i in keep]
    sw, sw2 = sum(w), sum(v * v for v in w)
    tau2 = max(0.0, (m * phi - (m - 1)) / (sw - sw2 / sw))

    def back(v):
        if data_type == "proportion":
            return math.sin(min(max(v, 0.0), math.pi / 2)) ** 2
        if method == "shmi":
            return math.exp(v)
        return max(v, 0.0) ** 2

    rows = []
    for i in range(n):
        if overdispersion == "additive":
            sd = math.sqrt(s[i] ** 2 + tau2)
        elif overdispersion == "multiplicative":
            sd = math.sqrt(max(phi, 1.0)) * s[i]
        else:
            sd = s[i]
        rows.append({
            "lower_95": back(theta0 - Z95 * sd), "upper_95": back(theta0 + Z95 * sd),
            "lower_998": back(theta0 - Z998 * sd), "upper_998": back(theta0 + Z998 * sd),
            "z": z[i], "z_adjusted": (y[i] - theta0) / sd,
        })
    return pd.DataFrame(rows), phi, tau2, p0


def _overdispersed_counts(rng, n, sd=0.1):
    e = rng.lognormal(math.log(400), 0.8, n)
    o = rng.poisson(e * np.exp(rng.normal(0, sd, n))).astype(float)
    return o, e


@pytest.mark.parametrize("method", ["shmi", "cqc"])
@pytest.mark.parametrize("overdispersion", ["additive", "multiplicative", None])
@pytest.mark.parametrize("n", [7, 19, 20, 150])
def test_funnel_ratio_matches_slow_implementation(method, overdispersion, n):
    rng = np.random.default_rng(100 + n)
    o, e = _overdispersed_counts(rng, n)
    # the normal-theory limits (exact=False; exact Poisson limits are checked against R below)
    res = funnel_limits(o, e, method=method, overdispersion=overdispersion, exact=False)
    slow, phi, tau2, _ = slow_funnel(list(o), list(e), method, overdispersion)
    assert_allclose(res.phi, phi, rtol=1e-10)
    assert_allclose(res.tau2, tau2, rtol=1e-10, atol=1e-300)
    cols = ["lower_95", "upper_95", "lower_998", "upper_998", "z", "z_adjusted"]
    assert_allclose(res.table[cols].to_numpy(), slow[cols].to_numpy(), rtol=1e-10)
    untrimmed = funnel_limits(o, e, method=method, overdispersion=overdispersion, trim=False, exact=False)
    slow_u, phi_u, tau2_u, _ = slow_funnel(list(o), list(e), method, overdispersion, trim=False)
    assert_allclose([untrimmed.phi, untrimmed.tau2], [phi_u, tau2_u], rtol=1e-10)
    assert_allclose(untrimmed.table[cols].to_numpy(), slow_u[cols].to_numpy(), rtol=1e-10)
    assert untrimmed.n_trimmed == 0 and not untrimmed.table["trimmed"].any()


@pytest.mark.parametrize("method", ["shmi", "cqc"])
@pytest.mark.parametrize("overdispersion", ["additive", "multiplicative", None])
def test_funnel_proportion_matches_slow_implementation(method, overdispersion):
    rng = np.random.default_rng(7)
    n_cases = rng.integers(20, 2000, 60).astype(float)
    p = 1 / (1 + np.exp(-(-1.5 + rng.normal(0, 0.3, 60))))
    events = rng.binomial(n_cases.astype(int), p).astype(float)
    res = funnel_limits(events, n_cases, data_type="proportion", method=method, overdispersion=overdispersion,
                        exact=False)
    slow, phi, tau2, p0 = slow_funnel(list(events), list(n_cases), method, overdispersion, "proportion")
    assert_allclose(res.target, p0, rtol=1e-14)
    assert_allclose([res.phi, res.tau2], [phi, tau2], rtol=1e-10)
    cols = ["lower_95", "upper_95", "lower_998", "upper_998", "z", "z_adjusted"]
    assert_allclose(res.table[cols].to_numpy(), slow[cols].to_numpy(), rtol=1e-10)
    fixed = funnel_limits(events, n_cases, data_type="proportion", method=method, target=0.2,
                          overdispersion=overdispersion, exact=False)
    slow_t, phi_t, tau2_t, _ = slow_funnel(list(events), list(n_cases), method, overdispersion,
                                           "proportion", target=0.2)
    assert_allclose([fixed.phi, fixed.tau2], [phi_t, tau2_t], rtol=1e-10)
    assert_allclose(fixed.table[cols].to_numpy(), slow_t[cols].to_numpy(), rtol=1e-10)


def test_shmi_truncation_with_ties_uses_average_ranks():
    # 11 units, four tied at the lowest z: average rank 2.5 -> floor(2.5*10/12) = 2, all kept
    e = np.full(11, 100.0)
    o = np.array([80, 80, 80, 80, 95, 100, 101, 104, 110, 120, 130], dtype=float)
    res = funnel_limits(o, e, method="shmi")
    slow, phi, tau2, _ = slow_funnel(list(o), list(e), "shmi", "additive")
    assert_allclose([res.phi, res.tau2], [phi, tau2], rtol=1e-12)
    # ranks 1..11 untied at the top: rank 11 -> floor(110/12) = 9 dropped; rank 10 -> 8 kept
    assert_array_equal(res.table["trimmed"].to_numpy(), [False] * 10 + [True])
    assert res.n_trimmed == 1


def test_limits_at_the_units_equal_the_table():
    rng = np.random.default_rng(3)
    o, e = _overdispersed_counts(rng, 40)
    for method in ("shmi", "cqc"):
        for od in ("additive", "multiplicative", None):
            res = funnel_limits(o, e, method=method, overdispersion=od)
            grid = res.limits(e)
            cols = ["lower_95", "upper_95", "lower_998", "upper_998"]
            assert_allclose(grid[cols].to_numpy(), res.table[cols].to_numpy(), rtol=1e-14)
            assert (grid["target"] == 1.0).all()


def test_flags_agree_with_limits():
    rng = np.random.default_rng(5)
    o, e = _overdispersed_counts(rng, 300, sd=0.15)
    for method in ("shmi", "cqc"):
        for od in ("additive", "multiplicative", None):
            t = funnel_limits(o, e, method=method, overdispersion=od).table
            r = t["ratio"]
            expected_flag = np.select(
                [r < t["lower_998"], r < t["lower_95"], r > t["upper_998"], r > t["upper_95"]],
                ["low_alarm", "low_alert", "high_alarm", "high_alert"], "in_control",
            )
            assert_array_equal(t["flag"].astype(str).to_numpy(), expected_flag)
            assert list(t["flag"].cat.categories) == list(FLAG_CATEGORIES)
    # with no over-dispersion allowance, a strongly over-dispersed set flags many units
    assert (funnel_limits(o, e, overdispersion=None).table["flag"] != "in_control").sum() > 30


def test_table_layout_and_labels():
    o = pd.Series([120, 80, 300, 45, 200], index=pd.Index(list("ABCDE"), name="trust"))
    e = pd.Series([100.0, 90.0, 310.0, 50.0, 180.0], index=o.index)
    res = funnel_limits(o, e)
    assert res.table.index.equals(o.index)
    assert list(res.table.columns) == [
        "observed", "expected", "ratio", "z", "z_adjusted", "lower_95", "upper_95", "lower_998",
        "upper_998", "trimmed", "flag",
    ]
    for col in ["observed", "expected", "ratio", "z", "z_adjusted", "lower_95", "upper_95"]:
        assert res.table[col].dtype == np.float64
    assert res.table["trimmed"].dtype == bool
    assert res.n_obs == 5 and res.n_dropped == 0 and res.n_groups is None
    assert "phi" in str(res.summary()) and "flags" in str(res)
    assert res.to_frame().equals(res.table)


def test_caller_data_not_mutated():
    o = pd.Series([120.0, 80.0, 300.0, 45.0, 0.0])
    e = np.array([100.0, 90.0, 310.0, 50.0, 20.0])
    o0, e0 = o.copy(), e.copy()
    funnel_limits(o, e, method="cqc")
    smr(o, e)
    pd.testing.assert_series_equal(o, o0)
    assert_array_equal(e, e0)


def test_funnel_validation_messages():
    with pytest.raises(ValueError, match="`method`"):
        funnel_limits([1, 2], [1.0, 2.0], method="nhs")
    with pytest.raises(ValueError, match="`overdispersion`"):
        funnel_limits([1, 2], [1.0, 2.0], overdispersion="both")
    with pytest.raises(ValueError, match="`data_type`"):
        funnel_limits([1, 2], [1.0, 2.0], data_type="rate")
    with pytest.raises(TypeError, match="`trim` must be True or False"):
        funnel_limits([1, 2], [1.0, 2.0], trim="yes")
    with pytest.raises(ValueError, match=r"`observed` and `expected` must have at least 2 units .*; got 1"):
        funnel_limits([1], [1.0])
    with pytest.raises(ValueError, match="`target` applies to data_type='proportion'"):
        funnel_limits([1, 2], [1.0, 2.0], target=0.5)
    with pytest.raises(ValueError, match=r"`observed` events cannot exceed `expected`; 1 unit\(s\) do: \(label, events\) \[\(0, 5.0\)\]"):
        funnel_limits([5, 2], [4.0, 10.0], data_type="proportion")
    with pytest.raises(ValueError, match=r"`target` must lie in \(0, 1\)"):
        funnel_limits([1, 2], [4.0, 10.0], data_type="proportion", target=1.5)
    with pytest.raises(ValueError, match=r"`expected` must be finite and > 0; 1 unit.*'b'"):
        funnel_limits([1, 2], [4.0, -1.0], labels=["a", "b"])


def test_shmi_zero_count_kept_raises_and_cqc_handles_it():
    o = np.array([0.0, 50, 60, 55, 45])
    e = np.array([40.0, 50, 55, 52, 48])
    with pytest.raises(ValueError, match=r"`observed` is 0 for 1 unit.*method='cqc'"):
        funnel_limits(o, e, method="shmi")
    res = funnel_limits(o, e, method="cqc")
    assert res.table["flag"].iloc[0] in ("low_alarm", "low_alert")
    # with enough units the zero is truncated and the log-scale estimate goes ahead
    rng = np.random.default_rng(0)
    o2, e2 = _overdispersed_counts(rng, 30)
    o2[0] = 0.0
    res2 = funnel_limits(o2, e2, method="shmi")
    assert res2.table["trimmed"].iloc[0] and res2.table["flag"].iloc[0] == "low_alarm"


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

@st.composite
def unit_sets(draw, min_size=3, max_size=40):
    n = draw(st.integers(min_size, max_size))
    e = np.array(draw(st.lists(st.floats(5.0, 3000.0), min_size=n, max_size=n)))
    ratio = np.array(draw(st.lists(st.floats(0.5, 1.6), min_size=n, max_size=n)))
    o = np.round(e * ratio)
    o[o < 1] = 1.0
    return o, e


@given(units=unit_sets(), method=st.sampled_from(["shmi", "cqc"]),
       od=st.sampled_from(["additive", "multiplicative", None]))
def test_limits_widen_as_expected_shrinks(units, method, od):
    o, e = units
    res = funnel_limits(o, e, method=method, overdispersion=od, exact=False)
    grid = res.limits(np.geomspace(1.0, 1e5, 60))
    for tag in ("95", "998"):
        assert np.all(np.diff(grid[f"upper_{tag}"].to_numpy()) <= 1e-15)  # upper falls as E grows
        assert np.all(np.diff(grid[f"lower_{tag}"].to_numpy()) >= -1e-15)  # lower rises
        assert np.all(grid[f"lower_{tag}"] <= 1.0) and np.all(grid[f"upper_{tag}"] >= 1.0)
    assert np.all(grid["lower_998"] <= grid["lower_95"]) and np.all(grid["upper_95"] <= grid["upper_998"])


@given(units=unit_sets(), method=st.sampled_from(["shmi", "cqc"]))
def test_dispersion_estimates_nonnegative_and_overdispersed_limits_contain_poisson(units, method):
    o, e = units
    plain = funnel_limits(o, e, method=method, overdispersion=None, exact=False)
    assert plain.tau2 >= 0.0 and plain.phi >= 0.0
    cols_low, cols_high = ["lower_95", "lower_998"], ["upper_95", "upper_998"]
    for od in ("additive", "multiplicative"):
        wide = funnel_limits(o, e, method=method, overdispersion=od)
        assert wide.phi == plain.phi and wide.tau2 == plain.tau2
        assert np.all(wide.table[cols_low].to_numpy() <= plain.table[cols_low].to_numpy() + 1e-15)
        assert np.all(wide.table[cols_high].to_numpy() >= plain.table[cols_high].to_numpy() - 1e-15)
        if od == "multiplicative" and plain.phi > 1:
            assert np.all(wide.table[cols_low].to_numpy() < plain.table[cols_low].to_numpy())


@given(units=unit_sets(min_size=4), method=st.sampled_from(["shmi", "cqc"]),
       od=st.sampled_from(["additive", "multiplicative", None]), seed=st.integers(0, 2**32 - 1))
def test_invariant_to_unit_order(units, method, od, seed):
    o, e = units
    labels = [f"U{i:03d}" for i in range(len(o))]
    perm = np.random.default_rng(seed).permutation(len(o))
    a = funnel_limits(o, e, labels=labels, method=method, overdispersion=od)
    b = funnel_limits(o[perm], e[perm], labels=[labels[i] for i in perm], method=method, overdispersion=od)
    assert_allclose(b.phi, a.phi, rtol=1e-12)
    assert_allclose(b.tau2, a.tau2, rtol=1e-12, atol=1e-300)
    pd.testing.assert_frame_equal(b.table.loc[a.table.index], a.table, rtol=1e-12)


# ---------------------------------------------------------------------------
# plotting
# ---------------------------------------------------------------------------

def test_plot_draws_units_and_limits():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(2)
    o, e = _overdispersed_counts(rng, 50, sd=0.2)
    res = funnel_limits(o, e, labels=[f"T{i}" for i in range(50)], overdispersion=None)
    fig, ax = plt.subplots()
    try:
        out = res.plot(ax=ax, log_x=True)
        assert out is ax
        assert len(ax.lines) == 5  # target and four limits
        # one scatter per flag group present, together every unit once
        offsets = np.concatenate([np.asarray(c.get_offsets()) for c in ax.collections])
        assert_allclose(np.sort(offsets[:, 1]), np.sort(res.table["ratio"].to_numpy()), rtol=0)
        n_alarm = int(res.table["flag"].isin(["low_alarm", "high_alarm"]).sum())
        assert n_alarm > 0 and len(ax.texts) == n_alarm
    finally:
        plt.close(fig)


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    res = funnel_limits([10, 20, 30], [12.0, 18.0, 33.0])
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"teamculture\[plot\]"):
        res.plot()


def test_module_public_names():
    assert set(funnel.__all__) == {"smr", "funnel_limits", "FunnelResult", "FLAG_CATEGORIES"}


# ---------------------------------------------------------------------------
# alignment, zero expected deaths, the result protocol
# ---------------------------------------------------------------------------

def test_series_are_matched_by_label_not_position():
    o = pd.Series([120.0, 80.0, 300.0, 45.0, 200.0], index=pd.Index(list("ABCDE"), name="trust"))
    e = pd.Series([100.0, 90.0, 310.0, 50.0, 180.0], index=o.index)
    shuffled = e.iloc[[3, 0, 4, 1, 2]]
    pd.testing.assert_frame_equal(smr(o, shuffled), smr(o, e))
    a, b = funnel_limits(o, e), funnel_limits(o, shuffled)
    assert a == b
    # the same numbers paired by position would be another answer
    assert not smr(o, shuffled.to_numpy())["smr"].equals(smr(o, e)["smr"])


@given(units=unit_sets(min_size=4), seed=st.integers(0, 2**32 - 1))
def test_shuffled_labelled_inputs_give_the_same_answer(units, seed):
    o, e = units
    labels = [f"U{i:03d}" for i in range(len(o))]
    so, se_ = pd.Series(o, index=labels), pd.Series(e, index=labels)
    perm = np.random.default_rng(seed).permutation(len(o))
    a = funnel_limits(so, se_)
    b = funnel_limits(so, se_.iloc[perm])
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(smr(so, se_.iloc[perm]), smr(so, se_))


def test_smr_with_zero_expected_is_inf_with_a_warning():
    from teamculture.errors import DegenerateDataWarning

    with pytest.warns(DegenerateDataWarning, match=r"`expected` is 0 for 2 unit\(s\) \['b', 'c'\]"):
        out = smr([3, 2, 0], [2.0, 0.0, 0.0], labels=["a", "b", "c"])
    assert out.loc["b", "smr"] == np.inf and out.loc["b", "ci_low"] == np.inf and out.loc["b", "ci_high"] == np.inf
    assert np.isnan(out.loc["c", "smr"]) and out.loc["c", "ci_low"] == 0.0 and out.loc["c", "ci_high"] == np.inf
    assert_allclose(out.loc["a"].to_numpy(), smr([3], [2.0]).iloc[0].to_numpy(), rtol=0)


def test_funnel_result_pickles_and_compares():
    import pickle

    rng = np.random.default_rng(4)
    o, e = _overdispersed_counts(rng, 30)
    res = funnel_limits(o, e)
    assert pickle.loads(pickle.dumps(res)) == res
    assert res != funnel_limits(o, e, method="cqc")
    with pytest.raises(TypeError, match="no confidence interval"):
        res.confidence_interval()
    assert res.to_dict()["n_obs"] == 30
