"""The record a tree walker steps through, shared by its numba and C kernels."""

from __future__ import annotations

import numpy as np

__all__ = ["NODE"]

NODE = np.dtype([("split", np.float64), ("right", np.int32), ("code", np.int32)])
"""One node in 16 bytes, trees stored depth first so an interior node's left child is the next node.

``code`` is ``feature * 2 + nan_left`` for an interior node and -1 for a leaf, whose ``right``
is its row in the leaf values. Four nodes share a cache line and a left turn usually stays in it.
"""
