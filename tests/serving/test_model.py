import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mldeploy
from mldeploy.bundle import Bundle
from mldeploy.serving.loading import load
from mldeploy.serving.model import Model
from mldeploy.errors import BundleError, NotFoundError, SchemaError, UnsupportedError

import _bundles
import _models

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    registry = mldeploy.Registry(root=tmp_path_factory.mktemp("registry"))
    ref = registry.register(_bundles.salary_bundle_at(tmp_path_factory.mktemp("bundle") / "salary"))
    registry.set_alias(ref, "production")
    yield registry
    registry.close()


def test_load_by_alias_and_predict_one_dict(registry):
    pipeline, features = _models.salary_pipeline()
    model = load("salary:production", registry=registry)
    row = features.iloc[3].to_dict()
    assert isinstance(model.predict(row), float)
    assert model.predict(row) == pipeline.predict(features.iloc[[3]])[0]


def test_predict_list_and_frame(registry):
    pipeline, features = _models.salary_pipeline()
    model = load("salary@1", registry=registry)
    expected = pipeline.predict(features.head(50))
    np.testing.assert_array_equal(model.predict(features.head(50)), expected)
    np.testing.assert_array_equal(model.predict(features.head(50).to_dict(orient="records")), expected)


def test_prepare_then_compute_is_infer_in_two_halves(registry):
    _, features = _models.salary_pipeline()
    model, rows = load("salary@1", registry=registry), features.head(40).to_dict(orient="records")
    prepared = model.prepare(rows)
    assert prepared.rows == 40 and prepared.model is model
    np.testing.assert_array_equal(model.compute(prepared).values, model.infer(rows).values)
    assert model.compute(model.prepare([])).values.shape == (0,)
    with pytest.raises(SchemaError, match='field "age"'):
        model.prepare([rows[0] | {"age": "old"}])
    with pytest.raises(ValueError, match="cannot be computed by"):
        load("salary@1", registry=registry).compute(prepared)


def test_load_from_a_folder_and_from_an_archive_file(registry, tmp_path):
    bundle = registry.get("salary@1")
    archive = tmp_path / "salary.mldeploy"
    archive.write_bytes(bundle.to_archive())
    assert load(bundle.path).ref == load(str(archive)).ref == bundle.ref


def test_a_bad_dict_gets_the_bulk_wording(registry):
    model = load("salary@1", registry=registry)
    _, features = _models.salary_pipeline()
    with pytest.raises(SchemaError, match='row 0, field "age": expected a whole number in'):
        model.predict(features.iloc[0].to_dict() | {"age": "old"})


def test_extra_fields_can_be_ignored(registry):
    model = load("salary@1", registry=registry)
    _, features = _models.salary_pipeline()
    row = features.iloc[0].to_dict() | {"candidate_id": "c-17"}
    with pytest.raises(SchemaError, match='field "candidate_id": expected one of the known fields'):
        model.predict(row)
    assert model.predict(row, extra="ignore") == model.predict(features.iloc[0].to_dict())


def test_unknown_reference(registry):
    with pytest.raises(NotFoundError, match='no alias "staging"'):
        load("salary:staging", registry=registry)


def test_classifier_gives_labels_and_probabilities(tmp_path):
    pipeline, features = _models.iris_like_classifier()
    model = Model(Bundle.from_pipeline(pipeline, features, name="tiers", directory=tmp_path / "b"))
    assert model.classes == ["high", "low", "mid"]
    assert model.predict({"a": 2.0, "b": 0.0}) == "high"
    np.testing.assert_array_equal(model.predict_proba(features), pipeline.predict_proba(features))
    np.testing.assert_array_equal(model.predict_proba({"a": 2.0, "b": 0.0}), pipeline.predict_proba(pd.DataFrame({"a": [2.0], "b": [0.0]}))[0])


def test_predict_proba_on_a_regressor_says_why(registry):
    with pytest.raises(UnsupportedError, match="predict_proba needs a probabilistic classifier"):
        load("salary@1", registry=registry).predict_proba({})


def test_empty_text_reaches_the_pipeline_as_in_training(tmp_path):
    # Read from CSV, empty text is NaN, which SimpleImputer imputes; None would be a category of its own.
    from mldeploy.examples import salary

    data = salary.generate(2000, seed=3)
    data["education"] = data["education"].where(data["education"].notna(), np.nan)
    features = data.drop(columns="salary")
    pipeline = salary.default_pipeline(max_iter=20).fit(features, data["salary"])
    model = Model(Bundle.from_pipeline(pipeline, features, name="csv", directory=tmp_path / "b"))
    assert model.schema.by_name["education"].text_null == "nan"
    row = features.iloc[0].to_dict() | {"education": None}
    expected = pipeline.predict(pd.DataFrame([row | {"education": np.nan}]))[0]
    assert model.predict(row) == expected
    assert model.predict([row])[0] == expected


def test_explain_plan_names_the_compiled_path(registry):
    plan = load("salary@1", registry=registry).explain_plan()
    assert plan.path == "compiled" and "bit-identical" in plan.reason
    assert [s.status for s in plan.steps] == ["compiled"] * 3


def test_a_pipeline_that_does_not_compile_falls_back_and_says_why(tmp_path):
    pipeline, features = _models.custom_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="custom", directory=tmp_path / "b",
                                  trusted=("custom_features.ExperienceRatio",))
    model = Model(bundle, trusted=["custom_features.ExperienceRatio"])
    plan = model.explain_plan()
    assert plan.path == "scikit-learn" and plan.reason
    assert plan.steps and all(step.status == "fallback" for step in plan.steps)
    np.testing.assert_array_equal(model.predict(features.head(20)), pipeline.predict(features.head(20)))


def test_compiled_form_is_verified_again_on_another_machine(registry, tmp_path):
    import json

    moved = registry.get("salary@1").copy_to(tmp_path / "moved")
    manifest = json.loads((moved.path / "manifest.json").read_text())
    manifest["libraries"]["machine"] = "aarch64"
    (moved.path / "manifest.json").write_text(json.dumps(manifest))
    plan = Model(Bundle.open(moved.path)).explain_plan()
    assert plan.path == "compiled" and "re-verified here because machine" in plan.reason


def test_an_engine_not_proven_at_creation_is_verified_before_it_serves(registry, tmp_path):
    import json

    bundle = registry.get("salary@1")
    assert bundle.manifest.compiled["engines"] == ["native", "numba", "onnxruntime"]
    moved = bundle.copy_to(tmp_path / "moved")
    manifest = json.loads((moved.path / "manifest.json").read_text())
    manifest["compiled"]["engines"] = ["numba", "onnxruntime"]  # as if made before the C walker: numba serves
    (moved.path / "manifest.json").write_text(json.dumps(manifest))
    model = Model(Bundle.open(moved.path))
    assert model.compiled.engine == "numba" and "verified when the bundle was made" in model.explain_plan().reason
    manifest["compiled"]["engines"] = ["onnxruntime"]  # as if made where no walker ran
    (moved.path / "manifest.json").write_text(json.dumps(manifest))
    plan = Model(Bundle.open(moved.path)).explain_plan()
    assert plan.path == "compiled" and "re-verified here because the native engine" in plan.reason


def test_small_and_large_batches_agree_on_both_paths(registry):
    from mldeploy.examples import salary

    pipeline, _ = _models.salary_pipeline()
    drifted = salary.generate(1100, seed=21, drift=0.7).drop(columns="salary")
    model = load("salary@1", registry=registry)
    expected = pipeline.predict(drifted)
    for rows in (drifted.head(5), drifted.head(300), drifted.head(600), drifted):
        np.testing.assert_array_equal(model.predict(rows), expected[: len(rows)])
        records = [{k: (None if v != v else v) for k, v in r.items()} for r in rows.to_dict(orient="records")]
        np.testing.assert_array_equal(model.predict(records), expected[: len(rows)])


def test_wrong_input_types_get_a_schema_error(registry):
    model = load("salary@1", registry=registry)
    for data in ("years=4", 42, None):
        with pytest.raises(SchemaError, match="expected a DataFrame, a list of objects or one object"):
            model.predict(data)


@pytest.mark.parametrize("use_compiled", [True, False])
def test_zero_rows_give_empty_results_on_both_paths(registry, use_compiled):
    model = load("salary@1", registry=registry, use_compiled=use_compiled)
    assert model.predict([]).shape == (0,)
    _, features = _models.salary_pipeline()
    assert model.predict(features.head(0)).shape == (0,)


def test_small_integer_dtypes_do_not_wrap(tmp_path):
    from sklearn.linear_model import LinearRegression

    features = pd.DataFrame({"u": np.arange(0, 250, dtype="uint8")})
    pipeline = LinearRegression().fit(features, features["u"].astype(float) * 2)
    inferred = Bundle.from_pipeline(pipeline, features, name="small", directory=tmp_path / "a")
    assert inferred.schema.by_name["u"].maximum == 255
    model = Model(Bundle.from_pipeline(pipeline, features, name="small", directory=tmp_path / "b", ranges={"u": (0, 1000)}))
    expected = pipeline.predict(pd.DataFrame({"u": [300]}))[0]
    assert model.predict({"u": 300}) == pytest.approx(expected, rel=1e-12)
    assert model.predict([{"u": 300}])[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("rows", [3, 40])
def test_a_frame_with_a_repeated_column_gets_a_schema_error(registry, rows):
    _, features = _models.salary_pipeline()
    frame = pd.concat([features.head(rows), features.head(rows)[["city"]]], axis=1)
    for use_compiled in (True, False):
        with pytest.raises(SchemaError, match='field "city": expected one column of that name, got 2 columns'):
            load("salary@1", registry=registry, use_compiled=use_compiled).predict(frame)


def test_export_onnx_is_checked_before_it_is_handed_out(registry):
    from mldeploy.examples import salary

    model = load("salary@1", registry=registry)
    report = model.verify_onnx(model.export_onnx())
    assert report.ok and report.exact_rows == report.rows
    _, features = _models.salary_pipeline()
    model._pipeline = salary.default_pipeline(max_iter=3).fit(features, features["age"] * 1000.0)  # a real mismatch
    with pytest.raises(BundleError, match="exported ONNX model does not match scikit-learn"):
        model.export_onnx()


@pytest.mark.parametrize("rows", [5, 40])
def test_a_frame_of_rows_without_columns_gets_a_schema_error(registry, rows):
    with pytest.raises(SchemaError, match="no such column"):
        load("salary@1", registry=registry).predict(pd.DataFrame(index=range(rows)))


@pytest.mark.parametrize("name", ["compiled/arrays.npz", "pipeline.skops"])
def test_a_file_changed_after_the_bundle_was_opened_is_refused_when_read(registry, tmp_path, name):
    bundle = registry.get("salary@1").copy_to(tmp_path / "copy")
    opened = Bundle.open(bundle.path)
    if name == "compiled/arrays.npz":  # the issue's case: every array set to 1 gave 181.0 for 111,001.8
        with np.load(opened.path / name) as data:
            arrays = {key: np.ones_like(data[key]) for key in data.files}
        np.savez(opened.path / name, **arrays)
    else:
        (opened.path / name).write_bytes((opened.path / name).read_bytes() + b" ")
    with pytest.raises(BundleError, match=f"digest mismatch for {name}"):
        Model(opened)
    with pytest.raises(BundleError, match=f"digest mismatch for {name}"):
        load(opened)


@pytest.mark.parametrize("use_compiled", [True, False], ids=["compiled", "scikit-learn"])
@pytest.mark.parametrize("form", ["records", "frame"])
def test_infer_accepted_sets_bad_rows_aside_and_predicts_the_rest_together(registry, use_compiled, form):
    _, features = _models.salary_pipeline()
    model = Model(load("salary@1", registry=registry).bundle, use_compiled=use_compiled)
    rows = features.head(40).to_dict(orient="records")
    rows[3]["years_experience"], rows[30]["age"] = "ten", "old"
    data = rows if form == "records" else pd.DataFrame(rows)
    accepted = model.infer_accepted(data, missing="as-trained")
    assert list(accepted.refused) == [3, 30]
    assert [(i.row, i.field) for i in accepted.refused[30]] == [(30, "age")]
    with pytest.raises(SchemaError) as raised:
        model.infer(data, missing="as-trained")
    assert [i for issues in accepted.refused.values() for i in issues] == raised.value.issues
    assert accepted.hint == raised.value.hint
    kept = [r for i, r in enumerate(rows) if i not in (3, 30)]
    np.testing.assert_array_equal(accepted.prediction.values, model.predict(kept, missing="as-trained"))
    assert accepted.positions == [i for i in range(40) if i not in (3, 30)] and accepted.index_of(31) == 29


def test_infer_accepted_still_raises_for_input_wrong_as_a_whole_and_refuses_a_lone_bad_dict(registry):
    _, features = _models.salary_pipeline()
    model = load("salary@1", registry=registry)
    with pytest.raises(SchemaError, match="no such column"):
        model.infer_accepted(features.head(5).drop(columns="age"))
    row = features.iloc[0].to_dict() | {"age": "old"}
    accepted = model.infer_accepted(row, missing="as-trained")
    assert list(accepted.refused) == [0] and len(accepted.prediction) == 0
    assert model.infer_accepted(features.head(3)).refused == {}


@pytest.mark.parametrize("form", ["records", "frame"])
def test_infer_accepted_refuses_as_a_whole_an_input_with_more_issues_than_max_issues(registry, form):
    _, features = _models.salary_pipeline()
    model = load("salary@1", registry=registry)
    rows = features.head(40).to_dict(orient="records")
    for row in rows[:12]:
        row["age"] = "old"
    data = rows if form == "records" else pd.DataFrame(rows)
    with pytest.raises(SchemaError) as raised:  # setting rows aside would need every issue built
        model.infer_accepted(data, missing="as-trained", max_issues=10)
    assert raised.value.total == 12 and [i.row for i in raised.value.issues] == list(range(10))
    accepted = model.infer_accepted(data, missing="as-trained", max_issues=12)  # within the limit: set aside as ever
    assert list(accepted.refused) == list(range(12)) and len(accepted.prediction) == 28


def test_infer_accepted_also_sets_aside_rows_the_compiled_encoder_refuses(registry, monkeypatch):
    # The salary schema's checks catch everything its encoder would refuse, so the encoder's own refusal is forced.
    from mldeploy.errors import Issue

    _, features = _models.salary_pipeline()
    model = Model(load("salary@1", registry=registry).bundle)
    encoder = model.compiled.encoder
    original = encoder.encode_records

    def refusing(rows):
        marked = [i for i, row in enumerate(rows) if row["years_experience"] == 33.25]
        if marked:
            raise SchemaError([Issue(i, "years_experience", "a value the model can encode", "33.25") for i in marked])
        return original(rows)

    monkeypatch.setattr(encoder, "encode_records", refusing)
    rows = features.head(10).to_dict(orient="records")
    rows[6]["years_experience"] = 33.25
    accepted = model.infer_accepted(rows, missing="as-trained")
    assert list(accepted.refused) == [6] and accepted.refused[6][0].expected == "a value the model can encode"
    assert len(accepted.prediction) == 9


def test_a_compiled_model_predicts_without_importing_scikit_learn_and_loads_the_pipeline_on_first_use(registry):
    _, features = _models.salary_pipeline()
    row = json.dumps(features.iloc[3].to_dict())
    # A fresh interpreter: this one has scikit-learn imported already.
    code = ("import json, sys, mldeploy, pandas\n"
            f"model = mldeploy.load('salary:production', registry={str(registry.root)!r})\n"
            f"row = json.loads({row!r})\n"
            "value = model.predict(row)\n"
            "before = [name for name in ('sklearn', 'skops') if name in sys.modules]\n"
            "same = model.pipeline.predict(pandas.DataFrame([row]))[0] == value\n"
            "print(model.path.value, before, 'skops' in sys.modules, same)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["compiled", "[]", "True", "True"]
