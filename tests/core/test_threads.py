"""The CPU count threaded code paths use."""

from __future__ import annotations

import os

import pytest

from teamculture._core.threads import usable_cpus


def test_usable_cpus_is_the_affinity_mask_where_there_is_one():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no affinity masks on this platform")
    assert usable_cpus() == len(os.sched_getaffinity(0))


def test_usable_cpus_falls_back_to_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert usable_cpus() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "cannot be determined"
    assert usable_cpus() == 1
