"""The registry: numbered versions of named bundles, aliases and lineage."""

from mldeploy.registry.records import AliasChange, ModelSummary, VersionRecord
from mldeploy.registry.registry import DEFAULT_ROOT, Registry

__all__ = ["DEFAULT_ROOT", "AliasChange", "ModelSummary", "Registry", "VersionRecord"]
