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
import time
from collections.abc import Callable

from sqlalchemy import Connection, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mldeploy.bundle.digest import bytes_digest
from mldeploy.errors import AliasConflictError, BundleError, NotFoundError, RegistryError
from mldeploy.registry import _lookup as lookup
from mldeploy.registry._database import Database
from mldeploy.registry._listen import ChangeListener
from mldeploy.registry.feed import head, read_changes, record_change
from mldeploy.registry.traffic import TrafficRecord, read_traffic, read_traffic_history, write_traffic
from mldeploy.registry.records import AliasChange, ChangeFeed, ModelSummary, VersionRecord
from mldeploy.registry.tables import alias_history, aliases, archives, models, record_signatures, utc_now, versions

__all__ = ["AliasChange", "ModelSummary", "Store", "VersionRecord"]

Build = Callable[[int], tuple[dict, bytes]]
Sign = Callable[[str, int, str], bytes]
AlsoInTransaction = Callable[[Connection, "int | None", "int | None"], None]

_MAX_BUILDS = 50  # numbers taken by other writers while this one built, before giving up
_POLL_INTERVAL_S = 0.5  # how often a SQLite follower looks for changes


class Store:
    """The registry's storage: versions, content-addressed archives, aliases, their history and the change feed."""

    def __init__(self, url: str, create: bool = True):
        """Open the registry at ``url``, creating it only with ``create``.

        Raises RegistryError when there is no registry there (and ``create`` is
        false) or a SQLite folder is unusable, BackendError when PostgreSQL
        cannot be reached. A SQLite folder this user cannot write is opened read-only.
        """
        self._db = Database(url, create)
        self.location = self._db.location
        self.read_only = self._db.read_only
        dialect = postgresql if self._db.is_postgres else sqlite
        self._upsert = dialect.insert  # both dialects offer INSERT ... ON CONFLICT DO NOTHING
        self._listener = ChangeListener(self._db.url) if self._db.is_postgres else None

    def __repr__(self) -> str:
        return f"Store({self.location})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection and the change listener."""
        if self._listener is not None:
            self._listener.close()
        self._db.close()

    # -- versions ----------------------------------------------------------

    def add_version(self, name: str, build: Build, sign: Sign | None = None) -> int:
        """Store what ``build(version)`` returns as the next version of ``name``; return the version.

        ``build`` gets the version number and returns ``(manifest, archive_bytes)``;
        the manifest must hold ``task`` and may hold ``parent_version`` and
        ``digest``. It runs outside any transaction, so other writers are not
        blocked while it compresses. The number is claimed afterwards in one short
        transaction; if another writer took it meanwhile, ``build`` runs again with
        the next one. ``sign(name, version, digest)``, if given, signs the record.
        If ``build`` raises, nothing is stored. Versions are never reused, even after a delete.
        """
        version = self._next_version(name)
        for _ in range(_MAX_BUILDS):
            manifest, data = build(version)
            row = _version_values(name, version, manifest, data)
            signature = sign(name, version, row["digest"]) if sign is not None else None
            taken = self._db.transact(lambda conn: self._insert_version(conn, row, data, signature))
            if taken is None:
                return version
            version = taken
        raise RegistryError(f'other writers took {_MAX_BUILDS} version numbers of "{name}" while this one was built; try again')

    def versions(self, name: str) -> list[VersionRecord]:
        """Return every version of ``name``, oldest first."""
        query = self._versions_query().where(versions.c.name == name).order_by(versions.c.version)
        with self._db.read() as conn:
            lookup.require_model(conn, name, self.location)
            return [lookup.record_of(row) for row in conn.execute(query)]

    def get(self, name: str, version: int) -> VersionRecord:
        """Return one version of ``name``."""
        with self._db.read() as conn:
            return lookup.record_of(lookup.version_row(conn, name, version, self.location, self._has_signatures))

    def latest(self, name: str) -> VersionRecord:
        """Return the highest version of ``name``."""
        query = self._versions_query().where(versions.c.name == name).order_by(versions.c.version.desc()).limit(1)
        with self._db.read() as conn:
            lookup.require_model(conn, name, self.location)
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(f'"{name}" has no versions; register one first')
            return lookup.record_of(row)

    def archive(self, name: str, version: int) -> bytes:
        """Return the archive bytes of one version, checked against the digest recorded for them.

        Raises BundleError saying the registry's copy is damaged when they differ.
        """
        with self._db.read() as conn:
            expected = lookup.version_row(conn, name, version, self.location).archive_digest
            stored = conn.execute(select(archives.c.data).where(archives.c.digest == expected)).scalar_one_or_none()
        if stored is None:
            raise BundleError(f"the registry's copy of {name}@{version} is missing (no archive {expected[:23]}…); "
                              "register the bundle again")
        data = bytes(stored)
        actual = "sha256:" + bytes_digest(data)
        if actual != expected:
            raise BundleError(f"the registry's copy of {name}@{version} is damaged (digest {actual[:23]}…, expected "
                              f"{expected[:23]}…); restore the database from a backup or register the bundle again")
        return data

    def names(self) -> list[str]:
        """Return the names that have at least one version, sorted."""
        with self._db.read() as conn:
            return lookup.names(conn)

    def models(self) -> list[ModelSummary]:
        """Return each model with its latest version and version count, sorted by name."""
        query = (
            select(models.c.name, func.max(versions.c.version), func.count(), models.c.created_at)
            .join(versions, versions.c.name == models.c.name)
            .group_by(models.c.name, models.c.created_at)
            .order_by(models.c.name)
        )
        with self._db.read() as conn:
            return [ModelSummary(*row) for row in conn.execute(query)]

    def delete_version(self, name: str, version: int, force: bool = False) -> list[str]:
        """Delete one version and its archive if nothing else uses it; return the aliases removed.

        Raises AliasConflictError if aliases point at the version, unless
        ``force`` is true, which removes them (recorded in their history).
        """
        return self._db.transact(lambda conn: self._delete_version(conn, name, version, force))

    # -- aliases -----------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        """Point ``alias`` at ``version`` and record the move; return the version it pointed at before."""
        return self._db.transact(lambda conn: self._set_alias(conn, name, alias, version))

    def move_alias(self, name: str, alias: str, version: int, also: AlsoInTransaction) -> int | None:
        """Point ``alias`` at ``version`` and run ``also(conn, previous, move_id)`` in the same transaction.

        ``move_id`` is the alias history row of the move (None when the alias
        already pointed there). Whatever ``also`` writes commits with the move
        or not at all, and whatever it raises undoes the move.
        """
        def work(conn: Connection) -> int | None:
            previous, move_id = self._set_alias(conn, name, alias, version, with_move_id=True)
            also(conn, previous, move_id)
            return previous

        return self._db.transact(work)

    @property
    def database(self) -> Database:
        """The database, for the records kept beside the registry's (``mldeploy.registry.journal``)."""
        return self._db

    def remove_alias(self, name: str, alias: str) -> int:
        """Remove ``alias`` and record it; return the version it pointed at."""
        return self._db.transact(lambda conn: self._remove_alias(conn, name, alias))

    def resolve_alias(self, name: str, alias: str) -> int:
        """Return the version ``alias`` points at."""
        with self._db.read() as conn:
            query = select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
            version = conn.execute(query).scalar_one_or_none()
            if version is None:
                raise lookup.missing_alias(conn, name, alias, self.location)
            return version

    def aliases(self, name: str) -> dict[str, int]:
        """Return ``{alias: version}`` for ``name``, sorted by alias."""
        with self._db.read() as conn:
            lookup.require_model(conn, name, self.location)
            return lookup.current_aliases(conn, name)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Return every change of ``name``'s aliases (or of one alias), oldest first."""
        query = select(alias_history).where(alias_history.c.name == name).order_by(alias_history.c.id)
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        with self._db.read() as conn:
            lookup.require_model(conn, name, self.location)
            return [
                AliasChange(row.name, row.alias, row.version, row.previous_version, row.changed_at, row.id)
                for row in conn.execute(query)
            ]

    # -- canary traffic ----------------------------------------------------

    def set_traffic(self, name: str, challenger: str, share: float, reason: str | None = None) -> TrafficRecord:
        """Set the share of ``name``'s requests its canary ``challenger`` answers (see :mod:`mldeploy.registry.traffic`)."""
        return self._db.transact(lambda conn: write_traffic(conn, name, challenger, share, reason))

    def traffic(self, name: str) -> TrafficRecord | None:
        """Return the canary share of ``name``, None if none was set."""
        with self._db.read() as conn:
            return read_traffic(conn, name)

    def traffic_history(self, name: str) -> list[TrafficRecord]:
        """Return every setting of ``name``'s canary share, oldest first."""
        with self._db.read() as conn:
            return read_traffic_history(conn, name)

    # -- change feed -------------------------------------------------------

    def changes(self, since: int | None = None, name: str | None = None, limit: int = 1000) -> ChangeFeed:
        """Return the changes after cursor ``since`` (see :func:`mldeploy.registry.feed.read_changes`)."""
        self._require_feed()
        with self._db.read() as conn:
            return read_changes(conn, since, name, limit)

    def wait_for_change(self, timeout_s: float, since: int | None = None) -> bool:
        """Block up to ``timeout_s`` until the registry may have changed; False means it surely did not.

        On PostgreSQL this LISTENs (and keeps listening between calls). With
        ``since``, a change already past that cursor returns True at once. On
        SQLite it polls the feed every half second, or, without ``since``,
        sleeps one poll interval and returns True.
        """
        self._require_feed()
        deadline = time.monotonic() + max(0.0, timeout_s)
        if self._listener is not None:
            self._listener.start()  # listen before looking, so nothing falls between the two
            return self._changed_since(since) or self._listener.wait(max(0.0, deadline - time.monotonic()))
        if since is None:
            time.sleep(min(_POLL_INTERVAL_S, max(0.0, timeout_s)))
            return True
        while not self._changed_since(since):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL_INTERVAL_S, left))
        return True

    def _changed_since(self, since: int | None) -> bool:
        if since is None:
            return False
        with self._db.read() as conn:
            return head(conn) > since

    def _require_feed(self) -> None:
        if "changes" not in self._db.tables:
            raise RegistryError(f"{self.location} was made before the change feed; open it once with write access to add it")

    # -- write steps -------------------------------------------------------

    @property
    def _has_signatures(self) -> bool:
        return "record_signatures" in self._db.tables

    def _versions_query(self):
        return lookup.versions_query(self._has_signatures)

    def _next_version(self, name: str) -> int:
        with self._db.read() as conn:
            last = conn.execute(select(models.c.last_version).where(models.c.name == name)).scalar_one_or_none()
        return (last or 0) + 1

    def _insert_version(self, conn: Connection, row: dict, data: bytes, signature: bytes | None) -> int | None:
        """Claim ``row``'s version and store it; return None, or the next free number if it was taken."""
        name, version = row["name"], row["version"]
        first = {"name": name, "created_at": utc_now(), "last_version": 0}
        conn.execute(self._upsert(models).values(first).on_conflict_do_nothing(index_elements=["name"]))
        # Compare and set: the UPDATE locks the model's row, so registrations of one name queue here briefly.
        claim = (
            update(models)
            .where(models.c.name == name, models.c.last_version == version - 1)
            .values(last_version=version)
            .returning(models.c.last_version)
        )
        if conn.execute(claim).scalar_one_or_none() is None:
            return conn.execute(select(models.c.last_version).where(models.c.name == name)).scalar_one() + 1
        conn.execute(self._upsert(archives).values(digest=row["archive_digest"], data=data).on_conflict_do_nothing(
            index_elements=["digest"]))
        conn.execute(insert(versions).values(row))
        if signature is not None:
            self._require_signature_table()
            conn.execute(insert(record_signatures).values(name=name, version=version, signature=signature))
        record_change(conn, name, "version", version)
        return None

    def _require_signature_table(self) -> None:
        if not self._has_signatures:
            raise RegistryError(f"{self.location} cannot keep record signatures: it was made before them "
                                "and its tables could not be added; open it once with write access")

    def _delete_version(self, conn: Connection, name: str, version: int, force: bool) -> list[str]:
        digest = lookup.version_row(conn, name, version, self.location).archive_digest
        pointing = sorted(a for a, target in lookup.current_aliases(conn, name).items() if target == version)
        if pointing and not force:
            raise AliasConflictError(
                f'version {version} of "{name}" is what alias(es) {", ".join(pointing)} point to; '
                "move them to another version first or delete with force=True"
            )
        for alias in pointing:
            self._remove_alias(conn, name, alias, to_feed=False)
        conn.execute(delete(versions).where(versions.c.name == name, versions.c.version == version))
        if self._has_signatures:
            where = (record_signatures.c.name == name) & (record_signatures.c.version == version)
            conn.execute(delete(record_signatures).where(where))
        still_used = exists().where(versions.c.archive_digest == digest)
        conn.execute(delete(archives).where(archives.c.digest == digest, ~still_used))
        # The feed's lock is taken last in every transaction, after all row locks: no lock-order cycle.
        for alias in pointing:
            record_change(conn, name, "alias-removed", None, alias)
        record_change(conn, name, "deleted", version)
        return pointing

    def _set_alias(self, conn: Connection, name: str, alias: str, version: int, with_move_id: bool = False):
        lookup.version_row(conn, name, version, self.location)
        previous = lookup.locked_alias(conn, name, alias)
        if previous == version:
            return (previous, None) if with_move_id else previous
        now = utc_now()
        if previous is None:
            conn.execute(insert(aliases).values(name=name, alias=alias, version=version, updated_at=now))
        else:
            where = (aliases.c.name == name) & (aliases.c.alias == alias)
            conn.execute(update(aliases).where(where).values(version=version, updated_at=now))
        move_id = _record_alias_move(conn, name, alias, version, previous)
        record_change(conn, name, "alias", version, alias)
        return (previous, move_id) if with_move_id else previous

    def _remove_alias(self, conn: Connection, name: str, alias: str, to_feed: bool = True) -> int:
        previous = lookup.locked_alias(conn, name, alias)
        if previous is None:
            raise lookup.missing_alias(conn, name, alias, self.location)
        conn.execute(delete(aliases).where(aliases.c.name == name, aliases.c.alias == alias))
        _record_alias_move(conn, name, alias, None, previous)
        if to_feed:
            record_change(conn, name, "alias-removed", None, alias)
        return previous


def _record_alias_move(conn: Connection, name: str, alias: str, version: int | None, previous: int | None) -> int:
    row = {"name": name, "alias": alias, "version": version, "previous_version": previous, "changed_at": utc_now()}
    return conn.execute(insert(alias_history).values(row)).inserted_primary_key[0]


def _version_values(name: str, version: int, manifest: dict, data: bytes) -> dict:
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
    archive_digest = "sha256:" + bytes_digest(data)
    return {
        "name": name, "version": version, "created_at": utc_now(),
        "digest": manifest.get("digest") or archive_digest, "task": manifest["task"],
        "parent_version": manifest.get("parent_version"), "manifest": manifest_json,
        "archive_digest": archive_digest, "size_bytes": len(data),
    }
