"""The core's prediction log: keys taken out of rows, rows made from a Prediction, a bounded queue, schemes by entry point."""

import threading
import time

import numpy as np
import pandas as pd
import pytest

from mldeploy.bundle import BundleRef
from mldeploy.errors import ConfigError
from mldeploy.serving import Prediction, ServingPath
from mldeploy.serving.prediction_log import (
    LogEntry, PredictionLog, RowsRefused, check_log_url, new_request_id, open_prediction_log, split_keys,
)


def test_the_key_field_is_taken_out_and_rows_without_it_are_keyed_by_the_request():
    rows = [{"a": 1, "id": 7}, {"a": 2}, {"a": 3, "id": "x"}]
    keys, request_id, missing = split_keys(rows, "id", "req")
    assert (keys, request_id, missing) == (["7", "req#1", "x"], "req", 1)
    assert rows == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_a_classifier_entry_makes_labels_probabilities_and_inputs_from_columns():
    pred = Prediction(BundleRef("churn", 3), ServingPath.COMPILED, np.array(["no", "yes"], dtype=object),
                      np.array([[0.75, 0.25], [0.125, 0.875]]), ("no", "yes"))
    entry = LogEntry(pred, ["k1", "k2"], {"age": np.array([30, 40])}, "api", "grpc.infer", "r1", at=1.5, latency_s=0.01)
    rows = entry.rows()
    assert [(r.key, r.label, r.value, r.model_version) for r in rows] == [("k1", "no", None, 3), ("k2", "yes", None, 3)]
    assert rows[1].probabilities == '{"no": 0.125, "yes": 0.875}' and rows[0].inputs == '{"age":30}'


def test_one_row_regressor_entries_make_the_columns_their_rows_make():
    def regression(value, version=4):
        return Prediction(BundleRef("salary", version), ServingPath.COMPILED, np.array([value]))

    entries = [LogEntry(regression(1.5), ["k1"], [{"age": 30, "city": "Oslo"}], "api", "rest.predict", "r1", at=1.25,
                        latency_s=0.002),
               LogEntry(regression(float("nan"), 5), ["k2"], None, "api", "rest.predict", "r2", role="shadow", at=2.5),
               LogEntry(regression(-0.0), ["k3"], {"age": np.array([41]), "city": ["Rome"]}, "api", "rest.infer", "r3")]
    by_rows = [list(column) for column in zip(*[row for entry in entries for row in entry.rows()])]
    columns = LogEntry.columns_of(entries)
    assert repr(list(columns)) == repr(by_rows)  # repr: NaN equals NaN, and -0.0 stays -0.0
    classifier = Prediction(BundleRef("churn", 3), ServingPath.COMPILED, np.array(["no"], dtype=object), None, ("no", "yes"))
    two_rows = LogEntry(regression(1.0), ["a", "b"], None, "api", "rest.predict", "r4")
    no_inputs = LogEntry(regression(2.0), ["k6"], [], "api", "rest.predict", "r6")
    for other in (LogEntry(classifier, ["k"], None, "api", "rest.predict", "r5"), two_rows, no_inputs):
        assert LogEntry.columns_of([*entries, other]) is None  # anything else: row by row


def test_unknown_schemes_are_named_with_the_ones_on_offer_and_passwords_masked():
    with pytest.raises(ConfigError, match=r'"ftp://u:\*\*\*@h/t" names no prediction log.*postgresql://'):
        check_log_url("ftp://u:secret@h/t")


def test_a_full_queue_drops_and_counts_and_a_healthy_sink_gets_everything_else(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = open_prediction_log(url, max_queued_rows=4)
    pred = Prediction(BundleRef("salary", 1), ServingPath.SCIKIT_LEARN, np.array([1.0, 2.0, 3.0]))
    try:
        assert log.submit(LogEntry(pred, ["a", "b", "c"], None, "api", "rest.predict", "r1", at=1.0))
        accepted = log.submit(LogEntry(pred, ["d", "e", "f"], None, "api", "rest.predict", "r2", at=1.0))
        assert log.flush(30)
    finally:
        log.close()
    # The second entry fits only if the writer took the first in between: either way, nothing is lost unseen.
    assert log.written + log.dropped == 6 and log.dropped == (0 if accepted else 3)
    from mldeploy.batch.prediction_store import PredictionStore

    with PredictionStore(url) as store:
        stored = pd.concat(list(store.iter_served("salary")))
    assert len(stored) == log.written and set(stored.key) >= {"a", "b", "c"}


def test_a_log_needs_room_for_a_row(tmp_path):
    from mldeploy.predictions.log_sink import DatabaseLogSink

    sink = DatabaseLogSink(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ConfigError, match="needs room for a row"):
            PredictionLog(sink, max_queued_rows=0)
    finally:
        sink.close()


class _HeldSink:
    """A sink whose first write waits until released: a database that stalls mid-write (a fault on demand)."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()
        self.rows, self.closed = 0, False

    def describe(self) -> str:
        return "a held sink"

    def write(self, entries) -> None:
        self.started.set()
        self.release.wait(30)
        self.rows += sum(len(entry) for entry in entries)

    def close(self) -> None:
        self.closed = True


def test_a_write_still_under_way_at_close_is_counted_once_by_its_writer():
    sink = _HeldSink()
    log = PredictionLog(sink, max_queued_rows=10, batch_rows=3)
    pred = Prediction(BundleRef("salary", 1), ServingPath.SCIKIT_LEARN, np.array([1.0, 2.0, 3.0]))
    assert log.submit(LogEntry(pred, ["a", "b", "c"], None, "api", "rest.predict", "r1", at=1.0))
    assert sink.started.wait(30)  # the writer holds the first entry; the second waits in the queue
    assert log.submit(LogEntry(pred, ["d", "e", "f"], None, "api", "rest.predict", "r2", at=1.0))
    log.close(timeout_s=0.2)
    assert log.dropped == 3 and not sink.closed  # only what waited; the sink is not closed under its own write
    sink.release.set()
    log._thread.join(30)
    assert (log.written, log.dropped, sink.rows) == (3, 3, 3)


class _RecordingSink:
    """A sink that keeps what it is given (this module tests the queue, not a database)."""

    def __init__(self):
        self.writes: list[list] = []

    def describe(self) -> str:
        return "recording"

    def write(self, entries) -> None:
        self.writes.append([row for entry in entries for row in entry.rows()])

    def close(self) -> None:
        pass


def _entry(key: str, version: int = 1) -> LogEntry:
    pred = Prediction(BundleRef("salary", version), ServingPath.SCIKIT_LEARN, np.array([1.0]))
    return LogEntry(pred, [key], None, "api", "rest.predict", f"r-{key}", at=1.0)


def test_after_a_write_the_writer_waits_out_its_interval_unless_asked_to_flush():
    sink = _RecordingSink()
    log = PredictionLog(sink, flush_interval_s=30.0)
    try:
        log.submit(_entry("a"))
        assert log.flush(10)
        log.submit(_entry("b"))
        time.sleep(0.3)  # the writer would have written "b" at once before: now it waits out 30 s
        assert [[row.key for row in rows] for rows in sink.writes] == [["a"]] and log.queued == 1
        assert log.flush(10)
        assert [[row.key for row in rows] for rows in sink.writes] == [["a"], ["b"]]
    finally:
        log.close()


class _Keys:
    """A part made by _PreparingSink: the keys of the rows it holds."""

    def __init__(self, keys: list[str]):
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    def halves(self) -> tuple:
        middle = len(self.keys) // 2
        return _Keys(self.keys[:middle]), _Keys(self.keys[middle:])


class _PreparingSink(_RecordingSink):
    """Makes entries into parts of their keys between writes; refuses every write that holds a key "bad…"."""

    def __init__(self):
        super().__init__()
        self.prepared: list[list[str]] = []

    def prepare(self, entries) -> list:
        keys = [row.key for entry in entries for row in entry.rows()]
        self.prepared.append(keys)
        return [_Keys(keys)]

    def write(self, entries) -> None:
        keys = [key for part in entries for key in (part.keys if isinstance(part, _Keys) else
                                                    [row.key for row in part.rows()])]
        if any(key.startswith("bad") for key in keys):
            raise RowsRefused("a row no retry can store")
        self.writes.append(keys)


def test_between_writes_the_writer_makes_queued_entries_into_the_sinks_parts_and_refused_rows_are_found_in_them():
    sink = _PreparingSink()
    log = PredictionLog(sink, flush_interval_s=30.0, prepare_every_s=0.02)
    try:
        log.submit(_entry("a"))
        log._wake.set()  # the idle writer takes it now, not in 30 s; then it waits out its interval
        deadline = time.monotonic() + 10
        while not sink.writes and time.monotonic() < deadline:
            time.sleep(0.01)
        for key in ("b", "c", "bad", "d", "e"):
            log.submit(_entry(key))
        deadline = time.monotonic() + 10
        while sum(map(len, sink.prepared)) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer prepares every few hundredths of a second, and writes after 30 s
        assert sorted(key for keys in sink.prepared for key in keys) == ["b", "bad", "c", "d", "e"]
        assert sink.writes == [["a"]] and log.queued == 5 and not log._queue  # prepared, still counted, not written
        assert log.flush(10)
    finally:
        log.close()
    assert sorted(key for keys in sink.writes[1:] for key in keys) == ["b", "c", "d", "e"]
    assert (log.written, log.refused, log.dropped) == (5, 1, 1)


def test_the_writer_prepares_no_more_than_its_next_write_takes_and_needs_a_positive_turn(monkeypatch):
    started = threading.Event()
    run = PredictionLog._run
    monkeypatch.setattr(PredictionLog, "_run", lambda self: started.wait(30) and run(self))  # the test's turn first
    sink = _PreparingSink()
    log = PredictionLog(sink, batch_rows=3, flush_interval_s=30.0, prepare_every_s=0.02)
    try:
        with log._lock:  # queued as submit() queues
            log._queue.extend(_entry(key) for key in "abcde")
            log._queued_rows += 5
        log._prepare_queued()
        assert sink.prepared == [["a", "b", "c"]] and log._prepared_rows == 3 and len(log._queue) == 2
    finally:
        started.set()  # the writer now writes the prepared part, then the two entries left
        log.close()
    assert (log.written, log.dropped) == (5, 0)
    with pytest.raises(ConfigError, match="prepare_every_s: expected a number of seconds above 0"):
        PredictionLog(sink, prepare_every_s=0)


def test_request_ids_are_unique_and_shaped_like_a_uuid4_hex():
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_forked_process_takes_request_ids_of_its_own():
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out without running the parent's clean-up
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = new_request_id()
    assert len(child) == 32 and child[:16] != parent[:16]
