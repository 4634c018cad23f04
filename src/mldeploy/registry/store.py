"""Keep model versions, their archives and aliases in SQLite or PostgreSQL.

The store sees a version as opaque archive bytes plus a manifest dict; it
knows nothing about scikit-learn. The same SQLAlchemy Core code runs on both
backends. Example::

    store = Store("sqlite:///registry/registry.db")
    version = store.add_version("salary", lambda v: ({"task": "regression", "version": v}, data))
    store.set_alias("salary", "production", version)
    data = store.archive("salary", store.resolve_alias("salary", "production"))
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, delete, exists, func, insert, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from mldeploy.bundle.digest import bytes_digest
from mldeploy.errors import AliasConflictError, NotFoundError, RegistryError
from mldeploy.registry._connect import (
    WRITE,
    create_engine_for,
    describe,
    error_for,
    is_conflict,
    normalise_url,
    translate_errors,
)
from mldeploy.registry.records import AliasChange, ModelSummary, VersionRecord
from mldeploy.registry.tables import alias_history, aliases, archives, metadata, models, utc_now, versions

__all__ = ["AliasChange", "ModelSummary", "Store", "VersionRecord"]

T = TypeVar("T")
Build = Callable[[int], tuple[dict, bytes]]

_MAX_ATTEMPTS = 50
_RETRY_BUDGET_S = 60  # each SQLite attempt may itself wait its 30 s busy timeout
_SCHEMA_LOCK_KEY = 0x6D6C6470  # any constant: concurrent create_all on PostgreSQL queue on it
_LISTED = 20  # names, versions or aliases shown in a not-found message


class Store:
    """The registry's storage: versions, content-addressed archives, aliases and their history.

    ``location`` names the database for messages (a SQLite path, or PostgreSQL
    host:port/database without the password).
    """

    def __init__(self, url: str):
        """Open (and create if missing) the registry at ``url``.

        Raises RegistryError when a SQLite folder is not writable and
        BackendError when PostgreSQL cannot be reached.
        """
        self._url = normalise_url(url)
        self.location = describe(self._url)
        self._engine = create_engine_for(self._url)
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        self._upsert = dialect.insert  # both dialects offer INSERT ... ON CONFLICT DO NOTHING
        try:
            if not self._tables_exist():  # a read first: opening must not wait for another's write lock
                self._transact(self._create_tables)
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Store({self.location})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection; the store can't be used afterwards."""
        self._engine.dispose()

    # -- versions ----------------------------------------------------------

    def add_version(self, name: str, build: Build) -> int:
        """Allocate the next version of ``name``, store what ``build(version)`` returns, return the version.

        ``build`` gets the version number and returns ``(manifest, archive_bytes)``;
        the manifest must hold ``task`` and may hold ``parent_version`` and
        ``digest``. Everything happens in one transaction: if ``build`` raises,
        nothing is stored. Versions are never reused, even after a delete.
        """
        return self._transact(lambda conn: self._add_version(conn, name, build))

    def versions(self, name: str) -> list[VersionRecord]:
        """Return every version of ``name``, oldest first."""
        with self._read() as conn:
            self._require_model(conn, name)
            rows = conn.execute(select(versions).where(versions.c.name == name).order_by(versions.c.version))
            return [_record(row) for row in rows]

    def get(self, name: str, version: int) -> VersionRecord:
        """Return one version of ``name``."""
        with self._read() as conn:
            return _record(self._version_row(conn, name, version))

    def latest(self, name: str) -> VersionRecord:
        """Return the highest version of ``name``."""
        with self._read() as conn:
            self._require_model(conn, name)
            query = select(versions).where(versions.c.name == name).order_by(versions.c.version.desc()).limit(1)
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(f'"{name}" has no versions; register one first')
            return _record(row)

    def archive(self, name: str, version: int) -> bytes:
        """Return the archive bytes of one version."""
        with self._read() as conn:
            digest = self._version_row(conn, name, version).archive_digest
            return bytes(conn.execute(select(archives.c.data).where(archives.c.digest == digest)).scalar_one())

    def names(self) -> list[str]:
        """Return the names that have at least one version, sorted."""
        with self._read() as conn:
            return _names(conn)

    def models(self) -> list[ModelSummary]:
        """Return each model with its latest version and version count, sorted by name."""
        query = (
            select(models.c.name, func.max(versions.c.version), func.count(), models.c.created_at)
            .join(versions, versions.c.name == models.c.name)
            .group_by(models.c.name, models.c.created_at)
            .order_by(models.c.name)
        )
        with self._read() as conn:
            return [ModelSummary(*row) for row in conn.execute(query)]

    def delete_version(self, name: str, version: int, force: bool = False) -> list[str]:
        """Delete one version and its archive if nothing else uses it; return the aliases removed.

        Raises AliasConflictError if aliases point at the version, unless
        ``force`` is true, which removes them (recorded in their history).
        """
        return self._transact(lambda conn: self._delete_version(conn, name, version, force))

    # -- aliases -----------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        """Point ``alias`` at ``version`` and record the move; return the version it pointed at before."""
        return self._transact(lambda conn: self._set_alias(conn, name, alias, version))

    def remove_alias(self, name: str, alias: str) -> int:
        """Remove ``alias`` and record it; return the version it pointed at."""
        return self._transact(lambda conn: self._remove_alias(conn, name, alias))

    def resolve_alias(self, name: str, alias: str) -> int:
        """Return the version ``alias`` points at."""
        with self._read() as conn:
            query = select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
            version = conn.execute(query).scalar_one_or_none()
            if version is None:
                raise self._missing_alias(conn, name, alias)
            return version

    def aliases(self, name: str) -> dict[str, int]:
        """Return ``{alias: version}`` for ``name``, sorted by alias."""
        with self._read() as conn:
            self._require_model(conn, name)
            return _current_aliases(conn, name)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Return every change of ``name``'s aliases (or of one alias), oldest first."""
        query = select(alias_history).where(alias_history.c.name == name).order_by(alias_history.c.id)
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        with self._read() as conn:
            self._require_model(conn, name)
            return [
                AliasChange(row.name, row.alias, row.version, row.previous_version, row.changed_at)
                for row in conn.execute(query)
            ]

    # -- transactions ------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(self._url), self._engine.connect() as conn:
            yield conn

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying when it collides with another writer."""
        deadline = time.monotonic() + _RETRY_BUDGET_S
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        return work(conn)
            except DBAPIError as exc:
                if not is_conflict(exc):
                    raise error_for(self._url, exc) from exc
                if attempt == _MAX_ATTEMPTS or time.monotonic() > deadline:
                    reason = error_for(self._url, exc)
                    raise RegistryError(
                        f"gave up after {attempt} attempts, each colliding with another writer: {reason}; try again"
                    ) from exc
            # Jitter keeps processes that collided once from colliding again in lockstep.
            time.sleep(random.uniform(0.5, 1.5) * min(0.2, 0.005 * attempt))
        raise AssertionError("unreachable")

    def _tables_exist(self) -> bool:
        with self._read() as conn:
            present = set(inspect(conn).get_table_names())
        return {table.name for table in metadata.sorted_tables} <= present

    def _create_tables(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        metadata.create_all(conn)

    # -- write steps -------------------------------------------------------

    def _add_version(self, conn: Connection, name: str, build: Build) -> int:
        version = self._allocate_version(conn, name)
        manifest, data = build(version)
        archive_digest = self._store_archive(conn, data)
        conn.execute(insert(versions).values(_version_values(name, version, manifest, data, archive_digest)))
        return version

    def _allocate_version(self, conn: Connection, name: str) -> int:
        first = {"name": name, "created_at": utc_now(), "last_version": 0}
        conn.execute(self._upsert(models).values(first).on_conflict_do_nothing(index_elements=["name"]))
        # The UPDATE locks the model's row, so on PostgreSQL registrations of one name queue here.
        bump = (
            update(models)
            .where(models.c.name == name)
            .values(last_version=models.c.last_version + 1)
            .returning(models.c.last_version)
        )
        return conn.execute(bump).scalar_one()

    def _store_archive(self, conn: Connection, data: bytes) -> str:
        digest = "sha256:" + bytes_digest(data)
        row = {"digest": digest, "data": data}
        conn.execute(self._upsert(archives).values(row).on_conflict_do_nothing(index_elements=["digest"]))
        return digest

    def _delete_version(self, conn: Connection, name: str, version: int, force: bool) -> list[str]:
        digest = self._version_row(conn, name, version).archive_digest
        pointing = sorted(alias for alias, target in _current_aliases(conn, name).items() if target == version)
        if pointing and not force:
            raise AliasConflictError(
                f'version {version} of "{name}" is what alias(es) {", ".join(pointing)} point to; '
                "move them to another version first or pass --force"
            )
        for alias in pointing:
            self._remove_alias(conn, name, alias)
        conn.execute(delete(versions).where(versions.c.name == name, versions.c.version == version))
        still_used = exists().where(versions.c.archive_digest == digest)
        conn.execute(delete(archives).where(archives.c.digest == digest, ~still_used))
        return pointing

    def _set_alias(self, conn: Connection, name: str, alias: str, version: int) -> int | None:
        self._version_row(conn, name, version)
        previous = _locked_alias(conn, name, alias)
        if previous == version:
            return previous
        now = utc_now()
        if previous is None:
            conn.execute(insert(aliases).values(name=name, alias=alias, version=version, updated_at=now))
        else:
            where = (aliases.c.name == name) & (aliases.c.alias == alias)
            conn.execute(update(aliases).where(where).values(version=version, updated_at=now))
        _record_change(conn, name, alias, version, previous)
        return previous

    def _remove_alias(self, conn: Connection, name: str, alias: str) -> int:
        previous = _locked_alias(conn, name, alias)
        if previous is None:
            raise self._missing_alias(conn, name, alias)
        conn.execute(delete(aliases).where(aliases.c.name == name, aliases.c.alias == alias))
        _record_change(conn, name, alias, None, previous)
        return previous

    # -- lookups that explain what exists when something is missing --------

    def _require_model(self, conn: Connection, name: str) -> None:
        if conn.execute(select(models.c.name).where(models.c.name == name)).first() is None:
            known = _names(conn)
            listing = f"models are {_listing(known)}" if known else f"{self.location} holds no models yet"
            raise NotFoundError(f'no model named "{name}"; {listing}')

    def _version_row(self, conn: Connection, name: str, version: int):
        query = select(versions).where(versions.c.name == name, versions.c.version == version)
        row = conn.execute(query).first()
        if row is not None:
            return row
        self._require_model(conn, name)
        known = conn.execute(select(versions.c.version).where(versions.c.name == name).order_by(versions.c.version))
        numbers = [str(v) for v in known.scalars()]
        listing = f"versions are {_listing(numbers)}" if numbers else "it has no versions"
        raise NotFoundError(f'no version {version} of "{name}"; {listing}')

    def _missing_alias(self, conn: Connection, name: str, alias: str) -> NotFoundError:
        self._require_model(conn, name)
        known = list(_current_aliases(conn, name))
        listing = f"aliases are {_listing(known)}" if known else "it has no aliases yet"
        return NotFoundError(f'no alias "{alias}" of "{name}"; {listing}')


def _version_values(name: str, version: int, manifest: dict, data: bytes, archive_digest: str) -> dict:
    for key, expected in (("name", name), ("version", version)):
        if key in manifest and manifest[key] != expected:
            raise RegistryError(
                f'the manifest built for "{name}" version {version} says {key} {manifest[key]!r}; '
                "build the manifest from the version the registry passes"
            )
    if not isinstance(manifest.get("task"), str):
        raise RegistryError(f'the manifest built for "{name}" version {version} has no "task" text')
    try:
        manifest_json = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise RegistryError(f'the manifest of "{name}" version {version} is not JSON: {exc}') from exc
    return {
        "name": name, "version": version, "created_at": utc_now(),
        "digest": manifest.get("digest") or archive_digest, "task": manifest["task"],
        "parent_version": manifest.get("parent_version"), "manifest": manifest_json,
        "archive_digest": archive_digest, "size_bytes": len(data),
    }


def _record(row) -> VersionRecord:
    return VersionRecord(
        name=row.name, version=row.version, digest=row.digest, created_at=row.created_at, task=row.task,
        parent_version=row.parent_version, manifest=json.loads(row.manifest), size_bytes=row.size_bytes,
        archive_digest=row.archive_digest,
    )


def _names(conn: Connection) -> list[str]:
    return list(conn.execute(select(versions.c.name).distinct().order_by(versions.c.name)).scalars())


def _current_aliases(conn: Connection, name: str) -> dict[str, int]:
    query = select(aliases.c.alias, aliases.c.version).where(aliases.c.name == name).order_by(aliases.c.alias)
    return {alias: version for alias, version in conn.execute(query)}


def _locked_alias(conn: Connection, name: str, alias: str) -> int | None:
    # FOR UPDATE keeps two movers of one alias from both recording the same "previous" (no-op on SQLite).
    query = select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias).with_for_update()
    return conn.execute(query).scalar_one_or_none()


def _record_change(conn: Connection, name: str, alias: str, version: int | None, previous: int | None) -> None:
    row = {"name": name, "alias": alias, "version": version, "previous_version": previous, "changed_at": utc_now()}
    conn.execute(insert(alias_history).values(row))


def _listing(items: list[str]) -> str:
    if len(items) <= _LISTED:
        return ", ".join(items)
    return f"{', '.join(items[-_LISTED:])} (the last {_LISTED} of {len(items)})"
