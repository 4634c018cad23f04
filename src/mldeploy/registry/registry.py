"""Registry: numbered versions of named bundles, aliases and lineage.

Metadata and archives live in one database (sqlite by default, PostgreSQL by
URL), so registering is one transaction and a shared PostgreSQL registry
serves every machine. Unpacked bundles are cached per machine under ``root``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.errors import BundleError, RegistryError
from mldeploy.registry.records import AliasChange, ModelSummary, VersionRecord
from mldeploy.registry.store import Store

__all__ = ["DEFAULT_ROOT", "Registry"]

DEFAULT_ROOT = Path(".mldeploy")


class Registry:
    """Register, find and alias bundle versions.

    ``url`` is a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``);
    by default a sqlite file in ``root`` (``./.mldeploy``). ``public_key``
    makes every bundle read from the registry need a valid signature.

    Example::

        registry = Registry()
        ref = registry.register(bundle)        # BundleRef("salary", 1)
        registry.set_alias(ref, "production")
        bundle = registry.get("salary:production")
    """

    def __init__(self, url: str | None = None, root: str | Path | None = None, public_key=None):
        self.root = Path(root) if root is not None else DEFAULT_ROOT
        self.url = url or f"sqlite:///{self.root / 'registry.db'}"
        self.public_key = public_key
        self._store = Store(self.url)

    def register(self, bundle: Bundle, parent: str | BundleRef | None = None) -> BundleRef:
        """Store ``bundle`` as the next version of its name and return its reference.

        The parent (lineage) defaults to the bundle's own, else the latest
        version registered before it.
        """
        self._check_before_register(bundle)
        parent_text = str(parent) if parent is not None else bundle.manifest.parent

        def build(version: int) -> tuple[dict, bytes]:
            with tempfile.TemporaryDirectory(prefix="mldeploy-register-") as scratch:
                lineage = parent_text or (f"{bundle.name}@{version - 1}" if version > 1 else None)
                numbered = bundle.copy_to(Path(scratch) / "bundle", version=version, parent=lineage)
                return _manifest_dict(numbered), numbered.to_archive()

        version = self._store.add_version(bundle.name, build)
        return BundleRef(bundle.name, version)

    def resolve(self, ref: str | BundleRef) -> BundleRef:
        """Turn ``name``, ``name:alias`` or ``name@version`` into ``name@version``."""
        record = self.record(ref)
        return BundleRef(record.name, record.version)

    def get(self, ref: str | BundleRef) -> Bundle:
        """Return the verified bundle for a reference, unpacked into the local cache."""
        record = self.record(ref)
        resolved = BundleRef(record.name, record.version)
        target = self._cache_dir(record)
        if not target.is_dir():
            self._unpack_to_cache(record, target)
        bundle = Bundle.open(target, public_key=self.public_key)
        if bundle.digest != record.digest:
            raise BundleError(f"{resolved} in the cache differs from the registry; delete {target} and retry")
        return bundle

    def set_alias(self, ref: str | BundleRef, alias: str) -> BundleRef:
        """Point ``alias`` at a version (moving it if it pointed elsewhere); history is kept."""
        resolved = self.resolve(ref)
        self._store.set_alias(resolved.name, BundleRef.check_alias(alias), resolved.version)
        return resolved

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove an alias; its history is kept."""
        self._store.remove_alias(name, alias)

    def aliases(self, name: str) -> dict[str, int]:
        """Return alias -> version for a model."""
        return self._store.aliases(name)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Return every move of a model's aliases, oldest first."""
        return self._store.alias_history(name, alias)

    def models(self) -> list[ModelSummary]:
        """Return every model name with its latest version."""
        return self._store.models()

    def versions(self, name: str) -> list[VersionRecord]:
        """Return every version of a model, oldest first."""
        return self._store.versions(name)

    def record(self, ref: str | BundleRef) -> VersionRecord:
        """Return the registry's record (manifest, digest, size) of the version a reference names."""
        ref = BundleRef.parse(ref) if isinstance(ref, str) else ref
        if ref.version is None and ref.alias is None:
            return self._store.latest(ref.name)
        version = ref.version if ref.alias is None else self._store.resolve_alias(ref.name, ref.alias)
        return self._store.get(ref.name, version)

    def lineage(self, ref: str | BundleRef) -> list[BundleRef]:
        """Return the version and its ancestors, newest first, following each manifest's parent."""
        chain, record, seen = [], self.record(ref), set()
        while record is not None and (record.name, record.version) not in seen:
            seen.add((record.name, record.version))
            chain.append(BundleRef(record.name, record.version))
            record = self._existing(record.manifest.get("parent"))
        return chain

    def delete(self, ref: str | BundleRef, force: bool = False) -> BundleRef:
        """Delete a version; refused while an alias points at it unless ``force``."""
        resolved = self.resolve(ref)
        self._store.delete_version(resolved.name, resolved.version, force=force)
        return resolved

    def archive(self, ref: str | BundleRef) -> bytes:
        """Return a version as one archive, e.g. to publish or hand to another team."""
        resolved = self.resolve(ref)
        return self._store.archive(resolved.name, resolved.version)

    def close(self) -> None:
        """Release the database connections."""
        self._store.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_before_register(self, bundle: Bundle) -> None:
        # Never store what could not be served: digests (and the signature, with a key) first.
        on_disk = Bundle.open(bundle.path, public_key=self.public_key)
        if on_disk.manifest != bundle.manifest:
            raise BundleError(f"the manifest of the bundle at {bundle.path} changed after it was opened; open it again")

    def _existing(self, parent: str | None) -> VersionRecord | None:
        if not parent:
            return None
        try:
            return self.record(parent)
        except RegistryError:
            return None  # the parent was deleted or lives in another registry

    def _cache_dir(self, record: VersionRecord) -> Path:
        return self.root / "cache" / record.name / f"{record.version}-{record.digest[:16]}"

    def _unpack_to_cache(self, record: VersionRecord, target: Path) -> None:
        data = self._store.archive(record.name, record.version)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
        except OSError as exc:
            raise RegistryError(f"cannot write the bundle cache under {self.root}: {exc.strerror}; choose a writable --registry folder") from exc
        try:
            Bundle.from_archive(data, scratch / "bundle", public_key=self.public_key)
            os.replace(scratch / "bundle", target)  # atomic: readers never see half a bundle
        except BundleError as exc:
            raise BundleError(f"{record.name}@{record.version} in the registry: {exc}") from exc
        except OSError:
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _manifest_dict(bundle: Bundle) -> dict:
    import json

    manifest = json.loads(bundle.manifest.to_bytes())
    manifest["digest"] = bundle.digest
    parent = BundleRef.parse(manifest["parent"]) if manifest.get("parent") else None
    manifest["parent_version"] = parent.version if parent is not None and parent.name == bundle.name else None
    return manifest
