import collections
import math
import sys
import types
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from _examples import examples
from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.validation.fast_row import BAD, clean_value, make_row_cleaner
from mldeploy.validation.checks import validate
from mldeploy.errors import SchemaError

from test_checks import GOOD, SCHEMA

pytestmark = pytest.mark.timeout(120)

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-100, 100), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["austin", "boston", "lisbon", "junior", "senior", "5", "2.5", "yes", "no", "ten", " 7 ", "",
                     "1_0", "0x10", "1e1", "-0", b"5", 10**400, np.True_, np.float64(3.5), np.int64(4), pd.NA,
                     Fraction(40), np.datetime64(4, "ns"), np.timedelta64(4, "ns"), "\u0664\u0660", "4\xa0", "\uff11"]),
)


@settings(max_examples=examples(300), deadline=None)
@given(field=st.sampled_from(list(GOOD)), value=VALUES)
def test_fast_path_agrees_with_the_bulk_validator(field, value):
    row = GOOD | {field: value}
    fast = make_row_cleaner(SCHEMA)(row)
    try:
        bulk = validate(SCHEMA, [row]).iloc[0].tolist()
    except SchemaError:
        assert fast is None, f"fast path accepted {row} which the bulk validator refuses"
        return
    if fast is not None:
        assert [_norm(v) for v in fast.values()] == [_norm(v) for v in bulk]


def test_fast_path_refuses_missing_and_extra_keys():
    clean = make_row_cleaner(SCHEMA)
    assert clean({k: v for k, v in GOOD.items() if k != "city"}) is None
    assert clean(GOOD | {"extra": 1}) is None
    assert list(clean(GOOD).items()) == list(zip(SCHEMA.names, [4.5, 3.0, "austin", "junior", False]))


# Every kind of field the quick tests treat apart, and names that need quoting in the written-out check.
WIDE = Schema(
    (
        Field("it's \"odd\"\n", "number", nullable=True, dtype="float64"),
        Field("class", "integer", nullable=False, minimum=-5.0, maximum=2.0**60, dtype="int64"),
        Field("city", "category", nullable=True, categories=("austin", "boston", ""), unseen="reject", nulls=("none",)),
        Field("level", "category", nullable=True, categories=("junior",), unseen="accept", text_null="none"),
        Field("note", "string", nullable=False),
        Field("remote", "boolean", nullable=True, dtype="bool"),
        Field("rate", "number", nullable=False, minimum=0.5, maximum=0.75, dtype="float64"),
    ),
    Output("regression"),
)
EDGES = [None, math.nan, math.inf, -math.inf, 0, 1, 1.0, 1.5, -5, -5.0, -5.5, 2**60, 2**60 + 1, 2.0**60, 2**1024, 0.5,
         0.75, 0.7500000000000001, 1e308, -1e308, True, False, np.bool_(True), np.float64(0.6), np.int64(2), "", " ",
         "2", "0.6", "yes", "austin", "Austin", "junior", "hello", b"austin", [1], {"a": 1}, 3 + 0j, Fraction(1, 2), pd.NA]
WIDE_VALUES = st.one_of(VALUES, st.floats(-10.0, 10.0), st.integers(-(2**70), 2**70), st.sampled_from(EDGES))


def _reference(schema: Schema, row: dict, missing: str):
    """The rule the written-out check must follow: each field's value through clean_value, in schema order."""
    if len(row) != len(schema.fields) or any(f.name not in row for f in schema.fields):
        return None
    clean = {f.name: clean_value(f, row[f.name], missing) for f in schema.fields}
    return None if any(value is BAD for value in clean.values()) else clean


WIDE_GOOD = dict(zip(WIDE.names, [1.5, 2, "austin", "junior", "hello", True, 0.6]))


@pytest.mark.parametrize("missing", ["as-given", "as-trained"])
def test_written_out_check_gives_clean_values_answer_at_every_edge(missing):
    clean = make_row_cleaner(WIDE, missing)
    for name in WIDE.names:
        for value in EDGES:
            row = WIDE_GOOD | {name: value}
            assert repr(clean(row)) == repr(_reference(WIDE, row, missing)), (name, value)


@settings(max_examples=examples(600), deadline=None)
@given(changes=st.dictionaries(st.sampled_from(WIDE.names), WIDE_VALUES, min_size=1, max_size=2),
       missing=st.sampled_from(["as-given", "as-trained"]))
def test_written_out_check_gives_clean_values_answer(changes, missing):
    row = WIDE_GOOD | changes
    expected, got = _reference(WIDE, row, missing), make_row_cleaner(WIDE, missing)(row)
    assert repr(got) == repr(expected)  # repr: NaN equals NaN, and 3 is not 3.0
    if got is not None:
        assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def _norm(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, int, float)) and not isinstance(value, str):
        return float(value)
    return value


def test_a_mapping_that_fills_in_missing_keys_is_refused_a_missing_field_and_left_as_it_was():
    schema = Schema((Field("a", "number"), Field("b", "number", nullable=False)), Output("regression"))
    row = collections.defaultdict(float, {"a": 1.0, "typo": 2.0})
    assert make_row_cleaner(schema)(row) is None
    assert dict(row) == {"a": 1.0, "typo": 2.0}
    assert make_row_cleaner(schema)(collections.Counter({"a": 1, "typo": 2})) is None
    assert make_row_cleaner(schema)(types.MappingProxyType({"a": 1, "b": 2})) == {"a": 1.0, "b": 2.0}


BOUNDS = [None, 0, 0.5, -5, 2**53 + 1, 2**53 + 3, 2**63 - 1, -(2**63) + 1, 10**400, -(10**400), 1e308, -1e308,
          float(2**63), 2.0**53]
NUMBERS = [0, 1, -1, 2**53, 2**53 + 1, 2**53 + 2, 2**53 + 3, 2**63 - 1, 2**63, -(2**63) + 1, 10**300, -(10**300),
           10**400, 1e308, sys.float_info.max, math.inf, -math.inf, math.nan, 0.5, 2.0**53, 2.0**63, -0.0]


@pytest.mark.parametrize("kind", ["number", "integer"])
def test_bounds_no_float_holds_exactly_give_clean_values_answer(kind):
    # clean_value makes an int a float, then compares: 2**63 - 1 becomes 2.0**63, past a maximum of 2**63 - 1.
    for minimum in BOUNDS:
        for maximum in BOUNDS:
            field = Field("n", kind, minimum=minimum, maximum=maximum)
            clean = make_row_cleaner(Schema((field,), Output("regression")))
            for value in NUMBERS:
                expected = clean_value(field, value)
                assert repr(clean({"n": value})) == repr(None if expected is BAD else {"n": expected}), (minimum, maximum, value)


def test_no_text_from_the_schema_is_compiled():
    # A bundle can come from a network: its field names reach the check as values, never as source.
    hostile = "__import__('os').system('false')"
    clean = make_row_cleaner(Schema((Field(hostile, "number"), Field("city", "string")), Output("regression")))
    assert not {hostile, "city"} & {const for const in clean.__code__.co_consts if isinstance(const, str)}
    assert clean({hostile: 1, "city": "austin"}) == {hostile: 1.0, "city": "austin"}
