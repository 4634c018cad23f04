"""Keep what a serving process has loaded out of the garbage collector's full passes.

A loaded model brings a few hundred thousand long-lived objects with it (the
modules of scikit-learn, numba and the compiled path, the pipeline itself),
and every generation-2 collection walks all of them while the process stands
still: tens of milliseconds under load, the whole tail of the API's latency
(issue 26). :func:`freeze_heap` collects what is garbage now and moves every
survivor to the collector's permanent generation (``gc.freeze``), which later
collections skip.

A serving process also collects its young generation less often
(:func:`collect_young_less_often`): a request's objects that outlive it for a
few milliseconds, such as its prediction log entry waiting for the writer,
would otherwise be walked and promoted by several young collections each.

Frozen objects are still freed by reference counting when dropped. A loaded
:class:`~mldeploy.serving.Model` holds no reference cycle (a test keeps it so),
so a version swapped out is freed in full; only a cycle that was alive at a
freeze and dropped later would never be collected.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "collect_young_less_often", "freeze_heap"]

YOUNG_THRESHOLD = 50_000


def freeze_heap() -> None:
    """Collect the garbage the collector still looks at, then freeze every object that survived.

    The collection walks only what is not frozen yet: the whole heap the first
    time, afterwards just what was made since the last freeze (a new version).
    """
    gc.collect()
    gc.freeze()


def collect_young_less_often() -> None:
    """Raise the collector's young threshold from CPython's 700 allocations to 50,000, for a process that exists to serve.

    At 700, a collection runs every few dozen requests and walks every object still alive: a
    logged request's entry lives until the log's writer takes it, so it is walked and promoted
    several times. At 50,000 most are written and freed before a collection sees them (the API
    server logging to PostgreSQL spent about 3 µs a request less, benchmarks/RESULTS.md).
    Garbage in reference cycles is found later: older generations, counted in young
    collections, now run every 500,000 and 5,000,000 allocations. A threshold of 0 (automatic
    collection off) or one already higher is left as it is.
    """
    young, older, oldest = gc.get_threshold()
    if young != 0:
        gc.set_threshold(max(young, YOUNG_THRESHOLD), older, oldest)
