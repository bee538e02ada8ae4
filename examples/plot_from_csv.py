"""
From your own CSV to figures
============================

The figures of the tutorial :doc:`/user_guide/05_from_your_csv`: a survey
export with its own column names (``docs/data/staff_survey_export.csv``,
simulated by the package, not real data) is scored on the NHS engagement
instrument, aggregated to teams with agreement diagnostics and modelled with
staff in teams in trusts. One figure per cell: within-team agreement, team
means against pseudo-team means, and where the variation lies.
"""

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import teamculture as tc

export = pd.read_csv(Path("..") / "docs" / "data" / "staff_survey_export.csv")
codes = {"q2a": "mot1", "q2b": "mot2", "q2c": "mot3", "q3c": "inv1", "q3d": "inv2", "q3f": "inv3",
         "q25a": "adv1", "q25c": "adv2", "q25d": "adv3"}
scores = tc.score(export, "nhs-engagement", columns=codes)
items = export.rename(columns={col: item for item, col in scores.provenance.columns})
team = tc.aggregate(items, "nhs-engagement", by="Team", nan_policy="pairwise")
print(team.icc.round(3))

# %%
# Within-team agreement: rwg(j) of each engagement subscale per team, with the
# conventional .70 line (read it against the .30/.50/.70/.90 bands).
fig, ax = plt.subplots(figsize=(6.5, 3.5), layout="constrained")
bins = np.linspace(0, 1, 21)
for name in ("motivation", "involvement", "advocacy"):
    ax.hist(team.table[f"{name}_rwg"].dropna(), bins=bins, histtype="step", lw=1.5, label=name)
ax.axvline(0.70, color="k", ls="--", lw=1, label=".70 convention")
ax.set_xlabel("rwg(j) per team (uniform null)")
ax.set_ylabel("teams")
ax.legend(frameon=False, loc="upper left")
plt.show()

# %%
# Real team means against pseudo-team means (random group resampling): real
# teams spread more than teams formed at random would.
band = tc.pseudo_group_means(scores["engagement"], export["Team"], n_resamples=200, rng=1)
fig, ax = plt.subplots(figsize=(6.5, 3.5), layout="constrained")
tc.plot_pseudo_group_means(band, ax=ax)
ax.set_ylabel("engagement (0-10)")
plt.show()

# %%
# Where the variation in engagement lies: the variance partition of the
# three-level model (staff in teams in trusts).
data = pd.DataFrame({"trust": export["Organisation"], "team": export["Team"],
                     "tenure": export["Years in post"], "engagement": scores["engagement"]})
fit = tc.mixed("engagement ~ tenure + (1 | trust/team)", data)
vpc = fit.icc()["vpc"]
fig, ax = plt.subplots(figsize=(6.5, 2.8), layout="constrained")
ax.barh(["trust", "team within trust", "staff within team"], vpc.to_numpy() * 100, color=["C0", "C1", "C2"])
for y, v in enumerate(vpc.to_numpy() * 100):
    ax.text(v + 1, y, f"{v:.0f}%", va="center")
ax.set_xlim(0, 100)
ax.set_xlabel("share of the variance in engagement (%)")
ax.invert_yaxis()
plt.show()
