"""The Spark engine: the same job spread over a cluster (``--engine spark``, ``local[*]`` by default).

The bundle is broadcast once; each Python worker opens it once and keeps
it. A Parquet input is shared out by row group: each task reads its groups
itself with pyarrow, as the local engine reads, so rows never pass through
the JVM (on local[2], moving a million rows from Spark's reader to Python
took 1.0 s; reading them in the workers, 0.16-0.19 s), and rejects carry
the same row numbers as on the local engine. A CSV input is read by Spark
and reaches the workers as Arrow batches (``mapInArrow``); its reject row
numbers are Spark's row ids (unique and increasing, not contiguous). Either
way the rows go through the same typing and scoring code as the local
engine, so both give the same predictions; each worker writes its batches
straight into the prediction store, and the driver adds up the counts. The
input and the store must be reachable from the workers (a shared folder and
PostgreSQL on a cluster; local files and a SQLite file work on one
machine). ``--resume`` re-scores the whole input under the same run:
upserts keep one prediction per key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections import OrderedDict
from contextlib import contextmanager

from mldeploy._extras import require
from mldeploy.batch._store_writes import Progress
from mldeploy.batch.columns import feature_frame, key_strings
from mldeploy.batch.engine import OnProgress, RunPlan
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.batch.scoring import ChunkScorer
from mldeploy.batch.input_tables import CsvTable, ParquetTable, read_row_group
from mldeploy.errors import (BackendError, BundleError, ConfigError, MldeployError, PredictionError, RegistryError,
                             UnsupportedError)

__all__ = ["SparkEngine"]

_ROW = "_mldeploy_row"
_SUMMARY = "rows long, written long, rejected long, error string"
_SUMMARY_NAMES = ("rows", "written", "rejected", "error")
_CARRIED = (ConfigError, BackendError, BundleError, RegistryError, UnsupportedError, PredictionError)
"""The errors a task carries back to the driver by name and message (classes that take a message alone)."""
# Per Python worker (workers are reused across tasks): (bundle digest, trusted types) -> (model, its folder),
# the most recently used last; store URL -> store.
_MODELS: OrderedDict[tuple, tuple] = OrderedDict()
_MAX_MODELS = 4
_STORES: dict[str, PredictionStore] = {}
_SLICES_PER_CORE = 4
"""Tasks a core for a Parquet input's row groups: shares small enough that no core waits long for another."""
_EVEN_SPLITS = {"spark.sql.files.openCostInBytes": "0"}
"""Spark's reader (a CSV input) splits by bytes alone. Its default counts 4 MB more per file to open it, so
one file of tens of MB on two cores split 60/40 (631,072 and 368,928 of 1,000,000 Parquet rows, when
Spark read Parquet too), and the run waited for the bigger task: 3.4-3.7 s on local[2], 3.0-3.2 s split evenly."""


class SparkEngine:
    """Score a run with PySpark on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``, ...)."""

    name = "spark"
    model_threads = 1  # the driver's copy only resolves the run and its schema; each task loads its own

    def __init__(self, master: str | None = None):
        self.master = master or "local[*]"

    def execute(self, plan: RunPlan, on_progress: OnProgress | None = None) -> None:
        """Score every row of the input on the cluster; the run's counts are set when all partitions are written."""
        spark, owned = _session(self.master)
        try:
            counts = _score_everywhere(spark, plan)
        finally:
            if owned:
                spark.stop()
        _raise_carried(counts)
        totals = Progress(*(sum(row[i] for row in counts) for i in range(3)))  # rows, written, rejected
        plan.store.set_progress(plan.run.run_id, totals)
        if on_progress is not None:
            on_progress(totals.rows_done, plan.run.rows_total)


def _score_everywhere(spark, plan: RunPlan) -> list:
    """Run the tasks and return their count rows (rows, written, rejected, carried error or None).

    A few rows a task, added up by the caller: an aggregation in Spark would add a stage and a shuffle.
    """
    archive = spark.sparkContext.broadcast(plan.bundle_archive())
    try:
        columns, features = plan.columns(plan.source.columns())
        task = _Task(archive, plan, features, columns)
        if isinstance(plan.source, ParquetTable):
            groups = plan.source.row_groups()
            slices = max(1, min(len(groups), _SLICES_PER_CORE * spark.sparkContext.defaultParallelism))
            return spark.sparkContext.parallelize(groups, slices).mapPartitions(task.score_row_groups).collect()
        # Spark's reader: its batches are the run's chunks, its splits even (settings the run's own, then put back)
        with _settings(spark, {**_EVEN_SPLITS, "spark.sql.execution.arrow.maxRecordsPerBatch": str(plan.chunk_rows)}):
            row_ids = require("pyspark.sql.functions").monotonically_increasing_id()
            rows = _read_csv(spark, plan, columns).withColumn(_ROW, row_ids)
            return rows.mapInArrow(task.score_batches, _SUMMARY).collect()
    finally:
        archive.unpersist()


class _Task:
    """What each worker runs: read or receive rows, type, score, write, and report counts."""

    def __init__(self, archive, plan: RunPlan, features: list[str], columns: list[str]):
        # Only what the workers need travels: not the plan's model, store or source.
        self.archive, self.trusted, self.store_url, self.features = archive, plan.trusted, plan.store.url, features
        self.run, self.key, self.text_columns, self.extra = plan.run, plan.key, plan.text_columns, plan.extra
        self.columns, self.chunk_rows = columns, plan.chunk_rows

    def score_row_groups(self, groups):
        """Read each Parquet row group given and score it; yield (rows, written, rejected, None) per chunk.

        mldeploy's own errors (an unreadable file, a store gone) end the task with one row that carries them.
        """
        try:
            scorer, store = self._open()
            for group in groups:
                for first_row, table in read_row_group(group, self.columns, self.chunk_rows):
                    yield (*self._score(scorer, store, table, first_row, None), None)
        except MldeployError as exc:
            yield 0, 0, 0, _carry(exc)

    def score_batches(self, batches):
        """Score Arrow batches from Spark's reader, numbered by their row ids; yield one count row each."""
        pa = require("pyarrow")
        try:
            scorer, store = self._open()
            for batch in batches:
                table = pa.Table.from_batches([batch])
                counts = (*self._score(scorer, store, table, 0, table.column(_ROW).to_numpy()), None)
                yield pa.RecordBatch.from_pydict({name: [n] for name, n in zip(_SUMMARY_NAMES, counts)})
        except MldeployError as exc:
            yield pa.RecordBatch.from_pydict({name: [n] for name, n in zip(_SUMMARY_NAMES, (0, 0, 0, _carry(exc)))})

    def _open(self):
        scorer = ChunkScorer(_model(self.archive.value, self.trusted), self.key, self.extra)
        store = _STORES.get(self.store_url) or _STORES.setdefault(self.store_url, PredictionStore(self.store_url))
        return scorer, store

    def _score(self, scorer, store, table, first_row: int, row_numbers) -> tuple[int, int, int]:
        keys = key_strings(table.column(self.key))
        frame = feature_frame(table, scorer.model.schema, self.text_columns, self.features)
        chunk = scorer.score(first_row, keys, frame, row_numbers=row_numbers)
        store.write(self.run, chunk, None)
        return chunk.rows, len(chunk.keys), len(chunk.rejects)


def _model(archive: bytes, trusted: tuple):
    # the same bundle loaded with other trusted types is another model: a run never borrows another's trust
    key = (hashlib.sha256(archive).hexdigest(), tuple(trusted or ()))
    if key in _MODELS:
        _MODELS.move_to_end(key)
        return _MODELS[key][0]
    from mldeploy.bundle import Bundle
    from mldeploy.serving import Model

    folder = tempfile.mkdtemp(prefix="mldeploy-spark-")
    try:
        model = Model(Bundle.from_archive(archive, directory=f"{folder}/bundle"), trusted=trusted,
                      threads=1)  # Spark runs one task per core already
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _MODELS[key] = (model, folder)
    while len(_MODELS) > _MAX_MODELS:  # a long-lived session's workers outlive many runs and bundles
        _, (_, old_folder) = _MODELS.popitem(last=False)
        shutil.rmtree(old_folder, ignore_errors=True)
    return model


def _carry(exc: MldeployError) -> str:
    """The error as text for the driver: its nearest class that takes a message alone, and the message."""
    kind = next((kind for kind in type(exc).__mro__ if kind in _CARRIED), MldeployError)
    return f"{kind.__name__}: {exc}"


def _raise_carried(counts: list) -> None:
    """Raise the first error a task carried back, as its own class, so the CLI reports it like a local one."""
    carried = next((row[3] for row in counts if row[3]), None)
    if carried:
        name, _, message = carried.partition(": ")
        raise next((kind for kind in _CARRIED if kind.__name__ == name), MldeployError)(message)


@contextmanager
def _settings(spark, values: dict[str, str]):
    """Set session settings for the run and put the old ones back after: the session may be the user's."""
    before = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _read_csv(spark, plan: RunPlan, columns: list[str]):
    source = plan.source
    if not isinstance(source, CsvTable):
        raise ConfigError(f"--engine spark reads CSV or Parquet files, not {source.description}; "
                          "use --engine local for a database input")
    # text, like the local engine: typed by the schema on the workers
    return spark.read.csv(str(source.files[0]), header=True, inferSchema=False).select(*columns)


def _session(master: str):
    """Return (session, whether this call created it): an active session (e.g. a notebook's) is reused."""
    sql = require("pyspark.sql")
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        return active, False
    # Spark's local workers take their Python from the environment only (spark.pyspark.python is not
    # honoured for them): without this they run `python3` from PATH, which may lack mldeploy.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # bind the loopback, not the first interface
    builder = (sql.SparkSession.builder.master(master).appName("mldeploy-batch")
               .config("spark.pyspark.python", sys.executable)  # workers run this Python, with mldeploy installed
               .config("spark.ui.enabled", "false"))
    if master.startswith("local"):  # one machine: bind the loopback only
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    return builder.getOrCreate(), True
