"""
The King's Fund engagement model as a mediation analysis
========================================================

Fit the chain antecedents -> engagement -> well-being -> absence for 200
simulated trusts with :func:`teamculture.mediation.mediate`, compare every
indirect effect and its bootstrap interval with the truth, look at the skewed
bootstrap distribution of a product of paths next to the symmetric
delta-method approximation, and separate within- and between-trust paths when
antecedents and engagement are measured on staff.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from teamculture.mediation import mediate
from teamculture.simulate import ANTECEDENTS, simulate_engagement

sim = simulate_engagement(n_trusts=200, rng=2023)
chain = mediate(sim.trusts, predictors=list(ANTECEDENTS), mediators=[["engagement"], ["wellbeing"]],
                outcome="absence_rate", n_resamples=2000, rng=2)
print(chain)

# %%
# Every specific indirect effect on absence (percentage points per SD of the
# antecedent) with its 95% bootstrap percentile interval; crosses mark the truth.
ind = chain.effects.xs("indirect", level="effect")
truth = sim.indirect.xs("absence_rate", level="outcome")["value"].reindex(ind.index)
fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
y = np.arange(len(ind))[::-1]
ax.errorbar(ind["estimate"], y, xerr=[ind["estimate"] - ind["ci_low"], ind["ci_high"] - ind["estimate"]], fmt="o",
            color="tab:blue", capsize=2, label="estimate, 95% bootstrap CI")
ax.scatter(truth, y, marker="x", color="k", zorder=3, label="truth")
ax.axvline(0, color="0.6", lw=1)
ax.set_yticks(y, [f"{x}: {p}" for x, p in ind.index])
ax.set_xlabel("indirect effect on absence")
ax.locator_params(axis="x", nbins=6)  # readable tick labels
ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
plt.show()

# %%
# The bootstrap distribution of one product of paths (work pressure ->
# well-being -> absence) is skewed; the delta-method interval assumes it is
# normal.
key = ("work_pressure", "indirect", "wellbeing")
draws = chain.draws[key]
row = chain.effects.loc[key]
fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
ax.hist(draws, bins=60, color="0.75", density=True)
grid = np.linspace(draws.min(), draws.max(), 200)
se = row["delta_std_error"]
ax.plot(grid, np.exp(-0.5 * ((grid - row["estimate"]) / se) ** 2) / (se * np.sqrt(2 * np.pi)), color="tab:red",
        label="delta-method normal")
for v in (row["ci_low"], row["ci_high"]):
    ax.axvline(v, color="tab:blue", ls="--", lw=1)
ax.axvline(truth.loc[("work_pressure", "wellbeing")], color="k", lw=1.5, label="truth")
ax.set_xlabel("indirect effect: work pressure -> well-being -> absence")
ax.legend(frameon=False)
plt.show()

# %%
# Staff-level antecedents and engagement, trust-level patient satisfaction:
# within-trust paths (deviations from trust means) and between-trust paths
# (trust means, corrected for their sampling error) are estimated apart. The
# simulator made the within slopes half the between slopes; the pooled
# staff-level slope mixes them.
ml = simulate_engagement(n_trusts=200, staff_per_trust=60, rng=2024)
res = mediate(ml.staff, predictors=list(ANTECEDENTS), mediators="engagement", outcome="patient_satisfaction",
              by=["trust", "team"], n_resamples=2000, rng=4)
between = res.paths.xs(("between", "engagement"), level=("level", "equation")).loc[list(ANTECEDENTS)]
within = res.paths.xs(("within", "engagement"), level=("level", "equation")).loc[list(ANTECEDENTS)]
X = np.column_stack([np.ones(len(ml.staff))] + [ml.staff[x].to_numpy() for x in ANTECEDENTS])
pooled = np.linalg.lstsq(X, ml.staff["engagement"].to_numpy(), rcond=None)[0][1:]
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
x = np.arange(len(ANTECEDENTS))
ax.errorbar(x - 0.15, between["estimate"], yerr=1.96 * between["std_error"], fmt="o", label="between trusts")
ax.errorbar(x + 0.15, within["estimate"], yerr=1.96 * within["std_error"], fmt="s", label="within trusts")
ax.scatter(x, pooled, marker="^", color="0.4", label="pooled staff slope (conflated)")
ax.scatter(x - 0.15, [ml.paths.loc[("between: engagement", a), "value"] for a in ANTECEDENTS], marker="x",
           color="k", zorder=3, label="truth")
ax.scatter(x + 0.15, [ml.paths.loc[("within: engagement", a), "value"] for a in ANTECEDENTS], marker="x",
           color="k", zorder=3)
ax.axhline(0, color="0.6", lw=1)
ax.set_xticks(x, [a.replace("_", "\n") for a in ANTECEDENTS])
ax.set_ylabel("path to engagement")
ax.legend(frameon=False, fontsize="small")
print(res.effects.xs("indirect", level="effect")[["estimate", "ci_low", "ci_high"]].round(3))
plt.show()
