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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, IntegrityError

from mldeploy._extras import optional
from mldeploy._db import WRITE, create_engine_for, describe, normalise_url, translate_errors
from mldeploy.errors import ConfigError
from mldeploy.predictions import tables
from mldeploy.serving.prediction_log import Loggable, LogRow, RowsRefused

__all__ = ["CopyText", "DatabaseLogSink", "open_database_log"]

_COLUMNS = ", ".join(LogRow._fields)  # the table's columns, in the order a LogRow holds them
_REQUEST_ID = tables.served.c.request_id.type.length
_ENDPOINT = tables.served.c.endpoint.type.length
_ROWS_PER_SLICE = 256


@dataclass(frozen=True, slots=True)
class CopyText:
    """Logged rows already made into COPY text (one line a row), waiting for the next write."""

    text: str
    rows: int

    def __len__(self) -> int:
        return self.rows

    def halves(self) -> tuple[CopyText, CopyText]:
        """Split the rows in two, to find the ones PostgreSQL refuses (a row's own line breaks are escaped)."""
        lines = self.text[:-1].split("\n")
        middle = len(lines) // 2
        return (CopyText("\n".join(lines[:middle]) + "\n", middle),
                CopyText("\n".join(lines[middle:]) + "\n", len(lines) - middle))


class DatabaseLogSink:
    """Append logged predictions to a prediction database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str):
        self._url = normalise_url(url, what="--log-to database")
        self.is_postgres = self._url.get_backend_name() == "postgresql"
        if not self.is_postgres:
            if self._url.database in (None, "", ":memory:"):
                raise ConfigError("--log-to sqlite needs a file (sqlite:///predictions.db): an in-memory log is lost")
            _prepare_folder(Path(self._url.database).expanduser().parent)
        if not self.is_postgres:
            self.prepare = None  # SQLite's rows are made at the write; a log asking to prepare finds nothing to call
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

    def prepare(self, entries: list[Loggable]) -> list:
        """Make ``entries`` into one :class:`CopyText` for a later :meth:`write` (PostgreSQL only: see
        :class:`~mldeploy.serving.prediction_log.PredictionSink`), or leave them as they are when their
        text has another number of lines than they count rows (``halves`` splits by line)."""
        text = "".join([_copy_text(columns) for columns in _slices(entries)])
        rows = sum(map(len, entries))
        return [CopyText(text, rows)] if text.count("\n") == rows else entries

    def write(self, entries: list[Loggable | CopyText]) -> None:
        """Append every row of ``entries`` in one transaction; RowsRefused for rows the table can never hold."""
        try:
            if not sum(map(len, entries)):
                return
            with self._begin() as conn:
                if self.is_postgres:
                    _copy(conn, entries)
                else:
                    conn.exec_driver_sql(
                        f"INSERT INTO served_predictions ({_COLUMNS}) VALUES ({', '.join('?' * len(LogRow._fields))})",
                        [_sqlite_row(_fitted(row)) for entry in entries for row in entry.rows()])
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


def _copy(conn, entries: list[Loggable | CopyText]) -> None:
    """Send the rows of ``entries`` as one COPY in PostgreSQL's text format, built here (a fraction of psycopg's
    per-row ``write_row``) a few hundred rows at a time, and sent in one write.

    Made whole, a batch's rows and lines are megabytes of short-lived objects beside the serving thread's
    own data; made in slices they stay small (the API server's CPU a logged request: +8 to +10 µs over
    plain before, +5 to +9 after, benchmarks/RESULTS.md). Each slice sent on its own did no better for
    the API, and in one run cost the streaming scorer a fifth of its events/s: every send can wait on
    the socket and take the GIL back from the scorer's thread.
    """
    driver = conn.connection.driver_connection
    # in the connection's encoding, as psycopg would send it; a lone surrogate from a request's JSON
    # (or a character the database's encoding lacks) becomes "?", not a batch that never writes
    encoding = driver.info.encoding
    made = [entry.text.encode(encoding, "replace") for entry in entries if type(entry) is CopyText]
    rest = [entry for entry in entries if type(entry) is not CopyText]
    data = b"".join(made + [_copy_text(columns).encode(encoding, "replace") for columns in _slices(rest)])
    cursor = driver.cursor()
    try:
        with cursor.copy(f"COPY served_predictions ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(data)
    finally:
        cursor.close()


def _slices(entries: list[Loggable]) -> Iterator[tuple]:
    """The rows of ``entries`` as columns fitted to the table, about ``_ROWS_PER_SLICE`` rows a slice (an entry is never split)."""
    part, rows = [], 0
    for entry in entries:
        part.append(entry)
        rows += len(entry)
        if rows >= _ROWS_PER_SLICE:
            yield _columns(part)
            part, rows = [], 0
    if rows:
        yield _columns(part)


def _columns(entries: list[Loggable]) -> tuple:
    """The 13 columns of ``entries``' rows: made as columns by their class where it can (``columns_of``: the API's
    one-row entries, the stream's scored batches), else transposed from their rows."""
    kind = type(entries[0])
    columns_of = getattr(kind, "columns_of", None)
    same_kind = columns_of is not None and all(type(entry) is kind for entry in entries)
    columns = columns_of(entries) if same_kind else None
    if columns is None:
        columns = tuple(zip(*[row for entry in entries for row in entry.rows()]))
    return _fitted_columns(columns)


def _fitted_columns(columns: tuple) -> tuple:
    """``columns`` with request ids and endpoints longer than their columns shortened (as :func:`_fitted` does a row)."""
    request_ids, endpoints = columns[3], columns[5]
    if request_ids and (max(map(len, request_ids)) > _REQUEST_ID or max(map(len, endpoints)) > _ENDPOINT):
        columns = (*columns[:3], [_shortened(text, _REQUEST_ID) for text in request_ids], columns[4],
                   [_shortened(text, _ENDPOINT) for text in endpoints], *columns[6:])
    return columns


def _copy_text(columns: tuple) -> str:
    """The COPY text of a slice's ``columns``: each text column is searched for escapes once, as a whole.

    Only a column holding an escape, a null or a non-finite number takes the per-value path.
    Name, source and role are plain words by construction: nothing to escape there.
    """
    (names, keys, versions, request_ids, sources, endpoints, roles, ats, values, labels, probabilities, inputs,
     latencies) = columns
    columns = (names, _texts(keys), map(str, versions), _texts(request_ids), sources, _texts(endpoints), roles,
               _stamps(ats), _floats(values), _texts(labels), _texts(probabilities), _texts(inputs), _floats(latencies))
    # One f-string a row: a third faster than "\t".join over each row's tuple.
    return "".join([f"{a}\t{b}\t{c}\t{d}\t{e}\t{f}\t{g}\t{h}\t{i}\t{j}\t{k}\t{m}\t{n}\n"
                    for a, b, c, d, e, f, g, h, i, j, k, m, n in zip(*columns)])


_NULL = "\\N"
_ESCAPED = ("\\", "\t", "\n", "\r", "\x00")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\\\\u0000"})


def _texts(column: tuple) -> Sequence[str]:
    """A text column as COPY fields: as it is when no value needs an escape, else value by value."""
    if _needs_escapes(column):
        return [_text(value) for value in column]
    return [_NULL if value is None else value for value in column] if None in column else column


def _needs_escapes(column: tuple) -> bool:
    """Whether any value of a text column needs an escape, or is not text (its str() is then checked alone)."""
    try:
        whole = "".join(filter(None, column))  # None and "" need no search
    except TypeError:
        return True
    return any(char in whole for char in _ESCAPED)


def _text(value) -> str:
    """One field of COPY's text format: backslash escapes, ``\\N`` for null; NUL, which PostgreSQL cannot store, as ``\\u0000``."""
    if value is None:
        return _NULL
    text = value if type(value) is str else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text or "\x00" in text:  # five scans beat one regex
        return text.translate(_ESCAPES)
    return text


_DUMPED_AS_NUMBERS = frozenset({float, int})


def _floats(column: tuple) -> Sequence[str]:
    """Numbers as the shortest text that reads back to the same float (and nan, inf), ``\\N`` for None."""
    fast = optional("orjson")  # one C-level dump of the column: a tenth of repr() per value
    if fast is not None and set(map(type, column)) <= _DUMPED_AS_NUMBERS:  # no None, no bool (orjson: true)
        try:
            dumped = fast.dumps(column)
        except TypeError:  # a number type orjson does not write
            dumped = b"null"
        if b"null" not in dumped:  # orjson writes nan and inf as null: those columns go value by value
            return dumped[1:-1].decode().split(",")
    return [_NULL if value is None else repr(float(value)) for value in column]


def _stamps(ats: Sequence[float]) -> list[str]:
    """Unix times as UTC timestamptz text, to the microsecond, rounded as ``datetime.fromtimestamp`` rounds."""
    if len(ats) > 1 and ats.count(ats[0]) == len(ats):  # a stream batch: every row has its batch's time, written once
        return _stamps(ats[:1]) * len(ats)
    micros = np.rint(np.asarray(ats, dtype=np.float64) * 1_000_000).astype(np.int64).astype("datetime64[us]")
    return np.datetime_as_string(micros, unit="us", timezone="UTC").tolist()


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
