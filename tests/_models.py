"""Small trained pipelines shared by tests (trained once per test process)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mldeploy.examples import salary


@functools.lru_cache(maxsize=None)
def salary_data(rows: int = 3000, seed: int = 7, drift: float = 0.0) -> pd.DataFrame:
    return salary.generate(rows, seed=seed, drift=drift)


@functools.lru_cache(maxsize=None)
def salary_pipeline():
    """Return (fitted salary pipeline, training features)."""
    data = salary_data()
    features = data.drop(columns=salary.TARGET)
    return salary.default_pipeline(max_iter=25).fit(features, data[salary.TARGET]), features


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
