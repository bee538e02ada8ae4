"""Multilevel (linear mixed) models for staff in teams in trusts, with lme4's formula syntax.

:func:`~teamculture.mixed` fits ``y ~ x + (1 | trust/team)``-style models by REML or ML and
returns a :class:`~teamculture.MixedResult` (Satterthwaite tests, BLUPs, ICCs,
``r_squared()``, ``compare()``). :func:`~teamculture.center` builds grand-mean and
within-cluster centred predictors; :func:`~teamculture.r_squared` (Nakagawa-Schielzeth and
Rights-Sterba), :func:`~teamculture.compare` (likelihood-ratio tests with the boundary
correction), :func:`~teamculture.standardized_coefficients` and :func:`~teamculture.local_f_squared`
work on fitted models.

The exact nested engine is also usable in two steps, so that the only pass
over the rows can be done by any dataframe engine: :func:`~teamculture.multilevel.nested_suffstats`
(data to per-cluster sums, :class:`~teamculture.multilevel.NestedSuffStats`), then
:class:`~teamculture.multilevel.NestedModel` (sums to the REML/ML fit, :class:`~teamculture.multilevel.NestedFit`).

:func:`~teamculture.glmm` fits generalised linear mixed models for yes/no and count
outcomes (binomial logit/probit, Poisson log) with nested random intercepts,
by the Laplace approximation or nested adaptive Gauss-Hermite quadrature,
returning a :class:`~teamculture.GLMMResult`.
"""

from teamculture.multilevel._centering import center
from teamculture.multilevel._compare import CompareResult, compare
from teamculture.multilevel._effect_sizes import local_f_squared, standardized_coefficients
from teamculture.multilevel._engine import NestedFit, NestedModel
from teamculture.multilevel._formula import ParsedFormula, RandomTerm, parse_formula
from teamculture.multilevel._glmm import GLMMCompareResult, GLMMResult, glmm
from teamculture.multilevel._mixed import mixed
from teamculture.multilevel._r2 import R2Result, r_squared
from teamculture.multilevel._results import MixedResult
from teamculture.multilevel._suffstats import NestedSuffStats, nested_suffstats

__all__ = [
    "mixed", "MixedResult", "center", "r_squared", "R2Result", "compare", "CompareResult",
    "standardized_coefficients", "local_f_squared",
    "parse_formula", "ParsedFormula", "RandomTerm",
    "nested_suffstats", "NestedSuffStats", "NestedModel", "NestedFit",
    "glmm", "GLMMResult", "GLMMCompareResult",
]
