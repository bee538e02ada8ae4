"""Demo stage "scoring": score engagement, compassionate leadership and real teams.

Stores for later stages in ``ctx.results``:

``staff_scores``
    Per respondent (aligned to ``survey.staff``): motivation, involvement,
    advocacy, engagement (0-10), compassionate_leadership (0-10), team_type.
``team_scores`` / ``trust_scores``
    Per team / trust: ``n_respondents``, mean ``engagement`` and
    ``compassionate_leadership`` (0-10) and ``real_team_pct`` (denominator:
    all respondents of the group).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from teamculture._demo import stage
from teamculture.scoring import score, score_groups


def _group_table(staff: pd.DataFrame, by: str) -> pd.DataFrame:
    eng = score_groups(staff, "nhs-engagement", by=by)
    cl = score_groups(staff, "nhs-compassionate-leadership", by=by)
    rt = score_groups(staff, "real-team", by=by, denominator="all")
    out = pd.DataFrame({
        "n_respondents": eng.n_respondents,
        "engagement": eng.means["engagement"],
        "compassionate_leadership": cl.means["compassionate_leadership"],
        "real_team_pct": rt.category_percent["real"],
    })
    out.index.name = by
    return out


def _figure_engagement(plt, staff_scores: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained", width_ratios=(3, 2))
    eng = staff_scores["engagement"].dropna()
    ax = axes[0]
    # the scores lie on a grid of 10/36 (10/72 with a missing item): one bar per grid step, edges between points
    step = 10 / 36
    ax.hist(eng, bins=(np.arange(38) - 0.25) * step, color="0.4", edgecolor="white", linewidth=0.3)
    ax.axvline(eng.mean(), color="tab:red", lw=1.2, label=f"national mean {eng.mean():.2f}")
    ax.set_xlabel("staff engagement score (0-10)")
    ax.set_ylabel("staff")
    ax.set_title(f"Engagement of {len(eng):,} scored staff", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax = axes[1]
    shares = staff_scores["team_type"].astype(object).value_counts(normalize=True, dropna=False) * 100
    kinds = [k for k in ("real", "pseudo", "none") if k in shares.index]
    bars = ax.bar(kinds, [shares[k] for k in kinds], color=["tab:blue", "tab:orange", "0.6"][: len(kinds)])
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.set_ylim(0, max(shares[k] for k in kinds) * 1.18)
    ax.set_xlabel("Aston team type")
    ax.set_ylabel("% of staff")
    ax.set_title("Real teams, pseudo teams, no team", fontsize=10)
    return fig


def _figure_trusts(plt, trust_scores: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    size = trust_scores["n_respondents"].to_numpy(dtype=float)
    ax.scatter(trust_scores["real_team_pct"], trust_scores["engagement"], s=12 + 60 * size / size.max(),
               alpha=0.7, color="tab:blue", edgecolors="none")
    ax.set_xlabel("staff in real teams (%)")
    ax.set_ylabel("mean staff engagement (0-10)")
    ax.set_title(f"{len(trust_scores):,} trusts (point size: respondents)", fontsize=10)
    return fig


@stage
def run(ctx) -> None:
    t0 = time.perf_counter()
    survey = ctx.survey
    staff = survey.staff
    eng = score(staff, "nhs-engagement")
    cl = score(staff, "nhs-compassionate-leadership")
    rt = score(staff, "real-team")
    staff_scores = pd.concat([eng, cl, rt], axis=1)
    t_staff = time.perf_counter() - t0
    team_scores = _group_table(staff, "team")
    trust_scores = _group_table(staff, "trust")
    elapsed = time.perf_counter() - t0

    ok = eng["engagement"].notna().to_numpy()
    r = np.corrcoef(eng["engagement"].to_numpy()[ok], staff["latent_engagement"].to_numpy()[ok])[0, 1]
    ctx.say(
        f"scored {len(staff):,} respondents on 3 instruments in {t_staff:.2f} s "
        f"(with team and trust aggregates {elapsed:.2f} s)"
    )
    means = eng.mean()
    ctx.say(
        f"staff engagement (0-10, NHS rule, reconstructed): national mean {means['engagement']:.2f} "
        f"(motivation {means['motivation']:.2f}, involvement {means['involvement']:.2f}, "
        f"advocacy {means['advocacy']:.2f}); r = {r:.3f} with the true latent engagement"
    )
    ctx.say(
        f"compassionate leadership (q9f-q9i, 0-10): national mean {cl['compassionate_leadership'].mean():.2f}; "
        f"team means range {team_scores['compassionate_leadership'].min():.2f}"
        f"-{team_scores['compassionate_leadership'].max():.2f}"
    )
    shares = rt["team_type"].value_counts(normalize=True, dropna=False) * 100
    truth = staff["team_type"].value_counts(normalize=True) * 100
    agree = bool((rt["team_type"].astype(object) == staff["team_type"].astype(object)).all())
    diff = np.abs(trust_scores["real_team_pct"] - survey.trusts["real_team_pct"]).max()
    ctx.say(
        f"real teams: {shares.get('real', 0):.1f}% of staff, pseudo {shares.get('pseudo', 0):.1f}%, "
        f"no team {shares.get('none', 0):.1f}% (truth {truth['real']:.1f}% / {truth['pseudo']:.1f}% / "
        f"{truth['none']:.1f}%; every respondent classified as simulated: {'yes' if agree else 'NO'})"
    )
    ctx.say(
        f"trust % in real teams (denominator: all respondents): {trust_scores['real_team_pct'].min():.1f}"
        f"-{trust_scores['real_team_pct'].max():.1f}%, max difference from the simulator's {diff:.2g} pp"
    )
    ctx.results["staff_scores"] = staff_scores
    ctx.results["team_scores"] = team_scores
    ctx.results["trust_scores"] = trust_scores
    ctx.write_table("team_scores", team_scores)
    ctx.write_table("trust_scores", trust_scores)
    ctx.show("National means of the scores (0-10)", pd.DataFrame({
        "mean": [means["engagement"], means["motivation"], means["involvement"], means["advocacy"],
                 cl["compassionate_leadership"].mean()],
        "respondents scored": [f"{int(v.notna().sum()):,}" for v in (
            eng["engagement"], eng["motivation"], eng["involvement"], eng["advocacy"], cl["compassionate_leadership"])],
    }, index=["engagement", "motivation", "involvement", "advocacy", "compassionate leadership"]))
    ctx.draw("scoring_engagement", "Staff engagement scores and the share of staff in each Aston team type.",
             lambda plt: _figure_engagement(plt, staff_scores))
    ctx.draw("scoring_trusts", "Trust mean engagement against the trust's share of staff in real teams.",
             lambda plt: _figure_trusts(plt, trust_scores))
