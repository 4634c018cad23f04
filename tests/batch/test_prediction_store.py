"""PredictionStore on SQLite and on the real PostgreSQL: upserts, the latest view, runs, rejects."""

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from mldeploy.batch._store_writes import Progress
from mldeploy.batch.chunk import Reject, ScoredChunk
from mldeploy.bundle import BundleRef
from mldeploy.serving import Prediction, ServingPath
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import ConfigError, Issue

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    return request.getfixturevalue("postgres_database")


def _chunk(keys, values, start=0, rejects=()):
    prediction = Prediction(BundleRef("salary", 1), ServingPath.COMPILED, np.array(values))
    return ScoredChunk(start, len(keys) + len(rejects), np.array(keys, dtype=object), prediction, rejects=rejects)


def test_a_chunk_is_stored_with_its_run_and_rejects(store_url):
    with PredictionStore(store_url) as store:
        run = store.start_run("salary", 1, "local", "people.csv", "f" * 64, "employee_id", 4)
        bad = Reject(2, "c", (Issue(2, "age", "a whole number", '"x"'), Issue(2, "remote", "true or false", "null")))
        # Every bit of a float survives the trip (COPY's CSV included).
        value = 0.1 + 0.2
        store.write(run, _chunk(["a", "b", "d"], [value, 2.5, -1e-300], rejects=(bad,)), Progress(4, 3, 1))
        found = store.get("salary", "a")
        assert (found.value, found.model_version, found.run_id, found.label) == (value, 1, run.run_id, None)
        assert store.get("salary", "d").value == -1e-300
        assert store.get("salary", "c") is None
        assert store.rejects(run.run_id) == [bad]
        assert bad.reasons == ('field "age": expected a whole number, got "x"', 'field "remote": expected true or false, got null')
        after = store.run(run.run_id)
        assert (after.status, after.rows_done, after.rows_written, after.rows_rejected) == ("running", 4, 3, 1)
        assert store.finish_run(run.run_id).status == "finished"


def test_writing_again_keeps_one_prediction_per_key_and_version(store_url):
    with PredictionStore(store_url) as store:
        first = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 2)
        store.write(first, _chunk(["a", "b"], [1.0, 2.0]), Progress(2, 2, 0))
        second = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 2)
        store.write(second, _chunk(["a", "b"], [1.5, 2.5]), Progress(2, 2, 0))
        newer = store.start_run("salary", 2, "local", "x", "f" * 64, "id", 1)
        store.write(newer, _chunk(["a"], [9.0]), Progress(1, 1, 0))
        assert store.count("salary", 1) == 2 and store.count("salary") == 3
        assert store.get("salary", "a", version=1).value == 1.5
        assert store.get("salary", "a").model_version == 2  # the latest written
        assert store.get("salary", "b").model_version == 1


def test_the_documented_view_answers_plain_sql(store_url):
    with PredictionStore(store_url) as store:
        run = store.start_run("salary", 3, "local", "x", "f" * 64, "id", 1)
        store.write(run, _chunk(["10042"], [123.0]), Progress(1, 1, 0))
    engine = create_engine(store_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT value, model_version FROM latest_predictions "
                                "WHERE model_name = 'salary' AND key = '10042'")).one()
    engine.dispose()
    assert tuple(row) == (123.0, 3)


def test_a_classifier_keeps_label_and_probabilities(store_url):
    with PredictionStore(store_url) as store:
        run = store.start_run("grade", 1, "local", "x", "f" * 64, "id", 2)
        prediction = Prediction(BundleRef("grade", 1), ServingPath.COMPILED, np.array(["high", "low"], dtype=object),
                                np.array([[0.7, 0.1, 0.2], [0.0, 1.0, 0.0]]), ("high", "low", "mid"))
        chunk = ScoredChunk(0, 2, np.array(["k1", "k2"], dtype=object), prediction)
        store.write(run, chunk, Progress(2, 2, 0))
        found = store.get("grade", "k1")
        assert (found.value, found.label, found.probabilities) == (None, "high", {"high": 0.7, "low": 0.1, "mid": 0.2})
        assert found.to_json()["probabilities"]["mid"] == 0.2


def test_a_store_url_that_is_no_database_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a database URL"):
        PredictionStore("not a url")
    with pytest.raises(ConfigError, match="scheme 'mysql' is not supported"):
        PredictionStore("mysql://localhost/x")


@pytest.mark.postgres
def test_a_key_inserted_concurrently_is_updated_not_an_error(postgres_database):
    """MERGE raises a unique violation when another transaction inserts the key first; the chunk falls back to ON CONFLICT."""
    import threading
    import time

    import psycopg

    with PredictionStore(postgres_database) as store:
        run = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 1)
        other = psycopg.connect(postgres_database.replace("postgresql+psycopg", "postgresql"))
        other.execute("INSERT INTO predictions (model_name, key, model_version, run_id, predicted_at, value) "
                      "VALUES ('salary', 'k', 1, 'other', now(), 1.0)")  # not committed yet: holds the key
        writer = threading.Thread(target=store.write, args=(run, _chunk(["k", "m"], [2.0, 3.0]), Progress(2, 2, 0)))
        writer.start()
        deadline = time.monotonic() + 30
        while not _waits_on_a_lock(other) and time.monotonic() < deadline:
            time.sleep(0.01)
        other.commit()
        writer.join(timeout=30)
        other.close()
        assert not writer.is_alive()
        assert (store.get("salary", "k").value, store.get("salary", "k").run_id) == (2.0, run.run_id)
        assert store.count("salary") == 2


def _waits_on_a_lock(conn) -> bool:
    with conn.cursor() as cursor:  # a second connection would see the same rows: ask the server, no sleep-and-hope
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0] > 0
