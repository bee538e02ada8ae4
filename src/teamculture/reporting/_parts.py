"""The model-table protocol: what :func:`teamculture.model_table` reads from a fitted model (private; public as
:class:`teamculture.reporting.ModelParts`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from teamculture.results import COEF_COLUMNS, _equal

__all__ = ["ModelParts", "RANDOM_COLUMNS", "LINKS"]

#: Columns of :attr:`ModelParts.random`: R's ``as.data.frame(VarCorr(fit))``.
RANDOM_COLUMNS: tuple[str, ...] = ("grp", "var1", "var2", "vcov", "sdcor")

#: Links a model may declare; ``"log"`` and ``"logit"`` coefficients are exponentiated by default.
LINKS: tuple[str, ...] = ("identity", "log", "logit", "probit")


@dataclass(frozen=True, eq=False)
class ModelParts:
    """What :func:`teamculture.model_table` reads from one fitted model.

    A fitted model joins the paper table by having a method
    ``model_parts()`` that returns one of these (the model-table protocol).
    :class:`~teamculture.multilevel.MixedResult` and
    :class:`~teamculture.outcomes.OutcomeFit` have it, and
    :class:`~teamculture.multilevel.GLMMResult` is read the same way; a new
    model class plugs in with such a method, with no change to
    :func:`~teamculture.model_table`. Everything but ``coefficients`` has a
    default meaning "does not apply" (a blank cell in the table).

    Attributes
    ----------
    coefficients : pandas.DataFrame
        Fixed effects indexed by term, with the float columns of
        :data:`teamculture.results.COEF_COLUMNS` (``estimate``,
        ``std_error``, ``statistic``, ``df`` (``inf`` for z tests),
        ``pvalue``, ``ci_low``, ``ci_high``) on the link scale.
    link : {"identity", "log", "logit", "probit"}
        Scale of the coefficients; log and logit coefficients are shown
        exponentiated (rate or odds ratios) unless the table says otherwise;
        identity and probit coefficients never are.
    ratio_name : str
        Column heading for exponentiated coefficients (default ``"IRR"`` for
        a log link, ``"OR"`` for a logit link).
    description : str
        What the model is (``"Linear mixed model"``, ``"Quasi-Poisson GLM"``).
    outcome : str
        The dependent variable.
    confidence_level : float
        Level of ``ci_low``/``ci_high``.
    random : pandas.DataFrame
        Random part in the layout of R's ``as.data.frame(VarCorr(fit))``
        (columns ``grp``, ``var1``, ``var2`` (empty
        string except on correlation rows), ``vcov``, ``sdcor``; the residual
        row has ``grp == "Residual"``); empty for models without one.
    n_obs : int or None
        Observations.
    n_groups : mapping of str to int
        Groups per grouping factor (or trusts of a panel).
    vpc : mapping of str to float
        Variance partition coefficient per grouping factor (random
        intercept models).
    r2_marginal, r2_conditional : float
        Nakagawa-Schielzeth R² of a mixed model (NaN where not defined).
    r2 : float
        R² of a linear model (NaN where not defined).
    loglik, aic, bic : float
        Log-likelihood and information criteria as R reports them (NaN where
        the model has no likelihood, e.g. quasi-Poisson).
    n_params : int or None
        Parameters counted by the log-likelihood's degrees of freedom.
    method : str
        Estimation method (``"REML"``, ``"ML"``, ``"quasi-likelihood"``, ...).
    tests : str
        How ``pvalue`` was computed (``"t (Satterthwaite df)"``, ``"z"``).
    converged : bool
        Whether the fit converged (False is shown as a note).
    singular : bool
        Whether a variance is at its boundary (shown as a note).
    notes : tuple of str
        Further lines for the table's notes.
    """

    coefficients: pd.DataFrame
    link: str = "identity"
    ratio_name: str = ""
    description: str = ""
    outcome: str = ""
    confidence_level: float = 0.95
    random: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(RANDOM_COLUMNS)))
    n_obs: int | None = None
    n_groups: Mapping[str, int] = field(default_factory=dict)
    vpc: Mapping[str, float] = field(default_factory=dict)
    r2_marginal: float = math.nan
    r2_conditional: float = math.nan
    r2: float = math.nan
    loglik: float = math.nan
    aic: float = math.nan
    bic: float = math.nan
    n_params: int | None = None
    method: str = ""
    tests: str = ""
    converged: bool = True
    singular: bool = False
    notes: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_equal(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self))

    __hash__ = None  # type: ignore[assignment]


def check_parts(parts: Any, name: str) -> ModelParts:
    """Validate what a model's ``model_parts()`` returned (a clear error for a broken plug-in)."""
    if not isinstance(parts, ModelParts):
        raise TypeError(f"`models`: {name}.model_parts() must return a teamculture.reporting.ModelParts; got "
                        f"{type(parts).__name__}.")
    coefs = parts.coefficients
    if not isinstance(coefs, pd.DataFrame) or list(coefs.columns)[:len(COEF_COLUMNS)] != list(COEF_COLUMNS):
        raise ValueError(f"`models`: the coefficients of {name} must be a DataFrame with the columns "
                         f"{list(COEF_COLUMNS)}.")
    if parts.link not in LINKS:
        raise ValueError(f"`models`: the link of {name} must be one of {list(LINKS)}; got {parts.link!r}.")
    random = parts.random
    if not isinstance(random, pd.DataFrame) or (len(random) and list(random.columns) != list(RANDOM_COLUMNS)):
        raise ValueError(f"`models`: the random part of {name} must be a DataFrame with the columns "
                         f"{list(RANDOM_COLUMNS)} (R's as.data.frame(VarCorr(fit))).")
    return parts
