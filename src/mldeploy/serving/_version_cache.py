"""Keep a LiveModel's last good version on disk, so a restart serves it before its source answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.serving.model_source import Candidate

__all__ = ["VersionCache"]

_OLD_ARCHIVE = "{}.bundle.tar.gz"
"""Where caches written before plain tars kept their archive (their JSON names none)."""


class VersionCache:
    """One archive per model name in a folder; written atomically, read back as a Candidate."""

    def __init__(self, folder: Path, name: str):
        # A plain tar: gzip would cost a 50 MB version 3 s of CPU at every swap, for disk space nobody lacks.
        self._archive = folder / f"{name}.bundle.tar"
        self._about = folder / f"{name}.bundle.json"
        self._old_archive = folder / _OLD_ARCHIVE.format(name)

    def keep(self, bundle: Bundle) -> None:
        """Store ``bundle`` as the last good version (replacing the one before, atomically)."""
        self._archive.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self._archive, bundle.to_archive(compress=False))
        about = {"ref": str(bundle.ref), "digest": bundle.digest, "archive": self._archive.name}
        _write_atomically(self._about, json.dumps(about).encode())
        self._old_archive.unlink(missing_ok=True)

    def candidate(self) -> Candidate | None:
        """Return the kept version as a candidate (checked like any other), or None."""
        try:
            about = json.loads(self._about.read_bytes())
            ref = BundleRef.parse(about["ref"])
            digest = str(about["digest"])
            archive = self._about.with_name(Path(about["archive"]).name) if "archive" in about else self._old_archive
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return Candidate(ref, digest, lambda: Bundle.from_archive(archive.read_bytes()))

    def forget(self) -> None:
        """Drop the kept version (it failed its checks)."""
        for path in (self._about, self._archive, self._old_archive):
            path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    scratch = path.with_name(path.name + f".{os.getpid()}.tmp")
    scratch.write_bytes(data)
    os.replace(scratch, path)
