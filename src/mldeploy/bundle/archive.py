"""Turn a bundle directory into one archive (bytes) and back, refusing unsafe archives.

An archive may come from a network, so it is read as a stream and checked
member by member before anything large is written: the manifest comes first
and says what may follow. A member the manifest does not list, a second copy
of one, a link or device, a member larger than the manifest declares (or than
:data:`MAX_ARCHIVE_BYTES` in all) or whose bytes do not match their digest is
refused as soon as it is met, so a size bomb or a flood of members costs
little time and memory. A truncated archive is reported as such.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from mldeploy.bundle.manifest import Manifest
from mldeploy.bundle.storage import MANIFEST, SIGNATURE, few
from mldeploy.errors import BundleError, shorten

__all__ = ["pack", "unpack", "MAX_ARCHIVE_BYTES", "MAX_MANIFEST_BYTES"]

MAX_ARCHIVE_BYTES = 2 * 1024**3
"""The most an archive may unpack to, whatever its manifest says."""
MAX_MANIFEST_BYTES = 16 * 1024**2
_MAX_SIGNATURE_BYTES = 1024
_CHUNK_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
# Archives made before the manifest came first hold the compiled files ahead of it: a few, never large.
_MAX_EARLY_MEMBERS = 16
_MAX_EARLY_BYTES = 128 * 1024**2


def pack(directory: Path, compress: bool = True) -> bytes:
    """Return a tar of a bundle folder: the manifest (and signature) first, then its files, sorted.

    Compressed with gzip unless ``compress`` is False: a transport that compresses
    by itself (Kafka's lz4, outside Python) then spares every reader the gunzip.
    The same folder always gives the same bytes (no times, owners or modes kept),
    so a digest of the archive names the bundle: Spark's workers keep a model loaded
    from one run to the next by it.
    """
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        raise BundleError(f"{directory} has no {MANIFEST}; only a bundle folder can be archived")
    first = [directory / name for name in (MANIFEST, SIGNATURE) if (directory / name).is_file()]
    rest = sorted(p for p in directory.rglob("*") if p.is_file() and p not in first)
    buffer = io.BytesIO()
    # gzip's own header holds a time unless told otherwise, which tarfile's "w:gz" does not do
    stream = gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) if compress else buffer
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for path in first + rest:
            info = tar.gettarinfo(str(path), arcname=path.relative_to(directory).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    if compress:
        stream.close()  # writes gzip's trailer; the buffer stays open
    return buffer.getvalue()


def unpack(data: bytes | BinaryIO, destination: Path) -> Path:
    """Extract an archive made by :func:`pack` (its bytes, or a binary stream) into ``destination`` (created; must be empty)."""
    destination = Path(destination)
    try:
        destination.mkdir(parents=True, exist_ok=True)
        if any(destination.iterdir()):
            raise BundleError(f"cannot unpack the bundle into {destination}: the folder is not empty; give a new folder")
        stream, magic = _stream(data)
        # Only the two forms pack() writes: gzip (by its magic bytes) or plain tar.
        with tarfile.open(fileobj=stream, mode="r|gz" if magic == _GZIP_MAGIC else "r|") as tar:
            _Unpacker(tar, destination).run()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BundleError(f"bundle archive is truncated or not a bundle ({exc}); export or download it again") from exc
    except OSError as exc:  # the archive read fine; writing its files did not
        raise BundleError(f"cannot unpack the bundle into {destination}: {exc.strerror or exc}; "
                          "choose a writable folder with free space") from exc
    return destination


def _stream(data: bytes | BinaryIO) -> tuple[BinaryIO, bytes]:
    """Return a stream over the whole archive and its first two bytes."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return io.BytesIO(data), bytes(data[:2])
    head = b""
    while len(head) < 2:  # a raw stream may hand over fewer bytes than asked
        more = data.read(2 - len(head))
        if not more:
            break
        head += more
    return _Prefixed(head, data), head


class _Prefixed:
    """A stream whose first bytes were already read: give them back first (tarfile's stream mode only calls read)."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(size)
        if size < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data + self._rest.read(size - len(data)) if len(data) < size else data


class _Unpacker:
    """Read members one at a time, each checked against the manifest read first."""

    def __init__(self, tar: tarfile.TarFile, destination: Path) -> None:
        self._tar = tar
        self._destination = destination
        self._manifest: Manifest | None = None
        self._written: set[str] = set()
        self._total = 0

    def run(self) -> None:
        early: list[tuple[tarfile.TarInfo, bytes]] = []
        for member in self._tar:
            _check_kind(member)
            if self._manifest is not None:
                self._write(member, self._tar.extractfile(member))
            elif member.name == MANIFEST:
                self._read_manifest(member)
                for held, data in early:
                    self._write(held, io.BytesIO(data))
            else:
                early.append((member, self._hold_early(member, early)))
        if self._manifest is None:
            what = f"has no {MANIFEST}" if early else "is empty"
            raise BundleError(f"bundle archive {what}; it is not a bundle, or it is incomplete: export or download it again")
        missing = sorted(set(self._manifest.files) - self._written)
        if missing:
            raise BundleError(f"bundle archive lacks {few(missing)} its manifest lists; it is incomplete, export it again")

    def _hold_early(self, member: tarfile.TarInfo, early: list) -> bytes:
        """Keep a member that comes before the manifest (archives made before it came first), within tight bounds."""
        held = sum(len(data) for _, data in early) + member.size
        if len(early) >= _MAX_EARLY_MEMBERS or held > _MAX_EARLY_BYTES:
            raise BundleError(f'bundle archive holds {len(early) + 1} member(s) ({held} bytes) before {MANIFEST}, more '
                              "than an export ever puts there; it was not made by mldeploy's export, or it was altered")
        return self._tar.extractfile(member).read()

    def _read_manifest(self, member: tarfile.TarInfo) -> None:
        self._check_size(member, MAX_MANIFEST_BYTES)
        data = self._tar.extractfile(member).read()
        self._manifest = Manifest.from_bytes(data)
        with open(self._destination / MANIFEST, "xb") as handle:
            handle.write(data)

    def _write(self, member: tarfile.TarInfo, source) -> None:
        name = member.name
        files = self._manifest.files
        if name in self._written or name == MANIFEST:
            raise BundleError(f'bundle archive holds "{shorten(name)}" twice; refusing it')
        if name != SIGNATURE and name not in files:
            raise BundleError(f'bundle archive holds "{shorten(name)}", which its manifest does not list '
                              f"(it lists {len(files)} file(s)); refusing it")
        limit = _MAX_SIGNATURE_BYTES if name == SIGNATURE else self._manifest.sizes.get(name, MAX_ARCHIVE_BYTES)
        self._check_size(member, limit)
        self._copy(member, files.get(name), source)
        self._written.add(name)

    def _check_size(self, member: tarfile.TarInfo, limit: int) -> None:
        allowed = min(limit, MAX_ARCHIVE_BYTES - self._total)
        if member.size > allowed:
            raise BundleError(f'bundle archive member "{shorten(member.name)}" holds {member.size} bytes, more than '
                              f"the {allowed} its manifest allows; refusing it")
        self._total += member.size

    def _copy(self, member: tarfile.TarInfo, digest: str | None, source) -> None:
        """Write a member in chunks, hashing as it goes; a member unlike its digest is removed and refused."""
        path = self._destination / member.name
        path.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with open(path, "xb") as target:  # never through a file or link already there
            for chunk in iter(lambda: source.read(_CHUNK_BYTES), b""):
                hasher.update(chunk)
                target.write(chunk)
        if digest is not None and hasher.hexdigest() != digest:
            path.unlink()
            raise BundleError(f'bundle archive member "{shorten(member.name)}" does not match its digest in the '
                              "manifest; the archive was altered or damaged, export it again")


def _check_kind(member: tarfile.TarInfo) -> None:
    # Names are checked against the manifest, whose file names cannot leave the folder.
    if not member.isfile() or member.issparse():
        raise BundleError(f'bundle archive member "{shorten(member.name)}" is a link, device or folder; refusing the archive')
