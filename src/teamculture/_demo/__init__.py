"""The stages of ``teamculture demo``.

Each stage lives in its own module ``teamculture._demo.<stage>`` that defines
``run(ctx: DemoContext) -> None``. A stage reads the simulated survey (and what
earlier stages stored in ``ctx.results``), prints a few report lines through
``ctx.say`` and hands tables and figures to ``ctx.write_table`` /
``ctx.save_figure`` (written only with ``--out``).
"""

from __future__ import annotations

import sys
import time
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


@dataclass
class DemoContext:
    """What a demo stage receives."""

    survey: Any
    out: Path | None = None
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    results: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    _t0: float = field(default_factory=time.perf_counter)

    def say(self, line: str = "") -> None:
        """Print one report line (indented under the stage title)."""
        print(("    " + line) if line else "", file=self.stream, flush=True)

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

    def save_figure(self, name: str, fig: Any) -> Path | None:
        """Save a matplotlib figure to ``<out>/<name>.png`` when ``--out`` was given."""
        if self.out is None:
            return None
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        self.written.append(path)
        return path
