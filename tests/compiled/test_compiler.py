"""compile_pipeline: the salary pipeline compiles and is exact to the bit; unsupported steps fall back."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from mldeploy.compiled import compile_pipeline


@pytest.mark.timeout(120)
def test_salary_pipeline_compiles_every_step(salary_compiled) -> None:
    assert [(step.step, step.status) for step in salary_compiled.plan] == [
        ("features", "compiled"), ("select", "compiled"), ("model", "compiled")]
    assert salary_compiled.report.ok, salary_compiled.report.summary()
    assert salary_compiled.report.exact_rows == salary_compiled.report.rows


@pytest.mark.timeout(120)
def test_salary_predictions_are_bit_identical_on_unseen_and_drifted_rows(salary_compiled, salary_pipeline,
                                                                         salary_holdout) -> None:
    expected = salary_pipeline.predict(salary_holdout)
    compiled = salary_compiled.compiled
    assert np.array_equal(compiled.predict_frame(salary_holdout), expected)
    assert np.array_equal(compiled.predict_records(salary_holdout.to_dict("records")), expected)


@pytest.mark.timeout(120)
def test_one_dict_with_missing_and_unseen_values_matches(salary_compiled, salary_pipeline, salary_holdout) -> None:
    row = {**salary_holdout.iloc[0].to_dict(), "education": None, "city": "lisbon", "company_size": None}
    frame = salary_holdout.iloc[:1].copy()
    frame.loc[frame.index[0], ["education", "city", "company_size"]] = [None, "lisbon", np.nan]
    assert salary_compiled.compiled.predict_records([row])[0] == salary_pipeline.predict(frame)[0]


@pytest.mark.timeout(120)
def test_unsupported_step_falls_back_with_the_reason(salary_data) -> None:
    features, target = salary_data
    numbers = ["years_experience", "age"]
    pipeline = Pipeline([
        ("features", ColumnTransformer([("poly", PolynomialFeatures(2), numbers)])),
        ("scale", StandardScaler()),
        ("model", KNeighborsRegressor()),
    ]).fit(features.iloc[:500], target.iloc[:500])
    result = compile_pipeline(pipeline, features.iloc[:100])
    assert result.compiled is None
    assert [(step.step, step.status) for step in result.plan] == [
        ("features", "fallback"), ("scale", "fallback"), ("model", "fallback")]
    assert result.plan[0].reason == "PolynomialFeatures is not among the compiled steps"
    assert result.plan[1].reason == "an earlier step is not compiled"


@pytest.mark.timeout(120)
def test_unsupported_model_falls_back_after_compiled_steps(salary_data) -> None:
    features, target = salary_data
    pipeline = Pipeline([
        ("features", ColumnTransformer([("numbers", StandardScaler(), ["years_experience", "age"])])),
        ("model", KNeighborsRegressor()),
    ]).fit(features.iloc[:500], target.iloc[:500])
    result = compile_pipeline(pipeline, features.iloc[:100])
    assert result.compiled is None
    assert result.plan[0].status == "compiled"
    assert result.plan[1].reason == "KNeighborsRegressor is not among the compiled models"


@pytest.mark.timeout(60)
def test_pipeline_fitted_on_arrays_falls_back(salary_data) -> None:
    features, target = salary_data
    numbers = features[["years_experience", "age"]].to_numpy()
    pipeline = Pipeline([("scale", StandardScaler()), ("model", KNeighborsRegressor())]).fit(numbers, target)
    result = compile_pipeline(pipeline, features)
    assert result.compiled is None
    assert result.plan[0].reason.startswith("StandardScaler has no input column names (fitted on an array")
    assert result.plan[1].reason == "an earlier step is not compiled"
