"""Drift against the training profile: per feature, the prediction, the dataset; thresholds; bad input."""

import json

import numpy as np
import pandas as pd
import pytest

import _models
import mldeploy
from mldeploy.bundle import Bundle
from mldeploy.errors import ConfigError
from mldeploy.examples import salary
from mldeploy.ops.drift import drift

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def model():
    return mldeploy.load(_models.trained_salary_bundle())


def _rows(drift_level: float = 0.0, rows: int = 20_000, seed: int = 11) -> pd.DataFrame:
    return salary.generate(rows, seed=seed, drift=drift_level).drop(columns=salary.TARGET)


def _by_name(report) -> dict:
    return {f.feature: f for f in report.features}


def test_data_from_the_training_distribution_shows_no_drift(model):
    report = drift(model, _rows())
    assert (report.drifted, report.drifted_features, report.prediction.drifted) == (False, (), False), report.summary()
    assert report.rows == 20_000 and report.sampled_rows == 20_000 and report.refused_rows == 0
    assert all(f.psi < 0.02 and f.test in ("wasserstein", "jensen-shannon") for f in report.features)


def test_drifted_data_is_found_feature_by_feature_and_in_the_predictions(model):
    report = drift(model, _rows(0.3))
    found = _by_name(report)
    assert report.drifted and report.prediction.drifted
    assert {"years_experience", "age", "city"} <= set(report.drifted_features)
    assert not found["weekly_hours"].drifted and not found["education"].drifted
    # drift=0.3 gives 9% of rows a city training never saw; counted over every row, not the sample
    assert found["city"].unseen_share == pytest.approx(0.09, abs=0.01)
    assert any(reason.startswith("unseen share") for reason in found["city"].reasons)
    assert found["years_experience"].statistic > 0.2 and found["years_experience"].reasons[0].startswith("wasserstein")


def test_unseen_categories_are_counted_exactly(model):
    rows = _rows(rows=5000)
    rows.loc[rows.index[:1000], "city"] = "atlantis"
    rows.loc[rows.index[1000:1250], "education"] = "bootcamp"
    found = _by_name(drift(model, rows))
    assert found["city"].unseen_share == pytest.approx(1000 / 5000) and found["city"].drifted
    assert found["education"].unseen_share == pytest.approx(250 / (5000 - rows["education"].isna().sum()))
    assert found["city"].shares["(unseen)"][0] == 0.0 and found["city"].shares["(unseen)"][1] == pytest.approx(0.2)


def test_empty_values_are_shares_of_every_row_and_drift_past_their_limit(model):
    rows = _rows(rows=8000)
    rows.loc[rows.index[::2], "weekly_hours"] = np.nan
    found = _by_name(drift(model, rows))
    assert found["weekly_hours"].null_share == pytest.approx(0.5) and found["weekly_hours"].training_null_share == 0.0
    assert found["weekly_hours"].drifted and "empty share 0.0% -> 50.0%" in found["weekly_hours"].reasons


def test_limits_can_be_set_per_feature_and_for_the_dataset(model):
    rows = _rows(0.3)
    relaxed = drift(model, rows, thresholds={"city.unseen_share": 0.5, "city.psi": 5, "city.distance": 0.9})
    assert "city" not in relaxed.drifted_features and "years_experience" in relaxed.drifted_features
    strict = drift(model, rows, thresholds=["drift_share=0.2", "prediction.distance=0.9"])
    assert strict.dataset_drift and not strict.prediction.drifted and strict.drifted
    calm = drift(model, rows, thresholds={"distance": 0.9, "psi": 5, "unseen_share": 0.5})
    assert not calm.drifted and calm.drifted_features == ()
    nested = drift(model, rows, thresholds={"city": {"unseen_share": 0.5, "psi": 5, "distance": 0.9}})  # a TOML table
    assert nested.to_dict()["features"] == relaxed.to_dict()["features"]


def test_few_rows_are_judged_by_p_values(model):
    report = drift(model, _rows(rows=400, seed=3))
    found = _by_name(report)
    assert found["age"].test == "ks" and found["city"].test == "chi-square"
    assert 0.0 <= found["age"].p_value <= 1.0 and not report.drifted
    shifted = _rows(rows=400, seed=3).assign(age=lambda f: f["age"] + 6)
    assert _by_name(drift(model, shifted))["age"].p_value < 1e-6


def test_any_chunking_and_any_file_format_give_the_same_report(model, tmp_path):
    rows = _rows(0.3, rows=12_000)
    whole = drift(model, rows, sample_rows=3000).to_dict()
    chunked = drift(model, rows, sample_rows=3000, chunk_rows=777).to_dict()
    rows.to_parquet(tmp_path / "rows.parquet")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    from_parquet = drift(model, tmp_path / "rows.parquet", sample_rows=3000, chunk_rows=5000).to_dict()
    from_csv = drift(model, str(tmp_path / "rows.csv"), sample_rows=3000).to_dict()
    for report in (chunked, from_parquet, from_csv):
        assert report["features"] == whole["features"] and report["prediction"] == whole["prediction"]


def test_the_report_is_plain_json_data(model):
    data = json.loads(json.dumps(drift(model, _rows(0.3, rows=3000)).to_dict(), allow_nan=False))
    assert data["drifted"] is True and data["ref"] == "salary" and len(data["features"]) == 11
    assert data["estimated_error"]["metric"] == "mae" and data["thresholds"]["default"]["psi"] == 0.2


@pytest.mark.parametrize("thresholds, words", [
    ({"salaryy.psi": 0.1}, "unknown feature(s) 'salaryy'"),
    ({"psi": -1}, "psi=-1 is impossible"),
    ({"p_value": 1.5}, "p_value=1.5 is impossible"),
    ({"drift_share": 0}, "drift_share=0 is impossible"),
    ({"city.unseen_share": 2}, "city.unseen_share=2 is impossible"),
    ({"pvalue": 0.1}, "unknown threshold 'pvalue'"),
    ({"psi": "high"}, "threshold psi: expected a number"),
    (["psi"], "expected KEY=VALUE"),
])
def test_bad_thresholds_are_refused_naming_the_key(model, thresholds, words):
    with pytest.raises(ConfigError, match=None) as refused:
        drift(model, _rows(rows=100), thresholds=thresholds)
    assert words in str(refused.value)


def test_bad_current_data_is_refused_naming_the_file_and_column(model, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        drift(model, tmp_path / "missing.parquet")
    with pytest.raises(ConfigError, match="lacks the model's feature\\(s\\) 'city'"):
        drift(model, _rows(rows=50).drop(columns="city"))
    _rows(rows=50).assign(age="old").to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ConfigError, match=f'{tmp_path / "text.csv"}: column "age" should hold numbers .*\'old\''):
        drift(model, tmp_path / "text.csv")
    with pytest.raises(ConfigError, match="has no rows"):
        drift(model, _rows(rows=50).iloc[:0])


def test_a_classifier_drifts_by_its_predicted_labels(tmp_path):
    pipeline, features = _models.iris_like_classifier()
    bundle = Bundle.from_pipeline(pipeline, features, name="iris", directory=tmp_path / "iris")
    report = drift(bundle, features.assign(a=features["a"] + 3))
    assert report.prediction.kind == "categorical" and report.prediction.drifted
    assert "high" in report.prediction.shares and report.estimated_error is None


def test_what_a_drift_check_may_hold_in_memory_is_bounded(model):
    with pytest.raises(ConfigError, match="sample_rows must lie in"):
        drift(model, _rows(rows=50), sample_rows=10_000_000)


def test_rows_the_model_refuses_count_in_the_features_but_not_in_the_predictions(model):
    rows = _rows(rows=3000)
    rows.loc[rows.index[:7], "age"] = 10_000  # far beyond any age the schema accepts
    report = drift(model, rows)
    assert report.refused_rows == 7 and report.estimated_error.rows == 2993
    assert _by_name(report)["age"].rows == 3000


@pytest.mark.parametrize("given", [["city.psi=0.3", "psi=0.25"], ["psi=0.25", "city.psi=0.3"],
                                   {"city": {"psi": 0.3}, "psi": 0.25}], ids=["feature-first", "all-first", "toml"])
def test_a_features_own_threshold_wins_over_one_for_every_feature_in_any_order(given):
    from mldeploy.ops.drift_thresholds import Thresholds

    limits = Thresholds.parse(given)
    assert limits.for_feature("city").psi == 0.3 and limits.for_feature("age").psi == 0.25
