"""
From real teams to deaths per year
==================================

The whole chain behind a headline such as "5% more staff working in real
teams is associated with a 3.3% drop in mortality; for an average acute
hospital around 40 deaths per year", on a simulated national survey whose
true effect we know:

1. classify every respondent as working in a real team, a pseudo team or no
   team (:func:`teamculture.score`);
2. aggregate to the trust's percentage of staff in real teams
   (:func:`teamculture.score_groups`);
3. model deaths with a log(expected deaths) offset
   (:func:`teamculture.outcomes.mortality_glm`), allowing for
   over-dispersion;
4. translate the slope into % change in mortality and deaths per year
   (:func:`teamculture.outcomes.share_effect`);
5. compare trusts on a funnel plot (:func:`teamculture.outcomes.funnel_limits`).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import teamculture as tc

sim = tc.national_survey(n_trusts=250, n_teams=1250, n_staff=12_500, rng=2015)
p = sim.params
print(sim)
print(f"true slope: {p.mortality_beta:.5f} log mortality per percentage point in real teams")

# %%
# Steps 1 and 2: classify respondents with the Aston real-team rule (in a
# team, clear shared objectives, work closely together, meet to review) and
# take each trust's percentage of *all* its respondents in real teams.
staff_types = tc.score(sim.staff, "real-team")
print(staff_types["team_type"].value_counts(normalize=True).round(3))
shares = tc.score_groups(sim.staff, "real-team", by="trust", denominator="all").category_percent["real"]
trusts = pd.DataFrame(
    {
        "real_team_pct": shares,
        "expected_deaths": sim.trusts["expected_deaths"],
        "observed_deaths": sim.trusts["observed_deaths"],
    }
)
trusts["smr"] = trusts["observed_deaths"] / trusts["expected_deaths"]
print(trusts.describe().round(2))

# %%
# Step 3: a Poisson model with offset log(E) gives the slope, but its
# standard error assumes deaths vary only by Poisson chance. Trusts differ in
# more than their real-team share, so the Pearson dispersion is well above 1
# and the plain Poisson interval is too narrow. Quasi-Poisson, the negative
# binomial and robust standard errors allow for it (the coverage study in
# ``benchmarks/coverage_outcomes.py`` measures the difference).
center = {"real_team_pct": p.share_center}
fits = {
    "Poisson": tc.mortality_glm(trusts, predictors="real_team_pct", family="poisson", center_at=center),
    "quasi-Poisson": tc.mortality_glm(trusts, predictors="real_team_pct", center_at=center),
    "negative binomial": tc.mortality_glm(trusts, predictors="real_team_pct", family="negbin", center_at=center),
    "Poisson, robust SEs": tc.mortality_glm(trusts, predictors="real_team_pct", family="poisson",
                                            cov_type="robust", center_at=center),
}
table = pd.DataFrame({name: f.coefficients.loc["real_team_pct"] for name, f in fits.items()}).T
print(table[["estimate", "std_error", "df", "ci_low", "ci_high"]].round(5))
print(fits["quasi-Poisson"].summary())

# %%
# Step 4: the slope per percentage point as a board would read it. The
# translation needs two explicit choices: whether "5%" means 5 percentage
# points (40% -> 45%) or a relative 5% (40% -> 42%), and the expected deaths
# of the trust the deaths refer to.
quasi = fits["quasi-Poisson"]
e_avg = trusts["expected_deaths"].mean()
effect = quasi.effect("real_team_pct", delta=5, expected_deaths=e_avg)
print(effect.statement)
truth = tc.share_effect(p.mortality_beta, se=0.0, delta=5, expected_deaths=e_avg)
print(f"truth: {truth.percent_change:+.2f}% mortality, {truth.deaths:+.1f} deaths per year")
relative = quasi.effect("real_team_pct", delta=5, change="relative", baseline_share=40, expected_deaths=e_avg)
print(f"read as a relative 5% of a 40% share: {relative.percent_change:+.2f}% ({relative.deaths:+.1f} deaths)")

# %%
# The published headline worked backwards: 3.3% per 5 points is a slope of
# ln(1 - 0.033)/5 per point, and "about 40 deaths" implies a trust with about
# 1,212 expected deaths a year.
beta_pub = tc.implied_coefficient(-3.3, per=5)
print(f"implied slope {beta_pub:.5f}; implied expected deaths "
      f"{tc.implied_expected_deaths(-3.3, -40):,.0f}")

# %%
# Step 5: the fitted line against the trusts' SMRs, and the funnel plot of the
# SMRs with limits widened for over-dispersion.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax = axes[0]
ax.scatter(trusts["real_team_pct"], trusts["smr"], s=10, color="0.45")
grid = np.linspace(trusts["real_team_pct"].min(), trusts["real_team_pct"].max(), 100)
b = quasi.coefficients["estimate"]
ax.plot(grid, np.exp(b["Intercept"] + b["real_team_pct"] * (grid - p.share_center)), color="tab:red",
        label="quasi-Poisson fit")
ax.plot(grid, np.exp(p.mortality_beta * (grid - p.share_center)), color="k", ls="--", label="truth")
ax.set_xlabel("staff in real teams (%)")
ax.set_ylabel("SMR (observed / expected deaths)")
ax.legend(frameon=False)
funnel = tc.funnel_limits(trusts["observed_deaths"], trusts["expected_deaths"], method="shmi")
funnel.plot(ax=axes[1])
print(funnel.table["flag"].value_counts())
