"""The Kafka transport (confluent-kafka, the ``kafka`` extra), thin over the client.

Topics have one partition (a model topic is a total order of publications);
readers assign partitions by hand and never join a consumer group. The client
reconnects by itself when a broker comes back; ``reconnect.backoff.max.ms`` is
lowered so that happens within a second.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence

from mldeploy._extras import require
from mldeploy.errors import BackendError, ConfigError
from mldeploy.stream.codec import Record
from mldeploy.stream.kafka_log import RateLimitedKafkaLog
from mldeploy.stream.transport import RecordTooLarge, TopicKind

__all__ = ["KafkaTransport", "client_config", "kafka_error", "librdkafka_log", "missing_topic"]

librdkafka_log = RateLimitedKafkaLog(logging.getLogger("mldeploy.kafka.librdkafka"))
"""Where librdkafka's own lines go (every client's ``logger``), each kind at most once per 30 s."""

_TOPIC_CONFIG = {
    TopicKind.MODELS: {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"},
    # Unique keys: compaction can only drop a chunk republished under the same key, never the last copy.
    TopicKind.CHUNKS: {"cleanup.policy": "compact", "retention.ms": "-1"},
    TopicKind.EVENTS: {},
}


def client_config(bootstrap: str, extra: Mapping[str, object] | None = None) -> dict:
    """Return librdkafka settings shared by every client mldeploy makes."""
    return {
        "bootstrap.servers": bootstrap,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "logger": librdkafka_log,
        **(extra or {}),
    }


def kafka_error(what: str, bootstrap: str, exc: BaseException | object) -> BackendError:
    """Translate a confluent-kafka error into BackendError naming the broker and the step."""
    return BackendError(f"Kafka at {bootstrap}: {what} failed: {exc}; check that the broker runs and the URL is right")


def missing_topic(topic: str, bootstrap: str) -> str:
    """Say that ``topic`` does not exist on the broker (which does run) and how to create it."""
    return (f"topic {topic!r} does not exist on the Kafka broker at {bootstrap}; create it by sending events to it "
            f"(`mldeploy send FILE --to kafka://{bootstrap}/{topic}`) or with Kafka's "
            f"`kafka-topics.sh --create --topic {topic} --bootstrap-server {bootstrap}`")


class KafkaTransport:
    """Topics on a Kafka cluster, one partition each for model and chunk topics."""

    compresses = True
    """Every producer mldeploy makes compresses with lz4 (in librdkafka's threads, outside Python)."""

    def __init__(self, bootstrap: str, config: Mapping[str, object] | None = None, timeout_s: float = 30.0):
        self.ck = require("confluent_kafka")
        self.bootstrap = bootstrap
        self.config = dict(config or {})
        self.timeout_s = timeout_s
        self._producer = None
        self._readers: dict[str, tuple[object, int]] = {}

    def describe(self) -> str:
        """Say which cluster this is."""
        return f"Kafka at {self.bootstrap}"

    def ensure_topic(self, topic: str, kind: TopicKind, partitions: int = 1) -> None:
        """Create the topic with its retention unless it exists."""
        admin = require("confluent_kafka.admin")
        client = admin.AdminClient(client_config(self.bootstrap, self.config))
        new = admin.NewTopic(topic, num_partitions=partitions, replication_factor=1, config=_TOPIC_CONFIG[kind])
        future = client.create_topics([new], operation_timeout=self.timeout_s)[topic]
        try:
            future.result(timeout=self.timeout_s)
        except self.ck.KafkaException as exc:
            if exc.args[0].code() != self.ck.KafkaError.TOPIC_ALREADY_EXISTS:
                raise kafka_error(f"creating topic {topic}", self.bootstrap, exc) from exc

    def append(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Produce records in order (idempotent, acks=all); return offsets once all are acknowledged."""
        producer = self._producer or self._make_producer()
        offsets: list[int | None] = [None] * len(records)
        errors: list = []

        def delivered(index: int):
            def report(err, msg) -> None:
                if err is not None:
                    errors.append(err)
                else:
                    offsets[index] = msg.offset()
            return report

        for index, record in enumerate(records):
            self._produce(producer, topic, record, delivered(index))
        left = producer.flush(self.timeout_s)
        if errors or left or None in offsets:
            reason = errors[0] if errors else f"{left} message(s) not acknowledged in {self.timeout_s:.0f} s"
            error = kafka_error(f"writing {len(records)} record(s) to {topic}", self.bootstrap, reason)
            if any(self._too_large(err) for err in errors):
                raise RecordTooLarge(str(error))
            raise error
        return offsets

    def _too_large(self, error) -> bool:
        return error.code() == self.ck.KafkaError.MSG_SIZE_TOO_LARGE

    def read(self, topic: str, start: int, timeout_s: float, limit: int = 1000) -> tuple[list[Record], int]:
        """Return up to ``limit`` records from offset ``start`` (waiting up to ``timeout_s`` for one) and the next offset.

        At the end of the partition with nothing new, the cursor moves to the end offset, past any
        offsets compaction or transaction markers left empty.
        """
        consumer = self._reader(topic, start)
        records: list[Record] = []
        cursor = start
        deadline = time.monotonic() + timeout_s
        while len(records) < limit:
            message = consumer.poll(max(0.0, deadline - time.monotonic()) if not records else 0.0)
            if message is None:
                if records or time.monotonic() >= deadline:
                    break
                continue
            if message.error():
                if message.error().code() == self.ck.KafkaError._PARTITION_EOF:
                    cursor = max(cursor, message.offset())
                    if records or timeout_s == 0:
                        break
                continue  # a transient broker error: the client retries; keep waiting until the deadline
            records.append(Record(message.key() or b"", message.value() or b"",
                                  tuple(message.headers() or ()), message.offset(), message.partition()))
            cursor = message.offset() + 1
        self._readers[topic] = (consumer, cursor)
        return records, cursor

    def end(self, topic: str, timeout_s: float) -> int:
        """Return the high watermark of partition 0 of ``topic`` (0 for a topic not created yet)."""
        consumer = self._reader(topic, None)
        try:
            _, high = consumer.get_watermark_offsets(self.ck.TopicPartition(topic, 0), timeout=timeout_s)
        except self.ck.KafkaException as exc:
            if exc.args[0].code() in (self.ck.KafkaError._UNKNOWN_PARTITION, self.ck.KafkaError.UNKNOWN_TOPIC_OR_PART):
                return 0
            raise kafka_error(f"reading the end of {topic}", self.bootstrap, exc) from exc
        return high

    def metadata(self, topic: str):
        """Return the broker's metadata of ``topic``; BackendError when it does not exist or cannot be reached."""
        consumer = self._reader(topic, None)
        try:
            found = consumer.list_topics(topic, timeout=self.timeout_s).topics.get(topic)
        except self.ck.KafkaException as exc:
            raise kafka_error(f"reading the metadata of {topic}", self.bootstrap, exc) from exc
        if found is None or (found.error is not None and found.error.code() == self.ck.KafkaError.UNKNOWN_TOPIC_OR_PART):
            raise ConfigError(missing_topic(topic, self.bootstrap))
        if found.error is not None:
            raise kafka_error(f"finding topic {topic}", self.bootstrap, found.error)
        return found

    def close(self) -> None:
        """Flush the producer and close the readers."""
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None
        for consumer, _ in self._readers.values():
            consumer.close()
        self._readers.clear()

    def _make_producer(self):
        self._producer = self.ck.Producer(client_config(self.bootstrap, {
            "enable.idempotence": True, "acks": "all", "linger.ms": 2, "compression.type": "lz4", **self.config}))
        return self._producer

    def _produce(self, producer, topic: str, record: Record, on_delivery) -> None:
        while True:
            try:
                producer.produce(topic, record.value, record.key, headers=list(record.headers) or None,
                                 on_delivery=on_delivery)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
            except self.ck.KafkaException as exc:
                error = kafka_error(f"writing to {topic}", self.bootstrap, exc)
                if exc.args and self._too_large(exc.args[0]):
                    raise RecordTooLarge(str(error)) from exc
                raise error from exc

    def _reader(self, topic: str, start: int | None):
        consumer, position = self._readers.get(topic, (None, None))
        if consumer is None:
            consumer = self.ck.Consumer(client_config(self.bootstrap, {
                "group.id": f"mldeploy-reader-{uuid.uuid4().hex}", "enable.auto.commit": False,
                # A version's chunks are read 16 MB a fetch (librdkafka's max.partition.fetch.bytes is the same setting).
                "enable.partition.eof": True, "fetch.message.max.bytes": 16 * 1024 * 1024, **self.config}))
        if start is not None and start != position:
            consumer.assign([self.ck.TopicPartition(topic, 0, start)])
            position = start
        self._readers[topic] = (consumer, position)
        return consumer
