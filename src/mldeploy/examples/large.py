"""A model as large as asked: a neural network with two wide hidden layers.

Streams and caches must carry bundles of tens of megabytes. This pipeline
makes one of about a chosen size in seconds: the weights between its two
hidden layers take 16 bytes each (scikit-learn keeps them twice) and, being
random floats, barely compress. It
is trained only briefly (its predictions are real, not good), and it predicts
256 rows in a fraction of a second, as a large production model would.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "pipeline"]

FEATURES = 10


def pipeline(megabytes: float, seed: int = 0):
    """Return (fitted pipeline, training features) whose bundle is about ``megabytes`` MB."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # width x width float64 weights between the hidden layers, kept twice (scikit-learn also keeps the best ones)
    width = max(8, int(math.sqrt(megabytes * 1e6 / 16)))
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(300, FEATURES)), columns=[f"x{i}" for i in range(FEATURES)])
    network = MLPRegressor(hidden_layer_sizes=(width, width), solver="lbfgs", max_iter=1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one pass is on purpose: size, not accuracy
        return make_pipeline(StandardScaler(), network).fit(features, features.sum(axis=1)), features
