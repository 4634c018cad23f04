"""Write events to and read predictions from real Kafka topics, for the scorer's tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topics(bootstrap: str, partitions: int, *topics: str) -> None:
    """Create topics with ``partitions`` partitions each."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for topic, future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).items():
        future.result(30)


def produce(bootstrap: str, topic: str, values: dict[bytes, bytes]) -> None:
    """Write ``key -> value`` messages and wait until all are acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for key, value in values.items():
        producer.produce(topic, value, key)
        producer.poll(0)
    assert producer.flush(60) == 0


def rows_as_events(rows: list[dict]) -> dict[bytes, bytes]:
    """Key each row ``k<index>`` and encode it as a JSON event."""
    return {f"k{i}".encode(): json.dumps(row).encode() for i, row in enumerate(rows)}


class Reader:
    """Read every committed message of a topic from its start, as the scorer's users would."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        self.messages: list = []
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
                                   "isolation.level": "read_committed", "enable.auto.commit": False})
        self._consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])

    def until(self, condition, timeout_s: float, processes=()) -> list:
        """Read until ``condition(messages)`` holds; AssertionError at the deadline or when a process has died."""
        deadline = time.monotonic() + timeout_s
        while not condition(self.messages):
            assert time.monotonic() < deadline, f"only {len(self.messages)} messages after {timeout_s:.0f} s"
            for process in processes:
                assert process.poll() is None, f"a scorer exited with {process.returncode}: {process.stderr.read()[-3000:]}"
            self.messages += [m for m in self._consumer.consume(500, 0.2) if m.error() is None]
        return self.messages

    def keys(self) -> set:
        """Distinct keys read so far."""
        return {m.key() for m in self.messages}

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class Consumed:
    """A consumed message as the scorer reads one (its accessors), for tests of offsets without a broker."""

    partition_: int
    offset_: int
    topic_: str = "events"
    key_: bytes = b"k"
    value_: bytes = b"{}"

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes:
        return self.key_

    def value(self) -> bytes:
        return self.value_

    def error(self):
        return None


def consumed(*places: tuple[int, int]) -> list[Consumed]:
    """Messages of topic ``events`` at (partition, offset) places, in the order given."""
    return [Consumed(partition, offset) for partition, offset in places]
