"""verify_export: the exported ONNX model is run by onnxruntime and compared with scikit-learn before it ships."""

from __future__ import annotations

import pytest

from _zoo import CLASSIFIERS, make_frame, make_pipeline
from mldeploy.compiled import compile_pipeline, export_onnx, verify_export

pytestmark = pytest.mark.timeout(120)


def test_the_salary_export_is_proven_bit_identical(salary_compiled, salary_pipeline, salary_data) -> None:
    compiled = salary_compiled.compiled
    report = verify_export(export_onnx(compiled), compiled, salary_pipeline, salary_data[0].iloc[:300])
    assert report.ok, report.summary()
    assert report.rows > 300 and report.exact_rows == report.rows
    assert report.refused_rows > 0  # the infinite edge rows: the graph marks them refused, as scikit-learn refuses them


def test_a_classifier_export_is_proven_on_labels_and_probabilities() -> None:
    frame, target = make_frame(600, seed=1, classes=3)
    pipeline = make_pipeline(CLASSIFIERS["forest"](), classifier=True).fit(frame, target)
    compiled = compile_pipeline(pipeline, frame).compiled
    report = verify_export(export_onnx(compiled), compiled, pipeline, frame)
    assert report.ok and report.exact_rows == report.rows, report.summary()


def test_an_export_of_another_pipeline_is_caught(salary_compiled, salary_pipeline, salary_data) -> None:
    from mldeploy.examples import salary

    features, target = salary_data
    other = salary.default_pipeline(max_iter=5).fit(features, target)
    wrong = export_onnx(compile_pipeline(other, features.iloc[:300]).compiled)
    report = verify_export(wrong, salary_compiled.compiled, salary_pipeline, features.iloc[:300])
    assert not report.ok and "differ beyond" in report.summary()
