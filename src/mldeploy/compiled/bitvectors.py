"""Score ensembles of small trees with bit vectors (QuickScorer): the fast path for boosted trees.

Each tree's leaves are numbered left to right, one bit each. A split that sends
a row right rules out the leaves of its left subtree; the leaf the row reaches
is the lowest bit no split ruled out. Splits on one base value are ordered by
threshold, so a row's bin on that base (how many thresholds lie below it) fixes
which of them send it right, and one precomputed mask row per bin clears
their leaves in every tree at once. The comparisons are the walker's
(``x <= split``, NaN by each split's flag), made on the same float64 values,
and leaf values are summed per row in tree order, so the scores are the
walker's to the bit. Built at load time from the walk arrays; nothing new is
saved in a bundle.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BitvectorLayout", "bitvector_layout"]

MAX_LEAVES = 64
"""Leaves per tree that one machine word can hold."""
MAX_MASK_BYTES = 8 * 1024 * 1024
"""Past this the mask table stops fitting in cache and walking the trees is as quick."""


class BitvectorLayout:
    """The arrays the bit-vector kernel reads, checked so that it never leaves them."""

    def __init__(self, used, thresholds, threshold_starts, masks, mask_starts, leaf_starts, values, targets, n_targets):
        self.used, self.thresholds, self.threshold_starts = used, thresholds, threshold_starts
        self.masks, self.mask_starts, self.leaf_starts = masks, mask_starts, leaf_starts
        self.values, self.targets = values, targets
        self.full = np.full(masks.shape[1], np.iinfo(masks.dtype).max, dtype=masks.dtype)
        self.clears = (masks != self.full).any(axis=1).astype(np.uint8)
        """1 for a mask row that clears a leaf somewhere, 0 for one the kernel may skip."""
        self.n_targets = n_targets

    def arguments(self) -> tuple:
        """The kernel's arguments before ``out``, after ``bases``."""
        return (self.used, self.thresholds, self.threshold_starts, self.mask_starts, self.masks, self.clears, self.full,
                self.leaf_starts, self.values, self.targets)


def bitvector_layout(arrays: dict, n_bases: int, n_targets: int) -> BitvectorLayout | None:
    """Build the bit-vector layout from checked walk arrays, or return None when trees are too big for it."""
    nodes, splits, values, trees = (arrays[name] for name in ("walk_nodes", "walk_splits", "walk_values", "walk_trees"))
    shapes = [_tree_shape(nodes, int(root)) for root in trees[:, 0]]
    if not shapes or any(shape is None for shape in shapes):
        return None
    used = np.unique(nodes[:, 0]).astype(np.int64)
    per_base = [np.unique(splits[nodes[:, 0] == base]) for base in used]
    threshold_starts = np.concatenate([[0], np.cumsum([len(t) for t in per_base])]).astype(np.int64)
    # bins 0..len(thresholds) for numbers, one more for NaN
    mask_starts = np.concatenate([[0], np.cumsum([len(t) + 2 for t in per_base])]).astype(np.int64)
    widest = max(len(leaves) for leaves, _ in shapes)
    dtype = np.uint32 if widest <= 32 else np.uint64
    if mask_starts[-1] * len(trees) * np.dtype(dtype).itemsize > MAX_MASK_BYTES:
        return None
    masks = _masks(nodes, splits, shapes, used, per_base, mask_starts, dtype)
    leaf_order = [leaf for leaves, _ in shapes for leaf in leaves]
    leaf_starts = np.concatenate([[0], np.cumsum([len(leaves) for leaves, _ in shapes])[:-1]]).astype(np.int64)
    layout = BitvectorLayout(used, np.concatenate([np.empty(0), *per_base]).astype(np.float64), threshold_starts, masks, mask_starts,
                             leaf_starts, np.ascontiguousarray(values[np.array(leaf_order, dtype=np.int64)]),
                             np.ascontiguousarray(trees[:, 1], dtype=np.int64), n_targets)
    _check(layout, [len(leaves) for leaves, _ in shapes], n_bases)
    return layout


def _masks(nodes, splits, shapes, used, per_base, mask_starts, dtype) -> np.ndarray:
    """Return the mask table: per base bin and tree, the leaves the splits sending that bin right leave standing.

    All splits at once: each clears its left subtree's leaves in the rows of the bins above its
    threshold, and in its base's NaN row unless NaN goes left. AND is order-free, so one ufunc.at does it.
    """
    full = np.iinfo(dtype).max
    masks = np.full((mask_starts[-1], len(shapes)), full, dtype=dtype)
    split_of = np.array([(t, node, first, last) for t, (_, left_leaves) in enumerate(shapes)
                         for node, (first, last) in left_leaves.items()], dtype=np.int64).reshape(-1, 4)
    tree, node, first, last = split_of.T
    slot = np.searchsorted(used, nodes[node, 0])
    count = np.array([len(t) for t in per_base], dtype=np.int64)[slot]
    k = np.empty(len(node), dtype=np.int64)  # the split's place among its base's thresholds
    for i, thresholds in enumerate(per_base):
        here = slot == i
        k[here] = np.searchsorted(thresholds, splits[node[here]])
    clear = (full ^ (_low_bits(last) ^ _low_bits(first))).astype(dtype)  # all but the left subtree's leaves
    start = mask_starts[slot]
    above = count - k                                                  # bins above the split go right
    rows = np.repeat(start + k + 1 - np.cumsum(above) + above, above) + np.arange(above.sum())
    nan_right = (nodes[node, 3] & 1) == 0                              # NaN goes right unless flagged left
    rows = np.concatenate([rows, (start + count + 1)[nan_right]])
    columns = np.concatenate([np.repeat(tree, above), tree[nan_right]])
    np.bitwise_and.at(masks, (rows, columns), np.concatenate([np.repeat(clear, above), clear[nan_right]]))
    return masks


def _low_bits(n: np.ndarray) -> np.ndarray:
    """``(1 << n) - 1`` as uint64 for n in 0..64 (a shift by 64 is undefined in numpy)."""
    n = n.astype(np.uint64)
    shifted = (np.uint64(1) << np.minimum(n, np.uint64(63))) - np.uint64(1)
    return np.where(n >= 64, np.uint64(np.iinfo(np.uint64).max), shifted)


def _tree_shape(nodes: np.ndarray, root: int) -> tuple[list[int], dict[int, tuple[int, int]]] | None:
    """Return a tree's leaves left to right and each split's left-subtree leaf range; None past MAX_LEAVES."""
    leaves: list[int] = []
    left_leaves: dict[int, tuple[int, int]] = {}
    stack = [(root, False)]
    while stack:
        node, returning = stack.pop()
        if node < 0:
            leaves.append(-node - 1)
            if len(leaves) > MAX_LEAVES:
                return None
        elif returning:   # the left subtree is done: its leaves end here
            left_leaves[node] = (left_leaves[node][0], len(leaves))
            stack.append((int(nodes[node, 2]), False))
        else:
            left_leaves[node] = (len(leaves), -1)
            stack.append((node, True))
            stack.append((int(nodes[node, 1]), False))
    return leaves, left_leaves


def _check(layout: BitvectorLayout, n_leaves: list[int], n_bases: int) -> None:
    """Raise ValueError unless every index the kernel can form stays inside its array."""
    if not ((layout.used >= 0) & (layout.used < n_bases)).all():
        raise ValueError("bit vectors: a split on a missing base value")
    # a tree's last leaf is in no left subtree, so its bit survives every mask and the lowest set bit is a leaf
    last = np.array([1 << (n - 1) for n in n_leaves], dtype=layout.masks.dtype)
    if not (layout.masks & last == last).all():
        raise ValueError("bit vectors: a mask clears a tree's last leaf")
    targets, width = layout.targets, layout.values.shape[1]
    if not ((targets >= 0) & (targets + width <= layout.n_targets)).all():
        raise ValueError("bit vectors: a tree target out of range")
