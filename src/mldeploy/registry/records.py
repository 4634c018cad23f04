"""Describe what the registry returns: versions, models, alias changes, deletions and the change feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mldeploy.bundle import BundleRef

__all__ = ["AliasChange", "Change", "ChangeFeed", "ChangeKind", "DeletedVersion", "ModelSummary", "VersionRecord"]

ChangeKind = Literal["version", "alias", "alias-removed", "deleted"]


@dataclass(frozen=True)
class VersionRecord:
    """One registered version of a model, without its archive bytes."""

    name: str
    version: int
    digest: str
    """The bundle's digest from its manifest, or the archive's when the manifest has none."""
    created_at: datetime
    task: str
    parent_version: int | None
    manifest: dict
    size_bytes: int
    """Size of the archive in bytes."""
    archive_digest: str
    """``sha256:<hex>`` of the archive bytes; identical archives are stored once."""
    record_signature: bytes | None = None
    """Ed25519 signature over (name, version, digest), when it was registered with a signing key."""


@dataclass(frozen=True)
class ModelSummary:
    """A model name with its newest version and how many versions it has."""

    name: str
    latest_version: int
    version_count: int
    created_at: datetime


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias; ``version`` is None when the alias was removed."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    changed_at: datetime
    move_id: int | None = None
    """The move's row in the alias history, which the audit history (``Journal``) links its reason to."""


@dataclass(frozen=True)
class DeletedVersion:
    """What :meth:`Registry.delete` removed: the version and every alias that pointed at it."""

    ref: BundleRef
    removed_aliases: tuple[str, ...]

    def __str__(self) -> str:
        return str(self.ref)


@dataclass(frozen=True)
class Change:
    """One entry of the registry's change feed.

    ``kind`` is ``version`` (registered; ``version`` set), ``alias`` (``alias``
    now points at ``version``), ``alias-removed`` (``alias`` no longer exists)
    or ``deleted`` (``version`` was deleted).
    """

    cursor: int
    name: str
    kind: ChangeKind
    version: int | None
    alias: str | None
    at: datetime


@dataclass(frozen=True)
class ChangeFeed:
    """The changes after a cursor, oldest first, and the cursor to ask from next time."""

    changes: list[Change]
    cursor: int
