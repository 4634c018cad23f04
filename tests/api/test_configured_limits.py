"""--max-json-depth and --max-issues take effect alike on /predict, V2 REST and gRPC, on a real server on 127.0.0.1."""

import grpc
import numpy as np
import orjson
import pytest

import _services
from _api_data import records
from mldeploy.api import tensors
from mldeploy.api.grpc import messages
from mldeploy.api.grpc.records import infer_request
from mldeploy.api.grpc.service import ERROR_METADATA
from mldeploy.serving import Model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # starts a server per limit setting

_DEPTH, _ISSUES = 8, 5


@pytest.fixture(scope="module")
def limited(served_registry):
    with _services.api_server("--registry", served_registry, "serve", "salary:production", "--grpc-port", "0",
                              "--max-json-depth", str(_DEPTH), "--max-issues", str(_ISSUES)) as running:
        yield running


@pytest.fixture(scope="module")
def model(salary_bundle):
    return Model(salary_bundle)


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"1" + b"]" * levels


def _grpc_failure(server, request) -> grpc.RpcError:
    with grpc.insecure_channel(server.grpc) as channel:
        stub = channel.unary_unary(f"/{messages.SERVICE}/ModelInfer", request_serializer=type(request).SerializeToString,
                                   response_deserializer=messages.message("ModelInferResponse").FromString)
        with pytest.raises(grpc.RpcError) as caught:
            stub(request, timeout=30)
    return caught.value


@pytest.mark.parametrize("path", ["/predict/salary", "/v2/models/salary/infer"])
def test_a_body_nested_past_the_configured_depth_is_refused(limited, path):
    # the object and 8 arrays in it: 9 levels, which the default of 64 accepts (and words as a malformed request)
    answer = limited.post(path, content=b'{"inputs": ' + _nested(_DEPTH) + b"}")
    assert answer.status_code == 400 and answer.json()["error"].startswith(f"the JSON nests deeper than {_DEPTH} levels")
    shallower = limited.post(path, content=b'{"inputs": ' + _nested(_DEPTH - 1) + b"}")
    assert shallower.status_code in (400, 422) and "nests deeper" not in shallower.text


def test_a_grpc_json_element_nested_past_the_configured_depth_is_refused(limited, model, new_rows):
    rows = records(new_rows.head(2))
    rows[0]["age"] = "ten"  # a column that mixes kinds travels as BYTES elements that are each one JSON value
    request = infer_request(messages.message("ModelInferRequest")(), "salary", rows, "reject", model.schema.names)
    position = [tensor.name for tensor in request.inputs].index("age")
    assert request.inputs[position].parameters["json_elements"].bool_param
    elements = np.array([_nested(_DEPTH + 1).decode(), "30"], dtype=object)
    request.raw_input_contents[position] = tensors.to_binary("BYTES", elements)
    error = _grpc_failure(limited, request)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"the JSON nests deeper than {_DEPTH} levels")


def _bad_rows(new_rows, count: int) -> list[dict]:
    rows = records(new_rows.head(count))
    for row in rows:
        row["age"] = -4
    return rows


def test_predict_lists_the_configured_number_of_issues_and_counts_them_all(limited, new_rows):
    answer = limited.post("/predict/salary", content=orjson.dumps(_bad_rows(new_rows, 30)))
    body = answer.json()
    assert answer.status_code == 422 and body["issues_total"] == 30
    assert [(issue["row"], issue["field"]) for issue in body["issues"]] == [(row, "age") for row in range(_ISSUES)]


def test_v2_lists_the_configured_number_of_issues_and_counts_them_all(limited, model, new_rows):
    rows = _bad_rows(new_rows, 30)
    inputs = [{"name": f.name, "datatype": tensors.tensor_datatype(f), "shape": [len(rows)],
               "data": [row[f.name] for row in rows]} for f in model.schema.fields]
    for tensor in inputs:  # a missing value is null, which any datatype carries in JSON
        if tensor["datatype"] == "INT64" and any(value is None for value in tensor["data"]):
            tensor["datatype"] = "FP64"
    answer = limited.post("/v2/models/salary/infer", json={"inputs": inputs})
    body = answer.json()
    assert answer.status_code == 422 and body["issues_total"] == 30 and len(body["issues"]) == _ISSUES, body


def test_grpc_lists_the_configured_number_of_issues_and_counts_them_all(limited, model, new_rows):
    rows = _bad_rows(new_rows, 30)
    request = infer_request(messages.message("ModelInferRequest")(), "salary", rows, "reject", model.schema.names)
    error = _grpc_failure(limited, request)
    body = orjson.loads(dict(error.trailing_metadata())[ERROR_METADATA])
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and error.details().startswith("30 bad field(s), the first 5 kept")
    assert body["issues_total"] == 30 and len(body["issues"]) == _ISSUES


def test_the_client_rebuilds_a_cut_short_error_with_its_total(limited, new_rows):
    from mldeploy.api import Client
    from mldeploy.errors import SchemaError

    for address, protocol in ((limited.url, "http"), (limited.grpc, "grpc")):
        with Client(address, "salary", protocol=protocol) as client, pytest.raises(SchemaError) as caught:
            client.infer(_bad_rows(new_rows, 30))
        assert caught.value.total == 30 and len(caught.value.issues) == _ISSUES, protocol
