"""The demo's offline-prediction step: scored into sqlite, one key looked up, validated against the truth."""

import pytest

from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.cli._demo_batch import batch_step
from mldeploy.registry import Registry

from _batch_inputs import registry_root

pytestmark = pytest.mark.timeout(300)


def test_batch_step_scores_looks_up_and_validates(tmp_path, capsys):
    with Registry(root=registry_root()) as registry:
        batch_step(registry, tmp_path, step=7)
    out = capsys.readouterr().out
    assert "7. offline prediction" in out and "20,000 predictions of salary@1" in out and "→ $" in out
    assert "validated against what was paid (20,000 people)" in out
    with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
        assert store.count("salary", 1) == 20_000 and store.get("salary", "100042") is not None
    assert (tmp_path / "validation.png").stat().st_size > 10_000
    assert "week by week" in out and "paid_on" in (tmp_path / "paid.csv").read_text().splitlines()[0]


def test_the_demos_truth_spans_weeks_so_its_chart_has_several_windows(tmp_path):
    import pandas as pd

    from mldeploy.batch.backtest import OVERALL, validate

    with Registry(root=registry_root()) as registry:
        batch_step(registry, tmp_path, step=7)
    with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
        report = validate(store, pd.read_csv(tmp_path / "paid.csv"), "employee_id", "salary", time_column="paid_on",
                          record=False)
    assert report.window == "W" and report.metrics.window_start[lambda w: w != OVERALL].nunique() >= 10
