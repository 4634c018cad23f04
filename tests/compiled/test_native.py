"""The C tree kernels: built once per machine into a private cache, reused, and off where no compiler works."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mldeploy.compiled import native
from mldeploy.compiled.walker import TreeWalker

pytestmark = pytest.mark.timeout(180)

_LAYOUT = {"walk_nodes": np.array([[0, -1, -2, 1]], np.int32), "walk_splits": np.array([0.5]),
           "walk_values": np.array([[1.0], [2.0], [4.0]]), "walk_trees": np.array([[0, 0], [-3, 0]], np.int64)}
"""A stump on base 0 (leaves 0 and 1, NaN left) and a lone leaf (leaf 2)."""


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """native_kernels() as in a new process, with its cache under tmp_path."""
    monkeypatch.setenv("MLDEPLOY_NATIVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLDEPLOY_NATIVE", raising=False)
    native.native_kernels.cache_clear()
    yield tmp_path / "cache"
    native.native_kernels.cache_clear()


def test_the_first_use_builds_a_private_library_and_later_ones_reuse_it(fresh) -> None:
    kernels = native.native_kernels()
    assert kernels is not None and kernels.path.parent == fresh and kernels.path.exists()
    assert not kernels.path.stat().st_mode & 0o022  # loaded as code: no one else may change it
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    built = kernels.path.stat().st_mtime_ns
    code = "from mldeploy.compiled.native import native_kernels; print(native_kernels().path)"
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "MLDEPLOY_NATIVE_CACHE": str(fresh)})
    assert again.stdout.strip() == str(kernels.path) and kernels.path.stat().st_mtime_ns == built
    assert [p.name for p in fresh.iterdir()] == [kernels.path.name]  # no half-built file left behind
    walker = TreeWalker(_LAYOUT, n_bases=1, n_targets=1, kernel="walk", backend="native")
    assert walker.scores(np.array([[0.0], [1.0], [np.nan]])).ravel().tolist() == [5.0, 6.0, 5.0]


def test_a_library_others_could_change_is_built_again_not_loaded(fresh) -> None:
    path = native.native_kernels().path
    swapped = path.with_name("swapped")  # as if someone else had put their own file there
    swapped.write_bytes(b"not a library")
    swapped.chmod(0o666)
    swapped.replace(path)  # a new file: this process's mapping of the old one stays whole
    native.native_kernels.cache_clear()
    kernels = native.native_kernels()
    assert kernels is not None and kernels.path == path and not path.stat().st_mode & 0o022
    assert path.read_bytes()[:4] == b"\x7fELF"


def test_a_cache_folder_others_can_write_to_is_not_used(fresh, caplog) -> None:
    fresh.mkdir(mode=0o700)
    fresh.chmod(0o777)  # another user could swap a library in between the check and the load
    assert native.native_kernels() is None
    assert "can be changed by other users" in caplog.text and not list(fresh.iterdir())


@pytest.mark.parametrize(("compiler", "message"), [("/nonexistent/cc", "no C compiler found"),
                                                    ("false", "could not be built or loaded")])
def test_without_a_working_compiler_numba_walks(fresh, monkeypatch, caplog, compiler, message) -> None:
    monkeypatch.setenv("CC", compiler)
    with caplog.at_level(logging.INFO, logger="mldeploy.compiled.native"):
        assert native.native_kernels() is None
    assert message in caplog.text
    assert not list(fresh.glob("*.so"))
    assert TreeWalker(_LAYOUT, n_bases=1, n_targets=1).backend == "numba"
    with pytest.raises(ValueError, match="need a working C compiler"):
        TreeWalker(_LAYOUT, n_bases=1, n_targets=1, backend="native")


def test_a_32_bit_machine_walks_with_numba(fresh, monkeypatch) -> None:
    monkeypatch.setattr(native.platform, "machine", lambda: "i686")  # x87 could add in 80 bits there
    assert native.native_kernels() is None
    assert not fresh.exists()


def test_mldeploy_native_0_turns_the_c_kernels_off(fresh, monkeypatch) -> None:
    monkeypatch.setenv("MLDEPLOY_NATIVE", "0")
    assert native.native_kernels() is None
    assert not fresh.exists()
    with pytest.raises(ValueError, match="backend: expected one of"):
        TreeWalker(_LAYOUT, n_bases=1, n_targets=1, backend="c")


def test_each_compiler_and_source_gets_its_own_build(fresh, monkeypatch) -> None:
    first = native.library_path()
    monkeypatch.setattr(native, "FLAGS", (*native.FLAGS, "-g"))
    assert native.library_path() != first and native.library_path().parent == first.parent


def test_c_and_numba_agree_to_the_bit_on_random_forests_with_nan(walk_vectors) -> None:
    from sklearn.ensemble import RandomForestRegressor

    from mldeploy.compiled import compile_pipeline

    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"a": rng.normal(size=4_000), "b": rng.normal(size=4_000), "c": rng.integers(0, 5, 4_000) * 1.0})
    target = frame["a"] * 3 + np.sin(frame["b"]) + frame["c"]
    model = RandomForestRegressor(n_estimators=20, min_samples_leaf=2, random_state=0).fit(frame, target)
    compiled = compile_pipeline(model, frame.iloc[:500]).compiled
    assert compiled.engine == "native" and compiled._walker.kernel == "walk"
    rows = frame.copy()
    rows.loc[rng.random(len(rows)) < 0.1, "a"] = np.nan  # a forest sends NaN one way, each backend the same way
    bases = compiled.encoder.encode_frame(rows)
    arrays, n_bases = compiled.arrays, len(compiled.encoder.bases)
    c = TreeWalker(arrays, n_bases, 1, kernel="walk", backend="native").scores(bases)
    numba = TreeWalker(arrays, n_bases, 1, kernel="walk", backend="numba").scores(bases)
    assert np.array_equal(c.view(np.int64), numba.view(np.int64))
    assert np.array_equal(compiled.predict_frame(frame), model.predict(frame))


def test_the_walk_uses_avx512_vectors_where_the_processor_has_them() -> None:
    kernels = native.native_kernels()
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo to read the processor's features from")
    with open("/proc/cpuinfo", encoding="utf-8") as info:  # x86 lists "flags"; other processors none of these
        flags = next((set(line.split(":", 1)[1].split()) for line in info if line.startswith("flags")), set())
    expected = 48 if {"avx512f", "avx512dq", "bmi2"} <= flags else 0
    assert kernels.vector_lanes == expected


def test_the_quicker_walk_is_chosen_at_load_and_both_give_the_same_scores() -> None:
    kernels = native.native_kernels()
    chosen = kernels.vectors
    assert not chosen or kernels.vector_lanes  # the load timed both walks where there are two
    layout = {"walk_nodes": np.array([[0, 1, -2, 0], [1, -1, -3, 1]], np.int32), "walk_splits": np.array([0.5, 0.0]),
              "walk_values": np.array([[1.0], [2.0], [4.0]]), "walk_trees": np.array([[0, 0]], np.int64)}
    rows = np.random.default_rng(5).normal(size=(1_000, 2))
    rows[::11, 1] = np.nan
    try:
        assert kernels.use_vectors(True) == (kernels.vector_lanes > 0)
        vectors = TreeWalker(layout, 2, 1, kernel="walk", backend="native").scores(rows)
        assert kernels.use_vectors(False) is False
        scalar = TreeWalker(layout, 2, 1, kernel="walk", backend="native").scores(rows)
    finally:
        kernels.use_vectors(chosen)
    assert np.array_equal(vectors, scalar)
    assert set(np.unique(scalar)) == {1.0, 2.0, 4.0}


def test_vectors_route_nan_and_reach_a_tree_that_is_one_leaf(walk_vectors) -> None:
    x = np.tile([0.0, 1.0, np.nan, 0.5, 0.75], 41)[:, np.newaxis]  # 205 rows: vectors where the processor has them
    for block_rows in (64, 100, 205):
        walker = TreeWalker(_LAYOUT, 1, 1, kernel="walk", backend="native", block_rows=block_rows)
        assert walker.scores(x).ravel().tolist() == np.tile([5.0, 6.0, 5.0, 5.0, 6.0], 41).tolist()


def _random_layout(rng, n_trees: int, n_bases: int, width: int, n_targets: int, depth: int) -> dict:
    """Walk arrays of random trees: uneven depths, NaN sent either way, zero and infinite splits, roots that are leaves."""
    nodes, splits, values, trees = [], [], [], []

    def grow(levels: int) -> int:
        if levels == 0 or rng.random() < 0.2:
            values.append(rng.standard_normal(width))
            return -len(values)
        at = len(nodes)
        nodes.append(None)
        splits.append(float(rng.choice([rng.standard_normal(), 0.0, -0.0, np.inf, -np.inf])))
        left = grow(levels - 1)
        nodes[at] = [int(rng.integers(n_bases)), left, grow(levels - 1), int(rng.random() < 0.5)]
        return at

    for _ in range(n_trees):
        trees.append([grow(depth), int(rng.integers(n_targets - width + 1))])
    return {"walk_nodes": np.array(nodes, np.int32).reshape(-1, 4), "walk_splits": np.array(splits, np.float64),
            "walk_values": np.array(values, np.float64).reshape(-1, width), "walk_trees": np.array(trees, np.int64)}


def test_vectors_and_scalar_lanes_agree_to_the_bit_on_random_trees() -> None:
    kernels = native.native_kernels()
    chosen = kernels.vectors
    rng = np.random.default_rng(17)
    try:
        for _ in range(40):
            n_bases, width = int(rng.integers(1, 6)), int(rng.integers(1, 4))
            n_targets = width + int(rng.integers(0, 3))
            layout = _random_layout(rng, int(rng.integers(1, 8)), n_bases, width, n_targets, int(rng.integers(0, 9)))
            rows = int(rng.choice([64, 65, 100, 300, 2_047]))
            x = rng.standard_normal((rows, n_bases))
            for value, share in ((np.nan, 0.2), (0.0, 0.05), (-0.0, 0.05)):
                x[rng.random(x.shape) < share] = value
            for block_rows in (64, 77, 1_000, None):
                scores = []
                for on in (False, True):
                    kernels.use_vectors(on)
                    walker = TreeWalker(layout, n_bases, n_targets, kernel="walk", backend="native", block_rows=block_rows)
                    scores.append(walker.scores(x))
                assert np.array_equal(scores[0].view(np.int64), scores[1].view(np.int64)), (rows, block_rows)
    finally:
        kernels.use_vectors(chosen)
