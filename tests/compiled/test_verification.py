"""verify and edge_rows: differences are found and reported, refusals are compared."""

from __future__ import annotations

import numpy as np
import pytest

from mldeploy.compiled import CompiledPipeline, edge_rows, verify


@pytest.mark.timeout(60)
def test_edge_rows_cover_nulls_unseen_categories_and_extremes(salary_data) -> None:
    rows = edge_rows(salary_data[0].iloc[:100])
    assert rows["education"].isna().sum() == 2  # None and NaN
    assert (rows["city"] == "\u2400unseen category").sum() == 1
    assert rows["company_size"].isna().sum() == 1
    assert rows["company_size"].min() == -1e12 and rows["company_size"].max() == 1e12
    assert set(rows["remote"]) == {True, False}


@pytest.mark.timeout(120)
def test_verify_reports_inf_rows_refused_by_both(salary_compiled, salary_pipeline, salary_data) -> None:
    with np.errstate(all="ignore"):
        report = verify(salary_compiled.compiled, salary_pipeline, salary_data[0].iloc[:200])
    assert report.ok, report.summary()
    assert report.refused_rows > 0 and report.skipped_rows == 0
    assert report.summary().startswith(f"{report.rows} rows, {report.rows} bit-identical, max relative error 0")


@pytest.mark.timeout(120)
def test_verify_catches_a_tampered_leaf(tmp_path, salary_compiled, salary_pipeline, salary_data) -> None:
    import onnx

    salary_compiled.compiled.save(tmp_path)
    path = tmp_path / "compiled" / "model.onnx"
    model = onnx.load_from_string(path.read_bytes())
    weights = next(a for a in model.graph.node[0].attribute if a.name == "leaf_weights")
    values = onnx.numpy_helper.to_array(weights.t).copy()
    values[:] += 0.01  # a cent off on every leaf
    weights.t.CopyFrom(onnx.numpy_helper.from_array(values))
    path.write_bytes(model.SerializeToString())
    with np.errstate(all="ignore"):
        report = verify(CompiledPipeline.load(tmp_path, engine="onnxruntime"), salary_pipeline,
                        salary_data[0].iloc[:200])
    assert not report.ok
    assert report.failures[0].startswith("sample: 200 rows differ beyond 1e-09 (first: row 0)")


@pytest.mark.timeout(120)
def test_verify_catches_a_tampered_walker_leaf(tmp_path, salary_compiled, salary_pipeline, salary_data) -> None:
    salary_compiled.compiled.save(tmp_path)
    path = tmp_path / "compiled" / "arrays.npz"
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["walk_values"] = arrays["walk_values"] + 0.01  # a cent off on every leaf
    np.savez(path, allow_pickle=False, **arrays)
    for engine in ("native", "numba"):
        loaded = CompiledPipeline.load(tmp_path, engine=engine)
        with np.errstate(all="ignore"):
            report = verify(loaded, salary_pipeline, salary_data[0].iloc[:200])
        assert not report.ok
        assert report.failures[0].startswith("sample: 200 rows differ beyond 1e-09 (first: row 0)")


@pytest.mark.timeout(120)
def test_every_tree_engine_is_proven_at_compile_time(salary_compiled) -> None:
    assert salary_compiled.compiled.engine == "native"
    assert salary_compiled.report.engines == ["native", "numba", "onnxruntime"]
    assert "(native, numba, onnxruntime)" in salary_compiled.report.summary()


@pytest.mark.timeout(120)
def test_a_tree_graph_that_differs_from_the_walker_is_not_recorded_as_proven(salary_compiled, salary_data) -> None:
    import onnx

    from mldeploy.compiled import VerifyReport, check_engines

    compiled = salary_compiled.compiled
    model = onnx.load_from_string(compiled.model_bytes)
    weights = next(a for a in model.graph.node[0].attribute if a.name == "leaf_weights")
    weights.t.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weights.t) + 1e-6))
    tampered = CompiledPipeline(compiled.encoder, compiled.spec, compiled.arrays, model.SerializeToString(), "native")
    report = VerifyReport(engines=["native"])
    check_engines(tampered, salary_data[0].iloc[:200], report)
    assert report.ok and report.engines == ["native", "numba"]  # a walker may serve; the graph is verified before it would


@pytest.mark.timeout(120)
def test_verify_compares_with_the_predictions_it_is_given(salary_compiled, salary_pipeline, salary_data) -> None:
    rows = salary_data[0].iloc[:200]
    predicted = salary_pipeline.predict(rows)
    with np.errstate(all="ignore"):
        assert verify(salary_compiled.compiled, salary_pipeline, rows, predicted=predicted).ok
        shifted = verify(salary_compiled.compiled, salary_pipeline, rows, predicted=predicted + 1.0)
    assert not shifted.ok and "sample: 200 rows differ" in shifted.summary()
    with pytest.raises(ValueError, match="one prediction per row of frame"):
        verify(salary_compiled.compiled, salary_pipeline, rows, predicted=predicted[:-1])


def test_the_records_compared_are_what_to_dict_gives_value_for_value_and_type_for_type() -> None:
    import pandas as pd

    from mldeploy.compiled.verification import _records

    frame = pd.DataFrame({
        "x": [1.5, np.nan, -0.0], "n": [1, 2, 3], "b": [True, False, True], "t": ["a", None, np.nan],
        "d": pd.to_datetime(["2026-01-01", "2026-06-01", None]),
    })
    nullable = frame.assign(c=pd.Categorical(["u", None, "u"]), i=pd.array([1, None, 3], dtype="Int64"))
    numpy_scalars = frame.assign(o=pd.Series([np.int64(3), np.float64(0.5), np.bool_(True)], dtype=object))
    for case in (frame, nullable, numpy_scalars):
        ours, theirs = _records(case), case.to_dict("records")
        assert [list(row) for row in ours] == [list(row) for row in theirs]
        for mine, expected in zip(ours, theirs):
            for name, value in expected.items():
                assert type(mine[name]) is type(value), name
                assert mine[name] is value or mine[name] == value or (value != value and mine[name] != mine[name]), name
