"""Read a batch job's input from a database table or query, ordered by its key column.

The order makes the rows' positions stable, so ``--resume`` can skip the
ones a crashed run committed. A query's fingerprint is its text and the
database it runs on: resuming trusts the rows it returns not to have changed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from mldeploy._extras import require
from mldeploy._urls import masked_url
from mldeploy.errors import BackendError, ConfigError

__all__ = ["DatabaseTable"]

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class DatabaseTable:
    """Rows of a table or of a SELECT query in any database SQLAlchemy reaches."""

    def __init__(self, url: str, table: str | None = None, query: str | None = None, order_by: str | None = None):
        if bool(table) == bool(query):
            raise ConfigError("a database input needs exactly one of --table NAME or --query 'SELECT ...'")
        if table and not _TABLE_NAME.fullmatch(table):
            raise ConfigError(f"--table {table!r} is not a plain table name (letters, digits, _; schema.table allowed)")
        try:
            parsed = make_url(url)
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
                require("psycopg")
            self._engine = create_engine(parsed)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:  # ValueError: a port that is not a number
            raise ConfigError(f"input {masked_url(url)!r} is not a database URL SQLAlchemy can open: {exc}") from exc
        self._select = f"SELECT * FROM {table}" if table else query.strip().rstrip(";")
        self._subquery = f"({self._select}\n) AS input"  # the line break ends a -- comment at the query's end
        where = parsed.render_as_string(hide_password=True)
        self.description = f"{where} " + (f"table {table}" if table else f"query {self._select!r}")
        self._columns: list[str] | None = None
        self._order_by = order_by

    def columns(self) -> list[str]:
        if self._columns is None:
            with self._connect() as conn:
                self._columns = list(conn.execute(text(f"SELECT * FROM {self._subquery} WHERE 1 = 0")).keys())
        return list(self._columns)

    def fingerprint(self) -> str:
        return hashlib.sha256(self.description.encode()).hexdigest()

    def count_rows(self) -> int:
        with self._connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {self._subquery}")).scalar_one()

    def iter_tables(self, columns: list[str], chunk_rows: int, skip_rows: int = 0) -> Iterator:
        pa = require("pyarrow")
        import pandas as pd

        quoted = ", ".join(self._engine.dialect.identifier_preparer.quote(c) for c in columns)
        order = f" ORDER BY {self._engine.dialect.identifier_preparer.quote(self._order_by)}" if self._order_by else ""
        sql = f"SELECT {quoted} FROM {self._subquery}{order}"
        with self._connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(text(sql))
            for rows in result.partitions():
                frame = pd.DataFrame(rows, columns=columns)
                if skip_rows >= len(frame):
                    skip_rows -= len(frame)
                    continue
                frame, skip_rows = frame.iloc[skip_rows:], 0
                yield pa.Table.from_pandas(frame, preserve_index=False)

    def _connect(self):
        return _Translated(self._engine, self.description)


class _Translated:
    """A connection whose driver errors become BackendError naming the input."""

    def __init__(self, engine, description: str):
        self._engine, self._description = engine, description

    def __enter__(self):
        try:
            self._conn = self._engine.connect()
        except DBAPIError as exc:
            raise BackendError(f"cannot read {self._description}: {_reason(exc)}") from exc
        return self._conn

    def __exit__(self, kind, exc, tb):
        self._conn.close()
        if isinstance(exc, DBAPIError):
            raise ConfigError(f"cannot read {self._description}: {_reason(exc)}; check the table or query") from exc
        return False


def _reason(exc: DBAPIError) -> str:
    return (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
