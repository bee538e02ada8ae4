"""Demo stage "culture_profile": to what extent are the cultural elements present and strong?

Simulates element-level culture for the survey's trusts (teams nested in
trusts, two survey years, a few trust-elements made strong or weak; the
national simulator does not draw the TCI and HSOPSC items yet, so the stage
draws them with :func:`teamculture.simulate.simulate_culture` under
the survey's trust labels), profiles every trust on the six elements of the
reconstructed framework ``"nhs-culture-elements"`` against all trusts,
compares the labels with the simulator's truth, and writes the table, a
figure and one trust's offline HTML report. Stores
``ctx.results["culture_profile"]`` (the :class:`~teamculture.profile.CultureProfile`).
"""

from __future__ import annotations

import time
import warnings

from teamculture._demo import stage
from teamculture.errors import DroppedDataWarning
from teamculture.profile import culture_profile
from teamculture.simulate import simulate_culture

#: latent SDs by which the simulator makes a trust-element strong or weak (the between-trust SD is 0.25;
#: benchmarks/coverage_profile.py gives the power at 1.2 and 2)
SHIFT = 2.0


@stage
def run(ctx) -> None:
    survey = ctx.survey
    trusts = list(survey.trusts.index)
    seed = survey.seed if survey.seed is not None else 0
    t0 = time.perf_counter()
    sim = simulate_culture(trust_labels=trusts, teams_per_trust=8, staff_per_team=12,
                           years=(survey.survey_year - 1, survey.survey_year), shift=SHIFT,
                           n_strong=max(2, len(trusts) // 25), n_weak=max(2, len(trusts) // 25), rng=seed + 12)
    staff = sim.staff
    with warnings.catch_warnings():
        # respondents without an element score (every item of a measure unanswered): counted in the table
        warnings.simplefilter("ignore", DroppedDataWarning)
        prof = culture_profile(staff, "nhs-culture-elements", by=["trust", "team"], year="year")
    elapsed = time.perf_counter() - t0
    n_missing = int(prof.table["n_missing"].sum())
    ctx.say(f"{len(staff):,} respondents in {staff['team'].nunique():,} teams of {len(trusts)} trusts, "
            f"{prof.baseline_year} and {prof.year}; framework {prof.framework.id} ({prof.framework.status}: "
            f"the programme's own items are not public), {len(prof.framework.elements)} elements, "
            f"profiled in {elapsed:.1f} s ({n_missing} respondent-element scores missing in {prof.year})")
    e = prof.elements
    ctx.say("reliability of trust scores, ICC(2) by element: "
            + ", ".join(f"{k} {v:.2f}" for k, v in e["icc2"].items()))
    lab = prof.table["label"].astype(str)
    truth = sim.truth["status"].reindex(lab.index)
    shifted = truth != "ordinary"
    hits = int(((lab == "strength") & (truth == "strong")).sum() + ((lab == "area to develop") & (truth == "weak"))
               .sum())
    false = int(((lab != "as expected") & ~shifted).sum())
    flags = int((lab != "as expected").sum())
    ctx.say(f"labels (Benjamini-Hochberg, false-discovery rate {prof.false_flag_rate:g}, over "
            f"{len(lab):,} trust-elements): {flags} flag(s); {hits} of the {int(shifted.sum())} trust-elements the "
            f"simulator made strong or weak ({SHIFT:g} latent SDs) found with the right sign; {false} flag(s) on ordinary "
            f"trust-elements ({(false / flags if flags else 0):.0%} of the flags)")
    changed = sim.truth.index[sim.truth["change"] != 0]
    if len(changed):
        ch = prof.table.loc[list(changed)]
        covered = int(((ch["change_ci_low"] > 0)).sum())
        ctx.say(f"change {prof.baseline_year}->{prof.year}: {covered} of {len(changed)} trust-elements given a true "
                f"improvement have a 95% interval above zero")
    flagged_units = lab[lab != "as expected"].index.get_level_values(0)
    unit = flagged_units[0] if len(flagged_units) else trusts[0]
    row = prof.table.loc[unit]
    ctx.say(f"{unit}: " + "; ".join(f"{k} {r['score']:.1f} ({r['label']})" for k, r in row.iterrows()))
    ctx.results["culture_profile"] = prof
    ctx.write_table("culture_profile", prof.table)
    if ctx.out is not None:
        path = ctx.out / f"culture_profile_{unit}.html"
        prof.report(unit, path=path)
        ctx.written.append(path)
    ctx.show("culture profile: elements", prof.elements)
    shown = [unit, *[u for u in trusts if u != unit][:2]]
    ctx.draw("culture_profile",
             f"Element scores of {', '.join(map(str, shown))} with {prof.confidence_level:.0%} intervals, coloured by "
             f"label, over the distribution of all trusts' scores (grey; band 10-90%).",
             lambda plt: prof.plot(shown).figure)
