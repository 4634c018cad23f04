"""The numba kernel behind :class:`~mldeploy.compiled.bitvectors.BitvectorScorer`; importing it imports numba."""

from __future__ import annotations

from mldeploy._extras import require

numba = require("numba")
from numba.cpython.unsafe.numbers import trailing_zeros  # noqa: E402  (numba's cttz intrinsic)

__all__ = ["score"]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def score(bases, used, thresholds, threshold_starts, mask_starts, masks, clears, full, leaf_starts, values, targets,
          out):  # pragma: no cover - compiled by numba
    """Add each tree's leaf values to ``out`` [rows, targets] for every row of ``bases``, in tree order.

    For each used base value the row's bin (how many of that base's sorted thresholds lie below
    the value; NaN has the last bin) picks one mask row, whose word per tree clears the leaves
    that the tree's splits on that base rule out. After every base, a tree's lowest set bit is
    the leaf the row reaches (QuickScorer), so no branch depends on the data but the bin search.
    A mask row that clears nothing (``clears`` 0: a value below every split, like most one-hot zeros) is skipped.
    """
    n_trees = masks.shape[1]
    width = values.shape[1]
    alive = full.copy()
    for row in range(bases.shape[0]):
        alive[:] = full
        for i in range(used.shape[0]):
            x = bases[row, used[i]]
            low = threshold_starts[i]
            high = threshold_starts[i + 1]
            if x != x:
                b = high - low + 1
            else:
                first = low
                while low < high:
                    middle = (low + high) >> 1
                    if thresholds[middle] < x:
                        low = middle + 1
                    else:
                        high = middle
                b = low - first
            if not clears[mask_starts[i] + b]:
                continue
            mask = masks[mask_starts[i] + b]
            for t in range(n_trees):
                alive[t] &= mask[t]
        for t in range(n_trees):
            leaf = leaf_starts[t] + trailing_zeros(alive[t])
            target = targets[t]
            for j in range(width):
                out[row, target + j] += values[leaf, j]
