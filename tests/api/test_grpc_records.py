"""The client's rows -> ModelInfer request -> the server's decoding gives back the rows as sent, bad values included."""

import math

import pytest

from mldeploy.api.grpc import messages
from mldeploy.api.grpc.records import infer_request
from mldeploy.api.grpc.translate import decode_infer_request, extra_of

pytestmark = pytest.mark.timeout(30)


def _round_trip(rows, extra="reject"):
    message = infer_request(messages.message("ModelInferRequest")(), "salary", rows, extra, [])
    wire = messages.message("ModelInferRequest").FromString(message.SerializeToString())
    return {t.name: t.datatype for t in wire.inputs}, decode_infer_request(wire).records(), extra_of(wire)


def test_each_column_travels_in_the_narrowest_exact_datatype():
    rows = [{"age": 30, "hours": 40.5, "city": "Oslo", "remote": True, "rating": 3},
            {"age": 41, "hours": None, "city": None, "remote": False, "rating": 4.5}]
    datatypes, back, extra = _round_trip(rows, "ignore")
    assert datatypes == {"age": "INT64", "hours": "FP64", "city": "BYTES", "remote": "BOOL", "rating": "FP64"}
    assert back[0] == rows[0] and extra == "ignore"
    assert back[1]["city"] is None and math.isnan(back[1]["hours"]) and back[1]["rating"] == 4.5


def test_a_column_that_mixes_kinds_arrives_as_sent():
    rows = [{"years": 4.0, "remote": True, "note": ""}, {"years": "ten", "remote": None, "note": "x"},
            {"years": float("inf"), "remote": "perhaps", "note": None}]
    datatypes, back, _ = _round_trip(rows)
    assert datatypes == {"years": "BYTES", "remote": "BYTES", "note": "BYTES"}
    assert back == rows


def test_no_rows_name_the_models_inputs():
    message = infer_request(messages.message("ModelInferRequest")(), "salary", [], "reject", ["age", "city"])
    assert [(t.name, list(t.shape)) for t in message.inputs] == [("age", [0]), ("city", [0])]
    assert decode_infer_request(message).rows == 0
