"""Check a training table, then build, fit and evaluate a whole pipeline on it.

:func:`train` runs the table checks first (target, chosen columns, typos in
numeric columns; see ``target.py`` and ``columns.py``), so an ordinary mistake
costs no training run. The default pipeline is what ``mldeploy train`` fits
when the user gives no factory: imputation, a derived log feature for skewed
non-negative numbers, scaling, one-hot encoding, univariate feature selection
and histogram gradient boosting.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mldeploy.errors import ConfigError, shorten
from mldeploy.ops.error_model import ErrorModel
from mldeploy.ops.columns import ColumnKinds, check_numeric_text, choose_features, column_kinds_of
from mldeploy.ops.leaks import find_leaks
from mldeploy.ops.target import check_target, task_of_target

__all__ = ["ColumnKinds", "TrainResult", "default_pipeline", "evaluate", "column_kinds_of", "task_of_target", "load_factory", "residual_quantiles", "train"]

_MIN_ROWS = 10


@dataclass(frozen=True)
class TrainResult:
    """A fitted pipeline with its held-out metrics, training features and what the user should know."""

    pipeline: Pipeline
    metrics: dict
    task: str
    features: pd.DataFrame
    warnings: tuple[str, ...] = ()
    """Findings worth a look that did not stop training (a feature that leaks the target)."""
    error_model: ErrorModel | None = None
    """The estimator of the pipeline's loss, fitted on the held-out rows (see :mod:`mldeploy.ops.error_model`)."""


def default_pipeline(kinds: ColumnKinds, task: str = "regression", max_iter: int = 200, select_k: int | None = None) -> Pipeline:
    """Return the unfitted default pipeline for columns of these kinds."""
    logged = kinds.log_numeric
    parts = [("numeric", _numeric_steps(), list(kinds.numeric))]
    if logged:
        log_steps = Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ])
        parts.append(("log", log_steps, list(logged)))
    if kinds.categorical:
        encode = Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ])
        parts.append(("categorical", encode, list(kinds.categorical)))
    if kinds.boolean:
        parts.append(("flags", "passthrough", list(kinds.boolean)))
    score = f_regression if task == "regression" else f_classif
    model_class = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return Pipeline([
        ("features", ColumnTransformer(parts, verbose_feature_names_out=True)),
        ("select", SelectKBest(score, k=select_k if select_k is not None else "all")),
        ("model", model_class(max_iter=max_iter, learning_rate=0.08, random_state=0)),
    ])


def load_factory(spec: str, search_from: str | Path | None = None) -> Callable[[], Pipeline]:
    """Import a ``module:function`` pipeline factory given on the command line.

    ``search_from`` (the command line passes the current folder) is searched
    first, as ``python -m`` does, so ``my_pipes.py`` next to the data just works.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f'--pipeline "{spec}": expected module:function, e.g. my_project.pipelines:make_pipeline')
    if search_from is not None and str(search_from) not in sys.path:
        # Stays on the path: the pipeline's own classes are imported again when the bundle is checked.
        sys.path.insert(0, str(search_from))
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        where = "the current folder or PYTHONPATH" if search_from is not None else "PYTHONPATH"
        raise ConfigError(f'--pipeline "{spec}": cannot import it ({exc}); check the module is in {where}') from exc


def train(
    frame: pd.DataFrame,
    target: str,
    factory: Callable[[], Pipeline] | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    task: str | None = None,
    drop: Iterable[str] = (),
    features: Sequence[str] | None = None,
) -> TrainResult:
    """Fit a pipeline on a training split of ``frame`` and evaluate it on the held-out rest.

    ``features`` picks the input columns (default: all but the target) and
    ``drop`` leaves some out; ``task`` overrides the task the target suggests.
    Table mistakes (an id as the target, a typo in a numeric column) are
    refused with a ConfigError before fitting; a feature that alone predicts
    the target is fitted but reported in ``TrainResult.warnings``.
    """
    task = check_target(frame, target, task)
    x = choose_features(frame, target, drop, features)
    check_numeric_text(x)
    if len(frame) < _MIN_ROWS:
        raise ConfigError(f"the data has {len(frame)} row(s); training and a held-out check need at least {_MIN_ROWS}")
    labels = frame[target]
    pipeline = _make_pipeline(factory) if factory else default_pipeline(column_kinds_of(x), task, select_k=_select_k(x))
    leaks = tuple(leak.describe() for leak in find_leaks(x, labels, task, seed))
    x_train, x_test, y_train, y_test = train_test_split(x, labels, test_size=test_size, random_state=seed)
    try:
        pipeline.fit(x_train, y_train)
    except Exception as exc:  # the user's pipeline, or data it cannot take: whatever it raises is the input's fault
        raise ConfigError(f"training failed on this data: {type(exc).__name__}: {shorten(exc, 300)}; "
                          "check the column types and empty values") from exc
    predicted = pipeline.predict(x_test)
    errors = ErrorModel.fit(x_test, y_test, predicted, task, seed)
    metrics = evaluate(pipeline, x_test, y_test, task, predicted)
    if task == "regression":
        metrics.update(residual_quantiles(predicted, y_test))
    return TrainResult(pipeline, metrics, task, x_train, leaks, errors)


def _make_pipeline(factory: Callable[[], Pipeline]):
    if not callable(factory):
        raise ConfigError(f"--pipeline names a {type(factory).__name__}, not a function that returns a pipeline")
    try:
        pipeline = factory()
    except Exception as exc:  # the user's code: any failure is theirs to fix, said in one line
        raise ConfigError(f"--pipeline factory failed when called: {type(exc).__name__}: {shorten(exc, 300)}; "
                          "give a function that takes no arguments and returns an unfitted pipeline") from exc
    if not (hasattr(pipeline, "fit") and hasattr(pipeline, "predict")):
        raise ConfigError(f"--pipeline returned a {type(pipeline).__name__}, not an estimator with fit() and predict()")
    return pipeline


def evaluate(pipeline, features: pd.DataFrame, labels: pd.Series, task: str, predicted=None) -> dict:
    """Return held-out metrics: MAE, RMSE and R² for regression; accuracy and macro F1 otherwise.

    ``predicted`` saves predicting again when the caller already has the pipeline's predictions of ``features``.
    """
    predicted = pipeline.predict(features) if predicted is None else predicted
    if task == "regression":
        return {
            "mae": float(mean_absolute_error(labels, predicted)),
            "rmse": float(np.sqrt(mean_squared_error(labels, predicted))),
            "r2": float(r2_score(labels, predicted)),
            "rows": int(len(labels)),
        }
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, average="macro")),
        "rows": int(len(labels)),
    }


def residual_quantiles(predicted, labels) -> dict:
    """Return the 10th and 90th percentiles of held-out residuals (actual minus predicted).

    Stored with the metrics as ``residual_p10`` and ``residual_p90``, they turn
    one estimate into a range that holds about 80% of held-out cases
    (``estimate + residual_p10`` to ``estimate + residual_p90``); bundles made
    before they were recorded simply lack the two keys.
    """
    residuals = np.asarray(labels, dtype=float) - np.asarray(predicted, dtype=float)
    low, high = np.quantile(residuals, [0.1, 0.9])
    return {"residual_p10": float(low), "residual_p90": float(high)}


def _numeric_steps() -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())])


def _select_k(features: pd.DataFrame) -> int | str:
    # Keep most features: selection should drop noise, not signal.
    width = sum(features[c].nunique() if not pd.api.types.is_numeric_dtype(features[c]) else 1 for c in features.columns)
    return "all" if width < 8 else max(4, int(width * 0.8))
