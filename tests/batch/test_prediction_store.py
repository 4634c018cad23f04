"""PredictionStore on SQLite and on the real PostgreSQL: upserts, the latest view, runs, rejects."""

import sqlite3

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


@pytest.mark.postgres
def test_a_fresh_run_copies_straight_into_the_table_and_a_rerun_merges(postgres_database):
    keys = ["é-ü", "", "k" * 300, "a", "bb"]  # UTF-8, empty and long keys: rows of five sizes in one COPY
    with PredictionStore(postgres_database) as store:
        first = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 5)
        store.write(first, _chunk(keys, [0.1 + 0.2, -0.0, 1e308, np.nan, 5e-324]), Progress(5, 5, 0))
        assert store._direct_runs[first.run_id] is True
        found = [store.get("salary", key).value for key in keys]
        assert found[:3] + found[4:] == [0.1 + 0.2, -0.0, 1e308, 5e-324] and np.isnan(found[3])
        assert np.signbit(found[1])
        # the same version again: its first COPY meets a stored key, so the run merges from then on
        again = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 6)
        store.write(again, _chunk(["a", "new"], [7.0, 8.0]), Progress(2, 2, 0))
        assert store._direct_runs[again.run_id] is False
        store.write(again, _chunk(["newer"], [9.0], start=2), Progress(3, 3, 0))
        assert (store.get("salary", "a").value, store.get("salary", "a").run_id) == (7.0, again.run_id)
        assert store.count("salary", 1) == 7


@pytest.mark.postgres
def test_a_resumed_run_merges_and_stores_each_key_once(postgres_database):
    with PredictionStore(postgres_database) as store:
        run = store.start_run("salary", 4, "local", "x", "f" * 64, "id", 4)
        store.write(run, _chunk(["a", "b"], [1.0, 2.0]), Progress(2, 2, 0))
        store.fail_run(run.run_id, "killed")
    with PredictionStore(postgres_database) as store:  # a new process resumes
        resumed = store.reopen_run(run.run_id)
        assert resumed.rows_done == 2
        # the killed process had committed "b" again in a chunk its record never counted: merging absorbs it
        store.write(resumed, _chunk(["b", "c", "d"], [2.0, 3.0, 4.0], start=2), Progress(4, 4, 0))
        assert store._direct_runs[run.run_id] is False
        assert store.count("salary", 4) == 4
        assert store.run(run.run_id).rows_written == 4


def test_sqlite_keeps_rows_in_the_key_order_and_commits_without_waiting_for_the_disk(tmp_path):
    with PredictionStore(f"sqlite:///{tmp_path / 'p.db'}") as store:
        run = store.start_run("o'brien", 1, "local", "x", "f" * 64, "id", 2)  # a quote in what goes into the statement
        store.write(run, _chunk(["a", "b'); DROP TABLE predictions; --"], [1.0, 2.0]), Progress(2, 2, 0))
        assert store.get("o'brien", "b'); DROP TABLE predictions; --").value == 2.0
        assert store.count("o'brien") == 2
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'predictions'")).scalar_one()
    engine.dispose()
    assert "WITHOUT ROWID" in sql
    with PredictionStore(f"sqlite:///{tmp_path / 'p.db'}") as store, store._read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_a_classifier_without_probabilities_stores_its_labels(store_url):
    # RidgeClassifier, LinearSVC: labels and no predict_proba
    prediction = Prediction(BundleRef("churn", 1), ServingPath.SCIKIT_LEARN, np.array(["no", "yes", "no"], dtype=object),
                            None, ("no", "yes"))
    with PredictionStore(store_url) as store:
        run = store.start_run("churn", 1, "local", "x", "f" * 64, "id", 3)
        store.write(run, ScoredChunk(0, 3, np.array(["a", "b", "c"], dtype=object), prediction), Progress(3, 3, 0))
        found = store.get("churn", "b")
        assert (found.label, found.probabilities, found.value) == ("yes", None, None)
        assert store.count("churn", 1) == 3


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "setlimit"), reason="Connection.setlimit needs Python 3.11")
def test_a_sqlite_that_binds_at_most_999_variables_gets_statements_that_fit(tmp_path):
    """SQLite before 3.32 binds 999 variables a statement: a chunk of 1,000-row statements would fail there."""
    from sqlalchemy import event

    from mldeploy.batch import _store_writes

    limits = []

    def at_most_999(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        limits.append(dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))

    keys = [f"k{i}" for i in range(2_500)]
    with PredictionStore(f"sqlite:///{tmp_path / 'p.db'}") as store:
        event.listen(store._engine, "checkout", at_most_999)
        run = store.start_run("salary", 1, "local", "x", "f" * 64, "id", len(keys))
        store.write(run, _chunk(keys, np.arange(len(keys), dtype=float)), Progress(len(keys), len(keys), 0))
        assert store.count("salary") == 2_500 and store.get("salary", "k2499").value == 2499.0
        assert limits and set(limits) == {999}
    assert _store_writes._ROWS_PER_STATEMENT * 2 > 999  # without the limit's say, the statements would not fit


@pytest.mark.postgres
def test_keys_compare_byte_by_byte_and_a_database_made_before_still_takes_every_write(postgres_database):
    engine = create_engine(postgres_database)
    with PredictionStore(postgres_database) as store:
        store.start_run("salary", 1, "local", "x", "f" * 64, "id", 0)  # makes the schema
    query = ("SELECT table_name, column_name, collation_name FROM information_schema.columns "
             "WHERE table_name IN ('predictions', 'served_predictions') AND column_name IN ('model_name', 'key')")
    with engine.connect() as conn:
        assert {row[2] for row in conn.execute(text(query))} == {"C"}
    with engine.begin() as conn:  # the batch table as a database made before has it: the server's own collation
        conn.execute(text("DROP VIEW latest_predictions"))
        conn.execute(text('ALTER TABLE predictions ALTER COLUMN key TYPE text COLLATE "default", '
                          'ALTER COLUMN model_name TYPE varchar(200) COLLATE "default"'))
    engine.dispose()
    with PredictionStore(postgres_database) as store:  # the view comes back over both collations
        run = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 2)
        store.write(run, _chunk(["é", "a"], [1.0, 2.0]), Progress(2, 2, 0))
        again = store.start_run("salary", 1, "local", "x", "f" * 64, "id", 2)
        store.write(again, _chunk(["a", "b"], [3.0, 4.0]), Progress(2, 2, 0))  # merges through the staging table
        assert store._direct_runs[again.run_id] is False
        assert [store.get("salary", key).value for key in ("é", "a", "b")] == [1.0, 3.0, 4.0]
