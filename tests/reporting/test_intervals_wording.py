"""VarianceIntervals says which likelihood was profiled (a GLMM's is not an ML deviance)."""

from __future__ import annotations

import warnings

from _glmm_helpers import data
import teamculture as tc


def test_glmm_profile_summary_names_the_glmm_likelihood():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit's own warnings are tested elsewhere
        fit = tc.glmm("y ~ x + (1 | team)", data("agq_single"))
        ci = fit.variance_intervals()
    text = str(ci.summary())
    assert "profile likelihood (Laplace log-likelihood of the GLMM)" in text
    assert "ML deviance" not in text and "REML" not in text


def test_mixed_profile_summary_still_names_the_ml_deviance():
    sv = tc.national_survey("tiny", rng=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = tc.mixed("ps1 ~ tenure + (1 | team)", sv.staff, reml=False)
        ci = fit.variance_intervals()
    assert "profile likelihood (ML deviance)" in str(ci.summary())
