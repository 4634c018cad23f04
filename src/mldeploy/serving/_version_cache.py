"""Keep a LiveModel's last good version on disk, so a restart serves it before its source answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.serving.source import Candidate

__all__ = ["VersionCache"]


class VersionCache:
    """One archive per model name in a folder; written atomically, read back as a Candidate."""

    def __init__(self, folder: Path, name: str):
        self._archive = folder / f"{name}.bundle.tar.gz"
        self._about = folder / f"{name}.bundle.json"

    def keep(self, bundle: Bundle) -> None:
        """Store ``bundle`` as the last good version (replacing the one before, atomically)."""
        self._archive.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self._archive, bundle.to_archive())
        _write_atomically(self._about, json.dumps({"ref": str(bundle.ref), "digest": bundle.digest}).encode())

    def candidate(self) -> Candidate | None:
        """Return the kept version as a candidate (checked like any other), or None."""
        try:
            about = json.loads(self._about.read_bytes())
            ref = BundleRef.parse(about["ref"])
            digest = str(about["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return Candidate(ref, digest, lambda: Bundle.from_archive(self._archive.read_bytes()))

    def forget(self) -> None:
        """Drop the kept version (it failed its checks)."""
        for path in (self._about, self._archive):
            path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    scratch = path.with_name(path.name + f".{os.getpid()}.tmp")
    scratch.write_bytes(data)
    os.replace(scratch, path)
