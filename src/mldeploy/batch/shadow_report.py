"""Champion against shadow challenger on the same requests, from the logged served predictions.

Example::

    report = shadow_report(PredictionStore(url), "salary", since="1h")
    report.as_json()   # agreement, error against truth where it has arrived, latency, unpaired requests

A pair is the champion's answer (role ``served``) and the challenger's
(role ``shadow``) for the same request id and key. Agreement is the share of
equal labels for a classifier and the mean absolute difference for a
regressor. Latency is each request's time in the model, per request (p50 and
p99). ``unpaired`` counts champion rows with no challenger answer: refused,
failed, skipped, or not yet logged (``/metrics`` says which).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import ConfigError

__all__ = ["RoleSummary", "ShadowReport", "shadow_report"]


@dataclass(frozen=True)
class RoleSummary:
    """One side of the comparison: the versions seen, its latency, its error where truth arrived."""

    versions: list[int]
    rows: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    error: float | None
    """MAE (regressor) or 1 - accuracy (classifier) on the paired rows with a true value; None without truth."""


@dataclass(frozen=True)
class ShadowReport:
    """What ``mldeploy shadow-report`` prints."""

    model_name: str
    since: str
    task: str
    paired: int
    unpaired: int
    agreement: float | None
    """Share of equal labels (classifier) or mean absolute difference (regressor), over the pairs."""
    agreement_kind: str
    truth_rows: int
    champion: RoleSummary
    challenger: RoleSummary

    def as_json(self) -> dict:
        """Plain JSON-ready data."""
        return asdict(self)


def shadow_report(store: PredictionStore, name: str, since: str = "1h", truth: pd.DataFrame | None = None,
                  key: str | None = None, target: str | None = None) -> ShadowReport:
    """Compare the champion and the shadow challenger of ``name`` over the last ``since`` (``30m``, ``1h``, ``2d``)."""
    start = datetime.now(timezone.utc) - _span(since)
    logged = pd.concat([*store.iter_served(name, since=start), _empty()], ignore_index=True)
    served, shadow = (logged[logged.role == role] for role in ("served", "shadow"))
    if served.empty:
        raise ConfigError(f"{store.location} holds no logged prediction of {name} since {start:%Y-%m-%d %H:%M} UTC; "
                          "serve it with --log-to this database (and --shadow) first")
    pairs = served.merge(shadow, on=["request_id", "key"], suffixes=("_champion", "_challenger"))
    pairs = pairs.drop_duplicates(["request_id", "key"])
    task = "regression" if served["label"].isna().all() else "classification"
    column = "value" if task == "regression" else "label"
    actual = _truth(truth, key, target) if truth is not None else None
    judged = pairs.join(actual, on="key", how="inner") if actual is not None else pairs.iloc[:0]
    return ShadowReport(
        model_name=name, since=since, task=task, paired=len(pairs), unpaired=len(served) - len(pairs),
        agreement=_agreement(pairs, column, task), agreement_kind="mean absolute difference" if task == "regression"
        else "share of equal labels", truth_rows=len(judged),
        champion=_summary(served, judged, f"{column}_champion", task, actual is not None),
        challenger=_summary(shadow, judged, f"{column}_challenger", task, actual is not None))


def _span(since: str) -> pd.Timedelta:
    try:
        span = pd.Timedelta(since)
    except ValueError as exc:
        raise ConfigError(f"--since {since!r} is not a span of time; use e.g. 30m, 1h or 2d") from exc
    if span <= pd.Timedelta(0):
        raise ConfigError(f"--since {since!r} must be a positive span of time, e.g. 1h")
    return span


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (("role", object), ("request_id", object), ("key", object),
                                                              ("value", "float64"), ("label", object),
                                                              ("latency_s", "float64"), ("model_version", "int64"))})


def _truth(truth: pd.DataFrame, key: str | None, target: str | None) -> pd.Series:
    if key is None or target is None:
        raise ConfigError("give --key and --target with --truth")
    for column in (key, target):
        if column not in truth.columns:
            raise ConfigError(f'the truth has no column "{column}" (its columns: {", ".join(map(str, truth.columns))})')
    actual = pd.Series(truth[target].to_numpy(), index=truth[key].astype(str), name="actual")
    return actual[~actual.index.duplicated(keep="last")].dropna()


def _agreement(pairs: pd.DataFrame, column: str, task: str) -> float | None:
    if pairs.empty:
        return None
    champion, challenger = pairs[f"{column}_champion"], pairs[f"{column}_challenger"]
    if task == "regression":
        return float(np.mean(np.abs(champion.astype(float) - challenger.astype(float))))
    return float((champion.astype(str) == challenger.astype(str)).mean())


def _summary(rows: pd.DataFrame, judged: pd.DataFrame, column: str, task: str, has_truth: bool) -> RoleSummary:
    per_request = rows.drop_duplicates("request_id")["latency_s"].dropna().astype(float) * 1000
    return RoleSummary(
        versions=sorted(int(v) for v in rows["model_version"].unique()), rows=len(rows),
        latency_p50_ms=float(per_request.quantile(0.5)) if len(per_request) else None,
        latency_p99_ms=float(per_request.quantile(0.99)) if len(per_request) else None,
        error=_error(judged, column, task) if has_truth else None)


def _error(judged: pd.DataFrame, column: str, task: str) -> float | None:
    if judged.empty:
        return None
    if task == "regression":
        actual = pd.to_numeric(judged["actual"], errors="coerce").astype(float)
        return float(np.mean(np.abs(actual - judged[column].astype(float))))
    return float((judged["actual"].astype(str) != judged[column].astype(str)).mean())
