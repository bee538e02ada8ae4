"""Pictures of the numbers researchers report, drawn with matplotlib.

- :func:`plot_random_effects` -- caterpillar plot of the conditional modes
  (BLUPs) of a mixed model with their conditional intervals
  (R: ``lattice::dotplot(ranef(fit, condVar = TRUE))``);
- :func:`plot_agreement` -- the distribution of within-group agreement
  (rwg, rwg(j), r*wg(j), awg or AD per group) with the conventional cut-offs
  and a simulated null critical value;
- :func:`plot_variance_partition` -- the share of the variance at each level
  (staff, teams, trusts) from :func:`~teamculture.icc` or a mixed model;
- :func:`plot_diagnostics` -- residual diagnostics of a mixed model
  (residuals against fitted values, residuals and random effects against
  normal quantiles; R: ``performance::check_model``).

Funnel plots are drawn by :meth:`teamculture.FunnelResult.plot`, the
real-against-shuffled group means of random group resampling by
:func:`teamculture.plot_pseudo_group_means`.

matplotlib is optional (the ``plot`` extra: ``pip install 'teamculture[plot]'``)
and imported only when a picture is drawn. Functions that draw one panel take
``ax=`` (a matplotlib Axes to draw on; a new figure with constrained layout
otherwise) and return the Axes; :func:`plot_diagnostics` draws several panels
and returns the Figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from teamculture._core.validation import check_bool, check_confidence_level, check_real, did_you_mean, few
from teamculture.aggregation._aggregate import AggregateResult
from teamculture.aggregation._icc import ICCResult
from teamculture.aggregation._nulls import NullSimulation
from teamculture.multilevel._glmm import GLMMResult
from teamculture.multilevel._results import MixedResult

__all__ = ["plot_random_effects", "plot_agreement", "plot_variance_partition", "plot_diagnostics"]


# --------------------------------------------------------------------------- shared helpers
def _pyplot(what: str) -> Any:
    """``matplotlib.pyplot``, or an ImportError naming the ``plot`` extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{what}() draws with matplotlib, which is not installed; install the `plot` extra: "
            "pip install 'teamculture[plot]' (or pip install matplotlib)."
        ) from exc
    return plt


def _check_ax(ax: Any) -> Any:
    if ax is None:
        return None
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        hint = " (one Axes, e.g. axes[0] of plt.subplots(1, 2))" if isinstance(ax, (np.ndarray, list, tuple)) else ""
        raise TypeError(f"`ax` must be a matplotlib Axes or None{hint}; got {type(ax).__name__}.")
    return ax


def _axes(plt: Any, ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _type_error(name: str, value: Any, wanted: str) -> TypeError:
    return TypeError(f"`{name}` must be {wanted}; got {type(value).__name__}.")


# --------------------------------------------------------------------------- random effects
_INTERCEPT = "Intercept"


def _re_terms(table: pd.DataFrame) -> list[str]:
    """The random-effect terms of one grouping factor's table in ``MixedResult.random_effects``."""
    if "blup" in table.columns or "condval" in table.columns:
        return [_INTERCEPT]
    if any(str(c).startswith("condval:") for c in table.columns):  # GLMM random slopes
        return [_INTERCEPT if c == "condval:(Intercept)" else str(c)[len("condval:"):]
                for c in table.columns if str(c).startswith("condval:")]
    return [c for c in table.columns if not str(c).startswith("cond_var:")]


def _re_values(table: pd.DataFrame, term: str) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes and conditional variances of ``term`` (MixedResult or GLMMResult tables)."""
    if "blup" in table.columns:
        value_col, var_col = "blup", "cond_var"
    elif "condval" in table.columns or any(str(c).startswith("condval:") for c in table.columns):
        suffix = "" if "condval" in table.columns else ":" + ("(Intercept)" if term == _INTERCEPT else term)
        values = table["condval" + suffix].to_numpy(dtype=float)
        return values, table["condsd" + suffix].to_numpy(dtype=float) ** 2
    else:
        value_col, var_col = term, f"cond_var:{term}"
    values = table[value_col].to_numpy(dtype=float)
    cond_var = table[var_col].to_numpy(dtype=float) if var_col in table.columns else np.full(len(values), np.nan)
    return values, cond_var


#: What the linear predictor is on each GLMM link's scale (for the axis label).
_LINK_SCALE = {"logit": "log-odds", "probit": "probit", "log": "log-rate"}


def _resolve_factor(result: MixedResult, factor: Any) -> str:
    factors = [str(f) for f in result.random_effects]
    if factor is None:
        if len(factors) == 1:
            return factors[0]
        raise ValueError(
            f"`factor`: the model has {len(factors)} grouping factors {factors!r}; choose one "
            f"(factor={factors[0]!r}), or draw each on its own Axes: "
            f"fig, axes = plt.subplots(1, {len(factors)}); plot_random_effects(fit, factor=..., ax=axes[i])."
        )
    if not isinstance(factor, str):
        raise TypeError(f"`factor` must be the name of a grouping factor (a str) or None; got {factor!r}.")
    if factor in factors:
        return factor
    nested = [f for f in factors if f.endswith(":" + factor)]
    if len(nested) == 1:  # "team" for the nested factor "trust:team" (unambiguous)
        return nested[0]
    raise ValueError(f"`factor` must be one of the model's grouping factors {factors!r}; got {factor!r}."
                     f"{did_you_mean(factor, factors)}")


def _resolve_term(table: pd.DataFrame, factor: str, term: Any) -> str:
    terms = _re_terms(table)
    if term is None:
        if len(terms) == 1:
            return terms[0]
        raise ValueError(f"`term`: {factor!r} has random effects for {terms!r}; choose one (term={terms[0]!r}).")
    if not isinstance(term, str):
        raise TypeError(f"`term` must be the name of a random-effect term (a str) or None; got {term!r}.")
    if term == "(Intercept)":
        term = _INTERCEPT
    if term not in terms:
        raise ValueError(f"`term` must be one of the random-effect terms of {factor!r}, {terms!r}; got {term!r}."
                         f"{did_you_mean(term, terms)}")
    return term


def _validate_plot_random_effects(result: Any, factor: Any, term: Any, confidence_level: Any, sort: Any,
                                  label_groups: Any, ax: Any) -> tuple[str, str, pd.DataFrame, float, bool,
                                                                       bool | None]:
    if not isinstance(result, (MixedResult, GLMMResult)):
        hint = " (variance shares are drawn by plot_variance_partition)" if isinstance(result, ICCResult) else ""
        raise TypeError(f"`result` must be a MixedResult (from teamculture.mixed) or a GLMMResult (from "
                        f"teamculture.glmm){hint}; got {type(result).__name__}.")
    factor = _resolve_factor(result, factor)
    table = result.random_effects[factor]
    term = _resolve_term(table, factor, term)
    level = check_confidence_level(confidence_level)
    sort = check_bool("sort", sort)
    if label_groups is not None:
        label_groups = check_bool("label_groups", label_groups)
    _check_ax(ax)
    return factor, term, table, level, sort, label_groups


def plot_random_effects(result: Any, *, factor: str | None = None, term: str | None = None,
                        confidence_level: float = 0.95, sort: bool = True, label_groups: bool | None = None,
                        ax: Any = None) -> Any:
    """Caterpillar plot of a mixed model's random effects with conditional intervals.

    One point per group: the conditional mode (BLUP) of the group's random
    effect, with the interval ``mode -/+ z * sqrt(conditional variance)``;
    groups sorted by their mode, a dashed line at zero.

    Parameters
    ----------
    result : MixedResult or GLMMResult
        A fitted model from :func:`teamculture.mixed`, or a generalised
        linear mixed model from :func:`teamculture.glmm` (drawn on the link
        scale: log-odds, probit or log-rate, as the x axis says).
    factor : str, optional
        The grouping factor to draw, as in ``result.random_effects``
        (``"trust"``, ``"trust:team"``; ``"team"`` is accepted for the nested
        ``"trust:team"``). Required when the model has several grouping
        factors: draw each on its own Axes.
    term : str, optional
        The random-effect term of ``factor`` (``"Intercept"`` or the name of
        a random slope). Required when ``factor`` has several terms.
    confidence_level : float, default 0.95
        Coverage of the conditional intervals (normal quantile).
    sort : bool, default True
        Sort the groups by their conditional mode (largest at the top), as
        ``lattice::dotplot`` does; ``False`` keeps the order of
        ``result.random_effects``.
    label_groups : bool, optional
        Write the group labels on the y axis; default: when there are at most
        40 groups.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created otherwise.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on. Intervals that lie wholly above zero are blue,
        wholly below zero orange, the others grey; the legend counts them.

    Notes
    -----
    The conditional variances are those of ``result.random_effects``
    (lme4's ``ranef(fit, condVar = TRUE)``: the variance of the random effect
    given the data at the estimated parameters). For a
    :class:`~teamculture.multilevel.GLMMResult` they are the squared
    conditional standard deviations ``condsd`` of the Laplace
    approximation at the conditional modes ``condval``, on the scale of
    the linear predictor; ``exp`` of a limit on the logit (log) scale is
    an odds (rate) ratio against a group with a zero random effect. The intervals ignore the
    uncertainty of the estimated variance components and, with many groups,
    some will exclude zero by chance: they describe groups, they are not
    tests.

    R: lattice::dotplot(ranef(fit, condVar = TRUE))

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import teamculture as tc
    >>> staff = tc.national_survey("tiny", rng=1).staff
    >>> fit = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", staff)
    >>> ax = tc.plot_random_effects(fit, factor="team")
    >>> len(ax.collections[1].get_offsets())  # one point (and one interval) per team
    24
    """
    plt = _pyplot("plot_random_effects")
    factor, term, table, level, sort, label_groups = _validate_plot_random_effects(
        result, factor, term, confidence_level, sort, label_groups, ax)
    values, cond_var = _re_values(table, term)
    labels = [str(g) for g in table.index]
    n = len(values)
    order = np.argsort(values, kind="stable") if sort else np.arange(n)[::-1]
    values, cond_var = values[order], cond_var[order]
    labels = [labels[i] for i in order]
    z = float(ndtri(0.5 + level / 2.0))
    half = z * np.sqrt(np.where(cond_var >= 0, cond_var, np.nan))
    low, high = values - half, values + half
    above = low > 0
    below = high < 0
    colours = np.where(above, "tab:blue", np.where(below, "tab:orange", "0.55"))
    y = np.arange(n, dtype=float)

    ax = _axes(plt, ax, (6.0, min(max(3.0, 0.18 * n + 1.2), 9.0)))
    size, lw = (22.0, 1.4) if n <= 50 else (9.0, 0.9) if n <= 500 else (2.0, 0.4)
    ax.axvline(0.0, color="0.3", lw=0.8, ls="--", zorder=1)
    ax.hlines(y, low, high, colors=colours, lw=lw, zorder=2)
    ax.scatter(values, y, c=colours if n <= 50 else "k", s=size, zorder=3, edgecolors="none")
    if label_groups is None:
        label_groups = n <= 40
    if label_groups:
        ax.set_yticks(y, labels=labels, fontsize=8 if n <= 25 else 6)
        ax.set_ylabel(factor)
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{n:,} groups of {factor}" + (", sorted" if sort else ""))
    ax.set_ylim(-0.7, n - 0.3)
    what = "random intercept" if term == _INTERCEPT else f"random slope of {term}"
    if isinstance(result, GLMMResult):
        response = str(result.formula).split("~", 1)[0].strip() or None
        ax.set_xlabel(f"conditional mode with {level:.0%} conditional interval "
                      f"({_LINK_SCALE[result.link]} scale, {result.link} link)")
    else:
        response = getattr(result.response, "name", None)
        ax.set_xlabel(f"conditional mode (BLUP) with {level:.0%} conditional interval")
    ax.set_title(f"{factor}: {what}" + (f" ({response})" if response else ""), fontsize=10)
    from matplotlib.lines import Line2D

    handles = []
    for colour, mask, text in (("tab:blue", above, "interval above 0"), ("tab:orange", below, "interval below 0"),
                               ("0.55", ~(above | below), "interval includes 0")):
        if mask.any():
            handles.append(Line2D([], [], color=colour, marker="o", ms=4, lw=1.2,
                                  label=f"{text} ({int(mask.sum()):,})"))
    if np.isnan(half).all():
        handles.append(Line2D([], [], color="0.55", marker="o", ms=4, lw=0,
                              label="no conditional variances: points only"))
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False)
    return ax


# --------------------------------------------------------------------------- agreement
#: agreement columns of the rwg/rwg_j/rwg_j_lindell/awg/ad_index tables -> (label, family)
_AGREEMENT = {
    "rwg": ("rwg", "rwg"),
    "rwg_j": ("rwg(j)", "rwg"),
    "rwg_j_lindell": ("r*wg(j)", "rwg"),
    "awg": ("awg", "rwg"),
    "ad": ("AD", "ad"),
}
#: statistics of an AggregateResult table (column "<variable>_<statistic>")
_AGGREGATE = {
    "rwg": ("rwg / rwg(j)", "rwg"),
    "rwg_lindell": ("r*wg(j)", "rwg"),
    "awg": ("awg", "rwg"),
    "ad": ("AD", "ad"),
}
#: which simulated nulls fit which statistic
_NULL_FOR = {"rwg": {"rwg"}, "rwg_j": {"rwg_j"}, "rwg_lindell": set(), "rwg_j_lindell": set(), "awg": set(),
             "ad": {"ad"}}
#: LeBreton & Senter (2008), Table 3
_BANDS = ((0.0, 0.30, "lack of\nagreement"), (0.30, 0.50, "weak"), (0.50, 0.70, "moderate"),
          (0.70, 0.90, "strong"), (0.90, 1.00, "very\nstrong"))


def _validate_plot_agreement(result: Any, statistic: Any, variable: Any, critical_value: Any, cutoff: Any,
                             ax: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"default_cutoff": None}
    if isinstance(result, AggregateResult):
        variables = [str(v) for v in result.null_variance.index]
        if variable is None:
            if len(variables) != 1:
                raise ValueError(f"`variable`: the AggregateResult holds {len(variables)} variables {few(variables)}; "
                                 f"choose one (variable={variables[0]!r}).")
            variable = variables[0]
        elif not isinstance(variable, str) or variable not in variables:
            raise ValueError(f"`variable` must be one of the aggregated variables {few(variables, 10)}; got "
                             f"{variable!r}.{did_you_mean(variable, variables)}")
        stat = "rwg" if statistic is None else statistic
        if not isinstance(stat, str) or stat not in _AGGREGATE:
            raise ValueError(f"`statistic` must be one of {list(_AGGREGATE)!r} for an AggregateResult; got "
                             f"{statistic!r}.{did_you_mean(stat, list(_AGGREGATE))}")
        column = f"{variable}_{stat}"
        if column not in result.table.columns:
            raise ValueError(f"`result`: its table lacks the column {column!r}.")
        values = result.table[column]
        label, family = _AGGREGATE[stat]
        out["what"] = f"{variable}: "
        out["null_ok"] = {"rwg", "rwg_j"} if stat == "rwg" else _NULL_FOR[stat]
    else:
        if variable is not None:
            raise ValueError(f"`variable` applies to an AggregateResult only; got variable={variable!r} with a "
                             f"{type(result).__name__}.")
        if isinstance(result, pd.DataFrame):
            present = [c for c in result.columns if c in _AGREEMENT]
            if not present:
                raise ValueError(
                    f"`result` must be the table of rwg, rwg_j, rwg_j_lindell, awg or ad_index (or an "
                    f"AggregateResult); it has no agreement column (one of {list(_AGREEMENT)!r}); columns "
                    f"{few(list(result.columns))}.")
            stat = result.columns[0] if statistic is None and result.columns[0] in _AGREEMENT else statistic
            if stat is None:
                stat = present[0]
            if not isinstance(stat, str) or stat not in present:
                raise ValueError(f"`statistic` must be an agreement column of `result`, one of {present!r}; got "
                                 f"{statistic!r}.{did_you_mean(stat, present)}")
            values = result[stat]
            if stat == "ad" and "cutoff" in result.columns:
                c = pd.to_numeric(result["cutoff"], errors="coerce").dropna().unique()
                if len(c) == 1:
                    out["default_cutoff"] = float(c[0])
        elif isinstance(result, pd.Series):
            stat = result.name if statistic is None else statistic
            if not isinstance(stat, str) or stat not in _AGREEMENT:
                raise ValueError(f"`statistic` must name the agreement index of the Series, one of "
                                 f"{list(_AGREEMENT)!r} (the Series is named {result.name!r}); got "
                                 f"{statistic!r}.{did_you_mean(stat, list(_AGREEMENT))}")
            values = result
        else:
            raise _type_error("result", result, "the table returned by rwg, rwg_j, rwg_j_lindell, awg or "
                              "ad_index, one of its columns (a Series), or an AggregateResult")
        label, family = _AGREEMENT[stat]
        out["what"] = ""
        out["null_ok"] = _NULL_FOR[stat]
    if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        raise TypeError(f"`result`: the {label} values must be numeric; got dtype {values.dtype}.")
    v = values.to_numpy(dtype=float)
    if np.isinf(v).any():
        raise ValueError(f"`result`: {int(np.isinf(v).sum())} {label} value(s) are infinite.")
    ok = ~np.isnan(v)
    if not ok.any():
        raise ValueError(f"`result`: no group has a defined {label} ({len(v)} groups, all NaN): nothing to draw.")
    if family == "rwg" and ((v[ok] > 1.0 + 1e-12) | (v[ok] < -1.0 - 1e-12)).any():
        bad = v[ok][(v[ok] > 1.0 + 1e-12) | (v[ok] < -1.0 - 1e-12)]
        raise ValueError(f"`result`: {label} lies in [-1, 1]; {len(bad)} value(s) outside it {few(bad)}.")
    if family == "ad" and (v[ok] < 0).any():
        raise ValueError(f"`result`: AD is a mean absolute deviation (>= 0); {int((v[ok] < 0).sum())} negative "
                         f"value(s) {few(v[ok][v[ok] < 0])}.")
    null = None
    if isinstance(critical_value, NullSimulation):
        if critical_value.index not in out["null_ok"]:
            fits = sorted(out["null_ok"]) or ["none (no simulated null fits this index)"]
            raise ValueError(f"`critical_value` is a simulated null of {critical_value.index!r}, which does not fit "
                             f"{label}; simulate {fits} instead.")
        null = critical_value
        crit = float(critical_value.critical_value)
    elif critical_value is None:
        crit = None
    else:
        crit = check_real("critical_value", critical_value)
    if cutoff is not None:
        cutoff = check_real("cutoff", cutoff)
    elif family == "rwg":
        cutoff = 0.70
    elif null is not None and math.isfinite(null.practical_cutoff):
        cutoff = float(null.practical_cutoff)
    else:
        cutoff = out["default_cutoff"]
    _check_ax(ax)
    out.update(values=v, ok=ok, label=label, family=family, crit=crit, null=null, cutoff=cutoff)
    return out


def plot_agreement(result: Any, *, statistic: str | None = None, variable: str | None = None,
                   critical_value: Any = None, cutoff: float | None = None, ax: Any = None) -> Any:
    """Distribution of within-group agreement across groups, with the conventional cut-offs.

    A histogram of one agreement index per group (rwg, rwg(j), r*wg(j),
    awg or AD), with the conventional reading of the rwg family (LeBreton &
    Senter's bands and the .70 line) or Burke and Dunlap's c/6 for AD, and
    a simulated null critical value when given. The legend says the share
    of groups beyond each line; the title counts the groups without a value.

    Parameters
    ----------
    result : DataFrame, Series or AggregateResult
        The table returned by :func:`~teamculture.rwg`,
        :func:`~teamculture.rwg_j`, :func:`~teamculture.rwg_j_lindell`,
        :func:`~teamculture.awg` or :func:`~teamculture.ad_index` (or its
        agreement column), or an :class:`~teamculture.AggregateResult`.
    statistic : str, optional
        The index to draw. For a table: one of its agreement columns
        (``"rwg"``, ``"rwg_j"``, ``"rwg_j_lindell"``, ``"awg"``, ``"ad"``;
        default its first column). For a Series: default its name. For an
        AggregateResult: ``"rwg"`` (default; rwg(j) for a scale),
        ``"rwg_lindell"``, ``"awg"`` or ``"ad"``.
    variable : str, optional
        For an AggregateResult with several variables or scales: which one.
    critical_value : float or NullSimulation, optional
        A critical value to draw, or the simulated null of
        :func:`~teamculture.rwg_sim`, :func:`~teamculture.rwg_j_sim` or
        :func:`~teamculture.ad_sim` (its ``critical_value``: 95th percentile
        for rwg, 5th for AD; the simulated index must match ``statistic``).
    cutoff : float, optional
        The practical cut-off line: default .70 for the rwg family, c/6 for
        AD when known (the ``cutoff`` column of :func:`~teamculture.ad_index`
        called with ``scale``, or an :func:`~teamculture.ad_sim` null);
        otherwise pass it (for an AggregateResult, e.g. ``cutoff=5 / 6`` on
        a 5-point scale).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created otherwise.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on; the histogram's bar heights sum to the number of
        groups with a value.

    Notes
    -----
    LeBreton and Senter (2008) read rwg-type indices as .00-.30 lack of
    agreement, .31-.50 weak, .51-.70 moderate, .71-.90 strong and .91-1.00
    very strong agreement; the single .70 cut-off is conventional but
    criticised, and a simulated critical value (Dunlap et al. 2003) tests
    agreement against responding at random for the group size at hand.
    Bands and the .70 line are drawn for rwg, rwg(j), r*wg(j) and awg
    (Brown and Hauenstein 2005 suggest reading awg like rwg). For AD,
    smaller is more agreement: Burke and Dunlap (2002) take AD <= c/6
    (c response options) as agreement in practice.

    R: none (multilevel::rwg.j and multilevel::ad.m give the values; hist() draws them)

    References
    ----------
    .. [1] LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions
       about interrater reliability and interrater agreement.
       Organizational Research Methods, 11, 815-852.
    .. [2] Burke, M. J., & Dunlap, W. P. (2002). Estimating interrater
       agreement with the average deviation index: A user's guide.
       Organizational Research Methods, 5, 159-172.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import teamculture as tc
    >>> staff = tc.national_survey("tiny", rng=1).staff.dropna(subset=["mot1", "mot2", "mot3"])
    >>> r = tc.rwg_j(staff[["mot1", "mot2", "mot3"]], staff["team"], scale=(1, 5))
    >>> null = tc.rwg_j_sim(12, 3, (1, 5), n_resamples=1000, rng=1)
    >>> ax = tc.plot_agreement(r, critical_value=null)
    >>> int(sum(bar.get_height() for bar in ax.containers[0]))  # the histogram: one count per team
    24
    """
    plt = _pyplot("plot_agreement")
    spec = _validate_plot_agreement(result, statistic, variable, critical_value, cutoff, ax)
    v, ok, label, family = spec["values"], spec["ok"], spec["label"], spec["family"]
    crit, null, cut = spec["crit"], spec["null"], spec["cutoff"]
    x = v[ok]
    n_ok, n_na = int(ok.sum()), int((~ok).sum())
    ax = _axes(plt, ax, (6.4, 3.8))
    if family == "rwg":
        low = min(0.0, math.floor(float(x.min()) * 20.0) / 20.0)
        edges = np.linspace(low, 1.0, int(round((1.0 - low) / 0.025)) + 1)
        shades = ("#f2f2f2", "#e6eef6", "#d9e6f2", "#c9dbee", "#b8cfe8")
        for (a, b, text), colour in zip(_BANDS, shades):
            ax.axvspan(a, b, color=colour, zorder=0, lw=0)
            ax.text((a + b) / 2.0, 0.98, text, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=7, color="0.35", linespacing=0.95)
        ax.set_xlim(low, 1.0)
    else:
        top = max([float(x.max())] + [c for c in (cut, crit) if c is not None]) * 1.08 or 1.0
        edges = np.linspace(0.0, top, 31)
        ax.set_xlim(0.0, top)
    ax.hist(x, bins=edges, color="0.35", edgecolor="white", linewidth=0.4, zorder=2, label="groups")
    if cut is not None:
        if family == "rwg":
            text = f"cut-off {cut:.2f}: {np.mean(x >= cut):.0%} of groups at or above"
        else:
            text = f"c/6 = {cut:.3g}: {np.mean(x <= cut):.0%} of groups at or below"
        ax.axvline(cut, color="k", ls="--", lw=1.1, zorder=3, label=text)
    if crit is not None:
        if family == "rwg":
            beyond, which = np.mean(x > crit), "95th"
        else:
            beyond, which = np.mean(x < crit), "5th"
        design = ""
        if null is not None:
            items = f", {null.n_items} items" if null.n_items > 1 else ""
            design = f" (groups of {null.group_size}{items})"
            text = f"null {which} percentile{design}: {crit:.3g}; {beyond:.0%} of groups beyond"
        else:
            text = f"critical value {crit:.3g}: {beyond:.0%} of groups beyond"
        ax.axvline(crit, color="tab:red", lw=1.3, zorder=3, label=text)
    ymax = ax.get_ylim()[1]
    ax.set_ylim(0, ymax * (1.45 if family == "rwg" else 1.25))
    ax.set_xlabel(f"{label} per group" + (" (smaller: more agreement)" if family == "ad" else ""))
    ax.set_ylabel("groups")
    title = f"{spec['what']}{label} of {n_ok:,} groups"
    if n_na:
        title += f" ({n_na:,} without a value not shown)"
    if family == "ad" and cut is None:
        title += "; no c/6 line (pass cutoff=)"
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if lab != "groups"]
    if keep:
        ax.legend(*zip(*keep), loc="upper left", bbox_to_anchor=(0.0, 0.86) if family == "rwg" else (0.0, 1.0),
                  fontsize=7, frameon=True, framealpha=0.9, edgecolor="none")
    return ax


# --------------------------------------------------------------------------- variance partition
def _partition(result: Any, name: str) -> tuple[str, pd.Series, str]:
    """(row label, variance by level incl. "residual", note) of one result."""
    if isinstance(result, ICCResult):
        vc = result.variance_components.astype(float)
        return f"{result.method.upper()} ICC", vc, f"ICC(1), same {result.levels[-1]}: {result.icc1:.1%}"
    if isinstance(result, MixedResult):
        try:
            table = result.icc()
        except ValueError as exc:
            raise ValueError(f"`{name}`: the variance partition needs a random-intercept model; with random slopes "
                             "the variance at each level depends on the covariate values (formula "
                             f"{result.formula!r}).") from exc
        response = getattr(result.response, "name", None) or "response"
        inner = table["icc"].dropna()
        note = f"ICC, same {inner.index[-1]}: {inner.iloc[-1]:.1%}" if len(inner) else ""
        return str(response), table["variance"].astype(float), note
    raise _type_error(name, result, "an ICCResult (from teamculture.icc), a MixedResult (from teamculture.mixed) "
                      "or a dict of them")


def _validate_plot_variance_partition(result: Any, ax: Any) -> list[tuple[str, pd.Series, str]]:
    if isinstance(result, Mapping):
        if not result:
            raise ValueError("`result` is an empty mapping: nothing to draw.")
        rows = []
        for key, value in result.items():
            if not isinstance(key, str):
                raise TypeError(f"`result`: the keys of a mapping are the bar labels (str); got {key!r}.")
            _, vc, note = _partition(value, f"result[{key!r}]")
            rows.append((key, vc, note))
    else:
        rows = [_partition(result, "result")]
    rows = [(label, pd.Series(vc.to_numpy(dtype=float), index=[str(k) for k in vc.index]), note)
            for label, vc, note in rows]
    for label, vc, _ in rows:
        values = vc.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"`result`: the variance components of {label!r} are not all finite {few(values)}.")
        if not values.sum() > 0:
            raise ValueError(f"`result`: the variance components of {label!r} sum to {values.sum():g}; there is no "
                             "variance to partition.")
    _check_ax(ax)
    return rows


def plot_variance_partition(result: Any, *, ax: Any = None) -> Any:
    """Share of the variance at each level (trust, team, staff) as a stacked bar.

    Parameters
    ----------
    result : ICCResult, MixedResult or dict of them
        An :class:`~teamculture.ICCResult` (from :func:`~teamculture.icc`),
        a random-intercept :class:`~teamculture.MixedResult` (from
        :func:`~teamculture.mixed`; its :meth:`~teamculture.MixedResult.icc`
        table), or a dict ``{label: result}`` to compare several (one bar
        each, e.g. an empty and an adjusted model, or two outcomes).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created otherwise.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on: one bar segment per level and result, labelled
        with its share of the total variance (the variance partition
        coefficient, VPC); the ICC of the innermost level in the title.

    Notes
    -----
    The share of level ``l`` is :math:`\\tau^2_l / (\\sum_k \\tau^2_k +
    \\sigma^2)`. Negative ANOVA estimates (outside the parameter space,
    flagged by :func:`~teamculture.icc`) are drawn with zero width and
    their estimate written in the legend. Random-slope models have no single
    variance partition and are refused.

    R: performance::icc(fit, by_group = TRUE) gives the shares (no plot)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import teamculture as tc
    >>> staff = tc.national_survey("tiny", rng=1).staff
    >>> res = tc.icc(staff["latent_engagement"], staff[["trust", "team"]])
    >>> ax = tc.plot_variance_partition(res)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['trust 7.6%', 'team 7.3%', 'residual 85.1%']
    """
    plt = _pyplot("plot_variance_partition")
    rows = _validate_plot_variance_partition(result, ax)
    names: list[str] = []
    for _, vc, _ in rows:
        for level in vc.index:
            if str(level) != "residual" and str(level) not in names:
                names.append(str(level))
    names.append("residual")
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
               "tab:cyan"]
    colours = {name: palette[i % len(palette)] for i, name in enumerate(names[:-1])}
    colours["residual"] = "0.78"
    single = len(rows) == 1
    ax = _axes(plt, ax, (6.4, 1.6 + 0.55 * len(rows)))
    legend_text: dict[str, str] = {}
    # width of the axes in points (constrained layout shrinks it a little when drawing): labels only where they fit
    axes_pt = ax.get_position().width * ax.figure.get_figwidth() * 72.0 * 0.85
    for i, (label, vc, _) in enumerate(rows):
        y = len(rows) - 1 - i
        total = float(vc.sum())
        left = 0.0
        for level in [n for n in names if n in vc.index]:
            share = float(vc[level]) / total
            width = max(share, 0.0)
            ax.barh(y, width, left=left, height=0.6, color=colours[level], edgecolor="white", linewidth=0.8)
            room = width * axes_pt
            if room >= 4.9 * max(len(level), 5) + 8:
                ax.text(left + width / 2, y, f"{level}\n{share:.1%}", ha="center", va="center", fontsize=8)
            elif room >= 24:
                ax.text(left + width / 2, y, f"{share:.0%}", ha="center", va="center", fontsize=7)
            if single:
                legend_text[level] = f"{level} {share:.1%}" + (" (negative estimate, drawn as 0)" if share < 0 else "")
            elif share < 0:
                legend_text[level] = f"{level} (negative estimate in {label!r}, drawn as 0)"
            left += width
    from matplotlib.patches import Patch

    present = [n for n in names if any(n in vc.index for _, vc, _ in rows)]
    handles = [Patch(facecolor=colours[n], label=legend_text.get(n, n)) for n in present]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), borderaxespad=4.0,
              ncol=min(len(handles), 4), fontsize=8, frameon=False)
    ax.set_yticks(range(len(rows)), labels=[label for label, _, _ in rows][::-1])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0.0, max(1.0, max(float(np.clip(vc.to_numpy(dtype=float), 0, None).sum() / vc.sum())
                                 for _, vc, _ in rows)))
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of the total variance")
    title = "Variance partition by level"
    if single and rows[0][2]:
        title += f" ({rows[0][2]})"
    ax.set_title(title, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


# --------------------------------------------------------------------------- diagnostics
def _group_index(labels: pd.Series, index: pd.Index, factor: str) -> np.ndarray:
    """Row -> position in a random-effects table, matched by label (never by position)."""
    values = labels.astype(object).to_numpy()
    pos = index.get_indexer(values)
    if (pos < 0).any():  # labels stored as strings in one place and numbers in the other
        pos = pd.Index(index.astype(str)).get_indexer(pd.Index(values).astype(str))
    if (pos < 0).any():
        missing = pd.unique(values[pos < 0])
        raise ValueError(f"`result`: {len(missing)} group label(s) of {factor!r} in group_labels have no random "
                         f"effect {few(missing)}; the result is inconsistent.")
    return pos


def _conditional_fitted(result: MixedResult) -> tuple[np.ndarray, np.ndarray]:
    """Conditional fitted values ``X b + Z u`` and residuals ``y - X b - Z u`` (lme4's fitted(), residuals()).

    Computed from the public fields of the result (``design``,
    ``fixed_effects``, ``random_effects``, ``group_labels``, ``response``);
    when :class:`~teamculture.MixedResult` carries ``fitted``/``residuals``
    itself this helper can defer to them.
    """
    design = result.design
    b = result.fixed_effects.reindex(design.columns)
    if b.isna().any():
        raise ValueError(f"`result`: fixed effects {few(list(b.index[b.isna()]))} are missing for design columns.")
    eta = design.to_numpy(dtype=float) @ b.to_numpy(dtype=float)
    for factor, table in result.random_effects.items():
        if factor not in result.group_labels.columns:
            raise ValueError(f"`result`: the grouping factor {factor!r} is not a column of group_labels.")
        pos = _group_index(result.group_labels[factor], table.index, factor)
        for term in _re_terms(table):
            u = _re_values(table, term)[0][pos]
            if term == _INTERCEPT:
                eta = eta + u
            elif term in design.columns:
                eta = eta + u * design[term].to_numpy(dtype=float)
            else:
                raise ValueError(
                    f"`result`: the random slope {term!r} of {factor!r} is not a column of the fixed-effects design, "
                    "so the residuals cannot be rebuilt from the result; add the term to the fixed part (as is "
                    "usual: a random slope varies around a fixed slope).")
    y = result.response.to_numpy(dtype=float)
    return eta, y - eta


def _validate_plot_diagnostics(result: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(result, MixedResult):
        raise _type_error("result", result, "a MixedResult (from teamculture.mixed)")
    if len(result.response) != len(result.design) or len(result.group_labels) != len(result.design):
        raise ValueError("`result`: response, design and group_labels have different lengths; the result is "
                         "inconsistent.")
    return _conditional_fitted(result)


def _qq(ax: Any, values: np.ndarray, title: str, *, max_points: int = 20_000) -> None:
    """Normal Q-Q plot with the line through the quartiles (R's qqnorm + qqline)."""
    x = np.sort(values[np.isfinite(values)])
    n = x.size
    p = (np.arange(1, n + 1) - (0.375 if n <= 10 else 0.5)) / (n + (0.25 if n <= 10 else 0.0))  # R's ppoints
    if n > max_points:  # every k-th order statistic, keeping the 100 most extreme at each end
        keep = np.unique(np.concatenate([np.arange(100), np.linspace(0, n - 1, max_points - 200).astype(int),
                                         np.arange(n - 100, n)]))
        x, p = x[keep], p[keep]
    q = ndtri(p)
    ax.scatter(q, x, s=6 if n <= 2000 else 3, color="0.25", edgecolors="none", rasterized=n > 5000, zorder=2)
    q1, q3 = np.quantile(values[np.isfinite(values)], [0.25, 0.75])
    z1, z3 = ndtri(0.25), ndtri(0.75)
    slope = (q3 - q1) / (z3 - z1)
    grid = np.array([q.min(), q.max()])
    ax.plot(grid, q1 + slope * (grid - z1), color="tab:red", lw=1, zorder=3)
    ax.set_xlabel("normal quantiles")
    ax.set_ylabel("sample quantiles")
    ax.set_title(title, fontsize=9)


def plot_diagnostics(result: Any) -> Any:
    """Residual diagnostics of a mixed model: residuals against fitted values and normal quantiles.

    Panels: conditional residuals against conditional fitted values (with
    the mean residual in 20 bins of the fitted values, which should stay
    near zero); a normal Q-Q plot of the residuals; a normal Q-Q plot of the
    conditional modes of each grouping factor (and each random slope).

    Parameters
    ----------
    result : MixedResult
        A fitted model from :func:`teamculture.mixed`.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure with one panel per check (constrained layout).

    Notes
    -----
    Fitted values and residuals are conditional on the predicted random
    effects, as lme4's ``fitted()`` and ``residuals()``:
    :math:`\\hat y = X\\hat\\beta + Z\\hat u`, :math:`e = y - \\hat y`. In
    the Q-Q plots the line goes through the quartiles (R's ``qqline``).
    With more than 20,000 residuals the first panel shades point density
    (hexagonal bins) and the Q-Q plot shows 20,000 order statistics (every
    k-th, and the 100 most extreme at each end). Conditional modes are
    shrunken towards zero, so their spread is smaller than the estimated
    standard deviation; look at the shape, not the slope.

    R: performance::check_model(fit); plot(fit); lattice::qqmath(ranef(fit))

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import teamculture as tc
    >>> staff = tc.national_survey("tiny", rng=1).staff
    >>> fit = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", staff)
    >>> fig = tc.plot_diagnostics(fit)
    >>> [ax.get_title() for ax in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
    ['Residuals vs fitted', 'Normal Q-Q: residuals', 'Normal Q-Q: trust (Intercept)',
     'Normal Q-Q: trust:team (Intercept)']
    """
    plt = _pyplot("plot_diagnostics")
    fitted, resid = _validate_plot_diagnostics(result)
    panels = [(factor, term) for factor, table in result.random_effects.items() for term in _re_terms(table)]
    n_panels = 2 + len(panels)
    ncols = 2 if n_panels in (2, 4) else 3
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.1 * ncols, 3.4 * nrows), layout="constrained", squeeze=False)
    axes = axes.ravel()
    for extra in axes[n_panels:]:
        fig.delaxes(extra)
    ax = axes[0]
    n = fitted.size
    if n <= 20_000:
        ax.scatter(fitted, resid, s=5 if n <= 2000 else 2, color="0.3", alpha=0.6 if n > 2000 else 0.8,
                   edgecolors="none", rasterized=n > 5000, zorder=2)
    else:
        ax.hexbin(fitted, resid, gridsize=60, mincnt=1, cmap="Greys", bins="log", linewidths=0, zorder=2)
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--", zorder=1)
    edges = np.unique(np.quantile(fitted, np.linspace(0, 1, 21)))
    if edges.size >= 3:
        which = np.clip(np.searchsorted(edges, fitted, side="right") - 1, 0, edges.size - 2)
        counts = np.bincount(which, minlength=edges.size - 1)
        means = np.bincount(which, weights=resid, minlength=edges.size - 1)
        centres = np.bincount(which, weights=fitted, minlength=edges.size - 1)
        has = counts > 0
        ax.plot(centres[has] / counts[has], means[has] / counts[has], color="tab:red", lw=1.5, marker="o", ms=3,
                zorder=3, label="mean residual in 20 bins")
        ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.set_xlabel("fitted values (conditional)")
    ax.set_ylabel("residuals")
    ax.set_title("Residuals vs fitted", fontsize=9)
    _qq(axes[1], resid, "Normal Q-Q: residuals")
    for ax, (factor, term) in zip(axes[2:], panels):
        table = result.random_effects[factor]
        values = _re_values(table, term)[0]
        name = "(Intercept)" if term == _INTERCEPT else term
        _qq(ax, values, f"Normal Q-Q: {factor} {name}")
        ax.set_ylabel("conditional modes")
    fig.suptitle(f"Residual diagnostics: {result.formula}", fontsize=10)
    return fig
