"""Effect sizes of mixed models: standardised coefficients and the local f² (teamculture.multilevel).

Oracles: ``tests/reference/effects.R`` (lme4 fits for f² and effectsize's
standardised coefficients), closed forms.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as ef
from teamculture.errors import DroppedDataWarning


@pytest.fixture(scope="module")
def ref(reference_dir):
    return json.loads((reference_dir / "effects.json").read_text())


def _staff(reference_dir):
    return pd.read_csv(reference_dir / "effects_data" / "staff.csv")


def test_local_f_squared_matches_lme4_variances(ref):
    """f² from lme4's variance components (closed form on R's numbers)."""
    m = ref["multilevel"]
    names = ["team:trust" if n == "team:trust" else n.lower() for n in m["varcomp_names_full"]]
    full = SimpleNamespace(variance_components=pd.Series(m["varcomp_full"], index=names))
    reduced = SimpleNamespace(variance_components=pd.Series(m["varcomp_reduced"], index=names))
    assert_allclose(ef.local_f_squared(full, reduced), m["f2_residual"], rtol=1e-10, atol=0)
    assert_allclose(ef.local_f_squared(full, reduced, variance="total"), m["f2_total"], rtol=1e-10, atol=0)


def test_multilevel_on_real_mixed_fits(ref, reference_dir):
    """f² and standardised coefficients from teamculture.mixed fits against lme4 / effectsize.

    REML fits are iterative: the variance components agree with lme4 to about
    1e-6 relative, f² (a small difference of two variances) to 1e-4 relative.
    """
    import teamculture as tc

    m = ref["multilevel"]
    staff = _staff(reference_dir)
    full = tc.mixed("y ~ tenure + real + (1 | trust/team)", staff)
    reduced = tc.mixed("y ~ tenure + (1 | trust/team)", staff)
    assert_allclose(ef.local_f_squared(full, reduced), m["f2_residual"], rtol=1e-4, atol=1e-9)
    assert_allclose(ef.local_f_squared(full, reduced, variance="total"), m["f2_total"], rtol=1e-4, atol=1e-9)
    std = ef.standardized_coefficients(full)
    want = dict(zip(m["std_names"], m["std_coefficient"]))
    assert list(std.columns) == ["estimate", "std_error", "statistic", "df", "pvalue", "ci_low", "ci_high",
                                 "sd_x", "sd_y"]
    assert_allclose(std.loc[["tenure", "real"], "estimate"], [want["tenure"], want["real"]], rtol=1e-6, atol=0)
    assert math.isnan(std.loc[std.index[0], "estimate"])  # intercept
    # the scaling is a constant: test statistics, df and p-values are the model's
    assert_allclose(std.loc["real", ["statistic", "df", "pvalue"]].to_numpy(dtype=float),
                    full.coefficients.loc["real", ["statistic", "df", "pvalue"]].to_numpy(dtype=float), rtol=1e-15)
    # the data route gives the same numbers as the design route
    via_data = ef.standardized_coefficients(full, staff, outcome="y")
    assert_allclose(via_data.loc[["tenure", "real"]].to_numpy(), std.loc[["tenure", "real"]].to_numpy(),
                    rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- closed forms
def test_standardized_coefficients_closed_form():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=30), rng.normal(5, 3, size=30)
    y = 1 + 0.5 * x1 - 0.2 * x2 + rng.normal(size=30)
    design = pd.DataFrame({"(Intercept)": 1.0, "x1": x1, "x2": x2})
    from teamculture.results import coef_table

    coefficients = coef_table([1.1, 0.45, -0.21], [0.3, 0.1, 0.05], index=["(Intercept)", "x1", "x2"], df=27.0)
    fit = SimpleNamespace(coefficients=coefficients, design=design, response=pd.Series(y))
    out = ef.standardized_coefficients(fit)
    sy = np.std(y, ddof=1)
    assert_allclose(out.loc["x1", "estimate"], 0.45 * np.std(x1, ddof=1) / sy, rtol=1e-12, atol=0)
    assert_allclose(out.loc["x2", "std_error"], 0.05 * np.std(x2, ddof=1) / sy, rtol=1e-12, atol=0)
    f2 = np.std(x2, ddof=1) / sy
    assert_allclose(out.loc["x2", ["ci_low", "ci_high"]].to_numpy(dtype=float),
                    coefficients.loc["x2", ["ci_low", "ci_high"]].to_numpy(dtype=float) * f2, rtol=1e-12)
    assert out.loc["x2", "df"] == 27.0 and out.loc["x2", "pvalue"] == coefficients.loc["x2", "pvalue"]
    assert math.isnan(out.loc["(Intercept)", "estimate"]) and math.isnan(out.loc["(Intercept)", "pvalue"])


def test_standardized_coefficients_does_not_mutate():
    df = pd.DataFrame({"y": [1.0, 2.0, np.nan, 5.0, 4.0], "x": [0.0, 1.0, 2.0, 3.0, 1.0]})
    before = df.copy()
    fit = SimpleNamespace(fixed_effects=pd.Series([0.5, 1.0], index=["Intercept", "x"]))
    with pytest.warns(DroppedDataWarning, match=r"dropped 1 of 5 row\(s\) of `data`.*\['y', 'x'\]: rows \[2\]"):
        out = ef.standardized_coefficients(fit, df, outcome="y")
    pd.testing.assert_frame_equal(df, before)
    ok = df.dropna()
    assert_allclose(out.loc["x", "estimate"], 1.0 * ok["x"].std() / ok["y"].std(), rtol=1e-12, atol=0)
    assert np.isnan(out.loc["x", "std_error"])  # no standard errors given


def test_local_f_squared_closed_form_and_null_cancels():
    """f² = (R²_AB - R²_A) / (1 - R²_AB) with R² relative to any null variance V0."""
    va, vab = 0.7, 0.6
    a = SimpleNamespace(variance_components=pd.Series({"team": 0.1, "residual": va}))
    ab = SimpleNamespace(variance_components=pd.Series({"team": 0.08, "residual": vab}))
    for v0 in (0.8, 1.0, 3.0):
        r2a, r2ab = 1 - va / v0, 1 - vab / v0
        assert_allclose(ef.local_f_squared(ab, a), (r2ab - r2a) / (1 - r2ab), rtol=1e-12, atol=0)
    assert_allclose(ef.local_f_squared(ab, a, variance="total"), (0.8 - 0.68) / 0.68, rtol=1e-12, atol=0)


def test_local_f_squared_total_refuses_random_slopes():
    vc = pd.Series({"team": 0.1, "team|x": 0.02, "team|(Intercept),x": -0.01, "residual": 0.6})
    a = SimpleNamespace(variance_components=vc)
    assert ef.local_f_squared(a, a) == 0.0
    with pytest.raises(ValueError, match="`variance`='total'"):
        ef.local_f_squared(a, a, variance="total")



def test_multilevel_effect_size_validation():
    with pytest.raises(TypeError, match="`result` must be a fitted model with a `coefficients` table"):
        ef.standardized_coefficients(object(), pd.DataFrame({"y": [1.0]}), outcome="y")
    fit = SimpleNamespace(fixed_effects=pd.Series({"(Intercept)": 0.0, "x": 1.0}))
    with pytest.raises(ValueError, match=r"`outcome` column 'y' of `data` is constant"):
        ef.standardized_coefficients(fit, pd.DataFrame({"y": [2.0, 2.0, 2.0], "x": [0.0, 1.0, 2.0]}), outcome="y")
    with (pytest.warns(DroppedDataWarning, match="dropped 2 of 3"),
          pytest.raises(ValueError, match=r"`outcome` column 'y' of `data` has 1 complete row\(s\)")):
        ef.standardized_coefficients(fit, pd.DataFrame({"y": [2.0, np.nan, 1.0], "x": [0.0, 1.0, np.inf]}),
                                     outcome="y")
    with pytest.raises(ValueError, match="residual"):
        ef.local_f_squared(SimpleNamespace(variance_components=pd.Series({"team": 1.0})),
                           SimpleNamespace(variance_components=pd.Series({"team": 1.0})))
