"""Helpers shared by the multilevel tests: load the lme4 reference JSONs and their data.

Import it from a test module as ``import _mixed_fixtures as fx`` (``tests/conftest.py``
puts the tests folder on ``sys.path``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).resolve().parent / "reference"


@lru_cache(maxsize=1)
def lme4_reference() -> dict[str, Any]:
    """The parsed ``tests/reference/lme4_reference.json``."""
    return json.loads((REFERENCE / "lme4_reference.json").read_text())


@lru_cache(maxsize=1)
def engine_extra() -> dict[str, Any]:
    """The ``models`` of ``tests/reference/lme4_engine_extra.json`` (tightly converged lme4)."""
    return json.loads((REFERENCE / "lme4_engine_extra.json").read_text())["models"]


def reference_data(data_file: str) -> pd.DataFrame:
    """A data CSV named in a reference JSON, from ``mixed_data/`` or ``engine_data/``.

    Grouping and categorical columns are read as strings.
    """
    folder = "mixed_data" if (REFERENCE / "mixed_data" / data_file).exists() else "engine_data"
    dtypes = {c: str for c in ("region", "trust", "team", "cat", "grade")}
    return pd.read_csv(REFERENCE / folder / data_file, dtype=dtypes)


def mixed_data(name: str) -> pd.DataFrame:
    """One of the CSVs written by ``make_mixed_data.py`` (grouping columns as strings)."""
    dtypes = {"trust": str, "team": str, "cat": str}
    return pd.read_csv(REFERENCE / "mixed_data" / f"{name}.csv", dtype=dtypes)


def varcorr_series(fit: dict[str, Any]) -> pd.Series:
    """lme4's VarCorr as a Series named like ``MixedResult.variance_components``.

    Intercept-only groupings keep lme4's name (``team:trust`` is renamed to
    ``trust:team``); slope terms become ``group|term`` and covariances
    ``group|term1,term2``; lme4's ``team.1`` (second term of a factor) maps
    back to ``team``.
    """
    rows = fit["varcorr"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        g = r["grp"].split(".")[0]
        if g == "team:trust":
            g = "trust:team"
        groups.setdefault(g, []).append(r)
    out = {}
    for g, rs in groups.items():
        if g == "Residual":
            continue
        only_intercept = all(r["var1"] == "(Intercept)" and r["var2"] is None for r in rs)
        for r in rs:
            if only_intercept:
                out[g] = r["vcov"]
            elif r["var2"] is None:
                out[f"{g}|{r['var1']}"] = r["vcov"]
            else:
                out[f"{g}|{r['var1']},{r['var2']}"] = r["vcov"]
    out["residual"] = fit["sigma2"]
    return pd.Series(out, dtype=float)


@dataclass(frozen=True, eq=False)
class FakeFit:
    """A stand-in for ``MixedResult`` holding lme4's numbers (for testing helpers).

    Only used where the thing under test is arithmetic on a fitted model's
    outputs (LRTs, R²), so that the test compares our arithmetic with R's
    given R's own estimates.
    """

    formula: str
    reml: bool
    loglik: float
    n_params: int
    n_obs: int
    fixed_effects: pd.Series
    variance_components: pd.Series
    design: pd.DataFrame | None = None
    response: pd.Series | None = None
    group_labels: pd.DataFrame | None = None
    _other: dict[str, Any] = field(default_factory=dict, repr=False)

    def refit(self, reml: bool | None = None) -> FakeFit:
        if reml is None or bool(reml) == self.reml:
            return self
        return self._other["fit"]


def fake_fit(model_id: str, method: str = "REML") -> FakeFit:
    """A :class:`FakeFit` from the reference JSON (``refit`` switches to the other method)."""
    ref = lme4_reference()["models"][model_id]

    def build(m: str) -> FakeFit:
        fit = ref[m]
        return FakeFit(
            formula=ref["formula"], reml=(m == "REML"), loglik=fit["loglik"],
            n_params=int(fit["loglik_df"]), n_obs=int(fit["nobs"]),
            fixed_effects=pd.Series(fit["fixef"], index=fit["fixef_names"], dtype=float),
            variance_components=varcorr_series(fit),
        )

    this, other = build(method), build("ML" if method == "REML" else "REML")
    this._other["fit"] = other
    other._other["fit"] = this
    return this


def design_matrix(model_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fixed design with lme4's column names, data) for a reference model.

    Built with plain numpy/pandas (treatment coding, as R's default
    contrasts), not with the package under test.
    """
    ref = lme4_reference()["models"][model_id]
    data = mixed_data(ref["dataset"])
    names = ref["REML"]["fixef_names"]
    cols = {}
    for name in names:
        if name == "(Intercept)":
            cols[name] = np.ones(len(data))
        elif name.startswith("cat"):
            cols[name] = (data["cat"] == name[3:]).astype(float).to_numpy()
        else:
            parts = name.split(":")
            cols[name] = np.prod([data[p].to_numpy(dtype=float) for p in parts], axis=0)
    return pd.DataFrame(cols, index=data.index), data


def mixed_fit(formula: str, data: pd.DataFrame, **kwargs: Any) -> Any:
    """``teamculture.mixed`` with its warnings checked: a BoundaryWarning exactly when the fit is singular,
    a ConvergenceWarning exactly when it did not converge, and nothing else."""
    import warnings

    import teamculture as tc
    from teamculture.errors import BoundaryWarning, ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = tc.mixed(formula, data, **kwargs)
    kinds = [w.category for w in caught]
    assert (BoundaryWarning in kinds) == bool(fit.singular), [str(w.message) for w in caught]
    assert (ConvergenceWarning in kinds) == (not fit.converged), [str(w.message) for w in caught]
    others = [w for w in caught if w.category not in (BoundaryWarning, ConvergenceWarning)]
    assert not others, [(w.category.__name__, str(w.message)) for w in others]
    return fit
