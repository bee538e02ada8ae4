"""
A three-level model: staff in teams in trusts
=============================================

Engagement of 10,000 simulated staff in 500 teams in 20 trusts, modelled with
random intercepts for trusts and for teams within trusts
(:func:`teamculture.mixed`, REML, lme4's formula syntax), and the three
pictures that go with such a model:

- how the variance splits between trusts, teams and staff
  (:func:`teamculture.plot_variance_partition`);
- the trust and team effects with their conditional intervals, as caterpillar
  plots (:func:`teamculture.plot_random_effects`; R:
  ``lattice::dotplot(ranef(fit, condVar = TRUE))``);
- residual diagnostics (:func:`teamculture.plot_diagnostics`; R:
  ``performance::check_model(fit)``).
"""

# %%
import matplotlib.pyplot as plt
import pandas as pd

import teamculture as tc

sim = tc.national_survey("small", rng=2023)
scores = tc.score(sim.staff, "nhs-engagement")
data = pd.DataFrame({
    "engagement": scores["engagement"],  # 0-10, the NHS rule
    "real": (tc.score(sim.staff, "real-team")["team_type"] == "real").astype(float),
    "tenure": sim.staff["tenure"],
    "trust": sim.staff["trust"],
    "team": sim.staff["team"],
})
print(data.describe().round(2))

# %%
# The empty model and the adjusted model
# --------------------------------------
# ``(1 | trust/team)`` is lme4's shorthand for ``(1 | trust) + (1 | trust:team)``:
# a random intercept for each trust and for each team within its trust. The
# empty model gives the variance partition of engagement itself; the adjusted
# model adds membership of a real team (a staff-level indicator) and tenure.
# Staff without an engagement score are left out (and counted).
empty = tc.mixed("engagement ~ 1 + (1 | trust/team)", data)
fit = tc.mixed("engagement ~ real + tenure + (1 | trust/team)", data)
print(fit.summary())
print(empty.icc().round(4))

# %%
# Variance partition
# ------------------
# Most of the variance of engagement lies between staff within teams; about
# one part in seven between teams and trusts, which is what makes team-level
# analyses of culture worthwhile (and ordinary regression standard errors too
# small). Adding the predictors leaves the shares almost unchanged here: they
# explain variance within teams and between them alike.
ax = tc.plot_variance_partition({"empty model": empty, "+ real team, tenure": fit})

# %%
# Caterpillar plots
# -----------------
# One point per trust (left) and per team (right): the conditional mode
# (BLUP) of its random intercept, with a 95% conditional interval. Trusts are
# few and their intervals short; most teams' intervals include zero. Intervals
# that exclude zero are coloured, but with 500 teams some would do so by
# chance alone: these are descriptions of groups, not tests.
fig, axes = plt.subplots(1, 2, figsize=(11, 6), layout="constrained")
tc.plot_random_effects(fit, factor="trust", ax=axes[0])
tc.plot_random_effects(fit, factor="team", ax=axes[1])
plt.show()

# %%
# Do the trust effects find the simulated truth? The simulator knows each
# trust's true effect on latent engagement.
blup = fit.random_effects["trust"]["blup"]
print(f"correlation of the trust BLUPs with the true trust effects: "
      f"{blup.corr(sim.trusts['true_effect'].loc[blup.index]):.2f}")

# %%
# Residual diagnostics
# --------------------
# Conditional residuals (observed minus fitted, fitted including the
# predicted trust and team effects, as lme4's ``residuals()``) should scatter
# evenly around zero at every fitted value, and residuals and random effects
# should follow a normal distribution. The engagement score takes only a grid
# of values between 0 and 10, hence the diagonal stripes, and its tails are
# bounded by the scale: the Q-Q plot bends away from the line at both ends.
# Neither biases the fixed effects of a model this size; a bounded score is
# still worth reporting as a limitation.
fig = tc.plot_diagnostics(fit)
