"""Schemathesis against the server's own OpenAPI document: generated requests, valid and not, never get a 5xx."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

pytestmark = pytest.mark.timeout(150)

CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def test_no_generated_request_gets_a_server_error(server):
    document = httpx.get(server.url + "/openapi.json", headers=server.headers, timeout=10).json()
    operations = [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        # A bounded number of examples per operation keeps the run to seconds; derandomize makes it repeatable.
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
        def check(case):
            case.call_and_validate(base_url=server.url, headers=server.headers, timeout=10, checks=CHECKS)

        check()
