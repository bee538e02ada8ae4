"""
Real teams and staff outcomes: odds ratios from multilevel logistic models
==========================================================================

The "24-karat" comparison (Lyubovnikova, West, Dawson & Carter 2015): are
staff in pseudo teams, or in no team, more likely than staff in real teams to
witness errors, be injured, feel unwell from stress, be harassed or think of
leaving? Each outcome is a yes/no answer of a member of staff in a team in a
trust, so each gets a multilevel logistic model
``outcome ~ team_type + tenure + (1 | trust/team)``
(:func:`teamculture.multilevel.glmm`). The outcomes are simulated from known
odds ratios, drawn as crosses, so we can see whether the intervals cover them.
"""

# %%
import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
import numpy as np
import pandas as pd

import teamculture as tc
from teamculture._simulate_outcomes import DEFAULT_OUTCOMES, outcome_truth, staff_outcomes
from teamculture.multilevel import glmm

sim = tc.national_survey(n_trusts=60, n_teams=1500, n_staff=30_000, rng=24)
answers = staff_outcomes(sim.staff, rng=24, missing_rate=0.0)
base = sim.staff.assign(tenure_c=sim.staff["tenure"] - 8.0)
truth = outcome_truth()
print(sim)

# %%
# One model per outcome; the contrasts give the odds ratios of pseudo-team and
# no-team staff versus staff in real teams, with Wald 95% intervals, and the
# median odds ratio says how much the odds differ between teams.
rows = []
for m in DEFAULT_OUTCOMES:
    fit = glmm("y ~ team_type + tenure_c + (1 | trust/team)", base.assign(y=(answers[m.item] == 1).astype(float)))
    c = fit.contrasts("team_type", pairs=[("pseudo", "real"), ("none", "real")])
    mor = fit.median_odds_ratio()
    for pair, true in (("pseudo vs real", m.or_pseudo), ("none vs real", m.or_none)):
        rows.append({"outcome": m.label.split(" (")[0], "contrast": pair, "or": c.loc[pair, "ratio"],
                     "low": c.loc[pair, "ratio_ci_low"], "high": c.loc[pair, "ratio_ci_high"], "truth": true,
                     "mor_team": mor.loc["trust:team", "estimate"]})
table = pd.DataFrame(rows)
print(table.round(2).to_string(index=False))

# %%
# A forest plot: estimates with intervals, the truth as a cross.
fig, ax = plt.subplots(figsize=(9.5, 5.2), layout="constrained")
y = np.arange(len(table))[::-1]
colours = np.where(table["contrast"] == "pseudo vs real", "tab:orange", "tab:blue")
ax.errorbar(table["or"], y, xerr=[table["or"] - table["low"], table["high"] - table["or"]], fmt="none",
            ecolor=colours, elinewidth=2)
ax.scatter(table["or"], y, c=colours, zorder=3, label="estimate, 95% CI")
ax.scatter(table["truth"], y, marker="x", color="black", zorder=4, label="truth")
ax.axvline(1.0, color="grey", lw=0.8)
ax.set_yticks(y, [f"{o}: {c}" for o, c in zip(table["outcome"], table["contrast"])], fontsize=8)
ax.set_xscale("log")
ax.xaxis.set_major_locator(FixedLocator([0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0]))
ax.xaxis.set_major_formatter(ScalarFormatter())  # 0.9, not 9 x 10^-1
ax.xaxis.set_minor_locator(NullLocator())
ax.set_xlabel("odds ratio versus staff in real teams (log scale)")
ax.set_title("Staff outcomes by team type (multilevel logistic models)", fontsize=10)
fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
plt.show()

# %%
# How much do teams matter? The median odds ratio between two teams of the same
# trust is about 1.5 for every outcome: as large as the effect of working in a
# pseudo team, although the latent-scale VPC of teams is only about 5%.
fit = glmm("y ~ team_type + tenure_c + (1 | trust/team)",
           base.assign(y=(answers["out_error"] == 1).astype(float)))
print(fit.icc().round(3))
print(fit.median_odds_ratio().round(2))
print(truth.loc["out_error", ["mor_trust", "mor_team", "vpc_team"]].round(3))

# %%
# Profile-likelihood intervals for the two standard deviations (lme4's
# ``confint(fit, method = "profile")``), and the 60 trusts and the teams of the
# error model as caterpillar plots on the log-odds scale: the conditional modes
# of the random intercepts with their conditional 95% intervals.
print(fit.variance_intervals().table[["estimate", "ci_low", "ci_high"]].round(3))
fig, axes = plt.subplots(1, 2, figsize=(11, 6), layout="constrained")
tc.plot_random_effects(fit, factor="trust", ax=axes[0], label_groups=False)
tc.plot_random_effects(fit, factor="team", ax=axes[1])
plt.show()
