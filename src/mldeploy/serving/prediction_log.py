"""The prediction log: every served prediction recorded off the request path, for truth that arrives later.

An adapter hands :meth:`PredictionLog.submit` one :class:`LogEntry` per answered
request (its rows' keys, inputs and the Prediction): one append under a lock,
nothing per row, never a wait. A writer thread drains the queue in batches into
a :class:`PredictionSink` (a database table, a Kafka topic). The queue is bounded
in rows: when the sink falls behind or goes away, what does not fit is dropped and
counted (``dropped``, and a warning at most every few seconds), never silently.
A batch the sink failed on is kept and retried until it is written, so a database
that goes away and comes back loses only what the queue could not hold; rows the
sink refuses for good (:class:`RowsRefused`) are dropped and counted, not retried.

Sinks are opened by URL scheme through the ``mldeploy.prediction_logs`` entry
point group (as model sources are, :mod:`mldeploy.serving.model_source`): the
entry's name is a scheme, its value a callable ``open(url) -> PredictionSink``.
mldeploy declares ``sqlite`` and ``postgresql`` (the prediction database's
tables) and ``kafka`` (a topic, in the stream adapter), so the core never
imports a database driver or a broker client.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit

from mldeploy.errors import ConfigError
from mldeploy.serving.result import Prediction

__all__ = [
    "LOG_GROUP", "LogEntry", "LogRow", "Loggable", "PredictionLog", "PredictionSink", "RowsRefused", "check_log_url",
    "log_row", "log_schemes", "new_request_id", "open_prediction_log", "split_keys",
]

LOG_GROUP = "mldeploy.prediction_logs"
log = logging.getLogger("mldeploy.prediction_log")

_WARN_EVERY_S = 5.0
_RETRY_FIRST_S = 0.1
_RETRY_MAX_S = 2.0


class LogRow(NamedTuple):
    """One logged prediction, in the column order of the prediction database's ``served_predictions``.

    A tuple, not a dict: the writer makes one per served row, and a dict costs twice as much.
    """

    model_name: str
    key: str
    model_version: int
    request_id: str
    source: str
    """Which architecture answered: ``api``, ``stream``."""
    endpoint: str
    role: str
    predicted_at: float
    """Unix time of the answer."""
    value: float | None
    """A regressor's prediction (None from a classifier)."""
    label: str | None
    """A classifier's label (None from a regressor)."""
    probabilities: str | None
    """A classifier's probabilities as a JSON object ``{"class": p}``."""
    inputs: str | None
    """The row as the model saw it, as JSON text; None with ``--log-inputs none``."""
    latency_s: float | None


log_row = functools.partial(tuple.__new__, LogRow)
"""``log_row(values)``: a LogRow from its 13 values in a tuple, made in C (``LogRow(*values)`` runs a
Python-level ``__new__`` a row, twice the cost); ``map(log_row, zip(*columns))`` makes a batch's rows."""


@dataclass(slots=True)
class LogEntry:
    """One answered request: what the model saw and said, and where; not changed once submitted.

    Not a frozen dataclass: one is made per request, and freezing doubles what that costs.

    ``keys`` holds one key per row (the ``--log-key`` field's value, or the
    request id with the row's position when a row had none); ``inputs`` the rows
    as the model saw them (None with ``--log-inputs none``).
    """

    prediction: Prediction
    keys: list[str]
    inputs: list[dict] | Mapping[str, Sequence] | None
    """The rows as records, or as columns (a V2 request's tensors: turned into records on the writer thread)."""
    source: str
    """Which architecture answered: ``api``, ``stream``."""
    endpoint: str
    """Which endpoint or topic: ``rest.predict``, ``rest.infer``, ``grpc.infer``, ``stream``."""
    request_id: str
    role: str = "served"
    """``served``: the answer sent; ``shadow``: a challenger's answer to the same rows, not sent."""
    at: float = 0.0
    """Unix time of the answer."""
    latency_s: float | None = None
    """Seconds the model took to answer the request (micro-batch wait included)."""

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def columns_of(cls, entries: Sequence[LogEntry]) -> tuple[list, ...] | None:
        """The 13 columns (in :class:`LogRow` order) of ``entries`` when each holds one row of a regressor, the
        API's usual entry; None otherwise (the sink then takes their rows).

        Made a column at a time, with no tuple per row: a sink that writes columns (PostgreSQL's COPY text)
        spends half what :meth:`rows` and a transposition cost an entry on the writer thread, which shares
        the interpreter with the serving loop.
        """
        if not all(len(entry.keys) == 1 and len(entry.prediction) == 1 and entry.prediction.classes is None
                   for entry in entries):
            return None
        row_json = _codecs().row_json
        predictions = [entry.prediction for entry in entries]
        try:
            inputs = [None if entry.inputs is None else row_json(_first_record(entry.inputs)) for entry in entries]
        except IndexError:  # inputs without a row: the rows the entry makes say what it holds
            return None
        nothing = [None] * len(entries)
        return ([prediction.ref.name for prediction in predictions], [entry.keys[0] for entry in entries],
                [prediction.ref.version for prediction in predictions], [entry.request_id for entry in entries],
                [entry.source for entry in entries], [entry.endpoint for entry in entries],
                [entry.role for entry in entries], [entry.at for entry in entries],
                [float(prediction.values[0]) for prediction in predictions], nothing, nothing, inputs,
                [entry.latency_s for entry in entries])

    def rows(self) -> list[LogRow]:
        """Return one row per prediction, the shape every sink stores (inputs and probabilities as JSON text)."""
        codecs = _codecs()
        pred = self.prediction
        values = pred.values.tolist()
        inputs = list(map(codecs.row_json, _records(self.inputs))) if self.inputs is not None else [None] * len(values)
        name, version, request_id, at, latency = pred.ref.name, pred.ref.version, self.request_id, self.at, self.latency_s
        source, endpoint, role = self.source, self.endpoint, self.role
        if pred.classes is None:  # a regressor: value, no label nor probabilities
            return [log_row((name, key, version, request_id, source, endpoint, role, at, float(value), None, None,
                             row, latency))
                    for key, value, row in zip(self.keys, values, inputs)]
        probabilities = codecs.probabilities_json(pred) or [None] * len(values)
        return [log_row((name, key, version, request_id, source, endpoint, role, at, None, str(label), proba,
                         row, latency))
                for key, label, proba, row in zip(self.keys, values, probabilities, inputs)]


class Loggable(Protocol):
    """What the log queues: a :class:`LogEntry`, or an adapter's own entry that makes the same rows (off the hot path).

    An entry's class may also have ``columns_of(entries)``: the rows of a list of its entries as the 13 columns
    of :class:`LogRow` (or None to fall back on their rows), for a sink that writes columns (PostgreSQL's
    COPY), which then makes no tuple per row.
    """

    def __len__(self) -> int:
        """Rows in the entry (what counts against the queue's bound)."""

    def rows(self) -> list[LogRow]:
        """The rows as :meth:`LogEntry.rows` gives them; called on the writer thread."""


@runtime_checkable
class PredictionSink(Protocol):
    """Where the log's batches go; called from the writer thread only."""

    def describe(self) -> str:
        """Name the target for logs and errors, without any password."""

    def write(self, entries: list[Loggable]) -> None:
        """Store every row of ``entries`` at once (one transaction, one produce flush); raise when it cannot.

        Each entry's ``rows()`` are :class:`LogRow` tuples. Raise :class:`RowsRefused` for rows no
        retry can store, anything else for a failure worth retrying.

        A sink may also have ``prepare(entries) -> list``: the entries made into parts of its own form
        (text to send, say), each with a length in rows and, to isolate rows it refuses, ``halves()``.
        The log then prepares what is queued soon after it comes, between writes, and hands
        ``write`` those parts (and any entry ``prepare`` failed on) in place of the entries.
        """

    def close(self) -> None:
        """Release connections."""


class RowsRefused(Exception):
    """Raised by a sink for rows it can never store (a field too long, a value of the wrong type).

    The log does not retry them: it writes the rest of the batch, then drops and counts the
    entries refused. Any other exception means "not now" (the database is down) and is retried.
    """


class _Closing(Exception):
    """The log closed while a write kept failing: what is left is dropped."""


class PredictionLog:
    """A bounded queue of log entries and the thread that writes them to a sink in batches.

    ``max_queued_rows`` bounds what waits (the batch being written included);
    ``batch_rows`` is the most rows one write takes. The writer writes at most
    once every ``flush_interval_s``, sooner only once ``batch_rows`` wait: a
    write's fixed cost (a transaction, a produce flush) is paid a few times a
    second, not per request. With ``prepare_every_s``, a sink that can
    (``prepare``) makes what is queued into its own form that often between
    writes (see :meth:`_prepare_queued`).
    """

    def __init__(self, sink: PredictionSink, *, max_queued_rows: int = 100_000, batch_rows: int = 2_000,
                 flush_interval_s: float = 0.1, prepare_every_s: float | None = None):
        if max_queued_rows < 1 or batch_rows < 1:
            raise ConfigError(f"the prediction log needs room for a row; got max_queued_rows={max_queued_rows}, "
                              f"batch_rows={batch_rows}")
        if prepare_every_s is not None and not prepare_every_s > 0:
            raise ConfigError(f"prepare_every_s: expected a number of seconds above 0, or None; got {prepare_every_s}")
        self.sink = sink
        self.max_queued_rows = max_queued_rows
        self.batch_rows = batch_rows
        self._flush_interval_s = flush_interval_s
        self._queue: deque[Loggable] = deque()
        self._prepare = getattr(sink, "prepare", None) if prepare_every_s else None
        self._prepare_every_s = prepare_every_s
        self._prepared: list = []   # what the writer took from the queue and made into the sink's form, unwritten
        self._prepared_rows = 0
        self._queued_rows = 0        # rows waiting or being written (the prepared ones too)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._flushing = 0  # callers of flush() now
        self.written = 0
        self.dropped = 0
        self.unkeyed = 0
        self.failures = 0
        self.refused = 0
        """Rows the sink refused for good (counted in ``dropped`` too)."""
        self._refused_warning = _EveryFewSeconds()
        self._dropped_warning = _EveryFewSeconds()
        self._warned_dropped = 0
        self._thread = threading.Thread(target=self._run, name="mldeploy-prediction-log", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Rows waiting to be written (or being written)."""
        return self._queued_rows

    def describe(self) -> str:
        """Say where the log writes."""
        return self.sink.describe()

    def submit(self, entry: Loggable) -> bool:
        """Queue one request's rows; False (and counted as dropped) when the queue has no room for them."""
        rows = len(entry)
        with self._lock:
            if self._closing or self._queued_rows + rows > self.max_queued_rows:
                self.dropped += rows
                dropped = True
            else:
                self._queue.append(entry)
                self._queued_rows += rows
                dropped = False
        if dropped:
            self._warn_dropped()
            return False
        if self._queued_rows >= self.batch_rows:
            self._wake.set()
        return True

    def count_unkeyed(self, rows: int) -> None:
        """Count rows that came without the log key (they are logged under their request id)."""
        with self._lock:
            self.unkeyed += rows

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything queued so far is written; False if ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._flushing += 1  # the writer stops waiting out its interval
        try:
            while self._queued_rows and time.monotonic() < deadline:
                self._wake.set()
                time.sleep(0.01)
        finally:
            with self._lock:
                self._flushing -= 1
        return self._queued_rows == 0

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (for up to ``timeout_s``), stop the thread, close the sink; the rest counts as dropped."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout_s)
        with self._lock:  # a batch the thread still writes is its own to count, written or dropped, never both
            left = sum(len(entry) for entry in self._queue)
            self._queue.clear()
            if not self._thread.is_alive():  # else the thread may still be writing them
                left += self._prepared_rows
                self._prepared, self._prepared_rows = [], 0
            self._queued_rows -= left
            self.dropped += left
        if left:
            log.warning("prediction log %s: %d row(s) not written at shutdown (%d dropped in all)",
                        self.describe(), left, self.dropped)
        if self._thread.is_alive():
            log.warning("prediction log %s: a write of %d row(s) was still under way at shutdown",
                        self.describe(), self._queued_rows)
            return  # the thread closes nothing under its own write; the process is ending anyway
        self.sink.close()

    def _take(self) -> list:
        prepared, rows = self._prepared, self._prepared_rows
        self._prepared, self._prepared_rows = [], 0
        return prepared + self._pop_queued(rows, at_least_one=not prepared)[0]

    def _pop_queued(self, in_hand: int, at_least_one: bool) -> tuple[list, int]:
        """Take the queued entries that fit one write beside ``in_hand`` rows already taken; return them and their rows.

        ``at_least_one``: an entry larger than a write is taken alone rather than never.
        """
        with self._lock:
            if self._queued_rows <= self.batch_rows:  # the usual case (nothing is being written): all of it
                entries, self._queue = list(self._queue), deque()
                return entries, self._queued_rows - in_hand
            entries, rows = [], 0
            while self._queue and ((at_least_one and not entries)
                                   or in_hand + rows + len(self._queue[0]) <= self.batch_rows):
                entry = self._queue.popleft()
                entries.append(entry)
                rows += len(entry)
            return entries, rows

    def _prepare_queued(self) -> None:
        """Make the queued entries into the sink's form now, while they are fresh, and let them go.

        Made at the write a quarter second later instead, the entries of thousands of requests stay alive
        in between and are cold by then: the API server logging to PostgreSQL spent 3 µs more a request
        on its loop and a sixth more on the writer (benchmarks/RESULTS.md). The streaming scorer, whose
        entries are whole batches, lost by it (its thread shares the interpreter with the writer's more
        frequent turns), so it is asked for, not the default. Entries the sink cannot make are kept as
        they are: the write refuses them one by one.
        """
        if self._prepare is None or not self._queue:
            return
        # no more than the next write takes: an entry that would pass batch_rows waits for it
        entries, rows = self._pop_queued(self._prepared_rows, at_least_one=False)
        if not entries:
            return
        try:
            self._prepared += self._prepare(entries)
        except Exception:  # noqa: BLE001  (written, and refused or not, with the batch)
            self._prepared += entries
        self._prepared_rows += rows

    def _run(self) -> None:
        while True:
            if not self._queue and not self._prepared:
                if self._closing:
                    return
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
                continue
            started = time.monotonic()
            if not self._write_batch(self._take()):
                return
            self._pause_until(started + self._flush_interval_s)

    def _pause_until(self, deadline: float) -> None:
        """Under steady traffic, wait out the interval after a write: its fixed cost is paid a few times a second."""
        while not (self._closing or self._flushing) and self._queued_rows < self.batch_rows:
            self._prepare_queued()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(min(left, self._prepare_every_s) if self._prepare is not None else left)
            self._wake.clear()

    def _write_batch(self, batch: list[Loggable]) -> bool:
        """Write ``batch``, splitting it down to the entries the sink refuses; False if the log closed first."""
        parts = [batch]
        while parts:
            part = parts.pop()
            rows = sum(len(entry) for entry in part)
            try:
                self._write_retrying(part, rows)
            except RowsRefused as refused:
                if len(part) > 1:  # halve until the refused entries stand alone; the others are written
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]
                    continue
                if len(part[0]) > 1 and hasattr(part[0], "halves"):  # a prepared part: down to its refused rows
                    parts += [[half] for half in reversed(part[0].halves())]
                    continue
                self._settle(rows, written=False)
                self._warn_refused(rows, refused)
                continue
            except _Closing:
                self._settle(rows + sum(len(entry) for rest in parts for entry in rest), written=False)
                return False
            self._settle(rows, written=True)
        return True

    def _write_retrying(self, part: list[Loggable], rows: int) -> None:
        """Write ``part``; a failure other than RowsRefused is kept (it counts against the bound) and retried."""
        retry_s = _RETRY_FIRST_S
        while True:
            try:
                self.sink.write(part)
                return
            except RowsRefused:
                raise
            except Exception as exc:
                self.failures += 1
                if self.failures == 1 or retry_s >= _RETRY_MAX_S:
                    log.warning("prediction log %s: cannot write %d row(s), retrying: %s",
                                self.describe(), rows, _first_line(exc))
                if self._closing:
                    raise _Closing from exc
                time.sleep(retry_s)
                retry_s = min(retry_s * 2, _RETRY_MAX_S)

    def _settle(self, rows: int, written: bool) -> None:
        with self._lock:
            self._queued_rows -= rows
            if written:
                self.written += rows
            else:
                self.dropped += rows

    def _warn_refused(self, rows: int, refused: RowsRefused) -> None:
        self.refused += rows
        if self._refused_warning.due():
            log.warning("prediction log %s refused %d row(s) it can never store, dropped (%d refused in all): %s",
                        self.describe(), rows, self.refused, _first_line(refused))

    def _warn_dropped(self) -> None:
        if self._dropped_warning.due():
            log.warning("prediction log %s is behind: %d row(s) dropped (%d since the last warning); "
                        "the queue holds at most %d rows: check that the target is up and keeping up, or raise "
                        "--log-queue-rows to ride out longer outages", self.describe(), self.dropped,
                        self.dropped - self._warned_dropped, self.max_queued_rows)
            self._warned_dropped = self.dropped


class _EveryFewSeconds:
    """Says when a warning that repeats under load is due again: at most once every few seconds."""

    def __init__(self):
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < _WARN_EVERY_S:
            return False
        self._last = now
        return True


class _RequestIds:
    """Ids unique across processes at a tenth of uuid4's cost: a random prefix per process, then a counter."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked worker must not repeat its parent's ids

    def _reset(self) -> None:
        self._prefix, self._counter = uuid.uuid4().hex[:16], itertools.count()

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"  # 32 hex digits, the shape of a uuid4's


new_request_id = _RequestIds().new


def split_keys(records: list[dict], field: str | None, request_id: str | None) -> tuple[list[str], str, int]:
    """Take ``field`` out of each record (in place); return the rows' keys, the request id and how many lacked it.

    A row without the field is keyed by the request id (``id#row`` for rows after the first).
    """
    request_id = request_id or new_request_id()
    keys, missing = [], 0
    for position, record in enumerate(records):
        value = record.pop(field, None) if field is not None and isinstance(record, dict) else None
        if value is None:
            missing += 1
            keys.append(request_id if position == 0 else f"{request_id}#{position}")
        else:
            keys.append(str(value))
    return keys, request_id, missing


def log_schemes() -> list[str]:
    """Return the URL schemes an installed package offers a prediction log for, sorted."""
    return sorted({entry.name for entry in entry_points(group=LOG_GROUP)})


def check_log_url(url: str) -> None:
    """Raise ConfigError naming the schemes on offer unless an installed package offers a log for ``url``."""
    _entry(url)


def open_prediction_log(url: str, **options) -> PredictionLog:
    """Open the sink for ``url`` (``postgresql://…``, ``sqlite:///…``, ``kafka://HOST:PORT/TOPIC``) and start its writer."""
    entry = _entry(url)
    sink = entry.load()(url)
    if not isinstance(sink, PredictionSink):
        raise ConfigError(f"the {entry.name}:// prediction log ({entry.value}) returned {type(sink).__name__}, "
                          "not a PredictionSink")
    return PredictionLog(sink, **options)


def _entry(url: str):
    scheme = urlsplit(url).scheme.split("+")[0] if isinstance(url, str) else ""
    found = [entry for entry in entry_points(group=LOG_GROUP) if entry.name == scheme]
    if not found:
        offered = ", ".join(f"{known}://" for known in log_schemes()) or "none (is mldeploy installed?)"
        raise ConfigError(f'--log-to "{_masked(url)}" names no prediction log mldeploy knows; schemes on offer: {offered}')
    return found[0]


def _masked(url) -> str:
    parts = urlsplit(str(url))
    if parts.password is None:
        return str(url)
    return str(url).replace(f":{parts.password}@", ":***@", 1)


@functools.cache
def _codecs():
    from mldeploy.serving import codecs  # pandas: imported by the first write, not by every `mldeploy` command

    return codecs


def _first_record(inputs) -> dict:
    return inputs[0] if isinstance(inputs, list) else _records(inputs)[0]


def _records(inputs) -> list[dict]:
    if isinstance(inputs, list):
        return inputs
    names = list(inputs)
    columns = [values.tolist() if hasattr(values, "tolist") else list(values) for values in inputs.values()]
    return [dict(zip(names, row)) for row in zip(*columns)]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
