"""The streaming scorer against the real broker: predictions, dead letters, crashes, a shared group."""

import gc
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
import pytest

import mldeploy
from mldeploy import errors
from mldeploy.serving import load
from mldeploy.serving.frozen_heap import YOUNG_THRESHOLD
from mldeploy.stream import publish
from mldeploy.stream.predictors import ModelSpec
from mldeploy.stream.scorer import ScorerConfig, StreamScorer
from mldeploy.stream._pending import BatchCounts, Pending
from mldeploy.stream.scoring import DEAD_LETTER_REASONS, Scored, dead_letter_reason
from mldeploy.stream.transport import parse_url

import _models
from _events import Reader, consumed, create_topics, produce, rows_as_events

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ROWS = [{k: (None if v != v else v) for k, v in row.items()}
        for row in _models.salary_data().drop(columns="salary").head(2000).to_dict(orient="records")]


@pytest.fixture
def model_url(tmp_path, salary_registry) -> str:
    """A local model topic holding salary@1 (scorers here follow it; Kafka carries the events)."""
    url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), url)
    return url


def test_every_mldeploy_error_has_a_dead_letter_reason():
    classes = [getattr(errors, name) for name in errors.__all__]
    for cls in (c for c in classes if isinstance(c, type) and issubclass(c, errors.MldeployError)):
        assert dead_letter_reason(cls.__new__(cls)) in set(DEAD_LETTER_REASONS.values())
    with pytest.raises(TypeError, match="is not an mldeploy error; it is a bug"):
        dead_letter_reason(KeyError("x"))


@pytest.mark.parametrize("settings, words", [
    ({"max_batch": 0}, "max_batch (--max-batch) must be in [1, 1000000], got 0"),
    ({"commit_interval_s": 10.0}, "commit interval (--commit-interval) must be shorter than the transaction timeout (10 s)"),
    ({"commit_interval_s": -1}, "got -1"),
    ({"caught_up_commit_s": 3.0}, "caught-up commit interval must be between 0 s and the commit interval (2 s), got 3 s"),
    ({"extra": "drop"}, 'extra=\'drop\' is not a valid choice; expected one of "reject", "ignore"'),
])
def test_a_scorer_config_that_cannot_work_is_refused_in_words(settings, words):
    with pytest.raises(errors.ConfigError, match=re.escape(words)):
        ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out"), **settings)


class _Transactional:
    """Consumer and producer around a transaction the broker makes abortable (no real broker fails on cue).

    ``fail_on`` names the producer call that raises an abortable error; seeks and aborts are recorded.
    """

    def __init__(self, fail_on: str, abortable: bool = True):
        self.fail_on, self.abortable, self.seeks, self.aborted, self.committed = fail_on, abortable, {}, 0, []

    def _maybe_fail(self, call: str) -> None:
        if call == self.fail_on and self.abortable:
            raise ck.KafkaException(ck.KafkaError(ck.KafkaError._STATE, "fenced for the test", txn_requires_abort=True))
        if call == self.fail_on:
            raise ck.KafkaException(ck.KafkaError(ck.KafkaError.MSG_SIZE_TOO_LARGE, "too large for the test"))

    def send_offsets_to_transaction(self, offsets, _metadata) -> None:
        self.committed.append(offsets)

    def commit_transaction(self) -> None:
        pass

    def consumer_group_metadata(self) -> None:
        return None

    def begin_transaction(self) -> None:
        self._maybe_fail("begin_transaction")

    def produce(self, *args, **kwargs) -> None:
        self._maybe_fail("produce")

    def abort_transaction(self, _timeout: float = -1) -> None:
        self.aborted += 1

    def seek(self, partition) -> None:
        self.seeks[(partition.topic, partition.partition)] = partition.offset


def _one_version(messages: list) -> Scored:
    return Scored({i: b'{"prediction":1.0}' for i in range(len(messages))}, dict.fromkeys(range(len(messages)), "salary@1"))


@pytest.mark.parametrize("fail_on, written_before, expected", [
    # the transaction never began: the batch being written is in no pending list, and must be read again
    ("begin_transaction", None, {("events", 0): 5, ("events", 1): 3, ("events", 2): 9}),
    # a write failed inside a transaction that holds an earlier batch: rewind to the earlier batch's offsets
    ("produce", consumed((0, 1), (1, 0)), {("events", 0): 1, ("events", 1): 0, ("events", 2): 9}),
])
def test_an_aborted_transaction_rewinds_to_every_event_it_did_not_commit(fail_on, written_before, expected):
    scorer = StreamScorer(None, ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out")))
    if written_before is not None:
        scorer._pending = Pending()
        scorer._pending.add(written_before, BatchCounts(len(written_before), len(written_before), 0))
    writing, later = consumed((0, 5), (1, 3), (0, 6)), consumed((2, 9), (0, 7))
    scorer._in_flight.append((later, lambda: _one_version(later)))
    client = _Transactional(fail_on)
    assert scorer._write_scored(client, client, writing, lambda: _one_version(writing)) is False
    assert client.seeks == expected and client.aborted == 1
    assert scorer._pending is None and not scorer._in_flight


def test_a_bare_fatal_error_after_the_producer_was_fenced_is_worded_as_fencing():
    # librdkafka's produce() on a fenced producer raises only "Fatal error"; the cause came through error_cb.
    scorer = StreamScorer(None, ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out")))
    bare = ck.KafkaError(ck.KafkaError._FATAL, "Unable to produce message: Local: Fatal error")
    assert "took this one's place" not in str(scorer._failure("writing predictions", bare))
    fenced_error = ck.KafkaError(ck.KafkaError._FATAL, "Fatal error: Broker: Producer fenced by newer instance", fatal=True)
    scorer._producers = 2
    scorer._producer_error(ck.KafkaError(ck.KafkaError._TRANSPORT, "broker down"), 2)  # not fatal: not kept
    scorer._producer_error(fenced_error, 1)  # a replaced producer, fenced by its successor on purpose
    assert "took this one's place" not in str(scorer._failure("writing predictions", bare))
    scorer._producer_error(fenced_error, 2)
    assert "took this one's place" in str(scorer._failure("writing predictions", bare))


def test_a_fenced_abort_after_a_bare_fatal_error_is_worded_as_fencing():
    # the full-suite failure of 2026-12-06: produce() raised a bare "Fatal error", the poll that follows handed
    # over no cause yet, and only the abort of the open transaction said _FENCED; the error must still say so
    scorer = StreamScorer(None, ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out")))
    scorer._producers = 1
    scorer._pending = Pending()
    bare = ck.KafkaError(ck.KafkaError._FATAL, "Unable to produce message: Local: Fatal error", fatal=True)

    class _FencedProducer:
        def poll(self, timeout):
            return 0

        def abort_transaction(self, timeout=None):
            raise ck.KafkaException(ck.KafkaError(ck.KafkaError._FENCED, "Local: This instance has been fenced", fatal=True))

    with pytest.raises(errors.BackendError, match="took this one's place"):
        scorer._abort(None, _FencedProducer(), ck.KafkaException(bare))


def test_a_failed_scorer_whose_consumer_cannot_leave_the_group_still_stops_with_its_error(monkeypatch, caplog):
    """A consumer whose coordinator went away can block in close() for good (no real broker does it on cue)."""
    from mldeploy.stream import scorer as scorer_module

    monkeypatch.setattr(scorer_module, "_CLOSE_AFTER_FAILURE_S", 0.2)
    monkeypatch.setattr("mldeploy.stream._outage._GRACE_S", 0.3)
    released = threading.Event()

    class _StuckConsumer:
        def close(self):
            released.wait(30)

    scorer = StreamScorer(None, ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out")))
    scorer._failed = True
    try:
        scorer._close(_StuckConsumer())
        still_stuck = not released.is_set()  # it returned while close() still waited
    finally:
        released.set()
    assert still_stuck and "did not leave group" in caplog.text


@pytest.mark.parametrize("exactly_once, where", [(True, "process"), (False, "process"), (True, "thread")],
                         ids=["transactions", "at-least-once", "model-on-a-thread"])
def test_events_become_predictions_keyed_like_them_and_bad_ones_dead_letters(kafka_broker, model_url, exactly_once, where):
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 2, topic)
    good = rows_as_events(ROWS[:40])
    bad = {b"two-bad-fields": json.dumps(ROWS[0] | {"age": "old", "remote": "perhaps"}).encode(),
           b"not-json": b"{years: 3", b"a-list": b"[1, 2]"}
    produce(kafka_broker.bootstrap, topic, good | bad)
    gc.unfreeze()  # as in a fresh process, so the scorer's own tuning shows below
    gc.set_threshold(700, *gc.get_threshold()[1:])
    with mldeploy.subscribe(model_url, "salary") as live:
        config = ScorerConfig(parse_url(kafka_broker.url(topic)), parse_url(kafka_broker.url(f"{topic}-out")),
                              max_batch=16, exactly_once=exactly_once, group=f"g-{topic}")
        scorer = StreamScorer(live if where == "thread" else ModelSpec(model_url, "salary"), config)
        thread = threading.Thread(target=scorer.run)
        thread.start()
        predictions, dead = Reader(kafka_broker.bootstrap, f"{topic}-out", 2), Reader(kafka_broker.bootstrap, f"{topic}.dead-letter", 2)
        try:
            predictions.until(lambda m: len(m) >= len(good), 90)
            dead.until(lambda m: len(m) >= len(bad), 30)
        finally:
            scorer.stop()
            thread.join(30)
            predictions.close()
            dead.close()
        expected = dict(zip(good, live.predict(ROWS[:40])))
    # a scoring process's heap is frozen and its young generation collected less often, as the API server's
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == YOUNG_THRESHOLD
    # the same compiled path in and out of the scorer, and JSON keeps every bit of a float: equal, not close
    assert {m.key(): json.loads(m.value())["prediction"] for m in predictions.messages} == expected
    assert {dict(m.headers())["mldeploy-model"] for m in predictions.messages} == {b"salary@1"}
    letters = {m.key(): json.loads(m.value()) for m in dead.messages}
    assert set(letters) == set(bad)
    reasons = letters[b"two-bad-fields"]["reasons"]
    assert letters[b"two-bad-fields"]["error"] == "invalid-event" and len(reasons) == 2
    assert reasons[0].startswith('field "age": expected') and reasons[1].startswith('field "remote": expected')
    assert letters[b"not-json"]["reasons"][0].startswith("the message is not JSON")
    assert letters[b"a-list"]["event"] == "[1, 2]" and letters[b"a-list"]["source"]["topic"] == topic


POISON = {b"700-kb-of-ff": b"\xff" * 700_000,  # its whole payload as a hex dead letter, 1.4 MB, would not fit
          b"nested-brackets": b"[" * 100_000,  # a recursive JSON parser runs out of stack
          b"surrogate-key": json.dumps(ROWS[0] | {"\ud800": 1}).encode(),  # cannot be encoded as UTF-8 text
          b"surrogate-value": json.dumps(ROWS[0] | {"age": "\udfff"}).encode()}


@pytest.mark.parametrize("exactly_once", [True, False], ids=["exactly-once", "at-least-once"])
def test_poison_events_become_dead_letters_that_fit_and_cost_no_other_event(kafka_broker, model_url, exactly_once):
    """Each poison event once crashed the scorer (and closing committed the offsets past it and its neighbours)."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 1, topic)
    good = rows_as_events(ROWS[:40])
    events = dict(list(good.items())[:20]) | POISON | dict(list(good.items())[20:])
    produce(kafka_broker.bootstrap, topic, events)
    config = ScorerConfig(parse_url(kafka_broker.url(topic)), parse_url(kafka_broker.url(f"{topic}-out")),
                          max_batch=16, exactly_once=exactly_once, group=f"g-{topic}")
    scorer = StreamScorer(ModelSpec(model_url, "salary"), config)
    failures = []
    thread = threading.Thread(target=lambda: _record_failure(scorer.run, failures))
    thread.start()
    predictions, dead = Reader(kafka_broker.bootstrap, f"{topic}-out", 1), Reader(kafka_broker.bootstrap, f"{topic}.dead-letter", 1)
    try:
        dead.until(lambda m: len(m) >= len(POISON) or failures, 90)
        predictions.until(lambda m: len(m) >= len(good) or failures, 60)
    finally:
        scorer.stop()
        thread.join(30)
        predictions.close()
        dead.close()
    assert failures == []
    assert {m.key() for m in predictions.messages} == set(good)
    letters = {m.key(): json.loads(m.value()) for m in dead.messages}
    assert set(letters) == set(POISON)
    for key, letter in letters.items():
        assert letter["error"] == "invalid-event" and letter["event_bytes"] == len(POISON[key]), key
        assert letter["event_sha256"] == hashlib.sha256(POISON[key]).hexdigest() and len(json.dumps(letter)) < 100_000
    assert "nests deeper than" in letters[b"nested-brackets"]["reasons"][0]
    assert letters[b"surrogate-key"]["reasons"] == [r'field "\ud800": expected one of the known fields (years_experience, '
                                                    "age, education, job_family, level, city, remote, company_size, "
                                                    "certifications, performance_rating, weekly_hours), got 1"]
    assert letters[b"surrogate-value"]["reasons"] == [r'field "age": expected a whole number in [0, 93], got "\udfff"']
    assert _committed(kafka_broker.bootstrap, f"g-{topic}", topic) == len(events)


def _record_failure(run, failures: list) -> None:
    try:
        run()
    except Exception as exc:  # the test asserts there was none, and shows it
        failures.append(exc)


def test_a_write_that_fails_for_good_leaves_nothing_to_commit_not_even_on_close():
    """A non-abortable failure: the scorer stops, and the revoke while it closes must not commit the batches."""
    scorer = StreamScorer(None, ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out")))
    scorer._pending = Pending()
    written = consumed((0, 1), (1, 0))
    scorer._pending.add(written, BatchCounts(len(written), len(written), 0))
    writing = consumed((0, 5), (1, 3))
    scorer._in_flight.append((consumed((0, 7),), lambda: _one_version(writing)))
    client = _Transactional("produce", abortable=False)
    with pytest.raises(errors.MldeployError, match="too large for the test"):
        scorer._write_scored(client, client, writing, lambda: _one_version(writing))
    assert scorer._pending is None and not scorer._in_flight and scorer._failed and client.aborted == 1
    scorer._commit(client, client)  # what closing does: nothing left to commit
    assert client.committed == []


def test_the_prediction_process_swaps_in_a_version_published_mid_stream(kafka_broker, model_url, salary_registry):
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 2, topic)
    config = ScorerConfig(parse_url(kafka_broker.url(topic)), parse_url(kafka_broker.url(f"{topic}-out")),
                          max_batch=16, group=f"g-{topic}")
    scorer = StreamScorer(ModelSpec(model_url, "salary"), config)
    thread = threading.Thread(target=scorer.run)
    thread.start()
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", 2)
    try:
        produce(kafka_broker.bootstrap, topic, {f"a{i}".encode(): v for i, v in enumerate(rows_as_events(ROWS[:20]).values())})
        predictions.until(lambda m: len(m) >= 20, 90)
        publish(salary_registry.get("salary@2"), model_url)
        deadline = time.monotonic() + 90
        while not any(dict(m.headers())["mldeploy-model"] == b"salary@2" for m in predictions.messages):
            assert time.monotonic() < deadline, "no prediction by salary@2 in 90 s"
            produce(kafka_broker.bootstrap, topic, {f"b{uuid.uuid4().hex}".encode(): json.dumps(ROWS[0]).encode()})
            predictions.until(lambda m, seen=len(predictions.messages): len(m) > seen, 30)
    finally:
        scorer.stop()
        thread.join(30)
        predictions.close()
    by_version = Counter(dict(m.headers())["mldeploy-model"] for m in predictions.messages)
    assert by_version[b"salary@1"] >= 20 and set(by_version) == {b"salary@1", b"salary@2"}
    second = load("salary@2", registry=salary_registry)
    by_second = [json.loads(m.value())["prediction"] for m in predictions.messages
                 if dict(m.headers())["mldeploy-model"] == b"salary@2"]  # all "b" events: ROWS[0]
    assert by_second == [second.predict(ROWS[0])] * len(by_second)


def _scorer(kafka_broker, model_url, topic: str, instance: str, at_least_once: bool = False,
            idle_exit_s: float = 6) -> subprocess.Popen:
    """Start `mldeploy stream-score` in its own process; its output lines collect in ``process.lines``."""
    command = ["stream-score", "--models", model_url, "--name", "salary", "--in", kafka_broker.url(topic),
               "--out", kafka_broker.url(f"{topic}-out"), "--group", f"g-{topic}", "--instance", instance,
               "--max-batch", "25", "--idle-exit", str(idle_exit_s), *(["--at-least-once"] if at_least_once else [])]
    process = subprocess.Popen([sys.executable, "-c", "from mldeploy.cli import main; main()", *command],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | {"COLUMNS": "200"})
    process.lines = []
    threading.Thread(target=lambda: process.lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    return process


def _wait_for_line(process: subprocess.Popen, start: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while not any(line.startswith(start) for line in process.lines):
        assert process.poll() is None, f"the scorer exited with {process.returncode}: {process.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no line starting {start!r} in {timeout_s:.0f} s: {process.lines}"
        time.sleep(0.05)
    return next(line for line in process.lines if line.startswith(start))


def _scored(process: subprocess.Popen) -> int:
    """The events a CLI scorer says it scored (and how fast, when it scored any)."""
    assert process.wait(120) == 0, process.stderr.read()[-3000:]
    line = _wait_for_line(process, "scored ", 10)
    count = int(line.split()[1].replace(",", ""))
    assert count == 0 or re.search(r" events in [\d.]+ s \([\d,]+ events/s\): ", line), line
    return count


def _feed(bootstrap: str, topic: str, events: dict[bytes, bytes], chunks: int = 8) -> None:
    """Write ``events`` in ``chunks`` parts, a fifth of a second apart (a stream, not one burst)."""
    items = list(events.items())
    for start in range(0, len(items), len(items) // chunks):
        produce(bootstrap, topic, dict(items[start:start + len(items) // chunks]))
        time.sleep(0.2)  # pacing the producer, not waiting for a condition


@pytest.mark.parametrize("at_least_once", [False, True], ids=["exactly-once", "at-least-once"])
def test_a_scorer_killed_mid_stream_and_restarted_leaves_no_event_without_a_prediction(kafka_broker, model_url,
                                                                                         at_least_once):
    """Exactly once: one prediction per event. At least once: duplicates allowed, never a gap."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 2, topic, f"{topic}-out")
    first, other = (_scorer(kafka_broker, model_url, topic, name, at_least_once) for name in ("a", "b"))
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", 2)
    try:
        for process in (first, other):  # the group has given each one of the two partitions
            assert "none" not in _wait_for_line(process, "assigned partitions: events", 120)
        events = rows_as_events(ROWS * 4)
        feeder = threading.Thread(target=_feed, args=(kafka_broker.bootstrap, topic, events))
        feeder.start()  # events keep coming, so the kill lands while the first scorer has work in hand
        predictions.until(lambda m: len(m) >= 100, 120, processes=(first, other))
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        restarted = _scorer(kafka_broker, model_url, topic, "a", at_least_once)
        feeder.join(60)
        predictions.until(lambda m: {x.key() for x in m} >= set(events), 150, processes=(restarted,))
        by_restarted, by_other = _scored(restarted), _scored(other)
    finally:
        for process in (first, other):
            process.kill()
        predictions.close()
    counts = Counter(m.key() for m in predictions.messages)
    duplicates = {key: n for key, n in counts.items() if n > 1}
    print(f"\n{len(events)} events in, {len(counts)} keys out, {len(duplicates)} duplicated; "
          f"scored by the killed scorer: {len(events) - by_restarted - by_other}, its restart: {by_restarted}, "
          f"the other: {by_other}")
    assert set(counts) == set(events)
    assert duplicates == {} or at_least_once
    assert 0 < by_other < len(events)  # the group shared the two partitions
    assert by_restarted > 0  # the kill came mid-stream: the restart took over unfinished work


def test_at_least_once_never_commits_past_predictions_the_broker_did_not_acknowledge(kafka_broker, model_url):
    """The broker refuses every prediction (its topic takes 64-byte batches): no offset may move past them.

    A scorer that committed without waiting for acknowledgements would move the group past the
    events, and the restart after the limit is lifted would leave them without predictions.
    """
    topic = f"events-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    created = admin.create_topics([NewTopic(topic, 1, 1), NewTopic(f"{topic}-out", 1, 1, config={"max.message.bytes": "64"})])
    for future in created.values():
        future.result(30)
    events = rows_as_events(ROWS[:200])
    produce(kafka_broker.bootstrap, topic, events)
    refused = _scorer(kafka_broker, model_url, topic, "a", at_least_once=True)
    assert refused.wait(120) != 0, "the scorer carried on although the broker refused every prediction"
    assert "writing predictions" in refused.stderr.read()
    assert _committed(kafka_broker.bootstrap, f"g-{topic}", topic) in (None, 0)

    limit = ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)
    lifted = admin.incremental_alter_configs([ConfigResource("topic", f"{topic}-out", incremental_configs=[limit])])
    for future in lifted.values():
        future.result(30)
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", 1)
    restarted = _scorer(kafka_broker, model_url, topic, "a", at_least_once=True)
    try:
        predictions.until(lambda m: {x.key() for x in m} >= set(events), 120, processes=(restarted,))
        assert _scored(restarted) == len(events)
    finally:
        restarted.kill()
        predictions.close()


def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    """The offset group ``group`` committed on partition 0 of ``topic`` (None: nothing committed)."""
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        offset = consumer.committed([ck.TopicPartition(topic, 0)], timeout=30)[0].offset
    finally:
        consumer.close()
    return None if offset < 0 else offset


def test_a_scorer_fenced_by_a_second_of_the_same_identity_loses_and_doubles_nothing(kafka_broker, model_url):
    """Exactly once on the real broker: the second scorer's transactions fence the first one's mid-stream.

    The first one's open transaction is aborted by the broker; the second reads its events again
    from the last committed offsets, so every event has exactly one committed prediction.
    """
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 1, topic, f"{topic}-out")
    events = rows_as_events(ROWS * 4)
    feeder = threading.Thread(target=_feed, args=(kafka_broker.bootstrap, topic, events, 50))  # 10 s of stream
    first = _scorer(kafka_broker, model_url, topic, "same")
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", 1)
    try:
        assert "none" not in _wait_for_line(first, "assigned partitions: events", 120)
        feeder.start()
        predictions.until(lambda m: len(m) >= 100, 120, processes=(first,))
        second = _scorer(kafka_broker, model_url, topic, "same")
        assert feeder.is_alive(), "the stream ended before the second scorer came: nothing was fenced mid-stream"
        assert first.wait(120) != 0, f"the fenced scorer went on: {first.lines}"
        assert "took this one's place" in first.stderr.read()
        feeder.join(60)
        predictions.until(lambda m: {x.key() for x in m} >= set(events), 150, processes=(second,))
        _scored(second)
    finally:
        first.kill()
        predictions.close()
    counts = Counter(m.key() for m in predictions.messages)
    assert set(counts) == set(events) and {k: n for k, n in counts.items() if n > 1} == {}


def test_an_idle_scorer_whose_place_is_taken_stops_and_says_why(kafka_broker, model_url):
    """With no event to write, only the consumer learns of its successor (librdkafka reports that as
    ``_FATAL``, yet not ``fatal()``): the scorer must stop with a clear reason, not sit idle forever."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 1, topic, f"{topic}-out")
    first = _scorer(kafka_broker, model_url, topic, "same", idle_exit_s=60)
    second = None
    try:
        assert "none" not in _wait_for_line(first, "assigned partitions: events", 120)
        second = _scorer(kafka_broker, model_url, topic, "same", idle_exit_s=60)
        assert first.wait(50) != 0, f"the scorer whose place was taken went on: {first.lines}"
        assert "took this one's place" in first.stderr.read()
    finally:
        for process in (first, second):
            if process is not None:
                process.kill()
