"""The checks a gate runs, each returning rows of one table: name, figures, difference, tolerance, verdict.

Metric and slice checks compare challenger and champion on the same holdout
rows; the schema check applies the serving core's swap rule; the latency
check times one-row predictions on the serving path; the edge check feeds
rows made from the schema's edges (range ends, empty fields, unseen
categories) and wants finite answers.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mldeploy.ops.gate_rules import METRICS, MetricRule, SliceRule

__all__ = ["GateCheck", "Predictions", "edge_check", "latency_check", "metric_checks", "schema_check", "slice_checks"]


@dataclass(frozen=True)
class GateCheck:
    """One row of a gate's table."""

    name: str
    challenger: float | str | None
    champion: float | str | None
    difference: float | None
    tolerance: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict:
        """Return the row as JSON-ready values (non-finite numbers as text)."""
        return {key: (str(value) if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in self.__dict__.items()}


@dataclass(frozen=True)
class Predictions:
    """One model's answers on the holdout: values, and for a classifier its classes and probabilities."""

    values: np.ndarray
    classes: np.ndarray | None = None
    probabilities: np.ndarray | None = None

    @classmethod
    def of(cls, pipeline, features: pd.DataFrame, task: str) -> Predictions:
        """Predict ``features`` with ``pipeline`` (probabilities too, for a classifier that gives them)."""
        values = np.asarray(pipeline.predict(features))
        if task == "classification" and hasattr(pipeline, "predict_proba"):
            return cls(values, np.asarray(pipeline.classes_), np.asarray(pipeline.predict_proba(features)))
        return cls(values)

    def subset(self, mask: np.ndarray) -> Predictions:
        """Return the answers of the rows where ``mask`` is true."""
        probabilities = self.probabilities[mask] if self.probabilities is not None else None
        return Predictions(self.values[mask], self.classes, probabilities)


def metric_value(name: str, labels: np.ndarray, predicted: Predictions) -> float:
    """Compute metric ``name`` (see :data:`METRICS`); NaN where it is undefined (one class in a slice)."""
    from sklearn import metrics as m

    if name == "mae":
        return float(m.mean_absolute_error(labels, predicted.values))
    if name == "rmse":
        return float(np.sqrt(m.mean_squared_error(labels, predicted.values)))
    if name == "r2":
        return float(m.r2_score(labels, predicted.values)) if len(labels) > 1 else math.nan
    if name == "accuracy":
        return float(m.accuracy_score(labels, predicted.values))
    if name == "f1_macro":
        return float(m.f1_score(labels, predicted.values, average="macro"))
    if predicted.probabilities is None or len(set(labels.tolist())) < 2:
        return math.nan
    if name == "log_loss":
        return float(m.log_loss(labels, predicted.probabilities, labels=predicted.classes))
    if len(predicted.classes) == 2:
        return float(m.roc_auc_score(labels == predicted.classes[1], predicted.probabilities[:, 1]))
    return float(m.roc_auc_score(labels, predicted.probabilities, multi_class="ovr", labels=predicted.classes))


def compare(name: str, rule_metric: str, tolerance: float, threshold: float | None, challenger: float,
            champion: float) -> GateCheck:
    """Return the check of one metric: passes within ``tolerance`` of the champion or at ``threshold``."""
    spec = METRICS[rule_metric]
    difference = challenger - champion
    worse_by = -difference if spec.higher_is_better else difference
    allowed = tolerance * abs(champion)
    if math.isnan(challenger):
        return GateCheck(name, challenger, champion, None, f"{tolerance:.0%}", False, "undefined for the challenger")
    within = math.isnan(champion) or worse_by <= allowed + 1e-12
    reaches = threshold is not None and (challenger >= threshold if spec.higher_is_better else challenger <= threshold)
    limit = f"{tolerance:.0%}" + (f" or {'≥' if spec.higher_is_better else '≤'} {threshold:g}" if threshold is not None else "")
    detail = "" if within or reaches else f"{worse_by:.4g} worse than the champion, {allowed:.4g} allowed"
    return GateCheck(name, challenger, champion, difference, limit, within or reaches, detail)


def metric_checks(rules, labels: np.ndarray, challenger: Predictions, champion: Predictions) -> list[GateCheck]:
    """Compare every configured metric on the whole holdout."""
    checks = []
    for rule in rules:
        ours, theirs = metric_value(rule.metric, labels, challenger), metric_value(rule.metric, labels, champion)
        checks.append(compare(rule.metric, rule.metric, rule.tolerance, rule.threshold, ours, theirs))
    return checks


def slice_checks(rule: SliceRule, metric: MetricRule, column: pd.Series, labels: np.ndarray, challenger: Predictions,
                 champion: Predictions) -> list[GateCheck]:
    """Compare ``metric`` within each value of ``column`` that has at least ``rule.min_rows`` rows."""
    counts = column.astype(object).where(column.notna(), None).value_counts(dropna=False)
    checks = []
    for value, count in sorted(counts.items(), key=lambda item: str(item[0])):
        if count < rule.min_rows:
            continue
        mask = (column.isna() if value is None else (column == value)).to_numpy()
        ours = metric_value(metric.metric, labels[mask], challenger.subset(mask))
        theirs = metric_value(metric.metric, labels[mask], champion.subset(mask))
        name = f"{metric.metric} where {rule.column}={value} ({count} rows)"
        checks.append(compare(name, metric.metric, rule.tolerance, None, ours, theirs))
    return checks


def schema_check(champion_schema, challenger_schema) -> GateCheck:
    """Apply the serving core's swap rule: the challenger must not break the champion's callers."""
    from mldeploy.serving.compatibility import incompatibilities

    problems = incompatibilities(champion_schema, challenger_schema)
    return GateCheck("schema compatible", "breaks callers" if problems else "compatible", "serving", None,
                     "no break", not problems, "; ".join(problems))


def latency_check(model, row: pd.DataFrame, budget_ms: float, repeats: int) -> GateCheck:
    """Time one-row predictions on the serving path; the median must stay within ``budget_ms``."""
    model.predict(row)  # the first call warms caches and compiled sessions
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(row)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    detail = "" if median <= budget_ms else f"median {median:.2f} ms over the {budget_ms:g} ms budget"
    return GateCheck("one-row latency (ms)", median, None, None, f"≤ {budget_ms:g} ms", median <= budget_ms, detail)


def edge_check(model, sample: pd.DataFrame) -> GateCheck:
    """Send rows at the schema's edges through the serving path one by one; none may answer a non-finite number.

    A row the schema refuses (a value out of its range) is a clear answer and
    passes; a failure inside the pipeline or a NaN or infinite output fails.
    One by one, so a failure inside the pipeline names the row and field that caused it.
    """
    from mldeploy.compiled.verification import edge_rows
    from mldeploy.errors import SchemaError

    rows = edge_rows(sample)
    bad, refused, first = 0, 0, ""
    for index in range(len(rows)):
        try:
            answer = model.infer(rows.iloc[[index]])
        except SchemaError:
            refused += 1
            continue
        except Exception as exc:  # the challenger failing on an edge row is exactly what this check finds
            bad, first = bad + 1, first or f"row {index} ({_edge_of(rows, sample, index)}): {str(exc)[:200]}"
            continue
        numbers = answer.probabilities if answer.probabilities is not None else answer.values
        if answer.probabilities is not None or model.schema.output.task == "regression":
            if not np.isfinite(np.asarray(numbers, dtype=float)).all():
                bad, first = bad + 1, first or f"row {index} ({_edge_of(rows, sample, index)}) gave {numbers.tolist()}"
    answered = len(rows) - refused
    detail = f"{bad} of {answered} answered edge rows failed; first: {first}" if bad else ""
    return GateCheck("edge rows finite", f"{answered - bad}/{answered} (+{refused} refused by the schema)", None, None,
                     "all finite", bad == 0, detail)


def _edge_of(rows: pd.DataFrame, sample: pd.DataFrame, index: int) -> str:
    """Name the field an edge row changed from the sample's first row."""
    base, row = sample.iloc[0], rows.iloc[index]
    changed = [name for name in rows.columns if not (pd.isna(row[name]) and pd.isna(base[name])) and row[name] != base[name]]
    return ", ".join(f"{name}={row[name]!r}" for name in changed[:2]) or "the base row"
