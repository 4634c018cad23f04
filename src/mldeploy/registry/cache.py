"""Unpack registry archives into a per-machine cache, one folder per version and digest.

An unpack goes to a scratch folder first and is renamed into place only when
the bundle opened and verified, so a failed unpack is never kept and readers
never see half a bundle. A cache folder that cannot be written (a read-only
registry folder) is not an error: the bundle is unpacked into a temporary
folder that is removed when the bundle is no longer used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from mldeploy.bundle import Bundle
from mldeploy.errors import BundleError
from mldeploy.registry.records import VersionRecord

__all__ = ["BundleCache"]


class BundleCache:
    """Bundles of one registry, unpacked under ``root/cache``."""

    def __init__(self, root: Path):
        self.folder = root / "cache"

    def target(self, record: VersionRecord) -> Path:
        """Return the folder that holds (or will hold) a version's unpacked bundle."""
        return self.folder / record.name / f"{record.version}-{record.digest[:16]}"

    def open(self, record: VersionRecord, fetch: Callable[[], bytes]) -> Bundle:
        """Open a version's bundle from the cache, unpacking ``fetch()`` (checked archive bytes) first if needed."""
        target = self.target(record)
        if not target.is_dir():
            data = fetch()
            unpacked = self._unpack(record, data, target)
            # None: the cache is not writable, so a temporary copy serves this call.
            return unpacked if unpacked is not None else _unpacked(record, data, None)
        try:
            return Bundle.open(target)
        except BundleError as exc:
            raise BundleError(f"the cached copy of {record.name}@{record.version} fails its check ({exc}); "
                              f"delete {target} and retry") from exc

    def _unpack(self, record: VersionRecord, data: bytes, target: Path) -> Bundle | None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
        except OSError:
            return None
        try:
            bundle = _unpacked(record, data, scratch / "bundle")
            try:
                os.replace(scratch / "bundle", target)  # atomic: readers never see half a bundle
            except OSError:
                if not target.is_dir():  # another process renaming the same version first is fine
                    return None
            # Verified moments ago in scratch; the rename moved those very files.
            return Bundle(target, bundle.manifest, bundle.schema, bundle.signature)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _unpacked(record: VersionRecord, data: bytes, directory: Path | None) -> Bundle:
    try:
        return Bundle.from_archive(data, directory)
    except BundleError as exc:
        raise BundleError(f"{record.name}@{record.version} in the registry cannot be unpacked: {exc}") from exc
