"""Codecs: JSON bodies and named typed columns in, plain columns, frames and Arrow out."""

import numpy as np
import pandas as pd
import pytest

from mldeploy.bundle import BundleRef
from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.errors import SchemaError
from mldeploy.serving import codecs
from mldeploy.serving.result import Prediction, ServingPath

pytestmark = pytest.mark.timeout(30)

SCHEMA = Schema((Field("age", "integer"), Field("city", "category"), Field("remote", "boolean"), Field("pay", "number"),
                 Field("note", "string")), Output("regression"))


def test_each_field_type_has_an_open_inference_protocol_datatype():
    assert [codecs.tensor_datatype(f) for f in SCHEMA.fields] == ["INT64", "BYTES", "BOOL", "FP64", "BYTES"]


def test_named_columns_become_a_frame_with_bytes_decoded():
    frame = codecs.columns_to_frame({"age": np.array([30, 41]), "city": [b"Lyon", "Oslo"], "pay": [1.5, None]}, SCHEMA)
    assert frame[["age", "city"]].to_dict(orient="list") == {"age": [30, 41], "city": ["Lyon", "Oslo"]}
    assert frame["pay"].isna().tolist() == [False, True]


def test_ragged_columns_and_bad_utf8_name_the_field_and_row():
    with pytest.raises(SchemaError) as caught:
        codecs.columns_to_frame({"age": [1, 2, 3], "city": [b"\xff", b"ok", b"x"], "pay": [1.0]}, SCHEMA)
    assert [(i.row, i.field, i.expected) for i in caught.value.issues] == [
        (None, "pay", "3 values like the other inputs"), (0, "city", "UTF-8 text")]


def test_json_bodies_give_rows_or_say_which_entry_is_not_an_object():
    assert codecs.records_from_json({"age": 3}) == [{"age": 3}]
    with pytest.raises(SchemaError, match='row 1, field "\\(row\\)": expected a JSON object, got a list'):
        codecs.records_from_json([{"age": 3}, [1, 2]])
    with pytest.raises(SchemaError, match="expected a JSON object or a list of objects, got text"):
        codecs.records_from_json("age=3")


def _classifier_result():
    return Prediction(BundleRef("tiers", 4), ServingPath.COMPILED, np.array(["hi", "lo"], dtype=object),
                      np.array([[0.7, 0.3], [0.2, 0.8]]), ("hi", "lo"))


def test_prediction_columns_frame_and_arrow_agree():
    result = _classifier_result()
    columns = codecs.prediction_columns(result)
    assert columns["label"].tolist() == ["hi", "lo"] and columns["probabilities"].shape == (2, 2)
    frame = codecs.prediction_frame(result, keys=["k1", "k2"], key_name="id")
    assert list(frame.columns) == ["id", "prediction", "probability_hi", "probability_lo", "model_name", "model_version"]
    table = codecs.prediction_arrow(result, keys=["k1", "k2"], key_name="id")
    pd.testing.assert_frame_equal(table.to_pandas(), frame)


def test_regression_columns_are_float64():
    result = Prediction(BundleRef("salary", 1), ServingPath.COMPILED, np.array([1, 2]))
    assert codecs.prediction_columns(result)["prediction"].dtype == np.float64
