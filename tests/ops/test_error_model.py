"""The estimated error before truth (direct loss estimation): fitted at training, stored in the bundle, checked against real error."""

import numpy as np
import pytest

import _models
import mldeploy
from mldeploy.bundle import Bundle
from mldeploy.errors import BundleError
from mldeploy.examples import salary
from mldeploy.ops.drift import drift
from mldeploy.ops.error_model import ERROR_MODEL_FILE, ERROR_MODEL_INFO, ErrorModel

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def model():
    return mldeploy.load(_models.trained_salary_bundle())


def _real_and_estimated(model, drift_level: float, inflation: float):
    rows = salary.generate(20_000, seed=11, drift=drift_level, inflation=inflation)
    features = rows.drop(columns=salary.TARGET)
    real = float(np.abs(rows[salary.TARGET] - model.predict(features)).mean())
    return real, drift(model, features).estimated_error


def test_on_drifted_inputs_the_estimate_is_close_to_the_real_error_and_closer_than_held_out(model):
    real, estimated = _real_and_estimated(model, 0.3, inflation=0.0)
    assert estimated.metric == "mae" and estimated.rows == 20_000
    assert estimated.estimated == pytest.approx(real, rel=0.12)
    # the point of estimating: nearer the truth than assuming the held-out error still holds
    assert abs(estimated.estimated - real) < abs(estimated.held_out - real)
    assert estimated.change > 0.03


def test_on_training_like_data_the_estimate_matches_the_real_error(model):
    real, estimated = _real_and_estimated(model, 0.0, inflation=0.0)
    assert estimated.estimated == pytest.approx(real, rel=0.06) and abs(estimated.change) < 0.05


def test_a_change_no_input_shows_is_beyond_it(model):
    """Pay inflation with the same inputs: only the truth (validate) can show it; the estimate stays lower."""
    real, estimated = _real_and_estimated(model, 0.3, inflation=0.15)
    assert estimated.estimated < 0.9 * real


def test_the_error_model_is_a_digested_bundle_file(model, tmp_path):
    bundle = model.bundle
    assert {ERROR_MODEL_FILE, ERROR_MODEL_INFO} <= set(bundle.manifest.files)
    loaded = ErrorModel.from_bundle(bundle)
    assert loaded.metric == "mae" and loaded.held_out == pytest.approx(bundle.manifest.metrics["mae"])
    copy = bundle.copy_to(tmp_path / "copy")
    with open(copy.path / ERROR_MODEL_FILE, "ab") as file:
        file.write(b"\0")
    with pytest.raises(BundleError, match=f"digest mismatch for {ERROR_MODEL_FILE}"):
        ErrorModel.from_bundle(copy)


def test_a_bundle_without_one_reports_no_estimate(tmp_path):
    pipeline, features = _models.salary_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path / "plain")
    assert ErrorModel.from_bundle(bundle) is None
    assert drift(bundle, features.head(500)).estimated_error is None


def test_a_classifier_gets_an_error_rate():
    pipeline, features = _models.iris_like_classifier()
    labels = pipeline.predict(features)
    labels[:30] = "mid"  # some wrong answers to learn from
    fitted = ErrorModel.fit(features, labels, pipeline.predict(features), "classification")
    assert fitted.metric == "error_rate" and 0 < fitted.held_out < 0.2
    assert 0 <= fitted.estimate(features, pipeline.predict(features)) <= 1
    assert ErrorModel.fit(features.head(10), labels[:10], labels[:10], "classification") is None


def test_train_and_register_stores_one_with_every_version(tmp_path):
    from sklearn.linear_model import LinearRegression

    from mldeploy.ops import train_and_register
    from mldeploy.registry import Registry

    rows = salary.generate(600, seed=2)[["years_experience", "weekly_hours", "salary"]]
    with Registry(root=tmp_path / "registry") as registry:
        ref, result = train_and_register(rows, "salary", registry=registry, factory=LinearRegression)
        stored = ErrorModel.from_bundle(registry.get(ref))
    assert stored.metric == "mae" and stored.rows == 120 and stored.held_out == pytest.approx(result.metrics["mae"])
