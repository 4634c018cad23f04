"""One native thread (OpenMP, BLAS) for a stretch of small predictions: scikit-learn's start-up of its threads
costs more than they save on a few rows (on a busy machine, many times more).

``threadpoolctl.threadpool_limits`` finds the process's native thread pools anew on every call
by walking its loaded libraries: 2.6 to 5 ms, twice a bundle's creation. A ThreadpoolController
does that once; it is made again only when modules were imported since (a new native library
comes with an import), so a pool loaded later is limited too.
"""

from __future__ import annotations

import sys
import threading

__all__ = ["one_native_thread"]

_lock = threading.Lock()
_controller = None
_modules_seen = -1


def one_native_thread():
    """A context manager that limits every native thread pool of the process to one thread, restored after."""
    return _current_controller().limit(limits=1)


def _current_controller():
    global _controller, _modules_seen
    from threadpoolctl import ThreadpoolController

    with _lock:
        if _controller is None or len(sys.modules) != _modules_seen:
            _controller = ThreadpoolController()
            _modules_seen = len(sys.modules)
        return _controller
