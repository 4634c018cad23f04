"""CompiledPipeline: save and load as data, refuse tampered files, refuse what scikit-learn refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mldeploy.compiled import CompiledPipeline
from mldeploy.errors import SchemaError


@pytest.mark.timeout(120)
def test_save_and_load_round_trip(tmp_path, salary_compiled, salary_pipeline, salary_holdout) -> None:
    names = salary_compiled.compiled.save(tmp_path)
    assert sorted(names) == ["compiled/arrays.npz", "compiled/encoder.json", "compiled/model.onnx"]
    loaded = CompiledPipeline.load(tmp_path)
    assert np.array_equal(loaded.predict_frame(salary_holdout), salary_pipeline.predict(salary_holdout))


@pytest.mark.timeout(120)
def test_load_refuses_an_unknown_format(tmp_path, salary_compiled) -> None:
    salary_compiled.compiled.save(tmp_path)
    spec_path = tmp_path / "compiled" / "encoder.json"
    spec = json.loads(spec_path.read_text())
    spec["format"] = 99
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="not a compiled pipeline of format 1"):
        CompiledPipeline.load(tmp_path)


@pytest.mark.timeout(120)
def test_a_graph_with_unexpected_operators_is_refused_before_its_first_use(tmp_path, salary_compiled,
                                                                           salary_holdout) -> None:
    import onnx
    from onnx import TensorProto, helper

    salary_compiled.compiled.save(tmp_path)
    graph = helper.make_graph([helper.make_node("Identity", ["X"], ["raw"])], "g",
                              [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, 10])],
                              [helper.make_tensor_value_info("raw", TensorProto.DOUBLE, [None, 10])])
    (tmp_path / "compiled" / "model.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    walked = CompiledPipeline.load(tmp_path, engine="numba")  # never runs the graph, so never parses it
    assert walked.predict_frame(salary_holdout.iloc[:3]).shape == (3,)
    with pytest.raises(ValueError, match=r"model.onnx: unexpected operators \['Identity'\]"):
        walked.model_bytes  # what onnxruntime and the exports take
    with pytest.raises(ValueError, match=r"unexpected operators \['Identity'\]"):
        CompiledPipeline.load(tmp_path, engine="onnxruntime")
    assert onnx  # imported for the helper


@pytest.mark.timeout(60)
def test_infinite_numbers_are_refused_even_in_unused_columns(salary_compiled, salary_holdout) -> None:
    row = {**salary_holdout.iloc[0].to_dict(), "weekly_hours": float("inf")}
    with pytest.raises(SchemaError, match='row 0, field "weekly_hours": expected a finite number, got inf'):
        salary_compiled.compiled.predict_records([row])


@pytest.mark.timeout(60)
def test_log_of_a_negative_number_is_refused_like_scikit_learn(salary_compiled, salary_pipeline,
                                                              salary_holdout) -> None:
    frame = salary_holdout.iloc[:1].copy()
    frame["company_size"] = -5.0
    with pytest.raises(ValueError, match="NaN"), np.errstate(all="ignore"):
        salary_pipeline.predict(frame)
    with pytest.raises(ValueError, match="scikit-learn refuses such rows"):
        salary_compiled.compiled.predict_frame(frame)
    with pytest.raises(ValueError, match="scikit-learn refuses such rows"):
        salary_compiled.compiled.predict_records(frame.to_dict("records"))
    refused = 'row 0, field "company_size": expected a value the pipeline.s transforms keep finite .*, got -5;'
    with pytest.raises(SchemaError, match=refused):
        salary_compiled.compiled.predict_frame(frame)
    with pytest.raises(SchemaError, match=refused):
        salary_compiled.compiled.predict_records(frame.to_dict("records"))


@pytest.mark.timeout(60)
def test_many_dicts_are_encoded_column_by_column_with_the_same_result(salary_compiled, salary_holdout) -> None:
    from mldeploy.compiled.encoder import COLUMNWISE_ROWS

    rows = salary_holdout.to_dict("records")
    for i in range(0, len(rows), 17):
        rows[i] = {**rows[i], "education": None, "company_size": None, "city": float("nan")}
    encoder = salary_compiled.compiled.encoder
    assert len(rows) >= COLUMNWISE_ROWS
    by_row = np.array([encoder.encode_row(row) for row in rows])
    assert np.array_equal(encoder.encode_records(rows), by_row, equal_nan=True)


@pytest.mark.timeout(60)
def test_columns_give_the_same_bases_as_the_frame(salary_compiled, salary_pipeline, salary_holdout) -> None:
    frame = salary_holdout.copy()
    frame.loc[::7, "city"] = np.nan
    encoder = salary_compiled.compiled.encoder
    columns = {name: frame[name].to_numpy(dtype=object if frame[name].dtype == object else np.float64)
               for name in frame.columns}
    assert np.array_equal(encoder.encode_columns(columns, len(frame)), encoder.encode_frame(frame), equal_nan=True)
    assert np.array_equal(salary_compiled.compiled.predict_columns(columns, len(frame)),
                          salary_compiled.compiled.predict_frame(frame))
    # and the same as each row alone (its own lookups and imputation) and as scikit-learn
    by_row = np.array([encoder.encode_row(row) for row in frame.to_dict("records")])
    assert np.array_equal(encoder.encode_columns(columns, len(frame)), by_row, equal_nan=True)
    assert np.array_equal(salary_compiled.compiled.predict_columns(columns, len(frame)), salary_pipeline.predict(frame))


@pytest.mark.timeout(60)
def test_a_small_batch_by_columns_matches_each_row_and_names_every_refused_row(salary_compiled, salary_holdout) -> None:
    encoder = salary_compiled.compiled.encoder
    frame = salary_holdout.iloc[:25].copy()
    frame.loc[frame.index[::4], ["company_size", "years_experience"]] = np.nan  # imputed, and NaN where a guard allows it

    def columns(batch):
        return {name: batch[name].to_numpy(dtype=object if batch[name].dtype == object else np.float64)
                for name in batch.columns}

    by_row = np.array([encoder.encode_row(row) for row in frame.to_dict("records")])
    assert np.array_equal(encoder.encode_columns(columns(frame), len(frame)), by_row, equal_nan=True)
    outside = frame.copy()
    outside.loc[outside.index[[3, 7]], "company_size"] = -5.0
    with pytest.raises(SchemaError) as refused:
        encoder.encode_columns(columns(outside), len(outside))
    assert [(issue.row, issue.field, issue.got) for issue in refused.value.issues] == [
        (3, "company_size", "-5"), (7, "company_size", "-5")]
    infinite = frame.copy()
    infinite.loc[infinite.index[[2, 5]], "weekly_hours"] = [np.inf, -np.inf]
    with pytest.raises(SchemaError) as refused:
        encoder.encode_columns(columns(infinite), len(infinite))
    assert [(issue.row, issue.field, issue.expected) for issue in refused.value.issues] == [
        (2, "weekly_hours", "a finite number"), (5, "weekly_hours", "a finite number")]


@pytest.mark.timeout(60)
def test_a_number_column_no_base_reads_may_come_as_objects(salary_compiled, salary_holdout) -> None:
    frame = salary_holdout.iloc[:5]
    columns = {name: frame[name].to_numpy(dtype=object if frame[name].dtype == object else np.float64)
               for name in frame.columns}
    columns["certifications"] = columns["certifications"].astype(object)  # read by no base: only checked finite
    assert np.array_equal(salary_compiled.compiled.predict_columns(columns, len(frame)),
                          salary_compiled.compiled.predict_frame(frame))
    columns["years_experience"] = columns["years_experience"].copy()
    columns["years_experience"][2] = np.inf
    with pytest.raises(SchemaError) as refused:
        salary_compiled.compiled.predict_columns(columns, len(frame))
    assert [(issue.row, issue.field, issue.expected) for issue in refused.value.issues] == [
        (2, "years_experience", "a finite number")]
