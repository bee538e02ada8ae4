"""
A simulated national staff survey
=================================

Draw a small survey from :func:`teamculture.simulate.national_survey` and look
at its structure: unbalanced team sizes, trusts that differ in their share of
staff in real teams, and the mortality outcome generated from that share.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import teamculture as tc

sim = tc.simulate.national_survey("small", rng=2023)
print(sim)
print(sim.staff["team_type"].value_counts(normalize=True).round(3))

# %%
# The sizes and the true parameters behind the data.
print(sim.summary())

# %%
# Team sizes are unbalanced, as in a real survey (left). Trusts with more
# staff in real teams have lower standardised mortality, by construction: the
# slope is ln(1 - 0.033)/5 per percentage point (right, dashed: the truth).
t = sim.trusts
p = sim.params
grid = np.linspace(t["real_team_pct"].min(), t["real_team_pct"].max(), 50)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
axes[0].hist(sim.teams["n_staff"], bins=30, color="0.4")
axes[0].set_xlabel("respondents per team")
axes[0].set_ylabel("teams")
axes[1].scatter(t["real_team_pct"], t["smr"], s=np.sqrt(t["expected_deaths"]), alpha=0.7)
axes[1].plot(grid, np.exp(p.mortality_intercept + p.mortality_beta * (grid - p.share_center)), "k--",
             label="true relation")
axes[1].set_xlabel("% of staff in real teams")
axes[1].set_ylabel("SMR (observed / expected deaths)")
axes[1].legend(frameon=False)
plt.show()
