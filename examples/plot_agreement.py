"""
Can engagement be aggregated to teams?
======================================

Within-group agreement (rwg(j), AD) and non-independence (ICC(1), ICC(2),
three-level VPCs) of the nine engagement items in a simulated survey of
10,000 staff in 500 teams, with a simulated critical value for rwg(j) and
the random-group-resampling plot of real against pseudo-team means.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import teamculture as tc

staff = tc.national_survey("small", rng=2023).staff
eng = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]
# agreement on complete cases (R multilevel 2.7's rule): keep the staff who answered all nine items
complete = staff.dropna(subset=eng)
print(f"{len(staff) - len(complete):,} of {len(staff):,} staff skipped an item")

# %%
# Agreement per team under the uniform and the slight-skew null, and the
# 95th percentile of rwg(j) for a team of 20 answering at random (items
# correlated .5).
r_uni = tc.rwg_j(complete[eng], complete["team"], scale=(1, 5))
r_skew = tc.rwg_j(complete[eng], complete["team"], scale=(1, 5), null="slight_skew")
crit = tc.rwg_j_sim(20, 9, (1, 5), item_corr=0.5, n_resamples=2000, rng=1).critical_value
print(f"median rwg(j): uniform {r_uni['rwg_j'].median():.3f}, slight skew {r_skew['rwg_j'].median():.3f}")
print(f"null 95th percentile (n = 20): {crit:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(0.4, 1, 31)
ax.hist(r_uni["rwg_j"].dropna(), bins=bins, alpha=0.6, label="uniform null")
ax.hist(r_skew["rwg_j"].dropna(), bins=bins, alpha=0.6, label="slight-skew null")
ax.axvline(0.70, color="k", ls="--", lw=1, label=".70 convention")
ax.axvline(crit, color="C3", lw=1, label="simulated 95% null")
ax.set_xlabel("rwg(j) of the 9 engagement items")
ax.set_ylabel("teams")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %%
# Do teams differ? ICC(1), ICC(2) and the three-level variance partition of
# the item mean.
score = complete[eng].mean(axis=1)
res = tc.icc(score, complete[["trust", "team"]])
print(res.summary())

# %%
# Real team means spread more widely than the means of pseudo teams of the
# same sizes formed by shuffling staff (Bliese & Halverson 2002).
pg = tc.pseudo_group_means(score, complete["team"], n_resamples=50, rng=3)
ax = tc.plot_pseudo_group_means(pg)
ax.set_title("Engagement item mean: actual vs shuffled teams")
ax.figure.tight_layout()
plt.show()
