"""Session-wide fixtures: real services started with the project's scripts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import _bundles
import _services
from _markers import _services_used_are_marked, pytest_collection_modifyitems, pytest_fixture_setup  # noqa: F401  (hooks)
from mldeploy.registry import Registry
from _services import KafkaBroker, PostgresServer

# The C tree kernels the tests build go under the project's .cache, not the user's home
# (set before any test runs, so the processes the tests start find the same build).
os.environ.setdefault("MLDEPLOY_NATIVE_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "native"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Run one throwaway PostgreSQL for the whole session; fail (never skip) if it cannot start."""
    try:
        with _services.postgres_server() as server:
            yield server
    except _services.ServiceError as exc:
        pytest.fail(f"PostgreSQL could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of the session's PostgreSQL ``postgres`` database."""
    return postgres_server.url


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh database that only this test uses."""
    with _services.temporary_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """Run one KRaft Kafka broker for the whole session; fail (never skip) if it cannot start."""
    try:
        with _services.kafka_broker() as broker:
            yield broker
    except _services.ServiceError as exc:
        pytest.fail(f"Kafka could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def salary_registry(tmp_path_factory) -> Registry:
    """A registry holding salary@1 and salary@2 (the same pipeline, so always compatible)."""
    root = tmp_path_factory.mktemp("stream-registry")
    bundle = _bundles.salary_bundle_at(root / "bundle")
    registry = Registry(root=root / "registry")
    registry.register(bundle)
    registry.register(bundle)
    return registry
