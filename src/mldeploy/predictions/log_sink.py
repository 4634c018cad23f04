"""The prediction log's database sink: served predictions appended to ``served_predictions``, one transaction a batch.

PostgreSQL gets each batch by one COPY, its text built here in one pass (no SQL per row);
SQLite by one ``executemany``. The tables and view are created on open, as the
batch store does, so ``latest_predictions`` and ``mldeploy validate`` read the
logged rows beside batch ones. A write that fails (server gone) raises: the
log keeps the batch and retries it (:class:`mldeploy.serving.prediction_log.PredictionLog`);
the engine's pre-ping replaces dead connections when the server is back.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
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
    """Logged rows already made into COPY text (one line a row, in the connection's encoding), waiting for the next write."""

    data: bytes
    rows: int

    def __len__(self) -> int:
        return self.rows

    def halves(self) -> tuple[CopyText, CopyText]:
        """Split the rows in two, to find the ones PostgreSQL refuses (a row's own line breaks are escaped)."""
        lines = self.data[:-1].split(b"\n")
        middle = len(lines) // 2
        return (CopyText(b"\n".join(lines[:middle]) + b"\n", middle),
                CopyText(b"\n".join(lines[middle:]) + b"\n", len(lines) - middle))


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
        self._encoding = "utf-8"
        """PostgreSQL's client encoding, in which :meth:`prepare` makes COPY text (every pooled connection has it)."""
        try:
            with translate_errors(self._url), self._begin() as conn:
                tables.create_schema(conn, self.is_postgres)
                if self.is_postgres:
                    self._encoding = conn.connection.driver_connection.info.encoding
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
        # one tick's entries (the log prepares every few ms): a piece too short to be worth letting the interpreter go
        data = b"".join([_copy_data(columns, self._encoding) for columns in _slices(entries)])
        rows = sum(map(len, entries))
        return [CopyText(data, rows)] if data.count(b"\n") == rows else entries

    def write(self, entries: list[Loggable | CopyText]) -> None:
        """Append every row of ``entries`` in one transaction; RowsRefused for rows the table can never hold."""
        try:
            if not sum(map(len, entries)):
                return
            with self._begin() as conn:
                if self.is_postgres:
                    _copy(conn, entries, self._encoding)
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


def _copy(conn, entries: list[Loggable | CopyText], made_in: str) -> None:
    """Send the rows of ``entries`` as one COPY in PostgreSQL's text format, built here (a fraction of psycopg's
    per-row ``write_row``) a few hundred rows at a time, and sent in one write.

    Made whole, a batch's rows and lines are megabytes of short-lived objects beside the serving thread's
    own data; made in slices they stay small (the API server's CPU a logged request: +8 to +10 µs over
    plain before, +5 to +9 after, benchmarks/RESULTS.md). Each slice sent on its own did no better for
    the API, and in one run cost the streaming scorer a fifth of its events/s: every send can wait on
    the socket and take the GIL back from the scorer's thread.
    """
    driver = conn.connection.driver_connection
    encoding = driver.info.encoding  # as :meth:`DatabaseLogSink.prepare` found it, unless the server changed since
    made = [entry.data if encoding == made_in else entry.data.decode(made_in).encode(encoding, "replace")
            for entry in entries if type(entry) is CopyText]
    rest = [entry for entry in entries if type(entry) is not CopyText]
    data = b"".join(made) + _copy_data_of(rest, encoding)
    cursor = driver.cursor()
    try:
        with cursor.copy(f"COPY served_predictions ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(data)
    finally:
        cursor.close()


def _copy_data_of(entries: list[Loggable], encoding: str) -> bytes:
    """The COPY text of ``entries``' rows, made a slice at a time at the write, letting the interpreter go between slices.

    A write's rows are milliseconds of pure Python. A serving thread that wants the interpreter
    meanwhile would wait for the switch interval (5 ms) each time; given it after every slice, it
    waits at most a slice (the streaming scorer logging to PostgreSQL, two sittings of three rounds:
    87.9% and 88.7% of its events/s without the log, against 79.1% and 87.5% without the yield).
    """
    parts = []
    for columns in _slices(entries):
        parts.append(_copy_data(columns, encoding))
        time.sleep(0)
    return b"".join(parts)


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


def _copy_data(columns: tuple, encoding: str) -> bytes:
    """The COPY text of a slice's ``columns``, in ``encoding``: made column by column, then laid out row by row in C.

    A value every row of a column shares (a stream batch's model, time and topic) is made once. Text
    columns are searched for escapes once, as a whole; only a column holding an escape, a null or a
    non-finite number takes the per-value path. Name, source and role are plain words by construction.
    """
    (names, keys, versions, request_ids, sources, endpoints, roles, ats, values, labels, probabilities, inputs,
     latencies) = columns
    if not names:
        return b""
    words, texts = functools.partial(_encoded, encoding=encoding), functools.partial(_text_fields, encoding=encoding)
    made = (_fields(names, words), _fields(keys, texts), _fields(versions, _numbers), _fields(request_ids, texts),
            _fields(sources, words), _fields(endpoints, texts), _fields(roles, words), _fields(ats, _stamps),
            _fields(values, _floats), _fields(labels, texts), _fields(probabilities, texts), _fields(inputs, texts),
            _fields(latencies, _floats))
    return _laid_out(made, len(names))


def _fields(column: Sequence, make: Callable[[Sequence], list[bytes]]) -> bytes | list[bytes]:
    """A column's COPY fields: one ``bytes`` when every row holds the same value (made once), else one a row."""
    if column and column.count(column[0]) == len(column) and _same_text(column):
        return make(column[:1])[0]
    return make(column)


def _same_text(equal: Sequence) -> bool:
    """Whether values that compare equal also read the same: 1, 1.0 and True do not, nor 0.0 and -0.0."""
    kind = type(equal[0])
    if kind in _EQUAL_READS_SAME:
        return True
    return set(map(type, equal)) == {kind} and not (kind is float and equal[0] == 0)


_EQUAL_READS_SAME = frozenset({str, bytes, type(None)})


def _laid_out(columns: tuple, count: int) -> bytes:
    """The rows of ``columns`` (fields shared by every row, or one a row) as lines of tab-separated fields.

    Shared fields next to each other, with their tabs, become one piece; each row is then a few pieces,
    put in place by slice assignments and joined once (a quarter of an f-string a row).
    """
    layout, shared = [], b""
    for position, column in enumerate(columns):
        end = b"\n" if position == len(columns) - 1 else b"\t"
        if type(column) is bytes:
            shared += column + end
            continue
        if shared:
            layout.append(shared)
        layout.append(column)
        shared = end
    layout.append(shared)
    width = len(layout)
    pieces = [b""] * (count * width)
    for position, part in enumerate(layout):
        pieces[position::width] = part if type(part) is list else [part] * count
    return b"".join(pieces)


_NULL = "\\N"
_ESCAPED = ("\\", "\t", "\n", "\r", "\x00")
_ESCAPED_BYTES = (b"\\", b"\t", b"\n", b"\r", b"\x00")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\\\\u0000"})


def _encoded(texts: Sequence[str], encoding: str) -> list[bytes]:
    """Fields with nothing to escape (their tabs and line breaks are COPY's own), each in ``encoding``."""
    return "\t".join(texts).encode(encoding, "replace").split(b"\t")


def _text_fields(column: Sequence, encoding: str) -> list[bytes]:
    """A text column as COPY fields in ``encoding``. UTF-8 bytes (an event as it came) are used as they are when
    the connection speaks UTF-8 and none needs an escape; ``\\N`` for null."""
    kinds = set(map(type, column))
    if kinds == {bytes}:
        whole = b"".join(column)
        if encoding == "utf-8" and not any(byte in whole for byte in _ESCAPED_BYTES) and _is_utf8(whole):
            return column if type(column) is list else list(column)
        column, kinds = [value.decode("utf-8", "replace") for value in column], {str}
    elif bytes in kinds:
        column = [value.decode("utf-8", "replace") if type(value) is bytes else value for value in column]
        kinds = set(map(type, column))
    if kinds <= _TEXT_KINDS:
        return _encoded(_texts(column), encoding)
    return _encoded([_text(value) for value in column], encoding)  # a label 0 or False: its str(), value by value


_TEXT_KINDS = frozenset({str, type(None)})


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _texts(column: Sequence) -> Sequence[str]:
    """A text column as COPY fields: as it is when no value needs an escape, else value by value."""
    if _needs_escapes(column):
        return [_text(value) for value in column]
    return [_NULL if value is None else value for value in column] if None in column else column


def _needs_escapes(column: Sequence) -> bool:
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


def _numbers(column: Sequence[int]) -> list[bytes]:
    """Whole numbers (model versions) as their digits."""
    return _encoded(list(map(str, column)), "ascii")


_DUMPED_AS_NUMBERS = frozenset({float, int})


def _floats(column: Sequence) -> list[bytes]:
    """Numbers as the shortest text that reads back to the same float (and nan, inf), ``\\N`` for None."""
    fast = optional("orjson")  # one C-level dump of the column: a tenth of repr() per value
    if fast is not None and set(map(type, column)) <= _DUMPED_AS_NUMBERS:  # no None, no bool (orjson: true)
        try:
            dumped = fast.dumps(column if type(column) is list else list(column))
        except TypeError:  # a number type orjson does not write
            dumped = b"null"
        if b"null" not in dumped:  # orjson writes nan and inf as null: those columns go value by value
            return dumped[1:-1].split(b",")
    return _encoded([_NULL if value is None else repr(float(value)) for value in column], "ascii")


def _stamps(ats: Sequence[float]) -> list[bytes]:
    """Unix times as UTC timestamptz text, to the microsecond, rounded as ``datetime.fromtimestamp`` rounds."""
    micros = np.rint(np.asarray(ats, dtype=np.float64) * 1_000_000).astype(np.int64).astype("datetime64[us]")
    return np.datetime_as_string(micros, unit="us", timezone="UTC").astype("S").tolist()


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
