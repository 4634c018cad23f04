"""One lock around the loaders that parse Python literals: numpy's ``.npy`` header reader, which skops uses too.

numpy reads each array's header with ``ast.literal_eval``. CPython 3.11 keeps the AST
builder's recursion counter in the interpreter, shared by every thread, so two threads
parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). An API server with a canary loads two versions at once, and a
load that fails this way refuses a good version for good. Loads are rare and short, so
one process-wide lock costs nothing a user would see.
"""

from __future__ import annotations

import threading

PARSING_LITERALS = threading.RLock()  # re-entrant: a skops load inside a caller that already holds it must not deadlock
