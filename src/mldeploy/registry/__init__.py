"""The registry: numbered versions of named bundles, aliases, lineage and a change feed."""

from mldeploy.registry.locate import ENVIRONMENT_VARIABLE, bundle_path, open_registry
from mldeploy.registry.records import (
    AliasChange,
    Change,
    ChangeFeed,
    DeletedVersion,
    ModelSummary,
    VersionRecord,
)
from mldeploy.registry.registry import DEFAULT_ROOT, RESERVED_ALIASES, Registry

__all__ = [
    "DEFAULT_ROOT",
    "ENVIRONMENT_VARIABLE",
    "RESERVED_ALIASES",
    "AliasChange",
    "Change",
    "ChangeFeed",
    "DeletedVersion",
    "ModelSummary",
    "Registry",
    "VersionRecord",
    "bundle_path",
    "open_registry",
]
