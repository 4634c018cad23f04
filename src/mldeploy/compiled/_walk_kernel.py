"""The numba kernel behind :class:`~mldeploy.compiled.walker.TreeWalker`; importing it imports numba."""

from __future__ import annotations

import numpy as np

from mldeploy._extras import require

numba = require("numba")

__all__ = ["NODE", "walk"]

NODE = np.dtype([("split", np.float64), ("feature", np.int32), ("nan_left", np.int32),
                 ("left", np.int32), ("right", np.int32)], align=True)
"""One interior node in 24 bytes, so a step of the walk touches one cache line."""


@numba.njit(cache=True, nogil=True, boundscheck=False)
def walk(bases, nodes, values, trees, out, block_rows):  # pragma: no cover - compiled by numba
    """Add each tree's leaf values to ``out`` [rows, targets] for every row of ``bases``, in tree order.

    Rows go through one tree ``block_rows`` at a time before the next tree: each row still
    adds its trees in order, and the tree being walked stays in cache.
    """
    width = values.shape[1]
    n_rows = bases.shape[0]
    for begin in range(0, n_rows, block_rows):
        end = min(begin + block_rows, n_rows)
        for t in range(trees.shape[0]):
            root = trees[t, 0]
            target = trees[t, 1]
            for row in range(begin, end):
                node = root
                while node >= 0:
                    split = nodes[node]
                    x = bases[row, split.feature]
                    if x <= split.split or (split.nan_left != 0 and x != x):
                        node = split.left
                    else:
                        node = split.right
                leaf = -node - 1
                for j in range(width):
                    out[row, target + j] += values[leaf, j]
