import numpy as np
import pandas as pd
import pytest

from mldeploy.examples import salary

pytestmark = pytest.mark.timeout(120)


def test_same_seed_same_table_whatever_the_chunk_size():
    whole = salary.generate(25_000, seed=3)
    chunks = list(salary.iter_chunks(25_000, seed=3, chunk_rows=7_000))
    assert [len(c) for c in chunks] == [7_000, 7_000, 7_000, 4_000]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert not whole.equals(salary.generate(25_000, seed=4))


def test_table_has_mixed_features_nulls_and_a_plausible_target():
    table = salary.generate(10_000, seed=1)
    features = table.drop(columns=salary.TARGET)
    assert len(features.columns) >= 8
    kinds = {str(t) for t in features.dtypes}
    assert {"float64", "int64", "object", "bool"} <= kinds
    assert features.isna().any().sum() >= 3
    assert 30_000 < table[salary.TARGET].median() < 300_000


def test_drift_shifts_distributions_and_brings_unseen_categories():
    base = salary.generate(5_000, seed=1)
    drifted = salary.generate(5_000, seed=1, drift=0.8)
    assert drifted["years_experience"].mean() > base["years_experience"].mean() + 2
    assert set(drifted["city"].dropna()) - set(base["city"].dropna()) >= {"lisbon", "toronto", "berlin"}
    assert drifted[salary.TARGET].median() > base[salary.TARGET].median()


def test_inflation_raises_pay_alone_and_zero_keeps_the_pay_rule():
    fixed = salary.generate(2_000, seed=1, drift=0.5, inflation=0.0)
    inflated = salary.generate(2_000, seed=1, drift=0.5)
    pd.testing.assert_frame_equal(fixed.drop(columns=salary.TARGET), inflated.drop(columns=salary.TARGET))
    assert np.allclose(inflated[salary.TARGET], fixed[salary.TARGET] * 1.075, rtol=1e-6)


def test_write_csv_and_parquet_in_chunks(tmp_path):
    csv = salary.write(tmp_path / "s.csv", rows=12_345, seed=2)
    parquet = salary.write(tmp_path / "s.parquet", rows=12_345, seed=2)
    assert len(pd.read_csv(csv)) == len(pd.read_parquet(parquet)) == 12_345


@pytest.mark.parametrize(("arguments", "message"), [({"rows": -1}, "rows"), ({"rows": 5, "drift": 2}, "drift"),
                                                      ({"rows": 5, "inflation": -0.1}, "inflation")])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        salary.generate(**arguments)


def test_default_pipeline_learns_the_salary():
    from mldeploy.ops.training import evaluate

    train = salary.generate(4_000, seed=7)
    pipeline = salary.default_pipeline(max_iter=60).fit(train.drop(columns="salary"), train["salary"])
    held_out = salary.generate(1_000, seed=8)
    assert evaluate(pipeline, held_out.drop(columns="salary"), held_out["salary"], "regression")["r2"] > 0.85


def test_features_only_leaves_out_the_salary(tmp_path):
    salary.write(tmp_path / "candidates.csv", rows=30, seed=8, features_only=True)
    written = pd.read_csv(tmp_path / "candidates.csv")
    assert len(written) == 30 and "salary" not in written.columns
    assert list(written.columns) == [c for c in salary.generate(30, seed=8).columns if c != "salary"]


def test_a_key_column_numbers_the_rows_across_chunks(tmp_path):
    written = pd.read_csv(salary.write(tmp_path / "people.csv", rows=25_000, seed=3, features_only=True, key="employee_id"))
    assert list(written.columns[:2]) == ["employee_id", "years_experience"] and salary.TARGET not in written
    assert written["employee_id"].tolist() == list(range(10_000, 35_000))
    for taken in ("age", "salary", " "):
        with pytest.raises(ValueError, match="expected a new column name"):
            salary.write(tmp_path / "x.csv", rows=1, key=taken)
