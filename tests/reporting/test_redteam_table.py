"""Red-team regressions for model_table: ``labels`` that would merge two rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import teamculture as tc


@pytest.fixture(scope="module")
def fits() -> tuple[tc.MixedResult, tc.MixedResult]:
    rng = np.random.default_rng(3)
    trust = np.repeat(np.arange(8), 30)
    team = trust * 10 + rng.integers(0, 4, trust.size)
    x, z = rng.normal(size=trust.size), rng.normal(size=trust.size)
    y = 0.5 * x + 0.2 * z + rng.normal(0, 0.5, 8)[trust] + rng.normal(0, 0.6, 80)[team % 80] + rng.normal(size=x.size)
    d = pd.DataFrame({"trust": trust.astype(str), "team": team.astype(str), "x": x, "z": z, "y": y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.errors.BoundaryWarning)
        return tc.mixed("y ~ x + z + (1 | trust/team)", d), tc.mixed("y ~ x + (1 | trust)", d)


def test_labels_that_merge_two_terms_are_refused(fits) -> None:
    # labels={"x": "z"} printed two rows "z" (the x and z estimates) in one section
    with pytest.raises(ValueError, match=r"`labels`.*'x'.*'z'.*'z'"):
        tc.model_table(list(fits), labels={"x": "z"})
    with pytest.raises(ValueError, match=r"`labels`.*'x'.*'z'.*'both'"):
        tc.model_table(list(fits), labels={"x": "both", "z": "both"})


def test_labels_that_merge_two_grouping_factors_are_refused(fits) -> None:
    # labels={"trust": "trust:team"} printed the trust:team variance twice and lost the trust variance
    with pytest.raises(ValueError, match=r"`labels`.*'trust'.*'trust:team'"):
        tc.model_table(list(fits), labels={"trust": "trust:team"})


def test_distinct_labels_still_relabel(fits) -> None:
    tab = tc.model_table(list(fits), labels={"x": "z", "z": "x", "trust:team": "team"})
    fixed = tab.to_frame().xs("Fixed effects", level="section")
    assert fixed.loc[("Model 1", "z"), "estimate"] == pytest.approx(fits[0].fixed_effects["x"], rel=1e-12)
    assert fixed.loc[("Model 1", "x"), "estimate"] == pytest.approx(fits[0].fixed_effects["z"], rel=1e-12)
    rand = tab.to_frame().xs("Random effects", level="section")
    assert rand.loc[("Model 1", "τ00 team"), "estimate"] == pytest.approx(
        fits[0].variance_components["trust:team"], rel=1e-12)


def test_one_label_aligns_differently_named_factors_of_different_models() -> None:
    # the user guide's use: (1 | trust/team) names the team level 'trust:team', (1 | team) with unique team
    # labels names it 'team'; one label puts both in one row (within one model it would merge two rows)
    rng = np.random.default_rng(5)
    trust = np.repeat(np.arange(8), 40)
    team = trust * 10 + rng.integers(0, 4, trust.size)
    x = rng.normal(size=trust.size)
    y = 0.5 * x + rng.normal(0, 0.5, 8)[trust] + rng.normal(0, 0.6, 80)[team] + rng.normal(size=x.size)
    d = pd.DataFrame({"trust": trust.astype(str), "team": team.astype(str), "x": x, "y": y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tc.errors.BoundaryWarning)
        nested = tc.mixed("y ~ x + (1 | trust/team)", d)
        flat = tc.mixed("y ~ x + (1 | trust) + (1 | team)", d)
    tab = tc.model_table([nested, flat], labels={"trust:team": "team"})
    rand = tab.to_frame().xs("Random effects", level="section")
    assert rand.loc[("Model 1", "τ00 team"), "estimate"] == pytest.approx(nested.variance_components["trust:team"],
                                                                         rel=1e-12)
    assert rand.loc[("Model 2", "τ00 team"), "estimate"] == pytest.approx(flat.variance_components["team"], rel=1e-12)
