"""Describe what the registry returns: versions, models and alias changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["AliasChange", "ModelSummary", "VersionRecord"]


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
