"""The self-contained HTML report of ``teamculture demo --out DIR`` (``DIR/report.html``).

One page, no scripts and no external resources: the CSS is inline and the
figures are embedded as base64 PNG, so the page opens offline (and can be
mailed on its own). The CSV tables are linked relatively (they sit next to
the page).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from typing import Any

import pandas as pd

from teamculture._version import __version__
from teamculture.results import Summary, format_number

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h4 { margin: 1em 0 0.3em 0; } h5 { margin: 0.8em 0 0.2em 0; font-size: 0.95em; }
.meta { color: #555; font-size: 0.95em; }
ul.lines { padding-left: 1.2em; } ul.lines li { margin: 0.15em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.3em 0 1em 0; }
th, td { padding: 0.2em 0.6em; text-align: right; border-bottom: 1px solid #e5e5e5; }
th { background: #f5f5f5; } tbody th { text-align: left; }
.teamculture-summary > table:first-of-type td { text-align: left; }
figure { margin: 1em 0 1.6em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
pre.failure { background: #fff0f0; border: 1px solid #e0a0a0; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.note { background: #fff8e0; border: 1px solid #e8d8a0; padding: 0.5em 0.8em; }
nav ol { padding-left: 1.4em; } a { color: #1f5fa8; }
"""


def _table(title: str, table: Any) -> str:
    if isinstance(table, Summary):
        return table.as_html()
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    body = frame.to_html(border=0, float_format=format_number, escape=True)
    return f"<h4>{html.escape(title)}</h4>{body}"


def _figure(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    text = html.escape(caption) + (" " if caption else "") + f"(<code>{html.escape(name)}</code>)"
    return (f"<figure><img alt='{html.escape(caption or name)}' src='data:image/png;base64,{data}'/>"
            f"<figcaption>{text}</figcaption></figure>")


def render(ctx: Any) -> str:
    """The report page of the demo run held by ``ctx`` (a :class:`~teamculture._demo.DemoContext`)."""
    from teamculture._demo import STAGES, SURVEY

    survey = ctx.survey
    sizes = survey.sizes
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    ran = [(i, name, title) for i, (name, title) in enumerate(STAGES, start=2)
           if name in ctx.timings or name == ctx.stage]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>teamculture demo report (seed {survey.seed})</title><style>{_CSS}</style></head><body>",
        "<h1>teamculture demo report</h1>",
        f"<p class='meta'>teamculture {html.escape(__version__)}; a simulated staff survey with known truth, seed "
        f"{survey.seed}: {sizes['staff']:,} staff in {sizes['teams']:,} teams in {sizes['trusts']:,} trusts; "
        f"written {now}. Every number below comes from the simulated data, so estimates can be compared with "
        f"the truth the simulator used.</p>",
    ]
    if ctx.figures_skipped:
        parts.append(f"<p class='note'>Figures skipped: {html.escape(ctx.figures_skipped)}.</p>")
    parts.append("<nav><ol start='1'><li><a href='#survey'>Simulate the survey</a></li>")
    parts += [f"<li><a href='#{name}'>{html.escape(title)}</a></li>" for _, name, title in ran]
    parts.append("<li><a href='#files'>Files written</a></li></ol></nav>")

    def section(name: str) -> list[str]:
        out = []
        lines = [line for s, line in ctx.log if s == name]
        if lines:
            out.append("<ul class='lines'>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
        if name in ctx.failures:
            out.append("<p><strong>This stage failed:</strong></p>"
                       f"<pre class='failure'>{html.escape(ctx.failures[name])}</pre>")
        out += [_table(title, table) for s, title, table in ctx.tables if s == name]
        out += [_figure(file, caption, png) for s, file, caption, png in ctx.figures if s == name]
        return out

    parts.append("<h2 id='survey'>[1] Simulate the survey</h2>")
    parts += section(SURVEY)
    for number, name, title in ran:
        took = f" ({ctx.timings[name]:.1f} s)" if name in ctx.timings else ""
        parts.append(f"<h2 id='{name}'>[{number}] {html.escape(title)}{took}</h2>")
        parts += section(name)
    files = [p for p in ctx.written if p.name != "report.html"]
    parts.append("<h2 id='files'>Files written</h2><ul>")
    parts += [f"<li><a href='{html.escape(p.name)}'>{html.escape(p.name)}</a></li>" for p in files]
    parts.append("</ul></body></html>")
    return "\n".join(parts)
