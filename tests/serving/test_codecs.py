"""Codecs: JSON bodies and named typed columns in; every encoding of a Prediction out."""

import json

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


def test_a_classifier_result_is_json_ready_with_plain_labels():
    result = Prediction(BundleRef("tiers", 3), ServingPath.COMPILED, np.array([np.int64(2), np.int64(0)]),
                        np.array([[0.1, 0.9], [0.8, 0.2]]), (np.int64(0), np.int64(2)))
    assert json.loads(json.dumps(codecs.prediction_json(result))) == {
        "model_name": "tiers", "model_version": 3, "path": "compiled",
        "predictions": [2, 0], "classes": [0, 2], "probabilities": [[0.1, 0.9], [0.8, 0.2]],
    }


def test_a_regression_result_has_no_classes():
    data = codecs.prediction_json(Prediction(BundleRef("salary", 2), ServingPath.COMPILED, np.array([1.5])))
    assert data == {"model_name": "salary", "model_version": 2, "path": "compiled", "predictions": [1.5]}


def _regression(values, dtype=None):
    return Prediction(BundleRef("salary", 1), ServingPath.COMPILED, np.array(values, dtype=dtype))


def test_predictions_encode_as_json_per_row():
    assert codecs.prediction_messages(_regression([1.5, 2.0])) == [b'{"prediction":1.5}', b'{"prediction":2.0}']
    numbers = [0.1, -3.0, 1e300, 5e-324, 123456.789012345]
    assert [json.loads(v)["prediction"] for v in codecs.prediction_messages(_regression(numbers))] == numbers
    integers = [2**63 - 1, -3]
    assert [json.loads(v)["prediction"] for v in codecs.prediction_messages(_regression(integers))] == integers
    labelled = Prediction(BundleRef("tiers", 1), ServingPath.COMPILED, np.array(["high"], dtype=object),
                          np.array([[0.25, 0.75]]), ("low", "high"))
    (value,) = codecs.prediction_messages(labelled)
    assert json.loads(value) == {"label": "high", "probabilities": {"low": 0.25, "high": 0.75}}


@pytest.mark.parametrize("values", [[1.0, float("nan")], [2**70, 1], ["a,b", "c"], [True, 2.5]],
                         ids=["nan", "big-int", "text", "bool"])
def test_predictions_a_single_dump_cannot_split_encode_one_by_one(values):
    encoded = codecs.prediction_messages(_regression(values, dtype=object))
    assert encoded == [b'{"prediction":%s}' % json.dumps(v).encode() for v in values]


def test_every_encoding_of_a_classifier_names_its_classes_alike():
    result = Prediction(BundleRef("tiers", 2), ServingPath.COMPILED, np.array([np.int64(2), np.int64(0)]),
                        np.array([[0.1, 0.9], [0.8, 0.2]]), (np.int64(0), np.int64(2)))
    per_row = [json.loads(message)["probabilities"] for message in codecs.prediction_messages(result)]
    assert per_row == [json.loads(text) for text in codecs.probabilities_json(result)]
    as_json = codecs.prediction_json(result)
    assert per_row == [dict(zip(map(str, as_json["classes"]), row)) for row in as_json["probabilities"]]
    frame = codecs.prediction_frame(result)
    assert per_row == [{name: frame[f"probability_{name}"][i] for name in codecs.class_names(result.classes)} for i in range(2)]
    back = codecs.unpack_prediction(codecs.pack_prediction(result))
    assert (back.ref, back.path, back.classes, back.values.tolist()) == (result.ref, result.path, (0, 2), [2, 0])
    assert back.probabilities.tolist() == result.probabilities.tolist()
