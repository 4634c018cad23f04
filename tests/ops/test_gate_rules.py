"""Gate rules refuse what no gate can check: unknown metrics, impossible thresholds, bad tolerances."""

import pytest

from mldeploy.errors import ConfigError
from mldeploy.ops.gate_checks import compare
from mldeploy.ops.gate_rules import METRICS, GateConfig, MetricRule, SliceRule, default_metrics


@pytest.mark.parametrize("build, message", [
    (lambda: MetricRule("mape"), 'unknown metric "mape"; a gate knows mae, rmse'),
    (lambda: MetricRule("r2", threshold=1.5), 'metric "r2": threshold 1.5 is impossible'),
    (lambda: MetricRule("accuracy", threshold=-0.1), 'metric "accuracy": threshold -0.1 is impossible'),
    (lambda: MetricRule("mae", threshold=-1), 'metric "mae": threshold -1 is impossible'),
    (lambda: MetricRule("mae", tolerance=-0.1), 'metric "mae": tolerance must be a share >= 0'),
    (lambda: SliceRule("city", min_rows=0), 'slice "city": min_rows must be a whole number >= 1'),
    (lambda: GateConfig(latency_budget_ms=0), "latency_budget_ms must be a number of milliseconds > 0"),
    (lambda: GateConfig(metrics=(MetricRule("mae"), MetricRule("mae"))), "metric(s) mae configured twice"),
])
def test_impossible_rules_are_refused_naming_what_is_wrong(build, message):
    with pytest.raises(ConfigError) as caught:
        build()
    assert message in str(caught.value)


def test_each_task_has_its_default_metrics():
    assert [r.metric for r in default_metrics("regression")] == ["mae", "rmse", "r2"]
    assert [r.metric for r in default_metrics("classification")] == ["accuracy", "f1_macro", "roc_auc", "log_loss"]
    assert set(METRICS) == {"mae", "rmse", "r2", "accuracy", "f1_macro", "roc_auc", "log_loss"}


@pytest.mark.parametrize("metric, challenger, champion, passed", [
    ("mae", 102.0, 100.0, True),     # 2% worse, 2% allowed
    ("mae", 103.0, 100.0, False),
    ("r2", 0.90, 0.91, True),        # 0.01 worse, 0.0182 allowed
    ("r2", 0.80, 0.91, False),
    ("accuracy", 0.99, 0.5, True),   # better always passes
])
def test_tolerance_is_a_share_of_the_champions_value_in_the_metrics_direction(metric, challenger, champion, passed):
    assert compare(metric, metric, 0.02, None, challenger, champion).passed is passed


def test_a_threshold_passes_a_worse_metric_that_reaches_it():
    assert compare("r2", "r2", 0.0, 0.7, 0.75, 0.9).passed
    assert not compare("r2", "r2", 0.0, 0.8, 0.75, 0.9).passed
    assert compare("mae", "mae", 0.0, 200.0, 150.0, 100.0).passed
