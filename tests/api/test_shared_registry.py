"""Two servers on one PostgreSQL registry follow one alias: one move swaps both."""

import time

import pytest

from mldeploy.registry import Registry

import _services
from _api_data import records, retrained_bundle

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]


def test_one_alias_move_swaps_two_servers(postgres_database, salary_bundle, new_rows, tmp_path):
    row = records(new_rows.head(1))[0]
    with Registry(postgres_database) as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
        second = registry.register(retrained_bundle(5, tmp_path / "v2"))
        args = ("--registry", postgres_database, "serve", "salary:production", "--poll-interval", "0.2")
        servers = [_services.start_api_server(*args) for _ in range(2)]  # both load at once
        try:
            for server in servers:
                _services.wait_ready(server)
            assert [s.post("/predict/salary", json=row).json()["model_version"] for s in servers] == [1, 1]
            registry.set_alias(second, "production")
            deadline = time.monotonic() + 90
            versions = []
            while time.monotonic() < deadline:
                versions = [s.post("/predict/salary", json=row).json()["model_version"] for s in servers]
                if versions == [2, 2]:
                    break
                time.sleep(0.1)
            assert versions == [2, 2]
        finally:
            for server in servers:
                _services.stop_process(server.process)
