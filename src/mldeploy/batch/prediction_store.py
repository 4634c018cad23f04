"""PredictionStore: the prediction database an app reads, sqlite by default or PostgreSQL by URL.

Example::

    store = PredictionStore("sqlite:///predictions.db")       # or "postgresql://user@host:5432/hr"
    store.get("salary", "10042")   # StoredPrediction(value=..., model_version=3, run_id=..., predicted_at=...)

The tables and the ``latest_predictions`` view are described in
:mod:`mldeploy.predictions.tables`; any language can read them with SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, event, insert, select, text, union_all, update
from sqlalchemy.exc import DBAPIError

from mldeploy.batch._store_writes import Progress, commit_without_waiting_for_the_disk, write_postgres, write_sqlite
from mldeploy.batch.chunk import Reject, ScoredChunk
from mldeploy.batch.job_config import BatchJobConfig
from mldeploy.batch.records import RunRecord, StoredPrediction
from mldeploy.batch.run_lease import advisory_lease, file_lease
from mldeploy.errors import BackendError, ConfigError
from mldeploy._db import WRITE, create_engine_for, normalise_url
from mldeploy.predictions import tables

__all__ = ["PredictionStore", "Progress", "new_run_id"]

DEFAULT_URL = BatchJobConfig.store_url


class PredictionStore:
    """Keyed predictions tagged with model version and run, the runs that wrote them, and rejected rows.

    ``url`` is ``sqlite:///path.db`` (the default, ``predictions.db`` here) or
    ``postgresql://user@host:port/db``; tables and the view are created if missing.
    """

    def __init__(self, url: str = DEFAULT_URL):
        self._url = _parse(url)
        self.location = _describe(self._url)
        if not self.in_memory and self._url.get_backend_name() == "sqlite":
            _prepare_folder(Path(self._url.database).expanduser().parent)
        self._engine, read_only = create_engine_for(self._url, create=True)
        if not self.is_postgres:
            event.listen(self._engine, "connect", commit_without_waiting_for_the_disk)
        self._direct_runs: dict[str, bool] = {}
        """Runs whose chunks still go straight into ``predictions`` on PostgreSQL (see ``_store_writes``)."""
        try:
            if not read_only:  # a store in a folder we may only read can still be looked up
                self._create_schema()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The store's URL, password included (what another process needs to open it)."""
        return self._url.render_as_string(hide_password=False)

    @property
    def in_memory(self) -> bool:
        """Tell whether the store lives in this process only (in-memory SQLite): gone when it closes."""
        return self._url.get_backend_name() == "sqlite" and self._url.database in (None, "", ":memory:")

    @property
    def is_postgres(self) -> bool:
        """Tell whether the store is a PostgreSQL database (else SQLite)."""
        return self._url.get_backend_name() == "postgresql"

    # -- reading -------------------------------------------------------------

    def get(self, name: str, key, version: int | None = None) -> StoredPrediction | None:
        """Return the latest prediction for ``key`` of model ``name`` (or of one version), None if there is none."""
        source = tables.predictions if version is not None else _latest_view()
        query = select(source).where(source.c.model_name == name, source.c.key == str(key))
        if version is not None:
            query = query.where(source.c.model_version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
        return StoredPrediction.from_row(row) if row is not None else None

    def count(self, name: str, version: int | None = None) -> int:
        """Return how many predictions are stored for a model (or one version)."""
        query = select(text("count(*)")).select_from(tables.predictions).where(tables.predictions.c.model_name == name)
        if version is not None:
            query = query.where(tables.predictions.c.model_version == version)
        with self._read() as conn:
            return conn.execute(query).scalar_one()

    def run(self, run_id: str) -> RunRecord:
        """Return one run; ConfigError if the store has no run with that id."""
        with self._read() as conn:
            row = conn.execute(select(tables.runs).where(tables.runs.c.run_id == run_id)).first()
        if row is None:
            raise ConfigError(f"{self.location} has no batch run {run_id!r}; the table prediction_runs lists every run")
        return RunRecord.from_row(row)

    def runs(self, name: str | None = None) -> list[RunRecord]:
        """Return every run (of one model), oldest first."""
        query = select(tables.runs).order_by(tables.runs.c.started_at, tables.runs.c.run_id)
        if name is not None:
            query = query.where(tables.runs.c.model_name == name)
        with self._read() as conn:
            return [RunRecord.from_row(row) for row in conn.execute(query)]

    def resumable(self, name: str, fingerprint: str, key_column: str) -> RunRecord | None:
        """Return the latest unfinished run of ``name`` over the same input and key, if any."""
        c = tables.runs.c
        query = (select(tables.runs).where(c.model_name == name, c.input_fingerprint == fingerprint,
                                           c.key_column == key_column, c.status != "finished")
                 .order_by(c.started_at.desc()).limit(1))
        with self._read() as conn:
            row = conn.execute(query).first()
        return RunRecord.from_row(row) if row is not None else None

    def rejects(self, run_id: str, limit: int | None = None) -> list[Reject]:
        """Return a run's rejected rows in input order (the first ``limit`` of them), each with every issue."""
        query = select(tables.rejects).where(tables.rejects.c.run_id == run_id).order_by(tables.rejects.c.row_number)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [Reject.from_json(row.row_number, row.key, row.reasons) for row in conn.execute(query)]

    def iter_predictions(self, name: str, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Yield every stored prediction of a model (all versions) in frames of at most ``chunk_rows``."""
        yield from self._frames(select(tables.predictions).where(tables.predictions.c.model_name == name), chunk_rows)

    def iter_served(self, name: str, chunk_rows: int = 100_000, since: datetime | None = None) -> Iterator[pd.DataFrame]:
        """Yield every logged served prediction of a model (API, gRPC, stream; shadows too), or those ``since``, in frames."""
        query = select(tables.served).where(tables.served.c.model_name == name)
        if since is not None:
            query = query.where(tables.served.c.predicted_at >= since)
        yield from self._frames(query, chunk_rows)

    def model_names(self) -> list[str]:
        """Return the models with batch runs or logged predictions, sorted."""
        query = union_all(select(tables.runs.c.model_name), select(tables.served.c.model_name).distinct())
        with self._read() as conn:
            return sorted({row[0] for row in conn.execute(query)})

    # -- writing -------------------------------------------------------------

    def start_run(self, name: str, version: int, engine: str, input: str, fingerprint: str, key_column: str,
                  rows_total: int | None, run_id: str | None = None) -> RunRecord:
        """Record a new run as running and return it; ``run_id`` (32 hex digits) is one from :func:`new_run_id`."""
        now = _now()
        values = dict(run_id=run_id or new_run_id(), model_name=name, model_version=version, engine=engine, input=input,
                      input_fingerprint=fingerprint, key_column=key_column, status="running", started_at=now,
                      updated_at=now, finished_at=None, rows_total=rows_total, rows_done=0, rows_written=0,
                      rows_rejected=0, error=None)
        with self._write() as conn:
            conn.execute(insert(tables.runs).values(**values))
        return RunRecord(**values)

    def hold_run(self, run_id: str) -> AbstractContextManager:
        """Hold the run's lease for a ``with`` block: RunBusyError while another process writes it.

        The lease goes when the block ends or the process dies (see :mod:`mldeploy.batch.run_lease`;
        without ``fcntl``, on Windows, a SQLite lease holds within this process only).
        """
        if self.in_memory:  # no other process can see this database
            return nullcontext()
        if self.is_postgres:
            return advisory_lease(self._engine, self.location, run_id)
        return file_lease(Path(self._url.database).expanduser(), self.location, run_id)

    def reopen_run(self, run_id: str) -> RunRecord:
        """Mark an unfinished run running again (for ``--resume``) and return it; ConfigError if it finished meanwhile."""
        runs = tables.runs
        with self._write() as conn:
            reopened = conn.execute(update(runs).where(runs.c.run_id == run_id, runs.c.status != "finished")
                                    .values(status="running", error=None)).rowcount
        if not reopened:
            raise ConfigError(f"run {run_id} in {self.location} finished while this resume started; nothing is "
                              "left to resume")
        return self.run(run_id)

    def write(self, run: RunRecord, chunk: ScoredChunk, progress: Progress | None) -> None:
        """Store a scored chunk, its rejects and the run's progress in one transaction.

        ``progress`` None leaves the run's counts alone: writers working in
        parallel (Spark executors) report them with :meth:`set_progress` at the end.
        """
        args = (run.run_id, run.model_name, run.model_version, chunk, progress, _now())
        with self._write() as conn:
            if not self.is_postgres:
                write_sqlite(conn, *args)
                return
            # A fresh run tries COPY straight into the table; a resumed one merges from the start.
            direct = self._direct_runs.get(run.run_id, run.rows_done == 0)
            self._direct_runs[run.run_id] = write_postgres(conn, *args, direct=direct)

    def set_progress(self, run_id: str, progress: Progress) -> None:
        """Set a run's counts."""
        self._set_run(run_id, rows_done=progress.rows_done, rows_written=progress.rows_written,
                      rows_rejected=progress.rows_rejected, updated_at=_now())

    def finish_run(self, run_id: str) -> RunRecord:
        """Mark a run finished."""
        now = _now()
        self._set_run(run_id, status="finished", finished_at=now, updated_at=now)
        return self.run(run_id)

    def fail_run(self, run_id: str, error: str) -> None:
        """Mark a run failed with the reason; ``--resume`` picks it up."""
        self._set_run(run_id, status="failed", error=error[:2000], updated_at=_now())

    def record_metrics(self, rows: list[dict]) -> None:
        """Store validation metrics (rows of the prediction_metrics table) in one transaction."""
        if rows:
            with self._write() as conn:
                conn.execute(insert(tables.metrics), rows)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> "PredictionStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PredictionStore({self.location})"

    # -- plumbing ------------------------------------------------------------

    def _set_run(self, run_id: str, **values) -> None:
        with self._write() as conn:
            conn.execute(update(tables.runs).where(tables.runs.c.run_id == run_id).values(**values))

    def _create_schema(self) -> None:
        with self._write() as conn:
            tables.create_schema(conn, self.is_postgres)

    def _frames(self, query, chunk_rows: int) -> Iterator[pd.DataFrame]:
        with self._read() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
            for rows in result.partitions():
                yield pd.DataFrame(rows, columns=list(result.keys()))

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translate(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translate(), self._engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
            raise BackendError(f"prediction store {self.location}: {reason}") from exc


def new_run_id() -> str:
    """A new run's id: 32 hex digits (its lease takes its key from them)."""
    return uuid.uuid4().hex


def _latest_view():
    from sqlalchemy import table, column

    return table(tables.LATEST_VIEW, *(column(c.name, c.type) for c in tables.predictions.columns))


def _parse(url: str):
    return normalise_url(url, what="prediction store")


def _describe(url) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}" if url.database not in (None, "", ":memory:") else "in-memory SQLite"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _prepare_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {folder} for the prediction store ({exc.strerror}); "
                          "choose a writable path") from exc


def _now() -> datetime:
    return datetime.now(timezone.utc)
