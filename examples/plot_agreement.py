"""
May we aggregate? Agreement and ICCs of engagement
==================================================

Staff answer as individuals; culture is claimed for teams. Before the answers
of a team's members are averaged into a team score, two questions need an
answer (Bliese 2000; LeBreton & Senter 2008):

1. **Do members of a team agree?** Within-group agreement per team: rwg(j)
   against a null of random responding, and the average deviation AD.
2. **Do teams differ?** Non-independence: ICC(1), the reliability of team
   means ICC(2), and the share of the variance at each level.

Here on the nine engagement items of a simulated survey of 10,000 staff in
500 teams in 20 trusts, with :func:`teamculture.plot_agreement` and
:func:`teamculture.plot_variance_partition`.
"""

# %%
import matplotlib.pyplot as plt

import teamculture as tc

staff = tc.national_survey("small", rng=2023).staff
eng = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]
# agreement on complete cases (R multilevel 2.7's rule): the staff who answered all nine items
complete = staff.dropna(subset=eng)
print(f"{len(staff) - len(complete):,} of {len(staff):,} staff skipped an item")

# %%
# Agreement per team
# -------------------
# rwg(j) compares the observed item variances of a team with the variance
# expected if its members answered at random (the uniform null). Its
# distribution over teams is drawn against LeBreton and Senter's reading
# (lack of agreement ... very strong), the conventional .70, and the 95th
# percentile of rwg(j) for a team of typical size answering at random, with
# items correlated .5 (simulated): a team above it agrees more than chance.
r_uni = tc.rwg_j(complete[eng], complete["team"], scale=(1, 5))
size = int(r_uni["n"].median())
null = tc.rwg_j_sim(size, 9, (1, 5), item_corr=0.5, n_resamples=2000, rng=1)
print(null.summary())
ax = tc.plot_agreement(r_uni, critical_value=null)

# %%
# Which null?
# -----------
# The uniform null is the most lenient reading: real responses lean towards
# "agree", so random responding with a slight skew is a common sensitivity
# check. The same teams under both nulls, side by side:
r_skew = tc.rwg_j(complete[eng], complete["team"], scale=(1, 5), null="slight_skew")
print(f"median rwg(j): uniform {r_uni['rwg_j'].median():.3f}, slight skew {r_skew['rwg_j'].median():.3f}")
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
tc.plot_agreement(r_uni, critical_value=null, ax=axes[0])
axes[0].set_title("uniform null: " + axes[0].get_title(), fontsize=10)
tc.plot_agreement(r_skew, ax=axes[1])
axes[1].set_title("slight-skew null: " + axes[1].get_title(), fontsize=10)
axes[1].set_ylabel("")
plt.show()

# %%
# The average deviation AD_M(j) needs no null: members' mean absolute
# deviation from their team mean, in scale points. Burke and Dunlap's
# practical cut-off is c/6 for c response options (0.83 on a 5-point scale);
# smaller is more agreement.
ad = tc.ad_index(complete[eng], complete["team"], scale=(1, 5))
ax = tc.plot_agreement(ad)

# %%
# Do teams differ?
# ----------------
# ICC(1) is the share of the variance of an answer that lies between teams;
# ICC(2) the reliability of a team mean of this many members. A three-level
# nested ANOVA splits the variance of the engagement item mean between
# trusts, teams within trusts and staff within teams.
score = complete[eng].mean(axis=1)
res = tc.icc(score, complete[["trust", "team"]])
print(res.summary())
ax = tc.plot_variance_partition(res)

# %%
# The team table in one call
# --------------------------
# :func:`teamculture.aggregate` answers both questions for several variables
# and returns one row per team (n, mean, SD, rwg(j), r*wg(j), awg, AD and
# flags); the staff with a missing item are counted (and warned about).
agg = tc.aggregate(staff, {"engagement": eng}, by="team", scale=(1, 5))
print(agg.summary())
print(agg.table.head().round(3))

# %%
# Actual teams against shuffled teams
# -----------------------------------
# Random group resampling (Bliese & Halverson 2002): the means of the actual
# teams spread more widely than the means of pseudo teams of the same sizes
# formed by shuffling staff across teams.
pg = tc.pseudo_group_means(score, complete["team"], n_resamples=50, rng=3)
fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
tc.plot_pseudo_group_means(pg, ax=ax)
ax.set_title("Engagement item mean: actual vs shuffled teams", fontsize=10)
plt.show()
