import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from _examples import examples
from mldeploy.validation.fast_columns import ColumnCleaner
from mldeploy.validation.checks import validate
from mldeploy.errors import SchemaError

from test_fast_row import VALUES
from test_checks import GOOD, SCHEMA

pytestmark = pytest.mark.timeout(120)

CLEANER = ColumnCleaner(SCHEMA)
TYPED = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=4).map(np.array),
    st.lists(st.integers(-2**63, 2**63 - 1), min_size=1, max_size=4).map(lambda v: np.array(v, dtype="int64")),
    st.lists(st.integers(0, 255), min_size=1, max_size=4).map(lambda v: np.array(v, dtype="uint8")),
    st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=4).map(lambda v: np.array(v, dtype="float32")),
    st.lists(st.booleans(), min_size=1, max_size=4).map(np.array),
    st.lists(st.integers(0, 60), min_size=1, max_size=4).map(lambda v: np.array(v, dtype="datetime64[ns]")),
    st.lists(st.integers(0, 60), min_size=1, max_size=4).map(lambda v: np.array(v, dtype="timedelta64[ns]")),
    st.lists(VALUES, min_size=1, max_size=4).map(lambda v: pd.array(v, dtype=object).to_numpy()),
)


@settings(max_examples=examples(400), deadline=None)
@given(field=st.sampled_from(list(GOOD)), column=TYPED)
def test_plain_checks_agree_with_the_bulk_validator(field, column):
    frame = pd.DataFrame({name: [value] * len(column) for name, value in GOOD.items()})
    frame[field] = pd.Series(column, dtype=column.dtype)  # kept as generated: no dtype guessing
    _assert_agree(CLEANER.clean_frame(frame), frame)


@settings(max_examples=examples(400), deadline=None)
@given(field=st.sampled_from(list(GOOD)), values=st.lists(VALUES, min_size=1, max_size=4))
def test_record_checks_agree_with_the_bulk_validator(field, values):
    rows = [GOOD | {field: value} for value in values]
    _assert_agree(CLEANER.clean_records(rows), rows)


def _assert_agree(fast, data):
    try:
        bulk = validate(SCHEMA, data)
    except SchemaError:
        assert fast is None, f"plain checks accepted {data!r}, which the bulk validator refuses"
        return
    if fast is not None:
        for name in GOOD:
            assert [_norm(v) for v in fast[name]] == [_norm(v) for v in bulk[name]], name


def test_records_with_missing_or_unknown_keys_are_a_no():
    assert CLEANER.clean_records([GOOD, {k: v for k, v in GOOD.items() if k != "city"}]) is None
    assert CLEANER.clean_records([GOOD, GOOD | {"extra": 1}]) is None
    assert CLEANER.clean_records([GOOD, "not a row"]) is None
    assert CLEANER.clean_records([GOOD, GOOD | {"count": 10**400}]) is None
    assert CLEANER.clean_records([GOOD, GOOD | {"count": None}])["count"].tolist()[0] == 3.0


def test_clean_columns_are_float_numbers_and_object_texts():
    frame = pd.DataFrame([GOOD, GOOD | {"count": None, "city": None, "remote": True}])
    clean = CLEANER.clean_frame(frame)
    assert clean["years"].dtype == np.float64 and clean["count"].dtype == np.float64
    assert math.isnan(clean["count"][1]) and clean["remote"].tolist() == [0.0, 1.0]
    assert clean["city"].dtype == object and clean["city"].tolist()[0] == "austin" and math.isnan(clean["city"][1])


@pytest.mark.parametrize("change", [
    {"years": [float("nan")] * 2},                # may not be empty
    {"years": [4.0, 61.0]},                       # above the range
    {"count": [1.5, 2.0]},                        # not whole
    {"years": [4.0, float("inf")]},               # not finite
    {"years": [True, False]},                     # booleans are not numbers
    {"city": [1.0, 2.0]},                         # numbers are not categories
    {"city": ["austin", "paris"]},                # unseen, and the pipeline refuses it
    {"remote": ["maybe", "yes"]},                 # not a boolean word
])
def test_anything_the_bulk_validator_refuses_is_a_no(change):
    frame = pd.DataFrame([GOOD, GOOD]).assign(**change)
    assert CLEANER.clean_frame(frame) is None
    with pytest.raises(SchemaError):
        validate(SCHEMA, frame)


@pytest.mark.parametrize("text_null", ["none", "nan"])
def test_empty_texts_reach_the_pipeline_as_in_training(text_null):
    from dataclasses import replace

    from mldeploy.bundle.schema import Schema

    fields = tuple(replace(f, text_null=text_null) if f.name == "city" else f for f in SCHEMA.fields)
    cleaner = ColumnCleaner(Schema(fields, SCHEMA.output))
    for empty in ([None, None], [float("nan"), float("nan")], [None, float("nan")]):
        frame = pd.DataFrame([GOOD] * 3).astype({"city": object})
        frame.loc[1:, "city"] = pd.Series(empty, index=[1, 2], dtype=object)
        city = cleaner.clean_frame(frame)["city"].tolist()
        assert city[0] == "austin"
        assert all(v is None for v in city[1:]) if text_null == "none" else all(math.isnan(v) for v in city[1:])


def test_missing_extra_and_repeated_columns():
    frame = pd.DataFrame([GOOD])
    assert CLEANER.clean_frame(frame.drop(columns="city")) is None
    assert CLEANER.clean_frame(frame.assign(extra=1)) is None
    assert CLEANER.clean_frame(frame.assign(extra=1), extra="ignore")["city"].tolist() == ["austin"]
    assert CLEANER.clean_frame(pd.concat([frame, frame[["city"]]], axis=1), extra="ignore") is None


def _norm(value):
    # None and NaN stay apart: scikit-learn treats an empty text differently in each form.
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return float(value)
    return value
