"""Misuse suite of the pictures (teamculture.plotting): wrong result types, missing columns, bad options.

Each case is a careless or hostile call with its asserted outcome (framework: ``tests/_misuse.py``).
The data: the tiny simulated survey (300 staff in 24 teams in 4 trusts, seed 1) and the committed
``tests/reference/mixed_data/slope3.csv``.
"""

from __future__ import annotations

import dataclasses
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import teamculture as tc  # noqa: E402
from _misuse import Case, case_id, run_case  # noqa: E402
from _reference import REFERENCE_DIR  # noqa: E402


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


STAFF = tc.national_survey("tiny", rng=1).staff
ENG = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]
COMPLETE = STAFF.dropna(subset=ENG)
FIT3 = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", STAFF)
FIT2 = tc.mixed("latent_engagement ~ tenure + (1 | team)", STAFF)
SLOPES = quiet(tc.mixed, "latent_engagement ~ tenure + (1 | trust) + (1 + tenure | team)", STAFF)
SLOPE3 = pd.read_csv(REFERENCE_DIR / "mixed_data" / "slope3.csv", dtype={"trust": str, "team": str})
NO_FIXED_SLOPE = quiet(tc.mixed, "y ~ 1 + (0 + x | team)", SLOPE3)
ICC3 = tc.icc(STAFF["latent_engagement"], STAFF[["trust", "team"]])
RWG_J = tc.rwg_j(COMPLETE[ENG], COMPLETE["team"], scale=(1, 5))
AD = tc.ad_index(COMPLETE[ENG], COMPLETE["team"], scale=(1, 5))
AGG = quiet(tc.aggregate, STAFF, {"eng": ENG, "cl": ["cl1", "cl2", "cl3", "cl4"]}, by="team", scale=(1, 5))
RWG_NULL = tc.rwg_sim(12, (1, 5), n_resamples=200, rng=1)
AD_NULL = tc.ad_sim(12, 9, (1, 5), n_resamples=200, rng=1)


def n_points(expected):
    def check(ax):
        assert len(ax.collections[1].get_offsets()) == expected
    return check


def histogram_total(expected):
    def check(ax):
        assert sum(b.get_height() for b in ax.containers[0]) == expected
    return check


def legend_has(text):
    def check(ax):
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(text in t for t in texts), texts
    return check


def _negative_trust_icc():
    rng = np.random.default_rng(5)
    trust = np.repeat(["a", "b", "c", "d"], 60)
    team = np.array([f"{t}{i // 10}" for i, t in enumerate(trust)])
    effect = np.tile(np.repeat([1.0, -1.0, 0.5, -0.5, 0.2, -0.2], 10), 4)
    return quiet(tc.icc, pd.Series(effect + rng.normal(scale=0.5, size=240)),
                 pd.DataFrame({"trust": trust, "team": team}))


NEGATIVE = _negative_trust_icc()
BROKEN_LABELS = dataclasses.replace(FIT2, group_labels=FIT2.group_labels.assign(
    team=FIT2.group_labels["team"].astype(str).str.replace("TR001", "XX")))


def _axes_pair():
    return plt.subplots(1, 2)[1]


def _yes(d):
    return d.assign(y=(d["out_stress"] == 1).astype(float)).dropna(subset=["y", "tenure"])


GLMM3 = quiet(tc.glmm, "y ~ tenure + (1 | trust/team)", _yes(STAFF))  # singular on these data
GLMM_SLOPES = quiet(tc.glmm, "y ~ tenure + (1 + tenure | team)", _yes(STAFF))


CASES = [
    # ---- plot_random_effects --------------------------------------------------------------------------
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(ICC3), "input", "icc-result-not-a-model",
         raises=(TypeError, r"`result` must be a MixedResult .*plot_variance_partition.*got ICCResult")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT3.random_effects["trust"]), "input",
         "random-effects-table-not-the-result", raises=(TypeError, r"`result` must be a MixedResult.*DataFrame")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT3), "input", "two-factors-none-chosen",
         raises=(ValueError, r"`factor`: the model has 2 grouping factors \['trust', 'trust:team'\]")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT3, factor="ward"), "input", "unknown-factor",
         raises=(ValueError, r"`factor` must be one of the model's grouping factors")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT3, factor="team"), "input",
         "inner-name-of-a-nested-factor", check=n_points(24)),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT2, term="tenure"), "input",
         "slope-of-an-intercept-model", raises=(ValueError, r"`term` must be one of .*\['Intercept'\]")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(SLOPES, factor="team"), "input",
         "two-terms-none-chosen", raises=(ValueError, r"`term`: 'team' has random effects for \['Intercept', "
                                                      r"'tenure'\]")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(SLOPES, factor="team", term="(Intercept)"),
         "i", "r-intercept-name", check=n_points(24)),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT2, confidence_level=95), "input",
         "percent-confidence-level", raises=(ValueError, r"`confidence_level` must lie in \(0, 1\) \(a proportion")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT2, sort="yes"), "input", "sort-not-bool",
         raises=(TypeError, r"`sort` must be True or False")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(FIT2, ax=_axes_pair()), "input",
         "array-of-axes", raises=(TypeError, r"`ax` must be a matplotlib Axes or None \(one Axes, e.g. axes\[0\]")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(GLMM3), "input", "glmm-two-factors-none-chosen",
         raises=(ValueError, r"`factor`: the model has 2 grouping factors \['trust', 'trust:team'\]")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(GLMM3, factor="team"), "i", "glmm-nested-short-name",
         check=n_points(24)),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(GLMM_SLOPES), "input", "glmm-two-terms-none-chosen",
         raises=(ValueError, r"`term`: 'team' has random effects for \['Intercept', 'tenure'\]")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(GLMM_SLOPES, term="(Intercept)"), "i",
         "glmm-r-intercept-name", check=n_points(24)),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(GLMM_SLOPES, term="age"), "input",
         "glmm-unknown-term", raises=(ValueError, r"`term` must be one of the random-effect terms of 'team'")),
    Case(tc.plot_random_effects, lambda: tc.plot_random_effects(GLMM3.compare(
        quiet(tc.glmm, "y ~ 1 + (1 | trust/team)", _yes(STAFF)))), "input",
         "glmm-comparison-not-a-model", raises=(TypeError, r"`result` must be a MixedResult .* or a GLMMResult .*"
                                                           r"got GLMMCompareResult")),
    # ---- plot_agreement -------------------------------------------------------------------------------
    Case(tc.plot_agreement, lambda: tc.plot_agreement(FIT3), "input", "model-not-agreement",
         raises=(TypeError, r"`result` must be the table returned by rwg.*got MixedResult")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J[["n", "n_missing"]]), "input",
         "table-without-agreement-column", raises=(ValueError, r"`result` must be the table .*no agreement column")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(AD, statistic="rwg_j"), "input", "statistic-not-in-table",
         raises=(ValueError, r"`statistic` must be an agreement column of `result`, one of \['ad'\]")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J, critical_value=AD_NULL), "input",
         "null-of-another-index", raises=(ValueError, r"`critical_value` is a simulated null of 'ad'.*'rwg_j'")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J, critical_value=RWG_NULL), "input",
         "single-item-null-for-rwg-j", raises=(ValueError, r"`critical_value` is a simulated null of 'rwg'")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(AD, critical_value=AD_NULL), "k", "ad-null-5th-percentile",
         check=legend_has("null 5th percentile (groups of 12, 9 items)")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J, critical_value="0.7"), "input", "critical-as-text",
         raises=(TypeError, r"`critical_value` must be a real number")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J, cutoff=float("nan")), "input", "nan-cutoff",
         raises=(ValueError, r"`cutoff` must be a finite number")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J.assign(rwg_j=np.nan)), "f", "all-groups-undefined",
         raises=(ValueError, r"`result`: no group has a defined rwg\(j\) \(24 groups, all NaN\)")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(COMPLETE.groupby("team")["mot1"].mean().rename("rwg")), "e",
         "team-means-named-rwg", raises=(ValueError, r"`result`: rwg lies in \[-1, 1\]; 24 value\(s\) outside")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J["rwg_j"] >= 0.7), "input", "boolean-flags",
         raises=(TypeError, r"`result`: the rwg\(j\) values must be numeric; got dtype bool")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J["rwg_j"].rename("agreement")), "input",
         "unnamed-series", raises=(ValueError, r"`statistic` must name the agreement index of the Series")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J["rwg_j"].rename("x"), statistic="rwg_j"), "input",
         "series-with-statistic", check=histogram_total(24)),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(RWG_J, variable="eng"), "input", "variable-on-a-table",
         raises=(ValueError, r"`variable` applies to an AggregateResult only")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(AGG), "input", "aggregate-two-variables-none-chosen",
         raises=(ValueError, r"`variable`: the AggregateResult holds 2 variables \['eng', 'cl'\]")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(AGG, variable="Eng"), "input", "variable-case",
         raises=(ValueError, r"`variable` must be one of .* Did you mean 'eng'\?")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(AGG, variable="eng", statistic="rwg_j"), "input",
         "aggregate-statistic-name", raises=(ValueError, r"`statistic` must be one of \['rwg', 'rwg_lindell', "
                                                         r"'awg', 'ad'\] for an AggregateResult")),
    Case(tc.plot_agreement, lambda: tc.plot_agreement(AGG, variable="eng"), "missing", "aggregate-undefined-counted",
         check=histogram_total(int(AGG.table["eng_rwg"].notna().sum()))),
    # ---- plot_variance_partition ----------------------------------------------------------------------
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition(AGG), "input", "aggregate-result",
         raises=(TypeError, r"`result` must be an ICCResult .*got AggregateResult")),
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition(SLOPES), "b", "random-slopes-refused",
         raises=(ValueError, r"`result`: the variance partition needs a random-intercept model")),
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition({}), "input", "empty-mapping",
         raises=(ValueError, r"`result` is an empty mapping")),
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition({1: FIT3}), "input", "mapping-key-not-str",
         raises=(TypeError, r"`result`: the keys of a mapping are the bar labels \(str\); got 1")),
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition({"a": FIT3, "b": ICC3.vpc}), "input",
         "mapping-with-a-series", raises=(TypeError, r"`result\['b'\]` must be an ICCResult.*got Series")),
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition(NEGATIVE), "g", "negative-anova-component",
         check=legend_has("(negative estimate, drawn as 0)")),
    Case(tc.plot_variance_partition, lambda: tc.plot_variance_partition(FIT3, ax="axes"), "input", "ax-as-text",
         raises=(TypeError, r"`ax` must be a matplotlib Axes or None; got str")),
    # ---- plot_diagnostics -----------------------------------------------------------------------------
    Case(tc.plot_diagnostics, lambda: tc.plot_diagnostics(ICC3), "input", "icc-result",
         raises=(TypeError, r"`result` must be a MixedResult .*got ICCResult")),
    Case(tc.plot_diagnostics, lambda: tc.plot_diagnostics(STAFF), "input", "data-not-a-model",
         raises=(TypeError, r"`result` must be a MixedResult .*got DataFrame")),
    Case(tc.plot_diagnostics, lambda: tc.plot_diagnostics(NO_FIXED_SLOPE), "b", "random-slope-without-fixed-slope",
         raises=(ValueError, r"`result`: the random slope 'x' of 'team' is not a column of the fixed-effects design")),
    Case(tc.plot_diagnostics, lambda: tc.plot_diagnostics(BROKEN_LABELS), "a", "labels-without-random-effects",
         raises=(ValueError, r"`result`: 5 group label\(s\) of 'team' in group_labels have no random effect")),
    Case(tc.plot_diagnostics, lambda: tc.plot_diagnostics(SLOPES), "input", "slopes-get-a-panel-per-term",
         check=lambda fig: [ax.get_title() for ax in fig.axes][2:] == [
             "Normal Q-Q: trust (Intercept)", "Normal Q-Q: team (Intercept)", "Normal Q-Q: team tenure"]
         or pytest.fail(str([ax.get_title() for ax in fig.axes]))),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)
