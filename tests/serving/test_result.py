"""Prediction: one result type with the version and path that made it; Accepted: refused rows beside it."""

import numpy as np
import pytest

from mldeploy.bundle import BundleRef
from mldeploy.errors import Issue
from mldeploy.serving.result import Accepted, Prediction, ServingPath

pytestmark = pytest.mark.timeout(30)


def test_slice_keeps_the_version_and_splits_rows_and_probabilities():
    result = Prediction(BundleRef("tiers", 1), ServingPath.SCIKIT_LEARN, np.array(["a", "b", "c"], dtype=object),
                        np.eye(3), ("a", "b", "c"))
    part = result.slice(1, 3)
    assert len(part) == 2 and part.version == 1 and part.path is ServingPath.SCIKIT_LEARN
    assert part.values.tolist() == ["b", "c"] and part.probabilities.tolist() == [[0, 1, 0], [0, 0, 1]]


def test_accepted_finds_each_accepted_row_in_its_prediction():
    prediction = Prediction(BundleRef("salary", 1), ServingPath.COMPILED, np.array([1.0, 2.0, 3.0]))
    accepted = Accepted(prediction, {1: [Issue(1, "age", "a number", '"x"')], 3: [Issue(3, "age", "a number", '"y"')]})
    assert accepted.positions == [0, 2, 4] and [accepted.index_of(p) for p in (0, 2, 4)] == [0, 1, 2]
    assert Accepted(prediction, {}).positions == [0, 1, 2] and Accepted(prediction, {}).index_of(2) == 2
