"""Keys as text, and CSV text typed by the model's schema (a value that does not convert stays text)."""

import pyarrow as pa
import pytest

from mldeploy.batch.columns import feature_frame, key_strings
from mldeploy.bundle.schema import Field, Output, Schema

pytestmark = pytest.mark.timeout(30)


def test_keys_print_like_the_ids_people_type():
    assert key_strings(pa.array([10042, None, 7])).tolist() == ["10042", None, "7"]
    assert key_strings(pa.array([10042.0, 3.0, None])).tolist() == ["10042", "3", None]
    assert key_strings(pa.array([1.5, 2.0])).tolist() == ["1.5", "2"]
    assert key_strings(pa.chunked_array([["a-1"], ["b"]])).tolist() == ["a-1", "b"]


def test_text_columns_are_typed_by_the_schema_where_they_convert():
    schema = Schema((Field("n", "number"), Field("i", "integer"), Field("b", "boolean"), Field("c", "category")),
                    Output("regression"))
    table = pa.table({"k": ["1", "2"], "n": ["1.5", None], "i": ["3", "4.5"], "b": ["true", "perhaps"], "c": ["x", None]})
    frame = feature_frame(table, schema, text_columns=True)
    assert list(frame.columns) == ["n", "i", "b", "c"]
    assert frame["n"].tolist()[0] == 1.5 and frame["n"].isna().tolist() == [False, True]
    assert frame["i"].tolist() == [3.0, 4.5]  # not whole: floats, and the validator names 4.5
    assert frame["b"].tolist() == ["true", "perhaps"]  # one bad value: the column stays text for the validator
    assert frame["c"].tolist() == ["x", None]
