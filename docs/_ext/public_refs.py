"""Sphinx extension: resolve references to teamculture's public names wherever they are documented.

Public functions and classes are defined in private modules and re-exported, and the API
reference documents each once, under its public name (``teamculture.icc1``,
``teamculture.multilevel.parse_formula``, ...). Docstrings legitimately refer to them by
their area path (``teamculture.outcomes.funnel_limits``) or by their bare name inside
their own module (``score``, ``Instrument.unconfirmed``). On ``missing-reference`` this
extension looks the name up under every public home and links the one object found; it
never guesses between two different objects (an ambiguous or unknown name stays a
warning, so ``nitpicky`` still catches dead references).
"""

from __future__ import annotations

from sphinx.util.nodes import make_refnode

import teamculture

_AREAS = tuple(getattr(teamculture, "_SUBMODULES", ()))


def _candidates(target: str, modname: str | None, clsname: str | None) -> list[str]:
    names = [target]
    if target.startswith("teamculture."):
        rest = target[len("teamculture."):]
        head, _, tail = rest.partition(".")
        if head in _AREAS and tail:
            names.append(f"teamculture.{tail}")
        for area in _AREAS:
            names.append(f"teamculture.{area}.{rest}")
        return names
    if clsname:
        for prefix in filter(None, (modname, "teamculture")):
            names.append(f"{prefix}.{clsname}.{target}")
    if modname:
        names.append(f"{modname}.{target}")
    names.append(f"teamculture.{target}")
    names += [f"teamculture.{area}.{target}" for area in _AREAS]
    return names


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    objects = env.get_domain("py").objects
    hits: dict[tuple[str, str], str] = {}  # (page, anchor) -> the name found first
    for name in _candidates(target, node.get("py:module"), node.get("py:class")):
        entry = objects.get(name)
        if entry is not None:
            hits.setdefault((entry.docname, entry.node_id), name)
    if len(hits) != 1:
        return None  # unknown, or two different objects: stays a (nitpicky) warning
    (docname, node_id), name = next(iter(hits.items()))
    return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
