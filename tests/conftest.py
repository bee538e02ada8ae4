"""Shared test configuration: Hypothesis profiles and common fixtures."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

# "ci": deterministic and bounded (the default, used by .ci/run);
# "dev": more examples, for local runs: HYPOTHESIS_PROFILE=dev pytest
settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# test modules import the shared helper modules in this folder (``import _mixed_fixtures``);
# --import-mode=importlib does not put it on sys.path
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
HAS_R = shutil.which("Rscript") is not None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder of committed R generator scripts and their outputs."""
    return REFERENCE_DIR


# R multilevel oracle shared by test_agreement and test_nesting (module scope: each module gets
# its own copy, so a test that modifies it cannot reach the other module)
@pytest.fixture(scope="module")
def agreement_ref(reference_dir):
    """Results of ``reference/agreement.R`` (R multilevel), by result name."""
    return json.loads((reference_dir / "agreement.json").read_text())["results"]


@pytest.fixture(scope="module")
def agreement_items(reference_dir):
    """The item responses ``reference/agreement.R`` was run on."""
    return pd.read_csv(reference_dir / "agreement_data" / "items.csv")


@pytest.fixture(scope="session")
def small_survey():
    """A small simulated survey (20 trusts, 500 teams, 10,000 staff), seed 11."""
    from teamculture.simulate import national_survey

    return national_survey("small", rng=11)
