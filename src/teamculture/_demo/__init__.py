"""The stages of ``teamculture demo``.

Each stage lives in its own module ``teamculture._demo.<stage>`` that defines
``run(ctx: DemoContext) -> None``, decorated with :func:`stage`. A stage reads
the simulated survey (and what earlier stages stored in ``ctx.results``),
prints a few report lines through ``ctx.say`` and hands tables and figures to
``ctx.write_table`` / ``ctx.show`` / ``ctx.draw`` (written only with ``--out``).

With ``--out DIR`` every stage writes its tables (CSV) and figures (PNG, when
matplotlib is installed) to ``DIR``, and after each stage ``DIR/report.html``
is rewritten: one self-contained page (CSS inline, figures as base64 PNG, no
scripts, no external resources, so it opens offline) with the report lines,
the result tables and the figures of every stage that has run.
"""

from __future__ import annotations

import functools
import io
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

#: (module name, title) in the order the demo runs them.
STAGES: tuple[tuple[str, str], ...] = (
    ("scoring", "Score the culture instruments"),
    ("agreement", "Within-group agreement and ICCs: can we aggregate?"),
    ("multilevel", "Three-level model of engagement (staff in teams in trusts)"),
    ("staff_outcomes", "Real teams and staff outcomes"),
    ("outcomes", "Trust mortality: real teams to deaths per year"),
    ("culture_profile", "Culture profile: are the five elements present and strong?"),
    ("engagement_model", "The King's Fund engagement model: paths and mediation"),
)

#: the name of the report page written to ``--out``
REPORT = "report.html"

#: the stage name of the lines printed before the first stage (the simulated survey)
SURVEY = "survey"


@dataclass
class DemoContext:
    """What a demo stage receives (and what the report is made from)."""

    survey: Any
    out: Path | None = None
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    results: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    #: the stage now running (``SURVEY`` before the first; None between stages: lines not reported)
    stage: str | None = SURVEY
    #: (stage, line) of every report line said during a stage
    log: list[tuple[str, str]] = field(default_factory=list)
    #: (stage, title, DataFrame or Summary) shown in the HTML report
    tables: list[tuple[str, str, Any]] = field(default_factory=list)
    #: (stage, file name, caption, PNG bytes) of the figures
    figures: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    #: seconds per finished stage, and the traceback of the stages that failed
    timings: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    #: why figures were not drawn ("" while they are)
    figures_skipped: str = ""
    _t0: float = field(default_factory=time.perf_counter)
    _pyplot: Any = None

    def say(self, line: str = "") -> None:
        """Print one report line (indented under the stage title)."""
        print(("    " + line) if line else "", file=self.stream, flush=True)
        if self.stage is not None and line:
            self.log.append((self.stage, line))

    def progress(self, message: str) -> None:
        """Show that a long step is under way, with the elapsed time."""
        elapsed = time.perf_counter() - self._t0
        print(f"    ... {message} [{elapsed:5.1f} s]", file=self.stream, flush=True)

    def write_table(self, name: str, table: pd.DataFrame | pd.Series) -> Path | None:
        """Write ``table`` to ``<out>/<name>.csv`` when ``--out`` was given."""
        if self.out is None:
            return None
        path = self.out / f"{name}.csv"
        table.to_csv(path)
        self.written.append(path)
        return path

    def show(self, title: str, table: Any) -> None:
        """Show a small table (a DataFrame or a result's :class:`~teamculture.results.Summary`) in the report."""
        if self.out is not None:
            self.tables.append((self.stage or SURVEY, title, table))

    def pyplot(self) -> Any:
        """``matplotlib.pyplot`` on a non-interactive backend, or None (said once) without matplotlib."""
        if self._pyplot is not None:
            return self._pyplot
        if self.figures_skipped:
            return None
        try:
            import matplotlib

            if "matplotlib.pyplot" not in sys.modules:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            self.figures_skipped = ("matplotlib is not installed (pip install 'teamculture[plot]'); "
                                    "tables and report lines only")
            self.say(f"figures skipped: {self.figures_skipped}")
            return None
        self._pyplot = plt
        return plt

    def save_figure(self, name: str, fig: Any, caption: str = "") -> Path | None:
        """Save a matplotlib figure to ``<out>/<name>.png`` (and into the report) when ``--out`` was given."""
        if self.out is None:
            return None
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        data = buffer.getvalue()
        path = self.out / f"{name}.png"
        path.write_bytes(data)
        self.written.append(path)
        self.figures.append((self.stage or SURVEY, path.name, caption, data))
        return path

    def draw(self, name: str, caption: str, draw: Callable[[Any], Any]) -> Path | None:
        """With ``--out`` and matplotlib: ``fig = draw(pyplot)``, saved as ``<name>.png`` and closed."""
        if self.out is None:
            return None
        plt = self.pyplot()
        if plt is None:
            return None
        fig = draw(plt)
        try:
            return self.save_figure(name, fig, caption)
        finally:
            plt.close(fig)

    def write_report(self) -> Path | None:
        """(Re)write ``<out>/report.html`` from everything the stages have reported so far."""
        if self.out is None:
            return None
        from teamculture._demo._report import render

        path = self.out / REPORT
        path.write_text(render(self), encoding="utf-8")
        if path not in self.written:
            self.written.append(path)
        return path


def stage(run: Callable[[DemoContext], None]) -> Callable[[DemoContext], None]:
    """Decorate a stage's ``run``: tag its report lines, time it, record a failure, rewrite the report.

    Idempotent: the command wraps every stage's ``run`` with it, so a stage module that does not
    decorate its ``run`` still reports to the HTML page.
    """
    if getattr(run, "_demo_stage", False):
        return run
    name = run.__module__.rsplit(".", 1)[-1]

    @functools.wraps(run)
    def wrapper(ctx: DemoContext) -> None:
        ctx.stage = name
        t0 = time.perf_counter()
        try:
            run(ctx)
        except Exception:
            ctx.failures[name] = traceback.format_exc()
            raise
        finally:
            ctx.timings[name] = time.perf_counter() - t0
            ctx.stage = None  # what the command prints after the stage (its timing) is not a report line
            try:
                ctx.write_report()
            except OSError as exc:  # a full disk must not hide the stage's own outcome
                print(f"    (could not write {REPORT}: {exc})", file=ctx.stream, flush=True)

    wrapper._demo_stage = True  # type: ignore[attr-defined]
    return wrapper
