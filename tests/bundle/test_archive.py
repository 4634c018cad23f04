import io
import tarfile

import pytest

from mldeploy.bundle.archive import pack, unpack
from mldeploy.errors import BundleError

pytestmark = pytest.mark.timeout(30)


def _tar(add) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add(tar)
    return buffer.getvalue()


def _file(tar, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_pack_is_deterministic_and_round_trips(tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "src" / "sub" / "b.bin").write_bytes(b"\x00\x01")
    data = pack(tmp_path / "src")
    assert data == pack(tmp_path / "src")
    out = unpack(data, tmp_path / "out")
    assert (out / "sub" / "b.bin").read_bytes() == b"\x00\x01"


def test_truncated_archive_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(bytes(range(256)) * 400)
    data = pack(tmp_path / "src")
    with pytest.raises(BundleError, match="truncated or not a bundle"):
        unpack(data[: len(data) // 2], tmp_path / "out")


def test_path_escaping_the_folder_is_refused_before_writing(tmp_path):
    data = _tar(lambda tar: (_file(tar, "ok.txt"), _file(tar, "../evil.txt")))
    with pytest.raises(BundleError, match='"../evil.txt" escapes the bundle folder'):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()


def test_absolute_path_is_refused(tmp_path):
    with pytest.raises(BundleError, match="escapes the bundle folder"):
        unpack(_tar(lambda tar: _file(tar, "/etc/evil")), tmp_path / "out")


def test_links_are_refused(tmp_path):
    def add(tar):
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)

    with pytest.raises(BundleError, match='"link" is a link or device'):
        unpack(_tar(add), tmp_path / "out")


def test_garbage_is_refused(tmp_path):
    with pytest.raises(BundleError, match="truncated or not a bundle"):
        unpack(b"not an archive at all", tmp_path / "out")


def test_a_destination_that_cannot_be_written_is_not_called_a_bad_archive(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "out" / "a.txt").mkdir(parents=True)  # a folder where the file must go
    with pytest.raises(BundleError, match="cannot unpack the bundle into .*choose a writable folder"):
        unpack(pack(tmp_path / "src"), tmp_path / "out")
