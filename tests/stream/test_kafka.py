import pytest

from mldeploy.errors import BackendError
from mldeploy.stream.codec import Record
from mldeploy.stream.kafka import KafkaTransport
from mldeploy.stream.transport import TopicKind

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


@pytest.fixture
def transport(kafka_broker):
    opened = KafkaTransport(kafka_broker.bootstrap)
    yield opened
    opened.close()


def _topic_config(broker, topic: str) -> dict:
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {name: entry.value for name, entry in entries.items()}


def test_model_topics_are_compacted_and_chunk_topics_keep_every_record(transport, kafka_broker, topic_name):
    transport.ensure_topic(topic_name, TopicKind.MODELS)
    transport.ensure_topic(topic_name, TopicKind.MODELS)  # again: already there is fine
    transport.ensure_topic(f"{topic_name}.chunks", TopicKind.CHUNKS)
    assert _topic_config(kafka_broker, topic_name)["cleanup.policy"] == "compact"
    chunks = _topic_config(kafka_broker, f"{topic_name}.chunks")
    assert (chunks["cleanup.policy"], chunks["retention.ms"]) == ("compact", "-1")


def test_appended_records_read_back_in_order_with_their_offsets(transport, topic_name):
    transport.ensure_topic(topic_name, TopicKind.CHUNKS)
    offsets = transport.append(topic_name, [Record(b"a", b"1", (("h", b"x"),)), Record(b"b", b"2")])
    assert offsets == [0, 1] and transport.end(topic_name, 10) == 2
    records, cursor = transport.read(topic_name, 0, timeout_s=10)
    assert [(r.key, r.value, r.headers, r.offset) for r in records] == [(b"a", b"1", (("h", b"x"),), 0), (b"b", b"2", (), 1)]
    assert cursor == 2
    tail, same = transport.read(topic_name, 1, timeout_s=10, limit=1)
    assert [r.value for r in tail] == [b"2"] and same == 2


def test_a_read_at_the_end_waits_for_a_new_record(transport, topic_name):
    transport.ensure_topic(topic_name, TopicKind.CHUNKS)
    transport.append(topic_name, [Record(b"a", b"1")])
    transport.read(topic_name, 0, timeout_s=10)
    assert transport.read(topic_name, 1, timeout_s=0.3) == ([], 1)
    transport.append(topic_name, [Record(b"b", b"2")])
    records, cursor = transport.read(topic_name, 1, timeout_s=10)
    assert [r.value for r in records] == [b"2"] and cursor == 2


def test_an_unreachable_broker_is_a_backend_error_naming_it():
    from _services import free_port

    nowhere = KafkaTransport(f"127.0.0.1:{free_port()}", timeout_s=1)
    with pytest.raises(BackendError, match=r"Kafka at 127.0.0.1:\d+: reading the end of t failed: .*check that the broker runs"):
        nowhere.end("t", timeout_s=1)
    nowhere.close()


def test_a_missing_topic_is_named_with_how_to_create_it(transport, kafka_broker, topic_name):
    from mldeploy.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        transport.metadata(topic_name)
    text = str(refused.value)
    assert f"topic '{topic_name}' does not exist on the Kafka broker at {kafka_broker.bootstrap}" in text
    assert f"mldeploy send FILE --to kafka://{kafka_broker.bootstrap}/{topic_name}" in text and "kafka-topics.sh --create" in text
    assert "check that the broker runs" not in text
