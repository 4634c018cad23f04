"""The two pipelines every benchmark measures: the salary regressor and a random-forest classifier."""

from __future__ import annotations


def pipelines(train_rows: int):
    """Return [(name, fitted pipeline, training features)] for the salary regressor and a forest classifier."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    from mldeploy.examples import salary
    from mldeploy.ops.training import default_pipeline

    train = salary.generate(train_rows, seed=7)
    features, target = train.drop(columns=salary.TARGET), train[salary.TARGET]
    regressor = salary.default_pipeline().fit(features, target)
    forest = default_pipeline(salary.COLUMNS, task="classification", select_k=28)
    forest.set_params(model=RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=0, n_jobs=1))
    forest.fit(features, np.where(target > target.median(), "high", "low"))
    return [("salary HGB regressor", regressor, features), ("random-forest classifier", forest, features)]
