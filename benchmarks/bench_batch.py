"""Offline prediction end to end: generated salary rows, Parquet in, PostgreSQL and SQLite out.

Measured in one run:
- the local engine's rows/s (reader, scorer and writer overlapping on two cores);
- the stage limits, each stage timed alone on the same rows: pyarrow read (and
  the conversion to a frame the reader does), serving-core predict, and the
  store's write into PostgreSQL (binary COPY straight into the table for a new
  version) and into SQLite. The PostgreSQL stages' sum is the serial limit;
  floor: the local engine reaches >= 85% of it (overlap can pass 100%);
- scikit-learn's own ``pipeline.predict`` on the same chunks, as a reference;
- end to end, start-up included, side by side in alternating rounds: the
  hand-written script (``benchmarks/handwritten_batch.py``: read_parquet,
  pipeline.predict, to_sql) against ``mldeploy batch``, each in a fresh
  process, into SQLite and into PostgreSQL (floor: mldeploy 5x faster);
- on one local[2] Spark session: the Spark engine against what Spark users
  write today, a pandas UDF calling ``pipeline.predict`` (as MLflow's
  ``spark_udf`` does) writing Parquet (floor: the engine 2x faster);
- peak RSS of a whole ``mldeploy batch`` process for 1 M and 10 M rows
  (floor: 10 M within 1.3x of 1 M).

Run: `.venv/bin/python benchmarks/bench_batch.py [--quick] [--no-spark] [--no-rss]` on a quiet machine
(prints a markdown section). Needs PostgreSQL (scripts/postgres.sh installs it) and, for Spark, pyspark.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' PostgreSQL launcher (scripts/postgres.sh underneath)
from _timing import machine_line, pin_threads  # noqa: E402

pin_threads()

CHUNK_ROWS = 65_536


def write_people(path: Path, rows: int) -> Path:
    """Write ``rows`` keyed salary rows (no target) to a Parquet file, chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mldeploy.examples import salary

    writer, start = None, 0
    for chunk in salary.iter_chunks(rows, seed=21, drift=0.1, chunk_rows=250_000):
        chunk = chunk.drop(columns=salary.TARGET)
        chunk.insert(0, "employee_id", range(start, start + len(chunk)))
        start += len(chunk)
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=CHUNK_ROWS)
    writer.close()
    return path


def stage_limits(path: Path, model, pipeline, store_url: str, sqlite_url: str) -> dict[str, float]:
    """Time each stage alone over the same rows: read, predict, write (PostgreSQL, SQLite); and scikit-learn's predict."""
    from mldeploy.batch._store_writes import Progress
    from mldeploy.batch.columns import feature_frame, key_strings
    from mldeploy.batch.prediction_store import PredictionStore
    from mldeploy.batch.scoring import ChunkScorer
    from mldeploy.batch.input_tables import open_input

    source = open_input(path)
    columns = ["employee_id", *model.schema.names]
    started = time.perf_counter()
    chunks = [(key_strings(t.column("employee_id")), feature_frame(t, model.schema, False))
              for t in source.iter_tables(columns, CHUNK_ROWS)]
    read_s = time.perf_counter() - started
    scorer, start, scored = ChunkScorer(model, "employee_id"), 0, []
    started = time.perf_counter()
    for keys, frame in chunks:
        scored.append(scorer.score(start, keys, frame))
        start += len(keys)
    predict_s = time.perf_counter() - started
    started = time.perf_counter()
    for _, frame in chunks:
        pipeline.predict(frame)
    sklearn_s = time.perf_counter() - started
    writes = {}
    for name, url in (("write", store_url), ("write_sqlite", sqlite_url)):
        with PredictionStore(url) as store:
            run = store.start_run("salary", model.ref.version, "local", str(path), "0" * 64, "employee_id", start)
            started = time.perf_counter()
            written = 0
            for chunk in scored:
                written += len(chunk.keys)
                store.write(run, chunk, Progress(chunk.end_row, written, 0))
            writes[name] = time.perf_counter() - started
    return {"read": read_s, "predict": predict_s, **writes, "sklearn": sklearn_s}


def engine_run(path: Path, registry, store_url: str, engine: str) -> tuple[float, float]:
    """Return (job wall seconds, engine seconds from the run's start to its end) for one run_batch."""
    from mldeploy.batch.job import run_batch

    started = time.perf_counter()
    run = run_batch("salary:production", path, "employee_id", store_url, registry=registry, engine=engine,
                    chunk_rows=CHUNK_ROWS)
    wall = time.perf_counter() - started
    return wall, (run.finished_at - run.started_at).total_seconds()


def peak_rss_mb(path: Path, registry_root: Path, store_url: str) -> tuple[float, float]:
    """Run `mldeploy batch` in a fresh process; return (its peak RSS in MB, its wall seconds)."""
    code = ("import resource, sys; from mldeploy.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); raise\n")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "--registry", str(registry_root), "batch", "salary:production",
                           "--input", str(path), "--key", "employee_id", "--to", store_url, "--quiet"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(HERE.parent / "src")))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mldeploy batch failed:\n{done.stderr[-2000:]}")
    rss_kb = int(done.stderr.split("RSS")[-1].split()[0])
    return rss_kb / 1024, wall


def handwritten_s(path: Path, pipeline_file: Path, store_url: str) -> float:
    """Run benchmarks/handwritten_batch.py in a fresh process; return its wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / "handwritten_batch.py"), "--pipeline", str(pipeline_file),
                           "--input", str(path), "--key", "employee_id", "--to", store_url],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the hand-written script failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def side_by_side(path: Path, pipeline_file: Path, registry_root: Path, urls: dict, rounds: int = 2) -> dict:
    """Return {store: (best hand-written s, best mldeploy batch s)}, the two run in alternating rounds."""
    best: dict = {}
    for _ in range(rounds):
        for store, fresh in urls.items():
            hand = handwritten_s(path, pipeline_file, fresh())
            _, ours = peak_rss_mb(path, registry_root, fresh())
            old = best.get(store, (float("inf"), float("inf")))
            best[store] = (min(old[0], hand), min(old[1], ours))
    return best


def spark_udf_s(path: Path, pipeline, out: Path) -> float:
    """Score the input with a pandas UDF calling ``pipeline.predict`` on the active session; write Parquet."""
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import pandas_udf, struct

    spark = SparkSession.getActiveSession()
    frame = spark.read.parquet(str(path))
    features = [c for c in frame.columns if c != "employee_id"]

    def predict(rows):  # what MLflow's spark_udf does: the pipeline on each Arrow batch
        return pd.Series(pipeline.predict(rows))

    predict.__annotations__ = {"rows": pd.DataFrame, "return": pd.Series}  # real types: this module's are strings
    predict = pandas_udf("double")(predict)
    started = time.perf_counter()
    frame.select("employee_id", predict(struct(*features)).alias("prediction")).write.mode("overwrite").parquet(str(out))
    return time.perf_counter() - started


def spark_side_by_side(path: Path, registry, pipeline, fresh_store, out: Path, rounds: int = 3) -> tuple[float, float, float]:
    """On one local[2] session: return the best (engine wall s, engine run s, pandas-UDF s) of alternating rounds.

    Each engine run writes a new version into a store of its own, as the UDF writes a new file: a second
    run into the same store would merge into the rows the first one wrote (see ``--resume``).
    """
    from mldeploy.batch.spark import _session

    spark, _ = _session("local[2]")  # the engine finds this session active and uses it
    walls, runs, udfs = [], [], []
    try:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(CHUNK_ROWS))
        for _ in range(rounds):  # the first round also starts the session's Python workers for both
            udfs.append(spark_udf_s(path, pipeline, out))
            wall, run = engine_run(path, registry, fresh_store(), "spark")
            walls.append(wall)
            runs.append(run)
            print(f"spark round: UDF {udfs[-1]:.2f} s, engine {wall:.2f} s (run {run:.2f} s)", file=sys.stderr)
    finally:
        spark.stop()
    return min(walls), min(runs), min(udfs)


def main() -> None:
    """Measure and print the markdown section."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100 k and 1 M rows instead of 1 M and 10 M; no Spark")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark engine (minutes on a busy machine)")
    parser.add_argument("--no-rss", action="store_true", help="skip the two peak-RSS processes (the big one is long)")
    args = parser.parse_args()
    rows, big_rows = (100_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    scratch = Path(tempfile.mkdtemp(prefix="mldeploy-bench-batch-"))
    try:
        print(measure(scratch, rows, big_rows, spark=not (args.quick or args.no_spark), rss=not args.no_rss))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(scratch: Path, rows: int, big_rows: int, spark: bool, rss: bool) -> str:
    """Train, register, generate the inputs, start PostgreSQL, measure; return the markdown section."""
    import _services

    from mldeploy.bundle import Bundle
    from mldeploy.examples import salary
    from mldeploy.registry import Registry
    from mldeploy.serving import load

    train = salary.generate(50_000, seed=7)
    pipeline = salary.default_pipeline().fit(train.drop(columns=salary.TARGET), train[salary.TARGET])
    registry = Registry(root=scratch / "registry")
    bundle = Bundle.from_pipeline(pipeline, train.drop(columns=salary.TARGET), name="salary", directory=scratch / "b")
    registry.set_alias(registry.register(bundle), "production")
    model = load("salary:production", registry=registry)
    path = write_people(scratch / "people.parquet", rows)
    with _services.postgres_server() as server:
        databases = iter(range(100))

        def fresh() -> str:
            name = f"bench_{next(databases)}"
            with server.connect() as conn:
                conn.execute(f"CREATE DATABASE {name}")
            return server.database_url(name)

        sqlite_files = iter(range(100))

        def fresh_sqlite() -> str:
            return f"sqlite:///{scratch / f'predictions-{next(sqlite_files)}.db'}"

        stages = _noted("stage limits", stage_limits(path, model, pipeline, fresh(), fresh_sqlite()))
        local_wall, local_engine = _noted("local engine (wall, run)", engine_run(path, registry, fresh(), "local"))
        pipeline_file = Path(bundle.path) / "pipeline.skops"
        both = _noted("side by side (hand-written s, mldeploy s)",
                      side_by_side(path, pipeline_file, registry.root, {"SQLite": fresh_sqlite, "PostgreSQL": fresh}))
        spark_times = _noted("spark (engine wall, engine run, pandas UDF)",
                             spark_side_by_side(path, registry, pipeline, fresh, scratch / "udf.parquet")) if spark else None
        sizes = _noted("peak RSS", _peak_rss_both(scratch, path, big_rows, registry.root, fresh)) if rss else None
    return report(rows, big_rows, stages, local_wall, local_engine, spark_times, sizes, both)


def _peak_rss_both(scratch: Path, path: Path, big_rows: int, registry_root: Path, fresh) -> tuple:
    """Return (peak RSS MB of the small job, of the big job, the big job's wall seconds)."""
    small, _ = peak_rss_mb(path, registry_root, fresh())
    big, big_wall = peak_rss_mb(write_people(scratch / "people-big.parquet", big_rows), registry_root, fresh())
    return small, big, big_wall


def _noted(what: str, value):
    print(f"{what}: {value}", file=sys.stderr, flush=True)  # a long run shows its figures as they come
    return value


def report(rows, big_rows, stages, local_wall, local_engine, spark, sizes, both) -> str:
    """Return the markdown section."""
    serial_s = stages["read"] + stages["predict"] + stages["write"]
    ratio = serial_s / local_engine
    lines = [
        "## Offline prediction (`benchmarks/bench_batch.py`)",
        "",
        f"{machine_line()}. {rows:,} generated salary rows, Parquet in, PostgreSQL out (a new version: one binary COPY "
        f"straight into the table per chunk of {CHUNK_ROWS:,} rows), salary HGB pipeline on the compiled path, "
        f"both cores. Load average {os.getloadavg()[0]:.1f} at the end: above ~0.5 the machine was not quiet.",
        "",
        "| what | seconds | rows/s | vs serial limit |",
        "|---|---:|---:|---:|",
        f"| stage alone: pyarrow read + to frame | {stages['read']:.2f} | {rows / stages['read']:,.0f} | |",
        f"| stage alone: serving-core predict (validation included) | {stages['predict']:.2f} | {rows / stages['predict']:,.0f} | |",
        f"| stage alone: binary COPY into PostgreSQL | {stages['write']:.2f} | {rows / stages['write']:,.0f} | |",
        f"| stage alone: upsert into SQLite | {stages['write_sqlite']:.2f} | {rows / stages['write_sqlite']:,.0f} | |",
        f"| **serial limit** (sum of the three) | {serial_s:.2f} | {rows / serial_s:,.0f} | 100% |",
        f"| **local engine** (run start to finish, stages overlapped) | {local_engine:.2f} | {rows / local_engine:,.0f} | "
        f"**{ratio:.0%}** (floor 85%: {'met' if ratio >= 0.85 else 'NOT met'}) |",
        f"| local engine, whole job (model load, fingerprint, key check included) | {local_wall:.2f} | {rows / local_wall:,.0f} | {serial_s / local_wall:.0%} |",
    ]
    if spark is not None:
        lines.append(f"| Spark engine, local[2] (whole job; run start to finish {spark[1]:.2f} s) | {spark[0]:.2f} | "
                     f"{rows / spark[0]:,.0f} | {serial_s / spark[0]:.0%} |")
    lines.append(f"| reference: scikit-learn `pipeline.predict` on the same chunks | {stages['sklearn']:.2f} | "
                 f"{rows / stages['sklearn']:,.0f} | |")
    lines += _side_by_side_lines(rows, both, spark)
    if sizes is None:
        return "\n".join(lines)
    rss_small, rss_big, big_wall = sizes
    lines += [
        "",
        f"Peak RSS of a whole `mldeploy batch` process (model, Arrow, queues of two chunks each side): "
        f"{rss_small:,.0f} MB for {rows:,} rows, {rss_big:,.0f} MB for {big_rows:,} rows "
        f"({rss_big / rss_small:.2f}x; floor 1.3x: {'met' if rss_big <= 1.3 * rss_small else 'NOT met'}); "
        f"the {big_rows:,}-row job took {big_wall:.0f} s ({big_rows / big_wall:,.0f} rows/s including start-up).",
    ]
    return "\n".join(lines)


def _side_by_side_lines(rows: int, both: dict, spark) -> list[str]:
    lines = ["", f"End to end on {rows:,} rows, each job a fresh process (start-up included), best of two alternating rounds:",
             "", "| into | hand-written script | `mldeploy batch` | speed-up (floor 5x) |", "|---|---:|---:|---:|"]
    for store, (hand, ours) in both.items():
        lines.append(f"| {store} | {hand:.2f} s | {ours:.2f} s | **{hand / ours:.1f}x** ({'met' if hand >= 5 * ours else 'NOT met'}) |")
    if spark is not None:
        wall, run, udf = spark
        lines += ["", "Spark on one local[2] session, best of three alternating rounds, each engine run into a new store:", "",
                  "| Spark, one local[2] session | seconds | rows/s |", "|---|---:|---:|",
                  f"| pandas UDF calling `pipeline.predict`, writing Parquet | {udf:.2f} | {rows / udf:,.0f} |",
                  f"| `--engine spark` into PostgreSQL, whole job (run {run:.2f} s) | {wall:.2f} | {rows / wall:,.0f} |",
                  f"| speed-up (floor 2x) | **{udf / wall:.1f}x** ({'met' if udf >= 2 * wall else 'NOT met'}) | |"]
    return lines


if __name__ == "__main__":
    main()
