"""Misuse suite of the multilevel area (framework: tests/_misuse.py).

Careless or hostile calls of every public function of ``teamculture.multilevel``, each with its
asserted outcome: a clear error naming the parameter, or the right number (with a counted warning
where something was dropped or sits on a boundary). Oracles are closed forms, refits of the same
model written another way, or R numbers quoted in the case.
"""

from __future__ import annotations

import re
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import teamculture as tc
from _misuse import Case, case_id, run_case
from teamculture.errors import (
    BoundaryWarning,
    ConvergenceWarning,
    DegenerateDataWarning,
    DroppedDataWarning,
    NestingWarning,
    NotNestedError,
)
from teamculture.multilevel import (
    center,
    compare,
    local_f_squared,
    mixed,
    nested_suffstats,
    parse_formula,
    r_squared,
    standardized_coefficients,
)


@lru_cache(maxsize=None)
def _data() -> pd.DataFrame:
    """6 trusts x 5 teams x 10 staff, known variances, an integer predictor, a trust budget in pounds."""
    rng = np.random.default_rng(2024)
    trust = np.repeat([f"T{i}" for i in range(6)], 50)
    team = np.repeat([f"T{i}-{j}" for i in range(6) for j in range(5)], 10)
    u_trust = np.repeat(rng.normal(0, 0.4, 6), 50)
    u_team = np.repeat(rng.normal(0, 0.6, 30), 10)
    x = rng.integers(0, 5, 300)
    budget = np.repeat(5e8 + 1e8 * rng.normal(size=6), 50)
    y = 1.0 + 0.3 * x + 2e-9 * budget + u_trust + u_team + rng.normal(0, 1.0, 300)
    size = pd.Series(team).map(pd.Series(team).value_counts()).to_numpy(dtype=float)
    return pd.DataFrame({"trust": trust, "team": team, "x": x, "budget": budget, "y": y,
                         "team_mean_size": size + np.repeat(rng.normal(0, 3, 30), 10)})


def data() -> pd.DataFrame:
    return _data().copy()


def _fit(formula: str = "y ~ x + (1 | trust/team)", frame: pd.DataFrame | None = None, **kw):
    return mixed(formula, data() if frame is None else frame, **kw)


def _same_fit(a, b, rtol=1e-8) -> None:
    assert_allclose(a.deviance, b.deviance, rtol=rtol)
    assert_allclose(a.variance_components.to_numpy(), b.variance_components.to_numpy(), rtol=1e-5)


# --------------------------------------------------------------------------- mixed
def _with_occ() -> pd.DataFrame:
    """The data with an occupation crossed with the teams (each team has staff of all four) and its effect."""
    effect = np.array([0.9, -0.6, 0.3, -0.9])[np.arange(300) % 4]
    return data().assign(occ=[f"O{i % 4}" for i in range(300)], y=lambda d: d["y"] + effect)


def _crossed_as_lme4(fit) -> None:
    # lme4's reading: one random intercept per distinct label, pooled across trusts
    assert fit.engine == "crossed" and "not nested" in fit.nesting
    assert fit.n_groups["team_local"] == 5 and len(fit.random_effects["team_local"]) == 5
    nested = mixed("y ~ x + (1 | trust/team)", data())
    assert nested.deviance < fit.deviance  # the nested model (the truth here) fits better


def _crossed_dropped(fit) -> None:
    import warnings

    assert fit.n_dropped == 1 and fit.n_obs == 299 and fit.engine == "crossed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NestingWarning)
        ref = mixed("y ~ x + (1 | team) + (1 | occ)", _with_occ().drop(index=7))
    _same_fit(fit, ref, rtol=1e-12)


def _crossed_budget(fit) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NestingWarning)
        ref = mixed("y ~ x + b + (1 | team) + (1 | occ)", _with_occ().assign(b=lambda d: d["budget"] / 1e8))
    _same_model_rescaled(fit, ref, 1e8)
    assert fit.engine == "crossed" and fit.converged


def _double_bar_nested(fit) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)  # no slope variance in these data
        ref = mixed("y ~ x + (1 | trust) + (0 + x | trust) + (1 | trust:team) + (0 + x | trust:team)", data())
    _same_fit(fit, ref, rtol=1e-10)
    assert fit.singular and (fit.variance_components[["trust|x", "trust:team|x"]] == 0.0).any()
    assert fit.engine == "nested-slopes"
    assert list(fit.variance_components.index) == ["trust", "trust|x", "trust:team", "trust:team|x", "residual"]


def _i_square(fit) -> None:
    d = data()
    ref = mixed("y ~ x + x2 + (1 | trust/team)", d.assign(x2=d["x"].astype(float) ** 2))
    assert "I(x ** 2)" in fit.fixed_effects.index
    _same_fit(fit, ref)
    assert_allclose(fit.fixed_effects["I(x ** 2)"], ref.fixed_effects["x2"], rtol=1e-6)


def _uncorrelated(fit) -> None:
    # (1 + x || team) is lme4's (1 | team) + (0 + x | team)
    ref = mixed("y ~ x + (1 | team) + (0 + x | team)", data())
    _same_fit(fit, ref, rtol=1e-9)
    assert "team|x" in fit.variance_components.index
    assert not any("," in k for k in fit.variance_components.index)  # no covariance


def _same_model_rescaled(fit, ref, factor: float) -> None:
    """A column multiplied by ``factor``: the same model; the REML criterion moves by 2 log|factor|
    (its log|X'V^-1X| term), as lme4's does; the variances are unchanged."""
    assert_allclose(fit.deviance - ref.deviance, 2.0 * np.log(abs(factor)), rtol=1e-7)
    assert_allclose(fit.variance_components.to_numpy(), ref.variance_components.to_numpy(), rtol=1e-5)


def _budget_scale_free(fit) -> None:
    d = data()
    ref = mixed("y ~ x + b + (1 | trust/team)", d.assign(b=d["budget"] / 1e8))
    _same_model_rescaled(fit, ref, 1e8)
    assert_allclose(fit.fixed_effects["budget"] * 1e8, ref.fixed_effects["b"], rtol=1e-6)
    assert_allclose(fit.coefficients.loc["budget", "df"], ref.coefficients.loc["b", "df"], rtol=1e-6)
    assert_allclose(fit.coefficients.loc["budget", "pvalue"], ref.coefficients.loc["b", "pvalue"], rtol=1e-6)


def _tiny_scale(fit) -> None:
    d = data()
    ref = mixed("y ~ x + (1 | trust/team)", d)
    _same_model_rescaled(fit, ref, 1e-8)
    assert_allclose(fit.fixed_effects["xs"] * 1e-8, ref.fixed_effects["x"], rtol=1e-6)
    assert_allclose(fit.coefficients.loc["xs", "df"], ref.coefficients.loc["x", "df"], rtol=1e-6)


def _non_ascii(fit) -> None:
    _same_fit(fit, mixed("y ~ x + (1 | trust/team)", data()), rtol=1e-12)
    assert list(fit.variance_components.index) == ["ärzte", "ärzte:équipe", "residual"]


def _omit_counts(fit) -> None:
    assert fit.n_dropped == 3 and fit.n_obs == 297
    d = data().drop(index=[0, 1, 2])
    _same_fit(fit, mixed("y ~ x + (1 | trust/team)", d), rtol=1e-12)


def _near_zero_residual(fit) -> None:
    # a team-level size with tiny staff-level noise: the old engine stalled at tau2 = 0.42 style values
    # (converged=False, silent); lme4 1.1-31 warns and stops at 149.92. The REML answer is the
    # variance of the team means (their sampling variance sigma2/n is ~1e-10 of it).
    means = _with_noise(1e-4).groupby("team")["size_noise"].mean()
    assert fit.converged
    assert_allclose(fit.variance_components["team"], np.var(means, ddof=1), rtol=1e-6)


def _with_noise(sd: float) -> pd.DataFrame:
    d = data()
    rng = np.random.default_rng(5)
    return d.assign(size_noise=d["team_mean_size"] + sd * rng.normal(size=len(d)))


def _scaled_with_missing(fit) -> None:
    # the variable inside scale() is a model variable: its missing rows are dropped first, then
    # scale() standardises over the rows used (formulaic does not list it as a variable)
    d = data().iloc[1:]
    ref = mixed("y ~ xs + (1 | trust/team)", d.assign(xs=(d["x"] - d["x"].mean()) / d["x"].std()))
    assert fit.n_dropped == 1
    assert_allclose(fit.fixed_effects["scale(x)"], ref.fixed_effects["xs"], rtol=1e-8)
    _same_fit(fit, ref, rtol=1e-10)


def _log_nan(fit) -> None:
    assert fit.n_dropped == 1 and fit.n_obs == 299


CASES = [
    Case(mixed, lambda: mixed("y ~ x + (1 | trust/team)", data().to_dict()), "input", "data-not-frame",
         raises=(TypeError, r"`data` must be a pandas DataFrame")),
    Case(mixed, lambda: mixed(data(), "y ~ x + (1 | team)"), "input", "arguments-swapped",
         raises=(TypeError, r"`formula` comes first")),
    Case(mixed, lambda: _fit(reml="yes"), "input", "reml-not-bool", raises=(TypeError, r"`reml` must be True")),
    Case(mixed, lambda: _fit(nan_policy="drop"), "input", "nan-policy-choice",
         raises=(ValueError, r"`nan_policy` must be one of \['omit', 'raise'\]")),
    Case(mixed, lambda: _fit("y ~ xx + (1 | trust/team)"), "j", "misspelt-predictor",
         raises=(ValueError, r"`formula` names variable\(s\) \['xx'\].* Did you mean 'x'\?.*'team_mean_size'")),
    Case(mixed, lambda: _fit("y ~ x + (1 | teams)"), "j", "misspelt-group",
         raises=(ValueError, r"`formula` names grouping column\(s\) \['teams'\].* Did you mean 'team'\?")),
    Case(mixed, lambda: _fit(frame=data().assign(y=np.where(data()["x"] > 2, "high", "low"))), "j",
         "string-response", raises=(TypeError, r"`formula`: the response 'y' must be numeric; column 'y' of `data` has dtype")),
    Case(mixed, lambda: _fit(frame=pd.concat([data(), data()[["x"]]], axis=1)), "j", "duplicate-columns",
         raises=(ValueError, r"`data` has duplicate column name\(s\) \['x'\]")),
    Case(mixed, lambda: _fit("y ~ x + (1 | ärzte/équipe)", data().rename(columns={"trust": "ärzte",
                                                                                    "team": "équipe"})),
         "j", "non-ascii-names", check=_non_ascii),
    Case(mixed, lambda: _fit("y ~ x + (1 | trust/team)", data().assign(x=np.r_[np.inf, data()["x"][1:]])),
         "d", "inf-in-predictor", raises=(ValueError, r"`formula`: the fixed effects \(\['x'\]\) are infinite")),
    Case(mixed, lambda: _fit("y ~ x + budget + (1 | trust/team)"), "d", "budget-in-pounds", check=_budget_scale_free),
    Case(mixed, lambda: _fit("y ~ xs + (1 | trust/team)", data().assign(xs=data()["x"] * 1e-8)), "d",
         "predictor-times-1e-8", check=_tiny_scale),
    Case(mixed, lambda: _fit("y ~ C(lvl) + (1 | trust/team)",
                             data().assign(lvl=pd.Categorical(np.where(data()["x"] > 1, "b", "a"),
                                                              categories=["a", "b", "never"]))),
         "d", "empty-categorical-level", raises=(ValueError, r"`data`: categorical column 'lvl' has 1 level\(s\) "
                                                            r"with no rows.*\['never'\]")),
    Case(mixed, lambda: _fit("y ~ x + x2 + (1 | trust/team)", data().assign(x2=2e-8 * data()["x"])), "d",
         "collinear-tiny-column", raises=(ValueError, r"`formula`: the fixed-effects design is rank deficient.*"
                                                      r"\['x2'\]")),
    Case(mixed, lambda: _fit("y ~ I(x^2) + x + (1 | trust/team)"), "i", "I-power-not-xor", check=_i_square),
    Case(mixed, lambda: _fit("y ~ scale(x) + (1 | trust/team)", data().assign(x=np.r_[np.nan, data()["x"][1:]])),
         "i", "scale-variable-missing", warns=(DroppedDataWarning, r"1 of 300 row\(s\).*x: 1"),
         check=_scaled_with_missing),
    Case(mixed, lambda: _fit(frame=data().assign(x=data()["x"] + 1j)), "j", "complex-predictor",
         raises=(TypeError, r"`data`: column\(s\) \['x'\] are complex numbers")),
    Case(mixed, lambda: _fit(frame=data().assign(y=data()["y"] * 1e150)), "d", "absurd-magnitude",
         raises=(ValueError, r"`data`: 'y' has values of magnitude .*e\+150.* Rescale it")),
    Case(mixed, lambda: _fit("y ~ x + (1 + x || team)"), "i", "double-bar-uncorrelated", check=_uncorrelated),
    Case(mixed, lambda: _fit("y ~ . + (1 | team)"), "i", "dot-refused",
         raises=(ValueError, r"`formula`: '\.' \(every other column\) is not supported")),
    Case(mixed, lambda: _fit("y ~ x + offset(budget) + (1 | team)"), "i", "offset-refused",
         raises=(ValueError, r"`formula`: offset\(\) terms are not supported")),
    Case(mixed, lambda: _fit("log(y) ~ x + (1 | trust/team)",
                             data().assign(y=np.r_[-1.0, np.abs(data()["y"][1:]) + 1.0])),
         "i", "log-of-negative-response", warns=(DroppedDataWarning, r"1 of 300 row\(s\).*transformation"),
         check=_log_nan),
    Case(mixed, lambda: _fit("y ~ x + (1 | trust/team)", data().assign(y=np.r_[np.nan, np.nan, np.nan,
                                                                                data()["y"][3:]])),
         "missing", "omit-counted", warns=(DroppedDataWarning, r"3 of 300 row\(s\) with a missing value in `data`"),
         check=_omit_counts),
    Case(mixed, lambda: _fit(frame=data().assign(y=np.r_[np.nan, data()["y"][1:]]), nan_policy="raise"),
         "missing", "raise", raises=(ValueError, r"`data` has 1 row\(s\) with a missing value \(rows \[0\]\)")),
    Case(mixed, lambda: _fit("y ~ x + (1 | one)", data().assign(one="all")), "b", "one-level-factor",
         raises=(ValueError, r"`formula`: grouping factor 'one' has 1 level \['all'\].*> 1 sampled level")),
    Case(mixed, lambda: _fit("y ~ x + (1 | team) + (1 | team2)", data().assign(team2=data()["team"] + "x")),
         "b", "same-factor-twice", raises=(ValueError, r"`formula`: the grouping factors 'team' and 'team2' "
                                                        r"group the rows identically")),
    Case(mixed, lambda: _fit("y ~ x + C(trust) + (1 | trust)"), "b", "factor-confounded-with-fixed",
         raises=(ValueError, r"`formula`: the random intercept of 'trust' is confounded with the fixed effects")),
    Case(mixed, lambda: _fit("y ~ x + (1 + k | team)", data().assign(k=2.0)), "b", "slope-on-constant",
         raises=(ValueError, r"`formula`: the random-effects columns of \(1 \+ k \| team\) are linearly "
                             r"dependent \(\['k'\]")),
    Case(mixed, lambda: _fit("y ~ x + (1 | id)", data().assign(id=np.arange(300))), "b", "one-row-per-group",
         raises=(ValueError, r"`formula`: grouping factor 'id' has one observation per group")),
    Case(mixed, lambda: _fit("y ~ x + (1 | team)", data().iloc[:2]), "b", "too-few-rows",
         raises=(ValueError, r"`(data|formula)`")),
    Case(mixed, lambda: _fit("team_mean_size ~ 1 + (1 | team)"), "c", "team-level-response",
         raises=(ValueError, r"`formula`: the response 'team_mean_size' does not vary within 'team' groups.*"
                             r"residual variance is zero")),
    Case(mixed, lambda: _fit("size_noise ~ 1 + (1 | team)", _with_noise(1e-4)), "c", "near-zero-residual-converges",
         check=_near_zero_residual),
    Case(mixed, lambda: _fit("y ~ x + (1 | trust) + (1 | team_local)",
                             data().assign(team_local=data()["team"].str[-1])), "k", "reused-labels-crossed-as-lme4",
         warns=(NestingWarning, r"'team_local' labels occur in more than one 'trust'.*as lme4 fits them.*"
                                r"\(1 \| trust/team_local\)"), check=_crossed_as_lme4),
    # crossed factors and uncorrelated slopes: the same identifiability rules as every other structure
    Case(mixed, lambda: _fit("y ~ x + (1 | team) + (1 | one)", _with_occ().assign(one="all")), "b",
         "crossed-one-level-factor",
         raises=(ValueError, r"`formula`: grouping factor 'one' has 1 level \['all'\].*> 1 sampled level")),
    Case(mixed, lambda: _fit("y ~ x + (1 | occ) + (1 | id)", _with_occ().assign(id=np.arange(300))), "b",
         "crossed-one-row-per-group", raises=(ValueError, r"`formula`: grouping factor 'id' has one observation "
                                                          r"per group")),
    Case(mixed, lambda: _fit("y ~ x + (1 + k || team)", data().assign(k=2.0)), "b", "uncorrelated-slope-on-constant",
         raises=(ValueError, r"`formula`: the random-effects columns of \(1 \| team\) \+ \(0 \+ k \| team\) are "
                             r"linearly dependent \(\['k'\]")),
    Case(mixed, lambda: _fit("team_mean_size ~ 1 + (1 | team) + (1 | occ)", _with_occ()), "c",
         "crossed-team-level-response",
         raises=(ValueError, r"`formula`: the response 'team_mean_size' does not vary within 'team' groups")),
    Case(mixed, lambda: _fit("y ~ x + (1 | team) + (1 | occ)", _with_occ().assign(
        occ=lambda d: d["occ"].where(d.index != 7))), "missing", "crossed-missing-label-counted",
         warns=(DroppedDataWarning, r"1 of 300 row"), check=_crossed_dropped),
    Case(mixed, lambda: _fit("y ~ x + budget + (1 | team) + (1 | occ)", _with_occ()), "d",
         "crossed-budget-scale-free", warns=(NestingWarning, r"'occ' labels occur in more than one 'team'"),
         check=_crossed_budget),
    # lme4 expands (1 + f || g) with a factor f into (1 | g) + (0 + f | g), whose factor columns stay correlated:
    # not the uncorrelated model the spelling suggests, so refused with the way to write it
    Case(mixed, lambda: _fit("y ~ x + (1 + f || team)", data().assign(f=np.array(["a", "b", "c"])[np.arange(300) % 3])),
         "i", "double-bar-factor-refused",
         raises=(ValueError, r"`formula`: the random slope 'f' of 'team' gives 3 columns .*only numeric slopes")),
    Case(mixed, lambda: _fit("y ~ x + (1 + x || trust/team)"), "i", "double-bar-nested",
         warns=(BoundaryWarning, r"singular fit: the relative Cholesky diagonal of '[a-z:]+\|x'"),
         check=_double_bar_nested),
]


# --------------------------------------------------------------------------- center
def _center_missing_label(out) -> None:
    assert np.isnan(out.iloc[0])
    d = data()
    ref = d["x"] - d.iloc[1:].groupby("team")["x"].transform("mean")
    assert_allclose(out.iloc[1:].to_numpy(), ref.iloc[1:].to_numpy(), rtol=1e-12)


def _all_nan(out) -> None:
    assert out.isna().all() and out.name == "x_cgm"


def _center_nested_keys(out) -> None:
    d = data()
    ref = d["x"] - d.groupby(["trust", "team"])["x"].transform("mean")
    assert_allclose(out.to_numpy(), ref.to_numpy(), rtol=1e-12, atol=1e-12)


CASES += [
    Case(center, lambda: center(data(), "xx"), "j", "misspelt-column",
         raises=(ValueError, r"`columns` names column\(s\) \['xx'\].* Did you mean 'x'\?")),
    Case(center, lambda: center(data(), "team"), "input", "non-numeric-column",
         raises=(TypeError, r"`columns`: column 'team' must be numeric")),
    Case(center, lambda: center(data(), "x", kind="cluster"), "input", "by-missing",
         raises=(ValueError, r"`by` is required for kind='cluster'")),
    Case(center, lambda: center(data(), "x", by="team", kind="within"), "input", "kind-choice",
         raises=(ValueError, r"`kind` must be one of \['grand', 'cluster', 'between'\]")),
    Case(center, lambda: center(data().assign(x=np.r_[np.inf, np.ones(299)]), "x"), "d", "inf-refused",
         raises=(ValueError, r"`columns`: column 'x' has 1 infinite value")),
    Case(center, lambda: center(data().assign(team=[None] + list(data()["team"][1:])), "x", by="team",
                                kind="cluster"),
         "missing", "missing-label-counted", warns=(DroppedDataWarning, r"1 of 300 row\(s\) .* in `by`"),
         check=_center_missing_label),
    Case(center, lambda: center(data().assign(team=[None] + list(data()["team"][1:])), "x", by="team",
                                kind="cluster", nan_policy="raise"),
         "missing", "missing-label-raise", raises=(ValueError, r"`by` has 1 row\(s\) with a missing value")),
    Case(center, lambda: center(data().assign(x=np.nan), "x"), "f", "all-missing-column",
         warns=(DegenerateDataWarning, r"column 'x' of `columns` has no observed value"),
         check=_all_nan),
    Case(center, lambda: center(data().assign(team=data()["team"].str[-1]), "x", by=["trust", "team"],
                                kind="cluster"),
         "k", "nested-keys-outer-first", check=_center_nested_keys),
]


# --------------------------------------------------------------------------- r_squared, compare
@lru_cache(maxsize=None)
def _fits() -> dict:
    d = data()
    return {"full": mixed("y ~ x + (1 | trust/team)", d), "reduced": mixed("y ~ x + (1 | trust:team)", d),
            "fewer": mixed("y ~ x + (1 | trust/team)", d.iloc[:290])}


def _r2_scale_free(r2) -> None:
    d = data()
    ref = r_squared(mixed("y ~ x + b + (1 | trust/team)", d.assign(b=d["budget"] / 1e8)))
    assert_allclose([r2.marginal, r2.conditional], [ref.marginal, ref.conditional], rtol=1e-6)


def _compare_unconverged(res) -> None:
    assert_allclose(res.statistic, 2 * (-100.0 + 103.0), rtol=1e-12)
    assert res.df == 1


CASES += [
    Case(r_squared, lambda: r_squared(object()), "input", "not-a-fit",
         raises=(TypeError, r"`result` must be a fitted mixed model")),
    Case(r_squared, lambda: r_squared(SimpleNamespace(design=pd.DataFrame({"a": [1.0, 2.0]}),
                                                      fixed_effects=pd.Series({"b": 1.0}),
                                                      variance_components=pd.Series({"residual": 1.0}),
                                                      group_labels=pd.DataFrame({"g": [0, 1]}))),
         "input", "design-mismatch", raises=(ValueError, r"`result`: the design columns do not match")),
    Case(r_squared, lambda: r_squared(mixed("y ~ x + budget + (1 | trust/team)", data())), "d",
         "budget-in-pounds", check=_r2_scale_free),
    Case(compare, lambda: compare(_fits()["full"], object()), "input", "not-a-fit",
         raises=(TypeError, r"`b` must be a fitted mixed model")),
    Case(compare, lambda: compare(_fits()["full"], _fits()["fewer"]), "input", "different-rows",
         raises=(ValueError, r"`b` was fitted to 290 rows and `a` to 300")),
    Case(compare, lambda: compare(_fits()["full"], _fits()["full"]), "input", "same-size",
         raises=(ValueError, r"`a` and `b` both have 5 parameters")),
    Case(compare, lambda: compare(
        SimpleNamespace(formula="f", reml=True, loglik=-100.0, n_params=5, n_obs=10, converged=False,
                        fixed_effects=pd.Series({"x": 1.0}), variance_components=pd.Series({"a": 1.0, "b": 1.0,
                                                                                           "residual": 1.0})),
        SimpleNamespace(formula="r", reml=True, loglik=-103.0, n_params=4, n_obs=10, converged=True,
                        fixed_effects=pd.Series({"x": 1.0}), variance_components=pd.Series({"b": 1.0,
                                                                                           "residual": 1.0}))),
         "c", "unconverged-model-warns", warns=(ConvergenceWarning, r"`a` did not converge"),
         check=_compare_unconverged),
]


# --------------------------------------------------------------------------- effect sizes
def _std_dropped(out) -> None:
    d = data().iloc[1:]
    fit = _fits()["full"]
    assert_allclose(out.loc["x", "estimate"],
                    fit.fixed_effects["x"] * d["x"].std() / d["y"].std(), rtol=1e-12)
    assert list(out.columns) == [*tc.results.COEF_COLUMNS, "sd_x", "sd_y"]


CASES += [
    Case(standardized_coefficients, lambda: standardized_coefficients(object()), "input", "not-a-fit",
         raises=(TypeError, r"`result` must be a fitted model")),
    Case(standardized_coefficients, lambda: standardized_coefficients(_fits()["full"], data(), outcome="why"),
         "j", "misspelt-outcome", raises=(ValueError, r"`outcome` must name a column of `data`; got 'why'")),
    Case(standardized_coefficients, lambda: standardized_coefficients(_fits()["full"], data(), outcome="team"),
         "j", "text-outcome", raises=(TypeError, r"`outcome` column 'team' must be numeric")),
    Case(standardized_coefficients, lambda: standardized_coefficients(_fits()["full"], data().assign(y=1.0),
                                                                      outcome="y"),
         "f", "constant-outcome", raises=(ValueError, r"`outcome` column 'y' of `data` is constant")),
    Case(standardized_coefficients, lambda: standardized_coefficients(
        _fits()["full"], data().assign(y=np.r_[np.nan, data()["y"][1:]]), outcome="y"),
         "missing", "dropped-counted", warns=(DroppedDataWarning, r"dropped 1 of 300 row\(s\)"), check=_std_dropped),
    Case(local_f_squared, lambda: local_f_squared(_fits()["full"], _fits()["reduced"], variance="level1"),
         "input", "variance-choice", raises=(ValueError, r"`variance` must be one of \['residual', 'total'\]")),
    Case(local_f_squared, lambda: local_f_squared(_fits()["full"], _fits()["fewer"]), "input", "different-rows",
         raises=(ValueError, r"`reduced` was fitted to 290 rows and `full` to 300")),
    Case(local_f_squared, lambda: local_f_squared(SimpleNamespace(variance_components=pd.Series({"team": 1.0})),
                                                  _fits()["full"]),
         "input", "no-residual", raises=(ValueError, r"`full.variance_components` must include 'residual'")),
    Case(local_f_squared, lambda: local_f_squared(
        SimpleNamespace(variance_components=pd.Series({"team|x": 0.1, "residual": 1.0})),
        SimpleNamespace(variance_components=pd.Series({"residual": 1.2})), variance="total"),
         "k", "total-with-slopes", raises=(ValueError, r"`variance`='total' needs random-intercept models")),
]


# --------------------------------------------------------------------------- formula and engine pieces
def _xor_translated(p) -> None:
    assert p.fixed == "I(x**2) + C(g)" and p.response == "np.sqrt(y)"


def _double_bar(p) -> None:
    assert [str(t) for t in p.random] == ["(1 | g)", "(0 + x | g)", "(0 + z | g)"]


CASES += [
    Case(parse_formula, lambda: parse_formula(3), "input", "not-a-string",
         raises=(TypeError, r"`formula` must be a string")),
    Case(parse_formula, lambda: parse_formula("y ~ x"), "input", "no-random-term",
         raises=(ValueError, r"`formula` has no random term")),
    Case(parse_formula, lambda: parse_formula("sqrt(y) ~ I(x^2) + factor(g) + (1 | h)"), "i", "r-isms-translated",
         check=_xor_translated),
    Case(parse_formula, lambda: parse_formula("y ~ (1 + x + z || g)"), "i", "double-bar", check=_double_bar),
    Case(parse_formula, lambda: parse_formula("y ~ x + (1 | log(g))"), "i", "expression-as-group",
         raises=(ValueError, r"`formula`: grouping factor\(s\) \['log\(g\)'\]")),
    Case(nested_suffstats, lambda: nested_suffstats(np.ones((4, 1)), np.arange(4.0), np.array([0, 0, 1, 1])),
         "input", "codes-not-a-list", raises=(TypeError, r"`codes` must be a sequence of code arrays")),
    Case(nested_suffstats, lambda: nested_suffstats(np.ones((4, 1)), np.arange(4.0),
                                                    [np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])]),
         "b", "not-nested", raises=(NotNestedError, r"`codes\[1\]` is not nested in `codes\[0\]`")),
    Case(nested_suffstats, lambda: nested_suffstats(np.ones((3, 1)), np.array(list("abc")), [np.array([0, 0, 1])]),
         "j", "text-response", raises=(TypeError, r"`y` must be a numeric response")),
    Case(nested_suffstats, lambda: nested_suffstats(np.array([[1.0], [np.inf], [1.0]]), np.arange(3.0),
                                                    [np.array([0, 0, 1])]),
         "d", "inf-in-X", raises=(ValueError, r"`X` must be finite; 1 row\(s\) are not: \[1\]")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


# --------------------------------------------------------------------------- properties
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_shuffled_rows_and_relabelled_groups_give_the_same_fit(seed):
    """Row order and the spelling of group labels never change the model."""
    d = data()
    base = mixed("y ~ x + (1 | trust/team)", d)
    rng = np.random.default_rng(seed)
    perm = d.iloc[rng.permutation(len(d))]
    relabel = {t: f"Z{rng.integers(1_000_000)}_{t}" for t in d["trust"].unique()}
    perm = perm.assign(trust=perm["trust"].map(relabel))
    fit = mixed("y ~ x + (1 | trust/team)", perm)
    assert_allclose(fit.deviance, base.deviance, rtol=1e-10)
    assert_allclose(fit.coefficients.to_numpy(), base.coefficients.to_numpy(), rtol=1e-7)
    assert_allclose(fit.variance_components.to_numpy(), base.variance_components.to_numpy(), rtol=1e-7)


def test_non_convergence_is_loud(monkeypatch):
    """A fit whose optimiser stops early says so three times: warning, flag, summary line."""
    from teamculture.multilevel._engine import NestedModel

    original = NestedModel.fit

    def stalled(self, reml=True, start=None):
        return original(self, reml=reml, start=start).__class__(
            **{**original(self, reml=reml, start=start).__dict__, "converged": False})

    monkeypatch.setattr(NestedModel, "fit", stalled)
    with pytest.warns(ConvergenceWarning, match=r"did not converge .*converged=False"):
        fit = mixed("y ~ x + (1 | trust/team)", data())
    assert fit.converged is False
    assert re.search(r"Converged +NO: the estimates may not be the optimum", str(fit.summary()))
    assert any("did not confirm convergence" in n for n in fit.notes)
