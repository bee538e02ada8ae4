"""How many threads the package may use (shared by the threaded code paths)."""

from __future__ import annotations

import os

__all__ = ["usable_cpus"]


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the platform has one, else ``os.cpu_count()``.

    A process pinned to fewer CPUs than the machine has (``taskset``, a container's CPU set, a batch
    scheduler) gets that smaller number, so threaded code does not start more threads than it can run.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity masks (macOS, Windows)
        return os.cpu_count() or 1
