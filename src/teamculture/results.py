"""The result protocol shared by every teamculture result.

Every result is a frozen dataclass derived from :class:`Result`:

- ``summary()`` returns a :class:`Summary` (``str()`` for text, ``.as_html()``,
  ``.as_latex()`` with booktabs rules, ``.as_markdown()``); ``print(result)``
  and notebooks show it;
- ``to_frame()`` gives the main table as a DataFrame (fixed columns, floats,
  nothing rounded), ``to_dict()`` every field as plain Python/pandas values;
- ``confidence_interval(confidence_level=None)`` gives a
  :class:`ConfidenceInterval` ``(low, high)`` for a scalar estimate or a
  DataFrame with columns ``ci_low``/``ci_high`` for several (``None`` = the
  level the result was computed at);
- ``n_obs``, ``n_dropped`` and ``n_groups`` say what the numbers rest on
  (``None`` where a result was not computed from data, e.g. a published
  coefficient);
- results pickle (no closures) and compare with ``==`` (field by field,
  pandas-aware, NaN equal to NaN).

Coefficient tables of every model (mixed models, outcome GLMs, panel models,
standardised coefficients) share the columns in :data:`COEF_COLUMNS`:
``estimate, std_error, statistic, df, pvalue, ci_low, ci_high`` (``df`` is
``inf`` for normal-theory tests).

The result classes themselves are documented with the functions that
return them and re-exported here (resolved lazily).
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "Result",
    "Summary",
    "ConfidenceInterval",
    "COEF_COLUMNS",
    # result classes, defined with the functions that return them
    "SimulatedSurvey",
    "GroupScores",
    "AlphaResult",
    "OmegaResult",
    "MultilevelReliabilityResult",
    "NullSimulation",
    "RGRResult",
    "ICCResult",
    "WABAResult",
    "AggregateResult",
    "MixedResult",
    "R2Result",
    "CompareResult",
    "OutcomeFit",
    "FunnelResult",
    "ShareEffect",
    "PowerResult",
    "ModelTable",
    "VarianceIntervals",
    "CultureProfile",
    "MediationResult",
    "GLMMResult",
    "GLMMCompareResult",
    "CultureSimulation",
    "EngagementSimulation",
]

#: The columns of every coefficient table, in this order.
COEF_COLUMNS: tuple[str, ...] = ("estimate", "std_error", "statistic", "df", "pvalue", "ci_low", "ci_high")

_RESULT_HOMES: dict[str, str] = {
    "SimulatedSurvey": "teamculture.simulate",
    "GroupScores": "teamculture.scoring",
    "AlphaResult": "teamculture.reliability",
    "OmegaResult": "teamculture.reliability",
    "MultilevelReliabilityResult": "teamculture.reliability",
    "NullSimulation": "teamculture.aggregation",
    "RGRResult": "teamculture.aggregation",
    "ICCResult": "teamculture.aggregation",
    "WABAResult": "teamculture.aggregation",
    "AggregateResult": "teamculture.aggregation",
    "MixedResult": "teamculture.multilevel",
    "R2Result": "teamculture.multilevel",
    "CompareResult": "teamculture.multilevel",
    "OutcomeFit": "teamculture.outcomes",
    "FunnelResult": "teamculture.outcomes",
    "ShareEffect": "teamculture.outcomes",
    "PowerResult": "teamculture.power",
    "ModelTable": "teamculture.reporting",
    "VarianceIntervals": "teamculture.reporting",
    "CultureProfile": "teamculture.profile",
    "MediationResult": "teamculture.mediation",
    "GLMMResult": "teamculture.multilevel",
    "GLMMCompareResult": "teamculture.multilevel",
    "CultureSimulation": "teamculture.simulate",
    "EngagementSimulation": "teamculture.simulate",
}


def __getattr__(name: str) -> Any:
    if name in _RESULT_HOMES:
        value = getattr(importlib.import_module(_RESULT_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'teamculture.results' has no attribute {name!r}")


class ConfidenceInterval(NamedTuple):
    """A confidence interval for one estimate, as ``scipy.stats``' results give."""

    low: float
    high: float


# --------------------------------------------------------------------------- formatting
def format_number(value: Any, digits: int = 4) -> str:
    """A number for print: ``digits`` significant digits, scientific notation for tiny/huge values.

    Integers print as integers, NaN as an empty cell marker ``"."``-free
    ``"NA"`` and infinities as ``inf``/``-inf``.
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "NA"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1e6 or a < 10 ** (-(digits - 1)):
            return f"{v:.{max(digits - 1, 1)}e}"
        decimals = max(digits - 1 - int(math.floor(math.log10(a))), 0)
        return f"{v:.{decimals}f}"
    return str(value)


def _format_frame(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    out = pd.DataFrame(index=[str(i) if not isinstance(i, tuple) else ":".join(map(str, i)) for i in frame.index])
    for c in frame.columns:
        out[str(c)] = [format_number(v, digits) for v in frame[c].tolist()]
    return out


def _latex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}"),
                 ("|", r"$|$"), ("<", r"$<$"), (">", r"$>$")):
        s = s.replace(a, b)
    return s


class Summary:
    """A printable summary of a result: a title, header lines, tables and notes.

    ``str(summary)`` is plain text; :meth:`as_html`, :meth:`as_latex` and
    :meth:`as_markdown` render the same content. Numbers are rounded for
    print only (``digits`` significant digits); the result keeps full precision.

    Parameters
    ----------
    title : str
        First line.
    header : sequence of (str, object)
        Key-value lines under the title (the values formatted as numbers).
    tables : sequence of (str, DataFrame)
        Captioned tables.
    notes : sequence of str
        Lines printed after the tables (warnings about the fit, conventions).
    digits : int, default 4
        Significant digits of printed numbers.
    """

    def __init__(self, title: str, *, header: Sequence[tuple[str, Any]] = (),
                 tables: Sequence[tuple[str, pd.DataFrame]] = (), notes: Sequence[str] = (),
                 digits: int = 4) -> None:
        self.title = str(title)
        self.header = [(str(k), v) for k, v in header]
        self.tables = [(str(c), t) for c, t in tables]
        self.notes = [str(n) for n in notes]
        self.digits = int(digits)

    def _header_text(self) -> list[tuple[str, str]]:
        return [(k, v if isinstance(v, str) else format_number(v, self.digits)) for k, v in self.header]

    def __str__(self) -> str:
        lines = [self.title, "=" * len(self.title)]
        head = self._header_text()
        if head:
            width = max(len(k) for k, _ in head)
            lines += [f"{k:<{width}}  {v}" for k, v in head]
        for caption, table in self.tables:
            lines.append("")
            if caption:
                lines.append(caption + ":")
            shown = _format_frame(table, self.digits)
            lines.append(shown.to_string() if len(shown) else "(none)")
        if self.notes:
            lines.append("")
            lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def as_text(self) -> str:
        """The summary as plain text (the same as ``str(summary)``)."""
        return str(self)

    def as_html(self) -> str:
        """The summary as a self-contained HTML fragment."""
        parts = [f"<div class='teamculture-summary'><h4>{html.escape(self.title)}</h4>"]
        head = self._header_text()
        if head:
            parts.append("<table>" + "".join(
                f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                for k, v in head) + "</table>")
        for caption, table in self.tables:
            if caption:
                parts.append(f"<h5>{html.escape(caption)}</h5>")
            parts.append(_format_frame(table, self.digits).to_html(escape=True, border=0))
        parts += [f"<p>Note: {html.escape(n)}</p>" for n in self.notes]
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.as_html()

    def as_latex(self) -> str:
        """The tables as LaTeX ``tabular`` environments with booktabs rules (``\\usepackage{booktabs}``)."""
        out = [f"% {self.title}"]
        out += [f"% {k}: {v}" for k, v in self._header_text()]
        for caption, table in self.tables:
            shown = _format_frame(table, self.digits)
            out.append(f"% {caption}")
            out.append("\\begin{tabular}{l" + "r" * shown.shape[1] + "}")
            out.append("\\toprule")
            out.append(" & ".join([""] + [_latex_escape(c) for c in shown.columns]) + r" \\")
            out.append("\\midrule")
            for idx, row in shown.iterrows():
                out.append(" & ".join([_latex_escape(str(idx))] + [_latex_escape(v) for v in row]) + r" \\")
            out.append("\\bottomrule")
            out.append("\\end{tabular}")
        out += [f"% Note: {n}" for n in self.notes]
        return "\n".join(out)

    def as_markdown(self) -> str:
        """The summary as Markdown (pipe tables)."""
        out = [f"**{self.title}**", ""]
        out += [f"- {k}: {v}" for k, v in self._header_text()]
        for caption, table in self.tables:
            shown = _format_frame(table, self.digits)
            out += ["", f"*{caption}*", "", "| | " + " | ".join(shown.columns) + " |",
                    "|---|" + "---:|" * shown.shape[1]]
            out += ["| " + str(idx) + " | " + " | ".join(row) + " |" for idx, row in shown.iterrows()]
        out += [""] + [f"Note: {n}" for n in self.notes] if self.notes else []
        return "\n".join(out)


# --------------------------------------------------------------------------- equality and plain values
def _equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, (pd.DataFrame, pd.Series, pd.Index)):
        return type(a) is type(b) and a.equals(b) and (
            not isinstance(a, (pd.DataFrame, pd.Series)) or a.index.equals(b.index))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind in "fc")
        except TypeError:
            return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="index")
    if isinstance(value, pd.Series):
        return value.to_dict()
    if isinstance(value, pd.Index):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


# --------------------------------------------------------------------------- the base class
@dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Result:
    """Base class of every teamculture result (frozen, picklable, comparable).

    Attributes
    ----------
    n_obs : int or None
        Observations (rows) the result rests on; ``None`` when it was not
        computed from data (a published coefficient, a design).
    n_dropped : int
        Rows or values excluded before computing (missing data, invalid
        codes); also reported in a :class:`~teamculture.errors.DroppedDataWarning`.
    n_groups : int, pandas.Series or None
        Number of groups (a Series with one count per level for nested
        groups); ``None`` where there are no groups.
    """

    n_obs: int | None
    n_dropped: int
    n_groups: Any

    # ------------------------------------------------------------------ protocol
    def summary(self) -> Summary:
        """A printable :class:`Summary` (text, HTML, LaTeX, Markdown)."""
        scalars = [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                   if not f.name.startswith("_") and _is_scalar(getattr(self, f.name))]
        return Summary(type(self).__name__, header=scalars, tables=[("", self.to_frame())])

    def to_frame(self) -> pd.DataFrame:
        """The main table of the result (the scalar fields as one row unless a subclass says otherwise)."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if not f.name.startswith("_") and _is_scalar(getattr(self, f.name))}
        return pd.DataFrame([row])

    def to_dict(self) -> dict[str, Any]:
        """Every public field as plain Python values (DataFrames as nested dicts)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if not f.name.startswith("_")}

    def confidence_interval(self, confidence_level: float | None = None) -> Any:
        """Confidence interval(s) of the estimate(s); not every result has one."""
        raise TypeError(
            f"{type(self).__name__} has no confidence interval: it reports no estimate with sampling uncertainty."
        )

    # ------------------------------------------------------------------ python protocol
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_equal(getattr(self, f.name), getattr(other, f.name))
                   for f in dataclasses.fields(self) if f.compare)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                 if f.repr and not f.name.startswith("_") and _is_scalar(getattr(self, f.name))]
        return f"{type(self).__name__}({', '.join(shown)})"

    def _repr_html_(self) -> str:
        return self.summary().as_html()


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.generic))


def result_class(cls: type) -> type:
    """Decorate a :class:`Result` subclass: frozen, keyword-only, no generated ``__eq__``/``__repr__``."""
    return dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)(cls)


# --------------------------------------------------------------------------- shared builders
def coef_table(estimate: Any, std_error: Any, *, index: Any, df: Any = math.inf,
               confidence_level: float = 0.95) -> pd.DataFrame:
    """A coefficient table in the package schema (:data:`COEF_COLUMNS`).

    ``statistic = estimate / std_error``; two-sided p-values and intervals
    from the t distribution with ``df`` degrees of freedom (scalar or one per
    row), the normal distribution where ``df`` is infinite. p-values use the
    survival function (never ``1 - cdf``).
    """
    from scipy import stats

    est = np.asarray(estimate, dtype=float)
    se = np.asarray(std_error, dtype=float)
    dfs = np.broadcast_to(np.asarray(df, dtype=float), est.shape).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = est / se
    finite_df = np.isfinite(dfs)
    p = np.where(finite_df, 2.0 * stats.t.sf(np.abs(stat), np.where(finite_df, dfs, 1.0)),
                 2.0 * stats.norm.sf(np.abs(stat)))
    q_t = stats.t.isf((1.0 - confidence_level) / 2.0, np.where(finite_df, dfs, 1.0))
    q = np.where(finite_df, q_t, stats.norm.isf((1.0 - confidence_level) / 2.0))
    return pd.DataFrame({"estimate": est, "std_error": se, "statistic": stat, "df": dfs, "pvalue": p,
                         "ci_low": est - q * se, "ci_high": est + q * se}, index=index)


def interval_frame(table: pd.DataFrame, confidence_level: float) -> pd.DataFrame:
    """``ci_low``/``ci_high`` of a coefficient table recomputed at ``confidence_level``."""
    from scipy import stats

    df = table["df"].to_numpy(dtype=float)
    finite = np.isfinite(df)
    q = np.where(finite, stats.t.isf((1.0 - confidence_level) / 2.0, np.where(finite, df, 1.0)),
                 stats.norm.isf((1.0 - confidence_level) / 2.0))
    est = table["estimate"].to_numpy(dtype=float)
    se = table["std_error"].to_numpy(dtype=float)
    return pd.DataFrame({"ci_low": est - q * se, "ci_high": est + q * se}, index=table.index)
