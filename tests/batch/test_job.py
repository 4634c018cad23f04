"""run_batch end to end: same predictions as the pipeline, idempotent reruns, rejects, refusals, one version per run."""

import numpy as np
import pandas as pd
import pytest

from mldeploy.batch.job import run_batch
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import ConfigError

from _batch_inputs import people

pytestmark = pytest.mark.timeout(300)  # the first test also builds the shared registry (compiles two bundles)


def _stored(store, name="salary", version=1):
    frames = [f for f in store.iter_predictions(name) if len(f)]
    frame = pd.concat(frames) if frames else pd.DataFrame(columns=["key", "model_version", "value"])
    return frame[frame.model_version == version].set_index("key")


def test_scores_every_row_like_the_pipeline(salary_registry, people_parquet, tmp_path):
    path, frame = people_parquet
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run = run_batch("salary:production", path, "employee_id", url, registry=salary_registry, chunk_rows=700)
    assert (run.status, run.model_version, run.rows_total, run.rows_done, run.rows_written, run.rows_rejected) == (
        "finished", 1, 3000, 3000, 3000, 0)
    pipeline = salary_registry.get("salary@1").load_pipeline()
    expected = pipeline.predict(frame.drop(columns="employee_id"))
    with PredictionStore(url) as store:
        stored = _stored(store)
    got = stored.loc[frame["employee_id"].astype(str), "value"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
    assert set(stored["run_id"]) == {run.run_id}


def test_running_twice_leaves_one_prediction_per_key_and_version(salary_registry, people_parquet, tmp_path):
    path, _ = people_parquet
    url = f"sqlite:///{tmp_path / 'p.db'}"
    first = run_batch("salary@1", path, "employee_id", url, registry=salary_registry)
    second = run_batch("salary@1", path, "employee_id", url, registry=salary_registry)
    third = run_batch("salary@2", path, "employee_id", url, registry=salary_registry)
    with PredictionStore(url) as store:
        assert store.count("salary", 1) == 3000 and store.count("salary", 2) == 3000
        assert [r.run_id for r in store.runs("salary")] == [first.run_id, second.run_id, third.run_id]
        assert store.get("salary", "10000").model_version == 2
        assert store.get("salary", "10000", version=1).run_id == second.run_id


def test_bad_rows_go_to_rejects_and_the_run_finishes(salary_registry, tmp_path):
    frame = people(50).astype(object)
    frame.loc[3, "years_experience"] = "ten"
    frame.loc[7, ["age", "remote"]] = [12.5, None]
    frame.loc[9, "employee_id"] = None
    frame.to_csv(tmp_path / "people.csv", index=False)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run = run_batch("salary@1", tmp_path / "people.csv", "employee_id", url, registry=salary_registry, chunk_rows=20)
    assert (run.status, run.rows_written, run.rows_rejected) == ("finished", 47, 3)
    with PredictionStore(url) as store:
        rejects = store.rejects(run.run_id)
        assert [(r.row, r.key) for r in rejects] == [(3, "10003"), (7, "10007"), (9, None)]
        assert rejects[0].reasons == ('field "years_experience": expected a number in [0, 64.95], got "ten"',)
        assert rejects[1].reasons == ('field "age": expected a whole number in [0, 93], got 12.5',
                                      'field "remote": expected true or false (this field cannot be empty), got null')
        assert rejects[2].reasons == ('field "employee_id": expected a key (every row needs one), got null',)
        assert rejects[1].issues[0].row == 7  # numbered in the input, not in its chunk
        assert store.get("salary", "10004") is not None and store.get("salary", "10003") is None


def test_refused_inputs_leave_the_store_as_it_was(salary_registry, people_parquet, tmp_path):
    path, frame = people_parquet
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run_batch("salary@1", path, "employee_id", url, registry=salary_registry)
    with PredictionStore(url) as store:
        before = _stored(store).sort_index()
    twice = pd.concat([frame.iloc[:10], frame.iloc[5:6]])
    twice.assign(age=twice["age"] + 1).to_parquet(tmp_path / "twice.parquet")
    with pytest.raises(ConfigError, match='repeats 1 key\\(s\\): "10005" at rows 5, 10'):
        run_batch("salary@1", tmp_path / "twice.parquet", "employee_id", url, registry=salary_registry)
    frame.drop(columns="employee_id").to_parquet(tmp_path / "nokey.parquet")
    with pytest.raises(ConfigError, match='has no key column "employee_id"'):
        run_batch("salary@1", tmp_path / "nokey.parquet", "employee_id", url, registry=salary_registry)
    frame.drop(columns=["age", "city"]).to_parquet(tmp_path / "narrow.parquet")
    with pytest.raises(ConfigError, match="lacks column\\(s\\) the model needs: age, city"):
        run_batch("salary@1", tmp_path / "narrow.parquet", "employee_id", url, registry=salary_registry)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(ConfigError, match="not a readable Parquet input"):
        run_batch("salary@1", tmp_path / "broken.parquet", "employee_id", url, registry=salary_registry)
    with PredictionStore(url) as store:
        pd.testing.assert_frame_equal(_stored(store).sort_index(), before)
        assert len(store.runs()) == 1


def test_the_reference_is_resolved_once_at_the_start(salary_registry, people_parquet, tmp_path):
    path, _ = people_parquet
    url = f"sqlite:///{tmp_path / 'p.db'}"
    moved = []

    def move_alias_mid_run(done, total):
        if not moved:  # production now names version 2; this run must go on with version 1
            moved.append(salary_registry.set_alias("salary@2", "production"))

    try:
        run = run_batch("salary:production", path, "employee_id", url, registry=salary_registry, chunk_rows=500,
                        on_progress=move_alias_mid_run)
    finally:
        salary_registry.set_alias("salary@1", "production")
    assert moved and run.model_version == 1
    with PredictionStore(url) as store:
        assert store.count("salary", 1) == 3000 and store.count("salary", 2) == 0


def test_resume_with_nothing_to_resume_says_so(salary_registry, people_parquet, tmp_path):
    path, _ = people_parquet
    with pytest.raises(ConfigError, match="no unfinished run of salary over this input"):
        run_batch("salary:production", path, "employee_id", f"sqlite:///{tmp_path / 'p.db'}",
                  registry=salary_registry, resume=True)


def test_a_classifier_stores_labels_and_probabilities(salary_registry, tmp_path):
    _, features = __import__("_models").iris_like_classifier()
    frame = features.head(200).assign(id=[f"row-{i}" for i in range(200)])
    frame.to_parquet(tmp_path / "in.parquet")
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run_batch("grade@1", tmp_path / "in.parquet", "id", url, registry=salary_registry, parquet_out=tmp_path / "out.parquet")
    pipeline = salary_registry.get("grade@1").load_pipeline()
    with PredictionStore(url) as store:
        found = store.get("grade", "row-7")
    row = features.iloc[[7]]
    assert found.label == pipeline.predict(row)[0]
    assert list(found.probabilities.values()) == pipeline.predict_proba(row)[0].tolist()
    written = pd.read_parquet(tmp_path / "out.parquet")
    assert list(written.columns) == ["key", "prediction", "probability_high", "probability_low", "probability_mid",
                                     "model_name", "model_version", "run_id"]
    assert len(written) == 200 and written.loc[7, "prediction"] == found.label


@pytest.mark.postgres
def test_postgres_store_gets_the_same_predictions(salary_registry, people_parquet, postgres_database, tmp_path):
    path, _ = people_parquet
    local = f"sqlite:///{tmp_path / 'p.db'}"
    run_batch("salary@1", path, "employee_id", local, registry=salary_registry, chunk_rows=1000)
    run = run_batch("salary@1", path, "employee_id", postgres_database, registry=salary_registry, chunk_rows=1000)
    run_batch("salary@1", path, "employee_id", postgres_database, registry=salary_registry, chunk_rows=1000)
    with PredictionStore(local) as a, PredictionStore(postgres_database) as b:
        left, right = _stored(a).sort_index(), _stored(b).sort_index()
        assert b.count("salary", 1) == 3000 and b.run(run.run_id).rows_written == 3000
    assert left["value"].tolist() == right["value"].tolist()  # bit for bit through COPY
