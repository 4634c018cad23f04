"""Registry: numbered versions of named bundles, aliases, lineage and a change feed.

Metadata and archives live in one database (sqlite by default, PostgreSQL by
URL), so registering is one transaction and a shared PostgreSQL registry
serves every machine. Unpacked bundles are cached per machine under ``root``.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mldeploy.bundle import Bundle, BundleRef, signing
from mldeploy.errors import BundleError, ConfigError, RegistryError
from mldeploy.registry.cache import BundleCache
from mldeploy.registry.journal import Journal
from mldeploy.registry.records import AliasChange, ChangeFeed, DeletedVersion, ModelSummary, VersionRecord
from mldeploy.registry.signed_records import public_key_object, sign_record, verify_record
from mldeploy.registry.store import Store
from mldeploy.registry.traffic import TrafficRecord

__all__ = ["DEFAULT_ROOT", "RESERVED_ALIASES", "Registry"]

DEFAULT_ROOT = Path(".mldeploy")

RESERVED_ALIASES = frozenset({"latest"})
"""Aliases nobody may set: ``NAME`` alone already means the latest version."""


class Registry:
    """Register, find and alias bundle versions.

    ``url`` is a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``);
    by default a sqlite file in ``root`` (``./.mldeploy``). Unpacked bundles are
    cached in ``root/cache``; ``root`` defaults to the SQLite file's folder, else
    ``./.mldeploy``. ``public_key``
    makes every version read from the registry need a valid signature, of
    its bundle and of the registry's record of it. Without ``create`` a
    missing registry is a RegistryError instead of a new, empty one;
    :func:`mldeploy.registry.open_registry` is the usual way to open one.

    Example::

        registry = Registry()
        ref = registry.register(bundle)        # BundleRef("salary", 1)
        registry.set_alias(ref, "production")
        bundle = registry.get("salary:production")
    """

    def __init__(self, url: str | None = None, root: str | Path | None = None, public_key=None, create: bool = True):
        self.root = Path(root) if root is not None else _default_root(url)
        self.url = url or f"sqlite:///{self.root / 'registry.db'}"
        self.public_key = public_key
        self._keys = (public_key_object(public_key),) if public_key is not None else ()
        self._store = Store(self.url, create=create)
        self._cache = BundleCache(self.root)
        self._owns_store = True

    @property
    def location(self) -> str:
        """The database, for messages (a SQLite path, or PostgreSQL host:port/database without the password)."""
        return self._store.location

    @property
    def read_only(self) -> bool:
        """Tell whether this process can only read the registry (a SQLite folder it cannot write)."""
        return self._store.read_only

    def requiring(self, public_key) -> Registry:
        """Return a view of this registry that also requires signatures by ``public_key``.

        The view shares the database connections; closing it leaves this registry open.
        """
        view = copy.copy(self)
        view._keys = self._keys + (public_key_object(public_key),)
        view.public_key = self.public_key if self.public_key is not None else public_key
        view._owns_store = False
        return view

    def register(self, bundle: Bundle, parent: str | BundleRef | None = None, sign_with=None) -> BundleRef:
        """Store ``bundle`` as the next version of its name and return its reference.

        The parent (lineage) defaults to the bundle's own, else the latest
        version registered before it. ``sign_with`` (an Ed25519 private key:
        object, PEM bytes or path) signs the registry's record of the version,
        which readers with a public key require.
        """
        self._check_before_register(bundle)
        parent_text = str(parent) if parent is not None else bundle.manifest.parent
        key = signing.load_private_key(sign_with) if isinstance(sign_with, (bytes, str, Path)) else sign_with

        def build(version: int) -> tuple[dict, bytes]:
            with tempfile.TemporaryDirectory(prefix="mldeploy-register-") as scratch:
                lineage = parent_text or (f"{bundle.name}@{version - 1}" if version > 1 else None)
                numbered = bundle.copy_to(Path(scratch) / "bundle", version=version, parent=lineage)
                return _manifest_dict(numbered), numbered.to_archive()

        sign = (lambda name, version, digest: sign_record(name, version, digest, key)) if key is not None else None
        version = self._store.add_version(bundle.name, build, sign=sign)
        return BundleRef(bundle.name, version)

    def resolve(self, ref: str | BundleRef) -> BundleRef:
        """Turn ``name``, ``name:alias`` or ``name@version`` into ``name@version``."""
        record = self.record(ref)
        return BundleRef(record.name, record.version)

    def get(self, ref: str | BundleRef) -> Bundle:
        """Return the verified bundle for a reference, unpacked into the local cache.

        The stored archive is checked against its recorded digest before it is
        unpacked, and the bundle against the record (name, version, digest) and,
        with a public key, the signatures of both.
        """
        record = self.record(ref)
        for key in self._keys:
            verify_record(record, key)  # before any unpacking: a refused record costs nothing
        bundle = self._cache.open(record, lambda: self._store.archive(record.name, record.version))
        _check_matches(bundle, record)
        for key in self._keys:
            signing.verify_signature(bundle.manifest.signed_bytes(), bundle.signature, key)
        return bundle

    def set_alias(self, ref: str | BundleRef, alias: str) -> BundleRef:
        """Point ``alias`` at a version (moving it if it pointed elsewhere); history is kept."""
        if alias in RESERVED_ALIASES:
            raise ConfigError(f'"{alias}" is reserved: a name alone already means its latest version; choose another alias')
        resolved = self.resolve(ref)
        self._store.set_alias(resolved.name, BundleRef.check_alias(alias), resolved.version)
        return resolved

    @property
    def journal(self) -> Journal:
        """The loop's records in this registry's database: audit history, gate decisions, loop state, locks."""
        return Journal(self._store)

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove an alias; its history is kept."""
        self._store.remove_alias(name, alias)

    def aliases(self, name: str) -> dict[str, int]:
        """Return alias -> version for a model."""
        return self._store.aliases(name)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Return every move of a model's aliases, oldest first."""
        return self._store.alias_history(name, alias)

    def set_traffic(self, name: str, challenger: str | BundleRef, share: float, reason: str | None = None) -> TrafficRecord:
        """Set the share (percent) of ``name``'s requests that its canary answers; servers follow it without a restart."""
        challenger = BundleRef.parse(challenger) if isinstance(challenger, str) else challenger
        if challenger.name != name:
            raise ConfigError(f"the canary {challenger} is not a version of {name}")
        return self._store.set_traffic(name, str(challenger), share, reason)

    def traffic(self, name: str) -> TrafficRecord | None:
        """Return ``name``'s canary share record, None if no canary was ever set."""
        return self._store.traffic(name)

    def traffic_history(self, name: str) -> list[TrafficRecord]:
        """Return every setting of ``name``'s canary share with its reason (a guard's stop among them), oldest first."""
        return self._store.traffic_history(name)

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

    def delete(self, ref: str | BundleRef, force: bool = False) -> DeletedVersion:
        """Delete a version; refused while an alias points at it unless ``force``, which removes those aliases.

        Returns the version deleted and every alias removed with it.
        """
        resolved = self.resolve(ref)
        removed = self._store.delete_version(resolved.name, resolved.version, force=force)
        return DeletedVersion(resolved, tuple(removed))

    def archive(self, ref: str | BundleRef) -> bytes:
        """Return a version as one archive (checked against its recorded digest), e.g. to hand to another team."""
        resolved = self.resolve(ref)
        return self._store.archive(resolved.name, resolved.version)

    def changes(self, since: int | None = None, name: str | None = None, limit: int = 1000) -> ChangeFeed:
        """Return what changed after cursor ``since``: new versions, alias moves and removals, deletions.

        ``since=None`` returns no history, only the current cursor. Pass each
        feed's ``cursor`` to the next call to follow the registry by polling::

            feed = registry.changes()
            while True:
                registry.wait_for_change(5.0, since=feed.cursor)
                feed = registry.changes(since=feed.cursor, name="salary")
                for change in feed.changes: ...
        """
        return self._store.changes(since, name, limit)

    def wait_for_change(self, timeout_s: float, since: int | None = None) -> bool:
        """Block up to ``timeout_s`` until the registry may have changed; False means it surely did not.

        PostgreSQL wakes the caller by ``LISTEN``; SQLite polls every half second.
        """
        return self._store.wait_for_change(timeout_s, since)

    def close(self) -> None:
        """Release the database connections (a view from :meth:`requiring` leaves them to its registry)."""
        if self._owns_store:
            self._store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.location})"

    def _check_before_register(self, bundle: Bundle) -> None:
        # Never store what could not be served: digests (and the signature, with a key) first.
        on_disk = Bundle.open(bundle.path)
        for key in self._keys:
            signing.verify_signature(on_disk.manifest.signed_bytes(), on_disk.signature, key)
        if on_disk.manifest != bundle.manifest:
            raise BundleError(f"the manifest of the bundle at {bundle.path} changed after it was opened; open it again")

    def _existing(self, parent: str | None) -> VersionRecord | None:
        if not parent:
            return None
        try:
            return self.record(parent)
        except RegistryError:
            return None  # the parent was deleted or lives in another registry


def _default_root(url: str | None) -> Path:
    """Cache next to a SQLite file, else in ./.mldeploy."""
    if url is None:
        return DEFAULT_ROOT
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return DEFAULT_ROOT  # the store words the error
    if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database.removeprefix("file:")).expanduser().parent
    return DEFAULT_ROOT


def _check_matches(bundle: Bundle, record: VersionRecord) -> None:
    ref = f"{record.name}@{record.version}"
    if (bundle.name, bundle.version) != (record.name, record.version):
        raise BundleError(
            f"the registry's copy of {ref} is {bundle.ref}: the version was renumbered or swapped "
            "in the database; refusing it"
        )
    if bundle.digest != record.digest:
        raise BundleError(
            f"the registry's record of {ref} does not match its archive (manifest digest {bundle.digest[:16]}…, "
            f"recorded {record.digest[:16]}…); the registry is damaged: restore it or register the bundle again"
        )


def _manifest_dict(bundle: Bundle) -> dict:
    manifest = json.loads(bundle.manifest.to_bytes())
    manifest["digest"] = bundle.digest
    parent = BundleRef.parse(manifest["parent"]) if manifest.get("parent") else None
    manifest["parent_version"] = parent.version if parent is not None and parent.name == bundle.name else None
    return manifest
