"""The ``teamculture`` command.

``teamculture demo [--seed N] [--small] [--out DIR]`` runs the package's main
job on simulated national survey data: score the instruments, check
within-group agreement, fit the three-level model, fit the trust mortality
model and translate the effect into deaths per year, printing a concise report.

``teamculture score INSTRUMENT data.csv [-o scores.csv] [--by COLUMN ...]
[--columns COLUMN=ITEM ... | --columns-file MAP]`` scores a CSV export on a
catalogue instrument (or a definition file): one row per respondent, or with
``--by`` one row per group (respondent count and group means, as
:func:`teamculture.score_groups`). ``--columns`` maps the file's column names
to item ids as ``teamculture.score(columns=...)`` does (a ``.json`` object or
a two-column ``.csv`` with ``--columns-file``). The scores' provenance
(instrument id, version, status, unconfirmed rules, columns read) goes to
``scores.provenance.json`` next to ``-o`` and a summary line to stderr;
warnings (e.g. invalid codes set missing) are printed on stderr.

Every bad argument (an unknown command or option, a seed that is not a
non-negative integer, an ``--out`` that cannot be created or written) gets a
usage message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from teamculture._version import __version__

__all__ = ["main"]


def _seed(text: str) -> int:
    """``--seed``: a non-negative integer (as ``national_survey(rng=...)`` accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def _check_out(parser: argparse.ArgumentParser, out: Path | None) -> Path | None:
    """Create ``--out`` if needed and check it is a writable folder; a usage error otherwise."""
    if out is None:
        return None
    if out.exists() and not out.is_dir():
        parser.error(f"argument --out: {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --out: cannot create the folder {str(out)!r}: {exc.strerror or exc}")
    if not os.access(out, os.W_OK | os.X_OK):
        parser.error(f"argument --out: the folder {str(out)!r} is not writable")
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="teamculture",
        description=(
            "Quantitative research on organisational culture in health care: "
            "instrument scoring, agreement statistics, multilevel models and trust outcomes."
        ),
    )
    parser.add_argument("--version", action="version", version=f"teamculture {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the main analysis on built-in simulated national survey data",
        description=(
            "Simulate a national staff survey with known truth (250 trusts, 25,000 teams, "
            "700,000 staff; --small: 20 trusts, 500 teams, 10,000 staff) and run the "
            "analysis pipeline on it, printing a report."
        ),
    )
    demo.add_argument("--seed", type=_seed, default=2023, metavar="N",
                      help="random seed, a non-negative integer (default: 2023)")
    demo.add_argument("--small", action="store_true", help="use a small survey (runs in seconds)")
    demo.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="write the tables (CSV) and figures (PNG, needs matplotlib) to DIR",
    )
    demo.set_defaults(subparser=demo)  # usage errors found after parsing (--out) show the demo usage
    sc = sub.add_parser(
        "score",
        help="score a CSV export on an instrument (per respondent, or per group with --by)",
        description=(
            "Score each respondent of a CSV file (one row per respondent, one column per item or question "
            "code) on an instrument; with --by, one row per group with the respondent count and the group "
            "means. Question codes are matched regardless of letter case."
        ),
    )
    sc.add_argument("instrument", metavar="INSTRUMENT",
                    help="a catalogue id (see teamculture.instruments.available()) or a definition file (.toml/.json)")
    sc.add_argument("data", type=Path, metavar="DATA.csv", help="the responses, a CSV file with a header row")
    sc.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.csv",
                    help="write the scores here (default: standard output); the provenance goes to "
                         "OUT.provenance.json")
    sc.add_argument("--by", nargs="+", default=None, metavar="COLUMN",
                    help="group column(s), outer first: one row per group instead of per respondent")
    sc.add_argument("--id", default=None, metavar="COLUMN",
                    help="a respondent id column copied into the per-respondent output")
    sc.add_argument("--survey-year", default=None, metavar="YEAR",
                    help="use the instrument's question-code map of this survey year (e.g. 2021)")
    sc.add_argument("--invalid", choices=("raise", "missing"), default="raise",
                    help="codes outside the response scale: refuse (default) or set missing and count")
    sc.add_argument("--columns", nargs="+", default=None, metavar="COLUMN=ITEM",
                    help="map your column names to item ids, as teamculture.score(columns=...) does "
                         "(e.g. --columns Q2A=mot1 Q2B=mot2; letter case of the column is ignored)")
    sc.add_argument("--columns-file", type=Path, default=None, metavar="MAP",
                    help="the same map from a file: a .json object {\"COLUMN\": \"ITEM\", ...} or a .csv with two "
                         "columns (column, item) and a header row")
    sc.set_defaults(subparser=sc)
    return parser


def _check_extra_fields(path: Path, n_columns: int, parser: argparse.ArgumentParser) -> None:
    """Rows with more fields than the header: empty extra fields (trailing commas) are dropped; values refused."""
    import pandas as pd

    raw = pd.read_csv(path, header=None, skiprows=1, dtype=str, keep_default_na=False)
    extra = raw.iloc[:, n_columns:]
    filled = extra.apply(lambda c: c.str.strip() != "").any(axis=1)
    if filled.any():
        parser.error(f"argument DATA.csv: {int(filled.sum())} row(s) have more values than the header's {n_columns} "
                     f"column names (first at data row {int(filled.to_numpy().argmax()) + 1}); they cannot be "
                     "matched to columns: fix the header or those rows")


def _check_header(path: Path, data, parser: argparse.ArgumentParser) -> None:
    """Refuse a header naming a column twice (pandas renames the second ``q1.1``: it would be ignored) and
    say so when a file of one column is separated by ';' or tabs."""
    import csv

    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    counts: dict[str, int] = {}
    for h in header:
        if h.strip():  # empty header cells (trailing commas) are pandas' "Unnamed: k" columns
            counts[h] = counts.get(h, 0) + 1
    dup = [h for h, k in counts.items() if k > 1]
    if dup:
        parser.error(f"argument DATA.csv: the header names {len(dup)} column(s) more than once: {dup[:5]}; "
                     "rename them so that each column has its own name")
    if data.shape[1] == 1:
        name = str(data.columns[0])
        for sep, what in ((";", "';'"), ("\t", "tabs")):
            if sep in name:
                parser.error(f"argument DATA.csv: read as one column {name[:60]!r}: the file seems separated by "
                             f"{what}, not commas; save it as comma-separated values")


def _integer_labels(col):
    """Group labels read as text: integers when every label is a plain integer ("12", not "012" or "1.0",
    so that labels written differently stay different groups), sorted as numbers; else the text."""
    import pandas as pd

    if col.isna().any() or not col.str.fullmatch(r"-?(0|[1-9][0-9]{0,17})").all():
        return col
    return pd.to_numeric(col).astype("int64")


def _instrument_arg(text: str):
    """A catalogue id, or an existing definition file read with ``load_instrument``."""
    from teamculture.instruments import load_instrument

    path = Path(text)
    if path.suffix.lower() == ".toml" and path.is_file():
        return load_instrument(path)
    if path.suffix.lower() == ".json" and path.is_file():
        import json

        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"INSTRUMENT: {path.name} is not valid JSON: {exc}") from None
        return load_instrument(definition)
    return text


def _map_entries(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[tuple[str, str, str, str]]:
    """``--columns`` and ``--columns-file`` as (entry as written, column, item, option); syntax errors exit 2."""
    no_sign = [t for t in (args.columns or []) if "=" not in t]
    if no_sign:
        parser.error(f"argument --columns: entries must be COLUMN=ITEM; got {len(no_sign)} without '=': {no_sign}")
    entries: list[tuple[str, str, str, str]] = []
    for text in args.columns or []:
        column, _, item = text.rpartition("=")  # item ids hold no '=': a column name may
        entries.append((text, column, item, "--columns"))
    empty = [t for t, c, i, _ in entries if not c.strip() or not i.strip()]
    if empty:
        parser.error(f"argument --columns: entries must be COLUMN=ITEM with both sides non-empty; got {len(empty)}: "
                     f"{empty}")
    path = args.columns_file
    if path is not None:
        if not path.is_file():
            parser.error(f"argument --columns-file: no such file {str(path)!r}")
        pairs: list[tuple[object, object]] = []
        if path.suffix.lower() == ".json":
            import json

            try:
                obj = json.loads(path.read_text(encoding="utf-8-sig"))
            except (ValueError, UnicodeDecodeError) as exc:
                parser.error(f"argument --columns-file: {path.name} is not valid JSON: {exc}")
            if not isinstance(obj, dict):
                parser.error(f"argument --columns-file: a JSON file must hold one object {{\"COLUMN\": \"ITEM\", ...}}; "
                             f"{path.name} holds a {type(obj).__name__}")
            pairs = list(obj.items())
        elif path.suffix.lower() == ".csv":
            import pandas as pd

            try:
                table = pd.read_csv(path, dtype=str, keep_default_na=False)
            except (ValueError, OSError, UnicodeDecodeError) as exc:
                parser.error(f"argument --columns-file: cannot read {path.name} as CSV: {exc}")
            if table.shape[1] != 2:
                parser.error(f"argument --columns-file: a CSV file must have two columns (column, item) and a header "
                             f"row; {path.name} has {table.shape[1]}: {list(table.columns)}")
            pairs = list(zip(table.iloc[:, 0], table.iloc[:, 1]))
        else:
            parser.error(f"argument --columns-file: expected a .json or .csv file; got {path.name!r}")
        bad = [f"{c}={i}" for c, i in pairs if not (isinstance(c, str) and isinstance(i, str) and c.strip() and i.strip())]
        if bad:
            parser.error(f"argument --columns-file: every entry must map a column name to an item id (both non-empty "
                         f"text); {len(bad)} do not: {bad[:5]}")
        entries += [(f"{c}={i}", str(c), str(i), "--columns-file") for c, i in pairs]
    return entries


def _column_map_arg(entries: list[tuple[str, str, str, str]], instrument, data, data_name: str,
                    parser: argparse.ArgumentParser) -> dict[str, str] | None:
    """The ``columns`` dict of ``tc.score`` from the entries; a bad map exits 2 naming the option and the entries."""
    if not entries:
        return None
    from teamculture._core.validation import did_you_mean
    from teamculture.instruments import resolve

    inst = resolve(instrument)
    option = "--columns" if all(o == "--columns" for *_, o in entries) else \
        ("--columns-file" if all(o == "--columns-file" for *_, o in entries) else "--columns")
    folded: dict[str, list[str]] = {}
    for c in data.columns:
        folded.setdefault(str(c).casefold(), []).append(str(c))

    def found(column: str) -> str | None:
        """The column of the file a name means: itself, or the one column equal up to letter case."""
        if column in data.columns:
            return column
        hits = folded.get(column.casefold(), [])
        return hits[0] if len(hits) == 1 else None

    by_column: dict[str, list[str]] = {}
    by_item: dict[str, list[str]] = {}
    for text, column, item, _ in entries:
        by_column.setdefault(found(column) or column, []).append(text)
        by_item.setdefault(item, []).append(text)
    twice = [t for texts in by_column.values() if len(texts) > 1 for t in texts]
    if twice:
        parser.error(f"argument {option}: column(s) mapped more than once: {twice}")
    twice = [t for texts in by_item.values() if len(texts) > 1 for t in texts]
    if twice:
        parser.error(f"argument {option}: item(s) mapped from more than one column: {twice}")
    unknown = [(t, i) for t, _, i, _ in entries if i not in inst.item_ids]
    if unknown:
        if all(c in inst.item_ids and found(i) is not None for _, c, i, _ in entries):
            parser.error(f"argument {option}: entries are COLUMN=ITEM (as teamculture.score(columns=...)); these look "
                         f"swapped (item=column): {[t for t, *_ in entries][:5]}; write e.g. "
                         f"{entries[0][2]}={entries[0][1]}")
        hint = did_you_mean(unknown[0][1], inst.item_ids)
        parser.error(f"argument {option}: {len(unknown)} unknown item id(s) of {inst.id!r} in "
                     f"{[t for t, _ in unknown][:5]}.{hint} Items: {list(inst.item_ids)[:12]}")
    absent = [(t, c) for t, c, _, _ in entries if c.casefold() not in folded]  # (ambiguous names: score says so)
    if absent:
        hint = did_you_mean(absent[0][1], [str(c) for c in data.columns])
        parser.error(f"argument {option}: {len(absent)} column(s) not in {data_name!r}: {[t for t, _ in absent][:5]}."
                     f"{hint} Columns of the file: {[str(c) for c in data.columns][:12]}")
    return {column: item for _, column, item, _ in entries}


def run_score(args: argparse.Namespace, parser: argparse.ArgumentParser, stream=None, err=None) -> int:
    """``teamculture score``: read the CSV, score, write the scores and their provenance; the exit code."""
    import json
    import warnings

    import pandas as pd

    from teamculture.errors import TeamcultureError, TeamcultureWarning
    from teamculture.scoring import score, score_groups

    stream = sys.stdout if stream is None else stream
    err = sys.stderr if err is None else err
    if not args.data.is_file():
        parser.error(f"argument DATA.csv: no such file {str(args.data)!r}")
    if args.output is not None and args.output.parent != Path("") and not args.output.parent.is_dir():
        parser.error(f"argument -o/--output: the folder {str(args.output.parent)!r} does not exist")
    if args.output is not None and args.output.is_dir():
        parser.error(f"argument -o/--output: {str(args.output)!r} is a folder; give a file name such as scores.csv")
    if args.by is not None and args.id is not None:
        parser.error("argument --id: a respondent id applies to per-respondent scores, not with --by")
    if args.output is not None and args.output.exists() and args.output.resolve() == args.data.resolve():
        parser.error(f"argument -o/--output: is the input file {str(args.data)!r}; the scores would overwrite the "
                     "responses: give another file name")
    entries = _map_entries(args, parser)
    labels = [args.id] if args.id is not None else list(args.by or [])
    # ids and group labels as written ("007", "01"): read as text, plain integers turned back below.
    # index_col=False: rows with one field more than the header (trailing commas) must not make pandas take
    # the first column as the row index, shifting every answer one column to the left
    try:
        with warnings.catch_warnings(record=True) as parsing:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            data = pd.read_csv(args.data, dtype={c: str for c in labels}, index_col=False)
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in parsing):
            _check_extra_fields(args.data, data.shape[1], parser)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        parser.error(f"argument DATA.csv: cannot read {str(args.data)!r} as CSV: {exc}")
    _check_header(args.data, data, parser)
    for c in args.by or []:
        if c in data.columns:
            data[c] = _integer_labels(data[c])
    year = args.survey_year
    if year is not None and year.isdigit():
        year = int(year)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TeamcultureWarning)
        try:
            instrument = _instrument_arg(args.instrument)
            columns = _column_map_arg(entries, instrument, data, str(args.data), parser)
            if args.by is not None:
                by = args.by[0] if len(args.by) == 1 else list(args.by)
                res = score_groups(data, instrument, by=by, columns=columns, survey_year=year, invalid=args.invalid)
                table, prov = res.to_frame(), res.provenance
            else:
                if args.id is not None and args.id not in data.columns:
                    parser.error(f"argument --id: no column {args.id!r} in {str(args.data)!r}")
                scores = score(data, instrument, columns=columns, survey_year=year, invalid=args.invalid)
                prov = scores.provenance
                table = pd.DataFrame(scores)
                if args.id is not None:
                    table.insert(0, args.id, data[args.id])
        except (TeamcultureError, ValueError, TypeError) as exc:
            hint = " (here: --columns COLUMN=ITEM ... or --columns-file MAP)" if "`columns`" in str(exc) else ""
            print(f"teamculture score: error: {exc}{hint}", file=err)
            return 2
    for w in caught:
        print(f"teamculture score: warning: {w.message}", file=err)
    by_group = args.by is not None
    if args.output is None:
        table.to_csv(stream, index=by_group)
    else:
        try:
            table.to_csv(args.output, index=by_group)
            (args.output.with_suffix(".provenance.json")).write_text(json.dumps(prov.to_dict(), indent=2) + "\n")
        except OSError as exc:
            parser.error(f"argument -o/--output: cannot write {str(args.output)!r}: {exc.strerror or exc}")
    what = f"{len(table):,} group(s)" if by_group else f"{len(table):,} respondent(s)"
    print(f"teamculture score: {what} scored on {prov.instrument_id} version {prov.version} ({prov.status}"
          + (f"; {len(prov.unconfirmed)} unconfirmed rule(s), see the provenance" if prov.unconfirmed else "")
          + ")" + (f"; wrote {args.output}" if args.output is not None else ""), file=err)
    return 0


def run_demo(seed: int = 2023, small: bool = False, out: Path | None = None, stream=None) -> int:
    """Run the demo; return the process exit code (0 when every available stage ran)."""
    from teamculture._demo import STAGES, DemoContext, stage
    from teamculture.simulate import national_survey

    stream = sys.stdout if stream is None else stream
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)  # the command line checks --out first (usage error, exit 2)
    size = "small" if small else "national"
    t0 = time.perf_counter()
    print(f"teamculture {__version__} demo: simulated {size} staff survey, seed {seed}", file=stream)
    print("", file=stream)
    print("[1] Simulate the survey", file=stream, flush=True)
    from teamculture.simulate import PRESETS

    n_trusts, n_teams, n_staff = PRESETS[size]
    print(f"    ... drawing {n_staff:,} staff in {n_teams:,} teams in {n_trusts:,} trusts", file=stream, flush=True)
    survey = national_survey(size, rng=seed)
    ctx = DemoContext(survey=survey, out=out, stream=stream)
    sizes = survey.sizes
    ctx.say(
        f"{sizes['staff']:,} staff in {sizes['teams']:,} teams in {sizes['trusts']:,} trusts "
        f"({time.perf_counter() - t0:.1f} s); true real-team effect on mortality "
        f"{survey.params.mortality_beta:.5f} log-rate per percentage point"
    )
    ctx.write_table("staff_sample", survey.staff.head(1000))
    ctx.write_table("trusts", survey.trusts)
    failed = 0
    for number, (name, title) in enumerate(STAGES, start=2):
        print("", file=stream)
        print(f"[{number}] {title}", file=stream, flush=True)
        module = importlib.import_module(f"teamculture._demo.{name}")  # title printed first: progress
        t_stage = time.perf_counter()
        try:
            stage(module.run)(ctx)  # report lines, timing and failure recorded for the HTML report
        except Exception:  # report and go on: one broken stage should not hide the others
            failed += 1
            ctx.say("FAILED:")
            for line in traceback.format_exc().rstrip().splitlines():
                ctx.say("  " + line)
        else:
            ctx.say(f"({time.perf_counter() - t_stage:.1f} s)")
    print("", file=stream)
    print(f"Done in {time.perf_counter() - t0:.1f} s.", file=stream)
    if ctx.written:
        print(f"Wrote {len(ctx.written)} file(s) to {out}.", file=stream)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``teamculture`` command."""
    parser = _parser()
    args = parser.parse_args(argv)  # bad arguments: usage message and SystemExit(2)
    if args.command == "demo":
        out = _check_out(args.subparser, args.out)
        try:
            return run_demo(seed=args.seed, small=args.small, out=out)
        except BrokenPipeError:  # e.g. `teamculture demo | head`: stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except KeyboardInterrupt:
            print("teamculture: interrupted", file=sys.stderr)
            return 130
    if args.command == "score":
        try:
            return run_score(args, args.subparser)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
