"""Simulated culture surveys and engagement chains with known truth (public through :mod:`teamculture.simulate`).

:func:`simulate_culture` draws element-level culture of trusts and teams driving the measures of the
built-in framework ``"nhs-culture-elements"``; :func:`simulate_engagement` draws the King's Fund
antecedents -> engagement -> well-being -> outcomes chain. Both models are written out once, in the
docstring of :mod:`teamculture.simulate` ("Culture profiles", "Engagement chains").
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_int, check_probability, check_real, check_rng, few
from teamculture.results import Result, Summary, result_class

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


@result_class
class CultureSimulation(Result):
    """A simulated culture survey and its truth; returned by :func:`simulate_culture`.

    Attributes
    ----------
    staff : pandas.DataFrame
        One row per respondent and year: ``year``, ``trust``, ``team`` (unique
        across trusts), ``peer_group`` ("acute"/"community", alternating
        trusts), the item columns of the framework's measures (float codes,
        NaN missing) and the real-team answers ``rt_team``, ``rt_objectives``,
        ``rt_close``, ``rt_review`` (1 = yes, 2 = no).
    truth : pandas.DataFrame
        One row per (trust, element): ``effect`` (latent ``c + s + delta`` in
        the last year, staff-SD units), ``shift`` (``s``), ``status``
        ("strong"/"weak"/"ordinary"), ``change`` (``delta``).
    params : dict
        The arguments of the simulation (``trust_labels`` and ``years`` as
        tuples).
    seed : int or None
        The integer seed the data were drawn from (``rng=<int>``); ``None``
        when drawn from a Generator or from fresh entropy.
    n_obs : int
        Rows of ``staff`` (respondents over all years).
    n_dropped : int
        Always 0 (missing answers are part of the data).
    n_groups : pandas.Series
        Numbers of trusts and teams.
    """

    staff: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any]
    seed: int | None = None

    def to_frame(self) -> pd.DataFrame:
        """The staff table (one row per respondent and year; the object itself, not a copy)."""
        return self.staff

    def summary(self) -> Summary:
        """Sizes, years, the true parameters and the strong, weak and changed trust-elements."""
        p = self.params
        header = [("staff rows", int(self.n_obs)), ("teams", int(self.n_groups["teams"])),
                  ("trusts", int(self.n_groups["trusts"])), ("years", ", ".join(str(y) for y in p["years"])),
                  ("strong, weak, changed", f"{p['n_strong']}, {p['n_weak']}, {p['n_changed']}"),
                  ("seed", "none (Generator or fresh entropy)" if self.seed is None else str(self.seed))]
        counts = ("years", "trust_labels", "n_trusts", "teams_per_trust", "staff_per_team", "n_strong", "n_weak",
                  "n_changed")
        scalars = {k: float(v) for k, v in p.items() if k not in counts}
        tables = [("True parameters", pd.DataFrame({"value": pd.Series(scalars, dtype=float)}))]
        marked = self.truth[(self.truth["status"] != "ordinary") | (self.truth["change"] != 0.0)]
        if len(marked):
            tables.append(("Strong, weak and changed trust-elements", marked))
        return Summary("Simulated culture survey", header=header, tables=tables)

    def __repr__(self) -> str:
        return (f"CultureSimulation({int(self.n_obs):,} staff rows in {int(self.n_groups['teams']):,} teams in "
                f"{int(self.n_groups['trusts']):,} trusts; years {self.params['years']}; seed={self.seed})")


# public home (pickles and the API reference name it there)
CultureSimulation.__module__ = "teamculture.simulate"


def _corr(n: int, rho: float) -> np.ndarray:
    return np.full((n, n), rho) + (1.0 - rho) * np.eye(n)


def _ordinal(latent: np.ndarray, n_codes: int) -> np.ndarray:
    return 1.0 + np.searchsorted(_THRESHOLDS[n_codes], latent, side="left").astype(float)


def _seed(rng: Any) -> int | None:
    return int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)) else None


def _validate_trust_labels(trust_labels: Any) -> np.ndarray:
    if isinstance(trust_labels, (str, bytes, pd.DataFrame, dict, set, frozenset)) \
            or not hasattr(trust_labels, "__iter__"):
        # a set has no order: the same rng would not give the same data
        raise TypeError("`trust_labels` must be an ordered sequence of trust names (a list, an array, a Series "
                        f"or an Index); got {type(trust_labels).__name__} {trust_labels!r:.60}.")
    if isinstance(trust_labels, np.ndarray) and trust_labels.ndim != 1:
        raise ValueError(f"`trust_labels` must be one-dimensional; got an array of shape {trust_labels.shape}.")
    values = list(trust_labels)
    missing = [i for i, v in enumerate(values) if v is None or v is pd.NA or v is pd.NaT
               or (isinstance(v, (float, np.floating)) and math.isnan(v))]
    if missing:
        raise ValueError(f"`trust_labels` must not be missing; {len(missing)} missing, at positions {few(missing)}.")
    bad = [v for v in values
           if not (isinstance(v, str) or (isinstance(v, (numbers.Integral, np.integer))
                                          and not isinstance(v, (bool, np.bool_))))]
    if bad:
        raise TypeError(f"`trust_labels` must be strings or integers; got {few(bad)}.")
    seen: set[Any] = set()
    dup = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    if dup:
        raise ValueError(f"`trust_labels` must be unique; repeated: {few(dup)}.")
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _validate_years(years: Any) -> tuple[int, ...]:
    if isinstance(years, (str, bytes, numbers.Number, np.generic)) or not hasattr(years, "__iter__"):
        raise TypeError(f"`years` must be a sequence of integer years, e.g. (2022, 2023); got "
                        f"{type(years).__name__} {years!r}.")
    out = tuple(check_int("years", y, minimum=None) for y in years)
    if not out:
        raise ValueError("`years` must name at least one survey year; got an empty sequence.")
    dup = sorted({y for y in out if out.count(y) > 1})
    if dup:
        raise ValueError(f"`years` must be unique; repeated: {few(dup)}.")
    if list(out) != sorted(out):
        raise ValueError(f"`years` must be in increasing order (the change is into the last year); got {few(out)}.")
    return out


def _validate_simulate_culture(n_trusts: Any, teams_per_trust: Any, staff_per_team: Any, years: Any,
                               tau_trust: Any, tau_team: Any, element_corr: Any, n_strong: Any, n_weak: Any,
                               shift: Any, n_changed: Any, change: Any, loading: Any, item_noise: Any,
                               real_team_slope: Any, p_in_team: Any, missing_rate: Any, trust_labels: Any
                               ) -> dict[str, Any]:
    labels = None
    if trust_labels is not None:
        labels = _validate_trust_labels(trust_labels)
        if n_trusts is not None:
            k = check_int("n_trusts", n_trusts, minimum=3)
            if k != len(labels):
                raise ValueError(f"`n_trusts` ({k}) differs from the number of `trust_labels` ({len(labels)}); "
                                 "give one of them.")
        if len(labels) < 3:
            raise ValueError(f"`trust_labels` must name at least 3 trusts; got {len(labels)}.")
        n_trusts = len(labels)
    K = check_int("n_trusts", 30 if n_trusts is None else n_trusts, minimum=3)
    out: dict[str, Any] = dict(
        K=K, labels=labels,
        J=check_int("teams_per_trust", teams_per_trust, minimum=1),
        m=check_int("staff_per_team", staff_per_team, minimum=2),
        years=_validate_years(years),
        element_corr=check_real("element_corr", element_corr, low=0.0, high=0.95),
        change=check_real("change", change),
        real_team_slope=check_real("real_team_slope", real_team_slope),
        p_in_team=check_probability("p_in_team", p_in_team),
        missing_rate=check_probability("missing_rate", missing_rate),
    )
    for name, v in (("tau_trust", tau_trust), ("tau_team", tau_team), ("shift", shift), ("loading", loading),
                    ("item_noise", item_noise)):
        out[name] = check_real(name, v, low=0.0)
    n_strong = check_int("n_strong", n_strong, minimum=0)
    n_weak = check_int("n_weak", n_weak, minimum=0)
    n_changed = check_int("n_changed", n_changed, minimum=0)
    n_shiftable = K * len(_SHIFTABLE)
    if n_strong + n_weak > n_shiftable:
        raise ValueError(f"`n_strong` + `n_weak` ({n_strong} + {n_weak} = {n_strong + n_weak}) exceed the "
                         f"{n_shiftable} trust-elements that can be shifted ({K} trusts x {len(_SHIFTABLE)} elements "
                         "other than compassionate leadership).")
    if n_changed > K * len(ELEMENTS):
        raise ValueError(f"`n_changed` ({n_changed}) exceeds the number of trust-elements ({K} trusts x "
                         f"{len(ELEMENTS)} elements = {K * len(ELEMENTS)}).")
    out.update(n_strong=n_strong, n_weak=n_weak, n_changed=n_changed)
    return out


def simulate_culture(
    *,
    n_trusts: int | None = None,
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
    rng: int | np.random.Generator | None = None,
) -> CultureSimulation:
    """Simulate element-level culture of trusts and teams and the framework's item responses.

    Draws the item responses of the measures of the built-in framework
    ``"nhs-culture-elements"`` (see :func:`teamculture.profile.culture_profile`)
    for staff in teams in trusts over one or more survey years, with a few
    trust-elements made strong or weak and a few changed into the last year,
    so that a culture profile can be checked against the truth.

    Parameters
    ----------
    n_trusts : int, optional
        Number of trusts (>= 3); default 30, or the number of ``trust_labels``
        (giving both with different numbers is an error).
    teams_per_trust : int, default 8
        Teams per trust (the same teams every year).
    staff_per_team : int, default 10
        Mean team size (>= 2); each year a team has ``2 + Poisson(staff_per_team
        - 2)`` respondents, a new sample.
    years : sequence of int, default (2022, 2023)
        Survey years: unique integers in increasing order; the true change is
        into the last one.
    tau_trust, tau_team : float, default 0.25, 0.30
        Standard deviations (>= 0) of the trust and team culture effects, in
        staff-SD units.
    element_corr : float, default 0.5
        Correlation of the six elements at every level, in [0, 0.95].
    n_strong, n_weak : int, default 2
        Numbers of trust-elements made strong (``+shift``) and weak
        (``-shift``), drawn among the trusts' five elements other than
        compassionate leadership; together at most ``5 * n_trusts``.
    shift : float, default 1.2
        Size (>= 0) of the strong and weak shifts, staff-SD units.
    n_changed : int, default 3
        Number of trust-elements (at most ``6 * n_trusts``) whose culture
        changes by ``change`` into the last year.
    change : float, default 0.5
        True change into the last year (negative for a decline).
    loading : float, default 1.0
        Loading (>= 0) of every item on its element's latent culture.
    item_noise : float, default 0.7
        Standard deviation (>= 0) of the item-specific noise.
    real_team_slope : float, default 1.0
        Log odds ratio of working in a real team per staff-SD of teamwork
        culture.
    p_in_team : float, default 0.92
        Probability of answering "yes" to working in a team, in [0, 1].
    missing_rate : float, default 0.02
        Probability that an item answer is missing, in [0, 1].
    trust_labels : sequence of str or int, optional
        Names of the trusts (unique, non-missing), e.g. those of a national
        survey (``survey.trusts.index``) so that the culture data join its
        trust tables; default ``"TR01"``, ``"TR02"``, ...
    rng : int, numpy.random.Generator or None
        Random numbers: the same seed gives the same data.

    Returns
    -------
    CultureSimulation
        ``staff`` (the responses), ``truth`` (one row per trust and element),
        ``params``, ``seed``, ``n_obs``, ``n_dropped``, ``n_groups``.

    Notes
    -----
    The generative model is written out in :mod:`teamculture.simulate`
    ("Culture profiles"). Support and compassion is measured by
    psychological safety and involvement (and the compassionate-leadership
    measure it shares), so its score moves by about two thirds of a shift of
    its latent; compassionate leadership is therefore never shifted.

    R: none

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.simulate.simulate_culture(n_trusts=12, teams_per_trust=4, staff_per_team=8, rng=5)
    >>> sim.n_groups.to_dict()
    {'trusts': 12, 'teams': 48}
    >>> sorted(sim.staff["year"].unique().tolist())
    [2022, 2023]
    >>> sim.truth["status"].value_counts().to_dict()
    {'ordinary': 68, 'strong': 2, 'weak': 2}
    """
    v = _validate_simulate_culture(n_trusts, teams_per_trust, staff_per_team, years, tau_trust, tau_team,
                                   element_corr, n_strong, n_weak, shift, n_changed, change, loading, item_noise,
                                   real_team_slope, p_in_team, missing_rate, trust_labels)
    gen = check_rng(rng)
    K, J, m, years = v["K"], v["J"], v["m"], v["years"]
    n_strong, n_weak, n_changed = v["n_strong"], v["n_weak"], v["n_changed"]
    tau_trust, tau_team, shift, change = v["tau_trust"], v["tau_team"], v["shift"], v["change"]
    element_corr, loading, item_noise = v["element_corr"], v["loading"], v["item_noise"]
    real_team_slope, p_in_team, missing_rate = v["real_team_slope"], v["p_in_team"], v["missing_rate"]
    trust_labels = v["labels"]
    E = len(ELEMENTS)
    R = _corr(E, element_corr)
    L = np.linalg.cholesky(R)

    with np.errstate(over="ignore", invalid="ignore"):
        c = tau_trust * gen.standard_normal((K, E)) @ L.T
    s = np.zeros((K, E))
    pairs = gen.choice(K * len(_SHIFTABLE), size=n_strong + n_weak, replace=False)
    for r, p in enumerate(pairs):
        k, e = divmod(int(p), len(_SHIFTABLE))
        s[k, e] = shift if r < n_strong else -shift
    delta = np.zeros((K, E))
    if n_changed:
        for p in gen.choice(K * E, size=n_changed, replace=False):
            k, e = divmod(int(p), E)
            delta[k, e] = change
    n_teams = K * J
    team_trust = np.repeat(np.arange(K), J)
    with np.errstate(over="ignore", invalid="ignore"):
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
        with np.errstate(over="ignore", invalid="ignore"):
            eta = (c + s + (delta if last else 0.0))[trust] + d[team] + gen.standard_normal((n, E)) @ L.T
        if not np.isfinite(eta).all():
            raise ValueError("`tau_trust`, `tau_team`, `shift` or `change` is too large: the latent culture "
                             "overflows.")
        cols: dict[str, Any] = {
            "year": np.full(n, year),
            "trust": trust_labels[trust],
            "team": team_labels[team],
            "peer_group": np.where(trust % 2 == 0, "acute", "community"),
        }
        for element, items, n_codes, reversed_items, offset in _MEASURES:
            e = ELEMENTS.index(element)
            with np.errstate(over="ignore", invalid="ignore"):
                latent = loading * eta[:, [e]] + offset + gen.normal(0.0, item_noise, (n, len(items)))
            if np.isnan(latent).any():
                raise ValueError("`loading` or `item_noise` is too large: the item latents overflow.")
            codes = _ordinal(latent, n_codes)
            for j, item in enumerate(items):
                x = codes[:, j]
                if item in reversed_items:
                    x = (n_codes + 1.0) - x
                cols[item] = x
        # real-team answers (1 = yes, 2 = no)
        in_team = gen.random(n) < p_in_team
        with np.errstate(over="ignore", invalid="ignore"):
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
    return CultureSimulation(staff=staff, truth=truth, params=params, seed=_seed(rng), n_obs=len(staff),
                             n_dropped=0, n_groups=pd.Series({"trusts": K, "teams": n_teams}, name="n_groups"))


# --------------------------------------------------------------------------- the engagement chain
@result_class
class EngagementSimulation(Result):
    """A simulated King's Fund engagement chain and its truth; returned by :func:`simulate_engagement`.

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
        "engagement", "wellbeing" or "engagement -> wellbeing"), column
        ``value``.
    params : dict
        The arguments of the simulation.
    seed : int or None
        The integer seed the data were drawn from (``rng=<int>``); ``None``
        when drawn from a Generator or from fresh entropy.
    n_obs : int
        Rows of the data table: trusts (single level) or staff (multilevel).
    n_dropped : int
        Always 0.
    n_groups : pandas.Series or None
        Multilevel: numbers of trusts and of teams with staff; single level:
        ``None`` (the trusts are the observations).
    """

    trusts: pd.DataFrame
    staff: pd.DataFrame | None
    paths: pd.DataFrame
    indirect: pd.DataFrame
    params: dict[str, Any]
    seed: int | None = None

    @property
    def multilevel(self) -> bool:
        """Whether staff were simulated (``staff_per_trust`` given)."""
        return self.staff is not None

    def to_frame(self) -> pd.DataFrame:
        """The data to analyse: ``staff`` (multilevel) or ``trusts`` (single level); not a copy."""
        return self.staff if self.staff is not None else self.trusts

    def summary(self) -> Summary:
        """Sizes, the true paths and the true indirect effects."""
        header: list[tuple[str, Any]] = [("design", "multilevel" if self.multilevel else "single level"),
                                         ("trusts", len(self.trusts))]
        if self.multilevel:
            header += [("teams", int(self.n_groups["teams"])), ("staff", len(self.staff))]
        header += [("effect scale", self.params["effect_scale"]),
                   ("seed", "none (Generator or fresh entropy)" if self.seed is None else str(self.seed))]
        return Summary("Simulated engagement chain", header=header,
                       tables=[("True paths", self.paths), ("True indirect effects", self.indirect)])

    def __repr__(self) -> str:
        size = f"{len(self.staff):,} staff in " if self.multilevel else ""
        return f"EngagementSimulation({size}{len(self.trusts):,} trusts; seed={self.seed})"


EngagementSimulation.__module__ = "teamculture.simulate"

_A = np.array([0.30, 0.20, 0.25, -0.20, 0.15])          # engagement on antecedents
_G = np.array([0.0, 0.0, 0.0, -0.30, 0.0])              # wellbeing on antecedents (work pressure)
_D = 0.40                                                # wellbeing on engagement
_SAT = (0.40, np.array([0.10, 0.0, 0.0, 0.0, 0.0]))      # satisfaction on engagement, antecedents
_ABS = (-0.30, -0.20, np.array([0.0, 0.0, 0.0, 0.10, 0.0]))  # absence on wellbeing, engagement, antecedents
_MORT = (-0.04, np.array([0.0, 0.0, -0.02, 0.0, 0.0]))   # log mortality on engagement, antecedents


def _validate_simulate_engagement(n_trusts: Any, staff_per_trust: Any, teams_per_trust: Any, rho_x: Any,
                                  sd_m: Any, sd_w: Any, sd_y: Any, mortality_sd: Any, within_var: Any,
                                  a_within: Any, tau_engagement: Any, tau_team: Any, sd_staff: Any,
                                  effect_scale: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(
        n_trusts=check_int("n_trusts", n_trusts, minimum=5),
        staff_per_trust=None if staff_per_trust is None else check_int("staff_per_trust", staff_per_trust,
                                                                         minimum=2),
        teams_per_trust=check_int("teams_per_trust", teams_per_trust, minimum=1),
        rho_x=check_real("rho_x", rho_x, low=0.0, high=0.95),
        a_within=None if a_within is None else check_real("a_within", a_within),
        effect_scale=check_real("effect_scale", effect_scale),
    )
    for name, v in (("sd_m", sd_m), ("sd_w", sd_w), ("sd_y", sd_y), ("mortality_sd", mortality_sd),
                    ("within_var", within_var), ("tau_engagement", tau_engagement), ("tau_team", tau_team),
                    ("sd_staff", sd_staff)):
        out[name] = check_real(name, v, low=0.0)
    return out


def _deaths(gen: np.random.Generator, expected: np.ndarray, log_rate: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        lam = expected * np.exp(log_rate)
    if not (np.isfinite(lam).all() and lam.max() <= 1e15):
        raise ValueError("`effect_scale`, `mortality_sd` or the residual SDs are too large: expected deaths "
                         f"reach {float(np.nanmax(lam)):.3g}, beyond a Poisson draw.")
    return gen.poisson(lam).astype(float)


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
    effect_scale: float = 1.0,
    rng: int | np.random.Generator | None = None,
) -> EngagementSimulation:
    """Simulate the King's Fund engagement chain (antecedents -> engagement -> outcomes) with known paths.

    Either trust-level data (one row per trust; ``staff_per_trust`` None) or
    staff nested in teams in trusts with trust-level outcomes (multilevel),
    with the true path coefficients and indirect effects, so that
    :func:`teamculture.mediation.mediate` can be checked against the truth.

    Parameters
    ----------
    n_trusts : int, default 150
        Number of trusts (>= 5).
    staff_per_trust : int, optional
        Mean number of staff per trust (>= 2; ``max(2, Poisson(staff_per_trust))``
        each); None (default) simulates trust-level data only.
    teams_per_trust : int, default 5
        Teams per trust (multilevel only; staff are assigned to them at random).
    rho_x : float, default 0.4
        Correlation of the five antecedents, in [0, 0.95].
    sd_m, sd_w, sd_y : float, default 0.5
        Residual standard deviations (>= 0) of engagement (single level),
        wellbeing (single level) and the continuous outcomes.
    mortality_sd : float, default 0.03
        Standard deviation (>= 0) of the trust effect on log mortality.
    within_var : float, default 4.0
        Variance (>= 0) of the within-trust antecedent deviations, relative to
        the trust means' (multilevel only).
    a_within : float, optional
        Size of the within-trust paths of engagement on the antecedents, with
        the between paths' signs (multilevel only); default: half the between
        paths, so that a conflated analysis gives a visibly wrong answer.
    tau_engagement, tau_team : float, default 0.3
        Standard deviations (>= 0) of the trust and team effects on engagement
        (multilevel only).
    sd_staff : float, default 1.0
        Staff-level residual standard deviation (>= 0) of engagement
        (multilevel only).
    effect_scale : float, default 1.0
        Multiplies every path coefficient (0 gives a null chain; called
        ``scale`` before it was public).
    rng : int, numpy.random.Generator or None
        Random numbers: the same seed gives the same data.

    Returns
    -------
    EngagementSimulation
        ``trusts``, ``staff`` (multilevel), the true ``paths`` and
        ``indirect`` effects, ``params``, ``seed``, ``n_obs``, ``n_dropped``,
        ``n_groups``.

    Notes
    -----
    The generative models (single level and multilevel) are written out in
    :mod:`teamculture.simulate` ("Engagement chains"). In the multilevel
    design the indirect effects are between-trust effects (``a_B * b_B``):
    the within-trust paths have no route to a trust-level outcome. The
    default path sizes are illustrative, not estimates from NHS data.

    R: none

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.simulate.simulate_engagement(n_trusts=120, rng=1)
    >>> sim.n_obs, sim.trusts.shape
    (120, (120, 11))
    >>> round(float(sim.indirect.loc[("patient_satisfaction", "leadership", "engagement"), "value"]), 3)
    0.12
    >>> ml = tc.simulate.simulate_engagement(n_trusts=20, staff_per_trust=30, rng=2)
    >>> ml.n_groups.to_dict(), list(ml.staff.columns[:3])
    ({'trusts': 20, 'teams': 100}, ['trust', 'team', 'leadership'])
    """
    v = _validate_simulate_engagement(n_trusts, staff_per_trust, teams_per_trust, rho_x, sd_m, sd_w, sd_y,
                                      mortality_sd, within_var, a_within, tau_engagement, tau_team, sd_staff,
                                      effect_scale)
    gen = check_rng(rng)
    K = v["n_trusts"]
    staff_per_trust, teams_per_trust, rho_x = v["staff_per_trust"], v["teams_per_trust"], v["rho_x"]
    sd_m, sd_w, sd_y, mortality_sd = v["sd_m"], v["sd_w"], v["sd_y"], v["mortality_sd"]
    within_var, a_within, tau_engagement = v["within_var"], v["a_within"], v["tau_engagement"]
    tau_team, sd_staff, scale = v["tau_team"], v["sd_staff"], v["effect_scale"]
    P = len(ANTECEDENTS)
    Sx = _corr(P, rho_x)
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
        deaths = _deaths(gen, expected, log_rate)
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
        deaths = _deaths(gen, expected, log_rate)
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
                  a_within=a_within, tau_engagement=tau_engagement, tau_team=tau_team, sd_staff=sd_staff,
                  effect_scale=scale)
    if staff is None:
        n_obs, n_groups = K, None
    else:
        n_obs = len(staff)
        n_groups = pd.Series({"trusts": K, "teams": int(pd.unique(team_codes).size)}, name="n_groups")
    return EngagementSimulation(trusts=trusts, staff=staff, paths=paths, indirect=indirect, params=params,
                                seed=_seed(rng), n_obs=n_obs, n_dropped=0, n_groups=n_groups)
