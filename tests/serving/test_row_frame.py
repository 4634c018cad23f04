import math

import pandas as pd
import pytest

from mldeploy.validation.fast_row import make_row_cleaner
from mldeploy.validation.checks import validate
from mldeploy.serving import _row_frame
from mldeploy.serving._row_frame import RowFrameBuilder

from mldeploy.bundle.schema import Field, Output, Schema

SCHEMA = Schema(
    (
        Field("years", "number", minimum=0.0, maximum=60.0, dtype="float64"),
        Field("count", "integer", minimum=0.0, maximum=20.0, dtype="int64"),
        Field("city", "category", categories=("austin", "boston"), text_null="none"),
        Field("remote", "boolean", nullable=False, dtype="bool"),
    ),
    Output("regression"),
)
GOOD = {"years": 4.5, "count": 3, "city": "austin", "remote": False}

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("row", [GOOD, GOOD | {"count": None, "city": None}, GOOD | {"count": "7", "remote": "yes"}])
def test_one_row_frame_equals_the_bulk_validators_frame(row):
    built = RowFrameBuilder(SCHEMA).frame(make_row_cleaner(SCHEMA)(row))
    pd.testing.assert_frame_equal(built, validate(SCHEMA, [row]))


def test_public_constructor_gives_the_same_frame(monkeypatch):
    monkeypatch.setattr(_row_frame, "_arrays_to_mgr", None)
    built = RowFrameBuilder(SCHEMA).frame(make_row_cleaner(SCHEMA)(GOOD | {"count": None}))
    assert math.isnan(built["count"].iloc[0])
    pd.testing.assert_frame_equal(built, validate(SCHEMA, [GOOD | {"count": None}]))


@pytest.mark.parametrize("value", [2**63 - 1, 2.0**63, -(2.0**63), 2**63 - 1024])
def test_a_whole_number_at_int64s_edge_gives_the_bulk_validators_frame(value):
    # A schema made from an int64 column is bounded by float(2**63): 2**63 - 1 reads as 2.0**63, past int64.
    schema = Schema((Field("n", "integer", minimum=-(2.0**63), maximum=2.0**63, dtype="int64"),), Output("regression"))
    built = RowFrameBuilder(schema).frame(make_row_cleaner(schema)({"n": value}))
    pd.testing.assert_frame_equal(built, validate(schema, [{"n": value}]))
