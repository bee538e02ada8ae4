"""Demo stage "outcomes": trust mortality against the real-team share, in deaths per year.

Uses ``ctx.results["trust_scores"]["real_team_pct"]`` when the scoring stage
stored it (else the simulator's trust table, which applies the same rule),
fits the trust mortality models, compares the slope with the simulator's
truth, translates it into deaths per year for an average trust, and flags
trusts on an SMR funnel plot. Stores ``ctx.results["mortality_fit"]`` (the
quasi-Poisson :class:`~teamculture.outcomes.OutcomeFit`) and
``ctx.results["mortality_effect"]`` (the :class:`~teamculture.outcomes.ShareEffect`).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from teamculture._demo import stage
from teamculture.outcomes import funnel_limits, mortality_glm, panel_regression, share_effect


def _trust_table(ctx) -> tuple[pd.DataFrame, str]:
    trusts = ctx.survey.trusts
    scores = ctx.results.get("trust_scores")
    if isinstance(scores, pd.DataFrame) and "real_team_pct" in scores.columns:
        share = scores["real_team_pct"].reindex(trusts.index)
        source = "scored by the scoring stage"
    else:
        share = trusts["real_team_pct"]
        source = "from the simulator's trust table"
    table = pd.DataFrame(
        {
            "real_team_pct": share.astype(float),
            "expected_deaths": trusts["expected_deaths"],
            "observed_deaths": trusts["observed_deaths"],
        },
        index=trusts.index,
    )
    return table, source


@stage
def run(ctx) -> None:
    t0 = time.perf_counter()
    survey = ctx.survey
    p = survey.params
    table, source = _trust_table(ctx)
    center = {"real_team_pct": p.share_center}
    beta = p.mortality_beta

    quasi = mortality_glm(table, predictors="real_team_pct", family="quasipoisson", center_at=center)
    pois = mortality_glm(table, predictors="real_team_pct", family="poisson", center_at=center)
    negbin = mortality_glm(table, predictors="real_team_pct", family="negbin", center_at=center)
    within = panel_regression(survey.panel, predictors="real_team_pct", outcome="smr", log_outcome=True)
    elapsed = time.perf_counter() - t0

    q = quasi.coefficients.loc["real_team_pct"]
    ctx.say(
        f"{len(table):,} trusts, real-team share {source} "
        f"({table['real_team_pct'].min():.1f}-{table['real_team_pct'].max():.1f}%; "
        f"4 models fitted in {elapsed:.2f} s)"
    )
    ctx.say(
        f"log mortality per percentage point in real teams (quasi-Poisson, offset log E): "
        f"{q['estimate']:.5f} (95% CI {q['ci_low']:.5f} to {q['ci_high']:.5f}); truth {beta:.5f} "
        f"({'inside' if q['ci_low'] <= beta <= q['ci_high'] else 'OUTSIDE'} the interval)"
    )
    pse = pois.coefficients.loc["real_team_pct", "std_error"]
    nb = negbin.coefficients.loc["real_team_pct"]
    ctx.say(
        f"over-dispersion: Pearson dispersion {quasi.dispersion:.2f}, so plain Poisson SEs are "
        f"{math.sqrt(quasi.dispersion):.2f}x too small (SE {pse:.5f} vs {q['std_error']:.5f}); "
        f"negative binomial {nb['estimate']:.5f} (SE {nb['std_error']:.5f}, alpha {negbin.nb_alpha:.4f})"
    )
    w = within.coefficients.loc["real_team_pct"]
    ctx.say(
        f"within-trust panel ({within.n_obs:,} trust-years, trust and year effects, clustered SEs): "
        f"{w['estimate']:.5f} (95% CI {w['ci_low']:.5f} to {w['ci_high']:.5f})"
    )

    e_avg = float(table["expected_deaths"].mean())
    eff = quasi.effect("real_team_pct", delta=5, expected_deaths=e_avg)
    truth = share_effect(beta, se=0.0, delta=5, expected_deaths=e_avg)
    ci = eff.confidence_interval()
    ctx.say(
        f"+5 points of staff in real teams: {eff.percent_change:+.2f}% mortality "
        f"(95% CI {ci.loc['percent_change', 'ci_low']:+.2f}% to {ci.loc['percent_change', 'ci_high']:+.2f}%; "
        f"truth {truth.percent_change:+.2f}%)"
    )
    ctx.say(
        f"for an average trust ({e_avg:,.0f} expected deaths a year): {eff.deaths:+.1f} deaths per year "
        f"(95% CI {ci.loc['deaths_per_year', 'ci_low']:+.1f} to {ci.loc['deaths_per_year', 'ci_high']:+.1f}; "
        f"truth {truth.deaths:+.1f})"
    )
    ctx.results["mortality_fit"] = quasi
    ctx.results["mortality_effect"] = eff

    out = table.assign(smr=table["observed_deaths"] / table["expected_deaths"], fitted_deaths=quasi.fitted)
    funnel = funnel_limits(table["observed_deaths"], table["expected_deaths"], method="shmi",
                           overdispersion="additive")
    flags = funnel.table["flag"].value_counts()
    high = int(flags.get("high_alarm", 0))
    low = int(flags.get("low_alarm", 0))
    alert = int(flags.get("high_alert", 0) + flags.get("low_alert", 0))
    ctx.say(
        f"SMR funnel (SHMI method, additive over-dispersion tau = {math.sqrt(funnel.tau2):.3f}): "
        f"{high} high and {low} low outliers beyond 99.8%, {alert} more beyond 95%"
    )
    # the same funnel against the deaths expected given each trust's real-team share
    adjusted = funnel_limits(table["observed_deaths"], quasi.fitted, method="shmi", overdispersion="additive")
    aflags = adjusted.table["flag"].value_counts()
    n_alarm = int(aflags.get("high_alarm", 0) + aflags.get("low_alarm", 0))
    delta = survey.trusts["true_mortality_effect"].reindex(adjusted.table.index)
    r = float(np.corrcoef(adjusted.table["z"], delta)[0, 1])
    ctx.say(
        f"against deaths expected given the real-team share: {n_alarm} trusts beyond 99.8%; their z-scores "
        f"correlate {r:.2f} with the simulator's true trust effects"
    )
    out = out.assign(flag=funnel.table["flag"], flag_adjusted=adjusted.table["flag"])
    ctx.write_table("trust_outcomes", out)
    ctx.write_table("mortality_model", quasi.coefficients)

    ctx.show("quasi-Poisson mortality model", quasi.summary())
    ctx.show("funnel flags (SMR against expected deaths)", funnel.summary())
    ctx.draw("outcomes_mortality",
             "Trust SMRs against the share of staff in real teams, with the quasi-Poisson fit and the simulated "
             "truth; funnel plot of the SMRs with limits allowing for over-dispersion.",
             lambda plt: _figure_mortality(plt, out, quasi, q, p, funnel))
    ctx.draw("outcomes_funnel_adjusted",
             "Funnel plot against the deaths expected given each trust's real-team share (the model's fitted deaths).",
             lambda plt: _figure_adjusted(plt, adjusted))


def _figure_mortality(plt, out, quasi, q, p, funnel):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    ax = axes[0]
    ax.scatter(out["real_team_pct"], out["smr"], s=10, color="0.4")
    grid = np.linspace(out["real_team_pct"].min(), out["real_team_pct"].max(), 100)
    b0 = quasi.coefficients.loc["Intercept", "estimate"]
    ax.plot(grid, np.exp(b0 + q["estimate"] * (grid - p.share_center)), color="tab:red", label="quasi-Poisson fit")
    ax.plot(grid, np.exp(p.mortality_intercept + p.mortality_beta * (grid - p.share_center)), color="k", ls="--",
            label="truth")
    ax.set_xlabel("staff in real teams (%)")
    ax.set_ylabel("SMR (observed / expected deaths)")
    ax.set_title("Mortality against the real-team share", fontsize=10)
    ax.legend(frameon=False)
    funnel.plot(ax=axes[1])
    return fig


def _figure_adjusted(plt, adjusted):
    fig, ax = plt.subplots(figsize=(6.8, 4.4), layout="constrained")
    adjusted.plot(ax=ax)
    ax.set_xlabel("deaths expected given the real-team share")
    return fig
