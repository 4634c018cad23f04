"""Fixtures for the command-line tests: a small registry that takes seconds, not a training run."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory) -> str:
    """A registry folder holding sign@1: a logistic regression over x and y with classes hi and lo."""
    from sklearn.linear_model import LogisticRegression

    from mldeploy import Bundle
    from mldeploy.registry import open_registry

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    pipeline = LogisticRegression().fit(features, np.where(features["x"] > 0, "hi", "lo"))
    root = tmp_path_factory.mktemp("tiny") / "registry"
    with open_registry(root, create=True) as registry:
        registry.register(Bundle.from_pipeline(pipeline, features, name="sign"))
    return str(root)
