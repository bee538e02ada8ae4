"""Pictures of a culture profile: a matplotlib dot-and-interval plot and a self-contained HTML report.

The HTML report draws its figure as inline SVG written here (no matplotlib,
no scripts, no external files or fonts), so it opens offline anywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from teamculture._core.validation import did_you_mean, few

__all__ = ["plot_profile", "html_report"]

_COLOURS = {"strength": "#1b7837", "area to develop": "#c51b7d", "as expected": "#333333"}
_MARKERS = ("o", "s", "D", "^", "v", "P")


def _check_units(profile: Any, units: Any, name: str) -> list[Any]:
    all_units = list(profile.table.index.get_level_values(0).unique())
    if units is None:
        if len(all_units) <= len(_MARKERS):
            return all_units
        flags = (profile.table["label"].isin(["strength", "area to develop"])).groupby(level=0, sort=False).sum()
        return list(flags.sort_values(ascending=False, kind="stable").index[: len(_MARKERS)])
    if isinstance(units, (str, int, np.integer)) or np.isscalar(units):
        units = [units]
    units = list(units)
    unknown = [u for u in units if u not in all_units]
    if unknown:
        raise ValueError(f"`{name}` names unit(s) not in the profile: {few(unknown)}."
                         f"{did_you_mean(unknown[0], [str(u) for u in all_units])}")
    if len(units) > len(_MARKERS):
        raise ValueError(f"`{name}`: at most {len(_MARKERS)} units in one plot; got {len(units)}.")
    return units


def plot_profile(profile: Any, *, units: Sequence[Any] | None = None, ax: Any = None) -> Any:
    """Elements (rows) x units: dots with intervals over the benchmark distribution (grey)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError("CultureProfile.plot needs matplotlib (pip install matplotlib); "
                          "CultureProfile.report(unit) draws without it.") from None
    chosen = _check_units(profile, units, "units")
    t = profile.table
    elements = [e for e in profile.framework.element_ids if e in t.index.get_level_values("element")]
    labels = {e.id: e.label for e in profile.framework.elements}
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 0.75 * len(elements) + 1.4), layout="constrained")
    bench = set(profile.benchmark_units)
    rng = np.random.default_rng(0)  # fixed jitter: the same picture every time
    for row, e in enumerate(elements):
        sub = t.xs(e, level="element")
        b = sub.loc[[u for u in sub.index if u in bench], "score"].dropna().to_numpy()
        if b.size:
            lo, hi = np.quantile(b, [0.1, 0.9])
            ax.add_patch(plt.Rectangle((lo, row - 0.32), hi - lo, 0.64, color="0.9", zorder=0, lw=0))
            ax.scatter(b, row + rng.uniform(-0.28, 0.28, b.size), s=9, color="0.6", zorder=1, lw=0)
            ax.plot([b.mean()] * 2, [row - 0.34, row + 0.34], color="0.35", lw=1.2, zorder=2)
        for j, u in enumerate(chosen):
            r = sub.loc[u]
            if not np.isfinite(r["score"]):
                continue
            off = (j - (len(chosen) - 1) / 2) * min(0.5 / max(len(chosen), 1), 0.14)
            colour = _COLOURS.get(str(r["label"]), "0.5")
            ax.plot([r["ci_low"], r["ci_high"]], [row + off] * 2, color=colour, lw=1.6, zorder=3)
            ax.scatter([r["score"]], [row + off], marker=_MARKERS[j], s=34, color=colour, zorder=4,
                       edgecolor="white", lw=0.6)
    ax.set_yticks(range(len(elements)), [labels[e] for e in elements])
    ax.set_ylim(len(elements) - 0.5, -0.5)
    ax.set_xlabel("score (0-100)")
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=_MARKERS[j], ls="", color="0.2", label=str(u)) for j, u in enumerate(chosen)]
    handles += [Line2D([], [], marker="o", ls="-", color=c, label=k) for k, c in _COLOURS.items()]
    handles.append(Line2D([], [], marker="o", ls="", color="0.6", label="benchmark units (grey band: 10-90%)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    ax.set_title(f"{profile.framework.name}\n{profile.benchmark}; {profile.confidence_level:.0%} intervals",
                 fontsize="medium")
    return ax


# --------------------------------------------------------------------------- HTML
def _fmt(v: Any, digits: int = 1) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    if not math.isfinite(v):
        return "&ndash;"
    return f"{v:.{digits}f}".replace("-", "&minus;")


def _ordinal(v: float) -> str:
    if not math.isfinite(v):
        return "&ndash;"
    n = int(round(v))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _signed(v: float, digits: int = 1) -> str:
    if not math.isfinite(v):
        return "&ndash;"
    return ("+" if v > 0 else "") + _fmt(v, digits)


def _svg(profile: Any, unit: Any, elements: list[str]) -> str:
    t = profile.table
    bench = set(profile.benchmark_units)
    vals = t[["score", "ci_low", "ci_high"]].to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    lo = math.floor(min(vals.min(), 100.0) / 10.0) * 10.0 if vals.size else 0.0
    hi = math.ceil(max(vals.max(), 0.0) / 10.0) * 10.0 if vals.size else 100.0
    lo, hi = max(lo, min(0.0, lo)), hi if hi > lo else lo + 10.0
    left, right, row_h, top = 210.0, 700.0, 44.0, 28.0
    width, height = 720.0, top + row_h * len(elements) + 30.0
    labels = {e.id: e.label for e in profile.framework.elements}

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
           f"<title>Element scores of {html.escape(str(unit))} against the benchmark</title>"]
    for tick in np.arange(lo, hi + 1e-9, 10.0):
        out.append(f'<line x1="{x(tick):.1f}" y1="{top - 6:.1f}" x2="{x(tick):.1f}" '
                   f'y2="{top + row_h * len(elements):.1f}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{top + row_h * len(elements) + 16:.1f}" text-anchor="middle" '
                   f'fill="#555">{tick:.0f}</text>')
    rng = np.random.default_rng(0)
    for i, e in enumerate(elements):
        yc = top + row_h * (i + 0.5)
        sub = t.xs(e, level="element")
        out.append(f'<text x="{left - 10:.1f}" y="{yc + 4:.1f}" text-anchor="end">{html.escape(labels[e])}</text>')
        b = sub.loc[[u for u in sub.index if u in bench], "score"].dropna().to_numpy()
        if b.size:
            q1, q9 = np.quantile(b, [0.1, 0.9])
            out.append(f'<rect x="{x(q1):.1f}" y="{yc - 14:.1f}" width="{max(x(q9) - x(q1), 1):.1f}" height="28" '
                       'fill="#ececec"/>')
            for v, j in zip(b, rng.uniform(-11, 11, b.size)):
                out.append(f'<circle cx="{x(v):.1f}" cy="{yc + j:.1f}" r="2.6" fill="#999" fill-opacity="0.55"/>')
            out.append(f'<line x1="{x(b.mean()):.1f}" y1="{yc - 15:.1f}" x2="{x(b.mean()):.1f}" y2="{yc + 15:.1f}" '
                       'stroke="#555" stroke-width="1.5"/>')
        r = sub.loc[unit]
        if np.isfinite(r["score"]):
            colour = _COLOURS.get(str(r["label"]), "#777")
            out.append(f'<line x1="{x(r["ci_low"]):.1f}" y1="{yc:.1f}" x2="{x(r["ci_high"]):.1f}" y2="{yc:.1f}" '
                       f'stroke="{colour}" stroke-width="3"/>')
            out.append(f'<circle cx="{x(r["score"]):.1f}" cy="{yc:.1f}" r="6" fill="{colour}" stroke="white"/>')
    out.append("</svg>")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}th,td{padding:.3rem .6rem;border-bottom:1px solid #eee;
text-align:right;vertical-align:top}th:first-child,td:first-child{text-align:left}
.notice{background:#fff7e0;border-left:4px solid #e0a800;padding:.6rem .9rem}
.strength{color:#1b7837;font-weight:600}.area{color:#c51b7d;font-weight:600}.expected{color:#333}
.small{font-size:.85rem;color:#555}td.reason{text-align:left;max-width:30rem}
"""


def _assessment(label: Any) -> tuple[str, str]:
    s = str(label)
    if s == "strength":
        return "strength", "strength"
    if s == "area to develop":
        return "area to develop", "area"
    if s == "as expected":
        return "as expected", "expected"
    return "not compared", "expected"


def html_report(profile: Any, unit: Any, *, path: Any = None) -> str:
    """The offline HTML organisation report of one unit (see :meth:`CultureProfile.report`)."""
    t = profile.table
    all_units = list(t.index.get_level_values(0).unique())
    if unit not in all_units:
        raise ValueError(f"`unit` {unit!r} is not a unit of the profile ({len(all_units)} units, e.g. "
                         f"{few(all_units)}).{did_you_mean(unit, [str(u) for u in all_units])}")
    fw = profile.framework
    elements = [e for e in fw.element_ids if e in t.index.get_level_values("element")]
    labels = {e.id: e for e in fw.elements}
    lvl = f"{profile.confidence_level:.0%}"
    rule = ("Benjamini-Hochberg false-discovery rate" if profile.rule == "fdr" else
            "per-comparison funnel limits, false-flag probability")
    name = html.escape(str(unit))
    year = "" if profile.year is None else f" &middot; survey year {html.escape(str(profile.year))}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Culture profile: {name}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>Culture profile: {name}</h1>",
             f'<p class="small">{html.escape(fw.name)} (framework {html.escape(fw.id)}, version '
             f"{html.escape(fw.version)}){year} &middot; compared with {html.escape(profile.benchmark)} "
             "</p>"]
    if fw.status == "reconstructed":
        parts.append(f'<p class="notice"><strong>Reconstructed framework.</strong> {html.escape(fw.reason)}</p>')
    parts.append("<h2>To what extent are these cultural elements present and strong within the organisation?</h2>")
    parts.append(f'<p>Each dot is {name}\'s score (0&ndash;100) with its {lvl} interval; grey dots are the other '
                 "units of the benchmark, the grey band their middle 80% and the line their mean. "
                 f'Colours: <span class="strength">strength</span>, <span class="area">area to develop</span>, '
                 f"as expected (rule: {rule} {profile.false_flag_rate:g}).</p>")
    parts.append(_svg(profile, unit, elements))
    has_change = profile.baseline_year is not None
    head = ["Element", f"Score ({lvl} CI)", "Benchmark mean", "Percentile", "Std. difference", "Assessment",
            "Reliability"] + ([f"Change since {html.escape(str(profile.baseline_year))} ({lvl} CI)"]
                              if has_change else [])
    parts.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    answers = []
    for e in elements:
        r = t.loc[(unit, e)]
        text, css = _assessment(r["label"])
        cells = [html.escape(labels[e].label),
                 f"{_fmt(r['score'])} ({_fmt(r['ci_low'])} to {_fmt(r['ci_high'])})",
                 _fmt(r["benchmark_mean"]), _fmt(r["percentile"], 0), _signed(r["std_difference"], 2),
                 f'<span class="{css}">{text}</span>', _fmt(r["reliability"], 2)]
        if has_change:
            cells.append(f"{_signed(r['change'])} ({_fmt(r['change_ci_low'])} to {_fmt(r['change_ci_high'])})")
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        if not math.isfinite(r["score"]):
            answers.append(f"<li><strong>{html.escape(labels[e].label)}</strong>: no score (no respondent "
                           "answered its measures).</li>")
            continue
        where = (f"the {_ordinal(r['percentile'])} percentile of {int(r['n_benchmark'])} benchmark units, "
                 f"{_signed(r['std_difference'], 2)} benchmark SDs from their mean {_fmt(r['benchmark_mean'])}"
                 if math.isfinite(r["percentile"]) else "not compared with a benchmark")
        verdict = {"strength": "present and strong: above the benchmark beyond chance",
                   "area to develop": "an area to develop: below the benchmark beyond chance",
                   "as expected": "within the range expected among the benchmark units",
                   "not compared": "not assessed"}[text]
        sentence = (f"<li><strong>{html.escape(labels[e].label)}</strong> ({html.escape(labels[e].description)}): "
                    f'<span class="{css}">{verdict}</span>. Score {_fmt(r["score"])} ({lvl} CI {_fmt(r["ci_low"])} '
                    f"to {_fmt(r['ci_high'])}; {int(r['n_respondents'])} respondents), {where}.")
        if has_change and math.isfinite(r["change"]):
            sentence += (f" Since {html.escape(str(profile.baseline_year))}: {_signed(r['change'])} "
                         f"({lvl} CI {_fmt(r['change_ci_low'])} to {_fmt(r['change_ci_high'])}).")
        answers.append(sentence + "</li>")
    parts.append("</tbody></table>")
    parts.append("<ul>" + "".join(answers) + "</ul>")
    for u in fw.unmeasured:
        parts.append(f"<p><strong>{html.escape(u.label)}</strong>: not measured. {html.escape(u.reason)}</p>")

    parts.append("<h2>What do you as a leader need to do to ensure presence and sustainability of these "
                 "elements?</h2>")
    parts.append("<p>The scores cannot answer this question. The framework lists interventions from the "
                 "programme's evidence library for each element; start with the areas to develop.</p>")
    order = sorted(elements, key=lambda e: {"area to develop": 0, "as expected": 1, "strength": 2}.get(
        str(t.loc[(unit, e), "label"]), 1))
    for e in order:
        el = labels[e]
        if el.interventions:
            text, css = _assessment(t.loc[(unit, e), "label"])
            parts.append(f'<p><strong>{html.escape(el.label)}</strong> (<span class="{css}">{text}</span>): '
                         + "; ".join(html.escape(i) for i in el.interventions) + ".</p>")

    parts.append("<h2>How the elements were measured</h2>")
    parts.append("<table><thead><tr><th>Element</th><th>Measure</th><th>Score</th><th>Benchmark mean</th>"
                 "<th>Why this measure</th></tr></thead><tbody>")
    ms = profile.measure_scores
    bench_rows = [u for u in ms.index if u in set(profile.benchmark_units) and u != unit]
    for m in fw.measures:
        if m.element not in elements:
            continue
        used = m.id in ms.columns
        own = _fmt(ms.loc[unit, m.id]) if used else "not in the data"
        bm = _fmt(ms.loc[bench_rows, m.id].mean()) if used and bench_rows else "&ndash;"
        parts.append(f"<tr><td>{html.escape(labels[m.element].label)}</td><td>{html.escape(m.label)}</td>"
                     f"<td>{own}</td><td>{bm}</td><td class='reason'>{html.escape(m.reason)}</td></tr>")
    parts.append("</tbody></table>")

    parts.append("<h2>Method</h2><ul>")
    notes = list(profile.notes) + [
        f"labels: {rule} {profile.false_flag_rate:g} over all units and elements of the profile"
        if profile.rule == "fdr" else f"labels: {rule} {profile.false_flag_rate:g} for each comparison",
        "reliability: the share of the variance of the unit's score among its benchmark that is true "
        "between-unit difference (1 = fully reliable)",
        f"respondents used: {profile.n_obs}; dropped: {profile.n_dropped}",
    ]
    parts += [f"<li>{html.escape(n)}</li>" for n in notes]
    parts.append(f"</ul><p class='small'>Sources: {html.escape(fw.citation)}</p></body></html>")
    doc = "\n".join(parts)
    if path is not None:
        Path(path).write_text(doc, encoding="utf-8")
    return doc
