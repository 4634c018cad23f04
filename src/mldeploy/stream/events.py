"""Send rows of a table as events: one JSON object per row, keyed by a column, to an events topic.

What ``mldeploy send`` does, so that a scorer has something to score. Example::

    sent = send_events(frame, "kafka://127.0.0.1:9092/salary-requests", key="employee_id")
"""

from __future__ import annotations

import datetime
import json
import math
from decimal import Decimal

import pandas as pd

from mldeploy.errors import ConfigError, shorten
from mldeploy.stream.codec import Record
from mldeploy.stream.schemes import open_transport
from mldeploy.stream.transport import TopicKind, parse_url

__all__ = ["event_records", "send_events"]

_CHUNK_ROWS = 10_000
"""Rows encoded, produced and acknowledged at a time: the encoded events in memory and the producer's queue stay bounded
(the table itself is already in memory)."""


def event_records(frame: pd.DataFrame, key: str | None = None) -> list[Record]:
    """One record per row: the row's fields as a JSON object (empty cells as null), keyed by ``key``'s value.

    The key column is left out of the object (a model does not know it); without ``key`` each record's
    key is its row number.
    """
    if key is not None and key not in frame.columns:
        raise ConfigError(f'--key {key!r} is not a column of the table (its columns: {", ".join(map(str, frame.columns))})')
    keys = frame[key].astype(str).tolist() if key is not None else [str(i) for i in frame.index]
    rows = (frame.drop(columns=key) if key is not None else frame).to_dict("records")
    return [Record(k.encode(), json.dumps({f: _plain(v, f) for f, v in row.items()}).encode()) for k, row in zip(keys, rows)]


def send_events(frame: pd.DataFrame, url: str, key: str | None = None) -> int:
    """Append every row of ``frame`` to the events topic at ``url`` (created if missing); return how many were sent."""
    location = parse_url(url)
    transport = open_transport(location)
    try:
        transport.ensure_topic(location.topic, TopicKind.EVENTS)
        for start in range(0, len(frame), _CHUNK_ROWS):
            transport.append(location.topic, event_records(frame.iloc[start:start + _CHUNK_ROWS], key))
    finally:
        transport.close()
    return len(frame)


def _plain(value, column: str):
    """A JSON value: NaN and pandas' missing markers become null, numpy scalars plain numbers, times ISO text."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ConfigError(f'column "{shorten(column)}" holds a {type(value).__name__} ({shorten(value)}), which an event '
                      "cannot carry as JSON; convert the column to text or numbers first")
