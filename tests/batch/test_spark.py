"""The Spark engine on a real local Spark session gives the local engine's predictions, rejects included."""

import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import _models
from mldeploy.batch.job import run_batch
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.bundle import Bundle
from mldeploy.errors import BundleError, ConfigError

from _batch_inputs import people

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # starts a JVM; a local Spark on a busy 2-core machine starts slowly


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session, bound to the loopback."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    sql = pytest.importorskip("pyspark.sql", reason="pyspark is in the spark extra")
    session = (sql.SparkSession.builder.master("local[2]").appName("mldeploy-tests")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    yield session
    session.stop()


def _all(url, name="salary"):
    with PredictionStore(url) as store:
        frame = pd.concat(list(store.iter_predictions(name)))
    return frame.set_index("key").sort_index()


def _write(frame: pd.DataFrame, tmp_path, kind: str):
    """The input as one CSV file, one Parquet file of row groups of 700 rows, or a folder of two such files."""
    if kind == "csv":
        frame.to_csv(tmp_path / "people.csv", index=False)
        return tmp_path / "people.csv"
    if kind == "parquet":
        frame.to_parquet(tmp_path / "people.parquet", row_group_size=700)
        return tmp_path / "people.parquet"
    folder = tmp_path / "people"
    folder.mkdir()
    frame.iloc[:1500].to_parquet(folder / "a.parquet", row_group_size=700)
    frame.iloc[1500:].to_parquet(folder / "b.parquet", row_group_size=700)
    return folder


@pytest.mark.parametrize("kind", ["parquet", "folder", "csv"])
def test_spark_gives_the_local_engines_predictions(spark, salary_registry, tmp_path, kind, monkeypatch):
    frame = people(4000)
    frame["years_experience"] = frame["years_experience"].astype(str)  # Parquet keeps types: "ten" needs a text column
    frame.loc[11, "years_experience"] = "ten"
    frame.loc[3210, "years_experience"] = "many"  # in the second file, in a row group of its own
    path = _write(frame, tmp_path, kind)
    if kind == "parquet":  # a path relative to where the user is, not to where Spark's workers started
        monkeypatch.chdir(tmp_path)
        path = path.relative_to(tmp_path)
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'spark.db'}"
    run_batch("salary@1", path, "employee_id", local, registry=salary_registry, chunk_rows=1000)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "777")  # the user's own setting
    run = run_batch("salary@1", path, "employee_id", remote, registry=salary_registry, chunk_rows=1000, engine="spark")
    assert (run.engine, run.status, run.rows_done, run.rows_written, run.rows_rejected) == ("spark", "finished", 4000, 3998, 2)
    # the run's settings (CSV: Spark's batch size, splits by bytes alone) were the run's: the session has its own back
    assert spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "777"
    assert spark.conf.get("spark.sql.files.openCostInBytes", None) is None
    expected, got = _all(local), _all(remote)
    assert got.index.tolist() == expected.index.tolist()
    assert got["value"].tolist() == expected["value"].tolist()  # bit for bit
    with PredictionStore(remote) as store:
        rejects = store.rejects(run.run_id)
    assert [reject.key for reject in rejects] == ["10011", "13210"]
    assert rejects[0].reasons == ('field "years_experience": expected a number in [0, 64.95], got "ten"',)
    if kind != "csv":  # Parquet is read by row group in the workers: rows keep their numbers in the input
        with PredictionStore(local) as store:
            assert [r.row for r in rejects] == [r.row for r in store.rejects(store.runs("salary")[0].run_id)] == [11, 3210]


def test_spark_finishes_an_empty_parquet_input(spark, salary_registry, tmp_path):
    path = tmp_path / "none.parquet"
    people(10).iloc[:0].to_parquet(path)
    run = run_batch("salary@1", path, "employee_id", f"sqlite:///{tmp_path / 'p.db'}", registry=salary_registry,
                    engine="spark")
    assert (run.status, run.rows_done, run.rows_written, run.rows_rejected) == ("finished", 0, 0, 0)


def test_an_unreadable_row_group_ends_the_run_with_the_workers_own_error(spark, salary_registry, tmp_path):
    path = tmp_path / "damaged.parquet"
    people(4000).to_parquet(path, row_group_size=700, compression="snappy")
    data = bytearray(path.read_bytes())
    page = pq.ParquetFile(path).metadata.row_group(3).column(2).data_page_offset
    data[page + 30:page + 230] = b"\xff" * 200  # the footer still reads: the driver opens the file, a worker cannot
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"cannot read .*damaged\.parquet: .*the file is damaged or not Parquet"):
        run_batch("salary@1", path, "employee_id", f"sqlite:///{tmp_path / 'p.db'}", registry=salary_registry,
                  engine="spark")


def test_a_worker_keeps_a_few_models_each_per_bundle_and_trusted_types(tmp_path, salary_registry, monkeypatch):
    from mldeploy.batch import spark as engine

    monkeypatch.setattr(engine, "_MODELS", type(engine._MODELS)())
    monkeypatch.setattr(engine, "_MAX_MODELS", 1)
    pipeline, features = _models.custom_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="custom", directory=tmp_path / "b",
                                  trusted=("custom_features.ExperienceRatio",))
    archive = bundle.to_archive()
    trusted = engine._model(archive, ("custom_features.ExperienceRatio",))
    assert engine._model(archive, ["custom_features.ExperienceRatio"]) is trusted
    with pytest.raises(BundleError, match="not trusted: custom_features.ExperienceRatio"):
        engine._model(archive, ())  # a run that trusts nothing does not borrow the other run's model
    [(_, folder)] = engine._MODELS.values()
    engine._model(salary_registry.get("salary@1").to_archive(), ())  # another bundle: the oldest goes, folder too
    assert len(engine._MODELS) == 1 and not Path(folder).exists()
    assert engine._model(archive, ("custom_features.ExperienceRatio",)) is not trusted
