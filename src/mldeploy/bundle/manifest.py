"""The manifest: who a bundle is, how it was made, and the digest of every file."""

from __future__ import annotations

import json
import platform
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata

from mldeploy.bundle.compiled_info import CompiledInfo
from mldeploy.bundle.ref import NAME_PATTERN
from mldeploy.errors import BundleError

__all__ = ["FORMAT_VERSION", "Manifest", "library_versions"]

FORMAT_VERSION = 1
_LIBRARIES = ("scikit-learn", "numpy", "pandas", "skops", "mldeploy")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_NAME = re.compile(rf"^{NAME_PATTERN}$")


def library_versions() -> dict[str, str]:
    """Return the Python and library versions in use, as a manifest records them."""
    versions = {"python": platform.python_version(), "machine": platform.machine()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


@dataclass(frozen=True)
class Manifest:
    """Identity, provenance and file digests of one bundle."""

    name: str
    task: str
    files: dict[str, str]
    """Relative file name -> SHA-256 of every file but the manifest and signature."""
    version: int | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    metrics: dict = field(default_factory=dict)
    data_fingerprint: str | None = None
    training_rows: int | None = None
    libraries: dict[str, str] = field(default_factory=library_versions)
    parent: str | None = None
    """The ``name@version`` this bundle was trained to replace, if any."""
    description: str = ""
    compiled: dict = field(default_factory=dict)
    """The compiled form's plan: which steps are compiled and why others fall back."""
    format_version: int = FORMAT_VERSION

    @property
    def compiled_info(self) -> CompiledInfo:
        """The compiled form's record as a typed value."""
        return CompiledInfo.from_dict(self.compiled)

    def to_bytes(self) -> bytes:
        """Return the canonical JSON the signature covers."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    def signed_bytes(self) -> bytes:
        """Return the bytes a signature covers: everything but what the registry assigns (version, parent)."""
        return replace(self, version=None, parent=None).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        """Parse a manifest and check its shape; refuse malformed or foreign ones."""
        try:
            raw = json.loads(data)
            manifest = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise BundleError(f"manifest.json is malformed ({exc}); the bundle is corrupt, export it again") from exc
        manifest._check()
        return manifest

    def with_version(self, version: int, parent: str | None = None) -> "Manifest":
        """Return a copy numbered ``version`` (the registry assigns numbers)."""
        return replace(self, version=version, parent=parent if parent is not None else self.parent)

    def _check(self) -> None:
        if not isinstance(self.format_version, int) or not isinstance(self.name, str) or not _NAME.match(self.name):
            raise BundleError(f"manifest.json has a bad name or format ({self.name!r}, {self.format_version!r}); refusing the bundle")
        if self.task not in ("regression", "classification"):
            raise BundleError(f"manifest.json has task {self.task!r}; expected regression or classification")
        if self.version is not None and (not isinstance(self.version, int) or self.version < 1):
            raise BundleError(f"manifest.json has version {self.version!r}; expected a whole number >= 1")
        if self.format_version > FORMAT_VERSION:
            raise BundleError(
                f"bundle format {self.format_version} is newer than this mldeploy reads ({FORMAT_VERSION}); upgrade mldeploy"
            )
        if not isinstance(self.files, dict) or not all(isinstance(v, str) for v in self.files.values()):
            raise BundleError("manifest.json lists files without digests; the bundle is corrupt")
        for name in self.files:
            if not _FILE_NAME.match(name) or ".." in name.split("/"):
                raise BundleError(f'manifest.json names a file outside the bundle: "{name}"; refusing the bundle')
