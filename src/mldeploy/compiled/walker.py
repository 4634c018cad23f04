"""Walk tree ensembles with a compiled kernel: the fast path for tree models, exact like the ONNX graph.

The layout is data saved in ``arrays.npz`` (no pickle), built from the same
folded splits as the ONNX graph. Trees that share one structure and cover
every target in turn (a forest's per-class trees) are merged, so each leaf
holds all targets and a row walks each estimator once. Each target is summed
from zero in tree order, as onnxruntime and scikit-learn do, so the scores are
bit-identical to the graph's. The kernel is C built on this machine (native.py) or,
where no C compiler works, numba, imported only then.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mldeploy._extras import require
from mldeploy.compiled.bitvectors import MAX_LEAVES, bitvector_layout
from mldeploy.compiled.features import Feature
from mldeploy.compiled.fold import LEQ
from mldeploy.compiled.graph import concatenate_trees, fold_interior
from mldeploy.compiled.node_records import NODE

if TYPE_CHECKING:  # scikit-learn is not imported to walk a saved layout
    from mldeploy.compiled.trees import TreeModel

__all__ = ["BACKENDS", "KERNELS", "WALK_ARRAYS", "TreeWalker", "check_layout", "native_backend", "walker_layout"]

WALK_ARRAYS = ("walk_nodes", "walk_splits", "walk_values", "walk_trees")
"""The layout's names in ``arrays.npz``."""
_MISSING_LEFT = 1
_CACHED_BYTES = 256 * 1024
"""Ensembles up to this size (nodes and leaves) count as small: they fit in a core's L2 cache."""
_SMALL_BLOCK_ROWS = 1024
_BIG_BLOCK_BYTES = 512 * 1024
"""Base values a big ensemble walks tree by tree, so they stay in a core's L2 cache across its trees:
2,184 rows of 30 values. A random forest of 100 trees at 65,536 rows, C kernel: 403k rows/s in such
blocks, 359k in blocks of 4 MB (the size before, which no longer fits in the 2 MB of L2 per core
here), and 230k walking all rows through each tree."""


def walker_layout(model: TreeModel, features: list[Feature], base_of: list[int],
                  nan_free: set[int] = frozenset(), folds: dict | None = None) -> dict[str, np.ndarray] | None:
    """Return the walk arrays of a tree model, or None when a split is not ``<=`` (the graph then serves).

    ``walk_nodes`` [interior, 4] int32: base id, left, right, flags (1: NaN goes left); a child
    below zero is leaf ``-child - 1``. ``walk_splits`` [interior] float64. ``walk_values``
    [leaves, width] float64. ``walk_trees`` [trees, 2] int64: root (a leaf if below zero), first target.
    ``folds`` shares folded splits with the graph's build (see :func:`~mldeploy.compiled.graph.fold_interior`).
    """
    trees = _merge(model.trees, model.n_targets)
    nodes = concatenate_trees(trees)
    leaf = nodes["left"] < 0
    interior = np.flatnonzero(~leaf)
    feature_ids, modes, splits, tracks = fold_interior(model, features, base_of, nodes, interior, folds)
    if (modes != LEQ).any():
        return None
    tracks &= ~np.isin(feature_ids, sorted(nan_free))
    # interior nodes count up from 0, leaves down from -1, both in node order
    ids = np.where(leaf, -np.cumsum(leaf), np.cumsum(~leaf) - 1)
    left = ids[nodes["offset"][interior] + nodes["left"][interior]]
    right = ids[nodes["offset"][interior] + nodes["right"][interior]]
    values = nodes["value"][leaf]
    return {
        "walk_nodes": np.stack([feature_ids, left, right, tracks * _MISSING_LEFT], axis=1).astype(np.int32),
        "walk_splits": splits.astype(np.float64),
        "walk_values": np.ascontiguousarray(values.reshape(len(values), -1), dtype=np.float64),
        "walk_trees": np.stack([ids[nodes["root"]], [tree.target for tree in trees]], axis=1).astype(np.int64),
    }


def _merge(trees: list, n_targets: int) -> list:
    """Merge each run of same-structure trees over targets 0..n-1 into one tree with [nodes, n] values.

    Merging is all or nothing, so every leaf has the same width; the runs keep their
    order, so each target still sums its trees in the model's order.
    """
    if n_targets == 1 or len(trees) % n_targets:
        return trees
    merged = []
    for start in range(0, len(trees), n_targets):
        run = trees[start:start + n_targets]
        first = run[0]
        if [tree.target for tree in run] != list(range(n_targets)) or not all(_same_structure(first, t) for t in run):
            return trees
        merged.append(replace(first, value=np.stack([tree.value for tree in run], axis=1), target=0))
    return merged


def _same_structure(a, b) -> bool:
    return all(np.array_equal(getattr(a, name), getattr(b, name))
               for name in ("feature", "threshold", "missing_left", "left", "right"))


def check_layout(arrays: dict, n_bases: int, n_targets: int) -> None:
    """Raise ValueError unless the walk arrays stay in bounds and every walk ends (the kernel checks nothing)."""
    nodes, splits, values, trees = (arrays[name] for name in WALK_ARRAYS)
    shapes_ok = (nodes.dtype == np.int32 and nodes.ndim == 2 and nodes.shape[1] == 4 and splits.dtype == np.float64
                 and splits.shape == (len(nodes),) and values.dtype == np.float64 and values.ndim == 2
                 and trees.dtype == np.int64 and trees.ndim == 2 and trees.shape[1] == 2)
    if not shapes_ok:
        raise ValueError("walk arrays have unexpected types or shapes")
    n_nodes, (n_leaves, width) = len(nodes), values.shape
    children = nodes[:, 1:3].astype(np.int64)
    own = np.arange(n_nodes)[:, np.newaxis]
    if not (((children > own) & (children < n_nodes)) | ((children < 0) & (children >= -n_leaves))).all():
        raise ValueError("walk arrays: a child outside the tree or not after its parent")
    if len(nodes) and not ((nodes[:, 0] >= 0) & (nodes[:, 0] < n_bases)).all():
        raise ValueError("walk arrays: a split on a missing base value")
    roots, targets = trees[:, 0], trees[:, 1]
    if not (((roots >= -n_leaves) & (roots < n_nodes)).all() and ((targets >= 0) & (targets + width <= n_targets)).all()):
        raise ValueError("walk arrays: a tree root or target out of range")
    # each node and leaf hangs from one parent or root at most, so laying the trees out depth first
    # (TreeWalker does) copies nothing and fits in one record per node and leaf
    ids = np.concatenate([children.ravel(), roots]) + n_leaves
    if len(ids) and np.bincount(ids, minlength=n_leaves + n_nodes).max() > 1:
        raise ValueError("walk arrays: a node or leaf with two parents")


def _check_compact(nodes: np.ndarray, roots: np.ndarray, n_bases: int, n_leaves: int) -> None:
    """Check the depth-first records as the kernel walks them: every step goes forward and stays in bounds."""
    n = len(nodes)
    code, right = nodes["code"].astype(np.int64), nodes["right"].astype(np.int64)
    interior = code >= 0
    own = np.arange(n)
    ok = (interior & (own + 1 < n) & (right > own + 1) & (right < n) & (code >> 1 < n_bases)) | (
        (code == -1) & (right >= 0) & (right < n_leaves))
    if not (ok.all() and ((roots >= 0) & (roots < n)).all()):
        raise ValueError("walk arrays: the depth-first layout leaves its arrays")


KERNELS = ("auto", "bitvectors", "walk")
"""How TreeWalker scores: bit vectors when every tree is small enough (see bitvectors.py), else walking."""
BACKENDS = ("auto", "native", "numba")
"""What runs the kernel: C built on this machine (see native.py) or numba; "auto" is C where it builds."""


class TreeWalker:
    """Score rows of base values with a compiled kernel, trees in order; the GIL is released while it runs."""

    def __init__(self, arrays: dict, n_bases: int, n_targets: int, kernel: str = "auto", backend: str = "auto",
                 block_rows: int | None = None) -> None:
        """``block_rows`` overrides how many rows go through the trees together when walking (tests use it)."""
        if kernel not in KERNELS:
            raise ValueError(f"kernel: expected one of {list(KERNELS)}, got {kernel!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
        check_layout(arrays, n_bases, n_targets)
        if max(n_bases, n_targets) >= 2**30:  # the kernels count them in C int
            raise ValueError("walk arrays: too many base values or targets for the tree kernels")
        native = native_backend(required=backend == "native") if backend != "numba" else None
        self.backend = "native" if native is not None else "numba"
        """The backend in use: "native" or "numba"."""
        self._bitvectors = bitvector_layout(arrays, n_bases, n_targets) if kernel != "walk" else None
        if kernel == "bitvectors" and self._bitvectors is None:
            raise ValueError(f"kernel 'bitvectors' needs trees of at most {MAX_LEAVES} leaves and a small mask table")
        self.kernel = "bitvectors" if self._bitvectors is not None else "walk"
        """The kernel in use: "bitvectors" or "walk"."""
        if self._bitvectors is None:
            self._lay_out_walk(arrays, n_bases, native, block_rows)
        self.n_bases = n_bases
        self.n_targets = n_targets
        self._start(native)

    def with_backend(self, backend: str) -> TreeWalker:
        """This walker's layout scored by another backend ("native" or "numba"), sharing its arrays.

        Verification proves each backend on the same rows; laying the trees out again took
        7 ms of each bundle's creation. Raises ValueError (no C kernels) or MissingExtraError
        (no numba) where ``backend`` cannot run.
        """
        if backend not in ("native", "numba"):
            raise ValueError(f"backend: expected 'native' or 'numba', got {backend!r}")
        if backend == "numba":
            require("numba")  # MissingExtraError, as for a walker made with numba
        other = copy.copy(self)
        other.backend = backend
        other._start(native_backend(required=True) if backend == "native" else None)
        return other

    def _start(self, native) -> None:
        """Make the scorer of this layout for ``native`` (None: numba), and run it once."""
        if self._bitvectors is None:
            layout = (self._nodes, self._values, self._trees, self._block_rows, self._nan_routes)
            if native is not None:
                self._score = native.walker(*layout)
            else:
                from mldeploy.compiled import _walk_kernel  # imports numba; only the kernel in use is loaded

                walk, (nodes, values, trees, block_rows, nan_routes) = _walk_kernel.walk, layout
                self._score = lambda bases, out: walk(bases, nodes, values, trees, out, block_rows, nan_routes)
        elif native is not None:
            self._score = native.bitvector_scorer(self._bitvectors)
        else:
            from mldeploy.compiled import _bitvector_kernel  # imports numba; only the kernel in use is loaded

            score, arguments = _bitvector_kernel.score, self._bitvectors.arguments()
            self._score = lambda bases, out: score(bases, *arguments, out)
        self.scores(np.zeros((1, self.n_bases)))  # compile, or load numba's cache, now rather than on a request

    def _lay_out_walk(self, arrays: dict, n_bases: int, native, block_rows: int | None) -> None:
        """Lay each tree out depth first in 16-byte records, leaves included, and choose the block of rows."""
        if block_rows is not None and block_rows < 1:
            raise ValueError(f"block_rows: expected at least 1, got {block_rows}")
        if native is None:
            from mldeploy.compiled import _walk_kernel  # imports numba

            preorder = _walk_kernel.preorder
        else:
            preorder = native.preorder
        flat = np.ascontiguousarray(arrays["walk_nodes"])
        values = np.ascontiguousarray(arrays["walk_values"])
        trees = np.array(arrays["walk_trees"], dtype=np.int64, order="C")
        nodes = np.zeros(len(flat) + len(values), dtype=NODE)  # the left child is the next record
        roots, used = preorder(flat, np.ascontiguousarray(arrays["walk_splits"]), trees[:, 0].copy(), nodes)
        nodes, trees[:, 0] = (nodes[:used].copy() if used < len(nodes) else nodes), roots  # unreached nodes left out
        _check_compact(nodes, trees[:, 0], n_bases, len(values))
        self._nodes, self._values, self._trees = nodes, values, trees
        self._nan_routes = bool((nodes["code"][nodes["code"] >= 0] & 1).any())
        """Whether a split sends NaN left: without one, each step skips the NaN test (a forest's steps: 15% fewer)."""
        # Small ensembles stay in cache while a block of rows goes through them all; a big one is
        # walked tree by tree over a bigger block, so one tree and the block's rows stay in cache.
        big_block_rows = max(_SMALL_BLOCK_ROWS, _BIG_BLOCK_BYTES // (8 * max(1, n_bases)))
        if block_rows is None:
            block_rows = _SMALL_BLOCK_ROWS if nodes.nbytes + values.nbytes <= _CACHED_BYTES else big_block_rows
        self._block_rows = block_rows

    def scores(self, bases: np.ndarray) -> np.ndarray:
        """Return raw scores [rows, n_targets] for base values [rows, n_bases] (float64)."""
        bases = np.ascontiguousarray(bases, dtype=np.float64)
        if bases.ndim != 2 or bases.shape[1] != self.n_bases:
            raise ValueError(f"expected base values of shape (rows, {self.n_bases}), got {bases.shape}")
        out = np.zeros((len(bases), self.n_targets))
        self._score(bases, out)
        return out


def native_backend(required: bool):
    """This machine's C kernels, or None for numba; ``required`` raises ValueError instead of returning None."""
    from mldeploy.compiled.native import native_kernels

    kernels = native_kernels()
    if kernels is None and required:
        raise ValueError("the native tree kernels need a working C compiler (set CC to one) and MLDEPLOY_NATIVE unset or 1")
    return kernels
