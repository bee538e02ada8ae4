"""The gallery (examples/plot_*.py) renders complete figures, as sphinx-gallery will show them.

Each example runs here the way sphinx-gallery runs it: cell by cell (cells start at ``# %%``), in one
namespace, with ``plt.show`` a no-op, every figure of a cell captured and closed when the cell ends,
and the value of a cell's last bare expression shown as output. The test fails when

- a figure has an empty panel (an Axes with no data: e.g. a figure created in one cell and drawn in
  a later one, which sphinx-gallery has already closed and rendered);
- a panel's labels, ticks or title fall outside the figure (clipped in the image);
- a cell ends in an expression with a value (sphinx-gallery prints it: ``Text(0.5, 0, '...')``,
  ``<matplotlib...>``);
- a figure is built without constrained layout (the gallery's rule: no clipped labels, no
  ``tight_layout`` guesses).
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("plot_*.py"))


def _cells(source: str) -> list[str]:
    """The code cells of a sphinx-gallery script (the docstring and ``# %%`` blocks)."""
    lines = source.splitlines(keepends=True)
    cells, current = [], []
    for line in lines:
        if re.match(r"^# ?%%", line) and current:
            cells.append("".join(current))
            current = []
        current.append(line)
    cells.append("".join(current))
    return cells


def _problems(fig, where: str) -> list[str]:
    out = []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    if not fig.axes:
        out.append(f"{where}: a figure without axes")
    engine = fig.get_layout_engine()
    if not isinstance(engine, matplotlib.layout_engine.ConstrainedLayoutEngine):
        out.append(f"{where}: figure {fig.number} not in constrained layout (plt.subplots(..., layout='constrained'))")
    for ax in fig.axes:
        name = ax.get_title() or ax.get_xlabel() or ax.get_label()
        if ax.get_label() == "<colorbar>":
            continue
        if not ax.has_data():
            out.append(f"{where}: empty panel {name!r}")
        tight = ax.get_tightbbox(renderer)
        if tight is None:
            continue
        if tight.x0 < box.x0 - 1 or tight.y0 < box.y0 - 1 or tight.x1 > box.x1 + 1 or tight.y1 > box.y1 + 1:
            out.append(f"{where}: panel {name!r} is clipped (drawn outside the figure)")
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_gallery_example_renders_complete_figures(path, tmp_path, monkeypatch):
    # sphinx-gallery runs an example from its own folder (examples read data by relative paths, e.g.
    # ../docs/data/...); an example must not leave files there
    monkeypatch.chdir(path.parent)
    before = set(path.parent.iterdir())
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    source = path.read_text(encoding="utf-8")
    namespace = {"__name__": "__main__", "__file__": str(path)}
    problems: list[str] = []
    n_figures = 0
    plt.close("all")
    for number, cell in enumerate(_cells(source), start=1):
        where = f"{path.name}, cell {number}"
        tree = ast.parse(cell)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None and isinstance(last.value, ast.Constant) and isinstance(last.value.value, str):
            last = None  # the example's docstring (its title and text), not output
        body = tree.body[:-1] if last is not None else tree.body
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # data warnings an example shows are its business, not this test's
            exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), str(path), "eval"), namespace)
                if value is not None:
                    problems.append(f"{where}: the cell ends in an expression whose value is printed: "
                                    f"{type(value).__name__} {str(value)[:60]!r} (assign it to a name)")
        for num in plt.get_fignums():
            n_figures += 1
            problems += _problems(plt.figure(num), where)
        plt.close("all")
    left = sorted(p.name for p in set(path.parent.iterdir()) - before)
    for p in set(path.parent.iterdir()) - before:
        p.unlink() if p.is_file() else None
    assert not left, f"{path.name} wrote {left} into {path.parent} (write to a temporary directory)"
    assert n_figures, f"{path.name} draws no figure (a gallery example shows one)"
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_figure_split_across_cells(tmp_path, monkeypatch):
    # the pattern of the broken examples: figure and left panel in one cell, right panel in the next
    script = tmp_path / "plot_broken.py"
    script.write_text(
        '"""\nBroken\n======\n"""\n'
        "# %%\nimport matplotlib.pyplot as plt\n"
        "fig, axes = plt.subplots(1, 2)\naxes[0].plot([1, 2])\naxes[0].set_xlabel('x')\n"
        "# %%\naxes[1].bar(['a'], [1])\n"
    )
    with pytest.raises(AssertionError) as info:
        test_gallery_example_renders_complete_figures(script, tmp_path, monkeypatch)
    message = str(info.value)
    assert "plot_broken.py, cell 2: empty panel" in message
    assert "the cell ends in an expression whose value is printed: Text" in message
    assert "not in constrained layout" in message
