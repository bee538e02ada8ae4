"""Demo stage "agreement": can engagement be aggregated to teams and trusts?

Stores for later stages in ``ctx.results``:

``team_agreement``
    The :class:`~teamculture.AggregateResult` of the nine
    engagement items by team (n, mean, sd, rwg(j), r*wg(j), awg, AD, flags).
``engagement_icc``
    The three-level ANOVA :class:`~teamculture.ICCResult` of the
    staff engagement item mean (trust > team).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from teamculture._demo import stage
from teamculture.aggregation import aggregate, icc, rwg_j_sim
from teamculture.errors import DroppedDataWarning, SmallGroupWarning
from teamculture.simulate import ENGAGEMENT_ITEMS

_ITEMS = list(ENGAGEMENT_ITEMS)


def _figure_agreement(plt, agg, sim):
    from teamculture.plotting import plot_agreement

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    plot_agreement(agg, statistic="rwg", critical_value=sim, ax=axes[0])
    plot_agreement(agg, statistic="ad", cutoff=5 / 6, ax=axes[1])  # c/6 on the 5-point items
    return fig


def _figure_partition(plt, three, latent):
    from teamculture.plotting import plot_variance_partition

    fig, ax = plt.subplots(figsize=(7.5, 2.9), layout="constrained")
    plot_variance_partition({"engagement item mean": three, "latent engagement": latent}, ax=ax)
    return fig


@stage
def run(ctx) -> None:
    survey = ctx.survey
    staff = survey.staff
    p = survey.params
    t0 = time.perf_counter()
    # complete cases per scale (R multilevel 2.7's rule); the counts (staff left out, teams with fewer than
    # two complete members and so no agreement value) are reported, not warned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedDataWarning)
        warnings.simplefilter("ignore", SmallGroupWarning)
        agg = aggregate(staff, {"engagement": _ITEMS}, by="team", scale=(1, 5))
    t_agg = time.perf_counter() - t0
    t = agg.table
    rwg = t["engagement_rwg"]
    ctx.say(
        f"agreement of {len(staff):,} staff in {len(t):,} teams on the 9 engagement items "
        f"(rwg(j), r*wg(j), awg, AD, n/mean/sd, ICCs) in {t_agg:.2f} s; "
        f"{agg.n_dropped:,} staff with a missing item left out (complete cases)"
        + (f"; {int(t['engagement_rwg'].isna().sum()):,} teams with fewer than two complete members have no "
           "agreement value" if t["engagement_rwg"].isna().any() else "")
    )
    ctx.say(
        f"rwg(j) (uniform null): median {rwg.median():.3f}, {np.mean(rwg >= 0.70):.1%} of teams >= .70; "
        f"r*wg(j) median {t['engagement_rwg_lindell'].median():.3f}; awg(j) median "
        f"{t['engagement_awg'].median():.3f}"
    )
    ad = t["engagement_ad"]
    ctx.say(
        f"AD_M(j): median {ad.median():.3f} scale points, {np.mean(ad <= 5 / 6):.1%} of teams within "
        f"the c/6 = 0.833 practical cut-off"
    )
    # critical value of rwg(j) for a team of median size under a correlated null
    m = int(t["engagement_n"].median())
    sim = rwg_j_sim(max(m, 2), 9, (1, 5), item_corr=0.5, n_resamples=2000, rng=1)
    ctx.say(
        f"null rwg(j) for a team of {m} (9 items, item r = .5, 2,000 draws): 95th percentile "
        f"{sim.critical_value:.3f}; {np.mean(rwg > sim.critical_value):.1%} of teams exceed it"
    )
    i = agg.icc.loc["engagement"]
    ctx.say(
        f"item-mean engagement, team level: ICC(1) {i['icc1']:.3f}, ICC(2) {i['icc2']:.3f} "
        f"(mean team size {i['k']:.1f})"
    )
    t1 = time.perf_counter()
    score = staff[_ITEMS].mean(axis=1)  # mean of the answered items
    three = icc(score, staff[["trust", "team"]])
    latent = icc(staff["latent_engagement"], staff[["trust", "team"]])
    t_icc = time.perf_counter() - t1
    total = p.tau2_trust + p.tau2_team + p.sigma2
    ctx.say(
        f"three-level VPCs (nested ANOVA, {t_icc:.2f} s): item mean trust {three.vpc['trust']:.3f}, "
        f"team {three.vpc['team']:.3f}; latent engagement trust {latent.vpc['trust']:.3f}, team "
        f"{latent.vpc['team']:.3f} (simulated random-effect shares {p.tau2_trust / total:.3f} and "
        f"{p.tau2_team / total:.3f}; unconditional VPCs also hold the team-clustered real-team effect)"
    )
    ctx.say(
        f"design effect of team clustering {three.design_effect:.2f}: {three.n_obs:,} staff carry the "
        f"information of {three.effective_n:,.0f} independent respondents"
    )
    ctx.write_table("team_agreement", t)
    ctx.show("team agreement", agg.summary())
    ctx.show("three-level ICC", three.summary())
    ctx.draw("agreement_distribution",
             f"Agreement of each team on the nine engagement items: rwg(j) with LeBreton and Senter's bands, the .70 "
             f"convention and the 95th percentile of rwg(j) for teams of {m} answering at random; AD with c/6.",
             lambda plt: _figure_agreement(plt, agg, sim))
    ctx.draw("agreement_variance_partition",
             "Share of the variance between trusts, between teams within trusts and within teams (nested ANOVA).",
             lambda plt: _figure_partition(plt, three, latent))
    ctx.results["team_agreement"] = agg
    ctx.results["engagement_icc"] = three
