"""The misuse-suite framework: tabled cases of careless or hostile calls, each with its asserted outcome.

Each area's ``test_misuse.py`` declares ``CASES``, a list of :class:`Case`, and runs them with
``@pytest.mark.parametrize("case", CASES, ids=case_id)`` and :func:`run_case`. A case says which
public function it exercises, which class of the issue "One package you can trust" it belongs to,
and exactly one asserted outcome:

- ``raises=(ErrorType, "regex")``: a clear error; the regex must name the offending parameter
  in backticks (`` `groups` ``), so a message that does not say which argument was wrong fails;
- ``warns=(WarningType, "regex")`` plus ``check=`` (an assertion on the returned value): the right
  number (or NaN / a boundary value) with a warning that says why;
- ``check=`` alone: the call must succeed silently (no warning at all) and pass the assertion.

Numpy ``RuntimeWarning``s, ``ZeroDivisionError``, ``LinAlgError``, ``KeyError``, ``IndexError`` and
errors raised from inside numpy/pandas/statsmodels/linearmodels never count as a clear error:
:func:`run_case` fails them whatever the case says.

``tests/test_misuse_coverage.py`` collects every ``CASES`` list and checks that every public
function has cases.
"""

from __future__ import annotations

import re
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The classes of the issue (4a-4k) plus "input" for plain bad arguments (types, ranges, choices).
KINDS = {
    "a": "labelled arguments aligned on their index or refused",
    "b": "unidentifiable parameters never reported as estimates",
    "c": "non-convergence never silent",
    "d": "scale-free numerics; inf reported as inf; empty levels",
    "e": "codes outside the declared scale refused or counted",
    "f": "degenerate data: clear error or NaN with a warning",
    "g": "estimates outside the parameter space flagged",
    "h": "absorbed predictors dropped with a warning",
    "i": "R syntax keeps R's meaning or is refused",
    "j": "errors of dependencies translated; CLI usage messages",
    "k": "R's conventions or an explicit option",
    "input": "bad argument types, ranges or choices",
    "missing": "missing data: nan_policy, counts",
}

_FOREIGN_ERRORS = (ZeroDivisionError, np.linalg.LinAlgError, KeyError, IndexError, AttributeError,
                   UnboundLocalError, NameError, AssertionError, RecursionError, OverflowError)
_FOREIGN_MODULES = ("numpy", "pandas", "scipy", "statsmodels", "linearmodels", "formulaic", "patsy")


@dataclass(frozen=True)
class Case:
    """One misuse case (see the module docstring)."""

    func: Callable[..., Any]
    call: Callable[[], Any]
    kind: str
    id: str
    raises: tuple[type[BaseException], str] | None = None
    warns: tuple[type[Warning], str] | None = None
    check: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown misuse kind {self.kind!r}")
        if (self.raises is None) == (self.warns is None and self.check is None):
            raise ValueError(f"case {self.id}: give either `raises` or `warns`/`check`")
        if self.warns is not None and self.check is None:
            raise ValueError(f"case {self.id}: a warning case must also check the returned value")


def case_id(case: Case) -> str:
    return f"{case.func.__name__}-{case.kind}-{case.id}"


def _raised_inside_dependency(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc`` is inside a dependency, not teamculture."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return False
    last = tb[-1].filename.replace("\\", "/")
    return any(f"/{m}/" in last for m in _FOREIGN_MODULES) and "/teamculture/" not in last


def run_case(case: Case) -> None:
    """Run ``case`` and assert its outcome (see the module docstring)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = case.call()
        except BaseException as exc:  # noqa: BLE001 - judged below
            if case.raises is None:
                raise AssertionError(f"{case.id}: expected a result, got {type(exc).__name__}: {exc}") from exc
            exc_type, pattern = case.raises
            if isinstance(exc, _FOREIGN_ERRORS) or _raised_inside_dependency(exc):
                raise AssertionError(
                    f"{case.id}: an internal error leaked to the user: {type(exc).__name__}: {exc}") from exc
            assert isinstance(exc, exc_type), f"{case.id}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}"
            message = str(exc)
            assert re.search(pattern, message), f"{case.id}: message {message!r} does not match {pattern!r}"
            assert re.search(r"`[^`]+`", message), f"{case.id}: the message names no parameter: {message!r}"
            _no_runtime_warnings(case, caught)
            return
    if case.raises is not None:
        raise AssertionError(f"{case.id}: expected {case.raises[0].__name__}, got a result {value!r:.200}")
    _no_runtime_warnings(case, caught)
    if case.warns is not None:
        category, pattern = case.warns
        hits = [w for w in caught if issubclass(w.category, category) and re.search(pattern, str(w.message))]
        assert hits, (f"{case.id}: expected {category.__name__} matching {pattern!r}; got "
                      f"{[(w.category.__name__, str(w.message)) for w in caught]}")
        for w in hits:
            assert "/teamculture/" not in w.filename.replace("\\", "/"), \
                f"{case.id}: warning attributed to the package ({w.filename}), not to the caller"
    else:
        assert not caught, f"{case.id}: unexpected warning(s) {[(w.category.__name__, str(w.message)) for w in caught]}"
    if case.check is not None:
        case.check(value)


def _no_runtime_warnings(case: Case, caught: list[warnings.WarningMessage]) -> None:
    bad = [w for w in caught if issubclass(w.category, (RuntimeWarning, FutureWarning, DeprecationWarning))
           and not issubclass(w.category, UserWarning)]
    assert not bad, f"{case.id}: numpy/pandas warnings leaked: {[(w.category.__name__, str(w.message)) for w in bad]}"
