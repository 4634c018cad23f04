"""Run one batch job: resolve the model once, check the input, record the run, let an engine score it.

Everything that can be wrong with the input as a whole (no key column, a key
twice, a column the model needs, an unreadable file) is found before the
first row is written, so a refused job leaves the store as it was. Example::

    run = run_batch("salary:production", "people.parquet", key="employee_id",
                    store="sqlite:///predictions.db")
    run.rows_written, run.rows_rejected
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from mldeploy.batch.engine import Engine, OnProgress, RunPlan
from mldeploy.batch.keys import check_keys
from mldeploy.batch.job_config import BatchJobConfig
from mldeploy.batch.prediction_store import PredictionStore, new_run_id
from mldeploy.batch.records import RunRecord
from mldeploy.batch.input_tables import CsvTable, InputTable, open_input
from mldeploy.bundle import BundleRef
from mldeploy.errors import BadReferenceError, ConfigError

__all__ = ["run_batch"]


def run_batch(ref: str, input: str | Path, key: str, store: str | PredictionStore = BatchJobConfig.store_url, *,
              engine: str | Engine = "local", resume: bool = False, registry=None, table: str | None = None,
              query: str | None = None, chunk_rows: int = BatchJobConfig.chunk_rows, parquet_out: Path | None = None,
              on_progress: OnProgress | None = None, trusted=(), public_key=None, spark_master: str | None = None,
              extra: str = BatchJobConfig.extra) -> RunRecord:
    """Score every row of ``input`` with ``ref`` into the prediction store and return the finished run.

    ``resume`` continues the latest unfinished run of the same model over
    the same input (same fingerprint and key) with the version it started
    with. Columns the model does not know are ignored (ids, targets), or
    refused with ``extra="reject"``. ``registry`` is a Registry, a folder or
    a database URL (see :func:`mldeploy.serving.load`). Raises ConfigError
    for bad input, before anything is written.
    """
    config = BatchJobConfig(chunk_rows=chunk_rows, extra=extra)  # refuses a bad value before anything is opened
    source = open_input(input, table=table, query=query, key=key)
    opened = PredictionStore(store) if isinstance(store, str) else store
    if opened is not store and opened.in_memory:
        opened.close()
        raise ConfigError(f"--to {store!r} keeps the predictions in memory, and they would vanish when the batch "
                          "ends; give a file (sqlite:///predictions.db) or a PostgreSQL database")
    try:
        options = dict(chunk_rows=config.chunk_rows, parquet_out=parquet_out, trusted=tuple(trusted), extra=config.extra)
        return _run(ref, source, key, opened, _engine(engine, spark_master), resume, registry, public_key, options,
                    on_progress)
    finally:
        if opened is not store:
            opened.close()


def _run(ref, source: InputTable, key, store: PredictionStore, engine: Engine, resume, registry, public_key, options,
         on_progress) -> RunRecord:
    fingerprint = source.fingerprint()
    previous = _resumable(ref, store, fingerprint, key) if resume else None
    model = _load(f"{previous.model_name}@{previous.model_version}" if previous else ref, registry,
                  options["trusted"], public_key, getattr(engine, "model_threads", None))
    _check_columns(source, model.schema, key)
    keys = check_keys(source, key)
    with ExitStack() as lease:  # one writer a run: a resume never runs under a live writer (see run_lease)
        if previous is not None:
            lease.enter_context(store.hold_run(previous.run_id))
            run = store.reopen_run(previous.run_id)
        else:  # leased before it is recorded: no resume can take it in between
            run_id = new_run_id()
            lease.enter_context(store.hold_run(run_id))
            run = store.start_run(model.ref.name, model.ref.version, engine.name, source.description, fingerprint,
                                  key, keys.rows, run_id=run_id)
        plan = RunPlan(source, key, model, model.bundle.to_archive, store, run,
                       text_columns=isinstance(source, CsvTable), **options)
        try:
            engine.execute(plan, on_progress)
        except BaseException as exc:
            store.fail_run(run.run_id, f"{type(exc).__name__}: {exc}")
            raise
        return store.finish_run(run.run_id)


def _resumable(ref: str, store: PredictionStore, fingerprint: str, key: str) -> RunRecord:
    try:
        name = BundleRef.parse(str(ref)).name
    except BadReferenceError as exc:
        raise ConfigError(f"--resume needs a registry reference such as salary:production, got {ref!r}") from exc
    run = store.resumable(name, fingerprint, key)
    if run is None:
        raise ConfigError(f"no unfinished run of {name} over this input (key {key!r}) in {store.location}; "
                          "run again without --resume")
    return run


def _load(ref: str, registry, trusted, public_key, threads: int | None):
    from mldeploy.serving import load

    return load(ref, registry=registry, trusted=tuple(trusted), public_key=public_key, threads=threads)


def _check_columns(source: InputTable, schema, key: str) -> None:
    present = set(source.columns())
    missing = [name for name in schema.names if name not in present]
    if missing:
        raise ConfigError(f"{source.description} lacks column(s) the model needs: {', '.join(missing)}; "
                          f"add them (the model reads {', '.join(schema.names)})")


def _engine(engine: str | Engine, spark_master: str | None) -> Engine:
    if not isinstance(engine, str):
        return engine
    if engine == "local":
        from mldeploy.batch.local import LocalEngine

        return LocalEngine()
    if engine == "spark":
        from mldeploy.batch.spark import SparkEngine

        return SparkEngine(master=spark_master)
    raise ConfigError(f"engine {engine!r} is not known; use local or spark")
