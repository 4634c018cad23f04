"""Shared pieces of the batch tests: a registry holding the salary model, and keyed input tables."""

from __future__ import annotations

import pandas as pd
import pytest

from mldeploy.bundle import Bundle
from mldeploy.examples import salary
from mldeploy.registry import Registry

import _models


@pytest.fixture(scope="session")
def salary_registry(tmp_path_factory) -> Registry:
    """A registry with salary@1 (alias production), salary@2 (the same pipeline again) and a 3-class model 'grade@1'."""
    root = tmp_path_factory.mktemp("batch-registry")
    registry = Registry(root=root)
    pipeline, features = _models.salary_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="salary", directory=root / "b1")
    registry.set_alias(registry.register(bundle), "production")
    registry.register(bundle)  # compiling a bundle is the slow part; a second version needs no new fit
    classifier, class_features = _models.iris_like_classifier()
    registry.register(Bundle.from_pipeline(classifier, class_features, name="grade", directory=root / "b3"))
    yield registry
    registry.close()


def people(rows: int, seed: int = 3, drift: float = 0.1, first_key: int = 10_000) -> pd.DataFrame:
    """Return salary feature rows with an ``employee_id`` key column first (and no target)."""
    frame = salary.generate(rows, seed=seed, drift=drift).drop(columns=salary.TARGET)
    frame.insert(0, "employee_id", range(first_key, first_key + rows))
    return frame


@pytest.fixture
def people_parquet(tmp_path):
    """A Parquet file of 3,000 keyed salary rows, and the frame it holds."""
    frame = people(3000)
    path = tmp_path / "people.parquet"
    frame.to_parquet(path, row_group_size=1000)
    return path, frame
