"""
Funnel plots of trust mortality
===============================

Compare 150 simulated trusts' standardised mortality ratios (observed /
expected deaths) with :func:`teamculture.outcomes.funnel_limits`: control limits
at 95% and 99.8% that narrow as the expected number of deaths grows, with and
without an allowance for over-dispersion, in the NHS Digital SHMI variant (log
scale, 10% truncation) and the CQC/Spiegelhalter variant (square-root scale,
10% winsorisation).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import teamculture as tc

sim = tc.national_survey(n_trusts=150, n_teams=1500, n_staff=15000, rng=2023)
trusts = sim.trusts
print(tc.smr(trusts["observed_deaths"], trusts["expected_deaths"]).head())

# %%
# Pure Poisson limits flag many trusts: real differences between trusts (here
# their share of staff in real teams and a trust effect) make the SMRs
# over-dispersed. An additive random effect ``tau2`` widens the limits by the
# same amount at every size.
poisson = tc.funnel_limits(trusts["observed_deaths"], trusts["expected_deaths"], overdispersion=None)
shmi = tc.funnel_limits(trusts["observed_deaths"], trusts["expected_deaths"], method="shmi")
cqc = tc.funnel_limits(trusts["observed_deaths"], trusts["expected_deaths"], method="cqc")
print(poisson.summary())
print(shmi.summary())
print(cqc.summary())

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
poisson.plot(ax=axes[0], label_outliers=False)  # too many to label
shmi.plot(ax=axes[1])
plt.show()

# %%
# The simulator knows each trust's true log relative risk (the real-team
# effect plus its trust effect), so we can see whether the flags pick out the
# right trusts: the adjusted z-scores follow the truth.
p = sim.params
true_log_rr = p.mortality_beta * (trusts["real_team_pct"] - p.share_center) + trusts["true_mortality_effect"]
r = np.corrcoef(true_log_rr, shmi.table["z_adjusted"])[0, 1]
print(f"correlation of adjusted z with the true log relative risk: {r:.2f}")
flagged = shmi.table[shmi.table["flag"] != "in_control"]
print(flagged[["observed", "expected", "ratio", "lower_95", "upper_95", "flag"]].round(3).head(10))

# %%
# Truncating or winsorising the most extreme 10% of z-scores at each end makes
# the over-dispersion estimate robust to outlying trusts, but when the true
# differences are normally distributed it underestimates them. Here the true
# between-trust variance of the log relative risk (including year-to-year
# noise) is known:
true_tau2 = np.var(true_log_rr) + p.mortality_year_sd**2
untrimmed = tc.funnel_limits(trusts["observed_deaths"], trusts["expected_deaths"], trim=False)
print(f"true tau2 (log scale) {true_tau2:.4f}; SHMI truncated estimate {shmi.tau2:.4f}; "
      f"untrimmed estimate {untrimmed.tau2:.4f}")

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.scatter(true_log_rr, shmi.table["z_adjusted"], s=12, color="0.3")
ax.axhline(1.96, color="tab:blue", ls="--", lw=1)
ax.axhline(-1.96, color="tab:blue", ls="--", lw=1)
ax.set_xlabel("true log relative risk of the trust")
ax.set_ylabel("adjusted z-score (SHMI, additive)")
plt.show()
