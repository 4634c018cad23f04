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
    shapes = _tree_shapes(nodes, trees[:, 0])
    if shapes is None:
        return None
    n_leaves, leaf_order, splits_of = shapes
    used = np.unique(nodes[:, 0]).astype(np.int64)
    per_base = [np.unique(splits[nodes[:, 0] == base]) for base in used]
    threshold_starts = np.concatenate([[0], np.cumsum([len(t) for t in per_base])]).astype(np.int64)
    # bins 0..len(thresholds) for numbers, one more for NaN
    mask_starts = np.concatenate([[0], np.cumsum([len(t) + 2 for t in per_base])]).astype(np.int64)
    widest = int(n_leaves.max())
    dtype = np.uint32 if widest <= 32 else np.uint64
    if mask_starts[-1] * len(trees) * np.dtype(dtype).itemsize > MAX_MASK_BYTES:
        return None
    masks = _masks(nodes, splits, splits_of, len(trees), used, per_base, mask_starts, dtype)
    leaf_starts = np.concatenate([[0], np.cumsum(n_leaves)[:-1]]).astype(np.int64)
    layout = BitvectorLayout(used, np.concatenate([np.empty(0), *per_base]).astype(np.float64), threshold_starts, masks, mask_starts,
                             leaf_starts, np.ascontiguousarray(values[leaf_order]),
                             np.ascontiguousarray(trees[:, 1], dtype=np.int64), n_targets)
    _check(layout, n_leaves.tolist(), n_bases)
    return layout


def _masks(nodes, splits, splits_of, n_trees, used, per_base, mask_starts, dtype) -> np.ndarray:
    """Return the mask table: per base bin and tree, the leaves the splits sending that bin right leave standing.

    All splits at once: each clears its left subtree's leaves in the rows of the bins above its
    threshold, and in its base's NaN row unless NaN goes left. AND is order-free, so one ufunc.at does it.
    """
    full = np.iinfo(dtype).max
    masks = np.full((mask_starts[-1], n_trees), full, dtype=dtype)
    tree, node, first, last = splits_of
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


def _tree_shapes(nodes: np.ndarray, roots: np.ndarray):
    """Return (leaves per tree, leaf ids tree by tree left to right, (tree, node, first, last) of every split).

    ``first..last`` numbers the leaves of a split's left subtree within its tree. None when a tree has
    more than MAX_LEAVES leaves. All trees at once, one depth level at a time: the walk arrays are
    checked (each node has one parent and comes after it), so each level is every node's children.
    """
    left, right = nodes[:, 1].astype(np.int64), nodes[:, 2].astype(np.int64)
    roots = np.asarray(roots, dtype=np.int64)
    levels = []  # (interior nodes, their trees) per depth
    frontier, tree = roots[roots >= 0], np.flatnonzero(roots >= 0)
    while frontier.size:
        if len(levels) >= MAX_LEAVES:  # a tree this deep has more leaves than a word holds
            return None
        levels.append((frontier, tree))
        children, trees = np.concatenate([left[frontier], right[frontier]]), np.concatenate([tree, tree])
        frontier, tree = children[children >= 0], trees[children >= 0]
    below = np.zeros(max(len(nodes), 1), dtype=np.int64)  # leaves under each interior node, deepest level first
    for frontier, _ in reversed(levels):
        below[frontier] = _leaves_under(left[frontier], below) + _leaves_under(right[frontier], below)
    n_leaves = np.where(roots >= 0, below[np.maximum(roots, 0)], 1)
    if n_leaves.max(initial=0) > MAX_LEAVES:
        return None
    first = np.zeros(len(nodes), dtype=np.int64)  # the node's first leaf, counted within its tree
    leaf_trees, leaf_places, leaf_ids = [np.flatnonzero(roots < 0)], [np.zeros(int((roots < 0).sum()), np.int64)], [
        -roots[roots < 0] - 1]
    for frontier, tree in levels:
        starts = first[frontier]
        for child, start in ((left[frontier], starts), (right[frontier], starts + _leaves_under(left[frontier], below))):
            first[child[child >= 0]] = start[child >= 0]
            leaf_trees.append(tree[child < 0])
            leaf_places.append(start[child < 0])
            leaf_ids.append(-child[child < 0] - 1)
    leaf_trees, leaf_places, leaf_ids = (np.concatenate(parts) for parts in (leaf_trees, leaf_places, leaf_ids))
    leaf_order = leaf_ids[np.lexsort((leaf_places, leaf_trees))]
    split_nodes = np.concatenate([frontier for frontier, _ in levels]) if levels else np.zeros(0, np.int64)
    split_trees = np.concatenate([tree for _, tree in levels]) if levels else np.zeros(0, np.int64)
    split_first = first[split_nodes]
    splits_of = (split_trees, split_nodes, split_first, split_first + _leaves_under(left[split_nodes], below))
    return n_leaves, leaf_order.astype(np.int64), splits_of


def _leaves_under(children: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Leaves under each child: one for a leaf, else its count in ``below``."""
    return np.where(children < 0, 1, below[np.maximum(children, 0)])


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
