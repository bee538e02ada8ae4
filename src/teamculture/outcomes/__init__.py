"""Trust outcomes: mortality models, panels, SMRs and funnel plots, deaths per year.

- Models of trust-level outcomes against culture measures:
  :func:`~teamculture.mortality_glm` (Poisson, quasi-Poisson or negative binomial counts of
  deaths with a log expected-deaths offset), :func:`~teamculture.smr_regression` (least
  squares on the SMR) and :func:`~teamculture.panel_regression` (trusts over survey years:
  within, random and between estimators), all returning :class:`~teamculture.OutcomeFit`.
- Standardised mortality ratios and funnel plots: :func:`~teamculture.smr` (exact Garwood or
  Byar intervals) and :func:`~teamculture.funnel_limits` (:class:`~teamculture.FunnelResult`, with the
  SHMI and CQC variants and over-dispersion).
- From a coefficient to the statement a board reads: :func:`~teamculture.share_effect`
  (:class:`~teamculture.ShareEffect`: Δ points of staff in real teams → % change in
  mortality → deaths per year), and the reverse steps
  :func:`~teamculture.implied_coefficient`, :func:`~teamculture.implied_expected_deaths`,
  :func:`~teamculture.se_from_pvalue`.
"""

from teamculture.outcomes._funnel import FLAG_CATEGORIES, FunnelResult, funnel_limits, smr
from teamculture.outcomes._models import OutcomeFit, mortality_glm, panel_regression, smr_regression
from teamculture.outcomes._translate import (
    ShareEffect,
    implied_coefficient,
    implied_expected_deaths,
    se_from_pvalue,
    share_effect,
)

__all__ = [
    "mortality_glm", "smr_regression", "panel_regression", "OutcomeFit",
    "smr", "funnel_limits", "FunnelResult", "FLAG_CATEGORIES",
    "share_effect", "ShareEffect", "implied_coefficient", "implied_expected_deaths", "se_from_pvalue",
]
