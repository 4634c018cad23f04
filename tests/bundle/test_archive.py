"""Archives: round trips, and hostile archives refused early, in bounded time and memory."""

import io
import struct
import tarfile
import tracemalloc
import zlib
from pathlib import Path

import pytest

from mldeploy.bundle import storage
from mldeploy.bundle.archive import pack, unpack
from mldeploy.bundle.digest import bytes_digest
from mldeploy.bundle.manifest import Manifest
from mldeploy.errors import BundleError

pytestmark = pytest.mark.timeout(30)

_MIB = 1 << 20
_MAX_PEAK_BYTES = 64 * _MIB


def bundle_folder(path: Path, files: dict[str, bytes]) -> Path:
    """A folder with files and a manifest listing their digests and sizes, as a bundle has."""
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    storage.write_manifest(path, manifest_for(files))
    return path


def manifest_for(files: dict[str, bytes], sizes: dict[str, int] | None = None) -> Manifest:
    digests = {name: bytes_digest(data) for name, data in files.items()}
    sizes = {name: len(data) for name, data in files.items()} if sizes is None else sizes
    return Manifest(name="t", task="regression", files=digests, sizes=sizes)


def _tar(add) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add(tar)
    return buffer.getvalue()


def _file(tar, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_pack_puts_the_manifest_first_is_deterministic_and_round_trips(tmp_path):
    folder = bundle_folder(tmp_path / "src", {"a.txt": b"a", "sub/b.bin": b"\x00\x01"})
    data = pack(folder)
    assert data == pack(folder)
    assert data[4:8] == b"\0\0\0\0"  # gzip's header keeps no time, so another second packs the same bytes
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["manifest.json", "a.txt", "sub/b.bin"]
    out = unpack(data, tmp_path / "out")
    assert (out / "sub" / "b.bin").read_bytes() == b"\x00\x01"


def test_an_uncompressed_archive_round_trips_and_is_checked_alike(tmp_path):
    files = {"a.txt": bytes(range(256)) * 400, "sub/b.bin": b"\x00\x01"}
    folder = bundle_folder(tmp_path / "src", files)
    plain = pack(folder, compress=False)
    assert plain[:2] != b"\x1f\x8b" and len(plain) > len(files["a.txt"])
    out = unpack(plain, tmp_path / "out")
    assert (out / "a.txt").read_bytes() == files["a.txt"]
    for index, compressed in enumerate((plain, pack(folder))):  # a stream is read like bytes, either form
        streamed = unpack(io.BufferedReader(io.BytesIO(compressed)), tmp_path / f"streamed{index}")
        assert (streamed / "sub" / "b.bin").read_bytes() == files["sub/b.bin"]
    altered = plain.replace(bytes(range(256)), bytes(reversed(range(256))), 1)
    with pytest.raises(BundleError, match="does not match its digest"):
        unpack(altered, tmp_path / "altered")
    with pytest.raises(BundleError, match="truncated or not a bundle"):
        unpack(plain[: len(plain) // 2], tmp_path / "cut")


def test_truncated_archive_is_refused(tmp_path):
    folder = bundle_folder(tmp_path / "src", {"a.txt": bytes(range(256)) * 400})
    data = pack(folder)
    with pytest.raises(BundleError, match="truncated or not a bundle"):
        unpack(data[: len(data) // 2], tmp_path / "out")


def test_garbage_is_refused(tmp_path):
    with pytest.raises(BundleError, match="truncated or not a bundle"):
        unpack(b"not an archive at all", tmp_path / "out")


def test_an_archive_without_a_manifest_is_refused_before_writing(tmp_path):
    data = _tar(lambda tar: (_file(tar, "ok.txt"), _file(tar, "../evil.txt")))
    with pytest.raises(BundleError, match="has no manifest.json"):
        unpack(data, tmp_path / "out")
    assert not list((tmp_path / "out").iterdir()) and not (tmp_path / "evil.txt").exists()


def test_an_archive_made_before_the_manifest_came_first_still_opens(tmp_path):
    files = {"compiled/arrays.npz": b"n" * 3000, "compiled/encoder.json": b"{}", "pipeline.skops": b"p"}
    folder = bundle_folder(tmp_path / "src", files)
    data = _tar(lambda tar: [tar.add(folder / name, arcname=name) for name in sorted([*files, "manifest.json"])])
    unpack(data, tmp_path / "out")
    assert {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()} == {
        *files, "manifest.json"}


def test_an_unlisted_member_before_the_manifest_is_refused_once_the_manifest_is_read(tmp_path):
    files = {"pipeline.skops": b"p"}
    manifest = manifest_for(files).to_bytes()
    data = _tar(lambda tar: (_file(tar, "aaa.bin"), _file(tar, "manifest.json", manifest), _file(tar, "pipeline.skops", b"p")))
    with pytest.raises(BundleError, match='holds "aaa.bin", which its manifest does not list'):
        unpack(data, tmp_path / "out")


def test_members_the_manifest_does_not_list_are_refused(tmp_path):
    files = {"a.txt": b"a"}
    manifest = manifest_for(files).to_bytes()
    for name in ("../evil.txt", "/etc/evil", "b.txt"):
        data = _tar(lambda tar: (_file(tar, "manifest.json", manifest), _file(tar, name)))
        with pytest.raises(BundleError, match="which its manifest does not list"):
            unpack(data, tmp_path / name.replace("/", "_"))
    assert not (tmp_path / "evil.txt").exists()


def test_links_and_repeated_members_are_refused(tmp_path):
    files = {"a.txt": b"a"}
    manifest = manifest_for(files).to_bytes()

    def add_link(tar):
        _file(tar, "manifest.json", manifest)
        link = tarfile.TarInfo("a.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)

    with pytest.raises(BundleError, match='"a.txt" is a link, device or folder'):
        unpack(_tar(add_link), tmp_path / "out1")
    twice = _tar(lambda tar: (_file(tar, "manifest.json", manifest), _file(tar, "a.txt", b"a"), _file(tar, "a.txt", b"a")))
    with pytest.raises(BundleError, match='holds "a.txt" twice'):
        unpack(twice, tmp_path / "out2")


def test_a_member_unlike_its_digest_is_refused_and_not_kept(tmp_path):
    manifest = manifest_for({"a.txt": b"a"}, sizes={}).to_bytes()
    data = _tar(lambda tar: (_file(tar, "manifest.json", manifest), _file(tar, "a.txt", b"b")))
    with pytest.raises(BundleError, match='"a.txt" does not match its digest'):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "out" / "a.txt").exists()


def test_a_destination_that_cannot_be_written_is_not_called_a_bad_archive(tmp_path):
    data = pack(bundle_folder(tmp_path / "src", {"a.txt": b"a"}))
    (tmp_path / "file").write_text("a file where a folder must go")
    with pytest.raises(BundleError, match="cannot unpack the bundle into .*choose a writable folder"):
        unpack(data, tmp_path / "file" / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(BundleError, match="the folder is not empty"):
        unpack(data, tmp_path / "full")


# --- hostile archives: each is refused within the test's time limit and a bounded memory peak


def zero_bomb(path: Path, head: list[tuple[str, bytes]], name: str, size: int) -> None:
    """Write a .tar.gz whose member ``name`` is ``size`` zero bytes, streaming: ~1 KB of gzip per MiB."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = 0
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header, no name, no time
        start_bytes = b"".join(_header(member, len(data)) + data + bytes(-len(data) % 512) for member, data in head)
        start_bytes += _header(name, size)  # the data follows
        out.write(deflate.compress(start_bytes) + deflate.flush(zlib.Z_FULL_FLUSH))
        crc = zlib.crc32(start_bytes, crc)
        zeros = bytes(_MIB)
        chunk = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)  # the same bytes for every MiB of zeros
        for _ in range(size // _MIB):
            out.write(chunk)
            crc = zlib.crc32(zeros, crc)
        tail = bytes(-size % 512 + 1024)  # padding and the end-of-archive blocks
        out.write(deflate.compress(tail) + deflate.flush())
        crc = zlib.crc32(tail, crc)
        total = len(start_bytes) + size // _MIB * _MIB + len(tail)
        out.write(struct.pack("<II", crc, total & 0xFFFFFFFF))


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


def refused_in_bounds(data: bytes, destination: Path, match: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match=match) as caught:
            unpack(data, destination)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    written = sum(p.stat().st_size for p in destination.rglob("*") if p.is_file())
    assert peak < _MAX_PEAK_BYTES and written < _MIB and len(str(caught.value)) < 500


@pytest.fixture(scope="module")
def bomb_head():
    files = {"pipeline.skops": b"p" * 100}
    return files, manifest_for(files).to_bytes()


@pytest.mark.parametrize("member", ["pipeline.skops", "filler.bin"])
def test_a_zero_bomb_member_is_refused_at_its_header(tmp_path, bomb_head, member):
    _, manifest = bomb_head
    path = tmp_path / "bomb.tar.gz"
    zero_bomb(path, [("manifest.json", manifest)], member, 1900 * _MIB)
    assert path.stat().st_size < 3 * _MIB
    refused_in_bounds(path.read_bytes(), tmp_path / "out", "more than the 100 its manifest allows|does not list")


def test_a_zero_bomb_before_the_manifest_is_refused_at_its_header(tmp_path):
    path = tmp_path / "bomb.tar.gz"
    zero_bomb(path, [], "pipeline.skops", 1900 * _MIB)
    refused_in_bounds(path.read_bytes(), tmp_path / "out", "before manifest.json, more than an export ever puts there")


def flood(head: list[tuple[str, bytes]], count: int) -> bytes:
    """Return a .tar.gz of ``head`` then ``count`` empty members f0, f1, ... (headers made directly: tarfile is slow)."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [deflate.compress(b"".join(_header(n, len(d)) + d + bytes(-len(d) % 512) for n, d in head))]
    template = bytearray(_header("", 0))
    template[148:156] = b" " * 8
    unnamed = sum(template)  # a header's checksum is the sum of its bytes: add the name's
    for index in range(count):
        name = b"f%d" % index
        header = template[:]
        header[0:len(name)] = name
        header[148:156] = b"%06o\0 " % (unnamed + sum(name))
        parts.append(deflate.compress(header))
    parts.append(deflate.compress(bytes(1024)) + deflate.flush())
    return b"".join(parts)


def test_a_flood_of_members_is_refused_at_the_first_unlisted_one(tmp_path, bomb_head):
    files, manifest = bomb_head
    data = flood([("manifest.json", manifest), ("pipeline.skops", files["pipeline.skops"])], 300_000)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:  # valid members (reading all 300,002 is slow)
        assert [member.name for _, member in zip(range(4), tar)] == ["manifest.json", "pipeline.skops", "f0", "f1"]
    refused_in_bounds(data, tmp_path / "out", '"f0", which its manifest does not list')


def test_an_oversized_manifest_is_refused(tmp_path):
    path = tmp_path / "bomb.tar.gz"
    zero_bomb(path, [], "manifest.json", 100 * _MIB)
    refused_in_bounds(path.read_bytes(), tmp_path / "out", '"manifest.json" holds 104857600 bytes')


def test_old_manifests_without_sizes_still_round_trip(tmp_path):
    files = {"a.txt": b"abc"}
    folder = bundle_folder(tmp_path / "src", files)
    storage.write_manifest(folder, manifest_for(files, sizes={}))
    assert b"sizes" not in (folder / "manifest.json").read_bytes()
    assert (unpack(pack(folder), tmp_path / "out") / "a.txt").read_bytes() == b"abc"


def test_the_zero_bomb_is_a_valid_archive(tmp_path):
    zero_bomb(tmp_path / "b.tar.gz", [("manifest.json", b"{}")], "x", 64 * _MIB)
    with tarfile.open(tmp_path / "b.tar.gz") as tar:  # tar reads it whole, gzip's checksum included
        assert [(m.name, m.size) for m in tar.getmembers()] == [("manifest.json", 2), ("x", 64 * _MIB)]
        assert tar.extractfile("x").read() == bytes(64 * _MIB)
