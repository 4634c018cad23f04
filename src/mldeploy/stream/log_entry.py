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

try:  # the kafka extra brings orjson: several times faster, and this runs beside the scorer's loop
    from orjson import loads as _loads
except ImportError:  # the json module reads the same messages
    _loads = json.loads

from mldeploy.bundle.ref import BundleRef
from mldeploy.serving.prediction_log import LogRow
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
        rows, unkeyed = [], 0
        predictions, models = self.scored.predictions, self.scored.models
        refs = {text: BundleRef.parse(text) for text in set(models.values())}
        for position, output in zip(predictions, _predictions(list(predictions.values()))):
            message = self.messages[position]
            ref = refs[models[position]]
            event = (message.value() or b"").decode("utf-8", "replace")
            key = self._key(message, event)
            where = f"{message.topic()}/{message.partition()}/{message.offset()}"
            if key is None:
                key, unkeyed = where, unkeyed + 1
            probabilities = output.get("probabilities")
            number, label = output.get("prediction"), output.get("label")
            if isinstance(number, str):  # a classifier without probabilities: {"prediction": "no"}
                number, label = None, number
            rows.append(LogRow(
                ref.name, key, ref.version, where, "stream", self.endpoint, "served", self.at, number, label,
                json.dumps(probabilities) if probabilities is not None else None,
                event if self.with_inputs else None, None))
        if unkeyed:
            self.count_unkeyed(unkeyed)
        return rows

    def _key(self, message, event: str) -> str | None:
        if self.log_key is None:
            key = message.key()
            return key.decode("utf-8", "replace") if key else None
        try:
            value = _loads(event).get(self.log_key)
        except (ValueError, AttributeError):
            return None
        return None if value is None else str(value)
