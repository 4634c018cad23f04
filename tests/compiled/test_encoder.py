"""RowEncoder: one row and a batch of columns give the same base values, and refuse at the same base."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from mldeploy.compiled.encoder import RowEncoder
from mldeploy.compiled.features import MissingBase, NumBase, OneHotBase
from mldeploy.errors import SchemaError

CITIES = ("Oslo", "Rome", "Lima")
TIERS = ("low", "high")


def _city(category: int) -> OneHotBase:
    return OneHotBase("city", None, CITIES, True, category)


def _tier(category: int) -> OneHotBase:
    return OneHotBase("tier", "low", TIERS, False, category)


# A column's indicators interleaved with other bases, one of them twice: a row looks each column up once.
BASES = [_city(0), NumBase("hours", 1.5, 0.0), _tier(1), _city(2), MissingBase("hours", True), _city(0), _tier(0)]


def _columns(rows: list[dict]) -> dict:
    return {"city": np.array([row["city"] for row in rows], dtype=object),
            "tier": np.array([row["tier"] for row in rows], dtype=object),
            "hours": np.array([row["hours"] for row in rows], dtype=np.float64)}


@pytest.mark.parametrize("row, expected", [
    ({"city": "Oslo", "tier": "high", "hours": 3.0}, [1.0, 3.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
    ({"city": "Lima", "tier": float("nan"), "hours": None}, [0.0, 1.5, 0.0, 1.0, 1.0, 0.0, 1.0]),  # tier filled as "low"
    ({"city": "Rome", "tier": "mid", "hours": -2.0}, [0.0, math.nan, 0.0, 0.0, 0.0, 0.0, 0.0]),  # unseen tier: no indicator
])
def test_a_row_gives_each_base_its_value(row, expected):
    encoder = RowEncoder(BASES)
    assert np.array_equal(encoder.encode_row(row), expected, equal_nan=True)
    assert np.array_equal(encoder.encode_columns(_columns([row]), 1)[0], expected, equal_nan=True)


def test_rows_and_columns_agree_on_random_rows():
    generate = random.Random(5)
    encoder = RowEncoder(BASES)
    rows = [{"city": generate.choice(CITIES), "tier": generate.choice([*TIERS, "mid", float("nan"), None]),
             "hours": generate.choice([None, float("nan"), -1.0, 0.0, 2.5, 1e9])} for _ in range(300)]
    by_row = np.array([encoder.encode_row(row) for row in rows])
    assert np.array_equal(encoder.encode_columns(_columns(rows), len(rows)), by_row, equal_nan=True)


@pytest.mark.parametrize("bases, field", [
    (BASES, "city"),  # the city's first indicator comes before the hours
    ([NumBase("hours", 1.5, 0.0), *BASES], "hours"),
])
def test_a_row_is_refused_at_the_first_base_that_refuses_it(bases, field):
    with pytest.raises(SchemaError) as refused:
        RowEncoder(bases).encode_row({"city": "Paris", "tier": "low", "hours": math.inf})
    assert [issue.field for issue in refused.value.issues] == [field]
