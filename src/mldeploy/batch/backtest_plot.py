"""Draw a validation report as one PNG: predicted against actual, and error by version over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy.batch.backtest import OVERALL, ValidationReport
from mldeploy.errors import ConfigError

__all__ = ["plot_report"]

_POINTS_PER_VERSION = 4_000


def plot_report(report: ValidationReport, path: str | Path) -> Path:
    """Write the report's two panels to ``path`` (PNG) and return it."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # no display: files only
    pyplot = require("matplotlib.pyplot")
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(12, 5))
    try:
        if report.task == "regression":
            _scatter(left, report)
        else:
            _accuracy_bars(left, report)
        _error_over_time(right, report)
        figure.suptitle(f"{report.model_name}: {report.matched_rows:,} predictions validated against the truth")
        figure.tight_layout()
        path = Path(path)
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; choose a writable --plot path") from exc
    finally:
        pyplot.close(figure)
    return path


def _scatter(axes, report: ValidationReport) -> None:
    rng = np.random.default_rng(0)
    low, high = np.inf, -np.inf
    for version, rows in report.joined.groupby("model_version"):
        if len(rows) > _POINTS_PER_VERSION:  # a readable cloud; the metrics use every row
            rows = rows.iloc[rng.choice(len(rows), _POINTS_PER_VERSION, replace=False)]
        actual, predicted = rows["actual"].astype(float), rows["predicted"].astype(float)
        axes.scatter(actual, predicted, s=4, alpha=0.35, label=f"version {version}")
        low, high = min(low, actual.min(), predicted.min()), max(high, actual.max(), predicted.max())
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="perfect")
    axes.set(xlabel="actual", ylabel="predicted", title="Predicted against actual")
    axes.legend(markerscale=3)


def _accuracy_bars(axes, report: ValidationReport) -> None:
    overall = report.table(OVERALL)
    axes.bar([f"v{v}" for v in overall.index], overall["accuracy"])
    axes.set(ylim=(0, 1), ylabel="accuracy", title="Accuracy by model version")


def _error_over_time(axes, report: ValidationReport) -> None:
    metric = "mae" if report.task == "regression" else "accuracy"
    rows = report.metrics[(report.metrics.metric == metric) & (report.metrics.window_start != OVERALL)]
    for version, series in rows.groupby("model_version"):
        times = pd.to_datetime(series["window_start"], utc=True).dt.tz_localize(None)
        axes.plot(times, series["value"], marker="o", label=f"version {version}")
    axes.set(xlabel="prediction time (UTC)", ylabel=metric.upper() if metric == "mae" else metric,
             title=f"{'Error' if metric == 'mae' else 'Accuracy'} by version over time")
    axes.legend()
    axes.figure.autofmt_xdate()
