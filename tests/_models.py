"""Small trained pipelines shared by tests.

The gradient-boosted salary pipelines take seconds to fit: they are fitted once
per version of the code and libraries and kept in the disk cache (``_cache``);
the linear ones fit in milliseconds and are fitted in each test process.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import _cache
from mldeploy.examples import salary


@functools.lru_cache(maxsize=None)
def salary_data(rows: int = 3000, seed: int = 7, drift: float = 0.0) -> pd.DataFrame:
    return salary.generate(rows, seed=seed, drift=drift)


@functools.lru_cache(maxsize=None)
def salary_pipeline(rows: int = 3000, seed: int = 7, max_iter: int = 25):
    """Return (the salary pipeline fitted on ``salary_data(rows, seed)``, those training features)."""
    data = salary_data(rows, seed)
    features = data.drop(columns=salary.TARGET)

    def fit():
        return salary.default_pipeline(max_iter=max_iter).fit(features, data[salary.TARGET])

    return _cache.cached_pipeline(f"salary-pipeline-{rows}-{seed}-{max_iter}", fit), features


CUSTOM_TYPES = ("custom_features.ExperienceRatio",)
"""The test code :func:`custom_pipeline` holds: bundles of it must be made and loaded trusting these."""


@functools.lru_cache(maxsize=None)
def custom_pipeline():
    """Return (the salary pipeline behind a user's own ExperienceRatio step, the training features)."""
    from sklearn.base import clone

    from custom_features import ExperienceRatio

    base, features = salary_pipeline()

    def fit():
        return make_pipeline(ExperienceRatio(), clone(base)).fit(features, salary_data()[salary.TARGET])

    return _cache.cached_pipeline("custom-pipeline", fit, CUSTOM_TYPES), features


@functools.lru_cache(maxsize=None)
def strict_pipeline():
    """A pipeline with no imputer and no unseen handling: nulls are refused."""
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=200), "n": rng.integers(0, 10, 200)})
    target = 2 * features["x"] + features["n"]
    return make_pipeline(StandardScaler(), Ridge()).fit(features, target), features


@functools.lru_cache(maxsize=None)
def iris_like_classifier():
    """Return (a fitted 3-class classifier, its training features)."""
    rng = np.random.default_rng(1)
    features = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    labels = np.where(features["a"] > 0.5, "high", np.where(features["a"] < -0.5, "low", "mid"))
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels), features


_TRAINED_FOLDERS: list = []  # kept alive for the process: each folder goes when the interpreter exits


@functools.lru_cache(maxsize=None)
def trained_salary_bundle():
    """Return the folder of a salary bundle made as `mldeploy train` makes one: profile, compiled form, error model."""
    import tempfile
    from pathlib import Path

    from mldeploy.bundle import Bundle
    from mldeploy.ops.training import train

    result = train(salary_data(6000, seed=1), salary.TARGET, factory=lambda: salary.default_pipeline(max_iter=40))
    scratch = tempfile.TemporaryDirectory(prefix="mldeploy-trained-")
    _TRAINED_FOLDERS.append(scratch)
    bundle = Bundle.from_pipeline(result.pipeline, result.features, name="salary", metrics=result.metrics,
                                  directory=Path(scratch.name) / "salary", extra_files=result.error_model.to_files())
    return bundle.path
