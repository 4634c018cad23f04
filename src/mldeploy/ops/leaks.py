"""Find features that predict the target almost perfectly on their own: a likely leak.

A column filled in after the outcome was known (a "final_price" next to
"price", a status code that encodes the label) trains a model that scores
brilliantly on held-out rows and fails in production. Each feature gets one
small decision tree fitted on it alone; held-out scores close to perfect are
reported, never acted on: the user decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Leak", "find_leaks"]

# Held-out R² (regression) or balanced accuracy (classification) from one feature alone.
LEAK_SCORE = 0.98
_LEAF_NODES = 256
_MAX_ROWS = 20_000


@dataclass(frozen=True)
class Leak:
    """A feature whose values alone predict the target on held-out rows."""

    feature: str
    score: float
    metric: str

    def describe(self) -> str:
        """Return the one-line warning the command line prints."""
        return (
            f'feature "{self.feature}" alone predicts the target ({self.metric} {self.score:.3f} on held-out rows); '
            f"if it is only known after the outcome, it leaks the answer: leave it out with --drop {self.feature}"
        )


def find_leaks(features: pd.DataFrame, labels: pd.Series, task: str, seed: int = 0) -> list[Leak]:
    """Return every feature that alone scores at least ``LEAK_SCORE`` on a held-out half of the rows."""
    if len(features) > _MAX_ROWS:  # a sample decides as well and keeps this check under a second
        features = features.sample(n=_MAX_ROWS, random_state=seed)
        labels = labels.loc[features.index]
    order = np.random.default_rng(seed).permutation(len(features))
    half = len(order) // 2
    fit_rows, test_rows = order[:half], order[half:]
    leaks = []
    for name in features.columns:
        score = _score_alone(_as_numbers(features[name]), labels.to_numpy(), fit_rows, test_rows, task)
        if score is not None and score >= LEAK_SCORE:
            leaks.append(Leak(str(name), score, "R²" if task == "regression" else "balanced accuracy"))
    return leaks


def _as_numbers(column: pd.Series) -> np.ndarray:
    """Numbers as floats (NaN for empty); text and flags as category codes, which a tree can split."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=float).reshape(-1, 1)
    codes = pd.Series(pd.Categorical(column.astype(object).where(column.notna(), None))).cat.codes
    return codes.to_numpy(dtype=float).reshape(-1, 1)


def _score_alone(x: np.ndarray, y: np.ndarray, fit_rows, test_rows, task: str) -> float | None:
    from sklearn.metrics import balanced_accuracy_score, r2_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if task == "regression":
        if np.ptp(y[test_rows].astype(float)) == 0:
            return None
        tree = DecisionTreeRegressor(max_leaf_nodes=_LEAF_NODES, random_state=0).fit(x[fit_rows], y[fit_rows])
        return float(r2_score(y[test_rows], tree.predict(x[test_rows])))
    if len(set(y[test_rows].tolist())) < 2:
        return None
    tree = DecisionTreeClassifier(max_leaf_nodes=_LEAF_NODES, random_state=0).fit(x[fit_rows], y[fit_rows].astype(str))
    return float(balanced_accuracy_score(y[test_rows].astype(str), tree.predict(x[test_rows])))
