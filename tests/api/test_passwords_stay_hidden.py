"""A run with a password in its database URLs shows it nowhere: logs, errors, HTTP bodies, metrics, CLI output."""

import logging

import httpx
import pytest

from mldeploy.registry import Registry

import _services
from _batch_inputs import people
from _cli import run

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]

PASSWORD = "Pa55-word-never-shown"


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@")  # the test server trusts loopback: any password works


def test_no_output_of_serve_or_batch_shows_the_database_password(postgres_database, salary_bundle, capsys, caplog, tmp_path):
    registry_url, store_url = _with_password(postgres_database), _with_password(postgres_database)
    seen: list[str] = []
    with Registry(registry_url) as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
    caplog.set_level(logging.DEBUG)
    people(20).to_csv(tmp_path / "people.csv", index=False)
    commands = [
        ("--registry", registry_url, "batch", "salary:production", "--input", str(tmp_path / "people.csv"),
         "--key", "employee_id", "--to", store_url),
        ("--registry", registry_url, "versions", "salary"),
        ("--registry", registry_url.replace("postgresql+psycopg", "postgresqlx"), "versions", "salary"),
        ("--registry", registry_url.replace("/test_", ":5x/test_"), "versions", "salary"),
        ("--registry", registry_url.replace("127.0.0.1", "127.0.0.1:1"), "versions", "salary"),
        ("--registry", registry_url, "predict", "salary:prodution", "--input", str(tmp_path / "people.csv")),
        ("lookup", "--db", store_url, "salary", "10000"),
    ]
    codes = []
    for argv in commands:
        code, out, err = run(capsys, *argv)
        codes.append(code)
        seen += [out, err]
    assert codes == [0, 0, 2, 2, 2, 2, 0], codes
    code, out, err = run(capsys, "keygen", "--out", str(tmp_path / "keys"))
    seen += [out, err]
    served = ("--registry", registry_url, "serve", "salary:production")
    logs = []
    for args in (served, ("--public-key", str(tmp_path / "keys.pub"), *served)):  # the second refuses the unsigned bundle
        outputs = _server_outputs(args, ready=len(args) == len(served))
        seen += outputs
        logs.append(outputs[-1])
    # each load and swap is in the server's log at info level, whatever --log-level (warning by default)
    assert "INFO:" in logs[0] and "salary@1 is serving" in logs[0]
    assert "salary@1 refused at the fetch check: the registry's record of salary@1 is not signed" in logs[1]
    seen += [record.getMessage() for record in caplog.records]
    leaks = [line for text in seen for line in text.splitlines() if PASSWORD in line]
    assert leaks == [], "\n".join(leaks)
    assert any("***@" in text for text in seen)  # URLs are still shown, masked


def _server_outputs(args: tuple, ready: bool) -> list[str]:
    """Everything a server answered and logged while asked about its models, health and metrics."""
    server = _services.start_api_server(*args)
    bodies = []
    try:
        _services.wait_ready(server, "/v2/health/ready" if ready else "/v2/health/live")
        for path in ("/v2/health/ready", "/v2/models/salary", "/v2/models/salary/ready", "/v2/models/nothing",
                     "/v2/models/salary/versions/9/ready", "/metrics", "/openapi.json"):
            bodies.append(httpx.get(server.url + path, timeout=10).text)
        bodies.append(httpx.post(server.url + "/predict/salary", json={"age": 1}, timeout=10).text)
    finally:
        server.process.terminate()
        out, err = server.process.communicate(timeout=30)
    return [*bodies, out, err]
