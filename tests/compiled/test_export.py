"""export_onnx: the whole pipeline as one ONNX model, run by onnxruntime and the ONNX reference evaluator."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from _zoo import CLASSIFIERS, REGRESSORS, make_frame, make_pipeline
from mldeploy.compiled import compile_pipeline, export_onnx
from mldeploy.compiled.export import onnx_inputs


def _session(data: bytes, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _run(session, frame: pd.DataFrame, kinds: dict) -> dict[str, np.ndarray]:
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, onnx_inputs(frame, kinds))))


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    return float(np.max(np.where(a == b, 0.0, np.abs(a - b) / np.where(scale == 0, 1, scale)), initial=0.0))


@pytest.fixture(scope="module")
def salary_onnx(salary_compiled) -> bytes:
    return export_onnx(salary_compiled.compiled)


@pytest.fixture(scope="module")
def salary_rows(salary_holdout) -> pd.DataFrame:
    """The 2,000 holdout rows (half drifted), with extra nulls in every column."""
    rows = salary_holdout.copy()
    for i, column in enumerate(rows.columns):
        if rows[column].dtype != bool:
            rows.loc[rows.index[i::37], column] = None
    return rows


@pytest.mark.timeout(60)
def test_salary_export_matches_pipeline_predict_on_drifted_rows_with_nulls(salary_onnx, salary_compiled,
                                                                          salary_pipeline, salary_rows) -> None:
    expected = salary_pipeline.predict(salary_rows)
    kinds = salary_compiled.compiled.spec["column_kinds"]
    one_thread = _run(_session(salary_onnx), salary_rows, kinds)
    assert np.array_equal(one_thread["prediction"], expected)  # bit-identical: trees summed in order
    assert not one_thread["refused"].any()
    # More threads may sum trees in another order: the last bit can differ, never more than 1e-9.
    assert _relative(_run(_session(salary_onnx, 0), salary_rows, kinds)["prediction"], expected) <= 1e-9


@pytest.mark.timeout(60)
def test_salary_export_runs_in_the_onnx_reference_evaluator(salary_onnx, salary_compiled, salary_pipeline,
                                                            salary_rows) -> None:
    from onnx.reference import ReferenceEvaluator

    rows = salary_rows.iloc[:500]
    feeds = onnx_inputs(rows, salary_compiled.compiled.spec["column_kinds"])
    prediction, refused = ReferenceEvaluator(salary_onnx).run(None, feeds)
    assert np.array_equal(prediction, salary_pipeline.predict(rows))
    assert not refused.any()


@pytest.mark.timeout(60)
def test_rows_scikit_learn_refuses_are_flagged_and_nan(salary_onnx, salary_compiled, salary_pipeline,
                                                       salary_holdout) -> None:
    rows = salary_holdout.iloc[:4].copy()
    rows["company_size"] = rows["company_size"].astype(float)
    rows.loc[rows.index[1], "company_size"] = -5.0  # log1p of it is NaN: SelectKBest refuses
    rows.loc[rows.index[2], "weekly_hours"] = np.inf  # infinite, in a column the model does not even use
    with pytest.raises(ValueError), np.errstate(all="ignore"):
        salary_pipeline.predict(rows.iloc[[1]])
    out = _run(_session(salary_onnx), rows, salary_compiled.compiled.spec["column_kinds"])
    assert out["refused"].tolist() == [False, True, True, False]
    assert np.isnan(out["prediction"][[1, 2]]).all()
    assert np.array_equal(out["prediction"][[0, 3]], salary_pipeline.predict(rows.iloc[[0, 3]]))


@pytest.mark.timeout(60)
def test_export_describes_its_inputs_outputs_and_conventions(salary_onnx, salary_compiled) -> None:
    import onnx

    model = onnx.load_from_string(salary_onnx)
    types = {value.name: value.type.tensor_type.elem_type for value in model.graph.input}
    assert list(types) == salary_compiled.compiled.columns
    assert types["city"] == onnx.TensorProto.STRING and types["age"] == types["remote"] == onnx.TensorProto.DOUBLE
    assert [value.name for value in model.graph.output] == ["prediction", "refused"]
    props = {prop.key: prop.value for prop in model.metadata_props}
    inputs = {item["name"]: item for item in json.loads(props["mldeploy.inputs"])}
    assert inputs["education"] == {"name": "education", "type": "string", "kind": "category", "missing": "",
                                   "text_null": "none"}
    assert inputs["remote"]["kind"] == "bool" and inputs["age"]["missing"] == "NaN"
    assert props["mldeploy.missing_text"] == "" and "refused" in model.doc_string
    assert {node.domain for node in model.graph.node} == {"", "ai.onnx.ml"}


def _zoo_case(model: str, classes: int, text_null: str):
    train, target = make_frame(300, 11, classes)
    rows, _ = make_frame(300, 12, classes)
    if text_null == "nan":  # missing text arrives as NaN: the imputer fills it
        for frame in (train, rows):
            frame["color"] = frame["color"].where(frame["color"].notna(), np.nan)
    factory = (CLASSIFIERS if classes else REGRESSORS)[model]
    text = "ordinal" if model in ("forest", "logistic", "lasso") else "onehot"
    pipeline = make_pipeline(factory(), "minmax" if model in ("gb", "ridge") else "standard", text,
                             classifier=bool(classes)).fit(train, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = compile_pipeline(pipeline, train).compiled
    return pipeline, compiled, rows


@pytest.mark.timeout(60)
@pytest.mark.parametrize("model", sorted(REGRESSORS))
@pytest.mark.parametrize("text_null", ["none", "nan"])
def test_zoo_regressors_export_exactly(model, text_null) -> None:
    from onnx.reference import ReferenceEvaluator

    pipeline, compiled, rows = _zoo_case(model, 0, text_null)
    data = export_onnx(compiled)
    expected = pipeline.predict(rows)
    feeds = onnx_inputs(rows, compiled.spec["column_kinds"])
    got = _session(data).run(None, feeds)[0]
    reference = ReferenceEvaluator(data).run(None, feeds)[0]
    assert _relative(got, expected) <= 1e-9 and _relative(reference, expected) <= 1e-9
    if model not in ("linear", "ridge", "lasso"):
        assert np.array_equal(got, expected)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("model", sorted(CLASSIFIERS))
@pytest.mark.parametrize("classes", [2, 4])
def test_zoo_classifiers_export_labels_and_probabilities(model, classes) -> None:
    from onnx.reference import ReferenceEvaluator

    pipeline, compiled, rows = _zoo_case(model, classes, "none")
    data = export_onnx(compiled)
    feeds = onnx_inputs(rows, compiled.spec["column_kinds"])
    for label, proba, refused in (_session(data).run(None, feeds), ReferenceEvaluator(data).run(None, feeds)):
        assert np.array_equal(label, pipeline.predict(rows))
        assert _relative(proba, pipeline.predict_proba(rows)) <= 1e-9
        assert not refused.any()


@pytest.mark.timeout(60)
def test_linear_feature_without_an_exact_onnx_form_is_refused() -> None:
    train, target = make_frame(200, 3)
    pipeline = make_pipeline(REGRESSORS["ridge"](), "arcsinh").fit(train, target)
    with pytest.raises(ValueError, match=r"cannot export the step \('func', 'arcsinh'\)"):
        export_onnx(compile_pipeline(pipeline, train).compiled)


@pytest.mark.timeout(60)
def test_a_column_named_like_an_output_is_refused() -> None:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeRegressor

    train, target = make_frame(200, 3)
    train = train.rename(columns={"count": "label"})[["a", "label"]]
    pipeline = Pipeline([("impute", SimpleImputer()), ("model", DecisionTreeRegressor(max_depth=3))]).fit(train, target)
    with pytest.raises(ValueError, match="input column 'label' has the name of an output; rename it"):
        export_onnx(compile_pipeline(pipeline, train).compiled)


@pytest.mark.timeout(60)
def test_an_empty_string_category_is_refused() -> None:
    train, target = make_frame(200, 3)
    train["color"] = train["color"].where(train["color"] != "red", "")
    pipeline = make_pipeline(REGRESSORS["tree"]()).fit(train, target)
    with pytest.raises(ValueError, match='column "color": "" is a trained category'):
        export_onnx(compile_pipeline(pipeline, train).compiled)
