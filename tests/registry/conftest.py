"""Fixtures shared by the registry tests: a small real bundle and a registry on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import _models
from mldeploy.bundle import Bundle
from mldeploy.registry import Registry


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory) -> Bundle:
    """A compiled bundle of a two-column ridge regression, named salary (quick to build and register)."""
    pipeline, features = _models.strict_pipeline()
    return Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path_factory.mktemp("small") / "b")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty registry: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry' / 'registry.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def any_registry(registry_url: str, tmp_path: Path) -> Iterator[Registry]:
    """A new registry on each backend, its cache in the test's folder."""
    with Registry(registry_url, root=tmp_path / "root") as opened:
        yield opened
