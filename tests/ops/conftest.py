"""Fixtures of the freshness-loop tests: a trained champion, copied fresh into each test's registry."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from mldeploy.bundle import BundleRef
from mldeploy.examples import salary
from mldeploy.ops import gate, retrain
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


@pytest.fixture(scope="session")
def retrained_folder(champion_folder: Path, tmp_path_factory, drifted: pd.DataFrame) -> Path:
    """champion_folder plus salary@2, retrained on the drifted data, not gated yet (a retrain costs seconds: made once)."""
    def retrained(registry: Registry) -> None:
        assert retrain(registry, "salary:production", drifted, "salary").challenger == BundleRef("salary", 2)

    return _folder_after(champion_folder, tmp_path_factory.mktemp("retrained"), retrained)


@pytest.fixture(scope="session")
def gated_folder(retrained_folder: Path, tmp_path_factory, holdout: pd.DataFrame) -> Path:
    """retrained_folder with salary@2's gate against salary@1 passed and recorded."""
    def gated(registry: Registry) -> None:
        assert gate(registry, BundleRef("salary", 2), "salary:production", holdout, "salary").passed

    return _folder_after(retrained_folder, tmp_path_factory.mktemp("gated"), gated)


@pytest.fixture
def registry(champion_folder: Path, tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test only, starting with the champion salary@1 at production."""
    yield from _copy_of(champion_folder, tmp_path)


@pytest.fixture
def challenged(retrained_folder: Path, tmp_path: Path) -> Iterator[Challenged]:
    """A registry of this test only: salary@1 at production and salary@2, retrained on drifted data, not gated."""
    for registry in _copy_of(retrained_folder, tmp_path):
        yield Challenged(registry, BundleRef("salary", 2))


@pytest.fixture
def gated(gated_folder: Path, tmp_path: Path) -> Iterator[Challenged]:
    """A registry of this test only: salary@1 at production and salary@2, which passed its gate against it."""
    for registry in _copy_of(gated_folder, tmp_path):
        yield Challenged(registry, BundleRef("salary", 2))


class Challenged(NamedTuple):
    registry: Registry
    challenger: BundleRef


def _folder_after(folder: Path, parent: Path, step) -> Path:
    """A copy of the registry ``folder`` in ``parent``, with ``step(registry)`` done on it."""
    for registry in _copy_of(folder, parent):
        step(registry)
    return parent / "registry"


def _copy_of(folder: Path, tmp_path: Path) -> Iterator[Registry]:
    root = tmp_path / "registry"
    shutil.copytree(folder, root)
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
