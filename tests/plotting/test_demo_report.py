"""``teamculture demo --out DIR``: every stage writes its figures, and one self-contained HTML report.

The figures are checked as they are saved (no empty panel, nothing drawn outside the figure); the
report is checked for what makes it open offline (figures inline as base64 PNG, no script, no
stylesheet link, no external address) and for its content (every stage, its report lines, its
tables and figures, links to the CSV files).
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import pytest

import teamculture._demo as demo
import teamculture._demo.outcomes as outcomes_stage
from teamculture.cli import run_demo

FIGURES = [
    "scoring_engagement", "scoring_trusts", "agreement_distribution", "agreement_variance_partition",
    "multilevel_random_effects", "multilevel_variance_partition", "multilevel_diagnostics",
    "staff_outcomes_odds_ratios", "outcomes_mortality", "outcomes_funnel_adjusted", "culture_profile", "engagement_indirect_effects",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_figure(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert fig.axes, "a figure without axes"
    for ax in fig.axes:
        assert ax.has_data(), f"empty panel {ax.get_title()!r}"
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= -1 and box.y0 >= -1, f"drawn outside the figure: {ax.get_title()!r}"
        assert box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1, f"drawn outside the figure: {ax.get_title()!r}"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    stream = io.StringIO()
    checked = []
    original = demo.DemoContext.save_figure

    def checking_save(self, name, fig, caption=""):
        _check_figure(fig)
        checked.append(name)
        return original(self, name, fig, caption)

    demo.DemoContext.save_figure = checking_save
    try:
        rc = run_demo(seed=5, small=True, out=out, stream=stream)
    finally:
        demo.DemoContext.save_figure = original
    return rc, out, stream.getvalue(), checked


def test_every_stage_writes_its_figures(small_run):
    rc, out, text, checked = small_run
    assert rc == 0 and "FAILED" not in text, text
    assert checked == FIGURES
    for name in FIGURES:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    csv = sorted(p.name for p in out.glob("*.csv"))
    assert len(csv) == 14 and [p.name for p in out.glob("culture_profile_*.html")] == ["culture_profile_TR001.html"]
    # the CSV tables, the figures, one trust's culture-profile page and report.html
    assert f"Wrote {len(FIGURES) + len(csv) + 2} file(s)" in text


def test_the_report_is_self_contained(small_run):
    _, out, _, _ = small_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""(?:src|href)=['"](?:https?:)?//""", page), "an external resource"
    assert "http://" not in page and "https://" not in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == len(FIGURES) == page.count("<img ")
    for name, data in zip(FIGURES, images):
        assert base64.b64decode(data) == (out / f"{name}.png").read_bytes(), name


def test_the_report_holds_every_stage_with_its_lines_tables_and_files(small_run):
    _, out, text, _ = small_run
    page = (out / "report.html").read_text(encoding="utf-8")
    import html

    for number, (name, title) in enumerate(demo.STAGES, start=2):
        assert re.search(rf"<h2 id='{name}'>\[{number}\] {re.escape(html.escape(title))} \(\d+\.\d s\)</h2>",
                         page), name
    # the report lines of the console, the same words (html-escaped) in the page
    lines = [ln.strip() for ln in text.splitlines() if ln.startswith("    ") and not ln.strip().startswith(
        ("(", "..."))]
    assert len(lines) > 20
    for line in lines:
        assert html.escape(line) in page, line
    for title in ("Linear mixed model (teamculture.mixed)", "Intraclass correlations (ANOVA)",
                  "National means of the scores (0-10)", "Funnel limits for 20 units", "culture profile: elements",
                  "serial chain to absence: indirect effects and the simulated truth",
                  "odds ratios versus staff in real teams, median odds ratios, and the simulated truth"):
        assert title in page
    for csv in out.glob("*.csv"):
        assert f"<a href='{csv.name}'>" in page
    assert page.count("<figcaption>") == len(FIGURES)


def test_a_failed_stage_is_shown_in_the_report_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("funnel exploded (test)")

    monkeypatch.setattr(outcomes_stage, "funnel_limits", broken)
    stream = io.StringIO()
    rc = run_demo(seed=5, small=True, out=tmp_path, stream=stream)
    assert rc == 1 and "FAILED" in stream.getvalue()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "This stage failed" in page and "funnel exploded (test)" in page
    assert "<h2 id='multilevel'>" in page and "multilevel_diagnostics.png" in page


def test_without_matplotlib_the_demo_runs_and_says_figures_were_skipped(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from teamculture.cli import main\n"
        f"rc = main(['demo', '--small', '--seed', '5', '--out', {str(tmp_path)!r}])\n"
        "print('matplotlib loaded:', 'matplotlib.pyplot' in sys.modules); sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("figures skipped: matplotlib is not installed (pip install 'teamculture[plot]')") == 1
    assert "matplotlib loaded: False" in res.stdout and "FAILED" not in res.stdout
    assert not list(tmp_path.glob("*.png"))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Figures skipped: matplotlib is not installed" in page and "<img" not in page
    assert "Linear mixed model (teamculture.mixed)" in page


def test_without_out_nothing_is_drawn_or_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stream = io.StringIO()
    assert run_demo(seed=5, small=True, stream=stream) == 0
    assert "figures skipped" not in stream.getvalue() and "Wrote" not in stream.getvalue()
    assert not list(tmp_path.iterdir())


def test_a_stage_without_the_stage_decorator_still_reports(tmp_path, monkeypatch):
    # a new stage module (as main adds them) that does not decorate its run: the command wraps it
    import types

    module = types.ModuleType("teamculture._demo.plain")

    def run(ctx):
        ctx.say("a line of the plain stage")
        ctx.show("plain table", __import__("pandas").DataFrame({"x": [1.5]}))

    run.__module__ = module.__name__
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(demo, "STAGES", (("plain", "A plain stage"),))
    wrapped = demo.stage(run)
    assert wrapped is not run and demo.stage(wrapped) is wrapped  # wrapping twice would log every line twice
    assert run_demo(seed=5, small=True, out=tmp_path, stream=io.StringIO()) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert re.search(r"<h2 id='plain'>\[2\] A plain stage \(\d+\.\d s\)</h2>", page)
    assert "a line of the plain stage" in page and "plain table" in page
