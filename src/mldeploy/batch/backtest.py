"""Validate stored predictions (batch runs and logged served predictions) against what really happened, per model version, overall and per time window.

Example::

    report = validate(PredictionStore("sqlite:///predictions.db"), truth_frame, key="employee_id", target="salary")
    report.metrics    # model_version, window_start ("overall" or an ISO time), metric, value, rows

Regression: MAE, RMSE, R² and MAPE. Classification: accuracy, macro F1 and
ROC AUC (one-vs-rest for more than two classes). A window is a span of time:
of the truth's ``time_column`` when given (when each true value was seen),
else of prediction time; ``window="D"`` for days, ``"h"``, ``"W"``, any pandas
frequency, or None to choose one from the time span (about 4 to 30 windows).
Metrics are recorded in the store's ``prediction_metrics`` table.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy.batch.columns import key_strings
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import ConfigError

__all__ = ["REGRESSION_METRICS", "CLASSIFICATION_METRICS", "ValidationReport", "choose_window", "validate"]

REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
OVERALL = "overall"
_WINDOWS = (("min", "1min"), ("h", "1h"), ("D", "1D"), ("W", "7D"), ("MS", "31D"), ("QS", "92D"), ("YS", "366D"))
"""Window frequencies from short to long, each with its longest length."""
_MOST_WINDOWS = 30


@dataclass(frozen=True)
class ValidationReport:
    """Metrics per model version (overall and per window) and the joined rows they came from."""

    validation_id: str
    model_name: str
    task: str
    truth_rows: int
    matched_rows: int
    """Predictions with a true value, over every version (a key predicted by two versions counts twice)."""
    metrics: pd.DataFrame
    """One row per (model_version, window_start, metric): value and rows."""
    joined: pd.DataFrame
    """model_version, predicted_at, actual, predicted (and probabilities for classifiers), and ``at``: the window's time."""
    window: str = "D"
    """The pandas frequency of the windows (chosen from the time span unless given)."""
    time_basis: str = "prediction time"
    """What the windows divide: ``prediction time`` or the name of the truth's time column."""

    def coverage(self) -> pd.DataFrame:
        """Per model version: the truth's rows, those matched by a prediction of that version, and those not."""
        matched = self.joined.groupby("model_version").size()
        return pd.DataFrame({"truth_rows": self.truth_rows, "matched": matched,
                             "unmatched": self.truth_rows - matched}).rename_axis("model_version")

    def table(self, window: str = OVERALL) -> pd.DataFrame:
        """Return the metrics of one window (default: overall) as one row per version, one column per metric."""
        rows = self.metrics[self.metrics.window_start == window]
        wide = rows.pivot_table(index="model_version", columns="metric", values="value", aggfunc="first")
        wide.insert(0, "rows", rows.groupby("model_version")["rows"].first())
        order = REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS
        return wide[["rows", *[m for m in order if m in wide.columns]]]


def validate(store: PredictionStore, truth: pd.DataFrame, key: str, target: str, model_name: str | None = None,
             window: str | None = None, record: bool = True, time_column: str | None = None) -> ValidationReport:
    """Join ``truth`` (a key and a target column) to the stored predictions and compute the metrics.

    ``time_column`` names a column of the truth holding when each true value was seen; windows then
    divide that time instead of prediction time.
    """
    name = model_name or _only_model(store)
    actual = _truth(truth, key, target, time_column)
    joined = _join(store, name, actual)
    if joined.empty:
        raise ConfigError(f"no stored prediction of {name} has a key in the truth's column {key!r} "
                          f"({len(actual):,} keys); check --key and that `mldeploy batch` ran on these rows, or a server logged them with --log-to")
    task = "classification" if joined["value"].isna().all() else "regression"
    at = joined["observed_at"] if time_column else joined["predicted_at"]
    joined = joined.assign(predicted=joined["label"] if task == "classification" else joined["value"], at=at)
    window = window or choose_window(joined["at"])
    metrics = _all_metrics(joined, task, window)
    report = ValidationReport(uuid.uuid4().hex, name, task, len(actual), len(joined), metrics,
                              joined.drop(columns=["value", "label"]), window,
                              time_column or "prediction time")
    if record:
        store.record_metrics(_metric_rows(report))
    return report


def _only_model(store: PredictionStore) -> str:
    names = store.model_names()
    if len(names) != 1:
        raise ConfigError(f"{store.location} holds predictions of {len(names)} models ({', '.join(names) or 'none'}); "
                          "name one with --model")
    return names[0]


def choose_window(times: pd.Series) -> str:
    """The shortest window frequency that divides the span of ``times`` into at most 30 windows."""
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    for frequency, length in _WINDOWS:
        if span <= pd.Timedelta(length) * (_MOST_WINDOWS - 1):
            return frequency
    return _WINDOWS[-1][0]


def _truth(truth: pd.DataFrame, key: str, target: str, time_column: str | None) -> pd.DataFrame:
    for column in (key, target, *([time_column] if time_column else [])):
        if column not in truth.columns:
            raise ConfigError(f'the truth has no column "{column}" (its columns: {", ".join(map(str, truth.columns))})')
    pa = require("pyarrow")
    keys = pd.Index(key_strings(pa.array(truth[key], from_pandas=True)), name="key")
    actual = pd.DataFrame({"actual": truth[target].to_numpy()}, index=keys)
    if time_column:
        actual["observed_at"] = _times(truth[time_column], time_column)
    actual = actual[actual.index.notna() & actual["actual"].notna()]
    repeated = actual.index[actual.index.duplicated()].unique()
    if len(repeated):
        raise ConfigError(f"the truth repeats {len(repeated)} key(s) in column {key!r} (e.g. {repeated[0]!r}); "
                          "give one true value per key")
    return actual


def _times(column: pd.Series, name: str) -> np.ndarray:
    times = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    bad = times.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConfigError(f'row {row}, field "{name}": expected a date or time, got {str(column.iloc[row])[:40]!r}; '
                          f"fix the value or choose another --time column")
    return times.to_numpy()


_JOINED = ["key", "model_version", "predicted_at", "value", "label", "probabilities", "actual"]


_SERVED_EVENT = ["key", "model_version", "request_id", "role"]
"""What names one logged prediction: a stream event scored again (after an aborted transaction, or at least once)
is logged again under the same request id (``topic/partition/offset``), and must count once."""


def _join(store: PredictionStore, name: str, actual: pd.DataFrame) -> pd.DataFrame:
    columns = _JOINED + [c for c in actual.columns if c != "actual"]
    # Batch rows and logged served rows (API, gRPC, stream, shadows) alike: metrics are per version, whoever predicted.
    batch = [chunk.join(actual, on="key", how="inner") for chunk in store.iter_predictions(name)]
    served = [chunk.join(actual, on="key", how="inner") for chunk in store.iter_served(name)]
    served = [p for p in served if not p.empty]
    if served:
        served = [pd.concat(served, ignore_index=True).drop_duplicates(_SERVED_EVENT)]
    parts = [p for p in batch + served if not p.empty]
    if not parts:
        return pd.DataFrame(columns=columns)
    joined = pd.concat(parts, ignore_index=True)
    joined["predicted_at"] = pd.to_datetime(joined["predicted_at"], utc=True)
    if "observed_at" in joined:
        joined["observed_at"] = pd.to_datetime(joined["observed_at"], utc=True)
    return joined[columns]


def _all_metrics(joined: pd.DataFrame, task: str, window: str) -> pd.DataFrame:
    try:
        starts = _window_starts(joined["at"], window)
    except ValueError as exc:
        raise ConfigError(f"window {window!r} is not a pandas frequency; use e.g. h, D or W") from exc
    rows = []
    for version, group in joined.groupby("model_version"):
        rows += _metrics_of(group, task, int(version), OVERALL)
        for start, part in group.groupby(starts.loc[group.index]):
            rows += _metrics_of(part, task, int(version), start.isoformat())
    return pd.DataFrame(rows, columns=["model_version", "window_start", "metric", "value", "rows"])


def _window_starts(times: pd.Series, window: str) -> pd.Series:
    """The start of each time's window: calendar weeks, months, quarters and years by the calendar, others by floor."""
    calendar = {"W": "W", "MS": "M", "M": "M", "QS": "Q", "Q": "Q", "YS": "Y", "Y": "Y"}.get(window)
    if calendar is None:
        return times.dt.floor(window)
    return times.dt.tz_localize(None).dt.to_period(calendar).dt.start_time.dt.tz_localize("UTC")


def _metrics_of(rows: pd.DataFrame, task: str, version: int, window_start: str) -> list[tuple]:
    values = _regression(rows) if task == "regression" else _classification(rows)
    return [(version, window_start, metric, value, len(rows)) for metric, value in values.items()]


def _regression(rows: pd.DataFrame) -> dict[str, float]:
    from sklearn import metrics

    actual = pd.to_numeric(rows["actual"], errors="coerce").to_numpy("float64")
    if np.isnan(actual).any():
        raise ConfigError("the truth's target column holds values that are not numbers; a regressor needs numbers")
    predicted = rows["predicted"].to_numpy("float64")
    return {
        "mae": float(metrics.mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(actual, predicted))),
        "r2": float(metrics.r2_score(actual, predicted)) if len(rows) > 1 else float("nan"),
        "mape": float(metrics.mean_absolute_percentage_error(actual, predicted)),
    }


def _classification(rows: pd.DataFrame) -> dict[str, float]:
    from sklearn import metrics

    actual = rows["actual"].astype(str).to_numpy()
    predicted = rows["predicted"].astype(str).to_numpy()
    return {
        "accuracy": float(metrics.accuracy_score(actual, predicted)),
        "f1": float(metrics.f1_score(actual, predicted, average="macro")),
        "roc_auc": _roc_auc(actual, rows["probabilities"]),
    }


def _roc_auc(actual: np.ndarray, probabilities: pd.Series) -> float:
    from sklearn import metrics

    parsed = [json.loads(p) for p in probabilities]
    classes = list(parsed[0])
    scores = np.array([[p[c] for c in classes] for p in parsed])
    if len(set(actual)) < 2 or not set(actual) <= set(classes):
        return float("nan")  # undefined with one class present, or a class the model never knew
    if len(classes) == 2:
        return float(metrics.roc_auc_score(actual == classes[1], scores[:, 1]))
    return float(metrics.roc_auc_score(actual, scores, multi_class="ovr", labels=classes))


def _metric_rows(report: ValidationReport) -> list[dict]:
    now = datetime.now(timezone.utc)
    return [dict(validation_id=report.validation_id, model_name=report.model_name, model_version=int(r.model_version),
                 window_start=r.window_start, metric=r.metric, value=None if np.isnan(r.value) else float(r.value),
                 rows=int(r.rows), validated_at=now)
            for r in report.metrics.itertuples()]
