"""The demo's offline-prediction step: score a table into sqlite, look a key up, validate against the truth."""

from __future__ import annotations

from pathlib import Path

from mldeploy.cli.app import console
from mldeploy.cli.render import table

_ROWS = 20_000
_FIRST_KEY = 100_000
_PAY_WEEKS = 12
"""The truth arrives over twelve weeks of pay days, so the chart shows the error week by week."""


def batch_step(registry, workdir: Path, step: int) -> None:
    """Score generated people into ``workdir/predictions.db``, look one up, validate and plot."""
    from mldeploy.batch.job import run_batch
    from mldeploy.batch.prediction_store import PredictionStore
    from mldeploy.batch.backtest import validate
    from mldeploy.examples import salary

    import numpy as np
    import pandas as pd

    people = salary.generate(_ROWS, seed=12, drift=0.1)
    people.insert(0, "employee_id", range(_FIRST_KEY, _FIRST_KEY + _ROWS))
    days = np.random.default_rng(12).integers(0, _PAY_WEEKS * 7, _ROWS)
    paid_on = pd.Timestamp("2026-01-05") + pd.to_timedelta(days, unit="D")
    inputs, truth = workdir / "people.parquet", people[["employee_id", salary.TARGET]].assign(paid_on=paid_on)
    people.drop(columns=salary.TARGET).to_parquet(inputs, index=False)
    truth.to_csv(workdir / "paid.csv", index=False)
    url = f"sqlite:///{workdir / 'predictions.db'}"
    with console.status(f"scoring {_ROWS:,} people into {url}"):
        run = run_batch("salary:production", inputs, "employee_id", url, registry=registry)
    key = str(_FIRST_KEY + 42)
    with PredictionStore(url) as store:
        found = store.get("salary", key)
        report = validate(store, truth, "employee_id", salary.TARGET, model_name="salary", time_column="paid_on")
    console.print(f"[bold]{step}. offline prediction[/] run {run.run_id[:8]}: {run.rows_written:,} predictions of "
                  f"{run.ref} in {url}; `mldeploy lookup --db {url} salary {key}` → ${found.value:,.0f}")
    overall = report.table()
    console.print(table(f"   validated against what was paid ({report.matched_rows:,} people)",
                        ["version", "MAE", "RMSE", "R²", "MAPE"],
                        [[v, f"{r.mae:,.0f}", f"{r.rmse:,.0f}", f"{r.r2:.3f}", f"{r.mape:.1%}"] for v, r in overall.iterrows()]))
    _plot(report, workdir / "validation.png")


def _plot(report, path: Path) -> None:
    from mldeploy.errors import MissingExtraError

    try:
        from mldeploy.batch.backtest_plot import plot_report

        console.print(f"   predicted against actual, and error by version week by week: {plot_report(report, path, unit='USD')}")
    except MissingExtraError as exc:
        console.print(f"   (no plot: {exc})")
