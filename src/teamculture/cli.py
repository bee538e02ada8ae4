"""The ``teamculture`` command.

``teamculture demo [--seed N] [--small] [--out DIR]`` runs the package's main
job on simulated national survey data: score the instruments, check
within-group agreement, fit the three-level model, fit the trust mortality
model and translate the effect into deaths per year, printing a concise report.

``teamculture score INSTRUMENT data.csv [-o scores.csv] [--by COLUMN ...]``
scores a CSV export on a catalogue instrument (or a definition file): one row
per respondent, or with ``--by`` one row per group (respondent count and group
means, as :func:`teamculture.score_groups`). The scores' provenance
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
    sc.set_defaults(subparser=sc)
    return parser


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
    try:
        data = pd.read_csv(args.data)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        parser.error(f"argument DATA.csv: cannot read {str(args.data)!r} as CSV: {exc}")
    year = args.survey_year
    if year is not None and year.isdigit():
        year = int(year)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TeamcultureWarning)
        try:
            instrument = _instrument_arg(args.instrument)
            if args.by is not None:
                by = args.by[0] if len(args.by) == 1 else list(args.by)
                res = score_groups(data, instrument, by=by, survey_year=year, invalid=args.invalid)
                table, prov = res.to_frame(), res.provenance
            else:
                if args.id is not None and args.id not in data.columns:
                    parser.error(f"argument --id: no column {args.id!r} in {str(args.data)!r}")
                scores = score(data, instrument, survey_year=year, invalid=args.invalid)
                prov = scores.provenance
                table = pd.DataFrame(scores)
                if args.id is not None:
                    table.insert(0, args.id, data[args.id])
        except (TeamcultureError, ValueError, TypeError) as exc:
            print(f"teamculture score: error: {exc}", file=err)
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
