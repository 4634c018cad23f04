"""Streaming scorer: a Kafka consumer group that scores events into predictions with a live model.

For each micro-batch it writes one prediction per event (keyed like the event,
the model's ``name@version`` in the ``mldeploy-model`` header) or a dead
letter with every reason, and only then moves the group's offsets:

- exactly once (default): predictions, dead letters and offsets in one Kafka
  transaction; readers of the output use ``isolation.level=read_committed``.
- at least once: produce, wait for every acknowledgement, then commit offsets;
  a crash between the two repeats a batch (duplicates, never gaps).

Several scorers with one ``group`` share the input's partitions.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from mldeploy.errors import ConfigError, NotReadyError
from mldeploy.stream import codec
from mldeploy.stream.kafka import KafkaTransport, client_config, kafka_error
from mldeploy.stream.scoring import Scored, score_batch
from mldeploy.stream.transport import Location, TopicKind

__all__ = ["ScorerConfig", "ScorerStats", "StreamScorer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScorerConfig:
    """Where a scorer reads and writes, and how it batches."""

    source: Location
    """The input topic (Kafka)."""
    output: Location
    """The prediction topic, on the same cluster (a transaction spans both)."""
    dead_letter_topic: str = ""
    """Where invalid events go; default ``<input topic>.dead-letter``."""
    group: str = "mldeploy-scorer"
    """Consumer group: scorers with one group share the input's partitions."""
    instance: str = ""
    """Stable name of this scorer in its group; a restart with the same name takes over at once."""
    max_batch: int = 500
    """Events per micro-batch at most."""
    linger_s: float = 0.02
    """How long a micro-batch waits to fill."""
    exactly_once: bool = True
    """Kafka transactions (True) or commit-after-acknowledgement (False)."""
    transaction_timeout_s: float = 10.0
    """The broker aborts a dead scorer's open transaction after this long."""
    commit_interval_s: float = 0.1
    """Exactly once: a transaction takes in micro-batches for this long, so its commit's round trips are shared."""

    def __post_init__(self) -> None:
        if self.source.scheme != "kafka" or self.output.scheme != "kafka":
            raise ConfigError("stream-score reads and writes Kafka topics: give kafka://HOST:PORT/TOPIC for --in and --out")
        if self.source.where != self.output.where:
            raise ConfigError(f"--in ({self.source.where}) and --out ({self.output.where}) must be on one Kafka cluster")
        if self.max_batch < 1:
            raise ConfigError(f"max batch must be at least 1 event, got {self.max_batch}")


@dataclass
class ScorerStats:
    """Counts since start, for logs and tests."""

    events: int = 0
    predictions: int = 0
    dead_letters: int = 0
    batches: int = 0
    models: set = field(default_factory=set)
    busy_s: float = 0.0
    """Seconds from the first event read to the last batch committed."""


class StreamScorer:
    """Score a Kafka topic of JSON events with ``model``, a LiveModel (``infer`` and ``wait_ready``)."""

    def __init__(self, model, config: ScorerConfig, on_assign: Callable[[list[tuple[str, int]]], None] | None = None):
        from mldeploy._extras import require

        self.ck = require("confluent_kafka")
        self.model = model
        self.config = config
        self.stats = ScorerStats()
        self._on_assign = on_assign
        self._stop = threading.Event()
        self._instance = config.instance or uuid.uuid4().hex[:12]
        self._dead_topic = config.dead_letter_topic or f"{config.source.topic}.dead-letter"
        self._failed_deliveries: list[str] = []
        self._open: _OpenTransaction | None = None
        self._first_event_at: float | None = None

    def stop(self) -> None:
        """Ask the loop to finish its batch and return (safe from signal handlers and threads)."""
        self._stop.set()

    def run(self, idle_exit_s: float | None = None) -> ScorerStats:
        """Score until :meth:`stop` (or ``idle_exit_s`` without events); return the counts."""
        self._ensure_outputs()
        self._wait_for_model()
        consumer, producer = self._consumer(), self._producer()
        assigned = self._subscribe(consumer, producer)
        last_event = None
        try:
            while not self._stop.is_set():
                if self._step(consumer, producer):
                    last_event = time.monotonic()
                elif idle_exit_s is not None and assigned and time.monotonic() - (last_event or assigned[-1]) > idle_exit_s:
                    break
            self._commit_open(consumer, producer)
        finally:
            consumer.close()
            producer.flush(10)
        return self.stats

    def _subscribe(self, consumer, producer) -> list[float]:
        """Join the group; return the list of times partitions were assigned (the idle clock starts then)."""
        assigned: list[float] = []

        def note_assignment(_consumer, partitions) -> None:
            assigned.append(time.monotonic())
            if self._on_assign is not None:
                self._on_assign([(p.topic, p.partition) for p in partitions])

        def before_revoke(_consumer, _partitions) -> None:
            self._commit_open(consumer, producer)  # the next owner must find these offsets committed

        consumer.subscribe([self.config.source.topic], on_assign=note_assignment, on_revoke=before_revoke)
        return assigned

    def _step(self, consumer, producer) -> bool:
        """Score one micro-batch if events came (return True), else commit what is open."""
        messages = [m for m in consumer.consume(self.config.max_batch, self.config.linger_s) if self._usable(m)]
        if not messages:
            self._commit_open(consumer, producer)  # nothing more came: don't hold predictions back
            return False
        self._first_event_at = self._first_event_at or time.monotonic()
        try:
            self._process(consumer, producer, messages)
        except NotReadyError:
            self._rewind(consumer, messages)
            self._commit_open(consumer, producer)
            self._wait_for_model()
        return True

    def _ensure_outputs(self) -> None:
        """Create the prediction and dead-letter topics (as many partitions as the input) unless they exist."""
        transport = KafkaTransport(self.config.source.where)
        try:
            metadata = transport.metadata(self.config.source.topic)
            for topic in (self.config.output.topic, self._dead_topic):
                transport.ensure_topic(topic, TopicKind.EVENTS, partitions=max(1, len(metadata.partitions)))
        finally:
            transport.close()

    def _process(self, consumer, producer, messages: list) -> None:
        scored = score_batch(self.model, [m.value() or b"" for m in messages])
        self._failed_deliveries.clear()
        if self.config.exactly_once:
            self._add_to_transaction(consumer, producer, messages, scored)
            return
        self._write(producer, messages, scored)
        if producer.flush(30) > 0 or self._failed_deliveries:
            reason = self._failed_deliveries[0] if self._failed_deliveries else "not acknowledged in 30 s"
            raise kafka_error("writing predictions", self.config.source.where, reason)
        consumer.commit(offsets=_next_offsets(self.ck, messages), asynchronous=False)
        self._count(messages, scored)

    def _add_to_transaction(self, consumer, producer, messages: list, scored: Scored) -> None:
        """Write a batch inside the open transaction (begun if needed); commit it once it is old enough."""
        try:
            if self._open is None:
                producer.begin_transaction()
                self._open = _OpenTransaction(time.monotonic())
            self._open.add(messages, scored)  # before writing: an abort rewinds to this batch too
            self._write(producer, messages, scored)
        except self.ck.KafkaException as exc:
            self._abort(consumer, producer, exc)
            return
        if time.monotonic() - self._open.started_at >= self.config.commit_interval_s:
            self._commit_open(consumer, producer)

    def _commit_open(self, consumer, producer) -> None:
        """Commit the open transaction: its predictions, dead letters and offsets become visible together."""
        if self._open is None:
            return
        try:
            producer.send_offsets_to_transaction(self._open.offsets(self.ck), consumer.consumer_group_metadata())
            producer.commit_transaction()
        except self.ck.KafkaException as exc:
            self._abort(consumer, producer, exc)
            return
        for messages, scored in self._open.batches:
            self._count(messages, scored)
        self._open = None

    def _abort(self, consumer, producer, exc) -> None:
        """Abort the open transaction and rewind to its first events (abortable errors), or fail."""
        error = exc.args[0]
        if not error.txn_requires_abort():
            raise kafka_error("committing a batch of predictions", self.config.source.where, exc) from exc
        log.warning("aborting a transaction and reading its events again: %s", error)
        producer.abort_transaction()
        if self._open is not None:
            for partition in self._open.first_offsets(self.ck):
                consumer.seek(partition)  # partitions revoked meanwhile are re-read by their new owner
        self._open = None

    def _rewind(self, consumer, messages: list) -> None:
        """Move the consumer back to the first message of a batch that was not written."""
        for partition in _first_offsets(self.ck, messages):
            consumer.seek(partition)

    def _wait_for_model(self) -> None:
        """Block until the live model serves a version (or stop() is called)."""
        while not self._stop.is_set() and not self.model.wait_ready(1.0):
            log.info("waiting for a version of the model to pass its checks before scoring")

    def _write(self, producer, messages: list, scored: Scored) -> None:
        out, dead = self.config.output.topic, self._dead_topic
        headers = {ref: [(codec.MODEL_HEADER, ref.encode())] for ref in set(scored.models.values())}
        for position, message in enumerate(messages):
            if position in scored.predictions:
                self._produce(producer, out, scored.predictions[position], message.key(), headers[scored.models[position]])
            else:
                error, reasons = scored.dead[position]
                self._produce(producer, dead, _dead_letter(message, error, reasons), message.key(), None)

    def _produce(self, producer, topic: str, value: bytes, key, headers) -> None:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=self._delivered)
                return
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.05)

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self._failed_deliveries.append(str(err))

    def _count(self, messages: list, scored: Scored) -> None:
        self.stats.busy_s = time.monotonic() - self._first_event_at
        self.stats.events += len(messages)
        self.stats.predictions += len(scored.predictions)
        self.stats.dead_letters += len(scored.dead)
        self.stats.batches += 1
        self.stats.models.update(scored.models.values())

    def _usable(self, message) -> bool:
        if message.error() is None:
            return True
        if message.error().fatal():
            raise kafka_error("reading events", self.config.source.where, message.error())
        log.warning("Kafka reports while reading %s: %s", self.config.source.topic, message.error())
        return False

    def _consumer(self):
        group = self.config.group
        return self.ck.Consumer(client_config(self.config.source.where, {
            "group.id": group, "group.instance.id": f"{group}.{self._instance}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "isolation.level": "read_committed", "session.timeout.ms": 10000,
        }))

    def _producer(self):
        # Delivery reports only for failures: a Python callback per prediction costs more than scoring it.
        settings = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "delivery.report.only.error": True}
        if self.config.exactly_once:
            settings["transactional.id"] = f"mldeploy-scorer.{self.config.group}.{self._instance}"
            settings["transaction.timeout.ms"] = int(self.config.transaction_timeout_s * 1000)
        producer = self.ck.Producer(client_config(self.config.output.where, settings))
        if self.config.exactly_once:
            try:
                producer.init_transactions(30)  # also aborts what a crashed scorer of this name left open
            except self.ck.KafkaException as exc:
                raise kafka_error("starting the scorer's transactions", self.config.output.where, exc) from exc
        return producer


class _OpenTransaction:
    """Micro-batches written in one open transaction, and the offsets it will commit."""

    def __init__(self, started_at: float):
        self.started_at = started_at
        self.batches: list[tuple[list, Scored]] = []

    def add(self, messages: list, scored: Scored) -> None:
        self.batches.append((messages, scored))

    def offsets(self, ck) -> list:
        return _next_offsets(ck, [m for messages, _ in self.batches for m in messages])

    def first_offsets(self, ck) -> list:
        return _first_offsets(ck, [m for messages, _ in self.batches for m in messages])


def _first_offsets(ck, messages: list) -> list:
    """Return the offset of the first message of each partition in a batch."""
    first: dict[tuple[str, int], int] = {}
    for message in messages:
        first.setdefault((message.topic(), message.partition()), message.offset())
    return [ck.TopicPartition(topic, partition, offset) for (topic, partition), offset in first.items()]


def _next_offsets(ck, messages: list) -> list:
    """Return the offsets to commit: one past the last message of each partition."""
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        last[(message.topic(), message.partition())] = message.offset()
    return [ck.TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]


def _dead_letter(message, error: str, reasons: list[str]) -> bytes:
    value = message.value() or b""
    try:
        event = value.decode()
    except UnicodeDecodeError:
        event = value.hex()
    return json.dumps({
        "error": error, "reasons": reasons, "event": event,
        "source": {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()},
    }).encode()
