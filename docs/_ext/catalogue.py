"""Sphinx extension: generate one catalogue page per built-in instrument.

On ``builder-inited`` it writes ``docs/instruments/generated/<id>.rst`` from
each definition in ``teamculture/instruments/catalogue/`` (structure, keys,
response scales, scoring rule, status and what is unconfirmed, licence,
citation, the TOML source) and a summary table
``docs/instruments/generated/table.inc`` included by the catalogue index.
Files are rewritten only when their content changes. The generated folder is
not committed (see ``docs/instruments/.gitignore``).
"""

from __future__ import annotations

from pathlib import Path

from teamculture import instruments as ti

_RULES = {
    "mean": "mean of the answered items (after reverse keying with the declared scale bounds)",
    "sum": "sum of the items (the mean of the answered items times the number of items: prorated when items are missing)",
    "classification": "classification rule (see below)",
}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _esc(text: str) -> str:
    return text.replace("*", r"\*").replace("|", r"\|").replace("`", r"\`")


def _table(header: list[str] | None, rows: list[list[str]], widths: str | None = None) -> list[str]:
    out = [".. list-table::", f"   :header-rows: {0 if header is None else 1}"]
    if widths:
        out.append(f"   :widths: {widths}")
    out.append("")
    for row in ([] if header is None else [header]) + rows:
        out.append(f"   * - {row[0] or ' '}")
        out += [f"     - {c or ' '}" for c in row[1:]]
    out.append("")
    return out


def instrument_page(inst: ti.Instrument, toml_rel: str) -> str:
    title = f"{inst.name}"
    lines = [f".. _instrument-{inst.id}:", "", title, "=" * len(title), ""]
    lines += _table(None, [
        ["id", f"``{inst.id}``"],
        ["version", _esc(inst.version)],
        ["status", f"**{inst.status}**"],
        ["licence", _esc(inst.licence)],
        ["citation", _esc(inst.citation)],
        ["link", inst.url or "—"],
        ["items / scores", f"{len(inst.items)} items; scores: {', '.join('``' + s + '``' for s in inst.score_names)}"],
    ], widths="20 80")
    if inst.description:
        lines += [" ".join(inst.description.split()), ""]  # descriptions are reStructuredText
    if inst.status == "reconstructed":
        lines += [".. warning::", "",
                  "   **Reconstructed** from secondary sources, not the owner's published guidance. "
                  "Unconfirmed:", ""]
        lines += [f"   * {_esc(u)}" for u in inst.unconfirmed]
        lines.append("")
    else:
        lines += [".. note::", "", "   **Official**: the structure and scoring rule are confirmed from the "
                  "owner's published guidance.", ""]
    lines += ["Response scales", "---------------", ""]
    rows = []
    for name, sc in inst.scales.items():
        rows.append([
            f"``{name}``",
            ", ".join(f"{_num(c)} = {_esc(lab)}" for c, lab in zip(sc.codes, sc.labels)),
            ", ".join(f"{_num(c)} = {_esc(lab)}" for c, lab in zip(sc.missing_codes, sc.missing_labels or [""] * len(sc.missing_codes))) or "—",
            ", ".join(_num(c) for c in sc.positive) or "—",
        ])
    lines += _table(["scale", "codes", "missing codes", "positive codes"], rows, widths="15 50 20 15")
    lines += ["Items", "-----", ""]
    rows = [[f"``{it.id}``", _esc(it.label), f"``{it.scale}``", "yes" if it.reverse else ""] for it in inst.items]
    lines += _table(["id", "label", "scale", "reversed"], rows, widths="15 60 15 10")
    if inst.wording_allowed:
        lines += ["Item wording may be shipped under this licence; "
                  + ("it is included in the definition." if any(it.wording for it in inst.items)
                     else "this definition carries ids and short labels only."), ""]
    else:
        lines += ["Item wording is not shipped (licence); the labels above are short descriptions.", ""]
    lines += ["Scoring", "-------", ""]
    rule = inst.scoring
    if inst.classification is not None:
        c = inst.classification
        real, pseudo, none = c.categories
        lines += [
            f"Output column ``{c.name}`` with categories ``{real}``, ``{pseudo}``, ``{none}``:", "",
            f"* ``{none}``: the answer to ``{c.gate}`` is not positive;",
            f"* ``{real}``: ``{c.gate}`` and every criterion ({', '.join('``' + x + '``' for x in c.criteria)}) "
            "are positive;",
            f"* ``{pseudo}``: ``{c.gate}`` is positive and at least one criterion is answered and not positive;",
            "* unclassified (missing): the gate is missing, or criteria are missing and none answered is "
            "not positive.", "",
            "\"Positive\" means the code is among the scale's positive codes above. Group shares "
            "(:func:`teamculture.score_groups`, ``category_percent``) need an explicit denominator: "
            "``all`` respondents, ``classified`` respondents, or those ``in_team``.", "",
        ]
    else:
        text = _RULES[rule.method]
        if rule.range is not None:
            text += (f"; item codes are first mapped linearly from each scale's [low, high] onto "
                     f"[{_num(rule.range[0])}, {_num(rule.range[1])}]")
        lines += [f"* Subscale score: {text}.",
                  f"* Minimum number of answered items: default {rule.min_items} "
                  "(per subscale below; change with ``min_items``).",
                  "* Codes outside the declared scale raise an error (or become missing with "
                  "``invalid=\"missing\"``, counted); missing codes and missing answers are not imputed."]
        if rule.percent_positive:
            lines.append("* Percent positive (AHRQ SOPS rule): an item's share of positive responses over valid "
                         "responses, on the keyed scale (for reversed items the low codes count as positive); "
                         "a composite's percent positive is the mean of its items' — "
                         ":func:`teamculture.score_groups`.")
        if rule.score_positive is not None:
            lines.append(f"* A respondent is positive on a subscale when the score is at least "
                         f"{_num(rule.score_positive)} (``score_percent_positive`` in "
                         ":func:`teamculture.score_groups`).")
        lines.append("")
        lines += ["Subscales and keys", "------------------", ""]
        rows = [[f"``{name}``", str(len(ids)), str(inst.min_items[name]), " ".join(inst.keys()[name])]
                for name, ids in inst.subscales.items()]
        lines += _table(["subscale", "items", "min items", "keys (\"-\" = reversed)"], rows, widths="25 10 10 55")
        for name, subs in inst.composites.items():
            lines += [f"Composite ``{name}``: mean of {', '.join('``' + s + '``' for s in subs)} "
                      "(missing if any of them is).", ""]
    if inst.mappings:
        lines += ["Survey-year question codes", "--------------------------", ""]
        rows = [[y, ", ".join(f"{q} → ``{i}``" for q, i in m.items())] for y, m in inst.mappings.items()]
        lines += _table(["year", "question code → item"], rows, widths="15 85")
    first = inst.item_ids[0]
    usage = ["   import teamculture as tc",
             f"   inst = tc.instruments.get(\"{inst.id}\")",
             f"   scores = tc.score(data, \"{inst.id}\")  # columns named by item id",
             f"   scores = tc.score(data, \"{inst.id}\", columns={{\"your_column\": \"{first}\", ...}})"]
    if inst.mappings:
        year = sorted(inst.mappings)[-1]
        shown = year if year.isdigit() else repr(year)
        usage.append(f"   scores = tc.score(data, \"{inst.id}\", survey_year={shown})  # question codes of {year}")
    usage.append(f"   groups = tc.score_groups(data, \"{inst.id}\", by=\"team\")  # or by=[\"trust\", \"team\"]")
    if inst.classification is None:
        usage.append(f"   table = tc.instrument_reliability(data, \"{inst.id}\")  # alpha and omega per subscale")
    lines += ["Usage", "-----", "", ".. code-block:: python", "", *usage, ""]
    lines += ["Definition", "----------", "", f"The definition file ``{Path(toml_rel).name}``:", "",
              f".. literalinclude:: {toml_rel}", "   :language: toml", ""]
    return "\n".join(lines)


def catalogue_table() -> str:
    cat = ti.available()
    rows = [[f":ref:`{iid} <instrument-{iid}>`", _esc(r["name"]), _esc(str(r["version"])), r["status"],
             str(r["n_items"]), r["method"]] for iid, r in cat.iterrows()]
    return "\n".join(_table(["id", "name", "version", "status", "items", "scoring"], rows,
                            widths="18 44 10 12 6 10"))


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(app) -> None:
    out = Path(app.srcdir) / "instruments" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    cat_dir = ti.CATALOGUE_DIR
    keep: set[str] = set()
    for iid in ti.available().index:
        rel = Path("..") / ".." / ".." / "src" / "teamculture" / "instruments" / "catalogue" / f"{iid}.toml"
        if not (out / rel).resolve().is_file():  # installed elsewhere: include by absolute path
            rel = cat_dir / f"{iid}.toml"
        _write(out / f"{iid}.rst", instrument_page(ti.get(iid), rel.as_posix()))
        keep.add(f"{iid}.rst")
    _write(out / "table.inc", catalogue_table())
    for stale in out.glob("*.rst"):
        if stale.name not in keep:
            stale.unlink()


def setup(app):
    app.connect("builder-inited", generate)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
