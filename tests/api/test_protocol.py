"""V2 requests and responses, JSON and binary, translated without I/O."""

import re
import struct

import numpy as np
import orjson
import pytest

from mldeploy.api import protocol
from mldeploy.api.errors import MalformedRequestError
from mldeploy.bundle import BundleRef
from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.errors import UnsupportedError
from mldeploy.serving import Prediction, ServingPath

pytestmark = pytest.mark.timeout(30)

SCHEMA = Schema((Field("age", "integer"), Field("city", "category", categories=("Oslo", "Rome")),
                 Field("remote", "boolean"), Field("hours", "number")), Output("regression"))


def _json_request(**extra) -> bytes:
    inputs = [{"name": "age", "datatype": "INT64", "shape": [2], "data": [30, None]},
              {"name": "city", "datatype": "BYTES", "shape": [2, 1], "data": [["Oslo"], ["Rome"]]},
              {"name": "remote", "datatype": "BOOL", "shape": [2], "data": [True, False]},
              {"name": "hours", "datatype": "FP64", "shape": [2], "data": [40.5, 38]}]
    return orjson.dumps({"id": "r-1", "inputs": inputs, **extra})


def _bytes_tensor(values) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def _binary_request(tensors: dict, outputs=None, header_length=None) -> tuple[bytes, str]:
    inputs, blobs = [], []
    for name, (datatype, raw, count) in tensors.items():
        inputs.append({"name": name, "datatype": datatype, "shape": [count], "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    head = orjson.dumps({"inputs": inputs, **({"outputs": outputs} if outputs else {}), "parameters": {"binary_data_output": True}})
    return head + b"".join(blobs), str(header_length if header_length is not None else len(head))


def test_json_tensors_become_columns_and_records_with_nulls_kept():
    request = protocol.parse_infer_request(_json_request(), None)
    assert request.id == "r-1" and request.rows == 2 and request.outputs is None and not request.binary_output
    assert request.records() == [{"age": 30, "city": "Oslo", "remote": True, "hours": 40.5},
                                 {"age": None, "city": "Rome", "remote": False, "hours": 38}]


def test_binary_tensors_decode_by_declared_size():
    body, length = _binary_request({
        "age": ("INT64", np.array([30, 41], "<i8").tobytes(), 2),
        "city": ("BYTES", _bytes_tensor(["Oslo", "Rome"]), 2),
        "remote": ("BOOL", np.array([True, False]).tobytes(), 2),
        "hours": ("FP64", np.array([40.5, np.nan]).tobytes(), 2),
    })
    request = protocol.parse_infer_request(body, length)
    assert request.binary_output
    assert list(request.columns["city"]) == ["Oslo", "Rome"]
    np.testing.assert_array_equal(request.columns["age"], [30, 41])
    assert np.isnan(request.columns["hours"][1])


@pytest.mark.parametrize(("tensors", "header", "message"), [
    ({"age": ("INT64", b"\0" * 12, 2)}, None, 'input "age": 2 INT64 value(s) need 16 bytes, the data has 12'),
    ({"city": ("BYTES", _bytes_tensor(["Oslo"])[:-1], 1)}, None, 'input "city", element 0: declares 4 bytes, 3 remain'),
    ({"city": ("BYTES", _bytes_tensor(["Oslo", "Rome"]), 1)}, None, 'input "city": 8 byte(s) left after 1 BYTES element(s)'),
    ({"age": ("INT64", b"\0" * 8, 1)}, 10_000, "Inference-Header-Content-Length is '10000' but the body has"),
])
def test_binary_tensors_that_do_not_match_their_declaration_are_malformed(tensors, header, message):
    body, length = _binary_request(tensors, header_length=header)
    with pytest.raises(MalformedRequestError, match=re.escape(message)):
        protocol.parse_infer_request(body, length)


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "the body is not valid JSON"),
    (b"[1, 2]", 'must be a JSON object with an "inputs" list'),
    (b'{"inputs": []}', 'needs an "inputs" list'),
    (b'{"inputs": [{"name": "age", "datatype": "INT64", "shape": [2], "data": [1]}]}', 'input "age": shape declares 2 value(s) but "data" holds 1'),
    (b'{"inputs": [{"name": "age", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}]}', 'input "age": shape [1, 2] is not one column'),
    (b'{"inputs": [{"name": "age", "datatype": "INT64", "shape": [1], "data": ["x"]}]}', 'input "age", element 0: "x" is not a INT64 value'),
    (b'{"inputs": [{"name": "age", "datatype": "FP64", "shape": [1], "data": [true]}]}', 'input "age", element 0: true is not a FP64 value'),
    (b'{"inputs": [{"name": "age", "datatype": "TEXT", "shape": [1], "data": [1]}]}', "datatype 'TEXT' is not one of"),
    (b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}, {"name": "b", "datatype": "FP64", "shape": [2], "data": [1, 2]}]}',
     "every input tensor must have the same number of rows; a: 1, b: 2"),
    (b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}, {"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}]}',
     'input "a" is given twice'),
    (b'{"id": 7, "inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}]}', '"id" must be a string'),
])
def test_malformed_json_requests_say_what_is_wrong(body, message):
    with pytest.raises(MalformedRequestError, match=re.escape(message)):
        protocol.parse_infer_request(body, None)


@pytest.mark.parametrize("tensor", [
    {"name": "age", "datatype": "INT64", "shape": [2], "data": [30, 41]},
    {"name": "hours", "datatype": "FP64", "shape": [3], "data": [40.5, 38, 1e300]},
    {"name": "remote", "datatype": "BOOL", "shape": [1], "data": [False]},
    {"name": "city", "datatype": "BYTES", "shape": [2], "data": ["Oslo", ""]},  # empty text: missing, on the full path
    {"name": "city", "datatype": "BYTES", "shape": [1], "data": [""]},
    {"name": "age", "datatype": "INT64", "shape": [2], "data": [30, None]},
    {"name": "age", "datatype": "UINT8", "shape": [2, 1], "data": [[1], [2]]},
])
def test_usual_tensors_read_at_once_give_what_the_full_path_gives(tensor):
    fast = protocol.parse_infer_request(orjson.dumps({"inputs": [tensor]}), None).columns[tensor["name"]]
    _, full, _ = protocol._decode_input(tensor, 0, b"", 0)
    assert fast == full


@pytest.mark.parametrize("data, message", [([True], "true is not a INT64 value"), ([1.5], "1.5 is not a INT64 value")])
def test_a_value_of_another_type_leaves_the_fast_path_for_the_full_error(data, message):
    body = orjson.dumps({"inputs": [{"name": "age", "datatype": "INT64", "shape": [1], "data": data}]})
    with pytest.raises(MalformedRequestError, match=re.escape(message)):
        protocol.parse_infer_request(body, None)


def _regression(values) -> Prediction:
    return Prediction(BundleRef("salary", 3), ServingPath.COMPILED, np.asarray(values, dtype="float64"))


def test_json_response_echoes_the_id_and_names_the_version():
    request = protocol.parse_infer_request(_json_request(), None)
    body, header_length = protocol.encode_infer_response(_regression([1.5, 2.5]), request)
    assert header_length is None
    assert orjson.loads(body) == {"id": "r-1", "model_name": "salary", "model_version": "3", "parameters": {"path": "compiled"},
                                  "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [2], "data": [1.5, 2.5]}]}


@pytest.mark.parametrize("request_id", [None, "r-1", 'quote " and \u2028 and \\'])
@pytest.mark.parametrize("values", [[1.5], [0.1, -2e300, float("nan"), 5e-324], []])
def test_a_regressors_answer_laid_out_directly_is_the_dicts_json_byte_for_byte(request_id, values):
    request = protocol.InferRequest(request_id, {"x": [1]}, 1, None, False)
    as_dict = {"model_name": "salary", "model_version": "3",
               "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [len(values)], "data": values}],
               "parameters": {"path": "compiled"}, **({} if request_id is None else {"id": request_id})}
    assert protocol.encode_infer_response(_regression(values), request) == (orjson.dumps(as_dict), None)


def test_requested_outputs_come_back_in_their_own_encoding():
    classifier = Prediction(BundleRef("churn", 2), ServingPath.SCIKIT_LEARN, np.array(["no", "yes"], dtype=object),
                            np.array([[0.9, 0.1], [0.2, 0.8]]), ("no", "yes"))
    request = protocol.parse_infer_request(_json_request(outputs=[{"name": "probabilities", "parameters": {"binary_data": True}},
                                                                  {"name": "label"}]), None)
    body, header_length = protocol.encode_infer_response(classifier, request)
    head = orjson.loads(body[:header_length])
    assert [o["name"] for o in head["outputs"]] == ["probabilities", "label"]
    assert head["outputs"][0] == {"name": "probabilities", "datatype": "FP64", "shape": [2, 2], "parameters": {"binary_data_size": 32}}
    assert head["outputs"][1]["data"] == ["no", "yes"] and head["outputs"][1]["datatype"] == "BYTES"
    np.testing.assert_array_equal(np.frombuffer(body[header_length:], "<f8").reshape(2, 2), classifier.probabilities)


def test_binary_bytes_output_is_length_prefixed():
    classifier = Prediction(BundleRef("churn", 2), ServingPath.COMPILED, np.array(["no", "yes"], dtype=object), None, ("no", "yes"))
    request = protocol.parse_infer_request(_json_request(parameters={"binary_data_output": True}), None)
    body, header_length = protocol.encode_infer_response(classifier, request)
    assert body[header_length:] == _bytes_tensor(["no", "yes"])


def test_an_output_the_model_does_not_have_is_refused():
    request = protocol.parse_infer_request(_json_request(outputs=[{"name": "probabilities"}]), None)
    with pytest.raises(UnsupportedError, match='salary@3 has no output "probabilities"; its outputs are: prediction'):
        protocol.encode_infer_response(_regression([1.0, 2.0]), request)


def test_infinity_and_nan_written_by_python_clients_are_read_as_numbers():
    rows = protocol.parse_records(b'[{"x": Infinity, "y": NaN, "z": null}]')
    assert rows[0]["x"] == float("inf") and rows[0]["y"] != rows[0]["y"] and rows[0]["z"] is None
    with pytest.raises(MalformedRequestError, match="the body is not valid JSON"):
        protocol.parse_records(b'[{"x": Infinit}]')


def test_a_single_row_becomes_one_record_of_plain_values_from_lists_and_arrays():
    columns = {"age": [30], "hours": np.array([40.5]), "city": np.array(["Oslo"], dtype=object), "remote": np.array([True])}
    record = protocol.InferRequest(None, columns, 1, None, False).records()
    assert record == [{"age": 30, "hours": 40.5, "city": "Oslo", "remote": True}]
    assert [type(value) for value in record[0].values()] == [int, float, str, bool]
