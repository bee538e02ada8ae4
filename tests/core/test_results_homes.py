"""The result classes of the reporting area resolve lazily from teamculture.results (issue 10)."""

from __future__ import annotations

import subprocess
import sys


def test_reporting_result_classes_resolve_from_results():
    from teamculture import results
    from teamculture.reporting import ModelTable, VarianceIntervals

    assert {"ModelTable", "VarianceIntervals"} <= set(results.__all__)
    assert results.ModelTable is ModelTable and results.VarianceIntervals is VarianceIntervals
    assert issubclass(ModelTable, results.Result) and issubclass(VarianceIntervals, results.Result)


def test_importing_results_does_not_import_reporting():
    code = "import sys, teamculture.results; print('teamculture.reporting' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
