"""Benchmark the compiled predictor against ``pipeline.predict`` in one process on one thread.

Run: ``.venv/bin/python benchmarks/bench_compiled.py`` (add ``--quick`` for a smoke run).
Prints a markdown section for benchmarks/RESULTS.md: one-row latency and rows/s at
batch 1, 64, 1,024 and 65,536 from DataFrames and lists of dicts, for the salary
pipeline (HistGradientBoosting) and a random-forest classifier pipeline, with ratios.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _pipelines import pipelines  # noqa: E402
from _timing import machine_line, paired_medians, pin_threads  # noqa: E402

pin_threads()

import numpy as np  # noqa: E402

from mldeploy.compiled import compile_pipeline  # noqa: E402
from mldeploy.examples import salary  # noqa: E402

BATCHES = (1, 64, 1_024, 65_536)


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
        timed = paired_medians({"sklearn": lambda: pipeline.predict(frame), "frame": lambda: compiled.predict_frame(frame),
                                "records": lambda: compiled.predict_records(records)}, budget_s=budget_s)
        out.append({"pipeline": name, "batch": batch, "exact": exact, **timed})
    return out


def report(results: list[dict]) -> str:
    """Return the markdown section: one-row latency, then rows/s per batch, with ratios."""
    lines = [
        "## Compiled predictor (`benchmarks/bench_compiled.py`)",
        "",
        f"{machine_line()}. Ratios are compiled / `pipeline.predict` on the same rows, timed in interleaved blocks.",
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
