"""Demo stage "staff_outcomes": real teams and staff outcomes (the "24-karat" analysis).

For five staff-level yes/no outcomes (witnessed errors or near misses, injury, work-related
stress, harassment, intention to leave) fits the multilevel logistic model
``outcome ~ team_type + tenure + (1 | trust/team)`` (Laplace, :func:`glmm`) to the
simulated survey, and reports the odds ratios of pseudo-team and no-team staff versus staff
in real teams, pseudo versus no team, the median odds ratios of trusts and teams, and whether
the true values (known, because the outcomes are simulated from
:mod:`teamculture._simulate_outcomes`) lie inside the 95% intervals. Uses the survey's own
outcome columns when it has them (``out_error``, ...), else draws them here from the survey's
seed. Stores ``ctx.results["staff_outcome_fits"]`` (item id -> :class:`GLMMResult`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from teamculture._demo import stage
from teamculture._simulate_outcomes import DEFAULT_OUTCOMES, outcome_truth, staff_outcomes
from teamculture.errors import BoundaryWarning, ConvergenceWarning, DroppedDataWarning
from teamculture.multilevel import glmm

FORMULA = "y ~ team_type + tenure_c + (1 | trust/team)"


def _outcomes(ctx) -> tuple[pd.DataFrame, str]:
    staff = ctx.survey.staff
    items = [m.item for m in DEFAULT_OUTCOMES]
    if all(i in staff.columns for i in items):
        return staff[items], "the survey's outcome questions"
    seed = ctx.survey.seed if ctx.survey.seed is not None else 0
    rng = np.random.default_rng([int(seed), 11])
    return staff_outcomes(staff, rng=rng), f"outcomes drawn here from the survey seed ({seed}, 11)"


def _ci(table: pd.DataFrame, row: str) -> str:
    return f"{table.loc[row, 'ratio']:.2f} ({table.loc[row, 'ratio_ci_low']:.2f}-{table.loc[row, 'ratio_ci_high']:.2f})"


def _figure_odds_ratios(plt, table: pd.DataFrame):
    """Forest plot: odds ratios of pseudo-team and no-team staff versus real teams, with the truth."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    fig, ax = plt.subplots(figsize=(9.0, 0.55 * len(table) + 1.8), layout="constrained")
    y = np.arange(len(table))[::-1].astype(float)
    for offset, key, colour, label in ((0.15, "pseudo", "tab:orange", "pseudo team vs real team"),
                                       (-0.15, "none", "tab:red", "no team vs real team")):
        est = table[f"or_{key}"].to_numpy()
        ax.errorbar(est, y + offset, xerr=[est - table[f"or_{key}_low"].to_numpy(),
                                           table[f"or_{key}_high"].to_numpy() - est],
                    fmt="o", ms=4, capsize=2, color=colour, label=f"{label}, 95% CI")
        ax.scatter(table[f"true_or_{key}"], y + offset, marker="x", color="k", zorder=3,
                   label="simulated truth" if key == "pseudo" else None)
    ax.axvline(1.0, color="0.6", lw=1)
    ax.set_xscale("log")
    lo = float(np.nanmin(table[["or_pseudo_low", "or_none_low"]].to_numpy()))
    hi = float(np.nanmax(table[["or_pseudo_high", "or_none_high"]].to_numpy()))
    ticks = [t for t in (0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0) if lo / 1.1 <= t <= hi * 1.1]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    labels = {m.item: m.label for m in DEFAULT_OUTCOMES}
    ax.set_yticks(y, [labels.get(i, str(i)) for i in table.index], fontsize=8)
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.set_xlabel("odds ratio (log scale; adjusted for tenure)")
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return fig


@stage
def run(ctx) -> None:
    staff = ctx.survey.staff
    answers, source = _outcomes(ctx)
    truth = outcome_truth()
    base = pd.DataFrame({
        "trust": staff["trust"], "team": staff["team"],
        "team_type": pd.Categorical(staff["team_type"].astype(str), categories=["real", "pseudo", "none"]),
        "tenure_c": staff["tenure"] - 8.0,
    })
    ctx.say(f"model: {FORMULA.replace('y ~', 'outcome ~')}, binomial logit, Laplace; {len(staff):,} staff; "
            f"{source}")
    ctx.say("odds ratios (95% CI) versus staff in real teams; MOR = median odds ratio; truth in []:")
    fits, rows, covered, checks, missed = {}, [], 0, 0, []
    t_all = time.perf_counter()
    for m in DEFAULT_OUTCOMES:
        frame = base.assign(y=np.where(answers[m.item].isna(), np.nan, (answers[m.item] == 1.0).astype(float)))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # unanswered questions are dropped and counted in the report line
            warnings.simplefilter("ignore", DroppedDataWarning)
            # a variance at zero or a failed convergence is reported in the stage's line below
            warnings.simplefilter("ignore", BoundaryWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = glmm(FORMULA, frame)
        secs = time.perf_counter() - t0
        fits[m.item] = fit
        c = fit.contrasts("team_type", pairs=[("pseudo", "real"), ("none", "real"), ("pseudo", "none")])
        mor = fit.median_odds_ratio()
        tr = truth.loc[m.item]
        wanted = {
            "pseudo vs real": tr["log_or_pseudo"], "none vs real": tr["log_or_none"],
            "pseudo vs none": tr["log_or_pseudo_vs_none"],
        }
        inside = {f"OR {k}": c.loc[k, "ci_low"] <= v <= c.loc[k, "ci_high"] for k, v in wanted.items()}
        inside["MOR trust"] = mor.loc["trust", "ci_low"] <= tr["mor_trust"] <= mor.loc["trust", "ci_high"]
        inside["MOR team"] = mor.loc["trust:team", "ci_low"] <= tr["mor_team"] <= mor.loc["trust:team", "ci_high"]
        covered += sum(bool(x) for x in inside.values())
        checks += len(inside)
        missed += [f"{m.item} {k}" for k, ok in inside.items() if not ok]
        flag = ("" if fit.converged else " (NOT CONVERGED)") + (" (singular fit: a variance at zero)"
                                                                if fit.singular else "")
        ctx.say(f"{m.item:<15} pseudo {_ci(c, 'pseudo vs real')} [{tr['or_pseudo']:.2f}], "
                f"none {_ci(c, 'none vs real')} [{tr['or_none']:.2f}], pseudo vs none {_ci(c, 'pseudo vs none')}; "
                f"MOR trust {mor.loc['trust', 'estimate']:.2f} [{tr['mor_trust']:.2f}], team "
                f"{mor.loc['trust:team', 'estimate']:.2f} [{tr['mor_team']:.2f}]; {fit.n_obs:,} staff, "
                f"{secs:.1f} s{flag}")
        rows.append({"outcome": m.item, "or_pseudo": c.loc["pseudo vs real", "ratio"],
                     "or_pseudo_low": c.loc["pseudo vs real", "ratio_ci_low"],
                     "or_pseudo_high": c.loc["pseudo vs real", "ratio_ci_high"],
                     "or_none": c.loc["none vs real", "ratio"], "or_none_low": c.loc["none vs real", "ratio_ci_low"],
                     "or_none_high": c.loc["none vs real", "ratio_ci_high"],
                     "mor_trust": mor.loc["trust", "estimate"], "mor_team": mor.loc["trust:team", "estimate"],
                     "true_or_pseudo": tr["or_pseudo"], "true_or_none": tr["or_none"],
                     "true_mor_trust": tr["mor_trust"], "true_mor_team": tr["mor_team"]})
    ctx.say(f"truth inside the 95% intervals: {covered} of {checks} (odds ratios and MORs; "
            f"{time.perf_counter() - t_all:.1f} s in all)" + (f"; outside: {', '.join(missed)}" if missed else ""))
    if missed:
        ctx.say("(about 1 in 20 intervals misses by chance; at this size the Laplace approximation's small "
                "downward bias of team variances can also show)")
    first = fits[DEFAULT_OUTCOMES[0].item]
    pp = first.risk_differences("team_type", pairs=[("pseudo", "real"), ("none", "real")])
    ctx.say(f"{DEFAULT_OUTCOMES[0].item}: population-averaged risk difference pseudo vs real "
            f"{pp.loc['pseudo vs real', 'estimate']:+.3f} ({pp.loc['pseudo vs real', 'ci_low']:+.3f} to "
            f"{pp.loc['pseudo vs real', 'ci_high']:+.3f})")
    ctx.results["staff_outcome_fits"] = fits
    table = pd.DataFrame(rows).set_index("outcome")
    ctx.write_table("staff_outcomes_odds_ratios", table)
    ctx.show("odds ratios versus staff in real teams, median odds ratios, and the simulated truth",
             table[["or_pseudo", "true_or_pseudo", "or_none", "true_or_none", "mor_trust", "true_mor_trust",
                    "mor_team", "true_mor_team"]])
    ctx.draw("staff_outcomes_odds_ratios",
             "Odds ratios of staff in pseudo teams and in no team versus staff in real teams for each staff-level "
             "outcome (multilevel logistic models, Laplace; 95% Wald intervals), against the simulator's truth.",
             lambda plt: _figure_odds_ratios(plt, table))
