"""The ``teamculture`` command.

``teamculture demo [--seed N] [--small] [--out DIR]`` runs the package's main
job on simulated national survey data: score the instruments, check
within-group agreement, fit the three-level model, fit the trust mortality
model and translate the effect into deaths per year, printing a concise report.

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
    return parser


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
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
