"""The prediction log's database sink: served predictions appended to ``served_predictions``, one transaction a batch.

PostgreSQL gets each batch by COPY (rows streamed by psycopg, no SQL per row);
SQLite by one ``executemany``. The tables and view are created on open, as the
batch store does, so ``latest_predictions`` and ``mldeploy validate`` read the
logged rows beside batch ones. A write that fails (server gone) raises: the
log keeps the batch and retries it (:class:`mldeploy.serving.prediction_log.PredictionLog`);
the engine's pre-ping replaces dead connections when the server is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection

from mldeploy._db import WRITE, create_engine_for, describe, normalise_url, translate_errors
from mldeploy.errors import ConfigError
from mldeploy.predictions import tables
from mldeploy.serving.prediction_log import Loggable

__all__ = ["DatabaseLogSink", "open_database_log"]

_COLUMNS = ", ".join(tables.SERVED_COLUMNS)
_AT = tables.SERVED_COLUMNS.index("predicted_at")


class DatabaseLogSink:
    """Append logged predictions to a prediction database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str):
        self._url = normalise_url(url, what="--log-to database")
        self.is_postgres = self._url.get_backend_name() == "postgresql"
        if not self.is_postgres:
            if self._url.database in (None, "", ":memory:"):
                raise ConfigError("--log-to sqlite needs a file (sqlite:///predictions.db): an in-memory log is lost")
            _prepare_folder(Path(self._url.database).expanduser().parent)
        self._engine, read_only = create_engine_for(self._url, create=True)
        if read_only:
            self._engine.dispose()
            raise ConfigError(f"--log-to {describe(self._url)}: its folder is not writable; choose a writable path")
        try:
            with translate_errors(self._url), self._begin() as conn:
                tables.create_schema(conn, self.is_postgres)
        except BaseException:
            self._engine.dispose()
            raise

    def describe(self) -> str:
        """Name the database, without any password."""
        return describe(self._url)

    def write(self, entries: list[Loggable]) -> None:
        """Append every row of ``entries`` in one transaction."""
        rows = [row for entry in entries for row in entry.rows()]
        if not rows:
            return
        with self._begin() as conn:
            if self.is_postgres:
                _copy(conn, rows)
            else:
                conn.exec_driver_sql(
                    f"INSERT INTO served_predictions ({_COLUMNS}) VALUES ({', '.join('?' * len(tables.SERVED_COLUMNS))})",
                    [tuple(_sqlite_value(name, row[name]) for name in tables.SERVED_COLUMNS) for row in rows])

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn


def _copy(conn, rows: list[dict]) -> None:
    cursor = conn.connection.driver_connection.cursor()
    times: dict[float, datetime] = {}  # the rows of one request share their time: convert it once
    try:
        with cursor.copy(f"COPY served_predictions ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                values = [row[name] for name in tables.SERVED_COLUMNS]
                at = values[_AT]
                values[_AT] = times.get(at) or times.setdefault(at, datetime.fromtimestamp(at, timezone.utc))
                copy.write_row(values)
    finally:
        cursor.close()


def _sqlite_value(name: str, value):
    # The text form SQLAlchemy's SQLite DateTime reads back (UTC, no offset).
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") if name == "predicted_at" else value


def _prepare_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {folder} for --log-to ({exc.strerror}); choose a writable path") from exc


def open_database_log(url: str) -> DatabaseLogSink:
    """Entry point of the ``sqlite`` and ``postgresql`` prediction logs."""
    return DatabaseLogSink(url)
