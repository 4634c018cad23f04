"""The tree walker, in C and in numba: the same bits as the ONNX graph and scikit-learn, a checked layout, loaded lazily."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.tree import DecisionTreeRegressor

from _zoo import CLASSIFIERS, REGRESSORS, make_frame, make_pipeline
from mldeploy.compiled import CompiledPipeline, compile_pipeline
from mldeploy.compiled.walker import WALK_ARRAYS, check_layout

TREES = ("hgb", "forest", "extra", "tree", "gb")


def _both_engines(pipeline, sample: pd.DataFrame) -> tuple[CompiledPipeline, CompiledPipeline]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = compile_pipeline(pipeline, sample)
    compiled = result.compiled
    assert compiled is not None, result.plan
    onnx = CompiledPipeline(compiled.encoder, compiled.spec, compiled.arrays, compiled.model_bytes, "onnxruntime")
    return compiled, onnx


def _assert_same_bits(walker: CompiledPipeline, onnx: CompiledPipeline, pipeline, rows: pd.DataFrame) -> None:
    assert (walker.engine, onnx.engine) == ("native", "onnxruntime")
    numba = CompiledPipeline(walker.encoder, walker.spec, walker.arrays, walker.model_bytes, "numba")
    bases = walker.encoder.encode_frame(rows)
    assert np.array_equal(walker.scores(bases), onnx.scores(bases))
    assert np.array_equal(walker.scores(bases).view(np.int64), numba.scores(bases).view(np.int64))  # -0.0 too
    assert np.array_equal(walker.predict_frame(rows), pipeline.predict(rows))
    assert np.array_equal(walker.predict_records(rows.to_dict("records")), pipeline.predict(rows))
    if walker.is_classifier:
        assert np.array_equal(walker.predict_proba_frame(rows), onnx.predict_proba_frame(rows))
        assert np.array_equal(walker.predict_proba_frame(rows), pipeline.predict_proba(rows))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("text", ["onehot", "ordinal"])
@pytest.mark.parametrize("classes", [0, 2, 3])
@pytest.mark.parametrize("model", TREES)
def test_walker_and_graph_agree_to_the_bit(model, classes, text) -> None:
    frame, target = make_frame(800, seed=1, classes=classes)
    make = CLASSIFIERS[model] if classes else REGRESSORS[model]
    pipeline = make_pipeline(make(), text=text, classifier=bool(classes)).fit(frame, target)
    walker, onnx = _both_engines(pipeline, frame)
    rows, _ = make_frame(2_000, seed=2, classes=classes)
    rows.loc[::7, "color"] = "unseen"  # one-hot splits on an unknown category: every indicator is 0
    _assert_same_bits(walker, onnx, pipeline, rows)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("model", [HistGradientBoostingRegressor(max_iter=20, random_state=0),
                                   HistGradientBoostingClassifier(max_iter=20, random_state=0),
                                   DecisionTreeRegressor(max_depth=8, random_state=0)])
def test_missing_values_take_the_tree_route_both_ways(model) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=3_000), "y": rng.normal(size=3_000)})
    target = np.where(frame["x"].isna(), 0.0, frame["x"]) + frame["y"] ** 2
    frame.loc[rng.random(3_000) < 0.2, "x"] = np.nan
    frame.loc[rng.random(3_000) < 0.2, "y"] = np.nan
    # NaN tells its own story in each column, so trees send it left in some splits and right in others
    target = target + np.where(frame["x"].isna(), 5.0, 0.0) - np.where(frame["y"].isna(), 5.0, 0.0)
    labels = target > np.median(target)
    model.fit(frame, labels if isinstance(model, HistGradientBoostingClassifier) else target)
    walker, onnx = _both_engines(model, frame.iloc[:500])
    assert set(np.unique(walker.arrays["walk_nodes"][:, 3])) == {0, 1}
    _assert_same_bits(walker, onnx, model, frame)


@pytest.mark.timeout(120)
def test_a_forest_walks_each_estimator_once_for_all_classes() -> None:
    frame, target = make_frame(600, seed=1, classes=3)
    pipeline = make_pipeline(CLASSIFIERS["forest"](), classifier=True).fit(frame, target)
    walker, _ = _both_engines(pipeline, frame)
    assert len(walker.arrays["walk_trees"]) == 8
    assert walker.arrays["walk_values"].shape[1] == 3


@pytest.mark.timeout(120)
def test_salary_pipeline_walks_in_c_and_survives_save_and_load(tmp_path, salary_compiled, salary_pipeline,
                                                                salary_holdout) -> None:
    salary_compiled.compiled.save(tmp_path)
    loaded = CompiledPipeline.load(tmp_path)
    assert loaded.engine == "native"
    for engine in ("numba", "onnxruntime"):
        assert CompiledPipeline.load(tmp_path, engine=engine).engine == engine
        assert CompiledPipeline.load(tmp_path, proven=(engine,)).engine == ("numba" if engine == "numba" else "native")
    assert np.array_equal(loaded.predict_frame(salary_holdout), salary_pipeline.predict(salary_holdout))
    walked_by_numba = CompiledPipeline.load(tmp_path, engine="numba")
    assert np.array_equal(walked_by_numba.predict_frame(salary_holdout), salary_pipeline.predict(salary_holdout))


@pytest.mark.timeout(120)
def test_a_pipeline_without_walk_arrays_runs_the_graph(salary_compiled, salary_holdout) -> None:
    compiled = salary_compiled.compiled
    arrays = {name: values for name, values in compiled.arrays.items() if name not in WALK_ARRAYS}
    old = CompiledPipeline(compiled.encoder, compiled.spec, arrays, compiled.model_bytes)
    assert old.engine == "onnxruntime"
    assert np.array_equal(old.predict_frame(salary_holdout), compiled.predict_frame(salary_holdout))
    for engine in ("native", "numba"):
        with pytest.raises(ValueError, match=f"engine '{engine}' needs the walk arrays"):
            CompiledPipeline(compiled.encoder, compiled.spec, arrays, compiled.model_bytes, engine)
    with pytest.raises(ValueError, match="engine: expected one of"):
        CompiledPipeline(compiled.encoder, compiled.spec, arrays, compiled.model_bytes, "treelite")


def _layout() -> dict:
    """Two trees: a stump on base 0 (leaves 0 and 1) and a lone leaf (leaf 2)."""
    return {"walk_nodes": np.array([[0, -1, -2, 1]], np.int32), "walk_splits": np.array([0.5]),
            "walk_values": np.array([[1.0], [2.0], [4.0]]), "walk_trees": np.array([[0, 0], [-3, 0]], np.int64)}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "value", "message"), [
    ("walk_nodes", np.array([[0, 0, -2, 1]], np.int32), "not after its parent"),
    ("walk_nodes", np.array([[0, -1, -9, 1]], np.int32), "a child outside the tree"),
    ("walk_nodes", np.array([[3, -1, -2, 1]], np.int32), "a split on a missing base value"),
    ("walk_trees", np.array([[0, 1]], np.int64), "a tree root or target out of range"),
    ("walk_trees", np.array([[1, 0]], np.int64), "a tree root or target out of range"),
    ("walk_splits", np.array([0.5], np.float32), "unexpected types or shapes"),
    ("walk_trees", np.array([[0, 0], [-1, 0]], np.int64), "a node or leaf with two parents"),
])
def test_layout_that_would_leave_its_arrays_is_refused(name, value, message) -> None:
    check_layout(_layout(), n_bases=1, n_targets=1)
    with pytest.raises(ValueError, match=message):
        check_layout({**_layout(), name: value}, n_bases=1, n_targets=1)


@pytest.mark.timeout(60)
def test_kernel_routes_nan_by_the_flag_and_adds_lone_leaves() -> None:
    from mldeploy.compiled.walker import TreeWalker

    right = {**_layout(), "walk_nodes": np.array([[0, -1, -2, 0]], np.int32)}
    for kernel in ("walk", "bitvectors"):
        for backend in ("native", "numba"):
            walker = TreeWalker(_layout(), n_bases=1, n_targets=1, kernel=kernel, backend=backend)
            assert walker.backend == backend
            assert walker.scores(np.array([[0.0], [1.0], [np.nan]])).ravel().tolist() == [5.0, 6.0, 5.0]
            assert TreeWalker(right, 1, 1, kernel=kernel, backend=backend).scores(
                np.array([[np.nan]])).ravel().tolist() == [6.0]


@pytest.mark.timeout(60)
def test_another_backend_scores_the_same_layout() -> None:
    from mldeploy.compiled.walker import TreeWalker

    rows = np.array([[0.0], [1.0], [np.nan]])
    for kernel in ("walk", "bitvectors"):
        walker = TreeWalker(_layout(), n_bases=1, n_targets=1, kernel=kernel, backend="native")
        other = walker.with_backend("numba")
        assert (other.backend, other.kernel, walker.backend) == ("numba", kernel, "native")
        shared = "_nodes" if kernel == "walk" else "_bitvectors"
        assert getattr(other, shared) is getattr(walker, shared)  # laid out once
        assert other.scores(rows).tolist() == walker.scores(rows).tolist() == [[5.0], [6.0], [5.0]]
        assert other.with_backend("native").scores(rows).tolist() == [[5.0], [6.0], [5.0]]
    with pytest.raises(ValueError, match="backend: expected 'native' or 'numba'"):
        walker.with_backend("onnxruntime")


@pytest.mark.timeout(60)
def test_trees_are_laid_out_depth_first_in_16_byte_records() -> None:
    from mldeploy.compiled.walker import TreeWalker

    # node 0 splits base 0: left is node 1 (stored after leaf-only node 2), right is leaf 0
    layout = {"walk_nodes": np.array([[0, 1, -1, 0], [1, -2, -3, 1], [1, -4, -5, 0]], np.int32),
              "walk_splits": np.array([0.5, 1.5, 9.0]), "walk_values": np.array([[1.0], [2.0], [4.0], [8.0], [16.0]]),
              "walk_trees": np.array([[0, 0]], np.int64)}
    for backend in ("native", "numba"):  # each lays the trees out with its own code
        walker = TreeWalker(layout, n_bases=2, n_targets=1, kernel="walk", backend=backend)
        assert walker._nodes.itemsize == 16
        assert len(walker._nodes) == 5  # node 2 hangs from no tree, so it is left out
        assert walker._nodes["code"].tolist() == [0, 3, -1, -1, -1]  # feature * 2 + NaN-left; -1 a leaf
        assert walker._nodes["right"].tolist() == [4, 3, 1, 2, 0]
        rows = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, np.nan], [1.0, 0.0], [np.nan, 0.0]])
        assert walker.scores(rows).ravel().tolist() == [2.0, 4.0, 2.0, 1.0, 1.0]


@pytest.mark.timeout(300)
def test_rows_walked_side_by_side_score_as_each_row_alone(walk_vectors) -> None:
    from mldeploy.compiled._walk_kernel import LANES
    from mldeploy.compiled.walker import TreeWalker

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=3_000), "y": rng.normal(size=3_000)})
    target = frame["x"] + frame["y"] ** 2
    frame.loc[rng.random(3_000) < 0.2, "x"] = np.nan  # NaN reaches the trees, which send it left in some splits
    frame.loc[rng.random(3_000) < 0.2, "y"] = np.nan
    target = target + np.where(frame["x"].isna(), 5.0, 0.0) - np.where(frame["y"].isna(), 5.0, 0.0)
    labels = np.digitize(target, np.quantile(target, [0.33, 0.66]))
    model = HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=40, random_state=0).fit(frame, labels)
    compiled, _ = _both_engines(model, frame.iloc[:500])
    n_bases = len(compiled.encoder.bases)
    bases = compiled.encoder.encode_frame(frame)
    assert compiled._walker.kernel == "bitvectors"  # the other kernel, which reaches each leaf its own way
    expected = compiled.scores(bases)
    for backend in ("native", "numba"):
        walker = TreeWalker(compiled.arrays, n_bases, int(compiled.spec["n_targets"]), kernel="walk", backend=backend)
        assert set(np.unique(compiled.arrays["walk_nodes"][:, 3])) == {0, 1} and walker.n_targets == 3
        alone = np.concatenate([walker.scores(bases[row:row + 1]) for row in range(len(bases))])
        assert np.array_equal(alone, expected)
        # fewer rows than lanes, exactly as many, one more, either side of where the C walk turns to
        # AVX-512 vectors (64 rows), and a batch past the small ensemble's block of rows
        for rows in (1, LANES - 1, LANES, LANES + 1, 2 * LANES + 5, 63, 64, 65, 1_024 + 7, len(bases)):
            assert np.array_equal(walker.scores(bases[:rows]), alone[:rows]), (backend, rows)
        # blocks too small for the lanes, exactly full lanes, one row past them in every block, blocks
        # just big enough for the vectors, and a big ensemble's blocks with the last one part-full
        for block_rows in (1, 5, LANES, LANES + 1, 64, 65, 999):
            blocks = TreeWalker(compiled.arrays, n_bases, 3, kernel="walk", backend=backend, block_rows=block_rows)
            assert np.array_equal(blocks.scores(bases), alone), (backend, block_rows)
        # without a split that sends NaN left the steps skip the NaN test: the same scores where no value is NaN
        nodes = compiled.arrays["walk_nodes"].copy()
        nodes[:, 3] = 0
        plain = TreeWalker({**compiled.arrays, "walk_nodes": nodes}, n_bases, 3, kernel="walk", backend=backend)
        assert (walker._nan_routes, plain._nan_routes) == (True, False)
        whole = ~np.isnan(bases).any(axis=1)
        assert 1_000 < whole.sum() < len(bases)
        assert np.array_equal(plain.scores(bases[whole]), alone[whole])
    with pytest.raises(ValueError, match="block_rows: expected at least 1"):
        TreeWalker(compiled.arrays, n_bases, 3, kernel="walk", block_rows=0)


@pytest.mark.timeout(120)
def test_numba_is_loaded_only_where_the_c_walker_cannot_run(tmp_path, salary_compiled) -> None:
    code = "import sys, mldeploy, mldeploy.compiled; print('numba' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    salary_compiled.compiled.save(tmp_path)
    load = (f"import sys\nfrom mldeploy.compiled import CompiledPipeline\n"
            f"print(CompiledPipeline.load({str(tmp_path)!r}).engine, 'numba' in sys.modules)")
    walked = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True)
    assert walked.stdout.strip() == "native False"
    off = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True,
                         env={**os.environ, "MLDEPLOY_NATIVE": "0"})
    assert off.stdout.strip() == "numba True"


@pytest.mark.timeout(300)
def test_without_a_walker_the_graph_serves(tmp_path, salary_compiled, salary_holdout) -> None:
    salary_compiled.compiled.save(tmp_path)
    expected = salary_compiled.compiled.predict_frame(salary_holdout.iloc[:200])
    np.save(tmp_path / "expected.npy", expected)
    salary_holdout.iloc[:200].to_pickle(tmp_path / "rows.pkl")
    # A None entry in sys.modules makes `import numba` fail as if it were not installed.
    code = (f"import sys; sys.modules['numba'] = None\n"
            f"import numpy as np, pandas as pd\nfrom mldeploy.compiled import CompiledPipeline\n"
            f"c = CompiledPipeline.load({str(tmp_path)!r})\n"
            f"same = np.array_equal(c.predict_frame(pd.read_pickle({str(tmp_path / 'rows.pkl')!r})), "
            f"np.load({str(tmp_path / 'expected.npy')!r}))\nprint(c.engine, same)")
    for native, engine in (("1", "native"), ("0", "onnxruntime")):  # without numba, C walks; without both, the graph
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "MLDEPLOY_NATIVE": native}).stdout.strip()
        assert out == f"{engine} True"
