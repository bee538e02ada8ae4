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

sim = tc.simulate.national_survey("small", rng=2023)
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
# staff in real teams (denominator: all respondents of the trust). ``by``
# names the grouping column; a list would mean nested keys, outer first.
by_trust = tc.score_groups(staff, "nhs-engagement", by="trust")
teams = tc.score_groups(staff, "real-team", by="trust", denominator="all")
print(by_trust.summary())
print(by_trust.percent_positive.head().round(1))

# %%
# Item percent positive of the nine engagement items for the whole country:
# one group, a constant column.
national = tc.score_groups(staff.assign(nation="England"), "nhs-engagement", by="nation")
pp = national.item_percent_positive.loc["England"]
print(pp.round(1))

# %%
# Both views in one figure: trust engagement against the share of staff in
# real teams (point size: respondents), and the national item percent positive.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
axes[0].scatter(teams.category_percent["real"], by_trust.means["engagement"],
                s=by_trust.n_respondents / 10, alpha=0.7)
axes[0].set_xlabel("% of staff in real teams")
axes[0].set_ylabel("mean engagement (0-10)")
axes[1].barh(pp.index[::-1], pp.to_numpy()[::-1], color="0.4")
axes[1].set_xlabel("% positive (national)")
axes[1].set_xlim(0, 100)
plt.show()
