"""Queries shared by the store's reads and writes, with not-found errors that list what exists."""

from __future__ import annotations

import json

from sqlalchemy import Connection, Select, and_, select

from mldeploy.errors import NotFoundError
from mldeploy.registry.records import VersionRecord
from mldeploy.registry.tables import aliases, models, record_signatures, versions

__all__ = [
    "current_aliases", "locked_alias", "missing_alias", "names", "record_of", "require_model", "version_row",
    "versions_query",
]

_LISTED = 20  # names, versions or aliases shown in a not-found message


def versions_query(with_signatures: bool) -> Select:
    """Select version rows, with their record signature when the registry has that table."""
    if not with_signatures:
        return select(versions)
    joined = versions.outerjoin(
        record_signatures,
        and_(record_signatures.c.name == versions.c.name, record_signatures.c.version == versions.c.version),
    )
    return select(versions, record_signatures.c.signature).select_from(joined)


def record_of(row) -> VersionRecord:
    """Turn a row of :func:`versions_query` into a VersionRecord."""
    signature = row._mapping.get("signature")
    return VersionRecord(
        name=row.name, version=row.version, digest=row.digest, created_at=row.created_at, task=row.task,
        parent_version=row.parent_version, manifest=json.loads(row.manifest), size_bytes=row.size_bytes,
        archive_digest=row.archive_digest, record_signature=bytes(signature) if signature is not None else None,
    )


def require_model(conn: Connection, name: str, location: str) -> None:
    """Raise NotFoundError, listing the models there are, unless ``name`` exists."""
    if conn.execute(select(models.c.name).where(models.c.name == name)).first() is None:
        known = names(conn)
        listing = f"models are {_listing(known)}" if known else f"{location} holds no models yet"
        raise NotFoundError(f'no model named "{name}"; {listing}')


def version_row(conn: Connection, name: str, version: int, location: str, with_signatures: bool = False):
    """Return one version's row, or raise NotFoundError listing the versions there are."""
    query = versions_query(with_signatures).where(versions.c.name == name, versions.c.version == version)
    row = conn.execute(query).first()
    if row is not None:
        return row
    require_model(conn, name, location)
    known = conn.execute(select(versions.c.version).where(versions.c.name == name).order_by(versions.c.version))
    numbers = [str(v) for v in known.scalars()]
    listing = f"versions are {_listing(numbers)}" if numbers else "it has no versions"
    raise NotFoundError(f'no version {version} of "{name}"; {listing}')


def missing_alias(conn: Connection, name: str, alias: str, location: str) -> NotFoundError:
    """Return the NotFoundError for an unknown alias, listing the aliases there are."""
    require_model(conn, name, location)
    known = list(current_aliases(conn, name))
    listing = f"aliases are {_listing(known)}" if known else "it has no aliases yet"
    return NotFoundError(f'no alias "{alias}" of "{name}"; {listing}')


def names(conn: Connection) -> list[str]:
    """Return the names that have at least one version, sorted."""
    return list(conn.execute(select(versions.c.name).distinct().order_by(versions.c.name)).scalars())


def current_aliases(conn: Connection, name: str) -> dict[str, int]:
    """Return ``{alias: version}`` for ``name``, sorted by alias."""
    query = select(aliases.c.alias, aliases.c.version).where(aliases.c.name == name).order_by(aliases.c.alias)
    return {alias: version for alias, version in conn.execute(query)}


def locked_alias(conn: Connection, name: str, alias: str) -> int | None:
    """Return the version an alias points at, locking its row until the transaction ends."""
    # FOR UPDATE keeps two movers of one alias from both recording the same "previous" (no-op on SQLite).
    query = select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias).with_for_update()
    return conn.execute(query).scalar_one_or_none()


def _listing(items: list[str]) -> str:
    if len(items) <= _LISTED:
        return ", ".join(items)
    return f"{', '.join(items[-_LISTED:])} (the last {_LISTED} of {len(items)})"
