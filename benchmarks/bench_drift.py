"""Drift against the stored profile, beside the serving core's scoring of the same rows, in the same run.

Measured, each in a fresh process (so its peak RSS, ru_maxrss, is its own):
- ``drift``: :func:`mldeploy.ops.drift.drift` over a Parquet file (counts over
  every row, a 20,000-row sample tested and scored, the estimated error);
- ``score``: the serving core over the same file, chunk by chunk as the batch
  engine reads it (Arrow read, to frame, ``Model.infer``; nothing written).
The model is loaded before the clock starts on both sides. Loading alone
peaks higher than the pass (ru_maxrss then says nothing about the pass), so
the pass's own peak is taken too: Linux's high-water mark (VmHWM) is reset
after loading (``/proc/self/clear_refs``) and read at the end.
Floors (issue 22): drift time at most 50% of scoring's; drift's peak RSS at
the big size within 1.3x of the small one.

Run: `.venv/bin/python benchmarks/bench_drift.py [--quick | --sizes 1000000]` (prints the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _timing import machine_line, pin_threads  # noqa: E402

pin_threads()

CHUNK_ROWS = 65_536

_CHILD = """
import gc, json, resource, sys, time
from mldeploy.serving import load


def high_water_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


bundle, path, what = sys.argv[1:4]
model = load(bundle)
gc.collect()
loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open("/proc/self/clear_refs", "w") as refs:  # Linux: the high-water mark restarts from the current RSS
    refs.write("5")
started = time.perf_counter()
if what == "drift":
    from mldeploy.ops.drift import drift
    report = drift(model, path, chunk_rows=%(chunk)d)
    rows, note = report.rows, report.summary()
else:
    from mldeploy.batch.columns import feature_frame
    from mldeploy.batch.input_tables import open_input
    rows, note = 0, "scored"
    for table in open_input(path).iter_tables(model.schema.names, %(chunk)d):
        rows += len(model.infer(feature_frame(table, model.schema, False), missing="as-trained").values)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": rows, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "loaded_mb": loaded_mb, "pass_mb": high_water_mb(), "note": note}))
""" % {"chunk": CHUNK_ROWS}


def make_bundle(folder: Path, train_rows: int) -> Path:
    """Train the salary pipeline as `mldeploy train` does (profile, error model) and write its bundle."""
    from mldeploy.bundle import Bundle
    from mldeploy.examples import salary
    from mldeploy.ops.training import train

    result = train(salary.generate(train_rows, seed=7), salary.TARGET, factory=salary.default_pipeline)
    bundle = Bundle.from_pipeline(result.pipeline, result.features, name="salary", metrics=result.metrics,
                                  directory=folder / "salary", extra_files=result.error_model.to_files())
    return bundle.path


def write_rows(path: Path, rows: int) -> Path:
    """Write ``rows`` salary rows (features only, mildly drifted) to Parquet, in row groups of one chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mldeploy.examples import salary

    writer = None
    for chunk in salary.iter_chunks(rows, seed=21, drift=0.1, chunk_rows=250_000):
        table = pa.Table.from_pandas(chunk.drop(columns=salary.TARGET), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=CHUNK_ROWS)
    writer.close()
    return path


def run_child(bundle: Path, path: Path, what: str) -> dict:
    """Run one side in a fresh process; return its seconds, rows and peak RSS."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(bundle), str(path), what], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(HERE.parent / "src")))
    if done.returncode != 0:
        raise SystemExit(f"{what} on {path} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{what} {result['rows']:,} rows: {result}", file=sys.stderr, flush=True)
    return result


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100 k and 1 M rows instead of 1 M and 10 M")
    parser.add_argument("--sizes", type=int, nargs="+", help="row counts to measure (default 1 M and 10 M)")
    parser.add_argument("--train-rows", type=int, default=50_000, help="rows the salary model is trained on")
    args = parser.parse_args()
    sizes = args.sizes or ([100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000])
    scratch = Path(tempfile.mkdtemp(prefix="mldeploy-bench-drift-"))
    try:
        bundle = make_bundle(scratch, args.train_rows)
        results = {}
        for rows in sizes:
            path = write_rows(scratch / f"rows-{rows}.parquet", rows)
            results[rows] = {what: run_child(bundle, path, what) for what in ("drift", "score")}
            path.unlink()
        print(report(results))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(results: dict[int, dict]) -> str:
    """Return the figures as a markdown section."""
    lines = ["## Drift against the stored profile (`benchmarks/bench_drift.py`)", "",
             f"{machine_line()}. Salary rows in Parquet (drift 0.1), chunks of {CHUNK_ROWS:,} rows; each side in its "
             f"own process, model loaded before the clock (load average {os.getloadavg()[0]:.1f} at the end).", "",
             "| rows | drift s | score s | drift / score (floor 50%) | peak RSS MB: drift | score | of which loading |"
             " peak RSS of the pass alone MB: drift | score |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rows, sides in results.items():
        drift, score = sides["drift"], sides["score"]
        ratio = drift["seconds"] / score["seconds"]
        lines.append(f"| {rows:,} | {drift['seconds']:.2f} | {score['seconds']:.2f} | {ratio:.0%} "
                     f"({'met' if ratio <= 0.5 else 'NOT met'}) | {drift['rss_mb']:,.0f} | {score['rss_mb']:,.0f} | "
                     f"{drift['loaded_mb']:,.0f} | {drift['pass_mb']:,.0f} | {score['pass_mb']:,.0f} |")
    if len(results) > 1:
        small, big = min(results), max(results)
        growth = results[big]["drift"]["rss_mb"] / results[small]["drift"]["rss_mb"]
        alone = results[big]["drift"]["pass_mb"] / results[small]["drift"]["pass_mb"]
        lines += ["", f"Drift's peak RSS at {big:,} rows is {growth:.2f}x that at {small:,} (floor 1.3x: "
                      f"{'met' if growth <= 1.3 else 'NOT met'}); the pass's own peak {alone:.2f}x."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
