"""The result protocol: base class, Summary rendering, coefficient tables."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from teamculture.results import (
    COEF_COLUMNS,
    ConfidenceInterval,
    Result,
    Summary,
    coef_table,
    format_number,
    interval_frame,
    result_class,
)


@result_class
class _Toy(Result):
    """A result for the tests (defined at module level, so it pickles)."""

    estimate: float
    table: pd.DataFrame
    draws: np.ndarray


def _toy(value=1.5, nan=False):
    t = pd.DataFrame({"a": [1.0, np.nan if nan else 2.0]}, index=["x", "y"])
    return _Toy(n_obs=10, n_dropped=1, n_groups=2, estimate=value, table=t, draws=np.array([1.0, np.nan]))


def test_results_pickle_and_compare():
    r = _toy()
    back = pickle.loads(pickle.dumps(r))
    assert back == r  # pandas fields and NaN compared element-wise, NaN equal to NaN
    assert r != _toy(value=2.0)
    assert r != _toy(nan=True)
    assert (r == 3) is False
    with pytest.raises(TypeError):
        hash(r)


def test_results_are_frozen_and_keyword_only():
    r = _toy()
    with pytest.raises(AttributeError):
        r.estimate = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        _Toy(10, 1, 2, 1.5, pd.DataFrame(), np.array([]))  # type: ignore[misc]


def test_default_protocol():
    r = _toy()
    d = r.to_dict()
    assert d["n_obs"] == 10 and d["estimate"] == 1.5 and d["table"] == {"x": {"a": 1.0}, "y": {"a": 2.0}}
    assert r.to_frame().loc[0, "estimate"] == 1.5
    with pytest.raises(TypeError, match="_Toy has no confidence interval"):
        r.confidence_interval()
    assert "n_obs" in repr(r) and "table" not in repr(r)
    assert "<div" in r._repr_html_()


def test_summary_renders_text_html_latex_markdown():
    table = pd.DataFrame({"estimate": [0.123456, -2.5e-9], "pvalue": [0.04, np.nan]}, index=["x_1", "b"])
    s = Summary("Model & more", header=[("n", 12345), ("method", "REML"), ("converged", False)],
                tables=[("Fixed effects", table)], notes=["singular fit"])
    text = str(s)
    assert "Model & more" in text and "12,345" in text and "0.1235" in text and "-2.500e-09" in text
    assert "NA" in text and "no" in text and "Note: singular fit" in text
    assert "nan" not in text.lower().replace("na ", "")
    html = s.as_html()
    assert "Model &amp; more" in html and "<table" in html
    latex = s.as_latex()
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex and "x\\_1" in latex
    md = s.as_markdown()
    assert "| x_1 |" in md and "|---|" in md


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (1234.5678, "1235"), (0.012345, "0.01235"), (1e-9, "1.000e-09"), (123456789.0, "1.235e+08"),
    (math.inf, "inf"), (-math.inf, "-inf"), (float("nan"), "NA"), (12, "12"), (123456, "123,456"), (True, "yes"),
])
def test_format_number(value, text):
    assert format_number(value) == text


def test_coef_table_matches_scipy():
    est, se, df = np.array([0.5, -1.2, 3.0]), np.array([0.2, 0.4, 1.0]), np.array([10.0, np.inf, 3.5])
    t = coef_table(est, se, index=["a", "b", "c"], df=df, confidence_level=0.9)
    assert tuple(t.columns) == COEF_COLUMNS
    assert_allclose(t["statistic"], est / se, rtol=1e-15)
    assert_allclose(t.loc["a", "pvalue"], 2 * stats.t.sf(2.5, 10), rtol=1e-13)
    assert_allclose(t.loc["b", "pvalue"], 2 * stats.norm.sf(3.0), rtol=1e-13)
    assert_allclose(t.loc["c", "ci_high"], 3.0 + stats.t.ppf(0.95, 3.5), rtol=1e-13)
    assert_allclose(t.loc["b", "ci_low"], -1.2 - 0.4 * stats.norm.ppf(0.95), rtol=1e-13)
    again = interval_frame(t, 0.9)
    assert_allclose(again.to_numpy(), t[["ci_low", "ci_high"]].to_numpy(), rtol=1e-14)
    wider = interval_frame(t, 0.99)
    assert (wider["ci_low"] < t["ci_low"]).all()


def test_confidence_interval_is_a_named_pair():
    ci = ConfidenceInterval(0.1, 0.2)
    assert ci.low == 0.1 and ci.high == 0.2 and tuple(ci) == (0.1, 0.2)
