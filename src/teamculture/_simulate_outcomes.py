"""Staff-level yes/no outcomes for a simulated survey (public through :mod:`teamculture.simulate`).

Half of the "real teams" evidence is about outcomes each staff member reports as yes/no:
witnessing errors or near misses, being injured, feeling unwell from work-related stress,
being harassed, intending to leave (Lyubovnikova, West, Dawson & Carter 2015). This module
draws them for the rows of a simulated staff table from a known multilevel logistic model,
so that :func:`teamculture.glmm` can be checked against the truth. :func:`teamculture.national_survey`
adds them to its staff table.

The generative model
--------------------
For outcome ``o``, staff member ``i`` in team ``j`` in trust ``k``::

    logit P(y_io = 1) = a_o + b_o,pseudo [i pseudo] + b_o,none [i none] + c_o (tenure_i - 8)
                        + u_ko + v_jo,      u_ko ~ N(0, s2_trust,o),  v_jo ~ N(0, s2_team,o)

with real-team staff as the reference category; the trust and team effects are independent
across outcomes and of the engagement effects of :func:`teamculture.national_survey`. The
answers are coded as the catalogue questions (``nhs-staff-outcomes``): 1 = Yes, 2 = No, and
each is missing with probability ``missing_rate``.

The default effect sizes are illustrative, chosen in the direction and rough size of the
published comparisons (pseudo and no team worse than real teams, odds ratios 1.1-1.4; trust and
team SDs 0.15-0.5 on the logit scale); they are not estimates from the NHS data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from teamculture._core.validation import check_frame, check_probability, check_real, check_rng, few

__all__ = ["OutcomeModel", "DEFAULT_OUTCOMES", "staff_outcomes", "outcome_truth"]


@dataclass(frozen=True)
class OutcomeModel:
    """True parameters of one staff-level yes/no outcome (logit scale).

    Attributes
    ----------
    item : str
        Column name = the catalogue item id (``nhs-staff-outcomes``).
    label : str
        Short description.
    prevalence : float
        Probability of "yes" for a real-team member with average tenure in an average team
        and trust (the intercept is its logit).
    or_pseudo, or_none : float
        Odds ratios of pseudo-team and no-team members versus real-team members.
    or_tenure : float
        Odds ratio per year of tenure (centred at 8 years).
    sd_trust, sd_team : float
        Standard deviations of the trust and team effects.
    """

    item: str
    label: str
    prevalence: float
    or_pseudo: float
    or_none: float
    or_tenure: float
    sd_trust: float
    sd_team: float

    @property
    def intercept(self) -> float:
        """``logit(prevalence)``."""
        return math.log(self.prevalence / (1.0 - self.prevalence))


#: The five staff outcomes of :func:`teamculture.national_survey` (illustrative effect sizes:
#: pseudo and no team worse than real teams, odds ratios 1.1-1.4; not estimates from NHS data).
DEFAULT_OUTCOMES: tuple[OutcomeModel, ...] = (
    OutcomeModel("out_error", "Witnessed an error, near miss or incident (last month)", 0.30, 1.35, 1.20, 1.00,
                 0.25, 0.45),
    OutcomeModel("out_injury", "Injured or unwell from a work incident (last 12 months)", 0.08, 1.30, 1.15, 1.01,
                 0.20, 0.40),
    OutcomeModel("out_stress", "Felt unwell from work-related stress (last 12 months)", 0.38, 1.25, 1.15, 1.00,
                 0.15, 0.40),
    OutcomeModel("out_harassment", "Harassed, bullied or abused by managers or colleagues (last 12 months)", 0.18,
                 1.30, 1.10, 1.00, 0.20, 0.50),
    OutcomeModel("out_leave", "Often thinks about leaving the organisation", 0.30, 1.30, 1.35, 0.99, 0.15, 0.45),
)


def _validate(staff: object, models: object, missing_rate: object) -> tuple[pd.DataFrame, tuple[OutcomeModel, ...]]:
    staff = check_frame(staff, "staff")
    need = ["trust", "team", "team_type"]
    miss = [c for c in need if c not in staff.columns]
    if miss:
        raise ValueError(f"`staff` must have the columns {need} (a simulated survey's staff table); missing "
                         f"{few(miss)}.")
    if len(staff) == 0:
        raise ValueError("`staff` has no rows.")
    for c in need:
        n_na = int(staff[c].isna().sum())
        if n_na:
            raise ValueError(f"`staff` column {c!r} has {n_na} missing value(s); every row needs a trust, a team "
                             "and a team type.")
    types = set(pd.unique(staff["team_type"].astype(str)))
    bad = sorted(types - {"real", "pseudo", "none"})
    if bad:
        raise ValueError(f"`staff` column 'team_type' must hold 'real', 'pseudo' or 'none'; got {few(bad)}.")
    models = _validate_models(models)
    check_probability("missing_rate", missing_rate)
    return staff, models


def _validate_models(models: object) -> tuple[OutcomeModel, ...]:
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, OutcomeModel) for m in models):
        raise TypeError(f"`models` must be a non-empty sequence of OutcomeModel; got {type(models).__name__}.")
    items = [m.item for m in models]
    dup = sorted({i for i in items if items.count(i) > 1})
    if dup:
        raise ValueError(f"`models` must have distinct item ids; repeated: {few(dup)}.")
    for m in models:
        check_probability(f"models[{m.item!r}].prevalence", m.prevalence, open_low=True, open_high=True)
        for name in ("or_pseudo", "or_none", "or_tenure"):
            check_real(f"models[{m.item!r}].{name}", getattr(m, name), low=0.0, low_open=True)
        for name in ("sd_trust", "sd_team"):
            check_real(f"models[{m.item!r}].{name}", getattr(m, name), low=0.0)
    return tuple(models)


def staff_outcomes(staff: pd.DataFrame, *, models: tuple[OutcomeModel, ...] = DEFAULT_OUTCOMES,
                   missing_rate: float = 0.02, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Draw staff-level yes/no outcomes for the rows of a simulated staff table.

    Parameters
    ----------
    staff : pandas.DataFrame
        Rows of staff with ``trust``, ``team`` (a team is identified within its trust),
        ``team_type``
        ("real"/"pseudo"/"none") and optionally ``tenure`` (years; 8 if absent).
    models : sequence of OutcomeModel, default DEFAULT_OUTCOMES
        One model per outcome.
    missing_rate : float, default 0.02
        Probability that an answer is missing.
    rng : int, numpy.random.Generator or None
        Random numbers.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``staff``, one float column per outcome named by its item id, coded
        1 = Yes, 2 = No, NaN = missing (as the catalogue questions).

    Notes
    -----
    The model is written out in :mod:`teamculture.simulate` ("Staff outcomes"). The
    default effect sizes are illustrative, in the direction and rough size of the published
    comparisons; they are not estimates from NHS data. :func:`outcome_truth` tabulates the
    truths a fit should recover (odds ratios, latent-scale VPCs, median odds ratios).

    R: none

    Examples
    --------
    >>> import teamculture as tc
    >>> sim = tc.national_survey("tiny", rng=1)
    >>> answers = tc.simulate.staff_outcomes(sim.staff, rng=2)
    >>> list(answers.columns)
    ['out_error', 'out_injury', 'out_stress', 'out_harassment', 'out_leave']
    >>> sorted(answers["out_error"].dropna().unique().tolist())
    [1.0, 2.0]
    """
    staff, models = _validate(staff, models, missing_rate)
    gen = check_rng(rng)
    trust_codes, _ = pd.factorize(staff["trust"], sort=True)
    # a team is a (trust, team) pair: team labels reused across trusts are different teams
    label_codes, _ = pd.factorize(staff["team"], sort=True)
    pair = trust_codes.astype(np.int64) * (int(label_codes.max()) + 1) + label_codes
    team_codes, _ = pd.factorize(pair, sort=True)
    tt = staff["team_type"].astype(str).to_numpy()
    tenure = staff["tenure"].to_numpy(dtype=float) if "tenure" in staff.columns else np.full(len(staff), 8.0)
    tenure = np.where(np.isnan(tenure), 8.0, tenure)
    n_trust, n_team = int(trust_codes.max()) + 1, int(team_codes.max()) + 1
    out = {}
    for m in models:
        u = gen.normal(0.0, m.sd_trust, n_trust)
        v = gen.normal(0.0, m.sd_team, n_team)
        eta = (m.intercept + math.log(m.or_pseudo) * (tt == "pseudo") + math.log(m.or_none) * (tt == "none")
               + math.log(m.or_tenure) * (tenure - 8.0) + u[trust_codes] + v[team_codes])
        yes = gen.random(len(staff)) < 1.0 / (1.0 + np.exp(-eta))
        code = np.where(yes, 1.0, 2.0)
        code[gen.random(len(staff)) < missing_rate] = np.nan
        out[m.item] = code
    return pd.DataFrame(out, index=staff.index)


def outcome_truth(*, models: tuple[OutcomeModel, ...] = DEFAULT_OUTCOMES) -> pd.DataFrame:
    """The true parameters of each outcome, with the summaries a fit estimates.

    Parameters
    ----------
    models : sequence of OutcomeModel, default DEFAULT_OUTCOMES
        The outcome models (as passed to :func:`staff_outcomes`).

    Returns
    -------
    pandas.DataFrame
        Indexed by item id: the :class:`OutcomeModel` fields, the log odds ratios
        ``log_or_pseudo``, ``log_or_none``, ``log_or_pseudo_vs_none``, the latent-scale
        ``vpc_trust``, ``vpc_team`` and the median odds ratios ``mor_trust``, ``mor_team``.

    Notes
    -----
    Latent-scale VPCs use the logistic residual variance pi^2/3; the median odds ratio of a
    level with standard deviation s is exp(sqrt(2) s z_0.75) (Merlo et al. 2006).

    R: none

    Examples
    --------
    >>> import teamculture as tc
    >>> truth = tc.simulate.outcome_truth()
    >>> round(float(truth.loc["out_error", "or_pseudo"]), 2)
    1.35
    """
    models = _validate_models(models)
    rows = {}
    z75 = 0.6744897501960817
    for m in models:
        d = asdict(m)
        d.pop("item")
        total = m.sd_trust**2 + m.sd_team**2 + math.pi**2 / 3
        d.update(intercept=m.intercept, log_or_pseudo=math.log(m.or_pseudo), log_or_none=math.log(m.or_none),
                 log_or_pseudo_vs_none=math.log(m.or_pseudo / m.or_none), vpc_trust=m.sd_trust**2 / total,
                 vpc_team=m.sd_team**2 / total, mor_trust=math.exp(math.sqrt(2.0) * m.sd_trust * z75),
                 mor_team=math.exp(math.sqrt(2.0) * m.sd_team * z75))
        rows[m.item] = d
    return pd.DataFrame.from_dict(rows, orient="index")
