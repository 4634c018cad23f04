"""Compile a fitted pipeline into a :class:`CompiledPipeline`, recording why any step falls back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mldeploy.compiled.plan import StepPlan
from mldeploy.compiled.encoder import RowEncoder
from mldeploy.compiled.features import CodeBase, Feature, OneHotBase, Unsupported
from mldeploy.compiled.guard import base_guards, nan_free_bases
from mldeploy.compiled.graph import tree_graph
from mldeploy.compiled.linear import extract_linear, is_linear_model
from mldeploy.compiled.predictor import CompiledPipeline, feature_to_json
from mldeploy.compiled.steps import describe, input_features, input_policy, transform_features
from mldeploy.compiled.trees import extract_trees, is_tree_model
from mldeploy.compiled.walker import walker_layout

__all__ = ["CompileResult", "StepPlan", "column_kinds", "compile_pipeline"]


@dataclass
class CompileResult:
    """The compiled pipeline (None when it falls back to scikit-learn), the plan, and the check."""

    compiled: CompiledPipeline | None
    plan: list[StepPlan] = field(default_factory=list)
    report: object | None = None
    """The VerifyReport of the check against ``pipeline.predict``, when it ran."""


def column_kinds(frame: pd.DataFrame, columns) -> dict[str, str]:
    """Classify input columns as "number", "bool" or "category" from the sample's dtypes."""
    kinds = {}
    for name in columns:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            kinds[name] = "bool"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[name] = "number"
        else:
            kinds[name] = "category"
    return kinds


def compile_pipeline(pipeline, sample: pd.DataFrame, predicted=None) -> CompileResult:
    """Compile ``pipeline`` and check it against ``pipeline.predict`` on ``sample`` plus edge rows.

    ``predicted`` is ``pipeline.predict(sample)`` when the caller has it already.

    Never raises for an unsupported step: the plan says which step falls back
    and why, and ``compiled`` is None. Example::

        result = compile_pipeline(pipeline, train.drop(columns="salary"))
        if result.compiled is not None:
            result.compiled.predict_records([{"age": 31, ...}])
    """
    steps = list(pipeline.steps) if isinstance(pipeline, Pipeline) else [("model", pipeline)]
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None:
        first, step = steps[0]
        why = (f"{type(step).__name__} has no input column names (fitted on an array, or a step that does "
               "not record feature_names_in_), so columns cannot be matched")
        rest = [StepPlan(n, "fallback", "an earlier step is not compiled") for n, _ in steps[1:]]
        return CompileResult(None, [StepPlan(first, "fallback", why), *rest])
    plan: list[StepPlan] = []
    try:
        compiled = _compile(steps, list(names), column_kinds(sample, names), plan)
    except Unsupported as exc:
        plan.append(StepPlan(steps[len(plan)][0], "fallback", str(exc)))
        plan.extend(StepPlan(name, "fallback", "an earlier step is not compiled") for name, _ in steps[len(plan):])
        return CompileResult(None, plan)
    from mldeploy.compiled.verification import VerifyReport, check_engines, verify

    # The other engines' checks run in C, numba and onnxruntime, mostly without the GIL: on a thread of its own,
    # beside the verification (mostly scikit-learn's Python), it hides most of its time (salary: 12 of 16 ms).
    graph_check = VerifyReport()
    with ThreadPoolExecutor(1, thread_name_prefix="mldeploy-engine-check") as pool:
        checking = pool.submit(check_engines, compiled, sample, graph_check)
        result = CompileResult(compiled, plan, verify(compiled, pipeline, sample, predicted=predicted))
        if result.report.ok:  # an engine counts as proven only for a compiled form verified itself
            checking.result()
            result.report.engines += graph_check.engines
    if not result.report.ok:
        result.plan = [StepPlan(p.step, "fallback", f"verification failed: {result.report.summary()}") for p in plan]
        result.compiled = None
    return result


def _compile(steps: list, names: list[str], kinds: dict[str, str], plan: list) -> CompiledPipeline:
    features = input_features(kinds)
    guards: list = []
    for name, step in steps[:-1]:
        features = transform_features(step, features, guards)
        plan.append(StepPlan(name, "compiled", f"{describe(step)} -> {len(features)} features"))
    model_name, model = steps[-1]
    if not all(isinstance(feature, Feature) for feature in features):
        raise Unsupported("a text column reaches the model without an encoder")
    if getattr(model, "n_features_in_", len(features)) != len(features):
        raise Unsupported(f"the model expects {model.n_features_in_} features, the compiler made {len(features)}")
    if input_policy(model) is not None:
        guards.append((input_policy(model), features))
    if is_tree_model(model):
        compiled = _compile_trees(model, features, names, kinds, guards)
    elif is_linear_model(model):
        compiled = _compile_linear(model, features, names, kinds, guards)
    else:
        raise Unsupported(f"{type(model).__name__} is not among the compiled models")
    plan.append(StepPlan(model_name, "compiled", f"{type(model).__name__} as {compiled.spec['kind']}"))
    compiled.spec["plan"] = [[p.step, p.status, p.reason] for p in plan]
    return compiled


def _compile_trees(model, features: list[Feature], names: list[str], kinds: dict, guards: list) -> CompiledPipeline:
    trees = extract_trees(model)
    used = sorted({int(j) for tree in trees.trees for j in tree.feature[tree.left >= 0]}) or [0]
    indicators = [_indicator(feature) for feature in features]
    index: dict = {}
    base_of = [index.setdefault(feature.base, len(index)) if j in used else 0 for j, feature in enumerate(indicators)]
    checked = {base.column for base in index if _is_strict(base)}
    for feature in features:  # unseen categories the pipeline rejects are refused even in columns trees ignore
        if _is_strict(feature.base) and feature.base.column not in checked:
            index.setdefault(feature.base, len(index))
    features = indicators
    guard = base_guards(guards, index)
    nan_free = nan_free_bases(index, guard)
    folds: dict = {}  # the graph and the walker fold the same splits: once
    model_bytes = tree_graph(trees, features, base_of, len(index), nan_free, folds)
    spec = _spec("trees", trees.post, trees.n_estimators, names, kinds, trees.classes)
    spec["n_targets"] = trees.n_targets
    arrays = {**_classes(trees.classes), **(walker_layout(trees, features, base_of, nan_free, folds) or {})}
    return CompiledPipeline(_encoder(index, kinds, guard), spec, arrays, model_bytes)


def _is_strict(base) -> bool:
    """Whether the encoder refuses unseen categories for this base."""
    return getattr(base, "strict", False) or getattr(base, "unknown", 0.0) is None


def _indicator(feature: Feature) -> Feature:
    """Read a one-hot feature from its own 0/1 column: trees then split with ``<=`` only."""
    if isinstance(feature.base, CodeBase):
        return Feature(OneHotBase.of(feature), feature.chain)
    return feature


def _compile_linear(model, features: list[Feature], names: list[str], kinds: dict, guards: list) -> CompiledPipeline:
    linear = extract_linear(model)
    index: dict = {}
    base_of = [index.setdefault(feature.base, len(index)) for feature in features]
    guard = base_guards(guards, index)
    spec = _spec("linear", linear.post, 1, names, kinds, linear.classes)
    spec["features"] = [feature_to_json(feature, i) for feature, i in zip(features, base_of)]
    arrays = {**_classes(linear.classes), "coef": linear.coef, "intercept": linear.intercept}
    return CompiledPipeline(_encoder(index, kinds, guard), spec, arrays)


def _encoder(index: dict, kinds: dict, guards: dict) -> RowEncoder:
    return RowEncoder(list(index), [name for name, kind in kinds.items() if kind == "number"], guards)


def _spec(kind: str, post: str, n_estimators: int, names: list, kinds: dict, classes) -> dict:
    return {
        "kind": kind, "post": post, "n_estimators": int(n_estimators), "columns": list(names),
        "column_kinds": dict(kinds),
        "classes_object": classes is not None and np.asarray(classes).dtype == object,
    }


def _classes(classes) -> dict:
    return {} if classes is None else {"classes": np.asarray(classes)}
