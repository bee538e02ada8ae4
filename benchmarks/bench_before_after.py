"""Numbers and speed before and after the migration to the shared core (issue "One package you can trust").

Runs the same national-scale calls with two source trees of teamculture -- the old one (a checkout
of the commit before the migration, ``--old``) and this one -- in alternating fresh subprocesses on
the same data, and prints for each call the median CPU time (``time.process_time``: on a shared machine far more
stable than wall time) of each, their ratio (new / old) and
the largest absolute difference between the numbers they return. The old API spelled some
arguments differently (``scale_points``, ``bounds``, ``listwise``, ``seed``); each task below
states both calls, with the options that make them compute the same thing (for example
``nan_policy="pairwise"``, the old default of the agreement functions).

Usage::

    git worktree add /tmp/tc-old f9667c4
    python benchmarks/bench_before_after.py --old /tmp/tc-old/src [--size national] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEW_SRC = HERE.parent / "src"

ITEMS = ["mot1", "mot2", "mot3", "inv1", "inv2", "inv3", "adv1", "adv2", "adv3"]

# name -> (old call, new call); both evaluated with `tc`, `staff`, `trusts` in scope; the value
# is reduced to a flat float vector by `flat` for the comparison of numbers.
TASKS = {
    "score": ('tc.score(staff, "nhs-engagement")', 'tc.score(staff, "nhs-engagement")'),
    "rwg_j": (f'tc.rwg_j(staff[{ITEMS!r}], staff["team"], scale_points=5)',
              f'tc.rwg_j(staff[{ITEMS!r}], staff["team"], scale=(1, 5), nan_policy="pairwise")'),
    "ad_index": (f'tc.ad_index(staff[{ITEMS!r}], staff["team"], scale_points=5)',
                 f'tc.ad_index(staff[{ITEMS!r}], staff["team"], scale=(1, 5), nan_policy="pairwise")'),
    "aggregate": (f'tc.aggregate(staff, "team", {ITEMS[:3]!r}, scale_points=5).table',
                  f'tc.aggregate(staff, {ITEMS[:3]!r}, by="team", scale=(1, 5), nan_policy="pairwise").table'),
    "icc1": ('tc.icc1(staff["latent_engagement"], staff["team"])',
             'tc.icc1(staff["latent_engagement"], staff["team"])'),
    "icc_reml": ('tc.icc(staff["latent_engagement"], staff[["trust", "team"]], method="reml").variance_components',
                 'tc.icc(staff["latent_engagement"], staff[["trust", "team"]], method="reml").variance_components'),
    "cronbach_alpha": ('tc.cronbach_alpha(staff[["mot1", "mot2", "mot3"]], bounds=(1, 5)).alpha',
                       'tc.cronbach_alpha(staff[["mot1", "mot2", "mot3"]], scale=(1, 5)).alpha'),
    "mixed": ('tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", staff).fixed_effects',
              'tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", staff).fixed_effects'),
    "mortality_glm": ('tc.outcomes.mortality_glm(trusts, predictors="real_team_pct").coefficients["estimate"]',
                      'tc.mortality_glm(trusts, predictors="real_team_pct").coefficients["estimate"]'),
}

CHILD = textwrap.dedent('''
    import pickle, sys, time, warnings
    import numpy as np, pandas as pd
    warnings.simplefilter("ignore")
    src, data_path, expr, out_path = sys.argv[1:5]
    sys.path.insert(0, src)
    import teamculture as tc
    staff, trusts = pickle.load(open(data_path, "rb"))
    eval(expr)  # warm-up: imports and first-call costs are not charged
    c0 = time.process_time()  # CPU seconds: far less sensitive than wall time to other jobs on the machine
    value = eval(expr)
    elapsed = time.process_time() - c0
    def flat(v):
        if isinstance(v, pd.DataFrame):  # by column, so that tables with added columns compare on the shared ones
            return {str(c): v[c].to_numpy(dtype=float) for c in v.select_dtypes("number").columns}
        if isinstance(v, pd.Series):
            return {"value": v.to_numpy(dtype=float)}
        return {"value": np.atleast_1d(np.asarray(v, dtype=float))}
    pickle.dump((elapsed, flat(value)), open(out_path, "wb"))
''')


def _run(src: Path, data: Path, expr: str) -> tuple[float, object]:
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
        out = Path(fh.name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", CHILD, str(src), str(data), expr, str(out)], check=True, env=env)
    elapsed, value = pickle.loads(out.read_bytes())
    out.unlink()
    return elapsed, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, type=Path, help="src/ folder of the old teamculture")
    parser.add_argument("--size", default="national")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = parser.parse_args()

    import numpy as np

    sys.path.insert(0, str(NEW_SRC))
    import teamculture as tc

    survey = tc.national_survey(args.size, rng=20261203)
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
        pickle.dump((survey.staff, survey.trusts), fh)
        data = Path(fh.name)
    print(f"# {args.size}: {len(survey.staff):,} staff, {survey.staff['team'].nunique():,} teams, "
          f"{len(survey.trusts)} trusts; median of {args.repeat} alternating runs; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"{'task':<16}{'old cpu s':>10}{'new cpu s':>10}{'new/old':>9}{'max |diff|':>12}  (columns both versions return)")
    rows = {}
    for name in args.tasks:
        old_expr, new_expr = TASKS[name]
        t_old, t_new = [], []
        for _ in range(args.repeat):
            a, v_old = _run(args.old, data, old_expr)
            b, v_new = _run(NEW_SRC, data, new_expr)
            t_old.append(a)
            t_new.append(b)
        shared = [c for c in v_old if c in v_new and v_old[c].shape == v_new[c].shape]
        diffs = [np.abs(v_old[c] - v_new[c]) for c in shared]
        diff = max((float(np.nanmax(d)) if np.isfinite(d).any() else 0.0) for d in diffs) if diffs else float("nan")
        same_nan = bool(shared) and all(np.array_equal(np.isnan(v_old[c]), np.isnan(v_new[c])) for c in shared)
        mo, mn = statistics.median(t_old), statistics.median(t_new)
        rows[name] = {"old": mo, "new": mn, "ratio": mn / mo, "max_abs_diff": diff, "same_nan": same_nan}
        print(f"{name:<16}{mo:10.3f}{mn:10.3f}{mn / mo:9.2f}{diff:12.2e}{'' if same_nan else '  NaN pattern differs'}")
    print(f"# load average {os.getloadavg()[0]:.2f} at end; {time.strftime('%Y-%m-%d %H:%M')}")
    print("# json " + json.dumps(rows))
    data.unlink()


if __name__ == "__main__":
    main()
