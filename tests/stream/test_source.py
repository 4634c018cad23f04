import pytest

from mldeploy.errors import BackendError, BundleError
from mldeploy.examples import large
from mldeploy.bundle import Bundle
from mldeploy.registry import Registry
from mldeploy.stream import TopicSource, publish

from _damage import drop_the_last, flip_a_byte, publish_damaged

pytestmark = pytest.mark.timeout(180)


def test_the_first_call_offers_the_latest_and_then_only_what_changes(stream_url, salary_registry):
    publish(salary_registry.get("salary@1"), stream_url)
    source = TopicSource(stream_url, "salary")
    try:
        first = source.next_candidate(timeout_s=10)
        assert first.ref.version == 1 and first.digest == salary_registry.get("salary@1").digest
        assert source.next_candidate(timeout_s=0.2) is None
        publish(salary_registry.get("salary@2"), stream_url)
        second = _next(source)
        assert second.ref.version == 2 and second.fetch().ref == second.ref
    finally:
        source.close()


def test_a_late_subscriber_reads_only_the_chunks_of_the_version_it_is_offered(stream_url, salary_registry):
    for ref in ("salary@1", "salary@2", "salary@1", "salary@2"):
        latest = publish(salary_registry.get(ref), stream_url, chunk_bytes=8_192).version
    source = TopicSource(stream_url, "salary")
    try:
        bundle = source.next_candidate(timeout_s=10).fetch()
        assert bundle.ref == latest.ref and bundle.digest == latest.digest
        assert source.chunks_read == latest.chunk_count  # not the 3 publications before it
    finally:
        source.close()


def test_the_archive_is_a_plain_tar_where_the_transport_compresses_and_gzip_where_it_does_not(stream_url, salary_registry):
    from mldeploy.stream import codec

    published = publish(salary_registry.get("salary@1"), stream_url, chunk_bytes=1 << 30).version
    source = TopicSource(stream_url, "salary")
    try:
        source.next_candidate(timeout_s=10)
        head = source._read_chunks(published)[0].value[:2]
    finally:
        source.close()
    assert (head == b"\x1f\x8b") == stream_url.startswith("local:") and published.format == codec.FORMAT


def test_a_version_published_in_format_1_is_still_served(stream_url, salary_registry):
    """Format 1 (before plain tars): a gzip archive, record format 1. Topics keep such versions for ever."""
    from dataclasses import replace

    from mldeploy.bundle.digest import bytes_digest
    from mldeploy.stream import codec
    from mldeploy.stream.transport import TopicKind, chunk_topic, parse_url
    from mldeploy.stream.schemes import open_transport

    bundle = salary_registry.get("salary@2")
    archive = bundle.to_archive(compress=True)
    location = parse_url(stream_url)
    transport = open_transport(location)
    try:
        transport.ensure_topic(chunk_topic(location.topic), TopicKind.CHUNKS)
        transport.ensure_topic(location.topic, TopicKind.MODELS)
        offsets = transport.append(chunk_topic(location.topic), codec.chunk_records(archive))
        record = codec.PublishedVersion(
            name="salary", version=2, digest=bundle.digest, archive_sha256=bytes_digest(archive), archive_bytes=len(archive),
            chunk_count=len(offsets), chunk_topic=chunk_topic(location.topic), first_offset=offsets[0],
            last_offset=offsets[-1], signed=False, task="regression")
        value = codec.encode_version(replace(record, format=1))
        transport.append(location.topic, [codec.Record(key, value) for key in codec.version_keys(record.ref)])
    finally:
        transport.close()
    source = TopicSource(stream_url, "salary")
    try:
        assert source.next_candidate(timeout_s=10).fetch().digest == bundle.digest
    finally:
        source.close()


def test_a_pinned_source_offers_that_version_whatever_is_latest(stream_url, salary_registry):
    publish(salary_registry.get("salary@1"), stream_url)
    publish(salary_registry.get("salary@2"), stream_url)
    source = TopicSource(stream_url, "salary", pin=1)
    try:
        assert source.next_candidate(timeout_s=10).ref.version == 1
    finally:
        source.close()


@pytest.mark.parametrize(("damage", "message"), [
    (flip_a_byte, r"salary@2 is corrupt: its chunks join to \d+ bytes that do not match"),
    (drop_the_last, r"salary@2 is truncated: 1 of \d+ chunks are missing"),
])
def test_damaged_versions_fail_to_fetch_with_what_is_wrong(stream_url, salary_registry, damage, message):
    publish_damaged(stream_url, salary_registry.get("salary@2"), damage)
    source = TopicSource(stream_url, "salary", fetch_timeout_s=3)
    try:
        with pytest.raises(BundleError, match=message):
            source.next_candidate(timeout_s=10).fetch()
    finally:
        source.close()


@pytest.mark.kafka
def test_a_bundle_larger_than_the_broker_message_limit_travels_intact(kafka_broker, tmp_path, topic_name):
    pipeline, features = large.pipeline(megabytes=24)
    registry = Registry(root=tmp_path / "registry")
    ref = registry.register(Bundle.from_pipeline(pipeline, features, name="big", directory=tmp_path / "b", compile=False))
    published = publish(registry.get(ref), kafka_broker.url(topic_name)).version
    assert published.archive_bytes >= 20 * 1024 * 1024 > 1_048_588  # the broker's default message.max.bytes
    source = TopicSource(kafka_broker.url(topic_name), "big")
    try:
        bundle = source.next_candidate(timeout_s=10).fetch()
    finally:
        source.close()
    assert bundle.digest == registry.get(ref).digest  # and every file matched its digest when it was opened


def _next(source, attempts: int = 50):
    for _ in range(attempts):
        candidate = source.next_candidate(timeout_s=0.5)
        if candidate is not None:
            return candidate
    raise AssertionError("no new candidate in 25 s")


class _Unreachable:
    """A transport whose broker never answers: a client stuck since it was made (no real broker does this on cue)."""

    def __init__(self):
        self.closed = False

    def describe(self) -> str:
        return "a transport that never answers"

    def read(self, topic, start, timeout_s, limit=1000):
        raise BackendError("reading timed out")

    def end(self, topic, timeout_s):
        raise BackendError("reading the end timed out")

    def close(self) -> None:
        self.closed = True


def test_a_transport_failing_for_long_is_replaced_by_a_new_one(tmp_path, salary_registry, monkeypatch):
    import mldeploy.stream.source as source_module
    from mldeploy.stream.schemes import open_transport

    url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), url)
    stuck = _Unreachable()
    opened = iter([stuck])
    monkeypatch.setattr(source_module, "open_transport", lambda location: next(opened, None) or open_transport(location))
    monkeypatch.setattr(source_module, "_REOPEN_AFTER_S", 0.0)
    source = TopicSource(url, "salary")
    try:
        assert source.next_candidate(0.1) is None and stuck.closed  # failed, and the stuck client was let go
        assert source.next_candidate(0.1).ref.version == 1  # the new connection reads the topic
    finally:
        source.close()


def _write_record(url: str, record, keys=None) -> None:
    """Append a version record as a hostile topic writer would: any fields, any keys."""
    from mldeploy.stream import codec
    from mldeploy.stream.transport import parse_url
    from mldeploy.stream.schemes import open_transport

    location = parse_url(url)
    transport = open_transport(location)
    try:
        value = codec.encode_version(record)
        transport.append(location.topic, [codec.Record(key, value) for key in keys or codec.version_keys(record.ref)])
    finally:
        transport.close()


def test_a_record_copied_from_another_model_never_serves_that_model(stream_url, salary_registry):
    """A record keyed "twin" that copies salary's (only its name changed) names salary's archive: refused on fetch."""
    from dataclasses import replace

    published = publish(salary_registry.get("salary@1"), stream_url).version
    _write_record(stream_url, replace(published, name="twin"))
    source = TopicSource(stream_url, "twin")
    try:
        candidate = source.next_candidate(timeout_s=10)
        with pytest.raises(BundleError, match="twin@1 on .* holds salary@1"):
            candidate.fetch()
    finally:
        source.close()


@pytest.mark.parametrize("fields", [
    {"chunk_topic": "../outside/evil"}, {"chunk_topic": ".."}, {"archive_sha256": "../x"},
    {"chunk_count": 0}, {"first_offset": 5, "last_offset": 4}, {"archive_bytes": -1},
], ids=["path-out-of-the-folder", "dot-dot", "not-a-digest", "no-chunks", "offsets-reversed", "negative-size"])
def test_a_record_whose_fields_cannot_be_right_is_skipped_before_use(stream_url, salary_registry, tmp_path, fields):
    from dataclasses import replace

    from mldeploy.stream.local_log import LocalLog
    from mldeploy.stream.codec import chunk_records
    from mldeploy.stream.transport import TopicKind

    published = publish(salary_registry.get("salary@1"), stream_url).version
    if fields.get("chunk_topic") == "../outside/evil" and stream_url.startswith("local:"):
        # a real log outside the folder, holding a real archive: the record must not make the source read it
        folder = stream_url.removeprefix("local://").rsplit("/", 1)[0]
        outside = LocalLog(f"{folder}/../outside")
        outside.ensure_topic("evil", TopicKind.CHUNKS)
        outside.append("evil", chunk_records(salary_registry.get("salary@2").to_archive()))
    _write_record(stream_url, replace(published, name="forged", **fields))
    source = TopicSource(stream_url, "forged")
    try:
        assert source.next_candidate(timeout_s=5) is None
        assert any("not a version record" in problem for problem in source._index.problems)
    finally:
        source.close()


@pytest.mark.slow  # reads a million chunk records to bound memory
def test_a_record_claiming_millions_of_chunks_costs_only_what_is_read(stream_url, salary_registry):
    import tracemalloc
    from dataclasses import replace

    published = publish(salary_registry.get("salary@1"), stream_url).version
    claimed = 20_000_000
    _write_record(stream_url, replace(published, name="huge", chunk_count=claimed, archive_bytes=claimed * 16,
                                      last_offset=published.first_offset + claimed * 16))
    source = TopicSource(stream_url, "huge", fetch_timeout_s=5)
    try:
        candidate = source.next_candidate(timeout_s=10)
        tracemalloc.start()
        with pytest.raises(BundleError, match="is truncated"):
            candidate.fetch()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        source.close()
    assert peak < 100 * 1024 * 1024  # 20 million claimed chunks once meant a list of 20 million missing indexes
