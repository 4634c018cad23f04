"""Build the ``ai.onnx.ml`` opset-5 TreeEnsemble graph of a tree model over encoded base values.

Thresholds and leaf values stay float64 (the old TreeEnsembleRegressor is
float32 and inexact). onnxruntime is imported only when a session is made.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mldeploy._extras import require
from mldeploy.compiled.features import Feature
from mldeploy.compiled.fold import LEQ, fold_splits

if TYPE_CHECKING:  # scikit-learn is not imported to run a saved graph
    from mldeploy.compiled.trees import TreeModel

__all__ = ["ML_OPSET", "ONNX_OPSET", "concatenate_trees", "ensemble_layout", "ensemble_node", "fold_interior",
           "make_session", "tree_graph"]

ONNX_OPSET = 21
ML_OPSET = 5


def ensemble_layout(model: TreeModel, features: list[Feature], base_of: list[int],
                    nan_free: set[int] = frozenset(), folds: dict | None = None) -> dict[str, np.ndarray]:
    """Return TreeEnsemble attributes with splits folded onto base values ``base_of[feature]``.

    Splits on a base in ``nan_free`` never see NaN, so they drop the missing-value route: an
    ensemble without any is walked about twice as fast by onnxruntime. ``folds``: see :func:`fold_interior`.
    """
    nodes = concatenate_trees(model.trees)
    leaf = nodes["left"] < 0
    interior = np.flatnonzero(~leaf)
    feature_ids, modes, splits, tracks = fold_interior(model, features, base_of, nodes, interior, folds)
    tracks &= ~np.isin(feature_ids, sorted(nan_free))
    position = np.where(leaf, np.cumsum(leaf) - 1, np.cumsum(~leaf) - 1)
    true_child = nodes["offset"][interior] + nodes["left"][interior]
    false_child = nodes["offset"][interior] + nodes["right"][interior]
    layout = {
        "nodes_featureids": feature_ids, "nodes_modes": modes, "nodes_splits": splits,
        "nodes_missing_value_tracks_true": tracks.astype(np.int64),
        "nodes_truenodeids": position[true_child], "nodes_trueleafs": leaf[true_child].astype(np.int64),
        "nodes_falsenodeids": position[false_child], "nodes_falseleafs": leaf[false_child].astype(np.int64),
        "leaf_weights": nodes["value"][leaf], "leaf_targetids": nodes["target"][leaf],
    }
    return _add_roots(layout, nodes, leaf, position)


def concatenate_trees(trees: list) -> dict[str, np.ndarray]:
    """Return the trees' node arrays end to end, with each node's tree offset and each tree's root."""
    sizes = [len(tree.left) for tree in trees]
    offsets = np.repeat(np.cumsum([0] + sizes[:-1]), sizes)
    return {
        "feature": np.concatenate([tree.feature for tree in trees]),
        "threshold": np.concatenate([tree.threshold for tree in trees]),
        "missing_left": np.concatenate([tree.missing_left for tree in trees]),
        "left": np.concatenate([tree.left for tree in trees]),
        "right": np.concatenate([tree.right for tree in trees]),
        "value": np.concatenate([tree.value for tree in trees]).astype(np.float64),
        "target": np.concatenate([np.full(size, tree.target) for size, tree in zip(sizes, trees)]).astype(np.int64),
        "offset": offsets.astype(np.int64),
        "root": np.cumsum([0] + sizes[:-1]).astype(np.int64),
    }


def fold_interior(model: TreeModel, features: list[Feature], base_of: list[int], nodes: dict, interior: np.ndarray,
                  folds: dict | None = None):
    """Return (base ids, modes, splits, missing-goes-true) of the ``interior`` nodes, folded onto base values.

    ``folds`` (a dict, empty at first) keeps each feature's folded splits for the next call on the same
    splits: the walker and the ONNX graph of one model fold the very same splits.
    """
    feature = nodes["feature"][interior]
    feature_ids = np.zeros(len(interior), dtype=np.int64)
    modes = np.full(len(interior), LEQ, dtype=np.uint8)
    splits = np.zeros(len(interior), dtype=np.float64)
    tracks = np.zeros(len(interior), dtype=bool)
    for j in np.unique(feature):
        where = np.flatnonzero(feature == j)
        thresholds, missing_left = nodes["threshold"][interior][where], nodes["missing_left"][interior][where]
        key = (int(j), model.float32, thresholds.tobytes(), missing_left.tobytes())
        result = None if folds is None else folds.get(key)
        if result is None:
            chosen = features[j].with_op("f32") if model.float32 else features[j]
            result = fold_splits(chosen, thresholds, missing_left)
            if folds is not None:
                folds[key] = result
        modes[where], splits[where], tracks[where] = result
        feature_ids[where] = base_of[j]
    return feature_ids, modes, splits, tracks


def _add_roots(layout: dict, nodes: dict, leaf: np.ndarray, position: np.ndarray) -> dict:
    """Point each tree at its root; a tree that is a single leaf gets a node whose branches both reach it."""
    roots = nodes["root"]
    extra = [position[root] for root in roots if leaf[root]]
    n_interior = len(layout["nodes_featureids"])
    tree_roots = []
    count = 0
    for root in roots:
        if leaf[root]:
            tree_roots.append(n_interior + count)
            count += 1
        else:
            tree_roots.append(position[root])
    extra = np.asarray(extra, dtype=np.int64)
    ones = np.ones(len(extra), dtype=np.int64)
    appended = {
        "nodes_featureids": np.zeros(len(extra), dtype=np.int64), "nodes_modes": np.full(len(extra), LEQ, np.uint8),
        "nodes_splits": np.zeros(len(extra)), "nodes_missing_value_tracks_true": 0 * ones,
        "nodes_truenodeids": extra, "nodes_trueleafs": ones, "nodes_falsenodeids": extra, "nodes_falseleafs": ones,
    }
    for name, values in appended.items():
        layout[name] = np.concatenate([layout[name], values.astype(layout[name].dtype)])
    layout["tree_roots"] = np.asarray(tree_roots, dtype=np.int64)
    return layout


def ensemble_node(layout: dict, n_targets: int, inputs: list[str], outputs: list[str]):
    """Return the TreeEnsemble NodeProto for a layout (SUM of leaves, no post transform)."""
    onnx = require("onnx")
    tensors = {"nodes_splits", "nodes_modes", "leaf_weights"}
    attributes = {
        # ints as one tolist(): int() of each numpy scalar took a quarter of building the graph
        name: onnx.numpy_helper.from_array(np.asarray(values)) if name in tensors
        else np.asarray(values, dtype=np.int64).tolist()
        for name, values in layout.items()
    }
    return onnx.helper.make_node(
        "TreeEnsemble", inputs, outputs, domain="ai.onnx.ml",
        n_targets=n_targets, aggregate_function=1, post_transform=0, **attributes,
    )


def tree_graph(model: TreeModel, features: list[Feature], base_of: list[int], n_inputs: int,
               nan_free: set[int] = frozenset(), folds: dict | None = None) -> bytes:
    """Return a serialized model: float64 ``X`` [N, n_inputs] -> raw scores ``raw`` [N, n_targets].

    One single-target TreeEnsemble per target, joined by Concat: onnxruntime walks a
    single-target ensemble tree by tree over blocks of rows (cache-friendly), but a
    multi-target one row by row over every tree, several times slower for big forests.
    """
    onnx = require("onnx")
    helper = onnx.helper
    double = onnx.TensorProto.DOUBLE
    names = ["raw"] if model.n_targets == 1 else [f"raw_{k}" for k in range(model.n_targets)]
    nodes = []
    for k, name in enumerate(names):
        trees = [replace(tree, target=0) for tree in model.trees if tree.target == k]
        layout = ensemble_layout(replace(model, trees=trees, n_targets=1), features, base_of, nan_free, folds)
        nodes.append(ensemble_node(layout, 1, ["X"], [name]))
    if len(names) > 1:
        nodes.append(helper.make_node("Concat", names, ["raw"], axis=1))
    graph = helper.make_graph(
        nodes, "mldeploy_trees",
        [helper.make_tensor_value_info("X", double, [None, n_inputs])],
        [helper.make_tensor_value_info("raw", double, [None, model.n_targets])],
    )
    return serialize(graph)


def serialize(graph, doc_string: str = "", metadata: dict[str, str] | None = None) -> bytes:
    """Wrap a graph in a model with the opsets mldeploy targets, check it and serialize it."""
    onnx = require("onnx")
    opsets = [onnx.helper.make_opsetid("", ONNX_OPSET), onnx.helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="mldeploy", doc_string=doc_string)
    onnx.helper.set_model_props(model, dict(metadata or {}))
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def make_session(model_bytes: bytes):
    """Open an onnxruntime session with one thread, so trees are summed in order."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
