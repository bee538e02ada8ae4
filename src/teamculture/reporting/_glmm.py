"""What :func:`teamculture.model_table` reads from a :class:`~teamculture.multilevel.GLMMResult` (private).

An adapter in the reporting area rather than a method of the GLMM result, so that the GLMM area's files stay
its own; it reads only the result's public fields and methods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from teamculture.reporting._parts import RANDOM_COLUMNS, ModelParts

__all__ = ["glmm_parts"]


def _term(t: str) -> str:
    return "(Intercept)" if t in ("(Intercept)", "Intercept") else t


def _random(fit: Any) -> pd.DataFrame:
    """The random part of a GLMM in the layout of R's ``as.data.frame(VarCorr(fit))`` (no residual row: a GLMM
    has none on the link scale, as in lme4)."""
    v = fit.variance_components.astype(float)
    rows: list[dict[str, Any]] = []
    sds: dict[str, float] = {}
    for key, value in v.items():
        key = str(key)
        if "," in key:
            continue
        group, sep, term = key.partition("|")
        term = _term(term) if sep else "(Intercept)"
        sd = math.sqrt(max(float(value), 0.0))
        sds[f"{group}|{term}"] = sd
        rows.append({"grp": group, "var1": term, "var2": "", "vcov": float(value), "sdcor": sd})
    for key, value in v.items():
        key = str(key)
        if "," not in key:
            continue
        group, _, terms = key.partition("|")
        a, _, b = terms.partition(",")
        a, b = _term(a), _term(b)
        den = sds.get(f"{group}|{a}", math.nan) * sds.get(f"{group}|{b}", math.nan)
        corr = float(value) / den if den > 0 else math.nan
        rows.append({"grp": group, "var1": a, "var2": b, "vcov": float(value), "sdcor": corr})
    return pd.DataFrame(rows, columns=list(RANDOM_COLUMNS))


def glmm_parts(fit: Any) -> ModelParts:
    """The model-table protocol for a fitted GLMM: odds ratios (logit) or rate ratios (log) with Wald intervals,
    the random part on the link scale, latent-scale VPCs (binomial random-intercept models) and Nakagawa R²."""
    vpc: dict[str, float] = {}
    if fit.family == "binomial" and fit._Z is None:
        icc = fit.icc()
        vpc = {str(k): float(x) for k, x in icc["vpc"].items() if k != "residual"}
    try:
        r2 = fit.r_squared()
        r2m, r2c = float(r2["marginal"]), float(r2["conditional"])
    except ValueError:  # separation, or Poisson with random slopes: not defined
        r2m = r2c = math.nan
    notes = []
    if not fit.converged:
        notes.append("the optimiser did not confirm the maximum (see the model's summary())")
    if fit.singular:
        notes.append("singular fit: a random-effects variance at zero (or a correlation at +-1); the data cannot "
                     "separate that part of the random structure, so report it as a boundary estimate or simplify "
                     "the random part")
    infinite = [str(t) for t, e in fit.coefficients["estimate"].items() if not np.isfinite(e)]
    if infinite:
        notes.append(f"infinite estimates (separation): {', '.join(infinite)}")
    if vpc:
        notes.append("VPC on the latent scale (residual variance " + ("pi^2/3, logit link)" if fit.link == "logit" else
                                                                       "1, probit link)"))
    method = "ML, Laplace" if fit.method == "Laplace" else f"ML, AGQ ({', '.join(map(str, fit.nagq))} points)"
    family = {"binomial": "Logistic" if fit.link == "logit" else "Probit", "poisson": "Poisson"}.get(
        fit.family, fit.family)
    return ModelParts(
        coefficients=fit.coefficients, link=str(fit.link),
        ratio_name={"logit": "OR", "log": "IRR"}.get(fit.link, ""),
        description=f"{family} mixed model", outcome=str(fit.formula).split("~", 1)[0].strip(),
        confidence_level=float(fit.confidence_level), random=_random(fit), n_obs=int(fit.n_obs),
        n_groups={str(k): int(x) for k, x in fit.n_groups.items()}, vpc=vpc, r2_marginal=r2m, r2_conditional=r2c,
        loglik=float(fit.loglik), aic=float(fit.aic), bic=float(fit.bic), n_params=int(fit.n_params), method=method,
        tests="z (Wald)", converged=bool(fit.converged), singular=bool(fit.singular), notes=tuple(notes),
    )
