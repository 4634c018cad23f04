import json

import pytest

from mldeploy.bundle.digest import bytes_digest
from mldeploy.errors import BundleError, ConfigError, Issue, SchemaError
from mldeploy.stream import codec
from mldeploy.stream.codec import PublishedVersion


def _published(archive: bytes, chunks: list) -> PublishedVersion:
    return PublishedVersion(
        name="salary", version=3, digest="d" * 64, archive_sha256=bytes_digest(archive), archive_bytes=len(archive),
        chunk_count=len(chunks), chunk_topic="models.chunks", first_offset=0, last_offset=len(chunks) - 1,
        signed=False, task="regression",
    )


def _with_offsets(chunks):
    return [codec.Record(c.key, c.value, offset=i) for i, c in enumerate(chunks)]


def test_chunks_join_back_to_the_archive_whatever_their_order_and_company():
    archive = bytes(range(256)) * 1000
    chunks = codec.chunk_records(archive, chunk_bytes=10_000)
    assert len(chunks) == 26 and all(len(c.value) <= 10_000 for c in chunks)
    assert len({c.key for c in chunks}) == len(chunks)  # unique keys: compaction keeps every chunk
    stranger = codec.Record(b"0" * 64 + b"/0", b"another bundle's chunk")
    mixed = [stranger, *reversed(chunks)]
    assert codec.join_chunks(_published(archive, chunks), mixed) == archive


@pytest.mark.parametrize("read_size", [1, 7_777, 10_000, 1 << 20])
def test_the_archive_reader_streams_the_same_bytes_the_join_gives(read_size):
    archive = bytes(range(256)) * 1000
    chunks = codec.chunk_records(archive, chunk_bytes=10_000)
    reader = codec.archive_reader(_published(archive, chunks), list(reversed(chunks)))
    assert reader.peek(2)[:2] == archive[:2]
    assert b"".join(iter(lambda: reader.read(read_size), b"")) == archive


def test_the_archive_reader_refuses_what_the_join_refuses():
    archive = b"x" * 50_000
    chunks = codec.chunk_records(archive, chunk_bytes=10_000)
    with pytest.raises(BundleError, match="salary@3 is truncated"):
        codec.archive_reader(_published(archive, chunks), chunks[:4])
    chunks[4] = codec.Record(chunks[4].key, chunks[4].value[:-1] + b"y")
    with pytest.raises(BundleError, match="salary@3 is corrupt"):
        codec.archive_reader(_published(archive, chunks), chunks)


def test_a_missing_chunk_is_reported_as_truncation():
    archive = b"x" * 50_000
    chunks = codec.chunk_records(archive, chunk_bytes=10_000)
    with pytest.raises(BundleError, match=r"salary@3 is truncated: 1 of 5 chunks are missing .*first missing: 2"):
        codec.join_chunks(_published(archive, chunks), chunks[:2] + chunks[3:])


def test_a_changed_byte_is_reported_as_corruption():
    archive = b"x" * 50_000
    chunks = codec.chunk_records(archive, chunk_bytes=10_000)
    chunks[1] = codec.Record(chunks[1].key, b"y" + chunks[1].value[1:])
    with pytest.raises(BundleError, match="salary@3 is corrupt"):
        codec.join_chunks(_published(archive, chunks), chunks)


def test_an_empty_archive_is_one_empty_chunk():
    assert [c.value for c in codec.chunk_records(b"")] == [b""]


def test_chunk_size_must_be_positive():
    with pytest.raises(ConfigError, match="at least 1 byte"):
        codec.chunk_records(b"abc", chunk_bytes=0)


def test_version_records_round_trip_and_refuse_what_is_not_one():
    archive = b"abc"
    record = _published(archive, codec.chunk_records(archive))
    assert codec.decode_version(codec.encode_version(record)) == record
    with pytest.raises(BundleError, match="not a version record"):
        codec.decode_version(b'{"name": "salary"}')
    with pytest.raises(BundleError, match="not a version record"):
        codec.decode_version(b"\x80\x04pickle")
    wrong_type = json.loads(codec.encode_version(record)) | {"chunk_count": "7"}
    with pytest.raises(BundleError, match="chunk_count: expected int, got str"):
        codec.decode_version(json.dumps(wrong_type).encode())
    newer = json.loads(codec.encode_version(record)) | {"format": codec.FORMAT + 1}
    with pytest.raises(BundleError, match=r"format 3, newer than this mldeploy reads \(2\); upgrade mldeploy"):
        codec.decode_version(json.dumps(newer).encode())


def test_version_keys_are_the_version_and_the_name():
    assert codec.version_keys(_published(b"a", [None]).ref) == (b"salary@3", b"salary")


def test_events_decode_in_one_pass_when_all_are_objects():
    rows, bad = codec.decode_events([b'{"a": 1}', b'{"a": null}'])
    assert rows == [{"a": 1}, {"a": None}] and bad == {}


def test_each_bad_event_gets_its_own_reason_and_the_others_still_decode():
    rows, bad = codec.decode_events([b'{"a": 1}', b"not json", b"[1, 2]", b'{"a": 2}'])
    assert rows == [{"a": 1}, None, None, {"a": 2}]
    assert bad[1].startswith("the message is not JSON") and bad[2] == "expected one JSON object of fields, got list"


def test_broken_events_cannot_merge_into_their_neighbours():
    # Joined into one JSON array, these three would parse as three objects, each on the wrong event
    rows, bad = codec.decode_events([b'{"a": [1', b'2]}', b'{"x": 1}, {"y": 2}'])
    assert rows == [None, None, None] and sorted(bad) == [0, 1, 2]


@pytest.mark.parametrize("orjson", [True, False], ids=["orjson", "stdlib-json"])
@pytest.mark.parametrize("hostile", [b"[" * 100_000, b'{"a":' * 100_000, b'{"a": "' + b"[" * 5000 + b'"}' + b"]" * 65],
                         ids=["brackets", "objects", "brackets-after-a-string"])
def test_an_event_nested_without_end_is_a_reason_not_a_crash(monkeypatch, orjson, hostile):
    if not orjson:
        monkeypatch.setattr(codec, "_orjson", None)
        monkeypatch.setattr(codec, "_loads", json.loads)
    rows, bad = codec.decode_events([b'{"a": 1}', hostile, b'{"a": 2}'])
    assert rows[0] == {"a": 1} and rows[2] == {"a": 2} and rows[1] is None
    assert "nests deeper than 64 levels" in bad[1] or bad[1].startswith("the message is not JSON")


def test_brackets_inside_strings_do_not_count_as_nesting():
    event = json.dumps({"note": "[" * 200 + "{" * 200}).encode()
    assert codec.decode_events([event]) == ([{"note": "[" * 200 + "{" * 200}], {})


def test_a_dead_letter_carries_a_bounded_excerpt_with_the_event_size_and_digest():
    event = b"\xff" * 700_000  # as hex, 1.4 MB: more than a broker takes by default
    letter = codec.dead_letter_value(event, "invalid-event", ["why"] * 1000, {"topic": "t", "partition": 0, "offset": 9})
    assert len(letter) < 64 * 1024
    parsed = json.loads(letter)
    assert parsed["event_bytes"] == 700_000 and parsed["event_sha256"] == bytes_digest(event)
    assert parsed["event_truncated"] is True and bytes.fromhex(parsed["event"]) == event[:codec.DEAD_LETTER_EXCERPT_BYTES]
    assert parsed["reasons"] == ["why"] * 20 and parsed["reasons_total"] == 1000


def test_a_dead_letter_keeps_a_small_event_whole_and_a_cut_text_as_text():
    small = codec.dead_letter_value(b'{"a": [1, 2]}', "invalid-event", ["r"], {})
    assert json.loads(small)["event"] == '{"a": [1, 2]}' and "event_truncated" not in json.loads(small)
    text = ("a" + "é" * codec.DEAD_LETTER_EXCERPT_BYTES).encode()  # two bytes a character after one: the cut splits one
    assert json.loads(codec.dead_letter_value(text, "invalid-event", ["r"], {}))["event"].startswith("aéé")


def test_issues_group_by_row_and_whole_input_issues_apply_to_every_row():
    error = SchemaError([Issue(1, "age", "a number", '"x"'), Issue(None, "city", "a column", "none")])
    grouped = codec.issues_by_row(error, 3)
    assert sorted(grouped) == [0, 1, 2] and [i.field for i in grouped[1]] == ["age", "city"]
