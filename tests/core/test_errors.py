"""The warning hierarchy: NestingWarning (added for crossed grouping factors) is a specific,
filterable teamculture warning published in teamculture.errors."""

from __future__ import annotations

import pickle
import warnings

import pytest

from teamculture._core.warn import warn
from teamculture.errors import NestingWarning, TeamcultureWarning


def test_nesting_warning_is_a_public_specific_warning():
    assert issubclass(NestingWarning, TeamcultureWarning) and NestingWarning is not TeamcultureWarning
    assert NestingWarning.__module__ == "teamculture.errors"
    assert pickle.loads(pickle.dumps(NestingWarning("x"))).args == ("x",)


def test_nesting_warning_goes_through_warn_and_can_be_filtered():
    with pytest.warns(NestingWarning, match="crossed"):
        warn("read as crossed", NestingWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", NestingWarning)
        warn("read as crossed", NestingWarning)  # filtered: no error
