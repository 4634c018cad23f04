"""Spread one large prediction over several cores: prepare slices on the caller, compute them beside it.

Validation and encoding hold the GIL for much of their time; the compiled
kernels release it. So the calling thread prepares slice after slice while
``threads - 1`` helpers compute the slices already prepared, and once every
slice is prepared the caller computes those left, beside the helpers: one
thread a core, and no core idle while the last slices are computed (a pool
of ``threads`` helpers left the caller a third of a core while it prepared:
two threads ran 1.50x one at 65,536 salary rows, 1.58x to 1.71x with this
scheme, 1.8x once preparing took 0.4 µs a row instead of 0.7, benchmarks/RESULTS.md).
Rows are independent, so the slices' results, put back in order, are the
bits one call would give. Input with any bad row is handed back to the one
thread path, which names every issue with the row numbers of the whole input.
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd

from mldeploy.errors import ConfigError

__all__ = ["MAX_THREADS", "SLICED_MIN_ROWS", "available_cores", "check_threads", "infer_sliced"]

SLICED_MIN_ROWS = 16_384
"""Below this a prediction runs on the calling thread: handing slices over would cost more than it saves."""
MAX_THREADS = 256
_MIN_SLICE_ROWS = 4_096
_SLICES_PER_THREAD = 8
"""Enough slices that the last one, computed while nothing is left to prepare, is short: with 4, a thread
sat idle for most of the forest's last slice (65,536 rows: 1.79x one thread, 2.0x with 8)."""

_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def available_cores() -> int:
    """Return the cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def check_threads(threads) -> int:
    """Return the thread count to use: ``None`` means every available core; raise ConfigError otherwise."""
    if threads is None:
        return min(available_cores(), MAX_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"threads: expected a whole number from 1 to {MAX_THREADS} (or None for every available "
                          f"core), got {threads!r}")
    return int(threads)


def infer_sliced(model, data, extra: str, missing: str, threads: int, accepted: bool = False,
                 max_issues: int | None = None):
    """Return ``model``'s Prediction for ``data`` computed on ``threads`` threads, or None to run it on one.

    With ``accepted`` return an Accepted instead (bad rows set aside, numbered in the whole input).
    None comes back for input too small to split, of a kind that cannot be sliced (one dict), or
    that any slice refuses: the one-thread path then raises the error for the whole input.
    ``max_issues`` bounds the issues each slice builds (see :meth:`Model.infer_accepted`).
    """
    if not isinstance(data, (pd.DataFrame, list, tuple)) or len(data) < SLICED_MIN_ROWS:
        return None
    rows = len(data)
    slice_rows = max(_MIN_SLICE_ROWS, -(-rows // (threads * _SLICES_PER_THREAD)))
    compute, refuse = (model.compute_accepted, "rows") if accepted else (model.compute, "input")
    prepared: queue.SimpleQueue = queue.SimpleQueue()
    parts: dict[int, object] = {}
    starts = range(0, rows, slice_rows)
    helpers: list[Future] = []
    try:
        pool = _pool(threads - 1)
        for _ in range(min(threads - 1, len(starts) - 1)):  # never more helpers than slices to share
            helpers.append(pool.submit(_compute_queued, compute, prepared, parts))
        for number, start in enumerate(starts):
            part = data.iloc[start:start + slice_rows] if isinstance(data, pd.DataFrame) else data[start:start + slice_rows]
            prepared.put((number, model.prepare(part, extra, missing, refuse=refuse, max_issues=max_issues)))
        for _ in helpers:  # after the last slice, one stop a helper; the caller computes what is left beside them
            prepared.put(None)
        _compute_left(compute, prepared, parts)
        _wait_for(helpers)
    except Exception:  # bad input, or a failing slice: the one-thread path words the error for the whole input
        _abandon(prepared, helpers)
        return None
    ordered = [parts[number] for number in range(len(starts))]
    return _joined_accepted(ordered, starts) if accepted else _joined(ordered)


def _wait_for(helpers: list[Future]) -> None:
    """Wait for the helpers still computing; one not started yet (the pool busy with another call) is cancelled.

    Every slice has been taken when this runs, so a helper that never started had nothing left to do,
    and the caller need not wait behind another call's helpers for it.
    """
    for helper in helpers:
        if not helper.cancel():
            helper.result()


def _abandon(prepared: queue.SimpleQueue, helpers: list[Future]) -> None:
    """Stop a failed call's helpers at once: drop the slices not taken yet, cancel those not started, stop the rest."""
    while True:
        try:
            prepared.get_nowait()
        except queue.Empty:
            break
    for helper in helpers:
        if not helper.cancel():
            prepared.put(None)


def _compute_queued(compute, prepared: queue.SimpleQueue, parts: dict) -> None:
    """A helper: compute prepared slices until its stop (None)."""
    while (item := prepared.get()) is not None:
        number, slice_ = item
        parts[number] = compute(slice_)


def _compute_left(compute, prepared: queue.SimpleQueue, parts: dict) -> None:
    """The caller, once every slice is queued: compute the slices no helper has taken yet, leaving the stops."""
    while True:
        try:
            item = prepared.get_nowait()
        except queue.Empty:
            return
        if item is None:  # the slices are all taken: this stop is a helper's
            prepared.put(None)
            return
        number, slice_ = item
        parts[number] = compute(slice_)


def _joined_accepted(parts: list, starts: range):
    refused = {}
    for start, part in zip(starts, parts):
        for position, issues in part.refused.items():
            refused[start + position] = [replace(issue, row=start + position) for issue in issues]
    hint = next((part.hint for part in parts if part.hint), "")
    return type(parts[0])(_joined([part.prediction for part in parts]), refused, hint)


def _joined(parts: list):
    first = parts[0]
    values = np.concatenate([part.values for part in parts])
    proba = None if first.probabilities is None else np.concatenate([part.probabilities for part in parts])
    return type(first)(first.ref, first.path, values, proba, first.classes)


def _pool(threads: int) -> ThreadPoolExecutor:
    """One pool per thread count, shared by every model in the process.

    Keyed by process id too: a forked child inherits the pool object but none of its threads.
    """
    key = (os.getpid(), threads)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(threads, thread_name_prefix=f"mldeploy-compute-{threads}")
        return pool
