"""The gRPC service of a real server on 127.0.0.1 (the REST tests' server), called with tritonclient and raw grpcio."""

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.utils import InferenceServerException

from mldeploy.api import Client
from mldeploy.api.grpc import messages
from mldeploy.api.grpc.service import ERROR_METADATA
from mldeploy.api import tensors
from mldeploy.serving import Model

import _services
from _api_data import TOKEN, records

pytestmark = pytest.mark.timeout(120)
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def model(salary_bundle):
    return Model(salary_bundle)


@pytest.fixture(scope="module")
def triton_client(server):
    with triton.InferenceServerClient(server.grpc) as client:
        yield client


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc) as opened:
        yield opened


def _call(channel, method: str, request, metadata=tuple(AUTH.items())):
    name = type(request).DESCRIPTOR.name.replace("Request", "Response")
    stub = channel.unary_unary(f"/{messages.SERVICE}/{method}", request_serializer=type(request).SerializeToString,
                               response_deserializer=messages.message(name).FromString)
    return stub(request, timeout=30, metadata=metadata)


def _triton_inputs(rows: list[dict], model) -> list:
    inputs = []
    for field in model.schema.fields:
        datatype = tensors.tensor_datatype(field)
        values = [row[field.name] for row in rows]
        if datatype == "BYTES":
            array = np.array([b"" if v is None else v.encode() for v in values], dtype=object)
        elif any(v is None for v in values):
            datatype, array = "FP64", np.array([np.nan if v is None else v for v in values], dtype="<f8")
        else:
            array = np.array(values, dtype={"FP64": "<f8", "INT64": "<i8", "BOOL": "?"}[datatype])
        tensor = triton.InferInput(field.name, [len(rows)], datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def test_health_and_metadata_rpcs_with_tritonclient(triton_client, model):
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.is_model_ready("salary") and triton_client.is_model_ready("salary", "1")
    assert list(triton_client.get_server_metadata(headers=AUTH).extensions) == ["binary_tensor_data"]
    metadata = triton_client.get_model_metadata("salary", headers=AUTH)
    assert list(metadata.versions) == ["1"] and metadata.platform == "mldeploy_sklearn_pipeline"
    assert [(i.name, i.datatype) for i in metadata.inputs] == [(f.name, tensors.tensor_datatype(f)) for f in model.schema.fields]
    assert [(o.name, o.datatype, list(o.shape)) for o in metadata.outputs] == [("prediction", "FP64", [-1])]


def test_raw_contents_from_tritonclient_give_the_models_predictions(triton_client, model, new_rows):
    rows = records(new_rows.head(12))
    result = triton_client.infer("salary", _triton_inputs(rows, model), request_id="r-7", headers=AUTH)
    np.testing.assert_allclose(result.as_numpy("prediction"), model.predict(new_rows.head(12)), rtol=1e-9)
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("salary", "1", "r-7")
    pinned = triton_client.infer("salary", _triton_inputs(rows[:1], model), model_version="1", headers=AUTH)
    assert pinned.as_numpy("prediction")[0] == pytest.approx(result.as_numpy("prediction")[0], rel=1e-12)


def _typed_request(rows: list[dict], model):
    request = messages.message("ModelInferRequest")(model_name="salary", id="typed")
    for field in model.schema.fields:
        datatype = tensors.tensor_datatype(field)
        values = [row[field.name] for row in rows]
        if datatype != "BYTES" and any(v is None for v in values):
            datatype, values = "FP64", [np.nan if v is None else v for v in values]
        tensor = request.inputs.add(name=field.name, datatype=datatype, shape=[len(rows)])
        contents = {"FP64": "fp64_contents", "INT64": "int64_contents", "BOOL": "bool_contents", "BYTES": "bytes_contents"}[datatype]
        getattr(tensor.contents, contents).extend(b"" if v is None else v.encode() if isinstance(v, str) else v for v in values)
    return request


def test_typed_contents_come_back_typed(channel, model, new_rows):
    response = _call(channel, "ModelInfer", _typed_request(records(new_rows.head(5)), model))
    assert response.id == "typed" and not response.raw_output_contents
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("prediction", "FP64", [5])]
    np.testing.assert_allclose(list(response.outputs[0].contents.fp64_contents), model.predict(new_rows.head(5)), rtol=1e-9)
    assert response.parameters["path"].string_param == "compiled"


def _failure(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_bad_rows_are_invalid_argument_with_every_issue(channel, model, new_rows):
    rows = records(new_rows.head(3))
    rows[0]["age"], rows[2]["certifications"] = -4, 99
    error = _failure(lambda: _call(channel, "ModelInfer", _typed_request(rows, model)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith('2 bad field(s) in 2 row(s): row 0, field "age": expected a whole number in')
    body = orjson.loads(dict(error.trailing_metadata())[ERROR_METADATA])
    assert body["type"] == "SchemaError" and [(i["row"], i["field"]) for i in body["issues"]] == [(0, "age"), (2, "certifications")]


@pytest.mark.parametrize(("change", "code", "words"), [
    (lambda r: r.inputs[0].shape.__setitem__(0, 4), "INVALID_ARGUMENT", "shape declares 4 value(s) but contents.fp64_contents holds 2"),
    (lambda r: r.inputs[1].contents.fp64_contents.append(1.0), "INVALID_ARGUMENT", "a INT64 tensor carries its values in contents.int64_contents"),
    (lambda r: r.inputs[0].__setattr__("datatype", "FP16"), "INVALID_ARGUMENT", "FP16 travels only as raw_input_contents"),
    (lambda r: r.inputs[0].__setattr__("datatype", "TEXT"), "INVALID_ARGUMENT", "datatype 'TEXT' is not one of"),
    (lambda r: r.raw_input_contents.append(b"\0" * 8), "INVALID_ARGUMENT", "raw_input_contents has 1 entries for 11 inputs"),
    (lambda r: r.parameters["extra"].__setattr__("string_param", "keep"), "INVALID_ARGUMENT", "extra must be reject or ignore"),
    (lambda r: (r.inputs.add().CopyFrom(r.inputs[0]), r.inputs[-1].__setattr__("name", "badge")), "INVALID_ARGUMENT",
     'drop unknown fields or set the request parameter extra to "ignore" to leave them out'),
    (lambda r: r.__setattr__("model_name", "nosuch"), "NOT_FOUND", 'does not serve a model "nosuch"; it serves: salary'),
    (lambda r: r.__setattr__("model_version", "9"), "NOT_FOUND", "no version 9 of \"salary\"; versions are 1"),
    (lambda r: r.__setattr__("model_version", "latest"), "NOT_FOUND", "versions are whole numbers from 1"),
])
def test_a_callers_mistake_gets_the_tables_code_and_words(channel, model, new_rows, change, code, words):
    request = _typed_request(records(new_rows.head(2)), model)
    change(request)
    error = _failure(lambda: _call(channel, "ModelInfer", request))
    assert (error.code().name, words in error.details()) == (code, True), error.details()


def test_an_oversized_message_is_resource_exhausted(channel, model, new_rows):
    request = _typed_request(records(new_rows.head(1)), model)
    request.inputs[2].contents.bytes_contents[0] = b"x" * 300_000  # the server's limit is 200 kB
    assert _failure(lambda: _call(channel, "ModelInfer", request)).code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_calls_without_the_token_are_unauthenticated_but_health_checks_are_open(channel, triton_client, model, new_rows):
    for metadata in ((), (("authorization", "Bearer wrong"),)):
        error = _failure(lambda: _call(channel, "ModelInfer", _typed_request(records(new_rows.head(1)), model), metadata))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED and "authorization: Bearer <token>" in error.details()
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
        triton_client.get_model_metadata("salary")
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", messages.SERVICE):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    assert _call(channel, "ServerReady", messages.message("ServerReadyRequest")(), ()).ready


def test_reflection_lists_and_describes_the_services(channel):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    database = ProtoReflectionDescriptorDatabase(channel)
    assert {messages.SERVICE, "grpc.health.v1.Health"} <= set(database.get_services())
    described = database.FindFileContainingSymbol("inference.ModelInferRequest")
    assert described.package == "inference" and "ModelInferRequest" in [m.name for m in described.message_type]


def test_our_client_over_grpc_answers_as_over_http(server, new_rows):
    rows = records(new_rows.head(6))
    with Client(server.grpc, "salary", token=TOKEN, protocol="grpc") as over_grpc, Client(server.url, "salary", token=TOKEN) as over_http:
        assert over_grpc.predict(rows[0]) == over_http.predict(rows[0])
        np.testing.assert_array_equal(over_grpc.predict(new_rows.head(6)), over_http.predict(rows))
        assert over_grpc.ref == over_http.ref
    assert 'endpoint="grpc.ModelInfer",model="salary",status="OK"' in server.get("/metrics").text


def test_the_async_client_over_grpc_gives_the_same_errors(server, new_rows):
    import asyncio

    from mldeploy.api import AsyncClient
    from mldeploy.errors import NotFoundError, SchemaError

    rows = records(new_rows.head(3))
    rows[1]["age"] = "old"

    async def calls():
        async with AsyncClient(server.grpc, "salary", token=TOKEN, protocol="grpc") as client:
            assert (await client.infer(rows[:1])).version == 1
            with pytest.raises(SchemaError) as caught:
                await client.infer(rows)
            assert [(i.row, i.field, i.got) for i in caught.value.issues] == [(1, "age", '"old"')]
        async with AsyncClient(server.grpc, "nosuch", token=TOKEN, protocol="grpc") as client:
            with pytest.raises(NotFoundError, match='does not serve a model "nosuch"'):
                await client.infer(rows[:1])

    asyncio.run(calls())


def _raw_request(rows: list[dict], model):
    from mldeploy.api.grpc.records import infer_request

    return infer_request(messages.message("ModelInferRequest")(), "salary", rows, "reject", model.schema.names)


@pytest.mark.parametrize("datatype", ["BYTES", "FP64", "INT64", "JSON"])
@pytest.mark.parametrize("rows", [2**63 - 1, 300_000_000])
def test_a_raw_shape_claiming_more_elements_than_bytes_sent_is_invalid_argument_and_allocates_nothing(
        server, channel, model, new_rows, datatype, rows):
    sample = records(new_rows.head(1))
    if datatype == "JSON":
        sample[0]["age"] = "ten"  # a column that mixes kinds travels as BYTES elements that are each JSON
    request = _raw_request(sample, model)
    wanted = {"JSON": "BYTES", "BYTES": "BYTES"}.get(datatype, datatype)
    position = next(i for i, tensor in enumerate(request.inputs) if tensor.datatype == wanted
                    and (datatype != "JSON" or tensor.name == "age"))
    request.inputs[position].shape[0] = rows
    before = _services.rss_mib(server.process.pid)
    error = _failure(lambda: _call(channel, "ModelInfer", request))
    name = request.inputs[position].name
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(f'input "{name}"')
    assert _services.rss_mib(server.process.pid) - before < 50  # 2**63-1 BYTES elements once became a MemoryError (INTERNAL)
