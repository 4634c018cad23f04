"""Fixtures of the API tests: a registry holding salary versions, and rows to send."""

from __future__ import annotations

import pytest

from mldeploy.bundle import Bundle
from mldeploy.examples import salary
from mldeploy.registry import Registry

import _models
import _services

TOKEN = "s3cret-token"


def retrained_bundle(seed: int, directory) -> Bundle:
    """A salary version trained on other rows, without a compiled form (so it builds and loads in seconds)."""
    data = salary.generate(1500, seed=seed)
    features = data.drop(columns=salary.TARGET)
    pipeline = salary.default_pipeline(max_iter=10).fit(features, data[salary.TARGET])
    return Bundle.from_pipeline(pipeline, features, name="salary", directory=directory, compile=False)


def records(frame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN as None)."""
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


@pytest.fixture(scope="session")
def salary_bundle(tmp_path_factory) -> Bundle:
    pipeline, features = _models.salary_pipeline()
    return Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path_factory.mktemp("api") / "bundle")


@pytest.fixture(scope="session")
def new_rows():
    """Drifted salary rows without their target."""
    return salary.generate(40, seed=21, drift=0.4).drop(columns=salary.TARGET)


@pytest.fixture
def registry_dir(tmp_path, salary_bundle) -> str:
    """A sqlite registry with salary@1 aliased production."""
    with Registry(root=tmp_path / "registry") as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
    return str(tmp_path / "registry")


@pytest.fixture(scope="session")
def served_registry(tmp_path_factory, salary_bundle) -> str:
    """A sqlite registry with salary@1 aliased production, for the shared server (never changed)."""
    root = tmp_path_factory.mktemp("served") / "registry"
    with Registry(root=root) as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
    return str(root)


@pytest.fixture(scope="session")
def server(served_registry):
    """One real server for the tests that do not change its registry: token required, 200 kB body limit."""
    with _services.api_server("--registry", served_registry, "serve", "salary:production", "--max-body-bytes", "200000",
                              env={"MLDEPLOY_API_TOKEN": TOKEN}) as running:
        yield running
