"""Rows become JSON events: times as ISO text, decimals as numbers, empty cells as null, anything else refused."""

import datetime
import json
from decimal import Decimal

import pandas as pd
import pytest

from mldeploy.errors import ConfigError
from mldeploy.stream.events import event_records


def test_rows_become_keyed_json_events_with_plain_values():
    frame = pd.DataFrame({"id": [7, 8], "pay": [1.5, None], "hired": pd.to_datetime(["2024-01-01 00:00", "2024-02-01 12:30"]),
                          "bonus": [Decimal("1.25"), Decimal("2")], "day": [datetime.date(2024, 3, 1), None]})
    records = event_records(frame, key="id")
    assert [r.key for r in records] == [b"7", b"8"]
    assert [json.loads(r.value) for r in records] == [
        {"pay": 1.5, "hired": "2024-01-01T00:00:00", "bonus": 1.25, "day": "2024-03-01"},
        {"pay": None, "hired": "2024-02-01T12:30:00", "bonus": 2.0, "day": None},
    ]


def test_a_value_json_cannot_carry_is_refused_naming_its_column():
    with pytest.raises(ConfigError, match='column "blob" holds a bytes .* convert the column to text or numbers'):
        event_records(pd.DataFrame({"blob": [b"\x00\x01"]}))
