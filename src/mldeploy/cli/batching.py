"""Offline prediction commands: score a table into a prediction database, look a key up, validate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from mldeploy._urls import masked_url
from mldeploy.cli.app import app, console, state
from mldeploy.batch.job_config import BatchJobConfig
from mldeploy.cli.render import table

_DB_HELP = "Prediction database URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB."


@app.command()
def batch(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS or NAME; resolved once, at the start."),
    input: str = typer.Option(..., "--input", help="CSV file, Parquet file or folder, or a database URL with --table/--query."),
    key: str = typer.Option(..., "--key", help="The column that identifies each row, e.g. employee_id."),
    to: str = typer.Option(BatchJobConfig.store_url, "--to", envvar="MLDEPLOY_PREDICTIONS", help=_DB_HELP),
    engine: str = typer.Option("local", "--engine", help="local (this machine, both cores) or spark."),
    spark_master: str = typer.Option(None, "--spark-master", envvar="MLDEPLOY_SPARK_MASTER",
                                     help="Spark master URL for --engine spark (default local[*])."),
    table_name: str = typer.Option(None, "--table", help="Table to read when --input is a database URL."),
    query: str = typer.Option(None, "--query", help="SELECT to read when --input is a database URL."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last unfinished run over this input (refused while another process writes it)."),
    chunk_rows: int = typer.Option(BatchJobConfig.chunk_rows, "--chunk-rows", help="Rows read, scored and committed at a time."),
    parquet_out: Path = typer.Option(None, "--parquet-out", help="Also write the predictions to this Parquet file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score every row of a table into the prediction database, keyed, tagged with model version and run.

    Rows that fail validation go to the rejects table and the run goes on.
    Running the same job twice leaves one prediction per key and version;
    a run that was stopped continues with --resume.

    Example: `mldeploy batch salary:production --input people.parquet --key employee_id --to sqlite:///predictions.db`
    """
    from mldeploy.batch.job import run_batch

    with state.open_registry() as registry, _progress(quiet) as on_progress:
        run = run_batch(ref, input, key, to, engine=engine, resume=resume, registry=registry, table=table_name,
                        query=query, chunk_rows=chunk_rows, parquet_out=parquet_out, on_progress=on_progress,
                        public_key=state.public_key, spark_master=spark_master)
    console.print(f"run {run.run_id}: {run.rows_written:,} predictions of {run.ref} written to {masked_url(to)}, "
                  f"{run.rows_rejected:,} rows rejected")
    if run.rows_rejected:
        db = "" if to == BatchJobConfig.store_url else f" --db {masked_url(to)}"
        console.print(f"see them with: mldeploy rejects {run.run_id}{db}", highlight=False)


@app.command()
def rejects(
    run_id: str = typer.Argument(..., help="The run's id, as `mldeploy batch` printed it."),
    db: str = typer.Option(BatchJobConfig.store_url, "--db", envvar="MLDEPLOY_PREDICTIONS", help=_DB_HELP),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many rows (the first, in input order)."),
) -> None:
    """Show the rows a batch run rejected: row number, key and every reason.

    Example: `mldeploy rejects 3f2a9c1d --db sqlite:///predictions.db`
    """
    from mldeploy.batch.prediction_store import PredictionStore

    with PredictionStore(db) as store:
        run = store.run(run_id)
        found = store.rejects(run_id, limit=limit)
    title = f"Rows rejected by run {run_id} ({run.ref}): {run.rows_rejected:,}"
    if not found:
        console.print(f"{title}; every row was scored")
        return
    rows = [[f"{r.row:,}", r.key if r.key is not None else "—", "; ".join(r.reasons)] for r in found]
    console.print(table(title, ["row", "key", "reasons"], rows))
    if run.rows_rejected > len(found):
        console.print(f"showing the first {len(found):,}; --limit shows more, or read the table prediction_rejects")


@app.command()
def lookup(
    name: str = typer.Argument(..., help="Model name, e.g. salary."),
    key: str = typer.Argument(..., help="The key of the row, e.g. 10042."),
    db: str = typer.Option(BatchJobConfig.store_url, "--db", envvar="MLDEPLOY_PREDICTIONS", help=_DB_HELP),
    version: int = typer.Option(None, "--version", help="A given version's prediction (default: the latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the stored prediction for one key: value (or label and probabilities), version, run and time.

    Example: `mldeploy lookup --db sqlite:///predictions.db salary 10042`
    """
    from mldeploy.batch.prediction_store import PredictionStore
    from mldeploy.errors import NotFoundError

    with PredictionStore(db) as store:
        found = store.get(name, key, version=version)
    if found is None:
        which = f"version {version} of {name}" if version else name
        raise NotFoundError(f"no prediction of {which} for key {key!r} in {masked_url(db)}; run `mldeploy batch` on rows with that key")
    if as_json:
        console.print_json(json.dumps(found.to_json()))
        return
    what = f"{found.value:,.2f}" if found.label is None else f"{found.label}  {found.probabilities}"
    console.print(f"{found.model_name} key {found.key}: [bold]{what}[/]  (version {found.model_version}, "
                  f"run {found.run_id}, {found.predicted_at:%Y-%m-%d %H:%M:%S} UTC)")


@app.command()
def validate(
    truth: Path = typer.Option(..., "--truth", help="What really happened: CSV, Parquet, JSON with the key and target."),
    key: str = typer.Option(..., "--key", help="The key column, as given to `mldeploy batch`."),
    target: str = typer.Option(..., "--target", help="The true value's column, e.g. salary."),
    db: str = typer.Option(BatchJobConfig.store_url, "--db", envvar="MLDEPLOY_PREDICTIONS", help=_DB_HELP),
    model: str = typer.Option(None, "--model", help="Model name (default: the only model in the database)."),
    time_column: str = typer.Option(None, "--time", show_default=False,
                                    help="The truth's column of when each true value was seen, e.g. paid_on; "
                                         "windows divide that time (default: prediction time)."),
    window: str = typer.Option(None, "--window", show_default=False,
                               help="Time window for metrics over time: h, D, W, MS (pandas frequency); "
                                    "default: chosen from the time span, at most 30 windows."),
    unit: str = typer.Option(None, "--unit", show_default=False, help="The target's unit for the plot's axes, e.g. USD."),
    plot: Path = typer.Option(None, "--plot", help="Write predicted vs actual and error over time to this PNG."),
) -> None:
    """Join the truth to the stored predictions; record and print metrics per model version and time window.

    Example: `mldeploy validate --db sqlite:///predictions.db --truth paid.csv --key employee_id --target salary --plot report.png`
    """
    from mldeploy.batch.prediction_store import PredictionStore
    from mldeploy.batch.backtest import OVERALL, validate as run_validation
    from mldeploy.tables import read_table

    frame = read_table(truth)
    with PredictionStore(db) as store:
        report = run_validation(store, frame, key, target, model_name=model, window=window, time_column=time_column)
    overall, coverage = report.table(OVERALL), report.coverage()
    rows = [[v, f"{int(coverage.truth_rows[v]):,}", f"{int(coverage.matched[v]):,}", f"{int(coverage.unmatched[v]):,}",
             *(_metric(m, r[m]) for m in overall.columns[1:])] for v, r in overall.iterrows()]
    console.print(table(f"{report.model_name}: {report.truth_rows:,} true values, per model version",
                        ["version", "truth rows", "matched", "unmatched", *overall.columns[1:]], rows))
    windows = report.metrics[report.metrics.window_start != OVERALL]
    main_metric = "mae" if report.task == "regression" else "accuracy"
    by_time = windows[windows.metric == main_metric].sort_values(["window_start", "model_version"])
    console.print(table(f"{main_metric} per {report.window} window of {report.time_basis}",
                        ["window start (UTC)", "version", "rows", main_metric],
                        [[w, v, f"{n:,}", _metric(main_metric, x)] for v, w, _, x, n in by_time.itertuples(index=False)],
                        whole=("window start (UTC)",)))
    console.print(f"recorded as validation {report.validation_id} in table prediction_metrics")
    if plot is not None:
        from mldeploy.batch.backtest_plot import plot_report

        console.print(f"wrote {plot_report(report, plot, unit=unit)}")


@app.command("shadow-report")
def shadow_report(
    name: str = typer.Argument(..., help="Model name, e.g. salary."),
    since: str = typer.Option("1h", "--since", help="How far back: 30m, 1h, 2d."),
    db: str = typer.Option(BatchJobConfig.store_url, "--db", envvar="MLDEPLOY_PREDICTIONS",
                           help="The database the server logged to (its --log-to)."),
    truth: Path = typer.Option(None, "--truth", help="True values that have arrived (CSV, Parquet, JSON), with --key and --target."),
    key: str = typer.Option(None, "--key", help="The truth's key column (the server's --log-key values)."),
    target: str = typer.Option(None, "--target", help="The truth's true value column."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Champion against shadow challenger on the same requests: agreement, error against truth, latency, unpaired.

    Example: `mldeploy shadow-report salary --since 1h --db postgresql://…/predictions`
    """
    from mldeploy.batch.prediction_store import PredictionStore
    from mldeploy.batch.shadow_report import shadow_report as make_report
    from mldeploy.tables import read_table

    frame = read_table(truth) if truth is not None else None
    with PredictionStore(db) as store:
        report = make_report(store, name, since, frame, key, target)
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return
    error = "MAE" if report.task == "regression" else "error rate"
    rows = [[role, ", ".join(map(str, side.versions)) or "—", f"{side.rows:,}", _ms(side.latency_p50_ms),
             _ms(side.latency_p99_ms), "—" if side.error is None else f"{side.error:,.4g}"]
            for role, side in (("champion", report.champion), ("challenger", report.challenger))]
    console.print(table(f"{name}, last {since}: {report.paired:,} requests answered by both, {report.unpaired:,} by the "
                        f"champion alone", ["", "versions", "rows", "p50 ms", "p99 ms", f"{error} ({report.truth_rows:,} true)"],
                        rows))
    agreement = "—" if report.agreement is None else (
        f"{report.agreement:,.4g}" if report.task == "regression" else f"{report.agreement:.1%}")
    console.print(f"agreement ({report.agreement_kind}): {agreement}")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _metric(name: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if name in ("mae", "rmse"):
        return f"{value:,.0f}"
    return f"{value:.1%}" if name in ("mape", "accuracy") else f"{value:.4f}"


class _progress:
    """A rich progress bar (rows done, rate, time left) fed by the engine's callback; nothing with --quiet.

    The bar is drawn at the first report, which comes after the job has checked its input, so a
    refused job prints its error alone.
    """

    def __init__(self, quiet: bool):
        self._quiet = quiet
        self._bar = None

    def __enter__(self):
        return None if self._quiet else self._update

    def _update(self, done: int, total: int | None) -> None:
        if self._bar is None:
            self._start()
        task = self._bar.tasks[0]
        speed = task.speed
        self._bar.update(self._task, completed=done, total=total, rate=f"{speed:,.0f}" if speed else "—")

    def _start(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                             TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(), console=console,
                             transient=False)
        self._bar.start()
        self._task = self._bar.add_task("rows", total=None, rate="—")

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.stop()
