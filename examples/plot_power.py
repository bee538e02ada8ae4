"""
Planning a three-level study: power and sample size
===================================================

How many trusts, teams and staff does a study of a trust-level intervention
need? With staff nested in teams nested in trusts, the answer depends mostly
on the number of trusts and on the intraclass correlations, much less on how
many staff answer per team. The ICCs come from an existing survey
(:func:`teamculture.icc`); power, minimum detectable effects and sample sizes
from :func:`teamculture.power_three_level`,
:func:`teamculture.minimum_detectable_effect` and
:func:`teamculture.sample_size_three_level` (the t test of a balanced design;
R: ``PowerUpR::power.cra3r3``).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import teamculture as tc

staff = tc.national_survey("small", rng=2023).staff
res = tc.icc(staff["latent_engagement"], staff[["trust", "team"]])
icc_trust, icc_team = float(res.vpc["trust"]), float(res.vpc["team"])
print(f"ICCs from the survey: trust {icc_trust:.3f}, team within trust {icc_team:.3f}")

# %%
# Power against the number of trusts
# ----------------------------------
# A trust-level intervention (half the trusts) with a standardised effect of
# 0.3 SD, 10 teams of 8 staff per trust. The survey's ICCs (solid) against a
# trust ICC twice as large (dashed): the same design loses much of its power.
trusts = np.arange(6, 81, 2)
fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
for rho3, style in ((icc_trust, "-"), (2 * icc_trust, "--")):
    power = [tc.power_three_level(0.3, n_trusts=int(k), teams_per_trust=10, staff_per_team=8,
                                  icc_team=icc_team, icc_trust=rho3).power for k in trusts]
    ax.plot(trusts, power, style, color="tab:blue", label=f"trust ICC {rho3:.3f}")
ax.axhline(0.8, color="0.5", lw=0.8, ls=":")
ax.set_xlabel("number of trusts (half receive the intervention)")
ax.set_ylabel("power (two-sided, 5%)")
ax.set_ylim(0, 1)
ax.set_title("Effect 0.3 SD; 10 teams of 8 staff per trust", fontsize=10)
ax.legend(frameon=False, fontsize=8, loc="lower right")
plt.show()

# %%
# More staff per team, or more teams?
# -----------------------------------
# The minimum detectable effect at 80% power for 40 trusts: beyond a handful
# of respondents per team, more staff per team buy little; more teams per
# trust buy more; more trusts buy the most.
staff_per_team = np.arange(2, 41)
fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
for teams_per_trust in (5, 10, 20):
    mde = [tc.minimum_detectable_effect(n_trusts=40, teams_per_trust=teams_per_trust, staff_per_team=int(n),
                                        icc_team=icc_team, icc_trust=icc_trust).effect for n in staff_per_team]
    ax.plot(staff_per_team, mde, label=f"{teams_per_trust} teams per trust")
ax.set_xlabel("staff per team")
ax.set_ylabel("minimum detectable effect (SD)")
ax.set_ylim(0, None)
ax.set_title("40 trusts, 80% power", fontsize=10)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %%
# How many trusts?
# ----------------
# The smallest number of trusts that reaches 80% power for a 0.3 SD effect,
# with 10 teams of 8 staff each:
plan = tc.sample_size_three_level(0.3, solve_for="n_trusts", teams_per_trust=10, staff_per_team=8,
                                  icc_team=icc_team, icc_trust=icc_trust)
print(plan.summary())
