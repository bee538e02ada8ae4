"""Misuse suite of teamculture.power (framework: ``tests/_misuse.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from _misuse import Case, case_id, run_case
from teamculture import power as pw

DESIGN = dict(n_trusts=40, teams_per_trust=10, staff_per_team=8, icc_team=0.11, icc_trust=0.03)


def _with(**changes):
    return dict(DESIGN, **changes)


CASES = [
    # ------------------------------------------------------------------ design_effect_three_level
    Case(pw.design_effect_three_level, lambda: pw.design_effect_three_level(10, 20, icc_team=0.6, icc_trust=0.5),
         "input", "iccs-sum-above-one", raises=(ValueError, r"`icc_team` \+ `icc_trust` must be < 1")),
    Case(pw.design_effect_three_level, lambda: pw.design_effect_three_level(0.5, 20, icc_team=0.1, icc_trust=0.0),
         "input", "fewer-than-one-staff", raises=(ValueError, r"`staff_per_team` must lie in \[1, inf\)")),
    Case(pw.design_effect_three_level, lambda: pw.design_effect_three_level(10, 20, icc_team="0.1", icc_trust=0.0),
         "input", "text-icc", raises=(TypeError, "`icc_team` must be a real number")),
    Case(pw.design_effect_three_level, lambda: pw.design_effect_three_level(1e6, 1e4, icc_team=0.1, icc_trust=0.05),
         "d", "national-scale-design",
         check=lambda d: assert_allclose(d, 1 + (1e6 - 1) * 0.1 + (1e10 - 1) * 0.05, rtol=1e-15)),

    # ------------------------------------------------------------------ power_three_level
    Case(pw.power_three_level, lambda: pw.power_three_level(0.3, **_with(predictor_level="ward")), "input",
         "unknown-level", raises=(ValueError, "`predictor_level` must be one of")),
    Case(pw.power_three_level, lambda: pw.power_three_level(0.3, **_with(n_trusts=2)), "f", "two-trusts-no-df",
         raises=(ValueError, "`n_trusts`.*leaves 0 degrees of freedom.*at least 3 trusts")),
    Case(pw.power_three_level, lambda: pw.power_three_level(0.3, **_with(n_trusts=True)), "input", "bool-size",
         raises=(TypeError, "`n_trusts` must be an integer")),
    Case(pw.power_three_level, lambda: pw.power_three_level(np.inf, **DESIGN), "input", "infinite-effect",
         raises=(ValueError, "`effect` must be a finite number")),
    Case(pw.power_three_level, lambda: pw.power_three_level(0.3, **DESIGN, alpha=5), "input", "alpha-in-percent",
         raises=(ValueError, r"`alpha` must lie in \(0, 1\)")),
    Case(pw.power_three_level, lambda: pw.power_three_level(0.0, **DESIGN), "k", "zero-effect-power-is-alpha",
         check=lambda r: assert_allclose(r.power, 0.05, rtol=1e-12)),
    Case(pw.power_three_level, lambda: pw.power_three_level(
        0.001, n_trusts=10**6, teams_per_trust=100, staff_per_team=10**4, icc_team=0.1, icc_trust=0.05), "d",
         "huge-design", check=lambda r: (0 < r.power <= 1 and math.isfinite(r.std_error)) or pytest.fail(str(r))),

    # ------------------------------------------------------------------ minimum_detectable_effect
    Case(pw.minimum_detectable_effect, lambda: pw.minimum_detectable_effect(**DESIGN, power=0.04), "input",
         "power-below-alpha", raises=(ValueError, r"`power` must exceed `alpha`")),
    Case(pw.minimum_detectable_effect, lambda: pw.minimum_detectable_effect(**DESIGN, power=1.0), "input",
         "power-one", raises=(ValueError, r"`power` must lie in \(0, 1\)")),
    Case(pw.minimum_detectable_effect, lambda: pw.minimum_detectable_effect(**DESIGN, share=0.0), "f",
         "no-exposed-trusts", raises=(ValueError, r"`share` must lie in \(0, 1\)")),
    Case(pw.minimum_detectable_effect, lambda: pw.minimum_detectable_effect(**DESIGN, alternative="less"), "k",
         "one-sided-less-is-negative",
         check=lambda r: (r.effect < 0 and abs(r.power - 0.8) < 1e-9) or pytest.fail(str(r))),

    # ------------------------------------------------------------------ sample_size_three_level
    Case(pw.sample_size_three_level, lambda: pw.sample_size_three_level(0.3, **DESIGN), "input",
         "solved-size-given", raises=(ValueError, "`n_trusts` is being solved for")),
    Case(pw.sample_size_three_level, lambda: pw.sample_size_three_level(
        0.3, n_trusts=None, teams_per_trust=10, icc_team=0.1, icc_trust=0.03), "input", "other-size-missing",
         raises=(ValueError, "`staff_per_team` must be given")),
    Case(pw.sample_size_three_level, lambda: pw.sample_size_three_level(
        -0.3, n_trusts=None, teams_per_trust=10, staff_per_team=8, icc_team=0.1, icc_trust=0.03,
        alternative="greater"), "input", "wrong-sign", raises=(ValueError, "`effect` -0.3 has the wrong sign")),
    Case(pw.sample_size_three_level, lambda: pw.sample_size_three_level(
        0.3, solve_for="teams_per_trust", n_trusts=6, staff_per_team=10, icc_team=0.1, icc_trust=0.05), "f",
         "unreachable-power", raises=(ValueError, "no `teams_per_trust` up to")),
    Case(pw.sample_size_three_level, lambda: pw.sample_size_three_level(
        0.0, n_trusts=None, teams_per_trust=10, staff_per_team=8, icc_team=0.1, icc_trust=0.03), "f",
         "zero-effect", raises=(ValueError, "`effect` must be non-zero")),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse(case):
    run_case(case)
