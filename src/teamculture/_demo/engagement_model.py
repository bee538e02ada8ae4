"""Demo stage "engagement_model": the King's Fund chain as a path and mediation model.

Simulates the chain antecedents -> engagement -> well-being -> outcomes with
known paths for as many trusts as the survey has
(:func:`teamculture.simulate.simulate_engagement`), then

- fits the serial chain to absence (trust data; bootstrap resampling trusts)
  and compares each indirect effect with the truth;
- fits mortality against expected deaths (quasi-Poisson, offset) through
  engagement, with Monte Carlo intervals;
- fits the multilevel version (staff-level antecedents and engagement,
  trust-level patient satisfaction), shows the within and between paths
  apart, and how far the conflated estimate (pooled staff slope times the
  between path) is from the truth.

Stores ``ctx.results["engagement_model"]`` (the serial-chain
:class:`~teamculture.mediation.MediationResult`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from teamculture._demo import stage
from teamculture.mediation import mediate
from teamculture.simulate import ANTECEDENTS, simulate_engagement


def _indirect_table(res, truth, outcome: str) -> pd.DataFrame:
    """The specific indirect effects on ``outcome`` with their intervals and the simulated truth."""
    ind = res.effects.xs("indirect", level="effect")[["estimate", "ci_low", "ci_high"]]
    t = truth.xs(outcome, level="outcome")["value"]
    return ind.assign(truth=[float(t.get((x, path), np.nan)) for x, path in ind.index])


def _figure_indirect(plt, table: pd.DataFrame, outcome: str):
    fig, ax = plt.subplots(figsize=(7.5, 0.3 * len(table) + 1.6), layout="constrained")
    y = np.arange(len(table))[::-1]
    est = table["estimate"].to_numpy()
    ax.errorbar(est, y, xerr=[est - table["ci_low"].to_numpy(), table["ci_high"].to_numpy() - est], fmt="o",
                color="tab:blue", ms=4, capsize=2, label="estimate, 95% bootstrap interval")
    ax.scatter(table["truth"], y, marker="x", color="k", zorder=3, label="simulated truth")
    ax.axvline(0, color="0.6", lw=1)
    ax.set_yticks(y, [f"{x}: {p}" for x, p in table.index], fontsize=8)
    ax.set_xlabel(f"indirect effect on {outcome}")
    ax.locator_params(axis="x", nbins=6)
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return fig


def _cover(res, truth, outcome: str) -> tuple[int, int]:
    t = truth.xs(outcome, level="outcome")["value"]
    inside = 0
    for (x, path), v in t.items():
        r = res.effects.loc[(x, "indirect", path)]
        inside += int(r["ci_low"] <= v <= r["ci_high"])
    return inside, len(t)


@stage
def run(ctx) -> None:
    survey = ctx.survey
    n_trusts = len(survey.trusts)
    seed = (survey.seed if survey.seed is not None else 0) + 13
    preds = list(ANTECEDENTS)
    t0 = time.perf_counter()
    sim = simulate_engagement(n_trusts=n_trusts, rng=seed)
    chain = mediate(sim.trusts, predictors=preds, mediators=[["engagement"], ["wellbeing"]], outcome="absence_rate",
                    n_resamples=999, rng=seed + 1)
    inside, total = _cover(chain, sim.indirect, "absence_rate")
    ctx.say(f"{n_trusts} trusts: {', '.join(preds)} -> engagement -> well-being -> absence "
            f"({time.perf_counter() - t0:.1f} s, 999 bootstrap resamples of trusts)")
    r = chain.effects.loc[("leadership", "indirect", "engagement -> wellbeing")]
    tv = sim.indirect.loc[("absence_rate", "leadership", "engagement -> wellbeing"), "value"]
    ctx.say(f"leadership -> engagement -> well-being -> absence: {r['estimate']:+.4f} (95% CI {r['ci_low']:+.4f} to "
            f"{r['ci_high']:+.4f}; truth {tv:+.4f}); {inside} of {total} indirect-effect intervals cover the truth")
    tot = chain.effects.xs("total indirect", level="effect")["estimate"]
    ctx.say("total indirect effects on absence (percentage points per SD): "
            + ", ".join(f"{x} {v:+.3f}" for (x, _), v in tot.items()))

    mort = mediate(sim.trusts, predictors=preds, mediators="engagement", outcome="observed_deaths",
                   family="quasipoisson", expected="expected_deaths", method="monte_carlo", n_resamples=5000,
                   rng=seed + 2)
    r = mort.effects.loc[("team_working", "indirect", "engagement")]
    tv = sim.indirect.loc[("observed_deaths", "team_working", "engagement"), "value"]
    ctx.say(f"mortality (quasi-Poisson, offset log expected deaths, dispersion {mort.dispersion:.2f}): team working "
            f"via engagement {100 * (np.exp(r['estimate']) - 1):+.2f}% deaths per SD (95% CI "
            f"{100 * (np.exp(r['ci_low']) - 1):+.2f}% to {100 * (np.exp(r['ci_high']) - 1):+.2f}%; truth "
            f"{100 * (np.exp(tv) - 1):+.2f}%)")

    # the correction of trust means for their sampling error needs many trusts: at least 150 here
    ml = simulate_engagement(n_trusts=max(n_trusts, 150), staff_per_trust=60, rng=seed + 3)
    res = mediate(ml.staff, predictors=preds, mediators="engagement", outcome="patient_satisfaction",
                  by=["trust", "team"], n_resamples=999, rng=seed + 4)
    w = res.paths.loc[("within", "engagement", "leadership"), "estimate"]
    b = res.paths.loc[("between", "engagement", "leadership"), "estimate"]
    ctx.say(f"multilevel ({len(ml.staff):,} staff in {len(ml.trusts)} trusts, trust-level patient satisfaction): "
            f"engagement on leadership within trusts {w:+.3f} (truth "
            f"{ml.paths.loc[('within: engagement', 'leadership'), 'value']:+.3f}), between trusts {b:+.3f} (truth "
            f"{ml.paths.loc[('between: engagement', 'leadership'), 'value']:+.3f}; trust means corrected for their "
            f"sampling error, reliability {res.reliability['icc2'].min():.2f}-{res.reliability['icc2'].max():.2f})")
    staff = ml.staff
    X = np.column_stack([np.ones(len(staff))] + [staff[x].to_numpy() for x in preds])
    pooled = np.linalg.lstsq(X, staff["engagement"].to_numpy(), rcond=None)[0][1]
    bb = res.paths.loc[("between", "patient_satisfaction", "engagement"), "estimate"]
    r = res.effects.loc[("leadership", "indirect", "engagement")]
    tv = ml.indirect.loc[("patient_satisfaction", "leadership", "engagement"), "value"]
    ctx.say(f"indirect effect of leadership on satisfaction: between-level {r['estimate']:+.3f} (95% CI "
            f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}; truth {tv:+.3f}); the conflated estimate "
            f"(pooled staff slope x between path) would be {pooled * bb:+.3f}")
    ctx.results["engagement_model"] = chain
    ctx.write_table("engagement_effects", chain.effects)
    ctx.write_table("engagement_paths", chain.paths)
    ctx.write_table("engagement_multilevel_paths", res.paths)
    indirect = _indirect_table(chain, sim.indirect, "absence_rate")
    ctx.show("serial chain to absence: indirect effects and the simulated truth", indirect)
    ctx.draw("engagement_indirect_effects",
             "Indirect effects of the five antecedents on absence through engagement, well-being and both (serial "
             "chain; 95% intervals from 999 bootstrap resamples of trusts) against the simulator's truth.",
             lambda plt: _figure_indirect(plt, indirect, "absence (percentage points per SD)"))
