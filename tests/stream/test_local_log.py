import multiprocessing

import pytest

from mldeploy.errors import BackendError
from mldeploy.stream.codec import Record
from mldeploy.stream.local_log import LocalLog
from mldeploy.stream.transport import TopicKind

pytestmark = pytest.mark.timeout(60)


def test_records_come_back_with_their_offsets_keys_and_headers(tmp_path):
    log = LocalLog(tmp_path)
    log.ensure_topic("t", TopicKind.MODELS)
    offsets = log.append("t", [Record(b"k1", b"v1", (("h", b"\x00\xff"),)), Record(b"", b"")])
    records, cursor = log.read("t", 0, timeout_s=0)
    assert [(r.key, r.value, r.headers, r.offset) for r in records] == [
        (b"k1", b"v1", (("h", b"\x00\xff"),), offsets[0]), (b"", b"", (), offsets[1])]
    assert cursor == log.end("t") and log.read("t", cursor, timeout_s=0) == ([], cursor)
    assert [r.value for r in log.read("t", offsets[1], timeout_s=0)[0]] == [b""]


def test_read_takes_at_most_limit_records(tmp_path):
    log = LocalLog(tmp_path)
    log.append("t", [Record(b"", bytes([i])) for i in range(5)])
    first, cursor = log.read("t", 0, timeout_s=0, limit=2)
    rest, _ = log.read("t", cursor, timeout_s=0)
    assert [r.value for r in first + rest] == [bytes([i]) for i in range(5)]


def _append_many(folder: str, writer: int) -> None:
    log = LocalLog(folder)
    for i in range(40):
        log.append("shared", [Record(f"{writer}".encode(), f"{writer}-{i}".encode() * 500)])


def test_processes_appending_at_once_never_interleave_frames(tmp_path):
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(50)
    assert [p.exitcode for p in writers] == [0, 0, 0]
    records, _ = LocalLog(tmp_path).read("shared", 0, timeout_s=0, limit=1000)
    by_writer = {w: [r.value for r in records if r.key == str(w).encode()] for w in range(3)}
    assert {w: values == [f"{w}-{i}".encode() * 500 for i in range(40)] for w, values in by_writer.items()} == {
        0: True, 1: True, 2: True}


def test_a_frame_still_being_written_is_not_read_yet(tmp_path):
    log = LocalLog(tmp_path)
    log.append("t", [Record(b"a", b"whole")])
    end = log.end("t")
    log.append("t", [Record(b"b", b"x" * 1000)])
    with open(tmp_path / "t.log", "r+b") as handle:
        handle.truncate(end + 20)  # as a reader would see a writer mid-write
    records, cursor = log.read("t", 0, timeout_s=0)
    assert [r.key for r in records] == [b"a"] and cursor == end


def test_damage_is_reported_with_its_place(tmp_path):
    log = LocalLog(tmp_path)
    log.append("t", [Record(b"a", b"value")])
    data = bytearray((tmp_path / "t.log").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "t.log").write_bytes(bytes(data))
    with pytest.raises(BackendError, match=r"t.log is damaged at byte 0: the frame's CRC does not match"):
        log.read("t", 0, timeout_s=0)
    with pytest.raises(BackendError, match="no frame starts there"):
        log.read("t", 3, timeout_s=0)


def test_a_missing_topic_reads_as_empty(tmp_path):
    assert LocalLog(tmp_path / "nowhere").read("t", 0, timeout_s=0) == ([], 0)
