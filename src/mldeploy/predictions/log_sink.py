"""The prediction log's database sink: served predictions appended to ``served_predictions``, one transaction a batch.

PostgreSQL gets each batch by one COPY, its text built here in one pass (no SQL per row);
SQLite by one ``executemany``. The tables and view are created on open, as the
batch store does, so ``latest_predictions`` and ``mldeploy validate`` read the
logged rows beside batch ones. A write that fails (server gone) raises: the
log keeps the batch and retries it (:class:`mldeploy.serving.prediction_log.PredictionLog`);
the engine's pre-ping replaces dead connections when the server is back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, IntegrityError

from mldeploy._db import WRITE, create_engine_for, describe, normalise_url, translate_errors
from mldeploy.errors import ConfigError
from mldeploy.predictions import tables
from mldeploy.serving.prediction_log import Loggable, LogRow, RowsRefused

__all__ = ["DatabaseLogSink", "open_database_log"]

_COLUMNS = ", ".join(LogRow._fields)  # the table's columns, in the order a LogRow holds them
_REQUEST_ID = tables.served.c.request_id.type.length
_ENDPOINT = tables.served.c.endpoint.type.length


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
        """Append every row of ``entries`` in one transaction; RowsRefused for rows the table can never hold."""
        try:
            rows = [row for entry in entries for row in entry.rows()]
            if not rows:
                return
            with self._begin() as conn:
                if self.is_postgres:
                    _copy(conn, [_fitted(row) for row in rows])
                else:
                    conn.exec_driver_sql(
                        f"INSERT INTO served_predictions ({_COLUMNS}) VALUES ({', '.join('?' * len(LogRow._fields))})",
                        [_sqlite_row(_fitted(row)) for row in rows])
        except Exception as exc:
            if _never_stored(exc):
                raise RowsRefused(f"{type(exc).__name__}: {exc}") from exc
            raise

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn


def _copy(conn, rows: list[LogRow]) -> None:
    """Send ``rows`` as one COPY in PostgreSQL's text format, built here: a third of psycopg's per-row ``write_row``."""
    stamps = _Stamps()
    lines = [_copy_line(row, stamps) for row in rows]
    driver = conn.connection.driver_connection
    # in the connection's encoding, as psycopg would send it; a lone surrogate from a request's JSON
    # (or a character the database's encoding lacks) becomes "?", not a batch that never writes
    data = "".join(lines).encode(driver.info.encoding, "replace")
    cursor = driver.cursor()
    try:
        with cursor.copy(f"COPY served_predictions ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(data)
    finally:
        cursor.close()


def _copy_line(row: LogRow, stamps: _Stamps) -> str:
    name, key, version, request_id, source, endpoint, role, at, value, label, probabilities, inputs, latency = row
    # name (a bundle name), source and role are plain words by construction: no escaping to pay for.
    return (f"{name}\t{_text(key)}\t{version:d}\t{_text(request_id)}\t{source}\t{_text(endpoint)}\t{role}\t"
            f"{stamps.text(at)}\t{_NULL if value is None else repr(float(value))}\t{_text(label)}\t"
            f"{_text(probabilities)}\t{_text(inputs)}\t{_NULL if latency is None else repr(float(latency))}\n")


_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\\\\u0000"})


def _text(value) -> str:
    """One field of COPY's text format: backslash escapes, ``\\N`` for null; NUL, which PostgreSQL cannot store, as ``\\u0000``."""
    if value is None:
        return _NULL
    text = value if type(value) is str else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text or "\x00" in text:  # five scans beat one regex
        return text.translate(_ESCAPES)
    return text


class _Stamps:
    """Unix times as timestamptz text; the date and time of day are formatted once a second."""

    def __init__(self):
        self._second, self._text = None, ""

    def text(self, at: float) -> str:
        second, micro = divmod(round(at * 1_000_000), 1_000_000)  # rounded as datetime.fromtimestamp rounds
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return "%s.%06d+00" % (self._text, micro)


def _never_stored(exc: Exception) -> bool:
    """Whether no retry can store what raised ``exc``: rows that could not be made, or the database refusing their data."""
    if isinstance(exc, (ValueError, TypeError, KeyError)):  # a row the entry could not make or format (UnicodeError too)
        return True
    if isinstance(exc, (DataError, IntegrityError)):  # SQLAlchemy's wrapping of the driver's
        return True
    return str(getattr(exc, "sqlstate", None) or "")[:2] in ("22", "23")  # psycopg's own: data exception, constraint


def _fitted(row: LogRow) -> LogRow:
    """``row`` with a request id or endpoint longer than its column shortened, its digest keeping it distinct."""
    if len(row.request_id) <= _REQUEST_ID and len(row.endpoint) <= _ENDPOINT:
        return row
    return row._replace(request_id=_shortened(row.request_id, _REQUEST_ID), endpoint=_shortened(row.endpoint, _ENDPOINT))


def _shortened(text: str, size: int) -> str:
    if len(text) <= size:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{text[:size - 17]}~{digest}"


def _sqlite_row(row: LogRow) -> tuple:
    # predicted_at in the text form SQLAlchemy's SQLite DateTime reads back (UTC, no offset); a lone surrogate
    # from a request's JSON, which sqlite3 cannot encode, becomes "?" rather than a batch that never writes.
    at = datetime.fromtimestamp(row.predicted_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    return tuple(_encodable(value) if type(value) is str else value for value in row._replace(predicted_at=at))


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _prepare_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {folder} for --log-to ({exc.strerror}); choose a writable path") from exc


def open_database_log(url: str) -> DatabaseLogSink:
    """Entry point of the ``sqlite`` and ``postgresql`` prediction logs."""
    return DatabaseLogSink(url)
