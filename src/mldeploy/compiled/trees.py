"""Read fitted tree ensembles into plain arrays whose sum reproduces scikit-learn's arithmetic.

Every tree becomes node arrays plus one leaf value per node for one target.
The model's starting value (HGB's baseline, GradientBoosting's init) is added
into the first tree's leaves, so summing trees in order from zero performs
exactly the additions scikit-learn performs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
    HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

from mldeploy.compiled.features import Unsupported

__all__ = ["Tree", "TreeModel", "extract_trees", "is_tree_model"]


@dataclass
class Tree:
    """One tree for one target: children are -1 at leaves; ``value`` is read at leaves only."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    target: int


@dataclass
class TreeModel:
    """Trees whose in-order sum per target is the model's raw score, and how to finish it."""

    trees: list
    n_targets: int
    post: str
    """sum | mean | hgb_binary | gb_binary | softmax | proba_mean"""
    n_estimators: int
    float32: bool
    """scikit-learn compares float32-cast features (DecisionTree-based models)."""
    classes: np.ndarray | None = None


def is_tree_model(model) -> bool:
    """Tell whether ``model`` is one of the tree models this module reads."""
    return type(model) in _READERS


def extract_trees(model) -> TreeModel:
    """Read a fitted tree model; raise Unsupported for options it cannot reproduce."""
    return _READERS[type(model)](model)


def _hgb(model) -> TreeModel:
    link = type(model._loss.link).__name__
    if link not in ("IdentityLink", "LogitLink", "MultinomialLogit"):
        raise Unsupported(f"{type(model).__name__} with loss {model.loss!r} ({link})")
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    trees = []
    for i, iteration in enumerate(model._predictors):
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if (nodes["is_categorical"].astype(bool) & ~nodes["is_leaf"].astype(bool)).any():
                raise Unsupported("HistGradientBoosting with categorical splits")
            value = nodes["value"].astype(np.float64)
            value = baseline[k] + value if i == 0 else value
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(Tree(
                nodes["feature_idx"].astype(np.int64), nodes["num_threshold"].astype(np.float64),
                nodes["missing_go_to_left"].astype(bool),
                np.where(leaf, -1, nodes["left"].astype(np.int64)), np.where(leaf, -1, nodes["right"].astype(np.int64)),
                value, k,
            ))
    k = model.n_trees_per_iteration_
    classes = getattr(model, "classes_", None)
    post = "sum" if classes is None else ("hgb_binary" if k == 1 else "softmax")
    return TreeModel(trees, k, post, len(model._predictors), False, classes)


def _sklearn_tree(tree, value: np.ndarray, target: int) -> Tree:
    missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=bool))
    return Tree(
        tree.feature.astype(np.int64), tree.threshold.astype(np.float64), np.asarray(missing, dtype=bool),
        tree.children_left.astype(np.int64), tree.children_right.astype(np.int64), value, target,
    )


def _forest(model) -> TreeModel:
    estimators = getattr(model, "estimators_", [model])
    if model.n_outputs_ != 1:
        raise Unsupported(f"{type(model).__name__} with several outputs")
    classes = getattr(model, "classes_", None)
    trees = []
    for estimator in estimators:
        tree = estimator.tree_
        if classes is None:
            trees.append(_sklearn_tree(tree, tree.value[:, 0, 0].astype(np.float64), 0))
            continue
        # Since scikit-learn 1.4 a classifier's node values are the class fractions predict_proba returns as they are.
        proba = tree.value[:, 0, : len(classes)].astype(np.float64)
        trees.extend(_sklearn_tree(tree, proba[:, k].copy(), k) for k in range(len(classes)))
    post = "mean" if classes is None else "proba_mean"
    n_targets = 1 if classes is None else len(classes)
    return TreeModel(trees, n_targets, post, len(estimators), True, classes)


def _gradient_boosting(model) -> TreeModel:
    if not (model.init_ == "zero" or type(model.init_) in (DummyRegressor, DummyClassifier)):
        raise Unsupported(f"GradientBoosting with a custom init estimator {type(model.init_).__name__}")
    if getattr(model, "loss", None) == "exponential":
        raise Unsupported("GradientBoostingClassifier(loss='exponential')")
    start = model._raw_predict_init(np.zeros((1, model.n_features_in_), dtype=np.float32))[0]
    trees = []
    for stage, row in enumerate(model.estimators_):
        for k, estimator in enumerate(row):
            value = model.learning_rate * estimator.tree_.value[:, 0, 0].astype(np.float64)
            value = start[k] + value if stage == 0 else value
            trees.append(_sklearn_tree(estimator.tree_, value, k))
    classes = getattr(model, "classes_", None)
    k = model.estimators_.shape[1]
    post = "sum" if classes is None else ("gb_binary" if k == 1 else "softmax")
    return TreeModel(trees, k, post, len(model.estimators_), True, classes)


_READERS = {
    HistGradientBoostingRegressor: _hgb,
    HistGradientBoostingClassifier: _hgb,
    RandomForestRegressor: _forest,
    RandomForestClassifier: _forest,
    ExtraTreesRegressor: _forest,
    ExtraTreesClassifier: _forest,
    DecisionTreeRegressor: _forest,
    DecisionTreeClassifier: _forest,
    ExtraTreeRegressor: _forest,
    ExtraTreeClassifier: _forest,
    GradientBoostingRegressor: _gradient_boosting,
    GradientBoostingClassifier: _gradient_boosting,
}
