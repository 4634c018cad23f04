"""The manifest: who a bundle is, how it was made, and the digest of every file."""

from __future__ import annotations

import json
import platform
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata

from mldeploy.compiled.plan import CompiledInfo
from mldeploy.bundle.ref import NAME_PATTERN
from mldeploy.errors import BundleError, shorten

__all__ = ["FORMAT_VERSION", "Manifest", "library_versions"]

FORMAT_VERSION = 1
_LIBRARIES = ("scikit-learn", "numpy", "pandas", "skops", "mldeploy")
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
_NAME = re.compile(NAME_PATTERN)
_DIGEST = re.compile(r"[0-9a-f]{64}")
# The manifest and the signature sit beside the files the manifest lists, never among them (storage.py names them).
_RESERVED_NAMES = frozenset({"manifest.json", "signature.ed25519"})


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
    sizes: dict[str, int] = field(default_factory=dict)
    """Relative file name -> size in bytes: an archive member may be no larger (empty in older bundles)."""

    @property
    def compiled_info(self) -> CompiledInfo:
        """The compiled form's record as a typed value."""
        return CompiledInfo.from_dict(self.compiled)

    def to_bytes(self) -> bytes:
        """Return the canonical JSON the signature covers (older manifests without sizes: the same bytes as before)."""
        data = asdict(self)
        if not data["sizes"]:
            del data["sizes"]
        return json.dumps(data, indent=2, sort_keys=True).encode()

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
        _check_types(self)
        if not _NAME.fullmatch(self.name):
            raise BundleError(f"manifest.json has a bad name ({_shown(self.name)}); refusing the bundle")
        if self.task not in ("regression", "classification"):
            raise BundleError(f"manifest.json has task {_shown(self.task)}; expected regression or classification")
        if self.version is not None and self.version < 1:
            raise BundleError(f"manifest.json has version {self.version!r}; expected a whole number >= 1")
        if self.format_version > FORMAT_VERSION:
            raise BundleError(
                f"bundle format {self.format_version} is newer than this mldeploy reads ({FORMAT_VERSION}); upgrade mldeploy"
            )
        if not all(isinstance(v, str) and _DIGEST.fullmatch(v) for v in self.files.values()):
            raise BundleError("manifest.json lists files without SHA-256 digests; the bundle is corrupt")
        for name in self.files:
            if not _FILE_NAME.fullmatch(name) or {".", ".."} & set(name.split("/")):
                raise BundleError(f"manifest.json names a file outside the bundle: {_shown(name)}; refusing the bundle")
            if name in _RESERVED_NAMES:
                raise BundleError(f"manifest.json lists {name} among the bundle's files; that name is the bundle's own, "
                                  "refusing the bundle")


# Every field's JSON type: a manifest from a network is data to check, not to trust.
_TYPES: dict[str, tuple[type, bool]] = {
    "name": (str, False), "task": (str, False), "files": (dict, False), "version": (int, True),
    "created": (str, False), "metrics": (dict, False), "data_fingerprint": (str, True),
    "training_rows": (int, True), "libraries": (dict, False), "parent": (str, True),
    "description": (str, False), "compiled": (dict, False), "format_version": (int, False), "sizes": (dict, False),
}


def _check_types(manifest: Manifest) -> None:
    """Refuse a field of the wrong JSON type (``"version": true``, ``"compiled": null``), naming it."""
    for name, (kind, optional) in _TYPES.items():
        value = getattr(manifest, name)
        if value is None and optional:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = {str: "text", int: "a whole number", dict: "an object"}[kind] + (" or null" if optional else "")
            raise BundleError(f'manifest.json field "{name}" is {_shown(value)}; expected {expected}. The bundle is malformed')
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.libraries.items()):
        raise BundleError('manifest.json field "libraries" must map names to version text; the bundle is malformed')
    try:  # the compiled entry is read when a model loads: a malformed one must fail here, as a bundle error
        CompiledInfo.from_dict(manifest.compiled)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f'manifest.json field "compiled" is malformed ({shorten(repr(exc))}); the bundle is malformed') from exc
    if not all(k in manifest.files and type(v) is int and v >= 0 for k, v in manifest.sizes.items()):
        raise BundleError('manifest.json field "sizes" must map listed files to byte counts; the bundle is malformed')


def _shown(value) -> str:
    return shorten(json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__)
