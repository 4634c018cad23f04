"""The Spark engine on a real local Spark session gives the local engine's predictions, rejects included."""

import os
import sys

import pandas as pd
import pytest

from mldeploy.batch.job import run_batch
from mldeploy.batch.prediction_store import PredictionStore

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


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_spark_gives_the_local_engines_predictions(spark, salary_registry, tmp_path, suffix):
    frame = people(4000)
    frame["years_experience"] = frame["years_experience"].astype(str)  # Parquet keeps types: "ten" needs a text column
    frame.loc[11, "years_experience"] = "ten"
    path = tmp_path / f"people{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'spark.db'}"
    run_batch("salary@1", path, "employee_id", local, registry=salary_registry, chunk_rows=1000)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "777")  # the user's own setting
    run = run_batch("salary@1", path, "employee_id", remote, registry=salary_registry, chunk_rows=1000, engine="spark")
    assert (run.engine, run.status, run.rows_done, run.rows_written, run.rows_rejected) == ("spark", "finished", 4000, 3999, 1)
    # the run's settings (its batch size, splits by bytes alone) were the run's: the session has its own back
    assert spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "777"
    assert spark.conf.get("spark.sql.files.openCostInBytes", None) is None
    expected, got = _all(local), _all(remote)
    assert got.index.tolist() == expected.index.tolist()
    assert got["value"].tolist() == expected["value"].tolist()  # bit for bit
    with PredictionStore(remote) as store:
        [reject] = store.rejects(run.run_id)
    assert reject.key == "10011" and reject.reasons == ('field "years_experience": expected a number in [0, 64.95], got "ten"',)
