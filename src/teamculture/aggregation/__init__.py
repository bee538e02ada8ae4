"""May we aggregate? Within-group agreement, non-independence and team-level tables.

Staff answer as individuals; culture is claimed for teams and organisations.
Before individual answers are averaged into a team score, the literature asks
two things (Bliese 2000; LeBreton & Senter 2008): do members of a team agree
(within-group agreement: :func:`~teamculture.rwg`, :func:`~teamculture.rwg_j`, :func:`~teamculture.rwg_j_lindell`,
:func:`~teamculture.awg`, :func:`~teamculture.ad_index`, with null distributions :func:`~teamculture.null_variance`,
:func:`~teamculture.rwg_sim`, :func:`~teamculture.rwg_j_sim`, :func:`~teamculture.ad_sim` and random-group
resampling :func:`~teamculture.rgr_agree`, :func:`~teamculture.pseudo_group_means`), and do teams
differ (non-independence: :func:`icc1`, :func:`icc2`, :func:`~teamculture.icc`,
:func:`~teamculture.design_effect`, :func:`~teamculture.waba`)? :func:`~teamculture.aggregate` answers both for
several variables at once and returns the team table.

Array style throughout: ``f(x_or_items, groups, *, ...)`` with one group
label per row (a two-column frame of labels for nested groups, outer first);
pandas inputs are matched by index label, never by position. The response
scale is ``scale`` (``(1, 5)``, a list of codes or a ResponseScale); codes
outside it are refused (``invalid="missing"`` sets them missing and counts
them). Missing data follow ``nan_policy`` and are counted.
"""

from teamculture.aggregation._aggregate import AGGREGATE_STATS, AggregateResult, aggregate
from teamculture.aggregation._agreement import (
    NULL_DISTRIBUTIONS,
    ad_index,
    awg,
    null_variance,
    rwg,
    rwg_j,
    rwg_j_lindell,
)
from teamculture.aggregation._icc import ICCResult, design_effect, icc, icc1, icc2
from teamculture.aggregation._nulls import NullSimulation, ad_sim, rwg_j_sim, rwg_sim
from teamculture.aggregation._resampling import RGRResult, plot_pseudo_group_means, pseudo_group_means, rgr_agree
from teamculture.aggregation._waba import WABAResult, waba

__all__ = [
    "rwg", "rwg_j", "rwg_j_lindell", "awg", "ad_index", "null_variance", "NULL_DISTRIBUTIONS",
    "rwg_sim", "rwg_j_sim", "ad_sim", "NullSimulation", "rgr_agree", "RGRResult", "pseudo_group_means",
    "plot_pseudo_group_means", "icc1", "icc2", "icc", "ICCResult", "design_effect", "waba", "WABAResult",
    "aggregate", "AggregateResult", "AGGREGATE_STATS",
]
