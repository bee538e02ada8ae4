"""The culture profile: each element's score per unit, its uncertainty, a benchmark comparison and a label.

Statistics (per survey year and element; see :func:`culture_profile`):

1. respondent element scores: the weighted mean of the element's measures,
   each mapped to 0-100 from its declared range;
2. unit scores: the mean over the unit's respondents; sampling variance from
   a nested variance-components model pooled over units (units fixed, teams
   random within units, moment (ANOVA) estimators):
   ``var(mean_u) = sigma2 / n_u + tau2_team * sum_t n_ut^2 / n_u^2``;
3. benchmark comparison of each unit with the *other* units of its benchmark
   group: percentile, standardised difference, and a funnel-style statistic
   with an additive between-unit variance (DerSimonian-Laird) referred to
   ``t`` with ``K' - 1`` degrees of freedom (the exact predictive ``t`` of a
   new unit when units are balanced);
4. labels "strength" / "as expected" / "area to develop" by the
   Benjamini-Hochberg rule over all units x elements (default) or by
   per-comparison funnel limits;
5. change from a baseline year with independent-samples standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from teamculture._core.errors import BoundaryWarning, DegenerateDataWarning, DroppedDataWarning
from teamculture._core.groups import Groups
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    check_choice,
    check_columns,
    check_confidence_level,
    check_frame,
    check_int,
    check_invalid,
    check_nan_policy,
    check_probability,
    did_you_mean,
    few,
)
from teamculture._core.warn import warn
from teamculture.profile._framework import Framework, resolve_framework
from teamculture.profile._uses import icc2, item_columns, score_measure
from teamculture.results import Result, Summary, result_class

__all__ = ["culture_profile", "CultureProfile", "LABELS", "PROFILE_COLUMNS"]

#: Labels, from weakest to strongest.
LABELS: tuple[str, ...] = ("area to develop", "as expected", "strength")

#: Columns of :attr:`CultureProfile.table`, always in this order.
PROFILE_COLUMNS: tuple[str, ...] = (
    "n_respondents", "n_missing", "n_teams", "score", "std_error", "ci_low", "ci_high", "reliability", "shrunken",
    "n_benchmark", "benchmark_mean", "benchmark_sd", "percentile", "std_difference", "statistic", "df", "pvalue",
    "pvalue_adjusted", "label", "baseline_score", "change", "change_std_error", "change_ci_low", "change_ci_high",
    "change_pvalue",
)

_RULES = ("fdr", "funnel")
_DEFAULT_RATE = {"fdr": 0.05, "funnel": 0.002}


# --------------------------------------------------------------------------- result
@result_class
class CultureProfile(Result):
    """A culture profile: element scores of units against a benchmark, with labels and change.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (unit, element), MultiIndex ``(<by[0]>, "element")``, with
        the columns of :data:`PROFILE_COLUMNS`: ``n_respondents`` (with a
        score), ``n_missing`` (respondents of the unit without one),
        ``n_teams``; ``score`` (0-100), ``std_error``, ``ci_low``/``ci_high``;
        ``reliability`` (of the unit score among its benchmark group:
        ``tau2 / (tau2 + std_error^2)``) and ``shrunken`` (the empirical Bayes
        score); ``n_benchmark`` (other units compared), ``benchmark_mean``,
        ``benchmark_sd``, ``percentile`` (0-100), ``std_difference`` (in
        benchmark SDs); ``statistic`` (funnel ``t``), ``df``, ``pvalue``,
        ``pvalue_adjusted`` (Benjamini-Hochberg for ``rule="fdr"``, else the
        p-value), ``label`` (categorical, :data:`LABELS`); ``baseline_score``,
        ``change``, ``change_std_error``, ``change_ci_low``/``change_ci_high``,
        ``change_pvalue`` (NaN without a baseline year).
    elements : pandas.DataFrame
        One row per element: ``n_measures`` used, ``n_respondents``,
        ``sigma2`` (within-team variance), ``tau2_team`` (team variance
        within units; NaN without a team level), ``tau2_unit`` (between-unit
        variance of the true scores, DerSimonian-Laird over the units that are
        not outlying), ``icc2`` (ICC(2) of the element at the unit level),
        ``n_outlying`` (units left out of the reference distribution: robust
        z beyond 4), ``n_flagged``.
    measures : pandas.DataFrame
        One row per mapping line, index ``(element, measure)``: ``used``
        (present in the data), ``weight``, ``n_respondents``, ``reason``.
    measure_scores : pandas.DataFrame
        Mean 0-100 score of each measure (columns) per unit (rows), survey year.
    framework : Framework
        The framework used.
    by : tuple of str
        The unit column and, if given, the team column.
    year, baseline_year : object
        The survey year profiled and the baseline of ``change`` (None when
        not given).
    benchmark : str
        How units were compared: ``"all units"``, ``"listed units"`` or
        ``"peer groups in column <name>"``.
    benchmark_units : tuple
        The units of the benchmark (all units with a peer group for peer groups).
    rule : {"fdr", "funnel"}
        The flagging rule.
    false_flag_rate : float
        What the rule controls: the false-discovery rate for "fdr", the
        per-comparison false-flag probability for "funnel".
    confidence_level : float
        Level of the intervals.
    notes : tuple of str
        Conventions and anything the reader should know.
    """

    table: pd.DataFrame
    elements: pd.DataFrame
    measures: pd.DataFrame
    measure_scores: pd.DataFrame
    framework: Framework
    by: tuple[str, ...]
    year: Any
    baseline_year: Any
    benchmark: str
    benchmark_units: tuple[Any, ...]
    rule: str
    false_flag_rate: float
    confidence_level: float
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """The profile table (a copy): one row per (unit, element), columns :data:`PROFILE_COLUMNS`."""
        return self.table.copy()

    def scores(self) -> pd.DataFrame:
        """Element scores as a units x elements table."""
        return self._wide("score")

    def labels(self) -> pd.DataFrame:
        """Labels as a units x elements table."""
        return self._wide("label")

    def _wide(self, column: str) -> pd.DataFrame:
        wide = self.table[column].unstack("element")
        order = [e for e in self.framework.element_ids if e in wide.columns]
        return wide[order]

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals of the unit scores (normal, from ``std_error``) at another level.

        Parameters
        ----------
        confidence_level : float, optional
            Default: the level the profile was computed at.

        Returns
        -------
        pandas.DataFrame
            ``ci_low``, ``ci_high`` indexed like ``table``.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        z = stats.norm.isf((1.0 - level) / 2.0)
        t = self.table
        return pd.DataFrame({"ci_low": t["score"] - z * t["std_error"], "ci_high": t["score"] + z * t["std_error"]},
                            index=t.index)

    # ------------------------------------------------------------------ printing
    def summary(self) -> Summary:
        """Header, the units x elements labels, the flagged unit-elements and the element table."""
        fw = self.framework
        counts = self.table["label"].value_counts()
        header = [
            ("framework", f"{fw.id} version {fw.version} ({fw.status})"),
            ("units", f"{self.table.index.get_level_values(0).nunique()} ({self.by[0]})"
             + (f"; staff nested in {self.by[1]}" if len(self.by) > 1 else "")),
            ("respondents", self.n_obs),
            ("dropped", self.n_dropped),
            ("survey year", "not given" if self.year is None else str(self.year)),
            ("baseline year", "none" if self.baseline_year is None else str(self.baseline_year)),
            ("benchmark", self.benchmark),
            ("rule", _rule_text(self.rule, self.false_flag_rate)),
            ("strengths", int(counts.get("strength", 0))),
            ("areas to develop", int(counts.get("area to develop", 0))),
        ]
        wide = self.scores()
        marks = self.labels()
        sym = {"strength": " +", "area to develop": " -", "as expected": ""}
        cells = pd.DataFrame(index=wide.index, columns=wide.columns, dtype=object)
        for c in wide.columns:
            cells[c] = [("NA" if not np.isfinite(v) else f"{v:.1f}") + sym.get(str(lab), "")
                        for v, lab in zip(wide[c].to_numpy(dtype=float), marks[c].astype(object))]
        shown = cells if len(cells) <= 30 else cells.loc[[u for u in cells.index
                                                          if (marks.loc[u] != "as expected").any()][:30]]
        flagged = self.table[self.table["label"].isin(["strength", "area to develop"])]
        flagged = flagged[["score", "std_error", "benchmark_mean", "percentile", "std_difference", "pvalue",
                           "pvalue_adjusted"]].sort_values("pvalue").head(30)
        tables = [
            ("scores (0-100; + strength, - area to develop)" + ("" if len(cells) <= 30 else
                                                                 ", units with a flag (first 30)"), shown),
            ("flagged unit-elements (first 30)", flagged),
            ("elements", self.elements.drop(columns=[], errors="ignore")),
        ]
        notes = list(self.notes)
        if fw.status == "reconstructed":
            notes.insert(0, f"the framework is reconstructed: {fw.reason}")
        for u in fw.unmeasured:
            notes.append(f"{u.label} is not measured: {u.reason}")
        return Summary("Culture profile", header=header, tables=tables, notes=notes)

    # ------------------------------------------------------------------ pictures
    def plot(self, units: Sequence[Any] | None = None, *, ax: Any = None) -> Any:
        """Dot-and-interval plot: elements x units against the benchmark distribution (needs matplotlib).

        Parameters
        ----------
        units : sequence, optional
            Units to draw (default: every unit when there are at most six,
            else the six with the most flags).
        ax : matplotlib Axes, optional
            Axes to draw on (default: a new figure).

        Returns
        -------
        matplotlib Axes
        """
        from teamculture.profile._report import plot_profile

        return plot_profile(self, units=units, ax=ax)

    def report(self, unit: Any, *, path: Any = None) -> str:
        """A self-contained HTML report for one unit (no network, no scripts).

        Answers the seed's first question for the unit, "To what extent are
        these cultural elements present and strong within the organisation?":
        each element's score with its interval, the benchmark comparison and
        label, the change since the baseline year, the measures behind it,
        and the framework's pointers to interventions for areas to develop.

        Parameters
        ----------
        unit : object
            A unit label of ``table``.
        path : str or path, optional
            Also write the HTML to this file (UTF-8).

        Returns
        -------
        str
            The HTML document.
        """
        from teamculture.profile._report import html_report

        return html_report(self, unit, path=path)


def _rule_text(rule: str, rate: float) -> str:
    if rule == "fdr":
        return f"Benjamini-Hochberg over all units x elements, false-discovery rate {rate:g}"
    return f"funnel limits per comparison, false-flag probability {rate:g} ({100 * (1 - rate):g}% limits)"


# --------------------------------------------------------------------------- validation
def _validate_culture_profile(data, framework, by, benchmark, year, baseline, rule, false_flag_rate, min_measures,
                              columns, invalid, confidence_level, nan_policy):
    data = check_frame(data)
    if len(data) == 0:
        raise ValueError("`data` has no rows.")
    fw = resolve_framework(framework)
    by_cols = check_columns(data, by, "by")
    if len(by_cols) > 2:
        raise ValueError(f"`by` must name the unit column and optionally the team column inside it (outer first); "
                         f"got {len(by_cols)} columns {few(by_cols)}.")
    year_col = None
    if year is not None:
        year_col = check_columns(data, year, "year")
        if len(year_col) != 1:
            raise ValueError(f"`year` must name one column; got {few(year_col)}.")
        year_col = year_col[0]
        if year_col in by_cols:
            raise ValueError(f"`year` ({year_col!r}) is also in `by`; the survey year is not a unit.")
    if baseline is not None and year is None:
        raise ValueError("`baseline` needs `year` (the column of survey years).")
    check_choice("rule", rule, _RULES)
    rate = _DEFAULT_RATE[rule] if false_flag_rate is None else check_probability("false_flag_rate", false_flag_rate,
                                                                                 open_low=True, open_high=True)
    if rule == "fdr" and rate > 0.5:
        raise ValueError(f"`false_flag_rate` {rate!r} is a false-discovery rate above 0.5; use e.g. 0.05 or 0.1.")
    if rule == "funnel" and rate > 0.2:
        raise ValueError(f"`false_flag_rate` {rate!r} is a per-comparison probability; funnel limits use e.g. 0.002 "
                         "(99.8%) or 0.05 (95%).")
    if min_measures is not None:
        min_measures = check_int("min_measures", min_measures, minimum=1)
    if columns is not None and not isinstance(columns, Mapping):
        raise TypeError(f"`columns` must map data column names to item ids ({{'q9f': 'cl1'}}); got "
                        f"{type(columns).__name__}.")
    check_invalid(invalid)
    level = check_confidence_level(confidence_level)
    check_nan_policy(nan_policy)
    if isinstance(benchmark, str):
        if benchmark not in data.columns:
            raise ValueError(f"`benchmark` {benchmark!r} is not a column of `data` (a column of peer-group labels) "
                             f"nor a list of units.{did_you_mean(benchmark, data.columns)}")
        if benchmark in by_cols or benchmark == year_col:
            raise ValueError(f"`benchmark` column {benchmark!r} is also in `by`/`year`.")
    elif benchmark is not None and not isinstance(benchmark, (list, tuple, set, frozenset, np.ndarray, pd.Index,
                                                              pd.Series)):
        raise TypeError(f"`benchmark` must be None (all units), a list of unit labels or the name of a column of "
                        f"peer-group labels; got {type(benchmark).__name__}.")
    return fw, by_cols, year_col, rate, min_measures, level


# --------------------------------------------------------------------------- statistics
def _variance_components(y: np.ndarray, unit: np.ndarray, team: np.ndarray | None, n_units: int,
                         n_teams: int, element: str, by: Sequence[str]) -> tuple[np.ndarray, float, float, float]:
    """Sampling variances of the unit means, sigma2, tau2_team (nested ANOVA, units fixed; truncated at 0)
    and the untruncated moment estimate of tau2_team."""
    n_u = np.bincount(unit, minlength=n_units).astype(float)
    N = y.size
    U = int((n_u > 0).sum())
    if team is None:
        mu = np.bincount(unit, weights=y, minlength=n_units) / np.where(n_u > 0, n_u, 1.0)
        dev = y - mu[unit]
        df_w = N - U
        if df_w < 1:
            raise ValueError(f"`by`: every unit has one respondent with a score on {element!r}; the within-unit "
                             "variance is not estimable.")
        sigma2 = float(dev @ dev) / df_w
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.where(n_u > 0, sigma2 / n_u, np.nan)
        return var, sigma2, math.nan, math.nan
    n_t = np.bincount(team, minlength=n_teams).astype(float)
    T = int((n_t > 0).sum())
    mt = np.bincount(team, weights=y, minlength=n_teams) / np.where(n_t > 0, n_t, 1.0)
    mu = np.bincount(unit, weights=y, minlength=n_units) / np.where(n_u > 0, n_u, 1.0)
    dev = y - mt[team]
    df_w = N - T
    df_t = T - U
    if df_w < 1:
        raise ValueError(f"`by`: every team ({by[1]!r}) has one respondent with a score on {element!r}; the "
                         "within-team variance is not estimable. Drop the team level from `by`.")
    if df_t < 1:
        raise ValueError(f"`by`: every unit ({by[0]!r}) has a single team ({by[1]!r}) with a score on {element!r}, "
                         "so team and unit variation cannot be separated. Pass `by` = the unit column alone.")
    sigma2 = float(dev @ dev) / df_w
    team_unit = np.zeros(n_teams, dtype=np.intp)
    team_unit[team] = unit
    present = n_t > 0
    d_t = (mt - mu[team_unit])[present]
    ms_t = float(np.sum(n_t[present] * d_t * d_t)) / df_t
    sum_nt2 = np.bincount(team_unit[present], weights=n_t[present] ** 2, minlength=n_units)
    n0 = (N - float(np.sum(sum_nt2[n_u > 0] / n_u[n_u > 0]))) / df_t
    raw = (ms_t - sigma2) / n0
    tau2 = max(raw, 0.0)  # a moment estimate below the boundary is truncated (and said in the summary)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n_u > 0, sigma2 / n_u + tau2 * sum_nt2 / n_u**2, np.nan)
    return var, sigma2, float(tau2), float(raw)


def _dl_tau2(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird between-unit variance of ``y`` with sampling variances ``v``."""
    k = y.size
    if k < 2:
        return math.nan
    w = 1.0 / v
    sw = w.sum()
    yw = float(w @ y) / sw
    q = float(w @ (y - yw) ** 2)
    denom = sw - float(w @ w) / sw
    return max(0.0, (q - (k - 1)) / denom) if denom > 0 else 0.0


def _compare(y_u: float, v_u: float, y_o: np.ndarray, y_t: np.ndarray, v_t: np.ndarray) -> dict[str, float]:
    """One unit against the other units of its benchmark.

    ``y_o``: scores of all other units (descriptive columns); ``y_t``, ``v_t``:
    scores and sampling variances of the other units that are not outlying
    (the reference distribution of the funnel statistic).
    """
    k = y_o.size
    out = dict.fromkeys(("benchmark_mean", "benchmark_sd", "percentile", "std_difference", "statistic", "df",
                         "pvalue"), math.nan)
    out["n_benchmark"] = float(k)
    if k < 2 or not np.isfinite(y_u):
        return out
    m = float(y_o.mean())
    sd = float(y_o.std(ddof=1))
    out["benchmark_mean"] = m
    out["benchmark_sd"] = sd
    tie = np.abs(y_o - y_u) <= 1e-12 * np.maximum(np.abs(y_o), abs(y_u))  # equal up to summation order
    out["percentile"] = 100.0 * (float(np.sum((y_o < y_u) & ~tie)) + 0.5 * float(np.sum(tie))) / k
    out["std_difference"] = (y_u - m) / sd if sd > 0 else math.nan
    kt = y_t.size
    if kt < 2:
        return out
    mt = float(y_t.mean())
    tau2 = _dl_tau2(y_t, v_t)
    var_m = float(np.sum(v_t + tau2)) / kt**2
    total = v_u + tau2 + var_m
    out["statistic"] = (y_u - mt) / math.sqrt(total) if total > 0 else math.nan
    out["df"] = float(kt - 1)
    out["pvalue"] = float(2.0 * stats.t.sf(abs(out["statistic"]), kt - 1)) if np.isfinite(out["statistic"]) \
        else math.nan
    return out


#: robust z beyond which a unit is left out of the other units' reference distribution: the modified
#: z-score rule of Iglewicz & Hoaglin (1993), at 4 rather than their 3.5, which with ~40 ordinary units
#: left out extreme but ordinary ones often enough to raise false flags (benchmarks/coverage_profile.py)
OUTLYING_Z = 4.0


def _outlying(y: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Units of ``members`` whose robust z, (y - median) / (1.4826 MAD), exceeds :data:`OUTLYING_Z`."""
    out = np.zeros(y.size, dtype=bool)
    if members.sum() < 3:
        return out
    ym = y[members]
    med = float(np.median(ym))
    mad = 1.4826 * float(np.median(np.abs(ym - med)))
    if mad > 0:
        out[members] = np.abs(ym - med) / mad > OUTLYING_Z
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN kept)."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if not m:
        return out
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _year_stats(y: np.ndarray, groups: Groups, keep: np.ndarray, element: str, by: Sequence[str],
                ) -> tuple[pd.DataFrame, float, float, float]:
    """Per-unit n, teams, mean and sampling variance of one element in one year."""
    ok = keep & np.isfinite(y)
    unit = groups.codes[0][ok]
    team = groups.codes[1][ok] if groups.n_levels > 1 else None
    yy = y[ok]
    n_units = groups.n_groups[0]
    n_teams = groups.n_groups[1] if groups.n_levels > 1 else 0
    units = groups.labels[0]
    n_u = np.bincount(unit, minlength=n_units).astype(float)
    n_all = np.bincount(groups.codes[0][keep], minlength=n_units).astype(float)
    if yy.size == 0 or int((n_u > 0).sum()) == 0:
        frame = pd.DataFrame({"n_respondents": n_u, "n_missing": n_all - n_u, "n_teams": 0.0, "score": np.nan,
                              "variance": np.nan}, index=units)
        return frame, math.nan, math.nan, math.nan
    var, sigma2, tau2, raw = _variance_components(yy, unit, team, n_units, n_teams, element, by)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(unit, weights=yy, minlength=n_units) / n_u
    if team is not None:
        has = np.bincount(team, minlength=n_teams) > 0
        tu = np.zeros(n_teams, dtype=np.intp)
        tu[team] = unit
        n_tm = np.bincount(tu[has], minlength=n_units).astype(float)
    else:
        n_tm = np.full(n_units, np.nan)
    frame = pd.DataFrame({"n_respondents": n_u, "n_missing": n_all - n_u, "n_teams": n_tm,
                          "score": np.where(n_u > 0, mean, np.nan), "variance": var}, index=units)
    return frame, sigma2, tau2, raw


# --------------------------------------------------------------------------- the function
def culture_profile(
    data: pd.DataFrame,
    framework: Any,
    *,
    by: str | Sequence[str],
    benchmark: Any = None,
    year: str | None = None,
    baseline: Any = None,
    rule: str = "fdr",
    false_flag_rate: float | None = None,
    min_measures: int | None = None,
    columns: Mapping[str, str] | None = None,
    invalid: str = "raise",
    confidence_level: float = 0.95,
    nan_policy: str = "omit",
) -> CultureProfile:
    """Profile organisations (or directorates, teams) on the elements of a culture framework.

    Answers the seed's question "To what extent are these cultural elements
    present and strong within the organisation?" for every unit: each
    element's score with an interval that respects staff nested in teams, its
    reliability, its standing in a benchmark group, a strength / as-expected /
    area-to-develop label whose false flags are controlled across elements and
    units, and its change since a baseline survey year.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent: the item columns of the framework's measures
        (named by item id, or mapped with ``columns``), the unit column, and
        optionally a team column, a year column and a peer-group column.
    framework : str, Framework, dict or path
        A built-in framework id (``"nhs-culture-elements"``), a
        :class:`Framework`, a definition dict or a TOML file
        (see :func:`load_framework`).
    by : str or list of str
        The unit column (trust, directorate, team), optionally followed by
        the column of teams nested in units: ``by=["trust", "team"]``.
        With a team column, standard errors include the variation between
        teams; without it, respondents are treated as independent within
        units (too-narrow intervals when teams differ).
    benchmark : None, list of unit labels, or str, optional
        Whom each unit is compared with: None, every unit in the data; a list
        of unit labels (e.g. acute trusts; units outside it are compared with
        all of it); or the name of a column of peer-group labels (constant
        within a unit): each unit is compared with the other units of its
        group. At least three units are needed.
    year : str, optional
        Column of survey years. The latest year is profiled.
    baseline : object, optional
        The year to measure change from (default: the latest year before the
        profiled one, if any).
    rule : {"fdr", "funnel"}, default "fdr"
        How labels are assigned. ``"fdr"``: Benjamini-Hochberg over all
        units x elements at false-discovery rate ``false_flag_rate``.
        ``"funnel"``: each comparison on its own, beyond funnel limits with
        two-sided probability ``false_flag_rate``.
    false_flag_rate : float, optional
        What the rule controls: default 0.05 for "fdr" (the expected share of
        false flags among the flags), 0.002 for "funnel" (the probability of
        flagging an ordinary unit-element: 99.8% limits).
    min_measures : int, optional
        Minimum number of an element's measures a respondent must have for an
        element score (capped at the element's number of measures). Default:
        all of them, so that units with different patterns of missing answers
        are not compared on different mixes of measures.
    columns : dict, optional
        Maps data column names to item ids (``{"q9f": "cl1"}``).
    invalid : {"raise", "missing"}, default "raise"
        Item codes outside an item's response scale (or column measures
        outside their declared range): an error naming the column, or set
        missing and counted in a :class:`~teamculture.errors.DroppedDataWarning`.
    confidence_level : float, default 0.95
        Level of the intervals of scores and changes.
    nan_policy : {"omit", "raise"}, default "omit"
        Respondents without a label (unit, team, year, peer group) or without
        an element score: dropped (from that element) and counted with a
        :class:`~teamculture.errors.DroppedDataWarning`, or an error.

    Returns
    -------
    CultureProfile
        ``table`` (one row per unit and element), ``elements``,
        ``measures``, ``scores()``, ``labels()``, ``plot()``,
        ``report(unit)`` (an offline HTML report) and ``summary()``.

    Notes
    -----
    *Scores.* A measure's respondent score :math:`x` with declared range
    :math:`[L, H]` is mapped to :math:`100 (x - L)/(H - L)` (a category
    share is 100 or 0); a respondent's element score is the weighted mean of
    the element's measures; a unit's score :math:`\\bar y_u` is the mean over
    its respondents. Measures of the framework whose items are absent from
    ``data`` are skipped with a warning and listed in ``measures``.

    *Uncertainty.* With teams :math:`t` nested in units, the moment (ANOVA)
    estimators of the nested model with fixed units, pooled over units,
    give the within-team variance :math:`\\sigma^2` (MSW) and the team
    variance :math:`\\tau^2_T = (MS_{T(U)} - MSW)/n_0`,
    :math:`n_0 = (N - \\sum_u \\sum_{t \\in u} n_{t}^2 / n_u)/(T - U)`
    (a negative moment estimate is set to 0 and said in the summary), and

    .. math:: \\operatorname{var}(\\bar y_u) = \\frac{\\sigma^2}{n_u}
              + \\tau^2_T \\frac{\\sum_{t \\in u} n_t^2}{n_u^2}.

    Intervals are normal. Without a team level, :math:`\\sigma^2` is the
    pooled within-unit variance.

    *Benchmark.* Unit :math:`u` is compared with the :math:`K'` other units
    :math:`j` of its benchmark group: mean :math:`m`, SD :math:`s`,
    percentile :math:`100\\,(\\#\\{y_j < y_u\\} + \\#\\{y_j = y_u\\}/2)/K'`,
    standardised difference :math:`(y_u - m)/s`, and the funnel statistic

    .. math:: t_u = \\frac{\\bar y_u - m}{\\sqrt{v_u + \\hat\\tau^2 +
              \\sum_j (v_j + \\hat\\tau^2)/K'^2}}

    with :math:`v = \\operatorname{var}(\\bar y)` and :math:`\\hat\\tau^2` the
    DerSimonian-Laird between-unit variance (an additive over-dispersion, as
    SHMI funnels), where :math:`m`, :math:`\\hat\\tau^2` and :math:`K'` of the
    statistic are those of the other units that are not themselves
    outlying: a unit whose robust z, :math:`(\\bar y_j - \\mathrm{median})/
    (1.4826\\,\\mathrm{MAD})` over its benchmark group, exceeds 4 (the
    modified z-score rule of Iglewicz & Hoaglin, who suggest 3.5) is left out
    of the others'
    reference distribution (``elements["n_outlying"]``), so that two strong
    units do not mask each other by inflating :math:`\\hat\\tau^2`; the
    descriptive columns (``benchmark_mean``, ``percentile``, ...) use all
    other units. Under "the unit is an ordinary member of its benchmark"
    :math:`t_u` follows :math:`t_{K'-1}` exactly when units are balanced and
    normal (and none is outlying), approximately otherwise. Leaving the unit
    out keeps a strong unit from widening its own limits.

    *Labels.* ``rule="fdr"`` (default): the Benjamini-Hochberg step-up rule
    over every unit x element p-value, so that in expectation at most a
    fraction ``false_flag_rate`` of the flags are false: with 6 elements and
    many units a per-comparison rule would flag ordinary units by chance
    (0.2% of 1,500 comparisons is 3 flags), while BH adapts to how many real
    differences there are. ``rule="funnel"``: the familiar 99.8% limits,
    controlling each comparison's false-flag probability; the expected
    number of false flags is then ``false_flag_rate`` times the number of
    ordinary unit-elements. A flagged unit with :math:`t_u > 0` is a
    "strength", with :math:`t_u < 0` an "area to develop". The study in
    ``benchmarks/coverage_profile.py`` checks both rates on simulated
    surveys with known strong and weak units.

    *Reliability* of a unit score among its benchmark group is
    :math:`\\lambda_u = \\tau^2/(\\tau^2 + v_u)` (the shrinkage factor;
    ``shrunken`` is :math:`\\hat\\mu + \\lambda_u(\\bar y_u - \\hat\\mu)`, the
    empirical Bayes score); ``elements["icc2"]`` is the ICC(2) of each
    element at the unit level (one-way ANOVA, respondents within units); a
    negative ICC(2) (units differ less than chance) comes with a
    :class:`~teamculture.errors.BoundaryWarning` naming the elements.

    *Change* from the baseline year: :math:`\\bar y_{u,t} - \\bar y_{u,b}`
    with variance :math:`v_{u,t} + v_{u,b}` (independent samples of staff;
    team effects that persist between years make the true variance smaller,
    so the interval is conservative).

    R: none (the pieces: ``multilevel::ICC2``, ``metafor::rma(method = "DL")``
    for the between-unit variance, ``p.adjust(p, "BH")``).

    References
    ----------
    .. [1] West M, Baker R, Dawson J, Dixon-Woods M, et al. (2013). Quality
       and safety in the NHS. Lancaster University.
    .. [2] Spiegelhalter DJ (2005). Funnel plots for comparing institutional
       performance. Statistics in Medicine 24:1185-1202.
    .. [3] Benjamini Y, Hochberg Y (1995). Controlling the false discovery
       rate. Journal of the Royal Statistical Society B 57:289-300.
    .. [4] DerSimonian R, Laird N (1986). Meta-analysis in clinical trials.
       Controlled Clinical Trials 7:177-188.
    .. [5] Iglewicz B, Hoaglin DC (1993). How to detect and handle outliers.
       ASQC Quality Press.

    Examples
    --------
    >>> from teamculture import profile
    >>> from teamculture.simulate import simulate_culture
    >>> sim = simulate_culture(n_trusts=12, teams_per_trust=6, staff_per_team=8, rng=5)
    >>> prof = profile.culture_profile(sim.staff, "nhs-culture-elements", by=["trust", "team"],
    ...                                   year="year")
    >>> prof.scores().shape
    (12, 6)
    >>> row = prof.table.loc[("TR01", "teamwork")]
    >>> bool(row["ci_low"] < row["score"] < row["ci_high"]), row["label"] in profile.LABELS
    (True, True)
    """
    fw, by_cols, year_col, rate, min_measures, level = _validate_culture_profile(
        data, framework, by, benchmark, year, baseline, rule, false_flag_rate, min_measures, columns, invalid,
        confidence_level, nan_policy)
    n_rows = len(data)
    truncated: list[tuple[str, Any, float]] = []

    # ---- measures present in the data ---------------------------------------------------------
    used: list[Any] = []
    absent: list[Any] = []
    for m in fw.measures:
        if m.kind == "column":
            (used if m.column in data.columns else absent).append(m)
            continue
        cols = item_columns(data, m, columns)
        missing = [i for i, c in cols.items() if c is None]
        if not missing:
            used.append(m)
        elif len(missing) == len(cols):
            absent.append(m)
        else:
            raise ValueError(
                f"`data` has some but not all items of measure {m.id!r}: {len(missing)} of {len(cols)} missing "
                f"({few(missing)}). Map your column names with `columns` ({{'your_column': 'item_id'}}).")
    elements = [e for e in fw.element_ids if any(m.element == e for m in used)]
    dropped_elements = [e for e in fw.element_ids if e not in elements]
    if not elements:
        raise ValueError(f"`data` holds the items of none of the measures of framework {fw.id!r} "
                         f"(first needed: {few([m.id for m in fw.measures])}); map your columns with `columns`.")
    if absent:
        warn(f"{len(absent)} measure(s) of framework {fw.id!r} are not in `data` and were skipped: "
             f"{few([m.id for m in absent])}"
             + (f"; element(s) {few(dropped_elements)} have no measure left and are not profiled" if dropped_elements
                else "") + " (see result.measures).", DroppedDataWarning)

    # ---- labels ----------------------------------------------------------------------------------
    label_cols = list(by_cols) + ([year_col] if year_col else []) + ([benchmark] if isinstance(benchmark, str)
                                                                     else [])
    label_missing = data[label_cols].isna().any(axis=1).to_numpy()
    keep_rows, n_label_drop = apply_nan_policy(label_missing, nan_policy, name="by" if not year_col else "by/year",
                                               what="the culture profile")
    keep = np.ones(n_rows, dtype=bool) if keep_rows is None else keep_rows
    if not keep.any():
        raise ValueError("`by`: no respondent has a unit label.")

    # ---- measure and element scores ---------------------------------------------------------------
    n_invalid = 0
    mscores: dict[str, np.ndarray] = {}
    for m in used:
        if m.id not in mscores:
            mscores[m.id], k = score_measure(data, m, columns=columns, invalid=invalid)
            n_invalid += k
    if n_invalid:
        warn(f"{n_invalid} item code(s) outside their response scale were set to missing (invalid='missing').",
             DroppedDataWarning)
    escore: dict[str, np.ndarray] = {}
    for e in elements:
        ms = [m for m in used if m.element == e]
        x = np.column_stack([mscores[m.id] for m in ms])
        w = np.array([m.weight for m in ms])
        have = np.isfinite(x)
        need = len(ms) if min_measures is None else min(min_measures, len(ms))
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (np.where(have, x, 0.0) @ w) / (have @ w)
        s[have.sum(axis=1) < need] = np.nan
        escore[e] = s
    no_score = np.zeros(n_rows, dtype=bool)
    for e in elements:
        no_score |= keep & ~np.isfinite(escore[e])
    if nan_policy == "raise" and no_score.any():
        apply_nan_policy(no_score, "raise", name="data", what="the culture profile")
    if no_score.any():
        per = {e: int((keep & ~np.isfinite(escore[e])).sum()) for e in elements}
        warn(f"{int(no_score.sum())} of {int(keep.sum())} respondent(s) lack a score on at least one element "
             f"(fewer measures answered than min_measures) and were left out of those elements: "
             f"{', '.join(f'{e} {k}' for e, k in per.items() if k)} (see table['n_missing']).", DroppedDataWarning)
    any_score = np.zeros(n_rows, dtype=bool)
    for e in elements:
        any_score |= np.isfinite(escore[e])
    used_rows = keep & any_score
    n_dropped = int(n_rows - used_rows.sum())

    # ---- years -------------------------------------------------------------------------------------
    if year_col is not None:
        yv = data[year_col].to_numpy()
        years = sorted(pd.unique(yv[keep]).tolist())
        current = years[-1]
        if baseline is None:
            base = years[-2] if len(years) > 1 else None
        else:
            if baseline not in years:
                raise ValueError(f"`baseline` {baseline!r} is not a year in column {year_col!r} "
                                 f"({few(years)}).")
            if baseline == current:
                raise ValueError(f"`baseline` {baseline!r} is the profiled (latest) year; choose an earlier one.")
            base = baseline
        in_current = keep & (yv == current)
        in_base = keep & (yv == base) if base is not None else None
    else:
        current = base = None
        in_current = keep
        in_base = None

    groups_cur, _ = Groups.from_labels(data.loc[in_current, by_cols] if len(by_cols) > 1
                                       else data.loc[in_current, by_cols[0]], name="by")
    units = groups_cur.labels[0]
    unit_of_row = groups_cur.codes[0]

    # ---- benchmark groups (current year) ---------------------------------------------------------
    if benchmark is None:
        bench_text = "all units"
        group_of_unit = np.zeros(len(units), dtype=np.intp)
        in_bench = np.ones(len(units), dtype=bool)
    elif isinstance(benchmark, str):
        bench_text = f"peer groups in column {benchmark!r}"
        peer = data.loc[in_current, benchmark].to_numpy()
        frame = pd.DataFrame({"u": unit_of_row, "g": peer})
        n_distinct = frame.groupby("u")["g"].nunique()
        bad = n_distinct[n_distinct > 1].index
        if len(bad):
            raise ValueError(f"`benchmark` column {benchmark!r} must be constant within each unit; "
                             f"{len(bad)} unit(s) have several peer groups: {few([units[i] for i in bad])}.")
        first = frame.groupby("u")["g"].first()
        codes, _ = pd.factorize(first.reindex(range(len(units))).to_numpy(), sort=True)
        group_of_unit = np.asarray(codes, dtype=np.intp)
        in_bench = np.ones(len(units), dtype=bool)
    else:
        listed = list(pd.unique(np.asarray(list(benchmark), dtype=object)))
        unknown = [b for b in listed if b not in set(units)]
        if unknown:
            raise ValueError(f"`benchmark` lists {len(unknown)} unit(s) not in the data's `by` column "
                             f"{by_cols[0]!r}: {few(unknown)}.{did_you_mean(unknown[0], [str(u) for u in units])}")
        bench_text = "listed units"
        group_of_unit = np.zeros(len(units), dtype=np.intp)
        in_bench = np.asarray(units.isin(listed))
    bench_sizes = np.bincount(group_of_unit[in_bench], minlength=int(group_of_unit.max()) + 1)
    if bench_sizes.max() < 3:
        raise ValueError(f"`benchmark` must contain at least three units with data; got {int(bench_sizes.max())}.")
    benchmark_units = tuple(units[in_bench])

    # ---- per element -------------------------------------------------------------------------------
    z = stats.norm.isf((1.0 - level) / 2.0)
    blocks = []
    elem_rows = []
    groups_base = None
    if in_base is not None:
        groups_base, _ = Groups.from_labels(data.loc[in_base, by_cols] if len(by_cols) > 1
                                            else data.loc[in_base, by_cols[0]], name="by")
    full_keep = np.ones(int(in_current.sum()), dtype=bool)
    for e in elements:
        y_cur = escore[e][in_current]
        cur, sigma2, tau2_team, raw = _year_stats(y_cur, groups_cur, full_keep, e, by_cols)
        if raw < 0:
            truncated.append((e, current, raw))
        ok = np.isfinite(cur["score"].to_numpy()) & (cur["variance"].to_numpy() > 0)
        if np.any(np.isfinite(cur["score"].to_numpy()) & ~(cur["variance"].to_numpy() > 0)):
            warn(f"element {e!r} has no variation within teams/units (sigma2 = {sigma2:.3g}); its scores have "
                 "zero standard errors and are not compared with the benchmark (NaN).", DegenerateDataWarning)
        y = cur["score"].to_numpy()
        v = cur["variance"].to_numpy()
        outlying = np.zeros(len(units), dtype=bool)
        for g in np.unique(group_of_unit):
            outlying |= _outlying(y, ok & in_bench & (group_of_unit == g))
        comp = []
        for i in range(len(units)):
            others = ok & in_bench & (group_of_unit == group_of_unit[i])
            others[i] = False
            ordinary = others & ~outlying
            if ordinary.sum() < 2:
                ordinary = others
            c = _compare(y[i] if ok[i] else math.nan, v[i] if ok[i] else math.nan, y[others], y[ordinary],
                         v[ordinary])
            # reliability among the ordinary units of the benchmark group, the unit itself included
            if ok[i]:
                grp = ordinary.copy()
                grp[i] = True
                tau2_g = _dl_tau2(y[grp], v[grp])
                w = 1.0 / (v[grp] + tau2_g)
                mu = float(w @ y[grp]) / float(w.sum())
                lam = tau2_g / (tau2_g + v[i]) if (tau2_g + v[i]) > 0 else math.nan
                c["reliability"] = lam
                c["shrunken"] = mu + lam * (y[i] - mu)
            else:
                c["reliability"] = c["shrunken"] = math.nan
            comp.append(c)
        comp_df = pd.DataFrame(comp, index=units)
        se = np.sqrt(v)
        block = pd.DataFrame({
            "n_respondents": cur["n_respondents"], "n_missing": cur["n_missing"], "n_teams": cur["n_teams"],
            "score": y, "std_error": se, "ci_low": y - z * se, "ci_high": y + z * se,
        }, index=units)
        block = pd.concat([block, comp_df[["reliability", "shrunken", "n_benchmark", "benchmark_mean",
                                           "benchmark_sd", "percentile", "std_difference", "statistic", "df",
                                           "pvalue"]]], axis=1)
        # change
        if groups_base is not None:
            y_b = escore[e][in_base]
            bst, _, _, raw_b = _year_stats(y_b, groups_base, np.ones(y_b.size, dtype=bool), e, by_cols)
            if raw_b < 0:
                truncated.append((e, base, raw_b))
            bst = bst.reindex(units)
            block["baseline_score"] = bst["score"].to_numpy()
            ch = y - block["baseline_score"].to_numpy()
            ch_se = np.sqrt(v + bst["variance"].to_numpy())
            block["change"] = ch
            block["change_std_error"] = ch_se
            block["change_ci_low"] = ch - z * ch_se
            block["change_ci_high"] = ch + z * ch_se
            with np.errstate(invalid="ignore", divide="ignore"):
                block["change_pvalue"] = 2.0 * stats.norm.sf(np.abs(ch / ch_se))
        else:
            for c in ("baseline_score", "change", "change_std_error", "change_ci_low", "change_ci_high",
                      "change_pvalue"):
                block[c] = np.nan
        block["element"] = e
        blocks.append(block)
        yy = y_cur[np.isfinite(y_cur)]
        uu = unit_of_row[np.isfinite(y_cur)]
        icc = icc2(yy, uu) if np.unique(uu).size >= 2 and yy.size > np.unique(uu).size else math.nan
        elem_rows.append({"element": e, "n_measures": sum(m.element == e for m in used),
                          "n_respondents": int(np.isfinite(y_cur).sum()), "sigma2": sigma2,
                          "tau2_team": tau2_team, "tau2_unit": _dl_tau2(y[ok & ~outlying], v[ok & ~outlying]),
                          "icc2": icc, "n_outlying": int(outlying.sum())})

    table = pd.concat(blocks)
    table.index.name = by_cols[0]
    table = table.set_index("element", append=True)
    # labels
    p = table["pvalue"].to_numpy(dtype=float)
    if rule == "fdr":
        padj = _bh(p)
        flag = padj <= rate
    else:
        padj = p.copy()
        flag = p < rate
    stat = table["statistic"].to_numpy(dtype=float)
    lab = np.where(~np.isfinite(p), None, np.where(flag & (stat > 0), LABELS[2],
                                                  np.where(flag & (stat < 0), LABELS[0], LABELS[1])))
    table["pvalue_adjusted"] = padj
    table["label"] = pd.Categorical(lab, categories=list(LABELS), ordered=True)
    table = table[list(PROFILE_COLUMNS)]
    for c in PROFILE_COLUMNS:
        if c != "label":
            table[c] = table[c].astype(float)
    # order: units as labelled, elements in framework order
    table = table.reindex(pd.MultiIndex.from_product([units, elements], names=[by_cols[0], "element"]))

    elem = pd.DataFrame(elem_rows).set_index("element")
    negative = elem.index[elem["icc2"] < 0].tolist()
    if negative:
        values = ", ".join(format(v, ".3g") for v in elem.loc[negative, "icc2"])
        warn(f"ICC(2) is negative for element(s) {few(negative)} ({values}): the units ({by_cols[0]}) differ less than their respondents predict, so their scores on these elements "
             "do not reliably distinguish units (see result.elements).", BoundaryWarning)
    elem["n_flagged"] = [int(((table.xs(e, level="element")["label"] != "as expected")
                              & table.xs(e, level="element")["label"].notna()).sum()) for e in elements]
    elem = elem.astype(float)

    mrows = []
    for m in fw.measures:
        ok_m = m in used
        mrows.append({"measure": m.id, "element": m.element, "used": ok_m, "weight": m.weight,
                      "n_respondents": float(np.isfinite(mscores[m.id][in_current]).sum()) if ok_m else 0.0,
                      "reason": m.reason})
    measures = pd.DataFrame(mrows).set_index(["element", "measure"])
    ms_cols = {}
    for mid, x in mscores.items():
        xc = x[in_current]
        fin = np.isfinite(xc)
        n = np.bincount(unit_of_row[fin], minlength=len(units)).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ms_cols[mid] = np.bincount(unit_of_row[fin], weights=xc[fin], minlength=len(units)) / n
    measure_scores = pd.DataFrame(ms_cols, index=units)

    notes = [
        "scores are 0-100: each measure's declared range mapped linearly; category shares are percentages",
        ("standard errors include the variation between teams (" + by_cols[1] + ") within units"
         if len(by_cols) > 1 else "no team level given: respondents are treated as independent within units, "
         "which understates standard errors when teams differ"),
        "each unit is compared with the other units of its benchmark (leave-one-out); t reference with K'-1 df",
    ]
    for e, yr, v in truncated:
        notes.append(f"the team variance of {e} within units" + ("" if yr is None else f" ({yr})")
                     + f" was estimated below zero ({v:.3g}: teams differ less than their respondents predict) "
                     "and set to 0; its standard errors rest on the within-team variance")
    if year_col is not None and base is None:
        notes.append(f"only one survey year ({current}) in column {year_col!r}: no change computed")
    if year_col is not None and base is not None:
        notes.append(f"change {base} to {current}: independent-samples standard errors (conservative when team "
                     "effects persist)")
    n_groups: Any = len(units) if len(by_cols) == 1 else pd.Series(
        {by_cols[0]: len(units), by_cols[1]: groups_cur.n_groups[1]}, dtype=int)
    return CultureProfile(
        n_obs=int(used_rows.sum()), n_dropped=n_dropped, n_groups=n_groups, table=table, elements=elem,
        measures=measures, measure_scores=measure_scores, framework=fw, by=tuple(by_cols), year=current,
        baseline_year=base, benchmark=bench_text, benchmark_units=benchmark_units, rule=rule,
        false_flag_rate=float(rate), confidence_level=level, notes=tuple(notes),
    )
