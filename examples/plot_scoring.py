"""
Scoring engagement, leadership and real teams
=============================================

Score a simulated survey with three catalogue instruments —
the NHS staff-engagement theme (0-10), the compassionate-leadership sub-score
and the Aston real-team classification — then aggregate to trusts with
:func:`teamculture.score_groups`.
"""

# %%
import matplotlib.pyplot as plt

import teamculture as tc

sim = tc.simulate.national_survey("small", seed=2023)
staff = sim.staff
print(tc.instruments.get("nhs-engagement").summary())

# %%
# Respondent scores, aligned to the rows of ``staff``. The engagement score
# tracks the simulator's latent engagement closely.
eng = tc.score(staff, "nhs-engagement")
print(eng.describe().round(2))
print("r with latent truth:", round(eng["engagement"].corr(staff["latent_engagement"]), 3))

# %%
# Trust scores: mean engagement, composite percent positive, and the share of
# staff in real teams (denominator: all respondents of the trust).
by_trust = tc.score_groups(staff, "nhs-engagement", by="trust")
teams = tc.score_groups(staff, "real-team", by="trust", denominator="all")
print(by_trust.percent_positive.head().round(1))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
axes[0].scatter(teams.category_percent["real"], by_trust.means["engagement"],
                s=by_trust.n_respondents / 10, alpha=0.7)
axes[0].set_xlabel("% of staff in real teams")
axes[0].set_ylabel("mean engagement (0-10)")

# %%
# Item percent positive for the nine engagement items, national level.
national = tc.score_groups(staff, "nhs-engagement", by=["England"] * len(staff))
pp = national.item_percent_positive.iloc[0]
axes[1].barh(pp.index[::-1], pp.to_numpy()[::-1], color="0.4")
axes[1].set_xlabel("% positive")
fig.tight_layout()
plt.show()
