"""Fixtures of the freshness-loop tests: a trained champion, copied fresh into each test's registry."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mldeploy.examples import salary
from mldeploy.ops.registering import train_and_register
from mldeploy.registry import Registry

from _freshness import ROWS, small_recipe

@pytest.fixture(scope="session")
def champion_folder(tmp_path_factory) -> Path:
    """A registry folder holding salary@1 (trained on salary.generate(seed=1)) as salary:production."""
    root = tmp_path_factory.mktemp("champion") / "registry"
    with Registry(root=root) as registry:
        train_and_register(salary.generate(ROWS, seed=1), "salary", registry=registry, alias="production",
                           factory=small_recipe)
    return root


@pytest.fixture
def registry(champion_folder: Path, tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test only, starting with the champion salary@1 at production."""
    root = tmp_path / "registry"
    shutil.copytree(champion_folder, root)
    with Registry(root=root) as opened:
        yield opened


@pytest.fixture(scope="session")
def drifted() -> pd.DataFrame:
    """New data the champion did not see: salary.generate(drift=0.3)."""
    return salary.generate(ROWS, seed=2, drift=0.3)


@pytest.fixture(scope="session")
def holdout() -> pd.DataFrame:
    """Holdout rows from the drifted world, with the target."""
    return salary.generate(600, seed=3, drift=0.3)
