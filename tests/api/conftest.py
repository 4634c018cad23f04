"""Fixtures of the API tests: a registry holding salary versions, and rows to send."""

from __future__ import annotations

import pytest

from mldeploy.bundle import Bundle
from mldeploy.examples import salary
from mldeploy.registry import Registry

import _models


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
