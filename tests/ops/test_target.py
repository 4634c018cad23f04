"""The task a target asks for, and targets refused before any training."""

import pandas as pd
import pytest

from mldeploy.errors import ConfigError
from mldeploy.ops.target import check_target, task_of_target

pytestmark = pytest.mark.timeout(30)


def test_task_follows_the_target_unless_chosen():
    counts = pd.DataFrame({"rooms": [1, 2, 3, 4, 5] * 20})
    assert task_of_target(counts["rooms"]) == "classification"
    assert check_target(counts, "rooms") == "classification"
    assert check_target(counts, "rooms", task="regression") == "regression"


def test_an_id_as_target_is_refused_at_once_with_the_count():
    frame = pd.DataFrame({"listing_id": [f"L{i:05d}" for i in range(2000)]})
    with pytest.raises(ConfigError) as caught:
        check_target(frame, "listing_id")
    assert str(caught.value).startswith('target "listing_id" has 2,000 distinct values in 2,000 rows, too many classes to learn')
    assert "is it an id?" in str(caught.value)


def test_a_numeric_target_forced_to_classification_is_refused_when_too_fine():
    frame = pd.DataFrame({"price": [float(i) for i in range(500)]})
    with pytest.raises(ConfigError, match="500 distinct values in 500 rows.*use --task regression"):
        check_target(frame, "price", task="classification")


def test_text_cannot_be_a_regression_target_and_a_task_must_be_known():
    frame = pd.DataFrame({"grade": ["a", "b"] * 10})
    with pytest.raises(ConfigError, match="""target "grade" is not numeric \\(row 0 is 'a'\\); regression needs numbers"""):
        check_target(frame, "grade", task="regression")
    with pytest.raises(ConfigError, match='task=.regresion. is not a valid choice; expected one of "regression", "classification"'):
        check_target(frame, "grade", task="regresion")
