"""Session-wide fixtures: real services started with the project's scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import _services
from _services import KafkaBroker, PostgresServer


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
