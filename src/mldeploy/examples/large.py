"""A model as large as asked: nearest neighbours that keep their training rows.

Streams and caches must carry bundles of tens of megabytes; this pipeline
makes one of a chosen size quickly (fitting only stores the rows, which are
random and so do not compress). Its predictions are real, if slow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "pipeline"]

FEATURES = 10


def pipeline(megabytes: float, seed: int = 0):
    """Return (fitted pipeline, training features) whose bundle is about ``megabytes`` MB."""
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = max(10, int(megabytes * 1e6 / 8 / FEATURES))
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(rows, FEATURES)), columns=[f"x{i}" for i in range(FEATURES)])
    target = features.sum(axis=1)
    fitted = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=5, algorithm="brute"))
    return fitted.fit(features, target), features
