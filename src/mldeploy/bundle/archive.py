"""Turn a bundle directory into one archive (bytes) and back, refusing unsafe archives.

An archive may come from a network: members that are not plain files or
folders, or whose path leaves the target folder, are refused before anything
is written, and a truncated archive is reported as such.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from mldeploy.errors import BundleError

__all__ = ["pack", "unpack", "MAX_ARCHIVE_BYTES"]

MAX_ARCHIVE_BYTES = 2 * 1024**3


def pack(directory: Path) -> bytes:
    """Return a gzip-compressed tar of the files in ``directory`` (sorted, fixed metadata)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(directory).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def unpack(data: bytes, destination: Path) -> Path:
    """Extract an archive made by :func:`pack` into ``destination`` (created, must be empty)."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
            _check_members(members)
            tar.extractall(destination, members=members, filter="data")
    except (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BundleError(f"bundle archive is truncated or not a bundle ({exc}); export or download it again") from exc
    except OSError as exc:  # the archive read fine; writing its files did not
        raise BundleError(f"cannot unpack the bundle into {destination}: {exc.strerror or exc}; "
                          "choose a writable folder with free space") from exc
    return destination


def _check_members(members: list[tarfile.TarInfo]) -> None:
    total = 0
    for member in members:
        if not (member.isfile() or member.isdir()):
            raise BundleError(f'bundle archive member "{member.name}" is a link or device; refusing the archive')
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or member.name.startswith("\\"):
            raise BundleError(f'bundle archive member "{member.name}" escapes the bundle folder; refusing the archive')
        total += member.size
        if total > MAX_ARCHIVE_BYTES:
            raise BundleError(f"bundle archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes; refusing it")
