"""Keep what a serving process has loaded out of the garbage collector's full passes.

A loaded model brings a few hundred thousand long-lived objects with it (the
modules of scikit-learn, numba and the compiled path, the pipeline itself),
and every generation-2 collection walks all of them while the process stands
still: tens of milliseconds under load, the whole tail of the API's latency
(issue 26). :func:`freeze_heap` collects what is garbage now and moves every
survivor to the collector's permanent generation (``gc.freeze``), which later
collections skip.

Frozen objects are still freed by reference counting when dropped. A loaded
:class:`~mldeploy.serving.Model` holds no reference cycle (a test keeps it so),
so a version swapped out is freed in full; only a cycle that was alive at a
freeze and dropped later would never be collected.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> None:
    """Collect the garbage the collector still looks at, then freeze every object that survived.

    The collection walks only what is not frozen yet: the whole heap the first
    time, afterwards just what was made since the last freeze (a new version).
    """
    gc.collect()
    gc.freeze()
