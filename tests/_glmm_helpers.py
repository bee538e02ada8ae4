"""Shared helpers for the GLMM tests: load the committed lme4 oracles and map R's names to ours."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from teamculture.multilevel import glmm
from teamculture.multilevel._formula import _parse_formula
from teamculture.multilevel._glmm_data import prepare
from teamculture.multilevel._glmm_engine import GLMMEngine

from _reference import REFERENCE_DIR, load_json

GLMM_REF = load_json("glmm_lme4.json")
#: The random-intercept data sets (the random-slopes one, ``slopes``, has its own tests).
SETS = sorted(k for k in GLMM_REF if not k.startswith("_") and k != "slopes")


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "glmm_data" / f"{name}.csv")


def fixef_name(r_name: str) -> str:
    """lme4's ``(Intercept)``, ``team_typepseudo`` -> formulaic's ``Intercept``, ``team_type[T.pseudo]``."""
    n = r_name.replace("(Intercept)", "Intercept")
    for lv in ("pseudo", "real", "none"):
        if n == f"team_type{lv}":
            return f"team_type[T.{lv}]"
    return n


def group_key(name: str) -> frozenset[str]:
    """lme4's ``team:trust.(Intercept)`` and our ``trust:team`` -> the same set of factors."""
    return frozenset(name.replace(".(Intercept)", "").split(":"))


def fit(name: str, **kw: Any):
    ref = GLMM_REF[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits warn; asserted elsewhere
        return glmm(ref["formula_py"], data(name), family=ref["family"], link=ref["link"], **kw)


def engine(name: str) -> tuple[GLMMEngine, list[str], list[str]]:
    """The engine for a reference data set, with our fixed-effect and level names (outer first)."""
    ref = GLMM_REF[name]
    pr = prepare(_parse_formula(ref["formula_py"], allow_offset=True), data(name), ref["family"], None, None, "omit")
    eng = GLMMEngine(pr.X.to_numpy(), pr.k, pr.m, pr.offset, pr.codes, ref["family"], ref["link"])
    return eng, list(pr.X.columns), list(pr.level_names)


def r_params(name: str, which: str, columns: list[str], levels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """R's (beta, theta) of ``which`` ("" = the estimates, "probe_" = the probe) in our order."""
    ref = GLMM_REF[name]
    fnames = [fixef_name(n) for n in ref["fixef_names"]]
    tkeys = [group_key(n) for n in ref["theta_names"]]
    beta = np.array(ref[f"{which}beta" if which else "fixef"], dtype=float)
    theta = np.array(ref[f"{which}theta" if which else "theta"], dtype=float)
    return beta[[fnames.index(c) for c in columns]], theta[[tkeys.index(group_key(g)) for g in levels]]
