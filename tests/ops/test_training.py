import numpy as np
import pandas as pd
import pytest

from mldeploy.errors import ConfigError
from mldeploy.ops.training import column_kinds_of, task_of_target, load_factory, train

pytestmark = pytest.mark.timeout(120)


def test_column_kinds_and_skewed_logs():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.lognormal(3, 2, 500), "x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500), "f": rng.random(500) > 0.5})
    kinds = column_kinds_of(frame)
    assert (kinds.numeric, kinds.categorical, kinds.boolean, kinds.log_numeric) == (("size", "x"), ("c",), ("f",), ("size",))


def test_task_follows_the_target():
    assert task_of_target(pd.Series([1.5, 2.5])) == "regression"
    assert task_of_target(pd.Series(["a", "b"])) == "classification"
    assert task_of_target(pd.Series([0, 1, 1])) == "classification"


def test_train_classification_reports_accuracy():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=600), "c": rng.choice(["u", "v"], 600)})
    frame["label"] = np.where(frame["x"] > 0, "pos", "neg")
    result = train(frame, "label")
    assert result.task == "classification" and result.metrics["accuracy"] > 0.9


def test_bad_factory_and_free_text_are_explained():
    with pytest.raises(ConfigError, match="expected module:function"):
        load_factory("nofunction")
    with pytest.raises(ConfigError, match="cannot import it"):
        load_factory("no_such_module_xyz:make")
    frame = pd.DataFrame({"text": [f"note {i}" for i in range(300)], "y": np.arange(300.0)})
    with pytest.raises(ConfigError, match='column "text" has 300 distinct text values'):
        train(frame, "y")


def test_only_the_columns_asked_for_get_a_log_feature():
    from mldeploy.ops.training import ColumnKinds, default_pipeline

    pipeline = default_pipeline(ColumnKinds(numeric=("shoe_size", "age")), task="regression")
    assert [name for name, _, _ in pipeline.named_steps["features"].transformers] == ["numeric"]
    logged = default_pipeline(ColumnKinds(numeric=("shoe_size",), log_numeric=("shoe_size",)), task="regression")
    assert "log" in [name for name, _, _ in logged.named_steps["features"].transformers]


def test_regression_records_held_out_residual_quantiles():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=800), "c": rng.choice(["u", "v"], 800)})
    frame["y"] = 10 * frame["x"] + rng.normal(0, 2, 800)
    result = train(frame, "y")
    low, high = result.metrics["residual_p10"], result.metrics["residual_p90"]
    assert low < 0 < high  # noise of sd 2 on either side: roughly -2.6 and +2.6
    assert 1.0 < -low < 5.0 and 1.0 < high < 5.0
