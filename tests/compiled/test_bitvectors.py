"""The bit-vector kernel: the walker's bits on generated trees and on real pipelines, and the trees it declines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from _examples import examples
from _zoo import CLASSIFIERS, REGRESSORS, make_frame, make_pipeline
from mldeploy.compiled import compile_pipeline
from mldeploy.compiled.bitvectors import MAX_LEAVES, bitvector_layout
from mldeploy.compiled.walker import TreeWalker

_VALUES = np.array([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0])
"""Splits and row values come from one small set, so rows often sit exactly on a split."""


def _random_trees(seed: int, n_trees: int, n_bases: int, width: int, max_leaves: int) -> dict:
    """Walk arrays of random trees: random shapes, bases, splits and NaN directions."""
    rng = np.random.default_rng(seed)
    nodes, splits, values, roots = [], [], [], []

    def grow(leaves: int) -> int:
        if leaves == 1:
            values.append(rng.normal(size=width))
            return -len(values)
        me = len(nodes)
        nodes.append([int(rng.integers(n_bases)), 0, 0, int(rng.integers(2))])
        splits.append(float(rng.choice(_VALUES)))
        left = int(rng.integers(1, leaves))
        nodes[me][1] = grow(left)
        nodes[me][2] = grow(leaves - left)
        return me

    for _ in range(n_trees):
        roots.append(grow(int(rng.integers(1, max_leaves + 1))))
    return {"walk_nodes": np.array(nodes, np.int32).reshape(-1, 4), "walk_splits": np.array(splits, np.float64),
            "walk_values": np.array(values, np.float64), "walk_trees": np.array([[r, 0] for r in roots], np.int64)}


def _random_rows(seed: int, rows: int, n_bases: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bases = rng.choice(np.concatenate([_VALUES, _VALUES + 0.1, [np.nan, -np.inf, np.inf]]), size=(rows, n_bases))
    return np.ascontiguousarray(bases)


@pytest.mark.timeout(300)
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_trees=st.integers(1, 40), n_bases=st.integers(1, 6),
       width=st.sampled_from([1, 3]), max_leaves=st.sampled_from([2, 8, 32, 33, 64]))
def test_bit_vectors_reach_the_walkers_leaves_on_random_trees(seed, n_trees, n_bases, width, max_leaves) -> None:
    arrays = _random_trees(seed, n_trees, n_bases, width, max_leaves)
    bitvectors = TreeWalker(arrays, n_bases, width, kernel="bitvectors")
    walker = TreeWalker(arrays, n_bases, width, kernel="walk")
    rows = _random_rows(seed + 1, 300, n_bases)
    assert np.array_equal(bitvectors.scores(rows), walker.scores(rows))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("classes", [0, 2, 3])
@pytest.mark.parametrize("model", ["hgb", "gb"])
def test_boosted_pipelines_score_with_bit_vectors_to_the_bit(model, classes) -> None:
    frame, target = make_frame(800, seed=4, classes=classes)
    make = CLASSIFIERS[model] if classes else REGRESSORS[model]
    pipeline = make_pipeline(make(), classifier=bool(classes)).fit(frame, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        compiled = compile_pipeline(pipeline, frame).compiled
    assert compiled._walker.kernel == "bitvectors"
    rows, _ = make_frame(2_000, seed=5, classes=classes)
    rows.loc[::5, "color"] = "unseen"
    bases = compiled.encoder.encode_frame(rows)
    walker = TreeWalker(compiled.arrays, len(compiled.encoder.bases), int(compiled.spec["n_targets"]), kernel="walk")
    assert np.array_equal(compiled.scores(bases), walker.scores(bases))
    assert np.array_equal(compiled.predict_frame(rows), pipeline.predict(rows))
    if classes:
        assert np.array_equal(compiled.predict_proba_frame(rows), pipeline.predict_proba(rows))


@pytest.mark.timeout(120)
def test_missing_values_follow_each_splits_direction() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=3_000), "y": rng.normal(size=3_000)})
    frame.loc[rng.random(3_000) < 0.2, "x"] = np.nan
    frame.loc[rng.random(3_000) < 0.2, "y"] = np.nan
    # NaN means something else in each column, so some splits send it left and others right
    target = frame["x"].fillna(0.0) + np.where(frame["x"].isna(), 5.0, 0.0) - np.where(frame["y"].isna(), 5.0, 0.0)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(frame, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        compiled = compile_pipeline(model, frame.iloc[:500]).compiled
    assert compiled._walker.kernel == "bitvectors"
    assert set(np.unique(compiled.arrays["walk_nodes"][:, 3])) == {0, 1}
    assert np.array_equal(compiled.predict_frame(frame), model.predict(frame))


@pytest.mark.timeout(120)
def test_trees_past_one_word_of_leaves_are_walked() -> None:
    lone = _random_trees(3, n_trees=1, n_bases=2, width=1, max_leaves=1)
    assert bitvector_layout(lone, 2, 1) is not None  # a lone leaf is a one-bit tree
    exact, over = (_fixed_leaves(n) for n in (MAX_LEAVES, MAX_LEAVES + 1))
    assert bitvector_layout(exact, 1, 1) is not None
    assert bitvector_layout(over, 1, 1) is None
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(*_wide_data())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        compiled = compile_pipeline(forest, _wide_data()[0].iloc[:500]).compiled
    assert compiled._walker.kernel == "walk"
    n_bases, n_targets = len(compiled.encoder.bases), int(compiled.spec["n_targets"])
    assert bitvector_layout(compiled.arrays, n_bases, n_targets) is None
    with pytest.raises(ValueError, match=f"kernel 'bitvectors' needs trees of at most {MAX_LEAVES} leaves"):
        TreeWalker(compiled.arrays, n_bases, n_targets, kernel="bitvectors")
    with pytest.raises(ValueError, match="kernel: expected one of"):
        TreeWalker(compiled.arrays, n_bases, n_targets, kernel="quick")


def _fixed_leaves(n: int) -> dict:
    """One chain-shaped tree with ``n`` leaves: node i sends x <= i left to leaf i."""
    nodes = [[0, -(i + 1), i + 1 if i < n - 2 else -n, 0] for i in range(n - 1)]
    return {"walk_nodes": np.array(nodes, np.int32), "walk_splits": np.arange(n - 1, dtype=np.float64),
            "walk_values": np.arange(n, dtype=np.float64)[:, np.newaxis], "walk_trees": np.array([[0, 0]], np.int64)}


def _wide_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(size=(2_000, 3)), columns=["a", "b", "c"])
    return x, x["a"].to_numpy() + rng.normal(size=2_000)


@pytest.mark.timeout(120)
def test_salary_pipeline_scores_with_bit_vectors(salary_compiled, salary_pipeline, salary_holdout) -> None:
    compiled = salary_compiled.compiled
    assert compiled._walker.kernel == "bitvectors"
    assert np.array_equal(compiled.predict_frame(salary_holdout), salary_pipeline.predict(salary_holdout))


def _tree_shape(nodes: np.ndarray, root: int):
    """A tree's leaves left to right and each split's left-subtree leaf range, depth first: as the layout once found them."""
    leaves: list[int] = []
    left_leaves: dict[int, tuple[int, int]] = {}
    stack = [(root, False)]
    while stack:
        node, returning = stack.pop()
        if node < 0:
            leaves.append(-node - 1)
        elif returning:
            left_leaves[node] = (left_leaves[node][0], len(leaves))
            stack.append((int(nodes[node, 2]), False))
        else:
            left_leaves[node] = (len(leaves), -1)
            stack.append((node, True))
            stack.append((int(nodes[node, 1]), False))
    return leaves, left_leaves


@pytest.mark.parametrize("seed", range(20))
def test_tree_shapes_found_level_by_level_are_the_depth_first_ones(seed) -> None:
    from mldeploy.compiled.bitvectors import _tree_shapes

    rng = np.random.default_rng(seed)
    arrays = _random_trees(seed, int(rng.integers(1, 40)), int(rng.integers(1, 6)), 1, int(rng.choice([1, 2, 8, 33, 64])))
    nodes, roots = arrays["walk_nodes"], arrays["walk_trees"][:, 0]
    n_leaves, leaf_order, (tree, node, first, last) = _tree_shapes(nodes, roots)
    expected = [_tree_shape(nodes, int(root)) for root in roots]
    assert n_leaves.tolist() == [len(leaves) for leaves, _ in expected]
    assert leaf_order.tolist() == [leaf for leaves, _ in expected for leaf in leaves]
    found = {(int(t), int(n)): (int(f), int(la)) for t, n, f, la in zip(tree, node, first, last)}
    assert found == {(t, n): span for t, (_, spans) in enumerate(expected) for n, span in spans.items()}


def _masks_split_by_split(arrays: dict, layout) -> np.ndarray:
    """The mask table built one split at a time, as the layout once was: the reference for the vectorised build."""
    nodes, splits, trees = arrays["walk_nodes"], arrays["walk_splits"], arrays["walk_trees"]
    masks = np.full_like(layout.masks, np.iinfo(layout.masks.dtype).max)
    starts = layout.threshold_starts
    for t, root in enumerate(trees[:, 0]):
        for node, (first, last) in _tree_shape(nodes, int(root))[1].items():
            i = int(np.searchsorted(layout.used, nodes[node, 0]))
            thresholds = layout.thresholds[starts[i]:starts[i + 1]]
            k, count, start = int(np.searchsorted(thresholds, splits[node])), len(thresholds), layout.mask_starts[i]
            clear = masks.dtype.type(~(((1 << last) - 1) ^ ((1 << first) - 1)) & np.iinfo(masks.dtype).max)
            masks[start + k + 1:start + count + 1, t] &= clear
            if not nodes[node, 3] & 1:
                masks[start + count + 1, t] &= clear
    return masks


@pytest.mark.parametrize("seed", range(30))
def test_the_mask_table_is_the_one_built_split_by_split(seed) -> None:
    rng = np.random.default_rng(seed)
    arrays = _random_trees(seed, int(rng.integers(1, 40)), int(rng.integers(1, 6)), 1, int(rng.choice([2, 8, 32, 33, 64])))
    layout = bitvector_layout(arrays, 6, 1)
    assert layout is not None
    assert np.array_equal(layout.masks, _masks_split_by_split(arrays, layout))
