"""Simulated NHS-like national staff surveys with known truth.

:func:`national_survey` draws trusts, teams nested in trusts and staff nested
in teams, with unbalanced sizes, latent culture at each level, item responses
on each instrument's response scale, real-team answers, missing responses,
and trust-level outcomes (expected and observed deaths, absence) generated
from a known model. It feeds the demo, the tests, the benchmarks and power
analysis.

Two more generators serve the culture-profile and mediation areas:
:func:`simulate_culture` (element-level culture of trusts and teams driving
the measures of the framework ``"nhs-culture-elements"``, over survey years,
with strong, weak and changed trust-elements; :class:`CultureSimulation`)
and :func:`simulate_engagement` (the King's Fund chain antecedents ->
engagement -> wellbeing -> outcomes, at trust level or with staff nested in
teams in trusts, with the true paths and indirect effects;
:class:`EngagementSimulation`). Their models are written out at the end.

The generative model
--------------------
Indices: trust ``k``, team ``j`` (in exactly one trust), staff member ``i``
(in exactly one team).

*Sizes.* Teams are allocated to trusts, and staff to teams, multinomially
with log-normal weights (``size_dispersion``), after giving every trust one
team and every team ``min_team_size`` staff; totals are exactly as requested.

*Real teams* (Aston definition). A team has a real-team structure with
probability ``expit(logit(real_team_prevalence) + a_k)``,
``a_k ~ N(0, trust_real_sd^2)``. Each staff member says they work in a team
with probability ``p_in_team``; those who do answer the three criteria
(clear shared objectives, working closely, meeting to review) "yes" each with
probability ``p_criterion_real`` in structurally real teams and
``p_criterion_pseudo`` otherwise. Staff who answer "no" to the team question
skip the criteria (missing by design). A respondent is *real* if all four
answers are yes, *pseudo* if in a team but any criterion is no, *none*
otherwise.

*Latent engagement* (a linear mixed model, exactly)::

    eta_i = intercept + beta_real_team * real_i + beta_tenure * (tenure_i - 8)
            + u_k + v_j + e_i,
    u_k ~ N(0, tau2_trust), v_j ~ N(0, tau2_team), e_i ~ N(0, sigma2).

*Item responses.* Each engagement item has latent response
``eta_i + N(0, item_noise^2)`` cut at ordered thresholds into the five codes
1..5 (motivation on the Never..Always frequency scale, involvement and
advocacy on Strongly disagree..Strongly agree). Compassionate-leadership
items (q9f-q9i, 1..5) load on a team manager effect plus half the team and
trust culture; the seven Edmondson psychological-safety items (1..7) load on
a team climate correlated with the culture effects and on real-team
membership; items 1, 3 and 5 are negatively worded, so their codes are
reversed. Each attitude response is missing with probability
``missing_rate`` and ``block_skip_rate`` of respondents skip the whole
psychological-safety block.

*Trust outcomes.* Expected deaths ``E_k`` are log-normal with mean
``expected_deaths_mean``. Over ``n_years`` survey years the trust's real-team
percentage moves around its observed value in the final year; observed
deaths are::

    D_kt ~ Poisson(E_kt * exp(mortality_intercept
                              + mortality_beta * (share_kt - share_center)
                              + delta_k + epsilon_kt)),

with ``delta_k ~ N(0, mortality_overdispersion_sd^2)`` and ``epsilon_kt``
year noise. ``share_kt`` is in percentage points (0-100); the default
``mortality_beta = ln(1 - 0.033) / 5`` is the slope implied by "5 percentage
points more staff in real teams, 3.3% lower mortality". The final year's
share is computed from the staff rows (denominator: all respondents of the
trust), so the trust table agrees with the staff table exactly. The absence
rate (%) is ``absence_intercept + absence_slope * mean(eta in trust) +
N(0, absence_sd^2)``.

Columns of ``SimulatedSurvey.staff``
----------------------------------------
``staff_id``, ``trust``, ``team`` (unique across trusts), ``team_in_trust``
(a local number reused across trusts: the nesting trap), ``occupation``,
``tenure`` (years), the real-team items ``rt_team``, ``rt_objectives``,
``rt_close``, ``rt_review`` (1 = Yes, 2 = No), engagement items ``mot1``-
``mot3``, ``inv1``-``inv3``, ``adv1``-``adv3``, compassionate-leadership
items ``cl1``-``cl4``, psychological-safety items ``ps1``-``ps7``, and the
truths ``team_type`` ("real"/"pseudo"/"none", as classified from the answers)
and ``latent_engagement`` (``eta_i``), and five staff-level yes/no outcomes
``out_error``, ``out_injury``, ``out_stress``, ``out_harassment``,
``out_leave`` (1 = Yes, 2 = No; the ``nhs-staff-outcomes`` questions) drawn
by :func:`staff_outcomes` from the true models in :data:`DEFAULT_OUTCOMES`
(:func:`outcome_truth` tabulates them). Item columns are ``float64`` with
``NaN`` for missing answers.

*Staff outcomes.* For outcome ``o`` (a multilevel logistic model, exactly)::

    logit P(y_io = 1) = a_o + b_o,pseudo [pseudo_i] + b_o,none [none_i]
                        + c_o (tenure_i - 8) + u_ko + v_jo,
    u_ko ~ N(0, sd_trust_o^2), v_jo ~ N(0, sd_team_o^2),

independent across outcomes and of the engagement effects; each answer is
missing with probability 0.02. These draws come after all others, so the
rest of the survey is the same as without them.

Culture profiles (:func:`simulate_culture`)
-------------------------------------------
*Model.* Elements ``e = 1..6`` (the framework's, in order), trusts ``k``,
teams ``j`` (nested in trusts, persisting across years), staff ``i`` (a new
sample each year). On the latent scale (staff residual SD 1)::

    eta_ie(y) = c_ke + s_ke + delta_ke * [y = last year] + d_je + eps_ie,
    c_k ~ N(0, tau_trust^2 R),  d_j ~ N(0, tau_team^2 R),  eps_i ~ N(0, R),

``R`` the element correlation matrix (``element_corr`` off the diagonal),
``s_ke = +shift`` for the ``n_strong`` trust-elements made strong and
``-shift`` for the ``n_weak`` made weak (drawn among the five elements other
than compassionate leadership, whose measure is shared with support and
compassion), and ``delta_ke`` the true change into the last year (``change``
for ``n_changed`` trust-elements, else 0). Each measure's items load on one
element's latent: ``x* = loading * eta + N(0, item_noise^2) + offset`` cut
into the item's codes (negatively worded items reverse-coded after cutting);
the real-team classification answers: in a team with probability
``p_in_team``; in a real team (all criteria "yes") with probability
``expit(logit(0.4) + real_team_slope * eta_teamwork)``, else in a pseudo team
with one to three criteria "no". Compassionate-leadership items load on the
compassionate-leadership latent; support and compassion is measured by
psychological safety and involvement (and the shared compassionate-leadership
measure), so its score moves by about two thirds of a shift of its latent.

Engagement chains (:func:`simulate_engagement`)
-----------------------------------------------
The King's Fund chain, as trust-level data (single level) or as staff nested
in teams in trusts with trust-level outcomes (multilevel), with the true paths
and indirect effects; ``effect_scale`` multiplies every path.

*Single-level model* (one row per trust)::

    X ~ N(0, S_X)  (leadership, supervisor_support, team_working,
                    work_pressure, valued_by_colleagues; correlations rho_x)
    engagement  = a' X + e_M,                    e_M ~ N(0, sd_m^2)
    wellbeing   = d * engagement + g' X + e_W,   e_W ~ N(0, sd_w^2)
    patient_satisfaction = b_sat * engagement + c_sat' X + e,
    absence_rate = 4.5 + b_abs_w * wellbeing + b_abs_m * engagement + c_abs' X + e,
    observed_deaths ~ Poisson(E * exp(b_mort * engagement + c_mort' X + u)),
        u ~ N(0, mortality_sd^2),  E ~ log-normal with mean 1212.

*Multilevel model* (``staff_per_trust`` given): the antecedents of staff
``i`` in trust ``k`` are ``X_ik = X*_k + w_ik`` with trust means
``X*_k ~ N(0, S_X)`` and within-trust deviations ``w_ik ~ N(0, within_var *
S_X)``; engagement ``M_ik = a_B' X*_k + a_W' w_ik + u_k + v_j + e_ik``; the
trust's latent engagement ``M*_k = a_B' X*_k + u_k`` (``u_k ~ N(0,
tau_engagement^2)``, team effects ``v_j ~ N(0, tau_team^2)``, ``e_ik ~ N(0,
sd_staff^2)``; ``a_W`` = ``a_within`` times the signs of ``a_B``, default
``a_B / 2``); trust outcomes load on
``M*_k`` and ``X*_k`` (``b_B``, ``c_B``), so the indirect effect of an
antecedent on an outcome is ``a_B * b_B`` (between level only; ``a_W`` has no
path to a trust-level outcome).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_choice, check_int, check_probability, check_real, check_rng, \
    did_you_mean
from teamculture._simulate_culture import (
    ANTECEDENTS,
    ELEMENTS,
    CultureSimulation,
    EngagementSimulation,
    simulate_culture,
    simulate_engagement,
)
from teamculture._simulate_outcomes import DEFAULT_OUTCOMES, OutcomeModel, outcome_truth, staff_outcomes
from teamculture.results import Result, Summary, result_class

__all__ = ["national_survey", "SimulatedSurvey", "SimulationParameters", "PRESETS", "staff_outcomes",
           "outcome_truth", "OutcomeModel", "DEFAULT_OUTCOMES", "simulate_culture", "CultureSimulation",
           "simulate_engagement", "EngagementSimulation", "ELEMENTS", "ANTECEDENTS"]

#: Sizes (trusts, teams, staff) for the ``size`` presets.
PRESETS: dict[str, tuple[int, int, int]] = {
    "national": (250, 25_000, 700_000),
    "small": (20, 500, 10_000),
    "tiny": (4, 24, 300),
}

OCCUPATIONS: tuple[str, ...] = ("nursing", "medical", "ahp", "admin", "other")
_OCCUPATION_SHARES = np.array([0.35, 0.12, 0.15, 0.23, 0.15])

ENGAGEMENT_ITEMS: tuple[str, ...] = (
    "mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3",
)
LEADERSHIP_ITEMS: tuple[str, ...] = ("cl1", "cl2", "cl3", "cl4")
PSYCH_SAFETY_ITEMS: tuple[str, ...] = ("ps1", "ps2", "ps3", "ps4", "ps5", "ps6", "ps7")
PSYCH_SAFETY_REVERSED: tuple[str, ...] = ("ps1", "ps3", "ps5")
REAL_TEAM_ITEMS: tuple[str, ...] = ("rt_team", "rt_objectives", "rt_close", "rt_review")

# thresholds on the latent response scale (item latent has sd ~ 0.9), 5 and 7 points
_THRESHOLDS_5 = np.array([-1.9, -1.1, -0.15, 1.05])
_THRESHOLDS_7 = np.array([-2.0, -1.4, -0.8, -0.2, 0.5, 1.3])


@dataclass(frozen=True)
class SimulationParameters:
    """True parameters of the generative model (see the module docstring).

    Variances are on the latent-engagement scale; ``mortality_beta`` is the
    log rate ratio per percentage point of staff in real teams.
    """

    intercept: float = 0.0
    beta_real_team: float = 0.30
    beta_tenure: float = -0.01
    tau2_trust: float = 0.02
    tau2_team: float = 0.08
    sigma2: float = 0.60
    item_noise: float = 0.45
    real_team_prevalence: float = 0.40
    trust_real_sd: float = 0.6
    p_in_team: float = 0.91
    p_criterion_real: float = 0.92
    p_criterion_pseudo: float = 0.60
    missing_rate: float = 0.02
    block_skip_rate: float = 0.01
    min_team_size: int = 2
    size_dispersion: float = 0.6
    expected_deaths_mean: float = 1212.0
    expected_deaths_sd_log: float = 0.5
    mortality_intercept: float = 0.0
    mortality_beta: float = math.log(1 - 0.033) / 5
    share_center: float = 40.0
    mortality_overdispersion_sd: float = 0.04
    mortality_year_sd: float = 0.02
    share_year_sd: float = 2.5
    absence_intercept: float = 4.6
    absence_slope: float = -2.0
    absence_sd: float = 0.3

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict."""
        return asdict(self)


@result_class
class SimulatedSurvey(Result):
    """A simulated national staff survey and the truth behind it; returned by :func:`national_survey`.

    Attributes
    ----------
    staff : pandas.DataFrame
        One row per respondent (columns listed in :mod:`teamculture.simulate`).
    teams : pandas.DataFrame
        One row per team, indexed by ``team``: ``trust``, ``team_in_trust``,
        ``n_staff``, ``true_real_structure`` (bool), ``true_effect`` (v_j),
        ``true_manager_effect``.
    trusts : pandas.DataFrame
        One row per trust, indexed by ``trust``, for the survey year:
        ``n_staff``, ``n_teams``, ``real_team_pct`` (from the staff rows,
        all respondents as denominator), ``expected_deaths``,
        ``observed_deaths``, ``smr``, ``absence_rate``, ``true_effect`` (u_k),
        ``true_mortality_effect`` (delta_k).
    panel : pandas.DataFrame
        Trust-by-year outcomes with a (``trust``, ``year``) MultiIndex:
        ``real_team_pct``, ``expected_deaths``, ``observed_deaths``, ``smr``.
        The last year equals ``trusts``.
    params : SimulationParameters
        The true parameters.
    seed : int or None
        The integer seed the data were drawn from (``rng=<int>``); ``None``
        when drawn from a Generator or from fresh entropy.
    survey_year : int
        The year of the staff-level survey.
    n_obs : int
        Staff (rows of ``staff``).
    n_dropped : int
        Always 0 (nothing is dropped; missing answers are part of the data).
    n_groups : pandas.Series
        Numbers of trusts and teams.
    """

    staff: pd.DataFrame
    teams: pd.DataFrame
    trusts: pd.DataFrame
    panel: pd.DataFrame
    params: SimulationParameters
    seed: int | None = None
    survey_year: int = 2023

    @property
    def sizes(self) -> dict[str, int]:
        """Numbers of trusts, teams and staff."""
        return {"trusts": len(self.trusts), "teams": len(self.teams), "staff": len(self.staff)}

    def to_frame(self) -> pd.DataFrame:
        """The staff table (one row per respondent; the object itself, not a copy)."""
        return self.staff

    def summary(self) -> Summary:
        """Sizes, the survey year and the true parameters."""
        s = self.sizes
        header = [("staff", s["staff"]), ("teams", s["teams"]), ("trusts", s["trusts"]),
                  ("survey year", self.survey_year), ("panel years", int(self.panel.index.get_level_values(1).nunique())),
                  ("seed", "none (Generator or fresh entropy)" if self.seed is None else str(self.seed))]
        params = pd.DataFrame({"value": pd.Series(self.params.as_dict(), dtype=float)})
        return Summary("Simulated national staff survey", header=header, tables=[("True parameters", params)])

    def __repr__(self) -> str:
        s = self.sizes
        return (
            f"SimulatedSurvey({s['staff']:,} staff in {s['teams']:,} teams in "
            f"{s['trusts']:,} trusts; survey year {self.survey_year}; seed={self.seed})"
        )


def _allocate(rng: np.random.Generator, total: int, n_units: int, minimum: int, dispersion: float) -> np.ndarray:
    """Split ``total`` into ``n_units`` counts >= ``minimum`` with log-normal weights."""
    w = rng.lognormal(0.0, dispersion, size=n_units)
    extra = rng.multinomial(total - minimum * n_units, w / w.sum())
    return extra + minimum


def _ordinal(latent: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Cut latent responses at ``thresholds`` into codes 1..len(thresholds)+1."""
    return 1.0 + np.searchsorted(thresholds, latent, side="left").astype(np.float64)


_INT_PARAMS = ("min_team_size",)


def _validate_national_survey(size: Any, n_trusts: Any, n_teams: Any, n_staff: Any, n_years: Any,
                              survey_year: Any, params: Any, overrides: dict[str, Any]
                              ) -> tuple[int, int, int, int, int, SimulationParameters]:
    if size is not None:
        check_choice("size", size, list(PRESETS))
        p_trusts, p_teams, p_staff = PRESETS[size]
    else:
        p_trusts, p_teams, p_staff = PRESETS["national"]
    n_trusts = check_int("n_trusts", p_trusts if n_trusts is None else n_trusts)
    n_teams = check_int("n_teams", p_teams if n_teams is None else n_teams)
    n_staff = check_int("n_staff", p_staff if n_staff is None else n_staff)
    n_years = check_int("n_years", n_years)
    survey_year = check_int("survey_year", survey_year, minimum=None)
    if params is None:
        params = SimulationParameters()
    if not isinstance(params, SimulationParameters):
        raise TypeError(f"`params` must be a SimulationParameters; got {type(params).__name__}.")
    if overrides:
        known = [f.name for f in fields(SimulationParameters)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise TypeError(
                f"`{unknown[0]}` is neither an argument of national_survey nor a field of SimulationParameters."
                f"{did_you_mean(unknown[0], known + ['rng', 'n_trusts', 'n_teams', 'n_staff', 'n_years'])} "
                f"Fields: {known}."
            )
        params = replace(params, **overrides)
    for f in fields(SimulationParameters):
        v = getattr(params, f.name)
        if f.name in _INT_PARAMS:
            check_int(f.name, v)
        else:
            check_real(f.name, v)
    m = params.min_team_size
    if n_teams < n_trusts:
        raise ValueError(f"`n_teams` ({n_teams}) must be at least `n_trusts` ({n_trusts}): every trust has a team.")
    if n_staff < m * n_teams:
        raise ValueError(
            f"`n_staff` ({n_staff}) must be at least `min_team_size` x `n_teams` "
            f"({m} x {n_teams} = {m * n_teams})."
        )
    for name in ("real_team_prevalence",):
        check_probability(name, getattr(params, name), open_low=True, open_high=True)
    for name in ("p_in_team", "p_criterion_real", "p_criterion_pseudo", "missing_rate", "block_skip_rate"):
        check_probability(name, getattr(params, name))
    for name in ("tau2_trust", "tau2_team", "sigma2", "item_noise", "trust_real_sd", "size_dispersion",
                 "expected_deaths_sd_log", "mortality_overdispersion_sd", "mortality_year_sd",
                 "share_year_sd", "absence_sd"):
        check_real(name, getattr(params, name), low=0.0)
    check_real("expected_deaths_mean", params.expected_deaths_mean, low=0.0, low_open=True)
    return n_trusts, n_teams, n_staff, n_years, survey_year, params


def national_survey(
    size: str | None = None,
    *,
    n_trusts: int | None = None,
    n_teams: int | None = None,
    n_staff: int | None = None,
    rng: int | np.random.Generator | None = None,
    n_years: int = 5,
    survey_year: int = 2023,
    params: SimulationParameters | None = None,
    **overrides: Any,
) -> SimulatedSurvey:
    """Simulate a national staff survey of trusts, teams and staff with known truth.

    Parameters
    ----------
    size : {"national", "small", "tiny"}, optional
        Preset sizes (trusts, teams, staff): national (250, 25,000, 700,000),
        small (20, 500, 10,000), tiny (4, 24, 300). Default: national.
    n_trusts, n_teams, n_staff : int, optional
        Explicit sizes; each overrides the preset's value.
    rng : int, numpy.random.Generator or None, optional
        Source of randomness, as in ``scipy.stats``: an int seeds
        ``numpy.random.default_rng`` (the same seed and arguments give
        identical data, and the same data as the former ``seed=`` argument),
        a Generator is used as is (its state advances), None draws fresh
        entropy.
    n_years : int, default 5
        Number of survey years in the trust panel; the last is ``survey_year``.
    survey_year : int, default 2023
        The year of the staff-level survey.
    params : SimulationParameters, optional
        True parameters; defaults to ``SimulationParameters()``.
    **overrides
        Individual fields of :class:`SimulationParameters` to change
        (e.g. ``tau2_team=0.0``); an unknown name is refused.

    Returns
    -------
    SimulatedSurvey
        Staff, team, trust and panel tables and the true parameters.

    Notes
    -----
    The model is written out in :mod:`teamculture.simulate`. Drawing the
    national default (700,000 staff) takes a few seconds.

    R: none.

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey("tiny", rng=1)
    >>> sim
    SimulatedSurvey(300 staff in 24 teams in 4 trusts; survey year 2023; seed=1)
    >>> sim.staff[["trust", "team", "mot1", "rt_team"]].head(3)
       trust       team  mot1  rt_team
    0  TR001  TR001-001   3.0      2.0
    1  TR001  TR001-001   3.0      1.0
    2  TR001  TR001-001   NaN      1.0
    >>> round(sim.params.mortality_beta, 5)
    -0.00671
    """
    if "seed" in overrides:
        raise TypeError("`seed` is now `rng` (an int seed, a numpy.random.Generator or None): "
                        "national_survey(..., rng=...).")
    n_trusts, n_teams, n_staff, n_years, survey_year, p = _validate_national_survey(
        size, n_trusts, n_teams, n_staff, n_years, survey_year, params, overrides)
    seed_value = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)) else None
    rng = check_rng(rng)

    # ---- sizes -------------------------------------------------------------
    teams_per_trust = _allocate(rng, n_teams, n_trusts, 1, p.size_dispersion)
    team_trust = np.repeat(np.arange(n_trusts), teams_per_trust)
    staff_per_team = _allocate(rng, n_staff, n_teams, p.min_team_size, p.size_dispersion)
    staff_team = np.repeat(np.arange(n_teams), staff_per_team)
    staff_trust = team_trust[staff_team]
    team_local = np.arange(n_teams) - np.repeat(np.cumsum(teams_per_trust) - teams_per_trust, teams_per_trust) + 1

    # ---- latent structure ----------------------------------------------------
    u = rng.normal(0.0, math.sqrt(p.tau2_trust), n_trusts)
    v = rng.normal(0.0, math.sqrt(p.tau2_team), n_teams)
    a = rng.normal(0.0, p.trust_real_sd, n_trusts)
    logit0 = math.log(p.real_team_prevalence / (1 - p.real_team_prevalence))
    p_struct = 1.0 / (1.0 + np.exp(-(logit0 + a)))
    real_structure = rng.random(n_teams) < p_struct[team_trust]
    manager = rng.normal(0.0, 0.35, n_teams)
    climate = 0.6 * v + rng.normal(0.0, 0.25, n_teams)

    # ---- staff: real-team answers and classification --------------------------
    in_team = rng.random(n_staff) < p.p_in_team
    p_crit = np.where(real_structure[staff_team], p.p_criterion_real, p.p_criterion_pseudo)
    crit = rng.random((n_staff, 3)) < p_crit[:, None]
    all_yes = crit.all(axis=1)
    is_real = in_team & all_yes
    team_type_code = np.where(~in_team, 2, np.where(all_yes, 0, 1))  # 0 real, 1 pseudo, 2 none
    rt = np.empty((n_staff, 4))
    rt[:, 0] = np.where(in_team, 1.0, 2.0)
    rt[:, 1:] = np.where(crit, 1.0, 2.0)
    rt[~in_team, 1:] = np.nan

    occ_mix = rng.dirichlet(_OCCUPATION_SHARES * 60.0, size=n_trusts)
    cum = np.cumsum(occ_mix, axis=1)[staff_trust]
    occupation_code = (rng.random(n_staff)[:, None] > cum).sum(axis=1).clip(max=len(OCCUPATIONS) - 1)
    tenure = np.round(rng.gamma(2.0, 4.0, n_staff), 1)

    e = rng.normal(0.0, math.sqrt(p.sigma2), n_staff)
    eta = (p.intercept + p.beta_real_team * is_real + p.beta_tenure * (tenure - 8.0)
           + u[staff_trust] + v[staff_team] + e)

    # ---- items -----------------------------------------------------------------
    n_eng = len(ENGAGEMENT_ITEMS)
    offsets = np.array([0.25, 0.0, 0.15, 0.1, 0.35, 0.2, -0.1, 0.0, 0.05])
    eng_latent = eta[:, None] - offsets[None, :] + rng.normal(0.0, p.item_noise, (n_staff, n_eng))
    eng = _ordinal(eng_latent, _THRESHOLDS_5)

    zeta = manager[staff_team] + 0.5 * (u[staff_trust] + v[staff_team]) + 0.15 * is_real + rng.normal(0, 0.6, n_staff)
    cl_latent = zeta[:, None] + 0.3 + rng.normal(0.0, p.item_noise, (n_staff, len(LEADERSHIP_ITEMS)))
    cl = _ordinal(cl_latent, _THRESHOLDS_5)

    psi = climate[staff_team] + 0.5 * u[staff_trust] + 0.25 * is_real + rng.normal(0, 0.7, n_staff)
    ps_latent = psi[:, None] + 0.2 + rng.normal(0.0, p.item_noise, (n_staff, len(PSYCH_SAFETY_ITEMS)))
    ps = _ordinal(ps_latent, _THRESHOLDS_7)
    rev = [PSYCH_SAFETY_ITEMS.index(c) for c in PSYCH_SAFETY_REVERSED]
    ps[:, rev] = 8.0 - ps[:, rev]

    attitudes = np.concatenate([eng, cl, ps], axis=1)
    attitudes[rng.random(attitudes.shape) < p.missing_rate] = np.nan
    skip = rng.random(n_staff) < p.block_skip_rate
    attitudes[np.ix_(skip, np.arange(n_eng + len(LEADERSHIP_ITEMS), attitudes.shape[1]))] = np.nan

    # ---- frames ------------------------------------------------------------------
    trust_labels = np.array([f"TR{k + 1:03d}" for k in range(n_trusts)], dtype=object)
    team_labels = np.array(
        [f"{trust_labels[t]}-{loc:03d}" for t, loc in zip(team_trust, team_local)], dtype=object
    )
    trust_cat = pd.Categorical.from_codes(staff_trust, categories=pd.Index(trust_labels))
    team_cat = pd.Categorical.from_codes(staff_team, categories=pd.Index(team_labels))
    item_cols = list(ENGAGEMENT_ITEMS + LEADERSHIP_ITEMS + PSYCH_SAFETY_ITEMS)
    cols: dict[str, Any] = {
        "staff_id": np.arange(1, n_staff + 1),
        "trust": trust_cat,
        "team": team_cat,
        "team_in_trust": team_local[staff_team],
        "occupation": pd.Categorical.from_codes(occupation_code, categories=list(OCCUPATIONS)),
        "tenure": tenure,
    }
    for c, col in zip(REAL_TEAM_ITEMS, rt.T):
        cols[c] = col
    for c, col in zip(item_cols, attitudes.T):
        cols[c] = col
    cols["team_type"] = pd.Categorical.from_codes(team_type_code, categories=["real", "pseudo", "none"])
    cols["latent_engagement"] = eta
    staff = pd.DataFrame(cols)

    teams = pd.DataFrame(
        {
            "trust": pd.Categorical.from_codes(team_trust, categories=pd.Index(trust_labels)),
            "team_in_trust": team_local,
            "n_staff": staff_per_team,
            "true_real_structure": real_structure,
            "true_effect": v,
            "true_manager_effect": manager,
        },
        index=pd.Index(team_labels, name="team"),
    )

    # ---- trust outcomes and panel ------------------------------------------------------
    n_real = np.bincount(staff_trust, weights=is_real, minlength=n_trusts)
    n_in_trust = np.bincount(staff_trust, minlength=n_trusts)
    share_final = 100.0 * n_real / n_in_trust
    mean_eta = np.bincount(staff_trust, weights=eta, minlength=n_trusts) / n_in_trust
    mu_log = math.log(p.expected_deaths_mean) - 0.5 * p.expected_deaths_sd_log**2
    expected_base = rng.lognormal(mu_log, p.expected_deaths_sd_log, n_trusts)
    delta = rng.normal(0.0, p.mortality_overdispersion_sd, n_trusts)
    years = np.arange(survey_year - n_years + 1, survey_year + 1)
    steps_back = (survey_year - years)[None, :]
    share = share_final[:, None] + np.where(
        steps_back > 0, rng.normal(0.0, p.share_year_sd, (n_trusts, n_years)), 0.0
    ) - 0.5 * steps_back
    share = np.clip(share, 0.0, 100.0)
    expected = np.round(expected_base[:, None] * np.exp(rng.normal(0.0, 0.03, (n_trusts, n_years))), 1)
    log_rate = (p.mortality_intercept + p.mortality_beta * (share - p.share_center) + delta[:, None]
                + rng.normal(0.0, p.mortality_year_sd, (n_trusts, n_years)))
    deaths = rng.poisson(expected * np.exp(log_rate)).astype(np.int64)
    absence = p.absence_intercept + p.absence_slope * mean_eta + rng.normal(0.0, p.absence_sd, n_trusts)

    panel = pd.DataFrame(
        {
            "real_team_pct": share.ravel(),
            "expected_deaths": expected.ravel(),
            "observed_deaths": deaths.ravel(),
        },
        index=pd.MultiIndex.from_product([pd.Index(trust_labels, name="trust"), years], names=["trust", "year"]),
    )
    panel["smr"] = panel["observed_deaths"] / panel["expected_deaths"]
    trusts = pd.DataFrame(
        {
            "n_staff": n_in_trust,
            "n_teams": teams_per_trust,
            "real_team_pct": share_final,
            "expected_deaths": expected[:, -1],
            "observed_deaths": deaths[:, -1],
            "smr": deaths[:, -1] / expected[:, -1],
            "absence_rate": absence,
            "true_effect": u,
            "true_mortality_effect": delta,
        },
        index=pd.Index(trust_labels, name="trust"),
    )
    # ---- staff-level yes/no outcomes (drawn last, so every draw above is unchanged) ----------
    staff = pd.concat([staff, staff_outcomes(staff, rng=rng)], axis=1)

    return SimulatedSurvey(
        staff=staff, teams=teams, trusts=trusts, panel=panel, params=p, seed=seed_value, survey_year=survey_year,
        n_obs=n_staff, n_dropped=0,
        n_groups=pd.Series({"trusts": n_trusts, "teams": n_teams}, name="n_groups"),
    )
