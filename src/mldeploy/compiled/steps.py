"""Translate fitted scikit-learn transformers into feature descriptions, or say why not.

Each handler takes a fitted step and the features entering it and returns the
features leaving it, raising :class:`Unsupported` with a reason for anything it
cannot reproduce exactly. Dispatch is by exact class: a subclass may change
behaviour, so it falls back rather than being guessed at.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_selection import (
    GenericUnivariateSelect, SelectFdr, SelectFpr, SelectFromModel, SelectFwe, SelectKBest,
    SelectPercentile, VarianceThreshold,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer, MaxAbsScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler,
    StandardScaler,
)

from mldeploy.compiled.features import (
    FUNCTIONS, CodeBase, Feature, MissingBase, NumBase, OrdinalBase, TextExpr, Unsupported,
)

__all__ = ["describe", "input_features", "input_policy", "transform_features"]

_SELECTORS = (SelectKBest, SelectPercentile, VarianceThreshold, SelectFromModel, GenericUnivariateSelect,
              SelectFpr, SelectFdr, SelectFwe)


def input_features(column_kinds: dict[str, str]) -> list:
    """Return the features of the raw input columns (kinds: "number", "bool" or "category")."""
    return [TextExpr(name) if kind == "category" else Feature(NumBase(name)) for name, kind in column_kinds.items()]


def describe(step) -> str:
    """Name a step for the plan."""
    return "passthrough" if step in ("passthrough", None) else type(step).__name__


def input_policy(step) -> str | None:
    """Say what a step refuses: "finite" (NaN and inf), "allow-nan" (inf), or None (nothing)."""
    if type(step) in (Pipeline, ColumnTransformer, FunctionTransformer, HistGradientBoostingRegressor,
                      HistGradientBoostingClassifier):
        return None
    return "allow-nan" if step.__sklearn_tags__().input_tags.allow_nan else "finite"


def transform_features(step, features: list, guards: list) -> list:
    """Return the features after ``step``; raise Unsupported when it cannot be compiled exactly.

    ``guards`` collects (policy, features) for each step that validates its input.
    """
    if step in ("passthrough", None):
        return list(features)
    if step == "drop":
        return []
    handler = _HANDLERS.get(type(step))
    if handler is None:
        raise Unsupported(f"{type(step).__name__} is not among the compiled steps")
    expected = getattr(step, "n_features_in_", len(features))
    if expected != len(features):  # before the handler, which pairs features with the step's fitted arrays
        raise Unsupported(f"{type(step).__name__} expects {expected} inputs, the compiler saw {len(features)}")
    policy = input_policy(step)
    if policy is not None:
        guards.append((policy, list(features)))
    if type(step) in (Pipeline, ColumnTransformer):
        return handler(step, list(features), guards)
    return handler(step, list(features))


def _pipeline(step: Pipeline, features: list, guards: list) -> list:
    for _, inner in step.steps:
        features = transform_features(inner, features, guards)
    return features


def _column_transformer(step: ColumnTransformer, features: list, guards: list) -> list:
    indices = getattr(step, "_transformer_to_input_indices", None)
    if indices is None:
        raise Unsupported("this scikit-learn version does not record ColumnTransformer input indices")
    parts = []
    for name, inner, _ in step.transformers_:
        out_slice = step.output_indices_[name]
        if out_slice.stop == out_slice.start:
            continue
        out = transform_features(inner, [features[i] for i in indices[name]], guards)
        if len(out) != out_slice.stop - out_slice.start:
            raise Unsupported(f'ColumnTransformer part "{name}" gives {out_slice.stop - out_slice.start} '
                              f"features, the compiler made {len(out)}")
        parts.append((out_slice.start, out))
    return [feature for _, out in sorted(parts, key=lambda part: part[0]) for feature in out]


def _function(step: FunctionTransformer, features: list) -> list:
    if step.func is None:
        return features
    name = getattr(step.func, "__name__", repr(step.func))
    if step.func is not FUNCTIONS.get(name, (None,))[0] or step.kw_args:
        raise Unsupported(f"FunctionTransformer({name}) is not a known monotone numpy function")
    return [_apply_function(name, feature) for feature in _numeric(features, "FunctionTransformer")]


def _apply_function(name: str, feature: Feature) -> Feature:
    lo = FUNCTIONS[name][1]
    base = feature.base
    if lo is None or not isinstance(base, NumBase):
        return feature.with_op("func", name)
    if feature.chain or base.lo is not None:
        raise Unsupported(f"{name} after another transform of a number: its domain cannot be checked on the input")
    return Feature(NumBase(base.column, base.fill, lo), (("func", name),))


def _imputer(step: SimpleImputer, features: list) -> list:
    if not (isinstance(step.missing_values, float) and math.isnan(step.missing_values)):
        raise Unsupported(f"SimpleImputer(missing_values={step.missing_values!r}): only NaN is compiled")
    out = []
    for feature, statistic in zip(features, step.statistics_):
        if _is_nan(statistic) and not step.keep_empty_features:
            continue
        out.append(_impute(feature, statistic))
    if step.add_indicator:
        out.extend(_indicator(features[i]) for i in step.indicator_.features_)
    return out


def _impute(feature, statistic):
    if isinstance(feature, TextExpr):
        if not isinstance(statistic, str):
            raise Unsupported(f"SimpleImputer fills text column {feature.column!r} with non-text {statistic!r}")
        return feature if feature.fill is not None else TextExpr(feature.column, statistic)
    statistic = float(statistic)
    base = feature.base
    if isinstance(base, NumBase) and not feature.chain and base.fill is None and base.lo is None:
        return Feature(NumBase(base.column, statistic), (), None)
    return feature.with_op("fill", statistic)


def _indicator(feature) -> Feature:
    if isinstance(feature, TextExpr) and feature.fill is None:
        return Feature(MissingBase(feature.column, numeric=False))
    plain = isinstance(feature, Feature) and isinstance(feature.base, NumBase) and feature.base.lo is None
    if plain and feature.base.fill is None and not any(op[0] == "fill" for op in feature.chain):
        return Feature(MissingBase(feature.base.column, numeric=True))
    raise Unsupported("a missing-value indicator after another transform")


def _standard(step: StandardScaler, features: list) -> list:
    return _center_scale(features, "StandardScaler", step.mean_ if step.with_mean else None,
                         step.scale_ if step.with_std else None)


def _center_scale(features: list, name: str, center, scale) -> list:
    """Subtract ``center`` then divide by ``scale`` per feature, as the scalers do (either may be None)."""
    out = []
    for i, feature in enumerate(_numeric(features, name)):
        if center is not None:
            feature = feature.with_op("sub", float(center[i]))
        if scale is not None:
            feature = feature.with_op("div", _positive(scale[i], name))
        out.append(feature)
    return out


def _minmax(step: MinMaxScaler, features: list) -> list:
    if step.clip:
        raise Unsupported("MinMaxScaler(clip=True)")
    return [feature.with_op("mul", _positive(step.scale_[i], "MinMaxScaler")).with_op("add", float(step.min_[i]))
            for i, feature in enumerate(_numeric(features, "MinMaxScaler"))]


def _maxabs(step: MaxAbsScaler, features: list) -> list:
    return [feature.with_op("div", _positive(step.scale_[i], "MaxAbsScaler"))
            for i, feature in enumerate(_numeric(features, "MaxAbsScaler"))]


def _robust(step: RobustScaler, features: list) -> list:
    return _center_scale(features, "RobustScaler", step.center_ if step.with_centering else None,
                         step.scale_ if step.with_scaling else None)


def _onehot(step: OneHotEncoder, features: list) -> list:
    if step.handle_unknown not in ("ignore", "error"):
        raise Unsupported(f"OneHotEncoder(handle_unknown={step.handle_unknown!r})")
    if getattr(step, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with infrequent categories (min_frequency or max_categories)")
    if step.drop_idx_ is not None:
        raise Unsupported("OneHotEncoder(drop=...)")
    out = []
    for feature, categories in zip(_text(features, "OneHotEncoder"), step.categories_):
        base = CodeBase(feature.column, feature.fill, _categories(categories), step.handle_unknown == "error")
        out.extend(Feature(base, (), k) for k in range(len(categories)))
    return out


def _ordinal(step: OrdinalEncoder, features: list) -> list:
    if getattr(step, "_infrequent_enabled", False):
        raise Unsupported("OrdinalEncoder with infrequent categories (min_frequency or max_categories)")
    if np.dtype(step.dtype) != np.float64:
        raise Unsupported(f"OrdinalEncoder(dtype={np.dtype(step.dtype).name}): only float64 is compiled")
    unknown = float(step.unknown_value) if step.handle_unknown == "use_encoded_value" else None
    missing = getattr(step, "_missing_indices", {})
    out = []
    for i, (feature, categories) in enumerate(zip(_text(features, "OrdinalEncoder"), step.categories_)):
        values = [float(k) for k in range(len(categories))]
        if i in missing:
            values[missing[i]] = float(step.encoded_missing_value)
        base = OrdinalBase(feature.column, feature.fill, _categories(categories), tuple(values), unknown)
        out.append(Feature(base))
    return out


def _selector(step, features: list) -> list:
    return [feature for feature, keep in zip(features, step.get_support()) if keep]


def _numeric(features: list, what: str) -> list:
    for feature in features:
        if isinstance(feature, TextExpr):
            raise Unsupported(f"{what} receives text column {feature.column!r}")
    return features


def _text(features: list, what: str) -> list:
    for feature in features:
        if not isinstance(feature, TextExpr):
            raise Unsupported(f"{what} receives a number, not a text column; only text categories are compiled")
    return features


def _categories(categories) -> tuple:
    if not all(value is None or isinstance(value, str) for value in categories):
        raise Unsupported("categories other than text or None (numbers or NaN)")
    return tuple(categories)


def _positive(value, what: str) -> float:
    if not value > 0:
        raise Unsupported(f"{what} with a non-positive scale {value!r}")
    return float(value)


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


_HANDLERS = {
    Pipeline: _pipeline,
    ColumnTransformer: _column_transformer,
    FunctionTransformer: _function,
    SimpleImputer: _imputer,
    StandardScaler: _standard,
    MinMaxScaler: _minmax,
    MaxAbsScaler: _maxabs,
    RobustScaler: _robust,
    OneHotEncoder: _onehot,
    OrdinalEncoder: _ordinal,
    **{selector: _selector for selector in _SELECTORS},
}
