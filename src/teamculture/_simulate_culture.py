"""Simulated culture surveys and engagement chains with known truth (private; the lead wires them in).

Two generators:

:func:`simulate_culture` -- element-level culture of trusts and teams driving
the measures of the built-in framework ``"nhs-culture-elements"``, over one
or more survey years, with a few trust-elements made strong or weak.

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

:func:`simulate_engagement` -- the King's Fund chain (antecedents ->
engagement -> wellbeing -> outcomes), either as trust-level data (single
level) or as staff nested in teams in trusts with trust-level outcomes
(multilevel), with the true paths and indirect effects.

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
trust's latent engagement ``M*_k = a_B' X*_k + u_k``; trust outcomes load on
``M*_k`` and ``X*_k`` (``b_B``, ``c_B``), so the indirect effect of an
antecedent on an outcome is ``a_B * b_B`` (between level only; ``a_W`` has no
path to a trust-level outcome).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_int, check_real, check_rng

__all__ = ["simulate_culture", "CultureSimulation", "simulate_engagement", "EngagementSimulation",
           "ELEMENTS", "ANTECEDENTS"]

#: Elements of the built-in framework, in order.
ELEMENTS: tuple[str, ...] = ("vision_values", "goals_performance", "support_compassion", "learning_innovation",
                             "teamwork", "compassionate_leadership")
_SHIFTABLE = ELEMENTS[:5]

#: item columns per measure: (element, items, number of codes, reversed items, offset)
_MEASURES: tuple[tuple[str, tuple[str, ...], int, tuple[str, ...], float], ...] = (
    ("vision_values", ("adv1", "adv2", "adv3"), 5, (), 0.3),
    ("goals_performance", ("tci1", "tci2", "tci3", "tci4"), 5, (), 0.2),
    ("goals_performance", ("tci9", "tci10", "tci11"), 5, (), 0.0),
    ("support_compassion", ("ps1", "ps2", "ps3", "ps4", "ps5", "ps6", "ps7"), 7, ("ps1", "ps3", "ps5"), 0.2),
    ("support_compassion", ("inv1", "inv2", "inv3"), 5, (), 0.1),
    ("learning_innovation", ("tci12", "tci13", "tci14"), 5, (), -0.1),
    ("learning_innovation", ("A6", "A9", "A13"), 5, (), 0.1),
    ("teamwork", ("A1", "A3", "A4", "A11"), 5, (), 0.4),
    ("teamwork", ("F2", "F4", "F6", "F10"), 5, ("F2", "F6"), -0.2),
    ("compassionate_leadership", ("cl1", "cl2", "cl3", "cl4"), 5, (), 0.3),
)
_THRESHOLDS = {5: np.array([-1.6, -0.8, 0.0, 1.0]), 7: np.array([-1.8, -1.2, -0.6, 0.0, 0.7, 1.4])}

#: The King's Fund antecedents of engagement.
ANTECEDENTS: tuple[str, ...] = ("leadership", "supervisor_support", "team_working", "work_pressure",
                                "valued_by_colleagues")


@dataclass(frozen=True)
class CultureSimulation:
    """A simulated culture survey and its truth.

    Attributes
    ----------
    staff : pandas.DataFrame
        One row per respondent and year: ``year``, ``trust``, ``team`` (unique
        across trusts), ``peer_group`` ("acute"/"community", alternating
        trusts), the item columns of the framework's measures (float codes,
        NaN missing).
    truth : pandas.DataFrame
        One row per (trust, element): ``effect`` (latent ``c + s`` in the
        last year, staff-SD units), ``shift`` (``s``), ``status``
        ("strong"/"weak"/"ordinary"), ``change`` (``delta``).
    params : dict
        The arguments of the simulation.
    """

    staff: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _corr(n: int, rho: float) -> np.ndarray:
    return np.full((n, n), rho) + (1.0 - rho) * np.eye(n)


def _ordinal(latent: np.ndarray, n_codes: int) -> np.ndarray:
    return 1.0 + np.searchsorted(_THRESHOLDS[n_codes], latent, side="left").astype(float)


def simulate_culture(
    *,
    n_trusts: int = 30,
    teams_per_trust: int = 8,
    staff_per_team: int = 10,
    years: tuple[int, ...] = (2022, 2023),
    tau_trust: float = 0.25,
    tau_team: float = 0.30,
    element_corr: float = 0.5,
    n_strong: int = 2,
    n_weak: int = 2,
    shift: float = 1.2,
    n_changed: int = 3,
    change: float = 0.5,
    loading: float = 1.0,
    item_noise: float = 0.7,
    real_team_slope: float = 1.0,
    p_in_team: float = 0.92,
    missing_rate: float = 0.02,
    trust_labels: Any = None,
    rng: Any = None,
) -> CultureSimulation:
    """Simulate element-level culture of trusts and teams and the framework's item responses.

    See the module docstring for the model. Team sizes are ``2 + Poisson(
    staff_per_team - 2)`` each year; items are missing at random with
    probability ``missing_rate``. ``trust_labels`` (optional) names the
    trusts, e.g. those of a national survey (``survey.trusts.index``), so that
    the culture data join its trust tables; ``n_trusts`` is then their number.
    """
    gen = check_rng(rng)
    if trust_labels is not None:
        trust_labels = np.asarray(list(trust_labels), dtype=object)
        n_trusts = len(trust_labels)
        if len(set(trust_labels.tolist())) != n_trusts:
            raise ValueError("`trust_labels` must be unique.")
    K = check_int("n_trusts", n_trusts, minimum=3)
    J = check_int("teams_per_trust", teams_per_trust, minimum=1)
    m = check_int("staff_per_team", staff_per_team, minimum=2)
    years = tuple(int(y) for y in years)
    if not years:
        raise ValueError("`years` must name at least one survey year.")
    for name, v in (("tau_trust", tau_trust), ("tau_team", tau_team), ("shift", shift), ("item_noise", item_noise)):
        check_real(name, v, low=0.0)
    check_real("element_corr", element_corr, low=0.0, high=0.95)
    n_strong = check_int("n_strong", n_strong, minimum=0)
    n_weak = check_int("n_weak", n_weak, minimum=0)
    n_changed = check_int("n_changed", n_changed, minimum=0)
    if n_strong + n_weak > K * len(_SHIFTABLE):
        raise ValueError("`n_strong` + `n_weak` exceed the number of trust-elements.")
    E = len(ELEMENTS)
    R = _corr(E, element_corr)
    L = np.linalg.cholesky(R)

    c = tau_trust * gen.standard_normal((K, E)) @ L.T
    s = np.zeros((K, E))
    pairs = gen.choice(K * len(_SHIFTABLE), size=n_strong + n_weak, replace=False)
    for r, p in enumerate(pairs):
        k, e = divmod(int(p), len(_SHIFTABLE))
        s[k, e] = shift if r < n_strong else -shift
    delta = np.zeros((K, E))
    if n_changed:
        for p in gen.choice(K * E, size=min(n_changed, K * E), replace=False):
            k, e = divmod(int(p), E)
            delta[k, e] = change
    n_teams = K * J
    team_trust = np.repeat(np.arange(K), J)
    d = tau_team * gen.standard_normal((n_teams, E)) @ L.T

    if trust_labels is None:
        trust_labels = np.array([f"TR{k + 1:02d}" for k in range(K)], dtype=object)
    team_labels = np.array([f"{trust_labels[t]}-T{j % J + 1:02d}" for j, t in enumerate(team_trust)], dtype=object)
    frames = []
    logit0 = math.log(0.4 / 0.6)
    for y_index, year in enumerate(years):
        last = y_index == len(years) - 1
        sizes = 2 + gen.poisson(max(m - 2, 0), n_teams)
        team = np.repeat(np.arange(n_teams), sizes)
        trust = team_trust[team]
        n = team.size
        eta = (c + s + (delta if last else 0.0))[trust] + d[team] + gen.standard_normal((n, E)) @ L.T
        cols: dict[str, Any] = {
            "year": np.full(n, year),
            "trust": trust_labels[trust],
            "team": team_labels[team],
            "peer_group": np.where(trust % 2 == 0, "acute", "community"),
        }
        for element, items, n_codes, reversed_items, offset in _MEASURES:
            e = ELEMENTS.index(element)
            latent = loading * eta[:, [e]] + offset + gen.normal(0.0, item_noise, (n, len(items)))
            codes = _ordinal(latent, n_codes)
            for j, item in enumerate(items):
                x = codes[:, j]
                if item in reversed_items:
                    x = (n_codes + 1.0) - x
                cols[item] = x
        # real-team answers (1 = yes, 2 = no)
        in_team = gen.random(n) < p_in_team
        p_real = 1.0 / (1.0 + np.exp(-(logit0 + real_team_slope * eta[:, ELEMENTS.index("teamwork")])))
        real = in_team & (gen.random(n) < p_real)
        crit = np.ones((n, 3))
        pseudo = in_team & ~real
        n_no = gen.integers(1, 4, n)
        order = np.argsort(gen.random((n, 3)), axis=1)
        for r in np.flatnonzero(pseudo):
            crit[r, order[r, : n_no[r]]] = 2.0
        crit[~in_team] = np.nan
        cols["rt_team"] = np.where(in_team, 1.0, 2.0)
        cols["rt_objectives"], cols["rt_close"], cols["rt_review"] = crit[:, 0], crit[:, 1], crit[:, 2]
        frame = pd.DataFrame(cols)
        item_cols = [c for c in frame.columns if c not in ("year", "trust", "team", "peer_group", "rt_team",
                                                            "rt_objectives", "rt_close", "rt_review")]
        miss = gen.random((n, len(item_cols))) < missing_rate
        frame[item_cols] = frame[item_cols].mask(miss)
        frames.append(frame)
    staff = pd.concat(frames, ignore_index=True)
    status = np.where(s > 0, "strong", np.where(s < 0, "weak", "ordinary"))
    truth = pd.DataFrame({
        "effect": (c + s + delta).ravel(),
        "shift": s.ravel(),
        "status": status.ravel(),
        "change": delta.ravel(),
    }, index=pd.MultiIndex.from_product([trust_labels, list(ELEMENTS)], names=["trust", "element"]))
    params = dict(n_trusts=K, teams_per_trust=J, staff_per_team=m, years=years, tau_trust=tau_trust,
                  tau_team=tau_team, element_corr=element_corr, n_strong=n_strong, n_weak=n_weak, shift=shift,
                  n_changed=n_changed, change=change, loading=loading, item_noise=item_noise,
                  real_team_slope=real_team_slope, p_in_team=p_in_team, missing_rate=missing_rate,
                  trust_labels=tuple(trust_labels))
    return CultureSimulation(staff=staff, truth=truth, params=params)


# --------------------------------------------------------------------------- the engagement chain
@dataclass(frozen=True)
class EngagementSimulation:
    """A simulated King's Fund engagement chain and its truth.

    Attributes
    ----------
    trusts : pandas.DataFrame
        One row per trust, indexed by ``trust``: the antecedents (single
        level) or their latent trust means ``true_<name>`` (multilevel),
        ``engagement`` (single level) / ``true_engagement`` (multilevel),
        ``wellbeing`` (single level), and the outcomes
        ``patient_satisfaction``, ``absence_rate``, ``expected_deaths``,
        ``observed_deaths``.
    staff : pandas.DataFrame or None
        Multilevel only: one row per staff member with ``trust``, ``team``,
        the antecedents, ``engagement``, and the trust's outcomes repeated.
    paths : pandas.DataFrame
        True coefficients: index ``(equation, term)``, column ``value``.
    indirect : pandas.DataFrame
        True indirect effects: index ``(outcome, predictor, path)`` (path as
        "engagement" or "engagement -> wellbeing"), column ``value``.
    params : dict
        The arguments.
    """

    trusts: pd.DataFrame
    staff: pd.DataFrame | None
    paths: pd.DataFrame
    indirect: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


_A = np.array([0.30, 0.20, 0.25, -0.20, 0.15])          # engagement on antecedents
_G = np.array([0.0, 0.0, 0.0, -0.30, 0.0])              # wellbeing on antecedents (work pressure)
_D = 0.40                                                # wellbeing on engagement
_SAT = (0.40, np.array([0.10, 0.0, 0.0, 0.0, 0.0]))      # satisfaction on engagement, antecedents
_ABS = (-0.30, -0.20, np.array([0.0, 0.0, 0.0, 0.10, 0.0]))  # absence on wellbeing, engagement, antecedents
_MORT = (-0.04, np.array([0.0, 0.0, -0.02, 0.0, 0.0]))   # log mortality on engagement, antecedents


def simulate_engagement(
    *,
    n_trusts: int = 150,
    staff_per_trust: int | None = None,
    teams_per_trust: int = 5,
    rho_x: float = 0.4,
    sd_m: float = 0.5,
    sd_w: float = 0.5,
    sd_y: float = 0.5,
    mortality_sd: float = 0.03,
    within_var: float = 4.0,
    a_within: float | None = None,
    tau_engagement: float = 0.3,
    tau_team: float = 0.3,
    sd_staff: float = 1.0,
    scale: float = 1.0,
    rng: Any = None,
) -> EngagementSimulation:
    """Simulate the King's Fund engagement chain with known paths (see the module docstring).

    ``scale`` multiplies every path coefficient (0 gives a null chain).
    In the multilevel design the within-trust paths of engagement on the
    antecedents are ``a_within`` times the between paths' signs (default:
    the between paths themselves, times 0.5), so that a conflated analysis
    gives a visibly wrong answer.
    """
    gen = check_rng(rng)
    K = check_int("n_trusts", n_trusts, minimum=5)
    P = len(ANTECEDENTS)
    Sx = _corr(P, check_real("rho_x", rho_x, low=0.0, high=0.95))
    Lx = np.linalg.cholesky(Sx)
    a, g, dd = scale * _A, scale * _G, scale * _D
    b_sat, c_sat = scale * _SAT[0], scale * _SAT[1]
    b_abs_w, b_abs_m, c_abs = scale * _ABS[0], scale * _ABS[1], scale * _ABS[2]
    b_mort, c_mort = scale * _MORT[0], scale * _MORT[1]
    trust_labels = pd.Index([f"TR{k + 1:03d}" for k in range(K)], name="trust")
    expected = np.round(gen.lognormal(math.log(1212.0) - 0.125, 0.5, K), 1)
    rows = []
    rows += [(("engagement", x), v) for x, v in zip(ANTECEDENTS, a)]
    if staff_per_trust is None:
        X = gen.standard_normal((K, P)) @ Lx.T
        M = X @ a + gen.normal(0.0, sd_m, K)
        W = dd * M + X @ g + gen.normal(0.0, sd_w, K)
        sat = b_sat * M + X @ c_sat + gen.normal(0.0, sd_y, K)
        absence = 4.5 + b_abs_w * W + b_abs_m * M + X @ c_abs + gen.normal(0.0, sd_y, K)
        log_rate = b_mort * M + X @ c_mort + gen.normal(0.0, mortality_sd, K)
        deaths = gen.poisson(expected * np.exp(log_rate)).astype(float)
        trusts = pd.DataFrame(X, columns=list(ANTECEDENTS), index=trust_labels)
        trusts["engagement"] = M
        trusts["wellbeing"] = W
        trusts["patient_satisfaction"] = sat
        trusts["absence_rate"] = absence
        trusts["expected_deaths"] = expected
        trusts["observed_deaths"] = deaths
        rows += [(("wellbeing", "engagement"), dd)] + [(("wellbeing", x), v) for x, v in zip(ANTECEDENTS, g)]
        rows += [(("patient_satisfaction", "engagement"), b_sat)]
        rows += [(("patient_satisfaction", x), v) for x, v in zip(ANTECEDENTS, c_sat)]
        rows += [(("absence_rate", "wellbeing"), b_abs_w), (("absence_rate", "engagement"), b_abs_m)]
        rows += [(("absence_rate", x), v) for x, v in zip(ANTECEDENTS, c_abs)]
        rows += [(("observed_deaths", "engagement"), b_mort)]
        rows += [(("observed_deaths", x), v) for x, v in zip(ANTECEDENTS, c_mort)]
        ind = []
        for j, x in enumerate(ANTECEDENTS):
            ind.append((("patient_satisfaction", x, "engagement"), a[j] * b_sat))
            ind.append((("absence_rate", x, "engagement"), a[j] * b_abs_m))
            ind.append((("absence_rate", x, "wellbeing"), g[j] * b_abs_w))
            ind.append((("absence_rate", x, "engagement -> wellbeing"), a[j] * dd * b_abs_w))
            ind.append((("observed_deaths", x, "engagement"), a[j] * b_mort))
        staff = None
    else:
        n_k = check_int("staff_per_trust", staff_per_trust, minimum=2)
        T = check_int("teams_per_trust", teams_per_trust, minimum=1)
        a_w = 0.5 * a if a_within is None else a_within * np.sign(a)
        Xs = gen.standard_normal((K, P)) @ Lx.T
        u = gen.normal(0.0, tau_engagement, K)
        Ms = Xs @ a + u
        sizes = np.maximum(2, gen.poisson(n_k, K))
        trust = np.repeat(np.arange(K), sizes)
        n = trust.size
        team_local = gen.integers(0, T, n)
        team_codes = trust * T + team_local
        v = gen.normal(0.0, tau_team, K * T)
        w = math.sqrt(within_var) * (gen.standard_normal((n, P)) @ Lx.T)
        X = Xs[trust] + w
        M = Ms[trust] + w @ a_w + v[team_codes] + gen.normal(0.0, sd_staff, n)
        sat = b_sat * Ms + Xs @ c_sat + gen.normal(0.0, sd_y, K)
        absence = 4.5 + b_abs_m * Ms + Xs @ c_abs + gen.normal(0.0, sd_y, K)
        log_rate = b_mort * Ms + Xs @ c_mort + gen.normal(0.0, mortality_sd, K)
        deaths = gen.poisson(expected * np.exp(log_rate)).astype(float)
        trusts = pd.DataFrame(Xs, columns=[f"true_{x}" for x in ANTECEDENTS], index=trust_labels)
        trusts["true_engagement"] = Ms
        trusts["patient_satisfaction"] = sat
        trusts["absence_rate"] = absence
        trusts["expected_deaths"] = expected
        trusts["observed_deaths"] = deaths
        staff = pd.DataFrame(X, columns=list(ANTECEDENTS))
        staff.insert(0, "trust", np.asarray(trust_labels)[trust])
        staff.insert(1, "team", [f"{trust_labels[t]}-{j + 1}" for t, j in zip(trust, team_local)])
        staff["engagement"] = M
        for col in ("patient_satisfaction", "absence_rate", "expected_deaths", "observed_deaths"):
            staff[col] = trusts[col].to_numpy()[trust]
        rows = [(("between: engagement", x), v) for x, v in zip(ANTECEDENTS, a)]
        rows += [(("within: engagement", x), v) for x, v in zip(ANTECEDENTS, a_w)]
        rows += [(("patient_satisfaction", "engagement"), b_sat)]
        rows += [(("patient_satisfaction", x), v) for x, v in zip(ANTECEDENTS, c_sat)]
        rows += [(("absence_rate", "engagement"), b_abs_m)]
        rows += [(("absence_rate", x), v) for x, v in zip(ANTECEDENTS, c_abs)]
        rows += [(("observed_deaths", "engagement"), b_mort)]
        rows += [(("observed_deaths", x), v) for x, v in zip(ANTECEDENTS, c_mort)]
        ind = []
        for j, x in enumerate(ANTECEDENTS):
            ind.append((("patient_satisfaction", x, "engagement"), a[j] * b_sat))
            ind.append((("absence_rate", x, "engagement"), a[j] * b_abs_m))
            ind.append((("observed_deaths", x, "engagement"), a[j] * b_mort))
    paths = pd.DataFrame({"value": [v for _, v in rows]},
                         index=pd.MultiIndex.from_tuples([k for k, _ in rows], names=["equation", "term"]))
    indirect = pd.DataFrame({"value": [v for _, v in ind]},
                            index=pd.MultiIndex.from_tuples([k for k, _ in ind], names=["outcome", "predictor",
                                                                                         "path"]))
    params = dict(n_trusts=K, staff_per_trust=staff_per_trust, teams_per_trust=teams_per_trust, rho_x=rho_x,
                  sd_m=sd_m, sd_w=sd_w, sd_y=sd_y, mortality_sd=mortality_sd, within_var=within_var,
                  tau_engagement=tau_engagement, tau_team=tau_team, sd_staff=sd_staff, scale=scale)
    return EngagementSimulation(trusts=trusts, staff=staff, paths=paths, indirect=indirect, params=params)
