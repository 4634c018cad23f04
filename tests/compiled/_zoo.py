"""Small pipelines over every compiled step and model, for the compiled-form tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
    HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor,
)
from sklearn.feature_selection import SelectFromModel, SelectKBest, VarianceThreshold, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

REGRESSORS = {
    "hgb": lambda: HistGradientBoostingRegressor(max_iter=15, random_state=0),
    "forest": lambda: RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0),
    "extra": lambda: ExtraTreesRegressor(n_estimators=8, max_depth=6, random_state=0),
    "tree": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
    "gb": lambda: GradientBoostingRegressor(n_estimators=15, random_state=0),
    "linear": LinearRegression,
    "ridge": lambda: Ridge(alpha=0.5),
    "lasso": lambda: Lasso(alpha=0.01),
}
CLASSIFIERS = {
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0),
    "extra": lambda: ExtraTreesClassifier(n_estimators=8, max_depth=6, random_state=0),
    "tree": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    "gb": lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
    "logistic": lambda: LogisticRegression(max_iter=500),
}
NUMBER_STEPS = {
    "standard": lambda: [("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())],
    "arcsinh": lambda: [("impute", SimpleImputer(strategy="mean")), ("shape", FunctionTransformer(np.arcsinh)),
                        ("scale", StandardScaler())],
    "minmax": lambda: [("impute", SimpleImputer(strategy="constant", fill_value=-3.0)), ("scale", MinMaxScaler())],
}
TEXT_STEPS = {
    "onehot": lambda: [("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                       ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))],
    "ordinal": lambda: [("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))],
}


def make_frame(rows: int, seed: int, classes: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Return a frame with numbers (some missing), a skewed size, text (some missing) and a flag, and a target."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, rows)
    size = np.exp(rng.normal(3, 1.5, rows))
    color = rng.choice(["red", "green", "blue", "violet"], rows).astype(object)
    flag = rng.random(rows) < 0.4
    a[rng.random(rows) < 0.1] = np.nan
    color[rng.random(rows) < 0.1] = None
    frame = pd.DataFrame({"a": a, "size": size.round(2), "count": rng.poisson(3, rows), "color": color, "flag": flag})
    target = np.nan_to_num(a) * 3 + np.log1p(size) + (color == "red") * 2 + flag + rng.normal(0, 0.3, rows)
    if classes:
        target = np.digitize(target, np.quantile(target, np.linspace(0, 1, classes + 1)[1:-1]))
        target = np.array(["low", "mid", "high", "top"])[target] if classes > 2 else target
    return frame, target


def make_pipeline(model, number: str = "standard", text: str = "onehot", select: str | None = None,
                  classifier: bool = False) -> Pipeline:
    """Return an unfitted pipeline: number and text preprocessing, optional selection, the model."""
    features = ColumnTransformer([
        ("numbers", Pipeline(NUMBER_STEPS[number]()), ["a", "count"]),
        ("size", Pipeline([("impute", SimpleImputer(strategy="mean")), ("log", FunctionTransformer(np.log1p)),
                           ("scale", StandardScaler())]), ["size"]),
        ("text", Pipeline(TEXT_STEPS[text]()), ["color"]),
        ("flags", "passthrough", ["flag"]),
    ])
    steps = [("features", features)]
    if select == "kbest":
        steps.append(("select", SelectKBest(f_classif if classifier else f_regression, k=5)))
    elif select == "variance":
        steps.append(("select", VarianceThreshold(0.05)))
    elif select == "model":
        steps.append(("select", SelectFromModel(Lasso(alpha=0.05) if not classifier else
                                                LogisticRegression(max_iter=300), max_features=5)))
    steps.append(("model", model))
    return Pipeline(steps)
