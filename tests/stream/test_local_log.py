import multiprocessing
import os

import pytest

import mldeploy
from mldeploy.errors import BackendError
from mldeploy.stream import publish
from mldeploy.stream.codec import Record
from mldeploy.stream.local_log import LocalLog
from mldeploy.stream.transport import TopicKind, chunk_topic

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


def _tear(path, record: Record, kept_bytes: int) -> int:
    """Append the first ``kept_bytes`` of ``record``'s frame, as a writer killed mid-append leaves it; return where it starts."""
    scratch = LocalLog(path.parent / "scratch")
    scratch.ensure_topic("frame", TopicKind.EVENTS)
    scratch.append("frame", [record])
    frame = (scratch.folder / "frame.log").read_bytes()
    assert kept_bytes < len(frame)
    with open(path, "ab") as handle:
        torn_at = handle.seek(0, os.SEEK_END)
        handle.write(frame[:kept_bytes])
    return torn_at


@pytest.mark.parametrize("kept_bytes", [5, 200], ids=["torn-header", "torn-body"])
def test_a_torn_tail_is_cut_by_the_next_writer_and_a_reader_waiting_at_it_reads_what_comes_next(tmp_path, kept_bytes):
    """A writer killed mid-append once left a frame that every later one was appended behind: no reader got past it."""
    log = LocalLog(tmp_path / "log")
    log.ensure_topic("t", TopicKind.EVENTS)
    log.append("t", [Record(b"a", b"whole")])
    torn_at = _tear(tmp_path / "log" / "t.log", Record(b"killed", b"k" * 1000), kept_bytes)
    assert log.end("t") == torn_at  # a reader starting at the end starts where the next frame will
    waiting = LocalLog(tmp_path / "log")  # another process's reader, already at the torn frame
    assert waiting.read("t", torn_at, timeout_s=0) == ([], torn_at)
    offsets = LocalLog(tmp_path / "log").append("t", [Record(b"b", b"short"), Record(b"c", b"after")])
    assert offsets[0] == torn_at
    records, cursor = waiting.read("t", torn_at, timeout_s=0)
    assert [(r.key, r.value, r.offset) for r in records] == [(b"b", b"short", offsets[0]), (b"c", b"after", offsets[1])]
    assert cursor == log.end("t") == (tmp_path / "log" / "t.log").stat().st_size
    assert [r.key for r in log.read("t", 0, timeout_s=0)[0]] == [b"a", b"b", b"c"]


def test_bytes_that_are_no_frame_in_the_middle_are_refused_by_the_writer_not_appended_behind(tmp_path):
    log = LocalLog(tmp_path)
    log.append("t", [Record(b"a", b"value")])
    end = log.end("t")
    with open(tmp_path / "t.log", "ab") as handle:
        handle.write(b"not a frame at all")
    with pytest.raises(BackendError, match=rf"t.log is damaged at byte {end}: no frame starts there; move the file away"):
        log.append("t", [Record(b"b", b"value")])
    assert (tmp_path / "t.log").stat().st_size == end + len(b"not a frame at all")


@pytest.mark.parametrize("torn", ["models", "chunks"])
def test_a_subscriber_gets_the_version_published_after_a_publisher_was_killed_mid_append(tmp_path, salary_registry, torn):
    """The torn frame is on the model topic (a subscriber is waiting at it) or on its chunk topic."""
    url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), url)
    with mldeploy.subscribe(url, "salary") as live:
        assert live.wait_ready(60) and live.version == 1
        topic = "models" if torn == "models" else chunk_topic("models")
        _tear(tmp_path / "log" / f"{topic}.log", Record(b"salary", b"{" * 5000), 3000)
        publish(salary_registry.get("salary@2"), url)
        assert live.wait_for_version(2, 30), "the subscriber never got past the torn frame"
    with mldeploy.subscribe(url, "salary", wait_s=30) as started_later:
        assert started_later.version == 2
