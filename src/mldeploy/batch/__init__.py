"""Offline prediction: score a table into a prediction database, look keys up, validate against the truth.

Example::

    from mldeploy.batch import PredictionStore, run_batch
    summary = run_batch("salary:production", "people.parquet", key="employee_id", store="sqlite:///predictions.db")
    PredictionStore("sqlite:///predictions.db").get("salary", "10042")
"""

from __future__ import annotations

from mldeploy._lazy import lazy_names

__all__ = ["PredictionStore", "run_batch", "validate"]

_LAZY = {
    "PredictionStore": "mldeploy.batch.prediction_store",
    "run_batch": "mldeploy.batch.job",
    "validate": "mldeploy.batch.backtest",
}


__getattr__ = lazy_names(__name__, _LAZY)
