"""Fixtures of the batch tests: the shared registry, and a keyed Parquet input."""

from __future__ import annotations

import pytest

from mldeploy.registry import Registry

from _batch_inputs import people, registry_root


@pytest.fixture(scope="session")
def salary_registry() -> Registry:
    """The registry of :func:`_batch_inputs.registry_root`, open for the session."""
    registry = Registry(root=registry_root())
    yield registry
    registry.close()


@pytest.fixture
def people_parquet(tmp_path):
    """A Parquet file of 3,000 keyed salary rows, and the frame it holds."""
    frame = people(3000)
    path = tmp_path / "people.parquet"
    frame.to_parquet(path, row_group_size=1000)
    return path, frame
