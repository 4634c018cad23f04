"""One registry database: its engine, its tables, and read and write transactions."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from mldeploy.errors import RegistryError
from mldeploy._db import WRITE, create_engine_for, describe, error_for, is_conflict, normalise_url, translate_errors
from mldeploy.registry.tables import metadata

__all__ = ["CORE_TABLES", "Database"]

T = TypeVar("T")

CORE_TABLES = frozenset({"models", "archives", "versions", "aliases", "alias_history"})
"""Tables every registry has had; the others were added later and are created when missing."""

_MAX_ATTEMPTS = 50
_RETRY_BUDGET_S = 60  # each SQLite attempt may itself wait its 30 s busy timeout
_SCHEMA_LOCK_KEY = 0x6D6C6470  # any constant: concurrent create_all on PostgreSQL queue on it


class Database:
    """The engine of a registry URL and the tables it holds.

    Opening never creates a registry unless ``create``: a database without the
    registry's tables is then a RegistryError saying there is none. An older
    registry gains the tables added since (change feed, record signatures)
    when it is opened with write access; read-only, it works without them.
    """

    def __init__(self, url: str, create: bool):
        self.url = normalise_url(url)
        self.location = describe(self.url)
        """The database for messages: a SQLite path, or PostgreSQL host:port/database without the password."""
        self.engine, self.read_only = create_engine_for(self.url, create)
        try:
            self.tables = self._prepare(create)
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def is_postgres(self) -> bool:
        """Tell whether the database is PostgreSQL (else SQLite)."""
        return self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection for reads; driver errors become mldeploy errors."""
        with translate_errors(self.url), self.engine.connect() as conn:
            yield conn

    def transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying when it collides with another writer."""
        if self.read_only:
            raise RegistryError(
                f"{self.location} is open read-only (this user cannot write its folder); "
                "reading works, but changing it needs a writable registry folder"
            )
        deadline = time.monotonic() + _RETRY_BUDGET_S
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        return work(conn)
            except DBAPIError as exc:
                if not is_conflict(exc):
                    raise error_for(self.url, exc) from exc
                if attempt == _MAX_ATTEMPTS or time.monotonic() > deadline:
                    reason = error_for(self.url, exc)
                    raise RegistryError(
                        f"gave up after {attempt} attempts, each colliding with another writer: {reason}; try again"
                    ) from exc
            # Jitter keeps processes that collided once from colliding again in lockstep.
            time.sleep(random.uniform(0.5, 1.5) * min(0.2, 0.005 * attempt))
        raise AssertionError("unreachable")

    def _prepare(self, create: bool) -> frozenset[str]:
        present = self._table_names()  # a read first: opening must not wait for another's write lock
        wanted = {table.name for table in metadata.sorted_tables}
        if wanted <= present:
            return present
        if not CORE_TABLES <= present and not create:
            raise RegistryError(
                f"there is no registry in {self.location}; register a model there first, or check the registry location"
            )
        if self.read_only:
            if not CORE_TABLES <= present:
                raise RegistryError(f"cannot create a registry in {self.location}: this user cannot write its folder")
            return present  # an older registry, read as it is
        try:
            self.transact(_create_tables)
        except RegistryError:
            if not CORE_TABLES <= present:
                raise
            return present  # an older registry this user may read but not alter (e.g. no CREATE privilege)
        return self._table_names()

    def _table_names(self) -> frozenset[str]:
        with self.read() as conn:
            return frozenset(inspect(conn).get_table_names())


def _create_tables(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
    metadata.create_all(conn)
