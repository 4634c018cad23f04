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


def paired_medians(calls: dict[str, Callable[[], object]], min_rounds: int = 7, budget_s: float = 2.0,
                   block_s: float = 0.02) -> dict[str, float]:
    """Return each call's median seconds per call, timing the calls in turn, block by block.

    Each round runs every call for about ``block_s``, one call after the other,
    so drifting machine load hits all alike. A block of short calls starts with
    a quarter block of untimed calls: whichever call ran before evicted the
    caches, and a service that only predicts runs warm.
    """
    per_block = {name: _calls_per_block(call, block_s) for name, call in calls.items()}
    times: dict[str, list[float]] = {name: [] for name in calls}
    started, rounds = time.perf_counter(), 0
    while rounds < min_rounds or (time.perf_counter() - started < budget_s and rounds < 500):
        for name, call in calls.items():
            count = per_block[name]
            if count > 1:  # warm up for a quarter of a block, untimed
                for _ in range(max(1, count // 4)):
                    call()
            begin = time.perf_counter()
            for _ in range(count):
                call()
            times[name].append((time.perf_counter() - begin) / count)
        rounds += 1
    return {name: statistics.median(values) for name, values in times.items()}


def _calls_per_block(call: Callable[[], object], block_s: float) -> int:
    call()  # warm caches and lazy imports
    begin = time.perf_counter()
    call()
    return max(1, int(block_s / max(time.perf_counter() - begin, 1e-7)))


def machine_line() -> str:
    """Describe the machine and library versions for a results file."""
    import numpy
    import pandas
    import sklearn

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}; one thread"
    )
