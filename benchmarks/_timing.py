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


def median_seconds(call: Callable[[], object], min_calls: int = 5, budget_s: float = 1.0) -> float:
    """Return the median wall time of ``call`` over at least ``min_calls`` calls or ``budget_s`` seconds."""
    call()  # warm caches and lazy imports
    times, started = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < budget_s:
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
        if len(times) >= 2000:
            break
    return statistics.median(times)


def machine_line() -> str:
    """Describe the machine and library versions for a results file."""
    import numpy
    import pandas
    import sklearn

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}; one thread"
    )
