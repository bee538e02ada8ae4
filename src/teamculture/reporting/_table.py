"""Paper tables of fitted models: :func:`model_table` and :class:`ModelTable` (private; public in
:mod:`teamculture.reporting` and at the top level)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.validation import check_bool, check_choice, check_confidence_level, check_int, few
from teamculture.reporting._parts import ModelParts, check_parts
from teamculture.results import COEF_COLUMNS, Result, Summary, interval_frame, result_class

__all__ = ["model_table", "ModelTable", "STATISTICS"]

#: What :func:`model_table` can show for each fixed effect, in the order given.
STATISTICS: tuple[str, ...] = ("estimate", "se", "ci", "statistic", "df", "p")

_SECTIONS = ("Fixed effects", "Random effects", "Model fit")


# --------------------------------------------------------------------------- numbers for print
def _num(value: float, digits: int, *, keep_small: bool = False) -> str:
    """A number with ``digits`` decimals; with ``keep_small``, a non-zero value that would print as zero keeps two
    significant digits (a slope variance of 0.00012 is not "0.00")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    text = f"{v:.{digits}f}"
    if keep_small and v != 0 and float(text) == 0:
        a = abs(v)
        if a < 1e-6:
            return f"{v:.1e}"
        return f"{v:.{max(1 - int(math.floor(math.log10(a))), digits)}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def _count(value: Any) -> str:
    return "" if value is None else f"{int(value):,}"


def _pval(p: float, p_digits: int) -> str:
    if p is None or math.isnan(p):
        return ""
    floor = 10.0 ** (-p_digits)
    return f"<{floor:.{p_digits}f}" if p < floor else f"{p:.{p_digits}f}"


# --------------------------------------------------------------------------- validation
def parts_of(model: Any) -> ModelParts | None:
    """What the table reads from ``model``: its ``model_parts()``, or the GLMM adapter; None if neither applies."""
    method = getattr(model, "model_parts", None)
    if callable(method):
        return method()
    from teamculture.multilevel._glmm import GLMMResult

    if isinstance(model, GLMMResult):
        from teamculture.reporting._glmm import glmm_parts

        return glmm_parts(model)
    return None


def readable(model: Any) -> bool:
    """Whether :func:`parts_of` can read ``model`` (without computing anything)."""
    if callable(getattr(model, "model_parts", None)):
        return True
    from teamculture.multilevel._glmm import GLMMResult

    return isinstance(model, GLMMResult)


def _models(models: Any) -> tuple[list[str], list[Any]]:
    if isinstance(models, Mapping):
        names = [str(k) for k in models]
        objs = list(models.values())
        if not objs:
            raise ValueError("`models` is empty; pass one fitted model, a list of them, or a dict name -> model.")
        if len(set(names)) != len(names):
            raise ValueError(f"`models`: the model names must be unique; got {few(names)}.")
    elif isinstance(models, (list, tuple)):
        objs = list(models)
        if not objs:
            raise ValueError("`models` is empty; pass one fitted model, a list of them, or a dict name -> model.")
        names = [f"Model {i + 1}" for i in range(len(objs))]
    else:
        objs = [models]
        names = ["Model 1"]
    for name, m in zip(names, objs):
        if not readable(m):
            raise TypeError(
                f"`models`: {name} is of type {type(m).__name__}, which model_table cannot read; pass fitted models "
                "(MixedResult from tc.mixed, GLMMResult from tc.glmm, OutcomeFit from tc.mortality_glm/smr_regression/"
                "panel_regression, or "
                "any result with a model_parts() method returning teamculture.reporting.ModelParts)."
            )
    return names, objs


def _validate_model_table(models: Any, statistics: Any, digits: Any, exponentiate: Any, random: Any,
                          confidence_level: Any, labels: Any, title: Any
                          ) -> tuple[list[str], list[ModelParts], tuple[str, ...], int, Any, str, Any, dict, str]:
    names, objs = _models(models)
    if isinstance(statistics, str):
        statistics = (statistics,)
    if not isinstance(statistics, (list, tuple)) or not statistics:
        raise TypeError(f"`statistics` must be a non-empty list of {list(STATISTICS)}; got {statistics!r}.")
    for s in statistics:
        check_choice("statistics", s, STATISTICS)
    if len(set(statistics)) != len(statistics):
        raise ValueError(f"`statistics` names a statistic twice: {list(statistics)!r}.")
    digits = check_int("digits", digits, minimum=0, maximum=10)
    if exponentiate is not None:
        exponentiate = check_bool("exponentiate", exponentiate)
    random = check_choice("random", random, ("variance", "sd"))
    confidence_level = check_confidence_level(confidence_level)
    if labels is None:
        labels = {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise TypeError(f"`labels` must be a dict of term or group name -> label (text); got {labels!r:.80}.")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"`title` must be text; got {type(title).__name__}.")
    parts = [check_parts(parts_of(m), n) for n, m in zip(names, objs)]
    if exponentiate:
        flat = [n for n, p in zip(names, parts) if p.link not in ("log", "logit")]
        if flat:
            raise ValueError(f"`exponentiate`=True applies to models with a log or logit link; {few(flat)} have an "
                             "identity or probit link (their coefficients are not log ratios). Leave "
                             "`exponentiate` at None to exponentiate exactly the log/logit models.")
    return names, parts, tuple(statistics), digits, exponentiate, random, confidence_level, dict(labels), title or ""


# --------------------------------------------------------------------------- building the rows
def _fixed(parts: ModelParts, level: float, exp: bool) -> pd.DataFrame:
    c = parts.coefficients[list(COEF_COLUMNS)].astype(float).copy()
    if level != parts.confidence_level:
        c[["ci_low", "ci_high"]] = interval_frame(c, level)
    if exp:
        with np.errstate(over="ignore"):
            c["std_error"] = np.exp(c["estimate"]) * c["std_error"]  # delta method, as broom/modelsummary
            for col in ("estimate", "ci_low", "ci_high"):
                c[col] = np.exp(c[col])
    return c


def _check_labels(labels: Mapping[str, str], names: Sequence[str], fixed: Sequence[pd.DataFrame],
                  parts: Sequence[ModelParts]) -> None:
    """Refuse ``labels`` under which two different terms (or two grouping factors) of one model would share a row
    label. Across models one label for different names is what aligns them (``{"trust:team": "team"}`` puts the
    team variance of ``(1 | trust/team)`` and of ``(1 | team)`` in one row)."""
    for model, f, p in zip(names, fixed, parts):
        slope_terms: list[str] = []
        groups: list[str] = []
        r = p.random
        if len(r):
            rest = r[r["grp"] != "Residual"]
            groups += [re.sub(r"\.\d+$", "", str(g)) for g in rest["grp"]]
            slope_terms += [str(t) for t in (*rest["var1"], *rest["var2"]) if t not in ("", "(Intercept)")]
        groups += [str(g) for g in (*p.vpc, *p.n_groups)]
        for kind, items in (("terms", [*(str(t) for t in f.index), *slope_terms]), ("grouping factors", groups)):
            seen: dict[str, str] = {}
            for name in dict.fromkeys(items):
                shown = labels.get(name, name)
                if shown in seen and seen[shown] != name:
                    raise ValueError(
                        f"`labels` would show the {kind} {seen[shown]!r} and {name!r} of model {model!r} under one "
                        f"label {shown!r}, so their rows could not be told apart; give each its own label."
                    )
                seen[shown] = name


def _random_rows(parts: ModelParts, random: str, label: Any) -> list[tuple[str, float]]:
    """(label, value) rows of the random part in sjPlot's notation: σ², τ00 (intercept), τ11, τ22 (slopes),
    ρ01 (correlations); standard deviations instead of variances with ``random="sd"``."""
    r = parts.random
    if not len(r):
        return []
    rows: list[tuple[str, float]] = []
    resid = r[r["grp"] == "Residual"]
    if len(resid):
        v = float(resid["vcov"].iloc[0])
        rows.append(("σ²", v) if random == "variance" else ("σ", math.sqrt(max(v, 0.0))))
    for grp, block in r[r["grp"] != "Residual"].groupby("grp", sort=False):
        g = label(re.sub(r"\.\d+$", "", str(grp)))  # lme4's "team.1": a second term of the factor
        terms = list(block.loc[block["var2"] == "", "var1"])
        off = 0 if terms and terms[0] == "(Intercept)" else 1
        for i, t in enumerate(terms):
            row = block[(block["var1"] == t) & (block["var2"] == "")].iloc[0]
            name = g if t == "(Intercept)" else f"{g}.{label(t)}"
            if random == "variance":
                rows.append((f"τ{i + off}{i + off} {name}", float(row["vcov"])))
            else:
                rows.append((f"SD {name}", float(row["sdcor"])))
        for _, row in block[block["var2"] != ""].iterrows():
            i, j = terms.index(row["var1"]) + off, terms.index(row["var2"]) + off
            rows.append((f"ρ{i}{j} {g}", float(row["sdcor"])))
    return rows


@result_class
class ModelTable(Result):
    """A paper table of one or several fitted models, side by side (from :func:`teamculture.model_table`).

    ``print(table)`` shows it as text; :meth:`as_html`, :meth:`as_latex`
    (booktabs) and :meth:`as_markdown` render it for a manuscript,
    ``table`` is the printed table as a DataFrame of text (blank where a
    statistic does not apply), :meth:`to_frame` the numbers behind it.

    Attributes
    ----------
    names : tuple of str
        Model names (column headings).
    parts : tuple of ModelParts
        What was read from each model.
    table : pandas.DataFrame
        The printed table: index (section, row label), columns (model,
        statistic); text cells, blank where a statistic does not apply.
    values : pandas.DataFrame
        The numbers behind it (:meth:`to_frame`).
    statistics : tuple of str
        The statistics shown for each fixed effect.
    digits : int
        Decimals of the printed numbers (p-values: three).
    exponentiated : tuple of bool
        Per model, whether coefficients are shown exponentiated.
    random : str
        ``"variance"`` or ``"sd"``: how the random part is shown.
    confidence_level : float
        Level of the intervals shown.
    title : str
        Caption.
    notes : tuple of str
        Lines under the table.
    n_obs : int or None
        The models' observations when they are the same, else None.
    n_dropped : int
        Always 0 (the table drops nothing).
    n_groups : None
    """

    names: tuple[str, ...]
    parts: tuple[ModelParts, ...]
    table: pd.DataFrame
    values: pd.DataFrame
    statistics: tuple[str, ...]
    digits: int
    exponentiated: tuple[bool, ...]
    random: str
    confidence_level: float
    title: str
    notes: tuple[str, ...]

    # ------------------------------------------------------------------ protocol
    def to_frame(self) -> pd.DataFrame:
        """The numbers behind the table (a copy).

        Index (model, section, row); the float columns of
        :data:`teamculture.results.COEF_COLUMNS`, on the scale shown
        (exponentiated coefficients where the table shows ratios; their
        ``std_error`` by the delta method). Rows of the random part and of
        the model fit hold their value in ``estimate`` (NaN elsewhere).
        """
        return self.values.copy()

    def confidence_interval(self, confidence_level: float | None = None) -> pd.DataFrame:
        """Intervals of the fixed effects of every model (index (model, term); ``ci_low``, ``ci_high``).

        On the scale shown (exponentiated where the table shows ratios);
        another level recomputes them from the estimates, standard errors and
        degrees of freedom of the models.
        """
        level = self.confidence_level if confidence_level is None else check_confidence_level(confidence_level)
        frames = []
        for name, parts, exp in zip(self.names, self.parts, self.exponentiated):
            c = _fixed(parts, level, exp)[["ci_low", "ci_high"]]
            c.index = pd.MultiIndex.from_product([[name], list(map(str, c.index))], names=["model", "term"])
            frames.append(c)
        return pd.concat(frames)

    def summary(self) -> Summary:
        """The table as a :class:`~teamculture.results.Summary` whose renderings are the paper table's."""
        return _TableSummary(self)

    def __str__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()

    # ------------------------------------------------------------------ renderings
    def _heads(self) -> list[str]:
        return [c[1] for c in self.table.columns]

    def _spans(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for name in self.names:
            out.append((name, int(sum(1 for c in self.table.columns if c[0] == name))))
        return out

    def _spanning(self, section: str) -> bool:
        return section != "Fixed effects" and len(self.statistics) > 1

    def as_text(self) -> str:
        """The table as plain text (what ``print`` shows)."""
        t = self.table
        labels = [str(r) for _, r in t.index]
        width0 = max([len(x) for x in labels] + [len(s) for s in _SECTIONS] + [4])
        cols = list(t.columns)
        widths = [max([len(str(c[1]))] + [len(str(v)) for v in t[c]]) for c in cols]
        # a model's heading spans its columns
        spans = self._spans()
        pos = 0
        for name, n in spans:
            need = len(name) - (sum(widths[pos:pos + n]) + 2 * (n - 1))
            if need > 0:
                widths[pos + n - 1] += need
            pos += n
        total = width0 + sum(w + 2 for w in widths)
        lines = []
        if self.title:
            lines.append(self.title)
        lines.append("=" * total)
        head = " " * width0
        pos = 0
        for name, n in spans:
            w = sum(widths[pos:pos + n]) + 2 * (n - 1)
            head += "  " + name.center(w)
            pos += n
        lines.append(head.rstrip())
        lines.append((" " * width0 + "".join(f"  {str(c[1]):>{w}}" for c, w in zip(cols, widths))).rstrip())
        lines.append("-" * total)
        current = None
        for (section, label), row in t.iterrows():
            if section != current:
                if current is not None:
                    lines.append("-" * total)
                lines.append(section)
                current = section
            cells = "".join(f"  {str(v):>{w}}" for v, w in zip(row, widths))
            lines.append((f"{label:<{width0}}" + cells).rstrip())
        lines.append("=" * total)
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        """The table as a self-contained HTML ``<table>`` (booktabs-like rules; pastes into word processors)."""
        cols = list(self.table.columns)
        n_cols = 1 + len(cols)
        rule = "border-top:1px solid black"
        out = ["<div class='teamculture-summary teamculture-model-table'>",
               "<table style='border-collapse:collapse;font-family:serif'>"]
        if self.title:
            out.append(f"<caption style='text-align:left;font-weight:bold'>{html.escape(self.title)}</caption>")
        out.append(f"<thead><tr style='{rule};border-width:2px'><th></th>" + "".join(
            f"<th colspan='{n}' style='text-align:center;padding:2px 8px'>{html.escape(name)}</th>"
            for name, n in self._spans()) + "</tr>")
        out.append("<tr><th></th>" + "".join(
            f"<th style='text-align:right;padding:2px 8px;border-bottom:1px solid black'>{html.escape(str(c[1]))}</th>"
            for c in cols) + "</tr></thead><tbody>")
        current = None
        for (section, label), row in self.table.iterrows():
            if section != current:
                style = f" style='{rule}'" if current is not None else ""
                out.append(f"<tr{style}><td colspan='{n_cols}' style='font-style:italic;padding:4px 0 0 0'>"
                           f"{html.escape(section)}</td></tr>")
                current = section
            cells = []
            if self._spanning(section):
                pos = 0
                for _, n in self._spans():
                    v = row.iloc[pos]
                    cells.append(f"<td colspan='{n}' style='text-align:center;padding:2px 8px'>{html.escape(str(v))}"
                                 "</td>")
                    pos += n
            else:
                cells = [f"<td style='text-align:right;padding:2px 8px'>{html.escape(str(v))}</td>" for v in row]
            out.append(f"<tr><td style='padding:2px 8px 2px 0'>{html.escape(str(label))}</td>{''.join(cells)}</tr>")
        out.append("</tbody>")
        notes = "".join(f"<div>{html.escape(n)}</div>" for n in self.notes)
        out.append(f"<tfoot><tr style='{rule};border-width:2px'><td colspan='{n_cols}' "
                   f"style='font-size:smaller;padding-top:4px'>{notes}</td></tr></tfoot>")
        out.append("</table></div>")
        return "".join(out)

    def as_latex(self, *, label: str | None = None, float_env: bool = True) -> str:
        """The table as LaTeX with booktabs rules (``\\usepackage{booktabs}``).

        Parameters
        ----------
        label : str, optional
            ``\\label{...}`` for cross-references.
        float_env : bool, default True
            Wrap the ``tabular`` in a ``table`` float with the caption.

        Returns
        -------
        str
        """
        cols = list(self.table.columns)
        n_cols = 1 + len(cols)
        spans = self._spans()
        out = []
        if float_env:
            out += ["\\begin{table}[htbp]", "\\centering"]
            if self.title:
                out.append(f"\\caption{{{_tex(self.title)}}}")
            if label:
                out.append(f"\\label{{{label}}}")
        out.append("\\begin{tabular}{l" + "r" * len(cols) + "}")
        out.append("\\toprule")
        out.append(" & ".join([""] + [f"\\multicolumn{{{n}}}{{c}}{{{_tex(name)}}}" for name, n in spans]) + r" \\")
        pos = 2
        rules = []
        for _, n in spans:
            rules.append(f"\\cmidrule(lr){{{pos}-{pos + n - 1}}}")
            pos += n
        out.append("".join(rules))
        out.append(" & ".join([""] + ["$p$" if c[1] == "p" else _tex(str(c[1])) for c in cols]) + r" \\")
        out.append("\\midrule")
        current = None
        for (section, lab), row in self.table.iterrows():
            if section != current:
                if current is not None:
                    out.append("\\midrule")
                out.append(f"\\multicolumn{{{n_cols}}}{{l}}{{\\textit{{{_tex(section)}}}}} \\\\")
                current = section
            if self._spanning(section):
                cells, pos = [], 0
                for _, n in spans:
                    cells.append(f"\\multicolumn{{{n}}}{{c}}{{{_tex(str(row.iloc[pos]))}}}")
                    pos += n
            else:
                cells = [_tex(str(v)) for v in row]
            out.append(" & ".join([_tex(str(lab))] + cells) + r" \\")
        out.append("\\bottomrule")
        for n in self.notes:
            out.append(f"\\multicolumn{{{n_cols}}}{{l}}{{\\footnotesize {_tex(n)}}} \\\\")
        out.append("\\end{tabular}")
        if float_env:
            out.append("\\end{table}")
        return "\n".join(out)

    def as_markdown(self) -> str:
        """The table as a Markdown pipe table (model name and statistic in each heading)."""
        cols = list(self.table.columns)
        head = ["| |"] + [f" {c[0]}: {c[1]} |" if len(self.statistics) > 1 else f" {c[0]} |" for c in cols]
        out = []
        if self.title:
            out += [f"**{self.title}**", ""]
        out += ["".join(head), "|---|" + "---:|" * len(cols)]
        current = None
        for (section, lab), row in self.table.iterrows():
            if section != current:
                out.append(f"| *{section}* |" + " |" * len(cols))
                current = section
            out.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
        if self.notes:
            out += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(out)


_TEX_GREEK = {"σ²": r"$\sigma^2$", "σ": r"$\sigma$", "τ": r"$\tau$", "ρ": r"$\rho$", "R²": r"$R^2$", "–": "--"}


def _tex(s: str) -> str:
    from teamculture.results import _latex_escape

    # Greek symbols with numeric subscripts (tau00, rho01) first, then the rest escaped
    parts = re.split(r"(σ²|σ|τ\d\d|ρ\d\d|R²|–)", s)
    out = []
    for p in parts:
        m = re.fullmatch(r"([τρ])(\d\d)", p)
        if m:
            out.append((r"$\tau_{" if m.group(1) == "τ" else r"$\rho_{") + m.group(2) + "}$")
        elif p in _TEX_GREEK:
            out.append(_TEX_GREEK[p])
        else:
            out.append(_latex_escape(p))
    return "".join(out)


class _TableSummary(Summary):
    """A :class:`Summary` whose renderings are those of a :class:`ModelTable`."""

    def __init__(self, table: ModelTable) -> None:
        super().__init__(table.title or "Model table", tables=[("", table.table)], notes=table.notes)
        self._table = table

    def __str__(self) -> str:
        return self._table.as_text()

    def as_html(self) -> str:
        return self._table.as_html()

    def as_latex(self) -> str:
        return self._table.as_latex()

    def as_markdown(self) -> str:
        return self._table.as_markdown()


# --------------------------------------------------------------------------- the function
def model_table(models: Any, *, statistics: Sequence[str] = ("estimate", "ci", "p"), digits: int = 2,
                exponentiate: bool | None = None, random: str = "variance", confidence_level: float = 0.95,
                labels: Mapping[str, str] | None = None, title: str | None = None) -> ModelTable:
    """A paper table of fitted models, side by side, as journals print them.

    Parameters
    ----------
    models : result, list of results, or dict of name -> result
        Fitted models: :class:`~teamculture.multilevel.MixedResult`,
        :class:`~teamculture.multilevel.GLMMResult` (odds or rate ratios,
        the random part on the link scale, latent-scale VPCs and R²),
        :class:`~teamculture.outcomes.OutcomeFit`, or any result with a
        ``model_parts()`` method (:class:`~teamculture.reporting.ModelParts`).
        A dict names the columns; otherwise "Model 1", "Model 2", ...
    statistics : list of {"estimate", "se", "ci", "statistic", "df", "p"}, default ("estimate", "ci", "p")
        The columns shown for each fixed effect, in this order (sjPlot's
        Estimates | CI | p by default).
    digits : int, default 2
        Decimals of printed numbers (p-values: three, "<0.001" below); a
        non-zero number that would print as zero keeps two significant
        digits.
    exponentiate : bool, optional
        Show exponentiated coefficients (rate ratios, IRR; odds ratios, OR)
        with exponentiated interval limits. Default: exactly for the models
        with a log or logit link; ``False`` shows every model on its link
        scale; ``True`` requires a log/logit link for every model.
    random : {"variance", "sd"}, default "variance"
        The random part as variances (σ², τ00, τ11 and the correlations
        ρ01, as sjPlot) or standard deviations.
    confidence_level : float, default 0.95
        Level of the intervals (recomputed from each model's estimates,
        standard errors and degrees of freedom when the model was fitted at
        another level).
    labels : dict of str -> str, optional
        Display names for terms and grouping factors, e.g.
        ``{"Intercept": "(Intercept)", "trust:team": "team"}``.
    title : str, optional
        Caption.

    Returns
    -------
    ModelTable
        ``print()`` gives text; ``.as_html()``, ``.as_latex()``,
        ``.as_markdown()``; ``.table`` the printed table as a DataFrame;
        ``.to_frame()`` the numbers.

    Notes
    -----
    Rows: the fixed effects (union of the models' terms, in order of first
    appearance); the random part (residual variance σ², intercept variances
    τ00 per grouping factor, slope variances τ11 and correlations ρ01, the
    VPC of each level for random-intercept models, the number of groups per
    level, observations); the fit (Nakagawa-Schielzeth marginal and
    conditional R² for mixed models, R² for linear models, log-likelihood,
    AIC, BIC, the estimation method). A cell is blank where a statistic does
    not apply to a model (no random part, no likelihood, a term not in the
    model); nothing prints as NaN.

    AIC and BIC are R's: for a REML fit they use the REML criterion (as
    lme4's ``AIC``), which is comparable only between models with the same
    fixed effects (the notes say so); for quasi-Poisson fits they do not
    exist (R: ``NA``). Exponentiated standard errors use the delta method,
    :math:`e^{b}\\,SE(b)`.

    R: ``sjPlot::tab_model(m0, m1, m2)`` or ``modelsummary::modelsummary(list(m0, m1, m2))``

    Examples
    --------
    >>> import teamculture as tc
    >>> sv = tc.national_survey("tiny", rng=4)
    >>> m0 = tc.mixed("latent_engagement ~ 1 + (1 | trust/team)", sv.staff)
    >>> m1 = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", sv.staff)
    >>> tab = tc.model_table({"Null": m0, "Tenure": m1}, title="Engagement")
    >>> tab.table.index.get_level_values(0).unique().tolist()
    ['Fixed effects', 'Random effects', 'Model fit']
    >>> tab.table.loc[("Fixed effects", "tenure"), ("Null", "Estimate")]
    ''
    >>> "\\\\toprule" in tab.as_latex() and "<table" in tab.as_html()
    True
    """
    names, parts, stats_, digits, exponentiate, random, level, labels, title = _validate_model_table(
        models, statistics, digits, exponentiate, random, confidence_level, labels, title)
    exp = [(p.link in ("log", "logit")) if exponentiate is None else exponentiate for p in parts]

    def lab(x: Any) -> str:
        return labels.get(str(x), str(x))

    fixed = [_fixed(p, level, e) for p, e in zip(parts, exp)]
    terms: list[str] = []
    for f in fixed:
        terms += [str(t) for t in f.index if str(t) not in terms]
    _check_labels(labels, names, fixed, parts)

    def heads(i: int) -> list[str]:
        est = (parts[i].ratio_name or ("OR" if parts[i].link == "logit" else "IRR")) if exp[i] else "Estimate"
        ci = f"{100 * level:g}% CI"
        names_ = {"estimate": est, "se": "SE", "ci": ci, "statistic": "Statistic", "df": "df", "p": "p"}
        return [names_[s] for s in stats_]

    columns = pd.MultiIndex.from_tuples([(n, h) for i, n in enumerate(names) for h in heads(i)],
                                        names=["model", "statistic"])
    rows: list[tuple[str, str]] = []
    cells: list[list[str]] = []
    values: list[tuple[str, str, str, dict[str, float]]] = []
    k = len(stats_)

    def add(section: str, label: str, per_model: list[list[str]]) -> None:
        rows.append((section, label))
        cells.append([c for m in per_model for c in m])

    # fixed effects
    for t in terms:
        per = []
        for i, f in enumerate(fixed):
            if t not in f.index.map(str):
                per.append([""] * k)
                continue
            r = f.loc[[x for x in f.index if str(x) == t][0]]
            vals = {"estimate": _num(r["estimate"], digits), "se": _num(r["std_error"], digits),
                    "ci": "" if math.isnan(r["ci_low"]) else f"[{_num(r['ci_low'], digits)}, {_num(r['ci_high'], digits)}]",
                    "statistic": _num(r["statistic"], digits),
                    "df": "" if math.isnan(r["df"]) else ("inf" if math.isinf(r["df"]) else _num(r["df"], 1)),
                    "p": _pval(r["pvalue"], 3)}
            per.append([vals[s] for s in stats_])
            values.append((names[i], "Fixed effects", lab(t), {c: float(r[c]) for c in COEF_COLUMNS}))
        add("Fixed effects", lab(t), per)

    # random part
    rand = [_random_rows(p, random, lab) for p in parts]
    rlabels: list[str] = []
    for rr in rand:
        rlabels += [x for x, _ in rr if x not in rlabels]
    vpc_names: list[str] = []
    group_names: list[str] = []
    for p in parts:
        vpc_names += [lab(g) for g in p.vpc if lab(g) not in vpc_names]
        group_names += [lab(g) for g in p.n_groups if lab(g) not in group_names]

    def scalar_row(section: str, label: str, getter: Any, fmt: Any) -> None:
        per = []
        any_value = False
        for i, p in enumerate(parts):
            v = getter(p, i)
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v)
            any_value |= bool(text)
            per.append([text] + [""] * (k - 1))
            if text:
                values.append((names[i], section, label, {"estimate": float(v)}))
        if any_value:
            add(section, label, per)

    for rl in rlabels:
        scalar_row("Random effects", rl, lambda p, i, rl=rl: dict(rand[i]).get(rl),
                   lambda v: _num(v, digits, keep_small=True))
    for g in vpc_names:
        scalar_row("Random effects", f"VPC {g}",
                   lambda p, i, g=g: next((float(v) for kk, v in p.vpc.items() if lab(kk) == g), None),
                   lambda v: _num(v, digits))
    for g in group_names:
        scalar_row("Random effects", f"N {g}",
                   lambda p, i, g=g: next((int(v) for kk, v in p.n_groups.items() if lab(kk) == g), None), _count)
    # fit
    scalar_row("Model fit", "Observations", lambda p, i: p.n_obs, _count)
    scalar_row("Model fit", "Marginal R²", lambda p, i: p.r2_marginal, lambda v: _num(v, max(digits, 3)))
    scalar_row("Model fit", "Conditional R²", lambda p, i: p.r2_conditional, lambda v: _num(v, max(digits, 3)))
    scalar_row("Model fit", "R²", lambda p, i: p.r2, lambda v: _num(v, max(digits, 3)))
    scalar_row("Model fit", "Log-likelihood", lambda p, i: p.loglik, lambda v: _num(v, digits))
    scalar_row("Model fit", "AIC", lambda p, i: p.aic, lambda v: _num(v, digits))
    scalar_row("Model fit", "BIC", lambda p, i: p.bic, lambda v: _num(v, digits))
    methods = [p.method for p in parts]
    if any(methods):
        add("Model fit", "Estimation", [[m] + [""] * (k - 1) for m in methods])

    # sections in order; a section with no rows is left out
    order = {s: i for i, s in enumerate(_SECTIONS)}
    idx = sorted(range(len(rows)), key=lambda j: (order[rows[j][0]], j))
    table = pd.DataFrame([cells[j] for j in idx], columns=columns,
                         index=pd.MultiIndex.from_tuples([rows[j] for j in idx], names=["section", "row"]))
    # the numbers model by model, each in the order of the printed rows
    row_pos = {r: i for i, r in enumerate(table.index)}
    values.sort(key=lambda v: (names.index(v[0]), row_pos.get((v[1], v[2]), len(row_pos))))
    val_index = pd.MultiIndex.from_tuples([(m, s, r) for m, s, r, _ in values], names=["model", "section", "row"])
    vals = pd.DataFrame([{c: d.get(c, math.nan) for c in COEF_COLUMNS} for *_, d in values], index=val_index,
                        columns=list(COEF_COLUMNS), dtype=float)

    notes: list[str] = []
    if any(exp):
        which = ", ".join(n for n, e in zip(names, exp) if e)
        kinds = sorted({(p.ratio_name or ("OR" if p.link == "logit" else "IRR")) for p, e in zip(parts, exp) if e})
        notes.append(f"{' and '.join(kinds)}: exponentiated coefficients ({which}); SEs by the delta method")
    tests = sorted({p.tests for p in parts if p.tests})
    if tests and "p" in stats_:
        notes.append("p-values: " + "; ".join(
            f"{t} ({', '.join(n for n, p in zip(names, parts) if p.tests == t)})" if len(tests) > 1 else t
            for t in tests))
    reml = [n for n, p in zip(names, parts) if p.method == "REML" and math.isfinite(p.aic)]
    if reml:
        same = len({tuple(map(str, p.coefficients.index)) for p in parts if p.method == "REML"}) == 1
        notes.append(f"AIC/BIC of REML fits ({', '.join(reml)}) use the REML criterion: compare them only between "
                     "models with the same fixed effects" + ("" if same else "; these differ, so refit by ML "
                                                             "(fit.refit(reml=False)) to compare them"))
    if any(p.vpc for p in parts):
        notes.append("VPC: share of the total variance at each level (random-intercept models)")
    for n, p in zip(names, parts):
        notes += [f"{n}: {x}" for x in p.notes]
    n_obs = {p.n_obs for p in parts}
    return ModelTable(
        names=tuple(names), parts=tuple(parts), table=table, values=vals, statistics=stats_, digits=digits,
        exponentiated=tuple(bool(e) for e in exp), random=random, confidence_level=float(level),
        title=title, notes=tuple(notes), n_obs=n_obs.pop() if len(n_obs) == 1 else None, n_dropped=0, n_groups=None,
    )
