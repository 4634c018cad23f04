"""Fixtures of the API tests: a registry holding salary versions, and rows to send."""

from __future__ import annotations

import pytest

from mldeploy.bundle import Bundle
from mldeploy.examples import salary
from mldeploy.registry import Registry

import _bundles
import _services
from _api_data import TOKEN


@pytest.fixture(scope="session")
def salary_bundle(tmp_path_factory) -> Bundle:
    return _bundles.salary_bundle_at(tmp_path_factory.mktemp("api") / "bundle")


@pytest.fixture(scope="session")
def new_rows():
    """Drifted salary rows without their target."""
    return salary.generate(40, seed=21, drift=0.4).drop(columns=salary.TARGET)


@pytest.fixture(scope="session")
def served_registry(tmp_path_factory, salary_bundle) -> str:
    """A sqlite registry with salary@1 aliased production, for the shared server (never changed)."""
    root = tmp_path_factory.mktemp("served") / "registry"
    with Registry(root=root) as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
    return str(root)


@pytest.fixture(scope="session")
def server(served_registry):
    """One real server (REST and gRPC) for the tests that do not change its registry: token required, 200 kB body limit."""
    with _services.api_server("--registry", served_registry, "serve", "salary:production", "--max-body-bytes", "200000", "--grpc-port", "0",
                              env={"MLDEPLOY_API_TOKEN": TOKEN}) as running:
        yield running
