"""A scored micro-batch as the prediction log's entry: its rows are made on the log's writer thread, not the scorer's loop.

The scorer hands over what it has anyway: the consumed messages' values, keys,
partitions and offsets (:class:`BatchEvents`) and the encoded predictions. The
log key is the event's ``--log-key`` field (taken out before validation by the
predictor, read back here from the event) or, without ``--log-key``, the
event's Kafka key; an event without one is keyed
``topic/partition/offset`` and counted. The event's JSON is the inputs, and the
prediction message is read back into value, label and probabilities.
Dead-lettered events are not predictions and are not logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import chain, repeat
from typing import NamedTuple

try:  # the kafka extra brings orjson: several times faster, and this runs beside the scorer's loop
    from orjson import loads as _loads
except ImportError:  # the json module reads the same messages
    _loads = json.loads

from mldeploy.bundle.ref import BundleRef
from mldeploy.serving.prediction_log import LogRow, log_row
from mldeploy.stream.scoring import Scored

__all__ = ["BatchEvents", "ScoredEntry"]


def _predictions(messages: list[bytes]) -> list[dict]:
    """Read a batch's prediction messages back, in one parse when it can (a JSON array of them)."""
    try:
        return _loads(b"[" + b",".join(messages) + b"]")
    except ValueError:  # {"prediction":NaN}: json reads what orjson refuses; one by one, as the array may be what failed
        return [_prediction(message) for message in messages]


def _prediction(message: bytes) -> dict:
    try:
        return _loads(message)
    except ValueError:
        return json.loads(message)


class BatchEvents(NamedTuple):
    """What the log keeps of a micro-batch's Kafka messages, position by position: values, keys, partitions, offsets.

    Lists of bytes and numbers, not the messages: while the log is behind, its queue holds up to a
    hundred thousand events, and each message is an object the garbage collector counts and walks
    while it waits. Holding the messages, a scorer logging to PostgreSQL made 1-2 young collections
    of 8-36 ms a run of 200,000 events (counted from its first event); holding these lists, none.
    """

    values: list[bytes]
    keys: list[bytes | None]
    partitions: list[int]
    offsets: list[int]

    @classmethod
    def of(cls, messages: list) -> BatchEvents:
        """Take what the log needs from ``messages`` (all of one topic)."""
        return cls([message.value() or b"" for message in messages], [message.key() for message in messages],
                   [message.partition() for message in messages], [message.offset() for message in messages])


class ScoredEntry:
    """One written micro-batch of the streaming scorer, for :meth:`PredictionLog.submit`."""

    __slots__ = ("events", "scored", "endpoint", "at", "with_inputs", "log_key", "count_unkeyed")

    def __init__(self, events: BatchEvents, scored: Scored, endpoint: str, at: float, with_inputs: bool,
                 log_key: str | None = None, count_unkeyed: Callable[[int], None] = lambda rows: None):
        self.events = events
        """The batch's events; ``endpoint`` is their topic."""
        self.scored = scored
        self.endpoint = endpoint
        self.at = at
        self.with_inputs = with_inputs
        self.log_key = log_key
        self.count_unkeyed = count_unkeyed

    def __len__(self) -> int:
        return len(self.scored.predictions)

    def rows(self) -> list[LogRow]:
        """One row per predicted event, as :meth:`mldeploy.serving.prediction_log.LogEntry.rows` makes them."""
        return list(map(log_row, zip(*self.columns())))

    @classmethod
    def columns_of(cls, entries: list[ScoredEntry]) -> tuple[list, ...]:
        """The columns of several batches' rows, one after the other, keys and inputs as the events' own bytes
        (see :meth:`columns`): the form a sink that writes columns (PostgreSQL's COPY) reads, with no decoding."""
        parts = [entry.columns(raw=True) for entry in entries]
        return parts[0] if len(parts) == 1 else tuple(list(chain.from_iterable(column)) for column in zip(*parts))

    def columns(self, raw: bool = False) -> tuple[list, ...]:
        """The rows of :meth:`rows` as 13 columns; with ``raw``, the keys and inputs that came as bytes stay bytes.

        Made column by column: this runs on the log's thread, which shares the interpreter with the
        scorer's loop, so every microsecond here is one the scorer waits.
        """
        predictions, models = self.scored.predictions, self.scored.models
        if not predictions:
            return tuple([] for _ in LogRow._fields)
        count = len(predictions)
        batch = self.events
        if count < len(batch.values):  # some events were dead-lettered: only the predicted ones are logged
            batch = BatchEvents(*([column[position] for position in predictions] for column in batch))
        outputs = _predictions(list(predictions.values()))
        values = batch.values
        events = values if raw else [value.decode("utf-8", "replace") for value in values]
        topic = self.endpoint
        wheres = [f"{topic}/{partition}/{offset}" for partition, offset in zip(batch.partitions, batch.offsets)]
        keys = self._keys(batch.keys, values, raw)
        unkeyed = keys.count(None)
        if unkeyed:
            keys = [where if key is None else key for key, where in zip(keys, wheres)]
            self.count_unkeyed(unkeyed)
        refs = {text: BundleRef.parse(text) for text in set(models.values())}
        if len(refs) == 1:  # the usual batch: one version made every prediction
            [ref] = refs.values()
            names, versions = [ref.name] * count, [ref.version] * count
        else:
            made_by = [refs[models[position]] for position in predictions]
            names, versions = [ref.name for ref in made_by], [ref.version for ref in made_by]
        numbers, labels, probabilities = _outputs(outputs)
        nothing = [None] * count
        return (names, keys, versions, wheres, ["stream"] * count, [self.endpoint] * count, ["served"] * count,
                [self.at] * count, numbers, labels, probabilities, events if self.with_inputs else nothing, nothing)

    def _keys(self, keys: list[bytes | None], values: list[bytes], raw: bool) -> list:
        if self.log_key is None:
            if raw:
                return [key or None for key in keys] if b"" in keys else keys  # an empty key is none
            return [key.decode("utf-8", "replace") if key else None for key in keys]
        return [self._key(value) for value in values]

    def _key(self, event: bytes) -> str | None:
        try:
            parsed = _loads(event)
        except ValueError:  # bytes orjson refuses as UTF-8 that the scorer still read (a lone surrogate): as text
            try:
                parsed = _loads(event.decode("utf-8", "replace"))
            except ValueError:
                return None
        value = parsed.get(self.log_key) if isinstance(parsed, dict) else None
        return None if value is None else str(value)


def _outputs(outputs: list[dict]) -> tuple[list, list, list]:
    """Each prediction message's number, label and probabilities (as JSON text), column by column."""
    numbers = [output.get("prediction") for output in outputs]
    if str not in set(map(type, numbers)) and not any(map(dict.__contains__, outputs, repeat("label"))):
        nothing = [None] * len(outputs)  # a regressor's batch
        return numbers, nothing, nothing
    labels = [output.get("label") for output in outputs]
    for i, number in enumerate(numbers):
        if isinstance(number, str):  # a classifier without probabilities: {"prediction": "no"}
            numbers[i], labels[i] = None, number
    probabilities = [None if proba is None else json.dumps(proba)
                     for proba in (output.get("probabilities") for output in outputs)]
    return numbers, labels, probabilities
