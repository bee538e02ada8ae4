"""
Reliability of culture scales: alpha, omega, items, and teams
=============================================================

How consistently do the items of a scale measure one thing? For the
subscales of three catalogue instruments in a simulated survey of 10,000
staff: Cronbach's alpha with its interval and McDonald's omega
(:func:`teamculture.instrument_reliability`), an item analysis that shows
what a forgotten reverse key does (:func:`teamculture.cronbach_alpha`), and
the reliability of the same items within and between teams
(:func:`teamculture.multilevel_reliability`). R equivalents:
``psych::alpha``, ``psych::omega``, and ``multilevel``/``misty`` for the
multilevel coefficients.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import teamculture as tc

staff = tc.national_survey("small", rng=2023).staff
tables = {inst: tc.instrument_reliability(staff, inst)
          for inst in ("nhs-engagement", "nhs-compassionate-leadership", "psych-safety-7")}
table = pd.concat(tables, names=["instrument", "subscale"])
print(table[["n_items", "n_obs", "alpha", "ci_low", "ci_high", "omega_total"]].round(3))

# %%
# Alpha with its 95% interval (Feldt) and omega for every subscale. The
# simulated items are parallel by construction, so alpha and omega agree; on
# real data omega is at least as large when loadings differ. Respondents with
# a missing item of a subscale are left out of that subscale (``n_obs``).
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
labels = [f"{sub} ({inst})" for inst, sub in table.index]
y = np.arange(len(table))[::-1]
ax.hlines(y, table["ci_low"], table["ci_high"], color="tab:blue", lw=3, label="alpha, 95% interval")
ax.plot(table["alpha"], y, "o", color="tab:blue", ms=5)
ax.plot(table["omega_total"], y, "|", color="k", ms=14, mew=1.5, label="omega total")
ax.set_yticks(y, labels=labels, fontsize=8)
ax.set_xlabel("reliability")
ax.set_title("Reliability of the subscales", fontsize=10)
fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
plt.show()

# %%
# Item analysis, and a forgotten reverse key
# ------------------------------------------
# Items 1, 3 and 5 of Edmondson's team psychological safety scale are
# negatively worded. Keyed correctly (the instrument does it), every item
# correlates strongly with the rest of the scale. Scored as they come, the
# reversed items correlate *negatively* with the rest and alpha collapses: an
# item-rest correlation below zero almost always means a missing reverse key.
items = ["ps1", "ps2", "ps3", "ps4", "ps5", "ps6", "ps7"]
keyed = tc.cronbach_alpha(staff[items], keys=["-ps1", "ps2", "-ps3", "ps4", "-ps5", "ps6", "ps7"], scale=(1, 7))
unkeyed = tc.cronbach_alpha(staff[items], scale=(1, 7))
print(f"alpha keyed {keyed.alpha:.3f}; without the reverse keys {unkeyed.alpha:.3f}")
print(unkeyed.summary())

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained", sharey=True)
for ax, res, title in ((axes[0], keyed, f"keyed (alpha {keyed.alpha:.2f})"),
                       (axes[1], unkeyed, f"reverse keys forgotten (alpha {unkeyed.alpha:.2f})")):
    r = res.items["r_drop"]
    ax.barh(r.index[::-1], r.to_numpy()[::-1], color=np.where(r.to_numpy()[::-1] < 0, "tab:red", "0.45"))
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("item-rest correlation")
    ax.set_title(title, fontsize=10)
plt.show()

# %%
# Within and between teams
# ------------------------
# Team-level claims need team-level reliability. The multilevel coefficients
# of Geldhof, Preacher and Zyphur (2014) split the item covariances into a
# within-team and a between-team part and compute alpha and omega on each:
# how well the items measure a person's standing relative to their team, and
# how well they measure the team's standing. The simulator gives every team
# one shared effect on all items of a scale, so the between-team coefficients
# sit near their limit of 1 (the summary says so); on real data they are
# lower, and a between-team omega well below the within-team one warns that
# the team mean of the items is a poorer measure than the items suggest.
subscales = {"motivation": ["mot1", "mot2", "mot3"], "involvement": ["inv1", "inv2", "inv3"],
             "advocacy": ["adv1", "adv2", "adv3"], "compassionate leadership": ["cl1", "cl2", "cl3", "cl4"]}
rows = {}
for name, cols in subscales.items():
    res = tc.multilevel_reliability(staff[cols], staff["team"], scale=(1, 5))
    rows[name] = res.to_frame()["omega"]
omega = pd.DataFrame(rows).T
print(omega.round(3))

fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
x = np.arange(len(omega))
ax.bar(x - 0.2, omega["within"], width=0.4, label="within teams", color="0.55")
ax.bar(x + 0.2, omega["between"], width=0.4, label="between teams", color="tab:blue")
ax.set_xticks(x, labels=omega.index, fontsize=8)
ax.set_ylim(0, 1.05)
ax.set_ylabel("omega")
ax.set_title("Multilevel omega by subscale", fontsize=10)
fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
plt.show()
