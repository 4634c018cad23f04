"""The numba kernel behind :class:`~mldeploy.compiled.walker.TreeWalker`; importing it imports numba."""

from __future__ import annotations

import numpy as np

from mldeploy._extras import require
from mldeploy.compiled.node_records import NODE

numba = require("numba")

__all__ = ["LANES", "NODE", "preorder", "walk"]

LANES = 12
"""Rows walked side by side through one tree (measured best of 4-32 on a random forest)."""


@numba.njit(cache=True, nogil=True)
def preorder(flat, splits, roots, nodes):  # pragma: no cover - compiled by numba
    """Lay the checked trees (``flat`` [interior, 4], roots) out depth first in ``nodes``.

    Return the new roots and the number of records used. ``nodes`` has room for one record per
    interior node and leaf; every id is reached at most once (the caller checks), so it never overflows.
    """
    out_roots = np.empty(roots.shape[0], np.int64)
    stack = np.empty(nodes.shape[0] + 1, np.int64)       # ids still to lay out
    parents = np.empty(nodes.shape[0] + 1, np.int64)     # where to write each one's position (-1: a root)
    position = 0
    for t in range(roots.shape[0]):
        top = 0
        stack[0] = roots[t]
        parents[0] = -1
        out_roots[t] = position
        while top >= 0:
            node = stack[top]
            parent = parents[top]
            top -= 1
            if parent >= 0:
                nodes[parent].right = position
            record = nodes[position]
            if node < 0:
                record.split = 0.0
                record.right = -node - 1
                record.code = -1
            else:
                record.split = splits[node]
                record.right = -1
                record.code = flat[node, 0] * 2 + (1 if flat[node, 3] & 1 else 0)
                top += 1                     # the right child waits; the left one is laid out next
                stack[top] = flat[node, 2]
                parents[top] = position
                top += 1
                stack[top] = flat[node, 1]
                parents[top] = -1
            position += 1
    return out_roots, position


@numba.njit(cache=True, nogil=True, boundscheck=False)
def walk(bases, nodes, values, trees, out, block_rows, nan_routes):  # pragma: no cover - compiled by numba
    """Add each tree's leaf values to ``out`` [rows, targets] for every row of ``bases``, in tree order.

    Rows go through one tree ``block_rows`` at a time before the next tree: each row still
    adds its trees in order, and the tree being walked stays in cache. Within a tree, ``LANES``
    rows walk side by side, each taking one step in turn, and a step picks the next node
    without a branch: no step waits on a guessed turn (a walk's turns are coin flips to the
    branch predictor) and the lanes' loads overlap. A lane whose row reaches its leaf adds the
    leaf's values and takes the next row; the rows in lanes when none are left finish one by one.
    ``nan_routes`` False (no split sends NaN left) spares each step the NaN test.

    The lanes' steps (:func:`_walk_lanes`) index with unsigned numbers (the layout is checked, so
    none is negative), so numba adds no test for a negative index to each load, and are a function
    of their own, called once a tree and block, whose loop keeps more of its values in registers:
    a random forest's kernel 330k -> 420k-440k rows/s. The rows left when the lanes empty walk alone
    with a branch, which beats a select there (one row: 3.3 µs against 9).
    """
    width = values.shape[1]
    flat = bases.reshape(-1)
    stride = bases.shape[1]
    words = nodes.view(np.int32)     # four a node: split (two), right, code
    splits = nodes.view(np.float64)  # two a node: split, then right and code
    lane_row = np.empty(LANES, np.int64)
    lane_node = np.empty(LANES, np.int64)
    for begin in range(0, bases.shape[0], block_rows):
        end = min(begin + block_rows, bases.shape[0])
        lanes = min(LANES, end - begin)
        for t in range(trees.shape[0]):
            root = trees[t, 0]
            target = trees[t, 1]
            for g in range(lanes):
                lane_row[g] = begin + g
                lane_node[g] = root
            next_row = begin + lanes
            if next_row < end:  # every lane has a row, and more wait
                _walk_lanes(flat, stride, words, splits, values, out, root, target, next_row, end,
                            lane_row, lane_node, nan_routes)
            for g in range(lanes):
                node, row = lane_node[g], lane_row[g]
                if node < 0:
                    continue
                code = nodes[node].code
                while code >= 0:
                    x = bases[row, code >> 1]
                    if x <= nodes[node].split or ((code & 1) != 0 and x != x):
                        node += 1
                    else:
                        node = nodes[node].right
                    code = nodes[node].code
                leaf = nodes[node].right
                for j in range(width):
                    out[row, target + j] += values[leaf, j]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _walk_lanes(flat, stride, words, splits, values, out, root, target, next_row, end,
                lane_row, lane_node, nan_routes):  # pragma: no cover - compiled by numba
    """Step every lane until no row is left to start; each lane's row is then mid-walk or done (node -1)."""
    filling = True
    while filling:
        for g in range(LANES):
            node = lane_node[np.uint64(g)]
            code = np.int64(words[np.uint64(4 * node + 3)])
            if code < 0:
                leaf, row = np.int64(words[np.uint64(4 * node + 2)]), lane_row[np.uint64(g)]
                for j in range(values.shape[1]):
                    out[np.uint64(row), np.uint64(target + j)] += values[np.uint64(leaf), np.uint64(j)]
                if next_row < end:
                    lane_row[np.uint64(g)] = next_row
                    lane_node[np.uint64(g)] = root
                    next_row += 1
                else:
                    filling = False
                    lane_node[np.uint64(g)] = -1
                continue
            right = np.int64(words[np.uint64(4 * node + 2)])
            x = flat[np.uint64(lane_row[np.uint64(g)] * stride + (code >> 1))]
            if nan_routes:  # the same for every step: hoisted out of the loop by the compiler
                left = np.int64((x <= splits[np.uint64(2 * node)]) | (((code & 1) != 0) & (x != x)))
            else:
                left = np.int64(x <= splits[np.uint64(2 * node)])
            lane_node[np.uint64(g)] = node + 1 if left else right  # compiled as a select (cmov), not a branch
