"""Property tests: generated pipelines of compiled steps agree with scikit-learn on generated rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _examples import examples
from _zoo import CLASSIFIERS, NUMBER_STEPS, REGRESSORS, TEXT_STEPS, make_frame, make_pipeline
from mldeploy.compiled import compile_pipeline

_SETTINGS = settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    return float(np.max(np.where(a == b, 0.0, np.abs(a - b) / np.where(scale == 0, 1, scale)), initial=0.0))


def _compile(pipeline, sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compile_pipeline(pipeline, sample)
    assert result.compiled is not None, [step.reason for step in result.plan]
    return result.compiled


@pytest.mark.timeout(300)
@_SETTINGS
@given(model=st.sampled_from(sorted(REGRESSORS)), number=st.sampled_from(sorted(NUMBER_STEPS)),
       text=st.sampled_from(sorted(TEXT_STEPS)), select=st.sampled_from([None, "kbest", "variance", "model"]),
       seed=st.integers(0, 10_000))
def test_regression_pipelines_match_scikit_learn(model, number, text, select, seed) -> None:
    train, target = make_frame(300, seed)
    rows, _ = make_frame(200, seed + 1)
    pipeline = make_pipeline(REGRESSORS[model](), number, text, select).fit(train, target)
    compiled = _compile(pipeline, train)
    expected = pipeline.predict(rows)
    assert _relative(compiled.predict_frame(rows), expected) <= 1e-9
    assert _relative(compiled.predict_records(rows.to_dict("records")), expected) <= 1e-9
    if model in ("hgb", "forest", "extra", "tree", "gb"):
        assert np.array_equal(compiled.predict_frame(rows), expected)


@pytest.mark.timeout(300)
@_SETTINGS
@given(model=st.sampled_from(sorted(CLASSIFIERS)), number=st.sampled_from(sorted(NUMBER_STEPS)),
       text=st.sampled_from(sorted(TEXT_STEPS)), select=st.sampled_from([None, "kbest", "variance"]),
       classes=st.sampled_from([2, 4]), seed=st.integers(0, 10_000))
def test_classification_pipelines_match_scikit_learn(model, number, text, select, classes, seed) -> None:
    train, target = make_frame(300, seed, classes)
    rows, _ = make_frame(200, seed + 1, classes)
    pipeline = make_pipeline(CLASSIFIERS[model](), number, text, select, classifier=True).fit(train, target)
    compiled = _compile(pipeline, train)
    assert np.array_equal(compiled.predict_frame(rows), pipeline.predict(rows))
    assert np.array_equal(compiled.predict_records(rows.to_dict("records")), pipeline.predict(rows))
    assert _relative(compiled.predict_proba_frame(rows), pipeline.predict_proba(rows)) <= 1e-9
    assert list(compiled.classes_) == list(pipeline.classes_)
