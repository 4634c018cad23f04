"""The streaming scorer while its broker is away: it waits within --outage-limit, then stops without losing an event."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Producer

from mldeploy.stream import publish

import _models
from _events import Reader, create_topics, rows_as_events

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]

ROWS = [{k: (None if v != v else v) for k, v in row.items()}
        for row in _models.salary_data().drop(columns="salary").head(1000).to_dict(orient="records")]
OUTAGE_S = 18.0
"""How long the broker is away in the first test: the outage that once made an exactly-once scorer exit."""


@pytest.fixture
def model_url(tmp_path, salary_registry) -> str:
    """A local model topic holding salary@1 (the broker's outage must not touch the model)."""
    url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), url)
    return url


class _Scorer:
    """`mldeploy stream-score` in a process of its own; its output lines collect as they come."""

    def __init__(self, bootstrap: str, model_url: str, topic: str, *options: str):
        command = ["stream-score", "--models", model_url, "--name", "salary", "--in", f"kafka://{bootstrap}/{topic}",
                   "--out", f"kafka://{bootstrap}/{topic}-out", "--group", f"g-{topic}", "--instance", "a",
                   "--max-batch", "25", *options]
        self.process = subprocess.Popen([sys.executable, "-c", "from mldeploy.cli import main; main()", *command],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=os.environ | {"COLUMNS": "300"})
        self.lines: list[str] = []
        self.errors: list[str] = []
        for stream, lines in ((self.process.stdout, self.lines), (self.process.stderr, self.errors)):
            threading.Thread(target=lambda s=stream, l=lines: l.extend(iter(s.readline, "")), daemon=True).start()

    def wait_for_line(self, start: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while not any(line.startswith(start) for line in self.lines):
            assert self.process.poll() is None, f"the scorer exited with {self.process.returncode}: {self.errors[-20:]}"
            assert time.monotonic() < deadline, f"no line starting {start!r} in {timeout_s:.0f} s: {self.lines}"
            time.sleep(0.05)
        return next(line for line in self.lines if line.startswith(start))

    def stop(self, timeout_s: float) -> int:
        """SIGTERM: the scorer writes and commits what it holds and exits; return its exit code."""
        self.process.terminate()
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> int:
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            for pid in (self.process.pid, *_children(self.process.pid)):  # the scorer and its prediction process
                os.kill(pid, signal.SIGUSR1)  # each prints its threads' stacks: where it waits
            deadline = time.monotonic() + 5  # until the dump reaches the reader thread, or it will not come
            while time.monotonic() < deadline and not any("Current thread" in line for line in self.errors):
                time.sleep(0.05)
            raise AssertionError(f"the scorer still runs after {timeout_s:g} s: {''.join(self.errors)[-8000:]}") from None
        time.sleep(0.1)  # let the reader threads take the last lines
        return code


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (its prediction process), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listed:
            return [int(child) for child in listed.read().split()]
    except OSError:
        return []


def _feed(bootstrap: str, topic: str, events: dict[bytes, bytes], chunks: int, done: threading.Event) -> None:
    """Write ``events`` in ``chunks`` parts half a second apart, across the outage (the producer holds them meanwhile).

    Idempotent: a chunk the broker wrote just before it stopped, unacknowledged, is sent again after the
    restart, and without idempotence it was written twice, so the scorer rightly predicted it twice
    (one full run in five failed so: 50 keys, one chunk, counted twice).
    """
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 120_000,
                         "enable.idempotence": True})
    items = list(events.items())
    size = len(items) // chunks
    for start in range(0, len(items), size):
        for key, value in items[start:start + size]:
            producer.produce(topic, value, key)
        producer.poll(0)
        time.sleep(0.5)  # pacing the stream, not waiting for a condition
    if producer.flush(120) == 0:
        done.set()


def _broker_away(kafka_broker, seconds: float) -> None:
    """Stop the broker, keep it away ``seconds`` from the moment it was asked to stop, start it again."""
    asked = time.monotonic()
    kafka_broker.stop()
    try:
        time.sleep(max(0.0, seconds - (time.monotonic() - asked)))  # the fault's length, not a wait for a condition
    finally:
        kafka_broker.start()


@pytest.mark.parametrize("at_least_once", [False, True], ids=["exactly-once", "at-least-once"])
def test_a_broker_outage_of_18_s_mid_stream_is_ridden_through_with_one_prediction_per_event(kafka_broker, model_url,
                                                                                            at_least_once):
    """An 18 s outage once made an exactly-once scorer exit. Exactly once: each event has one committed prediction."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 2, topic, f"{topic}-out")
    events = rows_as_events(ROWS * 3)
    scorer = _Scorer(kafka_broker.bootstrap, model_url, topic, *(["--at-least-once"] if at_least_once else []))
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", 2)
    fed = threading.Event()
    feeder = threading.Thread(target=_feed, args=(kafka_broker.bootstrap, topic, events, 30, fed))
    try:
        assert "none" not in scorer.wait_for_line("assigned partitions: events", 60)
        feeder.start()
        predictions.until(lambda m: len(m) >= 100, 60, processes=(scorer.process,))
        _broker_away(kafka_broker, OUTAGE_S)
        feeder.join(60)
        assert fed.is_set(), "the feeder could not write every event after the outage"
        predictions.until(lambda m: {x.key() for x in m} >= set(events), 60, processes=(scorer.process,))
        assert scorer.stop(30) == 0, scorer.errors[-20:]
    finally:
        scorer.process.kill()
        predictions.close()
    counts = Counter(m.key() for m in predictions.messages)
    assert set(counts) == set(events)
    assert {k: n for k, n in counts.items() if n > 1} == {} or at_least_once


def test_an_outage_longer_than_the_limit_stops_the_scorer_in_one_line_and_a_restart_loses_nothing(kafka_broker, model_url):
    topic = f"events-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker.bootstrap, 1, topic, f"{topic}-out")
    events = rows_as_events(ROWS)
    fed = threading.Event()
    feeder = threading.Thread(target=_feed, args=(kafka_broker.bootstrap, topic, events, 20, fed))
    scorer = _Scorer(kafka_broker.bootstrap, model_url, topic, "--outage-limit", "4")
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", 1)
    try:
        assert "none" not in scorer.wait_for_line("assigned partitions: events", 60)
        feeder.start()
        predictions.until(lambda m: len(m) >= 50, 60, processes=(scorer.process,))
        kafka_broker.stop()
        try:
            assert scorer.wait(40) != 0, "the scorer went on past its outage limit"
        finally:
            kafka_broker.start()
        last = [line for line in scorer.errors if line.strip()][-1]
        assert "Kafka at 127.0.0.1" in last and "for more than 4 s (--outage-limit)" in last, scorer.errors
        assert "check that the broker runs" in last
        feeder.join(60)
        assert fed.is_set()
        restarted = _Scorer(kafka_broker.bootstrap, model_url, topic)
        predictions.until(lambda m: {x.key() for x in m} >= set(events), 60, processes=(restarted.process,))
        assert restarted.stop(30) == 0, restarted.errors[-20:]
    finally:
        for process in (scorer.process, *([restarted.process] if "restarted" in locals() else [])):
            process.kill()
        predictions.close()
    counts = Counter(m.key() for m in predictions.messages)
    assert set(counts) == set(events) and {k: n for k, n in counts.items() if n > 1} == {}

