"""Timing helpers shared by the benchmarks: medians of repeated calls, thread pinning."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def pin_threads() -> None:
    """Use one thread everywhere, so both sides of a ratio get the same machine (call before numpy)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def paired_medians(calls: dict[str, Callable[[], object]], min_rounds: int = 7, budget_s: float = 2.0) -> dict[str, float]:
    """Return each call's median seconds, timing the calls in turn each round.

    Interleaving puts every call under the same machine load, so a ratio of
    medians stays fair on a shared, noisy machine.
    """
    for call in calls.values():
        call()  # warm caches and lazy imports
    times: dict[str, list[float]] = {name: [] for name in calls}
    started, rounds = time.perf_counter(), 0
    while rounds < min_rounds or (time.perf_counter() - started < budget_s and rounds < 2000):
        for name, call in calls.items():
            begin = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - begin)
        rounds += 1
    return {name: statistics.median(values) for name, values in times.items()}


def machine_line() -> str:
    """Describe the machine and library versions for a results file."""
    import numpy
    import pandas
    import sklearn

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}; one thread"
    )
