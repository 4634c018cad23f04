"""The gate: metrics, slices, schema, latency, edge rows; the decision recorded on the challenger's version."""

import pandas as pd
import pytest

from _freshness import shuffled
from mldeploy.errors import ConfigError
from mldeploy.ops import GateConfig, gate, retrain
from mldeploy.ops.gate_rules import MetricRule, SliceRule

pytestmark = pytest.mark.timeout(300)


def test_a_better_challenger_passes_and_the_decision_is_recorded(challenged, holdout):
    registry, challenger = challenged
    result = gate(registry, challenger, "salary:production", holdout, "salary", actor="ana")
    names = [check.name for check in result.checks]
    assert names == ["mae", "rmse", "r2", "schema compatible", "one-row latency (ms)", "edge rows finite"]
    assert result.passed, result.reason
    mae = result.checks[0]
    assert mae.challenger < mae.champion and mae.difference == pytest.approx(mae.challenger - mae.champion)
    decision = registry.journal.gate_decision("salary", challenger.version)
    assert decision.passed and decision.against_version == 1
    assert decision.holdout_fingerprint == result.holdout_fingerprint
    assert [c["name"] for c in decision.figures["checks"]] == names
    assert registry.journal.history("salary")[-1].kind == "gate-passed"


def test_a_challenger_trained_on_shuffled_targets_is_refused_naming_the_metric(registry, drifted, holdout):
    bad = retrain(registry, "salary:production", shuffled(drifted), "salary").challenger
    result = gate(registry, bad, "salary:production", holdout, "salary")
    assert not result.passed
    assert {"mae", "rmse", "r2"} <= {check.name for check in result.failures}
    assert "r2: " in result.reason and "worse than the champion" in result.reason
    assert not registry.journal.gate_decision("salary", bad.version).passed


def test_an_absolute_threshold_passes_a_metric_worse_than_the_champions(challenged, holdout):
    registry, challenger = challenged
    strict = GateConfig(metrics=(MetricRule("r2", tolerance=0.0, threshold=0.0),))
    result = gate(registry, challenger, "salary@1", holdout.head(300), "salary", strict)
    assert result.checks[0].name == "r2" and result.checks[0].passed
    assert "or ≥ 0" in result.checks[0].tolerance


def test_slices_compare_each_value_with_enough_rows(challenged, holdout):
    registry, challenger = challenged
    result = gate(registry, challenger, "salary:production", holdout, "salary",
                  GateConfig(slices=(SliceRule("remote", min_rows=100, tolerance=10.0),)))
    sliced = [check.name for check in result.checks if "where" in check.name]
    counts = holdout["remote"].value_counts()
    assert len(sliced) == int((counts >= 100).sum()) >= 1
    assert all(check.passed for check in result.checks if "where" in check.name)


def test_a_challenger_that_breaks_the_schema_fails_that_check(registry, drifted, holdout):
    from mldeploy.ops.registering import train_and_register
    from mldeploy.ops.training import column_kinds_of, default_pipeline

    without_city = drifted.drop(columns="city")
    recipe = lambda: default_pipeline(column_kinds_of(without_city.drop(columns="salary")), max_iter=25)  # noqa: E731
    narrower, _ = train_and_register(without_city, "salary", registry=registry, factory=recipe)
    result = gate(registry, narrower, "salary:production", holdout, "salary")
    schema = next(check for check in result.checks if check.name == "schema compatible")
    assert not schema.passed and 'field "city" is removed' in schema.detail


@pytest.mark.parametrize("change, message", [
    (lambda h: h.drop(columns="salary"), 'no target column "salary"'),
    (lambda h: h.drop(columns="age"), "lacks the model's input field(s) 'age'"),
    (lambda h: h.assign(salary=h["salary"].where(h.index > 2)), 'target "salary" is empty in 3 row'),
])
def test_a_holdout_that_cannot_be_measured_is_refused_and_nothing_recorded(challenged, holdout, change, message):
    registry, challenger = challenged
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gate(registry, challenger, "salary:production", change(holdout), "salary")
    assert registry.journal.gate_decision("salary", challenger.version) is None


def test_a_slice_column_not_in_the_holdout_is_refused(challenged, holdout):
    registry, challenger = challenged
    with pytest.raises(ConfigError, match="slice column\\(s\\) 'department' not in the holdout"):
        gate(registry, challenger, "salary:production", holdout, "salary", GateConfig(slices=(SliceRule("department"),)))


def test_a_metric_of_the_other_task_is_refused(challenged, holdout):
    registry, challenger = challenged
    with pytest.raises(ConfigError, match="accuracy measure classification, but this model does regression"):
        gate(registry, challenger, "salary:production", holdout, "salary", GateConfig(metrics=(MetricRule("accuracy"),)))


def test_a_classifier_is_gated_on_accuracy_f1_auc_and_log_loss(tmp_path):
    from sklearn.datasets import make_classification

    from mldeploy.ops.registering import train_and_register
    from mldeploy.registry import Registry

    x, y = make_classification(n_samples=600, n_features=5, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]).assign(label=y.astype(str))
    with Registry(root=tmp_path / "r") as registry:
        first, _ = train_and_register(frame.head(400), "label", registry=registry, alias="production")
        made = retrain(registry, "label:production", frame.head(400), "label")
        result = gate(registry, made.challenger, "label:production", frame.tail(200), "label")
    assert [c.name for c in result.checks[:4]] == ["accuracy", "f1_macro", "roc_auc", "log_loss"]
    assert result.passed, result.reason  # the same recipe on the same data: the same figures
    assert all(check.difference == 0 for check in result.checks[:4])
