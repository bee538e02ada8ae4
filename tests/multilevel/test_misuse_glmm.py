"""Misuse suite for glmm() (framework: tests/_misuse.py)."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from _glmm_helpers import data
from _misuse import Case, case_id, run_case
from teamculture.errors import BoundaryWarning, ConvergenceWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture.errors import NotNestedError
from teamculture.multilevel import glmm

F = "y ~ x + team_type + (1 | trust/team)"
D = data("three_level")
SMALL = D[D["trust"].isin([f"T{i:02d}" for i in range(12)])].reset_index(drop=True)
_BASE: dict[str, object] = {}


def _base():
    if "fit" not in _BASE:
        _BASE["fit"] = glmm("y ~ x + (1 | trust/team)", SMALL)
    return _BASE["fit"]


def _same_fit(f, rtol=1e-10):
    b = _base()
    assert f.loglik == pytest.approx(b.loglik, rel=rtol)
    assert np.allclose(f.coefficients["estimate"].to_numpy(), b.coefficients["estimate"].to_numpy(), rtol=1e-6,
                       atol=1e-8)


def _with(**cols):
    return SMALL.assign(**cols)


def _dup_columns():
    d = SMALL.copy()
    d.columns = ["y", "x", "team_type", "trust", "team", "x"]
    return d


def _shuffled_weights():
    d = SMALL.assign(k=SMALL["y"], n=1.0)
    w = d["n"].sample(frac=1.0, random_state=0)
    return d, w


CASES = [
    # ---------------------------------------------------------------- bad arguments
    Case(glmm, lambda: glmm(F, D, family="gaussian"), "input", "unknown-family",
         raises=(ValueError, r"`family` must be one of")),
    Case(glmm, lambda: glmm(F, D, family="binomal"), "input", "misspelt-family",
         raises=(ValueError, r"Did you mean 'binomial'")),
    Case(glmm, lambda: glmm(F, D, link="log"), "input", "link-of-another-family",
         raises=(ValueError, r"`link` must be one of \['logit', 'probit'\]")),
    Case(glmm, lambda: glmm(F, D, nagq=0), "input", "nagq-zero", raises=(ValueError, r"`nagq` must be an integer")),
    Case(glmm, lambda: glmm(F, D, nagq="7"), "input", "nagq-string", raises=(TypeError, r"`nagq` must be an integer")),
    Case(glmm, lambda: glmm(F, D, nagq=(7,)), "input", "nagq-wrong-length",
         raises=(ValueError, r"`nagq` must give one number of points per grouping level \(2")),
    Case(glmm, lambda: glmm(F, D, nagq=(1, 7)), "input", "nagq-mixes-laplace",
         raises=(ValueError, r"`nagq`.*mixes 1")),
    Case(glmm, lambda: glmm(F, D, nan_policy="drop"), "input", "nan-policy",
         raises=(ValueError, r"`nan_policy` must be one of")),
    Case(glmm, lambda: glmm(F, D.to_numpy()), "input", "data-not-frame", raises=(TypeError, r"`data` must be a pandas")),
    Case(glmm, lambda: glmm(None, D), "input", "formula-not-string", raises=(TypeError, r"`formula` must be a string")),
    Case(glmm, lambda: glmm("y ~ x", D), "input", "no-random-term", raises=(ValueError, r"`formula` has no random term")),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/tema)", D), "input", "unknown-grouping-column",
         raises=(ValueError, r"`formula` names grouping column 'tema'.*Did you mean 'team'")),
    Case(glmm, lambda: glmm("y ~ xx + (1 | trust/team)", D), "input", "unknown-predictor",
         raises=(ValueError, r"`formula` names variable\(s\) \['xx'\]")),
    Case(glmm, lambda: glmm(F, D, weights="n_trials"), "input", "unknown-weights-column",
         raises=(ValueError, r"`weights` names column 'n_trials'")),
    Case(glmm, lambda: glmm(F, D, offset=0.5), "input", "scalar-offset", raises=(TypeError, r"`offset` must be")),
    Case(glmm, lambda: glmm(F, D, offset=np.zeros(5)), "input", "short-offset",
         raises=(ValueError, r"`offset` must have one value per row")),
    # ---------------------------------------------------------------- a: labelled arguments
    Case(glmm, lambda: glmm(F, D, offset=pd.Series(0.0, index=D.index + 1)), "a", "offset-other-labels",
         raises=(ValueError, r"`offset` and `data` carry different row labels")),
    Case(glmm, lambda: glmm("k ~ x + (1 | trust/team)", _shuffled_weights()[0], weights=_shuffled_weights()[1]),
         "a", "weights-aligned-by-label", check=lambda f: _same_fit(f)),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL,
                            offset=pd.Series(0.0, index=SMALL.index).sample(frac=1.0, random_state=1)),
         "a", "offset-aligned-by-label", check=lambda f: _same_fit(f)),
    # ---------------------------------------------------------------- b: unidentifiable parameters
    Case(glmm, lambda: glmm("y ~ x + (1 | person)", D.assign(person=np.arange(len(D)))), "b", "one-row-per-group",
         raises=(ValueError, r"`formula`: grouping factor 'person' has one row per group")),
    Case(glmm, lambda: glmm("y ~ x + (1 | site)", D.assign(site="A")), "b", "one-group",
         raises=(ValueError, r"`formula`: grouping factor 'site' has 1 group")),
    Case(glmm, lambda: glmm("y ~ x + (1 | team_id) + (1 | unit)", D.assign(unit=D["team_id"] + "u")), "b",
         "same-partition-twice", raises=(ValueError, r"`formula`: grouping factors .* define the same groups")),
    Case(glmm, lambda: glmm("y ~ x + z + (1 | trust/team)", D.assign(z=2 * D["x"] + 1)), "b", "collinear-predictor",
         raises=(ValueError, r"`formula`: the fixed-effects design is rank deficient")),
    # ---------------------------------------------------------------- c: non-convergence never silent
    Case(glmm, lambda: glmm("y ~ x + (1 | team)", data("agq_single"), nagq=5), "c", "too-few-quadrature-points",
         warns=(ConvergenceWarning, r"quadrature has not converged.*increase nagq"),
         check=lambda f: abs(f.quadrature_check) > 1e-6 and any("quadrature" in n for n in f.notes)),
    # ---------------------------------------------------------------- d: scale-free numerics
    Case(glmm, lambda: glmm("y ~ xs + (1 | trust/team)", _with(xs=SMALL["x"] * 1e8)), "d", "covariate-times-1e8",
         check=lambda f: (_same_fit_value(f), _scaled(f, 1e8))),
    Case(glmm, lambda: glmm("y ~ xs + (1 | trust/team)", _with(xs=SMALL["x"] * 1e-8)), "d", "covariate-times-1e-8",
         check=lambda f: (_same_fit_value(f), _scaled(f, 1e-8))),
    Case(glmm, lambda: glmm("y ~ xs + (1 | trust/team)", _with(xs=SMALL["x"].where(SMALL.index != 3, np.inf))), "d",
         "infinite-covariate", raises=(ValueError, r"`data`: the fixed-effect column\(s\) \['xs'\] have infinite")),
    Case(glmm, lambda: glmm("y ~ x + tt + (1 | trust/team)",
                            _with(tt=pd.Categorical(SMALL["team_type"], categories=["none", "pseudo", "real", "other"]))),
         "d", "empty-category", warns=(DegenerateDataWarning, r"tt\[T.other\].*zero in every row"),
         check=lambda f: "tt[T.other]" not in f.coefficients.index and f.converged),
    # ---------------------------------------------------------------- e: values outside the outcome's range
    Case(glmm, lambda: glmm(F, D.assign(y=D["y"] * 2)), "e", "binary-outcome-coded-0-2",
         raises=(ValueError, r"`formula`: the binomial response 'y' must be 0 or 1; .* \[2\.0\]")),
    Case(glmm, lambda: glmm(F, D.assign(y=D["y"] * 0.5)), "e", "proportion-without-trials",
         raises=(ValueError, r"give the numbers of trials as `weights`")),
    Case(glmm, lambda: glmm("cbind(k, n - k) ~ team_type + (1 | team)", data("trials").assign(k=lambda t: t["n"] + 1)),
         "e", "more-successes-than-trials", raises=(ValueError, r"must be non-negative counts|exceeds the number")),
    Case(glmm, lambda: glmm("absence ~ x + (1 | trust/team)", data("poisson").assign(absence=-1), family="poisson"),
         "e", "negative-counts", raises=(ValueError, r"`formula`: the response 'absence' must be non-negative counts")),
    Case(glmm, lambda: glmm("absence ~ x + (1 | trust/team)", data("poisson").assign(absence=lambda t: t["absence"] + 0.5),
                            family="poisson"), "e", "fractional-counts",
         raises=(ValueError, r"must be whole numbers \(counts\)")),
    Case(glmm, lambda: glmm("p ~ x + (1 | trust/team)", SMALL.assign(p=SMALL["y"] * 0.5), weights=np.full(len(SMALL), 3.0)),
         "e", "successes-not-whole", raises=(ValueError, r"`weights`: .* whole numbers")),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL, weights=np.full(len(SMALL), 1.5)), "e",
         "non-integer-trials", raises=(ValueError, r"`weights`: for the binomial family the weights are numbers of")),
    # ---------------------------------------------------------------- f: degenerate data
    Case(glmm, lambda: glmm(F, D.assign(y=0)), "f", "constant-outcome",
         raises=(ValueError, r"`formula`: the response 'y' is 0 \(no successes\) in every row")),
    Case(glmm, lambda: glmm(F, D.assign(x=np.nan)), "f", "all-rows-missing",
         raises=(ValueError, r"`data` has no complete rows")),
    Case(glmm, lambda: glmm(F, D.assign(y=np.where(D["team_type"] == "none", 0, D["y"]))), "f", "separation",
         warns=(DegenerateDataWarning, r"separation: .*team_type\[T\.pseudo\]"),
         check=lambda f: np.isposinf(f.coefficients.loc["team_type[T.real]", "estimate"])),
    # ---------------------------------------------------------------- g: boundary estimates
    Case(glmm, lambda: glmm(F, data("zero_trust")), "g", "zero-trust-variance",
         warns=(BoundaryWarning, r"singular fit: the variance of \['trust'\]"),
         check=lambda f: f.singular and f.variance_components["trust"] < 1e-8),
    # ---------------------------------------------------------------- i: R syntax
    # R's '^' inside I() is a power (formulaic would read XOR): it keeps R's meaning
    Case(glmm, lambda: glmm("y ~ x + I(x^2) + (1 | trust/team)", D), "i", "caret-inside-I-keeps-R-meaning",
         check=lambda f: f.loglik == glmm("y ~ x + I(x**2) + (1 | trust/team)", D).loglik
         and f.loglik != glmm("y ~ x + (1 | trust/team)", D).loglik),
    Case(glmm, lambda: glmm("y ~ x + (1 + x | team_id) + (1 | trust)", D), "i", "slopes-with-second-term",
         raises=(ValueError, r"`formula`: the random term \(1 \+ x \| team_id\) has random slopes; glmm\(\) fits")),
    Case(glmm, lambda: glmm("y ~ x + (1 + x | team_id)", D, nagq=7), "input", "slopes-with-quadrature",
         raises=(ValueError, r"`nagq`: adaptive quadrature is implemented for nested random intercepts")),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust) + (1 | team)", D), "i", "reused-labels-crossed",
         raises=(NotNestedError, r"`formula`: .*not nested.*\(1 \| trust/team\)")),
    Case(glmm, lambda: glmm("y ~ x + (x || team_id)", D), "i", "double-bar",
         raises=(ValueError, r"`formula`: the random term \(0 \+ x \| team_id\) has random slopes; glmm\(\) fits")),
    Case(glmm, lambda: glmm("cbind(absence, days) ~ x + (1 | trust/team)", data("poisson"), family="poisson"), "i",
         "cbind-for-poisson", raises=(ValueError, r"`formula`: cbind\(\.\.\.\) responses are binomial")),
    # ---------------------------------------------------------------- j: dependencies, names, types
    Case(glmm, lambda: glmm(F, _dup_columns()), "j", "duplicate-column-names",
         raises=(ValueError, r"`data` has duplicate column name")),
    Case(glmm, lambda: glmm(F, D.assign(y=np.where(D["y"] == 1, "yes", "no"))), "j", "text-outcome",
         raises=(TypeError, r"`data` column 'y' \(response\) must be numeric")),
    Case(glmm, lambda: glmm("fehler_ä ~ x + (1 | trust/team)", SMALL.rename(columns={"y": "fehler_ä"})), "j",
         "non-ascii-column-name", check=lambda f: _same_fit(f)),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL.assign(trust=SMALL["trust"].where(SMALL.index % 2 == 0, 1))),
         "j", "mixed-label-types", raises=(ValueError, r"`data\['trust'\]` mixes label types")),
    # a column of `data` named like a term formulaic creates could not be told apart from it
    Case(glmm, lambda: glmm("y ~ Intercept + x + (1 | trust/team)", _with(Intercept=_noise())), "j",
         "column-named-Intercept", raises=(ValueError, r"`formula` uses a column of `data` named 'Intercept'")),
    Case(glmm, lambda: glmm("y ~ x + (Intercept | team_id)", _with(Intercept=_noise())), "j",
         "slope-column-named-Intercept", raises=(ValueError, r"`formula` uses a column of `data` named 'Intercept'")),
    Case(glmm, lambda: glmm("y ~ x + (1 | Intercept/team)", SMALL.rename(columns={"trust": "Intercept"})), "j",
         "grouping-column-named-Intercept", check=lambda f: _same_fit(f)),
    Case(glmm, lambda: glmm("y ~ x*z + `x:z` + (1 | trust/team)", _with(z=_noise(1), **{"x:z": _noise(2)})), "j",
         "column-named-like-an-interaction",
         raises=(ValueError, r"`formula`: the column 'x:z' of `data` has the name of another term")),
    Case(glmm, lambda: glmm("y ~ x + `x:z` + (1 | trust/team)", _with(**{"x:z": _noise(2)})), "j",
         "column-with-a-colon-alone", check=lambda f: _same_model(f, glmm("y ~ x + w + (1 | trust/team)",
                                                                        _with(w=_noise(2))), {"x:z": "w"})),
    Case(glmm, lambda: glmm("y ~ x + tt + (1 | trust/team)", _with(tt=_string_tt())), "j",
         "pandas-string-dtype-predictor", warns=(DroppedDataWarning, r"1 of \d+ row"),
         check=lambda f: f.n_dropped == 1 and _same_model(
             f, _quiet_glmm("y ~ x + tt + (1 | trust/team)", _with(tt=_string_tt().astype(object))), {})),
    Case(glmm, lambda: glmm("y ~ x + team_type + `team_type[T.real]` + (1 | trust/team)",
                            _with(**{"team_type[T.real]": _noise(3)})), "j", "column-named-like-a-dummy",
         raises=(ValueError, r"`formula`: the column 'team_type\[T.real\]' of `data` has the name of another term")),
    # ---------------------------------------------------------------- k: R's conventions
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL.assign(y=SMALL["y"].astype(bool))), "k",
         "boolean-outcome-is-0-1", check=lambda f: _same_fit(f)),
    Case(glmm, lambda: glmm("y ~ x + offset(log(w)) + (1 | trust/team)", SMALL.assign(w=1.0)), "k",
         "offset-in-formula", check=lambda f: _same_fit(f)),
    # ---------------------------------------------------------------- missing data
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL.assign(x=SMALL["x"].where(SMALL.index > 1))), "missing",
         "omit-counts", warns=(DroppedDataWarning, r"2 of \d+ row\(s\)"), check=lambda f: f.n_dropped == 2),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL.assign(x=SMALL["x"].where(SMALL.index > 1)),
                            nan_policy="raise"), "missing", "raise", raises=(ValueError, r"`data` has 2 row")),
    # values made missing by a transformation in the formula (log of a negative number) go through nan_policy
    Case(glmm, lambda: glmm("y ~ log(xn) + (1 | trust/team)", _with(xn=_positive(neg=3))), "missing",
         "transformation-makes-missing", warns=(DroppedDataWarning, r"3 of \d+ row\(s\) with a missing value in "
                                                                    r"`formula`.*transformation"),
         check=lambda f: f.n_dropped == 3 and f.n_obs == len(SMALL) - 3
         and any("transformation" in n for n in f.notes)),
    Case(glmm, lambda: glmm("y ~ x + (log(xn) | team_id)", _with(xn=_positive(neg=3))), "missing",
         "transformation-makes-slope-missing", warns=(DroppedDataWarning, r"3 of \d+ row.*`formula`"),
         check=lambda f: f.n_dropped == 3 and f.n_obs == len(SMALL) - 3),
    Case(glmm, lambda: glmm("y ~ log(xn) + (1 | trust/team)", _with(xn=_positive(neg=3)), nan_policy="raise"),
         "missing", "transformation-makes-missing-raise",
         raises=(ValueError, r"`formula` has 3 row\(s\) with a missing value.*nan_policy='raise'")),
    Case(glmm, lambda: glmm("y ~ log(xn) + (1 | trust/team)", _with(xn=-1.0 - SMALL["x"].abs())), "missing",
         "transformation-makes-every-row-missing",
         raises=(ValueError, r"`formula`: a transformation in .* made a value missing in every one of the \d+ rows")),
    Case(glmm, lambda: glmm("y ~ log(xn) + (1 | trust/team)", _with(xn=_positive(zero=2))), "missing",
         "transformation-makes-infinite", raises=(ValueError, r"`data`: the fixed-effect column\(s\) \['log\(xn\)'\] have "
                                                              r"infinite values in 2 row")),
    Case(glmm, lambda: glmm("y ~ x + (1 | trust/team)", SMALL, weights=pd.Series(1.0, index=SMALL.index).where(
        SMALL.index > 0)), "missing", "missing-weight", warns=(DroppedDataWarning, r"1 of \d+ row"),
         check=lambda f: f.n_dropped == 1 and f.n_obs == len(SMALL) - 1),
]


def _noise(seed=0):
    return np.random.default_rng(seed).normal(size=len(SMALL))


def _positive(neg=0, zero=0):
    v = 1.0 + SMALL["x"].abs().to_numpy()
    v[:neg] = -1.0
    v[neg:neg + zero] = 0.0
    return v


def _string_tt():
    s = SMALL["team_type"].astype("string")  # pandas' nullable text (pd.NA)
    s.iloc[4] = pd.NA
    return s


def _quiet_glmm(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmm(*a, **k)


def _same_model(f, g, rename):
    assert f.loglik == pytest.approx(g.loglik, rel=1e-12)
    assert_allclose(f.coefficients.rename(index=rename).to_numpy(), g.coefficients.to_numpy(), rtol=1e-10)
    assert list(f.coefficients.rename(index=rename).index) == list(g.coefficients.index)
    return True


def _same_fit_value(f):
    assert f.loglik == pytest.approx(_base().loglik, rel=1e-10)


def _scaled(f, s):
    assert f.coefficients.loc["xs", "estimate"] * s == pytest.approx(_base().coefficients.loc["x", "estimate"],
                                                                     rel=1e-6)
    assert math.isfinite(f.coefficients.loc["xs", "std_error"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)


# ---------------------------------------------------------------- GLMMResult.variance_intervals
def _separated():
    d = SMALL.copy()
    d["grp"] = np.where(np.arange(len(d)) % 7 == 0, "rare", "common")
    d.loc[d["grp"] == "rare", "y"] = 1  # every "rare" row is a yes: complete separation
    with pytest.warns(DegenerateDataWarning, match="separation"):
        return glmm("y ~ x + grp + (1 | trust/team)", d)


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"method": "bootstrap"}, ValueError, r"`method` must be one of \['profile'\]"),
    ({"method": "Profile"}, ValueError, r"`method` must be one of \['profile'\].*Did you mean 'profile'"),
    ({"method": None}, ValueError, r"`method`"),
    ({"confidence_level": 1.0}, ValueError, r"`confidence_level` must lie in \(0, 1\)"),
    ({"confidence_level": 95}, ValueError, r"`confidence_level` must lie in \(0, 1\)"),
    ({"confidence_level": "95%"}, TypeError, r"`confidence_level`"),
    ({"confidence_level": float("nan")}, ValueError, r"`confidence_level`"),
])
def test_variance_intervals_misuse(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        _base().variance_intervals(**kwargs)


def test_variance_intervals_options_are_keyword_only():
    with pytest.raises(TypeError):
        _base().variance_intervals(0.9)  # type: ignore[misc]


def test_variance_intervals_refuses_separation():
    f = _separated()
    assert f._infinite
    with pytest.raises(ValueError, match=r"`self`: the fixed effects \['grp\[T.rare\]'\] are infinite \(separation\)"):
        f.variance_intervals()


def test_variance_intervals_survives_pickle():
    f = pickle.loads(pickle.dumps(_base()))
    a, b = f.variance_intervals().table, _base().variance_intervals().table
    assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-8)


def test_variance_intervals_scale_free_in_the_covariate():
    # x in other units (1e-6 and 1e6 times) changes the fixed effect, not the variance intervals
    base = _base().variance_intervals().table
    for s in (1e-6, 1e6):
        f = glmm("y ~ xs + (1 | trust/team)", SMALL.assign(xs=SMALL["x"] * s))
        assert_allclose(f.variance_intervals().table[["ci_low", "ci_high"]].to_numpy(),
                        base[["ci_low", "ci_high"]].to_numpy(), rtol=1e-4)


def test_duplicate_design_column_names_are_refused():
    # formulaic keeps one of two terms of the same name (the cases above); a design that still carries two columns
    # of one name is refused rather than fitted with estimates that could not be told apart
    from teamculture.multilevel._lmm_common import check_design_names

    frame = SMALL[["y", "x"]]
    X = pd.DataFrame(np.c_[np.ones(len(frame)), frame["x"], frame["x"] ** 2], columns=["Intercept", "x2", "x2"])
    with pytest.raises(ValueError, match=r"`formula`: the fixed-effects design has two columns named \['x2'\]"):
        check_design_names(X, frame, "y")


def test_the_callers_frame_is_not_mutated_by_text_or_transformed_columns():
    d = _with(tt=_string_tt(), xn=_positive(neg=3))
    before = d.copy(deep=True)
    with pytest.warns(DroppedDataWarning):
        glmm("y ~ log(xn) + tt + (1 | trust/team)", d)
    pd.testing.assert_frame_equal(d, before)
    assert isinstance(d["tt"].dtype, pd.StringDtype)
