"""A scored micro-batch as the prediction log's entry: its rows are made on the log's writer thread, not the scorer's loop.

The scorer hands over what it has anyway (the consumed messages and the
encoded predictions). The log key is the event's ``--log-key`` field (taken
out before validation by the predictor, read back here from the message) or,
without ``--log-key``, the event's Kafka key; an event without one is keyed
``topic/partition/offset`` and counted. The event's JSON is the inputs, and the
prediction message is read back into value, label and probabilities.
Dead-lettered events are not predictions and are not logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import chain, repeat

try:  # the kafka extra brings orjson: several times faster, and this runs beside the scorer's loop
    from orjson import loads as _loads
except ImportError:  # the json module reads the same messages
    _loads = json.loads

from mldeploy.bundle.ref import BundleRef
from mldeploy.serving.prediction_log import LogRow, log_row
from mldeploy.stream.scoring import Scored

__all__ = ["ScoredEntry"]


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


class ScoredEntry:
    """One written micro-batch of the streaming scorer, for :meth:`PredictionLog.submit`."""

    __slots__ = ("messages", "scored", "endpoint", "at", "with_inputs", "log_key", "count_unkeyed")

    def __init__(self, messages: list, scored: Scored, endpoint: str, at: float, with_inputs: bool,
                 log_key: str | None = None, count_unkeyed: Callable[[int], None] = lambda rows: None):
        self.messages = messages
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
        messages = [self.messages[position] for position in predictions]
        outputs = _predictions(list(predictions.values()))
        values = [message.value() or b"" for message in messages]
        events = values if raw else [value.decode("utf-8", "replace") for value in values]
        wheres = [f"{message.topic()}/{message.partition()}/{message.offset()}" for message in messages]
        keys = self._keys(messages, values, raw)
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

    def _keys(self, messages: list, values: list[bytes], raw: bool) -> list:
        if self.log_key is None:
            keys = [message.key() or None for message in messages]  # an empty key is none
            return keys if raw else [key.decode("utf-8", "replace") if key else None for key in keys]
        return [self._key(value) for value in values]

    def _key(self, event: bytes) -> str | None:
        try:
            value = _loads(event).get(self.log_key)
        except (ValueError, AttributeError):
            return None
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
