"""Read and write a bundle directory, verifying every digest on the way in.

Opening checks every file; each later read checks again the very bytes it
returns (:func:`read_checked`), so a file changed after opening is never used.
"""

from __future__ import annotations

import json
from pathlib import Path

from mldeploy.bundle.digest import bytes_digest, file_digest
from mldeploy.bundle.manifest import Manifest
from mldeploy.errors import BundleError, shorten

__all__ = [
    "MANIFEST", "PIPELINE", "PROFILE", "SAMPLE", "SCHEMA", "SIGNATURE",
    "digest_files", "few", "file_sizes", "read_checked", "read_json", "read_verified", "write_manifest",
]

MANIFEST = "manifest.json"
SIGNATURE = "signature.ed25519"
SCHEMA = "schema.json"
PIPELINE = "pipeline.skops"
SAMPLE = "sample.json"
PROFILE = "profile.json"
_UNDIGESTED = {MANIFEST, SIGNATURE}


def write_manifest(directory: Path, manifest: Manifest, signature: bytes | None = None) -> None:
    """Write the manifest (and its signature, if any) into a bundle directory."""
    (directory / MANIFEST).write_bytes(manifest.to_bytes())
    signature_path = directory / SIGNATURE
    if signature is not None:
        signature_path.write_bytes(signature)
    elif signature_path.exists():
        signature_path.unlink()


def digest_files(directory: Path) -> dict[str, str]:
    """Return the SHA-256 of every file in the directory but the manifest and signature."""
    return {
        path.relative_to(directory).as_posix(): file_digest(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory).as_posix() not in _UNDIGESTED
    }


def file_sizes(directory: Path) -> dict[str, int]:
    """Return the size in bytes of every file :func:`digest_files` digests."""
    return {
        path.relative_to(directory).as_posix(): path.stat().st_size
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory).as_posix() not in _UNDIGESTED
    }


def read_checked(directory: Path, manifest: Manifest, name: str) -> bytes:
    """Return a bundle file's bytes after checking those very bytes against the manifest's digest."""
    if name not in manifest.files:
        raise BundleError(f"bundle {directory} does not list {name}; it is incomplete, export it again")
    try:
        data = (directory / name).read_bytes()
    except OSError as exc:
        raise BundleError(f"{name} in {directory} cannot be read ({exc.strerror or exc}); the bundle is corrupt") from exc
    if bytes_digest(data) != manifest.files[name]:
        raise BundleError(f"bundle {directory}: digest mismatch for {name}; the file was changed after the bundle "
                          "was opened or made; refusing to use it")
    return data


def read_verified(directory: Path, check_digests: bool = True) -> tuple[Manifest, bytes | None]:
    """Read a bundle directory's manifest and signature; raise BundleError on any digest mismatch.

    ``check_digests=False`` is for a folder just unpacked by :func:`mldeploy.bundle.archive.unpack`, which checked them.
    """
    if not directory.is_dir():
        raise BundleError(f"{directory} is not a bundle folder; give a bundle folder, an archive, or NAME@VERSION")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{directory} has no {MANIFEST}; it is not a bundle or it is incomplete")
    manifest = Manifest.from_bytes(manifest_path.read_bytes())
    if check_digests:
        _check_digests(directory, manifest)
    signature_path = directory / SIGNATURE
    return manifest, signature_path.read_bytes() if signature_path.is_file() else None


def read_json(directory: Path, manifest: Manifest, name: str) -> dict:
    """Read one of the bundle's JSON files, checking its digest as it is read."""
    try:
        data = json.loads(read_checked(directory, manifest, name))
    except ValueError as exc:
        raise BundleError(f"{name} in {directory} cannot be read ({shorten(exc, 200)}); the bundle is corrupt") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{name} in {directory} is not a JSON object; the bundle is corrupt")
    return data


def _check_digests(directory: Path, manifest: Manifest) -> None:
    actual = digest_files(directory)
    missing = sorted(set(manifest.files) - set(actual))
    if missing:
        raise BundleError(f"bundle {directory} is missing {few(missing)}; it is incomplete, export it again")
    unexpected = sorted(set(actual) - set(manifest.files))
    if unexpected:
        raise BundleError(f"bundle {directory} holds files its manifest does not list: {few(unexpected)}; refusing it")
    changed = sorted(name for name, digest in manifest.files.items() if actual[name] != digest)
    if changed:
        raise BundleError(f"bundle {directory}: digest mismatch for {few(changed)}; the file was changed after the bundle was made")


def few(names: list[str], shown: int = 3) -> str:
    """Name a few of ``names`` and count the rest, so a message stays one line."""
    head = ", ".join(shorten(n) for n in names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")
