"""The prediction log's topic sink: each served prediction one JSON message on a Kafka topic (or a local log).

Opened by the core through the ``mldeploy.prediction_logs`` entry points
(``kafka://HOST:PORT/TOPIC``, ``local:///FOLDER/TOPIC``), so the API server logs
to a topic without importing the stream adapter. Messages are keyed by the
log key (a person's predictions stay in order on one partition); the value is
the row as :meth:`LogEntry.rows` gives it (inputs and probabilities as JSON
text, ``predicted_at`` in Unix seconds). A batch is one produce flush,
acknowledged by the broker before the next one starts.
"""

from __future__ import annotations

import json
import math

from mldeploy._extras import optional
from mldeploy.serving.prediction_log import LogRow, Loggable, RowsRefused
from mldeploy.stream.codec import Record
from mldeploy.stream.schemes import open_transport
from mldeploy.stream.transport import RecordTooLarge, TopicKind, parse_url

__all__ = ["TopicLogSink", "open_topic_log"]


class TopicLogSink:
    """Append logged predictions to a topic, one message a row."""

    def __init__(self, url: str):
        self.location = parse_url(url)
        self._transport = open_transport(self.location)
        self._transport.ensure_topic(self.location.topic, TopicKind.EVENTS)

    def describe(self) -> str:
        """Name the topic and where it lives."""
        return f"topic {self.location.topic} on {self._transport.describe()}"

    def write(self, entries: list[Loggable]) -> None:
        """Produce every row of ``entries``; return once the broker has them all."""
        try:
            rows = [row for entry in entries for row in entry.rows()]
            records = list(map(Record, [str(row.key).encode("utf-8", "replace") for row in rows], _rows_json(rows)))
        except (ValueError, TypeError, KeyError) as exc:  # an entry whose rows cannot be made never will be
            raise RowsRefused(f"{type(exc).__name__}: {exc}") from exc
        if records:
            try:
                self._transport.append(self.location.topic, records)
            except RecordTooLarge as exc:  # a row no retry fits into a message: the log finds and drops it
                raise RowsRefused(str(exc)) from exc

    def close(self) -> None:
        """Close the producer."""
        self._transport.close()


def _rows_json(rows: list[LogRow]) -> list[bytes]:
    """Each row as a JSON object in column order: orjson's dumps (a third of the stdlib's cost a row, on the
    writer thread that shares the interpreter with the scorer or the server), else the stdlib's.

    The stdlib's also takes a batch with what orjson refuses, a lone surrogate from a request's JSON (it
    escapes it); a NaN or infinite number is ``null`` from either (the stdlib's own would be ``NaN`` or
    ``Infinity``, which are not JSON).
    """
    fast = optional("orjson")
    if fast is not None:
        try:
            dicts = [row._asdict() for row in rows]
            return _split_objects(fast.dumps(dicts), len(dicts)) or [fast.dumps(fields) for fields in dicts]
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate somewhere in the batch
            pass
    return [json.dumps({name: None if type(value) is float and not math.isfinite(value) else value
                        for name, value in row._asdict().items()}, separators=(",", ":")).encode() for row in rows]


def _split_objects(dumped: bytes, count: int) -> list[bytes] | None:
    """The ``count`` objects of a compact JSON array, each its own text; None if a text value holds ``},{``.

    One dump of the batch and a split cost about half of a dump a row (orjson allocates one buffer, not
    one a row). Each boundary between two objects is one ``},{``; any more of them are inside text,
    and then no split is safe.
    """
    if not count or dumped.count(b"},{") != count - 1:
        return None
    return [b"{" + part + b"}" for part in dumped[2:-2].split(b"},{")]


def open_topic_log(url: str) -> TopicLogSink:
    """Entry point of the ``kafka`` and ``local`` prediction logs."""
    return TopicLogSink(url)
