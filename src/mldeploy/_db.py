"""Open a database (the registry's or the prediction store's) and translate driver errors into mldeploy errors.

SQLite writes serialise between processes: SQLAlchemy emits ``BEGIN IMMEDIATE``
for write transactions (the documented pysqlite event recipe), so a writer takes
the database's write lock before it reads anything, and the 30 s busy timeout
makes the others wait for it instead of failing. WAL mode keeps readers and the
writer out of each other's way.

A SQLite registry whose folder this process cannot write is opened read-only
(``mode=ro``; ``immutable=1`` too when no write-ahead log is pending, since a
read-only WAL database needs its ``-shm`` file), so it can be listed and read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool

from mldeploy._extras import require
from mldeploy._urls import masked_url
from mldeploy.errors import BackendError, ConfigError, MldeployError, RegistryError

__all__ = [
    "WRITE", "create_engine_for", "describe", "error_for", "is_conflict", "is_writable", "normalise_url", "translate_errors",
]

WRITE = "mldeploy_write"
"""Execution option that marks a connection's transactions as writes."""

_SQLITE_BUSY_TIMEOUT_S = 30
_PG_CONNECT_TIMEOUT_S = 10
_URL_HINT = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
# unique_violation, serialization_failure, deadlock_detected, lock_not_available
_PG_CONFLICTS = {"23505", "40001", "40P01", "55P03"}
_SQLITE_CONFLICTS = ("unique constraint failed", "database is locked", "database table is locked")


def normalise_url(url: str, what: str = "registry URL") -> URL:
    """Parse a database URL (the registry's, or ``what`` else); plain ``postgresql://`` means the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{what} {masked_url(url)!r} is not a database URL; {_URL_HINT}") from exc
    except ValueError as exc:  # SQLAlchemy reads the port as a number
        raise ConfigError(f"{what} {masked_url(url)!r} has a port that is not a number; {_URL_HINT}") from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    raise ConfigError(f"{what} scheme {parsed.drivername!r} is not supported; {_URL_HINT}")


def describe(url: URL) -> str:
    """Name the database for messages, without any password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}" if _is_file(url) else "in-memory SQLite"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def create_engine_for(url: URL, create: bool = True) -> tuple[Engine, bool]:
    """Create the engine for a normalised URL; return it and whether it may only read.

    A SQLite file that is missing is created only with ``create``; otherwise, or
    when its folder cannot be made, RegistryError says so and nothing is created.
    """
    if url.get_backend_name() != "sqlite":
        require("psycopg")
        timeout = {} if "connect_timeout" in url.query else {"connect_timeout": _PG_CONNECT_TIMEOUT_S}
        return create_engine(url, pool_pre_ping=True, connect_args=timeout), False
    if not _is_file(url):
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        _install_sqlite_transactions(engine, set_wal=True)
        return engine, False
    path = Path(url.database).expanduser()
    if not path.is_file():
        if not create:
            raise RegistryError(
                f"there is no registry at {path.parent} (no {path.name} there); "
                "register a model there first, or check the registry location"
            )
        _prepare_folder(path.parent)
    read_only = not is_writable(path.parent)
    engine = create_engine(_read_only_url(path) if read_only else url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})
    # WAL is a lasting property of the file, set when it is made: a reader must not write an empty file's header.
    _install_sqlite_transactions(engine, set_wal=create and not read_only)
    return engine, read_only


def is_writable(folder: Path) -> bool:
    """Tell whether this process (its effective user) may create files in ``folder``."""
    return os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids)


def _read_only_url(path: Path) -> URL:
    query = {"mode": "ro", "uri": "true"}
    wal = path.with_name(path.name + "-wal")
    if not (wal.is_file() and wal.stat().st_size > 0):
        query["immutable"] = "1"  # nothing pending in the log: read the file as it is, without locks
    return URL.create("sqlite", database="file:" + quote(str(path.resolve())), query=query)


def _is_file(url: URL) -> bool:
    return url.database not in (None, "", ":memory:")


def _prepare_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create the registry folder {folder} ({exc.strerror or exc}); choose a writable registry folder"
        ) from exc
    if not is_writable(folder):
        raise RegistryError(f"the registry folder {folder} is not writable; choose a writable registry folder")


def _install_sqlite_transactions(engine: Engine, set_wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver must not emit BEGIN: _on_begin does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if set_wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE) else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_conflict(exc: DBAPIError) -> bool:
    """Tell whether a failed transaction collided with another one and may simply be retried."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _PG_CONFLICTS
    message = str(exc.orig).lower()
    return isinstance(exc, (IntegrityError, OperationalError)) and message.startswith(_SQLITE_CONFLICTS)


def error_for(url: URL, exc: DBAPIError) -> MldeployError:
    """Translate a driver error: an unreachable server is a BackendError, anything else a RegistryError."""
    reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    where = describe(url)
    if url.get_backend_name() == "sqlite":
        return RegistryError(f"{where}: {reason}; check the file and choose a writable registry folder")
    if isinstance(exc, (OperationalError, InterfaceError)):
        return BackendError(f"cannot use {where}: {reason}; start the server or check the URL")
    return RegistryError(f"{where}: {reason}")


@contextmanager
def translate_errors(url: URL) -> Iterator[None]:
    """Re-raise driver errors from the block as mldeploy errors, cause chained."""
    try:
        yield
    except DBAPIError as exc:
        raise error_for(url, exc) from exc
