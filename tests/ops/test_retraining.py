"""Retraining: the champion's recipe cloned, fitted on new data, registered with the champion as parent."""

import numpy as np
import pytest

from mldeploy.errors import ConfigError
from mldeploy.ops import retrain

pytestmark = pytest.mark.timeout(300)


def test_a_challenger_keeps_the_recipe_and_names_the_champion_as_parent(registry, drifted, holdout):
    made = retrain(registry, "salary:production", drifted, "salary", actor="ana")
    assert str(made.challenger) == "salary@2" and str(made.champion) == "salary@1"
    assert registry.lineage("salary@2")[:2] == [made.challenger, made.champion]
    champion = registry.get("salary@1").load_pipeline()
    challenger = registry.get("salary@2").load_pipeline()
    assert challenger.get_params(deep=True).keys() == champion.get_params(deep=True).keys()
    assert challenger.named_steps["model"].max_iter == champion.named_steps["model"].max_iter == 25
    event = registry.journal.history("salary")[-1]
    assert (event.kind, event.version, event.previous_version, event.actor) == ("retrain", 2, 1, "ana")
    assert event.details["data_fingerprint"] == made.data_fingerprint and event.details["rows"] == len(drifted)
    assert registry.record("salary@2").manifest["data_fingerprint"]  # the training split's, in the manifest


def test_the_same_data_twice_gives_the_same_predictions(registry, drifted, holdout):
    first = retrain(registry, "salary:production", drifted, "salary")
    second = retrain(registry, "salary:production", drifted, "salary")
    rows = holdout.drop(columns="salary")
    a = registry.get(first.challenger).load_pipeline().predict(rows)
    b = registry.get(second.challenger).load_pipeline().predict(rows)
    assert np.array_equal(a, b)


def test_data_without_a_field_of_the_champion_is_refused_before_training(registry, drifted):
    with pytest.raises(ConfigError, match="lacks the champion salary@1's input field"):
        retrain(registry, "salary:production", drifted.drop(columns="city"), "salary")
    assert [v.version for v in registry.versions("salary")] == [1]
