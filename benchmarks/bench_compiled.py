"""Benchmark the compiled predictor against ``pipeline.predict`` in one process on one thread.

Run: ``.venv/bin/python benchmarks/bench_compiled.py`` (add ``--quick`` for a smoke run).
Prints a markdown section for benchmarks/RESULTS.md: one-row latency and rows/s at
batch 1, 64, 1,024 and 65,536 from DataFrames and lists of dicts, for the salary
pipeline (HistGradientBoosting) and a random-forest classifier pipeline, with ratios.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # one thread, set before numpy loads

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from mldeploy.compiled import compile_pipeline  # noqa: E402
from mldeploy.examples import salary  # noqa: E402
from mldeploy.ops.training import default_pipeline  # noqa: E402

BATCHES = (1, 64, 1_024, 65_536)


def seconds_per_call(call, budget_s: float, max_calls: int = 100_000) -> float:
    """Return the median seconds per call over repeated timing rounds within about ``budget_s``."""
    call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    per_round = max(1, min(max_calls, int(budget_s / 5 / once)))
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(per_round):
            call()
        rounds.append((time.perf_counter() - start) / per_round)
    return float(np.median(rounds))


def pipelines(train_rows: int):
    """Return (name, fitted pipeline, sample) for the salary regressor and a random-forest classifier."""
    train = salary.generate(train_rows, seed=7)
    features, target = train.drop(columns=salary.TARGET), train[salary.TARGET]
    regressor = salary.default_pipeline().fit(features, target)
    labels = np.where(target > target.median(), "high", "low")
    forest = default_pipeline(salary.COLUMNS, task="classification", select_k=28)
    forest.set_params(model=RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=0, n_jobs=1))
    forest.fit(features, labels)
    return [("salary HGB regressor", regressor, features), ("random-forest classifier", forest, features)]


def measure(name: str, pipeline, sample, budget_s: float) -> list[dict]:
    """Time both predictors on the same rows; check they agree on the largest batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compile_pipeline(pipeline, sample.iloc[:2_000])
    compiled = result.compiled
    if compiled is None:
        raise SystemExit(f"{name}: not compiled: {[step.reason for step in result.plan]}")
    rows = salary.generate(max(BATCHES), seed=11).drop(columns=salary.TARGET)
    out = []
    for batch in BATCHES:
        frame = rows.iloc[:batch].reset_index(drop=True)
        records = frame.to_dict("records")
        expected = pipeline.predict(frame)
        exact = bool(np.array_equal(compiled.predict_frame(frame), expected)
                     and np.array_equal(compiled.predict_records(records), expected))
        budget = budget_s if batch < 65_536 else budget_s / 2
        out.append({
            "pipeline": name, "batch": batch, "exact": exact,
            "sklearn": seconds_per_call(lambda: pipeline.predict(frame), budget, 2_000),
            "frame": seconds_per_call(lambda: compiled.predict_frame(frame), budget),
            "records": seconds_per_call(lambda: compiled.predict_records(records), budget),
        })
    return out


def report(results: list[dict]) -> str:
    """Return the markdown section: one-row latency, then rows/s per batch, with ratios."""
    lines = [
        "## Compiled predictor (`benchmarks/bench_compiled.py`)",
        "",
        f"One process, one thread; Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs. Ratios are compiled / `pipeline.predict` on the same rows.",
        "",
        "| pipeline | batch | sklearn rows/s | compiled DataFrame rows/s | ratio | compiled dicts rows/s | ratio | exact |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rate = {key: r["batch"] / r[key] for key in ("sklearn", "frame", "records")}
        lines.append(
            f"| {r['pipeline']} | {r['batch']:,} | {rate['sklearn']:,.0f} | {rate['frame']:,.0f} | "
            f"{rate['frame'] / rate['sklearn']:.1f}x | {rate['records']:,.0f} | {rate['records'] / rate['sklearn']:.1f}x | "
            f"{'bit-identical' if r['exact'] else 'DIFFERS'} |")
    lines += ["", "| pipeline | `pipeline.predict`, one-row DataFrame | compiled, one dict | speed-up |", "|---|---:|---:|---:|"]
    for r in (r for r in results if r["batch"] == 1):
        lines.append(f"| {r['pipeline']} | {r['sklearn'] * 1e6:,.0f} µs | {r['records'] * 1e6:,.1f} µs | "
                     f"{r['sklearn'] / r['records']:.0f}x |")
    return "\n".join(lines)


def main() -> None:
    """Train both pipelines, time them, print the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller training set and timing budget")
    args = parser.parse_args()
    results = []
    for name, pipeline, sample in pipelines(5_000 if args.quick else 20_000):
        results += measure(name, pipeline, sample, 0.3 if args.quick else 2.0)
    print(report(results))


if __name__ == "__main__":
    main()
