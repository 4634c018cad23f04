"""The API over real HTTP: a real uvicorn on 127.0.0.1, called with httpx and tritonclient."""

import gzip

import httpx
import orjson
import numpy as np
import pytest

from mldeploy.api import tensors
from mldeploy.registry import Registry
from mldeploy.serving import Model

import _services
from _api_data import records

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def model(salary_bundle):
    return Model(salary_bundle)


def _v2_json(rows: list[dict], model, **extra) -> dict:
    inputs = [{"name": f.name, "datatype": tensors.tensor_datatype(f), "shape": [len(rows)], "data": [r[f.name] for r in rows]}
              for f in model.schema.fields]
    return {"inputs": inputs, **extra}


def test_health_and_server_metadata(server):
    assert server.get("/v2/health/live").json() == {"live": True}
    assert server.get("/v2/health/ready").json() == {"ready": True}
    assert server.get("/v2/models/salary/ready").json() == {"name": "salary", "ready": True, "version": 1}
    assert server.get("/v2").json()["extensions"] == ["binary_tensor_data"]


def test_model_metadata_has_one_typed_input_per_feature(server, model):
    metadata = server.get("/v2/models/salary").json()
    assert metadata["versions"] == ["1"]
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [(f.name, tensors.tensor_datatype(f)) for f in model.schema.fields]
    assert metadata["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]


def test_plain_json_predictions_match_the_embedded_model(server, model, new_rows):
    rows = records(new_rows.head(7))
    answer = server.post("/predict/salary", json=rows).json()
    assert answer["model_name"] == "salary" and answer["model_version"] == 1 and answer["path"] == "compiled"
    np.testing.assert_array_equal(answer["predictions"], model.predict(rows, missing="as-trained"))
    one = server.post("/predict/salary", json=rows[0]).json()
    assert one["predictions"] == [answer["predictions"][0]]


def test_v2_json_infer_echoes_the_id_and_returns_the_outputs_asked_for(server, model, new_rows):
    rows = records(new_rows.head(3))
    body = _v2_json(rows, model, id="abc", outputs=[{"name": "prediction"}])
    answer = server.post("/v2/models/salary/infer", json=body).json()
    assert answer["id"] == "abc" and answer["model_version"] == "1"
    assert answer["outputs"][0]["shape"] == [3]
    np.testing.assert_array_equal(answer["outputs"][0]["data"], model.predict(rows, missing="as-trained"))


def test_tritonclient_with_its_defaults_gets_binary_tensors(server, model, new_rows):
    import tritonclient.http as triton

    frame = new_rows.head(25)
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("salary")
    assert client.get_model_metadata("salary", headers=server.headers)["name"] == "salary"
    inputs = []
    for f in model.schema.fields:
        column = frame[f.name]
        datatype = tensors.tensor_datatype(f)
        values = (column.astype(object).where(column.notna(), "").to_numpy(dtype=object) if datatype == "BYTES"
                  else column.to_numpy(dtype={"FP64": "float64", "INT64": "int64", "BOOL": "bool"}[datatype]))
        tensor = triton.InferInput(f.name, [len(frame)], datatype)
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    result = client.infer("salary", inputs, request_id="t-1", headers=server.headers)
    assert result.get_response()["id"] == "t-1"
    got = result.as_numpy("prediction")
    np.testing.assert_array_equal(got, model.predict(frame, missing="as-trained"))  # "" and NaN: missing, as trained
    versioned = client.infer("salary", inputs, model_version="1", headers=server.headers).as_numpy("prediction")
    np.testing.assert_array_equal(versioned, got)
    client.close()


def test_pinned_versions_and_unknown_names_answer_404(server, new_rows):
    rows = records(new_rows.head(1))
    assert server.post("/predict/nope", json=rows).status_code == 404
    missing = server.post("/v2/models/salary/versions/9/infer", json={"inputs": []})
    assert missing.status_code == 404 and 'no version 9 of "salary"' in missing.json()["error"]
    assert server.get("/v2/models/salary/versions/1/ready").json()["ready"] is True


def test_bad_rows_answer_422_listing_every_bad_field(server, new_rows):
    rows = records(new_rows.head(3))
    rows[0]["years_experience"] = "ten"
    rows[2]["remote"] = "perhaps"
    answer = server.post("/predict/salary", json=rows)
    assert answer.status_code == 422
    body = answer.json()
    assert body["type"] == "SchemaError"
    assert [(i["row"], i["field"], i["got"]) for i in body["issues"]] == [(0, "years_experience", '"ten"'), (2, "remote", '"perhaps"')]
    assert body["error"].startswith('2 bad field(s) in 2 row(s): row 0, field "years_experience": expected a number')


@pytest.mark.parametrize(("path", "kwargs", "status", "words"), [
    ("/predict/salary", {"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ("/predict/salary", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415, "content type 'text/plain'"),
    ("/predict/salary", {"content": b"x" * 300_000}, 413, "at most 200,000"),
    ("/predict/salary", {"content": gzip.compress(b" " * 300_000), "headers": {"content-encoding": "gzip"}}, 413, "inflated body"),
    ("/predict/salary", {"content": gzip.compress(b"[]") + gzip.compress(b"[{}]"), "headers": {"content-encoding": "gzip"}},
     400, "bytes after its gzip data"),
    ("/predict/salary", {"content": gzip.compress(b"[]" * 1000)[:-12], "headers": {"content-encoding": "gzip"}},
     400, "ends before its gzip data does"),
    ("/predict/salary", {"content": b"[" * 1500}, 400, "nests deeper than 64 levels"),
    ("/predict/salary", {"content": b'{"a":' * 30_000}, 400, "nests deeper than 64 levels"),
    ("/predict/salary", {"content": b'{"\\ud800": 1}'}, 400, "lone surrogate"),
    ("/v2/models/salary/infer", {"content": b'{"id": "\\udfff", "inputs": []}'}, 400, "lone surrogate"),
    ("/predict/salary", {"content": b"[1, 2]"}, 422, 'row 0, field "(row)": expected a JSON object'),
    ("/predict/salary?extra=maybe", {"content": b"{}"}, 400, "extra must be reject or ignore"),
    ("/predict/salary?extr=ignore", {"content": b"{}"}, 400, "unknown query parameter 'extr'; /predict takes only extra"),
    ("/v2/models/salary/infer", {"content": b'{"inputs": [{"name": "age", "datatype": "INT64", "shape": [2], "data": [1]}]}'},
     400, 'shape declares 2 value'),
    ("/v2/models/salary/infer", {"content": b'{"inputs": [{"name": "age", "datatype": "INT64", "shape": [1], "data": [1]}]}'},
     422, "got nothing (field missing)"),
])
def test_bad_requests_get_a_4xx_saying_what_is_wrong(server, path, kwargs, status, words):
    answer = server.post(path, **kwargs)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_unknown_routes_and_methods_answer_json(server):
    assert server.get("/nowhere").json()["error"] == "no endpoint /nowhere; see /docs"
    assert server.get("/predict/salary").status_code == 405


def test_metrics_count_requests_and_show_the_version_served(server, new_rows):
    server.post("/predict/salary", json=records(new_rows.head(2)))
    text = server.get("/metrics").text
    assert 'mldeploy_api_model_version{model="salary"} 1.0' in text
    assert 'mldeploy_api_requests_total{endpoint="predict",model="salary",status="200",version="1"}' in text
    assert "mldeploy_api_batch_rows_bucket" in text and "mldeploy_api_request_seconds_bucket" in text
    assert 'mldeploy_api_gc_pause_seconds_count{generation="0"}' in text  # the server times its collector


def test_model_names_a_client_makes_up_share_one_metrics_label(server):
    """Each unknown name in a URL (or a gRPC ModelReady, open without a token) was a label of its own, for ever."""
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    made_up = [f"nothing-{i}-" + "x" * 2000 for i in range(30)]
    with triton.InferenceServerClient(server.grpc) as client:
        for name in made_up:
            assert server.post(f"/predict/{name}", json={}).status_code == 404
            assert server.get(f"/v2/models/{name}/ready").status_code == 404
            with pytest.raises(InferenceServerException, match="NOT_FOUND"):
                client.is_model_ready(name)
    text = server.get("/metrics").text
    assert not any(name in text for name in made_up) and len(text) < 100_000
    assert 'model="(not served)"' in text


@pytest.mark.slow  # starts a server of its own beside the module's
def test_health_checks_load_nothing_and_name_nothing_to_a_caller_without_a_token(salary_bundle, tmp_path):
    """Readiness of a version not at hand was a load (or a 404 listing the registry's versions); a 404 listed the models."""
    with Registry(root=tmp_path / "registry") as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
        registry.register(salary_bundle)
    with _services.api_server("--registry", str(tmp_path / "registry"), "serve", "salary:production",
                              env={"MLDEPLOY_API_TOKEN": "t0ken"}) as server:
        for _ in range(2):  # a 4xx is "not ready" in the V2 protocol
            answer = httpx.get(server.url + "/v2/models/salary/versions/2/ready")
            assert answer.status_code == 404 and "is not loaded here" in answer.json()["error"]
        assert httpx.get(server.url + "/v2/models/salary/versions/1/ready").json()["ready"] is True
        missing = httpx.get(server.url + "/v2/models/salary/versions/99/ready")
        assert missing.status_code == 404 and "1, 2" not in missing.text
        unknown = httpx.get(server.url + "/v2/models/nothing/ready")
        assert unknown.status_code == 404 and "salary" not in unknown.text and unknown.json()["type"] == "NotFoundError"


def test_an_error_lists_a_bounded_number_of_issues_each_once_and_counts_them_all(server):
    """15 KB of empty rows; 2.9 KB of gzip holding a million of them once made a 91 MB answer."""
    answer = server.post("/predict/salary", content=b"[" + b"{}," * 4999 + b"{}]")
    body = answer.json()
    assert answer.status_code == 422 and len(answer.content) < 300_000
    assert len(body["issues"]) == 1000 and body["issues_total"] == 5000  # one field missing in each row
    listed = [tuple(sorted(issue.items())) for issue in body["issues"]]
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("count", [300_000_000, 10**15, 2**63 - 1])
def test_a_binary_tensor_declaring_more_values_than_its_bytes_hold_is_refused_before_anything_is_allocated(server, count):
    """1,174 bytes declaring a BYTES tensor of 300 million values once allocated 2.95 GB; 10^15 was a 500."""
    raw = b"\x04\x00\x00\x00Oslo"
    head = orjson.dumps({"inputs": [{"name": "city", "datatype": "BYTES", "shape": [count],
                                     "parameters": {"binary_data_size": len(raw)}}]})
    answer = server.post("/v2/models/salary/infer", content=head + raw,
                         headers={"inference-header-content-length": str(len(head))})
    assert answer.status_code == 400, answer.text
    assert f"{count} BYTES element(s) need at least" in answer.json()["error"]


def test_openapi_and_docs_show_the_real_fields_with_an_example(server, model):
    document = server.get("/openapi.json").json()
    record = document["components"]["schemas"]["salary_record"]
    assert list(record["properties"]) == model.schema.names
    assert set(record["example"]) == set(model.schema.names)
    assert "/v2/models/salary/versions/{version}/infer" in document["paths"]
    assert document["servers"] == [{"url": server.url, "description": "this server"}]
    page = server.get("/docs").text
    assert all(f"<code>{name}</code>" in page for name in model.schema.names)
    assert f"curl -s {server.url}/predict/salary" in page and "HOST:PORT" not in page


def test_the_document_requires_only_what_the_server_requires(server, model):
    record = server.get("/openapi.json").json()["components"]["schemas"]["salary_record"]
    nullable = {f.name for f in model.schema.fields if f.nullable}
    assert nullable and set(record["required"]) == set(model.schema.names) - nullable
    for name in nullable:
        assert "may be null or left out: a missing key of a field that may be empty counts as empty" in record["properties"][name]["description"]
    only_nullable_left_out = {k: v for k, v in records(model.bundle.sample().head(1))[0].items() if k not in nullable}
    answer = server.post("/predict/salary", json=only_nullable_left_out)
    assert answer.status_code == 200, answer.text


def test_every_category_is_listed_in_full_and_every_response_is_described(server, model):
    document = server.get("/openapi.json").json()
    properties = document["components"]["schemas"]["salary_record"]["properties"]
    for field in model.schema.fields:
        if field.type == "category":
            listed = properties[field.name].get("enum") or properties[field.name].get("examples")
            assert [v for v in listed if v is not None] == list(field.categories)
            assert "..." not in properties[field.name]["description"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                assert len(response["description"]) > 12, (path, method, code, response["description"])


def test_the_interactive_docs_are_served_from_the_installed_swagger_ui(server):
    page = server.get("/docs").text
    assert "SwaggerUIBundle" in page and "/docs/assets/swagger-ui-bundle.js" in page and "//cdn" not in page
    script = server.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert server.get("/docs/assets/swagger-ui.css").status_code == 200


def test_an_unknown_field_over_http_names_the_query_parameter(server, new_rows):
    answer = server.post("/predict/salary", json={**records(new_rows.head(1))[0], "badge": 7})
    assert answer.status_code == 422
    assert "drop unknown fields or add ?extra=ignore to the URL to leave them out" in answer.json()["error"]
    assert server.post("/predict/salary?extra=ignore", json={**records(new_rows.head(1))[0], "badge": 7}).status_code == 200


def test_without_the_token_only_health_checks_answer(server):
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/salary/ready"):
        assert httpx.get(server.url + path).status_code == 200
    refused = httpx.post(server.url + "/predict/salary", json={})
    assert refused.status_code == 401 and "Authorization: Bearer <token>" in refused.json()["error"]
    wrong = httpx.get(server.url + "/v2/models/salary", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    for scheme in ("bearer", "BEARER", "Bearer"):  # RFC 7235: the scheme is case-insensitive, the token is not
        answer = httpx.get(server.url + "/v2/models/salary", headers={"authorization": f"{scheme} {server.token}"})
        assert answer.status_code == 200, scheme
    assert httpx.get(server.url + "/v2/models/salary",
                     headers={"authorization": f"Bearer {server.token.upper()}x"}).status_code == 401
