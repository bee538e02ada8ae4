"""Red-team regressions for the mixed-model front end and engines (scale, syntax, data shape).

Oracle: equivariance. Multiplying the response by ``s`` multiplies the fixed
effects by ``s``, the variances by ``s**2`` and leaves the Satterthwaite df
unchanged; multiplying a predictor (fixed and random slope) by ``s`` divides
its fixed effect by ``s``, its slope variance by ``s**2`` and leaves the df,
the other estimates and the ML log-likelihood (up to ``-n log s`` for the
response) unchanged. The unit-scale fits match lme4/lmerTest (see
``test_mixed_classic_r.py``; the data here were also checked by Rscript, where
lme4 itself fails at the 1e-8/1e8 scales: "Downdated VtV is not positive
definite" or df of 0.0027).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc


def _data(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(12):
        ut = rng.normal(0, 0.5)
        for k in range(5):
            uk, sl = rng.normal(0, 0.7), rng.normal(0, 0.3)
            for _ in range(int(rng.integers(3, 12))):
                x, z = rng.normal(), rng.normal()
                rows.append({"trust": f"T{t}", "team": k, "x": x, "z": z,
                             "y": 1 + 0.5 * x + 0.2 * z + ut + uk + sl * x + rng.normal()})
    return pd.DataFrame(rows)


def _fit(formula: str, data: pd.DataFrame, **kw) -> tc.MixedResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.errors.BoundaryWarning)
        return tc.mixed(formula, data, **kw)


@pytest.mark.parametrize("s", [1e-8, 1e8])
@pytest.mark.parametrize("formula", ["y ~ x + (1 | trust/team)", "y ~ x + (1 + x | trust)",
                                     "y ~ x + (1 | trust) + (1 | team)"])
def test_response_scale_equivariance(formula: str, s: float) -> None:
    d = _data()
    d2 = d.assign(y=d["y"] * s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.errors.NestingWarning)
        a, b = _fit(formula, d, reml=False), _fit(formula, d2, reml=False)
    assert b.converged
    assert_allclose(b.fixed_effects.to_numpy() / s, a.fixed_effects.to_numpy(), rtol=1e-6)
    assert_allclose(b.coefficients["std_error"].to_numpy() / s, a.coefficients["std_error"].to_numpy(), rtol=1e-5)
    assert_allclose(b.coefficients["df"].to_numpy(), a.coefficients["df"].to_numpy(), rtol=1e-5)
    assert_allclose(b.variance_components.to_numpy() / s**2, a.variance_components.to_numpy(), rtol=1e-5,
                    atol=1e-10 * a.variance_components.max())
    assert_allclose(b.loglik + len(d) * np.log(s), a.loglik, rtol=1e-9)


@pytest.mark.parametrize("s", [1e-8, 1e8])
@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | trust)", "y ~ x + (1 + x || trust)",
                                     "y ~ x + (1 | trust) + (0 + x | trust:team)"])
def test_slope_scale_equivariance(formula: str, s: float) -> None:
    d = _data()
    d2 = d.assign(x=d["x"] * s)
    a, b = _fit(formula, d, reml=False), _fit(formula, d2, reml=False)
    assert b.converged
    assert b.singular == a.singular
    scale = np.array([1.0, s])
    assert_allclose(b.fixed_effects.to_numpy() * scale, a.fixed_effects.to_numpy(), rtol=1e-6)
    assert_allclose(b.coefficients["df"].to_numpy(), a.coefficients["df"].to_numpy(), rtol=1e-5)
    assert_allclose(b.loglik, a.loglik, rtol=1e-9)
    va, vb = a.variance_components, b.variance_components
    factor = np.array([s**2 if n.endswith("|x") else (s if ",x" in n or "x," in n else 1.0) for n in va.index])
    assert_allclose(vb.to_numpy() * factor, va.to_numpy(), rtol=1e-5, atol=1e-9 * va.abs().max())
    for g, re_a in a.random_effects.items():
        re_b = b.random_effects[g]
        f = np.array([1 / s if c == "x" else (1 / s**2 if c == "cond_var:x" else 1.0) for c in re_a.columns])
        assert_allclose(re_b.to_numpy() / f, re_a.to_numpy(), rtol=1e-5, atol=1e-8 * np.abs(re_a.to_numpy()).max())


@pytest.mark.parametrize("formula", ["y ~ x + (1 | trust) - 1", "y ~ (1 | trust) - 1 + x", "y ~ x + (1|trust)-1"])
def test_minus_one_after_a_random_term_keeps_r_meaning(formula: str) -> None:
    # lme4 reads a '- 1' after a random term as removing the fixed intercept (was refused: "no random term")
    d = _data()
    ref = _fit("y ~ 0 + x + (1 | trust)", d)
    fit = _fit(formula, d)
    assert list(fit.fixed_effects.index) == ["x"]
    assert_allclose(fit.fixed_effects.to_numpy(), ref.fixed_effects.to_numpy(), rtol=1e-10)
    assert_allclose(fit.loglik, ref.loglik, rtol=1e-12)


def test_data_column_named_like_the_intercept_is_refused() -> None:
    # was fitted with two design columns both named 'Intercept': fixed_effects showed one of them
    d = _data().assign(Intercept=lambda f: f["z"])
    with pytest.raises(ValueError, match=r"`formula`.*'Intercept'"):
        tc.mixed("y ~ Intercept + x + (1 | trust)", d)
    with pytest.raises(ValueError, match=r"`formula`.*'Intercept'"):
        tc.mixed("y ~ x + (0 + Intercept | trust)", d)


@pytest.mark.parametrize("name", ["residual", "Residual"])
def test_grouping_factor_named_residual_is_refused(name: str) -> None:
    # was fitted, and its variance overwritten by the residual variance in variance_components
    d = _data().rename(columns={"trust": name})
    with pytest.raises(ValueError, match=rf"`formula`.*{name!r}.*residual"):
        tc.mixed(f"y ~ x + (1 | {name})", d)


def test_pandas_string_dtype_predictor_is_categorical_as_str() -> None:
    # a pandas 'string' (pd.NA) column was a raw "could not convert string to float" from numpy
    d = _data().assign(cat=lambda f: np.where(f["x"] > 0.3, "b", np.where(f["x"] < -0.3, "a", "c")))
    ref = _fit("y ~ cat + (1 | trust)", d)
    fit = _fit("y ~ cat + (1 | trust)", d.assign(cat=d["cat"].astype("string")))
    assert list(fit.fixed_effects.index) == list(ref.fixed_effects.index)
    assert_allclose(fit.fixed_effects.to_numpy(), ref.fixed_effects.to_numpy(), rtol=1e-12)


def test_numbers_stored_as_text_get_a_hint() -> None:
    # numbers in an object column are read as a categorical (as R reads character columns); with one level per
    # row the error now says why instead of only counting columns
    d = _data()
    with pytest.raises(ValueError, match=r"'x'.*numbers stored as text.*to_numeric"):
        tc.mixed("y ~ x + (1 | trust)", d.assign(x=d["x"].astype(str)))
    with pytest.raises(ValueError, match=r"'x'.*numbers stored as text.*to_numeric"):
        tc.mixed("y ~ x + (1 | trust)", d.assign(x=d["x"].astype(object)))


def test_data_column_named_like_an_interaction_is_refused() -> None:
    # formulaic keeps one of two terms with the same name: the column `x:z` was silently dropped in favour of x:z
    d = _data().assign(**{"x:z": lambda f: np.exp(f["z"])})
    with pytest.raises(ValueError, match=r"`formula`.*'x:z'"):
        tc.mixed("y ~ x*z + `x:z` + (1 | trust)", d)
    fit = _fit("y ~ `x:z` + (1 | trust)", d)  # alone it is an ordinary predictor
    assert list(fit.fixed_effects.index) == ["Intercept", "x:z"]


@pytest.mark.parametrize("s", [1e-8, 1e8])
def test_profile_intervals_slope_scale_equivariance(s: float) -> None:
    # the profiler's step floor for a slope SD was 0.05 sigma in the response's units, not per unit of the covariate:
    # with x in units of 1e8 the intercept-SD interval moved from [0.374, 0.939] to [0.375, 0.911]
    d = _data()
    a = _fit("y ~ x + (1 + x | trust)", d).variance_intervals().to_frame()
    b = _fit("y ~ x + (1 + x | trust)", d.assign(x=d["x"] * s)).variance_intervals().to_frame()
    factor = np.array([s if n == "trust|x" else 1.0 for n in a.index])[:, None]
    cols = ["estimate", "ci_low", "ci_high"]
    assert_allclose(b[cols].to_numpy() * factor, a[cols].to_numpy(), rtol=2e-4, atol=1e-7)


def test_local_f_squared_refuses_swapped_models() -> None:
    # local_f_squared(reduced, full) returned -0.31 without a word
    d = _data()
    full, reduced = _fit("y ~ x + z + (1 | trust)", d), _fit("y ~ z + (1 | trust)", d)
    assert tc.local_f_squared(full, reduced) > 0
    with pytest.raises(ValueError, match=r"`reduced`.*'x'.*not in `full`"):
        tc.local_f_squared(reduced, full)


def test_r_squared_of_an_intercept_only_model_is_exactly_zero() -> None:
    # the marginal R² printed as 8.4e-32 (the variance of a constant vector computed with rounding)
    d = _data()
    r2 = tc.r_squared(_fit("y ~ 1 + (1 | trust/team)", d))
    assert r2.marginal == 0.0
    assert (r2.to_frame().loc[[i for i in r2.to_frame().index if i.startswith("fixed")], "variance"] == 0.0).all()


def test_every_row_made_missing_by_a_transformation() -> None:
    # log of a negative column in every row was numpy's "zero-size array to reduction operation maximum"
    d = _data().assign(neg=lambda f: -np.exp(f["z"]))
    with pytest.warns(tc.errors.DroppedDataWarning), pytest.raises(ValueError, match=r"`formula`.*no rows left"):
        tc.mixed("y ~ log(neg) + (1 | trust)", d)
