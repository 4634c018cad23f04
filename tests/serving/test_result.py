"""Prediction: one result type with the version and path that made it, JSON-ready."""

import json

import numpy as np
import pytest

from mldeploy.bundle import BundleRef
from mldeploy.serving.result import Prediction, ServingPath

pytestmark = pytest.mark.timeout(30)


def test_a_classifier_result_is_json_ready_with_plain_labels():
    result = Prediction(BundleRef("tiers", 3), ServingPath.COMPILED, np.array([np.int64(2), np.int64(0)]),
                        np.array([[0.1, 0.9], [0.8, 0.2]]), (np.int64(0), np.int64(2)))
    data = result.to_json()
    assert json.loads(json.dumps(data)) == {
        "model_name": "tiers", "model_version": 3, "path": "compiled",
        "predictions": [2, 0], "classes": [0, 2], "probabilities": [[0.1, 0.9], [0.8, 0.2]],
    }


def test_slice_keeps_the_version_and_splits_rows_and_probabilities():
    result = Prediction(BundleRef("tiers", 1), ServingPath.SCIKIT_LEARN, np.array(["a", "b", "c"], dtype=object),
                        np.eye(3), ("a", "b", "c"))
    part = result.slice(1, 3)
    assert len(part) == 2 and part.version == 1 and part.path is ServingPath.SCIKIT_LEARN
    assert part.values.tolist() == ["b", "c"] and part.probabilities.tolist() == [[0, 1, 0], [0, 0, 1]]


def test_a_regression_result_has_no_classes():
    data = Prediction(BundleRef("salary", 2), ServingPath.COMPILED, np.array([1.5])).to_json()
    assert data == {"model_name": "salary", "model_version": 2, "path": "compiled", "predictions": [1.5]}
