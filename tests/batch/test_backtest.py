"""validate: metrics per model version, overall and per time window, recorded in the store; the PNG."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sqlalchemy import create_engine, text

from mldeploy.batch._store_writes import Progress
from mldeploy.batch.chunk import ScoredChunk
from mldeploy.bundle import BundleRef
from mldeploy.serving import Prediction, ServingPath
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.batch.backtest import validate
from mldeploy.errors import ConfigError

pytestmark = pytest.mark.timeout(60)

KEYS = [str(k) for k in range(100)]


def _write(store, name, version, values, probabilities=None, classes=None):
    run = store.start_run(name, version, "local", "x", "f" * 64, "id", len(values))
    prediction = Prediction(BundleRef(name, version), ServingPath.SCIKIT_LEARN, np.asarray(values),
                            None if probabilities is None else np.asarray(probabilities), classes)
    store.write(run, ScoredChunk(0, len(values), np.array(KEYS[: len(values)], dtype=object), prediction),
                Progress(len(values), len(values), 0))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'p.db'}"


def test_regression_metrics_per_version_and_window(url):
    rng = np.random.default_rng(0)
    actual = rng.uniform(50_000, 150_000, 100)
    v1, v2 = actual + rng.normal(0, 5_000, 100), actual + rng.normal(2_000, 9_000, 100)
    with PredictionStore(url) as store:
        _write(store, "salary", 1, v1)
        _write(store, "salary", 2, v2)
    engine = create_engine(url)
    with engine.begin() as conn:  # half of version 1 was predicted two days earlier
        conn.execute(text("UPDATE predictions SET predicted_at = '2026-01-01 10:00:00.000000' "
                          "WHERE model_version = 1 AND CAST(key AS INTEGER) < 50"))
    engine.dispose()
    truth = pd.DataFrame({"employee_id": range(100), "salary": actual})
    with PredictionStore(url) as store:
        report = validate(store, truth, "employee_id", "salary", window="D")
        recorded = pd.read_sql("SELECT * FROM prediction_metrics", create_engine(url))
    overall = report.table()
    assert list(overall.columns) == ["rows", "mae", "rmse", "r2", "mape"]
    for version, predicted in ((1, v1), (2, v2)):
        row = overall.loc[version]
        assert row["rows"] == 100
        assert row["mae"] == pytest.approx(metrics.mean_absolute_error(actual, predicted))
        assert row["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(actual, predicted)))
        assert row["r2"] == pytest.approx(metrics.r2_score(actual, predicted))
        assert row["mape"] == pytest.approx(metrics.mean_absolute_percentage_error(actual, predicted))
    early = report.table("2026-01-01T00:00:00+00:00")
    assert early.index.tolist() == [1] and early.loc[1, "rows"] == 50
    assert early.loc[1, "mae"] == pytest.approx(metrics.mean_absolute_error(actual[:50], v1[:50]))
    assert len(recorded) == len(report.metrics) and set(recorded.validation_id) == {report.validation_id}


def test_classification_metrics_use_labels_and_probabilities(url):
    classes = ("no", "yes")
    rng = np.random.default_rng(1)
    actual = rng.choice(classes, 80)
    p_yes = np.clip((actual == "yes") * 0.6 + rng.uniform(0, 0.4, 80), 0, 1)
    labels = np.where(p_yes > 0.5, "yes", "no").astype(object)
    with PredictionStore(url) as store:
        _write(store, "churn", 1, labels, np.column_stack([1 - p_yes, p_yes]), classes)
        report = validate(store, pd.DataFrame({"id": range(80), "left": actual}), "id", "left", record=False)
    row = report.table().loc[1]
    assert row["accuracy"] == pytest.approx(metrics.accuracy_score(actual, labels.astype(str)))
    assert row["f1"] == pytest.approx(metrics.f1_score(actual, labels.astype(str), average="macro"))
    assert row["roc_auc"] == pytest.approx(metrics.roc_auc_score(actual == "yes", p_yes))


def test_truth_problems_are_config_errors(url):
    with PredictionStore(url) as store:
        _write(store, "salary", 1, np.ones(10))
        with pytest.raises(ConfigError, match="repeats 1 key"):
            validate(store, pd.DataFrame({"id": [1, 1, 2], "y": [1.0, 2.0, 3.0]}), "id", "y")
        with pytest.raises(ConfigError, match='the truth has no column "salary"'):
            validate(store, pd.DataFrame({"id": [1]}), "id", "salary")
        with pytest.raises(ConfigError, match="no stored prediction of salary has a key in the truth"):
            validate(store, pd.DataFrame({"id": [500], "y": [1.0]}), "id", "y")
        _write(store, "other", 1, np.ones(3))
        with pytest.raises(ConfigError, match="holds predictions of 2 models \\(other, salary\\); name one with --model"):
            validate(store, pd.DataFrame({"id": [1], "y": [1.0]}), "id", "y")


def test_the_plot_is_a_png(url, tmp_path):
    pytest.importorskip("matplotlib")
    from mldeploy.batch.backtest_plot import plot_report

    with PredictionStore(url) as store:
        _write(store, "salary", 1, np.arange(100.0))
        report = validate(store, pd.DataFrame({"id": range(100), "y": np.arange(100.0) + 3}), "id", "y", record=False)
    path = plot_report(report, tmp_path / "report.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_a_stream_event_logged_twice_counts_once(url):
    """An exactly-once scorer whose transaction aborted scores its events again: the log holds them twice."""
    from mldeploy.serving.prediction_log import LogEntry, open_prediction_log

    actual = np.arange(100, dtype=float) * 1_000
    prediction = Prediction(BundleRef("salary", 3), ServingPath.COMPILED, actual[:10] + 500)
    log = open_prediction_log(url)
    try:
        for _ in range(2):  # the same ten events, the same offsets: before and after the abort
            log.submit(LogEntry(prediction, KEYS[:10], None, "stream", "events", "events/0/7", at=1.0))
        asked = LogEntry(prediction, KEYS[:10], None, "api", "rest.predict", "r-2", at=2.0)  # a second request
        log.submit(asked)
        assert log.flush(30)
    finally:
        log.close()
    truth = pd.DataFrame({"employee_id": range(100), "salary": actual})
    with PredictionStore(url) as store:
        report = validate(store, truth, "employee_id", "salary")
    assert report.table().loc[3, "rows"] == 20 and report.table().loc[3, "mae"] == pytest.approx(500)
