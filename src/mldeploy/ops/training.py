"""Build, fit and evaluate the default whole pipeline for any table.

The default pipeline is what ``mldeploy train`` fits when the user gives no
factory: imputation, a derived log feature for skewed non-negative numbers,
scaling, one-hot encoding, univariate feature selection and histogram
gradient boosting.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

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

from mldeploy.errors import ConfigError

__all__ = ["ColumnKinds", "TrainResult", "default_pipeline", "evaluate", "infer_column_kinds", "infer_task", "load_factory", "train"]

# A numeric column this skewed (and never negative) also gets a log1p feature.
_SKEW_FOR_LOG = 2.0
_MAX_CATEGORIES = 200
_MIN_ROWS = 10


@dataclass(frozen=True)
class ColumnKinds:
    """Which input columns the default pipeline treats as numbers, categories and flags."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    log_numeric: tuple[str, ...] = ()
    """Numeric columns that also get a derived log1p feature."""


@dataclass(frozen=True)
class TrainResult:
    """A fitted pipeline with its held-out metrics and training features."""

    pipeline: Pipeline
    metrics: dict
    task: str
    features: pd.DataFrame


def infer_column_kinds(frame: pd.DataFrame) -> ColumnKinds:
    """Sort a frame's columns into numeric, categorical and boolean by dtype."""
    numeric, categorical, boolean, logged = [], [], [], []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            boolean.append(name)
        elif pd.api.types.is_numeric_dtype(column):
            numeric.append(name)
            if column.min() >= 0 and column.skew() > _SKEW_FOR_LOG:
                logged.append(name)
        elif column.nunique() <= _MAX_CATEGORIES:
            categorical.append(name)
        else:
            raise ConfigError(
                f'column "{name}" has {column.nunique()} distinct text values; the default pipeline '
                f"one-hot encodes at most {_MAX_CATEGORIES}: drop it or pass --pipeline module:factory"
            )
    return ColumnKinds(tuple(numeric), tuple(categorical), tuple(boolean), tuple(logged))


def infer_task(target: pd.Series) -> str:
    """Return "classification" for text, boolean or few-valued integer targets, else "regression"."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    if pd.api.types.is_integer_dtype(target) and target.nunique() <= 20:
        return "classification"
    return "regression"


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


def load_factory(spec: str) -> Callable[[], Pipeline]:
    """Import a ``module:function`` pipeline factory given on the command line."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f'--pipeline "{spec}": expected module:function, e.g. my_project.pipelines:make_pipeline')
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f'--pipeline "{spec}": cannot import it ({exc}); check the module is on PYTHONPATH') from exc


def train(
    frame: pd.DataFrame,
    target: str,
    factory: Callable[[], Pipeline] | None = None,
    test_size: float = 0.2,
    seed: int = 0,
) -> TrainResult:
    """Fit a pipeline on a training split of ``frame`` and evaluate it on the held-out rest."""
    _check_training_data(frame, target)
    features = frame.drop(columns=[target])
    labels = frame[target]
    task = infer_task(labels)
    pipeline = _make_pipeline(factory) if factory else default_pipeline(infer_column_kinds(features), task, select_k=_select_k(features))
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=test_size, random_state=seed)
    try:
        pipeline.fit(x_train, y_train)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"training failed on this data: {exc}; check the column types and empty values") from exc
    return TrainResult(pipeline, evaluate(pipeline, x_test, y_test, task), task, x_train)


def _check_training_data(frame: pd.DataFrame, target: str) -> None:
    if target not in frame.columns:
        raise ConfigError(f'target column "{target}" is not in the data; columns are: {", ".join(map(str, frame.columns))}')
    empty = frame.index[frame[target].isna()].tolist()
    if empty:
        rows = ", ".join(map(str, empty[:5])) + (", ..." if len(empty) > 5 else "")
        raise ConfigError(f'target column "{target}" is empty in {len(empty)} row(s) ({rows}); drop or fill those rows')
    if len(frame) < _MIN_ROWS:
        raise ConfigError(f"the data has {len(frame)} row(s); training and a held-out check need at least {_MIN_ROWS}")


def _make_pipeline(factory: Callable[[], Pipeline]):
    pipeline = factory()
    if not (hasattr(pipeline, "fit") and hasattr(pipeline, "predict")):
        raise ConfigError(f"--pipeline returned a {type(pipeline).__name__}, not an estimator with fit() and predict()")
    return pipeline


def evaluate(pipeline, features: pd.DataFrame, labels: pd.Series, task: str) -> dict:
    """Return held-out metrics: MAE, RMSE and R² for regression; accuracy and macro F1 otherwise."""
    predicted = pipeline.predict(features)
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


def _numeric_steps() -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())])


def _select_k(features: pd.DataFrame) -> int | str:
    # Keep most features: selection should drop noise, not signal.
    width = sum(features[c].nunique() if not pd.api.types.is_numeric_dtype(features[c]) else 1 for c in features.columns)
    return "all" if width < 8 else max(4, int(width * 0.8))
