"""Open the registry's database and translate driver errors into mldeploy errors.

SQLite writes serialise between processes: SQLAlchemy emits ``BEGIN IMMEDIATE``
for write transactions (the documented pysqlite event recipe), so a writer takes
the database's write lock before it reads anything, and the 30 s busy timeout
makes the others wait for it instead of failing. WAL mode keeps readers and the
writer out of each other's way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool

from mldeploy._extras import require
from mldeploy.errors import BackendError, ConfigError, MldeployError, RegistryError

__all__ = ["WRITE", "create_engine_for", "describe", "error_for", "is_conflict", "normalise_url", "translate_errors"]

WRITE = "mldeploy_write"
"""Execution option that marks a connection's transactions as writes."""

_SQLITE_BUSY_TIMEOUT_S = 30
_PG_CONNECT_TIMEOUT_S = 10
_URL_HINT = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
# unique_violation, serialization_failure, deadlock_detected, lock_not_available
_PG_CONFLICTS = {"23505", "40001", "40P01", "55P03"}
_SQLITE_CONFLICTS = ("unique constraint failed", "database is locked", "database table is locked")


def normalise_url(url: str) -> URL:
    """Parse a registry URL; plain ``postgresql://`` means the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"registry URL {url!r} is not a database URL; {_URL_HINT}") from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    raise ConfigError(f"registry URL scheme {parsed.drivername!r} is not supported; {_URL_HINT}")


def describe(url: URL) -> str:
    """Name the database for messages, without any password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}" if _is_file(url) else "in-memory SQLite"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def create_engine_for(url: URL) -> Engine:
    """Create the engine for a normalised URL; raise RegistryError if a SQLite folder is unusable."""
    if url.get_backend_name() != "sqlite":
        require("psycopg")
        timeout = {} if "connect_timeout" in url.query else {"connect_timeout": _PG_CONNECT_TIMEOUT_S}
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
    if _is_file(url):
        _prepare_folder(Path(url.database).expanduser().parent)
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})
    else:
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    _install_sqlite_transactions(engine)
    return engine


def _is_file(url: URL) -> bool:
    return url.database not in (None, "", ":memory:")


def _prepare_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create the registry folder {folder} ({exc.strerror or exc}); choose a writable registry folder"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RegistryError(f"the registry folder {folder} is not writable; choose a writable registry folder")


def _install_sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver must not emit BEGIN: _on_begin does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
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
