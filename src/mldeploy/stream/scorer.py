"""Streaming scorer: a Kafka consumer group that scores events into predictions with a live model.

For each micro-batch it writes one prediction per event (keyed like the event,
the model's ``name@version`` in the ``mldeploy-model`` header) or a dead
letter with every reason, and only then moves the group's offsets:

- exactly once (default): predictions, dead letters and offsets in one Kafka
  transaction; readers of the output use ``isolation.level=read_committed``.
- at least once: produce, wait for every acknowledgement, then commit offsets;
  a crash between the two repeats the batches since the last commit
  (duplicates, never gaps).

Several scorers with one ``group`` share the input's partitions.

While the broker is unreachable the scorer waits and retries (:mod:`mldeploy.stream._outage`):
a transaction it cannot commit is aborted, or, when librdkafka hangs in it, its producer is
replaced, and its events are read again from the last committed offsets. Past
``outage_limit_s`` it stops with a BackendError, having committed nothing it did not write.

Scoring overlaps the Kafka work: a predictor (:mod:`mldeploy.stream.predictors`)
scores a batch while the loop reads the next one, writes the one before and
commits. Given a :class:`~mldeploy.stream.predictors.ModelSpec`, the model
predicts in a process of its own, on the machine's other core; given a
LiveModel, on a worker thread of this process, where it shares the GIL with
the loop. Written batches are
committed together every ``commit_interval_s`` while the scorer is behind, and
every ``caught_up_commit_s`` (0.03 s) once it has caught up with the input, so a
quiet stream's predictions show up quickly and a slow broker's commits cannot
take all the scorer's time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mldeploy.errors import BackendError, NotReadyError
from mldeploy.serving.frozen_heap import collect_young_less_often, freeze_heap
from mldeploy.stream import codec
from mldeploy.stream._outage import OutageClock, Wedged, call_within
from mldeploy.stream._pending import BatchCounts, Pending, first_offsets
from mldeploy.stream._scorer_clients import Replaceable, consumer_settings, fenced, producer_settings
from mldeploy.stream.kafka import KafkaTransport, kafka_error, librdkafka_log
from mldeploy.stream.log_entry import BatchEvents, ScoredEntry
from mldeploy.stream.predictors import ModelSpec, Outcome, ProcessPredictor, ThreadPredictor
from mldeploy.stream.scorer_config import ScorerConfig
from mldeploy.stream.scoring import Scored
from mldeploy.stream.transport import TopicKind

__all__ = ["ScorerConfig", "ScorerStats", "StreamScorer"]

log = logging.getLogger(__name__)

_CLOSE_AFTER_FAILURE_S = 5.0
"""How long a failed scorer waits for its consumer to leave the group (and call_within's grace)."""
_CLOSE_GRACE_S = 30.0
"""Beyond the outage limit, how long a scorer that stops cleanly waits for its consumer to close."""

# produce() takes (topic, value, key, partition, callback, on_delivery, timestamp, headers). The scorer passes them
# by position (-1: the key's partition; None, None: the producer's callback; 0: now): confluent-kafka parses keywords
# a microsecond slower per call (2.8 against 1.8 µs), a tenth of the scorer's time per event.


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
    """Score a Kafka topic of JSON events with ``model``: a ModelSpec (its own process) or a LiveModel (a thread)."""

    def __init__(self, model, config: ScorerConfig, on_assign: Callable[[list[tuple[str, int]]], None] | None = None,
                 prediction_log=None, log_inputs: bool = True):
        from mldeploy._extras import require

        self.ck = require("confluent_kafka")
        self.model = model
        self.config = config
        self.stats = ScorerStats()
        self._on_assign = on_assign
        self._stop = threading.Event()
        self._instance = config.instance or uuid.uuid4().hex[:12]
        self._dead_topic = config.dead_letter
        self._failed_deliveries: list[str] = []
        self._producer_fatal = None  # the producer's fatal error as librdkafka reported it (its calls say only "Fatal error")
        self._producers = 0  # producers made so far: the last is the current one
        self._pending: Pending | None = None
        self._in_flight: deque[tuple[list, Outcome]] = deque()
        """Batches handed to the predictor and not yet written, oldest first."""
        self._predictor: ProcessPredictor | ThreadPredictor | None = None
        self._first_event_at: float | None = None
        self._prediction_log = prediction_log
        """A PredictionLog (``--log-to``) told of every written batch's predictions, or None."""
        self._log_inputs = log_inputs
        self._failed = False
        """A write or commit failed for good: nothing more may be committed, not even while closing."""
        self._outage = OutageClock(config.outage_limit_s, config.source.where)
        """How long Kafka has failed the scorer's reads and commits; it stops past ``config.outage_limit_s``."""
        self._revoke_error: BaseException | None = None
        """What failed inside the revoke callback, raised by the loop (an exception raised through librdkafka's
        callback can be lost, or surface later as a SystemError in an unrelated call)."""

    def stop(self) -> None:
        """Ask the loop to finish its batch and return (safe from signal handlers and threads)."""
        self._stop.set()

    def run(self, idle_exit_s: float | None = None) -> ScorerStats:
        """Score until :meth:`stop` (or ``idle_exit_s`` without events); return the counts."""
        self._ensure_outputs()
        model = self.model
        predictor = ProcessPredictor if isinstance(model, ModelSpec) else ThreadPredictor
        self._predictor = predictor(model, self.config.extra, self.config.log_key)
        try:
            return self._run(idle_exit_s)
        finally:
            self._predictor.close()

    def _run(self, idle_exit_s: float | None) -> ScorerStats:
        self._wait_for_model()
        consumer, producer = self._consumer(), self._producer()
        assigned = self._subscribe(consumer, producer)
        freeze_heap()  # as the API server does: the loop's full collections then skip what start-up made
        collect_young_less_often()  # a batch's log entry lives until the writer takes it: fewer walks of it
        last_event = None
        try:
            while not self._stop.is_set():
                if self._step(consumer, producer):
                    last_event = time.monotonic()
                elif idle_exit_s is not None and assigned and time.monotonic() - (last_event or assigned[-1]) > idle_exit_s:
                    break
            self._finish(consumer, producer)
            self._commit(consumer, producer)
        except BaseException:
            self._drop_unwritten(producer)  # closing the consumer below must commit none of it
            raise
        finally:
            self._close(consumer)  # its revoke commits what was written (nothing, after a failure)
        self._raise_revoke_error()
        producer.flush(10)
        return self.stats

    def _close(self, consumer) -> None:
        """Leave the group, within a bound: a consumer whose group coordinator went away can block in close()
        for good, which would hide the error the scorer stops with. After a failure there is nothing left to
        commit, so a few seconds will do; otherwise the revoke may still commit, within the outage limit."""
        bound_s = _CLOSE_AFTER_FAILURE_S if self._failed else self.config.outage_limit_s + _CLOSE_GRACE_S
        try:
            call_within(lambda _timeout_s: consumer.close(), bound_s)
        except Wedged:
            log.warning("Kafka at %s: the consumer did not leave group %r in time; leaving it behind (the broker "
                        "drops it once its session times out)", self.config.source.where, self.config.group)
        except self.ck.KafkaException as exc:
            if not self._failed:
                raise
            log.warning("Kafka at %s: closing the consumer failed too: %s", self.config.source.where, exc)

    def _subscribe(self, consumer, producer) -> list[float]:
        """Join the group; return the list of times partitions were assigned (the idle clock starts then)."""
        assigned: list[float] = []

        def note_assignment(_consumer, partitions) -> None:
            assigned.append(time.monotonic())
            if self._on_assign is not None:
                self._on_assign([(p.topic, p.partition) for p in partitions])

        def before_revoke(_consumer, _partitions) -> None:
            if self._failed:
                return  # a write failed: commit nothing more, the next owner reads it all again
            try:
                self._finish(consumer, producer, rewind=False)  # unwritten events are read again by the next owner
                self._commit(consumer, producer)  # the next owner must find these offsets committed
            except BaseException as exc:  # noqa: BLE001  (kept for the loop to raise, see _revoke_error)
                self._drop_unwritten(producer)
                self._revoke_error = exc

        consumer.subscribe([self.config.source.topic], on_assign=note_assignment, on_revoke=before_revoke)
        return assigned

    def _step(self, consumer, producer) -> bool:
        """Read a micro-batch and hand it to the predictor, write the oldest scored one; False if neither came."""
        messages = self._read(consumer)
        self._raise_revoke_error()
        usable = [m for m in messages if m.error() is None]  # the common case, without a call per message
        messages = usable if len(usable) == len(messages) else [m for m in messages if self._usable(m)]
        if messages:
            self._first_event_at = self._first_event_at or time.monotonic()
        elif not self._in_flight and self._outage.should_probe():
            self._probe(consumer)
        if messages:
            self._in_flight.append((messages, self._predictor.submit([m.value() or b"" for m in messages])))
        wrote = False  # a revoke during consume() may have written every batch in flight
        while len(self._in_flight) > self._predictor.depth:  # the predictor keeps that many batches to work on
            wrote = True
            self._write_scored(consumer, producer, *self._in_flight.popleft())
        caught_up = len(messages) < self.config.max_batch
        if caught_up:
            self._finish(consumer, producer)  # nothing to overlap it with: write it now, not a round later
        if self._pending is not None and self._pending.age_s() >= (
                self.config.caught_up_commit_s if caught_up else self.config.commit_interval_s):
            self._commit(consumer, producer)
        return bool(messages) or wrote

    def _raise_revoke_error(self) -> None:
        if self._revoke_error is not None:
            error, self._revoke_error = self._revoke_error, None
            raise error

    def _read(self, consumer) -> list:
        """Return the events queued (up to a batch); if none and none is being scored, wait for the first.

        A batch never waits to fill: while the scorer is behind, batches come full anyway, and
        once it has caught up, events gather during the previous batch's commit.
        """
        messages = consumer.consume(self.config.max_batch, 0)
        if messages or self._in_flight:
            return messages
        first = consumer.poll(self.config.wait_s)
        return [] if first is None else [first, *consumer.consume(self.config.max_batch - 1, 0)]

    def _finish(self, consumer, producer, rewind: bool = True) -> None:
        """Write every batch in flight (before a commit that must include them); stop at one that fails."""
        while self._in_flight:
            if not self._write_scored(consumer, producer, *self._in_flight.popleft(), rewind=rewind):
                self._in_flight.clear()  # read again, with what came after it: by us, or by the partitions' next owner
                return

    def _write_scored(self, consumer, producer, messages: list, result: Outcome, rewind: bool = True) -> bool:
        """Write a batch once predicted; False if no model served it (its events, and newer ones, are read again)."""
        try:
            scored = result()
        except NotReadyError:
            if rewind:
                self._rewind(consumer, messages)
                self._commit(consumer, producer)
                self._wait_for_model()
            return False
        try:
            if self._pending is None:
                self._pending = Pending()
                self._failed_deliveries.clear()
                if self.config.exactly_once:
                    producer.begin_transaction()
            self._pending.add(messages, _counts(messages, scored))  # before writing: an abort rewinds to this batch too
            self._write(producer, messages, scored)
        except self.ck.KafkaException as exc:
            self._abort(consumer, producer, exc, unwritten=messages)  # not yet in pending if the transaction did not begin
            return False
        if self._prediction_log is not None and scored.predictions:
            self._log(messages, scored)
        return True

    def _log(self, messages: list, scored: Scored) -> None:
        """Queue a written batch for the prediction log: one append; its rows (and keys) are made on the log's thread."""
        self._prediction_log.submit(ScoredEntry(BatchEvents.of(messages), scored, self.config.source.topic, time.time(),
                                                self._log_inputs, self.config.log_key, self._prediction_log.count_unkeyed))

    def _ensure_outputs(self) -> None:
        """Create the prediction and dead-letter topics (as many partitions as the input) unless they exist."""
        transport = KafkaTransport(self.config.source.where)
        try:
            metadata = transport.metadata(self.config.source.topic)
            for topic in (self.config.output.topic, self._dead_topic):
                transport.ensure_topic(topic, TopicKind.EVENTS, partitions=max(1, len(metadata.partitions)))
        finally:
            transport.close()

    def _commit(self, consumer, producer) -> None:
        """Commit the written batches: predictions, dead letters and offsets become visible together."""
        if self._pending is None:
            return
        offsets = self._pending.commit_offsets(self.ck)
        retried, KafkaException = self._outage.retried, self.ck.KafkaException  # noqa: N806
        try:
            if self.config.exactly_once:
                # A failed send is aborted and read again (sent again, it has hung after a broker restart);
                # a commit under way cannot be aborted, only tried again.
                metadata = consumer.consumer_group_metadata()
                call_within(lambda timeout_s: producer.send_offsets_to_transaction(offsets, metadata, timeout_s),
                            self._outage.call_s())
                retried("committing a transaction", producer.commit_transaction, KafkaException)
            else:
                self._await_acknowledgements(producer)
                retried("committing offsets", lambda _: consumer.commit(offsets=offsets, asynchronous=False), KafkaException)
        except KafkaException as exc:
            self._abort(consumer, producer, exc)
            return
        except Wedged as exc:
            self._recover(consumer, producer, "committing a transaction", exc)
            return
        except BackendError:  # past the outage limit
            self._drop_unwritten(producer)
            raise
        self._outage.recovered()
        for counts in self._pending.batches:
            self._count(counts)
        self._pending = None

    def _await_acknowledgements(self, producer) -> None:
        """At least once: every prediction is acknowledged before the offsets move (waiting out an outage)."""
        while (waiting := producer.flush(self._outage.call_s())) > 0 and not self._failed_deliveries:
            self._outage.failed("writing predictions", f"{waiting} not acknowledged yet")
        if self._failed_deliveries:
            raise kafka_error("writing predictions", self.config.source.where, self._failed_deliveries[0])

    def _abort(self, consumer, producer, exc, unwritten: list | None = None) -> None:
        """Abort the open transaction and rewind to its first events and ``unwritten``'s (abortable errors), or fail."""
        error = exc.args[0]
        if not self.config.exactly_once or error.fatal() or not (error.txn_requires_abort() or error.retriable()):
            if error.fatal() and self._producer_fatal is None:
                self._learn_fatal_cause(producer)
            self._drop_unwritten(producer)
            raise self._failure("committing a batch of predictions", error) from exc
        if error.retriable():  # the broker is away: abort, and try again within the outage limit
            self._outage_failed(producer, "writing a transaction", error)
        log.warning("aborting a transaction and reading its events again: %s", error)
        try:
            self._outage.retried("aborting a transaction", producer.abort_transaction, self.ck.KafkaException)
        except self.ck.KafkaException as failed:
            self._drop_unwritten(producer)
            raise self._failure("aborting a transaction", failed.args[0]) from failed
        except BackendError:  # past the outage limit
            self._drop_unwritten(producer)
            raise
        except Wedged as stuck:
            self._recover(consumer, producer, "aborting a transaction", stuck)
            return
        self._rewind(consumer, unwritten or [], self._pending.first if self._pending is not None else None)
        self._pending = None

    def _recover(self, consumer, producer, what: str, stuck: Wedged) -> None:
        """A transactional call hung (a librdkafka bug after an outage): replace the producer, whose transaction
        the new one's init completes or aborts, and read again from the offsets the group has committed since."""
        self._outage_failed(producer, what, stuck)
        log.warning("Kafka at %s: %s hung (%s); starting a new producer and reading again from the committed offsets",
                    self.config.source.where, what, stuck)
        self._in_flight.clear()
        self._pending = None
        try:
            producer.replace()
            assigned = consumer.assignment()
            committed = self._outage.retried("reading the committed offsets",
                                             lambda timeout_s: consumer.committed(assigned, timeout=timeout_s),
                                             self.ck.KafkaException) if assigned else []
        except (BackendError, Wedged, self.ck.KafkaException) as exc:
            self._drop_unwritten(producer)
            raise exc if isinstance(exc, BackendError) else self._failure("recovering from an outage", exc) from exc
        for partition in committed:
            if partition.offset < 0:  # nothing committed yet: where a new group starts
                partition.offset = self.ck.OFFSET_BEGINNING
            consumer.seek(partition)

    def _outage_failed(self, producer, what: str, error) -> None:
        """Note an outage's failure; past the limit, drop what is not committed and raise."""
        try:
            self._outage.failed(what, error)
        except BackendError:
            self._drop_unwritten(producer)
            raise

    def _drop_unwritten(self, producer) -> None:
        """After a failure the scorer does not recover from: forget the batches not yet committed, so no later
        commit (the revoke while closing) moves the offsets past events whose predictions were not written."""
        self._failed = True
        self._in_flight.clear()
        if self._pending is not None and self.config.exactly_once:
            try:
                call_within(producer.abort_transaction, 5)
            except (self.ck.KafkaException, Wedged) as exc:  # the broker aborts it anyway once the transaction times out
                if fenced(self.ck, exc):  # the abort names the cause that a produce()'s bare "Fatal error" hid
                    self._producer_fatal = exc.args[0]
                log.warning("could not abort the open transaction (the broker will): %s", exc)
        self._pending = None

    def _rewind(self, consumer, messages: list, earlier: dict[tuple[str, int], int] | None = None) -> None:
        """Move the consumer back to the first of ``messages`` and drop the batches in flight (they came after).

        ``earlier``: first offsets of written batches read before ``messages`` (an aborted transaction's).
        """
        for later, _ in self._in_flight:
            messages = messages + later
        self._in_flight.clear()
        for partition in first_offsets(self.ck, messages, earlier):
            consumer.seek(partition)  # partitions revoked meanwhile are re-read by their new owner

    def _wait_for_model(self) -> None:
        """Block until the live model serves a version (or stop() is called)."""
        while not self._stop.is_set() and not self._predictor.wait_ready(1.0):
            log.info("waiting for a version of the model to pass its checks before scoring")

    def _write(self, producer, messages: list, scored: Scored) -> None:
        """Produce each event's prediction (model header) or dead letter, keyed like the event."""
        out, predictions, models = self.config.output.topic, scored.predictions, scored.models
        header_of = {ref: [(codec.MODEL_HEADER, ref.encode())] for ref in set(models.values())}
        if not scored.dead and len(header_of) == 1:  # the usual batch: every event predicted by one version
            (headers,) = header_of.values()
            produce = producer.produce  # this loop runs for every event: keep it lean
            for message, value in zip(messages, predictions.values()):  # in position order, as scored
                try:
                    produce(out, value, message.key(), -1, None, None, 0, headers)  # by position: see the top
                except BufferError:
                    self._produce_when_room(producer, out, value, message.key(), headers)
            return
        for position, message in enumerate(messages):
            value = predictions.get(position)
            if value is not None:
                topic, headers = out, header_of[models[position]]
            else:
                topic, headers, value = self._dead_topic, None, _dead_letter(message, *scored.dead[position])
            try:
                producer.produce(topic, value, message.key(), -1, None, None, 0, headers)
            except BufferError:
                self._produce_when_room(producer, topic, value, message.key(), headers)

    def _produce_when_room(self, producer, topic: str, value: bytes, key, headers) -> None:
        """Serve delivery reports until the full local queue takes the message (within the outage limit)."""
        started = time.monotonic()
        while True:
            producer.poll(0.005)
            try:
                producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                if time.monotonic() - started > 1.0:  # a queue that drains not even in a second: is the broker away?
                    self._outage.failed("writing predictions", "the producer's queue stays full")
                    started = time.monotonic()

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self._failed_deliveries.append(str(err))

    def _count(self, counts: BatchCounts) -> None:
        self.stats.busy_s = time.monotonic() - self._first_event_at
        self.stats.events += counts.events
        self.stats.predictions += counts.predictions
        self.stats.dead_letters += counts.dead_letters
        self.stats.batches += 1
        self.stats.models.update(counts.models)

    def _usable(self, message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.fatal() or error.code() == self.ck.KafkaError._FATAL:  # a fenced consumer's error is not fatal()
            raise self._failure("reading events", error)
        self._outage.failed(f"reading {self.config.source.topic}", error)  # the client retries; the probe sees it end
        return False

    def _client_error(self, error) -> None:
        """librdkafka's errors outside any call (a broker gone): it reconnects by itself; the outage clock starts."""
        if not error.fatal():  # a fatal one also comes with the next consume(), and stops the scorer there
            self._outage.noticed(f"reading {self.config.source.topic}", error)

    def _learn_fatal_cause(self, producer) -> None:
        """A call failed as a bare "Fatal error": poll, which hands over librdkafka's fatal error (fenced?) through
        the error callback or raises it."""
        try:
            producer.poll(0)
        except self.ck.KafkaException as exc:
            self._producer_fatal = exc.args[0] if exc.args else None

    def _producer_error(self, error, number: int) -> None:
        """librdkafka's errors of producer ``number`` outside any call: the current one's fatal error is kept,
        as it names the cause (fenced); others are logged like librdkafka's own lines."""
        if number != self._producers:
            return
        if error.fatal():
            self._producer_fatal = error
        else:  # a broker away: the producer retries, and the calls that fail drive the outage clock
            librdkafka_log.log(logging.WARNING, "%s [producer] %s", error.name(), error.str())

    def _probe(self, consumer) -> None:
        """While an outage lasts and nothing is read: ask the broker for the input's metadata, to see it back."""
        try:
            consumer.list_topics(self.config.source.topic, timeout=self._outage.call_s())
        except self.ck.KafkaException as exc:
            self._outage.failed(f"reading {self.config.source.topic}", exc.args[0])
            return
        self._outage.recovered()

    def _failure(self, what: str, error, where: str | None = None) -> BackendError:
        """The error to stop with: a scorer of the same identity that took over gets its own words."""
        if not fenced(self.ck, error):
            if not fenced(self.ck, self._producer_fatal):  # a produce() after fencing fails as a bare "Fatal error"
                return kafka_error(what, where or self.config.source.where, error)
            error = self._producer_fatal
        text = error.str() if isinstance(error, self.ck.KafkaError) else str(error)
        return BackendError(
            f"another scorer of group {self.config.group!r} with instance {self._instance!r} took this one's place "
            f"({what}: {text}); this one stops. Give each scorer of a group its own --instance, or none "
            "(a random one is chosen); a scorer restarted under the same --instance takes over on purpose")

    def _consumer(self):
        return self.ck.Consumer(consumer_settings(self.config, self._instance, self._client_error))

    def _producer(self) -> Replaceable:
        return Replaceable(self._make_producer)

    def _make_producer(self, replacing: bool = False):
        self._producers += 1
        self._producer_fatal = None
        number = self._producers  # a replaced producer is fenced by its successor on purpose: not this one's cause
        producer = self.ck.Producer(producer_settings(self.config, self._instance, self._delivered,
                                                      lambda error: self._producer_error(error, number)))
        if self.config.exactly_once:
            try:  # also completes or aborts what a crashed (or replaced) producer of this name left open
                if replacing:
                    self._outage.retried("starting the scorer's transactions", producer.init_transactions,
                                         self.ck.KafkaException)
                else:
                    producer.init_transactions(30)
            except self.ck.KafkaException as exc:
                raise self._failure("starting the scorer's transactions", exc.args[0], self.config.output.where) from exc
        return producer


def _counts(messages: list, scored: Scored) -> BatchCounts:
    return BatchCounts(len(messages), len(scored.predictions), len(scored.dead), set(scored.models.values()))


def _dead_letter(message, error: str, reasons: list[str]) -> bytes:
    source = {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}
    return codec.dead_letter_value(message.value() or b"", error, reasons, source)
