"""Exact (interpolated Poisson/binomial) funnel limits and the funnel plot's legend, log axis and title.

Oracle: tests/reference/reporting.R (the Spiegelhalter 2005 appendix construction evaluated with R's
qpois/ppois and qbinom/pbinom, and the acceptance region of R's poisson.test).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from _reference import load_json
from teamculture.errors import DegenerateDataWarning
from teamculture.outcomes import funnel_limits

REF = load_json("reporting.json")["funnel"]
TAGS = {0.001: ("lower", "998"), 0.025: ("lower", "95"), 0.975: ("upper", "95"), 0.999: ("upper", "998")}


def _grid(res, x):
    return res.limits(np.asarray(x, dtype=float))


def test_exact_poisson_limits_match_r():
    E = np.array(REF["poisson"]["E"], dtype=float)
    res = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None)
    assert res.exact and res.overdispersion is None
    grid = _grid(res, E)
    for block in REF["poisson"]["limits"]:
        side, tag = TAGS[block["p"]]
        # R's formula is evaluated raw; a negative value (r = 0: no count is too low) is the limit 0
        want = np.maximum(np.array(block["limit"], dtype=float), 0.0)
        assert_allclose(grid[f"{side}_{tag}"].to_numpy(), want, rtol=1e-12, atol=1e-15)


def test_exact_binomial_limits_match_r():
    n = np.array(REF["binomial"]["n"], dtype=float)
    theta0 = REF["binomial"]["theta0"]
    res = funnel_limits([1, 2, 3], [10.0, 20.0, 30.0], data_type="proportion", target=theta0, overdispersion=None)
    grid = _grid(res, n)
    for block in REF["binomial"]["limits"]:
        side, tag = TAGS[block["p"]]
        want = np.maximum(np.array(block["limit"], dtype=float), 0.0)
        assert_allclose(grid[f"{side}_{tag}"].to_numpy(), want, rtol=1e-12, atol=1e-15)


def test_at_five_expected_deaths_the_lower_limit_is_the_exact_one():
    # the example: normal approximations give 0.416 (log) and 0.320 (square root)
    res = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None)
    low = float(_grid(res, [5.0])["lower_95"].iloc[0])
    # closed form at E = 5: F(0) = e^-5, F(1) = 6 e^-5; r = 1, a = (F(1) - .025)/(F(1) - F(0))
    f0, f1 = np.exp(-5.0), 6.0 * np.exp(-5.0)
    assert_allclose(low, (1.0 - (f1 - 0.025) / (f1 - f0)) / 5.0, rtol=1e-14)
    assert 0.10 < low < 0.11
    normal = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None, exact=False)
    assert_allclose(float(_grid(normal, [5.0])["lower_95"].iloc[0]), np.exp(-stats.norm.isf(0.025) / np.sqrt(5.0)),
                    rtol=1e-14)
    cqc = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None, exact=False, method="cqc")
    assert_allclose(float(_grid(cqc, [5.0])["lower_95"].iloc[0]),
                    (1 - stats.norm.isf(0.025) / (2 * np.sqrt(5.0))) ** 2, rtol=1e-14)


def test_exact_limits_agree_with_poisson_test_within_one_death():
    # R's poisson.test inverts another exact construction (two-sided "minlike" p-values): the smallest and
    # largest counts inside the interpolated limits are within one death of the edges of its acceptance region
    ref = REF["poisson_test"]
    E = np.array(ref["E"], dtype=float)
    grid = _grid(funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None), E)
    for tag in ("95", "998"):
        lowest = np.ceil(grid[f"lower_{tag}"].to_numpy() * E - 1e-9)
        highest = np.floor(grid[f"upper_{tag}"].to_numpy() * E + 1e-9)
        assert np.all(np.abs(lowest - np.array(ref[f"lower_{tag}"])) <= 1)
        assert np.all(np.abs(highest - np.array(ref[f"upper_{tag}"])) <= 1)
        assert np.mean(lowest == np.array(ref[f"lower_{tag}"])) >= 0.5


def test_exact_limits_at_whole_quantiles_are_the_quantiles():
    # where F(r) equals p exactly the interpolation gives r itself: check at E solving F(r; E) = p
    from scipy import optimize

    for r in (1, 4, 12):
        E = optimize.brentq(lambda m: stats.poisson.cdf(r, m) - 0.025, 0.01, 200.0, xtol=1e-14)
        res = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None)
        assert_allclose(float(_grid(res, [E])["lower_95"].iloc[0]) * E, r, rtol=1e-7)


def test_flags_use_the_exact_limits():
    e = np.array([2.0, 3.0, 5.0, 5.0, 8.0, 40.0])
    o = np.array([0.0, 10.0, 0.0, 13.0, 8.0, 40.0])
    with pytest.warns(DegenerateDataWarning, match="phi and tau2 are NaN"):
        res = funnel_limits(o, e, overdispersion=None)  # log scale: ln(0) leaves phi, tau2 undefined
    assert np.isnan(res.phi) and np.isnan(res.tau2)
    t = res.table
    # O = 0 at E = 2 is not unusual (P(0) = 0.135); at E = 5, P(0) = 0.0067 < 0.025: an alert, not an alarm;
    # 10 deaths where 3 are expected and 13 where 5 are: beyond the 99.8% limits (9.13 and 12.77 deaths)
    assert t["flag"].astype(str).tolist()[:4] == ["in_control", "high_alarm", "low_alert", "high_alarm"]
    assert (t["lower_95"].iloc[0] == 0.0) and t["lower_998"].iloc[2] == 0.0
    cqc = funnel_limits(o, e, overdispersion=None, method="cqc")  # phi and tau2 estimable on the sqrt scale
    assert np.isfinite(cqc.phi) and cqc.table["flag"].equals(t["flag"])


def test_overdispersed_limits_are_the_published_ones_whatever_exact_says():
    rng = np.random.default_rng(4)
    e = rng.uniform(200, 3000, 60)
    o = rng.poisson(e * np.exp(rng.normal(0, 0.1, 60))).astype(float)
    for od in ("additive", "multiplicative"):
        a = funnel_limits(o, e, overdispersion=od)
        b = funnel_limits(o, e, overdispersion=od, exact=False)
        pd.testing.assert_frame_equal(a.table, b.table)
        assert not a._exact


def test_summary_says_which_limits():
    res = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None)
    assert "exact Poisson quantiles" in str(res.summary())
    rng = np.random.default_rng(1)
    e = rng.uniform(3, 30, 30)
    od = funnel_limits(rng.poisson(e).astype(float) + 1, e, method="cqc")
    assert "fewer than 20 expected deaths" in str(od.summary())


def test_exact_binomial_refuses_fractional_denominators():
    with pytest.raises(ValueError, match="`expected`: exact binomial limits need whole-number"):
        funnel_limits([1, 2, 3], [10.5, 20.0, 30.0], data_type="proportion", overdispersion=None)
    res = funnel_limits([1, 2, 3], [10.5, 20.0, 30.0], data_type="proportion", overdispersion=None, exact=False)
    assert not res._exact


@settings(max_examples=40, deadline=None)
@given(E=st.floats(0.05, 5000.0), level=st.sampled_from([0.95, 0.998]))
def test_exact_limits_bracket_the_target_with_the_right_tail_mass(E, level):
    res = funnel_limits([5, 7, 9], [5.0, 6.0, 8.0], overdispersion=None)
    tag = "95" if level == 0.95 else "998"
    g = _grid(res, [E])
    low, high = float(g[f"lower_{tag}"].iloc[0]) * E, float(g[f"upper_{tag}"].iloc[0]) * E
    assert 0.0 <= low <= E <= high or (E < 1 and low == 0.0)
    # the limits lie within one count of the quantiles: counts below the count just under the lower limit,
    # and above the count just over the upper limit, carry at most alpha/2 of the Poisson mass each
    alpha = (1 - level) / 2
    assert stats.poisson.cdf(np.ceil(low) - 1, E) <= alpha + 1e-12
    assert stats.poisson.sf(np.ceil(high), E) <= alpha + 1e-12


# ---------------------------------------------------------------------------
# the plot
# ---------------------------------------------------------------------------
@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plot_has_a_legend_for_the_flags(plt):
    rng = np.random.default_rng(2)
    e = rng.uniform(100, 3000, 80)
    o = rng.poisson(e * np.exp(rng.normal(0, 0.15, 80))).astype(float)
    res = funnel_limits(o, e, overdispersion=None)
    ax = res.plot()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    counts = res.table["flag"].astype(str).str.replace("low_", "").str.replace("high_", "").value_counts()
    for key, text in (("in_control", "within the 95% limits"), ("alert", "outside 95% (alert)"),
                      ("alarm", "outside 99.8% (alarm)")):
        if counts.get(key, 0):
            assert f"{text}: {counts[key]}" in texts
    assert "95% limits" in texts and "99.8% limits" in texts


def test_plot_log_axis_labels_do_not_overprint(plt):
    rng = np.random.default_rng(3)
    e = rng.uniform(150, 900, 40)  # less than one decade: matplotlib would label minor ticks
    res = funnel_limits(rng.poisson(e).astype(float), e)
    ax = res.plot(log_x=True)
    ax.figure.canvas.draw()
    minor = [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()]
    assert minor == []
    major = [t.get_text() for t in ax.xaxis.get_majorticklabels() if t.get_text()]
    assert major and all(m.replace(",", "").isdigit() for m in major)
    # the visible labels do not overlap
    boxes = [t.get_window_extent() for t in ax.xaxis.get_majorticklabels()
             if t.get_text() and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    boxes.sort(key=lambda b: b.x0)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))


def test_plot_title_reflects_trim_and_limits(plt):
    rng = np.random.default_rng(5)
    e = rng.uniform(150, 900, 40)
    o = rng.poisson(e * np.exp(rng.normal(0, 0.1, 40))).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        titles = {
            "trim": funnel_limits(o, e).plot().get_title(),
            "no-trim": funnel_limits(o, e, trim=False).plot().get_title(),
            "cqc": funnel_limits(o, e, method="cqc").plot().get_title(),
            "exact": funnel_limits(o, e, overdispersion=None).plot().get_title(),
        }
    assert "10% truncation" in titles["trim"] and "no trimming" in titles["no-trim"]
    assert "10% winsorisation" in titles["cqc"]
    assert "exact Poisson limits" in titles["exact"] and "trunc" not in titles["exact"]
