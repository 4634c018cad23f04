"""One contract for every deployment architecture.

The same rows give the same predictions as the pipeline's own ``predict`` (to
1e-9 relative) and name the version that made them; the same bad rows give the
same SchemaError issues; unknown references are NotFoundError; and an alias
moved mid-run is followed.
"""

from __future__ import annotations

import numpy as np
import pytest

import _bundles
import _models
from adapters import ADAPTERS
from mldeploy.bundle import Bundle
from mldeploy.errors import NotFoundError, SchemaError
from mldeploy.examples import salary
from mldeploy.registry import Registry
from mldeploy.serving import Model, codecs

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A registry with salary@1 and @2 (different fits), tiers@1 (a classifier), and drifted rows."""
    folder = tmp_path_factory.mktemp("contract")
    registry = Registry(root=folder / "registry")
    pipeline, features = _models.salary_pipeline()
    refit, _ = _models.salary_pipeline(max_iter=8)
    classifier, class_features = _models.iris_like_classifier()
    registry.register(_bundles.salary_bundle_at(folder / "salary-1"))
    for name, fitted, sample in (("salary", refit, features), ("tiers", classifier, class_features)):
        registry.register(Bundle.from_pipeline(fitted, sample, name=name, directory=folder / f"{name}-{len(registry.models())}-{id(fitted)}"))
    registry.set_alias("salary@1", "production")
    registry.set_alias("tiers@1", "production")
    drifted = salary.generate(60, seed=11, drift=0.6).drop(columns=salary.TARGET)
    yield {"registry": registry, "pipelines": {1: pipeline, 2: refit}, "classifier": (classifier, class_features), "rows": drifted}
    registry.close()


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request):
    return ADAPTERS[request.param](request)


def _records(frame):
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def test_same_predictions_as_the_pipeline_tagged_with_the_version(adapter, case):
    with adapter.deploy(case["registry"], "salary:production") as deployed:
        answer = deployed.predict(_records(case["rows"]))
    np.testing.assert_allclose(answer.values, case["pipelines"][1].predict(case["rows"]), rtol=1e-9, atol=0)
    assert answer.versions == [1] * len(case["rows"])


def test_a_classifier_gives_labels_and_probabilities(adapter, case):
    classifier, features = case["classifier"]
    rows = features.sample(40, random_state=2)
    with adapter.deploy(case["registry"], "tiers:production") as deployed:
        answer = deployed.predict(_records(rows))
    assert list(answer.values) == list(classifier.predict(rows))
    np.testing.assert_allclose(answer.probabilities, classifier.predict_proba(rows), rtol=1e-9, atol=1e-15)


def test_a_classifier_answers_the_same_bytes_in_every_architecture(adapter, case):
    """Labels, class names and probabilities equal, bit for bit, the core's own result on the same path.

    Every wire here carries float64s exactly (binary tensors, JSON written shortest-round-trip, the
    store's repr text), and every encoding takes its class names from serving.codecs, so any
    difference is a second encoding somewhere. Labels compare as text: the batch store keeps them so.
    """
    classifier, features = case["classifier"]
    rows = _records(features.sample(40, random_state=3))
    with adapter.deploy(case["registry"], "tiers:production") as deployed:
        answer = deployed.predict(rows)
    uses_compiled = getattr(adapter, "use_compiled", True)  # API, stream and batch serve the compiled form
    core = Model(case["registry"].get("tiers@1"), use_compiled=uses_compiled).infer(rows, missing="as-trained")
    assert answer.classes == tuple(codecs.class_names(core.classes))
    assert [str(v) for v in answer.values] == [str(v) for v in core.values]
    assert np.asarray(answer.probabilities, dtype="<f8").tobytes() == np.asarray(core.probabilities, dtype="<f8").tobytes()


BAD_ROWS_EDITS = [
    {"years_experience": "ten"},
    {"age": 12.5, "remote": "perhaps"},
    {"certifications": -3},
    {"weekly_hours": float("inf")},
    {"remote": None},
    {"years_experience": "ten"},
    {"certifications": -3, "years_experience": "ten", "age": 12.5},
]
EXPECTED_ISSUES = [
    (1, "years_experience", "a number in [0, 64.95]", '"ten"'),
    (2, "age", "a whole number in [0, 93]", "12.5"),
    (2, "remote", "true or false", '"perhaps"'),
    (3, "certifications", "a whole number in [0, 11]", "-3"),
    (4, "weekly_hours", "a finite number (a number in [10.05, 73.85])", "inf"),
    (5, "remote", "true or false (this field cannot be empty)", "null"),
    # the same problems again in later rows, alone and together: every bad field of every bad row is named
    (6, "years_experience", "a number in [0, 64.95]", '"ten"'),
    (7, "age", "a whole number in [0, 93]", "12.5"),
    (7, "certifications", "a whole number in [0, 11]", "-3"),
    (7, "years_experience", "a number in [0, 64.95]", '"ten"'),  # text in a number field is found in a later pass
]


def test_same_schema_errors_for_bad_rows(adapter, case):
    good = _records(case["rows"].head(len(BAD_ROWS_EDITS) + 1))
    rows = [good[0]] + [row | edit for row, edit in zip(good[1:], BAD_ROWS_EDITS)]
    with adapter.deploy(case["registry"], "salary:production") as deployed:
        issues = _issues(deployed, rows)
    assert issues == EXPECTED_ISSUES, issues


def _issues(deployed, rows) -> list[tuple]:
    with pytest.raises(SchemaError) as caught:
        deployed.predict(rows)
    return [(i.row, i.field, i.expected, i.got) for i in caught.value.issues]


def test_unknown_fields_are_refused_or_ignored_as_asked(adapter, case):
    rows = [row | {"employee_id": index} for index, row in enumerate(_records(case["rows"].head(20)))]
    with adapter.deploy(case["registry"], "salary:production") as deployed:
        ignored = deployed.predict(rows, extra="ignore")
        with pytest.raises(SchemaError, match='field "employee_id": expected one of the known fields'):
            deployed.predict(rows)
    np.testing.assert_allclose(ignored.values, case["pipelines"][1].predict(case["rows"].head(20)), rtol=1e-9, atol=0)


def test_no_rows_give_no_predictions(adapter, case):
    with adapter.deploy(case["registry"], "salary:production") as deployed:
        answer = deployed.predict([])
    assert len(answer.values) == 0 and answer.versions == []


def test_an_unknown_model_or_version_is_not_found(adapter, case):
    for ref in ("nosuch:production", "salary@99"):
        with pytest.raises(NotFoundError):
            with adapter.deploy(case["registry"], ref):
                pass


def test_an_alias_moved_mid_run_is_followed(adapter, case):
    registry, rows = case["registry"], _records(case["rows"].head(30))
    with adapter.deploy(registry, "salary:production") as deployed:
        before = deployed.predict(rows)
        registry.set_alias("salary@2", "production")
        try:
            assert deployed.wait_for_version(2, timeout_s=60)
            after = deployed.predict(rows)
        finally:
            registry.set_alias("salary@1", "production")
    assert before.versions == [1] * 30 and after.versions == [2] * 30
    np.testing.assert_allclose(after.values, case["pipelines"][2].predict(case["rows"].head(30)), rtol=1e-9, atol=0)
