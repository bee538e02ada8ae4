"""
Culture profile of trusts against their benchmark
=================================================

Profile 40 simulated trusts on the six elements of the reconstructed framework
``"nhs-culture-elements"`` (the five elements of cultures for high-quality
care and compassionate leadership) with
:func:`teamculture.profile.culture_profile`: each element's score with an
interval that respects staff nested in teams, its standing among the other
trusts, and a strength / as expected / area to develop label whose false
flags are controlled across elements and trusts. The simulator made four
trust-elements strong or weak, so we can see whether the profile finds them.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from teamculture import profile
from teamculture.simulate import simulate_culture

sim = simulate_culture(n_trusts=40, teams_per_trust=8, staff_per_team=12, shift=1.5, missing_rate=0.0, rng=2023)
prof = profile.culture_profile(sim.staff, "nhs-culture-elements", by=["trust", "team"], year="year")
print(prof)
print(sim.truth[sim.truth["status"] != "ordinary"])

# %%
# Elements (rows) by trusts: each trust's score with its 95% interval (coloured
# by its label) over the grey distribution of all trusts' scores. TR23 is weak
# on vision and values, TR26 strong on teamwork; TR19 is an ordinary trust.
ax = prof.plot(["TR19", "TR23", "TR26"])

# %%
# The funnel behind the labels: each trust-element's distance from the other
# trusts (its funnel statistic) against the standard error of its score. The
# dashed lines are the two-sided 99.8% limits of the t reference distribution;
# the Benjamini-Hochberg rule (the default) flags the filled points.
t = prof.table
truth = sim.truth["status"].reindex(t.index)
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
colours = np.where(truth == "strong", "tab:green", np.where(truth == "weak", "tab:red", "0.55"))
flagged = (t["label"] != "as expected").to_numpy()
ax.scatter(t["std_error"][~flagged], t["statistic"][~flagged], s=14, facecolors="none",
           edgecolors=colours[~flagged])
ax.scatter(t["std_error"][flagged], t["statistic"][flagged], s=30, color=colours[flagged])
from scipy import stats

limit = stats.t.isf(0.001, t["df"].median())
for sign in (-1, 1):
    ax.axhline(sign * limit, color="k", ls="--", lw=1)
ax.set_xlabel("standard error of the trust's score (0-100 scale)")
ax.set_ylabel("funnel statistic t")
ax.set_title("green/red: made strong/weak by the simulator; filled: flagged (BH 5%)", fontsize="medium")
plt.show()

# %%
# Change since the last survey: the simulator gave three trust-elements a true
# improvement of 0.5 latent SDs into 2023.
changed = sim.truth.index[sim.truth["change"] > 0]
print(t.loc[list(changed), ["baseline_score", "score", "change", "change_ci_low", "change_ci_high"]].round(2))

# %%
# The organisation report: a self-contained HTML page (inline SVG, no scripts,
# no network) answering "to what extent are these cultural elements present
# and strong within the organisation?" for one trust.
path = Path(tempfile.mkdtemp()) / "TR26.html"
html = prof.report("TR26", path=path)
print(f"{path.name}: {len(html):,} characters; starts {html[:60]!r}")
plt.show()
