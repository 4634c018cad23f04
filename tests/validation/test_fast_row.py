import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from _examples import examples
from mldeploy.validation.fast_row import clean_row
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
    fast = clean_row(SCHEMA, row)
    try:
        bulk = validate(SCHEMA, [row]).iloc[0].tolist()
    except SchemaError:
        assert fast is None, f"fast path accepted {row} which the bulk validator refuses"
        return
    if fast is not None:
        assert [_norm(v) for v in fast.values()] == [_norm(v) for v in bulk]


def test_fast_path_refuses_missing_and_extra_keys():
    assert clean_row(SCHEMA, {k: v for k, v in GOOD.items() if k != "city"}) is None
    assert clean_row(SCHEMA, GOOD | {"extra": 1}) is None
    assert list(clean_row(SCHEMA, GOOD).items()) == list(zip(SCHEMA.names, [4.5, 3, "austin", "junior", False]))


def _norm(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, int, float)) and not isinstance(value, str):
        return float(value)
    return value
