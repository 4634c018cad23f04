"""Schemathesis against the server's own OpenAPI document: generated requests, valid and not, never get a 5xx."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, negative_data_rejection, not_a_server_error,
                                 positive_data_acceptance, response_schema_conformance)
from schemathesis.generation import GenerationMode

from _examples import examples

pytestmark = pytest.mark.timeout(150)

CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def test_no_generated_request_gets_a_server_error(server):
    document = httpx.get(server.url + "/openapi.json", headers=server.headers, timeout=10).json()
    operations = [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        # A bounded number of examples per operation keeps the run to seconds; derandomize makes it repeatable.
        @given(case=operation.as_strategy())
        @settings(max_examples=examples(15), deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
        def check(case):
            case.call_and_validate(base_url=server.url, headers=server.headers, timeout=10, checks=CHECKS)

        check()


def _predict_operation(server):
    document = httpx.get(server.url + "/openapi.json", headers=server.headers, timeout=10).json()
    del document["security"]  # every call carries the token: a case "without" it would still send it
    schema = schemathesis.openapi.from_dict(document)
    (operation,) = [r.ok() for r in schema.get_all_operations() if r.ok().path == "/predict/salary"]
    return operation


@pytest.mark.parametrize(("mode", "check"), [(GenerationMode.POSITIVE, positive_data_acceptance),
                                             (GenerationMode.NEGATIVE, negative_data_rejection)])
def test_the_document_and_the_server_agree_on_what_a_prediction_request_may_be(server, mode, check):
    # Positive cases (valid by the document) must be answered 2xx, negative ones (invalid by it) 4xx:
    # a field marked required that the server does not need, or a value it takes that the document
    # refuses, turns this red.
    operation = _predict_operation(server)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    def agree(case):
        case.call_and_validate(base_url=server.url, headers=server.headers, timeout=10,
                               checks=[not_a_server_error, check])

    agree()


def test_an_infer_request_without_inputs_is_refused_by_the_document_and_the_server(server):
    document = httpx.get(server.url + "/openapi.json", headers=server.headers, timeout=10).json()
    operation = document["paths"]["/v2/models/salary/infer"]["post"]
    schema = _resolved(document, operation["requestBody"]["content"]["application/json"]["schema"])
    assert _resolved(document, schema["properties"]["inputs"])["minItems"] == 1
    answer = httpx.post(server.url + "/v2/models/salary/infer", json={"inputs": []}, headers=server.headers, timeout=10)
    assert 400 <= answer.status_code < 500 and answer.json()["error"]


def _resolved(document: dict, schema: dict) -> dict:
    """Follow ``$ref``s (``#/components/schemas/NAME``) to the schema they name."""
    while "$ref" in schema:
        target = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema
