"""Fixtures of the plotting tests: the Agg backend, closed figures, small fitted models."""

from __future__ import annotations

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test starts and ends without open figures (no "more than 20 figures" warning)."""
    plt.close("all")
    yield
    plt.close("all")


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="session")
def tiny():
    """The tiny simulated survey: 300 staff in 24 teams in 4 trusts (seed 1)."""
    from teamculture.simulate import national_survey

    return national_survey("tiny", rng=1)


@pytest.fixture(scope="session")
def fit3(tiny):
    """A three-level random-intercept model of the tiny survey."""
    from teamculture import mixed

    return mixed("latent_engagement ~ tenure + (1 | trust/team)", tiny.staff)


@pytest.fixture(scope="session")
def fit_slopes(tiny):
    """A model with correlated team slopes of tenure (singular on these data: the warning is silenced)."""
    from teamculture import mixed

    return quiet(mixed, "latent_engagement ~ tenure + (1 | trust) + (1 + tenure | team)", tiny.staff)
