"""The result protocol for the aggregation results: pickle, ==, summary(), to_frame(), confidence_interval()."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc
from teamculture.errors import ConvergenceWarning, DroppedDataWarning, SmallGroupWarning
from teamculture.results import Result, Summary

_RNG = np.random.default_rng(11)
TEAM = pd.Series(np.repeat([f"t{i}" for i in range(10)], 8), name="team")
TRUST = pd.Series(np.repeat(list("ABCDE"), 16), name="trust")
Y = pd.Series(np.repeat(_RNG.normal(size=5), 16) + np.repeat(_RNG.normal(size=10), 8) + _RNG.normal(size=80),
              name="y")
Z = pd.Series(0.4 * Y.to_numpy() + np.repeat(_RNG.normal(size=10), 8) + _RNG.normal(size=80), name="z")
ITEMS = pd.DataFrame(np.clip(np.round(3 + Y.to_numpy()[:, None] + _RNG.normal(size=(80, 3))), 1, 5),
                     columns=["q1", "q2", "q3"])
DATA = pd.concat([ITEMS, TEAM, TRUST], axis=1)


def _results():
    return {
        "NullSimulation": lambda: tc.rwg_j_sim(8, 3, (1, 5), item_corr=0.3, n_resamples=500, rng=1),
        "RGRResult": lambda: tc.rgr_agree(Y, TEAM, n_resamples=20, rng=1),
        "ICCResult": lambda: tc.icc(Y, pd.concat([TRUST, TEAM], axis=1), n_resamples=50, rng=1),
        "ICCResult-reml": lambda: tc.icc(Y, pd.concat([TRUST, TEAM], axis=1), method="reml"),
        "WABAResult": lambda: tc.waba(Y, Z, TEAM),
        "AggregateResult": lambda: tc.aggregate(DATA, {"s": ["q1", "q2", "q3"]}, by=["trust", "team"], scale=(1, 5)),
    }


RESULTS = _results()


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_protocol(name):
    res = RESULTS[name]()
    assert isinstance(res, Result)
    again = pickle.loads(pickle.dumps(res))
    assert again == res and again is not res
    assert RESULTS[name]() == res  # deterministic (seeded), and == is pandas-aware
    summary = res.summary()
    assert isinstance(summary, Summary)
    text, html, latex = str(summary), summary.as_html(), summary.as_latex()
    assert text.splitlines()[0] and "<div" in html and ("\\toprule" in latex or not summary.tables)
    assert str(res) == text
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame)
    d = res.to_dict()
    assert {"n_obs", "n_dropped", "n_groups"} <= set(d)


@pytest.mark.parametrize("name", ["NullSimulation", "RGRResult", "WABAResult", "AggregateResult"])
def test_results_without_an_interval_say_so(name):
    with pytest.raises(TypeError, match="has no confidence interval"):
        RESULTS[name]().confidence_interval()


def test_icc_intervals_recomputed_from_the_kept_draws():
    res = RESULTS["ICCResult"]()
    ci = res.confidence_interval()
    assert list(ci.columns) == ["ci_low", "ci_high"] and list(ci.index) == ["icc1", "icc2", "vpc_trust", "vpc_team"]
    pd.testing.assert_frame_equal(ci, res.to_frame()[["ci_low", "ci_high"]])
    draws = res.bootstrap_distribution
    assert draws.shape == (50, 4)
    assert_allclose(res.confidence_interval(0.5).to_numpy(), np.quantile(draws, [0.25, 0.75], axis=0).T, rtol=1e-15)
    with pytest.raises(ValueError, match="`confidence_level`"):
        res.confidence_interval(95)
    with pytest.raises(ValueError, match="`n_resamples`=0"):
        RESULTS["ICCResult-reml"]().confidence_interval()


def test_counts_on_results():
    y = Y.copy()
    y.iloc[[3, 40]] = np.nan
    team = TEAM.astype(object).copy()
    team.iloc[7] = None
    with pytest.warns(DroppedDataWarning):
        res = tc.icc(y, team)
    assert (res.n_obs, res.n_dropped, res.n_groups.tolist()) == (77, 3, [10])
    with pytest.warns(DroppedDataWarning):
        rgr = tc.rgr_agree(y, team, n_resamples=5, rng=1)
    assert (rgr.n_obs, rgr.n_dropped, rgr.n_groups) == (77, 3, 10)
    with pytest.warns(DroppedDataWarning):
        w = tc.waba(y, Z, team)
    assert (w.n_obs, w.n_dropped, w.n_groups) == (77, 3, 10)


def test_reml_non_convergence_is_not_silent(monkeypatch):
    # the engine's verdict reaches the user: a ConvergenceWarning, converged=False and a line in summary()
    from teamculture.multilevel import NestedModel

    fit = NestedModel.fit

    def unconverged(self, reml=True, start=None):
        return dataclasses_replace(fit(self, reml=reml, start=start), converged=False)

    monkeypatch.setattr(NestedModel, "fit", unconverged)
    with pytest.warns(ConvergenceWarning, match="did not confirm convergence"):
        res = tc.icc(Y, TEAM, method="reml")
    assert res.converged is False
    assert "did not confirm convergence" in str(res.summary())


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_reml_route_equals_mixed(reference_dir):
    # the array route (nested sums + exact engine) gives mixed()'s numbers
    from teamculture.multilevel import mixed

    d = pd.read_csv(reference_dir / "agreement_data" / "three_unbalanced.csv")
    res = tc.icc(d["y"], d[["trust", "team"]], method="reml")
    frame = pd.DataFrame({"y": d["y"], "trust": d["trust"], "team": d["team"]})
    fit = mixed("y ~ 1 + (1 | trust/team)", frame)
    assert_allclose(res.variance_components.to_numpy(), fit.variance_components.to_numpy(), rtol=1e-12)


def test_nested_groups_give_multiindex_tables():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tc.rwg_j(ITEMS, pd.concat([TRUST, TEAM], axis=1), scale=(1, 5))
    assert out.index.names == ["trust", "team"] and len(out) == 10
    with pytest.warns(SmallGroupWarning):
        solo = tc.rwg_j(ITEMS.iloc[:9], pd.concat([TRUST, TEAM], axis=1).iloc[:9], scale=(1, 5))
    assert np.isnan(solo.loc[("A", "t1"), "rwg_j"])
