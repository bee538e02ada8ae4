"""Demo stage "multilevel": a three-level model of engagement.

Fits ``engagement ~ real + tenure + (1 | trust/team)`` (REML, exact nested
engine) on the scoring stage's staff engagement score when
``ctx.results["staff_scores"]`` exists, else on the simulator's
``latent_engagement`` (said so in the report); then fits the same model to
``latent_engagement``, whose generating values are known, and compares.
Stores ``ctx.results["engagement_fit"]`` (the :class:`MixedResult`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from teamculture._demo import stage
from teamculture.errors import DroppedDataWarning
from teamculture.multilevel import mixed


def _frame(ctx) -> tuple[pd.DataFrame, str]:
    staff = ctx.survey.staff
    scores = ctx.results.get("staff_scores")
    frame = pd.DataFrame({
        "trust": staff["trust"],
        "team": staff["team"],
        "tenure": staff["tenure"],
        "latent": staff["latent_engagement"],
    })
    if scores is not None and "engagement" in scores:
        frame["engagement"] = scores["engagement"].to_numpy(dtype=float)
        team_type = scores["team_type"] if "team_type" in scores else staff["team_type"]
        source = "staff engagement score (0-10) from the scoring stage"
    else:
        frame["engagement"] = staff["latent_engagement"]
        team_type = staff["team_type"]
        source = "the simulator's latent engagement (no scoring-stage scores available)"
    frame["real"] = (team_type.astype(object).to_numpy() == "real").astype(float)
    return frame, source


def _fmt_fixed(fit, name: str, label: str) -> str:
    c = fit.coefficients.loc[name]
    return (f"{label} {c['estimate']:+.4f} (95% CI {c['ci_low']:+.4f} to "
            f"{c['ci_high']:+.4f}, Satterthwaite df {c['df']:,.0f})")


def _figure_random_effects(plt, fit):
    from teamculture.plotting import plot_random_effects

    factors = list(fit.random_effects)
    fig, axes = plt.subplots(1, len(factors), figsize=(5.5 * len(factors), 6.0), layout="constrained",
                             squeeze=False)
    for ax, factor in zip(axes[0], factors):
        plot_random_effects(fit, factor=factor, ax=ax)
    return fig


def _figure_partition(plt, fit, latent):
    from teamculture.plotting import plot_variance_partition

    fig, ax = plt.subplots(figsize=(7.5, 2.9), layout="constrained")
    plot_variance_partition({"engagement score": fit, "latent engagement": latent}, ax=ax)
    return fig


def _figure_diagnostics(plt, fit):
    from teamculture.plotting import plot_diagnostics

    return plot_diagnostics(fit)


@stage
def run(ctx) -> None:
    frame, source = _frame(ctx)
    p = ctx.survey.params
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # the dropped rows (staff without an engagement score) are counted in the report line
        warnings.simplefilter("ignore", DroppedDataWarning)
        fit = mixed("engagement ~ real + tenure + (1 | trust/team)", frame)
    t_fit = time.perf_counter() - t0
    ng = fit.n_groups
    ctx.say(
        f"engagement ~ real + tenure + (1 | trust/team), REML, {fit.engine} engine: {fit.n_obs:,} staff "
        f"({fit.n_dropped:,} dropped for missing values), {ng['trust:team']:,} teams, "
        f"{ng['trust']:,} trusts (fitted in {t_fit:.2f} s)"
    )
    ctx.say(f"outcome: {source}")
    pval = fit.coefficients.loc["real", "pvalue"]
    ptext = f"p = {pval:.2g}" if pval >= 1e-16 else "p < 1e-16"
    ctx.say(_fmt_fixed(fit, "real", "real-team membership:") + f", {ptext}")
    ctx.say(_fmt_fixed(fit, "tenure", "tenure (per year):"))
    icc = fit.icc()
    ctx.say(
        f"VPCs: trust {icc.loc['trust', 'vpc']:.1%}, team {icc.loc['trust:team', 'vpc']:.1%}, "
        f"staff {icc.loc['residual', 'vpc']:.1%}; ICC same team {icc.loc['trust:team', 'icc']:.1%}"
        + ("; singular fit" if fit.singular else "")
    )
    # the same model on the latent outcome, whose truth is known
    t0 = time.perf_counter()
    latent = mixed("latent ~ real + I(tenure - 8) + (1 | trust/team)", frame)
    t_latent = time.perf_counter() - t0
    total = p.tau2_trust + p.tau2_team + p.sigma2
    vc = latent.variance_components
    ci = latent.confidence_interval()
    covered = all(
        ci.loc[name, "ci_low"] <= value <= ci.loc[name, "ci_high"]
        for name, value in (("real", p.beta_real_team), ("I(tenure - 8)", p.beta_tenure))
    )
    ctx.say(
        f"check on the latent outcome ({t_latent:.2f} s): real {latent.fixed_effects['real']:+.4f} "
        f"(truth {p.beta_real_team:+.2f}), tenure {latent.fixed_effects['I(tenure - 8)']:+.5f} "
        f"(truth {p.beta_tenure:+.3f}); truth inside both 95% CIs: {'yes' if covered else 'NO'}"
    )
    ctx.say(
        f"  variances trust/team/staff {vc['trust']:.4f} / {vc['trust:team']:.4f} / {vc['residual']:.4f} "
        f"(truth {p.tau2_trust:.2f} / {p.tau2_team:.2f} / {p.sigma2:.2f}); VPCs "
        f"{vc['trust'] / vc.sum():.1%} / {vc['trust:team'] / vc.sum():.1%} "
        f"(truth {p.tau2_trust / total:.1%} / {p.tau2_team / total:.1%})"
    )
    ctx.results["engagement_fit"] = fit
    table = fit.to_frame()
    ctx.write_table("multilevel_fixed_effects", table)
    ctx.write_table("multilevel_variance_components", fit.icc())
    blup = fit.random_effects["trust"]
    r = np.corrcoef(blup["blup"].to_numpy(),
                    ctx.survey.trusts["true_effect"].loc[blup.index].to_numpy())[0, 1]
    ctx.say(f"trust BLUPs vs the simulated trust effects: r = {r:.2f}")
    ctx.show("three-level model", fit.summary())
    ctx.draw("multilevel_random_effects",
             "Caterpillar plots: conditional modes (BLUPs) of the trusts and of the teams within trusts, with 95% "
             "conditional intervals.", lambda plt: _figure_random_effects(plt, fit))
    ctx.draw("multilevel_variance_partition",
             "Residual variance shares at each level after real-team membership and tenure (REML).",
             lambda plt: _figure_partition(plt, fit, latent))
    ctx.draw("multilevel_diagnostics",
             "Residual diagnostics: conditional residuals against fitted values and normal quantiles; normal Q-Q "
             "plots of the trust and team effects.", lambda plt: _figure_diagnostics(plt, fit))
