"""Inputs of the batch tests: keyed salary rows, and a registry made once per test process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from mldeploy.bundle import Bundle
from mldeploy.examples import salary
from mldeploy.registry import Registry

import _bundles
import _models


def people(rows: int, seed: int = 3, drift: float = 0.1, first_key: int = 10_000) -> pd.DataFrame:
    """Return salary feature rows with an ``employee_id`` key column first (and no target)."""
    frame = salary.generate(rows, seed=seed, drift=drift).drop(columns=salary.TARGET)
    frame.insert(0, "employee_id", range(first_key, first_key + rows))
    return frame


@functools.lru_cache(maxsize=None)
def registry_root() -> Path:
    """Return a registry folder with salary@1 (alias production), salary@2 (the same pipeline) and grade@1 (3 classes).

    Compiling a bundle is the slow part, so it is done once per process and
    the second salary version reuses the first's bundle.
    """
    root = Path(tempfile.mkdtemp(prefix="mldeploy-batch-registry-"))
    atexit.register(shutil.rmtree, root, True)
    classifier, class_features = _models.iris_like_classifier()
    with Registry(root=root) as registry:
        bundle = _bundles.salary_bundle_at(root / "b1")
        registry.set_alias(registry.register(bundle), "production")
        registry.register(bundle)
        registry.register(Bundle.from_pipeline(classifier, class_features, name="grade", directory=root / "b3"))
    return root
