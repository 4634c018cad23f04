"""Draw a validation report as one PNG: predicted against actual, and the error by version over time.

Numbers carry thousands separators and the target's unit when the caller knows it; the
error's axis starts at zero, so a small difference looks small; one window is drawn as
bars (a line needs two points), several as lines over the windows' time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy.batch.backtest import OVERALL, ValidationReport
from mldeploy.errors import ConfigError

__all__ = ["plot_report"]

_POINTS_PER_VERSION = 4_000
_WINDOW_NAMES = {"min": "minute", "h": "hour", "D": "day", "W": "week", "MS": "month", "M": "month",
                 "QS": "quarter", "Q": "quarter", "YS": "year", "Y": "year"}


def plot_report(report: ValidationReport, path: str | Path, unit: str | None = None) -> Path:
    """Write the report's two panels to ``path`` (PNG) and return it; ``unit`` labels the target's axes (e.g. USD)."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # no display: files only
    pyplot = require("matplotlib.pyplot")
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(12, 5))
    try:
        if report.task == "regression":
            _scatter(left, report, unit)
        else:
            _accuracy_bars(left, report)
        _error_over_time(right, report, unit)
        figure.suptitle(f"{report.model_name}: {report.matched_rows:,} predictions validated against the truth")
        figure.tight_layout()
        path = Path(path)
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; choose a writable --plot path") from exc
    finally:
        pyplot.close(figure)
    return path


def _thousands(axis) -> None:
    ticker = require("matplotlib.ticker")
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _with_unit(text: str, unit: str | None) -> str:
    return f"{text} ({unit})" if unit else text


def _scatter(axes, report: ValidationReport, unit: str | None) -> None:
    rng = np.random.default_rng(0)
    low, high = np.inf, -np.inf
    for version, rows in report.joined.groupby("model_version"):
        if len(rows) > _POINTS_PER_VERSION:  # a readable cloud; the metrics use every row
            rows = rows.iloc[rng.choice(len(rows), _POINTS_PER_VERSION, replace=False)]
        actual, predicted = rows["actual"].astype(float), rows["predicted"].astype(float)
        axes.scatter(actual, predicted, s=4, alpha=0.35, label=f"version {version}")
        low, high = min(low, actual.min(), predicted.min()), max(high, actual.max(), predicted.max())
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="perfect")
    axes.set(xlabel=_with_unit("actual", unit), ylabel=_with_unit("predicted", unit), title="Predicted against actual")
    _thousands(axes.xaxis)
    _thousands(axes.yaxis)
    axes.legend(markerscale=3)


def _accuracy_bars(axes, report: ValidationReport) -> None:
    overall = report.table(OVERALL)
    axes.bar([f"version {v}" for v in overall.index], overall["accuracy"])
    axes.set(ylim=(0, 1), ylabel="accuracy", title="Accuracy by model version")


def _error_over_time(axes, report: ValidationReport, unit: str | None) -> None:
    regression = report.task == "regression"
    metric = "mae" if regression else "accuracy"
    label = _with_unit("mean absolute error", unit) if regression else "accuracy"
    rows = report.metrics[(report.metrics.metric == metric) & (report.metrics.window_start != OVERALL)]
    window = _WINDOW_NAMES.get(report.window, f"{report.window} window")
    if rows.window_start.nunique() <= 1:
        _one_window_bars(axes, rows, label)
        start = rows.window_start.iloc[0][:16].replace("T", " ") if len(rows) else ""
        axes.set_title(f"{'Error' if regression else 'Accuracy'} by version, one {window} from {start}")
    else:
        for version, series in rows.groupby("model_version"):
            times = pd.to_datetime(series["window_start"], utc=True).dt.tz_localize(None)
            axes.plot(times, series["value"], marker="o", label=f"version {version}")
        axes.set(xlabel=f"{window} of {report.time_basis} (UTC)",
                 title=f"{'Error' if regression else 'Accuracy'} by version, per {window}")
        axes.legend(loc="lower right")
        for tick in axes.get_xticklabels():  # this panel's dates only: the scatter's numbers stay level
            tick.set_rotation(30)
            tick.set_horizontalalignment("right")
    # From zero, so a 0.2% difference looks like one, with room above the highest value.
    axes.set_ylim(bottom=0, top=1.05 if not regression else 1.15 * max(rows["value"].max(), 1e-9))
    axes.set_ylabel(label)
    if regression:
        _thousands(axes.yaxis)


def _one_window_bars(axes, rows: pd.DataFrame, label: str) -> None:
    names = [f"version {v}" for v in rows.model_version]
    bars = axes.bar(names, rows["value"], width=0.5, color=[f"C{i}" for i in range(len(names))])
    axes.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in rows["value"]], padding=3)
