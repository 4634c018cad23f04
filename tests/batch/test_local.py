"""The local engine: a failure in any stage stops the run cleanly, with an exact committed prefix."""

import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine

from mldeploy.batch.job import run_batch
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import BackendError, ConfigError

from _batch_inputs import people

pytestmark = pytest.mark.timeout(300)


def _damaged_parquet(path, rows=6000, bad_group=4):
    """Write rows in groups of 1,000 and garble the middle of one compressed page of one feature column."""
    people(rows).to_parquet(path, row_group_size=1000, compression="zstd")
    column = pq.ParquetFile(path).metadata.row_group(bad_group).column(1)
    data = bytearray(path.read_bytes())
    middle = column.data_page_offset + column.total_compressed_size // 2
    data[middle:middle + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))


def test_a_damaged_page_fails_the_run_after_the_chunks_before_it(salary_registry, tmp_path):
    path = tmp_path / "people.parquet"
    _damaged_parquet(path)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(ConfigError, match="cannot read .*people.parquet: .*the file is damaged or not Parquet"):
        run_batch("salary@1", path, "employee_id", url, registry=salary_registry, chunk_rows=1000)
    with PredictionStore(url) as store:
        [run] = store.runs()
        assert run.status == "failed" and "damaged" in run.error
        assert run.rows_done == run.rows_written == store.count("salary") == 4000
        # --resume starts where the committed prefix ends, and meets the same damage
        with pytest.raises(ConfigError, match="damaged"):
            run_batch("salary@1", path, "employee_id", url, registry=salary_registry, chunk_rows=1000, resume=True)
        assert [r.run_id for r in store.runs()] == [run.run_id] and store.count("salary") == 4000


def test_a_store_that_fails_mid_run_stops_every_stage(salary_registry, people_parquet, tmp_path):
    path, _ = people_parquet
    url = f"sqlite:///{tmp_path / 'p.db'}"

    def drop_the_table(done, total):
        if done == 500:  # a real failure of the database under the writer: its table is gone
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE predictions")
            engine.dispose()

    with pytest.raises(BackendError, match="no such table: predictions"):
        run_batch("salary@1", path, "employee_id", url, registry=salary_registry, chunk_rows=500,
                  on_progress=drop_the_table)
    with PredictionStore(url) as store:
        [run] = store.runs()
    assert (run.status, run.rows_done) == ("failed", 500) and "no such table" in run.error


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (8, 7), (300, 256)])
def test_the_model_gets_every_core_but_the_one_the_writer_keeps_busy(monkeypatch, cores, threads):
    import mldeploy.serving
    from mldeploy.batch.local import LocalEngine

    monkeypatch.setattr(mldeploy.serving, "available_cores", lambda: cores)
    assert LocalEngine().model_threads == threads


def test_the_run_loads_its_model_with_the_engines_threads(salary_registry, tmp_path):
    from mldeploy.batch.local import LocalEngine

    class ThreeThreads(LocalEngine):
        model_threads = 3
        seen: list = []

        def execute(self, plan, on_progress=None):
            self.seen.append(plan.model.threads)
            super().execute(plan, on_progress)

    path = tmp_path / "people.parquet"
    people(300).to_parquet(path)
    run = run_batch("salary@1", path, "employee_id", f"sqlite:///{tmp_path / 'p.db'}", registry=salary_registry,
                    engine=ThreeThreads())
    assert ThreeThreads.seen == [3] and run.rows_written == 300
