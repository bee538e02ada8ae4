"""What the pictures of teamculture.plotting show: content, not pixels.

Each test reads the drawn artists back (points, interval segments, bar heights and widths, lines,
labels) and compares them with the numbers they should show, computed independently; the residual
diagnostics are compared with lme4's fitted() and residuals() (tests/reference/lme4_residuals.R).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

import teamculture as tc
from _reference import REFERENCE_DIR
from teamculture.plotting import _conditional_fitted

def quiet(fn, *args, **kwargs):
    """Call ``fn`` with data warnings silenced (the setup of a test, not its subject)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


ENG = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]


def _no_empty_axes(fig):
    for ax in fig.axes:
        assert ax.has_data(), f"empty panel: {ax.get_title()!r}"
        assert ax.get_xlabel() and ax.get_ylabel() is not None


def _within_figure(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for ax in fig.axes:
        tight = ax.get_tightbbox(renderer)
        assert tight.x0 >= box.x0 - 1 and tight.y0 >= box.y0 - 1, f"clipped at the left/bottom: {ax.get_title()!r}"
        assert tight.x1 <= box.x1 + 1 and tight.y1 <= box.y1 + 1, f"clipped at the right/top: {ax.get_title()!r}"


def _segments(ax):
    """(y, x_low, x_high) of the horizontal interval segments of a caterpillar plot."""
    segs = ax.collections[0].get_segments()
    return (np.array([s[0, 1] for s in segs]), np.array([s[0, 0] for s in segs]), np.array([s[1, 0] for s in segs]))


# --------------------------------------------------------------------------- random effects
@pytest.mark.parametrize("factor", ["trust", "trust:team"])
def test_caterpillar_one_point_and_interval_per_group(fit3, factor):
    table = fit3.random_effects[factor]
    ax = tc.plot_random_effects(fit3, factor=factor)
    points = ax.collections[1].get_offsets()
    assert len(points) == len(table) == fit3.n_groups[factor]
    order = np.argsort(table["blup"].to_numpy(), kind="stable")
    assert_allclose(points[:, 0], table["blup"].to_numpy()[order], rtol=1e-15)
    assert_array_equal(points[:, 1], np.arange(len(table)))
    y, low, high = _segments(ax)
    assert len(y) == len(table)
    half = stats.norm.ppf(0.975) * np.sqrt(table["cond_var"].to_numpy()[order])
    assert_allclose(low, table["blup"].to_numpy()[order] - half, rtol=1e-12)
    assert_allclose(high, table["blup"].to_numpy()[order] + half, rtol=1e-12)
    # labels: every group on the y axis, in the drawn order
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(g) for g in table.index[order]]
    assert ax.get_title() == f"{factor}: random intercept (latent_engagement)"
    assert "95% conditional interval" in ax.get_xlabel()
    counts = [t.get_text() for t in ax.get_legend().get_texts()]
    lo, hi = table["blup"] - stats.norm.ppf(0.975) * np.sqrt(table["cond_var"]), \
        table["blup"] + stats.norm.ppf(0.975) * np.sqrt(table["cond_var"])
    n_in = int(((lo <= 0) & (hi >= 0)).sum())
    assert f"interval includes 0 ({n_in})" in counts
    _no_empty_axes(ax.figure)
    _within_figure(ax.figure)


def test_caterpillar_level_unsorted_many_groups_and_nested_name(tiny):
    fit = quiet(tc.mixed, "latent_engagement ~ 1 + (1 | trust/team)", tiny.staff)
    ax = tc.plot_random_effects(fit, factor="team", sort=False, label_groups=False, confidence_level=0.5)
    table = fit.random_effects["trust:team"]
    points = ax.collections[1].get_offsets()
    # unsorted: the first group of the table at the top
    assert_allclose(points[:, 0], table["blup"].to_numpy()[::-1], rtol=1e-15)
    y, low, high = _segments(ax)
    half = stats.norm.ppf(0.75) * np.sqrt(table["cond_var"].to_numpy()[::-1])
    assert_allclose(high - low, 2 * half, rtol=1e-12)
    assert len(ax.get_yticks()) == 0 and ax.get_ylabel() == "24 groups of trust:team"
    assert "50% conditional interval" in ax.get_xlabel()


def test_caterpillar_of_a_random_slope(fit_slopes):
    table = fit_slopes.random_effects["team"]
    ax = tc.plot_random_effects(fit_slopes, factor="team", term="tenure")
    points = ax.collections[1].get_offsets()
    assert_allclose(np.sort(points[:, 0]), np.sort(table["tenure"].to_numpy()), rtol=1e-15)
    y, low, high = _segments(ax)
    assert_allclose(np.sort(high - low), np.sort(2 * stats.norm.ppf(0.975) * np.sqrt(table["cond_var:tenure"])),
                    rtol=1e-12)
    assert ax.get_title().startswith("team: random slope of tenure")


def _glmm_yes(staff):
    return staff.assign(y=(staff["out_stress"] == 1).astype(float)).dropna(subset=["y", "tenure"])


@pytest.mark.parametrize("factor", ["trust", "trust:team"])
def test_caterpillar_of_a_glmm_on_the_link_scale(factor):
    # the committed three-level binary data set of the lme4 oracles (40 trusts, 2-12 teams each)
    data = pd.read_csv(REFERENCE_DIR / "glmm_data" / "three_level.csv")
    fit = tc.glmm("y ~ x + team_type + (1 | trust/team)", data)
    table = fit.random_effects[factor]
    ax = tc.plot_random_effects(fit, factor=factor, label_groups=True)
    points = ax.collections[1].get_offsets()
    assert len(points) == len(table) == fit.n_groups[factor]
    order = np.argsort(table["condval"].to_numpy(), kind="stable")
    assert_allclose(points[:, 0], table["condval"].to_numpy()[order], rtol=1e-15)
    y, low, high = _segments(ax)
    half = stats.norm.ppf(0.975) * table["condsd"].to_numpy()[order]
    assert_allclose(low, table["condval"].to_numpy()[order] - half, rtol=1e-12)
    assert_allclose(high, table["condval"].to_numpy()[order] + half, rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(g) for g in table.index[order]]
    assert ax.get_xlabel() == "conditional mode with 95% conditional interval (log-odds scale, logit link)"
    assert ax.get_title() == f"{factor}: random intercept (y)"
    n_in = int(((table["condval"] - stats.norm.ppf(0.975) * table["condsd"] <= 0)
                & (table["condval"] + stats.norm.ppf(0.975) * table["condsd"] >= 0)).sum())
    assert f"interval includes 0 ({n_in})" in [t.get_text() for t in ax.get_legend().get_texts()]
    _no_empty_axes(ax.figure)
    _within_figure(ax.figure)


def test_caterpillar_of_a_poisson_glmm_and_a_glmm_slope(tiny):
    data = pd.read_csv(REFERENCE_DIR / "glmm_data" / "poisson.csv")
    fit = tc.glmm("absence ~ x + team_type + offset(log(days)) + (1 | trust/team)", data, family="poisson")
    ax = tc.plot_random_effects(fit, factor="trust", confidence_level=0.8)
    assert ax.get_xlabel() == "conditional mode with 80% conditional interval (log-rate scale, log link)"
    assert ax.get_title() == "trust: random intercept (absence)"
    y, low, high = _segments(ax)
    assert_allclose(np.sort(high - low), np.sort(2 * stats.norm.ppf(0.9) * fit.random_effects["trust"]["condsd"]),
                    rtol=1e-12)
    slopes = quiet(tc.glmm, "y ~ tenure + (1 + tenure | team)", _glmm_yes(tiny.staff), link="probit")
    table = slopes.random_effects["team"]
    for term, col in (("tenure", "tenure"), ("Intercept", "(Intercept)")):
        ax = tc.plot_random_effects(slopes, term=term)
        points = ax.collections[1].get_offsets()
        assert_allclose(np.sort(points[:, 0]), np.sort(table[f"condval:{col}"].to_numpy()), rtol=1e-15)
        y, low, high = _segments(ax)
        assert_allclose(np.sort(high - low), np.sort(2 * stats.norm.ppf(0.975) * table[f"condsd:{col}"]), rtol=1e-12)
        assert "probit scale, probit link" in ax.get_xlabel()
    assert ax.get_title().startswith("team: random intercept")


def test_caterpillar_draws_on_a_given_axes(fit3):
    fig, axes = plt.subplots(1, 2, layout="constrained")
    out = tc.plot_random_effects(fit3, factor="trust", ax=axes[1])
    assert out is axes[1] and not axes[0].has_data()
    assert len(fig.axes) == 2


# --------------------------------------------------------------------------- agreement
@pytest.fixture(scope="module")
def complete(tiny):
    return tiny.staff.dropna(subset=ENG)


def test_agreement_histogram_counts_every_group_once(complete):
    r = tc.rwg_j(complete[ENG], complete["team"], scale=(1, 5))
    null = tc.rwg_j_sim(12, 9, (1, 5), item_corr=0.5, n_resamples=500, rng=3)
    ax = tc.plot_agreement(r, critical_value=null)
    heights = np.array([b.get_height() for b in ax.containers[0]])
    assert heights.sum() == r["rwg_j"].notna().sum() == 24
    edges = [b.get_x() for b in ax.containers[0]] + [ax.containers[0][-1].get_x() + ax.containers[0][-1].get_width()]
    counts, _ = np.histogram(r["rwg_j"].dropna(), bins=edges)
    assert_array_equal(heights, counts)
    lines = {tuple(line.get_xdata()): line.get_label() for line in ax.get_lines()}
    assert lines[(0.7, 0.7)] == f"cut-off 0.70: {np.mean(r['rwg_j'] >= 0.7):.0%} of groups at or above"
    crit = null.critical_value
    assert lines[(crit, crit)] == (f"null 95th percentile (groups of 12, 9 items): {crit:.3g}; "
                                   f"{np.mean(r['rwg_j'] > crit):.0%} of groups beyond")
    texts = {t.get_text() for t in ax.texts}
    assert {"weak", "moderate", "strong"} <= texts
    assert ax.get_title() == "rwg(j) of 24 groups" and ax.get_xlabel() == "rwg(j) per group"
    _within_figure(ax.figure)


def test_agreement_counts_groups_without_a_value(complete):
    r = tc.rwg(complete["mot1"], complete["team"], scale=(1, 5))
    r.iloc[:3, 0] = np.nan  # e.g. teams of one
    ax = tc.plot_agreement(r["rwg"])
    assert sum(b.get_height() for b in ax.containers[0]) == 21
    assert ax.get_title() == "rwg of 21 groups (3 without a value not shown)"


def test_agreement_ad_uses_the_c6_cutoff_of_the_table(complete):
    ad = tc.ad_index(complete[ENG], complete["team"], scale=(1, 5))
    ax = tc.plot_agreement(ad)
    line = [ln for ln in ax.get_lines() if ln.get_label().startswith("c/6")][0]
    assert_allclose(line.get_xdata(), [5 / 6, 5 / 6], rtol=1e-15)
    assert f"{np.mean(ad['ad'] <= 5 / 6):.0%} of groups at or below" in line.get_label()
    assert sum(b.get_height() for b in ax.containers[0]) == 24
    # without a scale there is no cut-off: the title says so
    ad2 = tc.ad_index(complete[ENG], complete["team"])
    ax2 = tc.plot_agreement(ad2)
    assert "no c/6 line" in ax2.get_title() and not ax2.get_lines()


def test_agreement_of_an_aggregate_result(tiny):
    agg = quiet(tc.aggregate, tiny.staff, {"eng": ENG, "cl": ["cl1", "cl2", "cl3", "cl4"]}, by="team", scale=(1, 5))
    ax = tc.plot_agreement(agg, variable="cl", statistic="awg", cutoff=0.6)
    values = agg.table["cl_awg"]
    assert sum(b.get_height() for b in ax.containers[0]) == values.notna().sum()
    assert ax.get_title().startswith("cl: awg of")
    assert ax.get_lines()[0].get_xdata()[0] == 0.6


# --------------------------------------------------------------------------- variance partition
def test_variance_partition_of_an_icc_result(tiny):
    res = tc.icc(tiny.staff["latent_engagement"], tiny.staff[["trust", "team"]])
    ax = tc.plot_variance_partition(res)
    widths = [p.get_width() for p in ax.patches]
    shares = res.variance_components / res.variance_components.sum()
    assert_allclose(widths, shares.to_numpy(), rtol=1e-12)
    assert_allclose(sum(widths), 1.0, rtol=1e-12)
    assert_allclose(shares[["trust", "team"]].to_numpy(), res.vpc.to_numpy(), rtol=1e-12)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        [f"{k} {v:.1%}" for k, v in shares.items()]
    assert ax.get_title() == f"Variance partition by level (ICC(1), same team: {res.icc1:.1%})"
    _within_figure(ax.figure)


def test_variance_partition_compares_models(tiny, fit3):
    empty = quiet(tc.mixed, "latent_engagement ~ 1 + (1 | trust/team)", tiny.staff)
    ax = tc.plot_variance_partition({"empty": empty, "+ tenure": fit3})
    assert len(ax.patches) == 6
    expected = np.concatenate([empty.icc()["vpc"].to_numpy(), fit3.icc()["vpc"].to_numpy()])
    assert_allclose([p.get_width() for p in ax.patches], expected, rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["+ tenure", "empty"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trust", "trust:team", "residual"]
    _within_figure(ax.figure)


def test_variance_partition_draws_a_negative_anova_component_as_zero():
    # team effects that cancel within every trust: trusts differ less than chance allows
    rng = np.random.default_rng(5)
    trust = np.repeat(["a", "b", "c", "d"], 60)
    team = np.array([f"{t}{i // 10}" for i, t in enumerate(trust)])
    effect = np.tile(np.repeat([1.0, -1.0, 0.5, -0.5, 0.2, -0.2], 10), 4)
    y = pd.Series(effect + rng.normal(scale=0.5, size=240))
    res = quiet(tc.icc, y, pd.DataFrame({"trust": trust, "team": team}))
    assert res.variance_components["trust"] < 0  # the premise of the test
    ax = tc.plot_variance_partition(res)
    assert ax.patches[0].get_width() == 0.0
    share = res.variance_components["trust"] / res.variance_components.sum()
    assert ax.get_legend().get_texts()[0].get_text() == f"trust {share:.1%} (negative estimate, drawn as 0)"


# --------------------------------------------------------------------------- diagnostics
REFERENCE = pd.read_csv(REFERENCE_DIR / "lme4_residuals.csv", comment="#")
MODELS = list(REFERENCE.groupby(["model", "dataset", "formula"], sort=False).groups)


@pytest.mark.parametrize(("model", "dataset", "formula"), MODELS, ids=[m[0] for m in MODELS])
def test_diagnostics_show_lme4s_residuals_and_fitted_values(model, dataset, formula):
    ref = REFERENCE[REFERENCE["model"] == model]
    data = pd.read_csv(REFERENCE_DIR / "mixed_data" / f"{dataset}.csv", dtype={"trust": str, "team": str})
    fit = quiet(tc.mixed, formula, data)
    fitted, resid = _conditional_fitted(fit)
    # iterative fits (ours and lme4's, both tightly converged): 1e-6 absolute on residuals of size ~1
    assert_allclose(fitted, ref["fitted"].to_numpy(), rtol=0, atol=1e-6)
    assert_allclose(resid, ref["residual"].to_numpy(), rtol=0, atol=1e-6)
    fig = tc.plot_diagnostics(fit)
    terms = sum(len([c for c in t.columns if not c.startswith("cond_var")]) if "blup" not in t else 1
                for t in fit.random_effects.values())
    assert len(fig.axes) == 2 + terms
    _no_empty_axes(fig)
    # the first panel shows lme4's (fitted, residual) pairs, the second their normal Q-Q plot
    points = fig.axes[0].collections[0].get_offsets()
    assert_allclose(points[:, 0], ref["fitted"].to_numpy(), atol=1e-6)
    assert_allclose(points[:, 1], ref["residual"].to_numpy(), atol=1e-6)
    qq = fig.axes[1].collections[0].get_offsets()
    n = len(ref)
    assert_allclose(qq[:, 0], stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n), rtol=1e-12)
    assert_allclose(qq[:, 1], np.sort(ref["residual"].to_numpy()), atol=1e-6)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["Residuals vs fitted", "Normal Q-Q: residuals"]
    for ax, (factor, table) in zip(fig.axes[2:], fit.random_effects.items()):
        assert ax.get_title().startswith(f"Normal Q-Q: {factor}")
        assert len(ax.collections[0].get_offsets()) == len(table)
    _within_figure(fig)


def test_diagnostics_of_many_rows_shade_density_and_thin_the_qq_plot():
    rng = np.random.default_rng(1)
    n, g = 30_000, 600
    team = rng.integers(0, g, n)
    y = rng.normal(size=g)[team] * 0.5 + rng.normal(size=n)
    fit = tc.mixed("y ~ 1 + (1 | team)", pd.DataFrame({"y": y, "team": team}))
    fig = tc.plot_diagnostics(fit)
    from matplotlib.collections import PolyCollection

    assert isinstance(fig.axes[0].collections[0], PolyCollection)  # hexbin
    assert fig.axes[0].collections[0].get_array().sum() == n  # every residual in a hexagon
    qq = fig.axes[1].collections[0].get_offsets()
    assert 19_000 <= len(qq) <= 20_000
    _, resid = _conditional_fitted(fit)
    assert qq[0, 1] == resid.min() and qq[-1, 1] == resid.max()
    assert len(fig.axes) == 3
    _no_empty_axes(fig)


# --------------------------------------------------------------------------- matplotlib optional
def test_import_does_not_load_matplotlib():
    code = ("import sys, teamculture, teamculture.plotting; "
            "print('matplotlib' in sys.modules, teamculture.plot_agreement.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "teamculture.plotting"]


@pytest.mark.parametrize("name", ["plot_random_effects", "plot_agreement", "plot_variance_partition",
                                  "plot_diagnostics"])
def test_without_matplotlib_a_clear_import_error_names_the_plot_extra(name, monkeypatch, fit3):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=rf"{name}\(\) draws with matplotlib, which is not installed; "
                                          r"install the `plot` extra: pip install 'teamculture\[plot\]'"):
        getattr(tc, name)(fit3)


def test_no_warning_is_emitted_while_drawing(fit3, complete):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.plot_random_effects(fit3, factor="trust")
        tc.plot_variance_partition(fit3)
        tc.plot_diagnostics(fit3)
        tc.plot_agreement(tc.awg(complete[ENG], complete["team"], scale=(1, 5)))
