"""Read fitted linear models into coefficient arrays and evaluate them on encoded base values.

Linear models need each feature's value, so the feature chains are evaluated
with numpy. The dot product may add up in another order than scikit-learn's
BLAS call: results agree to about 1e-15 relative, not always to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mldeploy.compiled.features import Feature, Unsupported, apply_chain

__all__ = ["LinearModel", "extract_linear", "feature_matrix", "is_linear_model"]


def _linear_types():
    """Return (the regressors read, LogisticRegression); imported here, as saved models run without scikit-learn."""
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge

    return (LinearRegression, Ridge, Lasso, ElasticNet), LogisticRegression


@dataclass
class LinearModel:
    """``X @ coef.T + intercept`` and how to finish it: sum (regression), logistic or softmax."""

    coef: np.ndarray
    intercept: np.ndarray
    post: str
    classes: np.ndarray | None = None


def is_linear_model(model) -> bool:
    """Tell whether ``model`` is one of the linear models this module reads."""
    regressors, logistic = _linear_types()
    return type(model) in regressors or type(model) is logistic


def extract_linear(model) -> LinearModel:
    """Read a fitted linear model; raise Unsupported for several outputs."""
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    _, logistic = _linear_types()
    if type(model) is logistic:
        post = "logistic" if len(model.classes_) <= 2 else "softmax"
        return LinearModel(coef, intercept, post, model.classes_)
    if coef.shape[0] != 1:
        raise Unsupported(f"{type(model).__name__} with several outputs")
    return LinearModel(coef, np.broadcast_to(intercept, (1,)).copy(), "sum")


def feature_matrix(features: list[Feature], base_of: list[int], bases: np.ndarray) -> np.ndarray:
    """Evaluate every feature's chain on the encoded base values: the matrix the model sees."""
    out = np.empty((bases.shape[0], len(features)), dtype=np.float64)
    with np.errstate(all="ignore"):
        for j, feature in enumerate(features):
            column = bases[:, base_of[j]]
            if feature.category is not None:
                column = (column == feature.category).astype(np.float64)
            out[:, j] = apply_chain(feature.chain, column)
    return out


def linear_scores(model: LinearModel, matrix: np.ndarray) -> np.ndarray:
    """Return raw scores: (n, targets)."""
    if np.isnan(matrix).any():
        raise ValueError("Input contains NaN: a missing value reaches a linear model")
    return matrix @ model.coef.T + model.intercept
